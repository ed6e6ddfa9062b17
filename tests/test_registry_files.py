"""Registration files in, manifests and HXL counts out (evacops/registry/files.py, writers.py).

Every value here is made up (Testgiven01, ZZ1234567, ...). A bad file is written with known bad
cells at known lines; each problem must name that line and column and must never hold the value.
"""

from __future__ import annotations

import csv
import os
import stat
import tempfile
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from evacops.errors import RegistrationFileError, UserError
from evacops.registry.files import RegistrationRow, normalise_document, read_registrations
from evacops.registry.writers import (
    COUNT_DIMENSIONS,
    COUNT_HASHTAG,
    MANIFEST_COLUMNS,
    write_counts_hxl,
    write_manifest_csv,
)

TODAY = date(2025, 6, 1)
HEADER = [
    "household_id",
    "given_name",
    "family_name",
    "sex",
    "birth_date",
    "nationality",
    "document_number",
    "category",
]
HXL_ROW = [
    "#household+id",
    "#name+given",
    "#name+family",
    "#sex",
    "#date+birth",
    "#country+code",
    "#doc+id",
    "#category",
]


def person(i: int = 1, **cells: str) -> dict[str, str]:
    """A good row with made-up values; keyword arguments replace cells."""
    row = {
        "household_id": f"HH{i:03d}",
        "given_name": f"Testgiven{i:02d}",
        "family_name": f"Testfamily{i:02d}",
        "sex": "F",
        "birth_date": "1990-05-03",
        "nationality": "AFG",
        "document_number": f"ZZ{1234560 + i}",
        "category": "staff",
    }
    row.update(cells)
    return row


def write_csv(
    path: Path,
    rows: list[dict[str, str] | list[str]],
    header: list[str] | None = None,
    *,
    bom: bool = False,
    delimiter: str = ",",
) -> Path:
    """Write ``rows`` (dicts in ``header`` order, or raw lists) as a CSV file."""
    header = HEADER if header is None else header
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        for row in rows:
            w.writerow([row.get(h, "") for h in header] if isinstance(row, dict) else row)
    return path


def problems_of(path: Path) -> list[str]:
    """The problems of a bad file, checked to be one line each and to start with its name."""
    with pytest.raises(RegistrationFileError) as info:
        read_registrations(path, source="reg.csv", today=TODAY)
    problems = info.value.problems
    assert problems
    for p in problems:
        assert p.startswith("reg.csv:"), p
        assert "\n" not in p and "\r" not in p, p
    assert str(info.value).startswith(problems[0])
    return problems


# --- good files -----------------------------------------------------------------------------------


