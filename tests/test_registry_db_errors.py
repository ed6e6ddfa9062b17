"""PostgreSQL's errors name the values of the row that failed (``DETAIL: Key (v)=(...)``,
``Failing row contains (...)``): none of it may reach an error's message, its cause or its
repr, on SQLAlchemy's path and on the driver's (the scans' statements), while the error keeps
the class callers catch."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from evacops.registry.store.db import bulk_insert, integrity_errors, make_engine, raw

SECRET = "VALUE-NOT-TO-LEAK-0001"  # stands for a name, a date, a document
SHORT = "ROW-NOT-TO-LEAK"


def _chain(exc: BaseException | None) -> str:
    """Every message in the error and its causes, as a log's traceback would show them."""
    out = []
    while exc is not None:
        out.append(f"{exc!s} {exc!r}")
        exc = exc.__cause__ or exc.__context__
    return " ".join(out)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_database_errors_carry_no_values(database_url):
    engine = make_engine(database_url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (id int PRIMARY KEY, v text UNIQUE CHECK (length(v) > 15))"))
        c.execute(text("INSERT INTO t VALUES (1, :v)"), {"v": SECRET})
    sql = "INSERT INTO t (id, v) VALUES ({id}, {v})"
    attempts = {
        "sqlalchemy": lambda c: c.execute(text("INSERT INTO t VALUES (2, :v)"), {"v": SECRET}),
        "driver": lambda c: raw(c).run(c, sql, {"id": 3, "v": SECRET}),
        "driver, many": lambda c: raw(c).run_many(c, sql, [{"id": 4, "v": SHORT}]),
        "driver, copy": lambda c: bulk_insert(c, "t", ["id", "v"], [(5, SHORT)]),
    }
    try:
        for how, attempt in attempts.items():
            with pytest.raises(integrity_errors()) as got, engine.begin() as c:
                attempt(c)
            told = _chain(got.value)
            assert SECRET not in told and SHORT not in told, how
            assert "DETAIL" not in told and "Failing row" not in told, how
            assert "violates" in str(got.value), how  # the primary message stays
    finally:
        engine.dispose()
