"""Length limits on every string from outside (evacops/registry/limits.py): each limited field
refused one character over its limit through the service, the file reader and the API, with a
one-line error naming the field and the maximum and never the value; an import file with one
overlong row is a per-row problem; a property test that any text up to the limit passes and one
character more does not, in Dari and Arabic letters (counted in characters, not bytes); and on
PostgreSQL a value at the limit in two-byte letters fits its ``varchar`` column. SQLite, and
PostgreSQL when EVACOPS_TEST_DATABASE_URL is set. Generated people only."""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from pathlib import Path

import pytest
from conftest import OPERATION, PASSWORD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, func, inspect, select
from test_web_support import World

from evacops.errors import RegistrationFileError, RegistryError
from evacops.registry.files import read_records, read_registrations
from evacops.registry.generate import registrations_rows
from evacops.registry.limits import TEXT_LIMITS, check_text
from evacops.registry.store.tables import metadata, persons, sites

DARI = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"  # two bytes each in UTF-8
ZWNJ = "\u200c"  # the zero-width non-joiner of Dari and Pashto spelling


def over(field: str, letter: str = "ش") -> str:
    return letter * (TEXT_LIMITS[field] + 1)


def at(field: str, letter: str = "ش") -> str:
    return letter * TEXT_LIMITS[field]


def assert_names_not_echoes(exc: Exception, field: str, value: str) -> None:
    text = str(exc)
    assert f"{TEXT_LIMITS[field]:,} characters" in text, text
    assert value[:8] not in text, text  # never the value
    assert "\n" not in text


def _rows(n: int = 3, seed: int = 7) -> list:
    return read_records(registrations_rows(n, seed, 0.0), source="t")


def _people(admin) -> int:
    with admin.ctx.read() as conn:
        return conn.execute(select(func.count()).select_from(persons)).scalar_one()


# ---------------------------------------------------------------------------- the service
SETUP_CASES = {
    "operation_name": lambda reg, v: reg.create_operation("op-x", name=v),
    "rule_version": lambda reg, v: reg.create_operation("op-x", rule_version=v),
    "site": lambda reg, v: reg.add_site(OPERATION, v, "gate"),
    "site (operation)": lambda reg, v: reg.create_operation("op-x", sites_={v: "gate"}),
    "category (operation)": lambda reg, v: reg.create_operation("op-x", categories={v: ("c", 1)}),
    "cohort (operation)": lambda reg, v: reg.create_operation("op-x", categories={"c": (v, 1)}),
    "flight": lambda reg, v: reg.add_flight(
        OPERATION, v, origin="HKIA", destination="Al Udeid", seats=10
    ),
    "user": lambda reg, v: reg.add_user(v, "gate", PASSWORD),
    "password": lambda reg, v: reg.add_user("limits-user", "gate", v),
    "category": lambda reg, v: reg.add_category(OPERATION, v, "SIV and families", 1),
    "cohort": lambda reg, v: reg.add_category(OPERATION, "new-category", v, 1),
    "label": lambda reg, v: reg.enrol_device(OPERATION, "Gate A", "gate", v),
}


#: the error's field is the service's parameter where it is not called like its limit
PARAMETER = {"operation_name": "name", "site": "code", "user": "name"}


@pytest.mark.parametrize("case", sorted(SETUP_CASES))
def test_setup_fields_are_refused_one_character_over(admin, case):
    field = case.split(" ")[0]
    value = over(field)
    with pytest.raises(RegistryError) as info:
        SETUP_CASES[case](admin, value)
    assert info.value.field == (field if " " in case else PARAMETER.get(field, field))
    assert_names_not_echoes(info.value, field, value)
    assert [o["id"] for o in admin.operations()] == [OPERATION]  # nothing written


