"""Session routes: the caller's sign-ins, listed and signed out (auth/sessions.py)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from orbitask.auth import sessions
from orbitask.auth.deps import PresentedAccessToken, ReadSession, RuntimeDep, SessionActor
from orbitask.auth.sessions import SessionRead, SessionsRevoked
from orbitask.core.runtime import Runtime

router = APIRouter(tags=["auth"])


def _current(rt: Runtime, access_token: str | None) -> uuid.UUID | None:
    """The session the request's access token belongs to."""
    claims = rt.tokens.claims_or_none(access_token)
    return uuid.UUID(claims["fam"]) if claims is not None and claims.get("fam") else None


@router.get("/auth/sessions", response_model=list[SessionRead])
async def list_sessions(actor: SessionActor, session: ReadSession, rt: RuntimeDep,
                        access_token: PresentedAccessToken) -> list[SessionRead]:
    """The caller's active sessions (device, address, region, last refresh); `current` marks this one."""
    return await sessions.list_sessions(session, actor.user_id, _current(rt, access_token))


@router.delete("/auth/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(session_id: uuid.UUID, actor: SessionActor, rt: RuntimeDep) -> None:
    """Sign a session out: its refresh token and its access tokens stop working at their next use."""
    await sessions.revoke_session(rt.uow(actor.user_id), rt, actor.user_id, session_id)


@router.post("/auth/sessions/revoke-others", response_model=SessionsRevoked)
async def revoke_other_sessions(actor: SessionActor, rt: RuntimeDep,
                                access_token: PresentedAccessToken) -> SessionsRevoked:
    """Sign out every session but this one."""
    count = await sessions.revoke_other_sessions(rt.uow(actor.user_id), rt, actor.user_id, _current(rt, access_token))
    return SessionsRevoked(revoked=count)
