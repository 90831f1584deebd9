"""The agent-assist side of the CLI: `ask` shows intent and emotion, `eval-intent`, `eval-no-answer`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbassist import search as search_module
from kbassist.assistdata import load_utterances
from kbassist.cli import app
from kbassist.cli import assist as assist_cli
from kbassist.intent import IntentClassifier, evaluate_classifier
from kbassist.settings import Settings
from tests.assist_kb import add_assist, open_assisted
from tests.conftest import DATA, FakeEmbedder

runner = CliRunner()


@pytest.fixture
def assisted_env(tiny_kb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    add_assist(tiny_kb_dir, {"bias": -4.0, "w_cosine": 6.0, "w_bm25": 1.5, "threshold": 0.5})
    settings = Settings(data_dir=tiny_kb_dir, index_dir=tmp_path / "index")
    open_assisted(tiny_kb_dir, settings, FakeEmbedder())
    monkeypatch.setenv("KBASSIST_DATA_DIR", str(tiny_kb_dir))
    monkeypatch.setenv("KBASSIST_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setattr(search_module, "make_embedder", lambda _settings: FakeEmbedder())
    monkeypatch.setattr(assist_cli, "make_embedder", lambda _settings: FakeEmbedder())
    return tiny_kb_dir


def test_ask_prints_intent_and_emotion_in_chinese(assisted_env: Path) -> None:
    result = runner.invoke(
        app, ["ask", "你们什么垃圾服务，我要投诉！", "--as-of", "2026-06-01", "--value", "客户称呼=王女士"]
    )
    assert result.exit_code == 0, result.output
    output = result.output.replace("\n", "")
    assert "客户意图：投诉（置信度" in output and "情绪：愤怒（置信度" in output
    assert "命中 「我要投诉」" in output and "相近例句" in output
    assert "王女士，给您添麻烦了" in output


def test_ask_warns_when_there_is_no_good_answer(assisted_env: Path) -> None:
    result = runner.invoke(app, ["ask", "量子力学的基本原理是什么", "--as-of", "2026-06-01"])
    assert result.exit_code == 0, result.output
    assert "未找到可靠答案（答案置信度" in result.output.replace("\n", "")


def test_ask_json_carries_intent_and_confidence(assisted_env: Path) -> None:
    result = runner.invoke(app, ["ask", "空调安装收费吗", "--json", "--as-of", "2026-06-01"])
    data = json.loads(result.output)
    assert data["intent"]["intent"] == "咨询" and data["confidence"] > 0.5 and not data["no_good_answer"]


def test_ask_rejects_a_malformed_value(assisted_env: Path) -> None:
    result = runner.invoke(app, ["ask", "退款", "--value", "客户称呼"])
    assert result.exit_code == 2 and "名称=取值" in result.output


def test_eval_intent_without_a_holdout_file_is_a_clear_error(assisted_env: Path) -> None:
    result = runner.invoke(app, ["eval-intent"])
    assert result.exit_code == 3
    assert "utterances_holdout.jsonl:1: file: 文件不存在" in result.output.replace("\n", "")


def test_eval_intent_numbers_match_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assist_cli, "make_embedder", lambda _settings: FakeEmbedder())
    result = runner.invoke(app, ["eval-intent", "--assist", str(DATA / "assist"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["evaluated"].endswith("utterances_holdout.jsonl")
    embedder = FakeEmbedder()
    classifier = IntentClassifier.load(DATA / "assist", embedder)
    holdout = load_utterances(DATA / "assist" / "utterances_holdout.jsonl")
    expected = evaluate_classifier(classifier, holdout, embedder.embed_queries([u.text for u in holdout]))
    full = data["variants"]["cues+knn"]
    assert full["intent"]["correct"] == expected.intent.correct
    assert full["emotion"]["correct"] == expected.emotion.correct
    assert data["utterances"] == len(holdout) and data["examples"] == len(classifier.examples)
    assert set(data["variants"]) == {"cues+knn", "cues", "knn"}
    table = runner.invoke(app, ["eval-intent", "--assist", str(DATA / "assist")])
    assert "意图混淆矩阵" in table.output and "情绪准确率" in table.output


def test_eval_no_answer(assisted_env: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    rows = [
        {"qid": "a", "query": "空调安装收费吗", "relevant_ids": ["faq-install-001"]},
        {"qid": "u", "query": "量子力学的基本原理是什么", "relevant_ids": []},
    ]
    questions.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = runner.invoke(app, ["eval-no-answer", "-q", str(questions), "--as-of", "2026-06-01", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["files"][str(questions)]
    assert report["unanswerable"] == 1 and report["true_positives"] == 1
    assert report["precision"] == 1.0 and report["recall"] == 1.0
