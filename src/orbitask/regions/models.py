"""The replicated `topology` row: which region holds the writer, and since which epoch."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, UTCDateTime

TOPOLOGY_ID = 1


class Topology(Base):
    """A single row (id 1). It replicates like any data, so every region reads it locally."""

    __tablename__ = "topology"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    writer_region: Mapped[str] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(timezone=True))
