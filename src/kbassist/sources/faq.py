"""FAQ loaders: CSV as exported from Excel (Chinese or English headers) and JSONL."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from kbassist.normalize import exact_key
from kbassist.schema import Entry, Kind, Source
from kbassist.sources.common import Problem, SourceRecord, as_list, clean_text, problems_from, read_json_lines

COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("编号", "ID", "id", "Id"),
    "question": ("标准问", "标准问题", "问题", "question"),
    "similar_questions": ("相似问", "相似问法", "相似问题", "similar_questions"),
    "answer": ("答案", "回答", "标准答案", "answer"),
    "category": ("分类", "类别", "category"),
    "product_line": ("产品线", "product_line"),
    "tags": ("标签", "tags"),
    "channel": ("渠道", "channel"),
    "effective_from": ("生效日期", "生效时间", "effective_from"),
    "effective_to": ("失效日期", "失效时间", "effective_to"),
}
REQUIRED_COLUMNS = ("question", "answer")


class FaqRecord(SourceRecord):
    question: str = Field(min_length=1)
    similar_questions: list[str] = []
    answer: str = Field(min_length=1)

    @field_validator("question", "answer", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return clean_text(value)

    @field_validator("similar_questions", mode="before")
    @classmethod
    def _similar(cls, value: Any) -> list[str]:
        return as_list(value)


def _at_line(line: int) -> Callable[[tuple[Any, ...]], int]:
    """A CSV row or JSONL line: every field of the record is on the record's line."""
    return lambda loc: line


def derived_id(question: str) -> str:
    """Stable id for spreadsheets without an id column: the same question always gets the same id."""
    return "faq-" + hashlib.sha1(exact_key(question).encode("utf-8")).hexdigest()[:10]


def record_to_entry(record: FaqRecord, file: str, line: int) -> Entry:
    keys: list[str] = [record.question]
    seen = {exact_key(record.question)}
    for similar in record.similar_questions:
        key = exact_key(similar)
        if key and key not in seen:
            seen.add(key)
            keys.append(similar)
    return Entry(
        id=record.id,
        kind=Kind.FAQ,
        title=record.question,
        text=record.answer,
        keys=tuple(keys),
        category=record.category,
        product_line=record.product_line,
        tags=tuple(record.tags),
        channel=tuple(record.channel),
        effective_from=record.effective_from,
        effective_to=record.effective_to,
        source=Source(file=file, line=line),
    )


def load_faq_csv(path: Path, file: str) -> tuple[list[Entry], list[Problem]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [Problem(file, line, "encoding", "文件不是 UTF-8 编码；请在 Excel 中另存为“CSV UTF-8”")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], [Problem(file, 1, "header", "文件为空，缺少表头")]
    column_of: dict[str, int] = {}
    label_of: dict[str, str] = {}
    for index, name in enumerate(header):
        for field, aliases in COLUMNS.items():
            if name.strip() in aliases and field not in column_of:
                column_of[field] = index
                label_of[field] = name.strip()
    missing = [f for f in REQUIRED_COLUMNS if f not in column_of]
    if missing:
        wanted = "、".join(f"{COLUMNS[f][0]}（或 {COLUMNS[f][-1]}）" for f in missing)
        return [], [Problem(file, 1, "header", f"缺少列：{wanted}")]

    entries: list[Entry] = []
    problems: list[Problem] = []
    start_line = reader.line_num + 1
    for row in reader:
        line = start_line
        start_line = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        values = {f: row[i] if i < len(row) else "" for f, i in column_of.items()}
        if not str(values.get("id", "")).strip():
            values["id"] = derived_id(values.get("question", ""))
        try:
            record = FaqRecord.model_validate(values)
        except ValidationError as exc:
            problems += problems_from(exc, file, _at_line(line), lambda loc: label_of.get(str(loc[0]), str(loc[0])))
            continue
        entries.append(record_to_entry(record, file, line))
    return entries, problems


def load_faq_jsonl(path: Path, file: str) -> tuple[list[Entry], list[Problem]]:
    entries: list[Entry] = []
    problems: list[Problem] = []
    for number, data in read_json_lines(path, file, problems):
        try:
            record = FaqRecord.model_validate(data)
        except ValidationError as exc:
            problems += problems_from(exc, file, _at_line(number))
            continue
        entries.append(record_to_entry(record, file, number))
    return entries, problems
