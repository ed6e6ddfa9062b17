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

With what-if changes the job solves two re-plans, without the changes and with them; the one
without runs in a second process at the same time (the machine's other core; a process, since
the model build holds the interpreter), which stops if this one is stopped. With
``keep_schedule`` both re-plan the people alone on the plan's sorties
(:func:`evacops.plan.replan.replan_people`: seconds), and with ``window_h`` the aircraft in the
next hours only (seconds too), in two threads of this process.

Aircraft positions are the attached plan's: its sorties before the moment are taken as flown
(the registry's flights are manifests of people, not of aircraft movements).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from evacops.errors import UserError

#: what a re-plan's record keeps of its state
STATE = ("at_period", "people_waiting", "people_on_their_way", "out_before")
#: what-if changes a request may carry (the keys of :func:`evacops.plan.replan.what_if`)
WHAT_IF = ("close", "capacity", "aircraft", "departure_slots")
#: the longest re-plan window (``window_h``) asked for, in hours: a longer one is the whole
#: re-plan's work (re-plan without a window)
MAX_WINDOW_H = 24 * 7


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Re-plan from ``job`` (the module docs): {scenario, source, period_h, departures, people,
    at (ISO, the plan's calendar), what_if, keep_schedule, window_h, time_limit} -> {result,
    outline}, or {error} with a one-line message when the inputs do not make a re-plan (a
    moment outside the horizon, a site or fleet not in the scenario)."""
    try:
        return _run(job)
    except UserError as e:
        return _error(e)


def _error(e: UserError) -> dict[str, Any]:
    """{error: the English line, error_code, error_params: the refusal a page words in its
    language (:mod:`evacops.web.refusals`), if the error has one}."""
    out: dict[str, Any] = {"error": str(e)}
    if e.code is not None:
        out.update(error_code=e.code, error_params=dict(e.params))
    return out


def _setup(job: dict[str, Any]) -> tuple[Any, str, Any, int, Any, Any]:
    """The job's scenario, period, network, moment (period and time) and the plan's sorties."""
    from evacops.network import compile_network
    from evacops.plan.replan import check_moment, sorties_from_departures
    from evacops.scenario import parse_text

    sc = parse_text(job["scenario"], source=job.get("source", "scenario"))
    period = f"{float(job['period_h']) * 60:g}min"
    base = compile_network(sc, period)
    at = base.timeline.period_ceil(datetime.fromisoformat(job["at"]))
    check_moment(base, at)
    return (
        sc,
        period,
        base,
        at,
        base.timeline.time_of(at),
        sorties_from_departures(base, job["departures"]),
    )


def _baseline(job: dict[str, Any]) -> tuple[dict[str, int], dict[str, int] | None]:
    """The same re-plan without the what-if changes: people out by the deadline per cohort, on
    whole sorties and in the LP."""
    _, _, base, at, _, sorties = _setup(job)
    return _outs(_solve(job, base, at, sorties))


def _outs(r: Any) -> tuple[dict[str, int], dict[str, int] | None]:
    """A re-plan's people out by the deadline per cohort, on whole sorties and in the LP."""
    return {c["name"]: c["out_by_deadline_total"] for c in r.summary()["cohorts"]}, _lp_out(r)


def _solve(job: dict[str, Any], net: Any, at: int, sorties: Any, on_built: Any = None) -> Any:
    """The re-plan of ``net`` from the registry's people at period ``at``: LP and whole
    sorties, or with ``keep_schedule`` the people alone on the plan's ``sorties`` (calling
    ``on_built`` once its model is built)."""
    from evacops.plan.replan import registry_state, replan, replan_people

    state = registry_state(net, at, job["people"], sorties)
    if job.get("keep_schedule"):
        return replan_people(net, state, sorties, on_built=on_built)
    return replan(
        net,
        state,
        time_limit=job.get("time_limit"),
        plan_sorties=sorties,
        window_h=job.get("window_h"),
        on_built=on_built,
    )


def _baseline_beside(job: dict[str, Any], parent: int, answer: Any) -> None:
    """:func:`_baseline` in a process of its own (the second core); it sends its answer (or
    the error's line) through ``answer`` and stops as soon as ``parent`` is gone (a server
    stopping or killing its worker)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    try:
        from evacops.plan import window_search

        with window_search.sharing_cores(1):  # (the parent solves the what-if meanwhile)
            result = _baseline(job)
        answer.send(("ok", result))
    except UserError as e:
        answer.send(("error", _error(e)))


def _run(job: dict[str, Any]) -> dict[str, Any]:
    from evacops.network import compile_network
    from evacops.plan.crew_use import crew_use
    from evacops.plan.replan import what_if
    from evacops.planfolder import outline_of

    sc, period, base, at, moment, sorties = _setup(job)
    changes = {k: v for k, v in (job.get("what_if") or {}).items() if v}
    keep = bool(job.get("keep_schedule"))
    window = job.get("window_h") is not None
    baseline = baseline_lp = None
    net = base
    beside = None
    if changes:
        # the same state without the changes too: the what-if's effect is the difference
        # between the two (beside the plan, it would be mixed with the registry's own drift);
        # solved at the same time in a second process, on the other core (on a kept schedule
        # or in a window both take seconds: in a thread of this process, _beside_in_thread)
        net = compile_network(what_if(sc, moment, **changes), period)
        beside = None if keep or window else _start_beside(job)

    def summed(r: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        s = r.summary()
        return s, outline_of(r.plan, s)

    try:
        if changes and (keep or window):
            r, (s, outline), (baseline, baseline_lp) = _beside_in_thread(
                job, net, base, at, sorties, summed
            )
        else:
            from evacops.plan import window_search

            with window_search.sharing_cores(0 if beside is None else 1):
                r = _solve(job, net, at, sorties)
            s, outline = summed(r)  # (while the second process, if any, still solves)
        if changes and not (keep or window):
            baseline, baseline_lp = _finish_beside(beside, job)
    finally:
        if beside is not None:
            _stop(beside[0])
    outline["out_by_deadline"] = {c["name"]: c["out_by_deadline_total"] for c in s["cohorts"]}
    gap = (s.get("repair") or {}).get("objective_gap")
    result = {
        "at": moment.isoformat(),
        "wall_s": s.get("wall_s"),
        "status": s.get("status"),
        "whole_sortie_gap_pct": None if gap is None else round(100 * gap, 2),
        "keep_schedule": keep,
        "window_h": job.get("window_h"),
        "window_until": s.get("window_until"),
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
        "crews": crew_use(r.plan),
    }
    return {"result": result, "outline": outline}


def _beside_in_thread(
    job: dict[str, Any], net: Any, base: Any, at: int, sorties: Any, then: Any
) -> tuple[Any, Any, tuple[dict[str, int], dict[str, int] | None]]:
    """A what-if on the kept schedule or in a window (seconds): its re-plan (on ``net``),
    ``then`` of it (its summary and outline, made while the baseline still solves), and the same
    re-plan without the changes (on ``base``) in a thread beside it. HiGHS lets go of the
    interpreter while it solves, so the two solves run at once (Kabul at 1-hour periods from
    +54h: two solves of 2.9 s took 2.9 s at once, 5.8 s one after the other); the models,
    Python's work, are built one after the other, the what-if's first, so that a what-if the
    schedule cannot keep fails before the baseline's is built. HiGHS keeps a task scheduler per
    calling thread (HiGHS pull request 818), so two of its objects may solve at once in two
    threads, as highspy's own ``startSolve`` does. An error of either is raised (the changed
    one's first). A what-if that fails answers at once: it does not wait for its baseline (a
    window the plan's later sorties do not fit is found only once its LP is solved, while the
    baseline may solve for seconds more); the baseline's thread ends on its own and its answer
    is dropped."""
    built, failed = threading.Event(), threading.Event()

    def without() -> tuple[dict[str, int], dict[str, int] | None]:
        built.wait()
        if failed.is_set():  # the what-if failed before its model was built: nothing to do
            return {}, None
        return _outs(_solve(job, base, at, sorties))

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="baseline")
    done = pool.submit(without)
    try:
        r = _solve(job, net, at, sorties, on_built=built.set)
    except BaseException:
        failed.set()  # (before built: the baseline's thread reads it once built is set)
        pool.shutdown(wait=False)
        raise
    finally:
        built.set()
    with pool:
        return r, then(r), done.result()


def _start_beside(job: dict[str, Any]) -> tuple[Any, Any] | None:
    """The second process running :func:`_baseline_beside` and the end it answers on, or None
    if no process can start (then it is solved here afterwards)."""
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe(duplex=False)
    try:
        proc = ctx.Process(target=_baseline_beside, args=(job, os.getpid(), theirs), daemon=True)
        proc.start()
    except (OSError, RuntimeError):
        return None
    finally:
        theirs.close()  # (ours closed: the pipe ends when the process does)
    return proc, mine


def _stop(proc: Any) -> None:
    """Stop the second process, even mid-solve (this re-plan failed, or it is done)."""
    proc.terminate()
    proc.join(5)


def _finish_beside(
    beside: tuple[Any, Any] | None, job: dict[str, Any]
) -> tuple[dict[str, int], dict[str, int] | None]:
    if beside is not None:
        try:
            kind, got = beside[1].recv()
        except (EOFError, OSError):  # the second process died (memory?): solve it here
            return _baseline(job)
        if kind == "error":
            raise UserError(
                got["error"], code=got.get("error_code"), params=got.get("error_params")
            )
        return got
    return _baseline(job)


def _lp_out(r: Any) -> dict[str, int] | None:
    """People out by the deadline per cohort in the re-plan's LP (before the moment and after):
    the figure two re-plans of the same state give alike (the whole sorties come from a repair
    that stops on a time budget)."""
    net, lp = r.plan.network, r.plan.lp
    if r.plan.schedule_kept:  # no LP: its whole sorties' figures are the only ones
        return None
    dl = net.deadline_period
    out = lp.flow[:, net.out_arcs, :dl].sum(axis=(1, 2)) + r.state.out_before
    return {c: round(float(out[i])) for i, c in enumerate(net.cohorts)}
