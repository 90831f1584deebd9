#!/usr/bin/env python3
"""Batch reindex entry point: the same options and exit codes as `kbassist build`.

    python scripts/build_index.py --source data --out index --no-progress --report /var/log/kbassist/reindex.json

Builds a new index version, checks it, and only then switches `current` (README: "Batch reindex",
"Nightly reindex"; exit codes in the README's "Commands").
"""

from __future__ import annotations

import sys

from kbassist.cli import app

if __name__ == "__main__":
    sys.exit(app(["build", *sys.argv[1:]], standalone_mode=True))
