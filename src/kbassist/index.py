"""The index folder: build it from a knowledge base, load it back. Immutable and versioned.

Layout of an index root (``--out`` / ``KBASSIST_INDEX_DIR``)::

    index/
      current                  # text file: the name of the version being served
      versions/<version>/      # one folder per build, never edited after it is complete
        manifest.json          # counts, model id, build time, source file hashes, parameters
        entries.jsonl          # every entry as loaded from data/
        vocab.json             # term of each BM25 column
        analyzer/              # the dictionary, synonyms and stopwords the build segmented with
        bm25_*.npy, *.json     # BM25 weights (CSC) for the key and body fields
        dense.faiss            # FAISS inner-product index over normalised vectors
        dense_row_entry.npy    # entry of each FAISS row
      cache/                   # embeddings by (model id, text hash), reused by the next build
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from kbassist.bm25 import BM25Params, FieldedBM25
from kbassist.dense import DenseIndex, Embedder
from kbassist.schema import Entry, Kind
from kbassist.segment import Analyzer
from kbassist.settings import Settings
from kbassist.sources import SERVING_ASSIST_FILES, KnowledgeBase

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
POINTER = "current"
VERSIONS = "versions"


class IndexNotFoundError(FileNotFoundError):
    pass


# --- where an index lives ---------------------------------------------------------------------


def resolve_index(path: Path) -> Path:
    """A version folder as is; an index root through its ``current`` pointer."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return path
    pointer = path / POINTER
    if pointer.is_file():
        version = path / VERSIONS / pointer.read_text(encoding="utf-8").strip()
        if (version / MANIFEST).is_file():
            return version
        raise IndexNotFoundError(f"索引指针 {pointer} 指向的版本 {version} 不存在或不完整")
    raise IndexNotFoundError(f"{path} 下没有索引：先运行 `kbassist build --source data --out {path}`")


def switch_current(root: Path, version: str) -> None:
    """Point ``current`` at a complete version; os.replace makes the switch atomic."""
    if not (root / VERSIONS / version / MANIFEST).is_file():
        raise IndexNotFoundError(f"版本 {version} 不存在或不完整")
    temp = root / f".{POINTER}.{os.getpid()}.tmp"
    temp.write_text(version + "\n", encoding="utf-8")
    os.replace(temp, root / POINTER)


def current_version(root: Path) -> str | None:
    pointer = root / POINTER
    return pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None


def is_up_to_date(root: Path, kb: KnowledgeBase, model_id: str) -> bool:
    """True when ``current`` was built from exactly these source files with this model."""
    try:
        folder = resolve_index(root)
    except IndexNotFoundError:
        return False
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return bool(manifest.get("source_files") == kb.file_hashes and manifest.get("model", {}).get("id") == model_id)


