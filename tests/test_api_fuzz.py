"""No input produces a 500: arbitrary JSON, strings and bytes against search, feedback, lint and entries.

Every answer is either a success or a 4xx in the one error shape.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kbassist.api import create_app
from kbassist.index import build_index
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from tests.conftest import FakeEmbedder, write_tiny_kb

KEY = {"X-API-Key": "fuzz-agent"}
KNOWN_QUERY = "00000000-0000-4000-8000-000000000001"  # logged by the fixture, so feedback can get past 404

# Any text at all: control characters, lone surrogates, astral planes, right-to-left marks.
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, any_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.one_of(any_text, st.just("query")), children, max_size=4)
    ),
    max_leaves=12,
)


def mostly(valid: st.SearchStrategy[Any], wild: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid three times in four, so that most bodies get past one field and reach the next ones."""
    return st.integers(0, 3).flatmap(lambda n: wild if n == 0 else valid)


def search_bodies() -> st.SearchStrategy[Any]:
    """Objects with the real field names and edge or wrong values, plus arbitrary JSON."""
    filters = mostly(
        st.fixed_dictionaries(
            {},
            optional={
                "kind": mostly(st.sampled_from(["faq", "policy", "FAQ", " script ", ["faq", "product"]]), json_values),
                "category": mostly(st.lists(any_text, max_size=3), json_values),
                "product_line": mostly(any_text, json_values),
                "channel": mostly(st.sampled_from(["电话", "在线", "邮件", ["电话"]]), json_values),
            },
        ),
        json_values,
    )
    fields = st.fixed_dictionaries(
        {"query": mostly(st.one_of(any_text, st.sampled_from(["退款多久到账", "13812345678 退钱"])), json_values)},
        optional={
            "top_k": mostly(st.integers(1, 20), st.one_of(st.integers(-5, 30), numbers, json_values)),
            "filters": filters,
            "as_of": mostly(st.dates().map(str), st.one_of(any_text, numbers, st.just("2025-02-30"))),
            "mode": mostly(st.sampled_from(["hybrid", "bm25", "dense"]), st.one_of(any_text, json_values)),
            "explain": mostly(st.booleans(), json_values),
        },
    )
    return st.one_of(fields, fields, json_values)


def feedback_bodies() -> st.SearchStrategy[Any]:
    fields = st.fixed_dictionaries(
        {
            "query_id": mostly(st.just(KNOWN_QUERY), st.one_of(st.uuids().map(str), any_text, json_values)),
            "entry_id": mostly(st.sampled_from(["faq-refund-001", "scr-refund-01", "pol-return-v3-c2"]), any_text),
            "action": mostly(st.sampled_from(["shown", "clicked", "copied", "helpful", "not_helpful"]), any_text),
        },
        optional={
            "comment": mostly(st.one_of(st.none(), any_text), json_values),
        },
    )
    return st.one_of(fields, fields, json_values)


def lint_bodies() -> st.SearchStrategy[Any]:
    drafts = st.one_of(any_text, st.sampled_from(["这个不能退，全网最低价", "手机13812345678", "最近第一次", " "]))
    fields = st.fixed_dictionaries({"text": mostly(drafts, json_values)})
    return st.one_of(fields, fields, json_values)


def encode(body: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as \\ud800 escapes, the way a buggy client would send them.
    return json.dumps(body, ensure_ascii=True, allow_nan=True).encode()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    kb = load_knowledge_base(write_tiny_kb(root / "data"))
    settings_ = Settings(index_dir=root / "index", db_url=f"sqlite:///{root}/kb.db", api_keys=["agent:fuzz-agent"])
    build_index(kb, settings_.index_dir, settings_, FakeEmbedder())
    app = create_app(settings_, Searcher.open(settings_.index_dir, settings_, FakeEmbedder()))
    with TestClient(app) as test_client:
        app.state.store.log_search(
            query_id=KNOWN_QUERY,
            query="退款多久能到账？",
            filters={},
            mode="hybrid",
            result_ids=["faq-refund-001"],
            script_ids=["scr-refund-01"],
            top_score=0.03,
            exact_match=True,
            no_good_answer=False,
            index_version="v",
            took_ms=1.0,
            role="agent",
        )
        yield test_client


def assert_handled(response: Any) -> None:
    event(f"status {response.status_code}")  # --hypothesis-show-statistics shows the mix
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert detail and all(set(item) == {"field", "message"} and item["message"] for item in detail)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(search_bodies())
def test_search_never_500(client: TestClient, body: Any) -> None:
    response = client.post("/v1/search", content=encode(body), headers={**KEY, "Content-Type": "application/json"})
    assert_handled(response)
    if response.status_code == 200:
        assert response.json()["query_id"]


@FUZZ
@given(feedback_bodies())
def test_feedback_never_500(client: TestClient, body: Any) -> None:
    response = client.post("/v1/feedback", content=encode(body), headers={**KEY, "Content-Type": "application/json"})
    assert_handled(response)


@FUZZ
@given(lint_bodies())
def test_lint_never_500(client: TestClient, body: Any) -> None:
    response = client.post("/v1/lint", content=encode(body), headers={**KEY, "Content-Type": "application/json"})
    assert_handled(response)
    if response.status_code == 200:
        report = response.json()
        assert all(report["text"][h["start"] : h["end"]] == h["text"] for h in report["hits"])


@FUZZ
@given(any_text)
def test_entries_never_500(client: TestClient, entry_id: str) -> None:
    path = "/v1/entries/" + quote(entry_id.encode("utf-8", "surrogatepass"), safe="")
    assert_handled(client.get(path, headers=KEY))


@FUZZ
@given(
    st.binary(max_size=200), st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"])
)
def test_raw_bytes_never_500(client: TestClient, raw: bytes, content_type: str) -> None:
    for path in ("/v1/search", "/v1/feedback", "/v1/lint"):
        assert_handled(client.post(path, content=raw, headers={**KEY, "Content-Type": content_type}))


def test_a_real_search_still_works_after_the_fuzzing(client: TestClient) -> None:
    response = client.post("/v1/search", json={"query": "退款多久能到账？"}, headers=KEY)
    assert response.status_code == 200 and response.json()["results"][0]["id"] == "faq-refund-001"
    assert not math.isnan(response.json()["results"][0]["score"])
