"""``evacops replan SCENARIO --operation OP`` without ``--plan``: a re-plan from the registry's
people and the operation's latest plan, kept in the registry as the service keeps the ones asked
from the picture (:mod:`evacops.registry.services.replans`). Through the service
(``EVACOPS_URL`` and ``evacops login``) it runs there and this command follows it; on the server
host (with the key) it runs here and is recorded the same way."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from evacops.cli.output import err, fail, out
from evacops.cli.plan import print_crews
from evacops.cli.replan import KEPT_NOTE, window_note

POLL_S = 1.0
WAIT_S = 3600.0


def _moment(at: str | None) -> datetime | None:
    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        fail(
            f"--at {at}: with --operation and no --plan, give an ISO date and time with its zone "
            "(the operation's clock), or leave it out for now"
        )
    return moment


def _read(scenario: Path) -> tuple[str, str]:
    """The scenario's text and its SHA-256 (read once: the digest is that of the text)."""
    try:
        raw = scenario.read_bytes()
        return raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()
    except (OSError, UnicodeDecodeError) as e:
        fail(f"{scenario}: cannot read it ({type(e).__name__}); give the scenario file the "
             "operation's plan was made for")  # fmt: skip
        raise  # (fail exits)


def _here(
    reg: Any, op: str, scenario: Path, moment: datetime | None, what_if: dict, how: dict
) -> dict:
    """On the server host: record the request, run the job here, record what came of it
    (``how``: keep_schedule, window_h, as the request takes them)."""
    from evacops.plan.replan_job import run

    text, digest = _read(scenario)
    runner = f"cli:{uuid.uuid4().hex[:12]}"  # (the server lists it as running meanwhile)
    record, job = reg.request_replan(
        op, at=moment, what_if=what_if, scenario_sha256=digest, runner=runner, **how
    )
    job.update(scenario=text, source=scenario.name)
    try:
        with err.status("re-planning from the registry's people", spinner="dots"):
            got = run(job)
    except Exception as exc:  # (a solver failure): recorded, not left running
        got = {"error": f"the re-plan stopped ({type(exc).__name__}); ask again"}
    reg.finish_replan(op, record["id"], got)
    return _find(reg, op, record["id"])


def _there(
    reg: Any, op: str, scenario: Path, moment: datetime | None, what_if: dict, how: dict
) -> dict:
    """Through the service: ask (for the scenario the server draws, checked by its digest),
    then follow the re-plan until it is done."""
    _, digest = _read(scenario)
    record = reg.ask_replan(op, at=moment, what_if=what_if, scenario_sha256=digest, **how)
    end = time.monotonic() + WAIT_S
    with err.status(f"the service is re-planning (re-plan {record['id']})", spinner="dots"):
        while True:
            found = _find(reg, op, record["id"])
            if found["status"] != "running" or time.monotonic() > end:
                return found
            time.sleep(POLL_S)


def _find(reg: Any, op: str, rid: int) -> dict:
    for r in reg.replans(op):
        if r["id"] == rid:
            return r
    fail(f"re-plan {rid} is not in operation {op}")
    return {}


def _signed(d: int | None) -> str:
    return "" if d is None else (f"{d:+,}" if d else "0")


def _table(rec: dict) -> Table:
    rows = rec["comparison"]
    what_if = bool(rows) and "baseline" in rows[0]
    lp = what_if and not rec["result"].get("keep_schedule")  # (a kept schedule has no LP)
    t = Table(title="People out by the deadline per cohort")
    if what_if:
        cols = ["cohort", *(["effect (LP)"] if lp else []), "effect (whole sorties)",
                "what-if", "re-plan, no change", "plan"]  # fmt: skip
    else:
        cols = ["cohort", "difference", "re-plan", "plan"]
    for col in cols:
        t.add_column(col, justify="left" if col == "cohort" else "right")
    for r in rows:
        plan = "" if r["plan"] is None else f"{r['plan']:,}"
        if what_if:
            t.add_row(r["cohort"], *([_signed(r.get("lp_difference"))] if lp else []),
                      _signed(r["difference"]), f"{r['replan']:,}", f"{r['baseline']:,}",
                      plan)  # fmt: skip
        else:
            t.add_row(r["cohort"], _signed(r["difference"]), f"{r['replan']:,}", plan)
    return t


def replan_operation(
    scenario: Path,
    operation: str,
    user: str | None,
    at: str | None,
    what_if: dict[str, Any],
    adopt: bool,
    as_json: bool,
    keep_schedule: bool = False,
    window: float | None = None,
) -> None:
    from evacops.cli.registry.common import session
    from evacops.client import RemoteRegistry

    moment = _moment(at)
    reg, op = session(user, operation)
    how = {"keep_schedule": keep_schedule, "window_h": window}
    ask = _there if isinstance(reg, RemoteRegistry) else _here
    rec = ask(reg, op, scenario, moment, what_if, how)
    if rec["status"] == "done" and adopt:
        rec["adopted_as"] = reg.adopt_replan(op, rec["id"])
        rec["adopted"] = True
    if as_json:
        print(json.dumps(rec, default=str))
        if rec["status"] != "done":
            raise SystemExit(1)
        return
    if rec["status"] != "done":
        fail(f"re-plan {rec['id']} {rec['status']}: {rec.get('error') or 'ask again'}")
    res = rec["result"]
    st = res["state"]
    out.print(
        f"Re-plan {rec['id']} of {op} from {rec['at'][:16]} UTC: {st['people_waiting']:,} people "
        f"in the registry still to move, {st['out_before']:,} out before; answered in "
        f"{rec.get('took_s', 0):.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    out.print(_table(rec))
    if res.get("whole_sortie_gap_pct") is not None:
        out.print(f"  whole sorties: {res['whole_sortie_gap_pct']:.2f} % under the LP bound")
    if res.get("keep_schedule"):
        out.print(KEPT_NOTE, soft_wrap=True)
    if res.get("window_until"):
        out.print(window_note(res["window_until"]), soft_wrap=True)
    print_crews(res.get("crews"))
    if rec.get("adopted"):
        out.print(f"Adopted: re-plan {rec['id']} is the operation's plan now.", highlight=False)
    else:
        out.print(
            f"Kept in the registry; adopt it with --adopt or from the picture (re-plan "
            f"{rec['id']}).",
            highlight=False,
        )
