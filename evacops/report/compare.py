"""A user's own daily counts beside a simulation (``evacops simulate --compare FILE.csv``).

The file is a CSV with a header and one row per local day: ``date`` (YYYY-MM-DD, in the
scenario's UTC offset) and ``out`` (people off the evacuation airport that day). Days may be
missing; the running total is taken over the days given. Nothing in it is fitted: the counts
are only drawn over the fan chart and set beside the simulated P10/P50/P90 of each day, so a
planner can see where the model and the operation part.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from evacops.errors import UserError

__all__ = ["compare_daily", "cumulative_points", "read_daily_counts"]

MAX_ROWS = 10_000


def _bad(path: Path, line: int, problem: str) -> UserError:
    return UserError(f"{path.name} line {line}: {problem}")


def _rows(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; give a CSV with columns date,out") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot be read as CSV text ({type(exc).__name__})") from None
    if not rows:
        raise UserError(f"{path.name}: empty; give a header line date,out and one row per day")
    if len(rows) - 1 > MAX_ROWS:
        raise UserError(f"{path.name}: more than {MAX_ROWS:,} days; one row per day")
    return rows


def _row(path: Path, n: int, row: list[str], di: int, oi: int) -> tuple[date, float]:
    if len(row) <= max(di, oi):
        raise _bad(path, n, "has fewer columns than the header")
    try:
        day = date.fromisoformat(row[di].strip())
    except ValueError:
        raise _bad(path, n, "date must be YYYY-MM-DD") from None
    try:
        value = float(row[oi].strip().replace(",", "").replace("_", ""))
    except ValueError:
        raise _bad(path, n, "out must be a number of people") from None
    if not value >= 0:  # also refuses nan
        raise _bad(path, n, "out must be 0 or more people")
    return day, value


def read_daily_counts(path: Path) -> pd.Series:
    """The counts of ``path`` (people out per local date, in date order, named after the file),
    or a :class:`UserError` naming the file, the line and the fix."""
    rows = _rows(path)
    head = [h.strip().lower() for h in rows[0]]
    if "date" not in head or "out" not in head:
        raise _bad(path, 1, "the header must name the columns date and out")
    di, oi = head.index("date"), head.index("out")
    counts: dict[date, float] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        day, value = _row(path, n, row, di, oi)
        if day in counts:
            raise _bad(path, n, f"{day} is given twice; one row per day")
        counts[day] = value
    if not counts:
        raise UserError(f"{path.name}: no rows; give one row per day after the header")
    return pd.Series(counts, name=path.stem).sort_index()


def compare_daily(daily: pd.DataFrame, counts: pd.Series) -> list[dict[str, Any]]:
    """Per day of ``counts`` within the simulation: the user's count and running total beside
    the simulated out and cumulative P10/P50/P90 (``daily``: :meth:`SimResult.daily`)."""
    cum = counts.cumsum()
    rows = []
    for day, value in counts.items():
        sim = daily.loc[day] if day in daily.index else None
        row: dict[str, Any] = {"date": str(day), "out": value, "cumulative": float(cum[day])}
        for k in ("out_p10", "out_p50", "out_p90", "cumulative_p10", "cumulative_p50"):
            row[f"sim_{k}"] = None if sim is None else int(sim[k])
        row["sim_cumulative_p90"] = None if sim is None else int(sim["cumulative_p90"])
        rows.append(row)
    return rows


def cumulative_points(counts: pd.Series, tz: Any) -> pd.Series:
    """The running total at the end of each day given (midnight after it, in ``tz``), for
    drawing over a fan chart of cumulative people."""
    ends = [pd.Timestamp(d, tz=tz) + pd.Timedelta(days=1) for d in counts.index]
    return pd.Series(counts.cumsum().to_numpy(), index=pd.DatetimeIndex(ends), name=counts.name)
