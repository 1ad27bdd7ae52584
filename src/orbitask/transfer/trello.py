"""Trello board exports ("Export as JSON"), streamed into the staging spool.

Trello's own limits bound the strings we accept (names and comments 16,384 characters,
descriptions 16,384 characters, i.e. at most 64 KiB of UTF-8, our own limit); anything larger
is refused, naming the object and field. Names longer than Orbitask's columns are shortened
with an ellipsis (the full name is kept at the top of the card's description). Unknown fields
are read past without being built (the models below are the shapes of what is kept).
"""

from __future__ import annotations

import datetime as dt
from typing import IO, Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from orbitask.transfer.spool import Spool
from orbitask.transfer.stream import ImportRejected, JsonStream, describe, shape_of

SOURCE = "trello"
WHAT = "a Trello board export"
NOT_TRELLO = ("This is an Orbitask export, not a Trello one: import it as Orbitask JSON (`orbitask import orbitask`, "
              "POST /api/v1/imports/orbitask).")
TRELLO_TEXT = 16384
MAX_DESCRIPTION_BYTES = 65536
PALETTE = {"green", "yellow", "orange", "red", "purple", "blue", "sky", "lime", "pink", "black"}
BACKGROUNDS = PALETTE | {"grey": "gray"}.keys()
Name = Annotated[str, Field(max_length=TRELLO_TEXT)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Url = Annotated[str, Field(max_length=2048)]


def _utc(value: dt.datetime) -> dt.datetime:
    """The time in UTC, within the years every supported database stores."""
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError:
        value = dt.datetime.min.replace(tzinfo=dt.UTC)  # before year 1 or after 9999 in UTC
    if not 1000 <= value.year <= 9999:
        raise ValueError("must be between the years 1000 and 9999 (in UTC)")
    return value


When = Annotated[AwareDatetime, AfterValidator(_utc)]


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TrelloList(_Item):
    id: Id
    name: Name = ""
    closed: bool = False
    pos: float = 0


class TrelloLabel(_Item):
    id: Id
    name: Annotated[str, Field(max_length=TRELLO_TEXT)] | None = ""
    color: str | None = None


class TrelloMember(_Item):
    id: Id
    fullName: Annotated[str, Field(max_length=TRELLO_TEXT)] | None = None  # noqa: N815 - Trello's names
    username: Annotated[str, Field(max_length=200)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None


class TrelloAttachment(_Item):
    id: Id
    name: Annotated[str, Field(max_length=TRELLO_TEXT)] | None = ""
    url: Url | None = None
    pos: float = 0


class TrelloCover(_Item):
    idAttachment: str | None = None  # noqa: N815
    url: Url | None = None
    sharedSourceUrl: Url | None = None  # noqa: N815


class TrelloCard(_Item):
    id: Id
    idList: Id  # noqa: N815
    name: Name = ""
    desc: Annotated[str, Field(max_length=MAX_DESCRIPTION_BYTES)] = ""
    due: When | None = None
    dueComplete: bool = False  # noqa: N815
    start: When | None = None
    idLabels: list[str] = []  # noqa: N815
    idMembers: list[str] = []  # noqa: N815
    closed: bool = False
    pos: float = 0
    cover: TrelloCover | None = None
    attachments: Annotated[list[TrelloAttachment], Field(max_length=10000)] = []

    @field_validator("desc")
    @classmethod
    def _bytes(cls, value: str) -> str:
        if len(value.encode()) > MAX_DESCRIPTION_BYTES:
            raise ValueError(f"is longer than {MAX_DESCRIPTION_BYTES} bytes")
        return value


class TrelloCheckItem(_Item):
    id: Id
    name: Name = ""
    state: str = "incomplete"
    pos: float = 0
    due: When | None = None
    idMember: str | None = None  # noqa: N815


class TrelloChecklist(_Item):
    id: Id
    idCard: Id  # noqa: N815
    name: Name = ""
    pos: float = 0
    checkItems: Annotated[list[TrelloCheckItem], Field(max_length=10000)] = []  # noqa: N815


class TrelloCardRef(_Item):
    id: Any = None  # a comment whose card id is not a string is skipped


class TrelloCommentData(_Item):
    text: Name = ""
    card: TrelloCardRef = TrelloCardRef()


class TrelloAction(_Item):
    id: Id
    type: str = ""
    date: When | None = None
    idMemberCreator: str | None = None  # noqa: N815
    memberCreator: TrelloMember | None = None  # noqa: N815
    data: TrelloCommentData = TrelloCommentData()


class TrelloPrefs(_Item):
    background: Annotated[str, Field(max_length=200)] | None = None


class TrelloBoard(_Item):
    id: Id
    name: Name = "Imported board"
    desc: Annotated[str, Field(max_length=16384)] = ""
    closed: bool = False
    prefs: TrelloPrefs = TrelloPrefs()


ARRAYS = {"lists": TrelloList, "labels": TrelloLabel, "members": TrelloMember, "cards": TrelloCard,
          "checklists": TrelloChecklist, "actions": TrelloAction}


def is_web_url(url: str) -> bool:
    """Whether a link may be shown as one: http(s) only (no javascript:, data: or file: URLs)."""
    return url.lower().startswith(("https://", "http://"))


def shorten(text: str, limit: int) -> str:
    """Text cut to `limit` characters with an ellipsis."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def label_color(color: str | None) -> str:
    """Trello's colour names (with _dark/_light shades, or none) on Orbitask's palette."""
    base = (color or "").split("_")[0]
    return base if base in PALETTE else "gray"


def created_at(trello_id: str) -> str | None:
    """When a Trello object was made: its id is a MongoDB ObjectId, whose first 8 hex digits are Unix seconds."""
    try:
        return dt.datetime.fromtimestamp(int(trello_id[:8], 16), dt.UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def _when(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _validate(model: type[_Item], value: Any, what: str) -> Any:
    if not isinstance(value, dict):
        raise ImportRejected("wrong-shape", f"{what}: expected a JSON object, got {type(value).__name__}.")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        ident = value.get("id") if isinstance(value.get("id"), str) else None
        raise describe(exc, f"{what}{f' {ident!r}' if ident else ''}") from None


def _named(kind: str, value: Any) -> str:
    name = value.get("name") if isinstance(value, dict) else None
    return f"{kind} {shorten(name, 40)!r}" if isinstance(name, str) and name else kind


class _Reader:
    """Stages one Trello export, object by object."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.board_fields: dict[str, Any] = {}
        self.commenters: dict[str, TrelloMember] = {}  # people who may have left the board since

    def top(self, key: str, in_array: bool, value: Any) -> None:
        if not in_array:
            self.board_fields[key] = value
            return
        if self.board_fields.get("format") == "orbitask-export":
            raise ImportRejected("wrong-shape", NOT_TRELLO)
        getattr(self, f"_{key}")(value)

    def _lists(self, value: Any) -> None:
        row = _validate(TrelloList, value, _named("list", value))
        self.spool.put("list", "b", row.id, {"name": shorten(row.name, 200) or "Untitled list",
                                             "archived": row.closed}, sort=row.pos)

    def _labels(self, value: Any) -> None:
        row = _validate(TrelloLabel, value, _named("label", value))
        self.spool.put("label", "b", row.id, {"name": shorten(row.name or "", 100), "color": label_color(row.color)})

    def _members(self, value: Any) -> None:
        row = _validate(TrelloMember, value, _named("member", value))
        self._member(row)

    def _member(self, row: TrelloMember) -> None:
        name = shorten(row.fullName or row.username or "Trello member", 100)
        self.spool.put("member", "b", row.id, {"name": name, "username": row.username or "",
                                               "email": (row.email or "").lower() or None})

    def _cards(self, value: Any) -> None:
        row: TrelloCard = _validate(TrelloCard, value, _named("card", value))
        title = shorten(row.name, 512) or "Untitled card"
        description = row.desc
        if title != row.name.strip() and row.name.strip():
            description = f"**{row.name.strip()}**\n\n{description}"
        self.spool.put("card", "b", row.id, {
            "title": title, "description": description, "start_at": _when(row.start), "due_at": _when(row.due),
            "completed": row.dueComplete, "archived": row.closed, "assignees": row.idMembers, "labels": row.idLabels,
            "created_at": created_at(row.id) if len(row.id) == 24 else None,
        }, parent=row.idList, sort=row.pos)
        cover = row.cover or TrelloCover()
        for att in row.attachments:
            if att.url and is_web_url(att.url):
                self.spool.put("link", "b", att.id, {
                    "url": att.url, "name": shorten(att.name or "", 256), "is_cover": att.id == cover.idAttachment,
                }, parent=row.id, sort=att.pos)
        cover_url = cover.url or cover.sharedSourceUrl
        if cover_url and is_web_url(cover_url) and not cover.idAttachment:
            self.spool.put("link", "b", f"cover:{row.id}", {"url": cover_url, "name": "Cover", "is_cover": True},
                           parent=row.id, sort=-1)

    def _checklists(self, value: Any) -> None:
        row: TrelloChecklist = _validate(TrelloChecklist, value, _named("checklist", value))
        self.spool.put("checklist", "b", row.id, {"title": shorten(row.name, 200) or "Checklist"},
                       parent=row.idCard, sort=row.pos)
        for item in row.checkItems:
            self.spool.put("item", "b", item.id, {
                "text": shorten(item.name, 1000) or "-", "done": item.state == "complete", "due_at": _when(item.due),
                "assignee": item.idMember,
            }, parent=row.id, sort=item.pos)

    def _actions(self, value: Any) -> None:
        if not isinstance(value, dict) or value.get("type") != "commentCard":
            return  # other actions are history Orbitask does not replay
        row: TrelloAction = _validate(TrelloAction, value, "comment")
        card_id = row.data.card.id
        if not isinstance(card_id, str) or not row.data.text.strip():
            return
        author = row.idMemberCreator
        if row.memberCreator is not None:
            self.commenters.setdefault(row.memberCreator.id, row.memberCreator)
            author = row.memberCreator.id
        self.spool.put("comment", "b", row.id, {
            "body": row.data.text, "author": author, "created_at": _when(row.date), "edited_at": None,
        }, parent=card_id, sort=_when(row.date))

    def board(self, arrays: set[str]) -> None:
        missing = [k for k in ("id", "name") if k not in self.board_fields]
        missing += [k for k in ("lists", "cards") if k not in arrays]
        if self.board_fields.get("format") == "orbitask-export":
            raise ImportRejected("wrong-shape", NOT_TRELLO)
        if missing:
            raise ImportRejected("wrong-shape", f"This JSON is not {WHAT}: it has no {', '.join(missing)}. In Trello, "
                                 "open the board menu, then Print, export and share, then Export as JSON.")
        row: TrelloBoard = _validate(TrelloBoard, self.board_fields, "board")
        background = row.prefs.background
        color = {"grey": "gray"}.get(background, background) if background in BACKGROUNDS else "blue"
        self.spool.put("board", "b", row.id, {
            "name": shorten(row.name, 200) or "Imported board", "description": row.desc, "color": color,
            "visibility": "workspace", "archived": row.closed,
        })


def read_trello(raw: IO[bytes], spool: Spool) -> None:
    """Parse a Trello export into `spool` (one pass, one object's known fields in memory at a time)."""
    reader = _Reader(spool)
    stream = JsonStream(raw, WHAT, "board", fields={**shape_of(TrelloBoard), "format": None},
                        arrays={key: shape_of(model) for key, model in ARRAYS.items()})
    for key, in_array, value in stream:
        reader.top(key, in_array, value)
    reader.board(stream.arrays_seen)
    for member in reader.commenters.values():
        if not spool.has("member", member.id):
            reader._member(member)
    spool.flush()
