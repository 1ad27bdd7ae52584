"""Webhooks against a real HTTP receiver on 127.0.0.1: signatures, retries, dead letters, SSRF, the log API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import update

from orbitask.notifications.delivery import SIGNATURE_HEADER, verify
from orbitask.notifications.models import Webhook
from tests.conftest import Api, User, assert_problem
from tests.notifications.conftest import Jobs
from tests.webhookreceiver import Receiver


async def _hook(api: Api, owner: User, url: str, **fields: Any) -> dict[str, Any]:
    r = await api.call(owner, "POST", f"/workspaces/{owner.workspace_id}/webhooks", json={"url": url, **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def _deliveries(api: Api, owner: User, hook: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    return (await api.ok(owner, "GET", f"/webhooks/{hook['id']}/deliveries", params=params))["items"]


def _settled(api: Api, owner: User, hook: dict[str, Any], count: int) -> Any:
    async def check() -> bool:
        found = await _deliveries(api, owner, hook)
        return len(found) == count and all(d["status"] != "pending" for d in found)
    return check


async def test_payload_is_signed_with_the_secret(api: Api, jobs: Jobs, receiver: Receiver) -> None:
    owner = await api.user("Owner")
    hook = await _hook(api, owner, receiver.url, event_types=["board.created"])
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    assert (await api.ok(owner, "GET", f"/webhooks/{hook['id']}"))["secret"] is None  # shown once
    board = await api.board(owner, name="Signed")
    await jobs.events()
    await jobs.deliver(_settled(api, owner, hook, 1))

    [got] = receiver.received
    body = orjson.loads(got.body)
    assert body["type"] == "board.created" and body["payload"]["board"]["id"] == board["id"]
    assert got.headers["Orbitask-Event"] == "board.created" and got.headers["Orbitask-Event-Id"] == body["id"]
    assert verify(hook["secret"], got.headers[SIGNATURE_HEADER], got.body)
    assert not verify(hook["secret"], got.headers[SIGNATURE_HEADER], got.body + b" ")
    assert not verify("whsec_other", got.headers[SIGNATURE_HEADER], got.body)
    [delivery] = await _deliveries(api, owner, hook)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1 and delivery["last_status_code"] == 200
    assert got.headers["Orbitask-Delivery"] == delivery["id"]


async def test_two_failures_then_success_is_one_delivery(api: Api, jobs: Jobs, receiver: Receiver) -> None:
    owner = await api.user("Owner")
    hook = await _hook(api, owner, receiver.url, event_types=["board.*"])
    receiver.script = [500, 500]
    await api.board(owner)
    await jobs.events()
    await jobs.events()  # handling twice changes nothing
    await jobs.deliver(_settled(api, owner, hook, 1))

    assert len(receiver.received) == 3  # 500, 500, 200
    assert len({r.headers["Orbitask-Delivery"] for r in receiver.received}) == 1
    [delivery] = await _deliveries(api, owner, hook)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 3 and delivery["last_status_code"] == 200
    assert delivery["last_error"] is None and delivery["delivered_at"] is not None


async def test_receiver_that_never_answers_ends_in_dead_letter(api: Api, jobs: Jobs, receiver: Receiver) -> None:
    owner = await api.user("Owner")
    hook = await _hook(api, owner, receiver.url)
    receiver.hang = True
    await api.ok(owner, "PATCH", f"/workspaces/{owner.workspace_id}", json={"name": "Renamed"})
    await jobs.events()
    await jobs.deliver(_settled(api, owner, hook, 1))

    [dead] = await _deliveries(api, owner, hook, status="dead")
    assert dead["attempts"] == 3  # webhook_max_attempts in these tests
    assert dead["last_error"] == "no response within 0.5 s" and dead["last_status_code"] is None
    assert len(receiver.received) == 3
    assert await _deliveries(api, owner, hook, status="succeeded") == []

    receiver.hang = False  # the receiver is fixed: send the dead letter again
    again = await api.ok(owner, "POST", f"/webhooks/{hook['id']}/deliveries/{dead['id']}/redeliver")
    assert again["status"] == "pending" and again["attempts"] == 0
    await jobs.deliver(_settled(api, owner, hook, 1))
    [done] = await _deliveries(api, owner, hook)
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert_problem(await api.call(owner, "POST", f"/webhooks/{hook['id']}/deliveries/{uuid.uuid4()}/redeliver"), 404)


async def test_redirects_are_not_followed(api: Api, jobs: Jobs, receiver: Receiver) -> None:
    owner = await api.user("Owner")
    hook = await _hook(api, owner, receiver.url)
    receiver.script = [302, 302, 302]
    await api.board(owner)
    await jobs.events()
    await jobs.deliver(_settled(api, owner, hook, 1))
    [dead] = await _deliveries(api, owner, hook)
    assert dead["status"] == "dead" and dead["last_status_code"] == 302
    assert "redirects are not followed" in dead["last_error"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.0.10/",
    "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook", "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/", "ftp://example.com/",
    "http://user:pass@93.184.216.34/",
])
async def test_private_loopback_and_link_local_targets_are_refused(api: Api, app: Any, url: str) -> None:
    app.state.runtime.settings.webhook_allowed_networks = []  # the production default
    owner = await api.user("Owner")
    r = await api.call(owner, "POST", f"/workspaces/{owner.workspace_id}/webhooks", json={"url": url})
    if url.startswith("ftp"):
        assert_problem(r, 422)
        return
    body = assert_problem(r, 422, "webhook-target-refused")
    assert "url:" in body["detail"]


# IPv6 forms that carry an IPv4 address: the embedded address is checked as well (and named when refused)
EMBEDDED = [
    ("http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254"),  # NAT64 well-known prefix (RFC 6052), /96
    ("http://[64:ff9b:1::a9fe:a9fe]/", "64:ff9b:1::a9fe:a9fe"),  # NAT64 local-use prefix (RFC 8215): never public
    ("http://[64:ff9b:1:7f00:0:100::]/", "64:ff9b:1:7f00:0:100::"),  # the same prefix, a /48 embedding
    ("http://[::127.0.0.1]/", "127.0.0.1"),  # IPv4-compatible ::a.b.c.d (deprecated)
    ("http://[2002:7f00:1::]/", "127.0.0.1"),  # 6to4
    ("http://[2002:a9fe:a9fe::1]/", "169.254.169.254"),
    ("http://[::ffff:0:7f00:1]/", "127.0.0.1"),  # SIIT IPv4-translated ::ffff:0:a.b.c.d
    ("http://[::ffff:a9fe:a9fe]/", "169.254.169.254"),  # IPv4-mapped ::ffff:a.b.c.d
    ("http://[2001:0:a9fe:a9fe:0:ffff:a247:27dd]/", "169.254.169.254"),  # Teredo server
    ("http://[2001:0:5db8:d822:0:ffff:80ff:fffe]/", "127.0.0.1"),  # Teredo client (stored inverted)
]


@pytest.mark.parametrize(("url", "named"), EMBEDDED)
async def test_ipv6_forms_that_embed_a_private_ipv4_address_are_refused(
    api: Api, app: Any, url: str, named: str
) -> None:
    app.state.runtime.settings.webhook_allowed_networks = []
    owner = await api.user("Owner")
    r = await api.call(owner, "POST", f"/workspaces/{owner.workspace_id}/webhooks", json={"url": url})
    body = assert_problem(r, 422, "webhook-target-refused")
    assert named in body["detail"] and ("embeds" in body["detail"] or "local-use NAT64" in body["detail"]), body


@pytest.mark.parametrize("url", ["http://[64:ff9b::5db8:d822]/", "http://[2002:5db8:d822::1]/"])
async def test_ipv6_forms_that_embed_a_public_ipv4_address_are_accepted(api: Api, app: Any, url: str) -> None:
    app.state.runtime.settings.webhook_allowed_networks = []
    owner = await api.user("Owner")
    await _hook(api, owner, url)  # NAT64 and 6to4 to 93.184.216.34: nothing is sent before an event


async def test_embedded_addresses_are_checked_again_at_delivery(
    api: Api, jobs: Jobs, app: Any, receiver: Receiver
) -> None:
    """A URL stored before this check existed (or by another version) is refused before any connection."""
    owner = await api.user("Owner")
    hook = await _hook(api, owner, receiver.url)
    port = httpx.URL(receiver.url).port
    async with app.state.runtime.db.write_transaction() as session:
        await session.execute(update(Webhook).where(Webhook.id == uuid.UUID(hook["id"]))
                              .values(url=f"http://[64:ff9b::7f00:1]:{port}/hooks/orbitask"))
    app.state.runtime.settings.webhook_allowed_networks = []
    await api.board(owner)
    await jobs.events()
    await jobs.deliver(_settled(api, owner, hook, 1))
    [dead] = await _deliveries(api, owner, hook)
    assert dead["status"] == "dead" and dead["last_status_code"] is None
    assert "64:ff9b::7f00:1 (embeds 127.0.0.1)" in dead["last_error"], dead["last_error"]
    assert receiver.received == []


async def test_targets_are_checked_again_at_delivery(api: Api, jobs: Jobs, app: Any, receiver: Receiver) -> None:
    owner = await api.user("Owner")
    hook = await _hook(api, owner, receiver.url)
    app.state.runtime.settings.webhook_allowed_networks = []  # e.g. the allow-list was narrowed since
    await api.board(owner)
    await jobs.events()
    await jobs.deliver(_settled(api, owner, hook, 1))
    [dead] = await _deliveries(api, owner, hook)
    assert dead["status"] == "dead" and "loopback" in dead["last_error"]
    assert receiver.received == []


async def test_board_scope_and_event_type_filters(api: Api, jobs: Jobs, receiver: Receiver) -> None:
    owner = await api.user("Owner")
    one, two = await api.board(owner, name="One"), await api.board(owner, name="Two")
    hook = await _hook(api, owner, receiver.url, board_id=one["id"], event_types=["card.*", "list.created"])
    for board in (one, two):
        lst = await api.list(owner, board["id"])
        card = await api.card(owner, lst["id"])
        await api.ok(owner, "POST", f"/cards/{card['id']}/comments", json={"body": "not subscribed"})
    await jobs.events()
    await jobs.deliver(_settled(api, owner, hook, 2))
    assert sorted(orjson.loads(r.body)["type"] for r in receiver.received) == ["card.created", "list.created"]
    assert {orjson.loads(r.body)["board_id"] for r in receiver.received} == {one["id"]}


async def test_only_events_of_workspaces_with_a_webhook_are_read(
    api: Api, app: Any, jobs: Jobs, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most workspaces have no webhook: the fan-out moves its cursor past their events without reading them."""
    from orbitask.core import consumers

    read: list[int] = []
    real = consumers._EVENTS

    class Spy:
        async def all(self, session: Any, params: dict[str, Any]) -> Any:
            read.extend(params["seqs"])
            return await real.all(session, params)

    monkeypatch.setattr(consumers, "_EVENTS", Spy())
    quiet, hooked = await api.user("Quiet"), await api.user("Hooked")
    await jobs.notifications.drain()
    read.clear()
    await api.board(quiet, name="Nobody listens")
    assert await jobs.webhooks.drain() > 0 and read == []  # handled (the cursor moved), nothing read
    await _hook(api, hooked, receiver.url, event_types=["board.created"])
    await api.board(quiet, name="Still nobody")
    board = await api.board(hooked, name="Heard")
    assert await jobs.webhooks.drain() > 0 and len(read) == 1  # the hooked workspace's board.created only
    await jobs.deliver(lambda: _has(receiver, 1))
    assert [orjson.loads(r.body)["payload"]["board"]["id"] for r in receiver.received] == [board["id"]]


