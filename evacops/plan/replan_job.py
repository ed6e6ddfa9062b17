"""A re-plan as the service runs it (``POST /api/v1/operations/{op}/replan``): one function of
plain values to plain values, so it can run in a worker process beside the server.

In: the scenario's text, the attached plan's period and departures (the operation keeps them:
:func:`evacops.planfolder.plan_outline`), the registry's people by place (counts only), the
moment on the plan's own calendar, and the what-if changes. Out: what the re-plan gives (people
out by the deadline per cohort, before the moment and after; the whole-sortie gap; the state it
started from; with what-if changes, the same re-plan without them, so that the change's effect
is read apart from how far the registry has drifted from the plan) and its outline, ready to be
attached as the operation's plan. Nothing personal crosses into the worker: the registry's keys
stay with the server.

Aircraft positions are the attached plan's: its sorties before the moment are taken as flown
(the registry's flights are manifests of people, not of aircraft movements).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from typing import Any

from evacops.errors import UserError

#: what a re-plan's record keeps of its state
STATE = ("at_period", "people_waiting", "people_on_their_way", "out_before")
#: what-if changes a request may carry (the keys of :func:`evacops.plan.replan.what_if`)
WHAT_IF = ("close", "capacity", "aircraft", "departure_slots")


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Re-plan from ``job`` (the module docs): {scenario, source, period_h, departures, people,
    at (ISO, the plan's calendar), what_if, time_limit} -> {result, outline}, or {error} with a
    one-line message when the inputs do not make a re-plan (a moment outside the horizon, a
    site or fleet not in the scenario)."""
    try:
        return _run(job)
    except UserError as e:
        return {"error": str(e)}


def _run(job: dict[str, Any]) -> dict[str, Any]:
    from evacops.network import compile_network
    from evacops.plan.replan import (
        check_moment,
        registry_state,
        replan,
        sorties_from_departures,
        what_if,
    )
    from evacops.planfolder import plan_outline, write_plan
    from evacops.scenario import parse_text

    sc = parse_text(job["scenario"], source=job.get("source", "scenario"))
    period = f"{float(job['period_h']) * 60:g}min"
    base = compile_network(sc, period)
    at = base.timeline.period_ceil(datetime.fromisoformat(job["at"]))
    check_moment(base, at)
    moment = base.timeline.time_of(at)
    changes = {k: v for k, v in (job.get("what_if") or {}).items() if v}
    sorties = sorties_from_departures(base, job["departures"])
    baseline = baseline_lp = None
    net = base
    if changes:
        # the same state without the changes first: the what-if's effect is the difference
        # between the two (beside the plan, it would be mixed with the registry's own drift)
        b_state = registry_state(base, at, job["people"], sorties)
        b = replan(base, b_state, job.get("time_limit"), plan_sorties=sorties)
        baseline = {c["name"]: c["out_by_deadline_total"] for c in b.summary()["cohorts"]}
        baseline_lp = _lp_out(b)
        net = compile_network(what_if(sc, moment, **changes), period)
    state = registry_state(net, at, job["people"], sorties)
    r = replan(net, state, time_limit=job.get("time_limit"), plan_sorties=sorties)
    s = r.summary()
    with tempfile.TemporaryDirectory() as folder:
        write_plan(r.plan, folder)
        outline = plan_outline(folder)
    outline["out_by_deadline"] = {c["name"]: c["out_by_deadline_total"] for c in s["cohorts"]}
    gap = (s.get("repair") or {}).get("objective_gap")
    result = {
        "at": moment.isoformat(),
        "wall_s": s.get("wall_s"),
        "status": s.get("status"),
        "whole_sortie_gap_pct": None if gap is None else round(100 * gap, 2),
        "out_by_deadline": outline["out_by_deadline"],
        "out_by_deadline_total": s["out_by_deadline_total"],
        "baseline_out_by_deadline": baseline,
        "lp_out_by_deadline": _lp_out(r),
        "baseline_lp_out_by_deadline": baseline_lp,
        "state": {
            k: s["replan"][k]
            for k in ("at_period", "people_waiting", "people_on_their_way", "out_before")
        },
        "not_carried_over": s["replan"]["not_carried_over"],
        "sorties": s.get("sorties"),
    }
    return {"result": result, "outline": outline}


def _lp_out(r: Any) -> dict[str, int]:
    """People out by the deadline per cohort in the re-plan's LP (before the moment and after):
    the figure two re-plans of the same state give alike (the whole sorties come from a repair
    that stops on a time budget)."""
    net, lp = r.plan.network, r.plan.lp
    dl = net.deadline_period
    out = lp.flow[:, net.out_arcs, :dl].sum(axis=(1, 2)) + r.state.out_before
    return {c: round(float(out[i])) for i, c in enumerate(net.cohorts)}
