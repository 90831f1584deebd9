"""The batch reindex job: build a new index version, check it, then publish it, and roll back.

    report = reindex(Path("data"), Path("index"), settings, embedder)

The job the KB admin runs nightly or on change. What it promises:

- ``current`` moves only to a version that is complete and passed its checks: it loads with the same
  embedder, its entry counts per kind equal the knowledge base reloaded from the source folder, and
  smoke questions find what they must (an FAQ by its standard question, first and as an exact match;
  a policy clause or a product by its title, in the top 5). Invalid data, a crash or a failed check
  raise ``ReindexError`` and leave ``current`` as it was; a checked-and-failed folder is kept for
  inspection as ``versions/.failed-<version>`` (only the latest), a crashed one is removed.
- Texts are embedded only when new: vectors are cached by (model, text hash) in ``<root>/cache/``.
  The cache is bounded by the texts of the versions kept on disk and is written atomically.
- The report says what changed since the previous ``current`` (by id and content), how many texts were
  embedded or reused, the time per step, and warnings (``REPORT_CHECKS``) that never fail the build.
- The newest ``Settings.keep_versions`` versions are kept, plus the version being replaced (which may be
  the one a rollback selected), so the previous version is always one ``rollback`` away.
- One build or rollback at a time per index root (a lock file); a second one fails fast.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kbassist.assistdata import LINT_RULES
from kbassist.dense import Embedder
from kbassist.index import (
    FORMAT_VERSION,
    MANIFEST,
    VERSIONS,
    EmbeddingCache,
    IndexNotFoundError,
    build_index,
    current_version,
    dense_texts,
    is_up_to_date,
    switch_current,
    text_hash,
)
from kbassist.index import BuildReport as BuiltVersion
from kbassist.lint import get_linter, lint_scripts
from kbassist.normalize import exact_key
from kbassist.schema import Entry, Kind
from kbassist.search import Filters, Searcher
from kbassist.segment import Analyzer
from kbassist.settings import Settings
from kbassist.sources import KnowledgeBase, load_knowledge_base

REPORT_FILE = "build-report.json"
LOCK_FILE = ".build.lock"
FAILED_PREFIX = ".failed-"
TEMP_PREFIX = ".tmp-"
CACHE = "cache"

SMOKE_PER_KIND = 3
SMOKE_TOP_K = 5
EXPIRING_WITHIN_DAYS = 30
NEAR_DUPLICATE_WORD_OVERLAP = 0.75  # Jaccard overlap of the two questions' analysed words


Reason = Literal["no_source", "invalid_data", "crashed", "check_failed", "busy"]
Status = Literal["ok", "unchanged", "failed"]


class ReindexError(Exception):
    """The job did not publish a new version; ``current`` is unchanged. ``reason`` picks the exit code."""

    def __init__(self, reason: Reason, message: str, report: ReindexReport | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.report = report


class IndexBusyError(ReindexError):
    def __init__(self, message: str):
        super().__init__("busy", message)


class VersionError(ValueError):
    """An unknown version, or nothing to roll back to."""


# --- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildWarning:
    """Something the KB admin should look at; never a reason to refuse a build."""

    code: str  # stable, for machines: duplicate_question, near_duplicate_question, expired …
    label: str  # short Chinese heading the CLI groups by
    message: str
    entries: tuple[str, ...] = ()
    where: str | None = None  # file:line of the first entry concerned


@dataclass(frozen=True)
class CheckResult:
    name: Literal["load", "counts", "smoke"]
    ok: bool
    detail: str


@dataclass
class Changes:
    """The new version against the previous ``current``; an entry is compared by id and content."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0


