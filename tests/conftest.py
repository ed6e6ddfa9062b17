"""Shared fixtures of the registry tests: a fresh registry on SQLite, and on PostgreSQL when
``EVACOPS_TEST_DATABASE_URL`` is set (``.ci/run`` sets it when the local server answers).

People are generated (evacops.registry.generate): never real personal data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evacops.registry.generate import EXAMPLE_CATEGORIES, EXAMPLE_SITES

PG_URL = os.environ.get("EVACOPS_TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"]
PASSWORD = "test-password-1"
OPERATION = "test-op"
SITES = EXAMPLE_SITES
CATEGORIES = EXAMPLE_CATEGORIES


def postgres_schema_url(url: str, schema: str) -> str:
    """``url`` with every connection's search_path set to ``schema``: each test gets a schema of
    its own, so tests (and anything else using the same database) never see each other's data."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return u.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def _pg_exec(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


@pytest.fixture
def database_url(backend, tmp_path):
    """A fresh, empty registry database URL for one test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL: set EVACOPS_TEST_DATABASE_URL to run these")
    import uuid

    schema = "evacops_t_" + uuid.uuid4().hex[:12]
    _pg_exec(f"CREATE SCHEMA {schema}")
    try:
        yield postgres_schema_url(PG_URL, schema)
    finally:
        _pg_exec(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@dataclass
class RegistryEnv:
    """A registry with an operation, its sites, and one user per role."""

    settings: object
    url: str
    key_file: Path
    env: dict[str, str]
    _users: set = field(default_factory=set)
    _engine: object = None
    _views: dict = field(default_factory=dict)

    def as_role(self, role: str, *, fresh: bool = False):
        """The registry as a user of ``role`` (created and logged in once per test: Argon2 is
        slow on purpose); ``fresh`` logs in again and returns a view of its own."""
        from evacops.registry import open_registry

        if not fresh and role in self._views:
            return self._views[role]
        if self._engine is None:
            from evacops.registry.store.db import make_engine

            self._engine = make_engine(self.url)
        if role != "admin" and role not in self._users:
            self.as_role("admin").add_user(role, role, PASSWORD)
            self._users.add(role)
        view = open_registry(self.settings, role, PASSWORD, engine=self._engine)
        if not fresh:
            self._views[role] = view
        return view


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def registry_env(database_url, tmp_path) -> RegistryEnv:
    from evacops.registry import init_registry
    from evacops.registry.settings import RegistrySettings

    url = database_url
    key = tmp_path / "keys" / "master.key"
    settings = RegistrySettings(database_url=url, key_file=key)
    init_registry(settings, admin="admin", password=PASSWORD)
    env = {
        "EVACOPS_DATABASE_URL": url,
        "EVACOPS_KEY_FILE": str(key),
        "EVACOPS_PASSWORD": PASSWORD,
        "EVACOPS_OPERATION": OPERATION,
    }
    renv = RegistryEnv(settings, url, key, env)
    renv.as_role("admin").create_operation(
        OPERATION, categories=CATEGORIES, sites_=SITES, origin_site="HKIA"
    )
    yield renv
    renv._engine.dispose()


@pytest.fixture
def admin(registry_env):
    return registry_env.as_role("admin")
