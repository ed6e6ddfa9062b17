"""Which assumptions move the result most: each assumption of a scenario at a low and a high
value, the plan re-solved, people out by the deadline counted (a one-at-a-time sensitivity
table, the "tornado" a planner reads top down).

An assumption names places in the scenario file by paths such as
``sites[HKIA].airfield.departure_slots_per_h``, ``cohorts[Other at-risk Afghans].size``,
``sites[kind=gate].processing_rate_per_h`` or ``fleets[*].maintenance_down_fraction``
(``[name]`` picks a list entry by its ``name``, ``[2]`` by its position, ``[field=value]`` the
entries with that value, ``[*]`` every entry; entries a selection picks that do not set the field
are passed over), and gives either the values (``low``/``high``) or factors of the scenario's own
values (``factor: [0.5, 1.5]``). Each variant is validated like any scenario
file, so a value the model refuses is reported with its place, never solved.

By default each variant is solved as the LP (the bound every whole-sortie schedule stays under);
``whole_sorties=True`` runs the full plan (LP and repair) and counts its people.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evacops.errors import InfeasibleError, ScenarioError, SolverError, UserError

Progress = Callable[[int, int], None]  # (variants solved, variants in all)

_SEGMENT = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<sel>[^\]]+)\])?$")


class Assumption(BaseModel):
    """One assumption to vary: where it is in the scenario, its low and high values, and why."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    path: str | list[str] = Field(min_length=1)
    low: float | None = None
    high: float | None = None
    factor: tuple[float, float] | None = None
    why: str = ""

    @model_validator(mode="after")
    def _one_way(self) -> Assumption:
        absolute = self.low is not None and self.high is not None
        if absolute == (self.factor is not None) or (self.low is None) != (self.high is None):
            raise ValueError(
                "give either low and high (values) or factor: [low, high] (times the scenario's "
                "own value)"
            )
        if self.factor is not None and min(self.factor) < 0:
            raise ValueError("factors must be >= 0")
        return self

    @property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)


class VarySpec(BaseModel):
    """A file of assumptions to vary (``evacops sensitivity --vary FILE``)."""

    model_config = ConfigDict(extra="forbid")
    assumptions: list[Assumption] = Field(min_length=1)


def load_spec(path: str | Path) -> VarySpec:
    """Read and validate a file of assumptions; one-line errors naming the place."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such file; give a YAML file with a list of assumptions")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise UserError(f"{p}: not valid YAML text; check indentation and quoting") from None
    try:
        return VarySpec.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(f"[{part}]" if isinstance(part, int) else str(part) for part in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        raise UserError(f"{p}: {where.replace('.[', '[') or 'top level'}: {msg}") from None


def _segments(path: str) -> list[tuple[str, str | None]]:
    parts = []
    for raw in re.split(r"\.(?![^\[]*\])", path):
        m = _SEGMENT.match(raw.strip())
        if not m:
            raise UserError(
                f"path {path!r}: {raw!r} is not a field name or name[entry]; write e.g. "
                "sites[HKIA].holding_capacity"
            )
        parts.append((m["key"], m["sel"]))
    return parts


def _pick(items: list, sel: str, path: str) -> list[int]:
    if sel == "*":
        return list(range(len(items)))
    if "=" in sel:
        key, _, want = (x.strip() for x in sel.partition("="))
        hits = [
            i for i, it in enumerate(items) if isinstance(it, dict) and str(it.get(key)) == want
        ]
        if not hits:
            raise UserError(f"path {path!r}: no entry has {key} = {want}; check the value")
        return hits
    if sel.lstrip("-").isdigit():
        i = int(sel)
        if not -len(items) <= i < len(items):
            raise UserError(f"path {path!r}: [{sel}] is beyond the list's {len(items)} entries")
        return [i % len(items)]
    hits = [i for i, it in enumerate(items) if isinstance(it, dict) and it.get("name") == sel]
    if not hits:
        raise UserError(f"path {path!r}: no entry named {sel!r}; check the name's spelling")
    return hits


def _places(data: dict, path: str) -> list[tuple[dict, str]]:
    """The (mapping, key) pairs a path names in the scenario's data."""
    here: list[Any] = [data]
    segs = _segments(path)
    many = False  # a selection of several entries: those without the field are passed over
    for n, (key, sel) in enumerate(segs):
        last = n == len(segs) - 1
        nxt: list[Any] = []
        for node in here:
            if isinstance(node, list):
                raise UserError(
                    f"path {path!r}: {segs[n - 1][0]!r} is a list; pick its entries with "
                    "[name], [2], [field=value] or [*]"
                )
            if not isinstance(node, dict) or key not in node:
                if many:
                    continue
                raise UserError(
                    f"path {path!r}: {key!r} is not set in the scenario; vary a value the "
                    "scenario gives"
                )
            if sel is None:
                nxt.append((node, key) if last else node[key])
                continue
            items = node[key]
            if not isinstance(items, list):
                raise UserError(f"path {path!r}: {key!r} is not a list; drop the [{sel}]")
            if last:
                raise UserError(f"path {path!r}: end the path with a field, not an entry")
            picked = _pick(items, sel, path)
            many = many or sel == "*" or "=" in sel
            nxt.extend(items[i] for i in picked)
        here = nxt
    if not here:
        raise UserError(f"path {path!r}: none of the entries it picks sets the field")
    return here


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"path {path!r}: holds {value!r}, not a number; vary a numeric value")
    return float(value)


def base_values(data: dict, a: Assumption) -> list[float]:
    return [_number(node[key], p) for p in a.paths for node, key in _places(data, p)]


