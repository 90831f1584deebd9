"""Retrieval metrics, cross-checked against ranx, and the TREC run format."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kbassist.evaluate import METRICS, compute_metrics, evaluate, load_questions, score_question, write_trec_run
from kbassist.sources import LoadError


def test_hand_computed_question() -> None:
    scores = score_question(["a", "x", "b", "y"], {"b", "a", "c"})
    assert scores["recall@1"] == pytest.approx(1 / 3)
    assert scores["recall@5"] == pytest.approx(2 / 3)
    assert scores["mrr@10"] == 1.0
    import math

    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert scores["ndcg@10"] == pytest.approx(dcg / idcg)


def test_metrics_match_ranx_on_random_runs() -> None:
    ranx = pytest.importorskip("ranx")
    rng = random.Random(3)
    docs = [f"d{i}" for i in range(40)]
    qrels = {f"q{i}": set(rng.sample(docs, rng.randint(1, 4))) for i in range(60)}
    run = {
        qid: [(doc, float(100 - rank)) for rank, doc in enumerate(rng.sample(docs, rng.randint(3, 30)))]
        for qid in qrels
    }
    ours = compute_metrics(run, qrels)
    theirs = ranx.evaluate(
        ranx.Qrels({q: dict.fromkeys(rel, 1) for q, rel in qrels.items()}),
        ranx.Run({q: dict(ranked) for q, ranked in run.items()}),
        ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"],
    )
    for metric in METRICS:
        assert ours[metric] == pytest.approx(theirs[metric], abs=1e-9), metric


def test_unanswerable_questions_are_not_averaged() -> None:
    metrics = compute_metrics({"q1": [("a", 1.0)], "q2": [("b", 1.0)]}, {"q1": {"a"}, "q2": set()})
    assert metrics["mrr@10"] == 1.0


def test_load_questions_and_qid_defaults(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"qid": "a1", "query": "退款多久到", "relevant_ids": ["faq-1"]}\n\n{"query": "没有答案的问题", "relevant_ids": []}\n',
        encoding="utf-8",
    )
    questions = load_questions(path)
    assert [(q.qid, q.answerable) for q in questions] == [("a1", True), ("3", False)]


def test_bad_question_file(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"qid": "a", "query": ""}\n{oops\n{"qid": "b", "query": "x", "relevant_ids": "faq"}\n')
    with pytest.raises(LoadError) as info:
        load_questions(path)
    assert [str(p).split(": ", 1)[1] for p in info.value.problems] == [
        "query: 缺少问题文本",
        "json: JSON 格式错误（第 2 列）：Expecting property name enclosed in double quotes",
        "relevant_ids: 应为编号列表",
    ]


def test_evaluate_writes_trec_runs(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"qid": "q1", "query": "x", "relevant_ids": ["b"]}\n', encoding="utf-8")
    report = evaluate(lambda q, mode, day: [("a", 2.0), ("b", 1.0)], load_questions(path), ["bm25"], run_dir=tmp_path)
    assert report.metrics["bm25"]["mrr@10"] == 0.5
    assert (tmp_path / "bm25.run").read_text().splitlines() == [
        "q1 Q0 a 1 2.000000 kbassist-bm25",
        "q1 Q0 b 2 1.000000 kbassist-bm25",
    ]


def test_trec_run_depth(tmp_path: Path) -> None:
    write_trec_run(tmp_path / "r.run", {"q": [(f"d{i}", float(-i)) for i in range(150)]}, "t")
    assert len((tmp_path / "r.run").read_text().splitlines()) == 100
