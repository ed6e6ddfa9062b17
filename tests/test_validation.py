"""Every mistake in a scenario file gives one line naming its place (file:line: path) and the fix.

Broken scenarios are made by editing a dict loaded from a known-good YAML file and dumping it to a
file, so the expected line number is found in the dumped text, independently of the loader.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from evacops.errors import ScenarioError, UserError
from evacops.scenario import Scenario, check_period, load, parse_text
from tests.helpers import ROOT, shuttle_dict

SMALL = ROOT / "scenarios" / "small-airlift.yaml"
SHUTTLE = ROOT / "tests" / "scenarios" / "shuttle.yaml"


def small_dict() -> dict:
    return yaml.safe_load(SMALL.read_text())


def line_of(text: str, needle: str, after: str | None = None) -> int:
    """1-based number of the first line containing ``needle`` (after the line holding ``after``)."""
    lines = text.splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if after in line) + 1
    return next(i + 1 for i in range(start, len(lines)) if needle in lines[i])


def check_lines(problems: list[str], source: str) -> None:
    """Each problem is one line that starts with the file's name, never a traceback."""
    assert problems, "a ScenarioError must carry at least one problem"
    for p in problems:
        assert "\n" not in p and "\r" not in p, p
        assert "Traceback" not in p, p
        assert p.startswith(f"{source}"), p


def problems_of(d: dict, tmp_path: Path) -> tuple[list[str], str, str]:
    """Dump ``d`` to a YAML file, load it, and return (problems, file text, file name)."""
    path = tmp_path / "scenario.yaml"
    text = yaml.safe_dump(d, sort_keys=False)
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load(path)
    problems = info.value.problems
    check_lines(problems, str(path))
    first = str(info.value)
    assert "\n" not in first and first.startswith(problems[0])
    return problems, text, str(path)


def only_problem(
    d: dict, tmp_path: Path, expected: str, needle: str, after: str | None = None
) -> None:
    problems, text, src = problems_of(d, tmp_path)
    assert problems == [f"{src}:{line_of(text, needle, after)}: {expected}"]


def first_problem(
    d: dict, tmp_path: Path, expected: str, needle: str, after: str | None = None
) -> list[str]:
    problems, text, src = problems_of(d, tmp_path)
    assert problems[0] == f"{src}:{line_of(text, needle, after)}: {expected}"
    return problems


# --- the bundled scenarios are valid --------------------------------------------------------------


@pytest.mark.parametrize("path", [SMALL, SHUTTLE], ids=lambda p: p.name)
def test_bundled_scenarios_load(path):
    sc = load(path)
    assert isinstance(sc, Scenario)
    assert sc.cohorts and sc.fleets


def test_lines_are_found_only_for_an_error(monkeypatch, tmp_path):
    """PyYAML composes the node tree (for the lines errors name) in Python: a valid scenario is
    read without it, an invalid one still gets its line."""
    composed = []
    compose = yaml.compose
    monkeypatch.setattr(yaml, "compose", lambda *a, **k: composed.append(1) or compose(*a, **k))
    parse_text(SMALL.read_text())
    assert composed == []
    d = shuttle_dict()
    d["fleets"][0]["count"] = -5
    only_problem(d, tmp_path, "fleets[0].count: must be >= 0, got -5", "count: -5")
    assert composed == [1]


def test_scenario_error_is_a_user_error():
    assert issubclass(ScenarioError, UserError)
    exc = ScenarioError(["a.yaml:1: x: one", "a.yaml:2: y: two", "a.yaml:3: z: three"])
    assert str(exc) == "a.yaml:1: x: one (and 2 more problems)"
    assert str(ScenarioError(["a.yaml:1: x: one", "a.yaml:2: y"])).endswith("(and 1 more problem)")


# --- schema: one field, one line ------------------------------------------------------------------


def test_negative_fleet_count(tmp_path):
    d = shuttle_dict()
    d["fleets"][0]["count"] = -5
    only_problem(d, tmp_path, "fleets[0].count: must be >= 0, got -5", "count: -5")


