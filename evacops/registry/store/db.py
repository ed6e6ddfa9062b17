"""Database engines and schema migrations of the registry.

SQLite is the default (one file, WAL journal, foreign keys on, a busy timeout so several gate
processes can write in turn); PostgreSQL for several users over a network. The schema is created
and upgraded by the Alembic migrations in ``migrations/`` (:func:`migrate`), never by
``create_all``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from evacops.errors import RegistryError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

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
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        db_file = parsed.database

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by every test
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see "begin" below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            _private(db_file)
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
            # no pre-ping (a round trip per checkout); connections are recycled instead
            engine = create_engine(
                url, pool_recycle=1800, pool_size=10, max_overflow=20, hide_parameters=True
            )
            event.listen(engine, "handle_error", _without_values)
            return engine
        except NoSuchModuleError:
            raise RegistryError(
                "EVACOPS_DATABASE_URL: use the psycopg driver: postgresql+psycopg://..."
            ) from None
    raise RegistryError(
        f"EVACOPS_DATABASE_URL: {backend} is not supported; use sqlite:/// or postgresql+psycopg://"
    )


def make_loop_engine(url: str | URL) -> AsyncEngine:
    """A second engine on a PostgreSQL ``url`` with psycopg's asyncio driver, for the web
    service's scans: the registry's code runs unchanged on its ``sync_engine`` inside
    :func:`sqlalchemy.util.greenlet_spawn` on the event loop, and each statement's wait for the
    database lets the loop serve other requests (no worker thread, no contention for the
    interpreter's lock between them; docs/service.md, Scans on the event loop). The same error
    scrubbing as :func:`make_engine`; at most 20 connections (10 kept open): the scans at once
    (``EVACOPS_SCAN_TASKS``, at most 16) and the device tokens' checks."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(
        url, pool_recycle=1800, pool_size=10, max_overflow=10, hide_parameters=True
    )
    event.listen(engine.sync_engine, "handle_error", _without_values)
    return engine


def _without_values(context) -> Exception | None:
    """PostgreSQL's errors say which row failed with its values (``DETAIL: Failing row contains
    (...)``): the error raised instead keeps its class and primary message only, so no value
    reaches an error or a log."""
    orig = context.original_exception
    diag = getattr(orig, "diag", None)
    wrapped = context.sqlalchemy_exception
    if diag is None or not diag.message_detail or wrapped is None:
        return None
    scrub(orig)  # also the new error's cause, which a logged traceback shows
    return type(wrapped)(
        context.statement, None, orig, hide_parameters=True,
        connection_invalidated=context.is_disconnect,
    )  # fmt: skip


def scrub(exc: BaseException) -> None:
    """Drop PostgreSQL's detail (``DETAIL: Key (...)=(...)``, ``Failing row contains (...)``)
    from a driver error's message in place: its class (what callers catch) and its primary
    message stay."""
    diag = getattr(exc, "diag", None)
    if diag is not None and diag.message_detail and diag.message_primary:
        exc.args = (diag.message_primary,)


@contextmanager
def scrubbed():
    """Statements sent straight to the driver: an error raised inside loses its values
    (:func:`scrub`) and goes on."""
    try:
        yield
    except Exception as exc:
        scrub(exc)
        raise


def _private(db_file: str) -> None:
    """The database file and its WAL and shared-memory files: readable by their owner only."""
    for path in (db_file, db_file + "-wal", db_file + "-shm"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, 0o600)


