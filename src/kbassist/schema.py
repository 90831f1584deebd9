"""The knowledge-base schema: one ``Entry`` type for every searchable unit, plus enums and dates."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class Kind(StrEnum):
    FAQ = "faq"
    POLICY = "policy"
    PRODUCT = "product"
    SCRIPT = "script"

    @classmethod
    def parse(cls, value: str) -> Kind:
        try:
            return cls(value.strip().lower())
        except ValueError:
            valid = " / ".join(k.value for k in cls)
            raise ValueError(f"未知类型 {value!r}，可选：{valid}") from None


ANSWER_KINDS: tuple[Kind, ...] = (Kind.FAQ, Kind.POLICY, Kind.PRODUCT)


class Stage(StrEnum):
    """Stages of a conversation, in the order a reply goes through them."""

    OPENING = "开场"
    EMPATHY = "安抚"
    EXPLAIN = "说明"
    SOLUTION = "方案"
    FOLLOW_UP = "跟进"
    CLOSING = "结束"
    TRANSFER = "转接"

    @classmethod
    def parse(cls, value: str) -> Stage:
        text = value.strip()
        text = _STAGE_ALIASES.get(text, text)
        try:
            return cls(text)
        except ValueError:
            valid = " / ".join(s.value for s in cls)
            raise ValueError(f"未知话术阶段 {value!r}，可选：{valid}") from None

    @property
    def order(self) -> int:
        return list(Stage).index(self)


_STAGE_ALIASES = {"共情": "安抚", "安抚/共情": "安抚", "安抚共情": "安抚", "解释": "说明", "结束语": "结束"}

CHANNELS = ("电话", "在线", "邮件")
# The labels the intent/emotion classifier assigns; a script's intents/emotions must use them.
INTENTS: tuple[str, ...] = ("咨询", "投诉", "建议", "催办", "退换货", "维修")
EMOTIONS: tuple[str, ...] = ("平静", "焦急", "愤怒")

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")


def parse_date(value: object) -> date | None:
    """Accept ISO dates and the forms Excel exports (2025/3/1, 2025年3月1日); blank means open-ended."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"日期 {text!r} 无法识别，请写成 YYYY-MM-DD，例如 2025-03-01")


class Source(BaseModel):
    """Where an entry came from, precise enough for an agent to cite it."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    policy_id: str | None = None
    policy_title: str | None = None
    clause: int | None = None
    chapter: str | None = None
    version: str | None = None

    @property
    def citation(self) -> str:
        if self.clause is not None and self.policy_title:
            version = f"（{self.version}版）" if self.version else ""
            return f"《{self.policy_title}》第{self.clause}条{version}"
        return f"{self.file}:{self.line}"


class Entry(BaseModel):
    """One searchable unit: an FAQ, a policy clause, a product (model or line overview) or a script."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Kind
    title: str
    text: str
    keys: tuple[str, ...] = ()
    category: str | None = None
    product_line: str | None = None
    tags: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    effective_from: date | None = None
    effective_to: date | None = None
    source: Source
    links: tuple[str, ...] = ()
    # product
    model: str | None = None
    specs: dict[str, str] | None = None
    # script
    scenario: str | None = None
    stage: Stage | None = None
    intents: tuple[str, ...] = ()
    emotions: tuple[str, ...] = ()

    @field_validator("effective_from", "effective_to", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> date | None:
        return parse_date(value)

    @property
    def similar_questions(self) -> tuple[str, ...]:
        return self.keys[1:] if self.kind is Kind.FAQ else ()

    def is_valid_on(self, day: date) -> bool:
        if self.effective_from is not None and day < self.effective_from:
            return False
        return not (self.effective_to is not None and day > self.effective_to)

    def match_keys(self) -> tuple[str, ...]:
        """The texts matched question-to-question: an FAQ's questions, otherwise the title."""
        return self.keys or (self.title,)
