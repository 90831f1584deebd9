"""Script (话术) loader: YAML files of snippets, each with a scenario, a stage and the entries it goes with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from kbassist.schema import EMOTIONS, INTENTS, Entry, Kind, Source, Stage
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


class ScriptItem(SourceRecord):
    scenario: str = Field(min_length=1)
    stage: Stage
    text: str = Field(min_length=1)
    links: list[str] = []
    intents: list[str] = []
    emotions: list[str] = []

    @field_validator("scenario", "text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return clean_text(value)

    @field_validator("stage", mode="before")
    @classmethod
    def _stage(cls, value: Any) -> Any:
        return Stage.parse(value) if isinstance(value, str) else value

    @field_validator("links", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> list[str]:
        return as_list(value)

    @field_validator("intents", mode="before")
    @classmethod
    def _intents(cls, value: Any) -> list[str]:
        return _labels(value, INTENTS, "意图")

    @field_validator("emotions", mode="before")
    @classmethod
    def _emotions(cls, value: Any) -> list[str]:
        return _labels(value, EMOTIONS, "情绪")


def _labels(value: Any, valid: tuple[str, ...], what: str) -> list[str]:
    """A label outside the classifier's set would never match a customer, so it is an error, not a no-op."""
    labels = as_list(value)
    unknown = [label for label in labels if label not in valid]
    if unknown:
        raise ValueError(f"{what} {'、'.join(unknown)} 无效，可选：{' / '.join(valid)}")
    return labels


_INHERITED = ("scenario", "tags", "channel", "category", "product_line", "intents", "emotions")


def load_scripts(path: Path, file: str) -> tuple[list[Entry], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(file, 1, "encoding", "文件不是 UTF-8 编码")]
    tree, problems = load_yaml(text, file)
    if problems:
        return [], problems
    if isinstance(tree, LineDict):
        defaults = {k: tree[k] for k in _INHERITED if k in tree}
        items = tree.get("scripts")
        items_line = tree.line_of("scripts")
    else:
        defaults, items, items_line = {}, tree, 1
    if not isinstance(items, list) or not items:
        return [], [Problem(file, items_line, "scripts", "缺少话术列表（scripts: 下每项含 id、stage、text）")]

    entries: list[Entry] = []
    for item in items:
        if not isinstance(item, LineDict):
            problems.append(Problem(file, items_line, "scripts", "每条话术应为键值对（id、stage、text…）"))
            continue
        merged = {**defaults, **item}
        try:
            script = ScriptItem.model_validate(merged)
        except ValidationError as exc:
            problems += problems_from(exc, file, yaml_line_of(item, item.line))
            continue
        entries.append(
            Entry(
                id=script.id,
                kind=Kind.SCRIPT,
                title=f"{script.scenario}·{script.stage.value}",
                text=script.text,
                keys=(script.scenario,),
                category=script.category,
                product_line=script.product_line,
                tags=tuple(script.tags),
                channel=tuple(script.channel),
                effective_from=script.effective_from,
                effective_to=script.effective_to,
                source=Source(file=file, line=item.line),
                links=tuple(script.links),
                scenario=script.scenario,
                stage=script.stage,
                intents=tuple(script.intents),
                emotions=tuple(script.emotions),
            )
        )
    return entries, problems
