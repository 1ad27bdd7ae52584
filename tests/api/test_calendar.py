"""iCalendar feeds: a secret, revocable URL listing exactly the user's assigned cards with due dates."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from urllib.parse import urlsplit

from icalendar import Calendar
from sqlalchemy import select

from orbitask.transfer.models import CalendarFeed
from tests.conftest import Api, User, assert_problem


async def feed(api: Api, url: str) -> Any:
    """GET a feed URL without credentials, like a calendar app would."""
    return await api.client.get(urlsplit(url).path)


def events(body: bytes) -> dict[str, Any]:
    """The feed's events by UID, after checking it parses as a calendar."""
    cal = Calendar.from_ical(body)
    assert cal.name == "VCALENDAR"
    assert str(cal["VERSION"]) == "2.0" and "Orbitask" in str(cal["PRODID"])
    found = {}
    for event in cal.walk("VEVENT"):
        assert event.get("DTSTAMP") is not None  # required by RFC 5545
        found[str(event["UID"])] = event
    return found


async def test_feed_lists_exactly_my_assigned_cards_with_due_dates(api: Api, app: Any) -> None:
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob)
    board = await api.board(alice, name="Launch")
    lst = (await api.list(alice, board["id"], "Todo"))["id"]
    me = [str(alice.id)]
    due = await api.card(alice, lst, "Ship it", due_at="2030-03-04T05:06:07Z", assignee_ids=me,
                         description="Release notes too")
    done = await api.card(alice, lst, "Done already", due_at="2029-01-01T00:00:00Z", assignee_ids=me)
    await api.ok(alice, "PATCH", f"/cards/{done['id']}", json={"completed": True})
    await api.card(alice, lst, "No date", assignee_ids=me)
    await api.card(alice, lst, "Not mine", due_at="2030-01-01T00:00:00Z")
    await api.card(alice, lst, "Bob's", due_at="2030-01-01T00:00:00Z", assignee_ids=[str(bob.id)])
    gone = await api.card(alice, lst, "Archived", due_at="2030-01-01T00:00:00Z", assignee_ids=me)
    await api.ok(alice, "PATCH", f"/cards/{gone['id']}", json={"archived": True})
    # a card on another workspace's board that Alice was assigned to, then removed from
    bob_board = await api.board(bob, name="Bob's board", visibility="private")
    bob_list = (await api.list(bob, bob_board["id"], "L"))["id"]
    await api.join(bob, alice, "guest")
    await api.ok(bob, "POST", f"/boards/{bob_board['id']}/members", json={"user_id": str(alice.id), "role": "editor"})
    lost = await api.card(bob, bob_list, "Lost access", due_at="2030-01-01T00:00:00Z", assignee_ids=me)
    await api.call(bob, "DELETE", f"/boards/{bob_board['id']}/members/{alice.id}", expect=204)

    assert await api.ok(alice, "GET", "/me/calendar-feed") == {"active": False, "created_at": None}
    created = await api.call(alice, "POST", "/me/calendar-feed", expect=201)
    url = created.json()["url"]
    assert urlsplit(url).path.startswith("/api/v1/calendar/cal_") and url.endswith(".ics")

    r = await feed(api, url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    found = events(r.content)
    assert set(found) == {f"{due['id']}@orbitask", f"{done['id']}@orbitask"}
    assert lost["id"] not in str(found)
    ship = found[f"{due['id']}@orbitask"]
    assert ship.decoded("DTSTART") == dt.datetime(2030, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    assert str(ship["SUMMARY"]) == "Ship it"
    assert "Launch" in str(ship["DESCRIPTION"]) and "Release notes too" in str(ship["DESCRIPTION"])
    assert str(found[f"{done['id']}@orbitask"]["SUMMARY"]) == "✓ Done already"

    status = await api.ok(alice, "GET", "/me/calendar-feed")
    assert status["active"] is True
    # only a hash of the secret is stored
    secret = urlsplit(url).path.rsplit("/", 1)[1].removesuffix(".ics")
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        stored = (await session.execute(select(CalendarFeed.token_hash))).scalars().all()
    assert stored == [hashlib.sha256(secret.encode()).hexdigest()]


async def test_feed_url_names_the_public_url_whatever_host_the_request_names(api: Api, app: Any) -> None:
    alice = await api.user("Alice")
    public_url = app.state.runtime.settings.public_url
    url = (await api.ok(alice, "POST", "/me/calendar-feed", headers={"Host": "evil.example"}))["url"]
    # a forged Host must not make the server hand out a link to someone else's host
    assert url.startswith(f"{public_url}/api/v1/calendar/cal_") and "evil.example" not in url, url
    assert (await feed(api, url)).status_code == 200


async def test_feed_url_can_be_rotated_and_revoked(api: Api) -> None:
    alice: User = await api.user()
    first = (await api.ok(alice, "POST", "/me/calendar-feed"))["url"]
    second = (await api.ok(alice, "POST", "/me/calendar-feed"))["url"]
    assert first != second
    assert_problem(await feed(api, first), 404, "not-found")
    assert (await feed(api, second)).status_code == 200
    await api.call(alice, "DELETE", "/me/calendar-feed", expect=204)
    assert_problem(await feed(api, second), 404, "not-found")
    assert (await api.ok(alice, "GET", "/me/calendar-feed"))["active"] is False
    assert_problem(await api.call(alice, "DELETE", "/me/calendar-feed"), 404, "not-found")
    assert_problem(await api.client.get("/api/v1/calendar/cal_guess.ics"), 404, "not-found")
    assert_problem(await api.call(None, "POST", "/me/calendar-feed"), 401, "unauthorized")


async def test_an_empty_feed_is_still_a_valid_calendar(api: Api) -> None:
    alice = await api.user()
    url = (await api.ok(alice, "POST", "/me/calendar-feed"))["url"]
    r = await feed(api, url)
    assert r.status_code == 200
    assert events(r.content) == {}
