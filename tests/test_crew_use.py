"""Crews aircraft by aircraft (:mod:`evacops.plan.crew_use`): what each aircraft and each fleet
of a plan flies in any 24 hours against its fleet's crew rate, counted again here by brute force
from the per-aircraft schedule; what the command line, ``--json`` and the report say of it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evacops.network import compile_network
from evacops.network.limits import day_windows
from evacops.plan import solve_plan
from evacops.plan.crew_use import crew_sentence, crew_use, most_in_window
from evacops.scenario import load
from tests.helpers import ROOT, evacops, scenario_from
from tests.test_plan_properties import scenarios

SMALL = ROOT / "scenarios" / "small-airlift.yaml"


@given(st.lists(st.integers(0, 60), max_size=30), st.integers(1, 30))
def test_most_in_a_window_is_what_every_window_holds(periods, w):
    every = [sum(1 for d in periods if t <= d < t + w) for t in range(-w, 61)]
    assert most_in_window(np.array(periods), w) == max(every, default=0)


def most_per_aircraft(sched: pd.DataFrame, W: int) -> dict[str, tuple[str, int]]:
    """Each aircraft of a schedule (a plan's, or a re-plan's ``schedule.csv``): its fleet and its
    most departures in any ``W`` periods."""
    per_aircraft = {}
    for (fleet, name), g in sched.groupby(["fleet", "aircraft"]):
        deps = g["dep_period"].tolist()
        per_aircraft[name] = (fleet, max(sum(1 for d in deps if t <= d < t + W) for t in deps))
    return per_aircraft


def brute_force(p) -> tuple[dict[str, tuple[str, int]], dict[str, float]]:
    """Each aircraft's fleet and most departures in any 24 hours; each fleet's most departures
    over what its rate allows in the 24 hours ending in a period (positive: over), period by
    period."""
    net = p.network
    W = round(24 / net.period_h)
    sched = p.schedule()
    per_aircraft = most_per_aircraft(sched, W)
    _W, _s, _e, most = day_windows(net.period_h, net.fleet_avail)
    excess = {}
    for f, name in enumerate(net.fleets):
        deps = sched.loc[sched["fleet"] == name, "dep_period"].tolist()
        rate = net.fleet_sorties_day[f]
        excess[name] = max(
            sum(1 for d in deps if t - W < d <= t) - rate * most[f, t] for t in range(net.T)
        )
    return per_aircraft, excess


def check_crews(p) -> None:
    net = p.network
    crews = crew_use(p)
    rate = dict(zip(net.fleets, net.fleet_sorties_day, strict=True))
    if not np.isfinite(list(rate.values())).any():
        assert crews is None
        return
    per_aircraft, excess = brute_force(p)
    limited = {a: (f, n) for a, (f, n) in per_aircraft.items() if np.isfinite(rate[f])}
    assert crews["aircraft"] == len(limited)
    over = {a: n for a, (f, n) in limited.items() if n > rate[f]}
    assert {r["aircraft"]: r["sorties_24h"] for r in crews["aircraft_over"]} == over
    fleets = {r["fleet"] for r in crews["fleets_over"]}
    assert fleets == {f for f, x in excess.items() if np.isfinite(rate[f]) and x > 1e-6}
    for r in crews["fleets_over"]:
        assert r["sorties_24h"] > r["allowed"]
    # worst first: the share over the rate never rises down either list
    shares = [
        (r["sorties_24h"] - r["per_aircraft"]) / r["per_aircraft"] for r in crews["aircraft_over"]
    ]
    assert shares == sorted(shares, reverse=True)
    shares = [(r["sorties_24h"] - r["allowed"]) / r["allowed"] for r in crews["fleets_over"]]
    assert shares == sorted(shares, reverse=True)
    _W, stride, _e, _m = day_windows(net.period_h, net.fleet_avail)
    if stride == 1:  # windows end in every period: every fleet keeps its rate
        assert not crews["fleets_over"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_crews_counted_aircraft_by_aircraft_as_the_schedule_flies(d):
    # held to its fleets' rates only, so that some aircraft are over (held: test_crew_hold.py)
    check_crews(solve_plan(scenario_from(d), check_binding=-1, hold_crews=False))


def test_small_airlift_says_which_aircraft_fly_more_than_their_rate(tmp_path):
    # at 3-hour periods the planner's windows end in every period: no fleet is over
    check_crews(solve_plan(load(SMALL), period="3h", check_binding=-1, hold_crews=False))
    p = solve_plan(load(SMALL), period="1h", check_binding=-1, hold_crews=False)
    check_crews(p)
    crews = crew_use(p)
    assert crews["aircraft_over"], "small-airlift's fleets bunch their sorties: some are over"
    worst = crews["aircraft_over"][0]
    assert f"{worst['aircraft']}, {worst['sorties_24h']} against" in crew_sentence(crews)
    r = evacops("plan", SMALL, "--period", "1h", "--check", "0", "--fleet-crews", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Crews, aircraft by aircraft:" in r.stdout
    got = json.loads((tmp_path / "summary.json").read_text())["crews"]
    assert got["aircraft_over"] == crews["aircraft_over"]
    assert worst["aircraft"] in (tmp_path / "report.html").read_text()


def test_a_replan_counts_its_crews_with_the_sorties_flown_before_it(tmp_path):
    """``evacops replan`` counts the re-plan's schedule as ``evacops plan`` counts its own: the
    sorties flown before the moment count (the crews flew them), in --json, the re-plan's
    summary and the terminal."""
    plan = tmp_path / "plan"
    r = evacops("plan", SMALL, "--period", "1h", "--check", "0", "--fleet-crews", "--out", plan)
    assert r.returncode == 0, r.stderr
    again = tmp_path / "replan"
    r = evacops("replan", SMALL, "--plan", plan, "--at", "+12h", "--out", again, "--json")
    assert r.returncode == 0, r.stderr
    crews = json.loads(r.stdout)["crews"]
    assert json.loads((again / "replan.json").read_text())["crews"] == crews
    # again by brute force from the re-plan's own schedule, flown sorties included
    net = compile_network(load(SMALL), "1h")
    rate = dict(zip(net.fleets, net.fleet_sorties_day, strict=True))
    W = round(24 / net.period_h)
    sched = pd.read_csv(again / "schedule.csv")
    assert sched["flown_before_replan"].any()
    over = {a: n for a, (f, n) in most_per_aircraft(sched, W).items() if n > rate[f]}
    assert {a["aircraft"]: a["sorties_24h"] for a in crews["aircraft_over"]} == over
    assert crews["aircraft"] == sched.loc[sched["fleet"].map(rate) < np.inf, "aircraft"].nunique()
    shown = evacops("replan", SMALL, "--plan", plan, "--at", "+12h")
    assert shown.returncode == 0, shown.stderr
    assert crew_sentence(crews) in " ".join(shown.stdout.split())
