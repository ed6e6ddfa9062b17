"""Benchmark: evacops' planner (linopy + HiGHS) against the same LP written with PuLP and CBC.

The PuLP model (``benchmarks/pulp_model.py``) is what most operations-research users would write:
dicts of variables keyed by tuples, Python loops, ``lpSum``, solved by PuLP's bundled CBC. Both
sides start from the loaded scenario and time, separately and end to end:

- build: compiling the time-expanded network and building the model;
- solve: handing the model to the solver and getting the solution back.

The objectives must agree (relative difference < 1e-6): that is the evidence that the two
models are the same LP.

    python benchmarks/plan_vs_pulp.py [--scenario PATH] [--period 30min]
                                      [--cbc-time-limit 1800] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pulp
from pulp_model import build_pulp
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from evacops.errors import EvacopsError
from evacops.network import compile_network
from evacops.plan import solve_network
from evacops.scenario import Scenario, load

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = ROOT / "scenarios" / "kabul-2021.yaml"
FALLBACK_SCENARIO = ROOT / "scenarios" / "small-airlift.yaml"
TOLERANCE = 1e-6
EVACOPS_API = "evacops.plan.solve_network(compile_network(scenario, period), duals=False)"


@dataclass
class Result:
    method: str
    variables: int
    constraints: int
    build_s: float
    solve_s: float
    objective: float | None
    status: str

    @property
    def total_s(self) -> float:
        return self.build_s + self.solve_s


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (solver banners written from C/C++) so stdout stays clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_evacops(sc: Scenario, period: str | None, progress: Progress) -> Result:
    """evacops' own entry point for one LP: compile the network, then ``solve_network``, which
    builds the linopy model (:func:`evacops.plan.assemble.assemble_plan`) and solves it with
    HiGHS."""
    task = progress.add_task(
        "evacops: compile network, build linopy model, solve with HiGHS", total=None
    )
    t0 = time.perf_counter()
    net = compile_network(sc, period)
    t1 = time.perf_counter()
    try:
        sol = solve_network(net, duals=False)
    except EvacopsError as e:
        t2 = time.perf_counter()
        progress.update(task, completed=1, total=1)
        return Result("evacops (linopy + HiGHS)", 0, 0, t1 - t0, t2 - t1, None, f"failed: {e}")
    t2 = time.perf_counter()
    progress.update(task, completed=1, total=1)
    build_s = (t1 - t0) + sol.build_s  # compile + build the model
    return Result(
        method="evacops (linopy + HiGHS)",
        variables=sol.variables,
        constraints=sol.constraints,
        build_s=build_s,
        solve_s=(t2 - t0) - build_s,  # the solve, and reading the solution back
        objective=sol.objective,
        status=sol.termination,
    )


def run_pulp(sc: Scenario, period: str | None, time_limit: float, progress: Progress) -> Result:
    task = progress.add_task("PuLP: compile network + build PuLP model", total=None)
    t0 = time.perf_counter()
    net = compile_network(sc, period)
    prob, variables = build_pulp(net)
    t1 = time.perf_counter()
    progress.update(task, completed=1, total=1)
    task = progress.add_task(f"PuLP: solve with CBC (time limit {time_limit:g} s)", total=None)
    with quiet_stdout():
        prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    t2 = time.perf_counter()
    progress.update(task, completed=1, total=1)
    status = pulp.LpStatus[prob.status].lower()
    if prob.sol_status == pulp.LpSolutionIntegerFeasible:
        status = "feasible (stopped at time limit)"
    objective = (
        pulp.value(prob.objective)
        if prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        else None
    )
    return Result(
        method="PuLP + CBC",
        variables=sum(len(v) for v in variables.values()),
        constraints=len(prob.constraints),
        build_s=t1 - t0,
        solve_s=t2 - t1,
        objective=None if objective is None else float(objective),
        status=status,
    )


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        type=Path,
        default=None,
        help=f"scenario YAML (default {DEFAULT_SCENARIO.relative_to(ROOT)}, or "
        f"{FALLBACK_SCENARIO.relative_to(ROOT)} if that does not exist)",
    )
    parser.add_argument(
        "--period", default=None, help="period length, e.g. 30min or 1h (default: the scenario's)"
    )
    parser.add_argument(
        "--cbc-time-limit", type=float, default=1800.0, help="seconds CBC may take (default 1800)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    err = Console(stderr=True)
    path: Path = args.scenario
    if path is None:
        path = DEFAULT_SCENARIO
        if not path.exists():
            err.print(
                f"[yellow]{DEFAULT_SCENARIO.relative_to(ROOT)} not found; using "
                f"{FALLBACK_SCENARIO.relative_to(ROOT)}[/yellow]"
            )
            path = FALLBACK_SCENARIO
    sc = load(path)
    period = args.period or sc.time.period
    periods = sc.timeline(period).n

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        ours = run_evacops(sc, period, progress)
        theirs = run_pulp(sc, period, args.cbc_time_limit, progress)

    speedup = theirs.total_s / ours.total_s
    rel: float | None = None  # compared only when both solvers proved optimality
    if (
        ours.objective is not None
        and theirs.objective is not None
        and (ours.status == theirs.status == "optimal")
    ):
        rel = relative_difference(ours.objective, theirs.objective)
    agree = rel is not None and rel < TOLERANCE

    if args.json:
        rows = [{**asdict(r), "total_s": r.total_s} for r in (ours, theirs)]
        print(
            json.dumps(
                {
                    "scenario": str(path),
                    "period": period,
                    "periods": periods,
                    "evacops_api": EVACOPS_API,
                    "cbc_time_limit_s": args.cbc_time_limit,
                    "results": rows,
                    "speedup": speedup,
                    "relative_difference": rel,
                    "objectives_agree": agree,
                    "tolerance": TOLERANCE,
                },
                indent=2,
            )
        )
    else:
        out = Console(width=max(Console().width, 140), highlight=False)
        table = Table(title=f"{sc.name}: {periods} periods of {period} ({path.name})")
        for col in (
            "method",
            "variables",
            "constraints",
            "build_s",
            "solve_s",
            "total_s",
            "objective",
            "status",
        ):
            table.add_column(
                col, justify="left" if col in ("method", "status") else "right", no_wrap=True
            )
        for r in (ours, theirs):
            table.add_row(
                r.method,
                f"{r.variables:,}",
                f"{r.constraints:,}",
                f"{r.build_s:.2f}",
                f"{r.solve_s:.2f}",
                f"{r.total_s:.2f}",
                "-" if r.objective is None else f"{r.objective:,.4f}",
                r.status,
            )
        out.print(table)
        out.print(f"evacops side: {EVACOPS_API}")
        out.print(
            f"speed-up (PuLP total / evacops total): {speedup:.2f}x "
            f"(build {theirs.build_s / ours.build_s:.2f}x, "
            f"solve {theirs.solve_s / ours.solve_s:.2f}x): "
            f"{'evacops' if speedup > 1 else 'PuLP + CBC'} is faster end to end"
        )
        if rel is None:
            out.print("objectives: not compared (a solver did not prove optimality)")
        else:
            verdict = "agree" if agree else "DISAGREE"
            out.print(
                f"objectives {verdict}: relative difference {rel:.1e} "
                f"({'<' if agree else '>='} {TOLERANCE:g})"
            )
    return 1 if rel is not None and not agree else 0


if __name__ == "__main__":
    sys.exit(main())
