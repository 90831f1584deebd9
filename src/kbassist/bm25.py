"""Stage 3a: BM25 over analysed text, scored with precomputed sparse weights.

The scores are those of rank-bm25's ``BM25Okapi`` (same IDF with its epsilon floor for negative
values, same length normalisation); the difference is that every (document, term) weight is computed
once at build time and kept column-wise, so a query touches only the postings of its own terms
instead of looping over every document in Python.

An entry has two fields: its keys (an FAQ's standard and similar questions, or a title), each key
scored as its own document with the entry taking its best key, and its body (answer, clause text,
spec lines). The entry's score is ``key_weight * best_key + body_weight * body``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import sparse


def load_array(path: Path, mmap: bool) -> np.ndarray:
    """Memory-mapped (pages shared between processes and loaded on demand) but as a plain ndarray:
    np.memmap's own __getitem__ is slow on the per-query hot path."""
    if not mmap:
        return np.load(path)
    mode: Literal["r"] = "r"
    return np.load(path, mmap_mode=mode).view(np.ndarray)


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25


class BM25:
    """One field: documents are rows, weights are stored per term (CSC)."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_docs: int, params: BM25Params):
        self.indptr = indptr
        self.indices = indices
        self.data = data
        self.n_docs = n_docs
        self.params = params

    @classmethod
    def fit(cls, docs: Sequence[Sequence[int]], n_terms: int, params: BM25Params = BM25Params()) -> BM25:
        n_docs = len(docs)
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=n_docs)
        rows = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        cols = np.fromiter((t for d in docs for t in d), dtype=np.int64, count=int(lengths.sum()))
        tf = sparse.csc_matrix((np.ones(len(cols), dtype=np.float64), (rows, cols)), shape=(n_docs, max(n_terms, 1)))
        tf.sum_duplicates()
        doc_freq = np.diff(tf.indptr)
        present = doc_freq > 0
        idf = np.zeros(tf.shape[1], dtype=np.float64)
        idf[present] = np.log(n_docs - doc_freq[present] + 0.5) - np.log(doc_freq[present] + 0.5)
        if present.any():
            # rank-bm25 floors negative IDF (terms in over half the documents) at epsilon * mean IDF.
            floor = params.epsilon * idf[present].mean()
            idf[present & (idf < 0)] = floor
        avgdl = lengths.mean() if n_docs else 1.0
        norm = params.k1 * (1 - params.b + params.b * lengths / (avgdl or 1.0))
        term_of_value = np.repeat(np.arange(tf.shape[1]), doc_freq)
        freq = tf.data
        weights = idf[term_of_value] * freq * (params.k1 + 1) / (freq + norm[tf.indices])
        return cls(tf.indptr.astype(np.int64), tf.indices.astype(np.int32), weights, n_docs, params)

    @property
    def n_terms(self) -> int:
        return len(self.indptr) - 1

    def scores(self, query_terms: Sequence[int]) -> np.ndarray:
        """Score every document; a term repeated in the query counts again, as in BM25Okapi."""
        out = np.zeros(self.n_docs, dtype=np.float64)
        terms, counts = np.unique(np.asarray(query_terms, dtype=np.int64), return_counts=True)
        for term, count in zip(terms.tolist(), counts.tolist(), strict=True):
            if term < 0 or term >= self.n_terms:
                continue
            start, end = self.indptr[term], self.indptr[term + 1]
            out[self.indices[start:end]] += count * self.data[start:end]
        return out

    def has_term(self, doc: int, term: int) -> bool:
        return self.has_term_in(term, doc, doc + 1)

    def has_term_in(self, term: int, first: int, end: int) -> bool:
        """Whether any of the documents first..end-1 contains the term: postings are sorted, so one
        binary search answers it."""
        if term < 0 or term >= self.n_terms:
            return False
        postings = self.indices[self.indptr[term] : self.indptr[term + 1]]
        position = int(np.searchsorted(postings, first))
        return position < len(postings) and int(postings[position]) < end

    def save(self, folder: Path, name: str) -> None:
        np.save(folder / f"{name}.indptr.npy", self.indptr)
        np.save(folder / f"{name}.indices.npy", self.indices)
        np.save(folder / f"{name}.data.npy", self.data)
        (folder / f"{name}.json").write_text(
            json.dumps({"n_docs": self.n_docs, "params": asdict(self.params)}), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path, name: str, mmap: bool = True) -> BM25:
        meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        return cls(
            load_array(folder / f"{name}.indptr.npy", mmap),
            load_array(folder / f"{name}.indices.npy", mmap),
            load_array(folder / f"{name}.data.npy", mmap),
            int(meta["n_docs"]),
            BM25Params(**meta["params"]),
        )


class FieldedBM25:
    """Entry-level BM25: best key (question/title) weighted above the body."""

    def __init__(self, keys: BM25, key_offsets: np.ndarray, body: BM25, key_weight: float, body_weight: float):
        if len(key_offsets) != body.n_docs:
            raise ValueError("every entry needs at least one key: key_offsets and body rows differ")
        self.keys = keys
        self.key_offsets = key_offsets
        self.body = body
        self.key_weight = key_weight
        self.body_weight = body_weight

    @classmethod
    def fit(
        cls,
        entry_keys: Sequence[Sequence[Sequence[int]]],
        entry_bodies: Sequence[Sequence[int]],
        n_terms: int,
        params: BM25Params,
        key_weight: float,
        body_weight: float,
    ) -> FieldedBM25:
        flat_keys = [key for keys in entry_keys for key in keys]
        counts = np.fromiter((len(keys) for keys in entry_keys), dtype=np.int64, count=len(entry_keys))
        if (counts == 0).any():
            raise ValueError("every entry needs at least one key")
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return cls(
            BM25.fit(flat_keys, n_terms, params),
            offsets,
            BM25.fit(entry_bodies, n_terms, params),
            key_weight,
            body_weight,
        )

    @property
    def n_entries(self) -> int:
        return self.body.n_docs

    def key_scores(self, query_terms: Sequence[int]) -> np.ndarray:
        """Each entry's best key score."""
        if self.n_entries == 0:
            return np.zeros(0)
        return np.maximum.reduceat(self.keys.scores(query_terms), self.key_offsets)

    def scores(self, query_terms: Sequence[int]) -> np.ndarray:
        total = self.key_weight * self.key_scores(query_terms)
        if self.body_weight:
            total += self.body_weight * self.body.scores(query_terms)
        return total

    def entry_has_term(self, entry: int, term: int) -> bool:
        if self.body.has_term(entry, term):
            return True
        # The entry's keys are the rows start..end-1.
        start = int(self.key_offsets[entry])
        end = int(self.key_offsets[entry + 1]) if entry + 1 < self.n_entries else self.keys.n_docs
        return self.keys.has_term_in(term, start, end)

    def save(self, folder: Path) -> None:
        self.keys.save(folder, "bm25_keys")
        self.body.save(folder, "bm25_body")
        np.save(folder / "bm25_key_offsets.npy", self.key_offsets)

    @classmethod
    def load(cls, folder: Path, key_weight: float, body_weight: float, mmap: bool = True) -> FieldedBM25:
        return cls(
            BM25.load(folder, "bm25_keys", mmap),
            load_array(folder / "bm25_key_offsets.npy", mmap),
            BM25.load(folder, "bm25_body", mmap),
            key_weight,
            body_weight,
        )
