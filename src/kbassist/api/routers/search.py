"""POST /v1/search: the agent sidebar's one call while the customer waits."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from sqlalchemy.exc import SQLAlchemyError

from kbassist.api.deps import AgentRole, MetricsDep, SearcherDep, StoreDep
from kbassist.api.errors import ERROR_RESPONSES
from kbassist.api.models import SearchRequest, SearchResponse
from kbassist.search import Filters
from kbassist.store import new_query_id
from kbassist.views import SearchView

router = APIRouter(prefix="/v1", tags=["search"])
log = logging.getLogger("kbassist.api")


@router.post("/search", response_model=SearchResponse, responses=ERROR_RESPONSES, summary="检索答案与话术")
def search(
    body: SearchRequest, searcher: SearcherDep, store: StoreDep, metrics: MetricsDep, role: AgentRole
) -> Response:
    """Plain ``def``: the search is CPU work and runs in the thread pool, never on the event loop."""
    wanted = body.filters.model_dump(exclude_none=True) if body.filters else {}
    result = searcher.search(
        body.query,
        top_k=body.top_k,
        filters=Filters.of(**wanted),
        as_of=body.as_of,
        mode=body.mode,
        explain=body.explain,
    )
    query_id = new_query_id()
    view = SearchView.of(result, body.explain)
    response = SearchResponse(query_id=query_id, **dict(view))
    metrics.observe_search(result.timings, result.exact_match, result.no_good_answer)
    logged = {**wanted, **({"as_of": body.as_of.isoformat()} if body.as_of else {})}
    try:
        store.log_search(
            query_id=query_id,
            query=body.query,
            filters=logged,
            mode=body.mode,
            result_ids=[h.entry.id for h in result.hits],
            script_ids=[s.entry.id for s in result.scripts],
            top_score=result.hits[0].score if result.hits else None,
            exact_match=result.exact_match,
            no_good_answer=result.no_good_answer,
            index_version=result.index_version,
            took_ms=result.took_ms,
            role=role.value,
        )
    except SQLAlchemyError as exc:
        # The agent still gets the answer; only the report loses a row (counted, logged without the query).
        metrics.log_failures.inc()
        log.warning("query log write failed: %s", type(exc).__name__)
    return Response(response.model_dump_json(), media_type="application/json")
