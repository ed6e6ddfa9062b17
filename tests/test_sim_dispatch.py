"""The dispatch policy never sends an aircraft to be loaded where no base it flies to has room
(before, the second aircraft here flew to EVAC and sat on its ramp, held for a full base)."""

from __future__ import annotations

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