@dataclass
class ReindexReport:
    status: Status
    source: str
    index_root: str
    model: str
    build_date: date
    started_at: str
    version: str | None = None
    path: str | None = None
    previous: str | None = None
    current: str | None = None  # what `current` points at when the job ends
    counts: dict[str, int] = field(default_factory=dict)
    changes: Changes | None = None
    embedded: int = 0
    reused: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    warnings: list[BuildWarning] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["build_date"] = self.build_date.isoformat()
        data["seconds"] = {step: round(value, 3) for step, value in self.seconds.items()}
        if self.changes is not None:
            data["changes"]["counts"] = {
                "added": len(self.changes.added),
                "changed": len(self.changes.changed),
                "removed": len(self.changes.removed),
                "unchanged": self.changes.unchanged,
            }
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


# --- warnings: small checks over what the build produced -----------------------------------------


@dataclass(frozen=True)
class BuildContext:
    """What a report check may look at. ``vectors`` are the build's own dense rows (not recomputed)."""

    entries: Sequence[Entry]
    build_date: date
    vectors: np.ndarray  # one row per dense text, in build order
    row_entry: np.ndarray  # entry number of each row
    previous: Mapping[str, Entry]
    settings: Settings
    analyzer: Analyzer | None = None  # the build's own segmenter, for comparing questions word by word

    def faq_key_rows(self) -> list[tuple[int, int, int]]:
        """(row, entry number, key number) of every FAQ question: FAQs are embedded key by key, in order."""
        found: list[tuple[int, int, int]] = []
        seen: dict[int, int] = {}
        for row, number in enumerate(self.row_entry.tolist()):
            if self.entries[number].kind is Kind.FAQ:
                key = seen.get(number, 0)
                seen[number] = key + 1
                found.append((row, number, key))
        return found


def _where(entry: Entry) -> str:
    return f"{entry.source.file}:{entry.source.line}"


def _overlap(a: Entry, b: Entry) -> bool:
    """Two entries can be served on the same day (a question reused in next year's promotion is fine)."""
    a_from, b_from = a.effective_from or date.min, b.effective_from or date.min
    a_to, b_to = a.effective_to or date.max, b.effective_to or date.max
    return a_from <= b_to and b_from <= a_to


def _same_key_groups(ctx: BuildContext) -> list[tuple[str, list[tuple[Entry, int]]]]:
    """FAQ questions sharing an exact key across entries that can be served on the same day."""
    groups: dict[str, list[tuple[Entry, int]]] = {}
    for entry in ctx.entries:
        if entry.kind is Kind.FAQ:
            for number, key in enumerate(entry.keys):
                groups.setdefault(exact_key(key), []).append((entry, number))
    found = []
    for key, members in groups.items():
        owners = list({entry.id: entry for entry, _ in members}.values())
        if len(owners) > 1 and any(_overlap(a, b) for i, a in enumerate(owners) for b in owners[i + 1 :]):
            found.append((key, members))
    return found


def duplicate_questions(ctx: BuildContext) -> list[BuildWarning]:
    """Two FAQ entries with the same standard question: agents get two answers to one question."""
    warnings = []
    for _key, members in _same_key_groups(ctx):
        if any(number > 0 for _, number in members):
            continue  # a 相似问 is involved: shared_similar_questions says it more precisely
        ids = tuple(dict.fromkeys(entry.id for entry, _ in members))
        first = members[0][0]
        warnings.append(
            BuildWarning(
                "duplicate_question",
                "重复标准问",
                f"标准问「{first.keys[0]}」在 {len(ids)} 个条目中重复：{'、'.join(ids)}",
                ids,
                _where(first),
            )
        )
    return warnings


def shared_similar_questions(ctx: BuildContext) -> list[BuildWarning]:
    """A 相似问 that is also a question of another entry: an exact match that cannot pick one answer."""
    warnings = []
    for _key, members in _same_key_groups(ctx):
        similar = [(entry, number) for entry, number in members if number > 0]
        if not similar:
            continue
        entry, number = similar[0]
        ids = tuple(dict.fromkeys(e.id for e, _ in members))
        roles = "、".join(f"{e.id}（{'标准问' if n == 0 else '相似问'}）" for e, n in members)
        warnings.append(
            BuildWarning(
                "shared_similar_question",
                "相似问属于多个条目",
                f"相似问「{entry.keys[number]}」同时属于：{roles}",
                ids,
                _where(entry),
            )
        )
    return warnings


