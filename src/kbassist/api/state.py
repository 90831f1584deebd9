"""What the service holds between requests: the serving index version.

Each request takes ``holder.get()`` once, at its start, and uses that Searcher to the end. A reload calls
``holder.swap(new)``: requests already running finish on the old version (a Searcher is immutable), new
ones get the new version, and nothing waits on a lock to read.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from kbassist.dense import Embedder, make_embedder
from kbassist.search import Searcher
from kbassist.settings import Settings


class IndexNotLoadedError(RuntimeError):
    pass


def keep_index_out_of_gc() -> None:
    """A loaded index is hundreds of thousands of long-lived objects, and each full collection of Python's
    cyclic garbage collector walks them all while every request waits: ~90 ms at 10,000 entries, ~550 ms
    at 100,000 (benchmarks/RESULTS.md). Freezing takes what is alive now out of its sight; reference
    counting still frees a replaced version."""
    gc.freeze()


class IndexHolder:
    def __init__(self, settings: Settings, searcher: Searcher | None = None):
        self.settings = settings
        self._searcher = searcher
        self._embedder: Embedder | None = searcher.embedder if searcher else None
        self._swap_lock = threading.Lock()
        if searcher is not None:
            keep_index_out_of_gc()

    @property
    def loaded(self) -> bool:
        return self._searcher is not None

    @property
    def embedder(self) -> Embedder:
        """One embedder per process: loading the model again for every index version would waste seconds."""
        with self._swap_lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings)
            return self._embedder

    def get(self) -> Searcher:
        searcher = self._searcher  # one read of one reference: no lock needed
        if searcher is None:
            raise IndexNotLoadedError("索引尚未加载")
        return searcher

    def open(self, path: Path | str | None = None) -> Searcher:
        """Load an index version with the process's embedder; does not serve it until ``swap``."""
        return Searcher.open(path or self.settings.index_dir, self.settings, self.embedder)

    def swap(self, new: Searcher) -> Searcher | None:
        """Serve ``new`` from the next request on; returns the version it replaced."""
        with self._swap_lock:
            old, self._searcher = self._searcher, new
            if self._embedder is None:
                self._embedder = new.embedder
        keep_index_out_of_gc()
        return old
