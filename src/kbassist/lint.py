"""Compliance lint for what an agent is about to say (or what a 话术 script says).

Rules live in ``data/assist/lint_rules.yaml`` (a supervisor edits them): negative wording
(不行 / 不能 / 没办法 …), absolute claims banned by 广告法 (最 / 第一 / 100% …) and personal data
(phone, ID-card, bank-card numbers, e-mail, found by ``kbassist.privacy``). Each hit carries its
position as character offsets into the text (Python string indices: ``text[start:end]``), the rule
and positive alternatives. An allow-list per word keeps 最近 / 第一次 / 能不能 … from being flagged.

    linter = get_linter(settings.assist_folder / "lint_rules.yaml")
    report = linter.lint("这个不能退，我们是最好的")

``LintReport`` is the JSON shape the CLI's ``--json`` and ``POST /v1/lint`` return.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from kbassist.assistdata import AssistDataError, Node, fold, read_tree
from kbassist.privacy import find_personal_data, mask
from kbassist.schema import Entry, Kind
from kbassist.sources.common import Problem

Severity = Literal["违规", "提醒"]
SEVERITIES: tuple[str, ...] = ("违规", "提醒")
RULE_TYPES = ("terms", "personal_data")
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
PERSONAL_LABELS = {
    "mobile": "手机号",
    "landline": "固定电话",
    "id_card": "身份证号",
    "bank_card": "银行卡号",
    "email": "邮箱",
}


class LintHit(BaseModel):
    start: int  # character offsets into the checked text: text[start:end] == text
    end: int
    text: str
    rule: str
    rule_label: str
    severity: Severity
    message: str
    alternatives: list[str]


class LintReport(BaseModel):
    text: str
    ok: bool
    hits: list[LintHit]


@dataclass(frozen=True)
class Term:
    term: str
    folded: str
    allow: tuple[str, ...]  # folded
    alternatives: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Rule:
    id: str
    label: str
    severity: Severity
    advice: str
    kind: str  # "terms" or "personal_data"
    alternatives: tuple[str, ...]
    terms: tuple[Term, ...]
    line: int


class Linter:
    """The rules of one file; immutable and safe to share between threads."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = tuple(rules)

    @classmethod
    def load(cls, path: Path) -> Linter:
        return cls(load_rules(path))

    def lint(self, text: str) -> LintReport:
        candidates = [hit for rule in self.rules for hit in self._rule_hits(rule, text)]
        # Where hits overlap, the longer one stands ("最低价" over "最").
        candidates.sort(key=lambda h: (-(h.end - h.start), h.start))
        taken: list[tuple[int, int]] = []
        hits: list[LintHit] = []
        for hit in candidates:
            if all(hit.end <= s or hit.start >= e for s, e in taken):
                taken.append((hit.start, hit.end))
                hits.append(hit)
        hits.sort(key=lambda h: (h.start, h.end))
        return LintReport(text=text, ok=not hits, hits=hits)

    def _rule_hits(self, rule: Rule, text: str) -> Iterable[LintHit]:
        if rule.kind == "personal_data":
            for item in find_personal_data(text):
                shown = PERSONAL_LABELS.get(item.kind, item.kind)
                yield LintHit(
                    start=item.start,
                    end=item.end,
                    text=item.text,
                    rule=rule.id,
                    rule_label=f"{rule.label}（{shown}）",
                    severity=rule.severity,
                    message=rule.advice,
                    alternatives=[mask(item), *rule.alternatives],
                )
            return
        folded = fold(text)
        for term in rule.terms:
            allowed = _covered(folded, term.allow)
            for start in _occurrences(folded, term.folded):
                end = start + len(term.folded)
                if any(a <= start and end <= b for a, b in allowed):
                    continue
                yield LintHit(
                    start=start,
                    end=end,
                    text=text[start:end],
                    rule=rule.id,
                    rule_label=rule.label,
                    severity=rule.severity,
                    message=rule.advice,
                    alternatives=list(term.alternatives or rule.alternatives),
                )


def _occurrences(text: str, word: str) -> Iterable[int]:
    start = text.find(word)
    while start >= 0:
        yield start
        start = text.find(word, start + 1)


