#!/usr/bin/env python3
"""Build benchmark: one ``build_index`` of a knowledge base, timed per stage, with peak memory and size.

    .venv/bin/python benchmarks/bench_build.py --source benchmarks/out/kb-10000/data \\
        --root benchmarks/out/kb-10000/index --dense flat --json benchmarks/out/kb-10000/build-flat.json

Run once per dense index kind, each in its own process, so that the peak RSS is that build's. The
embedding cache is normally full (``embed_cache.py`` filled it, logging its rate); the build then only
looks vectors up, and the embedding rate reported is (a) the logged rate of the run that embedded them
and (b) a fresh sample embedded now, outside the cache, to show the rate under the current load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import folder_mib, load_average, machine, now, peak_rss_mib, summary, write_json

from kbassist.dense import make_embedder
from kbassist.index import EmbeddingCache, build_index, dense_texts, text_hash
from kbassist.schema import Kind
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base


def pauses(path: Path) -> list[tuple[datetime, datetime]]:
    """When the embedding job was stopped on purpose (``embed_pauses.jsonl`` next to its log)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            out.append((datetime.fromisoformat(record["stopped"]), datetime.fromisoformat(record["resumed"])))
    return out


def embed_log_summary(path: Path) -> dict[str, Any]:
    """The rate of the run(s) that filled the cache, per text group; chunks that overlap a pause of the job
    are left out (their seconds include the pause) and counted."""
    if not path.is_file():
        return {}
    stopped = pauses(path.with_name("embed_pauses.jsonl"))
    groups: dict[str, dict[str, Any]] = {}
    excluded = {"chunks": 0, "texts": 0}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        end = datetime.fromisoformat(record["at"])
        start = end - timedelta(seconds=record["seconds"] + 1)  # "at" has whole seconds
        if any(start <= resumed and stop <= end for stop, resumed in stopped):
            excluded["chunks"] += 1
            excluded["texts"] += record["texts"]
            continue
        group = groups.setdefault(
            record["group"], {"texts": 0, "chars": 0, "seconds": 0.0, "loads": [], "first": record["at"]}
        )
        group["texts"] += record["texts"]
        group["chars"] += record["chars"]
        group["seconds"] += record["seconds"]
        group["loads"].append(record["load_1m_before"])
        group["last"] = record["at"]
    out = {}
    for name, group in groups.items():
        loads = group.pop("loads")
        out[name] = {
            **group,
            "seconds": round(group["seconds"], 1),
            "texts_per_s": round(group["texts"] / group["seconds"], 1) if group["seconds"] else None,
            "mean_chars": round(group["chars"] / group["texts"], 1) if group["texts"] else None,
            "load_1m": {"min": min(loads), "median": float(np.median(loads)), "max": max(loads)},
        }
    if excluded["chunks"]:
        out["excluded_paused_chunks"] = excluded
    return out


def fresh_sample(entries: list[Any], embedder: Any, batch: int, faq_n: int, other_n: int) -> dict[str, Any]:
    """Embed a spread sample of texts now (the model does not know about the cache)."""
    faq = [t for e in entries if e.kind is Kind.FAQ for t in dense_texts(e)]
    other = [t for e in entries if e.kind is not Kind.FAQ for t in dense_texts(e)]
    out = {}
    for name, texts, n in (("faq_question", faq, faq_n), ("title_and_text", other, other_n)):
        if not texts or n <= 0:
            continue
        step = max(1, len(texts) // n)
        sample = texts[::step][:n]
        load = load_average()
        tick = time.perf_counter()
        for start in range(0, len(sample), batch):
            embedder.embed_passages(sample[start : start + batch])
        seconds = time.perf_counter() - tick
        out[name] = {
            "texts": len(sample),
            "mean_chars": round(float(np.mean([len(t) for t in sample])), 1),
            "seconds": round(seconds, 2),
            "texts_per_s": round(len(sample) / seconds, 1),
            "load_1m": [load, load_average()],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True, help="index root (with the filled cache/)")
    parser.add_argument("--dense", choices=["flat", "hnsw"], default="flat")
    parser.add_argument("--switch", action="store_true", help="point `current` at the new version")
    parser.add_argument("--sample", type=int, default=256, help="FAQ questions in the fresh embedding sample")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)

    settings = Settings(dense_index=args.dense)
    started_load = load_average()
    tick = time.perf_counter()
    kb = load_knowledge_base(args.source)
    kb.raise_for_problems()
    load_seconds = time.perf_counter() - tick
    embedder = make_embedder(settings)
    cache = EmbeddingCache(args.root / "cache", embedder.model_id, embedder.dim)
    texts = {text_hash(t) for e in kb.entries for t in dense_texts(e)}
    cached_before = sum(1 for h in texts if h in cache.rows)
    del cache

    report = build_index(kb, args.root, settings, embedder, switch=args.switch)
    n = len(kb.entries)
    seconds = {k: round(v, 2) for k, v in report.seconds.items()}
    result = {
        "measured_at": now(),
        "machine": machine(),
        "dense_index": args.dense,
        "version": report.version,
        "path": str(report.path),
        "counts": {**report.counts, "distinct_dense_texts": len(texts)},
        "load_knowledge_base_s": round(load_seconds, 2),
        "seconds": seconds,
        "entries_per_s": {
            "analyze": round(n / report.seconds["analyze"], 1),
            "bm25": round(n / report.seconds["bm25"], 1),
            "faiss": round(n / report.seconds["faiss"], 1) if report.seconds["faiss"] else None,
        },
        "embedding": {
            "texts_cached_before": cached_before,
            "texts_embedded_in_build": report.embedded,
            "build_embed_step_s": seconds["embed"],
            "cache_fill_log": embed_log_summary(args.root / "embed_log.jsonl"),
        },
        "disk_mib": {
            "version_folder": folder_mib(report.path),
            "largest_files": {
                p.name: round(p.stat().st_size / 1024**2, 1)
                for p in sorted(report.path.iterdir(), key=lambda p: -p.stat().st_size)[:6]
                if p.is_file()
            },
            "embedding_cache": folder_mib(args.root / "cache"),
        },
        "peak_rss_mib_build": peak_rss_mib(),
        "load_1m": [started_load, load_average()],
    }
    result["embedding"]["fresh_sample"] = fresh_sample(
        kb.entries, embedder, settings.embed_batch_size, args.sample, max(1, args.sample // 4)
    )
    result["keys_per_entry"] = summary(len(e.keys) for e in kb.entries if e.kind is Kind.FAQ)
    write_json(args.json, result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
