"""The web service's settings, in one place (pydantic-settings, ``EVACOPS_`` environment
variables; the registry's own settings are read from the same variables).

- ``EVACOPS_DATABASE_URL``, ``EVACOPS_KEY_FILE``, ``EVACOPS_OPERATION_KEYS``: as for the registry
  (:mod:`evacops.registry.settings`);
- ``EVACOPS_COOKIE_SECURE``: send cookies only over TLS (default: on when ``evacops serve`` runs
  with a certificate; set it when TLS ends at a proxy in front);
- ``EVACOPS_SESSION_HOURS`` / ``EVACOPS_SESSION_IDLE_MIN``: how long a session lasts;
- ``EVACOPS_SCENARIO``: the scenario file of the operation (sites, legs, gate safe numbers) drawn
  on the operation picture; none: the picture shows the registry's counts only.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

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
    login_max_failures: int = 5
    login_window_min: float = 15
    login_lock_min: float = 15
    scenario: Path | None = None
    #: largest request body accepted for an upload (bytes)
    max_upload_bytes: int = 20_000_000

    def registry_settings(self) -> RegistrySettings:
        """The registry's settings with this service's values."""
        fields = set(RegistrySettings.model_fields)
        return RegistrySettings(**{k: v for k, v in self.model_dump().items() if k in fields})
