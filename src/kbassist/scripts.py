"""Stage 5: pick the 话术 (reply scripts) to offer beside the answers, ordered by conversation stage."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kbassist.schema import Entry, Stage

PLACEHOLDER = re.compile(r"\{([^{}\s]{1,20})\}")


@dataclass(frozen=True)
class ScriptSuggestion:
    entry: Entry
    text: str  # placeholders filled where known, left visible where not
    reason: str  # why it was picked: "linked:<entry id>" or "scenario:<scenario>"

    @property
    def stage(self) -> Stage:
        assert self.entry.stage is not None
        return self.entry.stage


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """``{客户称呼}`` becomes the known value; unknown placeholders stay for the agent to fill."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def order_by_stage(
    candidates: Iterable[tuple[Entry, str]],
    per_stage: int,
    values: Mapping[str, str] | None = None,
    limit: int | None = None,
) -> tuple[ScriptSuggestion, ...]:
    """Keep candidates in priority order within a stage, at most ``per_stage`` each, stages in order."""
    by_stage: dict[Stage, list[ScriptSuggestion]] = {}
    seen: set[str] = set()
    for entry, reason in candidates:
        if entry.stage is None or entry.id in seen:
            continue
        bucket = by_stage.setdefault(entry.stage, [])
        if len(bucket) >= per_stage:
            continue
        seen.add(entry.id)
        bucket.append(ScriptSuggestion(entry, fill_placeholders(entry.text, values or {}), reason))
    ordered = [s for stage in Stage for s in by_stage.get(stage, [])]
    return tuple(ordered[:limit] if limit else ordered)


def linked_scripts(hits: Sequence[Entry], scripts_by_link: Mapping[str, Sequence[Entry]]) -> list[tuple[Entry, str]]:
    """Scripts linked to the results, the best result's scripts first."""
    return [(script, f"linked:{hit.id}") for hit in hits for script in scripts_by_link.get(hit.id, ())]
