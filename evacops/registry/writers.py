"""Flight manifests and aggregate counts out (docs/registry-files.md): a passenger manifest CSV
(:func:`write_manifest_csv`) and an HXL-tagged table of counts with small cells suppressed
(:func:`write_counts_hxl`; :func:`counts_table` and :func:`write_counts_table` are its two
halves, for a client of the service that writes the file from the rows it was sent). Both write
atomically, mode 0600, and neutralise cells a spreadsheet would run as a formula. A pure module:
no database, no network. (Registration files in: :mod:`evacops.registry.files`.)
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from evacops.errors import UserError

# --- manifests ------------------------------------------------------------------------------------

#: Passenger manifest columns, in file order (docs/registry-files.md, "Flight manifest").
MANIFEST_COLUMNS: tuple[str, ...] = (
    "flight",
    "flight_date",
    "origin",
    "destination",
    "seq",
    "family_name",
    "given_name",
    "sex",
    "birth_date",
    "nationality",
    "document_type",
    "document_number",
    "document_country",
    "household_id",
    "lap_infant",
    "seat_required",
    "unaccompanied_minor",
    "category",
    "credential_code",
)
_MANIFEST_KEYS = frozenset(MANIFEST_COLUMNS) | {"birth_precision"}

# Cells a spreadsheet would run as a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: object) -> str:
    """A value as CSV cell text: None -> '', bool -> yes/no, dates ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START) and not isinstance(value, int | float):
        return "'" + text
    return text


def _manifest_birth_date(row: Mapping[str, object]) -> str:
    """``birth_date`` (a date or ISO text) as its precision allows: YYYY-MM-DD, YYYY or empty."""
    value = row.get("birth_date")
    precision = row.get("birth_precision", "exact")
    if value is None or value == "" or precision == "unknown":
        return ""
    if precision == "year":
        if isinstance(value, date):
            return f"{value.year:04d}"
        if isinstance(value, str) and value[:4].isdigit():
            return value[:4]
    return _csv_text(value)


def write_manifest_csv(rows: Iterable[Mapping[str, object]], path: Path) -> int:
    """Write a passenger manifest CSV with a header of :data:`MANIFEST_COLUMNS`.

    Each row maps column names to values; a missing column is written empty. ``birth_precision``
    (``exact``/``year``/``unknown``, not a column) may accompany ``birth_date``: a year-precision
    date is written as ``YYYY`` and an unknown one as empty, never as a made-up day. Any other
    key is a ``ValueError`` (a typo would otherwise drop a column). The file is UTF-8 without
    BOM, RFC 4180 (CRLF), mode 0600, and appears whole or not at all. Returns the rows written.
    """

    def fill(writer) -> int:
        writer.writerow(MANIFEST_COLUMNS)
        n = 0
        for row in rows:
            unknown = set(row) - _MANIFEST_KEYS
            if unknown:
                raise ValueError(
                    f"manifest row {n + 1}: unknown field(s) {', '.join(sorted(unknown))}; "
                    f"use the names in MANIFEST_COLUMNS"
                )
            writer.writerow(
                [
                    _manifest_birth_date(row) if col == "birth_date" else _csv_text(row.get(col))
                    for col in MANIFEST_COLUMNS
                ]
            )
            n += 1
        return n

    return _atomic_csv(Path(path), fill)


#: Dimension columns of a counts table -> HXL hashtag, in output order.
COUNT_DIMENSIONS: Mapping[str, str] = {
    "date": "#date",
    "site": "#loc+name",
    "status": "#status",
    "cohort": "#beneficiary+cohort",
    "nationality": "#country+code+nationality",
    "sex": "#beneficiary+sex",
    "age_group": "#beneficiary+age_group",
}
#: HXL hashtag of the count column: number of individuals.
COUNT_HASHTAG = "#affected+ind"


def write_counts_hxl(df: pd.DataFrame, path: Path, *, min_cell: int = 5) -> int:
    """Write tidy counts as an HXL-tagged CSV: a header row, a hashtag row, one row per cell.

    ``df`` has dimension columns among :data:`COUNT_DIMENSIONS` and a ``count`` column of
    non-negative integers, one row per combination of dimensions. A count from 1 to
    ``min_cell - 1`` is written as the text ``<{min_cell}`` (e.g. ``<5``); zero and counts of at
    least ``min_cell`` are written as they are. No total or other derived value is written, so
    nothing in the file recovers a suppressed cell. Atomic, mode 0600. Returns the rows written.
    (:func:`counts_table` then :func:`write_counts_table`.)
    """
    columns, rows = counts_table(df, min_cell=min_cell)
    return write_counts_table(columns, rows, path)


