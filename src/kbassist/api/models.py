"""Request and response models of the HTTP API. Requests are strict and bounded; responses reuse views.py."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from kbassist.schema import Kind
from kbassist.store import FeedbackAction
from kbassist.views import SearchView

MAX_QUERY_CHARS = 512
MAX_TOP_K = 20
MAX_FILTER_VALUES = 20
MAX_FILTER_CHARS = 100
MAX_COMMENT_CHARS = 1000
MAX_ENTRY_ID_CHARS = 128
MAX_LINT_CHARS = 2000

SearchMode = Literal["hybrid", "bm25", "dense"]


def _has_surrogate(text: str) -> bool:
    # JSON "\ud800" decodes to a lone surrogate, which no database or tokenizer accepts.
    return any("\ud800" <= char <= "\udfff" for char in text)


def clean_text(text: str) -> str:
    """Control characters (pasted from other tools) become spaces; they never mean anything in a question."""
    if text.isprintable():
        return text
    return "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)


def _string_list(value: Any) -> Any:
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    raise ValueError("应为字符串或字符串列表")


class SearchFilters(BaseModel):
    """Each filter is one value or a list of values (any of them); empty means no restriction."""

    model_config = ConfigDict(extra="forbid")

    kind: list[str] | None = Field(None, description="faq / policy / product / script，可为字符串或列表")
    category: list[str] | None = None
    product_line: list[str] | None = None
    channel: list[str] | None = Field(None, description="电话 / 在线 / 邮件")

    _lists = field_validator("kind", "category", "product_line", "channel", mode="before")(_string_list)

    @field_validator("kind", "category", "product_line", "channel")
    @classmethod
    def _bounded(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        if len(values) > MAX_FILTER_VALUES:
            raise ValueError(f"最多 {MAX_FILTER_VALUES} 个值")
        for value in values:
            if len(value) > MAX_FILTER_CHARS or _has_surrogate(value):
                raise ValueError(f"每个值最多 {MAX_FILTER_CHARS} 个字符，且须为有效文本")
        return [v.strip() for v in values if v.strip()] or None

    @field_validator("kind")
    @classmethod
    def _known_kinds(cls, values: list[str] | None) -> list[str] | None:
        return [Kind.parse(v).value for v in values] if values else None


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"query": "退款多久到账", "top_k": 5, "filters": {"kind": ["faq", "policy"]}}]},
    )

    query: str = Field(description=f"客户的问题，原话即可（最多 {MAX_QUERY_CHARS} 个字符）")
    top_k: StrictInt = Field(5, description=f"返回条数，1–{MAX_TOP_K}")
    filters: SearchFilters | None = None
    as_of: date | None = Field(None, description="按此日期判断有效期（YYYY-MM-DD，默认今天）")
    mode: SearchMode = "hybrid"
    explain: StrictBool = Field(False, description="附上各检索器的排名与得分、各阶段耗时")

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        if len(value) > MAX_QUERY_CHARS:
            raise ValueError(f"问题不能超过 {MAX_QUERY_CHARS} 个字符（当前 {len(value)} 个）")
        if _has_surrogate(value):
            raise ValueError("问题包含无效字符")
        value = clean_text(value).strip()
        if not value:
            raise ValueError("问题不能为空")
        return value

    @field_validator("top_k")
    @classmethod
    def _top_k(cls, value: int) -> int:
        if not 1 <= value <= MAX_TOP_K:
            raise ValueError(f"top_k 应在 1 到 {MAX_TOP_K} 之间")
        return value

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of_is_text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("日期应写成字符串 YYYY-MM-DD")
        return value or None


class SearchResponse(SearchView):
    """SearchView (the CLI's --json shape) plus the id that feedback refers to."""

    query_id: uuid.UUID = Field(description="本次检索的编号；提交反馈时带上")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_id: uuid.UUID = Field(description="检索结果中的 query_id")
    entry_id: str = Field(description="结果或话术的 id")
    action: FeedbackAction
    comment: str | None = Field(None, description=f"补充说明（最多 {MAX_COMMENT_CHARS} 个字符）")

    @field_validator("entry_id")
    @classmethod
    def _entry_id(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("条目 id 不能为空")
        if len(value) > MAX_ENTRY_ID_CHARS or _has_surrogate(value):
            raise ValueError(f"条目 id 无效（最多 {MAX_ENTRY_ID_CHARS} 个字符）")
        return value

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_COMMENT_CHARS:
            raise ValueError(f"说明不能超过 {MAX_COMMENT_CHARS} 个字符")
        if _has_surrogate(value):
            raise ValueError("说明包含无效字符")
        return clean_text(value).strip() or None


class UnhelpfulEntry(BaseModel):
    entry_id: str
    count: int


class GapItemView(BaseModel):
    question: str = Field(description="最近一次的问法（已脱敏）")
    key: str = Field(description="归一化后的问题，用于分组")
    total: int
    no_good_answer: int = Field(description="未找到可靠答案的次数")
    not_helpful: int = Field(description="被坐席标记为无帮助的次数")
    last_seen: datetime
    unhelpful_entries: list[UnhelpfulEntry]


class GapsReport(BaseModel):
    since: datetime | None
    generated_at: datetime
    items: list[GapItemView]


class TopQuestionView(BaseModel):
    question: str
    key: str
    count: int
    exact_match: int
    no_good_answer: int
    last_seen: datetime


class TopQuestionsReport(BaseModel):
    since: datetime | None
    generated_at: datetime
    items: list[TopQuestionView]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    index_version: str
    entries: int
    counts: dict[str, int]
    built_at: str | None = None
    model: str


class LintRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "这个不能退，我们是全网最低价"}]}
    )

    text: str = Field(
        description=f"坐席准备发出的回复草稿（最多 {MAX_LINT_CHARS} 个字符）；命中位置是这段文字的字符下标"
    )

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        # Checked as sent, not cleaned or trimmed: the hits' offsets must point into the agent's own draft.
        if len(value) > MAX_LINT_CHARS:
            raise ValueError(f"草稿不能超过 {MAX_LINT_CHARS} 个字符（当前 {len(value)} 个）")
        if _has_surrogate(value):
            raise ValueError("草稿包含无效字符")
        if not value.strip():
            raise ValueError("草稿不能为空")
        return value


class ReloadResponse(BaseModel):
    previous_version: str | None = Field(description="调用前在用的索引版本")
    version: str = Field(description="现在在用的索引版本")
    changed: bool = Field(description="是否换了版本（current 未变时为 false）")
    took_ms: float
