"""Product loader: one YAML file per product line; every model, and the line overview, is an entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from kbassist.schema import Entry, Kind, Source
from kbassist.sources.common import (
    LineDict,
    Problem,
    SourceRecord,
    as_list,
    clean_text,
    load_yaml,
    problems_from,
    yaml_line_of,
)


def _text_list(value: Any) -> list[str]:
    return as_list(value, sep="\n")


class ProductModel(SourceRecord):
    model: str = Field(min_length=1)
    name: str = Field(min_length=1)
    specs: dict[str, str] = {}
    features: list[str] = []
    usage_notes: list[str] = []
    warranty: str | None = None

    @field_validator("model", "name", "warranty", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            value = str(value)
        return clean_text(value)

    @field_validator("specs", mode="before")
    @classmethod
    def _specs(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {str(k).strip(): str(v).strip() for k, v in value.items() if v is not None}
        return value

    @field_validator("features", "usage_notes", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> list[str]:
        return _text_list(value)


class ProductLine(SourceRecord):
    product_line: str = Field(min_length=1)
    title: str | None = None
    overview: str = ""
    usage_notes: list[str] = []
    warranty: str | None = None
    models: list[ProductModel] = Field(min_length=1)

    @field_validator("usage_notes", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> list[str]:
        return _text_list(value)

    @field_validator("title", "warranty", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return clean_text(value) or None

    @field_validator("overview", mode="before")
    @classmethod
    def _overview(cls, value: Any) -> Any:
        return clean_text(value) or ""


def _bullets(label: str, items: list[str]) -> list[str]:
    return [f"{label}：{item}" for item in items]


def model_text(line: ProductLine, model: ProductModel) -> str:
    rows = [f"型号：{model.model}", f"产品线：{line.product_line}"]
    rows += [f"{key}：{value}" for key, value in model.specs.items()]
    rows += _bullets("特点", model.features)
    rows += _bullets("使用须知", model.usage_notes)
    warranty = model.warranty or line.warranty
    if warranty:
        rows.append(f"保修：{warranty}")
    return "\n".join(rows)


def overview_text(line: ProductLine) -> str:
    rows = [line.overview.strip()] if line.overview.strip() else []
    rows += _bullets("使用须知", line.usage_notes)
    if line.warranty:
        rows.append(f"保修：{line.warranty}")
    rows.append("本系列型号：" + "；".join(f"{m.model}（{m.name}）" for m in line.models))
    return "\n".join(rows)


def load_product_line(path: Path, file: str) -> tuple[list[Entry], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(file, 1, "encoding", "文件不是 UTF-8 编码")]
    tree, problems = load_yaml(text, file)
    if problems:
        return [], problems
    if not isinstance(tree, LineDict):
        return [], [Problem(file, 1, "product_line", "文件应为一个产品线（id、product_line、models…）")]
    try:
        line = ProductLine.model_validate(tree)
    except ValidationError as exc:
        return [], problems_from(exc, file, yaml_line_of(tree, tree.line))

    common = {"category": line.category, "product_line": line.product_line}
    entries = [
        Entry(
            id=line.id,
            kind=Kind.PRODUCT,
            title=line.title or f"{line.product_line}系列说明",
            text=overview_text(line),
            tags=tuple(line.tags),
            channel=tuple(line.channel),
            effective_from=line.effective_from,
            effective_to=line.effective_to,
            source=Source(file=file, line=tree.line),
            **common,
        )
    ]
    model_nodes = tree.get("models") or []
    for index, model in enumerate(line.models):
        node = model_nodes[index] if index < len(model_nodes) else None
        entries.append(
            Entry(
                id=model.id,
                kind=Kind.PRODUCT,
                title=f"{model.name} {model.model}",
                text=model_text(line, model),
                category=model.category or line.category,
                product_line=line.product_line,
                tags=tuple(dict.fromkeys([*line.tags, *model.tags])),
                channel=tuple(model.channel or line.channel),
                effective_from=model.effective_from or line.effective_from,
                effective_to=model.effective_to or line.effective_to,
                source=Source(file=file, line=node.line if isinstance(node, LineDict) else tree.line),
                model=model.model,
                specs=model.specs,
            )
        )
    return entries, problems
