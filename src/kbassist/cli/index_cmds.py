"""Index versions: the build job's report, `kbassist index list` and `kbassist index rollback`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from kbassist.cli.app import ExitCode, IndexOption, app, console, errors, fail
from kbassist.dense import make_embedder
from kbassist.index import IndexNotFoundError
from kbassist.reindex import BuildWarning, ReindexError, ReindexReport, VersionError, list_versions, reindex, rollback
from kbassist.schema import Kind
from kbassist.settings import Settings
from kbassist.views import KIND_LABELS

index_app = typer.Typer(name="index", help="索引版本：列出、回滚", no_args_is_help=True)
app.add_typer(index_app, name="index")

EXIT_CODES = {
    "no_source": ExitCode.USAGE,
    "invalid_data": ExitCode.INVALID_DATA,
    "check_failed": ExitCode.BUILD_CHECK_FAILED,
    "crashed": ExitCode.FAILED,
    "busy": ExitCode.INDEX_BUSY,
}
STEP_LABELS = {
    "load": "读取知识库",
    "analyze": "分词",
    "bm25": "BM25",
    "embed": "向量化",
    "faiss": "FAISS",
    "write": "写入",
    "diff": "比较",
    "warnings": "质量提示",
    "check": "检查",
    "switch": "切换",
    "prune": "清理",
    "total": "合计",
}
CHECK_LABELS = {"load": "加载", "counts": "数量", "smoke": "冒烟问题"}
SHOWN_IDS = 10
SHOWN_WARNINGS = 10


def _say(out: Console, text: str) -> None:
    """One log line per fact: a job's log is read with grep, so never wrap lines at the terminal width."""
    out.print(text, soft_wrap=True)


def _kinds(counts: dict[str, int]) -> str:
    parts = "，".join(f"{KIND_LABELS[kind]} {counts.get(kind.value, 0)}" for kind in Kind)
    return f"{parts}（共 {sum(counts.get(kind.value, 0) for kind in Kind)}）"


def _ids(ids: Sequence[str]) -> str:
    more = f" …另有 {len(ids) - SHOWN_IDS} 个" if len(ids) > SHOWN_IDS else ""
    return "、".join(ids[:SHOWN_IDS]) + more


def _print_warnings(out: Console, warnings: Sequence[BuildWarning]) -> None:
    if not warnings:
        return
    _say(out, f"\n[bold yellow]提示 {len(warnings)} 条（不影响发布）：[/]")
    groups: dict[str, list[BuildWarning]] = {}
    for warning in warnings:
        groups.setdefault(warning.label, []).append(warning)
    for label, group in groups.items():
        _say(out, f"  [yellow]{escape(label)}[/]（{len(group)}）")
        for warning in group[:SHOWN_WARNINGS]:
            where = f"  [dim]{escape(warning.where)}[/]" if warning.where else ""
            _say(out, f"    - {escape(warning.message)}{where}")
        if len(group) > SHOWN_WARNINGS:
            _say(out, f"    [dim]…另有 {len(group) - SHOWN_WARNINGS} 条，见 JSON 报告[/]")


def print_report(report: ReindexReport) -> None:
    """The build report as the KB admin reads it in the job's log."""
    out = console if report.status != "failed" else errors
    if report.status == "ok":
        previous = report.previous or "无"
        _say(console, f"[green]索引已构建[/]：版本 {report.version}（current 已切换；上一版本 {previous}）")
    elif report.status == "unchanged":
        _say(console, f"索引已是最新（{escape(report.index_root)}，版本 {report.version}），无需重建")
        return
    else:
        _say(errors, f"[bold red]构建失败[/]：current 仍为 {report.current or '无'}")
    if report.path:
        _say(out, f"  目录：{escape(report.path)}")
    if report.counts:
        _say(out, f"  条目：{_kinds(report.counts)}")
    if report.changes is not None:
        changes = report.changes
        _say(
            out,
            f"  变更（与上一版本相比）：新增 {len(changes.added)}，修改 {len(changes.changed)}，"
            f"删除 {len(changes.removed)}，未变 {changes.unchanged}",
        )
        for label, ids in (("新增", changes.added), ("修改", changes.changed), ("删除", changes.removed)):
            if ids and (report.previous or label != "新增"):
                _say(out, f"    {label}：{escape(_ids(ids))}")
    if report.version:
        _say(out, f"  向量：新计算 {report.embedded}，复用缓存 {report.reused}")
    if report.checks:
        _say(
            out,
            "  检查："
            + "；".join(
                f"{CHECK_LABELS[c.name]} {'[green]通过[/]' if c.ok else '[red]未通过[/]'}（{escape(c.detail)}）"
                for c in report.checks
            ),
        )
    if report.seconds:
        steps = " · ".join(f"{STEP_LABELS.get(step, step)} {value:.1f} 秒" for step, value in report.seconds.items())
        _say(out, f"  用时：{steps}")
    if report.pruned:
        _say(out, f"  已清理旧版本：{escape('、'.join(report.pruned))}")
    _print_warnings(out, report.warnings)


