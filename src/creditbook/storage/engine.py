"""Engines for SQLite and PostgreSQL, with the settings each needs to be a safe ledger store.

SQLite: WAL (readers never block the writer), foreign keys on, a busy timeout so several
processes can share one file, `synchronous=FULL` unless configured otherwise, and write
transactions that begin with `BEGIN IMMEDIATE` so the write lock is taken before anything is
read. PostgreSQL: psycopg 3; row locks (`SELECT ... FOR UPDATE`) serialise writers per account.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import NullPool

from creditbook.errors import InvalidInput

WRITER_OPTION = "creditbook_writer"
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    sqlite_synchronous: str = "FULL"
    sqlite_busy_timeout_ms: int = 10_000
    pool_size: int = 8


def normalise_url(url: str) -> URL:
    """Accept `sqlite:///file`, `postgresql://...` and `postgres://...`; pick psycopg 3."""
    try:
        parsed = make_url(url)
    except Exception as error:  # SQLAlchemy raises several kinds here
        raise InvalidInput("database_url", f"Not a database URL: {error}") from None
    backend = parsed.get_backend_name()
    if backend == "postgres" or parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend in {"postgresql", "sqlite"}:
        return parsed
    raise InvalidInput("database_url", "Use a sqlite:/// or postgresql:// URL.")


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, options: EngineOptions | None = None) -> Engine:
    options = options or EngineOptions()
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, options)
    # No pre-ping: it costs a round trip per checkout; a connection the server dropped fails
    # its statement, the pool discards it and the caller gets a storage error to retry.
    return sa_create_engine(
        parsed,
        pool_size=options.pool_size,
        max_overflow=options.pool_size,
        pool_reset_on_return="rollback",
    )


def _null(value: None) -> None:
    return value


def bind_none_directly() -> None:
    """Have the sqlite3 module bind None through a registered adapter.

    CPython's sqlite3 (3.11) binds int, float and str as they are, but looks for an adapter
    for any other value, None included, and finds none only after raising and clearing two
    AttributeErrors (`__adapt__`, then `__conform__`). A charge's transaction row carries five
    to eight NULLs: that search cost about 0.2 us per NULL, up to 1.5 us of every insert. With an
    adapter registered for None the lookup is one dict hit; None still binds as NULL. The
    registration is process-wide and idempotent; it leaves every other type as it was.
    """
    sqlite3.register_adapter(type(None), _null)


def _sqlite_engine(url: URL, options: EngineOptions) -> Engine:
    mode = options.sqlite_synchronous.upper()
    if mode not in SYNCHRONOUS_MODES:
        raise InvalidInput("sqlite_synchronous", f"Must be one of {', '.join(SYNCHRONOUS_MODES)}.")
    bind_none_directly()
    memory = url.database in (None, "", ":memory:")
    # A file keeps as many open connections as PostgreSQL's pool: beyond SQLAlchemy's default
    # of 5, every extra connection would be opened (with its pragmas) and closed per request.
    pool: dict[str, Any] = (
        {"poolclass": NullPool}
        if memory
        else {"pool_size": options.pool_size, "max_overflow": options.pool_size}
    )
    engine = sa_create_engine(url, connect_args={"check_same_thread": False}, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(options.sqlite_busy_timeout_ms)}")
        cursor.execute(f"PRAGMA synchronous={mode}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writer = connection.get_execution_options().get(WRITER_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def writer_connection(engine: Engine) -> Connection:
    """A connection whose transactions take the write lock first (SQLite) — for the writer."""
    return engine.connect().execution_options(**{WRITER_OPTION: True})


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    return normalise_url(url).render_as_string(hide_password=True)
