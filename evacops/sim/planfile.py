"""Read the folder that ``evacops plan --out DIR`` writes, for the simulator to follow.

Only the written files are read (``summary.json``, ``flows``, ``people`` and ``schedule``, as CSV
or Parquet): the simulator does not import the planner's internals. A plan is refused, with one
line that says what to do, when the folder is not a plan or when it was made for another scenario
(``scenario_sha256`` in summary.json against the SHA-256 of the scenario file's bytes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evacops.errors import PlanFolderError
from evacops.network import Network
from evacops.sim.model import PlanArrays

NEEDED = ("flows", "people", "schedule")


def scenario_digest(path: str | Path) -> str:
    """SHA-256 of a scenario file's bytes, as ``evacops plan --out`` records it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class PlanFolder:
    folder: Path
    summary: dict[str, Any]

    @property
    def period(self) -> str:
        """The plan's period as a duration text (the simulator uses the plan's periods)."""
        return f"{float(self.summary['period_h']) * 60:g}min"


def open_plan(folder: str | Path, scenario_path: str | Path | None = None) -> PlanFolder:
    """Check that ``folder`` holds a plan (of the scenario at ``scenario_path``, if given)."""
    p = Path(folder)
    hint = "give the folder written by `evacops plan SCENARIO --out DIR`"
    if not p.exists():
        raise PlanFolderError(f"--plan {folder}: no such folder; {hint}")
    if not p.is_dir():
        raise PlanFolderError(f"--plan {folder}: is a file, not a folder; {hint}")
    sp = p / "summary.json"
    if not sp.exists():
        raise PlanFolderError(
            f"--plan {folder}: no summary.json there, so it is not a plan; {hint}"
        )
    try:
        summary = json.loads(sp.read_text(encoding="utf-8"))
        float(summary["period_h"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise PlanFolderError(
            f"--plan {folder}: summary.json cannot be read as a plan's summary; {hint}"
        ) from None
    for name in NEEDED:
        if not (p / f"{name}.csv").exists() and not (p / f"{name}.parquet").exists():
            raise PlanFolderError(
                f"--plan {folder}: {name}.csv is missing; re-plan with "
                "`evacops plan SCENARIO --out DIR`"
            )
    if scenario_path is not None:
        recorded = summary.get("scenario_sha256")
        if not recorded:
            raise PlanFolderError(
                f"--plan {folder}: summary.json does not say which scenario file "
                f"the plan is for (no scenario_sha256); re-plan with "
                f"`evacops plan {scenario_path} --out {folder}`"
            )
        if recorded != scenario_digest(scenario_path):
            raise PlanFolderError(
                f"--plan {folder}: the plan was made for another scenario (scenario_sha256 "
                f"{recorded[:12]}... is not the SHA-256 of {scenario_path}); re-plan with "
                f"`evacops plan {scenario_path} --out {folder}`"
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
        raise PlanFolderError(
            f"--plan {folder}: {table} names {what} {bad!r}, which the scenario "
            "does not have; re-plan with `evacops plan SCENARIO --out DIR`"
        )
    return out.to_numpy(dtype=np.int64)


def read_plan(pf: PlanFolder, net: Network) -> PlanArrays:
    """The plan's flows, holds and per-aircraft schedule as arrays over ``net``'s indices."""
    folder = pf.folder
    T, S, C, A = net.T, len(net.sites), len(net.cohorts), len(net.arc_name)
    if int(pf.summary.get("periods", T)) != T:
        raise PlanFolderError(
            f"--plan {folder}: the plan has {pf.summary.get('periods')} periods "
            f"but the scenario has {T} of {net.period_h:g} h; re-plan with "
            "`evacops plan SCENARIO --out DIR`"
        )
    flows = _table(folder, "flows")
    flow = np.zeros((T, A, C))
    if len(flows):
        fleet = flows["fleet"].fillna("").astype(str)
        arc = np.where(
            flows["kind"] == "ground",
            flows["leg"].astype(str),
            flows["leg"].astype(str) + "@" + fleet,
        )
        a = _index(pd.Series(arc), net.arc_name, "the arc", folder, "flows")
        c = _index(flows["cohort"].astype(str), net.cohorts, "the cohort", folder, "flows")
        t = flows["period"].to_numpy(dtype=np.int64)
        np.add.at(flow, (t, a, c), flows["people"].to_numpy(dtype=float))
    people = _table(folder, "people")
    hold = np.zeros((T, S, C))
    if len(people):
        s = _index(people["site"].astype(str), net.sites, "the site", folder, "people")
        c = _index(people["cohort"].astype(str), net.cohorts, "the cohort", folder, "people")
        np.add.at(
            hold,
            (people["period"].to_numpy(dtype=np.int64), s, c),
            people["people"].to_numpy(dtype=float),
        )

    sched = _table(folder, "schedule")
    counts = net.fleet_count.astype(int)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    N = int(counts.sum())
    moves = {
        (int(net.move_fleet[m]), net.move_leg[m], bool(net.move_forward[m])): m
        for m in range(len(net.move_fleet))
    }
    per_ac: list[list[tuple[int, int]]] = [[] for _ in range(N)]
    sorties = np.zeros((T, len(net.move_fleet)), dtype=np.int64)
    if len(sched):
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
                raise PlanFolderError(
                    f"--plan {folder}: schedule row {name} {leg} does not match "
                    "the scenario's fleets and legs; re-plan with "
                    "`evacops plan SCENARIO --out DIR`"
                )
            per_ac[first[fi] + j].append((int(dep), m))
            if 0 <= dep < T:
                sorties[dep, m] += 1
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
