"""The sidebar page's routes and GET /v1/facets, in process (TestClient, tiny index, fake embedder).

The page itself is driven in a real browser in test_web.py; these check what the service sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kbassist.api import create_app
from kbassist.api.routers.web import WEB_DIR
from kbassist.schema import ANSWER_KINDS
from kbassist.search import Searcher
from kbassist.settings import Settings
from tests.assist_kb import add_assist, open_assisted
from tests.conftest import FakeEmbedder, write_tiny_kb

AGENT_KEY = "agent-web-1"
AGENT = {"X-API-Key": AGENT_KEY}
CALIBRATION = {"bias": -4.0, "w_cosine": 6.0, "w_bm25": 1.5, "threshold": 0.5}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny KB with the assist data and the call-back 话术, calibrated so a question far off is flagged."""
    root = tmp_path_factory.mktemp("web-routes")
    kb_dir = write_tiny_kb(root / "data")
    add_assist(kb_dir, CALIBRATION)
    open_assisted(kb_dir, Settings(index_dir=root / "index"), FakeEmbedder())
    return root / "index"


@pytest.fixture
def searcher(index_dir: Path) -> Searcher:
    return Searcher.open(index_dir, Settings(index_dir=index_dir), FakeEmbedder())


@pytest.fixture
def client(searcher: Searcher, index_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(index_dir=index_dir, db_url=f"sqlite:///{tmp_path}/kb.db", api_keys=[f"agent:{AGENT_KEY}"])
    with TestClient(create_app(settings, searcher)) as test_client:
        yield test_client


def test_the_page_is_served_at_the_root_without_a_key(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == (WEB_DIR / "index.html").read_text(encoding="utf-8")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.head("/").status_code == 200


@pytest.mark.parametrize(("name", "media_type"), [("app.js", "text/javascript"), ("style.css", "text/css")])
def test_assets_are_served_with_their_types(client: TestClient, name: str, media_type: str) -> None:
    asset = client.get(f"/web/{name}")
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith(media_type)
    assert asset.content == (WEB_DIR / name).read_bytes()


@pytest.mark.parametrize("path", ["/web/index.html", "/web/..%2Fapi%2Fapp.py", "/web/app.js.map", "/web/"])
def test_only_the_listed_assets_are_served(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["detail"][0]["message"]


def test_the_page_needs_nothing_from_another_origin() -> None:
    """The contact centre may be offline: no CDN, no web font, no remote script."""
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    css = (WEB_DIR / "style.css").read_text(encoding="utf-8")
    js = (WEB_DIR / "app.js").read_text(encoding="utf-8")
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sorted(references) == ["data:,", "web/app.js", "web/style.css"]  # data:, is an empty favicon
    assert "url(" not in css and "@import" not in css
    # KB text reaches the page only through textContent.
    assert "innerHTML" not in js and "outerHTML" not in js and "insertAdjacentHTML" not in js
    assert "document.write" not in js and "eval(" not in js


def test_facets_list_the_filter_values_of_the_loaded_index(client: TestClient, searcher: Searcher) -> None:
    assert client.get("/v1/facets").status_code == 401
    facets = client.get("/v1/facets", headers=AGENT).json()
    today = date.today()
    current = [e for e in searcher.entries if e.kind in ANSWER_KINDS and e.is_valid_on(today)]
    assert facets["index_version"] == searcher.version
    assert facets["as_of"] == today.isoformat()
    assert [(k["value"], k["label"]) for k in facets["kinds"]] == [
        ("faq", "问答"),
        ("policy", "政策"),
        ("product", "产品"),
    ]
    assert sum(k["count"] for k in facets["kinds"]) == len(current)
    assert {p["value"] for p in facets["product_lines"]} == {e.product_line for e in current if e.product_line}
    assert {c["value"] for c in facets["categories"]} == {e.category for e in current if e.category}
    counts = [p["count"] for p in facets["product_lines"]]
    assert counts == sorted(counts, reverse=True)
    assert "电话" in {c["value"] for c in facets["channels"]}


def test_the_call_back_scripts_are_marked_in_the_search_response(client: TestClient) -> None:
    """The sidebar's no-good-answer banner quotes the first script marked ``no_answer_script``."""
    far_off = {"query": "量子力学的基本原理是什么", "as_of": "2026-06-01"}
    body = client.post("/v1/search", json=far_off, headers=AGENT).json()
    assert body["no_good_answer"]
    marked = {s["id"] for s in body["scripts"] if s["no_answer_script"]}
    assert marked and marked == {s["id"] for s in body["scripts"] if s["scenario"] == "核实回电"}
    answered = client.post("/v1/search", json={"query": "空调安装收费吗", "as_of": "2026-06-01"}, headers=AGENT).json()
    assert not answered["no_good_answer"] and not any(s["no_answer_script"] for s in answered["scripts"])
