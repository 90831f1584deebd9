"""The sentence-transformers backend, with a tiny model this test creates and saves (no download)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from kbassist.dense import ModelMismatchError, SentenceTransformerEmbedder, make_embedder
from kbassist.index import build_index
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from tests.conftest import FakeEmbedder

pytestmark = pytest.mark.st


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    st = pytest.importorskip("sentence_transformers")
    import torch

    torch.manual_seed(0)
    base = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted(
        set(
            "退款多久能到账钱啥时候回来几天新水壶第一次怎么用买的烧可以直接喝吗头一回要注意空调安装收费花不按免费"
            "标准超出米铜管每元大家电验货时限小时规则七日无理由退货变频定频区别"
        )
    )
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *chars,
        *"abcdefghijklmnopqrstuvwxyz0123456789",
        "query",
        "passage",
        ":",
    ]
    # transformers 5 builds a fast tokenizer from a vocabulary dict (a vocab_file alone maps all to [UNK]).
    tokenizer = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    assert tokenizer.tokenize("query: 退款") == ["query", ":", "退", "款"]
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    transformers.BertModel(config).save_pretrained(base)
    tokenizer.save_pretrained(base)
    try:  # sentence-transformers 6 moved the module classes
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer
    word = Transformer(str(base), max_seq_length=64)
    dimension = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pooling = Pooling(dimension(), "mean")
    model = st.SentenceTransformer(modules=[word, pooling])
    model.prompts = {"query": "query: ", "passage": "passage: "}
    folder = tmp_path_factory.mktemp("tiny-st") / "tiny-zh-st"
    model.save(str(folder))
    return folder


def test_embedder_uses_the_models_own_prefixes(tiny_model: Path) -> None:
    embedder = SentenceTransformerEmbedder(str(tiny_model))
    assert embedder.model_id == "sentence-transformers:tiny-zh-st"
    assert (embedder.query_prefix, embedder.passage_prefix) == ("query: ", "passage: ")
    assert embedder.dim == 32
    queries = embedder.embed_queries(["退款多久到账", "空调安装收费"])
    passages = embedder.embed_passages(["退款多久到账"])
    assert queries.shape == (2, 32) and passages.shape == (1, 32)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, rtol=1e-5)
    # The prefix changes the input, so a query and a passage of the same text differ.
    assert not np.allclose(queries[0], passages[0])
    overridden = SentenceTransformerEmbedder(str(tiny_model), query_prefix="", passage_prefix="")
    np.testing.assert_allclose(overridden.embed_queries(["退款"]), overridden.embed_passages(["退款"]), rtol=1e-5)


def test_settings_select_the_backend(tiny_model: Path) -> None:
    embedder = make_embedder(Settings(embedder="sentence-transformers", st_model=str(tiny_model)))
    assert isinstance(embedder, SentenceTransformerEmbedder)
    with pytest.raises(ValueError, match="KBASSIST_ST_MODEL"):
        make_embedder(Settings(embedder="sentence-transformers"))


def test_build_and_search_with_the_st_backend(tiny_model: Path, tiny_kb_dir: Path, settings: Settings) -> None:
    st_settings = settings.model_copy(update={"embedder": "sentence-transformers", "st_model": str(tiny_model)})
    embedder = make_embedder(st_settings)
    build_index(load_knowledge_base(tiny_kb_dir), st_settings.index_dir, st_settings, embedder)
    searcher = Searcher.open(st_settings.index_dir, st_settings, embedder)
    assert searcher.data.manifest["model"]["id"] == "sentence-transformers:tiny-zh-st"
    result = searcher.search("退款多久能到账", as_of=date(2026, 6, 1), mode="dense")
    assert result.hits and result.hits[0].entry.id == "faq-refund-001"  # exact FAQ key, same prefix both sides
    with pytest.raises(ModelMismatchError):
        Searcher.open(st_settings.index_dir, st_settings, FakeEmbedder())
