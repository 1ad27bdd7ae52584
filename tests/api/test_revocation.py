"""Access-token revocation: signing out kills the access token at once, not after its 15 minutes;
replaying a used refresh token kills every access token of that sign-in. Each test runs with the revocation
list in the process and in Redis (`shared_state`)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from orbitask.app import create_app
from orbitask.config import Settings
from tests.conftest import PASSWORD, assert_problem
from tests.realtime.frames import receive
from tests.sharedstate import SharedState, fixture_shared_redis, fixture_shared_state  # noqa: F401 - the fixtures

V1 = "/api/v1"


@pytest.fixture
def settings(settings: Settings, shared_state: SharedState) -> Settings:
    """The API settings with the revocation list (and the rest of the region's shared state) under test."""
    return settings.model_copy(update=shared_state.overrides)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    email = f"rev-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post(f"{V1}/auth/register", json={"email": email, "password": PASSWORD, "name": "R", **extra})
    assert r.status_code == 201, r.text
    return {**r.json(), "email": email}


async def login(client: httpx.AsyncClient, email: str, **extra: Any) -> dict[str, Any]:
    r = await client.post(f"{V1}/auth/login", json={"email": email, "password": PASSWORD, **extra})
    assert r.status_code == 200, r.text
    return r.json()


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"{V1}/me", headers=bearer(token))


def assert_revoked(r: httpx.Response) -> None:
    body = assert_problem(r, 401, "unauthorized")
    assert "revoked" in body["detail"]


