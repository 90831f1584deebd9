"""The trainee's quiz: customer wording first, then the standard answer, source and scripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbassist.cli import app
from kbassist.search import Searcher
from kbassist.training import make_drills


def test_drills_ask_in_customer_words(tiny_searcher: Searcher) -> None:
    drills = make_drills(tiny_searcher, 10, seed=1)
    assert {d.entry.id for d in drills} == {"faq-refund-001", "faq-kettle-001", "faq-install-001"}  # the valid FAQs
    for drill in drills:
        assert drill.prompt in drill.entry.keys
    refund = next(d for d in drills if d.entry.id == "faq-refund-001")
    assert [s.entry.id for s in refund.scripts][:1] == ["scr-refund-01"]
    assert make_drills(tiny_searcher, 2, seed=5) == make_drills(tiny_searcher, 2, seed=5)


def test_category_filter_and_unknown_category(tiny_searcher: Searcher) -> None:
    assert [d.entry.id for d in make_drills(tiny_searcher, 5, category="使用指导")] == ["faq-kettle-001"]
    with pytest.raises(ValueError, match="可选分类"):
        make_drills(tiny_searcher, 5, category="不存在")


def test_quiz_command(tiny_searcher: Searcher, monkeypatch: pytest.MonkeyPatch) -> None:
    index: Path = tiny_searcher.data.path
    monkeypatch.setattr("kbassist.cli.quiz.open_searcher", lambda index, settings: tiny_searcher)
    result = CliRunner().invoke(
        app, ["quiz", "--count", "2", "--seed", "3", "--index", str(index)], input="先验货再退款\ny\n\nn\n"
    )
    assert result.exit_code == 0, result.output
    assert "第 1/2 题" in result.output and "标准答案：" in result.output
    assert "练习结束：1/2 题答对" in result.output
