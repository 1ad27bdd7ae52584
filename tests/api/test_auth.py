"""Accounts, sessions and credentials through the HTTP API, as a client would use them."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid
from typing import Any

import httpx
import jwt
import orjson
from sqlalchemy import func, select, update

from orbitask.auth.models import ApiToken, RefreshToken, User, Workspace
from orbitask.auth.security import AccessTokens
from orbitask.auth.service import BAD_CREDENTIALS
from orbitask.core.events import REGISTRY, Event
from tests.conftest import PASSWORD, TEST_SECRET, Api
from tests.conftest import assert_problem as problem_of

V1 = "/api/v1"


def new_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


async def register(client: httpx.AsyncClient, email: str | None = None, **extra: Any) -> httpx.Response:
    body = {"email": email or new_email(), "password": PASSWORD, "name": "Robin", **extra}
    return await client.post(f"{V1}/auth/register", json=body)


async def count(app: Any, model: Any, *where: Any) -> int:
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def bearer(token: str) -> dict[str, bytes]:
    return {"Authorization": f"Bearer {token}".encode("latin-1")}


def cookie_jar(r: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers of a response, by cookie name."""
    return {h.split("=", 1)[0]: h for h in r.headers.get_list("set-cookie")}


# --- register ---------------------------------------------------------------------------------


