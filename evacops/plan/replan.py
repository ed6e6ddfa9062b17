"""Re-plan the rest of the horizon from a state: where people are at a moment, and the sorties
already flown.

A :class:`State` holds, at the start of period ``at``: the people of each cohort waiting at
each site, the people on their way (on a ground leg or in the air) and the period they arrive,
the people already off the evacuation airport, and the whole sorties flown before ``at``. It
comes from a plan (:func:`state_from_plan`, :func:`state_from_folder`: the plan's own state at
that moment), and may have its people replaced by counts from the registry
(:func:`with_counts`).

The re-plan (:func:`replan`) is the plan model of the same horizon with

- the scenario's people rewritten: nobody before ``at``; the state's people appear at ``at``
  where they are; those on their way appear where and when they arrive; the scenario's own
  arrivals from ``at`` on are kept (so no variable of people exists before ``at``:
  :func:`evacops.network.reach.first_periods`);
- the sorties flown before ``at`` fixed, so every aircraft is where those sorties left it, and
  crew days, maintenance, MOG and runway windows that reach back over ``at`` count them.

The objective's weights are those of the full horizon (hours left to its end), so a re-plan from
a plan's own state at ``at`` has the rest of that plan as an optimum: its objective plus what
the plan's flows and sorties before ``at`` contributed equals the plan's (tested). Three things
of people are not carried over the moment, each stated where it is reported:
processing done before ``at`` and not yet used (the pool starts empty: stricter), the stay limit
of people at a site at ``at`` or on their way to it (their time already spent is not known;
they may stay to the end: looser), and a minimum dwell already under way at the evacuation
airport (looser).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from evacops.errors import InfeasibleError, UserError
from evacops.network import Network
from evacops.plan.result import Plan
from evacops.plan.solve import Progress, on_schedule, plan_network
from evacops.plan.tails import station_idle
from evacops.planfolder import PlanArrays
from evacops.scenario import Scenario, parse_text


@dataclass
class State:
    """Where people and aircraft are at the start of period ``at`` (arrays over the network's
    indices)."""

    at: int
    waiting: np.ndarray  # (C, S) people at each site
    arriving: np.ndarray  # (C, S, T) people on their way, by the period they arrive
    out_before: np.ndarray  # (C,) people off the evacuation airport before ``at``
    sorties: np.ndarray  # (M, T) whole sorties that left before ``at`` (zero from ``at`` on)
    source: str = "plan"

    @property
    def people(self) -> int:
        """People still to move: waiting and on their way."""
        return round(float(self.waiting.sum() + self.arriving.sum()))


def check_moment(net: Network, at: int) -> None:
    """A re-plan starts inside the horizon, after its first period."""
    if not 0 < at < net.T:
        first, last = net.timeline.time_of(1), net.timeline.time_of(net.T - 1)
        when = {"first": f"{first:%Y-%m-%d %H:%M}", "last": f"{last:%Y-%m-%d %H:%M}"}
        raise _refusal(
            "replan-moment",
            "must fall within the plan's horizon, from %(first)s to %(last)s (UTC)",
            when,
            field="at",
        )


def plan_state(
    net: Network, flow: np.ndarray, hold: np.ndarray, sorties: np.ndarray, at: int
) -> State:
    """A plan's own state at the start of period ``at``, from its flows (C, A, T), people
    waiting (C, S, T) and whole sorties (M, T): its people waiting at the end of the period
    before, its flows under way, its sorties flown."""
    check_moment(net, at)
    T = net.T
    C, S = len(net.cohorts), len(net.sites)
    arriving = np.zeros((C, S, T))
    for a in range(len(net.arc_from)):
        d = int(net.arc_delay[a])
        for t in range(max(0, at - d), at):
            if t + d < T:
                arriving[:, net.arc_to[a], t + d] += flow[:, a, t]
    out_before = flow[:, net.out_arcs, :at].sum(axis=(1, 2))
    flown = np.zeros((len(net.move_fleet), T))
    flown[:, :at] = sorties[:, :at]
    return State(at, hold[:, :, at - 1].copy(), arriving, out_before, flown)


def state_from_plan(plan: Plan, at: int) -> State:
    """The state of a plan in hand at the start of period ``at`` (its whole sorties)."""
    f = plan.final
    return plan_state(plan.network, f.flow, f.hold, plan.sortie_counts.astype(float), at)


def state_from_folder(
    net: Network, arrays: PlanArrays, at: int, summary: Mapping | None = None
) -> State:
    """The state of a plan read from its folder (:func:`evacops.planfolder.read_plan`) at the
    start of period ``at`` (the folder's people are whole: rounded as its tables are). With the
    folder's ``summary``, a re-plan's folder (it has no flows before its own moment) counts the
    people out before that moment, and a moment before it is refused."""
    state = plan_state(
        net,
        arrays.flow.transpose(2, 1, 0),  # (T, A, C) -> (C, A, T)
        arrays.hold.transpose(2, 1, 0),
        arrays.sorties.T,
        at,
    )
    earlier = None if summary is None else summary.get("replan")
    if summary is not None and earlier is not None:
        if at < int(earlier["at_period"]):
            raise UserError(
                f"this folder is a re-plan from {earlier['at']}; re-plan it from then or later, "
                "or from the plan it started from",
                field="at",
            )
        out = {c["name"]: c.get("out_before", 0) for c in summary.get("cohorts", [])}
        state.out_before = state.out_before + [out.get(c, 0) for c in net.cohorts]
    return state


def _waiting(net: Network, counts: Mapping[tuple[str, str], float]) -> np.ndarray:
    """(C, S) people from {(cohort, site): people}; cohorts and sites not in the network are
    refused."""
    waiting = np.zeros((len(net.cohorts), len(net.sites)))
    for (cohort, site), n in counts.items():
        if cohort not in net.cohorts:
            raise UserError(f"cohort {cohort!r} is not in the scenario", field="counts")
        if site not in net.sites:
            raise UserError(f"site {site!r} is not in the scenario", field="counts")
        waiting[net.cohorts.index(cohort), net.sites.index(site)] += n
    return waiting


def with_counts(
    net: Network,
    state: State,
    counts: Mapping[tuple[str, str], float],
    out_before: Mapping[str, float] | None = None,
) -> State:
    """``state`` with its people replaced by the registry's: ``counts`` {(cohort, site): people}
    waiting (people on a flight at its destination, :func:`registry_counts`), nobody else on
    their way (the plan's people in transit are the plan's, not the registry's), and with
    ``out_before`` {cohort: people} (:func:`registry_out`) the people already off the
    evacuation airport. The sorties flown stay the state's."""
    out = state.out_before
    if out_before is not None:
        out = np.array([float(out_before.get(c, 0.0)) for c in net.cohorts])
    return dataclasses.replace(
        state,
        waiting=_waiting(net, counts),
        arriving=np.zeros_like(state.arriving),
        out_before=out,
        source="registry",
    )


def registry_out(rows: list[dict]) -> dict[str, float]:
    """{cohort: people} off the evacuation airport by the registry's people by place (on a
    flight or arrived at a base)."""
    out: dict[str, float] = {}
    for r in rows:
        if r["status"] in ("in-flight", "arrived"):
            out[str(r["cohort"])] = out.get(str(r["cohort"]), 0.0) + float(r["n"])
    return out


def registry_rows(net: Network, state: State) -> list[dict]:
    """The people of ``state`` as the registry's people by place gives them (the rows
    :func:`registry_counts` reads): every person waiting, or on their way (placed at their
    destination), as ``registered`` at that site, in whole people; nobody out. A plan's own
    state handed to the service's re-plan job as if the registry had counted it (the
    benchmarks' and tests' way in)."""
    here = state.waiting + state.arriving.sum(axis=2)
    return [
        {"cohort": c, "status": "registered", "site": net.sites[j], "n": round(float(here[i, j]))}
        for i, c in enumerate(net.cohorts)
        for j in range(len(net.sites))
        if here[i, j] >= 0.5
    ]


def registry_state(
    net: Network, at: int, rows: list[dict], sorties: np.ndarray, source: str = "registry"
) -> State:
    """The state at the start of period ``at`` from the registry alone: its people by place
    (:func:`registry_counts`, :func:`registry_out`) and the whole sorties (M, T) of the plan it
    follows, those before ``at`` taken as flown (where the aircraft are)."""
    check_moment(net, at)
    flown = np.zeros((len(net.move_fleet), net.T))
    flown[:, :at] = sorties[:, :at]
    out = registry_out(rows)
    return State(
        at,
        _waiting(net, registry_counts(net, rows)),
        np.zeros((len(net.cohorts), len(net.sites), net.T)),
        np.array([out.get(c, 0.0) for c in net.cohorts]),
        flown,
        source,
    )


def sorties_from_departures(net: Network, rows: list[list]) -> np.ndarray:
    """The whole sorties (M, T) of a plan's departures as an operation keeps them: rows [time
    (the plan's own calendar, ISO), origin, destination, aircraft (``FLEET-NN``), load]
    (:func:`evacops.planfolder.plan_outline`). A row that matches no fleet, leg or period of
    ``net`` is refused."""
    moves: dict[tuple[int, int, int], int] = {}
    for m in range(len(net.move_fleet)):
        key = (int(net.move_fleet[m]), int(net.move_from[m]), int(net.move_to[m]))
        moves.setdefault(key, m)
    fleets = {f: i for i, f in enumerate(net.fleets)}
    sites = {s: i for i, s in enumerate(net.sites)}
    out = np.zeros((len(net.move_fleet), net.T))
    for i, (t, origin, dest, aircraft, _load) in enumerate(rows):
        fleet = str(aircraft).rsplit("-", 1)[0]
        move = moves.get(
            (fleets.get(fleet, -1), sites.get(str(origin), -1), sites.get(str(dest), -1))
        )
        period = net.timeline.period_of(datetime.fromisoformat(str(t)))
        if move is None or not 0 <= period < net.T:
            raise UserError(
                f"departure {i + 1} ({aircraft}, {origin} to {dest}) is not a leg of the "
                "scenario's fleets within its horizon; attach a plan made for this scenario",
                field="plan",
            )
        out[move, period] += 1
    return out


def registry_counts(net: Network, rows: list[dict]) -> dict[tuple[str, str], float]:
    """{(cohort, site): people} from the registry's people by place
    (:meth:`Registry.people_by_place <evacops.registry.service.Registry.people_by_place>`):
    registered or called forward, at their site; checked in or boarded, at the evacuation
    airport (through a gate is inside it); on a flight, at the flight's destination (counted as
    landed at the re-plan's moment); arrived, at their site."""
    counts: dict[tuple[str, str], float] = {}
    airport = net.sites[net.evac]
    for r in rows:
        status = r["status"]
        site: str | None
        if status in ("checked-in", "boarded"):
            site = airport
        elif status == "in-flight":
            site = r.get("flight_destination") or airport
        else:
            site = r.get("site")
        if not site:
            raise UserError(
                f"{r['n']} {status} people of cohort {r['cohort']!r} have no site in the "
                "registry; record where they are (a scan with its site), then re-plan",
                field="operation",
            )
        key = (str(r["cohort"]), str(site))
        counts[key] = counts.get(key, 0.0) + float(r["n"])
    return counts


def state_network(net: Network, state: State) -> Network:
    """``net`` with its people rewritten from the state (the module docs). A site holding more
    people at the moment than its capacity from then on (a base that shrank, a what-if, or the
    rounding of a plan read from its folder) is taken to hold at least those people: nobody is
    made to vanish."""
    appear = net.appear.copy()
    appear[:, :, : state.at] = 0.0
    appear[:, :, state.at] += state.waiting
    appear += state.arriving
    cap = net.cap.copy()
    there = np.ceil(state.waiting.sum(axis=0) - 1e-9)
    cap[:, state.at :] = np.maximum(cap[:, state.at :], there[:, None])
    # people there at the moment or on their way may stay to the end: their time already spent
    # is not known, and a stay clock started at the moment could leave no plan on whole
    # sorties (on Kabul it did: fewer onward seats early than the LP's fractions)
    placed = np.zeros_like(net.cap)
    placed[:, state.at] += state.waiting.sum(axis=0)
    placed += state.arriving.sum(axis=0)
    exempt = np.cumsum(placed, axis=1)
    return dataclasses.replace(
        net, appear=appear, cap=cap, stay_exempt=exempt, ground_exempt=_on_ground(net, state)
    )


def _on_ground(net: Network, state: State) -> np.ndarray | None:
    """(K, T) aircraft idle at each station at the end of the period before the moment, by the
    sorties flown, from the moment on; no row before it (inf). Like people there, they may stay
    to the end: how long they have waited is known, but an operation that kept one longer than
    an airfield's ``max_ground_h`` (the registry's flights) must still give a plan."""
    if not (net.station_wait >= 0).any():
        return None
    at = state.at
    idle = station_idle(net, state.sorties)[:, at - 1] if at > 0 else 0.0
    out = np.full((len(net.stations), net.T), np.inf)
    out[:, at:] = np.maximum(idle, 0.0)[:, None]
    return out


def what_if(
    sc: Scenario,
    at: datetime,
    close: list[str] = (),  # type: ignore[assignment]
    capacity: Mapping[str, float] | None = None,
    aircraft: Mapping[str, int] | None = None,
    departure_slots: Mapping[str, float] | None = None,
) -> Scenario:
    """``sc`` changed from ``at`` to the end of its horizon: sites closed (a gate, a base),
    holding capacities, aircraft of a fleet, an airfield's departure slots per hour. Each change
    is an event (or a slot change) of the scenario, checked as the scenario's own are: an
    unknown site or fleet gets the scenario's one-line error."""
    d = sc.model_dump(mode="json", by_alias=True, exclude_none=True)
    end = (sc.time.start + timedelta(hours=sc.time.horizon_h)).isoformat()
    when = at.isoformat()
    note = "what-if"
    events = d.setdefault("events", [])
    for site in close:
        events.append({"kind": "closure", "site": site, "start": when, "end": end, "note": note})
    for site, n in (capacity or {}).items():
        events.append(
            {"kind": "capacity", "site": site, "at": when, "holding_capacity": n, "note": note}
        )
    for fleet, n in (aircraft or {}).items():
        events.append({"kind": "fleet", "fleet": fleet, "at": when, "count": n, "note": note})
    sites = {x["name"]: x for x in d["sites"]}
    for site, rate in (departure_slots or {}).items():
        if site not in sites or "airfield" not in sites[site]:
            raise UserError(f"{site!r} is not an airfield of the scenario", field="slots")
        changes = sites[site]["airfield"].setdefault("slot_changes", [])
        changes.append({"from": when, "to": end, "departure_slots_per_h": rate})
    return parse_text(json.dumps(d), source=f"{sc.name} (what-if)")


@dataclass
class Replan:
    """A re-plan and the state it started from."""

    plan: Plan
    state: State

    def summary(self) -> dict:
        """The plan's summary, with the state and people out by the deadline counted over the
        whole operation (before the re-plan's moment and after)."""
        s = self.plan.summary()
        net, st = self.plan.network, self.state
        s["replan"] = {
            "at": net.timeline.time_of(st.at).isoformat(),
            "at_period": st.at,
            "source": st.source,
            "people_waiting": round(float(st.waiting.sum())),
            "people_on_their_way": round(float(st.arriving.sum())),
            "out_before": round(float(st.out_before.sum())),
            "not_carried_over": [
                "processing done and not yet used (starts empty: stricter)",
                "the stay limit for people at a site at the moment or on their way to it "
                "(they may stay to the end: looser)",
                "minimum dwell under way at the evacuation airport (looser)",
            ],
        }
        for row in s["cohorts"]:
            c = net.cohorts.index(row["name"])
            row["out_before"] = round(float(st.out_before[c]))
            row["out_by_deadline_total"] = row["out_before"] + row["out_by_deadline"]
        s["out_by_deadline_total"] = sum(r["out_by_deadline_total"] for r in s["cohorts"])
        return s


def replan(
    net: Network,
    state: State,
    time_limit: float | None = None,
    check_binding: int = 0,
    progress: Progress | None = None,
    plan_sorties: np.ndarray | None = None,
    window_h: float | None = None,
    on_built: Callable[[], None] | None = None,
) -> Replan:
    """Re-plan the rest of ``net``'s horizon from ``state`` (LP + repair to whole sorties).
    ``plan_sorties`` (M, T): the whole sorties of the plan being re-planned, kept from the
    moment on instead of the repair's when they keep every constraint and do better.

    ``window_h``: re-plan the aircraft only in the next ``window_h`` hours and keep the plan's
    sorties after them (none where a site is closed), the people over the whole horizon: a
    rolling horizon, seconds where the whole re-plan takes minutes (the LP, most of its
    sorties fixed, by the dual simplex). Its LP bound is the window's: no schedule that keeps
    the plan's sorties after the window does better; the whole re-plan may. Every aircraft is
    then held to its crew from the moment on (:mod:`evacops.plan.tails`), after the window too:
    the window's new sorties may give the kept ones other aircraft, and a sortie none of them
    may fly is dropped there as anywhere. ``on_built``: called once its LP's model is built,
    before the solve."""
    mask = np.zeros((len(net.move_fleet), net.T), dtype=bool)
    mask[:, : state.at] = True
    fixed, end = state.sorties, None
    candidate = None if plan_sorties is None else _with_flown(state, plan_sorties)
    if window_h is not None:
        if candidate is None:
            raise UserError("a window re-plan keeps a plan's sorties after it: give the plan")
        end = window_end(net, state.at, window_h)
        mask[:, end:] = True
        fixed = np.where(net.move_open, np.round(candidate), 0.0)
    try:
        p = plan_network(
            state_network(net, state),
            time_limit=time_limit,
            # a window's LP fixes the plan's sorties after it: its duals price that schedule's
            # limits, not the operation's, so it names no bottleneck
            check_binding=-1 if window_h is not None else check_binding,
            progress=progress,
            fixed=(mask, fixed),
            candidate=candidate,
            simplex=window_h is not None,
            on_built=on_built,
            moment=state.at,
        )
    except InfeasibleError as e:
        if window_h is None:
            raise
        raise _refusal(
            "window-not-fit",
            "the plan's sorties after the first %(hours)s h do not fit this state (fewer "
            "aircraft or slots, or people who cannot all be held); re-plan with a longer "
            "window, or without one",
            {"hours": f"{window_h:g}"},
            field="window",
        ) from e
    p.moment = state.at
    p.window_end = end
    return Replan(p, state)


def window_end(net: Network, at: int, window_h: float) -> int:
    """The first period after a re-plan window of ``window_h`` hours from period ``at`` (at
    least one period; at most the horizon's end)."""
    if not window_h > 0:
        raise UserError(
            f"a re-plan window of {window_h:g} h: give a number of hours above 0", field="window"
        )
    return min(net.T, at + max(1, int(np.ceil(window_h / net.period_h - 1e-9))))


def replan_people(
    net: Network,
    state: State,
    plan_sorties: np.ndarray,
    progress: Progress | None = None,
    on_built: Callable[[], None] | None = None,
) -> Replan:
    """Re-plan the people alone from ``state``, on the whole sorties of the plan being
    re-planned (``plan_sorties``, M x T; before the moment, the state's): where each person
    waits, which gate calls whom, who boards which sortie. Every aircraft flies as that plan
    said, so it takes one LP of people (seconds where the full re-plan takes minutes) and its
    people flows are optimal for that schedule; there is no LP bound, since the aircraft are
    not re-planned. A one-line error names the first sortie the state or a what-if rules out
    (a closed base, fewer aircraft or slots): then re-plan the aircraft too (:func:`replan`).
    ``on_built``: called once its model is built, before the solve."""
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    sorties = np.round(_with_flown(state, plan_sorties))
    rnet = state_network(net, state)
    say("solving the people flows on the plan's sorties")
    try:
        sol = on_schedule(rnet, sorties, on_built)
    except InfeasibleError:
        raise _not_kept(rnet, sorties, state) from None
    p = Plan(network=rnet, lp=sol, final=sol, integer=False, schedule_kept=True)
    p.moment = state.at
    p.wall_s = time.perf_counter() - t0
    return Replan(p, state)


def _with_flown(state: State, plan_sorties: np.ndarray) -> np.ndarray:
    """(M, T) the state's sorties before its moment (flown), the plan's from then on."""
    return np.where(np.arange(plan_sorties.shape[1]) < state.at, state.sorties, plan_sorties)


KEEP_FIX = "re-plan the aircraft too (without keep-schedule)"


def _not_kept(net: Network, sorties: np.ndarray, state: State) -> UserError:
    """Why the schedule cannot be kept, as an error with a refusal code and the values its
    words need (a page words it in its language, :mod:`evacops.web.refusals`): the first
    period a fleet has more aircraft away from home than are available by the sorties flown
    before the moment alone (no plan can keep that), the first sortie flown where its move may
    not depart (a closed site), the first period the schedule has more away than available;
    else the other limits together (slots, capacities)."""
    flown = _first_over(net, away_from_home(net, state.sorties), state.at)
    if flown is not None:
        return _refusal(
            "schedule-flown-over",
            "the sorties flown before the moment leave %(count)s aircraft of %(fleet)s away "
            "from home at %(time)s (%(hours)s h from the moment), where this state leaves "
            "%(left)s; no plan keeps that: change the aircraft from a later moment",
            flown,
        )
    for m, t in zip(*np.nonzero((sorties > 0.5) & ~net.move_open), strict=True):
        return _refusal(
            "schedule-site-closed",
            "the plan's schedule flies %(move)s at %(time)s (%(hours)s h from the moment), "
            f"which this state rules out (a site closed); {KEEP_FIX}",
            {"move": net.move_names[m], **_when(net, int(t), state.at)},
        )
    over = _first_over(net, away_from_home(net, sorties), state.at)
    if over is not None:
        return _refusal(
            "schedule-fleet-over",
            "the plan's schedule has %(count)s aircraft of %(fleet)s away from home at "
            "%(time)s (%(hours)s h from the moment), where this state leaves %(left)s; "
            f"{KEEP_FIX}",
            over,
        )
    return _refusal(
        "schedule-not-fit",
        "the plan's schedule does not fit this state (fewer slots, or people who cannot all "
        f"be held); {KEEP_FIX}",
        {},
    )


def _refusal(
    code: str, words: str, params: dict[str, str], field: str = "keep_schedule"
) -> UserError:
    """An error with a refusal ``code`` and the ``params`` its ``words`` take (``%(name)s``):
    a page words it in its language (:data:`evacops.web.refusals.REPLAN_MESSAGES`)."""
    return UserError(words % params, field=field, code=code, params=params)


def _when(net: Network, t: int, at: int) -> dict[str, str]:
    """Period ``t`` (time, and hours from the moment ``at``): a re-plan in the service runs on
    the plan's own calendar, which may not be the operation's."""
    hours = (t - at) * net.period_h
    return {"time": f"{net.timeline.time_of(t):%Y-%m-%d %H:%M}", "hours": f"{hours:+g}"}


def _first_over(net: Network, away: np.ndarray, at: int) -> dict[str, str] | None:
    """The first period a fleet has more aircraft ``away`` (F, T) than available: the values
    a refusal's words need."""
    over = np.argwhere(away > net.fleet_avail + 1e-6)
    if not len(over):
        return None
    f, t = over[np.argmin(over[:, 1])]
    return {
        "count": f"{away[f, t]:.0f}",
        "fleet": net.fleets[f],
        "left": f"{net.fleet_avail[f, t]:.0f}",
        **_when(net, int(t), at),
    }


def away_from_home(net: Network, sorties: np.ndarray) -> np.ndarray:
    """(F, T) aircraft of each fleet not idle at its home station at the end of each period,
    under whole ``sorties`` (M, T): gone on a sortie from home, not yet ready back there."""
    home_idle = station_idle(net, sorties)[net.fleet_home_station]
    return net.fleet_count[:, None] - home_idle