def test_fleet_count_not_a_number(tmp_path):
    d = shuttle_dict()
    d["fleets"][0]["count"] = "three"
    only_problem(
        d, tmp_path, "fleets[0].count: must be a whole number, got 'three'", "count: three"
    )


def test_planning_load_above_max_load(tmp_path):
    d = shuttle_dict()
    d["aircraft_types"][0]["planning_load"] = 200
    only_problem(
        d,
        tmp_path,
        "aircraft_types[0]: planning_load (200) must not exceed max_load (120)",
        "- name: T",
    )


def test_zero_block_time_names_the_field_and_line(tmp_path):
    d = shuttle_dict()
    d["legs"][1]["block_time_h"] = 0
    problems, text, src = problems_of(d, tmp_path)
    line = line_of(text, "block_time_h: 0")
    assert problems[0].startswith(f"{src}:{line}: legs[1].block_time_h")
    assert "must be > 0" in problems[0] and "got 0" in problems[0]


@pytest.mark.parametrize("value", [0, -1.5])
def test_zero_block_time_is_one_clean_problem(tmp_path, value):
    d = shuttle_dict()
    d["legs"][1]["block_time_h"] = value
    problems, text, src = problems_of(d, tmp_path)
    line = line_of(text, f"block_time_h: {value}")
    assert len(problems) == 1, problems
    assert re.fullmatch(
        rf"{re.escape(src)}:{line}: legs\[1\]\.block_time_h: must be > 0(\.0)?, "
        rf"got {re.escape(str(value))}",
        problems[0],
    ), problems[0]


def test_zero_block_time_in_a_map_is_one_clean_problem(tmp_path):
    d = shuttle_dict()
    d["legs"][1]["block_time_h"] = {"T": 0}
    only_problem(d, tmp_path, "legs[1].block_time_h.T: must be > 0.0, got 0", "T: 0")


def test_unknown_field_is_a_typo(tmp_path):
    d = shuttle_dict()
    d["fleets"][0]["cuont"] = 2
    only_problem(
        d,
        tmp_path,
        "fleets[0].cuont: is not a known field (check the spelling; see docs/scenario.md)",
        "cuont:",
    )


def test_naive_start_time(tmp_path):
    d = shuttle_dict()
    d["time"]["start"] = "2030-01-01T00:00:00"
    only_problem(
        d,
        tmp_path,
        "time.start: must be timezone-aware, e.g. 2021-08-14T00:00:00+04:30, "
        "got 2030-01-01T00:00:00",
        "2030-01-01T00:00:00",
    )


def test_naive_datetime_object_is_refused_too(tmp_path):
    d = shuttle_dict()
    d["time"]["start"] = datetime(2030, 1, 1)  # dumped as an unquoted YAML timestamp
    only_problem(
        d,
        tmp_path,
        "time.start: must be timezone-aware, e.g. 2021-08-14T00:00:00+04:30, "
        "got 2030-01-01T00:00:00",
        "start: 2030-01-01",
    )


def test_naive_fleet_availability(tmp_path):
    d = shuttle_dict()
    d["fleets"][0]["available_from"] = "2030-01-01T02:00:00"
    only_problem(
        d,
        tmp_path,
        "fleets[0].available_from: must be timezone-aware, e.g. "
        "2021-08-14T00:00:00+04:30, got 2030-01-01T02:00:00",
        "available_from:",
    )


@pytest.mark.parametrize("where", ["appear", "event"])
def test_naive_time_in_a_block_names_the_field(tmp_path, where):
    d = shuttle_dict()
    if where == "appear":
        d["cohorts"][0]["appear"] = {
            "mode": "uniform",
            "start": "2030-01-01T02:00:00",
            "end": "+3h",
        }
        path, needle = "cohorts[0].appear.start", "start: '2030"
    else:
        d["events"] = [
            {"kind": "closure", "site": "EVAC", "start": "2030-01-01T02:00:00", "end": "+3h"}
        ]
        path, needle = "events[0].start", "start: '2030"
    only_problem(
        d,
        tmp_path,
        f"{path}: must be timezone-aware, e.g. 2021-08-14T00:00:00+04:30, got 2030-01-01T02:00:00",
        needle,
    )


