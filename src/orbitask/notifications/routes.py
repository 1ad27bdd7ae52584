"""Notification HTTP routes: the bell (list, unread count, mark read), preferences, watching, unsubscribe."""

from __future__ import annotations

import html
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse

from orbitask.auth.deps import AnonUow, CurrentActor, ReadSession, RuntimeDep, Uow
from orbitask.core.errors import NotFound
from orbitask.core.pagination import DEFAULT_LIMIT, Limit
from orbitask.notifications import service
from orbitask.notifications.schemas import (
    MarkRead,
    NotificationPage,
    PreferencesRead,
    PreferencesUpdate,
    UnreadCount,
    WatchState,
)

router = APIRouter(tags=["notifications"])
Token = Annotated[str, Query(max_length=1000)]


@router.get("/notifications", response_model=NotificationPage)
async def list_notifications(
    actor: CurrentActor, session: ReadSession, unread: bool = False, cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> NotificationPage:
    """The caller's in-app notifications, newest first, with the unread count."""
    items, next_cursor, count = await service.list_notifications(
        session, actor, unread_only=unread, cursor=cursor, limit=limit
    )
    return NotificationPage(items=items, next_cursor=next_cursor, unread_count=count)


@router.get("/notifications/unread-count", response_model=UnreadCount)
async def unread_count(actor: CurrentActor, session: ReadSession) -> UnreadCount:
    """How many notifications the caller has not read (the bell's badge)."""
    return UnreadCount(unread_count=await service.unread_count(session, actor.user_id))


@router.post("/notifications/read", response_model=UnreadCount)
async def mark_read(cmd: MarkRead, actor: CurrentActor, uow: Uow) -> UnreadCount:
    """Mark notifications read (`ids`, or `all: true`) or unread (`ids` with `read: false`)."""
    return await service.mark_read(uow, actor, cmd)


@router.get("/notifications/preferences", response_model=PreferencesRead)
async def get_preferences(actor: CurrentActor, session: ReadSession, rt: RuntimeDep) -> PreferencesRead:
    """Per kind and channel, the e-mail digest and the due-date reminder offsets."""
    return await service.get_preferences(session, actor, email_enabled=rt.settings.smtp_host is not None)


@router.patch("/notifications/preferences", response_model=PreferencesRead)
async def update_preferences(cmd: PreferencesUpdate, actor: CurrentActor, uow: Uow, rt: RuntimeDep) -> PreferencesRead:
    """Change some preferences; the others stay."""
    return await service.update_preferences(uow, actor, cmd, email_enabled=rt.settings.smtp_host is not None)


@router.get("/boards/{board_id}/watch", response_model=WatchState)
async def board_watch_state(board_id: uuid.UUID, actor: CurrentActor, session: ReadSession) -> WatchState:
    """Whether the caller watches the board."""
    return WatchState(watching=await service.is_watching_board(session, actor, board_id))


@router.put("/boards/{board_id}/watch", response_model=WatchState)
async def watch_board(board_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> WatchState:
    """Watch a board: hear about every card on it."""
    return WatchState(watching=await service.set_board_watching(uow, actor, board_id, on=True))


@router.delete("/boards/{board_id}/watch", response_model=WatchState)
async def unwatch_board(board_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> WatchState:
    """Stop watching a board."""
    return WatchState(watching=await service.set_board_watching(uow, actor, board_id, on=False))


# The unsubscribe pages are the only HTML the API serves: their button posts back to the same address, which
# the API's own policy (form-action 'none') would block in a browser; nothing else may load or run.
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'")


def _page(title: str, text: str, form_token: str | None = None) -> HTMLResponse:
    form = ""
    if form_token is not None:
        form = (f'<form method="post" action="?token={html.escape(form_token)}">'
                '<button type="submit">Unsubscribe</button></form>')
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f'<body style="font-family:system-ui,sans-serif;max-width:520px;margin:40px auto">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>",
        headers={"Content-Security-Policy": PAGE_CSP},
    )


@router.get("/notifications/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe_page(token: Token, rt: RuntimeDep) -> HTMLResponse:
    """The page an e-mail's unsubscribe link opens: one button (link scanners must not unsubscribe anyone)."""
    try:
        _, kind = service.read_unsubscribe_token(rt.settings.signing_key, token)
    except NotFound:
        return _page("Link not valid", "This unsubscribe link is not valid.")
    what = "all Orbitask e-mails" if kind == "all" else f"“{kind.replace('_', ' ')}” e-mails"
    return _page("Unsubscribe", f"Stop receiving {what}?", form_token=token)


@router.post("/notifications/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe(token: Token, uow: AnonUow, rt: RuntimeDep) -> HTMLResponse:
    """Turn the e-mails off (also the RFC 8058 one-click POST mail clients send)."""
    kind = await service.unsubscribe(uow, rt.settings.signing_key, token)
    what = "any more e-mails" if kind == "all" else f"“{kind.replace('_', ' ')}” e-mails"
    return _page("Unsubscribed", f"You will not get {what}. Change this any time in your notification settings.")
