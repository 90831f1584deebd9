"""``kbassist``: the command line, thin over the library. Readable Chinese for people, --json for machines.

Each module registers its commands on the one Typer app; importing them here is what makes them exist.
"""

# Each module registers its commands: core (validate, build, ask, eval), index_cmds (index list/rollback),
# serve (serve, keys add), assist (lint, eval-intent, eval-no-answer), quiz.
from kbassist.cli import assist, core, index_cmds, quiz, serve  # noqa: F401
from kbassist.cli.app import ExitCode, app

__all__ = ["ExitCode", "app", "main"]


def main() -> None:
    app()
