"""`orbitask demo`: seed a demo workspace through the service layer, as two users would."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from orbitask.auth import service as auth
from orbitask.auth import workspaces
from orbitask.auth.policy import Actor
from orbitask.auth.schemas import InvitationCreate, LoginIn, RegisterIn, WorkspaceUpdate
from orbitask.boards import lists as board_lists
from orbitask.boards import service as boards
from orbitask.boards.schemas import BoardCreate, LabelCreate, ListCreate
from orbitask.config import Settings
from orbitask.core.db import utcnow
from orbitask.core.errors import Conflict, Unauthorized
from orbitask.core.runtime import Runtime
from orbitask.tasks import checklists, comments
from orbitask.tasks import service as tasks
from orbitask.tasks.schemas import (
    CardCreate,
    CardUpdate,
    ChecklistCreate,
    ChecklistItemCreate,
    ChecklistItemUpdate,
    CommentCreate,
)

WORKSPACE_NAME = "Orbitask demo"
USERS = {"ada": ("ada@demo.orbitask.dev", "Ada Lovelace"), "grace": ("grace@demo.orbitask.dev", "Grace Hopper")}


@dataclass
class SeedResult:
    """What `seed` made (or found, when the demo users already existed)."""

    emails: list[str]
    workspace_name: str
    boards: int
    cards: int
    already_seeded: bool = False
    password_matches: bool = True  # False: already seeded with another password (counts unknown)


@dataclass
class C:
    """One demo card: `due` in days from now, assignees and comment authors by handle."""

    title: str
    description: str = ""
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    due: float | None = None
    completed: bool = False
    checklist: tuple[str, list[tuple[str, bool]]] | None = None
    comments: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class B:
    """One demo board: labels (name -> colour) and lists of cards."""

    name: str
    color: str
    description: str
    labels: dict[str, str]
    lists: dict[str, list[C]]


BOARDS = [
    B(
        "Product launch", "purple", "Everything that has to happen before **Orbitask 1.0** goes public.",
        {"Launch blocker": "red", "Press": "sky", "Legal": "gray", "Design": "pink", "Nice to have": "lime"},
        {
            "Ideas": [
                C("Launch-day livestream with a live board demo", labels=("Nice to have",)),
                C("Customer quotes for the landing page", labels=("Press",), assignees=("grace",)),
                C("Referral programme for early adopters", "Give **one month free** per invited team.",
                  labels=("Nice to have",)),
                C("Product Hunt launch", labels=("Press",), due=21),
            ],
            "To do": [
                C("Write the press release",
                  "## Outline\n\n1. The problem: boards that lag across oceans\n2. Orbitask's answer\n"
                  "3. Quotes from two pilot customers\n\n_Embargo until launch day, 09:00 UTC._",
                  labels=("Press", "Launch blocker"), assignees=("ada",), due=1,
                  checklist=("Press kit", [("Draft", True), ("Review with legal", False), ("Send to press list", False)]),
                  comments=[("ada", "@grace could you review the draft by Thursday?"),
                            ("grace", "On it. I will leave comments inline.")]),
                C("Pricing page copy", labels=("Design",), assignees=("grace",), due=4),
                C("Terms of service and privacy policy review", labels=("Legal", "Launch blocker"),
                  assignees=("ada",), due=-2, comments=[("grace", "This is overdue; @ada do we need outside counsel?")]),
                C("Record the product walkthrough video", assignees=("grace",), due=9,
                  checklist=("Shots", [("Script", True), ("Screen recording", False), ("Voice-over", False)])),
            ],
            "In progress": [
                C("Landing page hero illustration", "Two regions, one board, **no lag**.", labels=("Design",),
                  assignees=("grace",), due=2),
                C("Launch e-mail to the waiting list", labels=("Press",), assignees=("ada", "grace"), due=3,
                  checklist=("E-mail", [("Subject line A/B", True), ("Body copy", True), ("Test send", False)])),
                C("Status page and uptime monitors", labels=("Launch blocker",), assignees=("ada",), due=-1),
                C("Pilot customer case study", labels=("Press",), assignees=("ada",), due=6),
            ],
            "Done": [
                C("Pick the launch date", assignees=("ada",), due=-10, completed=True,
                  comments=[("ada", "Locked in. Thanks everyone!")]),
                C("Register the domain", labels=("Legal",), assignees=("grace",), due=-20, completed=True),
                C("Logo and brand colours", labels=("Design",), assignees=("grace",), due=-14, completed=True,
                  checklist=("Assets", [("SVG logo", True), ("Favicon", True), ("Colour palette", True)])),
                C("Beta feedback survey", assignees=("ada",), due=-7, completed=True),
            ],
        },
    ),
    B(
        "Engineering sprint", "blue", "Sprint 14: realtime updates and the replica-aware read path.",
        {"Bug": "red", "Feature": "green", "Tech debt": "orange", "Performance": "yellow", "Security": "black"},
        {
            "Backlog": [
                C("Board templates", labels=("Feature",)),
                C("Drop the legacy session table", labels=("Tech debt",)),
                C("Rate-limit the login endpoint", "Per IP and per account. See the OWASP cheat sheet.",
                  labels=("Security",), due=12),
                C("Dark mode", labels=("Feature",), assignees=("grace",)),
                C("Flaky test: `test_move_between_lists`", labels=("Bug", "Tech debt"), assignees=("ada",)),
            ],
            "In progress": [
                C("WebSocket gateway",
                  "### Scope\n\n- one socket per tab\n- subscribe per board\n- resume with `after_version`\n\n"
                  "```\nGET /api/v1/boards/{id}/events?after_version=N\n```",
                  labels=("Feature",), assignees=("ada",), due=3,
                  checklist=("Tasks", [("Connection auth", True), ("Board subscriptions", True),
                                       ("Resume after reconnect", False), ("Load test 10k sockets", False)]),
                  comments=[("grace", "@ada the resume path should reuse the events endpoint, right?"),
                            ("ada", "Yes, exactly: gapless by board version.")]),
                C("Snapshot cache hit ratio dashboard", labels=("Performance",), assignees=("grace",), due=1),
                C("Card search returns archived cards", labels=("Bug",), assignees=("grace",), due=-1,
                  comments=[("ada", "Repro: archive a card, search its title. @grace")]),
                C("Upgrade SQLAlchemy", labels=("Tech debt",), assignees=("ada",), due=5),
            ],
            "Review": [
                C("Idempotency-Key middleware", labels=("Feature",), assignees=("ada",), due=0.5,
                  checklist=("Review", [("Tests", True), ("Docs", False)])),
                C("Argon2 parameters from settings", labels=("Security",), assignees=("grace",), due=2),
                C("Fractional index rebalancing", labels=("Performance", "Tech debt"), assignees=("ada",), due=4),
                C("Fix off-by-one in pagination cursor", labels=("Bug",), assignees=("grace",), due=-3),
            ],
            "Done": [
                C("Transactional outbox", labels=("Feature",), assignees=("ada",), due=-6, completed=True),
                C("Consistency tokens (read-your-writes)", labels=("Feature",), assignees=("ada", "grace"),
                  due=-4, completed=True, checklist=("Done when", [("Header on writes", True),
                                                                    ("Replica wait", True)])),
                C("CI on every pull request", labels=("Tech debt",), assignees=("grace",), due=-9, completed=True),
                C("Problem+json errors", labels=("Feature",), assignees=("grace",), due=-12, completed=True),
            ],
        },
    ),
    B(
        "Marketing site", "green", "orbitask.dev: content, design and SEO.",
        {"Content": "sky", "Design": "pink", "SEO": "yellow", "Blocked": "red"},
        {
            "To write": [
                C("Blog: why one writer region is enough", "Draft in the shared doc; aim for **1,200 words**.",
                  labels=("Content",), assignees=("ada",), due=5),
                C("Docs: self-hosting in five minutes", labels=("Content",), assignees=("grace",), due=8,
                  checklist=("Sections", [("Install", True), ("First board", False), ("Backups", False)])),
                C("Comparison page: Orbitask vs. spreadsheets", labels=("Content", "SEO")),
                C("Changelog for 1.0", labels=("Content",), assignees=("ada",), due=10),
            ],
            "Design": [
                C("Pricing table", labels=("Design",), assignees=("grace",), due=-1,
                  comments=[("grace", "Waiting on final prices. @ada any news?")]),
                C("Feature illustrations", labels=("Design",), assignees=("grace",), due=6),
                C("Mobile navigation", labels=("Design", "Blocked"), assignees=("grace",), due=2,
                  description="Blocked on the new logo lockup."),
                C("Open Graph images", labels=("Design", "SEO"), due=7),
            ],
            "Live": [
                C("Home page", labels=("Content", "Design"), assignees=("ada", "grace"), due=-15, completed=True),
                C("sitemap.xml and robots.txt", labels=("SEO",), assignees=("ada",), due=-5, completed=True),
                C("Contact form", assignees=("grace",), due=-8, completed=True,
                  checklist=("Form", [("Spam protection", True), ("Confirmation e-mail", True)])),
                C("Analytics without cookies", labels=("SEO",), assignees=("ada",), due=-3, completed=True),
            ],
        },
    ),
]


async def seed(settings: Settings, password: str) -> SeedResult:
    """Create the demo users, their shared workspace and three boards; report what exists if already seeded."""
    rt = Runtime.from_settings(settings)
    try:
        try:
            ada = await auth.register(rt.uow(), rt, RegisterIn(email=USERS["ada"][0], password=password,
                                                               name=USERS["ada"][1]))
        except Conflict:
            return await _existing(rt, password)
        grace = await auth.register(rt.uow(), rt, RegisterIn(email=USERS["grace"][0], password=password,
                                                             name=USERS["grace"][1]))
        people = {"ada": Actor(ada.user.id), "grace": Actor(grace.user.id)}
        workspace_id = await _workspace(rt, people)
        cards = 0
        for spec in BOARDS:
            cards += await _board(rt, people, workspace_id, spec)
        return SeedResult([e for e, _ in USERS.values()], WORKSPACE_NAME, len(BOARDS), cards)
    finally:
        await rt.db.dispose()


async def _workspace(rt: Runtime, people: dict[str, Actor]) -> uuid.UUID:
    """Rename Ada's personal workspace and bring Grace in through an invitation."""
    ada, grace = people["ada"], people["grace"]
    async with rt.db.read_session(on_writer=True) as session:
        owned, _ = await workspaces.list_workspaces(session, ada, cursor=None, limit=1)
    workspace_id = owned[0].id
    await workspaces.update_workspace(
        rt.uow(ada.user_id), ada, workspace_id,
        WorkspaceUpdate(name=WORKSPACE_NAME, description="Sample boards seeded by `orbitask demo`."),
    )
    _, token = await workspaces.create_invitation(
        rt.uow(ada.user_id), ada, workspace_id, InvitationCreate(role="member", email=USERS["grace"][0]),
        ttl_seconds=rt.settings.invitation_ttl_seconds,
    )
    await workspaces.accept_invitation(rt.uow(grace.user_id), grace, token)
    return workspace_id