def _covered(text: str, phrases: Iterable[str]) -> list[tuple[int, int]]:
    return [(s, s + len(p)) for p in phrases for s in _occurrences(text, p)]


# --- the rules file ---------------------------------------------------------------------------


def load_rules(path: Path) -> list[Rule]:
    """Read and check the rules; every problem at once, as ``file:line: field: message``."""
    tree, file = read_tree(path)
    problems: list[Problem] = []
    if (
        tree is None
        or not isinstance(tree.value, dict)
        or not isinstance(getattr(tree.get("rules"), "value", None), list)
    ):
        raise AssistDataError(
            [
                Problem(
                    file,
                    tree.line if tree else 1,
                    "rules",
                    "缺少规则列表（rules: 下每项含 id、label、severity、terms）",
                )
            ]
        )
    rules: list[Rule] = []
    ids: dict[str, int] = {}
    terms_seen: dict[str, int] = {}
    rules_node = tree.get("rules")
    assert rules_node is not None
    for number, node in enumerate(rules_node.value):
        where = f"rules[{number}]"
        rule = _rule(node, where, file, problems)
        if rule is None:
            continue
        if rule.id in ids:
            problems.append(Problem(file, node.line, f"{where}.id", f"规则编号 {rule.id!r} 与第 {ids[rule.id]} 行重复"))
            continue
        ids[rule.id] = node.line
        for term in rule.terms:
            if term.folded in terms_seen:
                problems.append(
                    Problem(
                        file, term.line, f"{where}.terms", f"词语 {term.term!r} 与第 {terms_seen[term.folded]} 行重复"
                    )
                )
            terms_seen.setdefault(term.folded, term.line)
        rules.append(rule)
    if not problems:
        problems += _alternatives_clean(rules, file)
    if problems:
        raise AssistDataError(problems)
    return rules


def _alternatives_clean(rules: Sequence[Rule], file: str) -> list[Problem]:
    """An alternative offered to the agent must pass the same lint."""
    linter = Linter([r for r in rules if r.kind == "terms"])
    problems = []
    for rule in rules:
        for term in rule.terms or (None,):
            for alternative in term.alternatives if term else rule.alternatives:
                report = linter.lint(alternative)
                for hit in report.hits:
                    line = term.line if term else rule.line
                    problems.append(
                        Problem(
                            file,
                            line,
                            f"{rule.id}.alternatives",
                            f"替代说法 {alternative!r} 本身含有 {hit.text!r}（{hit.rule_label}）",
                        )
                    )
    return problems


def _text(node: Node | None) -> str:
    if node is None or node.value is None:
        return ""
    return str(node.value).strip()


def _strings(node: Node | None, where: str, file: str, problems: list[Problem]) -> tuple[str, ...]:
    if node is None or node.value is None:
        return ()
    if isinstance(node.value, str):
        return (node.value.strip(),) if node.value.strip() else ()
    if not isinstance(node.value, list):
        problems.append(Problem(file, node.line, where, "应为列表"))
        return ()
    out = []
    for item in node.value:
        if isinstance(item.value, dict | list) or item.value is None or not str(item.value).strip():
            problems.append(Problem(file, item.line, where, "每项应为一段非空文字"))
            continue
        out.append(str(item.value).strip())
    return tuple(out)


