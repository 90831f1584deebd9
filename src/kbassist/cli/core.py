"""Core commands: validate, build, ask, eval."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from kbassist.cli.app import (
    ExitCode,
    IndexOption,
    SourceOption,
    app,
    console,
    errors,
    fail,
    open_searcher,
    parse_day,
    read_questions,
)
from kbassist.cli.index_cmds import run_build
from kbassist.evaluate import METRICS, evaluate
from kbassist.schema import Kind
from kbassist.search import MODES, Filters, Mode, SearchResult
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from kbassist.views import KIND_LABELS, SearchView, SourceView

# --- validate / build -----------------------------------------------------------------------------


@app.command()
def validate(source: SourceOption = None) -> None:
    """检查知识库：一次列出所有问题（文件:行: 字段: 说明）。"""
    settings = Settings()
    root = source or settings.data_dir
    try:
        kb = load_knowledge_base(root)
    except FileNotFoundError as exc:
        fail(str(exc), ExitCode.USAGE)
    for problem in kb.problems:
        print(problem)
    if kb.problems:
        errors.print(f"[red]共 {len(kb.problems)} 个问题[/]")
        raise typer.Exit(int(ExitCode.INVALID_DATA))
    counts = {kind: len(kb.by_kind(kind)) for kind in Kind}
    summary = "，".join(f"{KIND_LABELS[k]} {n}" for k, n in counts.items())
    console.print(f"[green]知识库无问题[/]：{len(kb.entries)} 条（{summary}），{len(kb.file_hashes)} 个文件")


@app.command()
def build(
    source: SourceOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="索引根目录（默认 KBASSIST_INDEX_DIR 或 index）")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="显示进度条")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="以 JSON 输出构建报告")] = False,
    if_changed: Annotated[bool, typer.Option("--if-changed", help="知识库文件与当前索引一致时跳过构建")] = False,
    report_file: Annotated[
        Path | None, typer.Option("--report", help="把构建报告（JSON）写到此文件，成功或失败都写")
    ] = None,
) -> None:
    """从知识库构建新的索引版本，检查通过后才切换 current 指针（失败时 current 保持不变）。"""
    run_build(source, out, progress, json_output, if_changed, report_file)


# --- ask ------------------------------------------------------------------------------------------


def _validity(start: date | None, end: date | None) -> str:
    return f"{start or '不限'} 至 {end or '长期'}"


def _where(source: SourceView) -> str:
    """A policy clause is cited by title and clause, with its file; anything else by its file and line."""
    location = f"{source.file}:{source.line}"
    return location if source.citation == location else f"{source.citation} · {location}"


def _highlight(text: str, terms: list[str]) -> str:
    out = escape(text)
    for term in sorted(set(terms), key=len, reverse=True):
        if term.strip():
            out = out.replace(escape(term), f"[bold yellow]{escape(term)}[/]")
    return out


def print_result(result: SearchResult, explain: bool) -> None:
    view = SearchView.of(result, explain)
    console.print(f"[bold]问：[/]{escape(view.query)}  [dim]（索引 {view.index_version} · {view.took_ms:.0f} 毫秒）[/]")
    if view.exact_match:
        console.print("[bold green]✔ 与标准问/相似问完全一致[/]")
    if view.intent:
        i = view.intent
        console.print(
            f"[bold]客户意图：[/]{i.intent}（置信度 {i.intent_confidence:.0%}）  "
            f"[bold]情绪：[/]{i.emotion}（置信度 {i.emotion_confidence:.0%}）"
        )
        console.print(f"  [dim]依据：{escape(i.explanation)}[/]")
    if view.no_good_answer:
        shown = f"（答案置信度 {view.confidence:.2f}）" if view.confidence is not None else ""
        console.print(f"[bold yellow]未找到可靠答案{shown}：请勿猜测，按下方话术核实后回电或转接；以下结果仅供参考[/]")
    for rank, hit in enumerate(view.results, start=1):
        console.print(f"\n[bold cyan]{rank}. [{hit.kind_label}] {escape(hit.title)}[/]  [dim]得分 {hit.score:.4f}[/]")
        console.print("   " + _highlight(hit.text, hit.matched_terms).replace("\n", "\n   "))
        console.print(
            f"   [dim]来源：{escape(_where(hit.source))}"
            f" · 有效期 {_validity(hit.source.effective_from, hit.source.effective_to)}[/]"
        )
        if hit.explanation:
            e = hit.explanation
            bm25 = f"BM25 第{e.bm25_rank}名 {e.bm25_score:.3f}" if e.bm25_rank else "BM25 未命中"
            dense = f"向量 第{e.dense_rank}名 {e.dense_score:.3f}" if e.dense_rank else "向量 未命中"
            console.print(f"   [magenta]{bm25} · {dense} · 融合 {e.fused_score:.4f}[/]")
    if view.scripts:
        console.print("\n[bold]推荐话术：[/]")
        for script in view.scripts:
            console.print(f"  [green][{script.stage.value}][/] {escape(script.text)}")
    if explain and view.timings:
        console.print("\n[dim]" + " · ".join(f"{k} {v:.1f}ms" for k, v in view.timings.items()) + "[/]")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="客户的问题")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100, help="返回条数")] = 5,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="faq / policy / product / script，可多次")] = None,
    category: Annotated[str | None, typer.Option("--category", help="分类")] = None,
    product_line: Annotated[str | None, typer.Option("--product-line", help="产品线")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="电话 / 在线 / 邮件")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="按此日期判断有效期（YYYY-MM-DD，默认今天）")] = None,
    mode: Annotated[str, typer.Option("--mode", help="hybrid / bm25 / dense")] = "hybrid",
    json_output: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="显示各检索器的排名与得分")] = False,
    value: Annotated[
        list[str] | None, typer.Option("--value", help="话术占位符的取值，如 --value 客户称呼=王女士，可多次")
    ] = None,
    index: IndexOption = None,
) -> None:
    """回答一个客户问题：客户意图与情绪、排序后的答案（含来源与有效期）和推荐话术。"""
    if mode not in MODES:
        fail(f"未知检索模式 {mode!r}，可选：{' / '.join(MODES)}", ExitCode.USAGE)
    if not question.strip():
        fail("问题不能为空", ExitCode.USAGE)
    try:
        filters = Filters.of(kind=kind, category=category, product_line=product_line, channel=channel)
    except ValueError as exc:
        fail(str(exc), ExitCode.USAGE)
    values: dict[str, str] = {}
    for pair in value or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--value {pair!r} 格式应为 名称=取值，例如 客户称呼=王女士", ExitCode.USAGE)
        values[key.strip().strip("{}")] = text.strip()
    settings = Settings()
    searcher = open_searcher(index, settings)
    mode_value: Mode = mode
    result = searcher.search(
        question,
        top_k=top_k,
        filters=filters,
        as_of=parse_day(as_of),
        mode=mode_value,
        explain=explain,
        values=values,
    )
    if json_output:
        print(SearchView.of(result, explain).model_dump_json(indent=2))
    else:
        print_result(result, explain)


# --- eval -----------------------------------------------------------------------------------------


@app.command("eval")
def eval_command(
    queries: Annotated[list[Path], typer.Option("--queries", "-q", help="问题文件（JSONL），可多次")],
    index: IndexOption = None,
    modes: Annotated[str, typer.Option("--modes", help="逗号分隔：bm25,dense,hybrid")] = "bm25,dense,hybrid",
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="TREC 运行文件输出目录")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="按此日期判断有效期（默认今天）")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """在标注问题上评测检索质量：Recall@1/5/10、MRR@10、nDCG@10，并写出 TREC 运行文件。"""
    wanted = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in MODES]
    if unknown or not wanted:
        fail(f"未知检索模式 {unknown}，可选：{' / '.join(MODES)}", ExitCode.USAGE)
    settings = Settings()
    searcher = open_searcher(index, settings)
    day = parse_day(as_of)
    reports: dict[str, Any] = {}
    for path in queries:
        questions = read_questions(path)
        report = evaluate(
            lambda query, mode, as_of: searcher.ranked_ids(query, 100, mode, as_of),  # type: ignore[arg-type]
            questions,
            wanted,
            as_of=day,
            run_dir=(run_dir / path.stem) if run_dir else None,
        )
        reports[str(path)] = {"questions": report.questions, "judged": report.judged, "metrics": report.metrics}
    if json_output:
        print(json.dumps({"index_version": searcher.version, "files": reports}, ensure_ascii=False, indent=2))
        return
    for path_name, report_data in reports.items():
        table = Table(title=f"{path_name}（{report_data['judged']} 个有标注答案的问题，索引 {searcher.version}）")
        table.add_column("模式")
        for metric in METRICS:
            table.add_column(metric, justify="right")
        for mode_name, values in report_data["metrics"].items():
            table.add_row(mode_name, *(f"{values[m]:.3f}" for m in METRICS))
        console.print(table)
    if run_dir:
        console.print(f"[dim]TREC 运行文件已写入 {run_dir}[/]")
