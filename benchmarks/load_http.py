"""HTTP load test of POST /v1/search: N requests at concurrency C from this process, against a server on
loopback (started here over an index, or an existing one with --url). Prints and writes a JSON result.

    .venv/bin/python benchmarks/load_http.py --index index              # starts `kbassist serve` itself
    .venv/bin/python benchmarks/load_http.py --build                    # builds data/ into a temp dir first
    .venv/bin/python benchmarks/load_http.py --url http://127.0.0.1:8000 --api-key KEY

Questions are the labelled customer questions of data/eval/questions.jsonl (a built-in list if absent),
asked in a shuffled cycle. Latency is measured by the client, from sending to the last byte.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import platform
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from bench_common import percentile

REPO = Path(__file__).resolve().parent.parent
KBASSIST = Path(sys.executable).with_name("kbassist")

BUILT_IN_QUESTIONS = [
    "退款多久到账",
    "退款一般多久能到账啊，我是微信付的",
    "空调装好了用了两天觉得吵想退掉，还能七天无理由吗",
    "你们这什么破服务！退款半个月了还没到！",
    "新买的水壶第一次怎么用",
    "KFR-35GW/BP3DN8Y-PH200(B1)是几级能效",
    "空调安装要收费吗",
    "发票怎么开",
    "以旧换新怎么弄",
    "洗衣机才买了十来天就不转了能退吗",
    "双11预售尾款什么时候付",
    "积分怎么用",
    "价保怎么申请",
    "快递一直没到怎么办",
    "电饭煲保修几年",
]


def load_questions(path: Path) -> list[str]:
    if not path.is_file():
        return list(BUILT_IN_QUESTIONS)
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            query = json.loads(line).get("query")
            if isinstance(query, str) and query.strip():
                questions.append(query.strip())
    return questions or list(BUILT_IN_QUESTIONS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host != "localhost":
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
        raise SystemExit(f"refusing to send load to {host!r}: only loopback addresses are allowed")


def kbassist(*args: str) -> list[str]:
    if KBASSIST.exists():
        return [str(KBASSIST), *args]
    return [sys.executable, "-c", "from kbassist.cli import main; main()", *args]


def start_server(index: Path, workdir: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    process, url = launch(kbassist("serve", "--index", str(index), "--port", str(port)), port, workdir, env_extra)
    return process, url, workdir / "server.log"


def launch(
    command: list[str], port: int, workdir: Path, env_extra: dict[str, str], timeout_s: float = 120
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server on 127.0.0.1:``port`` with none of this shell's KBASSIST_ settings (a query log in
    ``workdir``, ``env_extra`` on top; output in ``workdir``/server.log) and wait until /readyz answers."""
    log = workdir / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBASSIST_")}
    env.update({"KBASSIST_DB_URL": f"sqlite:///{workdir}/kb.db", **env_extra})
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not become ready within {timeout_s:.0f} s")


async def run_load(
    url: str, headers: dict[str, str], questions: list[str], total: int, concurrency: int, warmup: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    order = [questions[i % len(questions)] for i in range(total)]
    rng.shuffle(order)
    latencies: list[float] = []
    server_ms: list[float] = []
    statuses: Counter[str] = Counter()
    versions: set[str] = set()
    next_request = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as client:
        for question in questions[:warmup]:
            await client.post("/v1/search", json={"query": question})

        async def worker() -> None:
            nonlocal next_request
            while next_request < total:
                question = order[next_request]
                next_request += 1
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/search", json={"query": question, "top_k": 5})
                    body = response.content
                    elapsed = time.perf_counter() - started
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                statuses[str(response.status_code)] += 1
                if response.status_code == 200:
                    latencies.append(elapsed * 1000)
                    data = json.loads(body)
                    server_ms.append(float(data["took_ms"]))
                    versions.add(data["index_version"])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    latencies.sort()
    server_ms.sort()
    errors = sum(n for status, n in statuses.items() if status != "200")
    return {
        "requests": total,
        "concurrency": concurrency,
        "errors": errors,
        "statuses": dict(statuses),
        "wall_s": round(wall, 3),
        "throughput_rps": round(total / wall, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "p99": round(percentile(latencies, 99), 1),
            "mean": round(statistics.fmean(latencies), 1) if latencies else None,
            "max": round(latencies[-1], 1) if latencies else None,
        },
        "server_took_ms": {"p50": round(percentile(server_ms, 50), 1), "p99": round(percentile(server_ms, 99), 1)},
        "index_versions": sorted(versions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="an already running server on loopback")
    target.add_argument("--index", type=Path, default=REPO / "index", help="index to serve (default: index/)")
    target.add_argument("--build", action="store_true", help="build data/ into a temp dir and serve that")
    parser.add_argument("--api-key", default=os.environ.get("KBASSIST_LOAD_API_KEY"), help="for --url")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=20, help="requests sent before timing starts")
    parser.add_argument("--questions", type=Path, default=REPO / "data" / "eval" / "questions.jsonl")
    parser.add_argument("--no-query-cache", action="store_true", help="started server: embed every query anew")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "load_http.json")
    args = parser.parse_args()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 256:
        raise SystemExit("--requests must be 1..100000 and --concurrency 1..256")

    questions = load_questions(args.questions)
    workdir = Path(tempfile.mkdtemp(prefix="kbassist-load-"))
    process = None
    try:
        if args.url:
            require_loopback(args.url)
            url, headers = args.url.rstrip("/"), ({"X-API-Key": args.api_key} if args.api_key else {})
        else:
            index = args.index
            if args.build:
                index = workdir / "index"
                subprocess.run(
                    kbassist("build", "--source", str(REPO / "data"), "--out", str(index), "--no-progress"), check=True
                )
            if not index.exists():
                raise SystemExit(f"no index at {index}: run `make index`, or pass --build")
            key = secrets.token_urlsafe(24)
            env = {"KBASSIST_API_KEYS": f"agent:{key}"}
            if args.no_query_cache:
                env["KBASSIST_QUERY_CACHE_SIZE"] = "0"
            process, url, _ = start_server(index, workdir, env)
            headers = {"X-API-Key": key}
        load_before = os.getloadavg()
        result = asyncio.run(run_load(url, headers, questions, args.requests, args.concurrency, args.warmup, args.seed))
        load_after = os.getloadavg()
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    result.update(
        {
            "url": url,
            "distinct_questions": len(set(questions)),
            "query_cache": "off" if args.no_query_cache else "on",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            # Other work on the machine skews latency: the 1-minute load average before and after the run.
            "load_average_1m": [round(load_before[0], 2), round(load_after[0], 2)],
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if result["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
