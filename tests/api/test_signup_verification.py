"""Sign-up through an e-mailed link (ORBITASK_SIGNUP_VERIFICATION): the answer never tells who has an account.

A real SMTP server on 127.0.0.1 receives the e-mails; the `email` job is run on demand. A new and a taken
address get the same answer; the link makes the account (with its workspace) and signs in, once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from orbitask.app import create_app
from orbitask.audit.models import AuditEntry
from orbitask.auth.models import SignupRequest, User
from orbitask.auth.signup import ADDRESS_TAKEN, EMAILS_PER_ADDRESS_PER_HOUR, verification_required
from orbitask.config import Settings
from orbitask.core.events import REGISTRY, Event
from orbitask.notifications import email
from tests.conftest import PASSWORD, assert_problem, make_settings
from tests.mailserver import Mailbox
from tests.sharedstate import SharedState, fixture_shared_redis, fixture_shared_state  # noqa: F401 - the fixtures

V1 = "/api/v1"
PUBLIC_URL = "http://orbitask.test"
LINK = re.compile(re.escape(PUBLIC_URL) + r"/verify/([A-Za-z0-9_-]{43})")
# headers that differ between any two answers, whatever they say
PER_REQUEST = {"x-request-id", "date", "server-timing"}


def mail_settings(settings: Settings, mail: Mailbox, **overrides: Any) -> Settings:
    return settings.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": mail.port, "smtp_timeout_seconds": 5,  # type: ignore[attr-defined]
        "public_url": PUBLIC_URL, **overrides,
    })


@pytest.fixture
def settings(settings: Settings, mail: Mailbox) -> Settings:
    """The API suite's settings with e-mail, and sign-up verification asked for explicitly."""
    return mail_settings(settings, mail, signup_verification=True)


def new_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"  # the same length for the same tag


async def register(client: httpx.AsyncClient, address: str, password: str = PASSWORD, name: str = "Robin",
                   **extra: Any) -> httpx.Response:
    return await client.post(f"{V1}/auth/register",
                             json={"email": address, "password": password, "name": name, **extra})


async def mails_to(app: Any, mail: Mailbox, address: str, count: int) -> list[EmailMessage]:
    """Send what the outbox holds, then the `count` e-mails `address` received (no more)."""
    rt = app.state.runtime
    while await email.send_pending(rt.db, rt.settings):
        pass
    found = mail.wait_for(address, count)
    assert len(found) == count, [m["Subject"] for m in found]
    return found


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def link_in(message: EmailMessage) -> str:
    """The sign-up token of a link e-mail (in both bodies)."""
    found = LINK.search(text_of(message))
    assert found, text_of(message)
    assert found.group(0) in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return found.group(1)


async def verify(client: httpx.AsyncClient, token: str, **extra: Any) -> httpx.Response:
    return await client.post(f"{V1}/auth/verify", json={"token": token, **extra})


async def count(app: Any, model: Any, *where: Any) -> int:
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def account(client: httpx.AsyncClient, app: Any, mail: Mailbox, address: str, name: str = "Owner") -> dict:
    """An account made the only way there is with verification on: sign up, open the link."""
    assert (await register(client, address, name=name)).status_code == 202
    [message] = await mails_to(app, mail, address, 1)
    r = await verify(client, link_in(message))
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return r.json()


