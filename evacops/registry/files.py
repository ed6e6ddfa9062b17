"""Registration files in (docs/registry-files.md); manifests and counts out are
:mod:`evacops.registry.writers`.

A pure module: no database, no network. :func:`read_registrations` validates a CSV or XLSX file
of people once, at the boundary, and returns typed :class:`RegistrationRow` objects, or raises
:class:`~evacops.errors.RegistrationFileError` listing every problem in the file.

Privacy: the cells hold personal data, so no message raised here ever quotes a cell's value; a
message names the file, the line a spreadsheet user sees, the column and the fix.
"""

from __future__ import annotations

import csv
import itertools
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO
from xml.etree.ElementTree import ParseError

import pycountry

from evacops.errors import RegistrationFileError
from evacops.registry.limits import TEXT_LIMITS, check_file, limit_rows, row_problems

__all__ = [
    "DOCUMENT_TYPES",
    "ICAO_NATIONALITY_CODES",
    "OPTIONAL_COLUMNS",
    "RELATIONSHIPS",
    "REQUIRED_COLUMNS",
    "SEXES",
    "RegistrationRow",
    "normalise_document",
    "read_registrations",
]

# --- the registration file, declared once -------------------------------------------------------

REQUIRED_COLUMNS: tuple[str, ...] = (
    "household_id",
    "given_name",
    "family_name",
    "sex",
    "birth_date",
    "nationality",
    "document_number",
    "category",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "given_name_native",
    "family_name_native",
    "name_variants",
    "relationship",
    "document_type",
    "minor_unaccompanied",
)
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

SEXES: tuple[str, ...] = ("F", "M", "X", "U")
_SEX_WORDS = {
    "": "U", "f": "F", "female": "F", "m": "M", "male": "M", "x": "X", "u": "U", "unknown": "U",
}  # fmt: skip
RELATIONSHIPS: tuple[str, ...] = (
    "head", "spouse", "child", "parent", "sibling", "grandparent", "grandchild", "other-relative",
    "escort", "none",
)  # fmt: skip
DOCUMENT_TYPES: tuple[str, ...] = ("passport", "tazkira", "visa", "other")
#: Nationality codes of ICAO Doc 9303 that are not ISO 3166-1 countries, accepted as nationality.
ICAO_NATIONALITY_CODES: Mapping[str, str] = {
    "XXA": "stateless person",
    "XXB": "refugee under the 1951 Convention",
    "XXC": "refugee other than under the 1951 Convention",
    "XXX": "unspecified nationality",
}
_NATIONALITIES = frozenset(c.alpha_3 for c in pycountry.countries) | frozenset(
    ICAO_NATIONALITY_CODES
)
_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"", "no", "n", "false", "0"})

MIN_BIRTH_YEAR = 1900
MAX_HOUSEHOLD_ID_CHARS = TEXT_LIMITS["household_id"]  # every text limit: evacops.registry.limits
MAX_CATEGORY_CHARS = TEXT_LIMITS["category"]
MAX_DOCUMENT_CHARS = TEXT_LIMITS["document_number"]

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SLASH_DATE = re.compile(r"[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{4}")
_DOCUMENT = re.compile(r"[A-Z0-9/]+")
# spaces of any kind, hyphens and the dashes people type instead of them
_DOC_STRIP = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
# Arabic-Indic and Persian digits, common in tazkira numbers typed on Dari/Pashto keyboards
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

_DATE_FIX = "use YYYY-MM-DD, YYYY or leave empty"


@dataclass(frozen=True, slots=True)
class RegistrationRow:
    """One validated person from a registration file.

    ``line`` is the 1-based row number a spreadsheet user sees (the header is line 1).
    ``birth_precision`` is ``exact``, ``year`` (``birth_date`` is 1 January of that year) or
    ``unknown`` (``birth_date`` is None). ``document_type`` is None only when neither a number
    nor a type was given. ``extra`` holds the file's other columns, by header, as text.
    """

    line: int
    household_id: str
    given_name: str
    family_name: str
    sex: str
    birth_date: date | None
    birth_precision: str
    nationality: str
    document_number: str | None
    document_type: str | None
    category: str
    given_name_native: str = ""
    family_name_native: str = ""
    name_variants: tuple[str, ...] = ()
    relationship: str = ""
    minor_unaccompanied: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)


