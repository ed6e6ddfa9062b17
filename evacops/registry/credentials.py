"""Signed credentials (Ed25519) and printable wristband label sheets.

A **credential** is what a registered person carries: a QR code that holds an opaque credential
id, the operation id and an expiry, signed with the operation's Ed25519 key. It holds no personal
data. Anyone with the operation's public key can check it offline; the registry service keeps the
revocation list and enforces single use at boarding. The format, byte by byte, and the offline
procedure are in docs/registry-credentials.md.

This module is pure: no database, no clock unless asked (``verify(now=None)`` reads UTC now).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evacops.errors import CredentialError
from evacops.registry.base45 import b45decode as _b45decode
from evacops.registry.base45 import b45encode as _b45encode

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

__all__ = [
    "Claim",
    "InvalidCredential",
    "Label",
    "Reason",
    "decode_unverified",
    "encode",
    "key_fingerprint",
    "new_credential_id",
    "new_signing_key",
    "normalize_short_code",
    "public_key_text",
    "read_public_key_text",
    "short_code",
    "signer",
    "verify",
    "write_label_sheet",
]

# ---------------------------------------------------------------------------------------------
# Identifiers
# ---------------------------------------------------------------------------------------------

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
ID_CHARS = 20  # 100 random bits
ID_BITS = 5 * ID_CHARS
ID_BYTES = 13  # the id's 100 bits, big-endian, in the payload (top 4 bits zero)
SHORT_CODE_CHARS = 6  # 30 bits: the last six characters of the id

_ID_RE = re.compile(f"[{CROCKFORD}]{{{ID_CHARS}}}")
_OPERATION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # registry: operations.id <= 64
# manual entry: Crockford decoding folds case and the look-alikes O -> 0, I and L -> 1
_FOLD = str.maketrans("OIL", "011")


def new_credential_id() -> str:
    """A new opaque credential id: 100 random bits as 20 Crockford base32 characters."""
    return _int_to_crockford(secrets.randbits(ID_BITS), ID_CHARS)


def short_code(credential_id: str) -> str:
    """The id's last six characters grouped in threes (``"K7Q-2MX"``), printed under the QR.

    30 bits: two credentials of one operation share a short code with probability about
    n²/2³¹ over n credentials (≈ 1 pair in 10,000 credentials, ≈ 5 pairs in 100,000). The
    service looks a short code up within the operation and asks for the full id (or a scan)
    when more than one credential matches; or it keeps short codes unique by drawing a new id
    when the short code is taken (docs/registry-credentials.md).
    """
    _check_id(credential_id)
    tail = credential_id[-SHORT_CODE_CHARS:]
    return f"{tail[:3]}-{tail[3:]}"


def normalize_short_code(text: str) -> str:
    """A short code as typed by a person (any case, with or without the dash or spaces, O for 0,
    I or L for 1) in its printed form ``"K7Q-2MX"``; :class:`CredentialError` if it is not one."""
    chars = re.sub(r"[\s-]", "", text).upper().translate(_FOLD)
    if len(chars) != SHORT_CODE_CHARS or any(c not in CROCKFORD for c in chars):
        raise CredentialError(
            "short code: not six characters of 0-9 and A-Z without U; type it as printed, "
            "e.g. K7Q-2MX",
            code="code-malformed",
        )
    return f"{chars[:3]}-{chars[3:]}"


def _int_to_crockford(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 32)
        out.append(CROCKFORD[digit])
    return "".join(reversed(out))


def _check_id(credential_id: str) -> None:
    if not isinstance(credential_id, str) or not _ID_RE.fullmatch(credential_id):
        raise CredentialError(
            f"credential id: not {ID_CHARS} Crockford base32 characters (0-9, A-Z without "
            "I, L, O, U); make it with new_credential_id()"
        )


def _check_operation(operation: str) -> None:
    if not isinstance(operation, str) or not _OPERATION_RE.fullmatch(operation):
        raise CredentialError(
            "operation id: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-', starting with a "
            "letter or digit"
        )


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------

KEY_BYTES = 32
_KEY_MAGIC = "evacops-credential-key"
_KEY_VERSION = "v1"


def new_signing_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair for one operation: ``(private raw 32 bytes, public raw 32 bytes)``.

    The private key signs credentials and stays with the registry service (wrapped); the public
    key goes to every device that checks credentials (:func:`public_key_text`).
    """
    private = Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    return (
        private.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()),
        private.public_key().public_bytes(raw, serialization.PublicFormat.Raw),
    )


