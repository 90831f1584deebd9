"""The library API on the tiny knowledge base: ranking, exact match, filters, validity, index round trip."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from kbassist.dense import ModelMismatchError
from kbassist.index import IndexNotFoundError, build_index, current_version, resolve_index
from kbassist.schema import Kind
from kbassist.search import Filters, Searcher
from kbassist.settings import Settings
from kbassist.sources import LoadError, load_knowledge_base
from tests.conftest import FakeEmbedder

DAY = date(2026, 6, 1)


def ids(searcher: Searcher, query: str, **kwargs) -> list[str]:
    kwargs.setdefault("as_of", DAY)
    return [h.entry.id for h in searcher.search(query, **kwargs).hits]


class TestRanking:
    def test_faq_found_by_a_similar_question_in_customer_words(self, tiny_searcher: Searcher) -> None:
        assert ids(tiny_searcher, "退钱几天能到")[0] == "faq-refund-001"

    def test_model_number_finds_the_model_whatever_the_spelling(self, tiny_searcher: Searcher) -> None:
        for typed in ("35GW", "kfr35gw", "KFR－35GW", "ｋｆｒ－３５ｇｗ 多少钱"):
            assert ids(tiny_searcher, typed, mode="bm25")[0] == "prd-kfr-35gw-bp3dn8y-ph200-b1", typed

    def test_a_model_number_naming_one_model_puts_it_first(self, tiny_searcher: Searcher) -> None:
        for typed in ("kfr35gw bp3dn8y 多少钱", "KFR-35GW/BP3DN8Y-PH200(B1) 安装", "退款 35gwbp3"):
            result = tiny_searcher.search(typed, as_of=DAY, mode="dense")
            assert result.hits[0].entry.id == "prd-kfr-35gw-bp3dn8y-ph200-b1", typed
            assert not result.exact_match  # that flag is for FAQ questions
        # KFR-26GW expired: today "kfr" alone names one valid model only by accident of this tiny KB,
        # but three characters are too short to count as naming a model.
        assert tiny_searcher.model_named("kfr", tiny_searcher.allowed(Filters(), DAY)) is None

    def test_policy_clause_answers_with_its_citation(self, tiny_searcher: Searcher) -> None:
        result = tiny_searcher.search("大家电验货要多久", as_of=DAY)
        top = result.hits[0].entry
        assert top.id == "pol-return-v3-c3"
        assert top.source.citation == "《退换货服务规则》第3条（3.0版）"

    def test_modes(self, tiny_searcher: Searcher) -> None:
        for mode in ("bm25", "dense", "hybrid"):
            result = tiny_searcher.search("空调安装收费吗", mode=mode, as_of=DAY)
            assert result.mode == mode
            assert result.hits[0].entry.id == "faq-install-001"
        assert "bm25" in tiny_searcher.search("空调", mode="bm25", as_of=DAY).timings
        assert "embed" not in tiny_searcher.search("空调", mode="bm25", as_of=DAY).timings
        with pytest.raises(ValueError, match="未知检索模式"):
            tiny_searcher.search("空调", mode="fast")  # type: ignore[arg-type]

    def test_explanation_carries_each_retriever(self, tiny_searcher: Searcher) -> None:
        hit = tiny_searcher.search("退款多久到账", as_of=DAY).hits[0]
        e = hit.explanation
        assert e.bm25_rank == 1 and e.bm25_score and e.bm25_score > 0
        assert e.dense_rank is not None and e.dense_score is not None
        assert e.fused_score == hit.score

    def test_matched_terms_include_synonyms_present_in_the_entry(self, tiny_searcher: Searcher) -> None:
        hit = tiny_searcher.search("退钱多久", as_of=DAY).hits[0]
        assert "退款" in hit.matched_terms

    def test_no_results_for_nothing_in_common(self, tiny_searcher: Searcher) -> None:
        result = tiny_searcher.search("量子力学", mode="bm25", as_of=DAY)
        assert result.hits == () and result.no_good_answer


class TestExactMatch:
    def test_exact_similar_question_is_flagged_and_first(self, tiny_searcher: Searcher) -> None:
        result = tiny_searcher.search("空调按装免费吗？", as_of=DAY)
        assert result.exact_match
        assert result.hits[0].entry.id == "faq-install-001" and result.hits[0].exact_match
        assert not any(h.exact_match for h in result.hits[1:])

    def test_exact_after_normalisation(self, tiny_searcher: Searcher) -> None:
        assert tiny_searcher.search(" 退款多久能到账 ", as_of=DAY).exact_match
        assert not tiny_searcher.search("退款多久能到账呢呢", as_of=DAY).exact_match

    def test_exact_match_wins_even_when_retrievers_disagree(self, tiny_searcher: Searcher) -> None:
        result = tiny_searcher.search("退款几天到账", mode="dense", as_of=DAY)
        assert result.hits[0].entry.id == "faq-refund-001" and result.hits[0].exact_match


class TestFiltersAndValidity:
    def test_scripts_are_not_answers_unless_asked(self, tiny_searcher: Searcher) -> None:
        assert all(not i.startswith("scr-") for i in ids(tiny_searcher, "退款 着急", top_k=20))
        assert ids(tiny_searcher, "退款进度", filters=Filters.of(kind="script"))[0].startswith("scr-")

    def test_kind_category_product_line_channel(self, tiny_searcher: Searcher) -> None:
        assert set(ids(tiny_searcher, "空调", top_k=20, filters=Filters.of(kind="product"))) <= {
            "pl-inverter-ac",
            "prd-kfr-35gw-bp3dn8y-ph200-b1",
        }
        assert ids(tiny_searcher, "退款 验货", top_k=20, filters=Filters.of(category="退换货")) == [
            e
            for e in ids(tiny_searcher, "退款 验货", top_k=20)
            if e in {"faq-refund-001", "pol-return-v3-c1", "pol-return-v3-c2", "pol-return-v3-c3"}
        ]
        kettle = ids(tiny_searcher, "水壶 空调", top_k=20, filters=Filters.of(product_line="电热水壶"))
        assert kettle == ["faq-kettle-001"]
        # channel: entries without a channel serve every channel; faq-install-001 is phone only
        online = ids(tiny_searcher, "空调安装收费", top_k=20, filters=Filters.of(channel="在线"))
        assert "faq-install-001" not in online
        assert "faq-install-001" in ids(tiny_searcher, "空调安装收费", top_k=20, filters=Filters.of(channel="电话"))

    def test_unknown_kind_is_a_clear_error(self) -> None:
        with pytest.raises(ValueError, match="未知类型 'manual'，可选：faq / policy / product / script"):
            Filters.of(kind="manual")

    def test_expired_and_future_entries_are_not_served_today(self, tiny_searcher: Searcher) -> None:
        today = ids(tiny_searcher, "验货时限", top_k=20)
        assert "pol-return-v3-c3" in today and "pol-return-v2-c1" not in today
        assert "prd-kfr-26gw-bp3dn8y-ph200-b1" not in ids(tiny_searcher, "KFR-26GW", top_k=20)
        assert "faq-promo-001" not in ids(tiny_searcher, "双11尾款", top_k=20)

    def test_as_of_a_date_inside_the_window_serves_them(self, tiny_searcher: Searcher) -> None:
        past = ids(tiny_searcher, "验货时限", top_k=20, as_of=date(2024, 5, 1))
        assert "pol-return-v2-c1" in past and "pol-return-v3-c3" not in past
        assert "faq-promo-001" in ids(tiny_searcher, "双11尾款", as_of=date(2025, 11, 1))
        assert "prd-kfr-26gw-bp3dn8y-ph200-b1" in ids(tiny_searcher, "KFR-26GW", as_of=date(2025, 1, 1))

    def test_exact_match_respects_validity(self, tiny_searcher: Searcher) -> None:
        result = tiny_searcher.search("尾款啥时候交", as_of=date(2026, 6, 1))
        assert not result.exact_match
        assert tiny_searcher.search("尾款啥时候交", as_of=date(2025, 11, 1)).exact_match


class TestScripts:
    def test_linked_scripts_in_stage_order_with_placeholders(self, tiny_searcher: Searcher) -> None:
        result = tiny_searcher.search("退款多久能到账", as_of=DAY, values={"客户称呼": "王女士"})
        assert [s.entry.id for s in result.scripts] == ["scr-refund-01", "scr-refund-02", "scr-refund-03"]
        assert [s.stage.value for s in result.scripts] == ["安抚", "方案", "跟进"]
        assert result.scripts[0].text.startswith("王女士，")
        assert "{订单号}" in result.scripts[1].text  # unknown placeholders stay visible
        assert result.scripts[0].reason == "linked:faq-refund-001"


class TestIndexFolder:
    def test_manifest_describes_the_build(self, tiny_searcher: Searcher, tiny_kb_dir: Path) -> None:
        manifest = tiny_searcher.data.manifest
        assert manifest["model"] == {"id": FakeEmbedder.model_id, "dim": FakeEmbedder.dim}
        assert manifest["counts"]["faq"] == 4 and manifest["counts"]["entries"] == 14
        assert set(manifest["source_files"]) >= {"faq/basics.csv", "policies/pol-return-v3.md", "dict/synonyms.txt"}
        assert manifest["version"] == tiny_searcher.version
        for name in ("entries.jsonl", "vocab.json", "dense.faiss", "bm25_keys.data.npy", "analyzer/synonyms.txt"):
            assert (tiny_searcher.data.path / name).is_file()

    def test_loading_a_copy_gives_the_same_results(self, tiny_searcher: Searcher, tmp_path: Path) -> None:
        copy = tmp_path / "copied-version"
        shutil.copytree(tiny_searcher.data.path, copy)
        again = Searcher.open(copy, tiny_searcher.settings, FakeEmbedder())
        assert again.entries == tiny_searcher.entries
        for query in ("退款多久到账", "KFR-35GW", "七日无理由退货", "马桶盖"):
            a = tiny_searcher.search(query, as_of=DAY, top_k=10)
            b = again.search(query, as_of=DAY, top_k=10)
            assert [(h.entry.id, h.score) for h in a.hits] == [(h.entry.id, h.score) for h in b.hits]

    def test_build_from_loaded_entries_equals_source(self, tiny_searcher: Searcher, tiny_kb_dir: Path) -> None:
        assert tiny_searcher.entries == load_knowledge_base(tiny_kb_dir).entries

    def test_another_model_is_a_clear_error(self, tiny_searcher: Searcher) -> None:
        class OtherModel(FakeEmbedder):
            model_id = "other-model"

        with pytest.raises(ModelMismatchError, match="用模型 fake:char-bigram-256 构建，当前配置的模型是 other-model"):
            Searcher.open(tiny_searcher.data.path, tiny_searcher.settings, OtherModel())

    def test_root_pointer_and_versions(self, tiny_kb_dir: Path, settings: Settings) -> None:
        kb = load_knowledge_base(tiny_kb_dir)
        first = build_index(kb, settings.index_dir, settings, FakeEmbedder())
        second = build_index(kb, settings.index_dir, settings, FakeEmbedder())
        assert first.version != second.version
        assert current_version(settings.index_dir) == second.version
        assert resolve_index(settings.index_dir) == second.path
        assert second.embedded == 0 and second.reused > 0  # embeddings came from the cache
        with pytest.raises(IndexNotFoundError, match="先运行 `kbassist build"):
            resolve_index(settings.index_dir / "nowhere")

    def test_invalid_knowledge_base_builds_nothing(self, tiny_kb_dir: Path, settings: Settings) -> None:
        (tiny_kb_dir / "faq" / "bad.jsonl").write_text('{"id": "faq-x", "question": "q"}\n', encoding="utf-8")
        with pytest.raises(LoadError, match=re.escape("bad.jsonl:1: answer: 缺少必填字段")):
            build_index(load_knowledge_base(tiny_kb_dir), settings.index_dir, settings, FakeEmbedder())
        assert not (settings.index_dir / "current").exists()

    def test_kinds_are_counted(self, tiny_searcher: Searcher) -> None:
        counts = json.loads((tiny_searcher.data.path / "manifest.json").read_text(encoding="utf-8"))["counts"]
        assert {k.value: counts[k.value] for k in Kind} == {"faq": 4, "policy": 4, "product": 3, "script": 3}
        assert (
            counts["dense_rows"]
            == int(np.sum([len(e.keys) or 1 for e in tiny_searcher.entries if e.kind is Kind.FAQ])) + 10
        )