# --- reading ------------------------------------------------------------------------------------


def read_registrations(
    path: Path, *, source: str | None = None, today: date | None = None
) -> list[RegistrationRow]:
    """Read and validate a registration file (``.csv`` UTF-8, or ``.xlsx`` first sheet).

    Returns one :class:`RegistrationRow` per non-blank row, in file order. Raises
    :class:`RegistrationFileError` with every problem (one line each, ``file:line: column:
    problem; fix``) if any row is bad, and with a single line if the file cannot be read at all
    (unknown suffix, missing, not UTF-8, not a workbook, empty, a required column missing).
    ``source`` names the file in messages (default ``str(path)``), e.g. the uploaded file's
    name; ``today`` bounds birth dates (default: the local date).
    """
    path = Path(path)
    src = str(path) if source is None else source
    today = date.today() if today is None else today
    suffix = path.suffix.lower()
    check_file(path, src)  # size and uncompressed size, before any parser reads it
    if suffix == ".csv":
        rows = _csv_rows(path, src)
    elif suffix in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(path, src)
    elif suffix == ".xls":
        raise RegistrationFileError(
            [f"{src}: old Excel format (.xls); save it as .xlsx or as CSV UTF-8"]
        )
    else:
        shown = f"'{suffix}'" if suffix else "no suffix"
        raise RegistrationFileError(
            [f"{src}: unknown file type ({shown}); use a .csv (UTF-8) or .xlsx file"]
        )
    try:
        return _validate(limit_rows(rows, src), src, today)
    except UnicodeDecodeError:
        raise RegistrationFileError(
            [f"{src}: not UTF-8 text; save it as 'CSV UTF-8' (or as .xlsx)"]
        ) from None
    except csv.Error as exc:  # messages like "line contains NUL": never cell values
        raise RegistrationFileError([f"{src}: not a readable CSV file ({exc})"]) from None


def _csv_rows(path: Path, src: str) -> Iterator[list[str]]:
    """Rows of a CSV file as lists of text; the delimiter (, ; or tab) is taken from the header."""
    try:
        f = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise RegistrationFileError([_os_problem(src, exc)]) from None
    return _csv_iter(f)