def test_bad_period(tmp_path):
    d = shuttle_dict()
    d["time"]["period"] = "7min"
    only_problem(
        d,
        tmp_path,
        "time.period: must divide an hour or be whole hours (e.g. '15min', '1h', '2h'), got '7min'",
        "period: 7min",
    )


# The one rule for period lengths (scenario.timeline.check_period), written out independently: a
# whole number of minutes, at least 1, that divides 60 or is a multiple of 60.
PERIODS = {
    "15min": True, "30min": True, "1h": True, "2h": True, "20min": True, "5m": True, "1d": True,
    "24h": True, "7min": False, "45min": False, "90min": False, "1.5h": False, "0min": False,
    "0.5min": False, "soon": False, "15": False,
}  # fmt: skip


@pytest.mark.parametrize("text, valid", PERIODS.items(), ids=list(PERIODS))
def test_check_period_is_the_rule_the_scenario_uses(text, valid, tmp_path):
    d = shuttle_dict()
    d["time"]["period"] = text
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    if valid:
        assert check_period(text) == text
        assert load(path).time.period == text
        return
    with pytest.raises(UserError) as info:
        check_period(text)
    assert (info.value.field, info.value.value) == ("period", text)
    assert str(info.value) == f"period {text}: {info.value.problem}"
    assert "got" not in info.value.problem  # the edge shows the value, the problem does not
    with pytest.raises(ScenarioError) as scenario_info:
        load(path)
    assert scenario_info.value.problems[0].endswith(
        f"time.period: {info.value.problem}, got {text!r}"
    )


def test_period_that_is_not_a_duration(tmp_path):
    d = shuttle_dict()
    d["time"]["period"] = "soon"
    only_problem(
        d,
        tmp_path,
        "time.period: must be a duration like '1h', '15min' or '2d', got 'soon'",
        "period: soon",
    )


def test_appear_uniform_without_window(tmp_path):
    d = shuttle_dict()
    d["cohorts"][0]["appear"] = {"mode": "uniform"}
    only_problem(d, tmp_path, "cohorts[0].appear: mode 'uniform' needs start and end", "appear:")


# --- cross-checks: names, routes, times -----------------------------------------------------------


def test_unknown_site_in_a_leg(tmp_path):
    d = shuttle_dict()
    d["legs"][1]["destination"] = "STAEG"
    first_problem(
        d,
        tmp_path,
        "legs[1].destination: unknown site 'STAEG'; use one of the names "
        "under sites: CAMP, EVAC, HOME, STAGE",
        "destination: STAEG",
    )


def test_unknown_leg_in_a_fleet(tmp_path):
    d = shuttle_dict()
    d["fleets"][0]["legs"] = ["evac-stgae"]
    first_problem(
        d,
        tmp_path,
        "fleets[0].legs[0]: unknown leg 'evac-stgae'; use a name under legs",
        "- evac-stgae",
    )


def test_unknown_aircraft_type(tmp_path):
    d = shuttle_dict()
    d["fleets"][0]["type"] = "C-5"
    only_problem(
        d,
        tmp_path,
        "fleets[0].type: unknown aircraft type 'C-5'; use a name under aircraft_types",
        "type: C-5",
    )


def test_air_leg_to_a_site_without_airfield(tmp_path):
    d = shuttle_dict()
    del d["sites"][2]["airfield"]  # STAGE
    only_problem(
        d,
        tmp_path,
        "legs[1].destination: air leg 'evac-stage' must join two airfields; "
        "site 'STAGE' has none (add an airfield block to it, or make this a ground leg)",
        "destination: STAGE",
    )


