"""Stage 5: pick the 话术 (reply scripts) to offer beside the answers, ordered by conversation stage.

Candidates, in priority order: scripts linked to the top results, then scenario scripts chosen by the
customer's intent and emotion (a script's ``intents`` / ``emotions``; empty means any). The situation
picks a stage plan from ``data/assist/stage_plans.yaml`` — which stages, in which order (an angry
customer: 安抚 before 方案, ending with 跟进). At most ``per_stage`` scripts per stage. When there is no
good answer, the verify-and-call-back / transfer scripts (tag ``无答案``) replace the linked ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kbassist.assistdata import EMOTIONS, INTENTS, AssistDataError, Node, read_tree
from kbassist.schema import Entry, Stage
from kbassist.sources.common import Problem

PLACEHOLDER = re.compile(r"\{([^{}\s]{1,20})\}")
NO_ANSWER_TAG = "无答案"


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
    stages: Sequence[Stage] | None = None,
) -> tuple[ScriptSuggestion, ...]:
    """Keep candidates in priority order within a stage, at most ``per_stage`` each, stages in order.

    ``stages``: which stages, in which order (a stage plan); default every stage in the usual order.
    """
    plan = tuple(stages) if stages is not None else tuple(Stage)
    by_stage: dict[Stage, list[ScriptSuggestion]] = {}
    seen: set[str] = set()
    for entry, reason in candidates:
        if entry.stage is None or entry.id in seen or entry.stage not in plan:
            continue
        bucket = by_stage.setdefault(entry.stage, [])
        if len(bucket) >= per_stage:
            continue
        seen.add(entry.id)
        bucket.append(ScriptSuggestion(entry, fill_placeholders(entry.text, values or {}), reason))
    ordered = [s for stage in plan for s in by_stage.get(stage, [])]
    return tuple(ordered[:limit] if limit else ordered)


def linked_scripts(hits: Sequence[Entry], scripts_by_link: Mapping[str, Sequence[Entry]]) -> list[tuple[Entry, str]]:
    """Scripts linked to the results, the best result's scripts first."""
    return [(script, f"linked:{hit.id}") for hit in hits for script in scripts_by_link.get(hit.id, ())]


def is_no_answer_script(script: Entry) -> bool:
    return NO_ANSWER_TAG in script.tags


def scenario_scripts(
    scripts: Iterable[Entry], intent: str | None, emotion: str | None, no_good_answer: bool = False
) -> list[tuple[Entry, str]]:
    """Scripts that fit the situation, the most specific first.

    A script fits when each of its non-empty ``intents`` / ``emotions`` lists contains the detected one
    and at least one of them is set (a script with neither is only offered through its links). A script
    naming the intent and the emotion comes before one naming only the intent, before one naming only
    the emotion. ``无答案`` scripts are offered only when there is no good answer, and then first.
    """
    ranked: list[tuple[int, int, Entry]] = []
    for order, script in enumerate(scripts):
        if script.stage is None:
            continue
        fallback = is_no_answer_script(script)
        if fallback and not no_good_answer:
            continue
        intent_named = intent is not None and intent in script.intents
        emotion_named = emotion is not None and emotion in script.emotions
        intent_ok = not script.intents or intent_named
        emotion_ok = not script.emotions or emotion_named
        if fallback:
            # The call-back scripts fit any question; their emotion still decides the tone.
            if emotion_ok:
                ranked.append((-8 - 2 * intent_named - emotion_named, order, script))
            continue
        if (script.intents or script.emotions) and intent_ok and emotion_ok:
            ranked.append((-(2 * intent_named + emotion_named), order, script))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [(script, f"scenario:{script.scenario}") for _, _, script in ranked]


# --- stage plans --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagePlan:
    """Which stages a reply goes through in a situation, in order."""

    name: str
    stages: tuple[Stage, ...]
    intents: tuple[str, ...] = ()
    emotions: tuple[str, ...] = ()
    no_good_answer: bool | None = None
    # Scenarios whose scripts fit this situation whatever the question is about (the complaint
    # procedure for a complaint); other scenarios are offered only when the answers link to them.
    scenarios: tuple[str, ...] = ()

    def applies(self, intent: str | None, emotion: str | None, no_good_answer: bool) -> bool:
        if self.no_good_answer is not None and self.no_good_answer != no_good_answer:
            return False
        if self.intents and intent not in self.intents:
            return False
        return not (self.emotions and emotion not in self.emotions)


DEFAULT_PLAN = StagePlan("默认", tuple(Stage))


def choose_plan(plans: Sequence[StagePlan], intent: str | None, emotion: str | None, no_good_answer: bool) -> StagePlan:
    """The first plan whose conditions all hold; the default order otherwise."""
    return next((p for p in plans if p.applies(intent, emotion, no_good_answer)), DEFAULT_PLAN)


