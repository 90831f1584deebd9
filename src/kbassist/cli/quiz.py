"""`kbassist quiz`: the trainee's drill — answer a customer's question, then compare with the standard."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from kbassist.cli.app import ExitCode, IndexOption, app, console, fail, open_searcher
from kbassist.settings import Settings
from kbassist.training import make_drills


@app.command()
def quiz(
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=100, help="题目数量")] = 5,
    category: Annotated[str | None, typer.Option("--category", help="只练某个分类，如 退换货")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="随机种子（同一种子同一套题）")] = None,
    index: IndexOption = None,
) -> None:
    """新人练习：听客户怎么问，先自己回答，再看标准答案、出处和推荐话术。"""
    searcher = open_searcher(index, Settings())
    try:
        drills = make_drills(searcher, count, category, seed)
    except ValueError as exc:
        fail(str(exc), ExitCode.USAGE)
    correct = 0
    for number, drill in enumerate(drills, start=1):
        console.print(f"\n[bold cyan]第 {number}/{len(drills)} 题[/]  客户说：[bold]{escape(drill.prompt)}[/]")
        typer.prompt("你的回答（回车跳过）", default="", show_default=False)
        entry = drill.entry
        console.print(f"[green]标准问：[/]{escape(entry.title)}")
        console.print(f"[green]标准答案：[/]{escape(entry.text)}")
        where = f"{entry.source.file}:{entry.source.line}"
        console.print(f"[dim]出处：{escape(where)}  分类：{escape(entry.category or '-')}[/]")
        for script in drill.scripts:
            console.print(f"  [magenta][{script.stage.value}][/] {escape(script.text)}")
        if typer.confirm("答对了吗？", default=False):
            correct += 1
    console.print(f"\n[bold]练习结束：{correct}/{len(drills)} 题答对[/]")
