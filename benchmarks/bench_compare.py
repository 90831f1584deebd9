#!/usr/bin/env python3
"""Side by side on one index: our BM25 stage against rank-bm25, FAISS flat against HNSW.

    .venv/bin/python benchmarks/bench_compare.py --flat <flat version folder> --hnsw <hnsw version folder> \\
        --questions benchmarks/out/kb-100000/questions.jsonl --json benchmarks/out/kb-100000/compare.json

BM25: rank-bm25's ``BM25Okapi`` over exactly the tokens our index was built from (every entry's keys and
body analysed again with the index's own analyzer), with the same k1, b and epsilon, one model per field
as ours (keys, body), combined as ours (best key per entry, weighted body) and cut to the same candidate
depth. The two must give the same scores (checked, the largest difference is reported). rank-bm25 loops
over every document in Python for every query term, so it is timed on a sample of questions
(``--bm25-sample``, 50 by default); ours on the same sample and on all questions.

Dense: the same query vectors searched through ``DenseIndex.search`` (the search's own code path, at the
search's candidate depth) on the flat and on the HNSW version; recall@10 and recall@100 of HNSW are the
share of flat's entries it also returns; latency per query.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import load_average, machine, now, read_questions, rss_mib, summary, write_json
from rank_bm25 import BM25Okapi

from kbassist.index import body_text, load_index
from kbassist.settings import Settings


def top(scores: np.ndarray, depth: int) -> np.ndarray:
    """The search's candidate selection (Searcher._bm25 without filters)."""
    candidates = np.flatnonzero(scores > 0)
    if len(candidates) > depth:
        candidates = candidates[np.argpartition(-scores[candidates], depth - 1)[:depth]]
    return candidates[np.lexsort((candidates, -scores[candidates]))]


def compare_bm25(version: Path, questions: list[str], sample: int, settings: Settings) -> dict[str, Any]:
    data = load_index(version, settings)
    analyzer, vocab, ours = data.analyzer, data.vocab, data.bm25
    depth = settings.candidates
    tick = time.perf_counter()
    key_docs: list[list[str]] = []
    key_offsets: list[int] = []
    body_docs: list[list[str]] = []
    for entry in data.entries:
        key_offsets.append(len(key_docs))
        key_docs += [analyzer.terms(key) for key in entry.match_keys()]
        body_docs.append(analyzer.terms(body_text(entry)))
    analyse_s = time.perf_counter() - tick
    memory_before = rss_mib()
    tick = time.perf_counter()
    params = {"k1": settings.bm25_k1, "b": settings.bm25_b, "epsilon": settings.bm25_epsilon}
    rank_keys, rank_body = BM25Okapi(key_docs, **params), BM25Okapi(body_docs, **params)
    fit_s = time.perf_counter() - tick
    memory_after = rss_mib()
    offsets = np.asarray(key_offsets)

    rng = random.Random(11)
    chosen = rng.sample(questions, min(sample, len(questions)))
    analysed = [analyzer.terms(q) for q in chosen]
    rank_ms: list[float] = []
    ours_ms: list[float] = []
    worst = 0.0
    same_top = 0
    for terms in analysed:
        tick = time.perf_counter()
        theirs = settings.key_weight * np.maximum.reduceat(rank_keys.get_scores(terms), offsets)
        theirs = theirs + settings.body_weight * rank_body.get_scores(terms)
        their_top = top(theirs, depth)
        rank_ms.append((time.perf_counter() - tick) * 1000)
        tick = time.perf_counter()
        mine = ours.scores([vocab[t] for t in terms if t in vocab])
        my_top = top(mine, depth)
        ours_ms.append((time.perf_counter() - tick) * 1000)
        worst = max(worst, float(np.max(np.abs(theirs - mine))) if len(mine) else 0.0)
        same_top += bool(np.array_equal(their_top[:10], my_top[:10]))
    all_ms: list[float] = []
    for question in questions:
        terms = analyzer.terms(question)
        tick = time.perf_counter()
        top(ours.scores([vocab[t] for t in terms if t in vocab]), depth)
        all_ms.append((time.perf_counter() - tick) * 1000)
    ours_summary, rank_summary = summary(ours_ms), summary(rank_ms)
    return {
        "entries": len(data.entries),
        "depth": depth,
        "key_documents": len(key_docs),
        "body_documents": len(body_docs),
        "reanalyse_s": round(analyse_s, 1),
        "rank_bm25_fit_s": round(fit_s, 1),
        "rank_bm25_rss_mib": {"before_fit": memory_before, "after_fit": memory_after},
        "sample_questions": len(chosen),
        "rank_bm25_ms": rank_summary,
        "ours_ms_same_sample": ours_summary,
        "ours_ms_all_questions": summary(all_ms),
        "speedup_p50": round(float(rank_summary["p50"]) / float(ours_summary["p50"]), 1),
        "speedup_mean": round(float(rank_summary["mean"]) / float(ours_summary["mean"]), 1),
        "max_abs_score_difference": worst,
        "same_top10_order": f"{same_top}/{len(chosen)}",
    }


