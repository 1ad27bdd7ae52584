"""Search HTTP route."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from orbitask.auth.deps import CurrentActor, ReadSession
from orbitask.core.pagination import DEFAULT_LIMIT, Limit
from orbitask.search import service
from orbitask.search.schemas import Due, SearchPage

router = APIRouter(tags=["search"])
MAX_QUERY = 500


@router.get("/search", response_model=SearchPage)
async def search(
    actor: CurrentActor, session: ReadSession,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY,
                            description='words (prefixes from two letters) and "quoted phrases"; all must match')],
    board_id: uuid.UUID | None = None, list_id: uuid.UUID | None = None, label_id: uuid.UUID | None = None,
    member_id: Annotated[uuid.UUID | None, Query(description="cards assigned to this user")] = None,
    due: Due | None = None,
    archived: Annotated[bool, Query(description="only archived cards (or cards on archived lists and boards)")] = False,
    cursor: str | None = None, limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """Cards on every board I can read whose title, description, comments, checklist items or file names match."""
    page = await service.search(
        session, actor, q=q, board_id=board_id, list_id=list_id, label_id=label_id, member_id=member_id, due=due,
        archived=archived, cursor=cursor, limit=limit,
    )
    # built and checked by the service's models already: serialised once, not validated again by the route
    return Response(page.model_dump_json(), media_type="application/json")
