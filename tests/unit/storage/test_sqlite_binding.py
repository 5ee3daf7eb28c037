"""None binds as NULL through an adapter registered when an SQLite engine is made."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from creditbook.storage.engine import create_engine


def test_making_an_sqlite_engine_registers_an_adapter_for_none(tmp_path: Path) -> None:
    sqlite3.adapters.pop((type(None), sqlite3.PrepareProtocol), None)
    engine = create_engine(f"sqlite:///{tmp_path / 'bind.db'}")
    try:
        assert (type(None), sqlite3.PrepareProtocol) in sqlite3.adapters
    finally:
        engine.dispose()


def test_none_is_still_stored_as_null_and_other_values_as_they_were(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'bind.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (a, b, c, d)"))
            connection.execute(
                text("INSERT INTO t VALUES (:a, :b, :c, :d)"),
                {"a": None, "b": 7, "c": "text", "d": 1.5},
            )
            row = connection.execute(text("SELECT a IS NULL, typeof(a), b, c, d FROM t")).one()
        assert tuple(row) == (1, "null", 7, "text", 1.5)
    finally:
        engine.dispose()
