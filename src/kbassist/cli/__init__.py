"""``kbassist``: the command line, thin over the library. Readable Chinese for people, --json for machines.

Each module registers its commands on the one Typer app; importing them here is what makes them exist.
"""

from kbassist.cli import core  # noqa: F401  (registers validate, build, ask, eval)
from kbassist.cli.app import ExitCode, app

__all__ = ["ExitCode", "app", "main"]


def main() -> None:
    app()