def test_setup_fields_at_their_limit_are_kept_whole(admin):
    """The same inputs at the limit, in two-byte letters, go in and come back whole (on
    PostgreSQL this is varchar(n) counting characters, not bytes)."""
    admin.create_operation(
        at("operation").replace("ش", "a"),
        name=at("operation_name"),
        rule_version=at("rule_version"),
        sites_={at("site"): "gate", "HKIA": "airport", "Al Udeid": "staging"},
        categories={at("category"): (at("cohort"), 1.0)},
    )
    op = at("operation").replace("ش", "a")
    admin.add_flight(op, at("flight"), origin="HKIA", destination="Al Udeid", seats=5)
    admin.add_category(op, at("category", "ع"), at("cohort", "ع"), 2)
    admin.add_user(at("user"), "gate", PASSWORD, operations=[op])
    admin.enrol_device(op, at("site"), "gate", at("label"))
    with admin.ctx.read() as conn:
        codes = set(conn.execute(select(sites.c.code).where(sites.c.operation_id == op)).scalars())
    assert at("site") in codes
    names = {c["category"]: c["cohort"] for c in admin.categories(op)}
    assert names == {at("category"): at("cohort"), at("category", "ع"): at("cohort", "ع")}
    assert at("operation_name") in [o["name"] for o in admin.operations()]
    assert any(m["user"] == at("user") for m in admin.members(op))


ROW_FIELDS = [
    ("household_id", "household_id"),
    ("given_name", "given_name"),
    ("family_name", "family_name"),
    ("given_name_native", "given_name_native"),
    ("family_name_native", "family_name_native"),
    ("document_number", "document_number"),
    ("category", "category"),
    ("relationship", "relationship"),
]


def _too_long_row(row, attr: str):
    letter = "Z" if attr == "document_number" else "ش"
    return dataclasses.replace(row, **{attr: over(attr, letter)})


@pytest.mark.parametrize("attr, field", ROW_FIELDS)
def test_register_refuses_a_row_with_a_field_over_its_limit(admin, attr, field):
    """The service's own guard (rows that did not come through the file reader): one problem
    naming the row and the field, nothing registered."""
    rows = _rows()
    rows[1] = _too_long_row(rows[1], attr)
    before = _people(admin)
    with pytest.raises(RegistrationFileError) as info:
        admin.register(OPERATION, rows, source="t")
    limit = TEXT_LIMITS[field]
    assert info.value.problems == [
        f"t:{rows[1].line}: {field}: longer than {limit:,} characters; shorten it"
    ]
    assert getattr(rows[1], attr)[:8] not in str(info.value)
    assert _people(admin) == before


def test_register_refuses_long_variants_and_extra_columns(admin):
    rows = _rows()
    rows[0] = dataclasses.replace(rows[0], name_variants=tuple(["ش" * 100] * 6))
    rows[2] = dataclasses.replace(rows[2], extra={"phone": "9" * 501, "x" * 101: "1"})
    with pytest.raises(RegistrationFileError) as info:
        admin.register(OPERATION, rows, source="t")
    assert info.value.problems == [
        f"t:{rows[0].line}: name_variants: longer than 500 characters; shorten it",
        f"t:{rows[2].line}: phone: longer than 500 characters; shorten it",
        f"t:{rows[2].line}: extra_column: longer than 100 characters; shorten it",
    ]
    with pytest.raises(RegistryError) as info2:
        admin.register(OPERATION, _rows(), source="f" * 256)
    assert info2.value.field == "file_name"


@pytest.fixture
def two(admin):
    ids = admin.register(OPERATION, _rows(2, seed=11), source="t").person_ids
    return admin, ids


CORRECTIONS = {
    "reason": {"reason": over("reason"), "relationship": "head"},
    "given_name": {"reason": "typo", "given_name": over("given_name")},
    "family_name": {"reason": "typo", "family_name": over("family_name")},
    "document": {"reason": "typo", "document": over("document_number", "Z")},
    "relationship": {"reason": "typo", "relationship": over("relationship")},
    "category": {"reason": "typo", "category": over("category")},
}


@pytest.mark.parametrize("field", sorted(CORRECTIONS))
def test_corrections_and_reasons_are_refused_over_their_limit(two, field):
    admin, ids = two
    fields = dict(CORRECTIONS[field])
    reason = fields.pop("reason")
    with pytest.raises(RegistryError) as info:
        admin.correct(OPERATION, ids[0], reason=reason, **fields)
    value = reason if field == "reason" else next(iter(fields.values()))
    assert info.value.field == field
    assert_names_not_echoes(info.value, "document_number" if field == "document" else field, value)
    assert admin.person(OPERATION, ids[0])["given_name"] != over("given_name")


