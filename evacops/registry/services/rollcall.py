"""Roll-call: who should be at a site and is not.

Each credential scanned at the roll-call is a ``roll-call`` scan (:mod:`.movements`); people
expected there and not seen can be marked ``missing`` (one event each, idempotent per
roll-call).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context, check_length
from evacops.registry.services.movements import scan
from evacops.registry.store.tables import persons

_HERE = ("checked-in", "arrived")  # the statuses of someone expected at a site


def rollcall(
    ctx: Context,
    op: str,
    site: str,
    payloads: Sequence[str] = (),
    *,
    rollcall_id: str | None = None,
    mark_missing: bool = False,
) -> dict[str, Any]:
    """Who should be at ``site`` and is not. Each credential in ``payloads`` records a
    roll-call event there; ``mark_missing`` records everyone expected and not seen as
    missing."""
    require(ctx.actor, Perm.scan, op)
    check_length("rollcall", rollcall_id, 40)  # it goes into idempotency keys
    rid = rollcall_id or ctx.clock().strftime("%Y%m%dT%H%M")
    P = persons.c
    with ctx.read() as conn:  # who should be here, before anyone is scanned
        ctx.check_site(conn, op, site)
        expected = set(
            conn.execute(
                select(P.id).where(
                    P.operation_id == op,
                    P.site == site,
                    P.status.in_(_HERE),
                )
            ).scalars()
        )
    seen: list[str] = []
    moved: list[str] = []
    for payload in payloads:
        r = scan(
            ctx, op, payload, ev.ROLL_CALL, site=site, scan_id=f"rollcall:{rid}:{payload[-24:]}"
        )
        seen.append(r["person_id"])
        if r.get("expected_site") not in (site, None):
            moved.append(r["person_id"])
    with ctx.write() as conn:
        # re-checked inside the write: someone who moved, boarded or was marked since the
        # list was read is not absent from here any more
        absent = []
        for pid in sorted(expected - set(seen)) if payloads else sorted(expected):
            p = ctx.person(conn, op, pid)
            if p["site"] != site or p["status"] not in _HERE:
                continue
            absent.append(pid)
            if mark_missing and payloads:
                ctx.event(
                    conn,
                    op,
                    ev.MISSING,
                    person_id=pid,
                    household_id=p["household_id"],
                    site=site,
                    data={"status_before": p["status"], "rollcall": rid},
                    idempotency_key=f"missing:{rid}:{pid}",
                )
        ctx.audit(conn, "rollcall", op, site, {"expected": len(expected), "seen": len(seen)})
    return {
        "site": site,
        "rollcall": rid,
        "expected": len(expected),
        "present": len(set(seen)),
        "absent": absent,
        "arrived_from_elsewhere": sorted(set(moved)),
        "marked_missing": len(absent) if (mark_missing and payloads) else 0,
    }
