"""The query log on a real SQLite file: schema, WAL, masking, reports, and a briefly locked database."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kbassist.store import QueryLog, new_query_id


@pytest.fixture
def store(tmp_path: Path) -> QueryLog:
    log = QueryLog(f"sqlite:///{tmp_path}/nested/folder/kb.db", busy_timeout_s=0.2)
    log.create_schema()
    yield log
    log.close()


def log_search(store: QueryLog, query: str, *, at: datetime, no_answer: bool = False, results=("faq-1",)) -> str:
    query_id = new_query_id()
    store.log_search(
        query_id=query_id,
        query=query,
        filters={"kind": ["faq"]},
        mode="hybrid",
        result_ids=[] if no_answer else list(results),
        script_ids=["scr-1"],
        top_score=None if no_answer else 0.03,
        exact_match=False,
        no_good_answer=no_answer,
        index_version="v1",
        took_ms=12.5,
        role="agent",
        at=at,
    )
    return query_id


T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_creates_its_folder_and_uses_wal(tmp_path: Path, store: QueryLog) -> None:
    path = tmp_path / "nested" / "folder" / "kb.db"
    assert path.is_file()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"queries", "feedback"} <= tables
    store.create_schema()  # a restart finds the schema there and keeps it


def test_a_search_row_keeps_everything_but_personal_data(store: QueryLog) -> None:
    query_id = log_search(store, "我手机13812345678，退款多久到账？", at=T0)
    [row] = store.query_rows()
    assert row["query_id"] == query_id
    assert row["query"] == "我手机138****5678，退款多久到账？"
    assert row["query_key"] == "我手机退款多久到账"
    assert row["created_at"] == T0
    assert (row["mode"], row["index_version"], row["role"], row["took_ms"]) == ("hybrid", "v1", "agent", 12.5)
    assert row["result_ids"] == '["faq-1"]'
    assert row["no_good_answer"] is False
    found = store.find_query(query_id)
    assert found is not None and found.result_ids == ("faq-1",) and found.script_ids == ("scr-1",)
    assert store.find_query(new_query_id()) is None


def test_feedback_comment_is_masked(store: QueryLog) -> None:
    query_id = log_search(store, "退款", at=T0)
    store.log_feedback(
        query_id=query_id, entry_id="faq-1", action="copied", comment="客户 13912345678 说不对", role="agent"
    )
    [row] = store.feedback_rows()
    assert row["comment"] == "客户 139****5678 说不对"
    with pytest.raises(ValueError):
        store.log_feedback(query_id=query_id, entry_id="faq-1", action="liked", comment=None, role="agent")


def test_gaps_group_by_normalised_question_and_count_both_causes(store: QueryLog) -> None:
    log_search(store, "以旧换新怎么弄？", at=T0, no_answer=True)
    log_search(store, "以旧换新 怎么弄", at=T0 + timedelta(hours=1), no_answer=True)
    unhelpful = log_search(store, "以旧换新怎么弄!", at=T0 + timedelta(hours=2), results=("faq-9",))
    store.log_feedback(
        query_id=unhelpful,
        entry_id="faq-9",
        action="not_helpful",
        comment=None,
        role="agent",
        at=T0 + timedelta(hours=3),
    )
    helpful = log_search(store, "退款多久到账", at=T0)
    store.log_feedback(query_id=helpful, entry_id="faq-1", action="helpful", comment=None, role="agent", at=T0)
    log_search(store, "发票怎么开", at=T0 - timedelta(days=3), no_answer=True)

    gaps = store.gaps()
    assert [g.key for g in gaps] == ["以旧换新怎么弄", "发票怎么开"]
    top = gaps[0]
    assert (top.no_good_answer, top.not_helpful, top.total) == (2, 1, 3)
    assert top.last_seen == T0 + timedelta(hours=3)
    assert top.question == "以旧换新怎么弄!"  # the latest wording
    assert top.unhelpful_entries == {"faq-9": 1}

    assert [g.key for g in store.gaps(since=T0)] == ["以旧换新怎么弄"]
    assert store.gaps(limit=1)[0].key == "以旧换新怎么弄"


def test_top_questions_count_wordings_of_one_question_together(store: QueryLog) -> None:
    for hour in range(3):
        log_search(store, "退款多久到账？" if hour else "退款 多久到账", at=T0 + timedelta(hours=hour))
    log_search(store, "发票怎么开", at=T0, no_answer=True)
    top = store.top_questions()
    assert [(q.key, q.count, q.no_good_answer) for q in top] == [("退款多久到账", 3, 0), ("发票怎么开", 1, 1)]
    assert top[0].last_seen == T0 + timedelta(hours=2)
    assert store.top_questions(since=T0 + timedelta(hours=1))[0].count == 2
    assert len(store.top_questions(limit=1)) == 1


def test_a_briefly_locked_database_delays_the_write_instead_of_failing_it(tmp_path: Path, store: QueryLog) -> None:
    path = tmp_path / "nested" / "folder" / "kb.db"
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock longer than the 0.2 s busy timeout
    released = threading.Event()

    def release() -> None:
        time.sleep(0.4)
        blocker.execute("COMMIT")
        released.set()

    thread = threading.Thread(target=release)
    thread.start()
    log_search(store, "退款", at=T0)
    thread.join()
    blocker.close()
    assert released.is_set()
    assert len(store.query_rows()) == 1


def test_an_in_memory_database_is_shared_by_all_threads() -> None:
    store = QueryLog("sqlite://")
    store.create_schema()
    worker = threading.Thread(target=lambda: log_search(store, "退款", at=T0))
    worker.start()
    worker.join()
    assert len(store.query_rows()) == 1


def test_an_in_memory_database_takes_concurrent_writes_and_reads() -> None:
    """Its one shared connection is used by one thread at a time: eight threads writing and reading at
    once (as concurrent searches and reports do) lose nothing and raise nothing."""
    store = QueryLog("sqlite://")
    store.create_schema()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(40):
                query_id = log_search(store, f"退款{worker}-{n}", at=T0)
                assert store.find_query(query_id) is not None
                if n % 10 == 0:
                    store.gaps()
        except BaseException as exc:  # collected, and reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.query_rows()) == 8 * 40
