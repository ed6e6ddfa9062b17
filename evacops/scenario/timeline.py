"""Time in a scenario: durations, offsets, the rule for period lengths and :class:`Timeline`.

A time in a scenario file is a timezone-aware datetime or an offset after ``time.start`` written
``"+36h"`` / ``"+90min"`` / ``"+2d"``; a duration is ``"15min"``, ``"1h"`` or ``"2d"`` (a bare
number is hours). Inside a model, time is integer periods of one stated length, which must divide
an hour or be whole hours (:func:`check_period`, the one home of that rule: the scenario's
``time.period`` and ``evacops plan --period`` both use it). :class:`Timeline` converts times and
durations to periods.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from evacops.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

OFFSET = re.compile(r"^\s*\+\s*(\d+(?:\.\d+)?)\s*(h|min|d)\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|min|m|d)\s*$")
_UNIT_H = {"h": 1.0, "min": 1 / 60, "m": 1 / 60, "d": 24.0}

TimeRef = datetime | str
"""A timezone-aware datetime, or ``"+12h"`` / ``"+30min"`` / ``"+2d"`` after ``time.start``."""

DURATION_RULE = "must be a duration like '1h', '15min' or '2d'"
PERIOD_RULE = "must divide an hour or be whole hours (e.g. '15min', '1h', '2h')"


def parse_duration_h(text: str | float | int) -> float:
    """'15min' -> 0.25, '1h' -> 1.0, '2d' -> 48.0; a bare number is hours."""
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{DURATION_RULE}, got {text!r}")
    return float(m.group(1)) * _UNIT_H[m.group(2)]


def offset_h(text: str) -> float | None:
    """Hours of an offset such as ``"+36h"``; None if ``text`` is not an offset."""
    m = OFFSET.match(text)
    return None if m is None else float(m.group(1)) * _UNIT_H[m.group(2)]


def check_period(text: str) -> str:
    """``text`` if it is a valid period length: a duration that divides an hour or is whole
    hours. Else raise :class:`~evacops.errors.UserError` with ``field="period"`` and
    ``value=text``; its ``problem`` is :data:`DURATION_RULE` or :data:`PERIOD_RULE`."""
    try:
        minutes = parse_duration_h(text) * 60
    except ValueError:
        raise UserError(DURATION_RULE, field="period", value=text) from None
    whole = abs(minutes - round(minutes)) < 1e-9 and minutes >= 1
    if not whole or (60 % round(minutes) != 0 and round(minutes) % 60 != 0):
        raise UserError(PERIOD_RULE, field="period", value=text)
    return text


class Timeline:
    """Integer periods of a stated length over the horizon, and the conversions to them."""

    def __init__(self, start: datetime, horizon_h: float, period: str | float):
        self.start = start
        self.period_h = parse_duration_h(period)
        if self.period_h <= 0:
            raise ValueError("period must be positive")
        self.horizon_h = horizon_h
        self.n = math.ceil(horizon_h / self.period_h - 1e-9)

    def hours(self, ref: TimeRef) -> float:
        """Hours from the start to ``ref``."""
        if isinstance(ref, str):
            h = offset_h(ref)
            if h is not None:
                return h
            ref = datetime.fromisoformat(ref)
        return (ref - self.start).total_seconds() / 3600.0

    def period_of(self, ref: TimeRef) -> int:
        """The period containing ``ref`` (may be < 0 or >= n when outside the horizon)."""
        return math.floor(self.hours(ref) / self.period_h + 1e-9)

    def period_ceil(self, ref: TimeRef) -> int:
        """The first period that starts at or after ``ref``."""
        return math.ceil(self.hours(ref) / self.period_h - 1e-9)

    def periods(self, hours: float) -> int:
        """A duration in whole periods, rounded up."""
        return math.ceil(hours / self.period_h - 1e-9)

    def time_of(self, period: int) -> datetime:
        return self.start + timedelta(hours=period * self.period_h)

    def index(self) -> pd.DatetimeIndex:
        import pandas as pd

        return pd.DatetimeIndex([self.time_of(t) for t in range(self.n)], name="time")
