"""The repair prices a person waiting for an onward seat at a staging base as one waiting to
leave the evacuation airport (:func:`evacops.plan.objective.repair_value`): a fleet that flies
both legs (as the French A400Ms fly Kabul-Al Dhafra and Al Dhafra-Paris) must fly its onward
legs in time, or the hub's stay limit turns its evacuation seats into empty ones."""

from __future__ import annotations

import numpy as np
import pytest

from evacops.network import compile_network
from evacops.plan import solve_plan
from evacops.plan.objective import repair_value, seat_value
from tests.helpers import scenario_from, set_capacity, shuttle_dict

LOAD = 100


def _hub(stay_h: float, cap: int, horizon_h: int, onward_h: float, aircraft: int) -> dict:
    """The shuttle with its fleet based at the staging site (a national hub) flying the
    evacuation leg and an onward leg home by air; the hub holds ``cap`` people for at most
    ``stay_h`` hours."""
    d = shuttle_dict()
    d["time"]["horizon_h"] = horizon_h
    sites = {s["name"]: s for s in d["sites"]}
    set_capacity(sites["STAGE"], cap)["max_stay_h"] = stay_h
    sites["HOME"]["airfield"] = {"ground_time_h": {"default": 1}}
    onward = {"name": "stage-home", "kind": "air", "origin": "STAGE", "destination": "HOME"}
    d["legs"] = [lg for lg in d["legs"] if lg["name"] != "stage-home"]
    d["legs"].append({**onward, "block_time_h": onward_h})
    d["aircraft_types"] = [{"name": "T", "planning_load": LOAD, "max_load": LOAD}]
    d["fleets"] = [
        {"name": "own", "type": "T", "count": aircraft, "home": "STAGE",
         "legs": ["evac-stage", "stage-home"]}
    ]  # fmt: skip
    d["cohorts"][0]["size"] = 3000
    return d


def test_an_onward_seat_is_worth_at_least_a_seat_out_in_the_same_period():
    net = compile_network(scenario_from(_hub(8, 200, 48, 4, 2)))
    value, plan = repair_value(net), seat_value(net)
    air = net.arc_move >= 0
    out, onward = net.out_arcs & air, air & ~net.out_arcs
    assert onward.any() and out.any()
    assert (value >= np.maximum(plan, 1.0)).all()
    assert (value[onward] >= plan[out].max(axis=0)).all()
    # and the plan's own objective is unchanged: only the repair prices it so
    assert (value[out] == np.maximum(plan[out], 1.0)).all()


@pytest.mark.parametrize("hub", [(8, 200, 48, 4, 2), (5, 200, 30, 2.5, 1)])
def test_a_fleet_flying_both_legs_flies_its_onward_legs_in_time(hub):
    """Priced as the plan prices them (delivery only), the repair put off the onward legs: on
    the first hub 600 people out where the LP has 849, on the second 100 where it has 286.
    Now the whole sorties get out all but less than one aircraft load of the LP's people."""
    plan = solve_plan(scenario_from(_hub(*hub)), check_binding=-1)
    net = plan.network
    lp_out = plan.lp.flow[:, net.out_arcs].sum()
    out = plan.final.flow[:, net.out_arcs].sum()
    assert out >= lp_out - LOAD + 1e-6, (out, lp_out)
