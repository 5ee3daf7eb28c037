"""Alembic environment: runs on the connection `creditbook.storage.migrate` hands over."""

from __future__ import annotations

from alembic import context

from creditbook.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the alembic command line comes here
    raise SystemExit("Run migrations with `creditbook db upgrade`.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
