"""The limits of issue 11 on the hand-checked shuttle (tests/scenarios/shuttle.yaml) and the
scenario checks that come with them.

The shuttle: one aircraft (100 seats) between EVAC and STAGE, block 1 h and ground 1 h at each
end, so without other limits it leaves EVAC at hours 0, 4 and 8 with 300 people waiting; each
sortie (outbound or back) keeps the aircraft busy for 2 h (block + ground).
"""

from __future__ import annotations

import numpy as np
import pytest

from evacops.errors import ScenarioError
from evacops.network import compile_network
from evacops.plan import solve_plan
from tests.helpers import assert_user_error, evacops, scenario_from, shuttle_dict


def _out(p) -> dict[int, int]:
    out = p.out_by_period.sum(axis=0)
    return {t: round(v) for t, v in enumerate(out) if v > 1e-6}


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        # 2 sorties in any 24 h: out at 0 and back; nothing more within the 12 h horizon
        (2, {0: 100}),
        # 3: out at 0, back at 2, out at 4
        (3, {0: 100, 4: 100}),
        # 5: the unlimited schedule (3 out, 2 back)
        (5, {0: 100, 4: 100, 8: 100}),
    ],
)
def test_crew_limit_caps_sorties_per_aircraft_per_day(limit, expected):
    d = shuttle_dict()
    d["fleets"][0]["max_sorties_per_day"] = limit
    p = solve_plan(scenario_from(d), check_binding=0)
    assert _out(p) == expected
    assert p.sortie_counts.sum() <= limit


def test_maintenance_down_time_limits_hours_in_use():
    d = shuttle_dict()
    # down 3/4 of the time: 6 h in use a day = 3 sorties of 2 h: out at 0, back, out at 4
    d["fleets"][0]["maintenance_down_fraction"] = 0.75
    p = solve_plan(scenario_from(d), check_binding=0)
    assert _out(p) == {0: 100, 4: 100}
    # down a quarter: 18 h = 9 sorties, more than the 12 h horizon has room for
    d["fleets"][0]["maintenance_down_fraction"] = 0.25
    assert _out(solve_plan(scenario_from(d), check_binding=0)) == {0: 100, 4: 100, 8: 100}


def test_minimum_dwell_at_the_evacuation_airport_delays_boarding():
    d = shuttle_dict()
    d["sites"][1]["min_dwell_h"] = 1  # nobody boards within an hour of arriving airside
    p = solve_plan(scenario_from(d), check_binding=0)
    # by hand: the aircraft leaves at 1, 5 and 9 (it may leave empty at 0, but need not)
    assert _out(p) == {1: 100, 5: 100, 9: 100}
    assert p.summary()["completion_h"] == 10.0
    # -(100 x 11 + 100 x 7 + 100 x 3) person-hours + 5 sorties
    assert p.summary()["objective"] == pytest.approx(-2095.0)


def test_surge_load_on_a_leg_seats_max_load():
    d = shuttle_dict()
    d["legs"][1]["surge_load"] = True  # max_load 120 instead of planning_load 100
    p = solve_plan(scenario_from(d), check_binding=0)
    assert _out(p) == {0: 120, 4: 120, 8: 60}
    assert p.schedule()["load"].max() == 120


def test_hard_deadline_closes_the_evacuation_airport():
    d = shuttle_dict()
    d["deadline"] = "+6h"
    soft = solve_plan(scenario_from(d), check_binding=0)
    assert soft.summary()["evacuated_total"] == 300  # the deadline only counts who is left
    d["deadline_hard"] = True
    hard = solve_plan(scenario_from(d), check_binding=0)
    assert _out(hard) == {0: 100, 4: 100}
    assert hard.summary()["left_behind"] == 100


