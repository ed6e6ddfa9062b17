"""Database engines and schema migrations of the registry.

SQLite is the default (one file, WAL journal, foreign keys on, a busy timeout so several gate
processes can write in turn); PostgreSQL for several users over a network. The schema is created
and upgraded by the Alembic migrations in ``migrations/`` (:func:`migrate`), never by
``create_all``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from evacops.errors import RegistryError

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, *, sqlite_synchronous: str = "NORMAL") -> Engine:
    """An engine for ``url``; a one-line :class:`RegistryError` for a URL we cannot use."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise RegistryError(
            "EVACOPS_DATABASE_URL: not a database URL; use sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST/DB"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise RegistryError("EVACOPS_DATABASE_URL: use a file, e.g. sqlite:///evacops.db")
        sync = sqlite_synchronous.upper()
        if sync not in ("NORMAL", "FULL", "EXTRA"):
            raise RegistryError("EVACOPS_SQLITE_SYNCHRONOUS: use NORMAL, FULL or EXTRA")
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by every test
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see "begin" below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # pragma: no cover
            # A writing transaction takes the write lock at its start: a reader that later writes
            # cannot deadlock, and two gates checking the last seat are serialised
            # (docs/registry.md, Concurrency). Read-only transactions do not block writers.
            read = conn.get_execution_options().get("evacops_read")
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        try:
            return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except NoSuchModuleError:
            raise RegistryError(
                "EVACOPS_DATABASE_URL: use the psycopg driver: postgresql+psycopg://..."
            ) from None
    raise RegistryError(
        f"EVACOPS_DATABASE_URL: {backend} is not supported; use sqlite:/// or postgresql+psycopg://"
    )


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest migration; return the revision now in place."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
            return MigrationContext.configure(conn).get_current_revision() or ""
    except OperationalError as exc:
        raise RegistryError(
            f"database: cannot open it ({_short(exc)}); check EVACOPS_DATABASE_URL"
        ) from None


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database that was never initialised or is behind the code."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            has_tables = inspect(conn).has_table("events")
    except OperationalError as exc:
        raise RegistryError(
            f"database: cannot open it ({_short(exc)}); check EVACOPS_DATABASE_URL"
        ) from None
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if current is None or not has_tables:
        raise RegistryError("database: not a registry yet; run 'evacops registry init'")
    if current != head:
        raise RegistryError(
            f"database: schema {current} is older than {head}; "
            "run 'evacops registry init' to upgrade"
        )


def _short(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).splitlines()[0][:200]
