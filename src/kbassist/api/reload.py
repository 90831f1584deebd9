"""Hot reload of the served index: ``POST /v1/admin/reload`` and, optionally, polling of ``current``.

A build (``kbassist build``) or a rollback (``kbassist index rollback``) only rewrites the one-line
``current`` file of the index root. A reload reads it, opens the version it names with the process's
embedder and, only when that succeeded, swaps it in (``IndexHolder.swap``): requests already running
finish on the version they took at their start, new ones get the new version. A version that does not
open (missing files, another model, bad agent-assist data) leaves the old one serving; the failure is
logged, counted in ``kbassist_index_reloads_total{outcome="failed"}`` and raised as ``ReloadFailedError``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kbassist.api.metrics import Metrics
from kbassist.api.state import IndexHolder, IndexNotLoadedError
from kbassist.index import MANIFEST, POINTER, VERSIONS, current_version
from kbassist.search import Searcher

log = logging.getLogger("kbassist.api")

Trigger = Literal["api", "poll"]
# A FAISS or numpy error message can run to a screenful; the head says what broke.
MAX_CAUSE_CHARS = 300
STOP_TIMEOUT_S = 30.0


class NotAnIndexRootError(Exception):
    """The service was started on one version folder: there is no ``current`` to follow."""


class ReloadFailedError(Exception):
    """The version ``current`` names could not be served; the previous one still is."""

    def __init__(self, message: str, version: str | None):
        super().__init__(message)
        self.message = message
        self.version = version


@dataclass(frozen=True)
class ReloadResult:
    previous_version: str | None
    version: str
    changed: bool
    took_ms: float


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def _cause(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if len(text) > MAX_CAUSE_CHARS:
        text = text[:MAX_CAUSE_CHARS] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Reloader:
    """Follows the ``current`` pointer of ``index_dir``; one reload at a time."""

    def __init__(self, holder: IndexHolder, index_dir: Path, metrics: Metrics | None = None):
        self.holder = holder
        self.index_dir = Path(index_dir)
        self.metrics = metrics
        self._lock = threading.Lock()

    @property
    def is_root(self) -> bool:
        """False when the service was pointed at a single version folder (it has its own manifest)."""
        return not (self.index_dir / MANIFEST).is_file()

    def _served(self) -> Searcher | None:
        try:
            return self.holder.get()
        except IndexNotLoadedError:
            return None

    def changed_pointer(self) -> str | None:
        """The version ``current`` names when it is not the one served, else None. One small file read."""
        name = current_version(self.index_dir)
        if not name:
            return None
        served = self._served()
        if served is not None and _same_folder(served.data.path, self.index_dir / VERSIONS / name):
            return None
        return name

    def reload(self, trigger: Trigger = "api", quiet: bool = False) -> ReloadResult:
        """Serve the version ``current`` names. ``quiet``: a failure already logged once is logged at debug."""
        if not self.is_root:
            raise NotAnIndexRootError(
                f"服务启动时指定的索引目录 {self.index_dir} 是单个索引版本，不是索引根目录（含 current 与 versions/），"
                "无法热加载；请用 --index（或 KBASSIST_INDEX_DIR）指向索引根目录并重启服务"
            )
        with self._lock:
            started = time.perf_counter()
            old = self._served()
            previous = old.version if old is not None else None
            name: str | None = None
            try:
                name = self._pointer()
                folder = self.index_dir / VERSIONS / name
                if old is not None and _same_folder(old.data.path, folder):
                    self._count(trigger, "unchanged")
                    return ReloadResult(previous, old.version, False, self._ms(started))
                if not (folder / MANIFEST).is_file():
                    raise ReloadFailedError(f"current 指向的版本 {name} 不存在或不完整（{folder}）", name)
                new = self.holder.open(folder)
            except Exception as exc:
                if isinstance(exc, ReloadFailedError):
                    reason = exc.message
                else:
                    reason = f"索引版本 {name} 无法加载：{_cause(exc)}"
                failure = ReloadFailedError(f"{reason}；服务仍在使用版本 {previous}", name)
                self._count(trigger, "failed")
                level = logging.DEBUG if quiet else logging.ERROR
                log.log(level, "index reload (%s) failed: %s", trigger, failure.message)
                raise failure from exc
            if old is not None and new.embedder is old.embedder:
                # Query vectors depend only on the embedder: the new version starts with a warm cache.
                new.queries = old.queries
            self.holder.swap(new)
            self._count(trigger, "swapped")
            took = self._ms(started)
            log.info("index reloaded (%s): %s -> %s in %.0f ms", trigger, previous, new.version, took)
            return ReloadResult(previous, new.version, True, took)

    def _pointer(self) -> str:
        pointer = self.index_dir / POINTER
        try:
            name = current_version(self.index_dir)
        except (OSError, UnicodeDecodeError) as exc:
            raise ReloadFailedError(f"无法读取索引指针 {pointer}：{_cause(exc)}", None) from exc
        if name is None:
            raise ReloadFailedError(
                f"索引目录 {self.index_dir} 下没有 current 指针：先运行 `kbassist build --out {self.index_dir}`", None
            )
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise ReloadFailedError(f"索引指针 {pointer} 的内容 {name!r} 不是版本名", None)
        return name

    def _count(self, trigger: Trigger, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.reloads.labels(trigger, outcome).inc()

    @staticmethod
    def _ms(started: float) -> float:
        return round((time.perf_counter() - started) * 1000, 3)


class IndexPoller:
    """Every ``interval`` seconds, reloads when ``current`` names another version than the one served.

    Runs on a daemon thread (a reload is blocking file and CPU work). A failure is logged the first time
    for a given version and retried quietly at every tick (each attempt is still counted in /metrics);
    nothing it meets stops the thread or the service.
    """

    def __init__(self, reloader: Reloader, interval: float):
        self.reloader = reloader
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kbassist-index-poll", daemon=True)
        self._failed: str | None = None  # the version whose reload failed last

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stops at once between ticks; a reload in progress is waited for (up to ``timeout``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("index poller still busy after %.0f s; leaving it to exit with the process", timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        try:
            name = self.reloader.changed_pointer()
            if name is None:
                self._failed = None
                return
            try:
                self.reloader.reload("poll", quiet=name == self._failed)
            except ReloadFailedError:
                self._failed = name
            else:
                self._failed = None
        except Exception as exc:  # e.g. the index folder unreadable for a moment: try again next tick
            log.error("index poll failed: %s", _cause(exc))


def start_polling(reloader: Reloader, interval: float) -> IndexPoller | None:
    """The poller, started, when ``interval`` > 0 and the service follows an index root; else None."""
    if interval <= 0:
        return None
    if not reloader.is_root:
        log.warning(
            "KBASSIST_RELOAD_POLL_SECONDS=%s 未生效：%s 是单个索引版本，不是索引根目录", interval, reloader.index_dir
        )
        return None
    poller = IndexPoller(reloader, interval)
    poller.start()
    log.info("polling %s every %s s for a new index version", reloader.index_dir / POINTER, interval)
    return poller
