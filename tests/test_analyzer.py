"""The Chinese analyzer: normalisation, model numbers, dictionary, synonyms, stopwords."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbassist.normalize import exact_key, normalize
from kbassist.segment import Analyzer, model_number_terms, read_synonyms


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(
        words=["七日无理由", "变频空调", "马桶盖"],
        synonyms={"退钱": "退款", "返款": "退款", "烧水壶": "电热水壶"},
        stopwords=["的", "吗", "啥", "有", "和", "了"],
    )


class TestNormalize:
    def test_full_width_case_and_spaces(self) -> None:
        assert normalize("ＫＦＲ－３５ＧＷ／ＢＰ３  退款？") == "kfr-35gw/bp3 退款?"

    def test_dash_variants(self) -> None:
        assert normalize("KFR—35GW") == normalize("KFR–35GW") == "kfr-35gw"

    def test_exact_key_ignores_punctuation_and_spaces(self) -> None:
        assert exact_key("退款多久能到账？") == exact_key(" 退款 多久能到账?! ") == "退款多久能到账"


class TestModelNumbers:
    MODEL = "KFR-35GW/BP3DN8Y-PH200(B1)"

    def test_whole_and_parts(self) -> None:
        terms = set(model_number_terms(normalize(self.MODEL)))
        assert {"kfr35gwbp3dn8yph200b1", "kfr", "35gw", "bp3dn8y", "ph200", "b1", "kfr35gw"} <= terms

    @pytest.mark.parametrize(
        "typed", ["35GW", "kfr35gw", "KFR－35GW", "ｋｆｒ３５ｇｗ", "kfr-35gw/bp3dn8y", "KFR 35GW"]
    )
    def test_customer_spellings_meet_the_indexed_terms(self, analyzer: Analyzer, typed: str) -> None:
        indexed = set(analyzer.terms(f"型号：{self.MODEL}"))
        query = set(analyzer.terms(f"{typed}这台空调"))
        assert "35gw" in query & indexed or "kfr35gw" in query & indexed

    def test_model_number_is_cut_out_of_chinese(self, analyzer: Analyzer) -> None:
        assert analyzer.terms("空调35GW的变频")[:2] == ["空调", "35gw"]

    def test_quantities_keep_their_decimal_point(self, analyzer: Analyzer) -> None:
        assert analyzer.terms("水压0.1MPa") == ["水压", "0.1mpa", "0.1", "mpa"]
        assert "1.5" in analyzer.terms("1.5匹")


class TestDictionarySynonymsStopwords:
    def test_user_words_stay_whole(self, analyzer: Analyzer) -> None:
        assert "七日无理由" in analyzer.terms("七日无理由退货怎么算")

    def test_synonyms_map_to_the_canonical_word(self, analyzer: Analyzer) -> None:
        assert analyzer.terms("退钱") == analyzer.terms("退款") == ["退款"]
        tokens = analyzer.tokens("烧水壶")
        assert ("电热水壶", "烧水壶") in [(t.term, t.surface) for t in tokens]

    def test_stopwords_are_dropped(self, analyzer: Analyzer) -> None:
        terms = analyzer.terms("马桶盖有啥用的")
        assert "马桶盖" in terms and "用" in terms
        assert not {"有", "啥", "的"} & set(terms)

    def test_long_words_also_yield_their_parts(self, analyzer: Analyzer) -> None:
        # A query saying only 验货 must meet a title segmented as 验货时限.
        assert {"验货", "时限"} <= set(Analyzer(words=["验货时限"]).terms("验货时限"))

    def test_surfaces_point_into_the_normalised_text(self, analyzer: Analyzer) -> None:
        text = "退钱要几天"
        for token in analyzer.tokens(text):
            assert normalize(text)[token.start : token.end] == token.surface

    def test_synonym_file_format(self, tmp_path: Path) -> None:
        path = tmp_path / "synonyms.txt"
        path.write_text("# comment\n退款 退钱=返款\n发票，发飘\n单个\n", encoding="utf-8")
        assert read_synonyms(path) == {"退钱": "退款", "返款": "退款", "发飘": "发票"}

    def test_saved_analyzer_segments_the_same(self, analyzer: Analyzer, tmp_path: Path) -> None:
        analyzer.save(tmp_path)
        again = Analyzer.from_folder(tmp_path)
        for text in ("七日无理由退钱", "烧水壶KFR-35GW的", "马桶盖有啥用"):
            assert again.terms(text) == analyzer.terms(text)


class TestModelNumbersInAQuery:
    def test_runs_typed_apart_are_joined(self) -> None:
        from kbassist.segment import model_numbers_in

        assert model_numbers_in("kfr35gw bp3dn8y ph200")[-1] == "kfr35gwbp3dn8yph200"
        assert model_numbers_in("ＫＦＲ－３５ＧＷ／ＢＰ３") == ["kfr35gwbp3"]
        assert model_numbers_in("s8pro扫地机 和 wifi") == ["s8pro"]  # no digit in wifi: not a model
        assert model_numbers_in("35gw的空调，BCD510") == ["35gw", "bcd510"]  # Chinese text separates them