def test_merge_reason_is_refused_before_it_is_sealed(two):
    admin, ids = two
    with pytest.raises(RegistryError) as info:
        admin.merge(OPERATION, ids[0], ids[1], reason=over("reason"))
    assert info.value.field == "reason"
    assert admin.person(OPERATION, ids[1])["status"] == "registered"
    admin.merge(OPERATION, ids[0], ids[1], reason=at("reason"))  # at the limit: fine
    assert admin.person(OPERATION, ids[1])["status"] == "merged"


def test_a_correction_with_a_bad_birth_date_is_one_line_not_a_traceback(two):
    admin, ids = two
    with pytest.raises(RegistryError) as info:
        admin.correct(OPERATION, ids[0], reason="typo", birth_date="3rd of May")
    assert info.value.field == "birth_date" and "3rd" not in str(info.value)


# ---------------------------------------------------------------------------- the file reader
def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    import csv

    cols = sorted({k for r in rows for k in r})
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return path


def test_an_import_file_with_one_overlong_row_reports_that_row_only(admin, tmp_path):
    rows = registrations_rows(6, 3, 0.0)
    rows[3]["given_name"] = "ش" * 101
    rows[4]["given_name_native"] = "ش" * 100  # at the limit: fine
    path = _write(tmp_path / "people.csv", rows)
    before = _people(admin)
    with pytest.raises(RegistrationFileError) as info:
        admin.import_file(OPERATION, path)
    # the header is line 1: rows[3] is line 5
    assert info.value.problems == [f"{path}:5: given_name: longer than 100 characters; shorten it"]
    assert "ش" * 8 not in str(info.value)
    assert _people(admin) == before
    rows[3]["given_name"] = "ش" * 100
    _write(path, rows)
    assert admin.import_file(OPERATION, path).imported == 6


@pytest.mark.parametrize(
    "column, value",
    [
        ("given_name", "ش" * 101),
        ("family_name", "ش" * 101),
        ("given_name_native", "ش" * 101),
        ("family_name_native", "ش" * 101),
        ("name_variants", ";".join(["ش" * 100] * 6)),
        ("household_id", "ش" * 101),
        ("category", "ش" * 61),
        ("document_number", "Z" * 31),
        ("notes", "ش" * 501),
    ],
)
def test_the_reader_reports_each_field_over_its_limit(tmp_path, column, value):
    rows = registrations_rows(2, 5, 0.0)
    for r in rows:
        r.setdefault("notes", "")
    rows[1][column] = value
    path = _write(tmp_path / "reg.csv", rows)
    with pytest.raises(RegistrationFileError) as info:
        read_registrations(path, source="reg.csv")
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert problem.startswith(f"reg.csv:3: {column}: longer than "), problem
    assert value[:8] not in problem


# ---------------------------------------------------------------------------- the API
@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def _api_cases() -> list[tuple[str, str, dict, str]]:
    long_name = dict(registrations_rows(1, 9, 0.0)[0], given_name="ش" * 101)
    return [
        ("POST", "registrations", {"rows": [long_name]}, "ش" * 101),
        ("POST", "categories", {"category": "ک" * 61, "cohort": "c"}, "ک" * 61),
        ("POST", "categories", {"category": "c", "cohort": "ک" * 101}, "ک" * 101),
        (
            "POST",
            "flights",
            dict(code="ف" * 41, origin="HKIA", destination="Dulles", seats=3),
            "ف" * 41,
        ),
        ("POST", "users", {"name": "ن" * 101, "role": "gate", "password": PASSWORD * 2}, "ن" * 101),
        ("POST", "devices", {"site": "Gate A", "label": "ل" * 101}, "ل" * 101),
    ]


def test_the_api_answers_422_problem_json_without_the_value(world: World):
    head = world.auth("admin")
    for method, path, body, value in _api_cases():
        url = f"/api/v1/operations/{OPERATION}/{path}"
        r = world.client().request(method, url, headers=head, json=body)
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert value[:8] not in r.text, (path, r.text)
        assert json.dumps(value[:8])[1:-1] not in r.text  # nor escaped
    assert _people(world.admin) == 12 + 4  # the World's people only