# --- embeddings cache ---------------------------------------------------------------------------


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Passage vectors keyed by text hash, one file per embedding model.

    Keys and vectors live together in one ``.npz`` that is written to a temporary file and renamed into
    place, so a build that dies while saving leaves the previous file whole, and keys can never be paired
    with another build's vectors. A file that is unreadable or does not fit the model is ignored (the
    texts are embedded again) and reported in ``problem``; it never reaches an index.
    """

    SUFFIX = ".npz"

    def __init__(self, folder: Path, model_id: str, dim: int | None = None):
        self.folder = folder
        self.path = self.path_for(folder, model_id)
        self.rows: dict[str, np.ndarray] = {}
        self.problem: str | None = None
        if self.path.is_file():
            self._load(dim)

    @classmethod
    def path_for(cls, folder: Path, model_id: str) -> Path:
        slug = "".join(c if c.isalnum() else "_" for c in model_id)
        return folder / f"{slug}{cls.SUFFIX}"

    def _load(self, dim: int | None) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                keys, vectors = stored["keys"], stored["vectors"]
        except Exception as exc:  # a torn or foreign file: numpy raises several unrelated types
            self.problem = f"向量缓存 {self.path} 无法读取（{type(exc).__name__}），已忽略并重新计算"
            return
        if keys.ndim != 1 or vectors.ndim != 2 or len(keys) != len(vectors):
            self.problem = f"向量缓存 {self.path} 的键与向量数量不一致，已忽略并重新计算"
        elif dim is not None and len(vectors) and vectors.shape[1] != dim:
            self.problem = f"向量缓存 {self.path} 的维度为 {vectors.shape[1]}，模型为 {dim}，已忽略并重新计算"
        elif not np.isfinite(vectors).all():
            self.problem = f"向量缓存 {self.path} 含有非有限数值，已忽略并重新计算"
        else:
            self.rows = dict(zip(keys.tolist(), vectors.astype(np.float32), strict=True))

    def save(self, keep: Iterable[str]) -> None:
        """Keep only the vectors of ``keep`` (the texts of the versions kept on disk): bounded by them."""
        kept = [k for k in dict.fromkeys(keep) if k in self.rows]
        if not kept:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        temp = self.folder / f".{self.path.stem}.{os.getpid()}.tmp{self.SUFFIX}"
        try:
            with temp.open("wb") as handle:
                np.savez(handle, keys=np.array(kept), vectors=np.stack([self.rows[k] for k in kept]))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        finally:
            temp.unlink(missing_ok=True)


# --- building -----------------------------------------------------------------------------------


def dictionary_words(entries: Sequence[Entry]) -> list[str]:
    """Words the knowledge base itself teaches the segmenter: categories, lines, tags, names, titles."""
    words: set[str] = set()
    for entry in entries:
        words.update(w for w in (entry.category, entry.product_line, entry.scenario) if w)
        words.update(entry.tags)
        if entry.kind is Kind.PRODUCT and entry.model:
            name = entry.title.replace(entry.model, " ")
            words.update(part for part in name.split() if len(part) >= 2)
        if entry.kind is Kind.POLICY and entry.source.policy_title:
            words.add(entry.source.policy_title)
            heading = entry.title.split("条", 1)[-1].strip()
            if 2 <= len(heading) <= 8:
                words.add(heading)
    return sorted(w for w in words if 2 <= len(w) <= 12)


def dense_texts(entry: Entry) -> list[str]:
    """What is embedded: FAQ questions one by one (question-to-question), otherwise title and text."""
    if entry.kind is Kind.FAQ:
        return list(entry.match_keys())
    return [f"{entry.title}\n{entry.text}"]


def dense_index_kind(settings: Settings, rows: int) -> str:
    """The FAISS index to build for this many dense rows (``dense_index=auto``: HNSW for large ones)."""
    if settings.dense_index == "auto":
        return "hnsw" if rows >= settings.hnsw_min_rows else "flat"
    return settings.dense_index


def body_text(entry: Entry) -> str:
    return entry.text


@dataclass
class BuildReport:
    version: str
    path: Path
    counts: dict[str, int]
    embedded: int
    reused: int
    seconds: dict[str, float]
    # The dense rows as built (row i belongs to entry row_entry[i]) and the analyzer the build segmented
    # with, for the reindex checks that compare questions.
    vectors: np.ndarray
    row_entry: np.ndarray
    analyzer: Analyzer
    cache_problem: str | None = None


def _progress(items: Iterable[Any], desc: str, total: int, enabled: bool) -> Iterable[Any]:
    return tqdm(items, desc=desc, total=total, disable=not enabled, unit="条", leave=False)


def _version_name(kb: KnowledgeBase, settings_digest: str, model_id: str) -> str:
    digest = hashlib.sha256()
    for name, sha in sorted(kb.file_hashes.items()):
        digest.update(f"{name}:{sha}\n".encode())
    digest.update(settings_digest.encode())
    digest.update(model_id.encode())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{digest.hexdigest()[:8]}"


def build_index(
    kb: KnowledgeBase,
    out_root: Path,
    settings: Settings,
    embedder: Embedder,
    progress: bool = False,
    switch: bool = True,
    log: Callable[[str], None] = lambda message: None,
    keep_cached: Iterable[str] = (),
) -> BuildReport:
    """Write a complete new version under ``out_root/versions`` and, if asked, point ``current`` at it.

    The embedding cache keeps this build's texts plus ``keep_cached`` (text hashes of other versions
    still on disk) and nothing else.
    """
    kb.raise_for_problems()
    if not kb.entries:
        raise ValueError("知识库为空：没有可索引的条目")
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    entries = kb.entries

    tick = time.perf_counter()
    analyzer = Analyzer.from_folder(kb.root / "dict", extra_words=dictionary_words(entries))
    vocab: dict[str, int] = {}

    def ids(text: str) -> list[int]:
        return [vocab.setdefault(term, len(vocab)) for term in analyzer.terms(text)]

    entry_keys: list[list[list[int]]] = []
    entry_bodies: list[list[int]] = []
    for entry in _progress(entries, "分词", len(entries), progress):
        entry_keys.append([ids(key) for key in entry.match_keys()])
        entry_bodies.append(ids(body_text(entry)))
    seconds["analyze"] = time.perf_counter() - tick

    tick = time.perf_counter()
    params = BM25Params(settings.bm25_k1, settings.bm25_b, settings.bm25_epsilon)
    bm25 = FieldedBM25.fit(entry_keys, entry_bodies, len(vocab), params, settings.key_weight, settings.body_weight)
    seconds["bm25"] = time.perf_counter() - tick

    tick = time.perf_counter()
    texts: list[str] = []
    row_entry: list[int] = []
    for number, entry in enumerate(entries):
        for text in dense_texts(entry):
            texts.append(text)
            row_entry.append(number)
    cache = EmbeddingCache(out_root / "cache", embedder.model_id, embedder.dim)
    hashes = [text_hash(t) for t in texts]
    text_of = dict(zip(hashes, texts, strict=True))
    missing = [h for h in text_of if h not in cache.rows]
    batch = settings.embed_batch_size
    with tqdm(total=len(missing), desc="向量化", disable=not progress, unit="条", leave=False) as bar:
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            vectors = np.asarray(embedder.embed_passages([text_of[h] for h in chunk]), dtype=np.float32)
            if vectors.shape != (len(chunk), embedder.dim) or not np.isfinite(vectors).all():
                # Never cache or index what a faulty model returned: it would outlive this build.
                raise ValueError(
                    f"向量模型 {embedder.model_id} 返回了无效向量（形状 {vectors.shape}，"
                    f"应为 {(len(chunk), embedder.dim)}，或含非有限数值）"
                )
            for h, vector in zip(chunk, vectors, strict=True):
                cache.rows[h] = vector  # already float32
            bar.update(len(chunk))
    matrix = np.stack([cache.rows[h] for h in hashes]) if hashes else np.zeros((0, embedder.dim), dtype=np.float32)
    seconds["embed"] = time.perf_counter() - tick

    tick = time.perf_counter()
    dense_kind = dense_index_kind(settings, len(texts))
    dense = DenseIndex.build(matrix, np.asarray(row_entry), len(entries), kind=dense_kind, hnsw_m=settings.hnsw_m)
    seconds["faiss"] = time.perf_counter() - tick

    tick = time.perf_counter()
    settings_digest = json.dumps({"bm25": [params.k1, params.b, params.epsilon], "dense": dense_kind}, sort_keys=True)
    version = _version_name(kb, settings_digest, embedder.model_id)
    versions = out_root / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    temp = versions / f".tmp-{version}"
    temp.mkdir()
    try:
        with (temp / "entries.jsonl").open("w", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(entry.model_dump_json() + "\n")
        terms = [""] * len(vocab)
        for term, number in vocab.items():
            terms[number] = term
        (temp / "vocab.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        analyzer.save(temp / "analyzer")
        for rel in SERVING_ASSIST_FILES:
            if (kb.root / rel).is_file():
                (temp / rel).parent.mkdir(exist_ok=True)
                shutil.copyfile(kb.root / rel, temp / rel)
        bm25.save(temp)
        dense.save(temp)
        counts = {kind.value: sum(1 for e in entries if e.kind is kind) for kind in Kind}
        counts.update(entries=len(entries), keys=bm25.keys.n_docs, dense_rows=len(texts), terms=len(vocab))
        manifest = {
            "format": FORMAT_VERSION,
            "version": version,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source_root": str(kb.root),
            "source_files": kb.file_hashes,
            "counts": counts,
            "model": {"id": embedder.model_id, "dim": embedder.dim},
            "bm25": {"k1": params.k1, "b": params.b, "epsilon": params.epsilon},
            "dense": {"index": dense_kind, "hnsw_m": settings.hnsw_m},
            "analyzer": {
                "words": len(analyzer.words),
                "synonyms": len(analyzer.synonyms),
                "stopwords": len(analyzer.stopwords),
            },
        }
        # The manifest is written last: a folder without one is an incomplete build.
        (temp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        # The cache before the version: a failed cache write must not leave a complete, unpublished folder.
        cache.save([*hashes, *keep_cached])
        final = versions / version
        os.replace(temp, final)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    seconds["write"] = time.perf_counter() - tick
    if switch:
        switch_current(out_root, version)
    seconds["total"] = time.perf_counter() - started
    log(f"索引版本 {version}：{len(entries)} 条")
    return BuildReport(
        version=version,
        path=final,
        counts=counts,
        embedded=len(missing),
        reused=len(set(hashes)) - len(missing),
        seconds=seconds,
        vectors=matrix,
        row_entry=np.asarray(row_entry, dtype=np.int64),
        analyzer=analyzer,
        cache_problem=cache.problem,
    )


# --- loading ------------------------------------------------------------------------------------


@dataclass
class IndexData:
    """Everything in one version folder, loaded (arrays memory-mapped where possible)."""

    path: Path
    manifest: dict[str, Any]
    entries: list[Entry]
    vocab: dict[str, int]
    analyzer: Analyzer
    bm25: FieldedBM25
    dense: DenseIndex

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def model_id(self) -> str:
        return str(self.manifest["model"]["id"])


def load_index(path: Path, settings: Settings) -> IndexData:
    folder = resolve_index(path)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexNotFoundError(
            f"索引 {folder} 的格式版本为 {manifest.get('format')}，本程序需要 {FORMAT_VERSION}：请重新构建索引"
        )
    with (folder / "entries.jsonl").open(encoding="utf-8") as handle:
        entries = [Entry.model_validate_json(line) for line in handle if line.strip()]
    terms = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    return IndexData(
        path=folder,
        manifest=manifest,
        entries=entries,
        vocab={term: number for number, term in enumerate(terms)},
        analyzer=Analyzer.from_folder(folder / "analyzer"),
        bm25=FieldedBM25.load(folder, settings.key_weight, settings.body_weight),
        dense=DenseIndex.load(folder, len(entries)),
    )
