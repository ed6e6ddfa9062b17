"""Alembic environment of the registry: run by :func:`evacops.registry.store.db.migrate` with an
open connection (``config.attributes["connection"]``), or by the ``alembic`` command with a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from evacops.registry.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn) -> None:
    context.configure(
        connection=conn, target_metadata=metadata, render_as_batch=conn.dialect.name == "sqlite"
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