def counts_table(df: pd.DataFrame, *, min_cell: int = 5) -> tuple[list[str], list[list[Any]]]:
    """The columns and rows :func:`write_counts_hxl` writes, small counts already replaced by
    ``<{min_cell}`` (what the service sends a client that writes the file itself)."""
    if isinstance(min_cell, bool) or not isinstance(min_cell, int) or min_cell < 1:
        raise ValueError(f"min_cell must be an integer >= 1, got {min_cell!r}")
    if "count" not in df.columns:
        raise ValueError("counts table has no 'count' column")
    unknown = [str(c) for c in df.columns if c != "count" and c not in COUNT_DIMENSIONS]
    if unknown:
        raise ValueError(
            f"counts table has unknown column(s) {', '.join(unknown)}; "
            f"use {', '.join(COUNT_DIMENSIONS)} and count"
        )
    dims = [c for c in COUNT_DIMENSIONS if c in df.columns]
    if df.duplicated(subset=dims).any() if dims else len(df) > 1:
        raise ValueError(
            "counts table has several rows for the same dimensions; sum them first "
            "(df.groupby(dims, as_index=False)['count'].sum())"
        )
    counts = [_count_value(v) for v in df["count"].tolist()]
    marker = f"<{min_cell}"
    dim_values = [df[d].tolist() for d in dims]
    rows = [
        [*(_dimension_value(vals[i]) for vals in dim_values), marker if 0 < c < min_cell else c]
        for i, c in enumerate(counts)
    ]
    return [*dims, "count"], rows


def write_counts_table(columns: list[str], rows: list[list[Any]], path: Path) -> int:
    """Write :func:`counts_table`'s columns and rows as the HXL CSV (header, hashtags, rows;
    dimension cells neutralised as formulas). Atomic, mode 0600. Returns the rows written."""
    *dims, last = columns
    if last != "count" or any(d not in COUNT_DIMENSIONS for d in dims):
        raise ValueError(f"counts columns must be among {', '.join(COUNT_DIMENSIONS)} and count")
    tags = [*(COUNT_DIMENSIONS[d] for d in dims), COUNT_HASHTAG]

    def fill(writer) -> int:
        writer.writerow(columns)
        writer.writerow(tags)
        for row in rows:
            *cells, count = row
            writer.writerow([*(_dimension_text(v) for v in cells), count])
        return len(rows)

    return _atomic_csv(Path(path), fill)


def _count_value(value: object) -> int:
    """A count cell as int; NaN, negative or fractional counts are a bug in the caller."""
    if isinstance(value, bool):
        raise ValueError("counts table: 'count' must hold integers, got a boolean")
    if isinstance(value, float):
        if math.isnan(value) or not value.is_integer():
            raise ValueError("counts table: 'count' must hold whole numbers (no NaN, no fractions)")
        value = int(value)
    if not isinstance(value, int) and hasattr(value, "__index__"):  # numpy integers
        value = int(value)  # type: ignore[call-overload]
    if not isinstance(value, int) or value < 0:
        raise ValueError("counts table: 'count' must hold integers >= 0")
    return value


def _dimension_value(value: object) -> object:
    """A dimension's value as JSON can carry it (timestamps as ISO text, missing as None)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value  # numpy scalars


def _dimension_text(value: object) -> str:
    return _csv_text(_dimension_value(value))


def _atomic_csv(path: Path, fill: Callable[..., int]) -> int:
    """Write a CSV beside ``path`` in a temporary file (mode 0600), then rename it into place.

    If ``fill`` raises, the temporary file is removed and ``path`` is left as it was.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(
            f"{path}: cannot write ({exc.strerror}); check the folder exists and is writable"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            n = fill(csv.writer(f))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(
                f"{path}: cannot write ({exc.strerror}); check the disk and the folder"
            ) from None
        raise
    _fsync_dir(path.parent)
    return n


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where the platform allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def open_private(path: Path) -> Any:
    """``path`` opened for writing (binary), readable by its owner only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")
