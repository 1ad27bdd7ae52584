"""Alembic environment: runs migrations on the configured (async) writer."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from orbitask.models import metadata
from orbitask.search import ddl as search_ddl

config = context.config


def _include(_: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # the full-text index objects are built by search/ddl.py, not declared in the models
    return not (reflected and compare_to is None and search_ddl.is_ddl_object(name, type_))


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection) -> None:  # noqa: ANN001 - alembic passes a sync connection
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True, include_object=_include)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
