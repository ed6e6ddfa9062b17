"""What binds: the constraints whose duals say more capacity would help, in plain words.

From the LP relaxation's duals, each capacity family (holding capacity, processing rate, ground
leg capacity, departure and arrival slots, runway movements, MOG, stay limits and minimum dwell,
crew limits and maintenance) is scanned for runs of consecutive periods in which
it binds (non-zero dual). A run's marginal value is the sum of its duals: the objective gained per
extra unit of capacity over the whole run, in priority-weighted person-hours. The most valuable
runs are then checked by re-solving the LP with the capacity raised over the run (by 1,000 places,
100 people/h, one slot per hour or one aircraft), which gives the number a planner asks for: how
many more people would be off the evacuation airport by the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evacops.errors import SolverError
from evacops.network import Network

# constraint family -> (words, network attribute, step, unit of the step)
FAMILIES: dict[str, tuple[str, str, float, str]] = {
    "Site-holding": ("holding capacity", "cap", 1000.0, "places"),
    "Site-processing": ("processing rate", "rate", 100.0, "people/h"),
    "Arc-capacity": ("ground leg capacity", "arc_cap", 100.0, "people/h"),
    "Airfield-departures": ("departure slots", "dep_rate", 1.0, "slots/h"),
    "Airfield-arrivals": ("arrival slots", "arr_rate", 1.0, "slots/h"),
    "Airfield-movements": ("runway movements", "mov_rate", 1.0, "movements/h"),
    "Airfield-departures-hour": ("departures in one hour", "dep_rate", 1.0, "slots/h"),
    "Airfield-arrivals-hour": ("arrivals in one hour", "arr_rate", 1.0, "slots/h"),
    "Airfield-movements-hour": ("movements in one hour", "mov_rate", 1.0, "movements/h"),
    "Airfield-mog": ("parking (MOG)", "mog", 1.0, "aircraft"),
    "Site-stay": ("stay limit", "max_stay", 1000.0, "people staying longer"),
    "Site-dwell": ("minimum dwell", "min_dwell", 1000.0, "people leaving sooner"),
    "Fleet-crew": ("crew limit", "fleet_sorties_day", 1.0, "sortie per aircraft per day"),
    "Fleet-maintenance": ("maintenance", "fleet_up", 1.0, "hour in use per aircraft per day"),
}

FLEET_FAMILIES = ("Fleet-crew", "Fleet-maintenance")
"""Families whose rows are fleets, not sites or arcs."""


def row_names(net: Network, family: str) -> list[str]:
    """The names of a family's rows: legs for ground leg capacity, fleets, or sites."""
    if family == "Arc-capacity":
        return net.arc_name
    return net.fleets if family in FLEET_FAMILIES else net.sites


@dataclass
class Binding:
    family: str
    name: str  # site or leg
    start: int  # first period
    end: int  # last period + 1
    marginal_value: float  # objective units per unit of capacity over the run
    step: float
    unit: str
    words: str
    period_h: float
    start_time: Any
    end_time: Any
    checked_extra_out: float | None = None  # people more off the airport by the deadline
    checked_gain: float | None = None  # objective gained (weighted person-hours), re-solved
    unchecked: str | None = None  # why a re-solve did not verify it

    def sentence(self) -> str:
        span = f"{self.start_time:%d %b %H:%M} - {self.end_time:%d %b %H:%M}"
        verb = "bind" if self.words.endswith("slots") else "binds"
        s = f"{self.name} {self.words} {verb} {span}"
        step = f"{self.step:,.0f} more {self.unit}"
        if self.step == 1 and self.unit.endswith("s/h"):  # "1 more slot/h"
            step = f"1 more {self.unit[:-3]}/h"
        if self.checked_gain is not None and self.checked_gain <= 1e-6 * max(
            1.0, self.marginal_value
        ):
            s += (
                f"; {step} alone gains nothing on re-solving (another limit binds with it; "
                f"dual value {self.marginal_value:,.1f})"
            )
        elif self.checked_extra_out is not None:
            extra = round(self.checked_extra_out)
            gain = f"{self.checked_gain:,.0f} weighted person-hours"
            if extra > 0:
                s += (
                    f"; {step} would get about {extra:,} more people out by the deadline "
                    f"and gain {gain} (re-solved)"
                )
            else:
                s += (
                    f"; {step} would get the same people out, but earlier: a gain of {gain} "
                    "(re-solved)"
                )
        else:
            s += f"; dual value {self.marginal_value:,.1f} weighted person-hours per unit"
            if self.unchecked:
                s += f" (not verified: {self.unchecked})"
        return s

    def as_dict(self) -> dict[str, Any]:
        return {
            "constraint": self.family,
            "name": self.name,
            "what": self.words,
            "from": self.start_time.isoformat(),
            "until": self.end_time.isoformat(),
            "marginal_value": self.marginal_value,
            "step": self.step,
            "unit": self.unit,
            "extra_people_out": self.checked_extra_out,
            "objective_gain": self.checked_gain,
            "unverified_reason": self.unchecked,
            "text": self.sentence(),
        }


