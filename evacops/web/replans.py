"""The service's re-plans: asked for from the API or the picture, run beside the server in one
worker process (:mod:`evacops.plan.replan_job`: counts in, counts out; the keys stay here),
recorded in the registry when asked and when done (:mod:`evacops.registry.services.replans`).

One worker: re-plans run one at a time, in the order asked, and the server keeps answering
while they run (a process, not a thread: the model build holds the interpreter). A re-plan the
server did not see finish (it stopped) is listed as interrupted; ask again.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import threading
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import Any

from evacops.errors import UserError
from evacops.registry.service import Registry

log = logging.getLogger("evacops.web.replans")

_NOT_STARTED = "the re-plan could not start (the server is stopping, or its worker); ask again"

MAX_WAITING = 3  # re-plans of one operation running or waiting at once


class Replanner:
    """Runs the operation's re-plans for the scenario file at ``scenario`` (the one served)."""

    def __init__(self, scenario: Path | None) -> None:
        self.scenario = scenario
        # read once: the digest a request is checked against is that of the text re-planned
        # (the file may change while the server runs; restart it to serve the new one)
        raw = None if scenario is None else scenario.read_bytes()
        self._text = None if raw is None else raw.decode("utf-8")
        self.digest = None if raw is None else hashlib.sha256(raw).hexdigest()
        self.id = f"serve:{uuid.uuid4().hex[:12]}"  # this process, as the requests name it
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        self._jobs: dict[tuple[str, int], Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._asking = threading.Lock()  # one request at a time: the MAX_WAITING check holds

    def running(self, op: str) -> frozenset[int]:
        """The ids of ``op``'s re-plans still running here: until each is recorded, not only
        until its job is done (between the two, one listed by the log alone would look
        interrupted: a client following it stopped there once, under load)."""
        with self._lock:
            return frozenset(i for (o, i), f in self._jobs.items() if o == op and not f.cancelled())

    def replans(self, reg: Registry, op: str) -> list[dict[str, Any]]:
        """``op``'s re-plans as this process sees them (its own running ones, others' too)."""
        return reg.replans(op, self.running(op), self.id)

    def submit(
        self,
        reg: Registry,
        op: str,
        at: datetime | None,
        what_if: dict[str, Any] | None,
        scenario_sha256: str | None = None,
        keep_schedule: bool = False,
        window_h: float | None = None,
    ) -> dict[str, Any]:
        """Record the request (as ``reg``'s user) and start the re-plan; its record. With
        ``scenario_sha256`` (the caller's scenario file), refused if the server's differs;
        ``keep_schedule``: the people alone, on the plan's sorties; ``window_h``: the aircraft
        re-planned for the next hours only."""
        if self.scenario is None:
            raise UserError(
                "the server draws no scenario; start it with EVACOPS_SCENARIO set to the "
                "scenario file the plan was made for",
                field="scenario",
                code="no-scenario",
            )
        if scenario_sha256 is not None and scenario_sha256 != self.digest:
            raise UserError(
                "the server draws another scenario file than yours; re-plan with the one it "
                "serves (EVACOPS_SCENARIO) or restart it with yours",
                field="scenario_sha256",
                code="scenario-other",
            )
        from evacops.plan.replan_job import run  # (loads the planner's package: when first asked)

        with self._asking:
            if len(self.running(op)) >= MAX_WAITING:
                raise UserError(
                    f"{MAX_WAITING} re-plans of {op} are running or waiting; ask again when "
                    "one is done",
                    field="replan",
                    code="replans-waiting",
                )
            record, job = reg.request_replan(
                op,
                at=at,
                what_if=what_if,
                scenario_sha256=self.digest,
                runner=self.id,
                keep_schedule=keep_schedule,
                window_h=window_h,
            )
            job.update(
                scenario=self._text,
                source=self.scenario.name,
                time_limit=None,  # the LP to its end, the whole sorties on the planner's budget
            )
            rid = record["id"]
            try:
                fut = self._start(op, rid, job, run)
            except Exception as exc:  # recorded as asked: record why it did not start
                reg.finish_replan(op, rid, {"error": _NOT_STARTED})
                raise UserError(_NOT_STARTED, field="replan", code="replan-not-started") from exc
        fut.add_done_callback(lambda f: self._finished(reg, op, rid, f))
        return record

    def _start(self, op: str, rid: int, job: dict[str, Any], run: Any) -> Future[dict[str, Any]]:
        with self._lock:
            try:
                fut = self._worker().submit(run, job)
            except BrokenProcessPool:  # the worker died (memory?): a new one for this job
                self._pool = None
                fut = self._worker().submit(run, job)
            self._jobs[(op, rid)] = fut
        return fut

    def _worker(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("the server is stopping")
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")  # no copy of the server's state
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx)
        return self._pool

    def _finished(self, reg: Registry, op: str, rid: int, fut: Future[dict[str, Any]]) -> None:
        if fut.cancelled():  # the server stopped before it ran: listed as interrupted
            with self._lock:
                self._jobs.pop((op, rid), None)
            return
        try:
            got = fut.result()
        except Exception as exc:  # the worker died or the solver failed: record it, say why
            log.warning("re-plan %s of %s failed: %s", rid, op, type(exc).__name__)
            got = {"error": f"the re-plan stopped ({type(exc).__name__}); ask again"}
        try:
            reg.finish_replan(op, rid, got)
        except Exception as exc:  # e.g. the operation was shredded meanwhile
            log.warning("re-plan %s of %s not recorded: %s", rid, op, type(exc).__name__)
        with self._lock:
            self._jobs.pop((op, rid), None)

    def wait(self, timeout: float = 600.0) -> None:
        """Wait until every re-plan running now is recorded (tests, shutdown)."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._jobs:
                    return
            if time.monotonic() > end:
                raise TimeoutError("re-plans still running")
            time.sleep(0.05)

    def shutdown(self) -> None:
        """Stop: re-plans waiting are dropped (listed as interrupted), no new one starts."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            # the one running is stopped too (recorded as failed: ask again), or the server's
            # exit would wait for it; the pool's processes are not public, hence getattr
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
