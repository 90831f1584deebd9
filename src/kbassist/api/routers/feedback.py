"""POST /v1/feedback: shown / clicked / copied / helpful / not_helpful, for the supervisors' reports."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from sqlalchemy.exc import SQLAlchemyError

from kbassist.api.deps import AgentRole, MetricsDep, SearcherDep, StoreDep
from kbassist.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from kbassist.api.models import FeedbackRequest

router = APIRouter(prefix="/v1", tags=["feedback"])
log = logging.getLogger("kbassist.api")


@router.post(
    "/feedback",
    status_code=204,
    response_class=Response,
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "query_id 或条目不存在"}},
    summary="提交坐席反馈",
)
def feedback(
    body: FeedbackRequest, searcher: SearcherDep, store: StoreDep, metrics: MetricsDep, role: AgentRole
) -> Response:
    query_id = str(body.query_id)
    try:
        logged = store.find_query(query_id)
        if logged is None:
            raise ApiError(404, "检索记录不存在：query_id 未知，请使用检索结果返回的 query_id", "query_id")
        shown = body.entry_id in logged.result_ids or body.entry_id in logged.script_ids
        if not shown and searcher.get(body.entry_id) is None:
            raise ApiError(404, "条目不存在：entry_id 既不在该次检索结果中，也不在当前索引中", "entry_id")
        store.log_feedback(
            query_id=query_id, entry_id=body.entry_id, action=body.action, comment=body.comment, role=role.value
        )
    except SQLAlchemyError as exc:
        metrics.log_failures.inc()
        log.warning("feedback write failed: %s", type(exc).__name__)
        raise ApiError(503, "反馈暂时无法保存，请稍后重试", headers={"Retry-After": "1"}) from None
    return Response(status_code=204)