def _same_words(analyzer: Analyzer | None, a: str, b: str) -> bool:
    """Embeddings alone rate 还没发货的订单怎么取消 and 已经发货的订单怎么取消 at 0.99: a near duplicate must
    also say nearly the same words (synonyms and particles aside)."""
    if analyzer is None:
        return True
    left, right = set(analyzer.terms(a)), set(analyzer.terms(b))
    union = left | right
    return bool(union) and len(left & right) / len(union) >= NEAR_DUPLICATE_WORD_OVERLAP


def near_duplicate_questions(ctx: BuildContext) -> list[BuildWarning]:
    """Questions of different FAQ entries with nearly identical embeddings (``near_duplicate_cosine``) and
    nearly the same words."""
    rows = ctx.faq_key_rows()
    if len(rows) < 2 or not len(ctx.vectors):
        return []
    matrix = ctx.vectors[[row for row, _, _ in rows]].astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms == 0, 1.0, norms)
    owner = np.array([number for _, number, _ in rows])
    threshold = ctx.settings.near_duplicate_cosine
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    block = 256  # rows per product: memory stays small whatever the number of questions
    for start in range(0, len(rows), block):
        cosine = matrix[start : start + block] @ matrix.T
        for i, j in zip(*np.nonzero(cosine >= threshold), strict=True):
            a, b = start + int(i), int(j)
            if a >= b or owner[a] == owner[b]:
                continue
            pair = (int(owner[a]), int(owner[b]))
            score = float(cosine[i, j])
            if score > best.get(pair, (-1.0, 0, 0))[0]:
                best[pair] = (score, a, b)
    warnings = []
    for (left, right), (score, a, b) in sorted(best.items(), key=lambda item: -item[1][0]):
        x, y = ctx.entries[left], ctx.entries[right]
        qx, qy = x.keys[rows[a][2]], y.keys[rows[b][2]]
        if exact_key(qx) == exact_key(qy) or not _overlap(x, y) or not _same_words(ctx.analyzer, qx, qy):
            continue  # the same question is reported by the exact-key checks; disjoint validity is fine
        warnings.append(
            BuildWarning(
                "near_duplicate_question",
                "问题高度相似",
                f"{x.id}「{qx}」与 {y.id}「{qy}」相似度 {score:.3f}，请确认是否为同一问题",
                (x.id, y.id),
                _where(x),
            )
        )
    return warnings


def expiring_entries(ctx: BuildContext) -> list[BuildWarning]:
    """Entries past their validity (kept for as_of questions, or forgotten) or ending within 30 days."""
    warnings = []
    soon = ctx.build_date + timedelta(days=EXPIRING_WITHIN_DAYS)
    for entry in ctx.entries:
        end = entry.effective_to
        if end is None:
            continue
        if end < ctx.build_date:
            message = f"{entry.id}「{entry.title}」已于 {end} 失效"
            warnings.append(BuildWarning("expired", "已失效", message, (entry.id,), _where(entry)))
        elif end <= soon:
            days = (end - ctx.build_date).days
            warnings.append(
                BuildWarning(
                    "expiring",
                    "即将失效",
                    f"{entry.id}「{entry.title}」将于 {end} 失效（还有 {days} 天）",
                    (entry.id,),
                    _where(entry),
                )
            )
    return warnings


def script_wording(ctx: BuildContext) -> list[BuildWarning]:
    """话术 saying what agents must not (negative wording, 广告法 absolutes, personal data): kbassist.lint."""
    rules = ctx.settings.assist_folder / LINT_RULES
    if not rules.is_file():
        return []
    warnings = []
    for finding in lint_scripts(ctx.entries, get_linter(rules)):
        for hit in finding.report.hits:
            better = f"，可改为：{hit.alternatives[0]}" if hit.alternatives else ""
            message = f"{finding.entry.id}「{hit.text}」（第 {hit.start + 1} 字）{hit.rule_label}{better}"
            warnings.append(
                BuildWarning("script_wording", "话术用语", message, (finding.entry.id,), _where(finding.entry))
            )
    return warnings