def _runs(mask: np.ndarray, gap: int = 0) -> list[tuple[int, int]]:
    """(start, end) of runs of True in a 1-D boolean array, joining runs at most ``gap`` apart."""
    d = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    runs = [
        (int(a), int(b))
        for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True)
    ]
    joined: list[tuple[int, int]] = []
    for a, b in runs:
        if joined and a - joined[-1][1] <= gap:
            joined[-1] = (joined[-1][0], b)
        else:
            joined.append((a, b))
    return joined


def candidates(
    net: Network, duals: dict[str, np.ndarray], tight: dict[str, np.ndarray], tol: float = 1e-6
) -> list[Binding]:
    """Runs of periods in which a capacity is used to the full and has a non-zero dual somewhere
    (duals of a degenerate LP sit on any one period of such a run, so the run, not the dual's
    period, is what binds)."""
    out = []
    tl = net.timeline
    for fam, (words, _attr, step, unit) in FAMILIES.items():
        d = duals.get(fam)
        if d is None:
            continue
        full = tight.get(fam, np.abs(d) > tol)
        names = row_names(net, fam)
        for i in range(d.shape[0]):
            for a, b in _runs(full[i], gap=max(1, round(2 / net.period_h))):
                value = float(np.abs(d[i, a:b]).sum())
                if value <= tol:
                    continue
                out.append(
                    Binding(
                        fam,
                        names[i],
                        int(a),
                        int(b),
                        value,
                        step,
                        unit,
                        words,
                        net.period_h,
                        tl.time_of(int(a)),
                        tl.time_of(int(b)),
                    )
                )
    out.sort(key=lambda b: -b.marginal_value * b.step)
    return out


def row_step(net: Network, b: Binding) -> float:
    """The step of a binding run as a change of its rows' right-hand side."""
    if b.family in ("Site-processing", "Arc-capacity"):
        return b.step * net.period_h  # people per hour -> per period
    if b.family in ("Airfield-departures", "Airfield-arrivals", "Airfield-movements"):
        w, _ = net.rate_windows(getattr(net, FAMILIES[b.family][1]))
        return b.step * w[net.sites.index(b.name)] * net.period_h  # per hour -> per window
    if b.family in FLEET_FAMILIES:  # per aircraft and day -> per window, for every aircraft
        return b.step * float(net.fleet_count[net.fleets.index(b.name)])
    return b.step  # *-hour families: one hour; people; aircraft


def evacuated_by_deadline(net: Network, flow: np.ndarray) -> float:
    dl = net.deadline_period
    return float(flow[:, net.out_arcs, :dl].sum())


def find_binding(
    net: Network, run, lp, checks: int = 5, top: int = 8, progress=None, budget_s: float = 10.0
) -> list[Binding]:
    """The ``top`` most valuable binding runs; the first ``checks`` verified by re-solving the
    LP (``run``, a solved :class:`~evacops.plan.highs.HighsRun`) from its basis with the
    capacity raised over the run, then lowered back."""
    found = candidates(net, lp.duals, lp.tight)[:top]
    base = evacuated_by_deadline(net, lp.flow)
    optimal_basis = run.h.getBasis()
    out_of_time = False
    for k, b in enumerate(found[:checks]):
        if out_of_time:
            # re-solves of one model take alike: when one ran out of time, the rest would too
            b.unchecked = (
                f"skipped, as an earlier re-solve needed more than {budget_s:.0f} s; "
                "--check-budget gives more"
            )
            continue
        run.h.setBasis(optimal_basis)  # each check starts from the optimum, not the last check
        if progress:
            progress(f"checking what binds by re-solving ({k + 1}/{min(checks, len(found))})")
        i = row_names(net, b.family).index(b.name)
        delta = row_step(net, b)
        run.change_rhs(b.family, (i, slice(b.start, b.end)), delta)
        status = "stopped"
        try:
            status = run.run(solver="simplex", budget_s=budget_s)
            if status == "optimal":  # read before the right-hand side is restored
                flow = run.values(run.model.people.flow)
                b.checked_extra_out = evacuated_by_deadline(net, flow) - base
                b.checked_gain = lp.objective - run.objective()
        except SolverError:
            status = "stopped"
        finally:
            run.change_rhs(b.family, (i, slice(b.start, b.end)), -delta)
        if status != "optimal":
            b.unchecked = f"re-solve stopped after {budget_s:.0f} s; --check-budget gives more"
            out_of_time = True
    if found[:checks]:
        run.h.setBasis(optimal_basis)  # what follows re-solves from the optimum's basis
    # what the re-solves confirmed first, by the people it gets out, then by objective gained
    # (whole people first: a re-solve's 1e-9 people must not outrank a real gain)
    checked = sorted(
        found[:checks], key=lambda b: (-round(b.checked_extra_out or 0.0), -(b.checked_gain or 0.0))
    )
    return checked + found[checks:]
