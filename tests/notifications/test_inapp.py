"""In-app notifications and their e-mails, through the API, on every backend, with a real SMTP server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from orbitask.core.db import utcnow
from orbitask.core.events import REGISTRY, Event
from orbitask.notifications import email
from orbitask.notifications.reminders import remind
from tests.conftest import Api, User, assert_problem
from tests.mailserver import Mailbox
from tests.notifications.conftest import PUBLIC_URL, Jobs


async def _team(api: Api) -> tuple[User, User, dict[str, Any], dict[str, Any]]:
    """Alice (owner) and Bob (member) sharing a board with one list."""
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob)
    board = await api.board(alice, name="Launch")
    lst = await api.list(alice, board["id"], "To do")
    return alice, bob, board, lst


async def _notes(api: Api, who: User, **params: Any) -> dict[str, Any]:
    return await api.ok(who, "GET", "/notifications", params=params)


async def test_mention_notifies_in_app_and_by_email(api: Api, jobs: Jobs, mail: Mailbox) -> None:
    alice, bob, board, lst = await _team(api)
    card = await api.card(alice, lst["id"], "Write <b>the</b> press release")
    await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": f"@{alice.email} can you <i>check</i>?"})
    await jobs.events()

    page = await _notes(api, alice)
    assert page["unread_count"] == 1
    [note] = page["items"]
    assert note["kind"] == "mentioned"  # not also "comment", although Alice watches the card she created
    assert note["title"] == "Bob mentioned you on “Write <b>the</b> press release”"
    assert note["body"] == f"@{alice.email} can you <i>check</i>?"
    assert note["card_id"] == card["id"] and note["board_id"] == board["id"] and note["actor_id"] == str(bob.id)
    assert note["url"] == f"{PUBLIC_URL}/b/{board['id']}/c/{card['id']}"  # the web app's card address
    assert (await _notes(api, bob))["items"] == []  # nobody hears about their own comment

    await jobs.mail()
    [message] = mail.wait_for(alice.email)
    assert message["Subject"] == note["title"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith(f"<{PUBLIC_URL}/api/v1/notifications/unsubscribe?token=")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Write <b>the</b> press release" in text and note["url"] in text
    assert "Write &lt;b&gt;the&lt;/b&gt; press release" in html and "<b>the</b>" not in html  # autoescaped
    assert "&lt;i&gt;check&lt;/i&gt;" in html


async def test_assignment_notifies_the_assignee_only(api: Api, jobs: Jobs, mail: Mailbox) -> None:
    alice, bob, _, lst = await _team(api)
    card = await api.card(alice, lst["id"], "Book the venue")
    await api.ok(alice, "POST", f"/cards/{card['id']}/assignees/{bob.id}")
    await api.ok(alice, "POST", f"/cards/{card['id']}/assignees/{alice.id}")  # assigning oneself: no notification
    created = await api.card(alice, lst["id"], "Print flyers", assignee_ids=[str(bob.id)])
    await jobs.events()

    kinds = [(n["kind"], n["card_id"], n["title"]) for n in (await _notes(api, bob))["items"]]
    assert kinds == [("assigned", created["id"], "Alice assigned you to “Print flyers”"),
                     ("assigned", card["id"], "Alice assigned you to “Book the venue”")]
    assert (await _notes(api, alice))["items"] == []
    await jobs.mail()
    assert sorted(m["Subject"] for m in mail.wait_for(bob.email, 2)) == [
        "Alice assigned you to “Book the venue”", "Alice assigned you to “Print flyers”"]


async def test_watchers_hear_about_comments_and_changes(api: Api, jobs: Jobs) -> None:
    alice, bob, board, lst = await _team(api)
    carol = await api.user("Carol")
    await api.join(alice, carol)
    card = await api.card(alice, lst["id"], "Ship it")  # the creator watches by default
    await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": "Looks good"})
    await api.ok(bob, "PATCH", f"/cards/{card['id']}", json={"due_at": "2031-01-01T10:00:00Z"})
    await jobs.events()  # the worker keeps up: watchers are those of the moment
    assert (await api.ok(carol, "PUT", f"/boards/{board['id']}/watch")) == {"watching": True}
    assert (await api.ok(carol, "GET", f"/boards/{board['id']}/watch")) == {"watching": True}
    other = await api.card(bob, lst["id"], "Another")
    await jobs.events()
    watched = await api.ok(bob, "PUT", f"/cards/{card['id']}/watch")
    assert str(bob.id) in watched["watcher_ids"]
    await api.ok(alice, "DELETE", f"/cards/{card['id']}/watch")
    await api.ok(carol, "DELETE", f"/boards/{board['id']}/watch")
    await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "Done?"})  # Bob watches now
    await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": "Yes"})  # nobody else watches
    await jobs.events()

    alice_notes = [(n["kind"], n["title"]) for n in (await _notes(api, alice))["items"]]
    assert alice_notes == [("card_changed", "Bob changed due at of “Ship it”"),
                           ("comment", "Bob commented on “Ship it”")]
    assert [(n["kind"], n["title"]) for n in (await _notes(api, carol))["items"]] == [
        ("card_changed", "Bob added “Another”")]
    assert [(n["kind"], n["card_id"]) for n in (await _notes(api, bob))["items"]] == [("comment", card["id"])]
    assert other["id"] != card["id"]


async def test_read_unread_and_read_all(api: Api, jobs: Jobs) -> None:
    alice, bob, _, lst = await _team(api)
    card = await api.card(alice, lst["id"], "C")
    for i in range(5):
        await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": f"note {i}"})
    await jobs.events()
    page = await _notes(api, alice, limit=2)
    assert page["unread_count"] == 5 and len(page["items"]) == 2 and page["next_cursor"]
    rest = await _notes(api, alice, cursor=page["next_cursor"], limit=10)
    ids = [n["id"] for n in page["items"] + rest["items"]]
    assert len(set(ids)) == 5

    assert (await api.ok(alice, "POST", "/notifications/read", json={"ids": ids[:2]})) == {"unread_count": 3}
    assert (await api.ok(alice, "GET", "/notifications/unread-count")) == {"unread_count": 3}
    assert [n["id"] for n in (await _notes(api, alice, unread="true"))["items"]] == ids[2:]
    assert (await api.ok(alice, "POST", "/notifications/read", json={"ids": ids[:1], "read": False})) == {
        "unread_count": 4}
    assert (await api.ok(bob, "POST", "/notifications/read", json={"all": True})) == {"unread_count": 0}
    assert (await api.ok(alice, "GET", "/notifications/unread-count")) == {"unread_count": 4}  # not Bob's to touch
    assert (await api.ok(alice, "POST", "/notifications/read", json={"all": True})) == {"unread_count": 0}
    assert all(n["read_at"] for n in (await _notes(api, alice))["items"])
    assert_problem(await api.call(alice, "POST", "/notifications/read", json={}), 422, "invalid-input")
    assert_problem(await api.call(alice, "POST", "/notifications/read", json={"all": True, "read": False}), 422)
    assert_problem(await api.call(None, "GET", "/notifications"), 401)


async def test_preferences_per_kind_and_channel(api: Api, jobs: Jobs, mail: Mailbox) -> None:
    alice, bob, _, lst = await _team(api)
    prefs = await api.ok(alice, "GET", "/notifications/preferences")
    assert prefs["kinds"]["mentioned"] == {"in_app": True, "email": True}
    assert prefs["kinds"]["comment"] == {"in_app": True, "email": False}
    assert prefs["email_digest"] == "off" and prefs["due_offsets_minutes"] == [1440, 60] and prefs["email_enabled"]
    changed = await api.ok(alice, "PATCH", "/notifications/preferences", json={
        "kinds": {"comment": {"in_app": False}, "mentioned": {"email": False}}, "due_offsets_minutes": [30, 120, 30]})
    assert changed["kinds"]["comment"] == {"in_app": False, "email": False}
    assert changed["kinds"]["mentioned"] == {"in_app": True, "email": False}
    assert changed["due_offsets_minutes"] == [120, 30]
    assert_problem(await api.call(alice, "PATCH", "/notifications/preferences",
                                  json={"kinds": {"everything": {"email": True}}}), 422)
    assert_problem(await api.call(alice, "PATCH", "/notifications/preferences",
                                  json={"email_digest": "weekly"}), 422)

    card = await api.card(alice, lst["id"], "C")
    await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": "plain comment"})
    await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": f"hey @{alice.email}"})
    await api.ok(alice, "POST", f"/cards/{card['id']}/assignees/{bob.id}")
    await jobs.events()
    await jobs.mail()
    assert [n["kind"] for n in (await _notes(api, alice))["items"]] == ["mentioned"]
    assert len(mail.wait_for(bob.email)) == 1  # Bob's defaults: the assignment is e-mailed
    assert mail.to(alice.email) == []


async def test_digest_collects_emails_into_one(api: Api, jobs: Jobs, mail: Mailbox, app: Any) -> None:
    alice, bob, _, lst = await _team(api)
    await api.ok(alice, "PATCH", "/notifications/preferences", json={"email_digest": "daily"})
    card = await api.card(alice, lst["id"], "Digest me")
    for i in range(3):
        await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": f"@{alice.email} #{i}"})
    await jobs.events()
    await jobs.digests()  # the day has not passed
    assert mail.to(alice.email) == [] and (await _notes(api, alice))["unread_count"] == 3

    rt = app.state.runtime
    users = {alice.id: type("U", (), {"name": "Alice", "email": alice.email})()}
    assert await email.send_digests(rt.db, rt.settings, users, utcnow() + dt.timedelta(days=1, minutes=1)) == 1
    await jobs.mail()
    [digest] = mail.wait_for(alice.email)
    assert digest["Subject"] == "Orbitask: 3 notifications"
    text = digest.get_body(("plain",)).get_content()
    assert text.count("Bob mentioned you on “Digest me”") == 3
    assert await email.send_digests(rt.db, rt.settings, users, utcnow() + dt.timedelta(days=3)) == 0  # sent once


async def test_unsubscribe_link_turns_that_email_off(api: Api, jobs: Jobs, mail: Mailbox) -> None:
    alice, bob, _, lst = await _team(api)
    await api.ok(alice, "POST", f"/cards/{(await api.card(bob, lst['id'], 'C'))['id']}/assignees/{bob.id}")
    await jobs.events()
    await jobs.mail()
    [message] = mail.wait_for(bob.email)
    link = message["List-Unsubscribe"].strip("<>").removeprefix(PUBLIC_URL + "/api/v1")
    page = await api.call(None, "GET", link, expect=200)
    assert "Unsubscribe" in page.text and "<form" in page.text
    assert (await api.ok(bob, "GET", "/notifications/preferences"))["kinds"]["assigned"]["email"]  # GET changes nothing
    done = await api.call(None, "POST", link, expect=200)
    assert "Unsubscribed" in done.text
    prefs = await api.ok(bob, "GET", "/notifications/preferences")
    assert prefs["kinds"]["assigned"] == {"in_app": True, "email": False}
    assert prefs["kinds"]["mentioned"]["email"]  # only that kind
    assert_problem(await api.call(None, "POST", "/notifications/unsubscribe?token=forged"), 404, "not-found")
    assert "not valid" in (await api.call(None, "GET", "/notifications/unsubscribe?token=x.y.z", expect=200)).text


async def test_invitations_are_sent_by_email(api: Api, jobs: Jobs, mail: Mailbox) -> None:
    alice = await api.user("Alice")
    inv = await api.ok(alice, "POST", f"/workspaces/{alice.workspace_id}/invitations",
                       json={"role": "member", "email": "Newcomer@Example.com"})
    assert inv["emailed"] is True
    await jobs.mail()
    [message] = mail.wait_for("newcomer@example.com")
    assert message["Subject"].startswith("Alice invited you to ")
    text = message.get_body(("plain",)).get_content()
    assert f"{PUBLIC_URL}/invite/{inv['token']}" in text
    newcomer = await api.user("Newcomer")
    assert_problem(await api.call(newcomer, "POST", f"/invitations/{inv['token']}/accept"), 404)  # other address
    link = await api.ok(alice, "POST", f"/workspaces/{alice.workspace_id}/invitations", json={"role": "member"})
    assert link["emailed"] is False


async def test_no_notification_about_boards_one_cannot_see(api: Api, jobs: Jobs) -> None:
    alice, bob, board, lst = await _team(api)
    card = await api.card(bob, lst["id"], "Bob's card")
    await api.ok(bob, "PUT", f"/boards/{board['id']}/watch")
    await api.ok(alice, "DELETE", f"/workspaces/{alice.workspace_id}/members/{bob.id}")
    await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "Bob left"})
    await api.card(alice, lst["id"], "New card")
    await jobs.events()
    assert (await _notes(api, bob))["items"] == []
    outsider = await api.user("Mallory")
    assert_problem(await api.call(outsider, "PUT", f"/boards/{board['id']}/watch"), 404)
    assert_problem(await api.call(outsider, "PUT", f"/cards/{card['id']}/watch"), 404)


async def test_notification_service_events_are_emitted_with_their_schemas(api: Api, jobs: Jobs, app: Any) -> None:
    alice, bob, _, lst = await _team(api)
    now = utcnow().replace(microsecond=0)
    card = await api.card(alice, lst["id"], "Due", due_at=now.isoformat(), assignee_ids=[str(bob.id)])
    await api.ok(bob, "DELETE", f"/cards/{card['id']}/watch")  # assignees watch by default
    await api.ok(bob, "PUT", f"/cards/{card['id']}/watch")
    await api.card(alice, lst["id"], "Soon", assignee_ids=[str(bob.id)],
                   due_at=(now + dt.timedelta(minutes=30)).isoformat())
    rt = app.state.runtime
    assert await remind(rt.db, now=utcnow(), region="local") == 2  # one overdue, one due soon
    await jobs.events()
    await api.ok(bob, "POST", "/notifications/read", json={"all": True})
    async with rt.db.read_session() as session:
        rows = list((await session.execute(select(Event).order_by(Event.seq))).scalars())
    mine = {"card.watcher_added", "card.watcher_removed", "notification.created", "notification.read",
            "reminder.due_soon", "reminder.overdue"}
    assert mine <= {e.type for e in rows} and mine <= set(REGISTRY)
    for event in rows:
        REGISTRY[event.type].model_validate(event.payload)
        if event.type.startswith(("notification.", "reminder.")):
            assert event.board_id is None and event.board_version is None and event.card_id is None


async def test_the_consumer_reads_outside_the_write_transaction(
    api: Api, jobs: Jobs, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the single writer is held only to insert notifications, not while a batch is read."""
    from orbitask.notifications import consumer

    db = app.state.runtime.db
    held: list[bool] = []
    real = consumer.watching.watched_cards

    async def spy(session: Any, ids: list[Any]) -> Any:
        held.append(db.write_lock is not None and db.write_lock.locked())
        held.append(session.in_transaction() and session.bind is db.writer)
        return await real(session, ids)

    monkeypatch.setattr(consumer.watching, "watched_cards", spy)
    alice, bob, _, lst = await _team(api)
    card = await api.card(alice, lst["id"], "Plan")
    await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": "Done?"})
    await jobs.events()
    assert held and not any(held)
    assert (await _notes(api, alice))["unread_count"] == 1  # and the notification was written