async def _board(rt: Runtime, people: dict[str, Actor], workspace_id: uuid.UUID, spec: B) -> int:
    """One board with its labels, lists and cards; returns the number of cards."""
    ada = people["ada"]
    board = await boards.create_board(
        rt.uow(ada.user_id), ada, workspace_id,
        BoardCreate(name=spec.name, description=spec.description, color=spec.color),
    )
    labels = {}
    for name, color in spec.labels.items():
        label = await board_lists.create_label(rt.uow(ada.user_id), ada, board.id, LabelCreate(name=name, color=color))
        labels[name] = label.id
    now = utcnow()
    count = 0
    for list_name, cards in spec.lists.items():
        column = await board_lists.create_list(rt.uow(ada.user_id), ada, board.id, ListCreate(name=list_name))
        for n, card in enumerate(cards):
            # Alternate creators so both users appear in the activity.
            creator = people["grace" if n % 3 == 2 else "ada"]
            await _card(rt, people, creator, column.id, card, labels, now)
            count += 1
    return count


async def _card(
    rt: Runtime, people: dict[str, Actor], creator: Actor, list_id: uuid.UUID, spec: C,
    labels: dict[str, uuid.UUID], now: dt.datetime,
) -> None:
    """One card, then its completion, checklist and comments as separate commands."""
    uid = creator.user_id
    due = now + dt.timedelta(days=spec.due) if spec.due is not None else None
    card = await tasks.create_card(
        rt.uow(uid), creator, list_id,
        CardCreate(
            title=spec.title, description=spec.description, due_at=due,
            assignee_ids=[people[h].user_id for h in spec.assignees], label_ids=[labels[n] for n in spec.labels],
        ),
    )
    if spec.completed:
        await tasks.update_card(rt.uow(uid), creator, card.id, CardUpdate(completed=True))
    if spec.checklist is not None:
        title, items = spec.checklist
        checklist = await checklists.create_checklist(rt.uow(uid), creator, card.id, ChecklistCreate(title=title))
        for text, done in items:
            item = await checklists.create_item(rt.uow(uid), creator, checklist.id, ChecklistItemCreate(text=text))
            if done:
                await checklists.update_item(rt.uow(uid), creator, item.id, ChecklistItemUpdate(done=True))
    for handle, body in spec.comments:
        author = people[handle]
        await comments.create_comment(rt.uow(author.user_id), author, card.id, CommentCreate(body=body))


