"""Limits on what an import file may be, checked before it is parsed.

A registration file comes from outside (an upload, a USB stick): before any parser reads it,
its size on disk, and for a workbook the size its parts take once uncompressed, are checked,
so a zip bomb or an oversized file costs a ``stat`` and a look at the zip's directory, not the
server's memory. The number of rows is counted as they are read. An upload to the web service
is refused while its body is read once it passes its limit (:mod:`evacops.web.uploads`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from evacops.errors import RegistrationFileError

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
