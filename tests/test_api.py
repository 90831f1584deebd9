"""The HTTP API in process (TestClient over the tiny index with the fake embedder, real SQLite)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from kbassist.api import create_app
from kbassist.api.auth import KeyConfigError, hash_key
from kbassist.api.state import IndexHolder
from kbassist.index import build_index
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from kbassist.store import QueryLog
from tests.conftest import FakeEmbedder, write_tiny_kb

AGENT_KEY = "agent-secret-1"
ADMIN_KEY = "admin-secret-1"
AGENT = {"X-API-Key": AGENT_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api")
    kb = load_knowledge_base(write_tiny_kb(root / "data"))
    build_index(kb, root / "index", Settings(index_dir=root / "index"), FakeEmbedder())
    return root / "index"


def make_settings(tmp_path: Path, index: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "index_dir": index,
        "db_url": f"sqlite:///{tmp_path}/var/kb.db",
        "api_keys": [f"agent:{AGENT_KEY}", f"admin:{ADMIN_KEY}"],
    }
    values.update(changes)
    return Settings(**values)


def open_client(settings: Settings) -> TestClient:
    searcher = Searcher.open(settings.index_dir, settings, FakeEmbedder())
    return TestClient(create_app(settings, searcher))


@pytest.fixture
def settings(tmp_path: Path, tiny_index: Path) -> Settings:
    return make_settings(tmp_path, tiny_index)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with open_client(settings) as test_client:
        yield test_client


def store_of(client: TestClient) -> QueryLog:
    store: QueryLog = client.app.state.store  # type: ignore[attr-defined]
    return store


def search(client: TestClient, headers: dict[str, str] | None = None, **body: Any) -> Any:
    response = client.post("/v1/search", json=body, headers=AGENT if headers is None else headers)
    assert response.status_code == 200, response.text
    return response.json()


def errors_of(response: Any) -> list[tuple[str | None, str]]:
    return [(item["field"], item["message"]) for item in response.json()["detail"]]


# --- search -----------------------------------------------------------------------------------


def test_search_returns_answers_with_sources_scripts_and_version(client: TestClient) -> None:
    searcher: Searcher = client.app.state.holder.get()  # type: ignore[attr-defined]
    body = search(client, query="退款多久能到账？")
    assert uuid.UUID(body["query_id"])
    assert body["index_version"] == searcher.version
    assert body["exact_match"] is True and body["no_good_answer"] is False
    top = body["results"][0]
    assert top["id"] == "faq-refund-001"
    assert top["kind"] == "faq" and top["kind_label"] == "问答"
    assert top["text"].startswith("验货通过后1个工作日内审核")
    assert top["source"]["file"].endswith("faq/basics.csv") and top["source"]["line"] == 2
    assert top["source"]["effective_from"] == "2025-01-01"
    assert "退款" in top["matched_terms"]
    assert top["explanation"] is None and body["timings"] is None
    assert [s["id"] for s in body["scripts"]][:1] == ["scr-refund-01"]
    assert {s["stage"] for s in body["scripts"]} >= {"安抚", "方案"}
    assert isinstance(body["took_ms"], float)


def test_search_response_is_the_shared_search_view_plus_query_id(client: TestClient) -> None:
    from kbassist.views import SearchView

    body = search(client, query="七日无理由退货")
    assert set(body) == set(SearchView.model_fields) | {"query_id"}


def test_policy_results_cite_clause_and_version(client: TestClient) -> None:
    body = search(client, query="大家电验货时限", filters={"kind": "policy"})
    top = body["results"][0]
    assert top["id"] == "pol-return-v3-c3"
    assert (top["source"]["clause"], top["source"]["version"]) == (3, "3.0")
    assert top["source"]["citation"] == "《退换货服务规则》第3条（3.0版）"


def test_filters_as_of_mode_and_explain(client: TestClient) -> None:
    old = search(client, query="大家电验货时限", filters={"kind": ["policy"]}, as_of="2024-06-01", top_k=1)
    assert [r["id"] for r in old["results"]] == ["pol-return-v2-c1"]
    kinds = search(client, query="空调", filters={"kind": ["product", "faq"], "product_line": "变频空调"})
    assert kinds["results"] and {r["kind"] for r in kinds["results"]} <= {"product", "faq"}
    assert all(r["product_line"] == "变频空调" for r in kinds["results"])
    explained = search(client, query="水壶第一次怎么用", mode="bm25", explain=True, top_k=2)
    assert explained["mode"] == "bm25" and len(explained["results"]) <= 2
    assert explained["results"][0]["explanation"]["bm25_rank"] == 1
    assert explained["results"][0]["explanation"]["dense_rank"] is None
    assert "total" in explained["timings"]


def test_a_question_with_no_answer_is_flagged(client: TestClient) -> None:
    body = search(client, query="量子纠缠", filters={"category": "不存在的分类"})
    assert body["results"] == [] and body["no_good_answer"] is True


def test_every_search_is_logged(client: TestClient) -> None:
    body = search(client, query="退款 多久到账", filters={"kind": "faq"}, as_of="2025-06-01")
    [row] = store_of(client).query_rows()
    assert row["query_id"] == body["query_id"]
    assert row["query"] == "退款 多久到账" and row["query_key"] == "退款多久到账"
    assert json.loads(row["filters"]) == {"kind": ["faq"], "as_of": "2025-06-01"}
    assert json.loads(row["result_ids"]) == [r["id"] for r in body["results"]]
    assert json.loads(row["script_ids"]) == [s["id"] for s in body["scripts"]]
    assert row["top_score"] == pytest.approx(body["results"][0]["score"], abs=1e-6)
    assert (row["role"], row["index_version"], row["mode"]) == ("agent", body["index_version"], "hybrid")
    assert row["created_at"].tzinfo is not None


def test_the_request_keeps_its_index_version_when_a_new_one_is_swapped_in(client: TestClient) -> None:
    holder: IndexHolder = client.app.state.holder  # type: ignore[attr-defined]
    before = holder.get()
    newer = Searcher(before.data, holder.embedder, before.settings)
    assert holder.swap(newer) is before
    assert holder.get() is newer and newer.embedder is before.embedder
    assert search(client, query="退款")["index_version"] == newer.version


class GatedEmbedder(FakeEmbedder):
    """Holds a query containing 慢 inside the search until released: a request caught mid-flight."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if any("慢" in text for text in texts):
            self.inside.set()
            assert self.release.wait(20)
        return super().embed_queries(texts)


