"""Board tables."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, UTCDateTime, id_default, long_text, position_type, trashed_index, utcnow


class Board(Base):
    """A board; `version` numbers its events (bumped under a row lock by every command)."""

    __tablename__ = "board"
    __table_args__ = (Index("ix_board_workspace", "workspace_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(long_text(), default="")
    color: Mapped[str] = mapped_column(String(16), default="blue")
    visibility: Mapped[str] = mapped_column(String(16), default="workspace")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BoardMember(Base):
    """An explicit role on a board: admin, editor, commenter or viewer."""

    __tablename__ = "board_member"
    __table_args__ = (Index("ix_board_member_user", "user_id"),)

    board_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BoardList(Base):
    """A column of cards."""

    __tablename__ = "board_list"
    __table_args__ = (Index("ix_board_list_board_position", "board_id", "position"), trashed_index("board_list"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    board_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[str] = mapped_column(position_type())
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # set: in the trash with the cards it held (tasks/trash.py), invisible until restored or purged
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # indexed: core/db.trashed_index
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class Label(Base):
    """A coloured tag, per board."""

    __tablename__ = "label"
    __table_args__ = (Index("ix_label_board", "board_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    board_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), default="")
    color: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