ReportCheck = Callable[[BuildContext], list[BuildWarning]]

# Each check looks at the finished build and returns warnings; a new one is a function appended here.
REPORT_CHECKS: list[ReportCheck] = [
    duplicate_questions,
    shared_similar_questions,
    near_duplicate_questions,
    expiring_entries,
    script_wording,
]


def run_report_checks(ctx: BuildContext, checks: Sequence[ReportCheck] | None = None) -> list[BuildWarning]:
    warnings: list[BuildWarning] = []
    for check in REPORT_CHECKS if checks is None else checks:
        try:
            warnings += check(ctx)
        except Exception as exc:  # a broken report check must not cost the admin the build
            name = getattr(check, "__name__", repr(check))
            message = f"质量检查 {name} 出错：{type(exc).__name__}: {exc}"
            warnings.append(BuildWarning("check_error", "检查出错", message))
    return warnings


# --- comparing with the previous version ----------------------------------------------------------


def _content(entry: Entry) -> dict[str, Any]:
    """What an entry says, not where it sits: moving a row or building from another folder is no change."""
    data = entry.model_dump(mode="json")
    data["source"] = {k: v for k, v in data["source"].items() if k not in ("file", "line")}
    return data


def compare(previous: Mapping[str, Entry], entries: Sequence[Entry]) -> Changes:
    changes = Changes()
    now = {entry.id for entry in entries}
    for entry in entries:
        before = previous.get(entry.id)
        if before is None:
            changes.added.append(entry.id)
        elif _content(before) != _content(entry):
            changes.changed.append(entry.id)
        else:
            changes.unchanged += 1
    changes.removed = [entry_id for entry_id in previous if entry_id not in now]
    return changes