def test_good_csv_with_bom_hxl_row_and_extra_columns(tmp_path):
    header = [
        " Family_Name ",
        "Given Name",
        "HOUSEHOLD_ID",
        "sex",
        "birth_date",
        "nationality",
        "document_number",
        "category",
        "relationship",
        "name_variants",
        "minor_unaccompanied",
        "given_name_native",
        "document_type",
        "Phone Note",
    ]
    hxl = ["#name+family", "#name+given", "#household+id", "", "", "", "", "", "", "", "", "", ""]
    rows: list[dict[str, str] | list[str]] = [
        [*hxl, "#meta"],
        person(
            1,
            sex="female",
            nationality="afg",
            document_number="zz 123-4567",
            relationship="Head",
            name_variants="Testvar01; Testvar02 ;",
            minor_unaccompanied="no",
            **{"given_name_native": "تست", "Phone Note": "Testnote01"},
        ),
        person(2, given_name="", sex="", birth_date="1988", document_number="", category="family"),
        person(
            3,
            family_name="",
            sex="m",
            birth_date="",
            nationality="XXA",
            document_type="Tazkira",
            relationship="other relative",
            minor_unaccompanied="YES",
        ),
    ]
    spelled = {
        " Family_Name ": "family_name",
        "Given Name": "given_name",
        "HOUSEHOLD_ID": "household_id",
    }
    rows = [
        {h: r.get(spelled.get(h, h), "") for h in header} if isinstance(r, dict) else r
        for r in rows
    ]
    path = write_csv(tmp_path / "reg.csv", rows, header, bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    got = read_registrations(path, today=TODAY)
    assert [r.line for r in got] == [3, 4, 5]
    a, b, c = got
    assert a == RegistrationRow(
        line=3,
        household_id="HH001",
        given_name="Testgiven01",
        family_name="Testfamily01",
        sex="F",
        birth_date=date(1990, 5, 3),
        birth_precision="exact",
        nationality="AFG",
        document_number="ZZ1234567",
        document_type="passport",
        category="staff",
        given_name_native="تست",
        name_variants=("Testvar01", "Testvar02"),
        relationship="head",
        extra={"Phone Note": "Testnote01"},
    )
    assert (b.given_name, b.family_name, b.sex) == ("", "Testfamily02", "U")
    assert (b.birth_date, b.birth_precision) == (date(1988, 1, 1), "year")
    assert (b.document_number, b.document_type) == (None, None)
    assert b.extra == {"Phone Note": ""}
    assert (c.given_name, c.family_name, c.sex, c.nationality) == ("Testgiven03", "", "M", "XXA")
    assert (c.birth_date, c.birth_precision) == (None, "unknown")
    assert (c.document_type, c.relationship, c.minor_unaccompanied) == (
        "tazkira",
        "other-relative",
        True,
    )


def test_normalise_document_matches_import():
    assert normalise_document(" zz 123-4567 ") == "ZZ1234567"
    assert normalise_document("۱۲۳۴–۵۶") == "123456"  # Persian digits, en dash
    assert normalise_document("") == ""


def test_semicolon_csv_and_blank_rows(tmp_path):
    path = write_csv(tmp_path / "reg.csv", [person(1), [""] * 8, person(2)], delimiter=";")
    got = read_registrations(path, today=TODAY)
    assert [(r.line, r.given_name) for r in got] == [(2, "Testgiven01"), (4, "Testgiven02")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990-05-03", (date(1990, 5, 3), "exact")),
        ("1990", (date(1990, 1, 1), "year")),
        ("", (None, "unknown")),
        ("1900", (date(1900, 1, 1), "year")),
        ("2025-06-01", (date(2025, 6, 1), "exact")),
    ],
)
def test_birth_date_precision(tmp_path, text, expected):
    path = write_csv(tmp_path / "reg.csv", [person(1, birth_date=text)])
    (row,) = read_registrations(path, today=TODAY)
    assert (row.birth_date, row.birth_precision) == expected


# --- bad rows -------------------------------------------------------------------------------------

# (id, cells of the bad row, expected problem after "reg.csv:<line>: ", a value that must not leak)
BAD_ROWS = [
    ("household-empty", {"household_id": ""}, "household_id: empty;", None),
    ("household-long", {"household_id": "HQ" * 60}, "household_id: longer than 100", "HQ" * 60),
    (
        "names-empty",
        {"given_name": "", "family_name": ""},
        "given_name/family_name: both empty;",
        None,
    ),
    ("sex", {"sex": "Qsexzz"}, "sex: not a recognised sex;", "Qsexzz"),
    ("date-text", {"birth_date": "Testdate3rd"}, "birth_date: not a date;", "Testdate3rd"),
    ("date-slash", {"birth_date": "31/12/1985"}, "birth_date: day/month order is ambiguous;", None),
    ("date-day", {"birth_date": "1987-02-30"}, "birth_date: no such day", "1987-02-30"),
    ("date-future", {"birth_date": "2031-04-05"}, "birth_date: in the future;", "2031-04-05"),
    ("year-future", {"birth_date": "2031"}, "birth_date: in the future;", "2031"),
    ("date-old", {"birth_date": "1850-04-05"}, "birth_date: before 1900;", "1850-04-05"),
    ("year-old", {"birth_date": "1850"}, "birth_date: before 1900;", "1850"),
    ("nationality-empty", {"nationality": ""}, "nationality: empty;", None),
    ("nationality-bad", {"nationality": "QQZ"}, "nationality: not an ISO 3166-1", "QQZ"),
    ("nationality-alpha2", {"nationality": "AF"}, "nationality: not an ISO 3166-1", None),
    ("document", {"document_number": "ZZ12$4567"}, "document_number: holds characters", "ZZ12"),
    ("document-long", {"document_number": "ZQ" * 16}, "document_number: longer than 30", "ZQ"),
    ("doctype", {"document_type": "Testlicence"}, "document_type: not a known", "Testlicence"),
    ("category", {"category": ""}, "category: empty;", None),
    ("relationship", {"relationship": "Testcousin"}, "relationship: not a known", "Testcousin"),
    (
        "minor",
        {"minor_unaccompanied": "Testmaybe"},
        "minor_unaccompanied: not yes or no",
        "Testmaybe",
    ),
]