def _rule(node: Node, where: str, file: str, problems: list[Problem]) -> Rule | None:
    if not isinstance(node.value, dict):
        problems.append(Problem(file, node.line, where, "每条规则应为键值对（id、label、severity、terms）"))
        return None
    before = len(problems)
    known = {"id", "label", "severity", "advice", "type", "alternatives", "terms"}
    for key in sorted(set(node.value) - known):
        problems.append(
            Problem(file, node.line_of(key), f"{where}.{key}", f"未知字段，可用：{'、'.join(sorted(known))}")
        )
    rule_id = _text(node.get("id"))
    if not _RULE_ID.match(rule_id):
        problems.append(
            Problem(file, node.line, f"{where}.id", f"规则编号 {rule_id!r} 无效：小写字母、数字、- _，以字母或数字开头")
        )
    label = _text(node.get("label"))
    if not label:
        problems.append(Problem(file, node.line, f"{where}.label", "缺少规则名称"))
    severity = _text(node.get("severity")) or "提醒"
    if severity not in SEVERITIES:
        line = node.line_of("severity")
        problems.append(
            Problem(file, line, f"{where}.severity", f"级别 {severity!r} 无效，可选：{' / '.join(SEVERITIES)}")
        )
    kind = _text(node.get("type")) or "terms"
    if kind not in RULE_TYPES:
        problems.append(
            Problem(file, node.line_of("type"), f"{where}.type", f"类型 {kind!r} 无效，可选：{' / '.join(RULE_TYPES)}")
        )
    alternatives = _strings(node.get("alternatives"), f"{where}.alternatives", file, problems)
    terms_node = node.get("terms")
    terms: list[Term] = []
    if kind == "personal_data":
        if terms_node is not None and terms_node.value:
            problems.append(
                Problem(file, terms_node.line, f"{where}.terms", "personal_data 规则由程序识别个人信息，不需要 terms")
            )
    elif terms_node is None or not isinstance(terms_node.value, list) or not terms_node.value:
        problems.append(Problem(file, terms_node.line if terms_node else node.line, f"{where}.terms", "缺少词语列表"))
    else:
        for item in terms_node.value:
            term = _term(item, f"{where}.terms", file, problems)
            if term is not None:
                terms.append(term)
    if len(problems) > before:
        return None
    return Rule(rule_id, label, severity, _text(node.get("advice")), kind, alternatives, tuple(terms), node.line)  # type: ignore[arg-type]


def _term(item: Node, where: str, file: str, problems: list[Problem]) -> Term | None:
    value = item.value
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        value = {"term": Node(value, item.line)}
    if not isinstance(value, dict):
        problems.append(Problem(file, item.line, where, "每项应为词语，或含 term、allow、alternatives 的键值对"))
        return None
    for key in sorted(set(value) - {"term", "allow", "alternatives"}):
        problems.append(Problem(file, item.line_of(key), f"{where}.{key}", "未知字段，可用：term、allow、alternatives"))
    word = _text(value.get("term"))
    if not word:
        problems.append(Problem(file, item.line, f"{where}.term", "缺少词语"))
        return None
    folded = fold(word)
    allow = _strings(value.get("allow"), f"{where}.allow", file, problems)
    for phrase in allow:
        if folded not in fold(phrase):
            line = item.line_of("allow")
            problems.append(Problem(file, line, f"{where}.allow", f"放行词 {phrase!r} 不包含 {word!r}，不会起作用"))
    alternatives = _strings(value.get("alternatives"), f"{where}.alternatives", file, problems)
    return Term(word, folded, tuple(fold(p) for p in allow), alternatives, item.line)


# --- loading once per edit ----------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int], Linter]] = {}


def get_linter(path: Path) -> Linter:
    """The linter for ``path``, read again only when the file changes (a supervisor's edit applies
    to the next request without a restart). Raises ``AssistDataError`` for a bad file."""
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise AssistDataError([Problem(str(path), 1, "file", "规则文件不存在")]) from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
    linter = Linter.load(path)
    with _cache_lock:
        _cache[path] = (stamp, linter)
    return linter


# --- scripts in the knowledge base --------------------------------------------------------------


@dataclass(frozen=True)
class ScriptFinding:
    entry: Entry
    report: LintReport

    def lines(self) -> list[str]:
        """``file:line: id: [rule] 「text」 → alternative`` per hit, as the build report prints them."""
        source = self.entry.source
        return [
            f"{source.file}:{source.line}: {self.entry.id}: [{hit.rule_label}] 「{hit.text}」（第 {hit.start + 1} 字）"
            + (f" → {hit.alternatives[0]}" if hit.alternatives else "")
            for hit in self.report.hits
        ]


def lint_scripts(entries: Iterable[Entry], linter: Linter) -> list[ScriptFinding]:
    """Every 话术 script with at least one hit. Placeholders such as {订单号} are not the agent's words."""
    findings = []
    for entry in entries:
        if entry.kind is not Kind.SCRIPT:
            continue
        report = linter.lint(entry.text)
        if report.hits:
            findings.append(ScriptFinding(entry, report))
    return findings
