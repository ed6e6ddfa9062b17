"""The dispatch policy never sends an aircraft to be loaded where no base it flies to has room
(before, the second aircraft here flew to EVAC and sat on its ramp, held for a full base)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from helpers import scenario_from

from evacops.sim import simulate


def full_base_dict(aircraft: int = 2) -> dict:
    """300 people at CAMP; aircraft (100 seats) based at STAGE, which holds 100 people and lets
    almost nobody on (0.001 an hour): once the first load lands it is full for the day."""
    evac = {
        "name": "EVAC",
        "kind": "airport",
        "unlimited": True,
        "reason": "a test: only the staging base limits",
        "airfield": {"ground_time_h": {"default": 1}},
    }
    return {
        "name": "full-base",
        "time": {"start": "2030-01-01T00:00:00+00:00", "horizon_h": 24, "period": "1h"},
        "evacuation_airport": "EVAC",
        "sites": [
            {"name": "CAMP", "kind": "assembly"},
            evac,
            {
                "name": "STAGE",
                "kind": "staging",
                "holding_capacity": 100,
                "processing_rate_per_h": 0.001,  # almost nobody leaves within the day
                "airfield": {"ground_time_h": {"default": 1}},
            },
            {"name": "HOME", "kind": "destination", "unlimited": True, "reason": "a test"},
        ],
        "legs": [
            {
                "name": "camp-evac",
                "kind": "ground",
                "origin": "CAMP",
                "destination": "EVAC",
                "travel_time_h": 0,
            },
            {
                "name": "evac-stage",
                "kind": "air",
                "origin": "EVAC",
                "destination": "STAGE",
                "block_time_h": 1,
            },
            {
                "name": "stage-home",
                "kind": "ground",
                "origin": "STAGE",
                "destination": "HOME",
                "travel_time_h": 1,
            },
        ],
        "aircraft_types": [{"name": "T", "planning_load": 100, "max_load": 120}],
        "fleets": [
            {"name": "f", "type": "T", "count": aircraft, "home": "STAGE", "legs": ["evac-stage"]}
        ],
        "cohorts": [{"name": "all", "size": 300, "origin": "CAMP"}],
    }


def test_no_aircraft_sent_to_load_without_a_base_with_room():
    res = simulate(scenario_from(full_base_dict()), runs=1, random=False, workers=1)
    md = res.model
    rec = res.rec
    assert round(res.evacuated()[0]) == 100  # one load fills the base
    # both aircraft may be sent at the start (the base is empty and takes one load: the second
    # is not sent, since the first takes its room), so exactly one goes to EVAC and back
    assert rec["sorties_out"].sum() == 1
    assert rec["held_flights"].sum() == 0 and rec["held_aircraft_periods"].sum() == 0
    assert md.net.sites[int(md.staging[0])] == "STAGE"


def test_more_room_sends_more_aircraft():
    d = full_base_dict()
    d["sites"][2]["holding_capacity"] = 200
    res = simulate(scenario_from(d), runs=1, random=False, workers=1)
    assert round(res.evacuated()[0]) == 200 and res.rec["sorties_out"].sum() == 2
    assert res.rec["held_aircraft_periods"].sum() == 0


def test_the_airport_admits_no_more_than_it_holds_and_shares_it_by_aircraft():
    """Without a plan, the cohorts' admission quotas together never exceed the evacuation
    airport's holding capacity (on Kabul the nations' quotas alone once filled the 10,000 places
    airside and no SIV applicant got in for days); a fleet's loads are shared among the cohorts
    it may carry, so cohorts sharing the US aircraft are not each counted with all of them."""
    from evacops.scenario import load
    from evacops.sim.model import LIFT_LOADS, build_model

    md = build_model(load("scenarios/kabul-2021.yaml"))
    net = md.net
    cap = md.hold_cap[net.evac]
    assert np.isfinite(cap).all()
    assert (md.lift_quota.sum(axis=1) <= cap + 1e-6).all()
    assert (md.lift_quota >= 0).all()
    # when the US staging sites had room again (Ali Al Salem opens on 22 Aug), SIV applicants
    # may come airside at least a C-17 load at a time
    c17 = net.fleets.index("USAF C-17 Kabul")
    siv = net.cohorts.index("SIV and families")
    t = net.timeline.period_ceil(pd.Timestamp("2021-08-22T00:00:00+04:30").to_pydatetime())
    assert md.lift_quota[t, siv] >= net.fleet_load[c17]
    # a fleet's loads are shared by the cohorts it carries: the three US cohorts together
    # never get more than LIFT_LOADS loads of the aircraft that carry them
    us = [
        net.cohorts.index(c) for c in ("US citizens", "SIV and families", "Other at-risk Afghans")
    ]
    us_fleets = [f for f, name in enumerate(net.fleets) if name.startswith("USAF")]
    most = LIFT_LOADS * (net.fleet_avail[us_fleets] * net.fleet_load[us_fleets, None]).sum(axis=0)
    assert (md.lift_quota[:, us].sum(axis=1) <= most + 1e-6).all()
