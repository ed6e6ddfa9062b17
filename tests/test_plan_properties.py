"""Invariants of plans on random small scenarios (hypothesis).

Each check recomputes from the plan's arrays and the network, independently of the model code:
nobody is created or lost, no capacity is exceeded in any period, no aircraft is in two places,
the per-aircraft schedule adds up to the flows and respects MOG and slots, and the same input
gives the same plan.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evacops.plan import solve_plan
from evacops.plan.gates import call_forward, gate_crowds
from evacops.plan.result import largest_remainder
from tests.helpers import scenario_from

TOL = 1e-5


@st.composite
def scenarios(draw) -> dict:
    horizon = draw(st.integers(10, 20))
    n_stage = draw(st.integers(1, 2))
    opt_cap = st.one_of(st.none(), st.integers(50, 600))
    sites = [
        {"name": "CAMP", "kind": "assembly"},
        {
            "name": "GATE",
            "kind": "gate",
            "holding_capacity": draw(opt_cap),
            "crowd_area_m2": draw(st.one_of(st.none(), st.integers(20, 300))),
            "processing_rate_per_h": draw(st.one_of(st.none(), st.integers(40, 400))),
        },
        {
            "name": "EVAC",
            "kind": "airport",
            "holding_capacity": draw(opt_cap),
            "airfield": {
                "departure_slots_per_h": draw(st.one_of(st.none(), st.integers(1, 3))),
                "arrival_slots_per_h": draw(st.one_of(st.none(), st.integers(1, 3))),
                "mog": draw(st.one_of(st.none(), st.integers(1, 3))),
                "ground_time_h": {"default": draw(st.sampled_from([0, 0.5, 1, 2]))},
            },
        },
        {
            "name": "HOME",
            "kind": "destination",
            "holding_capacity": draw(st.one_of(st.none(), st.integers(100, 2000))),
        },
    ]
    legs = [
        {
            "name": "camp-gate",
            "kind": "ground",
            "origin": "CAMP",
            "destination": "GATE",
            "capacity_per_h": draw(st.one_of(st.none(), st.integers(30, 300))),
            "travel_time_h": draw(st.integers(0, 2)),
        },
        {
            "name": "gate-evac",
            "kind": "ground",
            "origin": "GATE",
            "destination": "EVAC",
            "travel_time_h": draw(st.integers(0, 1)),
        },
    ]
    air = []
    for k in range(n_stage):
        name = f"STAGE{k}"
        sites.append(
            {
                "name": name,
                "kind": "staging",
                "holding_capacity": draw(st.one_of(st.none(), st.integers(50, 800))),
                "processing_rate_per_h": draw(st.one_of(st.none(), st.integers(20, 300))),
                "airfield": {
                    "mog": draw(st.one_of(st.none(), st.integers(1, 3))),
                    "ground_time_h": {"default": draw(st.sampled_from([0.5, 1]))},
                },
            }
        )
        legs.append(
            {
                "name": f"evac-{k}",
                "kind": "air",
                "origin": "EVAC",
                "destination": name,
                "block_time_h": draw(st.sampled_from([1, 1.5, 2, 3])),
            }
        )
        air.append(f"evac-{k}")
        legs.append(
            {
                "name": f"{k}-home",
                "kind": "ground",
                "origin": name,
                "destination": "HOME",
                "capacity_per_h": draw(st.integers(20, 200)),
                "travel_time_h": draw(st.integers(1, 3)),
            }
        )
    if draw(st.booleans()):
        sites[1]["closures"] = [
            {"start": f"+{draw(st.integers(0, 5))}h", "end": f"+{draw(st.integers(6, 9))}h"}
        ]
    fleets = []
    for i in range(draw(st.integers(1, 3))):
        home = draw(st.sampled_from(["EVAC"] + [f"STAGE{k}" for k in range(n_stage)]))
        mine = [a for a in air if home == "EVAC" or a.endswith(home[-1])]
        fleets.append(
            {
                "name": f"f{i}",
                "type": draw(st.sampled_from(["small", "big"])),
                "count": draw(st.integers(1, 3)),
                "home": home,
                "legs": mine,
                "operator": draw(st.sampled_from(["red", "blue"])),
            }
        )
    for site in sites:  # validation refuses more aircraft based at a site than its MOG
        based = sum(f["count"] for f in fleets if f["home"] == site["name"])
        af = site.get("airfield")
        if af is not None and af["mog"] is not None and based > af["mog"]:
            af["mog"] = based
    cohorts = []
    for i in range(draw(st.integers(1, 2))):
        c = {
            "name": f"c{i}",
            "size": draw(st.integers(20, 700)),
            "origin": "CAMP",
            "priority": draw(st.sampled_from([1, 2, 5])),
        }
        if draw(st.booleans()):
            c["appear"] = {
                "mode": "uniform",
                "start": "+0h",
                "end": f"+{draw(st.integers(1, horizon))}h",
            }
        cohorts.append(c)
    return {
        "name": "random",
        "time": {"start": "2030-01-01T00:00:00+00:00", "horizon_h": horizon},
        "evacuation_airport": "EVAC",
        "sites": sites,
        "legs": legs,
        "aircraft_types": [
            {"name": "small", "planning_load": 90, "max_load": 100},
            {"name": "big", "planning_load": 300, "max_load": 450},
        ],
        "fleets": fleets,
        "cohorts": cohorts,
        "safe_density_per_m2": draw(st.sampled_from([1.5, 2.0, 3.0])),
    }


def check_invariants(p) -> None:
    net, sol = p.network, p.final
    C, S, T = sol.hold.shape
    hold, flow = sol.hold, sol.flow
    assert hold.min() >= -TOL and flow.min() >= -TOL and sol.sorties.min() >= -TOL

    # nobody created or lost, per cohort, site and period (recomputed from the arc arrays)
    inflow = np.zeros_like(hold)
    outflow = np.zeros_like(hold)
    for a in range(len(net.arc_name)):
        d = net.arc_delay[a]
        outflow[:, net.arc_from[a], :] += flow[:, a, :]
        inflow[:, net.arc_to[a], d:] += flow[:, a, : T - d] if d else flow[:, a, :]
    prev = np.concatenate([np.zeros((C, S, 1)), hold[:, :, :-1]], axis=2)
    assert np.allclose(hold, prev + net.appear + inflow - outflow, atol=1e-4)
    in_transit = sum(
        flow[:, a, T - net.arc_delay[a] :].sum(axis=1)
        for a in range(len(net.arc_name))
        if net.arc_delay[a] > 0
    )
    assert np.allclose(
        net.appear.sum(axis=(1, 2)), hold[:, :, -1].sum(axis=1) + in_transit, atol=1e-3
    )

    # no capacity exceeded in any period
    assert (hold.sum(axis=0) <= net.cap + TOL).all()
    for s in range(S):
        out_s = flow[:, net.arc_from == s, :].sum(axis=(0, 1))
        assert (out_s <= net.rate[s] + TOL).all()
    assert (flow.sum(axis=0) <= net.arc_cap[:, None] + TOL).all()
    k = p.sortie_counts
    assert np.allclose(sol.sorties, k, atol=1e-6)  # whole sorties after repair
    for a in np.flatnonzero(net.arc_move >= 0):
        m = net.arc_move[a]
        assert (flow[:, a, :].sum(axis=0) <= k[m] * net.fleet_load[net.move_fleet[m]] + TOL).all()

    # aircraft conserved: idle aircraft per station follow from the whole sorties, never negative
    K = len(net.stations)
    idle = sol.idle
    assert idle.min() >= -TOL
    change = np.zeros((K, T))
    change[net.fleet_home_station, 0] += net.fleet_count
    for m in range(len(net.move_fleet)):
        change[net.move_from_station[m]] -= k[m]
        r = net.move_ready[m]
        if r < T:
            change[net.move_to_station[m], r:] += k[m, : T - r]
    assert np.allclose(idle, np.cumsum(change, axis=1), atol=1e-4)

    # the per-aircraft schedule: one place at a time, and it adds up to the flows
    sched = p.schedule()
    for aircraft, rows in sched.groupby("aircraft"):
        rows = rows.sort_values("dep_period")
        fleet = rows["fleet"].iloc[0]
        fi = net.fleets.index(fleet)
        home = net.sites[net.stations[net.fleet_home_station[fi]][1]]
        assert rows["origin"].iloc[0] == home, aircraft
        assert (rows["origin"].to_numpy()[1:] == rows["destination"].to_numpy()[:-1]).all()
        assert (rows["dep_period"].to_numpy()[1:] >= rows["ready_period"].to_numpy()[:-1]).all()
    assert (
        sched["load"] <= sched["fleet"].map(dict(zip(net.fleets, net.fleet_load, strict=True)))
    ).all()
    out_sched = sched.query("direction == 'outbound'")
    for c, name in enumerate(net.cohorts):
        total = out_sched.groupby(["leg", "fleet", "dep_period"])[f"load_{name}"].sum()
        for (leg, fleet, t), people in total.items():
            a = net.arc_name.index(f"{leg}@{fleet}")
            assert abs(people - flow[c, a, t]) < 1.0 + TOL
    assert abs(out_sched["load"].sum() - flow[:, net.arc_move >= 0, :].sum()) < len(out_sched) + 1

    # slots and MOG, counted from the schedule
    for s, name in enumerate(net.sites):
        deps = np.bincount(sched.loc[sched["origin"] == name, "dep_period"], minlength=T)[:T]
        arrs = np.bincount(sched.loc[sched["destination"] == name, "arr_period"], minlength=T + 50)[
            :T
        ]
        assert (deps <= net.dep_slots[s] + TOL).all(), name
        assert (arrs <= net.arr_slots[s] + TOL).all(), name
        on_ground = np.zeros(T)
        for _, rows in sched.groupby("aircraft"):
            rows = rows.sort_values("dep_period")
            # on the ground at `name` from landing until the next departure (end of period)
            prev_arr = None
            if rows["origin"].iloc[0] == name:
                on_ground[: rows["dep_period"].iloc[0]] += 1
            for _, r in rows.iterrows():
                if prev_arr is not None:
                    on_ground[prev_arr : r["dep_period"]] += 1
                prev_arr = r["arr_period"] if r["destination"] == name else None
            if prev_arr is not None:
                on_ground[prev_arr:] += 1
        assert (on_ground <= net.mog[s] + TOL).all(), name

    # call-forward: the crowd in front of a gate never exceeds its area at the safe density;
    # the whole-people schedule adds up to the flows; everyone at once is never a smaller crowd
    safe = p.scenario.safe_density_per_m2
    gates = p.summary()["gates"]
    for g in gates:
        s = net.sites.index(g["name"])
        assert (hold[:, s, :].sum(axis=0) <= net.crowd_area[s] * safe + TOL).all()
        assert g["peak_density"] <= safe + 1e-6
    cf = call_forward(p)
    for c, name in enumerate(net.cohorts):
        a = net.arc_name.index("camp-gate")
        called = cf.loc[cf["cohort"] == name, "people"].sum()
        assert called == round(flow[c, a, :].sum())
        assert (cf["people"] > 0).all()
    for name, crowd in gate_crowds(p).items():  # one gate here: same shares, earlier arrivals
        assert (crowd["counterfactual"] >= crowd["plan"] - 1e-4).all(), name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_invariants_on_random_scenarios(d):
    p = solve_plan(scenario_from(d), check_binding=0)
    check_invariants(p)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_same_input_same_plan(d):
    sc = scenario_from(d)
    a = solve_plan(sc, check_binding=0)
    b = solve_plan(sc, check_binding=0)
    assert np.array_equal(a.final.flow, b.final.flow)
    assert np.array_equal(a.sortie_counts, b.sortie_counts)
    assert a.schedule().equals(b.schedule())


@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=6))
def test_largest_remainder_keeps_totals_and_stays_within_one(values):
    v = np.array(values)
    total = int(np.floor(v.sum() + 1e-6))
    r = largest_remainder(v, total)
    assert r.sum() == total
    assert (np.abs(r - v) < 1.0 + 1e-9).all()