def test_a_request_in_flight_finishes_on_its_version_while_new_ones_get_the_swapped_one(
    settings: Settings, tmp_path: Path
) -> None:
    data = write_tiny_kb(tmp_path / "data2")
    with (data / "faq" / "basics.csv").open("a", encoding="utf-8") as handle:
        handle.write("faq-new-001,以旧换新怎么弄？,,旧机回收后抵扣新机货款。,促销活动,,,,2025-01-01,\n")
    build_index(load_knowledge_base(data), tmp_path / "index2", settings, FakeEmbedder())

    embedder = GatedEmbedder()
    old = Searcher.open(settings.index_dir, settings, embedder)
    with TestClient(create_app(settings, old)) as client:
        holder: IndexHolder = client.app.state.holder  # type: ignore[attr-defined]
        slow: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: slow.update(search(client, query="慢 退款多久能到账")))
        thread.start()
        assert embedder.inside.wait(20)
        new = holder.open(tmp_path / "index2")
        assert new.embedder is embedder  # one embedder per process, reused by the new version
        holder.swap(new)
        fresh = search(client, query="以旧换新怎么弄？")
        embedder.release.set()
        thread.join(20)
    assert new.version != old.version
    assert fresh["index_version"] == new.version and fresh["results"][0]["id"] == "faq-new-001"
    assert slow["index_version"] == old.version and slow["results"][0]["id"] == "faq-refund-001"


# --- entries ----------------------------------------------------------------------------------


def test_entry_by_id_and_unknown_id(client: TestClient) -> None:
    response = client.get("/v1/entries/pol-return-v3-c2", headers=AGENT)
    assert response.status_code == 200
    body = response.json()
    assert body["entry"]["id"] == "pol-return-v3-c2" and body["kind_label"] == "政策"
    assert body["source"]["clause"] == 2
    missing = client.get("/v1/entries/faq-nope-999", headers=AGENT)
    assert missing.status_code == 404
    [(field, message)] = errors_of(missing)
    assert field == "entry_id" and "faq-nope-999 不存在" in message