@pytest.mark.parametrize(
    ("cells", "expected", "secret"), [b[1:] for b in BAD_ROWS], ids=[b[0] for b in BAD_ROWS]
)
def test_each_bad_cell_is_reported_without_its_value(tmp_path, cells, expected, secret):
    header = [*HEADER, "document_type", "relationship", "minor_unaccompanied"]
    path = write_csv(tmp_path / "reg.csv", [person(1), person(2, **cells), person(3)], header)
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"reg.csv:3: {expected}"), problems
    # one line: file:line: column: problem; fix
    assert problems[0].count("; ") >= 1
    if secret:
        assert secret not in problems[0]
    personal = ("given_name", "family_name", "birth_date", "document_number", "household_id")
    for column in personal:  # the row's other personal cells never appear either
        assert person(2)[column] not in problems[0]


def test_every_bad_row_is_listed_with_the_line_a_spreadsheet_shows(tmp_path):
    rows: list[dict[str, str] | list[str]] = [
        HXL_ROW,  # line 2
        person(1),  # 3
        person(2, sex="Qsexzz"),  # 4
        [""] * 8,  # 5, blank
        person(3, given_name="Testgiven\nsecondline03"),  # 6: a quoted cell spanning two lines
        person(4, birth_date="Testdate3rd", nationality="QQZ"),  # 7: two problems
        person(5),  # 8
        [*person(6).values(), "Testoverflow06"],  # 9: more cells than the header
    ]
    path = write_csv(tmp_path / "reg.csv", rows)
    problems = problems_of(path)
    assert [p.split(": ")[0] + ": " + p.split(": ")[1] for p in problems] == [
        "reg.csv:4: sex",
        "reg.csv:7: birth_date",
        "reg.csv:7: nationality",
        "reg.csv:9: column I",
    ]
    text = "\n".join(problems)
    for secret in ("Qsexzz", "Testdate3rd", "QQZ", "Testoverflow06", "Testgiven", "ZZ123"):
        assert secret not in text


def test_value_in_a_column_without_header(tmp_path):
    path = write_csv(tmp_path / "reg.csv", [person(1) | {"": "Testloose01"}], [*HEADER, ""])
    (problem,) = problems_of(path)
    assert problem.startswith("reg.csv:2: column I: a value in a column without a header;")
    assert "Testloose01" not in problem


def test_missing_and_duplicate_columns_are_file_level_errors(tmp_path):
    header = [h for h in HEADER if h not in ("birth_date", "category")]
    path = write_csv(tmp_path / "reg.csv", [person(1)], header)
    assert problems_of(path) == [
        "reg.csv:1: birth_date: required column missing; add it (its cells may be left empty)",
        "reg.csv:1: category: required column missing; add it",
    ]
    path = write_csv(tmp_path / "reg.csv", [person(1)], [*HEADER, "Given_Name"])
    (problem,) = problems_of(path)
    assert problem.startswith("reg.csv:1: given_name: column appears twice (columns B and I)")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("reg.txt", b"household_id\n", "unknown file type ('.txt'); use a .csv (UTF-8) or .xlsx"),
        ("reg.xls", b"\xd0\xcf\x11\xe0", "old Excel format (.xls)"),
        ("reg.csv", b"", "the file is empty"),
        ("reg.csv", b"\xef\xbb\xbf\r\n\r\n", "the file is empty"),
        ("reg.csv", ",".join(HEADER).encode() + b"\r\n", "no people below the header"),
        ("reg.csv", ",".join(HEADER).encode() + b"\r\nHH1,Testgiven\xe9,", "not UTF-8 text"),
        ("reg.xlsx", b"PK\x03\x04 not really a workbook", "not a readable .xlsx workbook"),
    ],
)
def test_unreadable_files_give_one_line(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RegistrationFileError) as info:
        read_registrations(path, today=TODAY)
    assert isinstance(info.value, UserError)
    assert len(info.value.problems) == 1
    assert str(info.value) == info.value.problems[0]
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(RegistrationFileError, match="cannot read the file"):
        read_registrations(tmp_path / "nowhere.csv")


# --- XLSX -----------------------------------------------------------------------------------------


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    wb.create_sheet("second sheet is ignored").append(["nothing"])
    wb.save(path)
    return path