def key_fingerprint(public: bytes) -> str:
    """A short fingerprint of a public key to compare aloud when a key file is installed:
    SHA-256 of the raw key, first 80 bits, Crockford base32 in groups of four."""
    public = _check_public(public)
    digits = _int_to_crockford(int.from_bytes(hashlib.sha256(public).digest()[:10], "big"), 16)
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def public_key_text(public: bytes, operation: str) -> str:
    """The operation's public key as a small text file for offline devices.

    Two comment lines (``#``) and one key line ``evacops-credential-key v1 <operation>
    <base64url of the 32 raw bytes, no padding>``.
    """
    public = _check_public(public)
    _check_operation(operation)
    return (
        f"# evacops credential verification key of operation {operation}\n"
        f"# fingerprint {key_fingerprint(public)} (compare with the operation's key holder)\n"
        f"{_KEY_MAGIC} {_KEY_VERSION} {operation} {_b64url(public)}\n"
    )


def read_public_key_text(text: str) -> tuple[str, bytes]:
    """``(operation, public)`` from the text of :func:`public_key_text`.

    Blank lines and lines starting with ``#`` are ignored; exactly one key line must remain.
    :class:`CredentialError` if the text is not a key file.
    """
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(lines) != 1:
        raise CredentialError(
            f"key file: {len(lines)} key lines, expected 1 "
            f"('{_KEY_MAGIC} {_KEY_VERSION} <operation> <key>'); copy the file again"
        )
    parts = lines[0].split()
    if len(parts) != 4 or parts[0] != _KEY_MAGIC:
        raise CredentialError(
            f"key file: not a credential key line ('{_KEY_MAGIC} {_KEY_VERSION} <operation> "
            "<key>'); copy the file again"
        )
    if parts[1] != _KEY_VERSION:
        raise CredentialError(
            f"key file: version {parts[1][:10]!r} is not supported (only {_KEY_VERSION}); "
            "use an evacops that reads it"
        )
    operation, key = parts[2], parts[3]
    _check_operation(operation)
    public = _unb64url(key)
    if public is None or len(public) != KEY_BYTES:
        raise CredentialError(
            f"key file: the key is not {KEY_BYTES} bytes in base64url; copy the file again"
        )
    return operation, public


def signer(private: bytes, public: bytes) -> Ed25519PrivateKey:
    """The key object of an operation's raw private key, for :func:`verify`'s ``own``; a
    :class:`CredentialError` if it is not the private half of ``public``."""
    key = Ed25519PrivateKey.from_private_bytes(private)
    mine = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if not hmac.compare_digest(mine, _check_public(public)):
        raise CredentialError("signing key: not the private half of the operation's public key")
    return key


@functools.lru_cache(maxsize=64)
def _verifier(public: bytes) -> Ed25519PublicKey:
    """The key object of ``public`` (checked raw bytes), made once: a gate's every scan is
    verified with its operation's one key."""
    return Ed25519PublicKey.from_public_bytes(public)