# --- feedback ---------------------------------------------------------------------------------


def test_feedback_is_stored_for_results_and_scripts(client: TestClient) -> None:
    body = search(client, query="退款多久能到账？")
    for entry_id, action in [("faq-refund-001", "clicked"), ("scr-refund-01", "copied"), ("faq-refund-001", "helpful")]:
        response = client.post(
            "/v1/feedback", json={"query_id": body["query_id"], "entry_id": entry_id, "action": action}, headers=AGENT
        )
        assert response.status_code == 204 and response.content == b""
    rows = store_of(client).feedback_rows()
    assert [(r["entry_id"], r["action"], r["query_id"]) for r in rows] == [
        ("faq-refund-001", "clicked", body["query_id"]),
        ("scr-refund-01", "copied", body["query_id"]),
        ("faq-refund-001", "helpful", body["query_id"]),
    ]


def test_feedback_on_unknown_query_or_entry_is_404(client: TestClient) -> None:
    unknown = client.post(
        "/v1/feedback",
        json={"query_id": str(uuid.uuid4()), "entry_id": "faq-refund-001", "action": "shown"},
        headers=AGENT,
    )
    assert unknown.status_code == 404 and errors_of(unknown)[0][0] == "query_id"
    body = search(client, query="退款")
    no_entry = client.post(
        "/v1/feedback", json={"query_id": body["query_id"], "entry_id": "faq-ghost", "action": "shown"}, headers=AGENT
    )
    assert no_entry.status_code == 404 and errors_of(no_entry)[0][0] == "entry_id"
    assert store_of(client).feedback_rows() == []


# --- reports ----------------------------------------------------------------------------------


def test_gap_and_top_question_reports(client: TestClient) -> None:
    for query in ["以旧换新 怎么弄？", "以旧换新怎么弄"]:
        search(client, query=query, filters={"category": "没有这个分类"})
    answered = search(client, query="退款多久能到账？")
    client.post(
        "/v1/feedback",
        json={
            "query_id": answered["query_id"],
            "entry_id": "faq-refund-001",
            "action": "not_helpful",
            "comment": "不对",
        },
        headers=AGENT,
    )
    search(client, query="退款多久能到账")

    gaps = client.get("/v1/reports/gaps", headers=ADMIN)
    assert gaps.status_code == 200
    items = gaps.json()["items"]
    assert [(i["key"], i["no_good_answer"], i["not_helpful"], i["total"]) for i in items] == [
        ("以旧换新怎么弄", 2, 0, 2),
        ("退款多久能到账", 0, 1, 1),
    ]
    assert items[0]["question"] == "以旧换新怎么弄"
    assert items[1]["unhelpful_entries"] == [{"entry_id": "faq-refund-001", "count": 1}]
    assert items[0]["last_seen"].endswith("Z") or "+00:00" in items[0]["last_seen"]

    top = client.get("/v1/reports/top-questions", params={"limit": 1}, headers=ADMIN).json()["items"]
    # Both were asked twice; the more recent one comes first.
    assert [(t["key"], t["count"]) for t in top] == [("退款多久能到账", 2)]
    later = client.get("/v1/reports/gaps", params={"since": "2999-01-01"}, headers=ADMIN)
    assert later.json()["items"] == []
    assert client.get("/v1/reports/gaps", params={"since": "2026-11-01T08:00:00Z"}, headers=ADMIN).status_code == 200
    bad = client.get("/v1/reports/gaps", params={"since": "上周"}, headers=ADMIN)
    assert bad.status_code == 422 and errors_of(bad)[0][0] == "since"


# --- health, readiness, metrics -----------------------------------------------------------------


