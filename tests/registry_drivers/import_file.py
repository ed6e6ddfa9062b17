"""Subprocess target of tests/test_registry_faults.py: import one registration file, saying when.

    python tests/registry_drivers/import_file.py FILE

Settings come from the environment (EVACOPS_DATABASE_URL, EVACOPS_KEY_FILE, EVACOPS_USER,
EVACOPS_PASSWORD, EVACOPS_OPERATION). Printed on stdout, one line each, flushed at once:
``start`` just before :meth:`Registry.import_file` is called, ``writing TABLE`` when the first
INSERT into ``events``, ``persons``, ``person_keys`` or ``audit`` is about to be sent, and
``done N`` after it returned (N people imported). Nothing personal is printed.
"""

from __future__ import annotations

import os
import sys

from sqlalchemy import event

from evacops.registry import open_registry
from evacops.registry.services import registration
from evacops.registry.settings import RegistrySettings
from evacops.registry.store import db

WATCHED = ("events", "persons", "person_keys", "audit")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(path: str) -> None:
    settings = RegistrySettings()
    reg = open_registry(settings, settings.user, settings.password)
    seen: set[str] = set()

    def announce(table: str) -> None:
        if table in WATCHED and table not in seen:
            seen.add(table)
            say(f"writing {table}")

    @event.listens_for(reg.engine, "before_cursor_execute")
    def _watch(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("INSERT INTO "):
            announce(statement.split()[2].strip('"'))

    # the bulk path and the scan path write through the driver, not through SQLAlchemy
    bulk = db.bulk_insert

    def watched_bulk(conn, table, columns, rows):
        announce(table)
        return bulk(conn, table, columns, rows)

    registration.bulk_insert = watched_bulk
    run = db.Raw.run

    def watched_run(self, conn, template, params):
        if "INSERT INTO " in template:  # also "WITH entry AS (INSERT INTO audit ...)" (PG)
            announce(template.split("INSERT INTO ", 1)[1].split()[0])
        return run(self, conn, template, params)

    db.Raw.run = watched_run

    say("start")
    result = reg.import_file(os.environ["EVACOPS_OPERATION"], path)
    say(f"done {result.imported}")


if __name__ == "__main__":
    main(sys.argv[1])