def read_entries(folder: Path) -> dict[str, Entry]:
    """A version's entries by id; nothing when the folder is missing or in an older format."""
    try:
        with (folder / "entries.jsonl").open(encoding="utf-8") as handle:
            entries = [Entry.model_validate_json(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return {}
    return {entry.id: entry for entry in entries}


# --- checks that decide whether a version is published ---------------------------------------------


def _kind_counts(entries: Sequence[Entry]) -> dict[str, int]:
    return {kind.value: sum(1 for e in entries if e.kind is kind) for kind in Kind}


def check_counts(searcher: Searcher, source: Path, kb: KnowledgeBase) -> CheckResult:
    """Manifest, loaded index and the source folder as it is now agree, kind by kind and entry by entry."""
    manifest = searcher.data.manifest.get("counts", {})
    in_manifest = {kind.value: int(manifest.get(kind.value, -1)) for kind in Kind}
    loaded = _kind_counts(searcher.entries)
    reloaded = load_knowledge_base(source)
    on_disk = _kind_counts(reloaded.entries)
    if reloaded.file_hashes != kb.file_hashes or reloaded.problems:
        return CheckResult(
            "counts", False, f"知识库在构建期间被修改（来源 {on_disk}，索引 {in_manifest}）：请在修改完成后重新构建"
        )
    if not in_manifest == loaded == on_disk:
        return CheckResult("counts", False, f"条目数量不一致：清单 {in_manifest}，加载 {loaded}，来源 {on_disk}")
    if [_content(e) for e in searcher.entries] != [_content(e) for e in reloaded.entries]:
        return CheckResult("counts", False, "索引中的条目内容与来源不一致")
    total = sum(on_disk.values())
    return CheckResult("counts", True, f"{total} 条，与来源逐类一致")


@dataclass(frozen=True)
class SmokeQuestion:
    entry: Entry
    query: str
    as_of: date
    exact: bool  # an FAQ by its standard question: first, and flagged as an exact match


def _serving_day(entry: Entry, today: date) -> date:
    if entry.is_valid_on(today):
        return today
    if entry.effective_to is not None and entry.effective_to < today:
        return entry.effective_to
    return entry.effective_from or today


def _spread(items: Sequence[Entry], count: int) -> list[Entry]:
    """A few items from across the list (first, middle, last …), deterministic."""
    if len(items) <= count:
        return list(items)
    return [items[i * (len(items) - 1) // (count - 1)] for i in range(count)] if count > 1 else [items[0]]


def smoke_questions(entries: Sequence[Entry], today: date, per_kind: int = SMOKE_PER_KIND) -> list[SmokeQuestion]:
    """Questions whose answer is certain: only entries with a question or title no other entry shares."""
    faq_keys: dict[str, int] = {}
    for entry in entries:
        if entry.kind is Kind.FAQ:
            for key in entry.keys:
                faq_keys[exact_key(key)] = faq_keys.get(exact_key(key), 0) + 1
    questions: list[SmokeQuestion] = []
    faqs = [e for e in entries if e.kind is Kind.FAQ and e.keys and faq_keys.get(exact_key(e.keys[0])) == 1]
    questions += [SmokeQuestion(e, e.keys[0], _serving_day(e, today), True) for e in _spread(faqs, per_kind)]
    for kind in (Kind.POLICY, Kind.PRODUCT):
        of_kind = [e for e in entries if e.kind is kind]
        titles: dict[str, int] = {}
        for entry in of_kind:
            titles[exact_key(entry.title)] = titles.get(exact_key(entry.title), 0) + 1
        unique = [e for e in of_kind if titles[exact_key(e.title)] == 1 and exact_key(e.title)]
        questions += [SmokeQuestion(e, e.title, _serving_day(e, today), False) for e in _spread(unique, per_kind)]
    return questions


def check_smoke(searcher: Searcher, questions: Sequence[SmokeQuestion]) -> CheckResult:
    failures = []
    for question in questions:
        entry = question.entry
        if question.exact:
            result = searcher.search(question.query, top_k=1, as_of=question.as_of)
            top = result.hits[0] if result.hits else None
            if top is None or top.entry.id != entry.id or not top.exact_match:
                got = f"{top.entry.id}{'（完全匹配）' if top.exact_match else ''}" if top else "无结果"
                failures.append(f"{entry.id} 的标准问「{question.query}」搜索首位是 {got}，应为它本身（完全匹配）")
        else:
            filters = Filters.of(kind=entry.kind.value)
            result = searcher.search(question.query, top_k=SMOKE_TOP_K, filters=filters, as_of=question.as_of)
            if entry.id not in [hit.entry.id for hit in result.hits]:
                failures.append(f"搜索标题「{question.query}」前 {SMOKE_TOP_K} 名中没有 {entry.id}")
    if failures:
        return CheckResult("smoke", False, f"{len(failures)}/{len(questions)} 个冒烟问题未通过：" + "；".join(failures))
    return CheckResult("smoke", True, f"{len(questions)}/{len(questions)} 个冒烟问题通过")


def verify(
    folder: Path, source: Path, kb: KnowledgeBase, settings: Settings, embedder: Embedder, today: date
) -> list[CheckResult]:
    """The checks a new version must pass before ``current`` may point at it."""
    try:
        searcher = Searcher.open(folder, settings, embedder)
    except Exception as exc:  # whatever makes it unloadable, it must not be published
        return [CheckResult("load", False, f"新版本无法加载：{type(exc).__name__}: {exc}")]
    results = [CheckResult("load", True, f"已加载 {len(searcher.entries)} 条")]
    results.append(check_counts(searcher, source, kb))
    results.append(check_smoke(searcher, smoke_questions(kb.entries, today)))
    return results


# --- versions on disk ------------------------------------------------------------------------------


def version_names(root: Path) -> list[str]:
    """Complete versions, oldest first (names start with their UTC build time)."""
    folder = root / VERSIONS
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file())


@dataclass(frozen=True)
class VersionInfo:
    name: str
    path: Path
    built_at: str | None
    model: str | None
    counts: dict[str, int]
    current: bool
    changes: dict[str, int] | None  # from its build report, when it has one


def list_versions(root: Path) -> list[VersionInfo]:
    current = current_version(root)
    found = []
    for name in version_names(root):
        path = root / VERSIONS / name
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        changes = None
        if (path / REPORT_FILE).is_file():
            try:
                changes = json.loads((path / REPORT_FILE).read_text(encoding="utf-8"))["changes"]["counts"]
            except (ValueError, KeyError, TypeError):
                changes = None
        counts = manifest.get("counts", {})
        found.append(
            VersionInfo(
                name=name,
                path=path,
                built_at=manifest.get("built_at"),
                model=manifest.get("model", {}).get("id"),
                counts={key: int(counts.get(key, 0)) for key in [*(kind.value for kind in Kind), "entries"]},
                current=name == current,
                changes=changes,
            )
        )
    return found


def prune_versions(root: Path, keep: int, protect: set[str | None]) -> list[str]:
    """Remove all but the newest ``keep`` versions and the protected ones; returns what was removed."""
    names = version_names(root)
    kept = set(names[-keep:]) | {name for name in protect if name}
    removed = []
    for name in names:
        if name not in kept:
            shutil.rmtree(root / VERSIONS / name, ignore_errors=True)
            removed.append(name)
    return removed


def _surviving_versions(root: Path, keep: int, previous: str | None) -> list[str]:
    """Versions still on disk after the next successful build (which takes one of the ``keep`` places)."""
    names = version_names(root)
    survivors = set(names[-(keep - 1) :]) if keep > 1 else set()
    return sorted(survivors | ({previous} if previous in names else set()))


def _cached_texts(
    root: Path, names: Sequence[str], model_id: str, already_read: Mapping[str | None, Mapping[str, Entry]]
) -> list[str]:
    """Text hashes the cache keeps for versions other than the one being built (``already_read``: entries
    of versions the caller has read, not read again)."""
    hashes: list[str] = []
    for name in names:
        folder = root / VERSIONS / name
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("model", {}).get("id") == model_id:
            entries = already_read.get(name) or read_entries(folder)
            hashes += [text_hash(text) for entry in entries.values() for text in dense_texts(entry)]
    return hashes


def _prune_cache_files(root: Path, model_ids: set[str]) -> None:
    """Drop the cache of models no kept version uses, and files of the older two-file layout."""
    folder = root / CACHE
    if not folder.is_dir():
        return
    wanted = {EmbeddingCache.path_for(folder, model_id).name for model_id in model_ids}
    for path in folder.iterdir():
        if path.is_file() and path.name not in wanted and path.name.endswith((".npz", ".npy", ".keys.json")):
            path.unlink(missing_ok=True)


def _remove_leftovers(root: Path) -> None:
    """Half-written folders and temp files of a build that was killed (we hold the lock: none is live)."""
    versions = root / VERSIONS
    if versions.is_dir():
        for path in versions.iterdir():
            if path.name.startswith(TEMP_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
    cache = root / CACHE
    if cache.is_dir():
        for path in cache.glob(".*.tmp*"):
            path.unlink(missing_ok=True)
    for path in root.glob(".current.*.tmp"):
        path.unlink(missing_ok=True)


def _keep_failed(root: Path, version: str) -> Path:
    """Keep the latest failed build for inspection, out of sight of `current` and `index list`."""
    versions = root / VERSIONS
    for old in versions.glob(f"{FAILED_PREFIX}*"):
        shutil.rmtree(old, ignore_errors=True)
    target = versions / f"{FAILED_PREFIX}{version}"
    os.replace(versions / version, target)
    return target


def _write_json(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(text + "\n", encoding="utf-8")
    os.replace(temp, path)


@contextmanager
def index_lock(root: Path) -> Iterator[None]:
    """One build or rollback at a time per index root; a second one fails at once instead of racing."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK_FILE).open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "未知进程"
            raise IndexBusyError(f"索引目录 {root} 正在被另一个构建或回滚使用（{holder}），请稍后再试") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}，开始于 {datetime.now(UTC).isoformat(timespec='seconds')}\n")
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the job ----------------------------------------------------------------------------------------


def reindex(
    source: Path,
    out_root: Path,
    settings: Settings,
    embedder: Embedder,
    *,
    today: date | None = None,
    progress: bool = False,
    if_changed: bool = False,
    report_file: Path | None = None,
    checks: Sequence[ReportCheck] | None = None,
) -> ReindexReport:
    """Build, check and publish a new version of ``source`` under ``out_root``; see the module doc.

    Raises ``ReindexError`` (with ``.report``) when nothing was published. The report is also written
    to ``report_file`` when given, whatever the outcome.
    """
    source, out_root = Path(source), Path(out_root)
    started = time.perf_counter()
    report = ReindexReport(
        status="failed",
        source=str(source),
        index_root=str(out_root),
        model=embedder.model_id,
        build_date=today or date.today(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    try:
        with index_lock(out_root):
            report.previous = report.current = current_version(out_root)
            _run(report, source, out_root, settings, embedder, progress, if_changed, checks, started)
    except ReindexError as exc:
        report.status = "failed"
        report.error = exc.message
        report.current = current_version(out_root)
        exc.report = report
        raise
    except Exception as exc:
        report.status = "failed"
        report.error = f"构建中断，current 保持不变：{type(exc).__name__}: {exc}"
        report.current = current_version(out_root)
        raise ReindexError("crashed", report.error, report) from exc
    finally:
        report.seconds["total"] = time.perf_counter() - started
        if report_file is not None:
            _write_json(report_file, report.to_json())
    return report


def _run(
    report: ReindexReport,
    source: Path,
    out_root: Path,
    settings: Settings,
    embedder: Embedder,
    progress: bool,
    if_changed: bool,
    checks: Sequence[ReportCheck] | None,
    started: float,
) -> None:
    seconds = report.seconds
    tick = time.perf_counter()
    try:
        kb = load_knowledge_base(source)
    except FileNotFoundError as exc:
        raise ReindexError("no_source", str(exc)) from exc
    seconds["load"] = time.perf_counter() - tick
    report.counts = _kind_counts(kb.entries)
    if kb.problems:
        report.problems = [str(problem) for problem in kb.problems]
        raise ReindexError("invalid_data", f"知识库有 {len(kb.problems)} 个问题，未构建索引（current 保持不变）")
    if not kb.entries:
        raise ReindexError("invalid_data", "知识库为空：没有可索引的条目，未构建索引（current 保持不变）")
    if if_changed and is_up_to_date(out_root, kb, embedder.model_id):
        report.status = "unchanged"
        report.version = report.previous
        return

    _remove_leftovers(out_root)
    previous = report.previous
    previous_entries = read_entries(out_root / VERSIONS / previous) if previous else {}
    survivors = _surviving_versions(out_root, settings.keep_versions, previous)
    # A crash here is reported by reindex() as "crashed", current untouched.
    built = build_index(
        kb,
        out_root,
        settings,
        embedder,
        progress=progress,
        switch=False,
        keep_cached=_cached_texts(out_root, survivors, embedder.model_id, {previous: previous_entries}),
    )
    report.version, report.path = built.version, str(built.path)
    report.counts = dict(built.counts)
    report.embedded, report.reused = built.embedded, built.reused
    seconds.update({step: value for step, value in built.seconds.items() if step != "total"})
    if built.cache_problem:
        report.warnings.append(BuildWarning("cache_ignored", "向量缓存", built.cache_problem))

    try:
        _examine(report, built, kb, previous_entries, source, settings, embedder, checks)
    except BaseException as exc:
        # Whatever stopped it, an unpublished version must not look like one `rollback` could select.
        kept = _keep_failed(out_root, built.version)
        report.path = str(kept)
        report.error = report.error or f"构建中断，current 保持不变：{type(exc).__name__}: {exc}"
        report.seconds["total"] = time.perf_counter() - started
        _write_json(kept / REPORT_FILE, report.to_json())
        raise

    tick = time.perf_counter()
    switch_current(out_root, built.version)
    report.current = built.version
    seconds["switch"] = time.perf_counter() - tick

    tick = time.perf_counter()
    report.pruned = prune_versions(out_root, settings.keep_versions, {built.version, previous})
    models = {info.model for info in list_versions(out_root) if info.model} | {embedder.model_id}
    _prune_cache_files(out_root, models)
    seconds["prune"] = time.perf_counter() - tick

    report.status = "ok"
    seconds["total"] = time.perf_counter() - started
    # Not part of the index: written after the switch so that it can tell what the job did.
    _write_json(built.path / REPORT_FILE, report.to_json())


def _examine(
    report: ReindexReport,
    built: BuiltVersion,
    kb: KnowledgeBase,
    previous_entries: Mapping[str, Entry],
    source: Path,
    settings: Settings,
    embedder: Embedder,
    checks: Sequence[ReportCheck] | None,
) -> None:
    """Compare, warn and check a built but unpublished version; ``ReindexError`` if it must not be published."""
    seconds = report.seconds
    tick = time.perf_counter()
    report.changes = compare(previous_entries, kb.entries)
    seconds["diff"] = time.perf_counter() - tick

    tick = time.perf_counter()
    context = BuildContext(
        entries=kb.entries,
        build_date=report.build_date,
        vectors=built.vectors,
        row_entry=built.row_entry,
        previous=previous_entries,
        settings=settings,
        analyzer=built.analyzer,
    )
    report.warnings += run_report_checks(context, checks)
    seconds["warnings"] = time.perf_counter() - tick

    tick = time.perf_counter()
    report.checks = verify(built.path, source, kb, settings, embedder, report.build_date)
    seconds["check"] = time.perf_counter() - tick
    failed = [check for check in report.checks if not check.ok]
    if failed:
        report.error = "新版本未通过检查，current 保持不变：" + "；".join(f"{c.name}：{c.detail}" for c in failed)
        raise ReindexError("check_failed", report.error)


# --- rollback ---------------------------------------------------------------------------------------


def _pick(names: Sequence[str], wanted: str) -> str:
    if wanted in names:
        return wanted
    matches = [name for name in names if name.startswith(wanted) or name.endswith(f"-{wanted}")]
    if len(matches) == 1:
        return matches[0]
    listed = "、".join(names[-10:]) or "无"
    if matches:
        raise VersionError(f"版本 {wanted!r} 不唯一，可能是：{'、'.join(matches)}")
    raise VersionError(f"没有版本 {wanted!r}；现有版本（最近 10 个）：{listed}")


def rollback(
    root: Path, version: str | None = None, settings: Settings | None = None, embedder: Embedder | None = None
) -> tuple[str | None, str]:
    """Point ``current`` at ``version`` (default: the one built before current). Returns (from, to).

    With ``embedder``, the target must load with it first: a rollback never selects a version the
    service could not open.
    """
    root = Path(root)
    with index_lock(root):
        names = version_names(root)
        if not names:
            raise IndexNotFoundError(f"{root} 下没有任何索引版本")
        current = current_version(root)
        if version is None:
            if current not in names:
                raise VersionError(f"current 指向的版本 {current} 不存在，请指定要回滚到的版本")
            position = names.index(current)
            if position == 0:
                raise VersionError(f"当前版本 {current} 已是最早的版本，没有可回滚的版本")
            target = names[position - 1]
        else:
            target = _pick(names, version.strip())
        manifest = json.loads((root / VERSIONS / target / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT_VERSION:
            raise VersionError(f"版本 {target} 的格式版本为 {manifest.get('format')}，本程序无法加载")
        if embedder is not None:
            try:
                Searcher.open(root / VERSIONS / target, settings or Settings(), embedder)
            except Exception as exc:
                raise VersionError(f"版本 {target} 无法加载，未回滚：{type(exc).__name__}: {exc}") from exc
        if target != current:
            switch_current(root, target)
        return current, target
