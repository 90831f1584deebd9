"""The search's shortcuts for large knowledge bases give exactly what the straightforward way gives.

Script selection no longer walks every script for every question (it memoises the situation's scenario
scripts per stage and stops a stage once nothing more can be kept); a filtered dense search passes a
bitmap of the allowed rows to FAISS; whether a hit contains a query word is one search over the word's
key postings. These tests compare each with the plain way.
"""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kbassist.bm25 import BM25Params, FieldedBM25
from kbassist.dense import DenseIndex
from kbassist.index import build_index
from kbassist.schema import EMOTIONS, INTENTS
from kbassist.scripts import choose_plan, linked_scripts, order_by_stage, scenario_scripts
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from tests.conftest import FakeEmbedder

DAYS = [date(2023, 1, 1), date(2025, 6, 1), date(2026, 11, 22), date(2031, 1, 1)]
QUESTIONS = [
    "退款多久到账",
    "你们这什么破服务！退款半个月了还没到！",
    "发票怎么开",
    "空调安装要收费吗",
    "燃气热水器哪款好",
]


def plain_selection(searcher: Searcher, hits, as_of, intent, emotion, no_good_answer, per_stage):  # type: ignore[no-untyped-def]
    """select_scripts written plainly: every candidate filtered, then ordered by stage. With linked
    scripts, scenario scripts only from the linked scripts' scenarios and the plan's own scenarios."""
    linked = [] if no_good_answer else linked_scripts([h.entry for h in hits[:3]], searcher._scripts_by_link)
    wanted = intent is not None or no_good_answer
    plan = choose_plan(searcher.stage_plans, intent, emotion, no_good_answer)
    scenario = scenario_scripts(searcher._scripts, intent, emotion, no_good_answer) if wanted else []
    topic = [s.scenario for s, _ in linked if s.scenario]
    if topic:
        allowed = [*topic, *plan.scenarios]
        scenario = sorted(
            ((s, r) for s, r in scenario if s.scenario in allowed), key=lambda c: allowed.index(c[0].scenario)
        )
    valid = [(s, r) for s, r in [*linked, *scenario] if s.is_valid_on(as_of)]
    return order_by_stage(valid, per_stage, None, stages=plan.stages)


def situations():  # type: ignore[no-untyped-def]
    yield None, None
    yield from itertools.product(INTENTS, EMOTIONS)


def check_every_situation(searcher: Searcher) -> int:
    compared = 0
    per_stage = searcher.settings.scripts_per_stage
    for question in QUESTIONS:
        hits = searcher.search(question, top_k=5).hits
        for (intent, emotion), no_good_answer, as_of in itertools.product(situations(), (False, True), DAYS):
            classification = (
                None
                if intent is None
                else SimpleNamespace(intent=SimpleNamespace(label=intent), emotion=SimpleNamespace(label=emotion))
            )
            got = searcher.select_scripts(hits, as_of, None, classification, no_good_answer)  # type: ignore[arg-type]
            expected = plain_selection(searcher, hits, as_of, intent, emotion, no_good_answer, per_stage)
            assert [(s.entry.id, s.reason) for s in got] == [(s.entry.id, s.reason) for s in expected], (
                question,
                intent,
                emotion,
                no_good_answer,
                as_of,
            )
            compared += 1
    return compared


@pytest.mark.parametrize("per_stage", [1, 2, 5])
def test_script_selection_matches_the_plain_formula(tiny_kb_dir: Path, tmp_path: Path, per_stage: int) -> None:
    settings = Settings(index_dir=tmp_path / "index", scripts_per_stage=per_stage)
    build_index(load_knowledge_base(tiny_kb_dir), settings.index_dir, settings, FakeEmbedder())
    searcher = Searcher.open(settings.index_dir, settings, FakeEmbedder())
    assert check_every_situation(searcher) > 0


@pytest.mark.slow
def test_script_selection_matches_the_plain_formula_on_the_real_data(real_searcher: Searcher) -> None:
    assert len(real_searcher._scripts) > 100
    assert check_every_situation(real_searcher) > 0


def test_the_scenario_memo_is_per_situation(tiny_searcher: Searcher) -> None:
    first = tiny_searcher._scenario_by_stage("投诉", "愤怒", False)
    assert tiny_searcher._scenario_by_stage("投诉", "愤怒", False) is first
    assert tiny_searcher._scenario_by_stage("投诉", "愤怒", True) is not first