def test_civil_fleet_with_no_leg_it_may_fly(tmp_path):
    d = small_dict()
    charter = d["fleets"][2]
    assert charter["name"] == "charter" and charter["may_enter_evacuation_airport"] is False
    charter["legs"] = ["evac-a"]  # flies into EVAC, which it may not enter
    problems = first_problem(
        d,
        tmp_path,
        "fleets[2].legs[0]: fleet 'charter' may not enter the evacuation airport but "
        "leg 'evac-a' flies there; remove the leg or set may_enter_evacuation_airport: true",
        "- evac-a",
        after="name: charter",
    )
    # without the charter, nobody gets from the staging bases onward: said per cohort
    assert any("cohorts[0]: cohort 'citizens' has no route" in p for p in problems)


def test_cohort_with_no_route_to_a_destination(tmp_path):
    d = shuttle_dict()
    d["legs"] = [leg for leg in d["legs"] if leg["name"] != "stage-home"]
    only_problem(
        d,
        tmp_path,
        "cohorts[0]: cohort 'all' has no route from 'CAMP' to any "
        "destination it may use (check legs, fleets' legs, its staging, destinations and "
        "operators)",
        "- name: all",
    )


def test_cohort_destination_that_is_not_a_destination(tmp_path):
    d = shuttle_dict()
    d["cohorts"][0]["destinations"] = ["STAGE"]
    only_problem(
        d,
        tmp_path,
        "cohorts[0].destinations[0]: site 'STAGE' is a staging, not a destination",
        "- STAGE",
        after="name: all",
    )


def test_cohort_operator_nobody_has(tmp_path):
    d = small_dict()
    d["cohorts"][0]["operators"] = ["red"]
    only_problem(
        d,
        tmp_path,
        "cohorts[0].operators[0]: no fleet has operator 'red'; use one of ['blue', 'green']",
        "- red",
    )


def test_duplicate_site_names(tmp_path):
    d = shuttle_dict()
    d["sites"].append(dict(d["sites"][2]))  # STAGE twice
    only_problem(
        d,
        tmp_path,
        "sites[4].name: duplicate name 'STAGE' (also sites[2]); names must be unique",
        "name: STAGE",
        after="name: HOME",
    )


def test_site_closure_that_ends_before_it_starts(tmp_path):
    d = shuttle_dict()
    d["sites"][1]["closures"] = [{"start": "+5h", "end": "+3h"}]
    only_problem(d, tmp_path, "sites[1].closures[0]: end must be after start", "+5h")


def test_closure_event_that_ends_before_it_starts(tmp_path):
    d = shuttle_dict()
    d["events"] = [{"kind": "closure", "site": "EVAC", "start": "+5h", "end": "+3h"}]
    only_problem(
        d, tmp_path, "events[0].end: end must be after start", "+3h", after="kind: closure"
    )


def test_appearance_table_that_does_not_add_up(tmp_path):
    d = shuttle_dict()
    d["cohorts"][0]["appear"] = {
        "mode": "table",
        "table": [{"at": "+0h", "count": 100}, {"at": "+2h", "count": 100}],
    }
    only_problem(
        d,
        tmp_path,
        "cohorts[0].appear.table: the table's counts add up to 200 but size "
        "is 300; make them agree",
        "table:",
    )


def test_several_problems_are_all_listed(tmp_path):
    d = shuttle_dict()
    d["fleets"][0]["count"] = -5
    d["cohorts"][0]["size"] = 0
    d["sites"][0]["kidn"] = "assembly"
    problems, text, src = problems_of(d, tmp_path)
    assert len(problems) == 3
    assert f"{src}:{line_of(text, 'count: -5')}: fleets[0].count: must be >= 0, got -5" in problems
    assert f"{src}:{line_of(text, 'size: 0')}: cohorts[0].size: must be > 0, got 0" in problems
    assert any(p.startswith(f"{src}:{line_of(text, 'kidn')}: sites[0].kidn: ") for p in problems)


# --- files that are not scenarios -----------------------------------------------------------------


def load_problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load(path)
    check_lines(info.value.problems, str(path))
    assert len(info.value.problems) == 1
    return info.value.problems


