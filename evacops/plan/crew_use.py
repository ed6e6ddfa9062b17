"""Crews aircraft by aircraft: what the plan's crew rate allows and what each aircraft flies.

The plan holds every aircraft to its crew (:mod:`evacops.plan.tails`), so a plan's count here
is nothing over unless it was made with ``hold_crews=False`` (``--fleet-crews``), is a re-plan
whose sorties flown before its moment put an aircraft over, left a sortie to an aircraft beyond
its crew rather than hold it where parking is full or away from home when due there
(``held.sorties_over_crew``), or could not be held at all (``held.kept`` false); ``held`` says
what holding cost.

The planner's crew limit (``max_sorties_per_day``, :mod:`evacops.plan.limits`) is a rate for a
fleet as a whole: its sorties in 24-hour windows that end every 3 hours are at most the rate
times its aircraft. Aircraft of a fleet are interchangeable in the model, so nothing holds one
aircraft to the rate, and a window that ends every 3 hours lets any 24 hours hold what the
fleet flies in 3 more. A planner who reads the per-aircraft schedule will count; this counts
first, from the schedule (:meth:`evacops.plan.result.Plan.schedule`), so that the plan says
itself where its crews are optimistic:

- ``aircraft_over``: each aircraft of a limited fleet whose departures in some 24 hours (any
  ``round(24 / period_h)`` consecutive periods) outnumber its fleet's rate per aircraft;
- ``fleets_over``: each limited fleet whose departures in some 24 hours outnumber the rate
  times the most aircraft it had available in them (what the planner's windows allow when they
  end in that period).

Sorties flown before a re-plan's moment count: the crews flew them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

import numpy as np

from evacops.network.limits import day_windows

if TYPE_CHECKING:
    from evacops.plan.result import Plan


def most_in_window(periods: np.ndarray, w: int) -> int:
    """The most of ``periods`` (departure periods, any order) within ``w`` consecutive
    periods."""
    d = np.sort(np.asarray(periods, dtype=np.int64))
    if d.size == 0:
        return 0
    return int((np.searchsorted(d, d + w, side="left") - np.arange(d.size)).max())


def _relative(flown: float, allowed: float) -> float:
    """Minus the share by which ``flown`` exceeds ``allowed`` (a sort key: the worst first)."""
    return (allowed - flown) / max(allowed, 1e-9)


def crew_use(plan: Plan) -> dict[str, Any] | None:
    """The plan's sorties per aircraft and per fleet in any 24 hours against the crew rate of
    its fleet (module docs); None if no fleet has one. Worst first: by the share over the
    rate, then the larger rate (6 sorties against 4 before 3 against 2); ties keep their order
    (aircraft by fleet and name, fleets as the scenario lists them)."""
    net = plan.network
    rate = np.asarray(net.fleet_sorties_day, dtype=float)
    limited = np.isfinite(rate)
    if not limited.any():
        return None
    W, _stride, _ends, most = day_windows(net.period_h, net.fleet_avail)
    sched = plan.schedule()
    name_of = {f: i for i, f in enumerate(net.fleets)}
    over: list[dict[str, Any]] = []
    flying = 0
    for (fleet, aircraft), g in sched.groupby(["fleet", "aircraft"], sort=True):
        f = name_of[fleet]
        if not limited[f]:
            continue
        flying += 1
        n = most_in_window(g["dep_period"].to_numpy(), W)
        if n > rate[f] + 1e-9:
            over.append(
                {"aircraft": aircraft, "fleet": fleet, "sorties_24h": n, "per_aircraft": rate[f]}
            )
    over.sort(key=lambda r: (_relative(r["sorties_24h"], r["per_aircraft"]), -r["per_aircraft"]))
    fleets: list[dict[str, Any]] = []
    counts = plan.sortie_counts
    for fi in np.flatnonzero(limited):
        f = int(fi)
        per_t = counts[net.move_fleet == f].sum(axis=0)
        in_w = np.convolve(per_t, np.ones(W))[: net.T]  # departures in the W periods ending at t
        allowed = rate[f] * most[f]
        excess = in_w - allowed
        t = int(np.argmax(excess))
        if excess[t] > 1e-6:
            fleets.append(
                {
                    "fleet": net.fleets[f],
                    "sorties_24h": int(np.rint(in_w[t])),
                    "allowed": float(allowed[t]),
                    "ending": net.timeline.time_of(t + 1).isoformat(),
                }
            )
    fleets.sort(key=lambda r: (_relative(r["sorties_24h"], r["allowed"]), -r["allowed"]))
    return {
        "window_h": W * net.period_h,
        "aircraft": flying,
        "aircraft_over": over,
        "fleets_over": fleets,
        "held": plan.crews_held,
    }


@overload
def crew_sentence(crews: dict[str, Any]) -> str: ...
@overload
def crew_sentence(crews: None) -> None: ...
def crew_sentence(crews: dict[str, Any] | None) -> str | None:
    """One sentence for the terminal and the report (None: no fleet has a crew rate)."""
    if crews is None:
        return None
    n, of = len(crews["aircraft_over"]), crews["aircraft"]
    h = f"{crews['window_h']:g} hours"
    held = crews.get("held")
    cost = ""
    if held and held["kept"] and held["sorties_dropped"]:
        cost = (
            f" (held aircraft by aircraft: {held['sorties_dropped']} sorties of the whole-sortie"
            f" schedule dropped, {held['out_by_deadline_lost']:,} fewer people out by the deadline)"
        )
    if not n and not crews["fleets_over"]:
        return f"Crews: no aircraft flies more sorties in any {h} than its fleet's rate{cost}."
    text = f"Crews, aircraft by aircraft: {n} of {of} aircraft fly more sorties in some {h} than"
    text += " their fleet's rate per aircraft"
    if n:
        w = crews["aircraft_over"][0]
        text += f" (the most: {w['aircraft']}, {w['sorties_24h']} against {w['per_aircraft']:g})"
    k = len(crews["fleets_over"])
    if k:
        text += f"; {k} fleet{'s fly' if k != 1 else ' flies'} more than the rate times its"
        text += " aircraft (the plan's 24-hour windows end every few hours, not in every period)"
    if held is None:
        text += ". The plan holds each fleet to its rate, not each aircraft (--fleet-crews;"
        text += " docs/fidelity.md, 'Crews as a rate per aircraft')."
    elif not held["kept"]:
        text += ". Held aircraft by aircraft, the sorties left broke another limit of the"
        text += f" model ({held.get('reason', '')}), so the plan keeps its fleets' rates only."
    else:
        text += f"{cost}: sorties flown before a re-plan's moment are never dropped, nor one"
        text += " whose aircraft would then stay where parking is full or away from home when"
        text += " due there."
    return text
