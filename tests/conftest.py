"""Fixtures shared by every tier: fresh databases on SQLite and PostgreSQL, built services.

PostgreSQL comes from `CREDITBOOK_TEST_PG_URL` when set; otherwise a throwaway server is
started from the PostgreSQL binaries found on this machine; otherwise the PostgreSQL half is
skipped with a message, unless `CREDITBOOK_TEST_PG_REQUIRED=1` (as in CI), which makes it fail.
Each test gets a database of its own, copied from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from creditbook.bootstrap import Services, build
from creditbook.clock import ManualClock, to_us
from creditbook.config import Settings
from creditbook.storage.engine import create_engine
from creditbook.storage.migrate import upgrade
from tests.pg_server import ThrowawayPostgres, find_pg_bin


@contextmanager
def engine_at(url: str) -> Iterator[Engine]:
    """An engine of the database at `url`, disposed however the block ends (an engine left
    open holds a connection that a later test on the same PostgreSQL would trip over)."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


BACKENDS = ["sqlite", "postgresql"]
START = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def pytest_report_header() -> str:
    source = os.environ.get("CREDITBOOK_TEST_PG_URL") and "CREDITBOOK_TEST_PG_URL"
    source = source or (find_pg_bin() and "a throwaway server") or "nothing (skipped)"
    return f"creditbook: PostgreSQL half from {source}"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("CREDITBOOK_TEST_PG_URL")
    if url:
        yield url
        return
    bin_dir = find_pg_bin()
    if bin_dir is None:
        message = (
            "PostgreSQL half skipped: set CREDITBOOK_TEST_PG_URL or install PostgreSQL "
            "(initdb, pg_ctl) to run every storage test on PostgreSQL too."
        )
        if os.environ.get("CREDITBOOK_TEST_PG_REQUIRED") == "1":
            pytest.fail(message.replace("skipped", "required but unavailable"))
        pytest.skip(message)
    server = ThrowawayPostgres(bin_dir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[tuple[str, str]]:
    """A migrated template database; tests copy it rather than migrate each time."""
    name = f"creditbook_tpl_{uuid.uuid4().hex[:10]}"
    admin = sa_create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        with engine_at(url) as engine:
            upgrade(engine)
        yield pg_admin_url, name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    with engine_at(f"sqlite:///{path}") as engine:
        upgrade(engine)
    return path


def fresh_pg(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database copied from the migrated template, dropped afterwards."""
    _admin_url, template = request.getfixturevalue("pg_template")
    yield from scratch_pg(request, prefix="creditbook_t", template=template)


def scratch_pg(
    request: pytest.FixtureRequest, *, prefix: str, template: str | None = None
) -> Iterator[str]:
    """A new PostgreSQL database (empty, or a copy of `template`), dropped afterwards."""
    admin_url = request.getfixturevalue("pg_admin_url")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = sa_create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of each kind."""
    if request.param == "postgresql":
        yield from fresh_pg(request)
    else:
        path = tmp_path / "ledger.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A freshly migrated PostgreSQL database, for what only PostgreSQL does."""
    yield from fresh_pg(request)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(to_us(START))


def make_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"database_url": url, "default_monthly_limit_usd": None}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def built_services(url: str, clock: ManualClock, **overrides: object) -> Iterator[Services]:
    built = build(make_settings(url, **overrides), clock=clock)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def services(db_url: str, clock: ManualClock) -> Iterator[Services]:
    with built_services(db_url, clock) as built:
        yield built