def test_an_uploaded_file_with_one_overlong_row_is_a_per_row_problem(world: World, tmp_path):
    rows = registrations_rows(4, 21, 0.0)
    rows[2]["family_name"] = "ع" * 101
    path = _write(tmp_path / "up.csv", rows)
    r = world.client().post(
        f"/api/v1/operations/{OPERATION}/registrations/file",
        headers=world.auth("registrar"),
        files={"file": ("up.csv", path.read_bytes(), "text/csv")},
    )
    assert r.status_code == 422
    body = r.json()
    assert len(body["problems"]) == 1
    assert ":4: family_name: longer than 100 characters; shorten it" in body["problems"][0]
    assert "ع" * 8 not in r.text


# ---------------------------------------------------------------------------- properties
dari_text = st.text(alphabet=DARI + ZWNJ + "ًٌٍَُِّْ", min_size=1, max_size=130)


@settings(max_examples=200, deadline=None)
@given(dari_text, st.sampled_from(sorted(TEXT_LIMITS)))
def test_any_text_up_to_the_limit_passes_and_one_character_more_does_not(text, field):
    """Counted in characters (code points), not bytes: a Dari or Arabic letter is two bytes of
    UTF-8 and one character here."""
    limit = TEXT_LIMITS[field]
    value = (text * (limit // len(text) + 2))[:limit]
    assert len(value) == limit and len(value.encode()) >= 2 * limit  # two bytes or more each
    check_text(field, value)  # at the limit
    check_text(field, value[: limit // 2])
    with pytest.raises(RegistryError) as info:
        check_text(field, value + text[0])
    assert info.value.field == field


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=DARI + ZWNJ + "آأإ", min_size=1, max_size=100), st.integers(0, 1))
def test_the_reader_counts_names_in_characters_after_nfc(name, extra):
    """A name of exactly 100 characters once NFC-normalised is read; 101 is a problem."""
    nfc = unicodedata.normalize("NFC", name)
    padded = nfc + "ش" * (100 - len(nfc) + extra)
    row = dict(registrations_rows(1, 4, 0.0)[0], given_name=padded)
    if extra:
        with pytest.raises(RegistrationFileError) as info:
            read_records([row], source="p")
        assert info.value.problems == ["p:2: given_name: longer than 100 characters; shorten it"]
    else:
        (read,) = read_records([row], source="p")
        assert read.given_name == padded and len(read.given_name) == 100


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=DARI + ZWNJ, min_size=1, max_size=100), st.integers(0, 1))
def test_a_registered_name_at_the_limit_is_sealed_and_read_back_whole(admin, name, extra):
    """Through the database (sealed, then opened): 100 Dari characters in, the same out; 101
    refused before anything is written."""
    padded = name + "ش" * (100 - len(name) + extra)
    (row,) = _rows(1, seed=len(name))
    row = dataclasses.replace(row, given_name=padded, household_id=f"H-{len(name)}-{extra}")
    if extra:
        with pytest.raises(RegistrationFileError):
            admin.register(OPERATION, [row], source="prop")
        return
    (pid,) = admin.register(OPERATION, [row], source="prop").person_ids
    assert admin.person(OPERATION, pid)["given_name"] == padded


# ---------------------------------------------------------------------------- the columns
def test_the_columns_in_the_database_are_as_long_as_the_tables_declare(admin):
    """The migrations create every text column with the length tables.py declares (so no
    migration is needed for the limits), and every column from TEXT_LIMITS has its limit."""
    insp = inspect(admin.ctx.engine)
    checked = 0
    for table in metadata.sorted_tables:
        found = {c["name"]: c["type"] for c in insp.get_columns(table.name)}
        for col in table.columns:
            if isinstance(col.type, String) and col.type.length:
                assert getattr(found[col.name], "length", None) == col.type.length, (
                    table.name,
                    col.name,
                )
                checked += 1
    assert checked > 60
    assert sites.c.code.type.length == TEXT_LIMITS["site"]
    assert persons.c.category.type.length == TEXT_LIMITS["category"]
