"""Registry settings, in one place (pydantic-settings, ``EVACOPS_`` environment variables).

- ``EVACOPS_DATABASE_URL``: ``sqlite:///reg.db`` (default ``sqlite:///evacops.db``, in the working
  folder) or ``postgresql+psycopg://user@host/db``.
- ``EVACOPS_KEY_FILE``: the master key file (default ``~/.config/evacops/master.key``, kept away
  from the database's folder on purpose: a copied database without its key reveals no personal
  field).
- ``EVACOPS_OPERATION_KEYS``: the folder of the operations' key-encryption keys (default
  ``operation-keys/`` beside the master key; mode 0700). Each operation's data and signing keys
  are wrapped under the master key *and* its key-encryption key; the shred destroys the latter,
  so a copy of the database taken before the shred cannot be opened after it.
- ``EVACOPS_USER`` / ``EVACOPS_PASSWORD``: who acts, for the command line (the password is asked
  for when not set).
- Log-in and sessions (docs/registry.md, Accounts): ``EVACOPS_LOGIN_MAX_FAILURES`` (5) failed
  log-ins within ``EVACOPS_LOGIN_WINDOW_MIN`` (15) minutes lock the name for
  ``EVACOPS_LOGIN_LOCK_MIN`` (15) minutes; a session lasts at most ``EVACOPS_SESSION_HOURS`` (12)
  and ends after ``EVACOPS_SESSION_IDLE_MIN`` (60) minutes unused; an API log-in may instead
  choose its token's lifetime (``evacops login --ttl``), at most ``EVACOPS_TOKEN_MAX_HOURS``
  (12), which then lasts that long whether used or not.
- ``EVACOPS_SQLITE_SYNCHRONOUS``: ``NORMAL`` (default: an acknowledged event survives a crash of
  the process; see docs/registry.md) or ``FULL`` (also survives power loss, slower).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "evacops" / "master.key"


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVACOPS_", extra="ignore")

    database_url: str = "sqlite:///evacops.db"
    key_file: Path = _default_key_file()
    operation_keys: Path | None = None
    user: str | None = None
    password: str | None = None
    sqlite_synchronous: str = "NORMAL"
    login_max_failures: int = 5
    login_window_min: float = 15
    login_lock_min: float = 15
    session_hours: float = 12
    session_idle_min: float = 60
    token_max_hours: float = 12

    @property
    def operation_keys_dir(self) -> Path:
        """The folder of the operations' key-encryption keys."""
        if self.operation_keys is not None:
            return Path(self.operation_keys).expanduser()
        return Path(self.key_file).expanduser().parent / "operation-keys"
