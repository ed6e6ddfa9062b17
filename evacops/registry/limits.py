"""Limits on what may come in from outside: how long each text may be, and what an import file
may be before it is parsed.

**Text** (:data:`TEXT_LIMITS`, :func:`check_text`, :func:`row_problems`): every string that
comes from outside and reaches a column, or a sealed column, has a maximum length, declared here
once. The column lengths of :mod:`evacops.registry.store.tables` are these numbers, and the
registry services check every such input against them before they write, so the CLI, the web
forms, the API and file imports all meet the same limit with the same one-line error, naming the
field and the maximum, never the value (it may be a name or a document). Lengths are counted in
**characters** (Unicode code points, after the NFC normalisation the file reader applies), not
bytes: PostgreSQL's ``varchar(n)`` counts characters, and a registrar thinks of a Dari name as
letters, not as the two bytes each takes in UTF-8. A sealed value is limited as plain text,
before sealing; its ciphertext is at most 4 bytes per character plus the cipher's overhead.

**Files** (:func:`check_file`, :func:`limit_rows`): a registration file comes from outside (an
upload, a USB stick): before any parser reads it, its size on disk, and for a workbook the size
its parts take once uncompressed, are checked, so a zip bomb or an oversized file costs a
``stat`` and a look at the zip's directory, not the server's memory. The number of rows is
counted as they are read. An upload to the web service is refused while its body is read once
it passes its limit (:mod:`evacops.web.uploads`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evacops.errors import RegistrationFileError, RegistryError

# ---------------------------------------------------------------------------- text limits
#: the most characters each input may hold, by the field's name (the word the errors use)
TEXT_LIMITS: dict[str, int] = {
    # set-up (operations, users, sites, flights, categories, devices)
    "operation": 64,
    "operation_name": 200,
    "rule_version": 64,
    "user": 100,
    "password": 1000,  # never stored (an Argon2 hash is), but hashing costs per character
    "role": 20,
    "site": 100,
    "flight": 40,
    "category": 60,
    "cohort": 100,
    "label": 100,  # a device's
    # a registration row (sealed unless said otherwise)
    "household_id": 100,  # kept only as a blind index
    "given_name": 100,
    "family_name": 100,
    "given_name_native": 100,
    "family_name_native": 100,
    "name_variants": 500,  # the whole cell, variants separated by ';'
    "document_number": 30,
    "relationship": 30,  # in clear
    "extra_column": 100,  # an extra column's header
    "extra": 500,  # an extra column's value
    # free text, sealed
    "reason": 500,  # revoke, override, merge, correction, conflict
    "file_name": 255,  # an imported file's name
    # ids a client chooses, kept in clear inside idempotency keys
    "scan_id": 90,
    "rollcall": 40,
}

_ROW_FIELDS = (
    "household_id", "given_name", "family_name", "given_name_native", "family_name_native",
    "document_number", "category", "relationship",
)  # fmt: skip


def too_long(field: str, value: str | None) -> bool:
    """Whether ``value`` is longer than ``field`` may be."""
    return value is not None and len(value) > TEXT_LIMITS[field]


def check_text(field: str, value: str | None, *, name: str | None = None) -> None:
    """Refuse ``value`` if it is longer than :data:`TEXT_LIMITS` allows ``field``: a
    :class:`~evacops.errors.RegistryError` naming the field and the maximum, never the value
    (``given_name: at most 100 characters; shorten it``). ``name``: the service's parameter, when
    it is not called like the field (``add_site(code=...)`` is a ``site``)."""
    if too_long(field, value):
        raise RegistryError(too_long_problem(field), field=name or field)


def too_long_problem(field: str) -> str:
    return f"at most {TEXT_LIMITS[field]:,} characters; shorten it"


def row_problems(row: Any) -> list[tuple[str, int]]:
    """The fields of a registration row (a :class:`evacops.registry.files.RegistrationRow`)
    that are too long, with their limits, in the order of the file's columns."""
    out = [(f, TEXT_LIMITS[f]) for f in _ROW_FIELDS if too_long(f, getattr(row, f))]
    variants = ";".join(row.name_variants)
    if too_long("name_variants", variants):
        out.append(("name_variants", TEXT_LIMITS["name_variants"]))
    for name, value in row.extra.items():
        if too_long("extra_column", name):
            out.append(("extra_column", TEXT_LIMITS["extra_column"]))
        elif too_long("extra", value):
            out.append((name, TEXT_LIMITS["extra"]))
    return out


# ---------------------------------------------------------------------------- import files
MAX_FILE_BYTES = 50 * 1024 * 1024  # a CSV or XLSX file as stored
MAX_XLSX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024  # every part of a workbook, uncompressed
MAX_XLSX_RATIO = 200  # uncompressed / compressed, per part
MAX_ROWS = 200_000  # rows read from one file, header included
#: an upload over HTTP (``evacops serve``): its default limit (``EVACOPS_MAX_UPLOAD_BYTES``, at
#: most :data:`MAX_FILE_BYTES`), and what a multipart body may add to it (the form's other
#: fields, part headers); the body is refused while it is read once it passes the sum
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def check_file(path: Path, src: str) -> None:
    """Refuse a file over :data:`MAX_FILE_BYTES`, or a workbook whose parts would take more than
    :data:`MAX_XLSX_UNCOMPRESSED_BYTES` (or expand more than :data:`MAX_XLSX_RATIO` times)."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # the reader words a missing or unreadable file
    if size > MAX_FILE_BYTES:
        raise RegistrationFileError(
            [f"{src}: {_mb(size)} is over the {_mb(MAX_FILE_BYTES)} an import may be; "
             "split it into smaller files"]
        )  # fmt: skip
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            parts = zf.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # not a workbook: the reader says so
    total = sum(p.file_size for p in parts)
    bomb = any(p.file_size > MAX_XLSX_RATIO * max(p.compress_size, 1) for p in parts)
    if total > MAX_XLSX_UNCOMPRESSED_BYTES or (bomb and total > MAX_FILE_BYTES):
        raise RegistrationFileError(
            [f"{src}: the workbook would take {_mb(total)} uncompressed (over "
             f"{_mb(MAX_XLSX_UNCOMPRESSED_BYTES)}); save the sheet as CSV UTF-8 or split it"]
        )  # fmt: skip


def limit_rows(rows: Iterator[list[str]], src: str) -> Iterator[list[str]]:
    """``rows``, refusing the file once it passes :data:`MAX_ROWS` rows."""
    for n, row in enumerate(rows, start=1):
        if n > MAX_ROWS:
            raise RegistrationFileError(
                [f"{src}: more than {MAX_ROWS:,} rows; split it into smaller files"]
            )
        yield row


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"
