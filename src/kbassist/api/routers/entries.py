"""GET /v1/entries/{entry_id}: the whole entry, when the agent opens a result or a link."""

from __future__ import annotations

from fastapi import APIRouter

from kbassist.api.deps import AgentRole, SearcherDep
from kbassist.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from kbassist.views import EntryView

router = APIRouter(prefix="/v1", tags=["entries"])


@router.get(
    "/entries/{entry_id}",
    response_model=EntryView,
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "条目不存在"}},
    summary="查看完整条目",
)
async def get_entry(entry_id: str, searcher: SearcherDep, role: AgentRole) -> EntryView:
    entry = searcher.get(entry_id)
    if entry is None:
        shown = entry_id if len(entry_id) <= 64 else entry_id[:64] + "…"
        raise ApiError(
            404, f"条目 {shown} 不存在（编号有误，或已在当前索引版本 {searcher.version} 中下线）", "entry_id"
        )
    return EntryView.of(entry)
