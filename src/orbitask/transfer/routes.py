"""Transfer HTTP routes: imports (raw file bodies, streamed to disk), exports (streamed), calendar feeds."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from orbitask.auth import workspaces
from orbitask.auth.deps import CurrentActor, ReadSession, RuntimeDep, Uow
from orbitask.core.context import withhold_from_replay
from orbitask.core.errors import InvalidInput, PayloadTooLarge
from orbitask.transfer import calendar, export, service
from orbitask.transfer.schemas import CalendarFeedCreated, CalendarFeedRead, ImportedBoardRead, ImportResult

router = APIRouter(tags=["import and export"])
STALE_AFTER_S = 2 * 86400.0  # ORBITASK_IMPORT_TIMEOUT_SECONDS is at most a day: nothing this old is in use
ExportFormat = Annotated[Literal["json", "csv"], Query(description="json: re-importable Orbitask export; csv: cards")]


def sweep_stale(directory: Path, max_age_s: float = STALE_AFTER_S) -> None:
    """Remove uploads and staging files left behind by a process that died mid-import."""
    cutoff = time.time() - max_age_s
    for path in directory.glob("*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path) if path.is_dir() else path.unlink()


async def _spool_body(request: Request, limit: int, directory: Path) -> Path:
    """Write the request body to a temporary file as it arrives (never all of it in memory)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The file is larger than the import limit of {limit:,} bytes.")
    directory.mkdir(parents=True, exist_ok=True)
    await to_thread.run_sync(sweep_stale, directory)
    handle = tempfile.NamedTemporaryFile(prefix="upload-", suffix=".json", dir=directory, delete=False)
    path = Path(handle.name)
    size = 0
    try:
        with handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"The file is larger than the import limit of {limit:,} bytes.")
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise InvalidInput("The request body is empty: send the export file as the body.")
    return path


async def _import(request: Request, rt: RuntimeDep, actor: CurrentActor, uow: Uow, workspace_id: uuid.UUID,
                  fmt: service.Format) -> ImportResult:
    async with rt.db.read_session() as session:  # refuse outsiders before taking their upload
        await workspaces.require_role(session, actor, workspace_id, "board.create")
    tmp = rt.settings.data_dir / "tmp"
    path = await _spool_body(request, rt.settings.import_max_bytes, tmp)
    try:
        boards = await service.import_file(uow, actor, workspace_id, fmt, path, spool_dir=tmp)
    finally:
        path.unlink(missing_ok=True)
    return ImportResult(boards=[ImportedBoardRead(id=b.board_id, name=b.name, created=b.created, counts=b.counts)
                                for b in boards])


IMPORT_DOC = (
    "Send the export file itself as the request body (e.g. `fetch(url, {method: 'POST', body: file})` or "
    "`curl --data-binary @board.json`), up to ORBITASK_IMPORT_MAX_BYTES. Everything is imported in one "
    "transaction: on any error (problem+json naming the problem) nothing is written. Importing the same "
    "export again updates the board it made."
)


@router.post("/imports/trello", status_code=status.HTTP_201_CREATED, response_model=ImportResult,
             description="Import a Trello board export (Export as JSON). " + IMPORT_DOC)
async def import_trello(request: Request, workspace_id: uuid.UUID, rt: RuntimeDep, actor: CurrentActor,
                        uow: Uow) -> ImportResult:
    """Import a Trello board into a workspace."""
    return await _import(request, rt, actor, uow, workspace_id, "trello")


@router.post("/imports/orbitask", status_code=status.HTTP_201_CREATED, response_model=ImportResult,
             description="Import an Orbitask board or workspace export. " + IMPORT_DOC)
async def import_orbitask(request: Request, workspace_id: uuid.UUID, rt: RuntimeDep, actor: CurrentActor,
                          uow: Uow) -> ImportResult:
    """Import boards exported from Orbitask into a workspace."""
    return await _import(request, rt, actor, uow, workspace_id, "orbitask")


def _download(rt: RuntimeDep, workspace: dict | None, board_ids: list[uuid.UUID], fmt: str, name: str) -> Response:
    if fmt == "csv":
        body, media, ext = export.export_csv(rt.db, board_ids), "text/csv; charset=utf-8", "csv"
    else:
        body, media, ext = export.export_json(rt.db, workspace, board_ids), "application/json", "json"
    headers = {"Content-Disposition": f'attachment; filename="{name}.{ext}"', "Cache-Control": "no-store"}
    return StreamingResponse(body, media_type=media, headers=headers)


@router.get("/boards/{board_id}/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/json": {}, "text/csv": {}}}})
async def export_board(board_id: uuid.UUID, rt: RuntimeDep, actor: CurrentActor, session: ReadSession,
                       format: ExportFormat = "json") -> Response:  # noqa: A002 - the query parameter's name
    """A board as Orbitask JSON (re-importable) or its cards as CSV."""
    workspace, ids = await export.boards_to_export(session, actor, board_id=board_id)
    await export.audit_export(rt.db, session, actor, format, board_id=board_id)
    return _download(rt, workspace, ids, format, f"orbitask-board-{board_id}")


@router.get("/workspaces/{workspace_id}/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/json": {}, "text/csv": {}}}})
async def export_workspace(workspace_id: uuid.UUID, rt: RuntimeDep, actor: CurrentActor, session: ReadSession,
                           format: ExportFormat = "json") -> Response:  # noqa: A002
    """Every board of the workspace the caller can see, as Orbitask JSON or CSV."""
    workspace, ids = await export.boards_to_export(session, actor, workspace_id=workspace_id)
    await export.audit_export(rt.db, session, actor, format, workspace_id=workspace_id, boards_exported=len(ids))
    return _download(rt, workspace, ids, format, f"orbitask-workspace-{workspace_id}")


@router.post("/me/calendar-feed", status_code=status.HTTP_201_CREATED, response_model=CalendarFeedCreated)
async def create_calendar_feed(
    request: Request, actor: CurrentActor, uow: Uow, rt: RuntimeDep
) -> CalendarFeedCreated:
    """A secret iCalendar URL for your cards' due dates, shown once; calling again replaces it (the old URL stops)."""
    withhold_from_replay()
    raw, created_at = await calendar.rotate_feed(uow, actor)
    path = request.app.url_path_for("calendar_feed", token=raw)  # never the Host header: a client forges it
    return CalendarFeedCreated(url=f"{rt.settings.public_url}{path}", created_at=created_at)


@router.get("/me/calendar-feed", response_model=CalendarFeedRead)
async def get_calendar_feed(actor: CurrentActor, session: ReadSession) -> CalendarFeedRead:
    """Whether you have a calendar feed (its URL is shown only when made)."""
    created_at = await calendar.feed_status(session, actor)
    return CalendarFeedRead(active=created_at is not None, created_at=created_at)


@router.delete("/me/calendar-feed", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_calendar_feed(actor: CurrentActor, uow: Uow) -> None:
    """Revoke your calendar feed URL."""
    await calendar.revoke_feed(uow, actor)


@router.get("/calendar/{token}.ics", name="calendar_feed", response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}})
async def calendar_feed(token: Annotated[str, PathParam(max_length=100)], session: ReadSession) -> Response:
    """The feed itself: no sign-in, the secret in the URL is the credential."""
    user_id = await calendar.feed_owner(session, token)
    body = await calendar.render_feed(session, user_id)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300", "Referrer-Policy": "no-referrer"})