def brute_force(vectors, row_entry, query, depth, allowed_rows):  # type: ignore[no-untyped-def]
    """Best row per entry among the allowed rows, best entries first."""
    scores = vectors @ query
    best: dict[int, float] = {}
    for row in np.flatnonzero(allowed_rows):
        entry = int(row_entry[row])
        best[entry] = max(best.get(entry, -np.inf), float(scores[row]))
    return [e for e, _ in sorted(best.items(), key=lambda item: -item[1])[:depth]]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
@pytest.mark.parametrize("as_mask", [True, False])
def test_filtered_dense_search_returns_only_allowed_rows(kind: str, as_mask: bool) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((600, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    row_entry = np.repeat(np.arange(200), 3)  # three rows per entry, like an FAQ's questions
    index = DenseIndex.build(vectors, row_entry, 200, kind=kind, hnsw_m=16)
    allowed = rng.random(600) < 0.3
    for query in vectors[:20]:
        rows = allowed if as_mask else np.flatnonzero(allowed)
        entries, scores = index.search(query, 10, rows, ef_search=200)
        assert len(entries) == 10 and list(scores) == sorted(scores, reverse=True)
        allowed_entries = set(row_entry[allowed].tolist())
        assert set(entries.tolist()) <= allowed_entries
        if kind == "flat":  # exact: the same entries as brute force over the allowed rows
            assert entries.tolist() == brute_force(vectors, row_entry, query, 10, allowed)


def test_filtered_dense_search_with_nothing_allowed_returns_nothing() -> None:
    vectors = np.eye(8, dtype=np.float32)
    index = DenseIndex.build(vectors, np.arange(8), 8)
    entries, _ = index.search(vectors[0], 5, np.zeros(8, dtype=bool))
    assert len(entries) == 0


def test_entry_has_term_matches_the_entry_s_own_tokens() -> None:
    """One search over the term's key postings answers for all of an entry's keys at once."""
    rng = np.random.default_rng(5)
    n_terms = 40
    entry_keys = [
        [list(rng.integers(0, n_terms, rng.integers(0, 6))) for _ in range(rng.integers(1, 6))] for _ in range(120)
    ]
    bodies = [list(rng.integers(0, n_terms, rng.integers(0, 8))) for _ in range(120)]
    fielded = FieldedBM25.fit(entry_keys, bodies, n_terms, BM25Params(), 1.0, 0.5)
    for entry, (keys, body) in enumerate(zip(entry_keys, bodies, strict=True)):
        own = {int(t) for key in keys for t in key} | {int(t) for t in body}
        for term in range(-1, n_terms + 1):
            assert fielded.entry_has_term(entry, term) == (term in own), (entry, term)


def test_a_dense_search_leaves_the_thread_s_faiss_threads_as_they_were() -> None:
    from kbassist.dense import faiss

    vectors = np.eye(8, dtype=np.float32)
    index = DenseIndex.build(vectors, np.arange(8), 8)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        entries, _ = index.search(vectors[3], 3)
        assert entries[0] == 3
        assert faiss.omp_get_max_threads() == 2
    finally:
        faiss.omp_set_num_threads(before)


@pytest.mark.parametrize(("min_rows", "expected"), [(1, "hnsw"), (1_000_000, "flat")])
def test_auto_dense_index_is_hnsw_only_for_large_indexes(
    tiny_kb_dir: Path, tmp_path: Path, min_rows: int, expected: str
) -> None:
    settings = Settings(index_dir=tmp_path / "index", dense_index="auto", hnsw_min_rows=min_rows)
    report = build_index(load_knowledge_base(tiny_kb_dir), settings.index_dir, settings, FakeEmbedder())
    searcher = Searcher.open(settings.index_dir, settings, FakeEmbedder())
    assert searcher.data.manifest["dense"]["index"] == expected
    assert type(searcher.data.dense.index).__name__ == {"hnsw": "IndexHNSWFlat", "flat": "IndexFlatIP"}[expected]
    assert report.counts["dense_rows"] >= 1
    assert searcher.search("退款多久能到账", top_k=3).hits


def test_explicit_dense_index_kinds_are_kept() -> None:
    from kbassist.index import dense_index_kind

    assert dense_index_kind(Settings(dense_index="flat", hnsw_min_rows=1), 10**6) == "flat"
    assert dense_index_kind(Settings(dense_index="hnsw"), 1) == "hnsw"
    assert dense_index_kind(Settings(dense_index="auto"), 49_999) == "flat"
    assert dense_index_kind(Settings(dense_index="auto"), 50_000) == "hnsw"
