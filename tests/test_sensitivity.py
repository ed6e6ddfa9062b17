"""`evacops sensitivity`: each assumption at a low and a high value, re-planned, people out by the
deadline counted. Checked on the hand-checked shuttle (tests/scenarios/shuttle.yaml: one 100-seat
aircraft leaves EVAC at hours 0, 4 and 8 within the 12-hour horizon) and against independent
solves of the varied scenario."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from evacops.errors import ScenarioError, UserError
from evacops.network import compile_network
from evacops.plan.sensitivity import Assumption, VarySpec, run_sensitivity, varied
from evacops.plan.solve import solve_network
from tests.helpers import HERE, assert_user_error, evacops, scenario_from, shuttle_dict

SHUTTLE = HERE / "scenarios" / "shuttle.yaml"


def _spec(*items: dict) -> VarySpec:
    return VarySpec.model_validate({"assumptions": list(items)})


def test_shuttle_by_hand():
    # 3 departures by the end of the horizon: 50 seats -> 150 out; 120 seats -> all 300 out;
    # one or two aircraft -> all 300 (the base already gets everyone out: no swing)
    spec = _spec(
        {"name": "seats", "path": "aircraft_types[T].planning_load", "low": 50, "high": 120},
        {"name": "aircraft", "path": "fleets[one].count", "low": 1, "high": 2},
        {"name": "people", "path": "cohorts[all].size", "factor": [0.5, 2]},
    )
    sens = run_sensitivity(SHUTTLE.read_text(), spec)
    assert sens.base["out"] == pytest.approx(300)
    rows = {r["assumption"]: r for r in sens.rows}
    assert rows["seats"]["out_low"] == pytest.approx(150)
    assert rows["seats"]["out_high"] == pytest.approx(300)
    assert rows["aircraft"]["out_low"] == pytest.approx(300)
    assert rows["aircraft"]["out_high"] == pytest.approx(300)
    assert rows["people"]["out_low"] == pytest.approx(150)
    assert rows["people"]["out_high"] == pytest.approx(300)  # 3 x 100 seats
    # largest swing first: seats and people (150 each), aircraft (0) last
    assert [r["assumption"] for r in sens.rows][-1] == "aircraft"
    assert rows["aircraft"]["swing"] == pytest.approx(0)
    assert [r["swing"] for r in sens.rows] == sorted((r["swing"] for r in sens.rows), reverse=True)


@settings(max_examples=8, deadline=None)
@given(
    st.floats(0.2, 1.2),
    st.sampled_from(["aircraft_types[T].planning_load", "cohorts[all].size", "fleets[*].count"]),
)
def test_each_end_is_the_varied_scenario_solved_on_its_own(f, path):
    d = shuttle_dict()
    a = Assumption(name="x", path=path, factor=(f, 1.0))
    sens = run_sensitivity(yaml.safe_dump(d), VarySpec(assumptions=[a]))
    try:
        net = compile_network(scenario_from(varied(d, a, 0)))
    except ScenarioError as exc:  # e.g. no aircraft left: reported as the row's error
        assert sens.rows[0]["out_low"] is None
        assert exc.problems[0].split(": ", 1)[1] in sens.rows[0]["error_low"]
        return
    alone = solve_network(net, duals=False).flow[:, net.out_arcs, : net.deadline_period].sum()
    assert sens.rows[0]["out_low"] == pytest.approx(alone, abs=1e-6)
    assert sens.rows[0]["out_high"] == pytest.approx(sens.base["out"], abs=1e-6)


def test_varied_never_changes_the_original():
    d = shuttle_dict()
    before = json.dumps(d, sort_keys=True, default=str)
    new = varied(d, Assumption(name="x", path="fleets[*].count", low=0, high=5), 1)
    assert json.dumps(d, sort_keys=True, default=str) == before
    assert new["fleets"][0]["count"] == 5 and isinstance(new["fleets"][0]["count"], int)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("fleets[nobody].count", "no entry named 'nobody'"),
        ("fleets[one].colour", "'colour' is not set"),
        ("fleets[7].count", "beyond the list"),
        ("fleets[one].legs", "not a number"),
        ("fleets.count", "'fleets' is a list; pick its entries"),
        ("fleets[one]", "end the path with a field"),
        ("fleets[one]..count", "not a field name"),
    ],
)
def test_bad_paths_are_named(path, words):
    with pytest.raises(UserError, match=words.replace("(", r"\(").replace("[", r"\[")):
        run_sensitivity(
            SHUTTLE.read_text(), _spec({"name": "x", "path": path, "low": 0, "high": 1})
        )


def test_a_variant_the_model_refuses_is_reported_not_solved():
    sens = run_sensitivity(
        SHUTTLE.read_text(),
        _spec({"name": "seats", "path": "aircraft_types[T].planning_load", "low": -5, "high": 100}),
    )
    row = sens.rows[0]
    assert row["out_low"] is None and "not a valid scenario" in row["error_low"]
    assert "planning_load" in row["error_low"]
    assert row["out_high"] == pytest.approx(300)


def test_cli_writes_table_plot_and_report(tmp_path):
    vary = tmp_path / "vary.yaml"
    vary.write_text(
        yaml.safe_dump(
            {
                "assumptions": [
                    {
                        "name": "seats",
                        "path": "aircraft_types[T].planning_load",
                        "low": 50,
                        "high": 120,
                        "why": "hand example",
                    },
                ]
            }
        )
    )
    r = evacops("sensitivity", SHUTTLE, "--vary", vary, "--out", tmp_path / "s", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["unit"] == "people" and s["base_out"] == pytest.approx(300)
    assert s["assumptions"][0]["out_low"] == pytest.approx(150)
    for f in ("sensitivity.csv", "tornado.png", "report.html", "sensitivity.json"):
        assert (tmp_path / "s" / f).stat().st_size > 0
    assert "data:image/png;base64," in (tmp_path / "s" / "report.html").read_text()
    r = evacops("sensitivity", SHUTTLE, "--vary", vary)
    assert r.returncode == 0 and "seats" in r.stdout and "150" in r.stdout


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("assumptions: []", "at least 1"),
        ("assumptions: [{name: a, path: 'fleets[one].count', low: 1}]", "either low and high"),
        ("assumptions: [{name: a, path: x.y, low: 1, high: 2, factor: [1, 2]}]", "either low"),
        ("assumptions: [{name: a, path: x, factor: [-1, 2]}]", ">= 0"),
        ("assumptions: [{name: a, path: x, low: 1, high: 2, colour: red}]", "colour"),
        ("assumptions: [{nam", "not valid YAML"),
    ],
)
def test_bad_vary_files_get_one_line(tmp_path, content, words):
    vary = tmp_path / "vary.yaml"
    vary.write_text(content)
    line = assert_user_error(evacops("sensitivity", SHUTTLE, "--vary", vary))
    assert words in line and "vary.yaml" in line


def test_selections_and_several_paths():
    d = shuttle_dict()
    a = Assumption(
        name="x",
        path=["sites[kind=staging].airfield.ground_time_h.default", "legs[*].block_time_h"],
        factor=(0.5, 2.0),
    )
    new = varied(d, a, 1)
    sites = {s["name"]: s for s in new["sites"]}
    assert sites["STAGE"]["airfield"]["ground_time_h"]["default"] == 2
    assert sites["EVAC"]["airfield"]["ground_time_h"]["default"] == 1  # not a staging site
    legs = {leg["name"]: leg for leg in new["legs"]}
    assert legs["evac-stage"]["block_time_h"] == 2
    assert "block_time_h" not in legs["camp-evac"]  # ground legs have no block time: passed over
    with pytest.raises(UserError, match="no entry has kind = nowhere"):
        varied(d, Assumption(name="x", path="sites[kind=nowhere].x", low=0, high=1), 0)
    with pytest.raises(UserError, match="none of the entries"):
        varied(d, Assumption(name="x", path="sites[*].colour", low=0, high=1), 0)


def test_kabul_assumptions_all_name_real_numbers():
    # the bundled file of Kabul assumptions points at values the Kabul scenario sets
    from evacops.plan.sensitivity import base_values, load_spec
    from tests.helpers import ROOT

    data = yaml.safe_load((ROOT / "scenarios" / "kabul-2021.yaml").read_text())
    spec = load_spec(ROOT / "scenarios" / "kabul-2021-sensitivity.yaml")
    for a in spec.assumptions:
        assert base_values(data, a), a.name
        assert a.why, a.name
