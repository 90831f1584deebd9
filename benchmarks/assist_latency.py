"""What the agent-assist layer adds to a search: intent/emotion classification, the no-answer confidence
and situation-aware script selection, per query, over the dev questions.

    .venv/bin/python benchmarks/assist_latency.py --index index [--repeat 3]

The query vectors are computed once up front (the search has them already: classification reuses the
vector, it never calls the model), so the numbers are the classification itself. Also reported: the
``intent`` and ``scripts`` steps as timed inside ``Searcher.search`` and the whole search, for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from kbassist.evaluate import load_questions
from kbassist.search import Searcher
from kbassist.settings import Settings


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 4),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 4),
        "max_ms": round(ordered[-1], 4),
    }


def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=settings.index_dir)
    parser.add_argument("--queries", type=Path, default=settings.data_dir / "eval" / "questions.jsonl")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    searcher = Searcher.open(args.index, settings)
    assert searcher.intents is not None, f"{settings.assist_folder} 下没有 intent_cues.yaml"
    queries = [q.query for q in load_questions(args.queries)]
    vectors = searcher.embedder.embed_queries(queries)

    classify: list[float] = []
    for _ in range(args.repeat):
        for query, vector in zip(queries, vectors, strict=True):
            tick = time.perf_counter()
            searcher.intents.classify(query, vector)
            classify.append((time.perf_counter() - tick) * 1000)

    steps: dict[str, list[float]] = {"intent": [], "scripts": [], "total": []}
    for query in queries:  # the query cache holds nothing for these yet: "total" includes the embedding
        result = searcher.search(query, top_k=5)
        for step in steps:
            steps[step].append(result.timings[step])

    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "index_version": searcher.version,
        "model": searcher.embedder.model_id,
        "queries": len(queries),
        "classify_only": summary(classify),
        "in_search": {step: summary(values) for step, values in steps.items()},
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