def _csv_iter(f: TextIO) -> Iterator[list[str]]:
    with f:
        head: list[str] = []
        for raw in f:  # leading blank lines, then the header's first physical line
            head.append(raw)
            if raw.strip():
                break
        delimiter = _sniff_delimiter(head[-1] if head else "")
        yield from csv.reader(itertools.chain(head, f), delimiter=delimiter)


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter, among , ; and tab, that splits the header into the most known columns.

    Excel writes ';' in locales whose decimal mark is a comma; ties go to ','.
    """
    best, best_known = ",", -1
    for d in (",", ";", "\t"):
        cells = next(csv.reader([header_line], delimiter=d), [])
        known = sum(_column_key(c) in KNOWN_COLUMNS for c in cells)
        if known > best_known:
            best, best_known = d, known
    return best


def _xlsx_rows(path: Path, src: str) -> Iterator[list[str]]:
    """Rows of the first sheet as lists of text (all read up front, inside one error guard)."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    broken = (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, ParseError, EOFError)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except OSError as exc:
        raise RegistrationFileError([_os_problem(src, exc)]) from None
    except broken:
        raise RegistrationFileError(
            [f"{src}: not a readable .xlsx workbook; open it in a spreadsheet and save as .xlsx"]
        ) from None
    try:
        if not wb.worksheets:
            return iter(())
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # some writers record wrong dimensions; read every cell there is
        rows = [
            [_cell_text(v) for v in values] for values in ws.iter_rows(min_row=1, values_only=True)
        ]
    except broken:
        raise RegistrationFileError(
            [f"{src}: not a readable .xlsx workbook; open it in a spreadsheet and save as .xlsx"]
        ) from None
    finally:
        wb.close()
    return iter(rows)


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):  # Excel stores dates as datetimes at midnight
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _os_problem(src: str, exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return f"{src}: cannot read the file ({reason}); check the path and that it is readable"


def _column_key(header: str) -> str:
    """Header text -> column key: lower case, outer spaces dropped, inner spaces/'-' -> '_'."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def _column_letter(index: int) -> str:
    """0-based column index -> spreadsheet letters (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass(slots=True)
class _Layout:
    """Where each known column is in the file, and the extra columns."""

    index: dict[str, int]
    extra: list[tuple[str, int]]
    unnamed: list[int]
    width: int


def _layout(header: list[str], src: str, line: int) -> _Layout:
    index: dict[str, int] = {}
    extra: list[tuple[str, int]] = []
    unnamed: list[int] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for i, cell in enumerate(header):
        name = cell.strip()
        if not name:
            unnamed.append(i)
            continue
        key = _column_key(name)
        known = key in KNOWN_COLUMNS
        ident = key if known else name.casefold()
        if ident in seen:
            problems.append(
                f"{src}:{line}: {key if known else name}: column appears twice (columns "
                f"{_column_letter(seen[ident])} and {_column_letter(i)}); keep one"
            )
            continue
        seen[ident] = i
        if known:
            index[key] = i
        else:
            extra.append((name, i))
    for col in REQUIRED_COLUMNS:
        if col not in index:
            may_be_empty = col in ("sex", "birth_date", "document_number")
            fix = "add it (its cells may be left empty)" if may_be_empty else "add it"
            problems.append(f"{src}:{line}: {col}: required column missing; {fix}")
    if problems:
        raise RegistrationFileError(problems)
    for col in OPTIONAL_COLUMNS:
        index.setdefault(col, -1)
    return _Layout(index, extra, unnamed, len(header))


def _is_blank(cells: Sequence[str]) -> bool:
    return not any(c.strip() for c in cells)


def _validate(rows: Iterator[list[str]], src: str, today: date) -> list[RegistrationRow]:
    numbered = enumerate(rows, start=1)
    header_line, header = 0, None
    for line, cells in numbered:
        if not _is_blank(cells):
            header_line, header = line, cells
            break
    if header is None:
        raise RegistrationFileError(
            [f"{src}: the file is empty; it needs a header row and one row per person"]
        )
    layout = _layout(header, src, header_line)
    out: list[RegistrationRow] = []
    problems: list[str] = []
    first = True
    for line, cells in numbered:
        values = [c.strip() for c in cells]
        if not any(values):
            continue  # blank rows are skipped, as a spreadsheet user expects
        if first:
            first = False
            if line == header_line + 1 and all(v.startswith("#") for v in values if v):
                continue  # the HXL hashtag row
        row = _parse_row(values, line, layout, src, today, problems)
        if row is not None and not problems:
            out.append(row)
    if problems:
        raise RegistrationFileError(problems)
    if not out:
        raise RegistrationFileError([f"{src}: no people below the header; add one row per person"])
    return out


def _nfc(text: str) -> str:
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


Bad = Callable[[str, str, str], None]  # bad(column, problem, fix): record a row's problem


def _parse_row(
    values: list[str],
    line: int,
    layout: _Layout,
    src: str,
    today: date,
    problems: list[str],
) -> RegistrationRow | None:
    """Validate one row of stripped cells; append its problems, return the row if it has none.
    The problems come in the order of the columns below."""
    bad_before = len(problems)

    def bad(column: str, problem: str, fix: str) -> None:
        problems.append(f"{src}:{line}: {column}: {problem}; {fix}")

    _check_width(values, layout, bad)
    ix = layout.index
    household_id = _household_id(values[ix["household_id"]], bad)
    given_name, family_name = _names(values[ix["given_name"]], values[ix["family_name"]], bad)
    sex = _sex(values[ix["sex"]], bad)
    birth_date, birth_precision = _birth_date(values[ix["birth_date"]], today, bad)
    nationality = _nationality(values[ix["nationality"]], bad)
    document_number, document_type = _document(
        values[ix["document_number"]], values[ix["document_type"]], bad
    )
    category = _category(values[ix["category"]], bad)
    relationship = _relationship(values[ix["relationship"]], bad)
    minor_unaccompanied = _unaccompanied(values[ix["minor_unaccompanied"]], bad)
    variants_text = values[ix["name_variants"]]
    variants = tuple(v for v in (_nfc(p.strip()) for p in variants_text.split(";")) if v)
    row = RegistrationRow(
        line=line,
        household_id=household_id,
        given_name=given_name,
        family_name=family_name,
        sex=sex or "U",  # never None here: a bad sex is a problem above
        birth_date=birth_date,
        birth_precision=birth_precision,
        nationality=nationality,
        document_number=document_number,
        document_type=document_type,
        category=category,
        given_name_native=_nfc(values[ix["given_name_native"]]),
        family_name_native=_nfc(values[ix["family_name_native"]]),
        name_variants=variants,
        relationship=relationship,
        minor_unaccompanied=minor_unaccompanied,
        extra={name: values[i] for name, i in layout.extra},
    )
    for column, limit in row_problems(row):  # the rest of the length limits
        if column not in ("household_id", "category", "document_number"):  # said above
            bad(column, f"longer than {limit:,} characters", "shorten it")
    return None if len(problems) > bad_before else row


def _check_width(values: list[str], layout: _Layout, bad: Bad) -> None:
    """Cells beyond the header or under a column without a header are problems; the row is
    then padded to the header's width, plus one empty cell (index -1: a column the file does
    not have)."""
    width = layout.width
    n = len(values)
    if n > width and any(values[width:]):
        bad(
            f"column {_column_letter(width)}",
            f"the row has more cells than the header has columns ({width})",
            "add a header for the column or clear the cells",
        )
    for i in layout.unnamed:
        if i < n and values[i]:
            bad(
                f"column {_column_letter(i)}",
                "a value in a column without a header",
                "add a header for the column or clear the cell",
            )
    if n < width:
        values.extend([""] * (width - n))
    values.append("")


def _household_id(text: str, bad: Bad) -> str:
    if not text:
        bad("household_id", "empty", "give every person a household id (a person alone gets one)")
    elif len(text) > MAX_HOUSEHOLD_ID_CHARS:
        bad("household_id", f"longer than {MAX_HOUSEHOLD_ID_CHARS} characters", "shorten it")
    return text


def _names(given: str, family: str, bad: Bad) -> tuple[str, str]:
    given_name, family_name = _nfc(given), _nfc(family)
    if not given_name and not family_name:
        bad(
            "given_name/family_name",
            "both empty",
            "fill in at least one (a person with a single name needs only one)",
        )
    return given_name, family_name


def _sex(text: str, bad: Bad) -> str | None:
    sex = text if text in SEXES else _SEX_WORDS.get(text.lower())
    if sex is None:
        bad("sex", "not a recognised sex", "use F, M, X or U (female/male accepted; empty means U)")
    return sex


def _nationality(text: str, bad: Bad) -> str:
    nationality = text.upper()
    if not nationality:
        bad("nationality", "empty", "use an ISO 3166-1 alpha-3 code such as AFG, or XXX if unknown")
    elif nationality not in _NATIONALITIES:
        bad(
            "nationality",
            "not an ISO 3166-1 alpha-3 country code",
            "use three letters such as AFG, or XXA (stateless), XXB/XXC (refugee), XXX (unknown)",
        )
    return nationality


def _document(number_text: str, type_text: str, bad: Bad) -> tuple[str | None, str | None]:
    """The document number (normalised) and type (passport if a number has none)."""
    document_number = normalise_document(number_text) or None
    if document_number is not None:
        if not _DOCUMENT.fullmatch(document_number):
            bad(
                "document_number",
                "holds characters other than letters A-Z, digits and '/'",
                "type the number as printed on the document (spaces and hyphens are removed)",
            )
        elif len(document_number) > MAX_DOCUMENT_CHARS:
            bad(
                "document_number",
                f"longer than {MAX_DOCUMENT_CHARS} characters",
                "put one document number per row",
            )
    document_type: str | None = type_text.lower() or None
    if document_type is None:
        document_type = "passport" if document_number else None
    elif document_type not in DOCUMENT_TYPES:
        bad("document_type", "not a known document type", "use passport, tazkira, visa or other")
    return document_number, document_type


def _category(text: str, bad: Bad) -> str:
    if not text:
        bad("category", "empty", "fill in the person's category (it decides the cohort)")
    elif len(text) > MAX_CATEGORY_CHARS:
        bad("category", f"longer than {MAX_CATEGORY_CHARS} characters", "use its short name")
    return text


def _relationship(text: str, bad: Bad) -> str:
    relationship = text
    if relationship and relationship not in RELATIONSHIPS:
        relationship = re.sub(r"[\s_]+", "-", relationship.lower())
        if relationship not in RELATIONSHIPS:
            bad("relationship", "not a known relationship", "use " + ", ".join(RELATIONSHIPS))
    return relationship


def _unaccompanied(text: str, bad: Bad) -> bool:
    answer = text.lower()
    if answer not in _YES and answer not in _NO:
        bad("minor_unaccompanied", "not yes or no", "use yes or no (empty means no)")
    return answer in _YES


def normalise_document(number: str) -> str:
    """A document number as stored: spaces, hyphens and dashes removed, Arabic-Indic and Persian
    digits as 0-9, letters upper case (``"zz 123-4567"`` -> ``"ZZ1234567"``). Not validated, so
    that a lookup normalises exactly as an import did."""
    text = number.strip()
    if not (text.isascii() and text.isalnum()):
        text = _DOC_STRIP.sub("", text).translate(_DIGITS)
    return text.upper()


def _birth_date(text: str, today: date, bad: Bad) -> tuple[date | None, str]:
    """``YYYY-MM-DD`` -> exact, ``YYYY`` -> year (1 January), empty -> unknown."""
    if not text:
        return None, "unknown"
    if len(text) == 4 and text.isascii() and text.isdigit():
        year = int(text)
        if year < MIN_BIRTH_YEAR:
            bad("birth_date", f"before {MIN_BIRTH_YEAR}", f"{_DATE_FIX} if unknown")
        elif year > today.year:
            bad("birth_date", "in the future", _DATE_FIX)
        else:
            return date(year, 1, 1), "year"
        return None, "unknown"
    if _ISO_DATE.fullmatch(text):
        try:
            value = date.fromisoformat(text)
        except ValueError:
            bad("birth_date", "no such day in the calendar", _DATE_FIX)
            return None, "unknown"
        if value.year < MIN_BIRTH_YEAR:
            bad("birth_date", f"before {MIN_BIRTH_YEAR}", f"{_DATE_FIX} if unknown")
        elif value > today:
            bad("birth_date", "in the future", _DATE_FIX)
        else:
            return value, "exact"
        return None, "unknown"
    if _SLASH_DATE.fullmatch(text):
        bad("birth_date", "day/month order is ambiguous", _DATE_FIX)
    else:
        bad("birth_date", "not a date", _DATE_FIX)
    return None, "unknown"


def read_records(
    records: Sequence[Mapping[str, object]], *, source: str = "stdin", today: date | None = None
) -> list[RegistrationRow]:
    """Validate registrations given as mappings (e.g. JSON lines) by the same rules as a file;
    line N is the N-th record plus one (as if it were a file with a header row)."""
    columns = sorted({str(k) for r in records for k in r})
    cells = [columns] + [
        ["" if r.get(c) is None else str(r.get(c)) for c in columns] for r in records
    ]
    return _validate(iter(cells), source, date.today() if today is None else today)
