"""Accounts (issue 24): password reset by e-mailed link, change password, change e-mail, verification modes, profile.

A real SMTP server on 127.0.0.1 receives the e-mails; the `email` job is run on demand. Reset and change
password run on every backend (they lock and revoke rows); the rest on SQLite.
"""

from __future__ import annotations

import re
import shutil
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from orbitask.app import create_app
from orbitask.audit.models import AuditEntry
from orbitask.auth.models import AccountToken
from orbitask.auth.recovery import EMAILS_PER_ADDRESS_PER_HOUR, RESET_TTL, create_reset_link
from orbitask.auth.signup import signup_mode
from orbitask.config import Settings
from tests.api.test_signup_verification import (
    PUBLIC_URL,
    answer,
    link_in,
    mail_settings,
    mails_to,
    new_email,
    text_of,
)
from tests.conftest import PASSWORD, Api, User, assert_problem, make_settings
from tests.mailserver import Mailbox

V1 = "/api/v1"
NEW_PASSWORD = "a brand new passphrase"
RESET_LINK = re.compile(re.escape(PUBLIC_URL) + r"/reset-password/([A-Za-z0-9_-]{43})")
EMAIL_LINK = re.compile(re.escape(PUBLIC_URL) + r"/confirm-email/([A-Za-z0-9_-]{43})")
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
def settings(settings: Settings, mail: Mailbox) -> Settings:
    """E-mail on; sign-up signs in at once (api.user), as with verification off."""
    return mail_settings(settings, mail, signup_verification="off")


def token_in(message: EmailMessage, pattern: re.Pattern[str]) -> str:
    """The token of the link in both bodies of an e-mail."""
    found = pattern.search(text_of(message))
    assert found, text_of(message)
    assert found.group(0) in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return found.group(1)


async def request_reset(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await client.post(f"{V1}/auth/password-reset", json={"email": address})


async def reset(client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post(f"{V1}/auth/password-reset/confirm", json={"token": token, "password": password})


async def reset_token(client: httpx.AsyncClient, app: Any, mail: Mailbox, address: str, count: int = 1) -> str:
    """Ask for a reset link for `address` and take it from the e-mail (the `count`-th to the address)."""
    assert (await request_reset(client, address)).status_code == 202
    return token_in((await mails_to(app, mail, address.lower(), count))[-1], RESET_LINK)


async def login(client: httpx.AsyncClient, address: str, password: str) -> httpx.Response:
    return await client.post(f"{V1}/auth/login", json={"email": address, "password": password})


async def sign_in_again(client: httpx.AsyncClient, who: User) -> tuple[str, str]:
    """A second session (another device) of `who`: its access and refresh tokens."""
    r = await login(client, who.email, PASSWORD)
    assert r.status_code == 200, r.text
    return r.json()["access_token"], r.json()["refresh_token"]


async def me(client: httpx.AsyncClient, access: str) -> httpx.Response:
    return await client.get(f"{V1}/me", headers={"Authorization": f"Bearer {access}"})


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{V1}/auth/refresh", json={"refresh_token": token})


async def audit_actions(app: Any, prefix: str) -> list[str]:
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        rows = await session.scalars(select(AuditEntry.action).where(AuditEntry.action.like(prefix + "%"))
                                     .order_by(AuditEntry.id))
        return list(rows)


# --- password reset -------------------------------------------------------------------------------


@sqlite_only
async def test_a_reset_answers_alike_for_an_account_and_an_unknown_address(
    api: Api, client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    known = await api.user("Kim")
    unknown = known.email.replace("kim-", "nim-")  # the same length
    a, b = await request_reset(client, known.email), await request_reset(client, unknown)
    assert a.status_code == 202, a.text
    assert a.json() == {"status": "link_sent", "email": known.email}
    assert answer(a, known.email) == answer(b, unknown)
    [message] = await mails_to(app, mail, known.email, 1)
    assert message["Subject"] == "Reset your Orbitask password"
    assert "Hello Kim," in text_of(message)
    token_in(message, RESET_LINK)
    await mails_to(app, mail, unknown, 0)
    # both asked alike: one audit entry each, the unknown address's names no account
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        entries = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "password_reset.requested")
                                         .order_by(AuditEntry.id))).all()
    assert [(e.target_id, e.detail["email"]) for e in entries] == [(str(known.id), known.email), (None, unknown)]


