"""Task tables: cards and what hangs off them."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, UTCDateTime, id_default, long_text, position_type, trashed_index, utcnow


class Card(Base):
    """A task on a list."""

    __tablename__ = "card"
    __table_args__ = (
        Index("ix_card_list_position", "list_id", "position"),
        Index("ix_card_board", "board_id", "id"),
        trashed_index("card"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    board_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"))
    list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("board_list.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(long_text(), default="")
    position: Mapped[str] = mapped_column(position_type())
    start_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # no foreign key: attachment rows point at cards, and a cycle would complicate every migration;
    # the service clears it when the attachment goes
    cover_attachment_id: Mapped[uuid.UUID | None]
    # set: in the trash (tasks/trash.py), invisible everywhere until restored or purged
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # indexed: core/db.trashed_index
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class CardAssignee(Base):
    __tablename__ = "card_assignee"
    __table_args__ = (Index("ix_card_assignee_user", "user_id"),)

    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)


class CardLabel(Base):
    __tablename__ = "card_label"
    __table_args__ = (Index("ix_card_label_label", "label_id"),)

    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), primary_key=True)
    label_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("label.id", ondelete="CASCADE"), primary_key=True)


class CardWatcher(Base):
    __tablename__ = "card_watcher"
    __table_args__ = (Index("ix_card_watcher_user", "user_id"),)

    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)


class Checklist(Base):
    __tablename__ = "checklist"
    __table_args__ = (Index("ix_checklist_card", "card_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[str] = mapped_column(position_type())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChecklistItem(Base):
    __tablename__ = "checklist_item"
    __table_args__ = (Index("ix_checklist_item_checklist", "checklist_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    checklist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checklist.id", ondelete="CASCADE"))
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(1000))
    position: Mapped[str] = mapped_column(position_type())
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Base):
    __tablename__ = "comment"
    __table_args__ = (Index("ix_comment_card", "card_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(long_text())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CommentMention(Base):
    __tablename__ = "comment_mention"
    __table_args__ = (Index("ix_comment_mention_user", "user_id"),)

    comment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("comment.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)


class CardLink(Base):
    """A link attached to a card (a URL and its name); one may be the card's cover."""

    __tablename__ = "card_link"
    __table_args__ = (Index("ix_card_link_card", "card_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    name: Mapped[str] = mapped_column(String(256), default="")
    position: Mapped[str] = mapped_column(position_type())
    is_cover: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """A file on a card; its bytes live in object storage under `storage_key`."""

    __tablename__ = "attachment"
    __table_args__ = (
        Index("ix_attachment_card", "card_id", "id"),
        Index("ix_attachment_workspace", "workspace_id", "deleted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"))
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    uploader_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
