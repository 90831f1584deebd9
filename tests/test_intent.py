"""Intent and emotion: cue matching, the cue file's checks, kNN with its explanation, the labelled data,
and the classification inside a search (reusing the query vector)."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from kbassist import intent as intent_module
from kbassist.assistdata import EMOTIONS, INTENTS, AssistDataError, Utterance, fold, load_utterances
from kbassist.intent import IntentClassifier, evaluate_classifier, load_cues
from kbassist.search import Searcher
from kbassist.settings import Settings
from tests.assist_kb import CountingEmbedder, add_assist, open_assisted
from tests.conftest import DATA, FakeEmbedder

ASSIST = DATA / "assist"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cues_only() -> IntentClassifier:
    return IntentClassifier.load(ASSIST)


class TestCueMatching:
    def test_angry_complaint(self, cues_only: IntentClassifier) -> None:
        result = cues_only.classify("你们什么垃圾产品，我要投诉到12315！")
        assert (result.intent.label, result.emotion.label) == ("投诉", "愤怒")
        assert {c.text for c in result.intent.supporting_cues} >= {"我要投诉", "12315"}
        assert "垃圾" in {c.text for c in result.emotion.supporting_cues}
        assert not result.used_knn and result.neighbours == ()

    def test_each_dimension_has_a_confidence_and_every_label_a_score(self, cues_only: IntentClassifier) -> None:
        result = cues_only.classify("退款都一个多星期了还没到，能不能快点")
        assert result.intent.label == "催办" and result.emotion.label == "焦急"
        assert set(result.intent.scores) == set(INTENTS) and set(result.emotion.scores) == set(EMOTIONS)
        assert sum(result.intent.scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert result.intent.confidence == max(result.intent.scores.values())
        assert next(iter(result.intent.scores)) == "催办"  # best first

    def test_no_cue_falls_back_to_the_defaults_without_certainty(self, cues_only: IntentClassifier) -> None:
        result = cues_only.classify("嗯")
        assert (result.intent.label, result.emotion.label) == ("咨询", "平静")
        assert result.intent.confidence < 0.6 and result.emotion.confidence < 0.8
        assert result.intent.cues == () and result.emotion.cues == ()

    def test_longer_word_hides_the_shorter_one_inside_it(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "cues.yaml",
            """\
            intents:
              咨询: {cues: [请问]}
            emotions:
              平静: {cues: [不急]}
              焦急: {cues: [{cue: 急, weight: 3}]}
            """,
        )
        classifier = IntentClassifier(load_cues(path))
        calm = classifier.classify("不急，请问保修几年")
        assert calm.emotion.label == "平静"
        assert [(c.text, c.start, c.end) for c in calm.emotion.cues] == [("不急", 0, 2)]
        assert classifier.classify("很急，请问保修几年").emotion.label == "焦急"

    def test_patterns_do_not_hide_words_and_each_cue_counts_once(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "cues.yaml",
            """\
            intents:
              咨询: {cues: [{regex: '能[^，。！？]{0,6}吗', weight: 0.5}]}
              退换货: {cues: [{cue: 换新, weight: 2}]}
            emotions:
              愤怒: {cues: [{regex: '！', weight: 1}]}
            """,
        )
        result = IntentClassifier(load_cues(path)).classify("能马上换新的吗！！！")
        assert result.intent.label == "退换货"
        assert [c.text for c in result.intent.cues] == ["能马上换新的吗", "换新"]
        assert [c.weight for c in result.emotion.cues] == [1.0]  # three "！", one cue

    def test_full_width_and_half_width_text_match_the_same_cues(self, cues_only: IntentClassifier) -> None:
        assert fold("ＫＦＲ１２３！?") == "kfr123！？"
        half = cues_only.classify("凭什么不给我退?!")
        full = cues_only.classify("凭什么不给我退？！")
        assert half.emotion.label == full.emotion.label == "愤怒"
        assert [c.cue for c in half.emotion.cues] == [c.cue for c in full.emotion.cues]


class TestCueFile:
    def test_the_project_cue_file_loads(self) -> None:
        book = load_cues(ASSIST / "intent_cues.yaml")
        assert {c.label for c in book.intents.cues} == set(INTENTS)
        assert {c.label for c in book.emotions.cues} == set(EMOTIONS)

    def test_every_problem_with_file_and_line(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "cues.yaml",
            """\
            knn:
              k: 0
            intents:
              咨询:
                cues:
                  - 请问
                  - 请问
                  - {cue: 保修, weight: -1}
                  - {regex: '(未闭合'}
                  - {regex: 'a*'}
              闲聊:
                cues: [你好]
            emotions:
              平静:
                prior: 很高
                cues: [{cue: 好, regex: 好}]
            """,
        )
        with pytest.raises(AssistDataError) as caught:
            load_cues(path)
        lines = [str(p) for p in caught.value.problems]
        assert f"{path}:2: knn.k: 应不小于 1" in lines
        assert any(line.startswith(f"{path}:7: intents.咨询.cues: 线索 '请问' 与第 6 行重复") for line in lines)
        assert f"{path}:8: intents.咨询.cues.weight: 权重应为大于 0 的数字" in lines
        assert any(line.startswith(f"{path}:9: intents.咨询.cues.regex: 正则表达式 '(未闭合' 有误") for line in lines)
        assert f"{path}:10: intents.咨询.cues.regex: 正则表达式 'a*' 会匹配空字符串" in lines
        assert any(line.startswith(f"{path}:11: intents.闲聊: 类别 '闲聊' 无效") for line in lines)
        assert f"{path}:15: emotions.平静.prior: 应为不小于 0 的数字" in lines
        assert f"{path}:16: emotions.平静.cues: cue 与 regex 须写且只写一个" in lines
        assert "坐席辅助数据文件有 8 个问题" in str(caught.value)

    def test_yaml_syntax_error_names_its_line(self, tmp_path: Path) -> None:
        path = write(tmp_path, "cues.yaml", "intents:\n  咨询: {cues: [请问\nemotions: {}\n")
        with pytest.raises(AssistDataError, match=r"cues.yaml:3: yaml: YAML 语法错误"):
            load_cues(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(AssistDataError, match="文件不存在"):
            load_cues(tmp_path / "nope.yaml")


class TestLabelledUtterances:
    def test_sizes_balance_and_voice(self) -> None:
        train = load_utterances(ASSIST / "utterances.jsonl")
        holdout = load_utterances(ASSIST / "utterances_holdout.jsonl")
        assert len(train) + len(holdout) >= 150
        assert 0.6 <= len(train) / (len(train) + len(holdout)) <= 0.72
        for rows in (train, holdout, train + holdout):
            intents = Counter(u.intent for u in rows)
            emotions = Counter(u.emotion for u in rows)
            assert set(intents) == set(INTENTS) and set(emotions) == set(EMOTIONS)
            assert max(intents.values()) - min(intents.values()) <= len(rows) // 30 + 1
            assert max(emotions.values()) - min(emotions.values()) <= len(rows) // 30 + 1

    def test_holdout_shares_no_utterance_with_training(self) -> None:
        train = {u.text for u in load_utterances(ASSIST / "utterances.jsonl")}
        holdout = {u.text for u in load_utterances(ASSIST / "utterances_holdout.jsonl")}
        assert train.isdisjoint(holdout)

    def test_bad_lines_are_reported_with_their_line(self, tmp_path: Path) -> None:
        path = tmp_path / "u.jsonl"
        rows = [
            {"text": "退款怎么还没到", "intent": "催办", "emotion": "焦急"},
            {"text": "退款怎么还没到", "intent": "催办", "emotion": "焦急"},
            {"text": "", "intent": "闲聊", "emotion": "开心"},
        ]
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{oops\n", encoding="utf-8")
        with pytest.raises(AssistDataError) as caught:
            load_utterances(path)
        lines = [str(p) for p in caught.value.problems]
        assert lines[0] == f"{path}:2: text: 与第 1 行重复"
        assert f"{path}:3: text: 缺少客户原话" in lines
        assert any(line.startswith(f"{path}:3: intent: 意图 '闲聊' 无效") for line in lines)
        assert any(line.startswith(f"{path}:4: json: JSON 格式错误") for line in lines)


class TestNearestExamples:
    def test_neighbours_explain_the_vote(self) -> None:
        embedder = FakeEmbedder()
        classifier = IntentClassifier.load(ASSIST, embedder)
        query = "我的退款申请提交五天了，想问下到哪一步了"
        result = classifier.classify(query, embedder.embed_queries([query])[0])
        assert result.used_knn and len(result.neighbours) == classifier.cues.knn_k
        similarities = [n.similarity for n in result.neighbours]
        assert similarities == sorted(similarities, reverse=True)
        nearest = result.neighbours[0]
        assert nearest.text in {u.text for u in classifier.examples}
        assert "相近例句：「" + nearest.text + "」" in result.explain()

    def test_knn_alone_decides_when_cues_are_off(self) -> None:
        examples = (
            Utterance("空调坏了要修", "维修", "平静"),
            Utterance("什么时候退款", "催办", "焦急"),
        )
        vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
        classifier = IntentClassifier(load_cues(ASSIST / "intent_cues.yaml"), examples, vectors)
        result = classifier.classify("随便", np.array([0.9, 0.1], dtype=np.float32), use_cues=False)
        assert (result.intent.label, result.emotion.label) == ("维修", "平静")
        assert result.neighbours[0].text == "空调坏了要修"
        left_out = classifier.classify("随便", np.array([0.9, 0.1], dtype=np.float32), use_cues=False, exclude=0)
        assert [n.text for n in left_out.neighbours] == ["什么时候退款"]

    def test_examples_are_embedded_once_per_process_and_model(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(intent_module, "_example_vectors", {})
        first, second = CountingEmbedder(), CountingEmbedder()
        IntentClassifier.load(ASSIST, first)
        IntentClassifier.load(ASSIST, first)
        IntentClassifier.load(ASSIST, second)  # another object of the same model: no second embedding
        assert len(first.query_calls) == 1 and second.query_calls == []

    def test_the_holdout_file_is_never_read_to_classify(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        folder = tmp_path / "assist"
        folder.mkdir()
        for name in ("intent_cues.yaml", "utterances.jsonl"):
            (folder / name).write_text((ASSIST / name).read_text(encoding="utf-8"), encoding="utf-8")
        (folder / "utterances_holdout.jsonl").write_text("this is not json\n", encoding="utf-8")
        opened: list[str] = []
        real = intent_module.load_utterances
        monkeypatch.setattr(intent_module, "load_utterances", lambda path: opened.append(path.name) or real(path))
        classifier = IntentClassifier.load(folder, FakeEmbedder())
        classifier.classify("退款怎么还没到", FakeEmbedder().embed_queries(["退款怎么还没到"])[0])
        assert opened == ["utterances.jsonl"]
        holdout = {u.text for u in load_utterances(ASSIST / "utterances_holdout.jsonl")}
        assert holdout.isdisjoint(u.text for u in classifier.examples)


class TestEvaluation:
    def test_accuracy_and_confusion(self, cues_only: IntentClassifier) -> None:
        rows = [
            Utterance("我要投诉你们的快递员", "投诉", "平静"),
            Utterance("请问保修几年", "咨询", "平静"),
            Utterance("请问保修几年呀", "维修", "愤怒"),  # labelled wrong on purpose
        ]
        report = evaluate_classifier(cues_only, rows, None)
        assert (report.intent.correct, report.intent.total) == (2, 3)
        assert report.intent.confusion["维修"]["咨询"] == 1
        assert report.intent.top_confusions() == [("维修", "咨询", 1)]
        assert report.emotion.accuracy == pytest.approx(2 / 3)
        assert len(report.mistakes) == 1


class TestInsideTheSearch:
    def test_result_carries_the_classification_and_reuses_the_query_vector(
        self, tiny_kb_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(intent_module, "_example_vectors", {})
        add_assist(tiny_kb_dir)
        embedder = CountingEmbedder()
        searcher = open_assisted(tiny_kb_dir, settings, embedder)
        assert len(embedder.query_calls) == 1  # the labelled examples, once
        result = searcher.search("退款都一周了还没到账，气死了！")
        assert result.intent is not None
        assert (result.intent.intent.label, result.intent.emotion.label) == ("催办", "愤怒")
        assert result.intent.used_knn and result.intent.neighbours
        assert "intent" in result.timings
        # One model call for the query (the dense search's), none for the classification.
        assert embedder.query_calls[1:] == [["退款都一周了还没到账，气死了！"]]
        # A reloaded index (new Searcher, same process) does not embed the examples again.
        Searcher.open(settings.index_dir, settings, embedder)
        assert len(embedder.query_calls) == 2

    def test_bm25_mode_classifies_by_cues_only(self, tiny_kb_dir: Path, settings: Settings) -> None:
        add_assist(tiny_kb_dir)
        searcher = open_assisted(tiny_kb_dir, settings, FakeEmbedder())
        result = searcher.search("我要投诉", mode="bm25")
        assert result.intent is not None and result.intent.intent.label == "投诉"
        assert not result.intent.used_knn

    def test_without_assist_data_there_is_no_classification(self, tiny_searcher: Searcher) -> None:
        assert tiny_searcher.search("我要投诉").intent is None

    def test_a_broken_cue_file_is_a_clear_error_when_opening(self, tiny_kb_dir: Path, settings: Settings) -> None:
        assist = add_assist(tiny_kb_dir)
        (assist / "intent_cues.yaml").write_text("intents:\n  闲聊: {cues: [嗨]}\nemotions: {}\n", encoding="utf-8")
        with pytest.raises(AssistDataError, match=r"intent_cues.yaml:2: intents.闲聊"):
            open_assisted(tiny_kb_dir, settings, FakeEmbedder())