def test_healthz_readyz_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    searcher: Searcher = client.app.state.holder.get()  # type: ignore[attr-defined]
    assert ready["status"] == "ready" and ready["index_version"] == searcher.version
    assert ready["counts"]["faq"] == 4 and ready["entries"] == len(searcher.entries)
    assert ready["model"] == FakeEmbedder.model_id

    search(client, query="退款多久能到账？")
    client.get("/v1/entries/faq-nope", headers=AGENT)
    text = client.get("/metrics", headers=AGENT).text
    assert 'kbassist_http_requests_total{method="POST",route="/v1/search",status="200"} 1.0' in text
    assert 'kbassist_http_requests_total{method="GET",route="/v1/entries/{entry_id}",status="404"} 1.0' in text
    assert 'kbassist_http_request_duration_seconds_count{method="POST",route="/v1/search"} 1.0' in text
    for stage in ("analyze", "bm25", "embed", "faiss", "fuse", "scripts", "total"):
        assert f'kbassist_search_stage_seconds_count{{stage="{stage}"}} 1.0' in text
    assert f'kbassist_index_info{{version="{searcher.version}"}} 1.0' in text
    assert 'kbassist_index_entries{kind="faq"} 4.0' in text
    assert 'kbassist_searches_total{outcome="exact_match"} 1.0' in text


def test_two_apps_in_one_process_keep_separate_metrics(settings: Settings, tmp_path: Path, tiny_index: Path) -> None:
    other = make_settings(tmp_path / "other", tiny_index)
    with open_client(settings) as first, open_client(other) as second:
        search(first, query="退款")
        assert 'route="/v1/search"' not in second.get("/metrics", headers=AGENT).text


# --- auth -------------------------------------------------------------------------------------


def test_missing_or_unknown_key_is_401(client: TestClient) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eA=="}):
        response = client.post("/v1/search", json={"query": "退款"}, headers=headers)
        assert response.status_code == 401, headers
        assert errors_of(response)[0][0] == "X-API-Key"
        assert response.headers["www-authenticate"].startswith("ApiKey")
    for path in ("/v1/entries/faq-refund-001", "/v1/reports/gaps", "/metrics"):
        assert client.get(path).status_code == 401
    assert store_of(client).query_rows() == []


def test_bearer_header_works_like_x_api_key(client: TestClient) -> None:
    search(client, headers={"Authorization": f"Bearer {AGENT_KEY}"}, query="退款")


def test_agent_cannot_read_reports_but_admin_can_do_everything(client: TestClient) -> None:
    for path in ("/v1/reports/gaps", "/v1/reports/top-questions"):
        forbidden = client.get(path, headers=AGENT)
        assert forbidden.status_code == 403
        assert "admin" in errors_of(forbidden)[0][1]
        assert client.get(path, headers=ADMIN).status_code == 200
    body = search(client, headers=ADMIN, query="退款")
    assert store_of(client).query_rows()[0]["role"] == "admin"
    assert client.get("/v1/entries/faq-refund-001", headers=ADMIN).status_code == 200
    feedback = {"query_id": body["query_id"], "entry_id": body["results"][0]["id"], "action": "shown"}
    assert client.post("/v1/feedback", json=feedback, headers=ADMIN).status_code == 204


