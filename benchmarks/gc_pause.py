#!/usr/bin/env python3
"""How long one full collection of Python's cyclic garbage collector takes with an index loaded.

    .venv/bin/python benchmarks/gc_pause.py --index benchmarks/out/kb-100000/index/versions/<version>

A full collection walks every tracked object; the service runs one now and then while a request waits.
This opens the index as the service does, times ``gc.collect()`` a few times, then ``gc.freeze()`` (what
``kbassist.api.state`` does after loading an index) and times it again.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from bench_common import load_average, machine, now, rss_mib, summary, write_json

from kbassist.search import Searcher
from kbassist.settings import Settings


def timed_collections(repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="an index root or version folder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)

    load_before = load_average()
    searcher = Searcher.open(args.index, Settings(index_dir=args.index))
    searcher.search("空调不制冷怎么办")  # load what the first search loads (model, caches)
    tracked = len(gc.get_objects())
    before = timed_collections(args.repeat)
    gc.freeze()
    after = timed_collections(args.repeat)
    result = {
        "measured_at": now(),
        "machine": machine(),
        "index_version": searcher.version,
        "entries": len(searcher.entries),
        "tracked_objects": tracked,
        "rss_mib": rss_mib(),
        "full_collection_ms": summary(before),
        "full_collection_ms_after_freeze": summary(after),
        "load_1m": [load_before, load_average()],
    }
    print(
        f"{result['entries']:,} entries, {tracked:,} tracked objects: gc.collect() median "
        f"{result['full_collection_ms']['p50']:.1f} ms, after gc.freeze() "
        f"{result['full_collection_ms_after_freeze']['p50']:.1f} ms (load {result['load_1m'][0]} → "
        f"{result['load_1m'][1]})"
    )
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
