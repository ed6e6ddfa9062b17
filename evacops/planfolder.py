"""The plan folder: the file format that takes a plan from ``evacops plan`` to ``evacops simulate``.

Written and read here, and only here. ``evacops plan SCENARIO --out DIR`` writes (with
:func:`write_plan`) one table per file, as CSV or Parquet (:data:`TABLES`), and ``summary.json``
(the plan's summary, with ``scenario_sha256``: the SHA-256 of the scenario file's bytes, see
:func:`scenario_digest`); the plots and ``report.html`` beside them come from
:mod:`evacops.report.plan`. The simulator reads the folder back with :func:`open_plan` and
:func:`read_plan` into :class:`PlanArrays`, dense arrays over the network's indices: only the
written files are read, never the planner's objects. A folder is refused, with one line that says
what to do, when it is not a plan or when it was made for another scenario.

Columns the reader relies on (the writer's tables have more):

- ``flows``: period, leg, kind (``ground`` or ``air``), fleet (empty for ground), cohort, people;
- ``people``: period, site, cohort, people (people waiting at the end of the period);
- ``schedule``: fleet, aircraft (``fleet-<n>``, n from 1), leg, direction (``outbound`` or
  ``back``), dep_period.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evacops.errors import PlanFolderError, UserError
from evacops.network.keys import air_arc_name

if TYPE_CHECKING:
    from evacops.network import Network
    from evacops.plan import Plan

#: the file of the plan's summary (with ``period_h``, ``periods`` and ``scenario_sha256``)
SUMMARY = "summary.json"
#: the tables of a plan folder, in the order they are written
TABLES = (
    "people",
    "flows",
    "sorties",
    "schedule",
    "completion",
    "daily_out",
    "daily_out_utc",
    "call_forward",
    "occupancy",
)
#: the tables the simulator reads
NEEDED = ("flows", "people", "schedule")
FORMATS = ("csv", "parquet")
_REPLAN = "re-plan with `evacops plan SCENARIO --out DIR`"


def scenario_digest(path: str | Path) -> str:
    """SHA-256 of a scenario file's bytes, as ``summary.json`` records it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- writing ------------------------------------------------------------------------------------
def daily_out(plan: Plan) -> pd.DataFrame:
    """People off the evacuation airport per local calendar day, by cohort, with a total
    (:meth:`Plan.daily_out <evacops.plan.result.Plan.daily_out>`)."""
    return plan.daily_out()


def staging_occupancy(plan: Plan) -> pd.DataFrame:
    """People at each staging base at the end of each period (periods x staging bases, whole
    people): what the operation picture shows beside each base's people now."""
    occ = plan.occupancy()
    staging = [s for s, k in zip(plan.network.sites, plan.network.site_kind, strict=True)
               if k == "staging"]  # fmt: skip
    out = occ[staging].round().astype(int)
    out.index.name = "time"
    return out


def plan_tables(plan: Plan, names: Sequence[str] = TABLES) -> dict[str, pd.DataFrame]:
    """The tables ``names`` of a plan folder (:data:`TABLES`), by name."""
    from evacops.plan.gates import call_forward

    make: dict[str, Callable[[], pd.DataFrame]] = {
        "people": plan.people,
        "flows": plan.flows,
        "sorties": plan.sorties,
        "schedule": plan.schedule,
        "completion": plan.completion,
        "daily_out": lambda: daily_out(plan),
        # the same people per UTC day: the days the operation's registry counts in
        "daily_out_utc": lambda: plan.daily_out(utc=True),
        "call_forward": lambda: call_forward(plan),
        "occupancy": lambda: staging_occupancy(plan),
    }
    return {name: make[name]() for name in names}


def _write_table(df: pd.DataFrame, folder: Path, name: str, fmt: str) -> Path:
    if fmt == "parquet":
        path = folder / f"{name}.parquet"
        df.to_parquet(path)
    else:
        path = folder / f"{name}.csv"
        df.to_csv(path, index=not isinstance(df.index, pd.RangeIndex))
    return path


