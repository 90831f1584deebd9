"""The query log and agents' feedback: what supervisors' reports (knowledge gaps, top questions) are made of.

SQLAlchemy Core over SQLite by default (WAL, so readers never wait for the writer); the same code runs on
PostgreSQL by pointing ``KBASSIST_DB_URL`` at it. Nothing personal is stored: callers pass text through
``kbassist.privacy.mask_personal_data`` first, and ``QueryLog`` masks again as a safety net.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    create_engine,
    event,
    func,
    select,
    true,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from kbassist.normalize import exact_key
from kbassist.privacy import mask_and_remove_personal_data, mask_personal_data

log = logging.getLogger("kbassist.store")

FeedbackAction = Literal["shown", "clicked", "copied", "helpful", "not_helpful"]
FEEDBACK_ACTIONS: tuple[str, ...] = get_args(FeedbackAction)
T = TypeVar("T")


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite keeps no zone), always handed back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

queries = Table(
    "queries",
    metadata,
    Column("query_id", String(36), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("query", Text, nullable=False),
    Column("query_key", Text, nullable=False),
    Column("filters", Text, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("result_ids", Text, nullable=False),
    Column("script_ids", Text, nullable=False),
    Column("top_score", Float, nullable=True),
    Column("exact_match", Boolean, nullable=False),
    Column("no_good_answer", Boolean, nullable=False),
    Column("index_version", String(128), nullable=False),
    Column("took_ms", Float, nullable=False),
    Column("role", String(16), nullable=False),
    Index("ix_queries_created_at", "created_at"),
    Index("ix_queries_key_created_at", "query_key", "created_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("query_id", String(36), ForeignKey("queries.query_id"), nullable=False),
    Column("entry_id", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("comment", Text, nullable=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_feedback_query_id", "query_id"),
    Index("ix_feedback_action_created_at", "action", "created_at"),
)


@dataclass(frozen=True)
class LoggedQuery:
    """What the feedback endpoint needs to know about an earlier search."""

    query_id: str
    result_ids: tuple[str, ...]
    script_ids: tuple[str, ...]


@dataclass
class GapItem:
    key: str
    question: str
    no_good_answer: int
    not_helpful: int
    last_seen: datetime
    unhelpful_entries: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.no_good_answer + self.not_helpful


@dataclass
class TopQuestion:
    key: str
    question: str
    count: int
    exact_match: int
    no_good_answer: int
    last_seen: datetime


def now() -> datetime:
    return datetime.now(UTC)


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


class QueryLog:
    """Writes one row per search and per feedback; answers the supervisors' reports."""

    def __init__(self, url: str, busy_timeout_s: float = 5.0, retries: int = 3):
        self.url = url
        self.retries = retries
        path = sqlite_path(url)
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            # Requests run in a thread pool: a pooled connection is used by whichever thread checks it out.
            options["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
            if path is None:
                options["poolclass"] = StaticPool  # one in-memory database shared by all threads, not one each
        self.engine: Engine = create_engine(url, **options)
        # An in-memory database is one connection shared by every thread, and sqlite3 connections must
        # not be used by two threads at once (under concurrent searches every request failed): one at a time.
        self._serial: AbstractContextManager[Any] = (
            threading.RLock() if self.is_sqlite and path is None else nullcontext()
        )
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_s))

    def create_schema(self) -> None:
        def create() -> None:
            with self._serial:
                metadata.create_all(self.engine)

        self._retry(create)

    def close(self) -> None:
        self.engine.dispose()

    # --- writes ----------------------------------------------------------------------------------

    def log_search(
        self,
        *,
        query_id: str,
        query: str,
        filters: Mapping[str, Any],
        mode: str,
        result_ids: Sequence[str],
        script_ids: Sequence[str],
        top_score: float | None,
        exact_match: bool,
        no_good_answer: bool,
        index_version: str,
        took_ms: float,
        role: str,
        at: datetime | None = None,
    ) -> None:
        masked, without_personal_data = mask_and_remove_personal_data(query)
        row = {
            "query_id": query_id,
            "created_at": at or now(),
            "query": masked,
            "query_key": exact_key(without_personal_data),
            "filters": json.dumps(
                {k: _mask_filter(v) for k, v in filters.items()}, ensure_ascii=False, sort_keys=True, default=str
            ),
            "mode": mode,
            "result_ids": json.dumps(list(result_ids)),
            "script_ids": json.dumps(list(script_ids)),
            "top_score": top_score,
            "exact_match": exact_match,
            "no_good_answer": no_good_answer,
            "index_version": index_version,
            "took_ms": took_ms,
            "role": role,
        }
        self._write(queries.insert().values(**row))

    def log_feedback(
        self,
        *,
        query_id: str,
        entry_id: str,
        action: str,
        comment: str | None,
        role: str,
        at: datetime | None = None,
    ) -> None:
        if action not in FEEDBACK_ACTIONS:
            raise ValueError(f"unknown feedback action {action!r}")
        row = {
            "query_id": query_id,
            "entry_id": entry_id,
            "action": action,
            "comment": mask_personal_data(comment) if comment else None,
            "role": role,
            "created_at": at or now(),
        }
        self._write(feedback.insert().values(**row))

    def _write(self, statement: Any) -> None:
        def run() -> None:
            with self._serial, self.engine.begin() as connection:
                connection.execute(statement)

        self._retry(run)

    def _retry(self, action: Callable[[], T]) -> T:
        """SQLite answers "database is locked" once its busy timeout is spent; try a few more times."""
        for attempt in range(self.retries + 1):
            try:
                return action()
            except OperationalError as exc:
                if attempt == self.retries or not _is_busy(exc):
                    raise
                log.warning("database busy (attempt %d of %d), retrying", attempt + 1, self.retries + 1)
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    # --- reads -----------------------------------------------------------------------------------

    def find_query(self, query_id: str) -> LoggedQuery | None:
        statement = select(queries.c.query_id, queries.c.result_ids, queries.c.script_ids).where(
            queries.c.query_id == query_id
        )
        with self._serial, self.engine.connect() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        return LoggedQuery(row.query_id, tuple(json.loads(row.result_ids)), tuple(json.loads(row.script_ids)))

    def query_rows(self) -> list[dict[str, Any]]:
        """Every logged search, oldest first (for tests and exports)."""
        with self._serial, self.engine.connect() as connection:
            rows = connection.execute(select(queries).order_by(queries.c.created_at)).mappings().all()
        return [dict(r) for r in rows]

    def feedback_rows(self) -> list[dict[str, Any]]:
        with self._serial, self.engine.connect() as connection:
            rows = connection.execute(select(feedback).order_by(feedback.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def gaps(self, since: datetime | None = None, limit: int = 50) -> list[GapItem]:
        """Questions that found no good answer, or whose answers an agent marked not helpful."""
        after_q = queries.c.created_at >= since if since else true()
        after_f = feedback.c.created_at >= since if since else true()
        no_answer = (
            select(
                queries.c.query_key,
                func.count().label("n"),
                func.max(queries.c.created_at).label("last_seen"),
            )
            .where(and_(queries.c.no_good_answer.is_(True), after_q))
            .group_by(queries.c.query_key)
        )
        unhelpful = (
            select(
                queries.c.query_key,
                feedback.c.entry_id,
                func.count().label("n"),
                func.max(feedback.c.created_at).label("last_seen"),
            )
            .select_from(feedback.join(queries, feedback.c.query_id == queries.c.query_id))
            .where(and_(feedback.c.action == "not_helpful", after_f))
            .group_by(queries.c.query_key, feedback.c.entry_id)
        )
        items: dict[str, GapItem] = {}
        with self._serial, self.engine.connect() as connection:
            for row in connection.execute(no_answer):
                items[row.query_key] = GapItem(row.query_key, "", row.n, 0, _aware(row.last_seen))
            for row in connection.execute(unhelpful):
                item = items.setdefault(row.query_key, GapItem(row.query_key, "", 0, 0, _aware(row.last_seen)))
                item.not_helpful += row.n
                item.last_seen = max(item.last_seen, _aware(row.last_seen))
                item.unhelpful_entries[row.entry_id] = row.n
            chosen = sorted(items.values(), key=lambda i: (-i.total, -i.last_seen.timestamp(), i.key))[:limit]
            examples = self._latest_question(connection, [i.key for i in chosen])
        for item in chosen:
            item.question = examples.get(item.key, item.key)
            item.unhelpful_entries = dict(sorted(item.unhelpful_entries.items(), key=lambda kv: (-kv[1], kv[0])))
        return chosen

    def top_questions(self, since: datetime | None = None, limit: int = 50) -> list[TopQuestion]:
        count = func.count().label("n")
        statement = (
            select(
                queries.c.query_key,
                count,
                func.sum(_as_int(queries.c.exact_match)).label("exact"),
                func.sum(_as_int(queries.c.no_good_answer)).label("no_answer"),
                func.max(queries.c.created_at).label("last_seen"),
            )
            .where(queries.c.created_at >= since if since else true())
            .group_by(queries.c.query_key)
            .order_by(count.desc(), func.max(queries.c.created_at).desc(), queries.c.query_key)
            .limit(limit)
        )
        with self._serial, self.engine.connect() as connection:
            rows = connection.execute(statement).all()
            examples = self._latest_question(connection, [r.query_key for r in rows])
        return [
            TopQuestion(
                key=r.query_key,
                question=examples.get(r.query_key, r.query_key),
                count=r.n,
                exact_match=int(r.exact or 0),
                no_good_answer=int(r.no_answer or 0),
                last_seen=_aware(r.last_seen),
            )
            for r in rows
        ]

    def _latest_question(self, connection: Any, keys: Iterable[str]) -> dict[str, str]:
        """The most recent wording of each grouped question, to show in a report."""
        keys = list(keys)
        if not keys:
            return {}
        ranked = (
            select(
                queries.c.query_key,
                queries.c.query,
                func.row_number()
                .over(partition_by=queries.c.query_key, order_by=queries.c.created_at.desc())
                .label("rn"),
            )
            .where(queries.c.query_key.in_(keys))
            .subquery()
        )
        rows = connection.execute(select(ranked.c.query_key, ranked.c.query).where(ranked.c.rn == 1))
        return {row.query_key: row.query for row in rows}


def _as_int(column: Any) -> Any:
    return case((column.is_(True), 1), else_=0)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _mask_filter(value: Any) -> Any:
    if isinstance(value, str):
        return mask_personal_data(value)
    if isinstance(value, list | tuple):
        return [_mask_filter(v) for v in value]
    return value


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


def _sqlite_pragmas(busy_timeout_s: float) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return apply


def new_query_id() -> str:
    return str(uuid.uuid4())
