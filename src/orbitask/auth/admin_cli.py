"""`orbitask admin users ...`: the instance administrator's account commands, on the writer directly.

Imports beyond Typer and Rich wait for a command to run: `orbitask --help` must stay quick.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from orbitask.core.runtime import Runtime

admin_app = typer.Typer(help="Instance administration.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts: list, create, disable, enable, password-set links.", no_args_is_help=True)
admin_app.add_typer(users_app, name="users")
console = Console(stderr=True)
out = Console()
T = TypeVar("T")

EmailArg = Annotated[str, typer.Argument(help="the account's e-mail address")]


class UnknownAccount(Exception):
    """No account has this address."""


def _run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run `work` with a runtime on the configured database (and Redis, whose revocation list the API checks)."""
    from orbitask.cli import _migrate_sqlite, _settings
    from orbitask.core.runtime import Runtime

    settings = _settings()
    _migrate_sqlite(settings)

    async def run() -> T:
        rt = Runtime.from_settings(settings)
        try:
            return await work(rt)
        finally:
            await rt.close()

    try:
        return asyncio.run(run())
    except UnknownAccount as exc:
        console.print(f"[red]No account has the address[/red] {escape(str(exc))}.", soft_wrap=True)
        raise typer.Exit(1) from None


@users_app.command("list")
def list_users() -> None:
    """Every account: e-mail, name, administrator, active, created, last seen (newest sign-in or refresh)."""
    from sqlalchemy import func, select

    from orbitask.auth.models import User, UserSession
    from orbitask.auth.service import PLACEHOLDER_DOMAIN

    async def work(rt: Runtime) -> list[tuple[str, str, bool, bool, object, object]]:
        seen = (select(UserSession.user_id, func.max(UserSession.last_seen_at).label("seen"))
                .group_by(UserSession.user_id).subquery())
        async with rt.db.read_session(on_writer=True) as session:
            rows = await session.execute(
                select(User.email, User.name, User.is_admin, User.is_active, User.created_at, seen.c.seen)
                .outerjoin(seen, seen.c.user_id == User.id)
                .where(User.email.not_like(f"%@{PLACEHOLDER_DOMAIN}"))  # stand-ins for imported people
                .order_by(User.created_at, User.email)
            )
            return [tuple(r) for r in rows.all()]  # type: ignore[misc]

    table = Table("E-mail", "Name", "Admin", "Active", "Created", "Last seen")
    for email, name, admin, active, created, seen in _run(work):
        table.add_row(escape(email), escape(name), "yes" if admin else "", "yes" if active else "[red]disabled[/red]",
                      f"{created:%Y-%m-%d %H:%M}", f"{seen:%Y-%m-%d %H:%M}" if seen else "never")
    out.print(table)


@users_app.command("create")
def create_user(
    email: Annotated[str, typer.Option("--email", help="the new account's e-mail address")],
    name: Annotated[str, typer.Option("--name", help="the name others see")],
    admin: Annotated[bool, typer.Option("--admin", help="make it an instance administrator")] = False,
) -> None:
    """Create an account (with its personal workspace) and print a one-time password-set link."""
    from sqlalchemy import select

    from orbitask.auth import service
    from orbitask.auth.models import User

    address = email.strip().lower()
    if "@" not in address or len(address) > 254 or not name.strip() or len(name) > 100:
        console.print("[red]Give a valid --email and a --name of at most 100 characters.[/red]")
        raise typer.Exit(2)

    async def work(rt: Runtime) -> str:
        link = _reset_link_maker()
        password = None if link else secrets.token_urlsafe(18)
        password_hash = "!" if password is None else await rt.passwords.hash(password)  # "!": matches no password
        uow = rt.uow()
        async with uow:
            if await uow.session.scalar(select(User.id).where(User.email == address)) is not None:
                console.print(f"[red]An account with the address[/red] {escape(address)} [red]already exists.[/red]",
                              soft_wrap=True)
                raise typer.Exit(1)
            user = await service.create_account(uow, email=address, name=name.strip(), password_hash=password_hash)
            user.is_admin = user.is_admin or admin
            secret = await link(uow.session, user_id=user.id, settings=rt.settings) if link else password
            await uow.commit()
        assert secret is not None
        return ("Password-set link (works once): " if link else "Password (shown once, no reset link available): ") + secret

    message = _run(work)
    console.print(f"[green]Created[/green] {escape(address)}{' (administrator)' if admin else ''}.", soft_wrap=True)
    out.print(message, soft_wrap=True, markup=False)


@users_app.command("disable")
def disable_user(email: EmailArg) -> None:
    """Disable an account: it cannot sign in, and its sessions, access tokens and API tokens stop at once."""
    _set_active(email, active=False)
    console.print(f"[green]Disabled[/green] {escape(email)}: signed out everywhere.", soft_wrap=True)


@users_app.command("enable")
def enable_user(email: EmailArg) -> None:
    """Enable a disabled account: it can sign in again (its API tokens work again)."""
    _set_active(email, active=True)
    console.print(f"[green]Enabled[/green] {escape(email)}.", soft_wrap=True)


@users_app.command("reset-link")
def reset_link(email: EmailArg) -> None:
    """Print a one-time link that sets the account's password (for someone who cannot receive e-mail)."""
    from sqlalchemy import select

    from orbitask.auth.models import User

    link = _reset_link_maker()
    if link is None:
        console.print("[red]This version has no password reset links (orbitask.auth.recovery).[/red]")
        raise typer.Exit(1)

    async def work(rt: Runtime) -> str:
        uow = rt.uow()
        async with uow:
            user_id = await uow.session.scalar(select(User.id).where(User.email == email.strip().lower()))
            if user_id is None:
                raise UnknownAccount(email)
            url = await link(uow.session, user_id=user_id, settings=rt.settings)
            await uow.commit()
        return url

    url = _run(work)
    out.print(url, soft_wrap=True, markup=False)


def _set_active(email: str, *, active: bool) -> None:
    from orbitask.auth import sessions

    async def work(rt: Runtime) -> None:
        if await sessions.set_active(rt.uow(), rt, email.strip(), active=active) is None:
            raise UnknownAccount(email)

    _run(work)


def _reset_link_maker() -> Callable[..., Awaitable[str]] | None:
    """The recovery module's `create_reset_link`, if this build has it."""
    try:
        from orbitask.auth.recovery import create_reset_link
    except ImportError:
        return None
    return create_reset_link
