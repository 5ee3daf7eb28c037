"""Schema migrations (Alembic), and the check that refuses an un-migrated database."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from creditbook.errors import SchemaNotMigrated

SCRIPT_LOCATION = "creditbook.storage:migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the schema to `revision`; returns the revision it is at afterwards."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine) or "base"


def downgrade(engine: Engine, revision: str) -> str:
    """Take the schema back to `revision`; returns the revision it is at afterwards."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    return current_revision(engine) or "base"


def require_current(engine: Engine, *, shown_url: str) -> None:
    """Refuse to go on unless the schema is exactly at the revision this code was built for."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    found = "no creditbook schema" if current is None else f"schema revision {current}"
    raise SchemaNotMigrated(
        f"The database {shown_url} has {found}; this version needs revision {head}. "
        f"Run: creditbook db upgrade --database-url '{shown_url}'"
    )
