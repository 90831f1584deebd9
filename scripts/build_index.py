#!/usr/bin/env python3
"""Batch reindex entry point: the same options and exit codes as `kbassist build`.

    python scripts/build_index.py --source data --out index
"""

from __future__ import annotations

import sys

from kbassist.cli import app

if __name__ == "__main__":
    sys.exit(app(["build", *sys.argv[1:]], standalone_mode=True))
