"""Where whole sorties cost people against the LP (``repair.by_cohort``, ``repair.by_fleet`` in
the summary; :mod:`evacops.plan.whole_cost`): the per-cohort figures add up to the total the
summary gives, the per-fleet ones to the schedule's sorties and the flows on them, on random
scenarios; the terminal and the report show them. Generated scenarios only, no people."""

from __future__ import annotations

import json

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from test_plan_properties import scenarios
from test_plan_repair_value import _hub

from evacops.plan import solve_plan
from tests.helpers import evacops, scenario_from


def _check(p) -> dict:
    s = p.summary()
    r = s.get("repair")
    if r is None:  # an LP already whole: nothing to split
        return s
    net = p.network
    cohorts = {c["cohort"]: c for c in r["by_cohort"]}
    assert list(cohorts) == net.cohorts
    assert sum(c["cost"] for c in cohorts.values()) == r["evacuated_cost"]
    assert sum(c["lp_out"] for c in cohorts.values()) == r["lp_evacuated_total"]
    for c in s["cohorts"]:
        got = cohorts[c["name"]]
        assert got["out"] == c["evacuated"] and got["cost"] == got["lp_out"] - got["out"]
    lp_out = p.lp.flow[:, net.out_arcs, :].sum(axis=(1, 2))
    assert all(abs(cohorts[n]["lp_out"] - lp_out[i]) < 1 for i, n in enumerate(net.cohorts))
    fleets = r["by_fleet"]
    fwd = net.move_forward
    assert sum(f["sorties"] for f in fleets) == p.sortie_counts[fwd].sum()
    assert (
        abs(sum(f["lp_sorties"] for f in fleets) - p.lp.sorties[fwd].sum())
        <= 0.05 * len(fleets) + 1e-6
    )
    air = net.arc_move >= 0
    assert abs(sum(f["people"] for f in fleets) - p.final.flow[:, air].sum()) <= len(fleets)
    assert all(f["cost"] == f["lp_people"] - f["people"] for f in fleets)
    assert [f["cost"] for f in fleets] == sorted((f["cost"] for f in fleets), reverse=True)
    return s


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_cost_of_whole_sorties_adds_up_by_cohort_and_by_fleet(d):
    _check(solve_plan(scenario_from(d), check_binding=0))


def test_a_hub_fleet_that_rounds_its_sorties_shows_where_people_are_lost():
    """The national hub of the repair-value tests (one aircraft, both legs): whole sorties get
    fewer people out than the LP, all of them the one cohort's, on the one fleet."""
    p = solve_plan(scenario_from(_hub(5, 200, 30, 2.5, 1)), check_binding=-1)
    s = _check(p)
    r = s["repair"]
    assert r["evacuated_cost"] > 0
    [c] = r["by_cohort"]
    assert c["cost"] == r["evacuated_cost"]
    [f] = r["by_fleet"]
    assert f["fleet"] == "own" and f["cost"] > 0
    assert f["lp_sorties"] != int(f["lp_sorties"])  # the LP's fractions, against whole ones


LEAD = "fewer people off the evacuation airport within the horizon than the LP. By cohort:"


def test_the_terminal_and_the_report_show_where_whole_sorties_cost_people(tmp_path):
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(_hub(5, 200, 30, 2.5, 1), sort_keys=False))
    r = evacops("plan", path, "--check", "0", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())
    assert LEAD in said
    assert "Fleets whose whole sorties carry fewer people than the LP's" in said and "own" in said
    html = (tmp_path / "out" / "report.html").read_text()
    assert LEAD in html
    assert html.count("fewer people</th>") == 2  # the cohorts' table and the fleets'
    got = json.loads(evacops("plan", path, "--check", "0", "--json").stdout)
    assert got["repair"]["by_fleet"][0]["fleet"] == "own"
    assert np.isclose(
        sum(c["cost"] for c in got["repair"]["by_cohort"]), got["repair"]["evacuated_cost"]
    )
