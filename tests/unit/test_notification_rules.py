"""Pure rules of the Notification service: signatures, SSRF classification, patterns, backoff, the job registry."""

from __future__ import annotations

import ipaddress

import pytest

from orbitask.config import Settings
from orbitask.core.jobs import load_jobs, register_job
from orbitask.notifications.consumer import _in
from orbitask.notifications.delivery import _allowed, next_delay, sign, verify
from orbitask.notifications.service import read_unsubscribe_token, unsubscribe_token
from orbitask.notifications.webhooks import matches


def test_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    import hashlib
    import hmac

    body = b'{"type":"card.created"}'
    header = sign("whsec_x", 1700000000, body)
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify("whsec_x", header, body, now=1700000100)
    assert not verify("whsec_x", header, body, now=1700000000 + 301)  # replayed too late
    assert not verify("whsec_x", header.replace("t=1700000000", "t=1700000001"), body, now=1700000000)
    assert not verify("whsec_x", "garbage", body)


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("127.0.0.1", False), ("10.0.0.1", False),
    ("172.31.255.255", False), ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("::1", False), ("fe80::1", False), ("fd00::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True),
])
def test_only_public_addresses_are_webhook_targets(address: str, public: bool) -> None:
    assert _allowed(ipaddress.ip_address(address), []) is public


def test_allowed_networks_open_private_ranges() -> None:
    assert _allowed(ipaddress.ip_address("127.0.0.1"), ["127.0.0.1/32"])
    assert _allowed(ipaddress.ip_address("10.20.3.4"), ["10.20.0.0/16"])
    assert not _allowed(ipaddress.ip_address("10.21.3.4"), ["10.20.0.0/16"])
    with pytest.raises(ValueError, match="not an IP network"):
        Settings(webhook_allowed_networks="10.0.0.0/8,nonsense")
    assert Settings(webhook_allowed_networks="10.0.0.0/8, 127.0.0.1").webhook_allowed_networks == [
        "10.0.0.0/8", "127.0.0.1"]


def test_event_type_patterns() -> None:
    assert matches(["*"], "card.created")
    assert matches(["card.*"], "card.moved") and not matches(["card.*"], "cards.moved")
    assert matches(["board.created", "list.*"], "list.deleted")
    assert not matches(["board.created"], "board.updated")


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    settings = Settings(webhook_backoff_seconds=10, webhook_backoff_max_seconds=60)
    for attempts, base in ((1, 10), (2, 20), (3, 40), (4, 60), (9, 60)):
        delays = [next_delay(settings, attempts) for _ in range(50)]
        assert all(base * 0.5 <= d <= base for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_unsubscribe_tokens_are_signed() -> None:
    import uuid

    user = uuid.uuid4()
    token = unsubscribe_token("s" * 40, user, "mentioned")
    assert read_unsubscribe_token("s" * 40, token) == (user, "mentioned")
    from orbitask.core.errors import NotFound

    with pytest.raises(NotFound):
        read_unsubscribe_token("t" * 40, token)


def test_reminder_wording() -> None:
    assert [_in(m) for m in (1440, 2880, 60, 90, 15, 1)] == [
        "in 1 day", "in 2 days", "in 1 hour", "in 90 minutes", "in 15 minutes", "in 1 minute"]


def test_jobs_register_once_and_are_found_in_service_packages() -> None:
    jobs = load_jobs()
    assert {"notifications", "webhook-fanout", "webhook-delivery", "email", "email-digest", "reminders"} <= set(jobs)
    with pytest.raises(ValueError, match="registered twice"):
        register_job("notifications")(lambda rt: None)
    settings = Settings(smtp_host=None)
    assert jobs["reminders"].interval(settings) == settings.reminder_interval_seconds


def test_worker_refuses_unknown_jobs_by_name() -> None:
    from orbitask.core.jobs import Worker

    with pytest.raises(ValueError, match=r"unknown jobs \['nope'\]; choose from .*'notifications'"):
        Worker(None, only=["notifications", "nope"])  # type: ignore[arg-type]
