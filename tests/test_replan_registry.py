"""A re-plan's state from the registry: the people by place match the registry's report, the API
answers as the CLI's ``--operation`` reads it, and the state puts each person where a re-plan
must start them (checked in or boarded: at the evacuation airport; in flight: at the flight's
destination). SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set. Generated people."""

from __future__ import annotations

import pytest
from conftest import OPERATION
from test_web_support import World

from evacops.plan import solve_plan
from evacops.plan.replan import registry_counts, replan, state_from_plan, with_counts
from evacops.registry import events as ev
from evacops.registry.generate import EXAMPLE_CATEGORIES
from tests.helpers import scenario_from


@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def _moved(world: World) -> dict[str, str]:
    """Three people through Gate A, one of them boarded and flown to Al Udeid."""
    ids = world.ids[:3]
    for pid in ids:
        world.admin.scan(OPERATION, world.payload[pid], "gate-in", site="Gate A")
    world.admin.add_flight(OPERATION, "RP1", origin="HKIA", destination="Al Udeid", seats=10)
    world.admin.scan(OPERATION, world.payload[ids[0]], "board", flight="RP1", override="test")
    world.admin.depart(OPERATION, "RP1")
    return {"flown": ids[0]}


def _scenario() -> dict:
    unlimited = {"unlimited": True, "reason": "test"}
    cohorts = sorted({c for c, _ in EXAMPLE_CATEGORIES.values()})
    return {
        "name": "registry-replan",
        "time": {"start": "2030-01-01T00:00:00+00:00", "horizon_h": 12, "period": "1h"},
        "evacuation_airport": "HKIA",
        "sites": [
            {"name": "Assembly", "kind": "assembly"},
            {"name": "Gate A", "kind": "gate", **unlimited},
            {"name": "HKIA", "kind": "airport", **unlimited, "airfield": {}},
            {"name": "Al Udeid", "kind": "staging", **unlimited, "airfield": {}},
            {"name": "Dulles", "kind": "destination", **unlimited},
        ],
        "legs": [
            {
                "name": "walk",
                "kind": "ground",
                "origin": "Assembly",
                "destination": "Gate A",
                "travel_time_h": 1,
            },
            {
                "name": "in",
                "kind": "ground",
                "origin": "Gate A",
                "destination": "HKIA",
                "travel_time_h": 0,
            },
            {
                "name": "out",
                "kind": "air",
                "origin": "HKIA",
                "destination": "Al Udeid",
                "block_time_h": 2,
            },
            {
                "name": "on",
                "kind": "ground",
                "origin": "Al Udeid",
                "destination": "Dulles",
                "travel_time_h": 1,
            },
        ],
        "aircraft_types": [{"name": "T", "planning_load": 20, "max_load": 25}],
        "fleets": [{"name": "c17", "type": "T", "count": 1, "home": "HKIA", "legs": ["out"]}],
        "cohorts": [{"name": c, "size": 10, "origin": "Assembly"} for c in cohorts],
    }


def test_people_by_place_match_the_report_and_the_api(world: World):
    _moved(world)
    rows = world.admin.people_by_place(OPERATION)
    report = world.admin.report(OPERATION)
    active = sum(report["by_status"].get(s, 0) for s in ev.ACTIVE)
    assert sum(r["n"] for r in rows) == active == len(world.ids)
    by_cohort: dict[str, int] = {}
    for r in rows:
        by_cohort[r["cohort"]] = by_cohort.get(r["cohort"], 0) + r["n"]
    assert by_cohort == report["by_cohort"]
    flying = [r for r in rows if r["status"] == "in-flight"]
    assert len(flying) == 1 and flying[0]["flight_destination"] == "Al Udeid"
    assert flying[0]["n"] == 1
    # a planner reads the same through the API (what `evacops replan --operation` asks)
    r = world.client().get(
        f"/api/v1/operations/{OPERATION}/people-by-place", headers=world.auth("planner")
    )
    assert r.status_code == 200
    key = lambda x: sorted((d["cohort"], d["status"], str(d["site"])) for d in x)  # noqa: E731
    assert key(r.json()) == key(rows)
    assert not ({"given_name", "family_name", "document"} & set(r.json()[0]))


def test_the_registry_state_puts_people_where_a_replan_starts_them(world: World):
    _moved(world)
    rows = world.admin.people_by_place(OPERATION)
    p = solve_plan(scenario_from(_scenario()), check_binding=0)
    net = p.network
    counts = registry_counts(net, rows)
    state = with_counts(net, state_from_plan(p, 4), counts)
    site = {n: i for i, n in enumerate(net.sites)}
    assert state.waiting.sum() == len(world.ids)
    # checked in, not flown (2), and registered, not yet scanned anywhere: at the operation's
    # origin site, which is HKIA in the test operation
    assert state.waiting[:, site["HKIA"]].sum() == len(world.ids) - 1
    assert state.waiting[:, site["Al Udeid"]].sum() == 1  # in flight: at its destination
    assert state.waiting[:, site["Assembly"]].sum() == 0
    r = replan(net, state)
    assert r.summary()["replan"]["source"] == "registry"
    # the registry's people are all the people there are at the moment: the plan's own people
    # on their way are not added to them
    assert state.arriving.sum() == 0
    assert r.plan.network.appear[:, :, 4].sum() == pytest.approx(
        len(world.ids) + net.appear[:, :, 4].sum()
    )
