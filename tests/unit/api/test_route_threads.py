"""How many plain routes run at once: the CPUs on SQLite, the pool on PostgreSQL, never more
than the pool, and an operator's setting wins."""

from __future__ import annotations

import pytest

from creditbook.api import app as app_module
from creditbook.api.app import route_threads
from creditbook.config import Settings


def test_sqlite_runs_as_many_routes_at_once_as_there_are_cpus_but_at_least_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(db_pool_size=8)
    for cpus, expected in ((1, 2), (2, 2), (4, 4), (None, 2), (64, 8)):
        monkeypatch.setattr(app_module.os, "cpu_count", lambda cpus=cpus: cpus)
        assert route_threads(settings, "sqlite") == expected


def test_postgresql_runs_as_many_routes_at_once_as_the_pool_has_connections() -> None:
    assert route_threads(Settings(db_pool_size=12), "postgresql") == 12


def test_the_setting_wins_but_never_beyond_the_pool() -> None:
    assert route_threads(Settings(db_pool_size=8, route_threads=3), "sqlite") == 3
    assert route_threads(Settings(db_pool_size=8, route_threads=3), "postgresql") == 3
    assert route_threads(Settings(db_pool_size=4, route_threads=16), "postgresql") == 4
