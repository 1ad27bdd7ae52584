"""Transfer tables: where imported things came from, named placeholders, calendar feed secrets."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, UTCDateTime, utcnow


class ImportMapping(Base):
    """An imported object's id in its source (Trello, another Orbitask) and the row it became.

    Re-importing the same export looks these up to update the same board instead of making another.
    """

    __tablename__ = "import_mapping"
    __table_args__ = (Index("ix_import_mapping_board", "board_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    board_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"))
    internal_id: Mapped[uuid.UUID]


class Placeholder(Base):
    """A person named in an import who is not (yet) a user of the workspace.

    The placeholder is an inactive user account that cannot sign in (so assignees, comment
    authors and board members keep working everywhere), recorded here with the key it was
    matched by, so later imports into the same workspace reuse it.
    """

    __tablename__ = "placeholder"
    __table_args__ = (Index("uq_placeholder_workspace_key", "workspace_id", "key", unique=True),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarFeed(Base):
    """A user's secret iCalendar feed URL; only a hash of the secret is stored."""

    __tablename__ = "calendar_feed"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
