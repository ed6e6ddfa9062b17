"""Bottlenecks counted in people: which limits, raised by one step, get the most people out by
the deadline, over what range that holds, and what a re-solve says.

1. **Rank** (:func:`candidates`). Every lever (:mod:`evacops.plan.levers`: slots, runway
   movements, holding, processing, ground legs, parking, crews, maintenance, aircraft, stays) is
   priced on the LP's optimal basis (:class:`~evacops.plan.basis.Basis`): people out by the
   deadline per step from the duals of the same basis under a people-counting objective (one
   BTRAN for all levers). A windowed lever is priced day by day; the days on which a step gets
   people out, or out sooner, are joined into runs, and each run is one candidate ("one more
   departure slot per hour at HKIA, 21-27 Aug"). The best ``top`` are kept.
2. **Range.** A ratio test on the basis (one FTRAN each) gives how many steps the basis stays
   optimal for: over that range the estimate is exact.
3. **Check.** The first ``checks`` are re-solved warm, from the optimal basis, with one whole
   step, within ``budget_s`` seconds each. Each on a HiGHS object of its own holding the LP and
   its optimal basis (:meth:`Resolver.twin`), two at a time where two cores are free: a check's
   answer is the same whichever thread runs it, and whether one or two do.
4. **Settle and walk**, in the time left (``extra_s``). An evacuation LP is degenerate: the
   optimal basis often holds for no step at all. Such a candidate is *settled*: re-solved with
   a thousandth of a step, which moves it to a basis optimal for the change; the estimate is
   then that re-solve's change plus the new basis's slope. Then the range is *walked*: re-solved
   a thousandth of a step past its end, again and again while the next basis has the same
   slopes and the plan is on the estimate's line; where they differ the range is closed (exact
   up to there, not beyond), else it is "at least" as far as the walk went.

Every re-solve puts the right-hand sides back after it; at the end the LP's optimal basis is
set again, for what follows (the whole-sortie repair).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import highspy
import numpy as np

from evacops.errors import InfeasibleError, SolverError
from evacops.network import Network
from evacops.plan.basis import Basis, Ray
from evacops.plan.bottleneck import PEOPLE_TOL, Bottleneck, Outcome
from evacops.plan.constraints import mog_room
from evacops.plan.highs import HighsRun, Solution
from evacops.plan.levers import FAMILIES, KIND, KINDS, Lever, Rows, Shift, shift
from evacops.plan.window_search import free_cores, sharing_cores

__all__ = ["FAMILIES", "Binding", "Bottleneck", "find_binding"]

Binding = Bottleneck
"""The name :mod:`evacops.plan.solve` knows it by."""

SETTLE = 1e-3
"""The part of a step a degenerate candidate is re-solved with to settle on its basis."""


def counts(net: Network, run: HighsRun) -> dict[str, np.ndarray]:
    """Counts over the LP's columns: ``people``, 1 for each person leaving the evacuation
    airport before the deadline."""
    lab = run.model.people.flow[:, net.out_arcs, : net.deadline_period]
    people = np.zeros(run.variables)
    people[run.vpos[lab[lab >= 0]]] = 1.0
    return {"people": people}


def _outcome(slopes: dict[str, float]) -> Outcome:
    return Outcome(slopes["people"], -slopes["objective"])


# ---- candidates ----------------------------------------------------------------------------------


def day_blocks(net: Network) -> list[tuple[int, int]]:
    """(first, last + 1) period of each calendar day of the timeline (in its own time zone)."""
    day = np.array([net.timeline.time_of(t).date().toordinal() for t in range(net.T)])
    edges = np.flatnonzero(np.diff(day)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [net.T]])
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def days_text(net: Network, a: int, b: int) -> str:
    """The days periods a to b cover: ``21 Aug``, ``21-27 Aug``, ``30 Aug - 2 Sep``."""
    first = net.timeline.time_of(a)
    last = net.timeline.time_of(b) - (net.timeline.time_of(1) - net.timeline.time_of(0))
    if first.date() == last.date():
        return f"{first.day} {first:%b}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}-{last.day} {first:%b}"
    return f"{first.day} {first:%b} - {last.day} {last:%b}"


@dataclass
class Candidate:
    lever: Lever
    shift: Shift
    slopes: dict[str, float]  # per step, on the optimal basis
    ray: Ray | None = None

    @property
    def key(self) -> tuple[float, float]:
        return (-round(self.slopes["people"], 1), self.slopes["objective"])


def _useful(sl: dict[str, float], scale: float) -> bool:
    """A step that gets people out (or out sooner) by more than rounding noise."""
    return sl["people"] > 1e-3 or sl["objective"] < -1e-9 * scale


def _windows(
    rows: Rows, basis: Basis, key: str, e: int, blocks: list[tuple[int, int]], scale: float
) -> list[tuple[int, int]]:
    """Runs of consecutive days on which a step of lever ``key`` for entity ``e`` is useful."""
    good = []
    for a, b in blocks:
        s = shift(rows, Lever(key, e, a, b))
        good.append(bool(s) and _useful(basis.slopes(s), scale))
    runs: list[tuple[int, int]] = []
    for (a, b), g in zip(blocks, good, strict=True):
        if not g:
            continue
        if runs and runs[-1][1] == a:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return runs


def candidates(net: Network, rows: Rows, basis: Basis, scale: float) -> list[Candidate]:
    """Every lever over the runs of days it is useful in, priced on the basis, best first
    (``scale``: the objective's size, for what counts as a gain)."""
    blocks = day_blocks(net)
    out = []
    for kind in KINDS:
        for e in rows.entities(kind):
            e = int(e)
            spans = [(0, net.T)]
            if kind.windowed:
                tight = [
                    basis.nonbasic_row[p[p >= 0]].any()
                    for f in kind.families
                    if f in rows.pos
                    for p in [rows.pos[f][e]]
                ]
                if not any(tight):
                    continue
                spans = _windows(rows, basis, kind.key, e, blocks, scale)
            for a, b in spans:
                lever = Lever(kind.key, e, a, b)
                s = shift(rows, lever)
                sl = basis.slopes(s) if s else {}
                if s and _useful(sl, scale):
                    out.append(Candidate(lever, s, sl))
    out.sort(key=lambda c: c.key)
    return out


# ---- re-solves -----------------------------------------------------------------------------------


@dataclass
class Resolved:
    """What one re-solve gave: the change of each count and of the objective from the LP's
    (``change``), or why there is none (``why``); its seconds; what was read on its basis."""

    change: dict[str, float] | None
    why: str | None
    seconds: float
    there: tuple[dict[str, float], Ray] | None = None  # slopes and range on the new basis


class Resolver:
    """Warm re-solves of the LP with the rows of a lever moved, each within ``budget_s``
    seconds, from the LP's optimal basis (or from the last re-solve's, walking on)."""

    def __init__(self, run: HighsRun, basis: Basis, count: dict[str, np.ndarray], budget_s: float):
        self.run = run
        self.basis = basis
        self.count = count
        self.budget_s = budget_s
        self.optimal = run.h.getBasis()
        self.base = self._measure()
        self.times: list[float] = []
        self.used = False  # any re-solve since the LP

    def _measure(self) -> dict[str, float]:
        x = np.asarray(self.run.h.getSolution().col_value)
        got = {name: float(c @ x) for name, c in self.count.items()}
        got["objective"] = self.run.objective()
        return got

    def at(
        self,
        s: Shift,
        steps: float,
        read: bool = False,
        budget_s: float | None = None,
        walk_on: bool = False,
    ) -> Resolved:
        """Re-solve with ``s`` moved ``steps`` steps (with ``read``, the slopes and range of
        ``s`` on the new basis too, read before the rows are put back)."""
        budget = self.budget_s if budget_s is None else budget_s
        self.used = True
        if not walk_on:
            self.run.h.setBasis(self.optimal)
        self.basis.move(s, steps)
        t0 = time.perf_counter()
        try:
            status = self.run.run(solver="simplex", budget_s=budget)
            if status != "optimal":
                return Resolved(None, _out_of_time(budget), _since(t0))
            got = self._measure()
            self.times.append(_since(t0))
            there = None
            if read:
                new = Basis(self.run, self.count)
                there = (new.slopes(s), new.ray(s))
            return Resolved({k: got[k] - self.base[k] for k in got}, None, _since(t0), there)
        except InfeasibleError:
            return Resolved(None, "no plan exists with this change", _since(t0))
        except SolverError as exc:
            why = _out_of_time(budget) if "time limit" in str(exc) else f"HiGHS stopped ({exc})"
            return Resolved(None, why, _since(t0))
        finally:
            self.basis.move(s, 0.0)

    def twin(self, lp: highspy.HighsLp) -> Resolver:
        """A resolver on a HiGHS object of its own holding ``lp`` (this one's, read before any
        re-solve moved its rows) and the LP's optimal basis (:meth:`HighsRun.twin`). A
        re-solve on a fresh twin starts from the same state whichever thread runs it, so its
        answer does not depend on the order."""
        other = copy.copy(self)
        other.run = self.run.twin(lp, self.optimal)
        other.basis = copy.copy(self.basis)
        other.basis.h = other.run.h
        other.times, other.used = [], False
        return other

    def restore(self) -> None:
        """The LP's optimal basis again, if a re-solve left another."""
        if self.used:
            self.run.h.setBasis(self.optimal)


def _out_of_time(budget: float) -> str:
    return f"the re-solve needed more than {budget:.0f} s (--check-budget gives more)"


def _since(t0: float) -> float:
    return time.perf_counter() - t0


def _delta_outcome(d: dict[str, float]) -> Outcome:
    return Outcome(d["people"], -d["objective"])


def _describe_blocking(net: Network, run: HighsRun, blocking: tuple[str, int] | None) -> str | None:
    """What reaches its bound at the end of a basis's range, in words."""
    if blocking is None:
        return None
    kind, i = blocking
    if kind == "col":
        return "a flow, sortie or idle aircraft reaches zero"
    for name in run.m.constraints:
        hit = np.argwhere(run.rows(name) == i)
        if len(hit):
            dims = run.m.constraints[name].labels.dims
            parts = []
            for d, v in zip(dims, (int(x) for x in hit[0]), strict=True):
                if d == "period":
                    parts.append(f"{net.timeline.time_of(v):%d %b %H:%M}")
                elif d in net.axes:
                    parts.append(str(net.axes[d][v]))
            return f"{name} {' '.join(parts)} becomes tight"
    return None


# ---- estimates: settle on a basis, walk along the change ---------------------------------------

WALK_TO = 2.0
"""Steps the estimate's range is followed to (farther, the range is "at least")."""

MAX_PIECES = 12
"""Bases walked through at most, per lever."""


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def _settle(net: Network, res: Resolver, c: Candidate, b: Bottleneck, spare: float) -> None:
    """Move a degenerate candidate's basis a thousandth of a step on and read slopes and range
    there (the estimate is then the re-solve's change plus the new slopes)."""
    got = res.at(c.shift, SETTLE, read=True, budget_s=spare)
    if got.change is None or got.there is None:
        b.notes.append(f"not settled on a basis: {got.why}")
        return
    slopes, ray = got.there
    b.settled, b.settle_steps = _delta_outcome(got.change), SETTLE
    b.per_step = _outcome(slopes)
    b.estimate = b.estimate_at(1.0)
    b.exact_up_to = SETTLE + ray.steps
    b.ends_with = _describe_blocking(net, res.run, ray.blocking)


def _walk(net: Network, res: Resolver, c: Candidate, b: Bottleneck, until: float) -> None:
    """Follow the change past the end of the basis's range, a thousandth of a step beyond each
    end, while the plan moves as the estimate says: the range grows while the next basis has
    the same slopes and the re-solve's change is on the estimate's line; where they differ, the
    range is closed (the estimate is exact up to it, not beyond)."""
    for _ in range(MAX_PIECES):
        end = b.exact_up_to
        if end is None or end >= WALK_TO or not np.isfinite(end):
            return
        spare = until - time.perf_counter()
        if spare <= 0:
            return
        at = end + SETTLE
        got = res.at(c.shift, at, read=True, budget_s=spare, walk_on=True)
        if got.change is None or got.there is None:
            return
        slopes, ray = got.there
        line, now, next_ = b.estimate_at(at), _delta_outcome(got.change), _outcome(slopes)
        same = all(
            _close(getattr(now, k), getattr(line, k))
            and _close(getattr(next_, k), getattr(b.per_step, k))
            for k in ("people", "gain")
        )
        if not same:
            b.range_closed = True
            return
        b.exact_up_to = at + ray.steps
        b.ends_with = _describe_blocking(net, res.run, ray.blocking)


def _estimate(net: Network, res: Resolver, c: Candidate, b: Bottleneck, until: float) -> None:
    """The range of a candidate's estimate: its basis's, settled and walked on while re-solves
    fit in the time left (``until``, a ``perf_counter`` time)."""
    assert c.ray is not None
    b.exact_up_to = c.ray.steps
    b.ends_with = _describe_blocking(net, res.run, c.ray.blocking)
    spare = until - time.perf_counter()
    typical = min(res.times) if res.times else 0.0
    if spare <= typical:
        if c.ray.steps < SETTLE:
            b.notes.append(f"not settled on a basis: a re-solve takes about {typical:.0f} s here")
        return
    if c.ray.steps < SETTLE:
        _settle(net, res, c, b, spare)
        if b.settled is None:
            return
    _walk(net, res, c, b, until)


def _within_rows_left_out(net: Network, b: Bottleneck) -> None:
    """The basis cannot see rows the plan model leaves out (MOG rows that no aircraft could
    fill, :func:`~evacops.plan.constraints.mog_left_out`). More aircraft of a fleet bring them
    nearer, so an "aircraft" estimate is exact no farther than they still could not bind
    (:func:`~evacops.plan.constraints.mog_room`; at least one aircraft, so the check by
    re-solving the same model holds). Beyond, the range is "at least"."""
    if b.lever.kind != "aircraft" or b.exact_up_to is None:
        return
    room = mog_room(net, b.lever.entity)
    if room < b.exact_up_to:
        b.exact_up_to, b.range_closed = room, False
        b.ends_with = (
            "Airfield-mog left out of the model (room for every aircraft) may become tight"
        )


def _check_all(
    res: Resolver, pairs: list[tuple[Candidate, Bottleneck]], say: Callable[[str], None]
) -> None:
    """:func:`_check` each pair on a twin of ``res`` of its own, two at a time where two cores
    are free (HiGHS lets go of the interpreter while it solves; on Kabul at 1-hour periods one
    check takes minutes). The twins' re-solve times join ``res``'s."""
    if not pairs:
        return
    workers = 2 if len(pairs) > 1 and free_cores() >= 2 else 1
    lp = res.run.h.getLp()  # the LP as solved, before any re-solve
    both = ", two at a time" if workers == 2 else ""

    def one(k: int) -> list[float]:
        say(f"checking the bottlenecks by re-solving ({k + 1}/{len(pairs)}{both})")
        twin = res.twin(lp)
        _check(twin, *pairs[k])
        return twin.times

    with sharing_cores(workers - 1), ThreadPoolExecutor(workers, "bottleneck-check") as pool:
        for done in [pool.submit(one, k) for k in range(len(pairs))]:
            res.times.extend(done.result())


def _check(res: Resolver, c: Candidate, b: Bottleneck) -> None:
    """Re-solve with one whole step, within the budget. Each check gets its own: on Kabul one
    check ran out while the next two finished in two thirds of the time."""
    got = res.at(c.shift, 1.0)
    b.check_s = got.seconds
    if got.change is not None:
        b.checked = _delta_outcome(got.change)
    else:
        b.unchecked = got.why


# ---- putting it together -------------------------------------------------------------------------


def _bottleneck(net: Network, c: Candidate, deadline: str) -> Bottleneck:
    lv = c.lever
    windowed = KIND[lv.kind].windowed
    return Bottleneck(
        lever=lv,
        what=lv.phrase(net),
        days=days_text(net, lv.start, lv.end) if windowed else "",
        start_time=net.timeline.time_of(lv.start),
        end_time=net.timeline.time_of(lv.end),
        deadline=deadline,
        per_step=_outcome(c.slopes),
        estimate=_outcome(c.slopes),
    )


def deadline_text(net: Network) -> str:
    """The deadline (or the end of the horizon) as a sentence says it: ``31 Aug 00:00``."""
    t = net.timeline.time_of(net.deadline_period)
    return f"{t.day} {t:%b %H:%M}"


def find_binding(
    net: Network,
    run: HighsRun,
    lp=None,
    checks: int = 3,
    top: int = 8,
    progress: Callable[[str], None] | None = None,
    budget_s: float = 10.0,
    extra_s: float | None = None,
) -> list[Bottleneck]:
    """The ``top`` bottlenecks in people out by the deadline per step, from the LP ``run``
    (solved, its optimal basis at hand), the first ``checks`` checked by warm re-solves of at
    most ``budget_s`` seconds each; then the estimates' ranges settled and walked on in the
    ``extra_s`` seconds left (default: a tenth of the LP's solve time, at least 2 s; 0 with no
    checks). Module docs; ``lp`` is not needed (kept for callers)."""
    say = progress or (lambda _msg: None)
    solve_s = run.solve_s
    count = counts(net, run)
    try:
        basis = Basis(run, count)
    except SolverError:
        return []
    rows = Rows(net, run)
    say("pricing the limits in people out by the deadline")
    found = candidates(net, rows, basis, max(1.0, abs(run.objective())))[:top]
    for c in found:  # every FTRAN on the optimal basis, before a re-solve replaces it
        c.ray = basis.ray(c.shift)
    dl = deadline_text(net)
    out = [_bottleneck(net, c, dl) for c in found]
    col = np.asarray(run.h.getSolution().col_value)
    left = float(net.appear.sum() - count["people"] @ col)  # not out by the deadline in the LP
    for b in out:
        b.left_behind = left
    res = Resolver(run, basis, count, budget_s)
    if extra_s is None:
        extra_s = max(2.0, 0.1 * solve_s) if checks else 0.0
    try:
        _check_all(res, list(zip(found[:checks], out[:checks], strict=True)), say)
        until = time.perf_counter() + extra_s
        say("settling the estimates' ranges")
        for c, b in zip(found, out, strict=True):
            _estimate(net, res, c, b, until)
            _within_rows_left_out(net, b)
    finally:
        res.restore()
        run.solve_s = solve_s  # the re-solves are not the LP's time

    # the checked first, by what the re-solves found; then the rest by their estimates (those
    # whose check ran out, and the unchecked less those a settled basis shows to gain nothing)
    def order(b: Bottleneck) -> tuple[float, float]:
        return (-round(b.best.people, 1), -b.best.gain)

    scale = max(1.0, abs(res.base["objective"]))
    rest = [
        b for b in out[checks:] if b.estimate.people >= PEOPLE_TOL or b.estimate.gain > 1e-9 * scale
    ]
    why = (
        f"only the first {checks} are re-solved (--check)"
        if checks > 0
        else "no re-solves asked for (--check 0)"
    )
    for b in rest:
        b.unchecked = why
    checked = [b for b in out[:checks] if b.checked is not None]
    failed = [b for b in out[:checks] if b.checked is None]
    out = sorted(checked, key=order) + sorted(failed + rest, key=order)
    for k, b in enumerate(out):
        b.rank = k
    return out


CHECK_BUDGET_LPS = 3.0
"""A bottleneck check's default budget, in LP solve times. On Kabul at 1-hour periods (7 Dec
2026, HKIA's ground limit) the three checks took 220, 280 and 338 s against an LP of 126 s,
1.8-2.7 times it; with a budget of one LP time (the default before) none finished, and the
first bottleneck by the basis (526,391 people per slot/h) was, re-solved, 12 fewer people."""


def check_budget(lp_solve_s: float) -> float:
    """A bottleneck check's default budget: :data:`CHECK_BUDGET_LPS` times the LP's solve
    time, at least 10 s."""
    return max(10.0, CHECK_BUDGET_LPS * lp_solve_s)


def what_binds(
    net: Network,
    run: HighsRun,
    lp: Solution,
    checks: int,
    budget_s: float | None,
    say: Callable[[str], None],
) -> list[Binding]:
    """The bottlenecks in people out by the deadline, from the LP's optimal basis; the first
    ``checks`` checked by warm re-solves of ``budget_s`` each (default:
    :data:`CHECK_BUDGET_LPS` times the LP's solve time, at least 10 s)."""
    say("reading the binding constraints from the duals")
    if budget_s is None:
        budget_s = check_budget(run.solve_s)
    return find_binding(net, run, lp, checks=checks, progress=say, budget_s=budget_s)
