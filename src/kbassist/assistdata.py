"""The agent-assist data files a supervisor edits under ``data/assist/``, and their errors.

Each file is checked on load; every problem is reported as ``file:line: field: message`` like the
knowledge base's, so a supervisor can fix a cue or a lint rule without reading code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kbassist.schema import EMOTIONS, INTENTS
from kbassist.sources.common import Problem, read_json_lines

INTENT_CUES = "intent_cues.yaml"
UTTERANCES = "utterances.jsonl"
# Evaluation only: nothing that classifies (kNN examples, cue tuning) may read this file.
UTTERANCES_HOLDOUT = "utterances_holdout.jsonl"
LINT_RULES = "lint_rules.yaml"
NO_ANSWER = "no_answer.json"
STAGE_PLANS = "stage_plans.yaml"

# The fixed label sets. Scripts' `intents` / `emotions` use the same words.


_HALF_PUNCTUATION = {",": "，", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）"}


def fold(text: str) -> str:
    """One character in, one character out, so offsets into the folded text are offsets into ``text``.

    Letters and digits become half-width lower case (``１００％`` → ``100%``, ``ＫＦＲ`` → ``kfr``);
    sentence punctuation becomes the full-width Chinese form (``!`` → ``！``), as a supervisor writes it.
    """
    out = []
    for char in text:
        code = ord(char)
        if 0xFF01 <= code <= 0xFF5E:
            char = chr(code - 0xFEE0)
        elif code == 0x3000:
            char = " "
        lowered = char.lower()
        char = lowered if len(lowered) == 1 else char
        out.append(_HALF_PUNCTUATION.get(char, char))
    return "".join(out)


class AssistDataError(ValueError):
    """An agent-assist data file has problems; ``problems`` locates each one."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        head = "\n".join(str(p) for p in self.problems[:20])
        more = f"\n……另有 {len(self.problems) - 20} 个问题" if len(self.problems) > 20 else ""
        super().__init__(f"坐席辅助数据文件有 {len(self.problems)} 个问题：\n{head}{more}")


@dataclass(frozen=True)
class Node:
    """A parsed YAML value with the line it starts on; mappings and lists hold Nodes."""

    value: Any
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)  # a mapping's keys: the line of each key

    def get(self, key: str) -> Node | None:
        return self.value.get(key) if isinstance(self.value, dict) else None

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


def read_tree(path: Path) -> tuple[Node | None, str]:
    """Parse a YAML file keeping every value's line, so each problem can name its line."""
    file = str(path)
    if not path.is_file():
        raise AssistDataError([Problem(file, 1, "file", "文件不存在")])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise AssistDataError([Problem(file, 1, "encoding", "文件不是 UTF-8 编码")]) from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        tree = _to_node(loader, root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise AssistDataError(
            [Problem(file, mark.line + 1 if mark else 1, "yaml", f"YAML 语法错误：{exc.problem or exc}")]
        ) from None
    finally:
        loader.dispose()
    return tree, file


def _to_node(loader: yaml.SafeLoader, node: yaml.Node) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        keys = [(str(loader.construct_object(k)), k.start_mark.line + 1, v) for k, v in node.value]
        return Node({k: _to_node(loader, v) for k, _, v in keys}, line, {k: n for k, n, _ in keys})
    if isinstance(node, yaml.SequenceNode):
        return Node([_to_node(loader, item) for item in node.value], line)
    return Node(loader.construct_object(node), line)


@dataclass(frozen=True)
class Utterance:
    """One labelled customer utterance, as the customer said it."""

    text: str
    intent: str
    emotion: str
    line: int = 0


def load_utterances(path: Path) -> list[Utterance]:
    """``{"text", "intent", "emotion"}`` per line; unknown labels and bad JSON are file:line problems."""
    file = str(path)
    if not path.is_file():
        raise AssistDataError([Problem(file, 1, "file", "文件不存在")])
    out: list[Utterance] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, row in read_json_lines(path, file, problems):
        text = str(row.get("text") or "").strip()
        intent = str(row.get("intent") or "").strip()
        emotion = str(row.get("emotion") or "").strip()
        if not text:
            problems.append(Problem(file, number, "text", "缺少客户原话"))
        elif text in seen:
            problems.append(Problem(file, number, "text", f"与第 {seen[text]} 行重复"))
        if intent not in INTENTS:
            problems.append(Problem(file, number, "intent", f"意图 {intent!r} 无效，可选：{' / '.join(INTENTS)}"))
        if emotion not in EMOTIONS:
            problems.append(Problem(file, number, "emotion", f"情绪 {emotion!r} 无效，可选：{' / '.join(EMOTIONS)}"))
        if text and text not in seen and intent in INTENTS and emotion in EMOTIONS:
            seen[text] = number
            out.append(Utterance(text, intent, emotion, number))
    if problems:
        raise AssistDataError(problems)
    return out
