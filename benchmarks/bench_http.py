#!/usr/bin/env python3
"""HTTP benchmark: one ``kbassist serve`` process, load at several concurrency levels from this process.

    .venv/bin/python benchmarks/bench_http.py --index benchmarks/out/kb-10000/index \\
        --questions benchmarks/out/kb-10000/questions.jsonl --json benchmarks/out/kb-10000/http.json

Reuses load_http.py (server start on a free loopback port with an agent key, the asyncio client, the
nearest-rank percentiles). Each level gets its own ``--distinct`` questions (disjoint from the other
levels'), each asked twice in a shuffled order, as in load_http.py's run A: about half the requests
embed a new question, the other half find it in the query cache. Then the concurrency-8 questions are
asked once more ("all cached"). The server's resident memory (now and peak) is read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_common import load_average, machine, now, read_questions, rss_mib, write_json
from load_http import free_port, launch, run_load, start_server

SHOWN = ("concurrency", "errors", "throughput_rps", "latency_ms")


def start_workers(
    index: Path, workdir: Path, env_extra: dict[str, str], workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn with several worker processes over the app factory (``kbassist serve`` runs one process)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "kbassist.api.app:create_app", "--factory", "--workers", str(workers)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process, url = launch(command, port, workdir, {"KBASSIST_INDEX_DIR": str(index), **env_extra}, timeout_s=300)
    time.sleep(workers * 2.0)  # /readyz answered by one worker: give the others time to load
    return process, url


def tree_rss_mib(pid: int) -> dict[str, float]:
    """Resident memory of a process and its children (uvicorn's workers), summed."""
    total: dict[str, float] = {}
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *(int(c) for c in children.read_text().split())] if children.is_file() else [pid]
    for each in pids:
        for key, value in rss_mib(each).items():
            total[key] = round(total.get(key, 0.0) + value, 1)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="index root or version folder to serve")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels")
    parser.add_argument("--distinct", type=int, default=500, help="distinct questions per level")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--env", action="append", default=[], help="KBASSIST_X=value for the server (repeatable)")
    parser.add_argument("--label", default="", help="what this configuration is, for the report")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (1: `kbassist serve`)")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)

    questions = list(dict.fromkeys(q["query"] for q in read_questions(args.questions)))
    levels = [int(level) for level in args.levels.split(",")]
    extra = dict(item.split("=", 1) for item in args.env)
    key = secrets.token_urlsafe(24)
    workdir = Path(tempfile.mkdtemp(prefix="kbassist-bench-http-"))
    result: dict[str, Any] = {
        "measured_at": now(),
        "machine": machine(),
        "label": args.label,
        "server_env": extra,
        "index": str(args.index),
        "runs": [],
    }
    process = None
    try:
        tick = time.perf_counter()
        env = {"KBASSIST_API_KEYS": f"agent:{key}", **extra}
        if args.workers > 1:
            process, url = start_workers(args.index, workdir, env, args.workers)
        else:
            process, url, _ = start_server(args.index, workdir, env)
        result["workers"] = args.workers
        result["server_start_s"] = round(time.perf_counter() - tick, 1)
        result["server_rss_mib_ready"] = tree_rss_mib(process.pid)
        headers = {"X-API-Key": key}
        for number, level in enumerate(levels):
            start = (number * args.distinct) % max(1, len(questions) - args.distinct)
            chosen = questions[start : start + args.distinct]
            run = asyncio.run(run_load(url, headers, chosen, 2 * len(chosen), level, args.warmup, seed=7 + number))
            run["questions"] = "half new, half cached (each of the distinct questions asked twice)"
            run["distinct_questions"] = len(chosen)
            run["load_1m_after"] = load_average()
            result["runs"].append(run)
            print(json.dumps({k: run[k] for k in SHOWN}), flush=True)
            if level == 8:
                again = asyncio.run(run_load(url, headers, chosen, 2 * len(chosen), level, 0, seed=99))
                again["questions"] = "all cached (the same questions again)"
                again["distinct_questions"] = len(chosen)
                again["load_1m_after"] = load_average()
                result["runs"].append(again)
                print(json.dumps({k: again[k] for k in SHOWN}), flush=True)
        result["server_rss_mib_end"] = tree_rss_mib(process.pid)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
