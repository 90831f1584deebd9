"""No good answer: the calibrated confidence, its file, fitting and threshold choice, the flag in a
search (with the Settings override), and the tuning script."""

from __future__ import annotations

import importlib.util
import json
import math
from datetime import date
from pathlib import Path

import pytest

from kbassist import search as search_module
from kbassist.assistdata import AssistDataError
from kbassist.noanswer import Evidence, NoAnswerModel, choose_threshold, fit, flag_report, load_no_answer
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.views import SearchView
from tests.assist_kb import add_assist, open_assisted
from tests.conftest import REPO, FakeEmbedder

DAY = date(2026, 6, 1)
CALIBRATION = {"bias": -4.0, "w_cosine": 6.0, "w_bm25": 1.5, "threshold": 0.5}
UNANSWERABLE = "量子力学的基本原理是什么"
ANSWERABLE = "空调安装收费吗"


class TestModel:
    def test_formula(self) -> None:
        model = NoAnswerModel(bias=-4.0, w_cosine=6.0, w_bm25=1.5, threshold=0.5)
        z = -4.0 + 6.0 * 0.5 + 1.5 * math.log1p(3.0)
        assert model.confidence(Evidence(bm25=3.0, cosine=0.5)) == pytest.approx(1 / (1 + math.exp(-z)))
        assert model.with_threshold(0.9).threshold == 0.9 and model.with_threshold(None) is model

    def test_untuned_default_flags_nothing(self, tmp_path: Path) -> None:
        model = load_no_answer(tmp_path / "missing.json")
        assert model.threshold == 0.0 and model.confidence(Evidence(0.0, 0.0)) == 0.5

    def test_file_errors(self, tmp_path: Path) -> None:
        path = tmp_path / "no_answer.json"
        path.write_text('{"bias": 1,\n "w_cosine": }', encoding="utf-8")
        with pytest.raises(AssistDataError, match=r"no_answer.json:2: json: JSON 格式错误"):
            load_no_answer(path)
        path.write_text(json.dumps({"bias": 1, "w_cosine": "x", "threshold": 2}), encoding="utf-8")
        with pytest.raises(AssistDataError) as caught:
            load_no_answer(path)
        fields = [p.field for p in caught.value.problems]
        assert fields == ["w_cosine", "w_bm25", "threshold"]

    def test_fit_orders_answerable_above_unanswerable(self) -> None:
        good = [Evidence(bm25=b, cosine=c) for b, c in [(8, 0.9), (6, 0.88), (9, 0.92), (5, 0.86), (7, 0.87)]]
        bad = [Evidence(bm25=b, cosine=c) for b, c in [(0.5, 0.8), (0, 0.79), (1, 0.82)]]
        model = fit(good + bad, [True] * len(good) + [False] * len(bad))
        assert model.w_cosine > 0 and model.w_bm25 > 0
        assert min(map(model.confidence, good)) > max(map(model.confidence, bad))
        with pytest.raises(ValueError, match="不可回答"):
            fit(good, [True] * len(good))

    def test_threshold_with_the_best_f1_sits_inside_the_gap(self) -> None:
        confidences = [0.1, 0.2, 0.6, 0.7, 0.9]
        unanswerable = [True, True, False, False, False]
        threshold = choose_threshold(confidences, unanswerable)
        assert 0.2 < threshold < 0.6

    def test_flag_report(self) -> None:
        report = flag_report([(True, True, False), (True, False, False), (False, True, False), (False, False, True)])
        assert (report.questions, report.unanswerable, report.flagged, report.true_positives) == (4, 2, 2, 1)
        assert report.precision == 0.5 and report.recall == 0.5 and report.f1 == 0.5
        assert report.flagged_answerable_unfound == 1


@pytest.fixture
def calibrated(tiny_kb_dir: Path, settings: Settings) -> Searcher:
    add_assist(tiny_kb_dir, CALIBRATION)
    return open_assisted(tiny_kb_dir, settings, FakeEmbedder())