async def _existing(rt: Runtime, password: str) -> SeedResult:
    """What the demo users already have (signing in as Ada to count it)."""
    emails = [e for e, _ in USERS.values()]
    try:
        issued = await auth.login(rt.uow(), rt, LoginIn(email=USERS["ada"][0], password=password))
    except Unauthorized:
        return SeedResult(emails, WORKSPACE_NAME, 0, 0, already_seeded=True, password_matches=False)
    await auth.logout(rt.uow(issued.user.id), rt, issued.refresh_token)  # the count needs no session
    ada = Actor(issued.user.id)
    async with rt.db.read_session(on_writer=True) as session:
        found, _ = await workspaces.list_workspaces(session, ada, cursor=None, limit=100)
        demo = next((w for w in found if w.name == WORKSPACE_NAME), None)
        if demo is None:
            return SeedResult(emails, WORKSPACE_NAME, 0, 0, already_seeded=True)
        board_count = card_count = 0
        cursor: str | None = None
        while True:
            page, cursor = await boards.list_boards(session, ada, demo.id, archived=None, cursor=cursor, limit=100)
            for board in page:
                board_count += 1
                card_cursor: str | None = None
                while True:
                    cards, card_cursor = await tasks.search_cards(
                        session, ada, board.id, q=None, label=None, assignee=None, due_before=None, archived=None,
                        list_id=None, cursor=card_cursor, limit=200,
                    )
                    card_count += len(cards)
                    if card_cursor is None:
                        break
            if cursor is None:
                break
    return SeedResult(emails, demo.name, board_count, card_count, already_seeded=True)