def test_keys_file_holds_hashes_only(tmp_path: Path, tiny_index: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# agents\nagent:{hash_key('k-agent')}  # 一组\nadmin:{hash_key('k-admin')}\n", encoding="utf-8")
    with open_client(make_settings(tmp_path, tiny_index, api_keys=[], keys_file=keys)) as client:
        assert client.post("/v1/search", json={"query": "退款"}, headers={"X-API-Key": "k-agent"}).status_code == 200
        assert client.get("/v1/reports/gaps", headers={"X-API-Key": "k-agent"}).status_code == 403
        assert client.get("/v1/reports/gaps", headers={"X-API-Key": "k-admin"}).status_code == 200
        assert client.get("/v1/reports/gaps", headers={"X-API-Key": hash_key("k-admin")}).status_code == 401


@pytest.mark.parametrize(
    ("content", "api_keys", "message"),
    [
        ("agent:plaintext-key\n", [], "keys.txt:1"),
        (f"boss:{hash_key('x')}\n", [], "未知角色"),
        ("", ["agent"], "KBASSIST_API_KEYS 第 1 项"),
        ("", ["root:abc"], "未知角色"),
    ],
)
def test_bad_key_configuration_stops_the_app(
    tmp_path: Path, tiny_index: Path, content: str, api_keys: list[str], message: str
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(content, encoding="utf-8")
    with pytest.raises(KeyConfigError, match=message):
        create_app(make_settings(tmp_path, tiny_index, api_keys=api_keys, keys_file=keys))


def test_without_keys_every_request_is_admin_with_a_warning(
    tmp_path: Path, tiny_index: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="kbassist"),
        open_client(make_settings(tmp_path, tiny_index, api_keys=[])) as client,
    ):
        assert client.get("/v1/reports/gaps").status_code == 200
        search(client, headers={}, query="退款")
        assert store_of(client).query_rows()[0]["role"] == "admin"
    assert any("开发模式" in r.getMessage() for r in caplog.records)


# --- bounds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"query": ""}, "query", "问题不能为空"),
        ({"query": " \t\n "}, "query", "问题不能为空"),
        ({"query": "\x00\x01"}, "query", "问题不能为空"),
        ({"query": "退" * 513}, "query", "问题不能超过 512 个字符"),
        ({}, "query", "缺少此字段"),
        ({"query": 42}, "query", "应为字符串"),
        ({"query": "退款", "top_k": 0}, "top_k", "top_k 应在 1 到 20 之间"),
        ({"query": "退款", "top_k": 21}, "top_k", "top_k 应在 1 到 20 之间"),
        ({"query": "退款", "top_k": 10**40}, "top_k", "top_k 应在 1 到 20 之间"),
        ({"query": "退款", "top_k": "5"}, "top_k", "应为整数"),
        ({"query": "退款", "top_k": True}, "top_k", "应为整数"),
        ({"query": "退款", "mode": "semantic"}, "mode", "可选：hybrid / bm25 / dense"),
        ({"query": "退款", "as_of": "2025-02-30"}, "as_of", "日期无效"),
        ({"query": "退款", "as_of": 20250101}, "as_of", "YYYY-MM-DD"),
        ({"query": "退款", "explain": "yes"}, "explain", "true 或 false"),
        ({"query": "退款", "filters": {"kind": "faqs"}}, "filters.kind", "未知类型"),
        ({"query": "退款", "filters": {"kind": [1]}}, "filters.kind[0]", "应为字符串"),
        ({"query": "退款", "filters": {"colour": "红"}}, "filters.colour", "不支持的字段"),
        ({"query": "退款", "filters": "faq"}, "filters", "应为 JSON 对象"),
        ({"query": "退款", "topk": 3}, "topk", "不支持的字段"),
        ({"query": "退款\ud800"}, "query", "无效字符"),
    ],
)
def test_search_bounds_say_which_field_and_why(client: TestClient, body: Any, field: str, message: str) -> None:
    raw = json.dumps(body).encode()  # ASCII-escaped: a lone surrogate travels as JSON "\ud800"
    response = client.post("/v1/search", content=raw, headers={**AGENT, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    problems = errors_of(response)
    assert any(f == field and message in m for f, m in problems), problems
    assert store_of(client).query_rows() == []


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"query": "\xff\xfe"}', b"[1, 2", b'{"query": "x", "top_k": ' + b"9" * 5000 + b"}", b"[" * 5000],
)
def test_malformed_json_is_422_on_body(client: TestClient, raw: bytes) -> None:
    response = client.post("/v1/search", content=raw, headers={**AGENT, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert errors_of(response)[0][0] == "body"


def test_body_that_is_not_json_or_not_an_object(client: TestClient) -> None:
    for raw, content_type in [(b"query=x", "application/x-www-form-urlencoded"), (b"[]", "application/json")]:
        response = client.post("/v1/search", content=raw, headers={**AGENT, "Content-Type": content_type})
        assert response.status_code == 422 and errors_of(response)[0][0] == "body"


def test_body_over_the_limit_is_413_by_header_and_by_stream(client: TestClient) -> None:
    big = json.dumps({"query": "退款", "comment": "x" * 70_000}).encode()
    announced = client.post("/v1/search", content=big, headers={**AGENT, "Content-Type": "application/json"})
    assert announced.status_code == 413 and errors_of(announced)[0][0] == "body"

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(20):
            yield b" " * 4096
        yield b'{"query": "x"}'

    streamed = client.post("/v1/search", content=chunks(), headers={**AGENT, "Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert "64 KB" in errors_of(streamed)[0][1]


def test_a_lying_content_length_is_caught_by_counting(settings: Settings) -> None:
    from kbassist.api.middleware import BodyLimitMiddleware

    sent: list[dict[str, Any]] = []
    reached = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x" * 2048, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    import anyio

    middleware = BodyLimitMiddleware(app, max_bytes=4096)
    scope = {"type": "http", "method": "POST", "path": "/v1/search", "headers": [(b"content-length", b"100")]}
    anyio.run(middleware, scope, receive, send)
    assert not reached and sent[0]["status"] == 413


def test_max_body_bytes_is_configurable(tmp_path: Path, tiny_index: Path) -> None:
    with open_client(make_settings(tmp_path, tiny_index, max_body_bytes=1024)) as client:
        body = {"query": "退款", "filters": {"category": ["类" * 90] * 5}}
        assert client.post("/v1/search", json=body, headers=AGENT).status_code == 413


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"entry_id": "faq-refund-001", "action": "shown"}, "query_id"),
        ({"query_id": "not-a-uuid", "entry_id": "faq-refund-001", "action": "shown"}, "query_id"),
        ({"query_id": str(uuid.uuid4()), "entry_id": "", "action": "shown"}, "entry_id"),
        ({"query_id": str(uuid.uuid4()), "entry_id": "x" * 200, "action": "shown"}, "entry_id"),
        ({"query_id": str(uuid.uuid4()), "entry_id": "faq-refund-001", "action": "liked"}, "action"),
        (
            {"query_id": str(uuid.uuid4()), "entry_id": "faq-refund-001", "action": "shown", "comment": "x" * 1001},
            "comment",
        ),
    ],
)
def test_feedback_bounds(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/v1/feedback", json=body, headers=AGENT)
    assert response.status_code == 422
    assert field in [f for f, _ in errors_of(response)]


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    assert errors_of(client.get("/v1/nothing")) == [(None, "接口不存在")]
    wrong_method = client.get("/v1/search", headers=AGENT)
    assert wrong_method.status_code == 405 and errors_of(wrong_method) == [(None, "不支持此请求方法")]


def test_openapi_document_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/search", "/v1/entries/{entry_id}", "/v1/feedback", "/v1/reports/gaps", "/healthz"} <= set(paths)


# --- CORS -------------------------------------------------------------------------------------


def test_cors_preflight_for_the_agent_desktop(tmp_path: Path, tiny_index: Path) -> None:
    origin = "https://desk.example.cn"
    with open_client(make_settings(tmp_path, tiny_index, cors_origins=[origin])) as client:
        preflight = client.options(
            "/v1/search",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-api-key, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
        actual = client.post("/v1/search", json={"query": "退款"}, headers={**AGENT, "Origin": origin})
        assert actual.headers["access-control-allow-origin"] == origin
        other = client.options(
            "/v1/search", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_unless_configured(client: TestClient) -> None:
    response = client.post("/v1/search", json={"query": "退款"}, headers={**AGENT, "Origin": "https://desk.example.cn"})
    assert "access-control-allow-origin" not in response.headers


def test_env_settings_parse_keys_and_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBASSIST_API_KEYS", "agent:a1, admin:b2")
    monkeypatch.setenv("KBASSIST_CORS_ORIGINS", "https://a.cn,https://b.cn")
    settings = Settings()
    assert settings.api_keys == ["agent:a1", "admin:b2"]
    assert settings.cors_origins == ["https://a.cn", "https://b.cn"]


# --- CLI: keys add, and the refusal to serve a network address without keys ---------------------


def test_keys_add_prints_a_key_once_and_stores_its_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kbassist.cli import app

    for name in ("KBASSIST_KEYS_FILE", "KBASSIST_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    keys = tmp_path / "keys.txt"
    done = runner.invoke(app, ["keys", "add", "--role", "admin", "--keys-file", str(keys), "--label", "质检组"])
    assert done.exit_code == 0, done.output
    key = done.stdout.strip().splitlines()[-1]
    assert keys.read_text(encoding="utf-8") == f"admin:{hash_key(key)}  # 质检组\n"
    assert runner.invoke(app, ["keys", "add", "--role", "boss", "--keys-file", str(keys)]).exit_code == 2
    assert runner.invoke(app, ["keys", "add"]).exit_code == 2


def test_serve_refuses_a_network_address_without_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kbassist.cli import app

    for name in ("KBASSIST_KEYS_FILE", "KBASSIST_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    done = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--index", str(tmp_path / "none")])
    assert done.exit_code == 2
    assert "未配置 API 密钥" in done.output and "0.0.0.0" in done.output