def answer(r: httpx.Response, address: str) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Everything a client sees, but the address it sent and what differs per request."""
    headers = sorted((k, v) for k, v in r.headers.multi_items() if k not in PER_REQUEST)
    return r.status_code, r.content.replace(address.encode(), b"<address>"), headers


def counting_hashes(app: Any) -> list[str]:
    """The passwords the app hashes from now on (it still hashes them: same work as without the probe)."""
    passwords = app.state.runtime.passwords
    real, hashed = passwords.hash, []

    async def hash_and_count(password: str) -> str:
        hashed.append(password)
        return await real(password)

    passwords.hash = hash_and_count
    return hashed


# --- the same answer for a new and a taken address ------------------------------------------------


async def test_a_new_and_a_taken_address_get_the_same_answer(client: httpx.AsyncClient, app: Any, mail: Mailbox) -> None:
    taken = new_email("someone")
    await account(client, app, mail, taken)
    hashed = counting_hashes(app)
    fresh = new_email("someone")
    for first, second in ((fresh, taken), (taken, new_email("someone"))):  # in either order
        a, b = await register(client, first), await register(client, second)
        assert a.status_code == 202, a.text
        assert a.json() == {"status": "verification_sent", "email": first}
        assert "set-cookie" not in a.headers
        assert answer(a, first) == answer(b, second)
    assert hashed == [PASSWORD] * 4  # the taken address's password is hashed too: the time taken tells nothing
    assert await count(app, User, User.email == fresh) == 0  # nothing exists before the link is opened


async def test_the_owner_of_a_taken_address_is_told_and_nothing_changes(
    client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    taken = new_email("owner")
    made = await account(client, app, mail, taken, name="Olga")
    r = await register(client, taken.upper(), password="another password", name="Mallory")
    assert r.status_code == 202, r.text
    _, note = await mails_to(app, mail, taken, 2)
    assert note["Subject"] == "Someone tried to sign up to Orbitask with your address"
    text = text_of(note)
    assert "Hello Olga," in text and "You already have an account" in text
    assert f"{PUBLIC_URL}/signin" in text and "nothing changes" in text
    assert not LINK.search(text) and "Mallory" not in text
    assert await count(app, User, User.email == taken) == 1
    assert await count(app, SignupRequest, SignupRequest.email == taken) == 0
    ok = await client.post(f"{V1}/auth/login", json={"email": taken, "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["user"] == made["user"]  # the same name, the old password
    assert_problem(await client.post(f"{V1}/auth/login", json={"email": taken, "password": "another password"}), 401)
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        tried = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "signup.account_exists"))).all()
    assert [(e.target_id, e.detail["email"]) for e in tried] == [(made["user"]["id"], taken)]


# --- the link -------------------------------------------------------------------------------------


async def test_the_link_makes_the_account_and_signs_in(client: httpx.AsyncClient, app: Any, mail: Mailbox) -> None:
    address = new_email("newcomer")
    assert (await register(client, address, name="Nia")).status_code == 202
    assert await count(app, User, User.email == address) == 0
    [message] = await mails_to(app, mail, address, 1)
    assert message["Subject"] == "Finish signing up to Orbitask"
    assert "Nia" not in text_of(message)  # the name given is not put in a stranger's inbox
    r = await verify(client, link_in(message), session="cookie")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["email"] == address and body["user"]["name"] == "Nia"
    assert body["access_token"] is None and body["csrf_token"]
    assert {c.split("=", 1)[0] for c in r.headers.get_list("set-cookie")} == {
        "orbitask_access", "orbitask_refresh", "orbitask_csrf"}
    assert (await client.get(f"{V1}/me")).json()["id"] == body["user"]["id"]
    page = (await client.get(f"{V1}/workspaces")).json()
    assert [(w["name"], w["role"]) for w in page["items"]] == [("Nia's workspace", "owner")]
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        mine = (await session.scalars(
            select(Event).where(Event.actor_id == uuid.UUID(body["user"]["id"])).order_by(Event.seq))).all()
        verified = await session.scalar(select(AuditEntry).where(AuditEntry.action == "signup.verified"))
    assert [e.type for e in mine] == ["user.registered", "workspace.created"]
    for e in mine:
        REGISTRY[e.type].model_validate(e.payload)
    assert verified is not None and verified.target_id == body["user"]["id"]
    # the password chosen at sign-up is the account's
    client.cookies.clear()
    login = await client.post(f"{V1}/auth/login", json={"email": address, "password": PASSWORD})
    assert login.status_code == 200, login.text


async def test_the_link_works_once(client: httpx.AsyncClient, app: Any, mail: Mailbox) -> None:
    address = new_email("once")
    await register(client, address)
    [message] = await mails_to(app, mail, address, 1)
    token = link_in(message)
    first = await verify(client, token)
    assert first.status_code == 200 and first.json()["access_token"]
    again = assert_problem(await verify(client, token), 410, "signup-link-gone")
    unknown = assert_problem(await verify(client, "x" * 43), 410, "signup-link-gone")
    assert again == unknown
    assert await count(app, User, User.email == address) == 1


async def test_an_expired_link_is_refused(client: httpx.AsyncClient, app: Any, mail: Mailbox) -> None:
    address = new_email("late")
    await register(client, address)
    [message] = await mails_to(app, mail, address, 1)
    async with app.state.runtime.db.write_transaction() as session:  # a day passes
        for pending in await session.scalars(select(SignupRequest)):
            pending.expires_at -= dt.timedelta(days=1)
    body = assert_problem(await verify(client, link_in(message)), 410, "signup-link-gone")
    assert "sign up again" in body["detail"]
    assert await count(app, User, User.email == address) == 0
    assert await count(app, SignupRequest) == 0  # an expired request is dropped when it is seen
    # and it never blocks the address
    await register(client, address)
    _, fresh = await mails_to(app, mail, address, 2)
    assert (await verify(client, link_in(fresh))).status_code == 200


async def test_the_first_link_opened_makes_the_account_the_others_say_so(
    client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    address = new_email("twice")
    await register(client, address, name="First")
    await register(client, address, name="Second")
    first, second = await mails_to(app, mail, address, 2)
    r = await verify(client, link_in(second))
    assert r.status_code == 200 and r.json()["user"]["name"] == "Second"
    body = assert_problem(await verify(client, link_in(first)), 409, "conflict")
    assert body["detail"] == ADDRESS_TAKEN
    assert await count(app, User, User.email == address) == 1


async def test_links_for_one_address_opened_at_once_make_one_account(
    client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    address = new_email("race")
    for _ in range(3):
        await register(client, address)
    tokens = [link_in(m) for m in await mails_to(app, mail, address, 3)]
    results = await asyncio.gather(*(verify(client, token) for token in tokens))
    assert sorted(r.status_code for r in results) == [200, 409, 409], [r.text for r in results]
    for r in results:
        if r.status_code == 409:
            assert assert_problem(r, 409, "conflict")["detail"] == ADDRESS_TAKEN
    assert await count(app, User, User.email == address) == 1


async def test_signing_in_before_the_link_answers_like_an_unknown_address(
    client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    pending, unknown = new_email("pending"), new_email("unknown")
    await register(client, pending)
    await mails_to(app, mail, pending, 1)
    a = await client.post(f"{V1}/auth/login", json={"email": pending, "password": PASSWORD})
    b = await client.post(f"{V1}/auth/login", json={"email": unknown, "password": PASSWORD})
    assert_problem(a, 401, "unauthorized")
    assert answer(a, pending) == answer(b, unknown)


async def test_sign_up_input_is_still_checked(client: httpx.AsyncClient, app: Any, mail: Mailbox) -> None:
    assert_problem(await register(client, new_email("short"), password="short"), 422, "invalid-input")
    assert_problem(await register(client, "not-an-address"), 422, "invalid-input")
    assert_problem(await verify(client, ""), 422, "invalid-input")
    assert await count(app, SignupRequest) == 0


# --- bounds ---------------------------------------------------------------------------------------


async def test_each_address_gets_a_bounded_number_of_emails(client: httpx.AsyncClient, app: Any, mail: Mailbox) -> None:
    taken, fresh = new_email("flooded"), new_email("flooded")
    await account(client, app, mail, taken)  # its sign-up e-mail counts too
    answers = []
    for _ in range(EMAILS_PER_ADDRESS_PER_HOUR + 2):
        a, b = await register(client, taken), await register(client, fresh)
        assert a.status_code == 202 and b.status_code == 202
        answers.append(answer(a, taken)[:2])
        answers.append(answer(b, fresh)[:2])
    assert len(set(answers)) == 1  # past the bound the answer is the same
    assert len(await mails_to(app, mail, fresh, EMAILS_PER_ADDRESS_PER_HOUR)) == EMAILS_PER_ADDRESS_PER_HOUR
    assert len(await mails_to(app, mail, taken, EMAILS_PER_ADDRESS_PER_HOUR)) == EMAILS_PER_ADDRESS_PER_HOUR
    assert await count(app, SignupRequest, SignupRequest.email == fresh) == EMAILS_PER_ADDRESS_PER_HOUR
    other = new_email("other")
    await register(client, other)
    await mails_to(app, mail, other, 1)  # another address is not held back


@pytest.fixture
async def redis_app(
    tmp_path: Path, template_db: Path, shared_state: SharedState, mail: Mailbox
) -> AsyncIterator[Any]:
    """An app (SQLite) with verification on, its counters in the process or in Redis."""
    shutil.copy(template_db, tmp_path / "orbitask.db")
    settings = mail_settings(make_settings(tmp_path, **shared_state.overrides), mail, signup_verification=True)
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


async def test_the_email_bound_is_counted_in_the_shared_state(redis_app: Any, mail: Mailbox, shared_state: SharedState) -> None:
    transport = httpx.ASGITransport(app=redis_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        address = new_email("shared")
        for _ in range(EMAILS_PER_ADDRESS_PER_HOUR + 1):
            assert (await register(client, address)).status_code == 202
    assert len(await mails_to(redis_app, mail, address, EMAILS_PER_ADDRESS_PER_HOUR)) == EMAILS_PER_ADDRESS_PER_HOUR
    shared_state.assert_in_use(redis_app.state.runtime, "rl")
    if shared_state.redis:  # the region counts the address's e-mails, not this process
        assert [k for k in shared_state.keys("rl") if "signup_email" in k]


# --- the mode -------------------------------------------------------------------------------------


def test_verification_is_on_when_email_is_configured_unless_turned_off(tmp_path: Path) -> None:
    assert not verification_required(make_settings(tmp_path))
    assert verification_required(make_settings(tmp_path, smtp_host="127.0.0.1"))
    assert not verification_required(make_settings(tmp_path, smtp_host="127.0.0.1", signup_verification=False))
    assert not verification_required(make_settings(tmp_path, smtp_host=""))  # compose's empty variable: no e-mail


@pytest.mark.parametrize("mode", ["off", "no e-mail"])
async def test_without_verification_sign_up_signs_in_and_a_taken_address_is_409(
    mode: str, tmp_path: Path, template_db: Path, mail: Mailbox
) -> None:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    base = make_settings(tmp_path)
    settings = mail_settings(base, mail, signup_verification=False) if mode == "off" else base
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            address = new_email("direct")
            r = await register(client, address)
            assert r.status_code == 201, r.text
            assert r.json()["user"]["email"] == address and r.json()["access_token"]
            assert_problem(await register(client, address), 409, "conflict")
            await mails_to(application, mail, address, 0)
            assert await count(application, SignupRequest) == 0
