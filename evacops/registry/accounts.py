"""The accounts facade the web service calls: log-in, sessions, CSRF and device tokens, and the
registry as an already-authenticated actor.

:class:`Accounts` holds the engine, the master key and the settings of one server process::

    accounts = Accounts.from_settings(RegistrySettings())
    actor = accounts.login(name, password)              # AccessDenied when refused or locked
    session, csrf = accounts.start_session(actor)       # cookie value, form/header value
    actor = accounts.session_actor(session)             # None: log in again
    accounts.check_csrf(session, csrf_from_form)        # bool, constant time
    device = accounts.device_actor(bearer_token)        # AccessDenied when unknown or revoked
    registry = accounts.registry(actor)                 # Registry.for_actor(...)

Everything that changes the registry (roles, devices, sync, conflicts) is a :class:`Registry`
method, checked against the actor's role in the operation it names. The services are in
:mod:`evacops.registry.services.accounts` and :mod:`evacops.registry.services.devices`.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from evacops.registry.security import Actor
from evacops.registry.service import Registry
from evacops.registry.services import accounts as acc
from evacops.registry.services import devices as dev
from evacops.registry.settings import RegistrySettings
from evacops.registry.store.crypto import KeyFolder

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class Accounts:
    """Log-in, sessions and device tokens over one engine and master key."""

    _async_engine: AsyncEngine  # made with :attr:`loop`

    def __init__(self, engine: Engine, master_key: bytes, settings: RegistrySettings | None = None):
        self.engine = engine
        self.master = master_key
        self.settings = settings or RegistrySettings()

    @classmethod
    def from_settings(cls, settings: RegistrySettings, *, engine: Engine | None = None) -> Accounts:
        """The server's accounts: the database of ``settings`` (checked to be a registry at the
        newest schema) and its master key."""
        from evacops.registry.store import crypto
        from evacops.registry.store.db import check_schema, make_engine

        if engine is None:
            engine = make_engine(
                settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
            )
        check_schema(engine)
        return cls(engine, crypto.load_master_key(settings.key_file), settings)

    def login(self, name: str, password: str, *, now: datetime | None = None) -> Actor:
        return acc.login(self.engine, self.master, name, password, settings=self.settings, now=now)

    def start_session(
        self, actor: Actor, *, now: datetime | None = None, ttl_min: int | None = None
    ) -> tuple[str, str]:
        return acc.start_session(
            self.engine, self.master, actor, settings=self.settings, now=now, ttl_min=ttl_min
        )

    def check_ttl(self, ttl_min: int | None) -> None:
        """Refuse a token lifetime this server does not give (before the log-in is tried)."""
        acc.check_ttl(ttl_min, self.settings)

    def session_expiry(self, token: str) -> tuple[datetime, float] | None:
        """When the session ``token`` ends at the latest, and after how many minutes unused."""
        return acc.session_expiry(self.engine, token, settings=self.settings)

    def session_actor(self, token: str, *, now: datetime | None = None) -> Actor | None:
        return acc.session_actor(self.engine, token, settings=self.settings, now=now)

    def end_session(self, token: str, *, now: datetime | None = None) -> bool:
        return acc.end_session(self.engine, self.master, token, now=now)

    def check_csrf(
        self, session_token: str, csrf: str | None, *, now: datetime | None = None
    ) -> bool:
        return acc.check_csrf(self.engine, session_token, csrf, settings=self.settings, now=now)

    def device_actor(self, token: str) -> Actor:
        return dev.device_actor(self.engine, token)

    @functools.cached_property
    def loop(self) -> Accounts | None:
        """These accounts over a second engine that waits for PostgreSQL on the event loop
        (:func:`~evacops.registry.store.db.make_loop_engine`); call them only inside
        ``sqlalchemy.util.greenlet_spawn``. None on SQLite (no asyncio driver: its writes take
        turns anyway)."""
        if self.engine.dialect.name != "postgresql":
            return None
        from evacops.registry.store.db import make_loop_engine

        self._async_engine = make_loop_engine(self.engine.url)
        loop = Accounts(self._async_engine.sync_engine, self.master, self.settings)
        loop.__dict__["_key_folder"] = self._key_folder
        loop.__dict__["loop"] = loop
        return loop

    async def close_loop(self) -> None:
        """Close the event loop engine's connections, if it was made."""
        if self.__dict__.get("loop") is not None:
            await self._async_engine.dispose()

    def registry(self, actor: Actor) -> Registry:
        """The registry as ``actor`` (from :meth:`login`, :meth:`session_actor` or
        :meth:`device_actor`)."""
        return Registry.for_actor(self.engine, self.master, actor, self._key_folder)

    @functools.cached_property
    def _key_folder(self) -> KeyFolder:
        """The folder of the operations' KEKs, made once (a registry is made on every request;
        the path's making is not free; an Accounts' settings never change)."""
        return KeyFolder(self.settings.operation_keys_dir)