def _check_public(public: bytes) -> bytes:
    if not isinstance(public, bytes | bytearray) or len(public) != KEY_BYTES:
        raise CredentialError(f"public key: expected {KEY_BYTES} raw bytes")
    return bytes(public)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes | None:
    """Strict base64url without padding; None unless ``text`` is the canonical encoding."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if _b64url(data) == text else None


# ---------------------------------------------------------------------------------------------
# Payload
# ---------------------------------------------------------------------------------------------

PREFIX = "EVC1:"
SIGNATURE_BYTES = 64
_MAX_PAYLOAD_CHARS = 400  # far above the largest valid payload (224 characters)
_MAX_EXPIRY = 2**32 - 1  # uint32 seconds: 2106-02-07


class Reason(StrEnum):
    """Why :func:`verify` (or :func:`decode_unverified`) refused a credential."""

    MALFORMED = "malformed"
    SIGNATURE = "signature"
    OPERATION = "operation"
    EXPIRED = "expired"
    REVOKED = "revoked"


class InvalidCredential(CredentialError):
    """A credential refused at a check; ``reason`` says which check (:class:`Reason`).

    The message is one line and never holds personal data (a credential holds none); ``code`` is
    the refusal's machine name, ``credential-<reason>``.
    """

    def __init__(self, reason: Reason, message: str):
        self.reason = reason
        super().__init__(message, code=f"credential-{reason.value}")


@dataclass(frozen=True)
class Claim:
    """What a credential says: its id, its operation and when it stops being valid (UTC)."""

    credential_id: str
    operation: str
    expires_at: datetime


def encode(credential_id: str, operation: str, expires_at: datetime, private: bytes) -> str:
    """The signed payload of a credential, for a QR code: ``"EVC1:" + base45(body + signature)``.

    ``expires_at`` must be timezone-aware; it is kept to the whole second (rounded down, so a
    credential never lives longer than asked). The payload uses only characters of the QR
    alphanumeric mode, so an operation id of up to 17 characters fits a version 6 QR code at
    error correction level M (docs/registry-credentials.md).
    """
    _check_id(credential_id)
    _check_operation(operation)
    if not isinstance(expires_at, datetime) or expires_at.utcoffset() is None:
        raise CredentialError("expires_at: give a timezone-aware datetime (e.g. with tzinfo=UTC)")
    seconds = int(expires_at.timestamp() // 1)
    if not 0 <= seconds <= _MAX_EXPIRY:
        raise CredentialError("expires_at: must lie between 1970-01-01 and 2106-02-07 UTC")
    if not isinstance(private, bytes | bytearray) or len(private) != KEY_BYTES:
        raise CredentialError(f"private key: expected {KEY_BYTES} raw bytes")
    body = _body(credential_id, operation, seconds)
    signature = Ed25519PrivateKey.from_private_bytes(bytes(private)).sign(_signed(body))
    return PREFIX + _b45encode(body + signature)


def decode_unverified(payload: str) -> Claim:
    """What a payload claims, without checking its signature: only to pick the operation's key.

    :class:`InvalidCredential` (reason ``malformed``) if it is not a credential payload.
    """
    return _parse(payload)[0]


def verify(
    payload: str,
    public: bytes,
    *,
    operation: str | None = None,
    now: datetime | None = None,
    revoked: Collection[str] = (),
    own: Ed25519PrivateKey | None = None,
) -> Claim:
    """The claim of a valid credential, checked offline with the operation's public key.

    ``own``: the operation's private key, where the caller holds it (the server; see
    :func:`signer`): a payload it issued is recognised by signing its body again and comparing
    (Ed25519 signatures are deterministic: about a third of a verification's time), and only a
    payload that does not match is verified with ``public``. The answer is the same either way.

    Checks, in this order, each refusal an :class:`InvalidCredential` whose ``reason`` names it:
    ``malformed`` (not a credential payload), ``operation`` (issued for another operation than
    ``operation``; not checked when None), ``signature`` (forged, altered, or signed with another
    key), ``revoked`` (id in ``revoked``; pass a set), ``expired`` (``now`` at or after the
    expiry; ``now`` defaults to the current time). Single use at boarding is the service's check.
    """
    public = _check_public(public)
    if now is None:
        now = datetime.now(UTC)
    elif now.utcoffset() is None:
        raise CredentialError("now: give a timezone-aware datetime (e.g. with tzinfo=UTC)")
    claim, body, signature = _parse(payload)
    if operation is not None and claim.operation != operation:
        raise InvalidCredential(
            Reason.OPERATION,
            f"credential is for operation {claim.operation}, not {operation}; refuse it",
        )
    try:
        signed = _signed(body)
        if own is None or not hmac.compare_digest(own.sign(signed), signature):
            _verifier(public).verify(signature, signed)
    except InvalidSignature:
        raise InvalidCredential(
            Reason.SIGNATURE,
            "credential signature does not match the operation's key: forged or altered; refuse "
            "it (or check that the right key file is installed)",
        ) from None
    if claim.credential_id in revoked:
        raise InvalidCredential(
            Reason.REVOKED, "credential is revoked; refuse it and send the person to registration"
        )
    if now >= claim.expires_at:
        raise InvalidCredential(
            Reason.EXPIRED,
            f"credential expired at {claim.expires_at:%Y-%m-%d %H:%M:%S} UTC; send the person "
            "to registration for a new one",
        )
    return claim


def _body(credential_id: str, operation: str, seconds: int) -> bytes:
    op = operation.encode("ascii")
    return (
        _crockford_to_int(credential_id).to_bytes(ID_BYTES, "big")
        + seconds.to_bytes(4, "big")
        + bytes([len(op)])
        + op
    )


def _signed(body: bytes) -> bytes:
    """The bytes the signature covers: the prefix (format and version) and the body."""
    return PREFIX.encode("ascii") + body


def _crockford_to_int(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + CROCKFORD.index(ch)
    return value


def _malformed(detail: str) -> InvalidCredential:
    return InvalidCredential(Reason.MALFORMED, f"not an evacops credential ({detail}); refuse it")


def _parse(payload: str) -> tuple[Claim, bytes, bytes]:
    if not isinstance(payload, str) or len(payload) > _MAX_PAYLOAD_CHARS:
        raise _malformed("not a payload text of a credential QR code")
    if not payload.startswith(PREFIX):
        if re.match(r"EVC\d+:", payload):
            raise _malformed("a version this evacops does not read")
        raise _malformed(f"does not start with {PREFIX}")
    data = _b45decode(payload[len(PREFIX) :])
    if data is None:
        raise _malformed("bad characters or length")
    head = ID_BYTES + 4 + 1
    if len(data) < head + 1 + SIGNATURE_BYTES:
        raise _malformed("too short")
    n = data[head - 1]
    if len(data) != head + n + SIGNATURE_BYTES:
        raise _malformed("wrong length")
    id_int = int.from_bytes(data[:ID_BYTES], "big")
    if id_int >> ID_BITS:
        raise _malformed("bad credential id")
    try:
        operation = data[head : head + n].decode("ascii")
    except UnicodeDecodeError:
        operation = ""
    if not _OPERATION_RE.fullmatch(operation):
        raise _malformed("bad operation id")
    seconds = int.from_bytes(data[ID_BYTES : ID_BYTES + 4], "big")
    claim = Claim(
        credential_id=_int_to_crockford(id_int, ID_CHARS),
        operation=operation,
        expires_at=datetime.fromtimestamp(seconds, UTC),
    )
    return claim, data[: head + n], data[head + n :]


# ---------------------------------------------------------------------------------------------
# Label sheets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """One wristband label: the credential payload (the QR), its short code (printed under it)
    and two short lines chosen by the service (e.g. household code, seat class; never names)."""

    payload: str
    code: str
    line1: str = ""
    line2: str = ""


# A4 portrait, 3 x 8 labels of 70 x 37.125 mm without gaps (common "24 per sheet" label stock)
PAGE_MM = (210.0, 297.0)
GRID = (3, 8)  # columns, rows
LABELS_PER_PAGE = GRID[0] * GRID[1]
DPI = 300  # every length on a sheet is a whole number of dots at this resolution
LINE_MAX_CHARS = 18
QR_ERROR = "m"
QR_QUIET_MODULES = 4
_PAD_MM = 2.5  # inside a label, around the QR with its quiet zone
_FORMATS = ("pdf", "png")


def _dots(mm: float) -> float:
    return mm / 25.4 * DPI


def write_label_sheet(labels: Sequence[Label], path: Path, *, fmt: str | None = None) -> int:
    """Print ``labels`` on A4 sheets of 24 (3 x 8, 70 x 37 mm each); return the number of pages.

    ``fmt`` is ``"pdf"`` (one file, one page per sheet) or ``"png"`` (one 300 dpi file per sheet:
    ``path`` for the first, then ``<stem>-2<suffix>``, ``<stem>-3<suffix>``, ...); when None it
    is taken from the suffix of ``path``. Each label's payload must be a credential and its code
    the short code of that credential. :class:`CredentialError` (one line) otherwise, or for an
    unknown format, a line longer than :data:`LINE_MAX_CHARS`, or a path that cannot be written.
    """
    path = Path(path)
    kind = (fmt if fmt is not None else path.suffix.lstrip(".")).lower()
    if kind not in _FORMATS:
        raise CredentialError(
            f"{path}: unknown label sheet format {kind!r}; use a .pdf or .png path or "
            "fmt='pdf' / fmt='png'"
        )
    if not labels:
        raise CredentialError(f"{path}: no labels to print; pass at least one label")
    claims = [_check_label(i, label) for i, label in enumerate(labels)]
    pages = [
        list(zip(labels[i : i + LABELS_PER_PAGE], claims[i : i + LABELS_PER_PAGE], strict=True))
        for i in range(0, len(labels), LABELS_PER_PAGE)
    ]
    from evacops.registry.writers import open_private as _private

    try:
        if kind == "pdf":
            from matplotlib import rc_context
            from matplotlib.backends.backend_pdf import PdfPages

            # one image per QR code, at 300 dpi with whole dots per module, not one composite
            with rc_context({"image.composite_image": False}), PdfPages(_private(path)) as pdf:
                for page in pages:
                    pdf.savefig(_draw_page(page), dpi=DPI)
        else:
            for number, page in enumerate(pages, start=1):
                with _private(_page_path(path, number)) as fh:
                    _draw_page(page).savefig(fh, dpi=DPI, format="png")
    except OSError as exc:
        raise CredentialError(
            f"{path}: cannot write the label sheet ({exc.strerror or exc}); choose a writable path"
        ) from None
    return len(pages)


def _page_path(path: Path, number: int) -> Path:
    return path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")


def _check_label(index: int, label: Label) -> Claim:
    where = f"labels[{index}]"
    try:
        claim = decode_unverified(label.payload)
    except InvalidCredential:
        raise CredentialError(f"{where}.payload: not a credential payload; use encode()") from None
    if label.code != short_code(claim.credential_id):
        raise CredentialError(
            f"{where}.code: not the short code of its payload's credential; use short_code()"
        )
    for name in ("line1", "line2"):
        text = getattr(label, name)
        if len(text) > LINE_MAX_CHARS or not text.isprintable():
            raise CredentialError(
                f"{where}.{name}: {len(text)} characters or a control character; at most "
                f"{LINE_MAX_CHARS} printable characters on one line fit a label"
            )
    return claim


def _qr_matrix(payload: str) -> np.ndarray:
    """The QR symbol with its quiet zone, True for a dark module."""
    import numpy as np  # here: a command line that draws no code does not load them
    import segno

    qr = segno.make(payload, error=QR_ERROR, micro=False)
    return np.array(list(qr.matrix_iter(scale=1, border=QR_QUIET_MODULES)), dtype=bool)


def _draw_page(page: list[tuple[Label, Claim]]) -> Figure:
    from matplotlib.figure import Figure

    width, height = _dots(PAGE_MM[0]), _dots(PAGE_MM[1])
    fig = Figure(figsize=(PAGE_MM[0] / 25.4, PAGE_MM[1] / 25.4), dpi=DPI)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # data units are dots, y down, origin at the top left
    ax.set_axis_off()
    cell_w, cell_h = width / GRID[0], height / GRID[1]
    for k, (label, claim) in enumerate(page):
        x0, y0 = (k % GRID[0]) * cell_w, (k // GRID[0]) * cell_h
        ax.add_patch(_cut_guide(x0, y0, cell_w, cell_h))
        matrix = _qr_matrix(label.payload)
        side = cell_h - 2 * _dots(_PAD_MM)
        module = int(side // matrix.shape[0])  # whole dots per module: every module equal
        qx, qy = round(x0 + _dots(_PAD_MM)), round(y0 + (cell_h - module * matrix.shape[0]) / 2)
        size = module * matrix.shape[0]
        ax.imshow(
            ~matrix,
            cmap="gray",
            vmin=0,
            vmax=1,
            interpolation="nearest",
            aspect="auto",
            extent=(qx, qx + size, qy + size, qy),
        )
        tx = qx + size + _dots(1.0)
        mono: dict[str, Any] = {"family": "DejaVu Sans Mono", "ha": "left", "parse_math": False}
        ax.text(tx, y0 + _dots(5.0), label.code, fontsize=17, weight="bold", va="top", **mono)
        for row, text in enumerate((label.line1, label.line2)):
            if text:
                ax.text(tx, y0 + _dots(15.5 + 5.5 * row), text, fontsize=8, va="top", **mono)
        until = f"until {claim.expires_at:%Y-%m-%d %H:%M}Z"
        ax.text(tx, y0 + cell_h - _dots(4.5), until, fontsize=6, va="bottom", color="0.25", **mono)
    return fig


def _cut_guide(x: float, y: float, w: float, h: float) -> Rectangle:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, edgecolor="0.85", linewidth=0.3)
