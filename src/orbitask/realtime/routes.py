"""WebSocket endpoint and the short-lived tickets that authenticate it."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, status

from orbitask.auth.deps import ACCESS_COOKIE, CurrentActor, PresentedAccessToken, RuntimeDep
from orbitask.auth.policy import Actor
from orbitask.auth.service import issue_socket_ticket, redeem_socket_ticket, verify_access
from orbitask.core.errors import Unauthorized
from orbitask.core.observability import SOCKETS
from orbitask.core.schemas import Output
from orbitask.realtime.gateway import CLOSE_POLICY, Connection

router = APIRouter(tags=["realtime"])
TICKET_TTL_S = 60


class TicketOut(Output):
    ticket: str
    expires_in: int
    url: str


@router.post("/ws/tickets", status_code=status.HTTP_201_CREATED, response_model=TicketOut)
async def create_ticket(actor: CurrentActor, rt: RuntimeDep, access_token: PresentedAccessToken) -> TicketOut:
    """A ticket for opening /api/v1/ws (valid 60 s), so no long-lived token goes into a URL."""
    # one socket per ticket, and none after the sign-in asking for it signs out (auth.service)
    ticket = await issue_socket_ticket(rt, actor, access_token, TICKET_TTL_S)
    return TicketOut(ticket=ticket, expires_in=TICKET_TTL_S, url=f"/api/v1/ws?ticket={ticket}")


def _same_origin(ws: WebSocket) -> bool:
    """Cookie sessions only from pages of this site (no cross-site WebSocket hijacking)."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = ws.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@router.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    """Live board events; see orbitask.realtime.gateway for the message protocol."""
    rt = ws.app.state.runtime
    ticket = ws.query_params.get("ticket")
    try:
        if ticket:
            actor = Actor(await redeem_socket_ticket(rt, ticket), "bearer")
        elif (cookie := ws.cookies.get(ACCESS_COOKIE)) and _same_origin(ws):
            actor = Actor((await verify_access(rt, cookie))["sub"], "cookie")
        else:
            raise Unauthorized("Open the socket with ?ticket= from POST /api/v1/ws/tickets, or a session cookie.")
    except Unauthorized as exc:
        await ws.close(code=CLOSE_POLICY, reason=exc.detail[:120])
        return
    await ws.accept()
    SOCKETS.inc()
    try:
        await Connection(ws, actor, rt.db, ws.app.state.hub, ws.app.state.presence).serve()
    finally:
        SOCKETS.dec()
