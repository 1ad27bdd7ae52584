"""Sessions and credentials after issue 23: answers carrying credentials or private data are never stored by
caches, and an idempotent replay asks for the credentials a fresh request would."""

from __future__ import annotations

import uuid

import httpx
import pytest

from orbitask.config import Settings
from tests.conftest import PASSWORD, Api, assert_problem

V1 = "/api/v1"
NO_STORE = "no-store"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhooks may target 127.0.0.1 (none is delivered: no worker runs)."""
    return settings.model_copy(update={"webhook_allowed_networks": ["127.0.0.1/32"]})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_answers_with_credentials_or_private_data_are_not_stored(api: Api, client: httpx.AsyncClient) -> None:
    email = f"cache-{uuid.uuid4().hex[:8]}@example.com"
    signed_up = await client.post(f"{V1}/auth/register", json={"email": email, "password": PASSWORD, "name": "C"})
    session = signed_up.json()
    answers: dict[str, httpx.Response] = {"register": signed_up}
    answers["login"] = await client.post(f"{V1}/auth/login", json={"email": email, "password": PASSWORD})
    answers["cookie login"] = await client.post(f"{V1}/auth/login",
                                                json={"email": email, "password": PASSWORD, "session": "cookie"})
    client.cookies.clear()
    answers["refresh"] = await client.post(f"{V1}/auth/refresh", json={"refresh_token": session["refresh_token"]})
    answers["wrong password"] = await client.post(f"{V1}/auth/login", json={"email": email, "password": "nope"})
    alice = await api.user("Alice")
    ws = alice.workspace_id
    for name, method, path, body in (
        ("me", "GET", "/me", None),
        ("api token", "POST", "/me/api-tokens", {"name": "ci"}),
        ("api tokens", "GET", "/me/api-tokens", None),
        ("invitation", "POST", f"/workspaces/{ws}/invitations", {"role": "member"}),
        ("calendar feed", "POST", "/me/calendar-feed", None),
        ("webhook", "POST", f"/workspaces/{ws}/webhooks", {"url": "http://127.0.0.1:9/hook"}),
        ("socket ticket", "POST", "/ws/tickets", None),
        ("workspaces", "GET", "/workspaces", None),
        ("not signed in", "GET", "/me", None),
    ):
        answers[name] = await api.call(None if name == "not signed in" else alice, method, path, json=body)
    assert answers["calendar feed"].status_code == 201 and answers["webhook"].status_code == 201
    assert {name: r.headers.get("cache-control") for name, r in answers.items()} == dict.fromkeys(answers, NO_STORE)


async def test_answers_with_their_own_cache_policy_keep_it(api: Api, client: httpx.AsyncClient) -> None:
    """The board snapshot (private, revalidated) and the calendar feed (calendar apps poll it) set their own."""
    alice = await api.user("Alice")
    board = await api.board(alice)
    snapshot = await api.call(alice, "GET", f"/boards/{board['id']}", expect=200)
    assert snapshot.headers["cache-control"] == "private, no-cache"
    feed = (await api.ok(alice, "POST", "/me/calendar-feed"))["url"]
    calendar = await client.get(feed)
    assert calendar.status_code == 200 and calendar.headers["cache-control"] == "private, max-age=300"


async def test_a_revoked_api_token_gets_no_idempotent_replay(api: Api, client: httpx.AsyncClient) -> None:
    alice = await api.user("Alice")
    made = (await api.call(alice, "POST", "/me/api-tokens", json={"name": "ci"}, expect=201)).json()
    headers = {**bearer(made["token"]), "Idempotency-Key": "ws-1"}
    first = await client.post(f"{V1}/workspaces", json={"name": "By CI"}, headers=headers)
    assert first.status_code == 201, first.text
    await api.call(alice, "DELETE", f"/me/api-tokens/{made['id']}", expect=204)

    replay = await client.post(f"{V1}/workspaces", json={"name": "By CI"}, headers=headers)
    assert "revoked" in assert_problem(replay, 401, "unauthorized")["detail"]
    assert "idempotent-replayed" not in replay.headers and first.json()["id"] not in replay.text


async def test_a_cookie_replay_needs_the_csrf_header_like_a_fresh_request(client: httpx.AsyncClient) -> None:
    email = f"csrf-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "name": "C", "session": "cookie"}
    csrf = {"X-CSRF-Token": (await client.post(f"{V1}/auth/register", json=body)).json()["csrf_token"]}
    key = {"Idempotency-Key": "ws-1"}
    first = await client.post(f"{V1}/workspaces", json={"name": "Mine"}, headers={**csrf, **key})
    assert first.status_code == 201, first.text

    forged = await client.post(f"{V1}/workspaces", json={"name": "Mine"}, headers=key)  # a cross-site form
    assert_problem(forged, 403, "forbidden")
    assert first.json()["id"] not in forged.text
    again = await client.post(f"{V1}/workspaces", json={"name": "Mine"}, headers={**csrf, **key})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
