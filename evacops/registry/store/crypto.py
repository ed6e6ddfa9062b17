"""Keys and field encryption of the registry.

- A **master key** (32 random bytes) lives in a file of its own (``EVACOPS_KEY_FILE``, mode 0600).
- Each operation has a **key-encryption key** (KEK, 32 random bytes) in a file of its own in the
  key folder (:class:`KeyFolder`, beside the master key, never in the database), and a **data
  key** (32 random bytes) stored in the database only wrapped: AES-256-GCM under a key derived
  from the master key and the operation's KEK together, with the operation id as associated
  data. The shred destroys the KEK file (and the wrapped key): a copy of the database taken
  before it (a backup, a WAL page) then holds a wrapped key that nothing opens.
- A personal field is sealed with AES-256-GCM under the data key: ``nonce(12) || ciphertext+tag``,
  with ``operation|table|row|field`` as associated data, so a sealed value copied into another row
  or field does not open.
- **Blind indexes** are HMAC-SHA256 (truncated to 16 bytes) under a key derived from the data
  key with HKDF, a separate key for each purpose (:meth:`FieldCipher.purpose_key`): equal values
  can be found and blocked for dedup without decrypting, and the index dies with the data key.
"""

from __future__ import annotations

import base64
import hmac
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from evacops.errors import RegistryError

KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_HEADER = "evacops-master-key v1 "


def create_master_key(path: Path) -> bytes:
    """Write a new master key to ``path`` (mode 0600, never overwriting) and return it."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise RegistryError(
            f"{path}: a key file already exists; keep it, or move it away first"
        ) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(_KEY_HEADER + base64.urlsafe_b64encode(key).decode() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def load_master_key(path: Path) -> bytes:
    """Read the master key; a one-line :class:`RegistryError` names the fix when it cannot."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except FileNotFoundError:
        raise RegistryError(
            f"{path}: no master key; run 'evacops registry init' or set EVACOPS_KEY_FILE"
        ) from None
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read the master key ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise RegistryError(f"{path}: key file is readable by others; run 'chmod 600 {path}'")
    if not text.startswith(_KEY_HEADER):
        raise RegistryError(f"{path}: not an evacops master key file")
    try:
        key = base64.urlsafe_b64decode(text[len(_KEY_HEADER) :])
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise RegistryError(f"{path}: damaged master key file (expected {KEY_BYTES} bytes)")
    return key


def derive_key(master: bytes, purpose: str) -> bytes:
    """A key of its own for ``purpose`` (``audit``, ``login-name``, ...), derived from the master
    key with HKDF: it lives nowhere but in the process that holds the master key."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=f"evacops {purpose} v1".encode(),
    ).derive(master)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)


def new_data_key() -> bytes:
    return os.urandom(KEY_BYTES)


def _wrapping_key(master: bytes, kek: bytes | None, operation: str) -> bytes:
    if kek is None:  # an operation made before key-encryption keys: the master key alone
        return master
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=kek,
        info=f"evacops operation kek|{operation}".encode(),
    ).derive(master)  # fmt: skip


def wrap_key(
    master: bytes, key: bytes, operation: str, purpose: str = "data", *, kek: bytes | None = None
) -> bytes:
    """``key`` sealed under the master key and the operation's ``kek``."""
    wrapping = _wrapping_key(master, kek, operation)
    return _seal(wrapping, key, f"evacops|{purpose}-key|{operation}".encode())


def unwrap_key(
    master: bytes,
    wrapped: bytes,
    operation: str,
    purpose: str = "data",
    *,
    kek: bytes | None = None,
) -> bytes:
    try:
        wrapping = _wrapping_key(master, kek, operation)
        return _open(wrapping, wrapped, f"evacops|{purpose}-key|{operation}".encode())
    except InvalidTag:
        if kek is None:
            raise RegistryError(
                f"operation {operation}: its {purpose} key does not open: its key-encryption "
                "key is not in the key folder (destroyed by a shred, or check "
                "EVACOPS_OPERATION_KEYS and EVACOPS_KEY_FILE)"
            ) from None
        raise RegistryError(
            f"operation {operation}: its {purpose} key does not open with this master key and "
            "key-encryption key; check EVACOPS_KEY_FILE and EVACOPS_OPERATION_KEYS"
        ) from None


class KeyFolder:
    """The operations' key-encryption keys: one file per operation (``<op>.kek``, mode 0600) in a
    folder of mode 0700 beside the master key, never in the database."""

    def __init__(self, path: Path):
        self.path = Path(path).expanduser()

    def _file(self, operation: str) -> Path:
        if "/" in operation or operation.startswith("."):
            raise RegistryError("not an operation id", field="operation", value=operation)
        return self.path / f"{operation}.kek"

    def create(self, operation: str) -> bytes:
        """A new KEK for ``operation`` (never overwriting one)."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        kek = os.urandom(KEY_BYTES)
        try:
            fd = os.open(self._file(operation), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise RegistryError(
                f"{self._file(operation)}: a key-encryption key exists already; an operation "
                "of this id was made before (move the file away if it is stale)"
            ) from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(kek)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(self.path)
        return kek

    def load(self, operation: str) -> bytes | None:
        """The operation's KEK; None if it has none (destroyed, or made before KEKs)."""
        path = self._file(operation)
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise RegistryError(f"{path}: readable by others; run 'chmod 600 {path}'")
        if len(data) != KEY_BYTES:
            raise RegistryError(f"{path}: damaged key-encryption key")
        return data

    def destroy(self, operation: str) -> bool:
        """Overwrite the KEK's file, remove it and flush the folder; True if there was one. (On
        a copy-on-write or journalling file system the old blocks may survive the overwrite:
        keep the key folder on storage that is itself encrypted; docs/registry.md, Shred.)"""
        path = self._file(operation)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return False
        with open(path, "r+b") as fh:
            fh.write(os.urandom(max(size, KEY_BYTES)))
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
        _fsync_dir(self.path)
        return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FieldCipher:
    """Seal and open the personal fields of one operation; compute its blind indexes."""

    __slots__ = ("_aead", "_data_key", "_purpose_keys", "operation")

    def __init__(self, data_key: bytes, operation: str):
        self.operation = operation
        self._aead = AESGCM(data_key)
        self._data_key = data_key
        self._purpose_keys: dict[str, bytes] = {}

    def purpose_key(self, purpose: str) -> bytes:
        """The blind-index key of one ``purpose`` (document, household, a dedup block), derived
        from the data key with HKDF: an index of one purpose says nothing about another's."""
        key = self._purpose_keys.get(purpose)
        if key is None:
            info = f"evacops blind index v2|{purpose}".encode()
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
                self._data_key
            )
            self._purpose_keys[purpose] = key
        return key

    def _aad(self, where: str) -> bytes:
        return f"{self.operation}|{where}".encode()

    def seal(self, value: str | None, where: str) -> bytes | None:
        """Seal ``value``; ``where`` is ``table|row|field`` (bound as associated data)."""
        if value is None:
            return None
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value.encode(), self._aad(where))

    def open(self, sealed: bytes | None, where: str) -> str | None:
        if sealed is None:
            return None
        try:
            data = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._aad(where))
        except InvalidTag:
            raise RegistryError(
                f"operation {self.operation}: a sealed field failed its integrity check "
                f"({where.split('|')[0]}); "
                "the database was altered outside evacops"
            ) from None
        return data.decode()

    def blind(self, purpose: str, value: str) -> bytes:
        """Keyed blind index of a normalised value, for equality lookup without decryption."""
        return hmac.digest(self.purpose_key(purpose), value.encode(), "sha256")[:16]
