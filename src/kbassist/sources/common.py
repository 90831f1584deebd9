"""What every loader shares: problems with file:line, line-aware YAML, and pydantic field checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from kbassist.schema import CHANNELS, ID_PATTERN, parse_date


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in the knowledge base, located as precisely as the format allows."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class LoadError(Exception):
    """Raised when the knowledge base has problems and the caller asked for a clean one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        head = "\n".join(str(p) for p in problems[:20])
        more = f"\n……另有 {len(problems) - 20} 个问题" if len(problems) > 20 else ""
        super().__init__(f"知识库有 {len(problems)} 个问题：\n{head}{more}")


# --- JSON lines ---------------------------------------------------------------------------------


def read_json_lines(path: Path, file: str, problems: list[Problem]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; bad encoding, bad JSON and non-objects become
    problems at their line and are skipped."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        problems.append(Problem(file, 1, "encoding", "文件不是 UTF-8 编码"))
        return
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(Problem(file, number, "json", f"JSON 格式错误（第 {exc.colno} 列）：{exc.msg}"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(file, number, "json", "每行应是一个 JSON 对象"))
            continue
        yield number, data


# --- YAML that remembers where every mapping and key was -------------------------------------


class LineDict(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _LineLoader(yaml.SafeLoader):
    pass


# Dates stay strings so that a bad date is reported by field instead of aborting the whole file.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[str(key)] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, file: str, line_offset: int = 0) -> tuple[Any, list[Problem]]:
    """Parse YAML; a syntax error becomes a Problem at its line instead of an exception."""
    try:
        return yaml.load(text, Loader=_LineLoader), []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1 if mark else 1) + line_offset
        return None, [Problem(file, line, "yaml", f"YAML 语法错误：{exc.problem or exc}")]


def shift_lines(value: Any, offset: int) -> None:
    """Move every recorded line of a parsed YAML tree by ``offset`` (front matter inside Markdown)."""
    if isinstance(value, LineDict):
        value.line += offset
        value.key_lines = {k: v + offset for k, v in value.key_lines.items()}
        for item in value.values():
            shift_lines(item, offset)
    elif isinstance(value, list):
        for item in value:
            shift_lines(item, offset)


# --- pydantic field checks shared by the source records --------------------------------------


def as_list(value: Any, sep: str = "|") -> list[str]:
    """A list field may be written as a list or, as spreadsheets do, as one `|`-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace("｜", "|").split(sep) if part.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [str(value).strip()]


def clean_text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class SourceRecord(BaseModel):
    """Fields every entry shares, validated the same way in every format."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str
    category: str | None = None
    product_line: str | None = None
    tags: list[str] = []
    channel: list[str] = []
    effective_from: date | None = None
    effective_to: date | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            value = str(value)
        if isinstance(value, str):
            value = value.strip()
            if not ID_PATTERN.match(value):
                raise ValueError(f"编号 {value!r} 只能用小写字母、数字和 - _ . ，且以字母或数字开头")
        return value

    @field_validator("category", "product_line", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> Any:
        value = clean_text(value)
        return value or None

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> list[str]:
        return as_list(value)

    @field_validator("channel", mode="before")
    @classmethod
    def _channel(cls, value: Any) -> list[str]:
        channels = as_list(value)
        for channel in channels:
            if channel not in CHANNELS:
                raise ValueError(f"渠道 {channel!r} 无效，可选：{' / '.join(CHANNELS)}")
        return channels

    @field_validator("effective_from", "effective_to", mode="before")
    @classmethod
    def _date(cls, value: Any) -> date | None:
        return parse_date(value)

    @model_validator(mode="after")
    def _window(self) -> SourceRecord:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError(f"失效日期 {self.effective_to} 早于生效日期 {self.effective_from}")
        return self


_MESSAGES = {
    "missing": "缺少必填字段",
    "string_too_short": "内容为空",
    "string_type": "应为文本",
    "list_type": "应为列表",
    "dict_type": "应为键值对（映射）",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "model_type": "应为键值对（映射）",
}


def problems_from(
    exc: ValidationError,
    file: str,
    line_of: Callable[[tuple[Any, ...]], int],
    field_label: Callable[[tuple[Any, ...]], str] | None = None,
) -> list[Problem]:
    """Turn pydantic's errors into file:line problems with Chinese messages."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = _MESSAGES.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
        label = (field_label(loc) if field_label else ".".join(str(part) for part in loc)) if loc else "record"
        problems.append(Problem(file, line_of(loc), label, message))
    return problems


def yaml_line_of(tree: Any, default: int) -> Callable[[tuple[Any, ...]], int]:
    """Find the line of a pydantic error location inside a LineDict tree."""

    def line_of(loc: tuple[Any, ...]) -> int:
        node, line = tree, default
        for part in loc:
            if isinstance(node, LineDict):
                line = node.line_of(str(part)) if str(part) in node else node.line
                node = node.get(str(part))
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
                if isinstance(node, LineDict):
                    line = node.line
            else:
                break
        return line

    return line_of


def first_non_empty(mapping: Mapping[str, Any], names: Iterable[str]) -> Any:
    for name in names:
        if name in mapping and mapping[name] not in (None, ""):
            return mapping[name]
    return None
