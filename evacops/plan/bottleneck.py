"""A bottleneck as a planner reads it: one lever, what one step of it is worth in people out by
the deadline, over what range that estimate is exact, and what a re-solve found.

:class:`Bottleneck` holds the numbers (:mod:`evacops.plan.binding` fills them in) and words
them: :meth:`Bottleneck.sentence` for the terminal and the report, :meth:`Bottleneck.as_dict`
for ``--json``, whose ``text`` is that sentence, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from evacops.plan.levers import KIND, Lever

PEOPLE_TOL = 0.5
"""Fewer than half a person more out is no more people out (the LP counts people continuously)."""


@dataclass
class Outcome:
    """What a change of a lever changes in the plan: people out by the deadline, and the
    objective gained (priority-weighted person-hours, positive = better)."""

    people: float
    gain: float


@dataclass
class Bottleneck:
    lever: Lever
    what: str  # "one more departure slot per hour at HKIA"
    days: str  # "21-27 Aug", "" for the whole operation
    start_time: datetime
    end_time: datetime
    deadline: str  # "31 Aug 00:00"
    per_step: Outcome  # the slopes of the basis that holds just after the change begins
    estimate: Outcome  # one step, by the linear estimate (from the settled basis if settled)
    exact_up_to: float | None = None  # steps over which the estimate is exact (None: unknown)
    ends_with: str | None = None  # what changes the basis at the end of that range
    range_closed: bool = False  # beyond exact_up_to the estimate is known to be wrong
    settled: Outcome | None = None  # what the small re-solve that settled the basis changed
    settle_steps: float = 0.0  # its size, in steps
    checked: Outcome | None = None  # one step, re-solved
    check_s: float | None = None
    unchecked: str | None = None  # why it was not checked
    rank: int = 0
    notes: list[str] = field(default_factory=list)
    left_behind: float | None = None  # people the LP leaves behind by the deadline

    @property
    def step(self) -> float:
        return KIND[self.lever.kind].step

    @property
    def unit(self) -> str:
        return KIND[self.lever.kind].unit

    def estimate_at(self, steps: float) -> Outcome:
        """The linear estimate for ``steps`` steps (exact up to :attr:`exact_up_to`): the
        settling re-solve's change, then the slopes of the basis it settled on."""
        first = self.settled or Outcome(0.0, 0.0)
        more = steps - self.settle_steps
        return Outcome(
            first.people + self.per_step.people * more, first.gain + self.per_step.gain * more
        )

    @property
    def best(self) -> Outcome:
        """The number a planner gets: the re-solve's if there is one, else the estimate's."""
        return self.checked if self.checked is not None else self.estimate

    def per_text(self) -> str:
        """The step as "per" says it: ``per slot/h``, ``per 1,000 places``."""
        return f"per {self.unit}" if self.step == 1 else f"per {self.step:,g} {self.unit}"

    @property
    def range_kind(self) -> str:
        """How far the estimate is exact: ``closed`` (up to :attr:`exact_up_to`, not beyond),
        ``at least`` (that far at least), ``any``, ``none`` (a rate at the optimum only) or
        ``unknown``."""
        r = self.exact_up_to
        if r is None:
            return "unknown"
        if r == float("inf"):
            return "any"
        if r < 1e-9:
            return "none"
        return "closed" if self.range_closed else "at least"

    def _range_text(self) -> str:
        kind = self.range_kind
        if kind == "unknown":
            return "its range not known"
        if kind == "any":
            return "exact for any amount"
        if kind == "none":
            return "a rate at the optimum only (its basis is degenerate for this change)"
        least = "" if kind == "closed" else "at least "
        return f"exact up to {least}{amount((self.exact_up_to or 0.0) * self.step)} {self.unit}"

    def _source(self) -> str:
        est = f"{round(self.estimate.people):,} {self.per_text()}"
        if self.checked is not None:
            return f"checked by re-solving; the optimal basis gives {est}, {self._range_text()}"
        return f"{est} from the optimal basis, {self._range_text()}; not checked: {self.unchecked}"

    def _margin_only(self) -> bool:
        """Not re-solved, and the basis's rate is known to hold for less than one step: its
        figure for one step is no estimate of it (on Kabul one more sortie a day for the onward
        C-17s' crews: 7,689 people by the basis, exact up to 0.0015 of a step; 1,370 re-solved)."""
        if self.checked is not None or self.range_kind not in ("none", "closed", "at least"):
            return False
        return (self.exact_up_to or 0.0) < 1.0

    def sentence(self) -> str:
        """The bottleneck in one sentence, with the numbers of :meth:`as_dict`."""
        head = self.what + (f", {self.days}" if self.days else "")
        if self.rank:
            head = "Next limit: " + head
        b = self.best
        n = round(b.people)
        if self._margin_only() and abs(b.people) >= PEOPLE_TOL:
            more = "more" if n > 0 else "fewer"
            beyond = ""
            if n > 0 and self.left_behind is not None and n > self.left_behind:
                beyond = (
                    f", more than the {round(self.left_behind):,} people left behind: no step "
                    "gets that many out"
                )
            return (
                f"{head}: at the margin only, {abs(n):,} {self.per_text()} {more} people out by "
                f"{self.deadline} (the optimal basis's rate, {self._range_text()}{beyond}; not "
                f"what one whole step gets; not checked: {self.unchecked})."
            )
        if abs(b.people) >= PEOPLE_TOL:
            more = "more" if n > 0 else "fewer"
            s = f"{head}: about {abs(n):,} {more} people out by {self.deadline} ({self._source()})"
            if b.gain > 1e-6 and n > 0:
                s += "; the rest is only earlier"
        elif b.gain > 1e-6:
            s = (
                f"{head}: no more people out by {self.deadline}, only sooner (a gain of "
                f"{amount(b.gain)} weighted person-hours: people out earlier, onward flights "
                f"sooner, fewer sorties) ({self._source()})"
            )
        else:
            s = f"{head}: gains nothing, another limit binds with it ({self._source()})"
        return s + "."

    def as_dict(self) -> dict[str, Any]:
        unit = self.unit

        def outcome(o: Outcome | None) -> dict[str, float] | None:
            if o is None:
                return None
            return {
                "people_out": round(o.people, 3),
                "objective_gain": round(o.gain, 3),
            }

        return {
            "lever": self.lever.kind,
            "what": self.what,
            "days": self.days,
            "from": self.start_time.isoformat(),
            "until": self.end_time.isoformat(),
            "step": self.step,
            "unit": unit,
            "deadline": self.deadline,
            "estimate": outcome(self.estimate),
            "per_step": outcome(self.per_step),
            "range": self.range_kind,
            "exact_up_to": (
                (self.exact_up_to or 0.0) * self.step
                if self.range_kind in ("closed", "at least")
                else None
            ),
            "ends_with": self.ends_with,
            "settled": self.settled is not None,
            "checked": outcome(self.checked),
            "check_s": None if self.check_s is None else round(self.check_s, 3),
            "unchecked": self.unchecked,
            "notes": list(self.notes),
            "units": {
                "step": unit,
                "exact_up_to": unit,
                "people_out": "people off the evacuation airport by the deadline, "
                + self.per_text(),
                "objective_gain": "priority-weighted person-hours, per step",
            },
            "text": self.sentence(),
        }


def amount(x: float) -> str:
    """A quantity for a sentence: whole numbers with separators, small ones to 2 significant
    digits."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:.3g}"
    return f"{x:.2g}"
