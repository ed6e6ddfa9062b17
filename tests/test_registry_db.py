"""The registry's schema check: the head revision kept in code is alembic's, and a database that
was never initialised, or is behind the code, is refused with the fix."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from evacops.errors import RegistryError
from evacops.registry.store.db import (
    MIGRATIONS,
    SCHEMA_HEAD,
    check_schema,
    make_engine,
    migrate,
)


def test_head_in_code_is_alembics_head():
    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == SCHEMA_HEAD


def test_schema_check_refuses_a_new_or_old_database(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with pytest.raises(RegistryError, match="not a registry yet; run 'evacops registry init'"):
        check_schema(engine)
    assert migrate(engine) == SCHEMA_HEAD
    check_schema(engine)  # up to date: no error
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    with pytest.raises(RegistryError, match="schema 0005 is older than 0006"):
        check_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    with pytest.raises(RegistryError, match="not a registry yet"):
        check_schema(engine)
