"""Supervisors' reports (admin): knowledge gaps and top questions, grouped by normalised question."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from kbassist.api.deps import AdminRole, StoreDep
from kbassist.api.errors import ERROR_RESPONSES, ApiError
from kbassist.api.models import GapItemView, GapsReport, TopQuestionsReport, TopQuestionView, UnhelpfulEntry
from kbassist.store import now

router = APIRouter(prefix="/v1/reports", tags=["reports"])

Since = Annotated[
    str | None,
    Query(description="起始时间（含）：YYYY-MM-DD 或 ISO 时间（无时区按 UTC）；不填为全部", max_length=40),
]
Limit = Annotated[int, Query(ge=1, le=500, description="最多返回多少个问题")]


def parse_since(value: str | None) -> datetime | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "时间无效，应写成 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM:SS", "since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/gaps", response_model=GapsReport, responses=ERROR_RESPONSES, summary="知识缺口")
def gaps(store: StoreDep, role: AdminRole, since: Since = None, limit: Limit = 50) -> GapsReport:
    """Questions with no good answer, or whose answers agents marked not helpful; most frequent first."""
    start = parse_since(since)
    items = store.gaps(start, limit)
    return GapsReport(
        since=start,
        generated_at=now(),
        items=[
            GapItemView(
                question=i.question,
                key=i.key,
                total=i.total,
                no_good_answer=i.no_good_answer,
                not_helpful=i.not_helpful,
                last_seen=i.last_seen,
                unhelpful_entries=[UnhelpfulEntry(entry_id=e, count=n) for e, n in i.unhelpful_entries.items()],
            )
            for i in items
        ],
    )


@router.get("/top-questions", response_model=TopQuestionsReport, responses=ERROR_RESPONSES, summary="高频问题")
def top_questions(store: StoreDep, role: AdminRole, since: Since = None, limit: Limit = 50) -> TopQuestionsReport:
    start = parse_since(since)
    return TopQuestionsReport(
        since=start,
        generated_at=now(),
        items=[
            TopQuestionView(
                question=q.question,
                key=q.key,
                count=q.count,
                exact_match=q.exact_match,
                no_good_answer=q.no_good_answer,
                last_seen=q.last_seen,
            )
            for q in store.top_questions(start, limit)
        ],
    )