async def test_bearer_logout_revokes_the_access_token_it_carries(
    client: httpx.AsyncClient, app: Any, shared_state: SharedState
) -> None:
    session = await register(client)
    other = await login(client, session["email"])  # the same user on another device
    access = session["access_token"]
    assert (await me(client, access)).status_code == 200

    r = await client.post(f"{V1}/auth/logout", headers=bearer(access))
    assert r.status_code == 204
    shared_state.assert_in_use(app.state.runtime, "revoked")
    claims = app.state.runtime.tokens.verify(access)
    if shared_state.redis:  # the token and its sign-in, for every process of the region
        assert {f"jti:{claims['jti']}", f"fam:{claims['fam']}"} <= set(shared_state.keys("revoked"))

    assert_revoked(await me(client, access))
    assert_revoked(await client.post(f"{V1}/ws/tickets", headers=bearer(access)))
    # the sign-in named by the access token is over: its refresh token is revoked too
    refreshed = await client.post(f"{V1}/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert_problem(refreshed, 401, "unauthorized")
    # the other device's session lives on
    assert (await me(client, other["access_token"])).status_code == 200
    again = await client.post(f"{V1}/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert again.status_code == 200, again.text


async def test_logout_with_the_refresh_token_revokes_every_access_token_of_that_sign_in(
    client: httpx.AsyncClient,
) -> None:
    first = await register(client)
    second = (await client.post(f"{V1}/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    # a client that only sends the refresh token: the older access token dies with the newer one
    r = await client.post(f"{V1}/auth/logout", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 204
    assert_revoked(await me(client, second["access_token"]))
    assert_revoked(await me(client, first["access_token"]))


async def test_cookie_logout_revokes_the_access_cookie(client: httpx.AsyncClient) -> None:
    email = (await register(client))["email"]
    body = await login(client, email, session="cookie")
    access = client.cookies.get("orbitask_access")
    assert access and (await client.get(f"{V1}/me")).status_code == 200

    r = await client.post(f"{V1}/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 204
    assert not client.cookies.get("orbitask_access")
    # a copy of the cookie kept by someone else is refused, as cookie and as Bearer
    client.cookies.set("orbitask_access", access)
    assert_revoked(await client.get(f"{V1}/me"))
    client.cookies.clear()
    assert_revoked(await me(client, access))


async def test_logout_ignores_broken_or_expired_access_tokens(client: httpx.AsyncClient) -> None:
    session = await register(client)
    for header in ("garbage", "ot_not_a_real_api_token", session["refresh_token"]):
        r = await client.post(f"{V1}/auth/logout", headers=bearer(header))
        assert r.status_code == 204
    assert (await me(client, session["access_token"])).status_code == 200


async def test_refresh_token_reuse_revokes_the_access_tokens_of_the_family(client: httpx.AsyncClient) -> None:
    victim = await register(client)
    elsewhere = await login(client, victim["email"])  # another sign-in: another family
    second = (await client.post(f"{V1}/auth/refresh", json={"refresh_token": victim["refresh_token"]})).json()
    assert (await me(client, second["access_token"])).status_code == 200

    # the first refresh token is replayed (stolen): the family is revoked, refresh tokens and access tokens
    replay = await client.post(f"{V1}/auth/refresh", json={"refresh_token": victim["refresh_token"]})
    assert_problem(replay, 401, "unauthorized")
    assert_revoked(await me(client, second["access_token"]))
    assert_revoked(await me(client, victim["access_token"]))

    assert (await me(client, elsewhere["access_token"])).status_code == 200


async def test_api_tokens_and_new_sign_ins_are_unaffected_by_logout(client: httpx.AsyncClient) -> None:
    session = await register(client)
    made = await client.post(f"{V1}/me/api-tokens", json={"name": "ci"}, headers=bearer(session["access_token"]))
    assert made.status_code == 201, made.text
    assert (await client.post(f"{V1}/auth/logout", headers=bearer(session["access_token"]))).status_code == 204
    assert (await me(client, made.json()["token"])).status_code == 200
    fresh = await login(client, session["email"])
    assert (await me(client, fresh["access_token"])).status_code == 200


async def test_a_signed_out_token_gets_no_idempotent_replay(client: httpx.AsyncClient) -> None:
    """A stored answer goes only to credentials a fresh request would accept: the same user, signed in."""
    session = await register(client)
    key = {"Idempotency-Key": "ws-" + uuid.uuid4().hex}

    async def create(token: str, name: str = "Once") -> httpx.Response:
        return await client.post(f"{V1}/workspaces", json={"name": name}, headers={**bearer(token), **key})

    made = await create(session["access_token"])
    assert made.status_code == 201, made.text
    assert (await client.post(f"{V1}/auth/logout", headers=bearer(session["access_token"]))).status_code == 204

    replay = await create(session["access_token"])
    assert_revoked(replay)
    assert "idempotent-replayed" not in replay.headers and made.json()["id"] not in replay.text
    # the key's other answers (reused, in progress) are not told to a revoked token either
    assert_revoked(await create(session["access_token"], "Other"))
    # the same user signed in again gets the stored answer, and nothing is created twice
    again = await create((await login(client, session["email"]))["access_token"])
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == made.json()


def _socket_answers(http: TestClient, ticket: str) -> bool:
    """Whether a socket opened with `ticket` is accepted and answers a ping; False when refused (policy)."""
    try:
        with http.websocket_connect(f"{V1}/ws?ticket={ticket}") as ws:
            ws.send_json({"type": "ping"})
            for _ in range(10):  # a heartbeat may come first
                if receive(ws)["type"] == "pong":
                    return True
            raise AssertionError("no pong")
    except WebSocketDisconnect as refused:
        assert refused.code == 1008, refused
        return False


def _ticket(http: TestClient, access: str) -> str:
    r = http.post(f"{V1}/ws/tickets", headers=bearer(access))
    assert r.status_code == 201, r.text
    return str(r.json()["ticket"])


def test_a_socket_ticket_opens_one_socket(settings: Settings, shared_state: SharedState) -> None:
    app = create_app(settings)
    with TestClient(app) as http:
        r = http.post(f"{V1}/auth/register", json={"email": "t@example.com", "password": PASSWORD, "name": "T"})
        access = r.json()["access_token"]
        first, second = _ticket(http, access), _ticket(http, access)
        assert _socket_answers(http, first)
        assert not _socket_answers(http, first)  # a copy (a log line, a proxy) cannot open another
        shared_state.assert_in_use(app.state.runtime, "revoked")  # used once in the region, not per process
        assert _socket_answers(http, second)  # each ticket once, not one per sign-in


def test_signing_out_kills_the_socket_tickets_of_that_sign_in(settings: Settings, shared_state: SharedState) -> None:
    with TestClient(create_app(settings)) as http:
        r = http.post(f"{V1}/auth/register", json={"email": "t@example.com", "password": PASSWORD, "name": "T"})
        session = r.json()
        other = http.post(f"{V1}/auth/login", json={"email": "t@example.com", "password": PASSWORD}).json()
        mine, theirs = _ticket(http, session["access_token"]), _ticket(http, other["access_token"])
        assert http.post(f"{V1}/auth/logout", headers=bearer(session["access_token"])).status_code == 204
        assert not _socket_answers(http, mine)
        assert _socket_answers(http, theirs)  # the other sign-in's tickets live on
