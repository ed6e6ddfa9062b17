"""Crews held aircraft by aircraft (evacops/plan/tails.py) on synthetic fleets, without the LP:
random airfields and legs, at most one airfield that limits time on the ground (as Kabul), a
re-plan's moment, parking cut to what the sorties themselves need. The sorties come from
aircraft flown one by one on random routes, so they are a fleet's balanced flow that keeps
every limit on the ground; then the hold drops what the crews cannot fly, and every aircraft of
the schedule is followed here, independently of the rule:

- it leaves from where it is, once ready, and within the limit on the ground;
- it departs at most ``floor(max_sorties_per_day)`` times in any 24 hours, except in 24 hours
  that hold a sortie flown before the moment, or where a drop was not made for parking;
- only sorties from the moment on are dropped, and no airfield is parked over its MOG;
- the schedule printed (the rule without holding) is the last round's, aircraft by aircraft.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from evacops.plan.tails import assign_tails, hold_crews, on_ground, parking_over, station_idle
from tests.test_plan_tails import follow


def _network(rng: np.random.Generator, T: int) -> SimpleNamespace:
    S = int(rng.integers(2, 5))
    limited = int(rng.integers(0, S)) if rng.random() < 0.7 else -1  # the one with a limit
    wait = int(rng.integers(0, 3))
    F = int(rng.integers(1, 3))
    stations: list[tuple[int, int]] = []
    waits, homes, counts, rates = [], [], [], []
    mv: dict[str, list[int]] = defaultdict(list)
    for f in range(F):
        home = int(rng.choice([s for s in range(S) if s != limited]))
        at = {}
        for s in range(S):
            at[s] = len(stations)
            stations.append((f, s))
            waits.append(wait if s == limited else -1)
        homes.append(at[home])
        for a in range(S):
            for b in range(S):
                # a way out of every airfield (two of the one with a limit on the ground)
                if a != b and (a == limited or b == (a + 1) % S or rng.random() < 0.8):
                    land = int(rng.integers(1, 4))
                    for key, v in (
                        ("fleet", f),
                        ("from", a),
                        ("to", b),
                        ("land", land),
                        ("ready", land + int(rng.integers(0, 3))),
                        ("from_station", at[a]),
                        ("to_station", at[b]),
                    ):
                        mv[key].append(v)
        counts.append(float(rng.integers(1, 5)))
        rates.append(float(rng.choice([2.0, 2.5, 3.0, 4.0, np.inf])))
    return SimpleNamespace(
        T=T,
        period_h=1.0,
        sites=[f"S{s}" for s in range(S)],
        fleets=[f"f{f}" for f in range(F)],
        stations=stations,
        station_wait=np.array(waits),
        fleet_home_station=np.array(homes),
        fleet_count=np.array(counts),
        fleet_avail=np.repeat(np.array(counts)[:, None], T, axis=1),
        fleet_sorties_day=np.array(rates),
        mog=np.full(S, np.inf),
        **{f"move_{k}": np.array(v) for k, v in mv.items()},
    )


def _routes(net: SimpleNamespace, rng: np.random.Generator) -> np.ndarray:
    """Whole sorties (M, T) of every aircraft flown on a random route from home: from where it
    is, once ready, within the limit on the ground (then it must leave)."""
    y = np.zeros((len(net.move_fleet), net.T), dtype=int)
    for f in range(len(net.fleets)):
        mine = np.flatnonzero(net.move_fleet == f)
        for _ in range(int(net.fleet_count[f])):
            where = net.stations[net.fleet_home_station[f]][1]
            t = int(rng.integers(0, 6))
            while t < net.T:
                out = mine[net.move_from[mine] == where]
                m = int(rng.choice(out))
                y[m, t] += 1
                where = int(net.move_to[m])
                w = net.station_wait[net.move_to_station[m]]
                t += int(net.move_ready[m]) + int(rng.integers(0, w + 1 if w >= 0 else 6))
    return y


@st.composite
def fleets(draw) -> tuple[SimpleNamespace, np.ndarray, int]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    net = _network(rng, draw(st.integers(30, 80)))
    y0 = _routes(net, rng)
    if draw(st.booleans()):  # parking cut to the most the sorties themselves put there
        net.mog = on_ground(net, y0).max(axis=1)
    moment = draw(st.sampled_from([0, 0, 10, 25]))
    return net, y0, moment


def _follow(net, picks: dict) -> tuple[list[str], dict]:
    """What stops an aircraft flying its legs (:func:`tests.test_plan_tails.follow`), and
    each aircraft's departures."""
    legs: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for (m, t), aircraft in picks.items():
        for a in aircraft:
            legs[(int(net.move_fleet[m]), a)].append((t, m))
    found = [x for (f, a), mine in legs.items() for x in follow(net, f"f{f}-{a}", mine)]
    return found, {k: sorted(t for t, _ in v) for k, v in legs.items()}


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(fleets())
def test_every_aircraft_of_a_held_schedule_can_fly_it_within_its_crew(case):
    net, y0, moment = case
    assert not parking_over(net, y0).any() and not _follow(net, assign_tails(net, y0).picks)[0]
    y, kept_over = hold_crews(net, y0, moment)  # (the drops not made for parking)
    assert (y <= y0).all() and np.array_equal(y[:, :moment], y0[:, :moment])
    assert (station_idle(net, y) >= -1e-9).all() and not parking_over(net, y).any()
    last = assign_tails(net, y, moment, hold=True, keep=kept_over)
    assert not last.dropped.any() and last.picks == assign_tails(net, y).picks
    found, deps = _follow(net, last.picks)
    assert found == []
    over = 0
    for (f, _a), d in deps.items():
        most = np.floor(net.fleet_sorties_day[f] + 1e-9)
        for t in d:
            window = [x for x in d if t <= x < t + 24]
            if len(window) > most and window[0] >= moment:
                over += 1
    assert over == 0 or kept_over
    event(f"dropped: {'some' if (y < y0).any() else 'none'}")
    event(f"not dropped for parking: {'some' if kept_over else 'none'}")