async def test_a_reset_link_sets_the_password_once_and_signs_out_everywhere(
    api: Api, client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    alice = await api.user("Alice")
    other_access, other_refresh = await sign_in_again(client, alice)
    assert (await me(client, alice.access_token)).status_code == 200
    token = await reset_token(client, app, mail, alice.email.upper())  # any case
    r = await reset(client, token)
    assert r.status_code == 204, r.text
    # every session issued before is signed out: access tokens on their next request, refresh tokens too
    for access in (alice.access_token, other_access):
        assert_problem(await me(client, access), 401)
    for refresh_token in (alice.refresh_token, other_refresh):
        assert_problem(await refresh(client, refresh_token), 401)
    assert_problem(await login(client, alice.email, PASSWORD), 401)
    assert (await login(client, alice.email, NEW_PASSWORD)).status_code == 200
    # the link works once
    assert_problem(await reset(client, token, "yet another passphrase"), 400, "invalid-token")
    assert (await login(client, alice.email, NEW_PASSWORD)).status_code == 200
    assert await audit_actions(app, "password_reset.") == ["password_reset.requested", "password_reset.completed"]


@sqlite_only
async def test_expired_forged_and_other_kinds_of_links_are_refused(
    api: Api, client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    bob = await api.user("Bob")
    token = await reset_token(client, app, mail, bob.email)
    async with app.state.runtime.db.write_transaction() as session:  # half an hour passes
        for row in await session.scalars(select(AccountToken)):
            row.expires_at -= RESET_TTL
    expired = assert_problem(await reset(client, token), 400, "invalid-token")
    forged = assert_problem(await reset(client, "x" * 43), 400, "invalid-token")
    assert expired == forged and "Ask for a new one" in expired["detail"]
    # a link of another kind (confirming an address) is no reset link, nor the other way round
    moved = new_email("bob")
    await api.ok(bob, "POST", "/auth/email", json={"new_email": moved, "current_password": PASSWORD})
    [confirm] = await mails_to(app, mail, moved, 1)
    assert_problem(await reset(client, token_in(confirm, EMAIL_LINK)), 400, "invalid-token")
    fresh = await reset_token(client, app, mail, bob.email, count=3)  # the reset, the change notice, this one
    assert_problem(await client.post(f"{V1}/auth/email/confirm", json={"token": fresh}), 400, "invalid-token")
    assert_problem(await reset(client, fresh, "short"), 422, "invalid-input")  # the sign-up password rules
    assert (await login(client, bob.email, PASSWORD)).status_code == 200  # nothing changed


@sqlite_only
async def test_reset_emails_to_one_address_are_bounded(
    api: Api, client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    carol = await api.user("Carol")
    answers = set()
    for _ in range(EMAILS_PER_ADDRESS_PER_HOUR + 2):
        r = await request_reset(client, carol.email)
        assert r.status_code == 202
        answers.add(answer(r, carol.email)[:2])
    assert len(answers) == 1  # past the bound the answer is the same
    assert len(await mails_to(app, mail, carol.email, EMAILS_PER_ADDRESS_PER_HOUR)) == EMAILS_PER_ADDRESS_PER_HOUR
    dave = await api.user("Dave")
    await reset_token(client, app, mail, dave.email)  # another address is not held back


@sqlite_only
async def test_an_admin_reset_link_works_like_an_emailed_one(
    api: Api, client: httpx.AsyncClient, app: Any
) -> None:
    erin = await api.user("Erin")
    rt = app.state.runtime
    async with rt.db.write_transaction() as session:
        url = await create_reset_link(session, user_id=erin.id, settings=rt.settings)
    found = RESET_LINK.fullmatch(url)
    assert found, url
    assert (await reset(client, found.group(1))).status_code == 204
    assert (await login(client, erin.email, NEW_PASSWORD)).status_code == 200


# --- change password ------------------------------------------------------------------------------


async def change_password(api: Api, who: User, current: str, new: str = NEW_PASSWORD) -> httpx.Response:
    return await api.call(who, "POST", "/auth/password", json={"current_password": current, "new_password": new})


async def test_changing_the_password_signs_out_the_other_sessions_but_not_this_one(
    api: Api, client: httpx.AsyncClient, app: Any
) -> None:
    frank = await api.user("Frank")
    other_access, other_refresh = await sign_in_again(client, frank)
    r = await change_password(api, frank, PASSWORD)
    assert r.status_code == 204, r.text
    assert (await me(client, frank.access_token)).status_code == 200  # this session goes on
    assert (await refresh(client, frank.refresh_token)).status_code == 200
    assert_problem(await me(client, other_access), 401)
    assert_problem(await refresh(client, other_refresh), 401)
    assert_problem(await login(client, frank.email, PASSWORD), 401)
    assert (await login(client, frank.email, NEW_PASSWORD)).status_code == 200
    assert await audit_actions(app, "password.") == ["password.changed"]


@sqlite_only
async def test_a_wrong_current_password_is_refused_with_the_sign_in_bounds(
    api: Api, client: httpx.AsyncClient, app: Any
) -> None:
    grace = await api.user("Grace")
    after = app.state.runtime.settings.login_backoff_after
    for _ in range(after):
        body = assert_problem(await change_password(api, grace, "not my password"), 403)
        assert body["detail"] == "The current password is incorrect."
    # past the sign-in backoff the right password waits too, like the sign-in form
    assert_problem(await change_password(api, grace, PASSWORD), 429, "rate-limited")
    assert_problem(await login(client, grace.email, PASSWORD), 429, "rate-limited")
    assert (await me(client, grace.access_token)).status_code == 200  # the session was not touched


# --- change e-mail --------------------------------------------------------------------------------


async def change_email(api: Api, who: User, address: str, password: str = PASSWORD) -> httpx.Response:
    return await api.call(who, "POST", "/auth/email", json={"new_email": address, "current_password": password})


@sqlite_only
async def test_changing_the_email_takes_a_link_sent_to_the_new_address(
    api: Api, client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    heidi = await api.user("Heidi")
    old, new = heidi.email, new_email("heidi-new")
    assert_problem(await change_email(api, heidi, new, "wrong password"), 403)
    r = await change_email(api, heidi, new.upper())
    assert r.status_code == 202, r.text
    [confirm] = await mails_to(app, mail, new, 1)
    [notice] = await mails_to(app, mail, old, 1)
    assert confirm["Subject"] == "Confirm your new Orbitask e-mail address" and "Heidi" not in text_of(confirm)
    assert notice["Subject"] == "Your Orbitask e-mail address is being changed" and new in text_of(notice)
    assert not EMAIL_LINK.search(text_of(notice))
    assert (await api.ok(heidi, "GET", "/me"))["email"] == old  # nothing changes before the link is opened
    token = token_in(confirm, EMAIL_LINK)
    r = await client.post(f"{V1}/auth/email/confirm", json={"token": token})
    assert r.status_code == 200, r.text
    assert r.json() == {"email": new, "email_verified": True}
    mine = await api.ok(heidi, "GET", "/me")
    assert (mine["email"], mine["email_verified"]) == (new, True)
    assert (await login(client, new, PASSWORD)).status_code == 200
    assert_problem(await login(client, old, PASSWORD), 401)
    assert_problem(await client.post(f"{V1}/auth/email/confirm", json={"token": token}), 400, "invalid-token")


@sqlite_only
async def test_a_taken_address_is_not_told_to_the_requester_and_its_link_answers_409(
    api: Api, client: httpx.AsyncClient, app: Any, mail: Mailbox
) -> None:
    ivan, judy = await api.user("Ivan"), await api.user("Judy")
    free = judy.email.replace("judy-", "jody-")  # the same length
    taken, unused = await change_email(api, ivan, judy.email), await change_email(api, ivan, free)
    assert taken.status_code == 202, taken.text
    assert answer(taken, judy.email) == answer(unused, free)
    [link] = await mails_to(app, mail, judy.email, 1)  # to the address's owner, who knows it has an account
    body = assert_problem(await client.post(f"{V1}/auth/email/confirm", json={"token": token_in(link, EMAIL_LINK)}),
                          409, "conflict")
    assert "already has an Orbitask account" in body["detail"]
    assert (await api.ok(ivan, "GET", "/me"))["email"] == ivan.email


# --- e-mail verification modes --------------------------------------------------------------------


def test_the_verification_setting_takes_modes_and_the_old_booleans(tmp_path: Path) -> None:
    mail_on = {"smtp_host": "127.0.0.1"}
    assert signup_mode(make_settings(tmp_path)) == "off"
    assert signup_mode(make_settings(tmp_path, **mail_on)) == "required"
    for given, mode in ((True, "required"), ("true", "required"), (False, "off"), ("false", "off"),
                        ("required", "required"), ("optional", "optional"), ("off", "off")):
        assert signup_mode(make_settings(tmp_path, signup_verification=given, **mail_on)) == mode, given
    assert signup_mode(make_settings(tmp_path, signup_verification="off")) == "off"  # no e-mail needed for off
    with pytest.raises(ValueError, match="SIGNUP_VERIFICATION=optional needs ORBITASK_SMTP_HOST"):
        make_settings(tmp_path, signup_verification="optional")


@pytest.mark.parametrize("mode", ["optional", "required", "off"])
async def test_sign_up_in_each_verification_mode(mode: str, tmp_path: Path, template_db: Path, mail: Mailbox) -> None:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    application = create_app(mail_settings(make_settings(tmp_path), mail, signup_verification=mode))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            address = new_email(mode)
            r = await client.post(f"{V1}/auth/register", json={"email": address, "password": PASSWORD, "name": "Max"})
            if mode == "required":  # the account is made by the link, which shows the address is theirs
                assert r.status_code == 202, r.text
                [message] = await mails_to(application, mail, address, 1)
                r = await client.post(f"{V1}/auth/verify", json={"token": link_in(message)})
                assert r.status_code == 200, r.text
            else:  # signed in at once
                assert r.status_code == 201, r.text
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            mine = (await client.get(f"{V1}/me", headers=headers)).json()
            assert mine["email_verified"] is (mode == "required")
            if mode == "off":
                await mails_to(application, mail, address, 0)
                return
            if mode == "optional":
                [message] = await mails_to(application, mail, address, 1)
                assert message["Subject"] == "Verify your Orbitask e-mail address"
                again = await client.post(f"{V1}/auth/email/verification", headers=headers)
                assert again.status_code == 202, again.text
                first, second = await mails_to(application, mail, address, 2)
                r = await client.post(f"{V1}/auth/email/confirm", json={"token": token_in(second, EMAIL_LINK)})
                assert r.status_code == 200, r.text
                assert (await client.get(f"{V1}/me", headers=headers)).json()["email_verified"] is True
            body = assert_problem(await client.post(f"{V1}/auth/email/verification", headers=headers), 409)
            assert body["detail"] == "Your address is already verified."


# --- profile --------------------------------------------------------------------------------------


@sqlite_only
async def test_the_profile_changes_name_time_zone_and_language(api: Api, client: httpx.AsyncClient) -> None:
    kate = await api.user("Kate")
    mine = await api.ok(kate, "GET", "/me")
    assert (mine["time_zone"], mine["language"], mine["email_verified"]) == ("UTC", "en", False)
    out = await api.ok(kate, "PATCH", "/me", json={"name": "Kate B.", "time_zone": "Europe/Berlin", "language": "de"})
    assert (out["name"], out["time_zone"], out["language"]) == ("Kate B.", "Europe/Berlin", "de")
    await api.ok(kate, "PATCH", "/me", json={"language": "ja"})  # only the fields sent
    mine = await api.ok(kate, "GET", "/me")
    assert (mine["name"], mine["time_zone"], mine["language"]) == ("Kate B.", "Europe/Berlin", "ja")
    for bad in ({"time_zone": "Mars/Olympus_Mons"}, {"time_zone": "../../etc/passwd"}, {"language": "xx"},
                {"name": ""}, {"email": "kate@example.com"}):
        assert_problem(await api.call(kate, "PATCH", "/me", json=bad), 422, "invalid-input")
    # the new name is what others see on a shared board (its cached snapshot included)
    board = await api.board(kate)
    before = await api.ok(kate, "GET", f"/boards/{board['id']}")
    assert [m["user"]["name"] for m in before["members"]] == ["Kate B."]
    await api.ok(kate, "PATCH", "/me", json={"name": "Katherine"})
    after = await api.ok(kate, "GET", f"/boards/{board['id']}")
    assert [m["user"]["name"] for m in after["members"]] == ["Katherine"]
    assert uuid.UUID(after["members"][0]["user"]["id"]) == kate.id