@contextmanager
def writer_turn(engine: Engine):
    """On SQLite, wait for this process's turn to write: an exclusive ``flock`` on a file beside
    the database, held for the whole writing transaction. Every writer of the service takes it,
    so processes queue in the kernel and wake as soon as the lock is free, instead of polling in
    SQLite's busy handler (which sleeps 1-100 ms between tries and starves some gates).
    SQLite's own locking still guards anything else that writes. PostgreSQL: nothing to do."""
    path = _writer_lock_path(engine)
    if path is None:
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise RegistryError(
            f"{path}: cannot create the writers' lock file beside the database ({exc.strerror}); "
            "make the database's folder writable"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _writer_lock_path(engine: Engine) -> str | None:
    if engine.dialect.name != "sqlite":
        return None
    cached = engine.__dict__.get("_evacops_lock_path")
    if cached is None:
        cached = str(Path(engine.url.database or "").resolve()) + ".writer-lock"
        engine.__dict__["_evacops_lock_path"] = cached
    return cached


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


#: the newest migration in ``migrations/versions`` (tests/test_registry_db.py checks it against
#: alembic's own reading): every command checks the schema, and reading the migrations with alembic
#: cost each command line about 0.15 s
SCHEMA_HEAD = "0006"


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database that was never initialised or is behind the code."""
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            has_tables = insp.has_table("events")
            current = None
            if insp.has_table("alembic_version"):
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
                current = rows[0][0] if len(rows) == 1 else None
    except OperationalError as exc:
        raise RegistryError(
            f"database: cannot open it ({_short(exc)}); check EVACOPS_DATABASE_URL"
        ) from None
    if current is None or not has_tables:
        raise RegistryError("database: not a registry yet; run 'evacops registry init'")
    if current != SCHEMA_HEAD:
        raise RegistryError(
            f"database: schema {current} is older than {SCHEMA_HEAD}; "
            "run 'evacops registry init' to upgrade"
        )


def _short(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).splitlines()[0][:200]


class Raw:
    """The few statements a scan runs, sent straight to the driver on the transaction's own
    connection (SQLAlchemy's per-statement work cost more than the database's; see
    benchmarks/registry_scans.py). Values are converted here exactly as the SQLAlchemy types in
    models.py store them, so rows written either way read back the same."""

    __slots__ = ("_json", "_sql", "sqlite")

    def __init__(self, dialect_name: str):
        self.sqlite = dialect_name == "sqlite"
        self._sql: dict[str, str] = {}
        self._json: Callable[[Any], Any]
        if self.sqlite:
            self._json = json.dumps
        else:
            from psycopg.types.json import Json

            self._json = Json

    def sql(self, template: str) -> str:
        """``template`` with ``{name}`` placeholders in this driver's named style."""
        out = self._sql.get(template)
        if out is None:
            names = re.findall(r"\{(\w+)\}", template)
            style = (lambda n: f":{n}") if self.sqlite else (lambda n: f"%({n})s")
            out = template.format(**{n: style(n) for n in names})
            self._sql[template] = out
        return out

    def dt(self, value):
        if value is None or not self.sqlite:
            return value
        value = value.astimezone(UTC)
        if value.year < 1000:  # strftime does not pad the year; the text stays as it was
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")  # half strftime's time

    def json(self, value):
        return self._json(value)

    def run(self, conn, template: str, params: dict):
        """``template`` with ``params``; the open cursor. A driver error comes without the
        values PostgreSQL puts in its detail (:func:`scrub`)."""
        cur = conn.connection.dbapi_connection.cursor()
        with scrubbed():
            cur.execute(self.sql(template), params)
        return cur

    def run_many(self, conn, template: str, rows: list[dict]) -> None:
        """``template`` once for each of ``rows`` (one round trip on PostgreSQL: psycopg sends
        them together); errors as :meth:`run`."""
        cur = conn.connection.dbapi_connection.cursor()
        try:
            with scrubbed():
                cur.executemany(self.sql(template), rows)
        finally:
            cur.close()


def bulk_insert(conn, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert many rows of plain values (converted as :class:`Raw` does) in the caller's
    transaction: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""
    if not rows:
        return
    dbapi = conn.connection.dbapi_connection
    cols = ", ".join(columns)
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        dbapi.cursor().executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
        return
    with scrubbed(), dbapi.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def reserve_sequence(conn, table: str, column: str, n: int) -> list[int]:
    """``n`` new values of ``table.column``'s sequence (inside the writing transaction: on
    SQLite the write lock is held from BEGIN IMMEDIATE, so max + 1 ... max + n are ours)."""
    if conn.dialect.name == "sqlite":
        cur = conn.connection.dbapi_connection.cursor()
        start = cur.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()[0]
        return list(range(start + 1, start + n + 1))
    cur = conn.connection.dbapi_connection.cursor()
    cur.execute(
        f"SELECT nextval(pg_get_serial_sequence('{table}', '{column}')) "
        "FROM generate_series(1, %s)",
        (n,),
    )
    return [r[0] for r in cur.fetchall()]


_RAW: dict[str, Raw] = {}


def raw(conn) -> Raw:
    name = conn.dialect.name
    r = _RAW.get(name)
    if r is None:
        r = _RAW[name] = Raw(name)
    return r


def integrity_errors() -> tuple[type[Exception], ...]:
    """The exceptions of a unique or foreign key refusing a write (through SQLAlchemy or straight
    from the driver), for ``except integrity_errors():``. psycopg's is among them once psycopg is
    loaded, which a PostgreSQL engine does when it is made; on SQLite it is never imported
    (importing it cost each command line about 0.08 s)."""
    import sqlite3

    from sqlalchemy.exc import IntegrityError

    pg = sys.modules.get("psycopg")
    base: tuple[type[Exception], ...] = (IntegrityError, sqlite3.IntegrityError)
    return (*base, pg.IntegrityError) if pg is not None else base