def test_xlsx_good(tmp_path):
    path = write_xlsx(
        tmp_path / "reg.xlsx",
        [
            [*HEADER, "minor_unaccompanied", "Testcolumn"],
            [*HXL_ROW, "", ""],
            ["HH001", "Testgiven01", "Testfamily01", "F", datetime(1990, 5, 3), "afg",
             "ZZ1234567", "staff", False, 42],
            [1002, "Testgiven02", "", "male", 1988, "USA", 123456789.0, "family", True, None],
            ["HH003", "Testgiven03", "Testfamily03", None, date(2001, 2, 3), "XXB",
             None, "staff", "no", "Testnote03"],
        ],
    )  # fmt: skip
    a, b, c = read_registrations(path, today=TODAY)
    assert (a.line, a.birth_date, a.birth_precision, a.nationality) == (
        3,
        date(1990, 5, 3),
        "exact",
        "AFG",
    )
    assert (a.minor_unaccompanied, a.extra) == (False, {"Testcolumn": "42"})
    assert (b.household_id, b.sex, b.birth_date, b.birth_precision) == (
        "1002",
        "M",
        date(1988, 1, 1),
        "year",
    )
    assert (b.document_number, b.document_type, b.minor_unaccompanied) == (
        "123456789",
        "passport",
        True,
    )
    assert (c.sex, c.birth_date, c.birth_precision, c.document_number) == (
        "U",
        date(2001, 2, 3),
        "exact",
        None,
    )
    assert c.extra == {"Testcolumn": "Testnote03"}


def test_xlsx_bad_rows_name_their_lines(tmp_path):
    path = write_xlsx(
        tmp_path / "reg.xlsx",
        [
            HEADER,
            list(person(1).values()),
            [],  # line 3 blank
            list(person(2, birth_date="Testdate3rd").values()),  # 4
            [*list(person(3).values())[:4], datetime(2031, 1, 2), *list(person(3).values())[5:]],
            list(person(4, category="").values()),  # 6
        ],
    )
    with pytest.raises(RegistrationFileError) as info:
        read_registrations(path, source="reg.xlsx", today=TODAY)
    problems = info.value.problems
    assert [p.split(";")[0] for p in problems] == [
        "reg.xlsx:4: birth_date: not a date",
        "reg.xlsx:5: birth_date: in the future",
        "reg.xlsx:6: category: empty",
    ]
    assert "Testdate3rd" not in "\n".join(problems) and "2031" not in "\n".join(problems)


# --- manifest -------------------------------------------------------------------------------------


def manifest_row(i: int, **cells: object) -> dict[str, object]:
    row: dict[str, object] = {
        "flight": "TST101",
        "flight_date": date(2025, 6, 2),
        "origin": "KBL",
        "destination": "DOH",
        "seq": i,
        "family_name": f"Testfamily{i:02d}",
        "given_name": f"Testgiven{i:02d}",
        "sex": "F",
        "birth_date": date(1990, 5, 3),
        "birth_precision": "exact",
        "nationality": "AFG",
        "document_type": "passport",
        "document_number": f"ZZ{1234560 + i}",
        "document_country": "AFG",
        "household_id": "HH001",
        "lap_infant": False,
        "seat_required": True,
        "unaccompanied_minor": False,
        "category": "staff",
        "credential_code": f"TESTCRED{i:04d}",
    }
    row.update(cells)
    return row


def test_manifest_columns_values_and_mode(tmp_path):
    path = tmp_path / "manifest.csv"
    rows = [
        manifest_row(1),
        manifest_row(2, birth_date=date(2024, 1, 1), birth_precision="year", lap_infant=True,
                     seat_required=False, document_number=None, document_type=None),
        manifest_row(3, birth_date=None, birth_precision="unknown", family_name="=Testformula"),
        {"flight": "TST101", "seq": 4, "given_name": "Testgiven04"},
        manifest_row(5, birth_date="1985-01-01", birth_precision="year"),  # ISO text works too
        manifest_row(6, birth_date="", birth_precision="unknown"),
    ]  # fmt: skip
    assert write_manifest_csv(iter(rows), path) == 6
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with path.open(encoding="utf-8", newline="") as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == list(MANIFEST_COLUMNS)
    assert got[0]["flight_date"] == "2025-06-02" and got[0]["birth_date"] == "1990-05-03"
    assert (got[0]["lap_infant"], got[0]["seat_required"]) == ("no", "yes")
    assert (got[1]["birth_date"], got[1]["lap_infant"], got[1]["seat_required"]) == (
        "2024",
        "yes",
        "no",
    )
    assert (got[1]["document_number"], got[1]["document_type"]) == ("", "")
    assert got[2]["birth_date"] == ""
    assert got[2]["family_name"] == "'=Testformula"  # not run as a formula by a spreadsheet
    assert got[3]["given_name"] == "Testgiven04" and got[3]["origin"] == ""
    assert "birth_precision" not in got[0]
    assert (got[4]["birth_date"], got[5]["birth_date"]) == ("1985", "")


class Explodes:
    def __str__(self) -> str:
        raise RuntimeError("boom")