async def _has(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) == count


async def test_managing_webhooks_needs_a_workspace_admin(api: Api, receiver: Receiver) -> None:
    owner, member, outsider = await api.user("Owner"), await api.user("Member"), await api.user("Outsider")
    await api.join(owner, member)
    hook = await _hook(api, owner, receiver.url, description="CI")
    assert_problem(await api.call(member, "POST", f"/workspaces/{owner.workspace_id}/webhooks",
                                  json={"url": receiver.url}), 403)
    assert_problem(await api.call(member, "GET", f"/webhooks/{hook['id']}/deliveries"), 403)
    assert_problem(await api.call(outsider, "GET", f"/webhooks/{hook['id']}"), 404)
    assert_problem(await api.call(outsider, "GET", f"/workspaces/{owner.workspace_id}/webhooks"), 404)
    other_board = await api.board(outsider)
    assert_problem(await api.call(owner, "POST", f"/workspaces/{owner.workspace_id}/webhooks",
                                  json={"url": receiver.url, "board_id": other_board["id"]}), 422)
    assert_problem(await api.call(owner, "POST", f"/workspaces/{owner.workspace_id}/webhooks",
                                  json={"url": receiver.url, "event_types": ["Bad Type"]}), 422)
    listed = await api.ok(owner, "GET", f"/workspaces/{owner.workspace_id}/webhooks")
    assert [h["id"] for h in listed["items"]] == [hook["id"]] and listed["items"][0]["secret"] is None
    paused = await api.ok(owner, "PATCH", f"/webhooks/{hook['id']}", json={"active": False, "description": "off"})
    assert paused["active"] is False and paused["description"] == "off"
    assert_problem(await api.call(owner, "PATCH", f"/webhooks/{hook['id']}", json={"url": "http://10.0.0.1/"}),
                   422, "webhook-target-refused")
    await api.call(owner, "DELETE", f"/webhooks/{hook['id']}", expect=204)
    assert_problem(await api.call(owner, "GET", f"/webhooks/{hook['id']}"), 404)