def test_malformed_yaml_reports_the_line(tmp_path):
    lines = SHUTTLE.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("evacuation_airport:"))
    lines.insert(at + 1, "  oops: 1")  # indented under a scalar: not valid YAML
    path = tmp_path / "broken.yaml"
    path.write_text("\n".join(lines) + "\n")
    (problem,) = load_problems(path)
    assert problem.startswith(f"{path}:{at + 2}: not valid YAML (")
    assert problem.endswith("check indentation and quoting there")


def test_malformed_yaml_through_parse_text():
    with pytest.raises(ScenarioError) as info:
        parse_text("name: x\ntime: {start: [\n", source="s.yaml")
    (problem,) = info.value.problems
    assert re.match(r"s\.yaml:\d+: not valid YAML \(", problem)


def _json_text(d: dict) -> str:
    return json.dumps(d, indent=2, default=lambda o: o.isoformat())


def test_json_scenario_loads(tmp_path):
    path = tmp_path / "shuttle.json"
    path.write_text(_json_text(shuttle_dict()))
    sc = load(path)
    assert sc.name == "shuttle"
    assert sc.time.start.tzinfo is not None
    assert sum(c.size for c in sc.cohorts) == 300


def test_malformed_json_reports_the_line(tmp_path):
    text = _json_text(shuttle_dict()).replace('"size": 300', '"size": 300 300')
    path = tmp_path / "broken.json"
    path.write_text(text)
    (problem,) = load_problems(path)
    assert problem.startswith(f"{path}:{line_of(text, '300 300')}: not valid JSON (")
    assert problem.endswith("fix the syntax there")


def test_invalid_json_scenario_reports_the_line(tmp_path):
    d = shuttle_dict()
    d["fleets"][0]["count"] = -5
    text = _json_text(d)
    path = tmp_path / "bad.json"
    path.write_text(text)
    (problem,) = load_problems(path)
    assert problem == f"{path}:{line_of(text, '-5')}: fleets[0].count: must be >= 0, got -5"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert load_problems(path) == [
        f"{path}: no such file; give the path of a scenario YAML or JSON file"
    ]


def test_directory(tmp_path):
    assert load_problems(tmp_path) == [
        f"{tmp_path}: is a folder; give the path of a scenario YAML or JSON file"
    ]


@pytest.mark.parametrize(
    "text", ["- name: shuttle\n- time: 1h\n", "", "just words\n"], ids=["list", "empty", "scalar"]
)
def test_file_that_is_not_a_mapping(tmp_path, text):
    path = tmp_path / "list.yaml"
    path.write_text(text)
    (problem,) = load_problems(path)
    assert problem == (
        f"{path}: a scenario is a mapping with name, time, sites, legs, ... (see docs/scenario.md)"
    )


def test_binary_file(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_bytes(b"\xff\xfe\x00\x81binary")
    (problem,) = load_problems(path)
    assert problem == f"{path}: not a text file; a scenario is YAML or JSON text"


def test_more_aircraft_based_at_a_site_than_its_mog(tmp_path):
    d = shuttle_dict()
    d["fleets"][0]["count"] = 4
    d["sites"][1]["airfield"]["mog"] = 1  # EVAC, the fleet's home
    only_problem(
        d,
        tmp_path,
        "sites[1].airfield.mog: fleets based at 'EVAC' (one) park 4 aircraft there, more than "
        "its mog of 1; raise the mog or base some of these fleets elsewhere",
        "mog: 1",
    )


def test_a_python_object_tag_is_refused_not_built(tmp_path):
    """A hostile file: YAML that asks the loader to build Python objects (run a command) is
    refused by the safe loader (libyaml's where PyYAML has it) as not valid YAML."""
    marker = tmp_path / "ran"
    text = SHUTTLE.read_text() + (f"extra: !!python/object/apply:os.system ['touch {marker}']\n")
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    (problem,) = load_problems(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: not valid YAML \(", problem), problem
    assert not marker.exists()