def test_stay_limit_moves_people_on_or_keeps_them_back():
    d = shuttle_dict()
    d["legs"][2]["capacity_per_h"] = 10  # STAGE -> HOME takes 10 people an hour
    d["legs"][2]["travel_time_h"] = 1
    d["sites"][2]["max_stay_h"] = 3  # nobody stays at STAGE more than 3 h
    p = solve_plan(scenario_from(d), check_binding=0)
    net, sol = p.network, p.final
    s = net.sites.index("STAGE")
    arrived = np.cumsum(sol.flow[:, net.arc_to == s, :].sum(axis=(0, 1)))  # delay 1 period
    arrived = np.concatenate([[0.0], arrived[:-1]])
    held = sol.hold[:, s, :].sum(axis=0)
    for t in range(net.T):  # who arrived 3 periods ago or before (t - 2, with t) has left
        assert held[t] <= arrived[t] - (arrived[t - 2] if t >= 2 else 0.0) + 1e-6
    # by hand: 10 an hour onward for the 3 periods a person may stay (landing period, 2 more):
    # 30 on the first two sorties; the third waits to land in period 10 or later, where the
    # 3 periods of its people's stay end after the horizon, and leaves full (a sortie landing
    # earlier would carry 30)
    out = _out(p)
    assert sorted(out.values()) == [30, 30, 100]
    assert max(out) >= 9


def test_slot_changes_and_movements_compile_to_rates_per_period():
    d = shuttle_dict()
    d["sites"][1]["airfield"].update(
        departure_slots_per_h=3,
        movements_per_h=4,
        slot_changes=[{"from": "+2h", "to": "+5h", "departure_slots_per_h": 1.5}],
    )
    net = compile_network(scenario_from(d))
    e = net.sites.index("EVAC")
    assert net.dep_rate[e].tolist() == [3, 3, 1.5, 1.5, 1.5] + [3] * 7
    assert (net.mov_rate[e] == 4).all()
    w, rhs = net.rate_windows(net.dep_rate)
    assert w[e] == 2  # 1.5/h is whole over 2 h, and so is 3/h
    assert rhs[e].tolist() == [3, 6, 4.5, 3, 3, 4.5] + [6] * 6


def test_a_site_without_capacity_is_refused_in_one_line(tmp_path):
    d = shuttle_dict()
    del d["sites"][2]["unlimited"], d["sites"][2]["reason"]
    path = tmp_path / "scenario.yaml"
    import yaml

    path.write_text(yaml.safe_dump(d, sort_keys=False))
    line = assert_user_error(evacops("validate", path))
    assert "sites[2]" in line and "'STAGE'" in line
    assert "holding_capacity" in line and "unlimited: true" in line and "reason" in line
    line = assert_user_error(evacops("plan", path, "--check", "0"))
    assert "'STAGE'" in line


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reason": None}, "unlimited: true needs a reason"),
        ({"holding_capacity": 50}, "give holding_capacity or unlimited: true, not both"),
        ({"unlimited": False}, "reason is for unlimited: true"),
    ],
)
def test_unlimited_needs_a_reason_and_no_capacity(change, message):
    d = shuttle_dict()
    site = d["sites"][2]
    for k, v in change.items():
        if v is None:
            site.pop(k)
        else:
            site[k] = v
    with pytest.raises(ScenarioError, match=message):
        scenario_from(d)


def test_stay_limit_where_people_appear_is_refused():
    d = shuttle_dict()
    d["sites"][0]["max_stay_h"] = 5  # CAMP is the cohort's origin
    with pytest.raises(ScenarioError, match=r"people appear at 'CAMP'.*remove max_stay_h"):
        scenario_from(d)


def test_slots_at_periods_longer_than_an_hour_allow_the_rate_times_the_period():
    """3.75 departures an hour at 3-hour periods: at most 45 in any 12 hours (the window in
    which the rate is whole) and at most 12 (3.75 x 3, rounded up) in any one period, not 4 (the
    hour's cap applied to a 3-hour period, which let 16 leave). 40 aircraft wait at EVAC with
    4,000 people: all of them leave within the 12 hours. A window reaching back before the start
    holds only its periods' rates, so by the end of period k at most 11.25 x (k + 1) leave:
    11 a period for three periods, then the last 7."""
    d = shuttle_dict()
    d["time"]["period"] = "3h"
    d["sites"][1]["airfield"]["departure_slots_per_h"] = 3.75
    d["fleets"][0]["count"] = 40
    d["cohorts"][0]["size"] = 4000
    p = solve_plan(scenario_from(d), check_binding=0)
    net = p.network
    evac = list(net.sites).index("EVAC")
    per_period = p.sortie_counts[net.move_from == evac].sum(axis=0)
    assert list(per_period) == [11, 11, 11, 7]
    assert round(p.out_by_period.sum()) == 4000
