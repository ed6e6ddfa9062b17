"""Invariants of plans on random small scenarios (hypothesis).

Each check recomputes from the plan's arrays and the network, independently of the model code:
nobody is created or lost, no capacity is exceeded in any period, no aircraft is in two places,
the per-aircraft schedule adds up to the flows and respects MOG, slots and runway movements
(rates that change over time, never bunched beyond the hour), crews' sorties per day and
maintenance down time are kept, nobody stays longer than a site allows or leaves the evacuation
airport before the minimum dwell, nobody flies with an operator their cohort may not use, nobody
leaves after a hard deadline, and the same input gives the same plan.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evacops.network.limits import processed_pool
from evacops.plan import solve_plan
from evacops.plan.gates import call_forward, gate_crowds
from evacops.plan.result import largest_remainder
from tests.helpers import scenario_from

TOL = 1e-5


def _hold(site: dict, capacity: int | None) -> dict:
    """A site holds ``capacity`` people, or is unlimited with a reason (a site that receives
    people must say which)."""
    if capacity is None:
        site.update(unlimited=True, reason="random scenario: no limit")
    else:
        site["holding_capacity"] = capacity
    return site


@st.composite
def scenarios(draw) -> dict:
    horizon = draw(st.integers(10, 20))
    n_stage = draw(st.integers(1, 2))
    opt_cap = st.one_of(st.none(), st.integers(50, 600))
    rate = st.one_of(st.none(), st.sampled_from([1, 2, 3, 1.5]))
    gate = {
        "name": "GATE",
        "kind": "gate",
        "crowd_area_m2": draw(st.one_of(st.none(), st.integers(20, 300))),
        "processing_rate_per_h": draw(st.one_of(st.none(), st.integers(40, 400))),
    }
    gate_cap = draw(opt_cap)
    if gate_cap is not None or gate["crowd_area_m2"] is None:
        _hold(gate, gate_cap)
    airfield = {
        "departure_slots_per_h": draw(rate),
        "arrival_slots_per_h": draw(rate),
        "movements_per_h": draw(st.one_of(st.none(), st.integers(2, 4))),
        "mog": draw(st.one_of(st.none(), st.integers(1, 3))),
        "ground_time_h": {"default": draw(st.sampled_from([0, 0.5, 1, 2]))},
    }
    if draw(st.booleans()):
        a = draw(st.integers(0, 6))
        airfield["slot_changes"] = [
            {
                "from": f"+{a}h",
                "to": f"+{a + draw(st.integers(1, 6))}h",
                "departure_slots_per_h": draw(st.sampled_from([1, 1.5, 2])),
                "movements_per_h": draw(st.one_of(st.none(), st.sampled_from([1, 2, 2.5]))),
            }
        ]
    evac = _hold({"name": "EVAC", "kind": "airport"}, draw(opt_cap))
    evac["min_dwell_h"] = draw(st.one_of(st.none(), st.sampled_from([1, 2])))
    evac["airfield"] = airfield
    home = {"name": "HOME", "kind": "destination"}
    sites = [
        {"name": "CAMP", "kind": "assembly"},
        gate,
        evac,
        _hold(home, draw(st.one_of(st.none(), st.integers(100, 2000)))),
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
        stage = {
            "name": name,
            "kind": "staging",
            "processing_rate_per_h": draw(st.one_of(st.none(), st.integers(20, 300))),
            "max_stay_h": draw(st.one_of(st.none(), st.integers(1, 8))),
            "airfield": {
                "mog": draw(st.one_of(st.none(), st.integers(1, 3))),
                "ground_time_h": {"default": draw(st.sampled_from([0.5, 1]))},
            },
        }
        sites.append(_hold(stage, draw(st.one_of(st.none(), st.integers(50, 800)))))
        legs.append(
            {
                "name": f"evac-{k}",
                "kind": "air",
                "origin": "EVAC",
                "destination": name,
                "block_time_h": draw(st.sampled_from([1, 1.5, 2, 3])),
                "surge_load": draw(st.booleans()),
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
                "max_sorties_per_day": draw(st.one_of(st.none(), st.integers(2, 8))),
                "maintenance_down_fraction": draw(st.sampled_from([0, 0.2, 0.5])),
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
        if draw(st.booleans()):  # a nation's own list: flown only by that operator
            c["operators"] = [draw(st.sampled_from(sorted({f["operator"] for f in fleets})))]
        if draw(st.booleans()):
            c["appear"] = {
                "mode": "uniform",
                "start": "+0h",
                "end": f"+{draw(st.integers(1, horizon))}h",
            }
        cohorts.append(c)
    deadline = {}
    if draw(st.booleans()):
        deadline = {"deadline": f"+{draw(st.integers(4, horizon))}h", "deadline_hard": True}
    return {
        **deadline,
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
        if net.pooled[s]:  # processed while waiting: out <= processed before + rate
            pool = processed_pool(net.rate[s], out_s, hold[:, s].sum(axis=0))
            assert (out_s <= np.concatenate([[0.0], pool[:-1]]) + net.rate[s] + TOL).all()
        else:
            assert (out_s <= net.rate[s] + TOL).all()
    assert (flow.sum(axis=0) <= net.arc_cap[:, None] + TOL).all()
    k = p.sortie_counts
    assert np.allclose(sol.sorties, k, atol=1e-6)  # whole sorties after repair
    seats = _seats(p.scenario)  # (leg, fleet) -> seats per sortie, from the scenario itself
    for a in np.flatnonzero(net.arc_move >= 0):
        m = net.arc_move[a]
        n = seats[(net.move_leg[m], net.fleets[net.move_fleet[m]])]
        assert (flow[:, a, :].sum(axis=0) <= k[m] * n + TOL).all()

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
    # (a re-plan's sorties flown before its moment carry no loads: its people start there)
    loaded = sched[~sched["flown_before_replan"]] if "flown_before_replan" in sched else sched
    out_rows = loaded.query("direction == 'outbound'")
    most = [seats[(leg, f)] for leg, f in zip(out_rows["leg"], out_rows["fleet"], strict=True)]
    assert (out_rows["load"].to_numpy() <= np.array(most)).all()
    assert (loaded.query("direction == 'back'")["load"] == 0).all()
    out_sched = loaded.query("direction == 'outbound'")
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
        _check_runway(p.scenario, name, deps, arrs, net.timeline)
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


def _seats(sc) -> dict[tuple[str, str], int]:
    """Seats per sortie of each (leg, fleet): the type's max load on a surge leg, else its
    planning load."""
    types = {t.name: t for t in sc.aircraft_types}
    out = {}
    for f in sc.fleets:
        for leg in sc.legs:
            t = types[f.type]
            out[(leg.name, f.name)] = t.max_load if leg.surge_load else t.planning_load
    return out


def _rates(sc, name: str, field: str, T: int) -> np.ndarray:
    """A site's rate per hour in each (1 h) period, from the scenario: the airfield's own,
    replaced within its slot changes."""
    af = sc.site(name).airfield
    r = np.full(T, np.inf)
    if af is None:
        return r
    if getattr(af, field) is not None:
        r[:] = getattr(af, field)
    tl = sc.timeline()
    for ch in af.slot_changes:
        if getattr(ch, field) is not None:
            r[max(0, tl.period_ceil(ch.from_)) : max(0, tl.period_ceil(ch.to))] = getattr(ch, field)
    return r


def _check_runway(sc, name: str, deps: np.ndarray, arrs: np.ndarray, tl) -> None:
    """Departures, arrivals and both together: within any hour at most the rate rounded up (no
    bunching), within any two hours at most the two hours' rates (every rate drawn is whole
    over 2 h)."""
    for field, count in (
        ("departure_slots_per_h", deps),
        ("arrival_slots_per_h", arrs),
        ("movements_per_h", deps + arrs),
    ):
        r = _rates(sc, name, field, len(count))
        assert (count <= np.ceil(r - 1e-9) + TOL).all(), (name, field, count, r)
        two = count[1:] + count[:-1]
        assert (two <= r[1:] + r[:-1] + TOL).all(), (name, field, count, r)


def _arrived(net, flow, s: int) -> np.ndarray:
    """People who have arrived at site s by the end of each period (appearing included)."""
    T = flow.shape[-1]
    inflow = net.appear[:, s, :].sum(axis=0)
    for a in np.flatnonzero(net.arc_to == s):
        d = net.arc_delay[a]
        inflow[d:] += flow[:, a, : T - d].sum(axis=0)
    return np.cumsum(inflow)


def _window_sum(x: np.ndarray, w: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x)])
    return c[1:] - c[np.maximum(np.arange(1, len(x) + 1) - w, 0)]


def check_limits(p) -> None:
    """Crews, maintenance, stays, minimum dwell, operators and a hard deadline (1 h periods)."""
    net, sol, sc = p.network, p.final, p.scenario
    T, k = net.T, p.sortie_counts
    ends = list(range((T - 1) % 3, T, 3))  # the 24 h windows end every 3 h, the last at the end
    for fi, f in enumerate(sc.fleets):
        mine = net.move_fleet == fi
        most = np.array([net.fleet_avail[fi, max(0, t - 23) : t + 1].max() for t in range(T)])
        if f.max_sorties_per_day is not None:  # sorties in 24 h
            day = _window_sum(k[mine].sum(axis=0), 24)
            assert (day[ends] <= f.max_sorties_per_day * most[ends] + TOL).all(), f.name
        if f.maintenance_down_fraction > 0:  # hours in use (block + ground) in 24 h
            used = _window_sum((k[mine] * net.move_ready[mine][:, None]).sum(axis=0), 24)
            cap = (1 - f.maintenance_down_fraction) * 24 * most
            assert (used[ends] <= cap[ends] + TOL).all(), f.name
    for s, site in enumerate(sc.sites):
        if site.max_stay_h is None and site.min_dwell_h is None:
            continue
        arrived = _arrived(net, sol.flow, s)
        held = sol.hold[:, s, :].sum(axis=0)
        if site.max_stay_h is not None:  # arrived max_stay periods ago (arrival counts): gone
            lag = int(np.floor(site.max_stay_h + 1e-9)) - 1
            before = np.concatenate([np.zeros(lag), arrived[: T - lag]]) if lag else arrived
            assert (held <= arrived - before + 1e-4).all(), site.name
        if site.min_dwell_h is not None:  # arrived in the last min_dwell periods: still there
            lag = int(np.ceil(site.min_dwell_h - 1e-9))
            before = np.concatenate([np.zeros(lag), arrived[: T - lag]])
            assert (held >= arrived - before - 1e-4).all(), site.name
    operator = {f.name: f.operator for f in sc.fleets}
    for c, cohort in enumerate(sc.cohorts):
        if cohort.operators is None:
            continue
        for a in np.flatnonzero(net.arc_move >= 0):
            if operator[net.fleets[net.move_fleet[net.arc_move[a]]]] not in cohort.operators:
                assert sol.flow[c, a, :].max() <= TOL, (cohort.name, net.arc_name[a])
    if sc.deadline_hard:
        dl = net.timeline.period_ceil(sc.deadline)
        assert sol.flow[:, net.out_arcs, dl:].max(initial=0.0) <= TOL
        for m in np.flatnonzero(net.move_to == net.evac):
            landed = np.arange(T) + net.move_land[m]
            assert k[m][landed >= dl].sum() == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_invariants_on_random_scenarios(d):
    p = solve_plan(scenario_from(d), check_binding=0)
    check_invariants(p)
    check_limits(p)


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
