"""Simulate an evacuation under uncertainty: Monte Carlo runs, local or on a Dask cluster.

    from evacops.scenario import load
    from evacops.sim import simulate

    result = simulate(load("scenarios/kabul-2021.yaml"), plan_dir="out/kabul-2021", runs=1000)
    result.summary()["p_all_out_by_deadline"], result.daily()

Without ``plan_dir`` aircraft follow the dispatch policy (docs/simulation.md). ``random=False``
switches every random draw off: a plan is then replayed period by period.
"""

from __future__ import annotations

import time
from pathlib import Path

from evacops.network import compile_network
from evacops.planfolder import open_plan, read_plan, scenario_digest
from evacops.scenario import Scenario
from evacops.sim.engines import Progress, run
from evacops.sim.model import SimModel, build_model
from evacops.sim.results import SimResult

__all__ = ["SimModel", "SimResult", "build_model", "prepare", "scenario_digest", "simulate"]


def prepare(
    scenario: Scenario, plan_dir: str | Path | None = None, scenario_path: str | Path | None = None
) -> SimModel:
    """The model to simulate: the scenario compiled on its periods (the plan's, with a plan)
    and, with ``plan_dir``, the plan written there (checked against ``scenario_path``)."""
    if plan_dir is None:
        return build_model(scenario)
    pf = open_plan(plan_dir, scenario_path)
    net = compile_network(scenario, pf.period)
    return build_model(scenario, plan=read_plan(pf, net), net=net)


def simulate(
    scenario: Scenario | SimModel,
    plan_dir: str | Path | None = None,
    runs: int = 100,
    seed: int = 0,
    engine: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    random: bool = True,
    scenario_path: str | Path | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
    audit: bool = False,
) -> SimResult:
    """Run ``runs`` replications and gather their results (see :class:`SimResult`)."""
    t0 = time.perf_counter()
    model = (
        scenario if isinstance(scenario, SimModel) else prepare(scenario, plan_dir, scenario_path)
    )
    rec = run(
        model,
        runs,
        seed=seed,
        engine=engine,
        workers=workers,
        scheduler=scheduler,
        batch_size=batch_size,
        progress=progress,
        audit=audit,
        random=random,
    )
    from evacops.sim.engines import default_workers

    used = workers or (2 if engine == "dask" else default_workers())
    return SimResult(
        model=model,
        rec=rec,
        seed=seed,
        engine=engine,
        workers=min(used, runs) if engine == "local" and not scheduler else used,
        random=random and model.rnd.any,
        wall_s=time.perf_counter() - t0,
    )
