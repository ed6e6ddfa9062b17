"""Evacuee registry: an event log of who was registered, called forward, checked in, manifested,
flown and received, with sealed personal fields, signed credentials, roles and an audit chain.

Entry points: :func:`open_registry` (settings -> :class:`~evacops.registry.service.Registry`),
:func:`init_registry` (database, key file, first admin). ``Registry`` is a facade over the
services (:mod:`.services`, one per job, over one shared context); events and their projection
are :mod:`.events`; persistence, keys and the audit chain are :mod:`.store`. See
docs/registry.md, "Where the code lives".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evacops.registry.service import Registry
    from evacops.registry.settings import RegistrySettings


def init_registry(
    settings: RegistrySettings, *, admin: str | None = None, password: str | None = None
) -> dict:
    """Create or upgrade the database; create the master key file if there is none; create the
    first admin. Returns what was done (the key file's path, whether it is new, the revision)."""
    from evacops.registry.service import Registry
    from evacops.registry.store import crypto
    from evacops.registry.store.db import make_engine, migrate

    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    key_path = Path(settings.key_file).expanduser()
    key_created = False
    if key_path.exists():
        master = crypto.load_master_key(key_path)
    else:
        master = crypto.create_master_key(key_path)
        key_created = True
    folder = settings.operation_keys_dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    revision = migrate(engine)
    admin_created = False
    if admin:
        if not password:
            from evacops.errors import RegistryError

            raise RegistryError(
                "give the password in EVACOPS_PASSWORD or at the prompt", field="admin", value=admin
            )
        admin_created = Registry.bootstrap_admin(engine, master, admin, password)
    else:
        from evacops.registry.store import audit

        with engine.begin() as conn:
            audit.ensure_head(conn)
    engine.dispose()
    return {
        "database": settings.database_url.split("@")[-1],
        "key_file": str(key_path),
        "key_created": key_created,
        "schema": revision,
        "admin_created": admin_created,
    }


def open_registry(settings: RegistrySettings, user: str, password: str, *, engine=None) -> Registry:
    """The registry as ``user`` (authenticated with ``password``); ``engine`` shares a
    connection pool between several users' views (a service does this).

    This log-in has **no lockout and no audit entry** (:meth:`Registry.authenticate`): it is for
    a process that holds the master key already and makes its own users (the demo, tests,
    benchmarks). Where a person types a password, log in through
    :meth:`evacops.registry.accounts.Accounts.login` (the web's and the command line's log-in:
    lockout after repeated failures, every attempt audited); tests/test_cli_lockout.py checks
    that every command of ``evacops registry`` does."""
    from evacops.registry.service import Registry
    from evacops.registry.store import crypto
    from evacops.registry.store.db import check_schema, make_engine

    if engine is None:
        engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    check_schema(engine)
    actor = Registry.authenticate(engine, user, password)
    keys = crypto.KeyFolder(settings.operation_keys_dir)
    return Registry(engine, crypto.load_master_key(settings.key_file), actor, keys=keys)
