"""Keeps the project's own knowledge base honest: volume, variety, links, 相似问 and 话术 wording."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from kbassist.schema import Kind, Stage
from kbassist.sources import KnowledgeBase, load_knowledge_base
from tests.conftest import DATA

WRITTEN_ON = date(2026, 11, 22)  # the day the sample knowledge base describes as "today"
BANNED_IN_SCRIPTS = re.compile(r"不行|不能|没办法|最|第一|100%|百分百|唯一|国家级")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base(DATA)


def test_loads_without_problems(kb: KnowledgeBase) -> None:
    assert kb.problems == [], "\n".join(map(str, kb.problems))


def test_products(kb: KnowledgeBase) -> None:
    models = [e for e in kb.by_kind(Kind.PRODUCT) if e.model]
    assert len(models) >= 40
    assert len({e.product_line for e in models}) >= 7
    assert all(e.specs for e in models)


def test_faq_volume_formats_and_similar_questions(kb: KnowledgeBase) -> None:
    faqs = kb.by_kind(Kind.FAQ)
    assert len(faqs) >= 300
    suffixes = Counter(Path(e.source.file).suffix for e in faqs)
    assert suffixes[".csv"] > 0 and suffixes[".jsonl"] > 0
    lacking = [e.id for e in faqs if not 2 <= len(e.similar_questions) <= 6]
    assert lacking == []
    categories = Counter(e.category for e in faqs)
    assert len(categories) >= 10


def test_policies(kb: KnowledgeBase) -> None:
    clauses = kb.by_kind(Kind.POLICY)
    documents = {e.source.policy_id: e for e in clauses}
    assert len(documents) >= 8 and len(clauses) >= 80
    assert any(e.effective_to and e.effective_to < WRITTEN_ON for e in documents.values()), "a superseded version"
    assert any(e.effective_from and e.effective_from > WRITTEN_ON for e in documents.values()), "a future version"


def test_scripts(kb: KnowledgeBase) -> None:
    scripts = kb.by_kind(Kind.SCRIPT)
    assert len(scripts) >= 60
    assert {s.stage for s in scripts} == set(Stage)
    assert len({s.scenario for s in scripts}) >= 8
    offending = [(s.id, BANNED_IN_SCRIPTS.findall(s.text)) for s in scripts if BANNED_IN_SCRIPTS.search(s.text)]
    assert offending == []


def test_every_link_resolves(kb: KnowledgeBase) -> None:
    ids = {e.id for e in kb.entries}
    missing = [(e.id, link) for e in kb.entries for link in e.links if link not in ids]
    assert missing == []
    assert sum(1 for e in kb.by_kind(Kind.SCRIPT) if e.links) >= 40


def test_labelled_questions(kb: KnowledgeBase) -> None:
    entries = {e.id: e for e in kb.entries}
    files = {
        name: [
            json.loads(line) for line in (DATA / "eval" / name).read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        for name in ("questions.jsonl", "holdout.jsonl")
    }
    dev, holdout = files["questions.jsonl"], files["holdout.jsonl"]
    assert len(dev) + len(holdout) >= 300
    assert 0.25 <= len(holdout) / (len(dev) + len(holdout)) <= 0.4
    for name, questions in files.items():
        assert len({q["qid"] for q in questions}) == len(questions), name
        for question in questions:
            for entry_id in question["relevant_ids"]:
                assert entry_id in entries, (name, question["qid"], entry_id)
                assert entries[entry_id].is_valid_on(WRITTEN_ON), (name, question["qid"], entry_id)
        unanswerable = sum(1 for q in questions if not q["relevant_ids"])
        assert unanswerable >= 0.05 * len(questions), name
