"""Base45 (RFC 9285): two bytes as three characters of the QR code's alphanumeric alphabet,
the text of a credential's payload (:mod:`evacops.registry.credentials`)."""

from __future__ import annotations

import struct

#: the QR code alphanumeric alphabet, in Base45 value order
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_VALUE = {c: i for i, c in enumerate(ALPHABET)}
#: byte -> its Base45 value, 0xFF for a byte outside the alphabet (for bytes.translate)
_B45_BYTES = bytes(_B45_VALUE.get(chr(b), 0xFF) for b in range(256))


def b45encode(data: bytes) -> str:
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes | None:
    """Strict RFC 9285 decoding; None for a character outside the alphabet, a length of 3k+1
    or a group above its range (so every byte string has exactly one encoding). Every scan
    decodes one: the groups are summed and packed in one go, not one at a time."""
    size = len(text)
    if size % 3 == 1:
        return None
    try:
        v = text.encode("ascii").translate(_B45_BYTES)
    except UnicodeEncodeError:
        return None
    if 0xFF in v:  # a character outside the alphabet
        return None
    full = size - size % 3
    groups = [
        a + b * 45 + c * 2025 for a, b, c in zip(v[0:full:3], v[1:full:3], v[2:full:3], strict=True)
    ]
    if groups and max(groups) > 0xFFFF:
        return None
    out = struct.pack(f">{len(groups)}H", *groups)
    if full < size:
        n = v[-2] + v[-1] * 45
        if n > 0xFF:
            return None
        out += bytes((n,))
    return out
