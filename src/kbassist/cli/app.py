"""The Typer app, shared options, exit codes and error helpers every command module uses."""

from __future__ import annotations

from datetime import date
from enum import IntEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from kbassist.assistdata import AssistDataError
from kbassist.dense import ModelMismatchError
from kbassist.evaluate import Question, load_questions
from kbassist.index import IndexNotFoundError
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import LoadError


class ExitCode(IntEnum):
    """Documented in the README; the batch reindex job's log relies on them."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INVALID_DATA = 3
    BUILD_CHECK_FAILED = 4
    NO_INDEX = 5
    MODEL_MISMATCH = 6
    INDEX_BUSY = 7  # another build or rollback holds the index root's lock
    LINT_FOUND = 8  # `kbassist lint` found wording to change


app = typer.Typer(
    name="kbassist",
    help="kbassist：客服坐席知识检索（BM25 + 向量混合检索，附话术）",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

SourceOption = Annotated[
    Path | None, typer.Option("--source", "-s", help="知识库目录（默认 KBASSIST_DATA_DIR 或 data）")
]
IndexOption = Annotated[Path | None, typer.Option("--index", "-i", help="索引目录（默认 KBASSIST_INDEX_DIR 或 index）")]


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> NoReturn:
    # soft_wrap: one error, one line, also in a batch job's log (no wrapping at 80 columns)
    errors.print(f"[bold red]错误：[/]{escape(message)}", soft_wrap=True)
    raise typer.Exit(int(code))


def parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"日期 {value!r} 无效，请写成 YYYY-MM-DD", ExitCode.USAGE)


def open_searcher(index: Path | None, settings: Settings) -> Searcher:
    try:
        return Searcher.open(index or settings.index_dir, settings)
    except IndexNotFoundError as exc:
        fail(str(exc), ExitCode.NO_INDEX)
    except ModelMismatchError as exc:
        fail(str(exc), ExitCode.MODEL_MISMATCH)
    except AssistDataError as exc:  # data/assist: intent cues, stage plans, no-answer calibration
        fail(str(exc), ExitCode.INVALID_DATA)


def read_questions(path: Path) -> list[Question]:
    """A labelled question file, or the command ends with a clear message and exit code."""
    try:
        return load_questions(path)
    except LoadError as exc:
        fail(str(exc), ExitCode.INVALID_DATA)
    except FileNotFoundError:
        fail(f"问题文件不存在：{path}", ExitCode.USAGE)