def write_plan(
    plan: Plan,
    folder: str | Path,
    fmt: str = "csv",
    scenario_path: str | Path | None = None,
    summary: dict[str, Any] | None = None,
    tables: Sequence[str] = TABLES,
) -> dict[str, Any]:
    """Write the plan's ``tables`` (as ``fmt``: csv or parquet) and ``summary.json`` into
    ``folder`` (with the digest of the scenario file at ``scenario_path``, if given); return the
    paths written by name (each table, then ``summary``). ``summary``: the one to write instead
    of the plan's own (a re-plan's, with its moment and the people out before it)."""
    if fmt not in FORMATS:  # before anything is written
        raise UserError("must be csv or parquet", field="format", value=fmt)
    from evacops.report.folders import make_folder  # (evacops.report loads matplotlib)

    out = make_folder(folder)
    summary = dict(plan.summary() if summary is None else summary)
    if scenario_path is not None:
        summary["scenario_sha256"] = scenario_digest(scenario_path)
    files: dict[str, Any] = {}
    for name, df in plan_tables(plan, tables).items():
        files[name] = str(_write_table(df, out, name, fmt))
    (out / SUMMARY).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    files["summary"] = str(out / SUMMARY)
    return files


# ---- reading ------------------------------------------------------------------------------------
@dataclass
class PlanArrays:
    """A plan as the simulator follows it (dense arrays over the network of the plan)."""

    flow: np.ndarray  # (T, A, C) people setting off on each arc in each period
    hold: np.ndarray  # (T, S, C) people waiting at the end of each period
    sched_move: np.ndarray  # (N, K) each aircraft's sorties in order: move index, -1 padding
    sched_dep: np.ndarray  # (N, K) their planned departure periods (huge for padding)
    n_sched: np.ndarray  # (N,)
    sorties: np.ndarray  # (T, M) sorties leaving

    @property
    def flow_cum(self) -> np.ndarray:
        return np.cumsum(self.flow, axis=0)


@dataclass
class PlanFolder:
    """A folder checked to hold a plan, and its summary."""

    folder: Path
    summary: dict[str, Any]

    @property
    def period(self) -> str:
        """The plan's period as a duration text (the simulator uses the plan's periods)."""
        return f"{float(self.summary['period_h']) * 60:g}min"


def _refuse(folder: str | Path, problem: str) -> PlanFolderError:
    return PlanFolderError(problem, field="plan", value=folder)