def load_stage_plans(path: Path) -> tuple[StagePlan, ...]:
    """Read and check ``stage_plans.yaml``; every problem at once as ``file:line: field: message``."""
    tree, file = read_tree(path)
    plans_node = tree.get("plans") if tree is not None else None
    if plans_node is None or not isinstance(plans_node.value, list):
        raise AssistDataError(
            [Problem(file, tree.line if tree else 1, "plans", "缺少情境列表（plans: 下每项含 name、when、stages）")]
        )
    problems: list[Problem] = []
    plans = []
    for number, node in enumerate(plans_node.value):
        plan = _plan(node, f"plans[{number}]", file, problems)
        if plan is not None:
            plans.append(plan)
    if problems:
        raise AssistDataError(problems)
    return tuple(plans)


def _labels(
    node: Node | None, allowed: tuple[str, ...], where: str, file: str, problems: list[Problem]
) -> tuple[str, ...]:
    if node is None or node.value is None:
        return ()
    items = node.value if isinstance(node.value, list) else [node]
    out = []
    for item in items:
        value = str(item.value).strip() if not isinstance(item.value, dict | list) else ""
        if value not in allowed:
            problems.append(Problem(file, item.line, where, f"{value!r} 无效，可选：{' / '.join(allowed)}"))
        else:
            out.append(value)
    return tuple(out)


def _plan(node: Node, where: str, file: str, problems: list[Problem]) -> StagePlan | None:
    if not isinstance(node.value, dict):
        problems.append(Problem(file, node.line, where, "每个情境应为键值对：name、when、stages"))
        return None
    before = len(problems)
    for key in sorted(set(node.value) - {"name", "when", "stages", "scenarios"}):
        problems.append(
            Problem(file, node.line_of(key), f"{where}.{key}", "未知字段，可用：name、when、stages、scenarios")
        )
    name_node = node.get("name")
    name = str(name_node.value).strip() if name_node is not None and name_node.value is not None else ""
    if not name:
        problems.append(Problem(file, node.line, f"{where}.name", "缺少情境名称"))
    when = node.get("when")
    intents: tuple[str, ...] = ()
    emotions: tuple[str, ...] = ()
    no_good_answer: bool | None = None
    if when is None or not isinstance(when.value, dict) or not when.value:
        problems.append(
            Problem(
                file, when.line if when else node.line, f"{where}.when", "缺少条件：intents、emotions、no_good_answer"
            )
        )
    else:
        for key in sorted(set(when.value) - {"intents", "emotions", "no_good_answer"}):
            problems.append(
                Problem(
                    file,
                    when.line_of(key),
                    f"{where}.when.{key}",
                    "未知条件，可用：intents、emotions、no_good_answer",
                )
            )
        intents = _labels(when.get("intents"), INTENTS, f"{where}.when.intents", file, problems)
        emotions = _labels(when.get("emotions"), EMOTIONS, f"{where}.when.emotions", file, problems)
        flag = when.get("no_good_answer")
        if flag is not None:
            if not isinstance(flag.value, bool):
                problems.append(Problem(file, flag.line, f"{where}.when.no_good_answer", "应为 true 或 false"))
            else:
                no_good_answer = flag.value
    stages_node = node.get("stages")
    stages: list[Stage] = []
    if stages_node is None or not isinstance(stages_node.value, list) or not stages_node.value:
        problems.append(
            Problem(file, stages_node.line if stages_node else node.line, f"{where}.stages", "缺少阶段列表")
        )
    else:
        for item in stages_node.value:
            try:
                stage = Stage.parse(str(item.value))
            except ValueError as exc:
                problems.append(Problem(file, item.line, f"{where}.stages", str(exc)))
                continue
            if stage in stages:
                problems.append(Problem(file, item.line, f"{where}.stages", f"阶段 {stage.value} 重复"))
                continue
            stages.append(stage)
    scenarios: list[str] = []
    scenarios_node = node.get("scenarios")
    if scenarios_node is not None and scenarios_node.value is not None:
        if not isinstance(scenarios_node.value, list):
            problems.append(Problem(file, scenarios_node.line, f"{where}.scenarios", "应为场景名称列表，如 [投诉处理]"))
        else:
            for item in scenarios_node.value:
                value = str(item.value).strip() if not isinstance(item.value, dict | list) else ""
                if not value:
                    problems.append(Problem(file, item.line, f"{where}.scenarios", "场景名称不能为空"))
                elif value not in scenarios:
                    scenarios.append(value)
    if len(problems) > before:
        return None
    return StagePlan(name, tuple(stages), intents, emotions, no_good_answer, tuple(scenarios))
