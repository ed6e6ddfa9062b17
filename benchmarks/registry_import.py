"""Benchmark: importing a registration file, the path of ``evacops registry import``
(:meth:`Registry.import_file`: read and validate the file, seal the personal fields, blind-index
the dedup keys, then one transaction of events, persons, blind keys and the audit entry), on
SQLite and on PostgreSQL side by side.

    .venv/bin/python benchmarks/registry_import.py [--rows 100000] [--seed 0]
                                                   [--pg-url URL | --no-pg] [--json]

People are generated (evacops.registry.generate): never real personal data. SQLite runs on a
temporary file (synchronous=NORMAL, the default). PostgreSQL runs in a schema of its own, created
for the run and dropped after it, in the database of --pg-url (default: EVACOPS_BENCH_PG_URL or
EVACOPS_TEST_DATABASE_URL; skipped when none is set or the server does not answer). Printed:
seconds and rows/s for the whole call, and its two halves: "prepare" (reading, validating,
sealing, up to the first INSERT) and "write" (the inserts and the commit). Goal: 100,000 rows in
<= 30 s on SQLite. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from evacops.registry import init_registry, open_registry  # noqa: E402
from evacops.registry.generate import (  # noqa: E402
    EXAMPLE_CATEGORIES,
    EXAMPLE_SITES,
    write_registrations_csv,
)
from evacops.registry.settings import RegistrySettings  # noqa: E402

OPERATION = "bench"
PASSWORD = "bench-password-1"


def write_registrations(path: Path, n: int, seed: int) -> Path:
    """The generated import file (``evacops registry generate`` writes the same)."""
    return write_registrations_csv(path, n, seed=seed)


def pg_url_default() -> str | None:
    return os.environ.get("EVACOPS_BENCH_PG_URL") or os.environ.get("EVACOPS_TEST_DATABASE_URL")


def choose_backends(args) -> tuple[list[str], list[str]]:
    """SQLite always; PostgreSQL when a URL is given (``--pg-url``) and its server answers."""
    backends, notes = ["sqlite"], []
    if args.no_pg or not args.pg_url:
        notes.append("postgresql: skipped (give --pg-url or set EVACOPS_BENCH_PG_URL)")
    elif why := pg_reachable(args.pg_url):
        notes.append(f"postgresql: skipped, the server does not answer ({why})")
    else:
        backends.append("postgresql")
    return backends, notes


def pg_reachable(url: str) -> str | None:
    """None if the server answers, else why not (one line)."""
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means: skip PostgreSQL
        return str(getattr(exc, "orig", exc)).splitlines()[0][:120]
    return None


@contextlib.contextmanager
def fresh_database(backend: str, pg_url: str | None, folder: Path) -> Iterator[str]:
    """A URL of an empty database: a new SQLite file, or a new PostgreSQL schema (dropped after)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'registry-{uuid.uuid4().hex[:8]}.db'}"
        return
    assert pg_url
    schema = "evacops_bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield (
            make_url(pg_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def new_registry(url: str, folder: Path):
    """A registry with the benchmark's operation; returns (settings, admin registry)."""
    settings = RegistrySettings(database_url=url, key_file=folder / "keys" / "master.key")
    init_registry(settings, admin="admin", password=PASSWORD)
    admin = open_registry(settings, "admin", PASSWORD)
    admin.create_operation(
        OPERATION, categories=EXAMPLE_CATEGORIES, sites_=EXAMPLE_SITES, origin_site="HKIA"
    )
    return settings, admin


def time_import(url: str, folder: Path, path: Path, rows: int) -> dict:
    settings, admin = new_registry(url, folder)
    admin.add_user("registrar", "registrar", PASSWORD)
    reg = open_registry(settings, "registrar", PASSWORD)
    first_insert: list[float] = []

    @event.listens_for(reg.engine, "before_cursor_execute")
    def _first(conn, cursor, statement, parameters, context, executemany) -> None:
        if not first_insert and statement.startswith("INSERT INTO events"):
            first_insert.append(time.perf_counter())

    # the events are written in bulk straight through the driver (evacops.registry.store.db)
    import evacops.registry.services.registration as service

    bulk = service.bulk_insert

    def timed_bulk(conn, table, columns, rows_):
        if not first_insert and table == "events":
            first_insert.append(time.perf_counter())
        return bulk(conn, table, columns, rows_)

    service.bulk_insert = timed_bulk
    t0 = time.perf_counter()
    try:
        result = reg.import_file(OPERATION, path)
    finally:
        service.bulk_insert = bulk
    t1 = time.perf_counter()
    assert result.imported == rows, result
    reg.engine.dispose()
    admin.engine.dispose()
    split = first_insert[0] if first_insert else t1
    return {
        "seconds": t1 - t0,
        "rows_per_s": rows / (t1 - t0),
        "prepare_s": split - t0,
        "write_s": t1 - split,
        "households": result.households,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pg-url", default=pg_url_default(), help="a PostgreSQL database to use")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)

    backends, notes = choose_backends(args)

    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="evacops-bench-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        path = write_registrations(folder / "registrations.csv", args.rows, args.seed)
        gen_s = time.perf_counter() - t
        for backend in backends:
            with fresh_database(backend, args.pg_url, folder) as url:
                out[backend] = time_import(url, folder, path, args.rows)

    if args.json:
        print(json.dumps({"rows": args.rows, "seed": args.seed, "results": out}, indent=2))
        return 0
    print(
        f"registry import: {args.rows:,} generated registrations (seed {args.seed}; "
        f"file written in {gen_s:.1f} s), Registry.import_file, one transaction"
    )
    print(f"{'backend':<12}{'seconds':>9}{'rows/s':>10}{'prepare s':>11}{'write s':>9}")
    for backend, r in out.items():
        print(
            f"{backend:<12}{r['seconds']:>9.1f}{r['rows_per_s']:>10,.0f}"
            f"{r['prepare_s']:>11.1f}{r['write_s']:>9.1f}"
        )
    for note in notes:
        print(note)
    if "sqlite" in out:
        s = out["sqlite"]["seconds"]
        print(f"goal: <= 30 s on SQLite: {'met' if s <= 30 else 'missed'} ({s:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