class TestInTheSearch:
    def test_unanswerable_question_is_flagged_and_gets_the_call_back_scripts(self, calibrated: Searcher) -> None:
        result = calibrated.search(UNANSWERABLE, as_of=DAY)
        assert result.hits  # the dense retriever always finds something: the flag is what tells
        assert result.no_good_answer
        assert result.confidence is not None and result.confidence < 0.5
        assert result.evidence is not None and result.evidence.bm25 == 0.0
        ids = [s.entry.id for s in result.scripts]
        assert {"scr-callback-explain", "scr-callback-follow", "scr-callback-transfer"} <= set(ids)
        assert not any(s.reason.startswith("linked:") for s in result.scripts)  # no guess from the hits

    def test_answerable_question_is_not_flagged(self, calibrated: Searcher) -> None:
        result = calibrated.search(ANSWERABLE, as_of=DAY)
        assert result.hits[0].entry.id == "faq-install-001"
        assert not result.no_good_answer and result.confidence is not None and result.confidence >= 0.5

    def test_exact_match_has_full_confidence(self, calibrated: Searcher) -> None:
        result = calibrated.search("空调按装免费吗", as_of=DAY)
        assert result.exact_match and result.confidence == 1.0 and not result.no_good_answer

    def test_evidence_is_the_top_hits_scores(self, calibrated: Searcher) -> None:
        result = calibrated.search(ANSWERABLE, as_of=DAY)
        top = result.hits[0].explanation
        assert result.evidence == Evidence(bm25=top.bm25_score, cosine=top.dense_score)
        model = calibrated.no_answer
        assert result.confidence == pytest.approx(model.confidence(result.evidence), abs=1e-4)

    def test_settings_override_the_tuned_threshold(self, tiny_kb_dir: Path, tmp_path: Path) -> None:
        add_assist(tiny_kb_dir, CALIBRATION)
        for threshold, flagged in ((0.0, False), (0.999, True)):
            settings = Settings(
                data_dir=tiny_kb_dir, index_dir=tmp_path / f"i{threshold}", no_answer_threshold=threshold
            )
            searcher = open_assisted(tiny_kb_dir, settings, FakeEmbedder())
            assert searcher.no_answer.threshold == threshold
            assert searcher.search(ANSWERABLE, as_of=DAY).no_good_answer is flagged
            assert searcher.search(UNANSWERABLE, as_of=DAY).no_good_answer is flagged

    def test_environment_variable_override(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KBASSIST_NO_ANSWER_THRESHOLD", "0.25")
        assert Settings().no_answer_threshold == 0.25

    def test_bm25_mode_has_no_calibrated_confidence(self, calibrated: Searcher) -> None:
        result = calibrated.search(ANSWERABLE, as_of=DAY, mode="bm25")
        assert result.confidence is None and result.evidence is None and not result.no_good_answer
        assert calibrated.search(UNANSWERABLE, as_of=DAY, mode="bm25").no_good_answer  # no hits at all

    def test_dense_mode_scores_bm25_for_the_top_hit(self, calibrated: Searcher) -> None:
        result = calibrated.search(ANSWERABLE, as_of=DAY, mode="dense")
        assert result.evidence is not None and result.evidence.bm25 > 0

    def test_view_shows_confidence_and_intent(self, calibrated: Searcher) -> None:
        view = SearchView.of(calibrated.search("我要投诉，气死了！", as_of=DAY))
        data = json.loads(view.model_dump_json())
        assert data["intent"]["intent"] == "投诉" and data["intent"]["emotion"] == "愤怒"
        assert {c["text"] for c in data["intent"]["cues"]} >= {"我要投诉", "气死"}
        assert data["intent"]["neighbours"] and "相近例句" in data["intent"]["explanation"]
        assert isinstance(data["confidence"], float) and "no_good_answer" in data


def load_tune_script():
    spec = importlib.util.spec_from_file_location("tune_no_answer", REPO / "scripts" / "tune_no_answer.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestTuningScript:
    def test_refuses_the_holdout(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert load_tune_script().main(["--queries", "data/eval/holdout.jsonl", "--index", "/nonexistent"]) == 2
        assert "留出集" in capsys.readouterr().err

    def test_writes_parameters_that_the_searcher_reads(
        self, tiny_kb_dir: Path, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        add_assist(tiny_kb_dir)
        open_assisted(tiny_kb_dir, settings, FakeEmbedder())
        monkeypatch.setattr(search_module, "make_embedder", lambda _settings: FakeEmbedder())
        monkeypatch.setenv("KBASSIST_DATA_DIR", str(tiny_kb_dir))
        questions = tmp_path / "questions.jsonl"
        rows = [
            {"qid": "a1", "query": "空调安装收费吗", "relevant_ids": ["faq-install-001"]},
            {"qid": "a2", "query": "退钱几天能到", "relevant_ids": ["faq-refund-001"]},
            {"qid": "a3", "query": "大家电验货要多久", "relevant_ids": ["pol-return-v3-c3"]},
            {"qid": "a4", "query": "新水壶怎么用", "relevant_ids": ["faq-kettle-001"]},
            {"qid": "u1", "query": UNANSWERABLE, "relevant_ids": []},
            {"qid": "u2", "query": "明天天气怎么样", "relevant_ids": []},
        ]
        questions.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        out = tmp_path / "no_answer.json"
        code = load_tune_script().main(
            [
                "--index",
                str(settings.index_dir),
                "--queries",
                str(questions),
                "--out",
                str(out),
                "--as-of",
                "2026-06-01",
            ]
        )
        assert code == 0
        data = json.loads(out.read_text(encoding="utf-8"))
        assert set(data) >= {"formula", "bias", "w_cosine", "w_bm25", "threshold", "tuned_on", "dev", "model"}
        assert data["tuned_on"] == str(questions) and data["dev"]["unanswerable"] == 2
        assert 0 <= data["threshold"] <= 1
        model = load_no_answer(out)
        assert model.threshold == pytest.approx(data["threshold"])


@pytest.mark.slow
def test_real_data_flags_an_unanswerable_question(real_searcher: Searcher) -> None:
    """With the project's data, its tuned data/assist/no_answer.json and the bundled model."""
    assert real_searcher.no_answer.source is not None, "data/assist/no_answer.json is missing"
    unanswerable = real_searcher.search("你们公司的股票代码是多少，今年分红吗")
    assert unanswerable.no_good_answer
    answerable = real_searcher.search("空调35GW的变频和定频有啥区别")
    assert not answerable.no_good_answer