async def test_register_returns_the_user_and_a_token_pair(client: httpx.AsyncClient, app: Any) -> None:
    email = new_email("robin")
    r = await register(client, email)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["email"] == email
    assert body["user"]["name"] == "Robin"
    assert body["token_type"] == "bearer"
    assert body["access_token"] and body["refresh_token"]
    assert body["expires_in"] == app.state.runtime.settings.access_token_ttl_seconds
    assert body["csrf_token"] is None
    assert "password" not in r.text and PASSWORD not in r.text
    me = await client.get(f"{V1}/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


async def test_register_stores_email_lower_case_and_unique_regardless_of_case(
    client: httpx.AsyncClient, app: Any
) -> None:
    local = f"Foo-{uuid.uuid4().hex[:6]}"
    r = await register(client, f"{local}@Example.COM")
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == f"{local.lower()}@example.com"

    again = await register(client, f"{local.upper()}@EXAMPLE.com")
    body = problem_of(again, 409, "conflict")
    assert "already exists" in body["detail"]
    assert await count(app, User, func.lower(User.email) == f"{local.lower()}@example.com") == 1

    # Signing in works with any casing.
    login = await client.post(f"{V1}/auth/login", json={"email": f"{local.upper()}@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text


async def test_racing_registrations_of_one_email_make_one_account(client: httpx.AsyncClient, app: Any) -> None:
    local = f"race-{uuid.uuid4().hex[:6]}"
    results = await asyncio.gather(*(register(client, email) for email in (
        f"{local}@example.com", f"{local.upper()}@example.com", f"{local}@EXAMPLE.com"
    )))
    assert sorted(r.status_code for r in results) == [201, 409, 409], [r.text for r in results]
    for r in results:
        if r.status_code == 409:
            problem_of(r, 409, "conflict")
    assert await count(app, User, User.email == f"{local}@example.com") == 1
    assert await count(app, Workspace, Workspace.name == "Robin's workspace") == 1


async def test_register_can_open_a_cookie_session(client: httpx.AsyncClient) -> None:
    r = await register(client, session="cookie")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["access_token"] is None and body["refresh_token"] is None and body["csrf_token"]
    assert set(cookie_jar(r)) == {"orbitask_access", "orbitask_refresh", "orbitask_csrf"}
    assert (await client.get(f"{V1}/me")).json()["id"] == body["user"]["id"]


async def test_register_refuses_a_short_password(client: httpx.AsyncClient, app: Any) -> None:
    before = await count(app, User)
    r = await register(client, password="short")
    body = problem_of(r, 422, "invalid-input")
    assert any(e["field"] == "password" for e in body["errors"])
    assert await count(app, User) == before


async def test_register_refuses_unknown_fields(client: httpx.AsyncClient, app: Any) -> None:
    before = await count(app, User)
    r = await register(client, is_admin=True)
    body = problem_of(r, 422, "invalid-input")
    assert any(e["field"] == "is_admin" for e in body["errors"])
    assert await count(app, User) == before


async def test_register_answers_malformed_json_with_400(client: httpx.AsyncClient, app: Any) -> None:
    before = await count(app, User)
    r = await client.post(
        f"{V1}/auth/register", content=b'{"email": "a@example.com", "password": ',
        headers={"content-type": "application/json"},
    )
    body = problem_of(r, 400, "malformed-json")
    assert body["type"].endswith("malformed-json")
    assert await count(app, User) == before


async def test_register_refuses_wrong_types(client: httpx.AsyncClient, app: Any) -> None:
    before = await count(app, User)
    for payload in (
        {"email": 42, "password": PASSWORD, "name": "Robin"},
        {"email": new_email(), "password": ["x" * 10], "name": "Robin"},
        {"email": new_email(), "password": PASSWORD, "name": 7},
        {"email": new_email(), "password": PASSWORD, "name": "Robin", "session": "carrier-pigeon"},
        ["not", "an", "object"],
    ):
        r = await client.post(f"{V1}/auth/register", json=payload)
        problem_of(r, 422, "invalid-input")
    assert await count(app, User) == before


async def test_register_refuses_an_oversized_name_or_email(client: httpx.AsyncClient, app: Any) -> None:
    before = await count(app, User)
    problem_of(await register(client, name="n" * 101), 422, "invalid-input")
    problem_of(await register(client, name="   "), 422, "invalid-input")
    problem_of(await register(client, email="a" * 250 + "@example.com"), 422, "invalid-input")
    problem_of(await register(client, email="not-an-email"), 422, "invalid-input")
    assert await count(app, User) == before


async def test_register_creates_a_personal_workspace(client: httpx.AsyncClient, app: Any) -> None:
    r = await register(client, name="Ada")
    body = r.json()
    page = (await client.get(f"{V1}/workspaces", headers=bearer(body["access_token"]))).json()
    assert [(w["name"], w["role"]) for w in page["items"]] == [("Ada's workspace", "owner")]
    assert page["next_cursor"] is None
    async with app.state.runtime.db.read_session() as session:
        events = (await session.execute(select(Event).order_by(Event.seq))).scalars().all()
    user_id = uuid.UUID(body["user"]["id"])
    mine = [e for e in events if e.actor_id == user_id]
    assert [e.type for e in mine] == ["user.registered", "workspace.created"]
    for e in mine:
        REGISTRY[e.type].model_validate(e.payload)
    assert mine[1].workspace_id == uuid.UUID(page["items"][0]["id"])


# --- login ------------------------------------------------------------------------------------


async def test_login_returns_a_new_token_pair(client: httpx.AsyncClient) -> None:
    email = new_email()
    first = (await register(client, email)).json()
    r = await client.post(f"{V1}/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["id"] == first["user"]["id"]
    assert body["refresh_token"] != first["refresh_token"]
    me = await client.get(f"{V1}/me", headers=bearer(body["access_token"]))
    assert me.json()["email"] == email


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    email = new_email()
    await register(client, email)
    wrong = await client.post(f"{V1}/auth/login", json={"email": email, "password": "not the password"})
    unknown = await client.post(f"{V1}/auth/login", json={"email": new_email("nobody"), "password": PASSWORD})
    a = problem_of(wrong, 401, "unauthorized")
    b = problem_of(unknown, 401, "unauthorized")
    assert a["detail"] == b["detail"] == BAD_CREDENTIALS
    assert "access_token" not in a and "access_token" not in b


async def test_login_refuses_a_deactivated_account_with_the_same_detail(client: httpx.AsyncClient, app: Any) -> None:
    email = new_email()
    await register(client, email)
    session = app.state.runtime.db.writer_session()
    async with session.begin():
        await session.execute(update(User).where(User.email == email).values(is_active=False))
    await session.close()
    r = await client.post(f"{V1}/auth/login", json={"email": email, "password": PASSWORD})
    assert problem_of(r, 401, "unauthorized")["detail"] == BAD_CREDENTIALS


async def test_cookie_login_sets_http_only_session_cookies(client: httpx.AsyncClient) -> None:
    email = new_email()
    await register(client, email)
    r = await client.post(f"{V1}/auth/login", json={"email": email, "password": PASSWORD, "session": "cookie"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["csrf_token"]
    assert body["access_token"] is None and body["refresh_token"] is None
    cookies = cookie_jar(r)
    assert set(cookies) == {"orbitask_access", "orbitask_refresh", "orbitask_csrf"}
    assert "httponly" in cookies["orbitask_access"].lower()
    assert "httponly" in cookies["orbitask_refresh"].lower()
    assert "httponly" not in cookies["orbitask_csrf"].lower()  # the web app reads it
    assert "samesite" in cookies["orbitask_access"].lower()
    assert "path=/api/v1/auth" in cookies["orbitask_refresh"].lower()
    assert client.cookies.get("orbitask_csrf") == body["csrf_token"]


# --- cookie sessions and CSRF -----------------------------------------------------------------


async def cookie_session(client: httpx.AsyncClient) -> tuple[str, str]:
    """Register, then sign in as a browser; returns (user id, csrf token)."""
    email = new_email("browser")
    await register(client, email)
    r = await client.post(f"{V1}/auth/login", json={"email": email, "password": PASSWORD, "session": "cookie"})
    assert r.status_code == 200, r.text
    return r.json()["user"]["id"], r.json()["csrf_token"]


async def test_cookie_session_reads_without_a_csrf_header(client: httpx.AsyncClient) -> None:
    user_id, _ = await cookie_session(client)
    r = await client.get(f"{V1}/me")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user_id


async def test_cookie_session_writes_need_the_csrf_header(client: httpx.AsyncClient, app: Any) -> None:
    _, csrf = await cookie_session(client)
    before = await count(app, Workspace)

    missing = await client.post(f"{V1}/workspaces", json={"name": "No header"})
    problem_of(missing, 403, "forbidden")
    wrong = await client.post(f"{V1}/workspaces", json={"name": "Wrong header"}, headers={"X-CSRF-Token": "nope"})
    problem_of(wrong, 403, "forbidden")
    empty = await client.post(f"{V1}/workspaces", json={"name": "Empty header"}, headers={"X-CSRF-Token": ""})
    problem_of(empty, 403, "forbidden")
    assert await count(app, Workspace) == before

    ok = await client.post(f"{V1}/workspaces", json={"name": "Right header"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    assert ok.json()["role"] == "owner"
    assert await count(app, Workspace) == before + 1


async def test_the_csrf_cookie_alone_is_not_a_csrf_header(client: httpx.AsyncClient) -> None:
    await cookie_session(client)
    # A forged cross-site form can make the browser send every cookie, never a custom header.
    r = await client.delete(f"{V1}/me/api-tokens/{uuid.uuid4()}")
    problem_of(r, 403, "forbidden")


# --- refresh ----------------------------------------------------------------------------------


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{V1}/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_the_token_pair(client: httpx.AsyncClient) -> None:
    first = (await register(client)).json()
    r = await refresh(client, first["refresh_token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert body["user"]["id"] == first["user"]["id"]
    me = await client.get(f"{V1}/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    # The rotated token works once more.
    assert (await refresh(client, body["refresh_token"])).status_code == 200


async def test_reusing_a_refresh_token_revokes_its_whole_family(client: httpx.AsyncClient, app: Any) -> None:
    email = new_email()
    first = (await register(client, email)).json()
    other_sign_in = (await client.post(f"{V1}/auth/login", json={"email": email, "password": PASSWORD})).json()

    second = (await refresh(client, first["refresh_token"])).json()
    third = (await refresh(client, second["refresh_token"])).json()

    # A thief replays the first token: refused, and the legitimate newest token dies with it.
    stolen = await refresh(client, first["refresh_token"])
    assert "signed out" in problem_of(stolen, 401, "unauthorized")["detail"]
    newest = await refresh(client, third["refresh_token"])
    problem_of(newest, 401, "unauthorized")

    family = await count(app, RefreshToken, RefreshToken.user_id == uuid.UUID(first["user"]["id"]),
                         RefreshToken.revoked_at.is_(None))
    assert family == 1  # only the other sign-in's token is still live

    # The other sign-in is a different family and keeps working.
    other = await refresh(client, other_sign_in["refresh_token"])
    assert other.status_code == 200, other.text


async def test_two_tabs_refreshing_at_once_count_as_reuse(client: httpx.AsyncClient) -> None:
    first = (await register(client)).json()
    a, b = await asyncio.gather(refresh(client, first["refresh_token"]), refresh(client, first["refresh_token"]))
    assert sorted((a.status_code, b.status_code)) == [200, 401], (a.text, b.text)
    winner = a if a.status_code == 200 else b
    # Documented trade-off: a replayed token signs the whole family out, the winner included.
    problem_of(await refresh(client, winner.json()["refresh_token"]), 401, "unauthorized")


async def test_refresh_refuses_garbage_and_missing_tokens(client: httpx.AsyncClient) -> None:
    await register(client)
    problem_of(await refresh(client, "garbage"), 401, "unauthorized")
    problem_of(await refresh(client, "x" * 200), 401, "unauthorized")
    problem_of(await refresh(client, "x" * 201), 422, "invalid-input")
    problem_of(await client.post(f"{V1}/auth/refresh"), 401, "unauthorized")
    problem_of(await client.post(f"{V1}/auth/refresh", json={}), 401, "unauthorized")


async def test_refresh_refuses_an_expired_refresh_token(client: httpx.AsyncClient, app: Any) -> None:
    body = (await register(client)).json()
    session = app.state.runtime.db.writer_session()
    async with session.begin():
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == uuid.UUID(body["user"]["id"]))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    await session.close()
    assert "expired" in problem_of(await refresh(client, body["refresh_token"]), 401, "unauthorized")["detail"]


async def test_refresh_with_the_cookie_needs_the_csrf_header(client: httpx.AsyncClient) -> None:
    user_id, csrf = await cookie_session(client)

    problem_of(await client.post(f"{V1}/auth/refresh"), 401, "unauthorized")
    problem_of(await client.post(f"{V1}/auth/refresh", headers={"X-CSRF-Token": "wrong"}), 401, "unauthorized")

    r = await client.post(f"{V1}/auth/refresh", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["access_token"] is None and body["refresh_token"] is None
    assert body["user"]["id"] == user_id
    new_csrf = body["csrf_token"]
    assert new_csrf and new_csrf != csrf
    assert set(cookie_jar(r)) == {"orbitask_access", "orbitask_refresh", "orbitask_csrf"}

    # The new access cookie is bound to the new CSRF token.
    stale = await client.post(f"{V1}/workspaces", json={"name": "Stale"}, headers={"X-CSRF-Token": csrf})
    problem_of(stale, 403, "forbidden")
    fresh = await client.post(f"{V1}/workspaces", json={"name": "Fresh"}, headers={"X-CSRF-Token": new_csrf})
    assert fresh.status_code == 201, fresh.text


async def test_cookie_refresh_without_any_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    await cookie_session(client)
    # Neither the CSRF cookie nor the header: "nothing equals nothing" must not pass the check.
    client.cookies.delete("orbitask_csrf")
    problem_of(await client.post(f"{V1}/auth/refresh"), 401, "unauthorized")


# --- logout -----------------------------------------------------------------------------------


async def test_logout_revokes_the_refresh_family(client: httpx.AsyncClient, app: Any) -> None:
    first = (await register(client)).json()
    second = (await refresh(client, first["refresh_token"])).json()
    r = await client.post(f"{V1}/auth/logout", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 204
    assert r.content == b""
    problem_of(await refresh(client, second["refresh_token"]), 401, "unauthorized")
    live = await count(app, RefreshToken, RefreshToken.user_id == uuid.UUID(first["user"]["id"]),
                       RefreshToken.revoked_at.is_(None))
    assert live == 0


async def test_logout_is_quiet_about_unknown_tokens(client: httpx.AsyncClient) -> None:
    assert (await client.post(f"{V1}/auth/logout", json={"refresh_token": "never-issued"})).status_code == 204
    assert (await client.post(f"{V1}/auth/logout")).status_code == 204


async def test_cookie_logout_clears_the_cookies(client: httpx.AsyncClient) -> None:
    _, csrf = await cookie_session(client)
    r = await client.post(f"{V1}/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    cleared = cookie_jar(r)
    assert set(cleared) == {"orbitask_access", "orbitask_refresh", "orbitask_csrf"}
    for header in cleared.values():
        assert "max-age=0" in header.lower()
    assert not client.cookies.get("orbitask_access")
    problem_of(await client.get(f"{V1}/me"), 401, "unauthorized")
    problem_of(await client.post(f"{V1}/auth/refresh", headers={"X-CSRF-Token": csrf}), 401, "unauthorized")


# --- access tokens ----------------------------------------------------------------------------


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


async def test_bad_access_tokens_are_401_never_500(client: httpx.AsyncClient, app: Any) -> None:
    user_id = uuid.UUID((await register(client)).json()["user"]["id"])
    ttl = app.state.runtime.settings.access_token_ttl_seconds
    now = dt.datetime.now(dt.UTC)
    expired = AccessTokens(TEST_SECRET, ttl).issue(user_id, now=now - dt.timedelta(seconds=ttl + 60))
    forged = AccessTokens("another-secret-" + "y" * 40, ttl).issue(user_id)
    claims = {"sub": str(user_id), "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 600, "typ": "access"}
    alg_none = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    wrong_typ = jwt.encode({**claims, "typ": "refresh"}, TEST_SECRET, algorithm="HS256")
    no_exp = jwt.encode({k: v for k, v in claims.items() if k != "exp"}, TEST_SECRET, algorithm="HS256")
    bad_sub = jwt.encode({**claims, "sub": "not-a-uuid"}, TEST_SECRET, algorithm="HS256")
    int_sub = jwt.encode({**claims, "sub": 12345}, TEST_SECRET, algorithm="HS256")
    other_alg = jwt.encode(claims, TEST_SECRET, algorithm="HS384")

    cases = {
        "expired": expired, "forged": forged, "alg none": alg_none, "wrong typ": wrong_typ, "no exp": no_exp,
        "bad sub": bad_sub, "int sub": int_sub, "HS384": other_alg,
        "malformed": "not.a.jwt", "one part": "abc", "empty parts": "..",
        "binary": "\u00ff\u00fe.x.y",
    }
    for name, token in cases.items():
        for method, path, kw in (("GET", "/me", {}), ("POST", "/workspaces", {"json": {"name": "X"}})):
            r = await client.request(method, V1 + path, headers=bearer(token), **kw)
            assert r.status_code == 401, f"{name} {method}: {r.status_code} {r.text}"
            problem_of(r, 401, "unauthorized")
            assert r.headers["www-authenticate"].startswith("Bearer")
    expired_detail = (await client.get(f"{V1}/me", headers=bearer(expired))).json()["detail"]
    assert "expired" in expired_detail
    # Nothing was written with any of them.
    assert await count(app, Workspace, Workspace.name == "X") == 0


async def test_bad_session_cookies_are_401(client: httpx.AsyncClient) -> None:
    client.cookies.set("orbitask_access", "garbage")
    problem_of(await client.get(f"{V1}/me"), 401, "unauthorized")
    problem_of(await client.post(f"{V1}/workspaces", json={"name": "X"}), 401, "unauthorized")


async def test_missing_auth_is_401_with_www_authenticate(client: httpx.AsyncClient) -> None:
    for method, path in (("GET", "/me"), ("GET", "/workspaces"), ("POST", "/workspaces"), ("GET", "/me/api-tokens")):
        r = await client.request(method, V1 + path, json={"name": "x"} if method == "POST" else None)
        problem_of(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == 'Bearer realm="orbitask"'
    r = await client.get(f"{V1}/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    problem_of(r, 401, "unauthorized")


# --- personal API tokens ----------------------------------------------------------------------


async def test_api_token_is_shown_once_and_authenticates(api: Api, client: httpx.AsyncClient, app: Any) -> None:
    alice = await api.user("Alice")
    created = await api.call(alice, "POST", "/me/api-tokens", json={"name": "CI", "expires_in_days": 30}, expect=201)
    body = created.json()
    raw = body["token"]
    assert raw.startswith("ot_")
    assert raw.startswith(f"ot_{body['prefix']}_")
    assert body["name"] == "CI" and body["revoked_at"] is None
    assert body["expires_at"] is not None

    listed = await api.call(alice, "GET", "/me/api-tokens", expect=200)
    assert [t["id"] for t in listed.json()] == [body["id"]]
    assert "token" not in listed.json()[0]
    assert raw not in listed.text
    async with app.state.runtime.db.read_session() as session:
        stored = await session.get(ApiToken, uuid.UUID(body["id"]))
    assert stored is not None and raw not in stored.token_hash

    me = await client.get(f"{V1}/me", headers=bearer(raw))
    assert me.status_code == 200 and me.json()["id"] == str(alice.id)
    ws = await client.post(f"{V1}/workspaces", json={"name": "Made by CI"}, headers=bearer(raw))
    assert ws.status_code == 201, ws.text
    assert ws.json()["role"] == "owner"
    members = await api.ok(alice, "GET", f"/workspaces/{ws.json()['id']}/members")
    assert [m["user"]["id"] for m in members] == [str(alice.id)]


async def test_revoked_api_token_stops_working(api: Api, client: httpx.AsyncClient) -> None:
    alice = await api.user("Alice")
    body = (await api.call(alice, "POST", "/me/api-tokens", json={"name": "laptop"}, expect=201)).json()
    assert body["expires_at"] is None
    raw = body["token"]
    assert (await client.get(f"{V1}/me", headers=bearer(raw))).status_code == 200

    r = await api.call(alice, "DELETE", f"/me/api-tokens/{body['id']}", expect=204)
    assert r.content == b""
    problem_of(await client.get(f"{V1}/me", headers=bearer(raw)), 401, "unauthorized")
    problem_of(await client.post(f"{V1}/workspaces", json={"name": "x"}, headers=bearer(raw)), 401, "unauthorized")
    listed = (await api.call(alice, "GET", "/me/api-tokens", expect=200)).json()
    assert listed[0]["revoked_at"] is not None
    # Revoking again is harmless.
    await api.call(alice, "DELETE", f"/me/api-tokens/{body['id']}", expect=204)


async def test_another_user_cannot_revoke_my_api_token(api: Api, client: httpx.AsyncClient) -> None:
    alice, mallory = await api.user("Alice"), await api.user("Mallory")
    body = (await api.call(alice, "POST", "/me/api-tokens", json={"name": "laptop"}, expect=201)).json()
    r = await api.call(mallory, "DELETE", f"/me/api-tokens/{body['id']}")
    problem_of(r, 404, "not-found")
    assert (await api.call(mallory, "GET", "/me/api-tokens", expect=200)).json() == []
    assert (await client.get(f"{V1}/me", headers=bearer(body["token"]))).status_code == 200
    problem_of(await api.call(mallory, "DELETE", f"/me/api-tokens/{uuid.uuid4()}"), 404, "not-found")


async def test_expired_and_garbage_api_tokens_are_401(api: Api, client: httpx.AsyncClient, app: Any) -> None:
    alice = await api.user("Alice")
    body = (await api.call(alice, "POST", "/me/api-tokens", json={"name": "old", "expires_in_days": 1},
                           expect=201)).json()
    session = app.state.runtime.db.writer_session()
    async with session.begin():
        await session.execute(
            update(ApiToken).where(ApiToken.id == uuid.UUID(body["id"]))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    await session.close()
    r = await client.get(f"{V1}/me", headers=bearer(body["token"]))
    assert "expired" in problem_of(r, 401, "unauthorized")["detail"]

    for garbage in ("ot_", "ot_garbage", f"ot_{body['prefix']}_nope", body["token"] + "x"):
        r = await client.get(f"{V1}/me", headers=bearer(garbage))
        problem_of(r, 401, "unauthorized")


async def test_api_tokens_of_a_deactivated_account_stop_working(
    api: Api, client: httpx.AsyncClient, app: Any
) -> None:
    alice = await api.user("Alice")
    raw = (await api.call(alice, "POST", "/me/api-tokens", json={"name": "forever"}, expect=201)).json()["token"]
    session = app.state.runtime.db.writer_session()
    async with session.begin():
        await session.execute(update(User).where(User.id == alice.id).values(is_active=False))
    await session.close()
    before = await count(app, Workspace)
    # Sign-in and refresh refuse the account; a token that never expires must not outlive it.
    problem_of(await client.post(f"{V1}/workspaces", json={"name": "x"}, headers=bearer(raw)), 401, "unauthorized")
    problem_of(await client.get(f"{V1}/me", headers=bearer(raw)), 401, "unauthorized")
    assert await count(app, Workspace) == before


async def test_an_api_token_cannot_manage_api_tokens(api: Api, client: httpx.AsyncClient) -> None:
    """A leaked API token must not mint itself successors, nor list or revoke the owner's tokens: only a
    signed-in session may."""
    alice = await api.user("Alice")
    made = (await api.call(alice, "POST", "/me/api-tokens", json={"name": "ci"}, expect=201)).json()
    raw = made["token"]
    for method, path in (("POST", "/me/api-tokens"), ("GET", "/me/api-tokens"),
                         ("DELETE", f"/me/api-tokens/{made['id']}")):
        r = await client.request(method, V1 + path, headers=bearer(raw),
                                 json={"name": "successor"} if method == "POST" else None)
        assert "API token" in problem_of(r, 403, "forbidden")["detail"]
    listed = (await api.call(alice, "GET", "/me/api-tokens", expect=200)).json()
    assert [(t["id"], t["revoked_at"]) for t in listed] == [(made["id"], None)]
    assert (await client.get(f"{V1}/me", headers=bearer(raw))).status_code == 200  # otherwise it still works


async def test_api_token_input_limits(api: Api) -> None:
    alice = await api.user("Alice")
    for payload in ({"name": ""}, {"name": "x" * 101}, {"name": "t", "expires_in_days": 0},
                    {"name": "t", "expires_in_days": -3}, {"name": "t", "expires_in_days": 3651}, {}):
        problem_of(await api.call(alice, "POST", "/me/api-tokens", json=payload), 422, "invalid-input")
    assert (await api.call(alice, "GET", "/me/api-tokens", expect=200)).json() == []


# --- Idempotency-Key --------------------------------------------------------------------------


async def test_sign_in_responses_are_never_stored_for_idempotent_replay(client: httpx.AsyncClient, app: Any) -> None:
    """Register/login/refresh answers carry live tokens: Idempotency-Key is ignored there, nothing is stored."""
    from orbitask.core.idempotency import IdempotencyRecord

    email = new_email("retry")
    payload = {"email": email, "password": PASSWORD, "name": "Retry"}
    headers = {"Idempotency-Key": "register-" + uuid.uuid4().hex}
    first = await client.post(f"{V1}/auth/register", json=payload, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(f"{V1}/auth/register", json=payload, headers=headers)
    problem_of(again, 409, "conflict")  # a retried sign-up finds the account: sign in instead
    assert "idempotent-replayed" not in again.headers
    login = {"email": email, "password": PASSWORD}
    for _ in range(2):
        r = await client.post(f"{V1}/auth/login", json=login, headers=headers)
        assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert await count(app, User, User.email == email) == 1
    assert await count(app, IdempotencyRecord) == 0


async def test_a_failed_register_does_not_burn_the_idempotency_key(client: httpx.AsyncClient, app: Any) -> None:
    email = new_email("taken")
    await register(client, email)
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    payload = {"email": email, "password": PASSWORD, "name": "Second"}
    problem_of(await client.post(f"{V1}/auth/register", json=payload, headers=headers), 409, "conflict")
    again = await client.post(f"{V1}/auth/register", json=payload, headers=headers)
    problem_of(again, 409, "conflict")
    assert "idempotent-replayed" not in again.headers


async def test_invalid_idempotency_keys_are_refused(api: Api, app: Any) -> None:
    alice = await api.user()
    before = await count(app, Workspace)
    r = await api.call(alice, "POST", "/workspaces", json={"name": "K"}, headers={"Idempotency-Key": "k" * 256})
    problem_of(r, 400, "invalid-idempotency-key")
    assert await count(app, Workspace) == before