def varied(data: dict, a: Assumption, end: int) -> dict:
    """A copy of the scenario's data with assumption ``a`` at its low (0) or high (1) end."""
    new = copy.deepcopy(data)
    for node, key in (place for p in a.paths for place in _places(new, p)):
        old = node[key]
        value = float(old * a.factor[end] if a.factor is not None else (a.low, a.high)[end] or 0)
        if isinstance(old, int) and not isinstance(old, bool):
            value = round(value)
        node[key] = value
    return new


# ---- solving ------------------------------------------------------------------------------------


def people_out_by_deadline(text: str, period: str | None, whole_sorties: bool) -> dict:
    """Solve one scenario text; people out by the deadline in total and per cohort."""
    from evacops.network import compile_network
    from evacops.plan.solve import solve_network, solve_plan
    from evacops.scenario.load import parse_text

    t0 = time.perf_counter()
    scenario = parse_text(text, source="<variant>")
    if whole_sorties:
        plan = solve_plan(scenario, period=period, check_binding=-1)
        net, flow = plan.network, plan.final.flow
    else:
        net = compile_network(scenario, period)
        flow = solve_network(net, duals=False).flow
    dl = net.deadline_period
    per_cohort = flow[:, net.out_arcs, :dl].sum(axis=(1, 2))
    return {
        "out": float(per_cohort.sum()),
        "cohorts": {c: float(v) for c, v in zip(net.cohorts, per_cohort, strict=True)},
        "solve_s": time.perf_counter() - t0,
    }


def _solve_one(args: tuple[str, str | None, bool]) -> dict:
    text, period, whole = args
    try:
        return people_out_by_deadline(text, period, whole)
    except ScenarioError as exc:
        return {"error": "the variant is not a valid scenario: " + "; ".join(exc.problems)}
    except (InfeasibleError, SolverError) as exc:
        return {"error": str(exc)}


@dataclass
class Sensitivity:
    """The table: one row per assumption, sorted by swing (high minus low), and the base case."""

    base: dict
    rows: list[dict] = field(default_factory=list)
    period: str | None = None
    whole_sorties: bool = False

    def table(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows)
        if df.empty:
            return df
        return df.set_index("assumption")

    def as_dict(self) -> dict:
        return {
            "measure": "people out of the evacuation airport by the deadline",
            "unit": "people",
            "solved_as": "plan with whole sorties" if self.whole_sorties else "LP (upper bound)",
            "period": self.period,
            "base_out": self.base["out"],
            "base_cohorts": self.base["cohorts"],
            "assumptions": self.rows,
        }


def _row(a: Assumption, base: list[float], low: dict, high: dict, base_out: float) -> dict:
    ends = a.factor if a.factor is not None else (a.low, a.high)
    row: dict[str, Any] = {
        "assumption": a.name,
        "path": a.path,
        "base_value": base[0] if len(set(base)) == 1 else None,
        "low_value": ends[0],
        "high_value": ends[1],
        "values_are": "factor" if a.factor is not None else "value",
        "why": a.why,
    }
    for tag, res in (("low", low), ("high", high)):
        row[f"out_{tag}"] = res.get("out")
        row[f"error_{tag}"] = res.get("error")
        row[f"solve_s_{tag}"] = res.get("solve_s")
    outs = [v for v in (row["out_low"], row["out_high"]) if v is not None]
    span = [*outs, base_out]
    row["swing"] = (max(span) - min(span)) if outs else None
    return row


def run_sensitivity(
    text: str,
    spec: VarySpec,
    period: str | None = None,
    whole_sorties: bool = False,
    workers: int = 1,
    progress: Progress | None = None,
) -> Sensitivity:
    """Solve the base scenario and each assumption at both ends; rows sorted by swing."""
    say = progress or (lambda _done, _total: None)
    data = yaml.safe_load(text)
    bases = [base_values(data, a) for a in spec.assumptions]  # every path checked before solving
    jobs: list[tuple[str, str | None, bool]] = [(text, period, whole_sorties)]
    for a in spec.assumptions:
        for end in (0, 1):
            jobs.append(
                (yaml.safe_dump(varied(data, a, end), sort_keys=False), period, whole_sorties)
            )
    results: list[dict] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for i, res in enumerate(pool.map(_solve_one, jobs)):
                results.append(res)
                say(i + 1, len(jobs))
    else:
        for i, job in enumerate(jobs):
            results.append(_solve_one(job))
            say(i + 1, len(jobs))
    base = results[0]
    if "error" in base:
        raise UserError(f"the scenario itself cannot be planned: {base['error']}")
    rows = [
        _row(a, bases[k], results[1 + 2 * k], results[2 + 2 * k], base["out"])
        for k, a in enumerate(spec.assumptions)
    ]
    rows.sort(key=lambda r: -1.0 if r["swing"] is None else -r["swing"])
    return Sensitivity(base=base, rows=rows, period=period, whole_sorties=whole_sorties)


def tornado(sens: Sensitivity, path: Path, title: str) -> Path:
    """The tornado plot: people out at each assumption's low and high end around the base."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in sens.rows if r["swing"] is not None][::-1]
    base = sens.base["out"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    for y, r in enumerate(rows):
        for tag, colour in (("low", "#4575b4"), ("high", "#d73027")):
            v = r[f"out_{tag}"]
            if v is not None:
                ax.barh(y, v - base, left=base, color=colour, alpha=0.85)
    ax.set_yticks(np.arange(len(rows)), [r["assumption"] for r in rows], fontsize=8)
    ax.axvline(base, color="black", lw=1)
    ax.set_xlabel("people out by the deadline (blue: low value, red: high value)")
    ax.set_title(title, fontsize=10)
    ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
