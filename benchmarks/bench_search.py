#!/usr/bin/env python3
"""In-process search benchmark: ``Searcher.search`` per mode, per stage, cold and warm query cache.

    .venv/bin/python benchmarks/bench_search.py --index benchmarks/out/kb-10000/index \\
        --questions benchmarks/out/kb-10000/questions.jsonl --json benchmarks/out/kb-10000/search.json

For each mode (bm25, dense, hybrid) the query-embedding cache starts empty and every question is asked
once ("cold": dense and hybrid embed each question); hybrid is then asked again ("warm": every query
vector comes from the cache, as for the questions agents repeat all day). Per stage, the timings are the
ones ``SearchResult.timings`` reports. ``--profile`` writes a pyinstrument profile of a hybrid pass.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_common import OUT, load_average, machine, now, read_questions, rss_mib, summary, write_json

from kbassist.dense import QueryCache
from kbassist.search import Searcher
from kbassist.settings import Settings

STAGES = ("analyze", "bm25", "embed", "faiss", "fuse", "intent", "scripts", "total")


def run_pass(searcher: Searcher, questions: Sequence[dict[str, Any]], mode: str) -> dict[str, Any]:
    timings: dict[str, list[float]] = {stage: [] for stage in STAGES}
    wall: list[float] = []
    found = {"top1": 0, "top5": 0, "labelled": 0}
    load_before = load_average()
    for question in questions:
        tick = time.perf_counter()
        result = searcher.search(question["query"], top_k=5, mode=mode)  # type: ignore[arg-type]
        wall.append((time.perf_counter() - tick) * 1000)
        for stage in STAGES:
            if stage in result.timings:
                timings[stage].append(result.timings[stage])
        relevant = set(question.get("relevant_ids") or [])
        if relevant:
            found["labelled"] += 1
            ids = [h.entry.id for h in result.hits]
            found["top1"] += bool(ids[:1] and ids[0] in relevant)
            found["top5"] += bool(relevant & set(ids))
    return {
        "mode": mode,
        "questions": len(questions),
        "stages_ms": {stage: summary(values) for stage, values in timings.items() if values},
        "wall_ms": summary(wall),
        "relevant_found": {
            "labelled": found["labelled"],
            "top1": round(found["top1"] / found["labelled"], 3) if found["labelled"] else None,
            "top5": round(found["top5"] / found["labelled"], 3) if found["labelled"] else None,
        },
        "load_1m": [load_before, load_average()],
        "query_cache": {"hits": searcher.queries.hits, "misses": searcher.queries.misses},
    }


def fresh_cache(searcher: Searcher) -> None:
    """An empty query-embedding cache: the next pass embeds every question."""
    searcher.queries = QueryCache(searcher.embedder, searcher.settings.query_cache_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="index root or version folder")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0, help="ask at most this many questions (0: all)")
    parser.add_argument("--modes", default="bm25,dense,hybrid")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile of a hybrid pass here (.txt)")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)

    questions = read_questions(args.questions)
    if args.limit:
        questions = questions[: args.limit]
    settings = Settings()
    memory_before = rss_mib()
    tick = time.perf_counter()
    searcher = Searcher.open(args.index, settings)
    open_seconds = time.perf_counter() - tick
    memory_open = rss_mib()
    searcher.search("预热", top_k=5)  # first call pays one-time imports and page faults

    result: dict[str, Any] = {
        "measured_at": now(),
        "machine": machine(),
        "index": str(searcher.data.path),
        "version": searcher.version,
        "entries": len(searcher.entries),
        "dense_rows": int(searcher.data.dense.index.ntotal),
        "dense_index": type(searcher.data.dense.index).__name__,
        "open_s": round(open_seconds, 2),
        "rss_mib": {"before_open": memory_before, "after_open": memory_open},
        "passes": [],
    }
    for mode in args.modes.split(","):
        fresh_cache(searcher)
        cold = run_pass(searcher, questions, mode)
        cold["query_cache_state"] = "cold" if mode != "bm25" else "n/a"
        result["passes"].append(cold)
        print(json.dumps({k: cold[k] for k in ("mode", "wall_ms", "load_1m")}, ensure_ascii=False), flush=True)
        if mode == "hybrid":
            warm = run_pass(searcher, questions, mode)
            warm["query_cache_state"] = "warm"
            result["passes"].append(warm)
            print(json.dumps({k: warm[k] for k in ("mode", "wall_ms", "load_1m")}, ensure_ascii=False), flush=True)
    result["rss_mib"]["after_search"] = rss_mib()

    if args.profile:
        from pyinstrument import Profiler

        fresh_cache(searcher)
        sample = questions[: min(len(questions), 400)]
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for question in sample:  # cold
            searcher.search(question["query"], top_k=5)
        for question in sample:  # warm
            searcher.search(question["query"], top_k=5)
        profiler.stop()
        args.profile.parent.mkdir(parents=True, exist_ok=True)
        header = (
            f"# pyinstrument: {len(sample)} hybrid searches with an empty query cache, then the same again "
            f"(cached)\n# index {searcher.version}, {len(searcher.entries)} entries; {now()}; "
            f"load average {load_average()}\n"
        )
        text = profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False)
        args.profile.write_text(header + text, encoding="utf-8")
        # The interactive HTML (megabytes) stays in the git-ignored benchmarks/out/.
        (OUT / f"{args.profile.stem}.html").write_text(profiler.output_html(), encoding="utf-8")
        result["profile"] = str(args.profile)

    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