def _read_summary(p: Path, folder: str | Path) -> dict[str, Any]:
    hint = "give the folder written by `evacops plan SCENARIO --out DIR`"
    if not p.exists():
        raise _refuse(folder, f"no such folder; {hint}")
    if not p.is_dir():
        raise _refuse(folder, f"is a file, not a folder; {hint}")
    sp = p / SUMMARY
    if not sp.exists():
        raise _refuse(folder, f"no {SUMMARY} there, so it is not a plan; {hint}")
    try:
        summary = json.loads(sp.read_text(encoding="utf-8"))
        float(summary["period_h"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise _refuse(folder, f"{SUMMARY} cannot be read as a plan's summary; {hint}") from None
    return summary


def open_plan(folder: str | Path, scenario_path: str | Path | None = None) -> PlanFolder:
    """Check that ``folder`` holds a plan (of the scenario at ``scenario_path``, if given)."""
    p = Path(folder)
    summary = _read_summary(p, folder)
    for name in NEEDED:
        if not (p / f"{name}.csv").exists() and not (p / f"{name}.parquet").exists():
            raise _refuse(folder, f"{name}.csv is missing; {_REPLAN}")
    if scenario_path is not None:
        replan = f"re-plan with `evacops plan {scenario_path} --out {folder}`"
        recorded = summary.get("scenario_sha256")
        if not recorded:
            raise _refuse(
                folder,
                f"{SUMMARY} does not say which scenario file the plan is for (no "
                f"scenario_sha256); {replan}",
            )
        if recorded != scenario_digest(scenario_path):
            raise _refuse(
                folder,
                f"the plan was made for another scenario (scenario_sha256 {recorded[:12]}... "
                f"is not the SHA-256 of {scenario_path}); {replan}",
            )
    return PlanFolder(p, summary)


def _table(folder: Path, name: str) -> pd.DataFrame:
    csv = folder / f"{name}.csv"
    if csv.exists():
        return pd.read_csv(csv, keep_default_na=False, na_values=[""])
    return pd.read_parquet(folder / f"{name}.parquet")


def _index(values: pd.Series, names: list[str], what: str, folder: Path, table: str) -> np.ndarray:
    pos = {n: i for i, n in enumerate(names)}
    out = values.map(pos)
    if out.isna().any():
        bad = values[out.isna()].iloc[0]
        raise _refuse(
            folder, f"{table} names {what} {bad!r}, which the scenario does not have; {_REPLAN}"
        )
    return out.to_numpy(dtype=np.int64)


def _flows(folder: Path, net: Network) -> np.ndarray:
    """(T, A, C) people setting off on each arc (air arcs named ``leg@fleet``)."""
    flows = _table(folder, "flows")
    flow = np.zeros((net.T, len(net.arc_name), len(net.cohorts)))
    if len(flows):
        fleet = flows["fleet"].fillna("").astype(str)
        legs = flows["leg"].astype(str)
        arc = [
            leg if kind == "ground" else air_arc_name(leg, fl)
            for leg, kind, fl in zip(legs, flows["kind"], fleet, strict=True)
        ]
        a = _index(pd.Series(arc), net.arc_name, "the arc", folder, "flows")
        c = _index(flows["cohort"].astype(str), net.cohorts, "the cohort", folder, "flows")
        t = flows["period"].to_numpy(dtype=np.int64)
        np.add.at(flow, (t, a, c), flows["people"].to_numpy(dtype=float))
    return flow


def _holds(folder: Path, net: Network) -> np.ndarray:
    """(T, S, C) people waiting at the end of each period."""
    people = _table(folder, "people")
    hold = np.zeros((net.T, len(net.sites), len(net.cohorts)))
    if len(people):
        s = _index(people["site"].astype(str), net.sites, "the site", folder, "people")
        c = _index(people["cohort"].astype(str), net.cohorts, "the cohort", folder, "people")
        np.add.at(
            hold,
            (people["period"].to_numpy(dtype=np.int64), s, c),
            people["people"].to_numpy(dtype=float),
        )
    return hold


def _schedule(folder: Path, net: Network) -> tuple[list[list[tuple[int, int]]], np.ndarray]:
    """Each aircraft's (departure period, move) rows, and the sorties leaving (T, M)."""
    sched = _table(folder, "schedule")
    counts = net.fleet_count.astype(int)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    moves = {
        (int(net.move_fleet[m]), net.move_leg[m], bool(net.move_forward[m])): m
        for m in range(len(net.move_fleet))
    }
    per_ac: list[list[tuple[int, int]]] = [[] for _ in range(int(counts.sum()))]
    sorties = np.zeros((net.T, len(net.move_fleet)), dtype=np.int64)
    if not len(sched):
        return per_ac, sorties
    f = _index(sched["fleet"].astype(str), net.fleets, "the fleet", folder, "schedule")
    for fi, name, leg, direction, dep in zip(
        f,
        sched["aircraft"].astype(str),
        sched["leg"].astype(str),
        sched["direction"].astype(str),
        sched["dep_period"].astype(int),
        strict=True,
    ):
        m = moves.get((int(fi), leg, direction == "outbound"))
        try:
            j = int(name.rsplit("-", 1)[1]) - 1
        except (IndexError, ValueError):
            j = -1
        if m is None or not 0 <= j < counts[fi]:
            raise _refuse(
                folder,
                f"schedule row {name} {leg} does not match the scenario's fleets and legs; "
                f"{_REPLAN}",
            )
        per_ac[first[fi] + j].append((int(dep), m))
        if 0 <= dep < net.T:
            sorties[dep, m] += 1
    return per_ac, sorties


def read_plan(pf: PlanFolder, net: Network) -> PlanArrays:
    """The plan's flows, holds and per-aircraft schedule as arrays over ``net``'s indices."""
    folder = pf.folder
    if int(pf.summary.get("periods", net.T)) != net.T:
        raise _refuse(
            folder,
            f"the plan has {pf.summary.get('periods')} periods but the scenario has {net.T} "
            f"of {net.period_h:g} h; {_REPLAN}",
        )
    flow = _flows(folder, net)
    hold = _holds(folder, net)
    per_ac, sorties = _schedule(folder, net)
    N = len(per_ac)
    K = max([len(r) for r in per_ac] + [1])
    sched_move = np.full((N, K), -1, dtype=np.int64)
    sched_dep = np.full((N, K), np.iinfo(np.int64).max // 4, dtype=np.int64)
    for i, rows in enumerate(per_ac):
        rows.sort()
        for k, (dep, m) in enumerate(rows):
            sched_move[i, k] = m
            sched_dep[i, k] = dep
    return PlanArrays(
        flow=flow,
        hold=hold,
        sched_move=sched_move,
        sched_dep=sched_dep,
        n_sched=np.array([len(r) for r in per_ac], dtype=np.int64),
        sorties=sorties,
    )


def plan_outline(folder: str | Path) -> dict[str, Any]:
    """What an operation keeps of a plan (``evacops registry plan attach``): its name (the
    folder's), the digest of its scenario, its period (hours), its people out by the deadline
    per cohort, its people out per day (``daily_out``'s total, and ``daily_out_utc``'s where the
    folder has it: the UTC days the operation's registry counts in), its call-forward and its
    departures, and its people at each staging base per period (where the folder has them:
    :func:`_bases`), as plain values (counts only)."""
    p = Path(folder)
    summary = _read_summary(p, folder)
    if not (p / "daily_out.csv").exists() and not (p / "daily_out.parquet").exists():
        raise _refuse(folder, f"daily_out.csv is missing; {_REPLAN}")
    utc = (p / "daily_out_utc.csv").exists() or (p / "daily_out_utc.parquet").exists()
    cohorts = summary.get("cohorts") or []
    return {
        "name": p.resolve().name,
        "scenario_sha256": summary.get("scenario_sha256"),
        "period_h": summary.get("period_h"),
        "out_by_deadline": {
            str(c["name"]): int(c.get("out_by_deadline_total", c.get("out_by_deadline", 0)))
            for c in cohorts
            if "name" in c
        },
        "daily_out": _days(p, "daily_out"),
        # a folder written before the UTC days has only the scenario's own days
        **({"daily_out_utc": _days(p, "daily_out_utc")} if utc else {}),
        "call_forward": _timed_rows(p, "call_forward", _CALL_COLS),
        "departures": _timed_rows(p, "schedule", _SORTIE_COLS),
        **_bases(p, summary),
    }


def _days(p: Path, table: str) -> dict[str, int]:
    """A per-day table's total ({YYYY-MM-DD: people}): ``daily_out`` or ``daily_out_utc``."""
    day = _table(p, table)
    if day.index.name == "date":  # parquet keeps the index
        day = day.reset_index()
    if "date" not in day.columns or "total" not in day.columns:
        raise _refuse(p, f"{table} has no date and total columns; {_REPLAN}")
    return {str(d)[:10]: int(n) for d, n in zip(day["date"], day["total"], strict=True)}


#: the tables :func:`plan_outline` reads
OUTLINE = ("schedule", "daily_out", "daily_out_utc", "call_forward", "occupancy")


def _bases(p: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The outline's people at each staging base per period (``occupancy``: {start, period_h,
    sites: {base: [people]}}), where the folder has its table (one written before it has
    not)."""
    out: dict[str, Any] = {}
    if (p / "occupancy.csv").exists() or (p / "occupancy.parquet").exists():
        occ = _table(p, "occupancy")
        if occ.index.name == "time":  # parquet keeps the index
            occ = occ.reset_index()
        if "time" not in occ.columns or not len(occ):
            raise _refuse(p, f"occupancy has no time column or no rows; {_REPLAN}")
        start = pd.Timestamp(str(occ["time"].iloc[0]))
        out["occupancy"] = {
            "start": start.tz_convert("UTC").isoformat() if start.tzinfo else start.isoformat(),
            "period_h": summary.get("period_h"),
            "sites": {str(c): [int(v) for v in occ[c]] for c in occ.columns if c != "time"},
        }
    return out


def outline_of(plan: Plan, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`plan_outline` of ``plan`` without a plan folder of its own (a re-plan the service
    made): its summary (``summary``, if the caller has it already) and the four tables the
    outline reads written to a folder that is gone afterwards, read back as ``evacops registry
    plan attach`` reads a folder (the same values, the same rounding). The people and flows
    tables, most of a folder's writing, are left out."""
    with tempfile.TemporaryDirectory() as folder:
        write_plan(plan, folder, summary=summary, tables=OUTLINE)
        return plan_outline(folder)


_CALL_COLS = ("time", "gate", "assembly", "cohort", "people")
_SORTIE_COLS = ("departure", "origin", "destination", "aircraft", "load")


def _timed_rows(p: Path, table: str, cols: tuple[str, ...]) -> list[list[Any]]:
    """A table's rows [time (ISO, UTC), then ``cols[1:]`` ...] as the operation keeps them with
    the plan (counts only): ``call_forward`` for the gate pages, ``schedule`` (each sortie's
    departure, origin, destination, aircraft and load) for the ramp pages. Empty if the folder
    has no such table."""
    if not (p / f"{table}.csv").exists() and not (p / f"{table}.parquet").exists():
        return []
    df = _table(p, table)
    if any(c not in df.columns for c in cols):
        raise _refuse(p, f"{table} has no {', '.join(cols)} columns; {_REPLAN}")
    if "flown_before_replan" in df.columns:  # a re-plan's flown sorties: no loads, no plan
        df = df[~df["flown_before_replan"].astype(str).str.lower().isin(("true", "1"))]
    times = pd.to_datetime(df[cols[0]], utc=True)
    a, b, c, n = (df[k] for k in cols[1:])
    return [
        [t.isoformat(), str(x), str(y), str(z), int(k)]
        for t, x, y, z, k in zip(times, a, b, c, n, strict=True)
    ]
