"""The serving BM25 gives rank-bm25's BM25Okapi scores, and the fielded entry score combines them."""

from __future__ import annotations

import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from kbassist.bm25 import BM25, BM25Params, FieldedBM25
from kbassist.segment import Analyzer

CORPUS = [
    "退款多久能到账",
    "退款退到哪里",
    "七日无理由退货的条件是什么",
    "空调安装收费标准",
    "变频空调和定频空调有什么区别",
    "电热水壶第一次使用要烧一壶水倒掉",
    "智能马桶盖水压不够怎么办",
    "退货运费谁承担",
    "会员积分什么时候过期",
    "发票怎么开",
    "",
    "退款 退款 退款 到账",
]
QUERIES = ["退款到账", "空调区别", "马桶盖水压", "积分过期", "退款退款", "不存在的词", "退货"]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(stopwords=["的", "是", "什么", "怎么", "和"])


def vocab_ids(docs: list[list[str]]) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for doc in docs:
        for term in doc:
            vocab.setdefault(term, len(vocab))
    return vocab


@pytest.mark.parametrize("params", [BM25Params(), BM25Params(k1=1.2, b=0.5, epsilon=0.1)])
def test_same_scores_as_rank_bm25_on_analysed_chinese(analyzer: Analyzer, params: BM25Params) -> None:
    docs = [analyzer.terms(text) for text in CORPUS]
    reference = BM25Okapi(docs, k1=params.k1, b=params.b, epsilon=params.epsilon)
    vocab = vocab_ids(docs)
    ours = BM25.fit([[vocab[t] for t in d] for d in docs], len(vocab), params)
    for query in QUERIES:
        terms = analyzer.terms(query)
        expected = reference.get_scores(terms)
        got = ours.scores([vocab.get(t, -1) for t in terms])
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_same_scores_on_a_random_corpus_with_negative_idf() -> None:
    rng = random.Random(7)
    words = [f"w{i}" for i in range(30)]
    docs = [[rng.choice(words[: rng.randint(2, 30)]) for _ in range(rng.randint(0, 15))] for _ in range(80)]
    reference = BM25Okapi(docs)
    vocab = {w: i for i, w in enumerate(words)}
    ours = BM25.fit([[vocab[t] for t in d] for d in docs], len(vocab))
    for query in (["w0"], ["w0", "w1", "w1"], ["w29", "w3"], words):
        np.testing.assert_allclose(ours.scores([vocab[t] for t in query]), reference.get_scores(query), rtol=1e-12)


def test_save_and_load_round_trip(tmp_path, analyzer: Analyzer) -> None:
    docs = [analyzer.terms(text) for text in CORPUS]
    vocab = vocab_ids(docs)
    ours = BM25.fit([[vocab[t] for t in d] for d in docs], len(vocab))
    ours.save(tmp_path, "field")
    again = BM25.load(tmp_path, "field")
    query = [vocab["退款"], vocab["空调"]]
    np.testing.assert_array_equal(again.scores(query), ours.scores(query))
    assert again.has_term(0, vocab["退款"]) and not again.has_term(3, vocab["退款"])


def test_fielded_entry_takes_its_best_key_and_weights_the_body() -> None:
    # entry 0 has two keys; entry 1 one key; term 0 appears in key 1 of entry 0 and in entry 1's body.
    keys = [[[1], [0, 2]], [[3]]]
    bodies = [[2], [0, 0]]
    fielded = FieldedBM25.fit(keys, bodies, 4, BM25Params(), key_weight=1.0, body_weight=0.5)
    key_scores = BM25.fit([[1], [0, 2], [3]], 4).scores([0])
    body_scores = BM25.fit(bodies, 4).scores([0])
    expected = np.array([max(key_scores[0], key_scores[1]), key_scores[2]]) + 0.5 * body_scores
    np.testing.assert_allclose(fielded.scores([0]), expected)
    assert fielded.entry_has_term(0, 0) and fielded.entry_has_term(1, 0) and not fielded.entry_has_term(1, 1)


def test_every_entry_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        FieldedBM25.fit([[[0]], []], [[0], [0]], 1, BM25Params(), 1.0, 0.3)
