"""The web service's settings, in one place (pydantic-settings, ``EVACOPS_`` environment
variables; the registry's own settings are read from the same variables).

- ``EVACOPS_DATABASE_URL``, ``EVACOPS_KEY_FILE``, ``EVACOPS_OPERATION_KEYS``: as for the registry
  (:mod:`evacops.registry.settings`);
- ``EVACOPS_COOKIE_SECURE``: send cookies only over TLS (default: on when ``evacops serve`` runs
  with a certificate; set it when TLS ends at a proxy in front);
- ``EVACOPS_SESSION_HOURS`` / ``EVACOPS_SESSION_IDLE_MIN``: how long a session lasts;
  ``EVACOPS_TOKEN_MAX_HOURS``: the longest lifetime an API log-in may choose for its token;
- ``EVACOPS_SCENARIO``: the scenario file of the operation (sites, legs, gate safe numbers) drawn
  on the operation picture; none: the picture shows the registry's counts only;
- ``EVACOPS_MAX_UPLOAD_BYTES`` / ``EVACOPS_MAX_BODY_BYTES``: the largest upload (a registration
  file) and the largest other request body; a body over its limit is refused with 413 while it
  is read (:mod:`evacops.web.uploads`);
- ``EVACOPS_RATE_LOGIN_PER_MIN``, ``EVACOPS_RATE_AUTH_FAILURES_PER_MIN``,
  ``EVACOPS_RATE_API_PER_MIN``: per-address rate limits (:mod:`evacops.web.ratelimit`; 0 turns
  one off);
- ``EVACOPS_IDEMPOTENCY_HOURS``: how long an ``Idempotency-Key``'s answer is kept
  (:mod:`evacops.web.idempotency`);
- ``EVACOPS_SCAN_TASKS`` (PostgreSQL: on the event loop) and ``EVACOPS_SCAN_THREADS`` (SQLite:
  in worker threads): how many scans (a device's batch, or one scan) a server process records
  at once (:func:`evacops.web.deps.scanning`); the others wait their turn;
- ``EVACOPS_GC_FREEZE``: before serving, collect once and freeze what the start-up made, so that
  the collector's full passes stop pausing every request (:func:`evacops.web.app.
  settle_garbage_collector`); on in ``evacops serve`` unless set to false, off in an app made
  for tests.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from evacops.registry.limits import MAX_FILE_BYTES, MAX_UPLOAD_BYTES
from evacops.registry.settings import RegistrySettings, _default_key_file


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVACOPS_", extra="ignore")

    database_url: str = "sqlite:///evacops.db"
    key_file: Path = _default_key_file()
    operation_keys: Path | None = None
    sqlite_synchronous: str = "NORMAL"
    cookie_secure: bool = False
    session_hours: float = 12
    session_idle_min: float = 60
    token_max_hours: float = 12
    login_max_failures: int = 5
    login_window_min: float = 15
    login_lock_min: float = 15
    scenario: Path | None = None
    #: largest file accepted in an upload (bytes; the import limit is the ceiling)
    max_upload_bytes: int = Field(default=MAX_UPLOAD_BYTES, ge=1, le=MAX_FILE_BYTES)
    #: largest request body that is not an upload (JSON: at most 5,000 registration rows)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    #: log-in attempts (page and API) from one address per minute (a burst of as many)
    rate_login_per_min: int = Field(default=20, ge=0)
    #: failed log-ins and requests with a wrong, expired or revoked token or session from one
    #: address per minute; past it, log-ins and unauthenticated requests get 429
    rate_auth_failures_per_min: int = Field(default=30, ge=0)
    #: every /api/ request from one address per minute (0: no limit; gates behind one NAT
    #: address send hundreds a second, so this is for deployments with an address per client)
    rate_api_per_min: int = Field(default=0, ge=0)
    #: hours an Idempotency-Key's answer is kept for replay
    idempotency_hours: float = Field(default=24, gt=0)
    #: on SQLite, scans (batches or single) recorded at once in one server process: more
    #: threads than two made each scan cost more CPU and wait longer (one Python process, one
    #: GIL; see docs/service.md, Measured), while other requests keep the thread pool
    scan_threads: int = Field(default=2, ge=1, le=64)
    #: on PostgreSQL, scans recorded at once on one server process's event loop (each holds a
    #: pooled connection while its statements wait; that pool keeps 10 open, 20 at most)
    scan_tasks: int = Field(default=10, ge=1, le=16)
    #: freeze the start-up's objects out of the garbage collector's sight before serving
    gc_freeze: bool = False

    def registry_settings(self) -> RegistrySettings:
        """The registry's settings with this service's values."""
        fields = set(RegistrySettings.model_fields)
        return RegistrySettings(**{k: v for k, v in self.model_dump().items() if k in fields})
