"""Small scenarios whose optimum is worked out by hand (see the comments in the YAML files)."""

from __future__ import annotations

import numpy as np
import pytest

from evacops.errors import InfeasibleError
from evacops.plan import solve_plan
from tests.helpers import scenario_from, set_capacity, shuttle_dict


def test_shuttle_optimum_by_hand():
    p = solve_plan(scenario_from(shuttle_dict()), check_binding=0)
    s = p.summary()
    assert s["evacuated_total"] == 300
    assert s["completion_h"] == 9.0
    assert s["left_behind"] == 0
    assert s["objective"] == pytest.approx(-2395.0)
    deps = p.schedule().query("direction == 'outbound'")["dep_period"].tolist()
    assert deps == [0, 4, 8]


def test_lp_and_integer_agree_where_integrality_is_natural():
    sc = scenario_from(shuttle_dict())
    lp = solve_plan(sc, check_binding=0)
    mip = solve_plan(sc, integer=True, check_binding=0)
    assert lp.repair is None  # the LP optimum already has whole sorties
    assert mip.final.objective == pytest.approx(lp.final.objective)
    assert mip.summary()["evacuated_total"] == lp.summary()["evacuated_total"]
    assert mip.final.mip_gap is not None and mip.final.mip_gap <= 1e-3


def test_staging_capacity_limits_people_out_and_is_reported_as_binding():
    d = shuttle_dict()
    set_capacity(d["sites"][2], 150)  # STAGE holds 150 ...
    d["sites"][3]["opens"] = "+24h"  # ... and nobody may go on to HOME before it opens
    d["legs"][2]["travel_time_h"] = 1
    p = solve_plan(scenario_from(d), check_binding=3)
    s = p.summary()
    # By hand: 100 leave at hour 0, only 50 at hour 4 (STAGE is then full), none at hour 8;
    # the sortie leaving at hour 11 lands after the horizon, beyond STAGE's limit in time.
    assert s["evacuated_total"] == 250
    assert s["left_behind"] == 50
    assert s["completion_h"] is None
    out = p.out_by_period.sum(axis=0)
    assert {t: round(v) for t, v in enumerate(out) if v > 1e-6} == {0: 100, 4: 50, 11: 100}
    last = p.schedule().query("direction == 'outbound' and dep_period == 11")
    assert (last["arr_period"] >= p.network.T).all()  # lands after the horizon
    top = p.binding[0]
    assert (top.lever.kind, top.lever.name(p.network)) == ("holding", "STAGE")
    # 1,000 more places while it binds fill the sorties at hours 4 and 8: 50 more people out
    assert top.checked is not None and top.checked.people == pytest.approx(50.0)


def test_fifteen_minute_periods_give_the_same_hand_answer():
    p = solve_plan(scenario_from(shuttle_dict()), period="15min", check_binding=0)
    s = p.summary()
    assert s["periods"] == 48
    assert s["evacuated_total"] == 300
    # departures at 0, 4 and 8 h again: the last leaves in the period 8:00-8:15
    assert s["completion_h"] == pytest.approx(8.25)
    deps = p.schedule().query("direction == 'outbound'")["dep_period"].tolist()
    assert [d * p.network.period_h for d in deps] == [0.0, 4.0, 8.0]


def test_closure_of_the_evacuation_airport_delays_departures():
    d = shuttle_dict()
    d["events"] = [{"kind": "closure", "site": "EVAC", "start": "+0h", "end": "+2h"}]
    p = solve_plan(scenario_from(d), check_binding=0)
    deps = p.schedule().query("direction == 'outbound'")["dep_period"].tolist()
    assert deps[0] == 2 and deps == [2, 6, 10]


def test_priority_goes_first():
    d = shuttle_dict()
    d["cohorts"] = [
        {"name": "low", "size": 100, "origin": "CAMP", "priority": 1},
        {"name": "high", "size": 100, "origin": "CAMP", "priority": 5},
    ]
    p = solve_plan(scenario_from(d), check_binding=0)
    out = p.out_by_period
    assert out[1, 0] == pytest.approx(100)  # 'high' on the first sortie
    assert out[0, 4] == pytest.approx(100)


def test_infeasible_scenario_names_the_cohort_and_the_constraint():
    d = shuttle_dict()
    d["sites"][0]["holding_capacity"] = 50  # 300 appear at once at a camp that holds 50
    d["legs"][0]["capacity_per_h"] = 10
    with pytest.raises(InfeasibleError, match=r"cohort 'all' appears at 'CAMP'.*holding_capacity"):
        solve_plan(scenario_from(d), check_binding=0)


def test_fleet_event_adds_aircraft():
    d = shuttle_dict()
    d["fleets"][0]["count"] = 1
    d["events"] = [{"kind": "fleet", "fleet": "one", "at": "+2h", "count": 3}]
    p = solve_plan(scenario_from(d), check_binding=0)
    sched = p.schedule()
    first = sched.groupby("aircraft")["dep_period"].min()
    assert (first.drop("one-01") >= 2).all()
    assert np.isclose(p.summary()["evacuated_total"], 300)


def test_people_out_per_cohort_by_the_deadline_and_per_day():
    """By hand: the shuttle from 20:00, its aircraft leaving EVAC at hours 0, 4, 8 and 12 (100
    seats each); 150 'high' and 250 'low' wait from the start. High takes the first sortie and
    half the second, low the rest of the second and the next two. The deadline (+6 h, not
    hard) falls after the second sortie; hour 0 is on 1 Jan, hours 4-12 on 2 Jan, and the
    horizon ends on 3 Jan, with nobody left to fly."""
    d = shuttle_dict()
    d["time"] = {"start": "2030-01-01T20:00:00+00:00", "horizon_h": 30, "period": "1h"}
    d["deadline"] = "+6h"
    d["cohorts"] = [
        {"name": "low", "size": 250, "origin": "CAMP", "priority": 1},
        {"name": "high", "size": 150, "origin": "CAMP", "priority": 3},
    ]
    p = solve_plan(scenario_from(d), check_binding=0)
    comp = p.completion()[["out_by_deadline", "evacuated", "left_behind"]]
    assert comp.loc["high"].tolist() == [150, 150, 0]
    assert comp.loc["low"].tolist() == [50, 250, 200]
    daily = p.daily_out()
    assert [str(x) for x in daily.index] == ["2030-01-01", "2030-01-02", "2030-01-03"]
    assert daily.to_dict("index") == {
        daily.index[0]: {"low": 0, "high": 100, "total": 100},
        daily.index[1]: {"low": 250, "high": 50, "total": 300},
        daily.index[2]: {"low": 0, "high": 0, "total": 0},
    }
    s = p.summary()
    assert [c["out_by_deadline"] for c in s["cohorts"]] == [50, 150]
    assert s["daily_out"] == [
        {"date": "2030-01-01", "total": 100, "by_cohort": {"low": 0, "high": 100}},
        {"date": "2030-01-02", "total": 300, "by_cohort": {"low": 250, "high": 50}},
        {"date": "2030-01-03", "total": 0, "by_cohort": {"low": 0, "high": 0}},
    ]
    assert s["priority"]["pairs"] == ["high > low"]
    assert s["priority"]["seats_out_of_order_people"] == 0.0
