"""Retrieval quality on labelled questions: Recall@1/5/10, MRR@10, nDCG@10, and TREC run files."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from kbassist.sources.common import LoadError, Problem, read_json_lines

Run = Mapping[str, Sequence[tuple[str, float]]]  # qid -> [(entry id, score)], best first
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


@dataclass(frozen=True)
class Question:
    qid: str
    query: str
    relevant_ids: tuple[str, ...]
    tags: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.relevant_ids)


def load_questions(path: Path) -> list[Question]:
    """One JSON object per line: {"qid"?, "query", "relevant_ids": [...], "tags"?}; qid defaults to the line."""
    questions: list[Question] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, data in read_json_lines(path, str(path), problems):
        query = str(data.get("query") or "").strip()
        if not query:
            problems.append(Problem(str(path), number, "query", "缺少问题文本"))
            continue
        relevant = data.get("relevant_ids", [])
        if not isinstance(relevant, list):
            problems.append(Problem(str(path), number, "relevant_ids", "应为编号列表"))
            continue
        qid = str(data.get("qid") or number)
        if qid in seen:
            problems.append(Problem(str(path), number, "qid", f"qid {qid} 重复"))
            continue
        seen.add(qid)
        questions.append(Question(qid, query, tuple(map(str, relevant)), tuple(data.get("tags") or ())))
    if problems:
        raise LoadError(problems)
    return questions


def _dcg(gains: Iterable[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def score_question(ranked: Sequence[str], relevant: set[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = len(relevant & set(ranked[:k])) / len(relevant)
    first = next((i for i, doc in enumerate(ranked[:10]) if doc in relevant), None)
    out["mrr@10"] = 0.0 if first is None else 1.0 / (first + 1)
    ideal = _dcg([1.0] * min(len(relevant), 10))
    out["ndcg@10"] = _dcg([1.0 if doc in relevant else 0.0 for doc in ranked[:10]]) / ideal
    return out


def compute_metrics(run: Run, qrels: Mapping[str, set[str]]) -> dict[str, float]:
    """Mean of each metric over the questions that have at least one relevant entry."""
    judged = [qid for qid, relevant in qrels.items() if relevant]
    totals = dict.fromkeys(METRICS, 0.0)
    for qid in judged:
        ranked = [doc for doc, _ in run.get(qid, ())]
        for name, value in score_question(ranked, qrels[qid]).items():
            totals[name] += value
    return {name: (value / len(judged) if judged else 0.0) for name, value in totals.items()}


def write_trec_run(path: Path, run: Run, tag: str, depth: int = 100) -> None:
    """TREC format: ``qid Q0 docid rank score tag``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for qid, ranked in run.items():
            for rank, (doc, score) in enumerate(ranked[:depth], start=1):
                handle.write(f"{qid} Q0 {doc} {rank} {score:.6f} {tag}\n")


@dataclass
class EvalReport:
    questions: int
    judged: int
    metrics: dict[str, dict[str, float]]  # mode -> metric -> value
    runs: dict[str, dict[str, list[tuple[str, float]]]]


def evaluate(
    rank: Callable[[str, str, date | None], list[tuple[str, float]]],
    questions: Sequence[Question],
    modes: Sequence[str],
    as_of: date | None = None,
    run_dir: Path | None = None,
    progress: Callable[[Iterable[Question]], Iterable[Question]] = lambda qs: qs,
) -> EvalReport:
    """``rank(query, mode, as_of)`` returns the ranked (entry id, score) list for one question."""
    qrels = {q.qid: set(q.relevant_ids) for q in questions}
    runs: dict[str, dict[str, list[tuple[str, float]]]] = {}
    metrics: dict[str, dict[str, float]] = {}
    for mode in modes:
        run = {q.qid: rank(q.query, mode, as_of) for q in progress(questions)}
        runs[mode] = run
        metrics[mode] = compute_metrics(run, qrels)
        if run_dir is not None:
            write_trec_run(run_dir / f"{mode}.run", run, f"kbassist-{mode}")
    return EvalReport(len(questions), sum(1 for q in questions if q.answerable), metrics, runs)
