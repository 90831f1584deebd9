"""Policy loader: Markdown with YAML front matter, one clause per ``第N条`` heading."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from kbassist.schema import Entry, Kind, Source
from kbassist.sources.common import (
    LineDict,
    Problem,
    SourceRecord,
    load_yaml,
    problems_from,
    shift_lines,
    yaml_line_of,
)

HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*#*\s*$")
CLAUSE = re.compile(r"^第\s*([0-9]+|[零〇一二两三四五六七八九十百]+)\s*条\s*(.*)$")

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def chinese_number(text: str) -> int:
    """十二 → 12, 一百零五 → 105, 二十 → 20; Arabic digits pass through."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for char in text:
        if char in _DIGITS:
            current = _DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
    return total + current


class PolicyHeader(SourceRecord):
    title: str = Field(min_length=1)
    version: str = Field(min_length=1)

    @field_validator("title", "version", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            return str(value)
        return value.strip() if isinstance(value, str) else value


def _split_front_matter(text: str) -> tuple[str, list[str], int] | None:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "\n".join(lines[1:index]), lines[index + 1 :], index + 2
    return None


def load_policy(path: Path, file: str) -> tuple[list[Entry], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(file, 1, "encoding", "文件不是 UTF-8 编码")]
    split = _split_front_matter(text)
    if split is None:
        return [], [Problem(file, 1, "front_matter", "缺少 YAML 头：文件应以 --- 开始，并以 --- 结束头部")]
    header_text, body_lines, body_start = split
    header, problems = load_yaml(header_text, file, line_offset=1)
    if problems:
        return [], problems
    if not isinstance(header, LineDict):
        return [], [Problem(file, 1, "front_matter", "YAML 头应为键值对（id、title、version、effective_from…）")]
    shift_lines(header, 1)
    try:
        policy = PolicyHeader.model_validate(header)
    except ValidationError as exc:
        return [], problems_from(exc, file, yaml_line_of(header, 1))

    entries: list[Entry] = []
    seen_numbers: dict[int, int] = {}
    chapter: str | None = None
    clause: dict[str, Any] | None = None

    def close() -> None:
        nonlocal clause
        if clause is None:
            return
        body = "\n".join(clause["body"]).strip()
        if not body:
            problems.append(Problem(file, clause["line"], f"第{clause['number']}条", "条款正文为空"))
        else:
            entries.append(_clause_entry(policy, file, clause, body))
        clause = None

    for offset, raw in enumerate(body_lines):
        line = body_start + offset
        heading = HEADING.match(raw)
        if heading is None:
            if clause is not None:
                clause["body"].append(raw.rstrip())
            continue
        level, title = len(heading.group(1)), heading.group(2)
        if clause is not None and level > clause["level"]:
            clause["body"].append(raw.rstrip())
            continue
        close()
        numbered = CLAUSE.match(title)
        if numbered is None:
            chapter = title or chapter
            continue
        number = chinese_number(numbered.group(1))
        if number in seen_numbers:
            problems.append(
                Problem(file, line, f"第{number}条", f"条款编号重复（第 {seen_numbers[number]} 行已有第{number}条）")
            )
            continue
        seen_numbers[number] = line
        clause = {
            "number": number,
            "heading": numbered.group(2),
            "level": level,
            "line": line,
            "chapter": chapter,
            "body": [],
        }
    close()
    if not seen_numbers and not problems:
        problems.append(Problem(file, body_start, "clauses", "没有找到任何“第N条”标题（如 “## 第1条 适用范围”）"))
    return entries, problems


def _clause_entry(policy: PolicyHeader, file: str, clause: dict[str, Any], body: str) -> Entry:
    number = clause["number"]
    heading = clause["heading"]
    title = f"{policy.title} 第{number}条" + (f" {heading}" if heading else "")
    return Entry(
        id=f"{policy.id}-c{number}",
        kind=Kind.POLICY,
        title=title,
        text=body,
        category=policy.category,
        product_line=policy.product_line,
        tags=tuple(policy.tags),
        channel=tuple(policy.channel),
        effective_from=policy.effective_from,
        effective_to=policy.effective_to,
        source=Source(
            file=file,
            line=clause["line"],
            policy_id=policy.id,
            policy_title=policy.title,
            clause=number,
            chapter=clause["chapter"],
            version=policy.version,
        ),
    )