def compare_dense(flat: Path, hnsw: Path, questions: list[str], settings: Settings) -> dict[str, Any]:
    from kbassist.dense import make_embedder

    embedder = make_embedder(settings)
    tick = time.perf_counter()
    vectors = np.concatenate([embedder.embed_queries(questions[i : i + 64]) for i in range(0, len(questions), 64)])
    embed_s = time.perf_counter() - tick
    depth = settings.candidates
    out: dict[str, Any] = {
        "questions": len(questions),
        "query_embedding_batch64_s": round(embed_s, 1),
        "depth": depth,
        "rows_asked": depth * 4,
    }
    results: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, folder in (("flat", flat), ("hnsw", hnsw)):
        data = load_index(folder, settings)
        dense = data.dense
        dense.search(vectors[0], depth, ef_search=settings.hnsw_ef_search)  # page the index in
        latencies, found, load_before = timed_searches(dense, vectors, depth, settings.hnsw_ef_search)
        results[name] = found
        out[name] = {
            "index": type(dense.index).__name__,
            "rows": int(dense.index.ntotal),
            "latency_ms": summary(latencies),
            "load_1m": [load_before, load_average()],
            "manifest_dense": data.manifest.get("dense"),
        }
        if name == "hnsw":
            out[name].update(recall_vs_flat(results["flat"], found, (10, depth)))
            # What a wider search buys: KBASSIST_HNSW_EF_SEARCH (FAISS searches at least the rows asked).
            sweep = []
            for ef in (800, 1600):
                lat, got, before = timed_searches(dense, vectors, depth, ef)
                sweep.append(
                    {"ef_search": ef, "latency_ms": summary(lat), "load_1m": [before, load_average()]}
                    | recall_vs_flat(results["flat"], got, (10, depth))
                )
            out["hnsw_ef_sweep"] = sweep
    return out


def timed_searches(
    dense: Any, vectors: np.ndarray, depth: int, ef_search: int
) -> tuple[list[float], list[tuple[np.ndarray, np.ndarray]], float]:
    latencies, found, load_before = [], [], load_average()
    for vector in vectors:
        tick = time.perf_counter()
        entries, scores = dense.search(vector, depth, ef_search=ef_search)
        latencies.append((time.perf_counter() - tick) * 1000)
        found.append((entries, scores))
    return latencies, found, load_before


def recall_vs_flat(
    flat: list[tuple[np.ndarray, np.ndarray]], approx: list[tuple[np.ndarray, np.ndarray]], ks: tuple[int, ...]
) -> dict[str, float]:
    """Share of flat's top k that the approximate search returns, by entry id; and counting ties: a
    returned entry whose cosine is at least flat's k-th (entries with identical texts tie exactly, and
    which of them an exact search returns is arbitrary)."""
    out = {}
    for k in ks:
        by_id, with_ties = [], []
        for (f_ids, f_scores), (a_ids, a_scores) in zip(flat, approx, strict=True):
            want = max(1, min(k, len(f_ids)))
            by_id.append(len(set(a_ids[:k].tolist()) & set(f_ids[:k].tolist())) / want)
            with_ties.append(float(np.sum(a_scores[:k] >= f_scores[want - 1] - 1e-6)) / want)
        out[f"recall@{k}_vs_flat"] = round(float(np.mean(by_id)), 4)
        out[f"recall@{k}_vs_flat_ties"] = round(float(np.mean(with_ties)), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flat", type=Path, required=True, help="version folder built with dense_index=flat")
    parser.add_argument("--hnsw", type=Path, help="version folder built with dense_index=hnsw")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--bm25-sample", type=int, default=50)
    parser.add_argument("--skip-bm25", action="store_true")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)

    settings = Settings()
    questions = [q["query"] for q in read_questions(args.questions)]
    result: dict[str, Any] = {"measured_at": now(), "machine": machine(), "load_1m_start": load_average()}
    if not args.skip_bm25:
        result["bm25"] = compare_bm25(args.flat, questions, args.bm25_sample, settings)
        result["bm25"]["load_1m_end"] = load_average()
        print(json.dumps(result["bm25"], ensure_ascii=False, indent=2), flush=True)
    if args.hnsw:
        result["dense"] = compare_dense(args.flat, args.hnsw, questions, settings)
        print(json.dumps(result["dense"], ensure_ascii=False, indent=2), flush=True)
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
