"""Run batches of replications in this process, on a local process pool, or on Dask.

Every run has its own seed sequence, ``numpy.random.SeedSequence(seed).spawn(runs)[i]``, and a
batch's arithmetic never mixes runs, so the results are the same whatever the engine, the number
of workers and the batch size. Batches are contiguous slices of the runs; their records are put
back together in run order.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import numpy as np

from evacops.errors import SchedulerError, UserError
from evacops.sim.core import run_batch
from evacops.sim.model import SimModel

Progress = Callable[[int, int], None]  # (runs done, runs in all)

#: the most runs in one batch (memory: about 60 kB per run and period of a Kabul-sized model)
MAX_BATCH = 250

_MODEL: SimModel | None = None


def _init_worker(model: SimModel) -> None:
    global _MODEL
    _MODEL = model


def _pool_batch(
    seeds: list[np.random.SeedSequence], audit: bool, random: bool
) -> dict[str, np.ndarray]:
    assert _MODEL is not None, "the worker was not given the model"
    return run_batch(_MODEL, seeds, audit=audit, random=random)


def batches(runs: int, workers: int, batch_size: int | None = None) -> list[tuple[int, int]]:
    """Contiguous (start, stop) slices of the runs: one per worker, at most MAX_BATCH runs
    each (larger batches vectorise better; the results do not depend on the slicing)."""
    if batch_size is None:
        batch_size = max(1, min(MAX_BATCH, math.ceil(runs / max(1, workers))))
    return [(a, min(runs, a + batch_size)) for a in range(0, runs, batch_size)]


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}


def run_local(
    model: SimModel,
    seeds: list[np.random.SeedSequence],
    workers: int = 1,
    batch_size: int | None = None,
    progress: Progress | None = None,
    audit: bool = False,
    random: bool = True,
) -> dict[str, np.ndarray]:
    """Run in this process (one worker) or on a pool of ``workers`` processes."""
    runs = len(seeds)
    cuts = batches(runs, workers, batch_size)
    done = 0
    parts: list[dict[str, np.ndarray] | None] = [None] * len(cuts)
    if workers <= 1 or len(cuts) == 1:
        if progress:
            progress(0, runs)
        for i, (a, b) in enumerate(cuts):
            parts[i] = run_batch(model, seeds[a:b], audit=audit, random=random)
            done += b - a
            if progress:
                progress(done, runs)
        return _concat(parts)  # type: ignore[arg-type]
    # fork: fast, and no `if __name__ == "__main__"` needed in scripts; the workers start at
    # the first submit, before the caller's progress display (a thread) is told to start
    ctx = get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(cuts)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(model,),
    ) as pool:
        futs = {
            pool.submit(_pool_batch, seeds[a:b], audit, random): i for i, (a, b) in enumerate(cuts)
        }
        if progress:
            progress(0, runs)
        for fut in as_completed(futs):
            i = futs[fut]
            parts[i] = fut.result()
            done += cuts[i][1] - cuts[i][0]
            if progress:
                progress(done, runs)
    return _concat(parts)  # type: ignore[arg-type]


def local_cluster(workers: int):  # -> dask.distributed.LocalCluster
    """A Dask LocalCluster of ``workers`` single-threaded worker processes for the simulator.

    Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which returns freed memory to
    the system eagerly; the many short-lived numpy arrays of a batch then cost system calls
    (40% longer runs on Kabul in our measurement), so the workers here keep glibc's default."""
    import logging

    import dask
    from dask.distributed import LocalCluster

    key = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
    with dask.config.set({key: 1 << 30}):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )


def run_dask(
    model: SimModel,
    seeds: list[np.random.SeedSequence],
    workers: int = 2,
    scheduler: str | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
    audit: bool = False,
    random: bool = True,
) -> dict[str, np.ndarray]:
    """Run the batches on a Dask distributed cluster: the scheduler at ``scheduler``
    (``tcp://host:port``), or a LocalCluster of ``workers`` single-threaded processes."""
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    runs = len(seeds)
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="3s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise SchedulerError(
                    f"cannot reach a Dask scheduler there ({type(exc).__name__}); start one "
                    "with `dask scheduler` and workers with `dask worker ADDRESS`, or leave "
                    "--scheduler out for a local cluster",
                    field="scheduler",
                    value=scheduler,
                ) from None
        else:
            cluster = local_cluster(workers)
            client = Client(cluster)
        with client:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
            cuts = batches(runs, n_workers, batch_size)
            tag = uuid.uuid4().hex[:8]
            mfut = client.scatter(model, broadcast=True)
            futs = [
                client.submit(
                    run_batch,
                    mfut,
                    seeds[a:b],
                    audit,
                    random,
                    pure=False,
                    key=f"evacops-sim-{tag}-{i}",
                )
                for i, (a, b) in enumerate(cuts)
            ]
            index = {f.key: i for i, f in enumerate(futs)}
            parts: list[dict[str, np.ndarray] | None] = [None] * len(cuts)
            done = 0
            if progress:
                progress(0, runs)
            for fut in dask_completed(futs):
                i = index[fut.key]
                parts[i] = fut.result()
                done += cuts[i][1] - cuts[i][0]
                if progress:
                    progress(done, runs)
                fut.release()
    finally:
        if cluster is not None:
            cluster.close()
    return _concat(parts)  # type: ignore[arg-type]


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run(
    model: SimModel,
    runs: int,
    seed: int = 0,
    engine: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
    audit: bool = False,
    random: bool = True,
) -> dict[str, np.ndarray]:
    """``runs`` replications of ``model`` from ``seed``; records by run (first axis)."""
    if runs < 1:
        raise UserError("must be 1 or more runs", field="runs", value=runs)
    if workers is not None and workers < 1:
        raise UserError("must be 1 or more worker processes", field="workers", value=workers)
    if engine not in ("local", "dask"):
        raise UserError("must be local or dask", field="engine", value=engine)
    if scheduler and engine != "dask":
        raise UserError(
            "a scheduler is for --engine dask; add --engine dask or leave --scheduler out",
            field="scheduler",
            value=scheduler,
        )
    seeds = np.random.SeedSequence(seed).spawn(runs)
    if engine == "dask":
        return run_dask(
            model,
            seeds,
            workers=workers or 2,
            scheduler=scheduler,
            batch_size=batch_size,
            progress=progress,
            audit=audit,
            random=random,
        )
    return run_local(
        model,
        seeds,
        workers=workers or default_workers(),
        batch_size=batch_size,
        progress=progress,
        audit=audit,
        random=random,
    )
