#!/usr/bin/env python3
"""Fill an index root's embedding cache for a knowledge base, in chunks that survive an interruption.

    nohup .venv/bin/python benchmarks/embed_cache.py --source benchmarks/out/kb-100000/data \\
        --out benchmarks/out/kb-100000/index > benchmarks/out/kb-100000/embed.out 2>&1 &

``kbassist build`` embeds every missing text and writes the cache once, at the end: at 100,000 entries
(about 350,000 texts, hours on 2 cores) an interruption would lose everything. This embeds the same texts
(``kbassist.index.dense_texts``) with the same embedder and saves the cache every ``--save-every`` seconds,
so a later build finds them all and a re-run continues where it stopped. Each chunk's size, characters,
seconds and load average go to ``<out>/embed_log.jsonl``: that is the embedding rate the benchmark reports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from kbassist.dense import make_embedder
from kbassist.index import EmbeddingCache, dense_texts, text_hash
from kbassist.schema import Kind
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="knowledge base folder")
    parser.add_argument("--out", type=Path, required=True, help="index root (its cache/ is filled)")
    parser.add_argument("--chunk", type=int, default=256, help="texts per logged chunk")
    parser.add_argument("--save-every", type=float, default=600, help="seconds between cache saves")
    parser.add_argument("--limit", type=int, default=0, help="embed at most this many texts (0: all)")
    args = parser.parse_args(argv)

    settings = Settings()
    kb = load_knowledge_base(args.source)
    kb.raise_for_problems()
    embedder = make_embedder(settings)
    cache = EmbeddingCache(args.out / "cache", embedder.model_id, embedder.dim)
    if cache.problem:
        print(cache.problem, file=sys.stderr)
    # FAQ questions and the longer texts separately: their rates differ by an order of magnitude.
    texts: dict[str, tuple[str, str]] = {}
    for entry in kb.entries:
        group = "faq_question" if entry.kind is Kind.FAQ else "title_and_text"
        for text in dense_texts(entry):
            texts.setdefault(text_hash(text), (text, group))
    missing = [h for h in texts if h not in cache.rows]
    if args.limit:
        missing = missing[: args.limit]
    print(f"{len(texts)} distinct texts, {len(texts) - len(missing)} cached, {len(missing)} to embed", flush=True)

    log_path = args.out / "embed_log.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    last_save = time.monotonic()
    done = 0
    with log_path.open("a", encoding="utf-8") as log:
        for group in ("faq_question", "title_and_text"):
            todo = [h for h in missing if texts[h][1] == group]
            for start in range(0, len(todo), args.chunk):
                chunk = todo[start : start + args.chunk]
                batch = [texts[h][0] for h in chunk]
                load = os.getloadavg()[0]
                tick = time.perf_counter()
                vectors = np.asarray(embedder.embed_passages(batch), dtype=np.float32)
                seconds = time.perf_counter() - tick
                for h, vector in zip(chunk, vectors, strict=True):
                    cache.rows[h] = vector
                done += len(chunk)
                record = {
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "group": group,
                    "texts": len(chunk),
                    "chars": sum(len(t) for t in batch),
                    "seconds": round(seconds, 3),
                    "load_1m_before": round(load, 2),
                    "load_1m_after": round(os.getloadavg()[0], 2),
                    "model": embedder.model_id,
                }
                log.write(json.dumps(record) + "\n")
                log.flush()
                if time.monotonic() - last_save > args.save_every:
                    cache.save(cache.rows.keys())
                    last_save = time.monotonic()
                    print(f"{done}/{len(missing)} embedded, cache saved", flush=True)
    cache.save(cache.rows.keys())
    print(f"done: {done} embedded, cache has {len(cache.rows)} vectors", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