def test_manifest_is_written_whole_or_not_at_all(tmp_path):
    path = tmp_path / "manifest.csv"
    rows = [manifest_row(1), manifest_row(2, category=Explodes())]
    with pytest.raises(RuntimeError, match="boom"):
        write_manifest_csv(rows, path)
    assert not path.exists()
    assert os.listdir(tmp_path) == []  # no temporary file left behind

    path.write_text("old manifest\n")
    with pytest.raises(RuntimeError):
        write_manifest_csv(rows, path)
    assert path.read_text() == "old manifest\n"
    assert os.listdir(tmp_path) == ["manifest.csv"]


def test_manifest_rejects_unknown_fields(tmp_path):
    with pytest.raises(ValueError, match="unknown field"):
        write_manifest_csv([manifest_row(1, credential="TESTCRED")], tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_manifest_folder_missing_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot write"):
        write_manifest_csv([manifest_row(1)], tmp_path / "nowhere" / "m.csv")


# --- HXL counts -----------------------------------------------------------------------------------


def read_hxl(path: Path) -> tuple[list[str], list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        header, tags, *rows = list(csv.reader(f))
    return header, tags, rows


def test_counts_hxl_tags_and_suppression(tmp_path):
    df = pd.DataFrame(
        {
            "count": [12, 3, 0, 5, 4],
            "sex": ["F", "M", "F", "M", "X"],
            "site": ["Testsite A", "Testsite A", "Testsite B", "Testsite B", "Testsite B"],
            "date": pd.to_datetime(["2025-06-01"] * 5),
        }
    )
    path = tmp_path / "counts.csv"
    assert write_counts_hxl(df, path) == 5
    header, tags, rows = read_hxl(path)
    assert header == ["date", "site", "sex", "count"]  # the documented column order
    assert tags == ["#date", "#loc+name", "#beneficiary+sex", COUNT_HASHTAG]
    assert [r[3] for r in rows] == ["12", "<5", "0", "5", "<5"]
    assert rows[0][:3] == ["2025-06-01", "Testsite A", "F"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert write_counts_hxl(df, path, min_cell=13) == 5
    assert [r[3] for r in read_hxl(path)[2]] == ["<13", "<13", "0", "<13", "<13"]


def test_counts_hxl_all_dimensions_have_tags(tmp_path):
    df = pd.DataFrame([{**{d: "Testvalue" for d in COUNT_DIMENSIONS}, "count": 7}])
    write_counts_hxl(df, tmp_path / "c.csv")
    header, tags, _ = read_hxl(tmp_path / "c.csv")
    assert header == [*COUNT_DIMENSIONS, "count"]
    assert all(t.startswith("#") for t in tags)


@pytest.mark.parametrize(
    ("df", "message"),
    [
        (pd.DataFrame({"site": ["a"], "n": [1]}), "no 'count' column"),
        (pd.DataFrame({"site": ["a"], "person": ["b"], "count": [1]}), "unknown column"),
        (pd.DataFrame({"site": ["a", "a"], "count": [1, 2]}), "several rows"),
        (pd.DataFrame({"count": [1, 2]}), "several rows"),
        (pd.DataFrame({"site": ["a"], "count": [-1]}), "integers >= 0"),
        (pd.DataFrame({"site": ["a", "b"], "count": [1.5, 2.0]}), "whole numbers"),
        (pd.DataFrame({"site": ["a", "b"], "count": [None, 2.0]}), "whole numbers"),
    ],
)
def test_counts_hxl_rejects_bad_tables(tmp_path, df, message):
    with pytest.raises(ValueError, match=message):
        write_counts_hxl(df, tmp_path / "c.csv")
    assert not (tmp_path / "c.csv").exists()


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=40), min_size=0, max_size=30),
    min_cell=st.integers(min_value=1, max_value=12),
)
def test_counts_hxl_never_shows_a_small_cell(counts, min_cell):
    df = pd.DataFrame(
        {"site": [f"Testsite{i}" for i in range(len(counts))], "count": counts},
        columns=["site", "count"],
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "counts.csv"
        assert write_counts_hxl(df, path, min_cell=min_cell) == len(counts)
        header, _, rows = read_hxl(path)
    assert header == ["site", "count"] and len(rows) == len(counts)  # no total row
    for row, count in zip(rows, counts, strict=True):
        cell = row[1]
        if cell.isdigit():
            assert not 1 <= int(cell) < min_cell
            assert int(cell) == count
        else:
            assert cell == f"<{min_cell}" and 1 <= count < min_cell
