"""Load a knowledge-base folder into entries, collecting every problem with its file and line."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kbassist.schema import Entry, Kind
from kbassist.sources.common import LoadError, Problem
from kbassist.sources.faq import load_faq_csv, load_faq_jsonl
from kbassist.sources.policies import load_policy
from kbassist.sources.products import load_product_line
from kbassist.sources.scripts import load_scripts

__all__ = ["KnowledgeBase", "LoadError", "Problem", "load_knowledge_base"]

Loader = Callable[[Path, str], tuple[list[Entry], list[Problem]]]

# (folder, file suffix, loader): the layout PRODUCT.md documents.
LAYOUT: tuple[tuple[str, str, Loader], ...] = (
    ("faq", ".csv", load_faq_csv),
    ("faq", ".jsonl", load_faq_jsonl),
    ("policies", ".md", load_policy),
    ("products", ".yaml", load_product_line),
    ("products", ".yml", load_product_line),
    ("scripts", ".yaml", load_scripts),
    ("scripts", ".yml", load_scripts),
)
ANALYZER_FILES = ("dict/user_dict.txt", "dict/synonyms.txt", "dict/stopwords.txt")
# Agent-assist data a search uses (intent cues and examples, no-answer calibration, stage plans). A build
# copies them into the version folder, so serving and rollback use the data the version was built with.
SERVING_ASSIST_FILES = (
    "assist/intent_cues.yaml",
    "assist/utterances.jsonl",
    "assist/no_answer.json",
    "assist/stage_plans.yaml",
)


@dataclass
class KnowledgeBase:
    root: Path
    entries: list[Entry]
    problems: list[Problem]
    file_hashes: dict[str, str] = field(default_factory=dict)

    def by_kind(self, kind: Kind) -> list[Entry]:
        return [e for e in self.entries if e.kind is kind]

    def raise_for_problems(self) -> None:
        if self.problems:
            raise LoadError(self.problems)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def display_path(path: Path) -> str:
    """Paths as the admin typed them: relative to the working folder when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def source_files(root: Path) -> list[tuple[Path, Loader]]:
    found = []
    for folder, suffix, loader in LAYOUT:
        directory = root / folder
        if directory.is_dir():
            found += [(p, loader) for p in sorted(directory.rglob(f"*{suffix}")) if p.is_file()]
    return found


def load_knowledge_base(root: Path | str) -> KnowledgeBase:
    """Read every source file under ``root``; nothing stops at the first problem."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"知识库目录不存在：{root}")
    entries: list[Entry] = []
    problems: list[Problem] = []
    hashes: dict[str, str] = {}
    files = source_files(root)
    for path, loader in files:
        rel = path.relative_to(root).as_posix()
        hashes[rel] = _sha256(path)
        found, trouble = loader(path, display_path(path))
        entries += found
        problems += trouble
    for rel in (*ANALYZER_FILES, *SERVING_ASSIST_FILES):
        if (root / rel).is_file():
            hashes[rel] = _sha256(root / rel)
    if not files:
        problems.append(Problem(str(root), 0, "data", "没有找到任何知识文件（faq/、policies/、products/、scripts/）"))
    problems += check_references(entries)
    return KnowledgeBase(root=root, entries=entries, problems=sorted(problems), file_hashes=hashes)


def check_references(entries: list[Entry]) -> list[Problem]:
    """Checks across files: ids unique over the whole knowledge base, every link resolvable."""
    problems: list[Problem] = []
    first: dict[str, Entry] = {}
    for entry in entries:
        seen = first.get(entry.id)
        if seen is None:
            first[entry.id] = entry
            continue
        problems.append(
            Problem(
                entry.source.file,
                entry.source.line,
                "id",
                f"编号 {entry.id} 重复（已在 {seen.source.file}:{seen.source.line} 使用）",
            )
        )
    for entry in entries:
        for link in entry.links:
            if link not in first:
                problems.append(Problem(entry.source.file, entry.source.line, "links", f"关联的编号 {link} 不存在"))
    return problems
