"""Agent-assist commands: lint, eval-intent, eval-no-answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from kbassist.assistdata import (
    EMOTIONS,
    INTENTS,
    LINT_RULES,
    UTTERANCES_HOLDOUT,
    AssistDataError,
    load_utterances,
)
from kbassist.cli.app import (
    ExitCode,
    IndexOption,
    SourceOption,
    app,
    console,
    fail,
    open_searcher,
    parse_day,
    read_questions,
)
from kbassist.dense import make_embedder
from kbassist.intent import DimensionReport, IntentClassifier, IntentReport, evaluate_classifier
from kbassist.lint import Linter, LintReport, get_linter, lint_scripts
from kbassist.noanswer import FlagReport, flag_report
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base

AssistOption = Annotated[
    Path | None, typer.Option("--assist", help="坐席辅助数据目录（默认 KBASSIST_ASSIST_DIR 或 <data>/assist）")
]

# --- lint -----------------------------------------------------------------------------------------


def _linter(rules: Path | None, settings: Settings) -> Linter:
    try:
        return get_linter(rules or settings.assist_folder / LINT_RULES)
    except AssistDataError as exc:
        fail(str(exc), ExitCode.INVALID_DATA)


def _marked(report: LintReport) -> str:
    out, position = [], 0
    for hit in report.hits:
        out.append(escape(report.text[position : hit.start]))
        colour = "red" if hit.severity == "违规" else "yellow"
        out.append(f"[bold {colour} underline]{escape(hit.text)}[/]")
        position = hit.end
    out.append(escape(report.text[position:]))
    return "".join(out)


def print_lint(report: LintReport) -> None:
    if report.ok:
        console.print("[green]✔ 未发现需要修改的说法[/]")
        return
    console.print(_marked(report))
    console.print(f"\n共 {len(report.hits)} 处需要修改：")
    for hit in report.hits:
        colour = "red" if hit.severity == "违规" else "yellow"
        console.print(
            f"  [{colour}]{hit.severity}[/] 第 {hit.start + 1}–{hit.end} 字「{escape(hit.text)}」"
            f" {escape(hit.rule_label)}：{escape(hit.message)}"
        )
        if hit.alternatives:
            console.print(f"      [green]可改为：[/]{escape('；'.join(hit.alternatives))}")


@app.command()
def lint(
    text: Annotated[str | None, typer.Argument(help="要检查的回复草稿（也可用 --file，或从标准输入读入）")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="从文件读入草稿；- 表示标准输入")] = None,
    scripts: Annotated[bool, typer.Option("--scripts", help="检查知识库里的全部话术")] = False,
    source: SourceOption = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="规则文件（默认 <assist>/lint_rules.yaml）")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """合规检查：否定表达、广告法绝对化用语、个人信息；给出位置、规则和替代说法。有问题时退出码为 8。"""
    settings = Settings()
    linter = _linter(rules, settings)
    if scripts:
        _lint_scripts(linter, source or settings.data_dir, json_output)
        return
    if text is not None and file is not None:
        fail("文字和 --file 只能给一个", ExitCode.USAGE)
    if file is not None:
        try:
            draft = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"无法读取 {file}：{exc}", ExitCode.USAGE)
    elif text is not None:
        draft = text
    elif not sys.stdin.isatty():
        draft = sys.stdin.read()
    else:
        fail('请给出要检查的文字，例如 kbassist lint "这个不能退"，或 --file 草稿.txt', ExitCode.USAGE)
    if not draft.strip():
        fail("要检查的文字为空", ExitCode.USAGE)
    report = linter.lint(draft)
    if json_output:
        print(report.model_dump_json(indent=2))
    else:
        print_lint(report)
    if not report.ok:
        raise typer.Exit(int(ExitCode.LINT_FOUND))


def _lint_scripts(linter: Linter, source: Path, json_output: bool) -> None:
    try:
        kb = load_knowledge_base(source)
    except FileNotFoundError as exc:
        fail(str(exc), ExitCode.USAGE)
    if kb.problems:
        fail(f"知识库有 {len(kb.problems)} 个问题，先运行 kbassist validate", ExitCode.INVALID_DATA)
    findings = lint_scripts(kb.entries, linter)
    if json_output:
        data = [
            {"id": f.entry.id, "file": f.entry.source.file, "line": f.entry.source.line, **f.report.model_dump()}
            for f in findings
        ]
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for finding in findings:
            for line in finding.lines():
                console.print(escape(line))
        total = sum(len(f.report.hits) for f in findings)
        scripts = sum(1 for e in kb.entries if e.kind.value == "script")
        message = (
            f"{scripts} 条话术中 {len(findings)} 条共 {total} 处需要修改" if findings else f"{scripts} 条话术均无问题"
        )
        console.print(("[yellow]" if findings else "[green]") + message + "[/]")
    if findings:
        raise typer.Exit(int(ExitCode.LINT_FOUND))


# --- eval-intent ------------------------------------------------------------------------------------


def _dimension_json(report: DimensionReport) -> dict[str, Any]:
    return {
        "accuracy": round(report.accuracy, 4),
        "correct": report.correct,
        "total": report.total,
        "confusion": report.confusion,
        "per_label": {
            label: {"precision": round(report.precision(label), 4), "recall": round(report.recall(label), 4)}
            for label in report.labels
        },
        "top_confusions": [{"gold": g, "predicted": p, "count": n} for g, p, n in report.top_confusions()],
    }


def _confusion_table(name: str, report: DimensionReport) -> Table:
    table = Table(title=f"{name}混淆矩阵（行：标注，列：预测）")
    table.add_column("标注＼预测")
    for label in report.labels:
        table.add_column(label, justify="right")
    table.add_column("召回", justify="right")
    for gold in report.labels:
        row = report.confusion[gold]
        table.add_row(gold, *(str(row[p]) for p in report.labels), f"{report.recall(gold):.0%}")
    table.add_row("精确率", *(f"{report.precision(p):.0%}" for p in report.labels), "")
    return table


@app.command("eval-intent")
def eval_intent(
    assist: AssistOption = None,
    loo: Annotated[bool, typer.Option("--loo", help="改为在训练例句上做留一法评测（调线索词用；不读留出集）")] = False,
    mistakes: Annotated[bool, typer.Option("--mistakes", help="列出判错的例句")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """意图与情绪识别的准确率：在留出例句（utterances_holdout.jsonl）上，分别报告线索+近邻、仅线索、仅近邻。"""
    settings = Settings()
    folder = assist or settings.assist_folder
    embedder = make_embedder(settings)
    try:
        classifier = IntentClassifier.load(folder, embedder)
        if loo:
            utterances = list(classifier.examples)
            vectors = classifier.vectors
            evaluated = f"{folder / 'utterances.jsonl'}（留一法）"
        else:
            utterances = load_utterances(folder / UTTERANCES_HOLDOUT)
            vectors = embedder.embed_queries([u.text for u in utterances])
            evaluated = str(folder / UTTERANCES_HOLDOUT)
    except AssistDataError as exc:
        fail(str(exc), ExitCode.INVALID_DATA)
    if not utterances:
        fail(f"{evaluated} 没有例句", ExitCode.INVALID_DATA)
    variants: dict[str, IntentReport] = {
        "cues+knn": evaluate_classifier(classifier, utterances, vectors, leave_one_out=loo),
        "cues": evaluate_classifier(classifier, utterances, None),
        "knn": evaluate_classifier(classifier, utterances, vectors, use_cues=False, leave_one_out=loo),
    }
    if json_output:
        data = {
            "evaluated": evaluated,
            "utterances": len(utterances),
            "examples": len(classifier.examples),
            "model": embedder.model_id,
            "intents": list(INTENTS),
            "emotions": list(EMOTIONS),
            "variants": {
                name: {"intent": _dimension_json(r.intent), "emotion": _dimension_json(r.emotion)}
                for name, r in variants.items()
            },
        }
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    table = Table(
        title=f"{evaluated}：{len(utterances)} 句（近邻例句 {len(classifier.examples)} 句，模型 {embedder.model_id}）"
    )
    table.add_column("方法")
    table.add_column("意图准确率", justify="right")
    table.add_column("情绪准确率", justify="right")
    names = {"cues+knn": "线索词 + 近邻例句", "cues": "仅线索词", "knn": "仅近邻例句"}
    for name, report in variants.items():
        table.add_row(
            names[name],
            f"{report.intent.accuracy:.1%}（{report.intent.correct}/{report.intent.total}）",
            f"{report.emotion.accuracy:.1%}（{report.emotion.correct}/{report.emotion.total}）",
        )
    console.print(table)
    full = variants["cues+knn"]
    console.print(_confusion_table("意图", full.intent))
    console.print(_confusion_table("情绪", full.emotion))
    for name, dimension in (("意图", full.intent), ("情绪", full.emotion)):
        common = "，".join(f"{g}→{p} {n} 次" for g, p, n in dimension.top_confusions())
        console.print(f"{name}最常见的错判：{common or '无'}")
    if mistakes:
        console.print("\n[bold]判错的例句：[/]")
        for utterance, result in full.mistakes:
            console.print(
                f"  {escape(utterance.text)}\n    标注 {utterance.intent}·{utterance.emotion} → "
                f"预测 {result.intent.label}·{result.emotion.label}；{escape(result.explain())}"
            )


# --- eval-no-answer -----------------------------------------------------------------------------------


@app.command("eval-no-answer")
def eval_no_answer(
    queries: Annotated[list[Path], typer.Option("--queries", "-q", help="问题文件（JSONL），可多次")],
    index: IndexOption = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100, help="与坐席侧栏一致的返回条数")] = 5,
    as_of: Annotated[str | None, typer.Option("--as-of", help="按此日期判断有效期（默认今天）")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """“未找到可靠答案”标记的精确率与召回率：以 relevant_ids 为空的问题为正例。"""
    settings = Settings()
    searcher = open_searcher(index, settings)
    day = parse_day(as_of)
    reports: dict[str, FlagReport] = {}
    for path in queries:
        questions = read_questions(path)
        rows = []
        for question in questions:
            result = searcher.search(question.query, top_k=top_k, as_of=day)
            found = bool(set(question.relevant_ids) & {h.entry.id for h in result.hits})
            rows.append((not question.answerable, result.no_good_answer, found))
        reports[str(path)] = flag_report(rows)
    threshold = searcher.no_answer.threshold
    if json_output:
        data = {
            "index_version": searcher.version,
            "threshold": threshold,
            "calibration": searcher.no_answer.source,
            "files": {name: report.as_json() for name, report in reports.items()},
        }
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"未找到可靠答案（阈值 {threshold:.4f}，索引 {searcher.version}，前 {top_k} 条）")
    for column in (
        "问题文件",
        "问题数",
        "无答案问题",
        "标记数",
        "标记正确",
        "精确率",
        "召回率",
        "F1",
        "误标且确未命中",
    ):
        table.add_column(column, justify="left" if column == "问题文件" else "right")
    for name, report in reports.items():
        table.add_row(
            Path(name).name,
            str(report.questions),
            str(report.unanswerable),
            str(report.flagged),
            str(report.true_positives),
            f"{report.precision:.3f}",
            f"{report.recall:.3f}",
            f"{report.f1:.3f}",
            str(report.flagged_answerable_unfound),
        )
    console.print(table)
    console.print("[dim]误标且确未命中：被标记的可回答问题中，前几条结果里确实没有相关条目的个数[/]")
