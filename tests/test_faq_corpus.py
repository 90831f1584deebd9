"""A corpus made only of FAQ JSONL files — thousands of entries, short answers — builds and evaluates
with the same commands as the project's own knowledge base."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbassist.cli import app

pytestmark = pytest.mark.slow

LINES = ["空调", "冰箱", "洗衣机", "热水器", "电视", "微波炉", "烤箱", "油烟机", "燃气灶", "洗碗机", "吸尘器", "加湿器"]
ASPECTS = [
    ("功率", ["耗电多少", "功率多大"], "{n}瓦"),
    ("重量", ["有多重", "多少斤"], "{n}公斤"),
    ("保修期", ["保修几年", "质保多久"], "{n}年"),
    ("噪音", ["声音大不大", "吵不吵"], "{n}分贝"),
    ("尺寸", ["多大个", "占地方吗"], "{n}厘米宽"),
    ("颜色", ["有几种颜色", "啥颜色的"], "{n}种颜色"),
    ("价格", ["多少钱", "卖多贵"], "{n}元"),
    ("安装费", ["安装收钱吗", "装一下多少钱"], "{n}元"),
    ("能效等级", ["省电吗", "几级能效"], "{n}级"),
    ("产地", ["哪里生产的", "在哪造的"], "第{n}工厂"),
    ("使用寿命", ["能用几年", "寿命多长"], "{n}年"),
    ("配件", ["送什么配件", "带啥配件"], "{n}件配件"),
]
SERIES = ["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P"]


def write_corpus(root: Path, rng: random.Random) -> list[dict]:
    """About 2,000 FAQ entries across several JSONL files; returns customer-style questions for a sample."""
    (root / "faq").mkdir(parents=True)
    questions = []
    number = 0
    for file_index, line in enumerate(LINES):
        rows = []
        for series in SERIES:
            model = f"{series}{rng.randint(100, 999)}"
            for aspect, similar, unit in ASPECTS:
                number += 1
                entry_id = f"faq-gen-{number:05d}"
                rows.append(
                    {
                        "id": entry_id,
                        "question": f"{line}{model}的{aspect}是多少？",
                        "similar_questions": [f"{model}{line}{s}" for s in similar],
                        "answer": unit.format(n=rng.randint(1, 900)),
                        "category": line,
                    }
                )
                if rng.random() < 0.05:
                    phrase = rng.choice(similar)
                    questions.append(
                        {"qid": entry_id, "query": f"想问下{model}这款{phrase}呀", "relevant_ids": [entry_id]}
                    )
        with (root / "faq" / f"part{file_index:02d}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return questions


def test_faq_only_corpus_builds_and_evaluates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    questions = write_corpus(tmp_path / "kb", rng)
    query_file = tmp_path / "questions.jsonl"
    query_file.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8")
    monkeypatch.setenv("KBASSIST_INDEX_DIR", str(tmp_path / "index"))
    runner = CliRunner()

    validated = runner.invoke(app, ["validate", "--source", str(tmp_path / "kb")])
    assert validated.exit_code == 0, validated.output
    assert f"{len(LINES) * len(SERIES) * len(ASPECTS)} 条" in validated.output

    built = runner.invoke(app, ["build", "--source", str(tmp_path / "kb"), "--no-progress", "--json"])
    assert built.exit_code == 0, built.output
    counts = json.loads(built.stdout)["counts"]
    assert counts["faq"] == counts["entries"] == 2016

    evaluated = runner.invoke(
        app, ["eval", "--queries", str(query_file), "--json", "--run-dir", str(tmp_path / "runs")]
    )
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)["files"][str(query_file)]["metrics"]
    assert len(questions) >= 50
    # Every question names the model and the aspect: all three modes must find most of them.
    for mode in ("bm25", "dense", "hybrid"):
        assert metrics[mode]["recall@10"] >= 0.6, (mode, metrics)
    assert metrics["hybrid"]["mrr@10"] >= 0.8 * max(metrics["bm25"]["mrr@10"], metrics["dense"]["mrr@10"])
    assert (tmp_path / "runs" / "questions" / "hybrid.run").is_file()
