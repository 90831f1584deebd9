"""GET /v1/facets: the filter values of the serving index, so the sidebar's lists match what can be found."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kbassist.api.deps import AgentRole, SearcherDep
from kbassist.api.errors import ERROR_RESPONSES
from kbassist.schema import ANSWER_KINDS
from kbassist.views import KIND_LABELS

router = APIRouter(prefix="/v1", tags=["facets"])


class KindFacet(BaseModel):
    value: str
    label: str
    count: int


class ValueFacet(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    index_version: str
    as_of: date = Field(description="有效期按此日期计算（今天）")
    kinds: list[KindFacet] = Field(description="可检索的答案类型（问答 / 政策 / 产品）及当前有效条目数")
    categories: list[ValueFacet]
    product_lines: list[ValueFacet]
    channels: list[ValueFacet]


def _ranked(values: Iterable[str | None]) -> list[ValueFacet]:
    counts = Counter(v for v in values if v)
    return [ValueFacet(value=v, count=n) for v, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


@router.get("/facets", response_model=Facets, responses=ERROR_RESPONSES, summary="筛选项（类型、分类、产品线、渠道）")
async def facets(searcher: SearcherDep, role: AgentRole) -> Facets:
    """Counted over the answer entries valid today: a value only expired entries carry would find nothing."""
    today = date.today()
    answers = [e for e in searcher.entries if e.kind in ANSWER_KINDS and e.is_valid_on(today)]
    per_kind = Counter(e.kind for e in answers)
    return Facets(
        index_version=searcher.version,
        as_of=today,
        kinds=[KindFacet(value=k.value, label=KIND_LABELS[k], count=per_kind[k]) for k in ANSWER_KINDS],
        categories=_ranked(e.category for e in answers),
        product_lines=_ranked(e.product_line for e in answers),
        channels=_ranked(c for e in answers for c in e.channel),
    )
