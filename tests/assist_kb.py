"""The tiny knowledge base plus agent-assist data: the project's own data/assist files and a few
scenario scripts (an angry-complaint scenario, the 无答案 call-back scenario), for the assist tests."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kbassist.dense import Embedder
from kbassist.index import build_index
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from tests.conftest import DATA, FakeEmbedder

ASSIST_FILES = ("intent_cues.yaml", "utterances.jsonl", "stage_plans.yaml", "lint_rules.yaml")

COMPLAINT_SCRIPTS = textwrap.dedent(
    """\
    scenario: 投诉处理
    intents: [投诉]
    scripts:
      - id: scr-complaint-open
        stage: 开场
        text: "您好，请问有什么可以帮您？"
      - id: scr-complaint-calm
        stage: 安抚
        text: "{客户称呼}，给您添麻烦了，您的心情我完全理解。"
        emotions: [愤怒, 焦急]
      - id: scr-complaint-explain
        stage: 说明
        text: "投诉工单建立后2小时内会有专人联系您。"
      - id: scr-complaint-plan
        stage: 方案
        text: "我现在就为您建立加急投诉工单{工单号}。"
      - id: scr-complaint-follow
        stage: 跟进
        text: "{回电时间}我会主动给您回电，告诉您进展。"
      - id: scr-complaint-close
        stage: 结束
        text: "感谢您的反馈，祝您生活愉快。"
      - id: scr-complaint-calm-plain
        stage: 安抚
        text: "谢谢您告诉我们这件事。"
        emotions: [平静]
    """
)

CALLBACK_SCRIPTS = textwrap.dedent(
    """\
    scenario: 核实回电
    tags: [无答案, 核实]
    scripts:
      - id: scr-callback-calm
        stage: 安抚
        text: "让您久等了，我先核实清楚再回复您。"
        emotions: [焦急, 愤怒]
      - id: scr-callback-explain
        stage: 说明
        text: "这个问题我会提交给专业团队核实，{回电时间}前给您回电。"
      - id: scr-callback-follow
        stage: 跟进
        text: "已经为您登记核实工单{工单号}。"
      - id: scr-callback-transfer
        stage: 转接
        text: "我现在为您转接专员，请稍等。"
    """
)


def add_assist(kb_dir: Path, calibration: dict[str, float] | None = None) -> Path:
    """Copy the project's assist files next to the tiny KB and add the scenario scripts."""
    assist = kb_dir / "assist"
    assist.mkdir(parents=True, exist_ok=True)
    for name in ASSIST_FILES:
        shutil.copy(DATA / "assist" / name, assist / name)
    if calibration is not None:
        (assist / "no_answer.json").write_text(json.dumps(calibration), encoding="utf-8")
    (kb_dir / "scripts" / "complaint.yaml").write_text(COMPLAINT_SCRIPTS, encoding="utf-8")
    (kb_dir / "scripts" / "callback.yaml").write_text(CALLBACK_SCRIPTS, encoding="utf-8")
    return assist


def open_assisted(kb_dir: Path, settings: Settings, embedder: Embedder) -> Searcher:
    kb = load_knowledge_base(kb_dir)
    assert kb.problems == [], kb.problems
    build_index(kb, settings.index_dir, settings, embedder)
    return Searcher.open(settings.index_dir, settings, embedder)


class CountingEmbedder(FakeEmbedder):
    """Counts calls to the model, to prove what is embedded once and what is reused."""

    def __init__(self) -> None:
        self.query_calls: list[list[str]] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.query_calls.append(list(texts))
        return super().embed_queries(texts)