def run_build(
    source: Path | None,
    out: Path | None,
    progress: bool,
    json_output: bool,
    if_changed: bool,
    report_file: Path | None,
) -> None:
    """`kbassist build`: the library's reindex job, its report in Chinese or JSON, its exit code."""
    settings = Settings()
    root = source or settings.data_dir
    out_root = out or settings.index_dir
    try:
        embedder = make_embedder(settings)
    except Exception as exc:  # a missing model folder, a broken install: say which, before touching the index
        fail(f"无法加载向量模型，未构建索引（current 保持不变）：{type(exc).__name__}: {exc}", ExitCode.FAILED)
    try:
        report = reindex(
            root,
            out_root,
            settings,
            embedder,
            progress=progress and sys.stderr.isatty(),
            if_changed=if_changed,
            report_file=report_file,
        )
    except ReindexError as exc:
        failed = exc.report
        if failed is not None:
            for problem in failed.problems:
                print(problem, file=sys.stderr)
            if json_output:
                print(failed.to_json())
            elif failed.version:
                print_report(failed)
        fail(exc.message, EXIT_CODES[exc.reason])
    if json_output:
        print(report.to_json())
    else:
        print_report(report)


@index_app.command("list")
def list_command(
    index: IndexOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """列出索引版本（最新在前）：构建时间、条目数、相对上一版本的变更，标出 current。"""
    root = index or Settings().index_dir
    versions = list_versions(root)
    if json_output:
        rows = [
            {
                "version": v.name,
                "built_at": v.built_at,
                "current": v.current,
                "model": v.model,
                "counts": v.counts,
                "changes": v.changes,
                "path": str(v.path),
            }
            for v in reversed(versions)
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not versions:
        fail(f"{root} 下没有任何索引版本：先运行 `kbassist build --out {root}`", ExitCode.NO_INDEX)
    _say(console, f"索引版本（{escape(str(root))}，最新在前；变更为相对上一版本的 新增/修改/删除）：")
    for v in reversed(versions):
        changes = v.changes
        change_text = f"+{changes['added']} ~{changes['changed']} -{changes['removed']}" if changes else "—"
        marker = "[green]* current[/]" if v.current else "         "
        _say(console, f"{marker} {v.name}  构建于 {v.built_at or '—'}  {_kinds(v.counts)}  {change_text}")
    if not any(v.current for v in versions):
        _say(errors, "[yellow]注意：current 没有指向任何现有版本[/]")


@index_app.command("rollback")
def rollback_command(
    version: Annotated[
        str | None, typer.Argument(help="要回滚到的版本：全名、唯一前缀或末尾短哈希（默认：current 的上一个版本）")
    ] = None,
    index: IndexOption = None,
) -> None:
    """把 current 原子地切换到另一个已构建的版本（默认：上一个版本）。"""
    settings = Settings()
    root = index or settings.index_dir
    try:
        before, after = rollback(root, version, settings, make_embedder(settings))
    except IndexNotFoundError as exc:
        fail(str(exc), ExitCode.NO_INDEX)
    except VersionError as exc:
        fail(str(exc), ExitCode.USAGE)
    except ReindexError as exc:
        fail(exc.message, EXIT_CODES[exc.reason])
    if before == after:
        _say(console, f"current 已是版本 {after}，未改动")
    else:
        _say(console, f"[green]已回滚[/]：current 从 {before or '无'} 切换到 {after}")
