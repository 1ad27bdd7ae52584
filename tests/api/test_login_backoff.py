"""Login backoff: after repeated failures an account waits longer and longer between attempts.

The backoff is counted from the audit log (the database); each test still runs with the region's shared
state in the process and in Redis (`shared_state`), since every attempt also passes the rate limiter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from orbitask.audit.models import AuditEntry
from orbitask.config import Settings
from tests.conftest import PASSWORD, Api, assert_problem
from tests.sharedstate import SharedState, fixture_shared_redis, fixture_shared_state  # noqa: F401 - the fixtures


@pytest.fixture
def settings(settings: Settings, shared_state: SharedState) -> Settings:
    """The per-minute sign-in limits off: this is about the per-account backoff alone."""
    return settings.model_copy(
        update={"rate_limit_login_per_minute": 0, "rate_limit_login_ip_per_minute": 0, **shared_state.overrides}
    )


async def _attempt(api: Api, email: str, password: str) -> Any:
    return await api.call(None, "POST", "/auth/login", json={"email": email, "password": password})


async def _time_passes(app: Any, seconds: float) -> None:
    """Move every recorded attempt into the past (the backoff is counted from the audit log)."""
    async with app.state.runtime.db.write_transaction() as s:
        for entry in await s.scalars(select(AuditEntry)):
            entry.at -= dt.timedelta(seconds=seconds)


async def test_failures_in_a_row_make_the_account_wait_longer_each_time(
    api: Api, app: Any, shared_state: SharedState
) -> None:
    alice, bob = await api.user("Alice"), await api.user("Bob")
    for _ in range(5):  # ORBITASK_LOGIN_BACKOFF_AFTER=5 failures are answered as plain failures
        assert_problem(await _attempt(api, alice.email, "wrong password"), 401, "unauthorized")

    r = await _attempt(api, alice.email, PASSWORD)  # even the right password waits: no oracle for guessing
    body = assert_problem(r, 429, "rate-limited")
    assert r.headers["retry-after"] == "2" and "failed sign-ins" in body["detail"]
    assert (await _attempt(api, bob.email, PASSWORD)).status_code == 200  # other accounts are not affected
    assert (await _attempt(api, alice.email, "wrong password")).status_code == 429  # not counted while waiting

    await _time_passes(app, 2.5)
    assert_problem(await _attempt(api, alice.email, "wrong again"), 401)  # sixth failure: the wait doubles
    r = await _attempt(api, alice.email, PASSWORD)
    assert r.status_code == 429 and r.headers["retry-after"] == "4"

    await _time_passes(app, 4.5)
    assert (await _attempt(api, alice.email, PASSWORD)).status_code == 200  # a success resets the streak
    assert_problem(await _attempt(api, alice.email, "wrong password"), 401)
    assert (await _attempt(api, alice.email, PASSWORD)).status_code == 200
    # every attempt went through the region's limiter, which counted no sign-in limit: those are off
    shared_state.assert_in_use(app.state.runtime, "rl")
    assert not [k for k in shared_state.keys("rl") if k.startswith("login_")]


async def test_the_wait_is_capped(api: Api, app: Any) -> None:
    alice = await api.user("Alice")
    for _ in range(13):  # the 14th failure would wait 2 x 2^9 = 1024 s
        assert_problem(await _attempt(api, alice.email, "wrong password"), 401)
        await _time_passes(app, 3600)
    assert_problem(await _attempt(api, alice.email, "wrong password"), 401)
    r = await _attempt(api, alice.email, PASSWORD)
    assert r.status_code == 429 and r.headers["retry-after"] == "900"  # ORBITASK_LOGIN_BACKOFF_MAX_SECONDS


def _answer(r: Any) -> tuple[int, bytes, dict[str, str]]:
    """What a client can compare between two answers: status, body and headers (the request id aside)."""
    return r.status_code, r.content, {k: v for k, v in r.headers.items() if k != "x-request-id"}


async def test_an_unknown_address_backs_off_exactly_like_an_account(api: Api, app: Any) -> None:
    """No account oracle: an address with no account gets the same answers, waits and headers as one with."""
    alice = await api.user("Alice")
    nobody = "nobody-" + alice.email  # no account has this address
    for _ in range(5):
        known, unknown = await _attempt(api, alice.email, "wrong"), await _attempt(api, nobody, "wrong")
        assert_problem(known, 401, "unauthorized")
        assert _answer(unknown) == _answer(known)

    known, unknown = await _attempt(api, alice.email, "wrong"), await _attempt(api, nobody, "wrong")
    assert_problem(known, 429, "rate-limited")
    assert known.headers["retry-after"] == "2"
    assert _answer(unknown) == _answer(known)
    # the wait doubles for both, and case does not make a new address
    await _time_passes(app, 2.5)
    for email in (alice.email, nobody):
        assert_problem(await _attempt(api, email.upper(), "wrong again"), 401)
    known, unknown = await _attempt(api, alice.email, PASSWORD), await _attempt(api, nobody, PASSWORD)
    assert known.headers["retry-after"] == "4"
    assert _answer(unknown) == _answer(known)
