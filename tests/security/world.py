"""A workspace with one caller of each kind and one of everything, built once into a SQLite data dir.

Each test copies the data dir and starts the app on the copy: the same ids and credentials, fresh rows.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from orbitask.core.migrate import upgrade
from tests.conftest import PASSWORD, TRELLO_FIXTURE, Api, User, make_settings


@dataclass
class World:
    """Credentials of each caller and the ids of alice's things."""

    data_dir: Path
    users: dict[str, User]
    ids: dict[str, str]  # world keys -> values used to fill paths and bodies
    orbitask_export: bytes

    @asynccontextmanager
    async def served(self, into: Path, **overrides: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
        """The app on a fresh copy of the world."""
        shutil.copytree(self.data_dir, into)
        app = create_app(make_settings(into, **overrides))
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield app, client

    def headers(self, role: str) -> dict[str, str]:
        user = self.users.get(role)
        return dict(user.headers) if user else {}


async def _build(data_dir: Path) -> World:
    app = create_app(make_settings(data_dir))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            api = Api(client)
            owner = await api.user("Alice")
            admin, member, guest, viewer = [await api.user(n) for n in ("Adam", "Mia", "Gus", "Vera")]
            outsider = await api.user("Mallory")
            await api.join(owner, admin, "admin")
            await api.join(owner, member, "member")
            await api.join(owner, guest, "guest")
            await api.join(owner, viewer, "guest")  # board members come from the workspace (by invitation)
            board = await api.board(owner, name="Plans")
            await api.ok(owner, "POST", f"/boards/{board['id']}/members",
                         json={"user_id": str(viewer.id), "role": "viewer"})
            todo = await api.list(owner, board["id"], "To do")
            label = await api.ok(owner, "POST", f"/boards/{board['id']}/labels", json={"name": "bug", "color": "red"})
            card = await api.card(owner, todo["id"], "Launch", assignee_ids=[str(owner.id)], label_ids=[label["id"]])
            comment = await api.ok(owner, "POST", f"/cards/{card['id']}/comments", json={"body": "alice was here"})
            checklist = await api.ok(owner, "POST", f"/cards/{card['id']}/checklists", json={"title": "Steps"})
            item = await api.ok(owner, "POST", f"/checklists/{checklist['id']}/items", json={"text": "step one"})
            attachment = await api.ok(owner, "POST", f"/cards/{card['id']}/attachments",
                                      files={"file": ("notes.txt", b"hello world\n", "text/plain")})
            webhook = await api.ok(owner, "POST", f"/workspaces/{owner.workspace_id}/webhooks",
                                   json={"url": "http://93.184.216.34/hook"})  # a public address: no DNS needed
            token = await api.ok(owner, "POST", "/me/api-tokens", json={"name": "laptop"})
            feed = await api.ok(owner, "POST", "/me/calendar-feed")
            invitation = await api.ok(owner, "POST", f"/workspaces/{owner.workspace_id}/invitations",
                                      json={"role": "member"})
            export = await client.get(f"/api/v1/boards/{board['id']}/export", headers=owner.headers)
            assert export.status_code == 200, export.text
    users = {"owner": owner, "admin": admin, "member": member, "guest": guest, "viewer": viewer,
             "outsider": outsider}
    ids = {
        "workspace_id": str(owner.workspace_id), "board_id": board["id"], "list_id": todo["id"],
        "card_id": card["id"], "label_id": label["id"], "comment_id": comment["id"],
        "checklist_id": checklist["id"], "item_id": item["id"], "attachment_id": attachment["id"],
        "token_id": token["id"], "webhook_id": webhook["id"], "missing_id": "01a2101e-d0b6-76f8-a579-d13df305fa44", "calendar_token": feed["url"].rsplit("/", 1)[1].removesuffix(".ics"),
        "invitation_token": invitation["token"], "owner_id": str(owner.id), "member_id": str(member.id),
        "guest_id": str(guest.id), "viewer_id": str(viewer.id), "alice_email": owner.email,
        "alice_refresh": owner.refresh_token, "password": PASSWORD,
    }
    return World(data_dir, users, ids, export.content)


def build_world(data_dir: Path) -> World:
    """Migrate a fresh SQLite database in `data_dir` and fill it (runs its own event loop)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(f"sqlite+aiosqlite:///{data_dir / 'orbitask.db'}")
    return asyncio.run(_build(data_dir))


def fill(template: Any, ids: dict[str, str]) -> Any:
    """`template` (a string, or JSON-like data) with {key} placeholders replaced; {fresh_email} is unique."""
    if isinstance(template, str):
        out = template.replace("{fresh_email}", f"new-{uuid.uuid4().hex[:8]}@example.com")
        for key, value in ids.items():
            out = out.replace("{" + key + "}", value)
        return out
    if isinstance(template, dict):
        return {k: fill(v, ids) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, ids) for v in template]
    return template


TRELLO_BYTES = TRELLO_FIXTURE.read_bytes()
