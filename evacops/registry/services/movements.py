"""Movements: scans of a credential (gate-in, board, deplane, roll-call, missing, found,
departed-independently, call-forward), call-forward of people, a flight's departure and landing,
and its reconciliation (manifested, boarded, deplaned).

A scan is idempotent: the same scan received twice (same scan id, or the same payload, action,
site and flight) is one event. Boarding claims a seat (or a lap place) in ``seat_claims``, whose
unique keys stop two gates giving away the same last seat. The hot path reads the credential,
its person and a previous copy of the scan in one round trip
(:func:`evacops.registry.services.lookups.scan_lookup`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from evacops.errors import AccessDenied, CredentialError, RegistryError
from evacops.registry import credentials as creds
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services import gate_view
from evacops.registry.services.context import Context
from evacops.registry.services.lookups import lookup_view, scan_lookup
from evacops.registry.store.db import integrity_errors
from evacops.registry.store.tables import (
    events,
    manifest_entries,
    manifests,
    seat_claims,
)

SCAN_ACTIONS = (
    ev.GATE_IN,
    ev.BOARD,
    ev.DEPLANE,
    ev.ROLL_CALL,
    ev.MISSING,
    ev.FOUND,
    ev.DEPARTED_INDEPENDENTLY,
    ev.CALL_FORWARD,
)
SCAN_ID_MAX = 90  # events.idempotency_key is 100 characters, "scan:" included
# what a scan's answer repeats from its event's data (the same for a repeated scan)
_SCAN_ANSWER = ("seat", "lap", "override", "expected_site")


def scan(
    ctx: Context,
    op: str,
    payload: str,
    action: str,
    *,
    site: str | None = None,
    flight: str | None = None,
    scan_id: str | None = None,
    override: str | None = None,
    at: datetime | None = None,
    view: bool = False,
) -> dict[str, Any]:
    """Record a scanned credential: gate-in, board, deplane, roll-call, missing, found,
    departed-independently or call-forward. The same scan received twice (same ``scan_id``,
    or the same payload, action, site and flight) is one event: the second returns the first
    with ``duplicate: true``. ``view``: the answer also holds the gate's view of the person
    (``view``: initials, household size; :mod:`.gate_view`), read and audited in the scan's
    own transaction."""
    if action not in SCAN_ACTIONS:
        raise RegistryError(
            f"not a scan; use one of {', '.join(SCAN_ACTIONS)}", field="action", value=action
        )
    require(ctx.actor, Perm.scan, op)
    if override is not None:
        require(ctx.actor, Perm.manifest, op)
    if action == ev.CALL_FORWARD:
        require(ctx.actor, Perm.register, op)
    site = device_site(ctx, site)
    claim = creds.verify(
        payload, ctx.public_key(op), operation=op, now=ctx.clock(), own=ctx.own_signer(op)
    )
    key = scan_key(ctx, payload, action, site, flight, scan_id, at)
    try:
        with ctx.write() as conn:
            if action == ev.BOARD and flight and ctx.pg:  # lock first: later reads are fresh
                ctx.flight(conn, op, flight, lock=True)
            found = scan_lookup(conn, claim.credential_id, key)
            if found is not None and found["dup_seq"] is not None:
                dup = _replayed(conn, key, claim.credential_id, action, scan_id)
                if dup is not None:
                    shown = gate_view.by_person(ctx, conn, op, dup["person_id"]) if view else None
                    return {**dup, "view": shown} if shown else dup
            cred, p = _holder(claim, found, op)
            request = _Scan(action, site, flight, key, override, at)
            shown = lookup_view(ctx, op, found) if view and found is not None else None
            return _scan(ctx, conn, op, request, cred, p, shown)
    except integrity_errors():
        # a concurrent copy of the same scan won the race: report it
        with ctx.read() as conn:
            dup = _replayed(conn, key, claim.credential_id, action, scan_id)
        if dup is None:
            # a unique key (seat, lap place, person on a flight) refused a concurrent claim
            raise RegistryError(
                "scan: another gate changed this flight at the same moment; scan again",
                code="scan-race",
            ) from None
        return dup


def device_site(ctx: Context, site: str | None) -> str | None:
    """The site of a scan: a device scans only at the site it is bound to (its site when none
    is given)."""
    bound = ctx.actor.site
    if bound is None:
        return site
    if site is not None and site != bound:
        raise AccessDenied(
            f"device {ctx.actor.device} is enrolled at {bound}, not {site}",
            field="site",
            code="wrong-site",
            params={"enrolled": bound, "site": site},
        )
    return bound


class _Scan:
    """What was asked of one scan."""

    __slots__ = ("action", "at", "flight", "key", "override", "site")

    def __init__(self, action, site, flight, key, override, at):
        self.action, self.site, self.flight = action, site, flight
        self.key, self.override, self.at = key, override, at


def scan_key(
    ctx: Context,
    payload: str,
    action: str,
    site: str | None,
    flight: str | None,
    scan_id: str | None,
    at: datetime | None,
) -> str:
    """The idempotency key of a scan: the client's ``scan_id`` (compared with the scan on a
    replay), or a digest of the credential, action, place and time (``at``; when the client
    gives no time, the server's UTC day: a retry that day is one scan, a roll-call the next
    day is a new one; clients that scan offline send ``at`` or a scan id)."""
    if scan_id:
        if len(scan_id) > SCAN_ID_MAX:
            raise RegistryError(f"at most {SCAN_ID_MAX} characters", field="scan_id")
        return "scan:" + scan_id
    stamp = at.isoformat() if at else ctx.clock().strftime("%Y-%m-%d")
    body = f"{payload}|{action}|{site}|{flight}|{stamp}"
    return "scan:" + hashlib.sha256(body.encode()).hexdigest()[:48]


def _replayed(
    conn: Connection, key: str, credential: str, action: str, scan_id: str | None
) -> dict[str, Any] | None:
    """The answer of the scan already recorded under ``key``, if it is this scan (the same
    credential and action); a scan id used for another scan is refused."""
    row = conn.execute(
        select(
            events.c.seq,
            events.c.type,
            events.c.person_id,
            events.c.site,
            events.c.flight_id,
            events.c.credential_id,
            events.c.data,
        ).where(events.c.idempotency_key == key)
    ).first()
    if row is None:
        return None
    if row.credential_id != credential or row.type != action:
        raise RegistryError(
            "used already for another scan; give each scan its own id",
            field="scan_id",
            value=scan_id,
            code="scan-id-reused",
        )
    return {
        "event": row.seq,
        "action": row.type,
        "person_id": row.person_id,
        "site": row.site,
        "duplicate": True,
        **{k: v for k, v in row.data.items() if k in _SCAN_ANSWER},
    }


def _holder(claim: Any, found: dict[str, Any] | None, op: str) -> tuple[dict, dict]:
    """The credential and its person, if the credential may be used in ``op``."""
    code = creds.short_code(claim.credential_id)
    if found is None or found["c_operation_id"] != op:
        raise CredentialError(
            f"credential {code}: not issued by this registry", code="credential-unknown"
        )
    cred = {k[2:]: found[k] for k in found if k.startswith("c_")}
    if cred["revoked_at"] is not None:
        raise CredentialError(
            f"credential {code}: revoked; see a registrar", code="credential-revoked"
        )
    p = {k[2:]: found[k] for k in found if k.startswith("p_")}
    if p["operation_id"] != op:
        raise CredentialError(
            f"credential {code}: for another operation", code="credential-operation"
        )
    if p["status"] == "merged":
        raise CredentialError(
            f"credential {code}: its person was merged into {p['merged_into']}",
            code="person-merged",
        )
    return cred, p


def _scan(
    ctx: Context, conn: Connection, op: str, s: _Scan, cred: dict, p: dict,
    view: dict[str, Any] | None = None,
) -> dict:  # fmt: skip
    """Check and record one scan (event, projection, seat, audit entry) in ``conn``'s
    transaction; ``view``: the gate's view shown with it (audited in the scan's entry)."""
    pid = p["id"]
    data: dict[str, Any] = {}
    fid = None
    site = s.site
    if s.action == ev.BOARD:
        if not s.flight:
            raise RegistryError("needed for board", field="flight", code="flight-needed")
        f = ctx.flight(conn, op, s.flight, lock=True)
        fid, site = f["id"], site or f["origin"]
        data = _board(conn, f, p, cred, s.override)
        if "reason" in data:  # the override's words: free text, sealed
            note = data.pop("reason")
            data["reason_sealed"] = ctx.seal_text(conn, op, note, f"override|{cred['id']}")
    elif s.action == ev.DEPLANE:
        if not s.flight:
            raise RegistryError("needed for deplane", field="flight", code="flight-needed")
        f = ctx.flight(conn, op, s.flight)
        fid, site = f["id"], site or f["destination"]
        _check_deplane(f, p)
    else:
        data = _at_site(ctx, conn, op, s.action, site, p)
    if site is not None:
        ctx.check_site(conn, op, site)
    row = ctx.event(
        conn,
        op,
        s.action,
        person_id=pid,
        household_id=p["household_id"],
        flight_id=fid,
        site=site,
        credential_id=cred["id"],
        idempotency_key=s.key,
        data=data,
        at=s.at,
    )
    if s.action == ev.BOARD:
        conn.execute(
            insert(seat_claims).values(
                flight_id=fid,
                seat_no=data.get("seat"),
                lap_no=data.get("lap"),
                person_id=pid,
                event_seq=row["seq"],
            )
        )
    detail: dict[str, Any] = {
        "action": s.action, "credential": cred["id"], "site": site, "flight": s.flight,
    }  # fmt: skip
    if s.override:
        detail["override"] = True
    if view:
        detail["shown"] = gate_view.SHOWN
    ctx.audit(conn, "scan", op, pid, detail)
    out = {
        "event": row["seq"],
        "action": s.action,
        "person_id": pid,
        "site": site,
        "duplicate": False,
        **{k: v for k, v in data.items() if k in _SCAN_ANSWER},
    }
    if view:
        out["view"] = view
    return out


def _check_deplane(f: Any, p: dict) -> None:
    flight = {"flight": f["code"]}
    if f["status"] == "scheduled":
        raise RegistryError(
            f"flight {f['code']}: has not departed; record its departure first",
            code="flight-not-departed",
            params=flight,
        )
    if p["flight_id"] != f["id"] or p["status"] not in ("in-flight", "boarded"):
        raise RegistryError(
            f"person {p['id']}: was not on flight {f['code']} ({p['status']}); "
            "report it at reconciliation",
            code="not-on-flight",
            params=flight,
        )


def _at_site(
    ctx: Context, conn: Connection, op: str, action: str, site: str | None, p: dict
) -> dict[str, Any]:
    """Checks and event data of a scan at a site (every scan but board and deplane)."""
    pid = p["id"]
    data: dict[str, Any] = {}
    if site is None:
        raise RegistryError(f"needed for {action}", field="site", code="site-needed")
    if p["status"] in ("boarded", "in-flight") and action != ev.MISSING:
        raise RegistryError(
            f"person {pid}: is {p['status']} on a flight; deplane first", code="on-a-flight"
        )
    if action == ev.FOUND:
        if p["status"] != "missing":
            raise RegistryError(f"person {pid}: is not missing ({p['status']})", code="not-missing")
        kind = ctx.check_site(conn, op, site)
        data["status"] = "arrived" if kind in ("staging", "destination") else "checked-in"
    if action == ev.ROLL_CALL:
        data["expected_site"] = p["site"]
    if p["status"] == "departed-independently" and action != ev.FOUND:
        raise RegistryError(
            f"person {pid}: left on their own; record 'found' first", code="left-independently"
        )
    return data


def _board(conn: Connection, f: Any, p: dict, cred: dict, override: str | None) -> dict:
    """Checks of a boarding and its event data: the seat (or lap place) it takes."""
    pid = p["id"]
    flight = {"flight": f["code"]}
    if f["status"] != "scheduled":
        raise RegistryError(
            f"flight {f['code']}: has {f['status']}; no more boarding",
            code="flight-closed",
            params=flight,
        )
    if cred["boarded_at"] is not None:
        raise CredentialError(
            f"credential {creds.short_code(cred['id'])}: used for boarding already (single use)",
            code="already-boarded",
        )
    if p["status"] not in ("checked-in", "arrived") or (
        p["status"] == "arrived" and p["site"] != f["origin"]
    ):
        raise RegistryError(
            f"person {pid}: is {p['status']} at {p['site']}; check in at {f['origin']} first",
            code="not-checked-in",
            params={"site": f["origin"]},
        )
    version = conn.execute(
        select(func.max(manifests.c.version)).where(manifests.c.flight_id == f["id"])
    ).scalar()
    entry = None
    if version is not None:
        entry = conn.execute(
            select(manifest_entries.c.lap_infant).where(
                manifest_entries.c.flight_id == f["id"],
                manifest_entries.c.version == version,
                manifest_entries.c.person_id == pid,
            )
        ).first()
    data: dict[str, Any] = {"flight": f["code"]}
    if entry is None:
        if not override:
            raise RegistryError(
                f"person {pid} is not on the manifest of {f['code']}; "
                "give a reason to board them anyway (logged)",
                field="override",
                code="not-on-manifest",
                params=flight,
            )
        data.update(override=True, reason=override)
    lap = p["age_group"] == "infant"
    C = seat_claims.c
    col = C.lap_no if lap else C.seat_no
    taken = conn.execute(select(func.count(col)).where(C.flight_id == f["id"])).scalar_one()
    if taken >= f["seats"]:
        what = "lap places" if lap else "seats"
        raise RegistryError(
            f"flight {f['code']}: all {f['seats']} {what} are taken",
            code="flight-full-laps" if lap else "flight-full",
            params={**flight, "seats": f["seats"]},
        )
    data["lap" if lap else "seat"] = taken + 1
    return data


# ---------------------------------------------------------------------------- people and flights
def call_forward(ctx: Context, op: str, person_ids: Iterable[str], site: str) -> int:
    """Tell people to come to ``site`` (the planner's call-forward, per household)."""
    require(ctx.actor, Perm.register, op)
    n = 0
    with ctx.write() as conn:
        ctx.check_site(conn, op, site)
        for pid in person_ids:
            p = ctx.person(conn, op, pid)
            if p["status"] not in ("registered", "called-forward"):
                continue
            ctx.event(
                conn, op, ev.CALL_FORWARD, person_id=pid, household_id=p["household_id"], site=site
            )
            n += 1
        ctx.audit(conn, "call-forward", op, site, {"persons": n})
    return n


def depart(ctx: Context, op: str, flight: str) -> dict[str, Any]:
    """Record that the flight has left: who boarded is in flight."""
    require(ctx.actor, Perm.manifest, op)
    with ctx.write() as conn:
        f = ctx.flight(conn, op, flight, lock=True)
        if f["status"] != "scheduled":
            raise RegistryError(
                f"flight {flight}: has {f['status']} already",
                code="flight-departed",
                params={"flight": flight},
            )
        boarded = conn.execute(
            select(func.count()).select_from(seat_claims).where(seat_claims.c.flight_id == f["id"])
        ).scalar_one()
        ctx.event(
            conn,
            op,
            ev.DEPART,
            flight_id=f["id"],
            site=f["origin"],
            data={"boarded": boarded},
            idempotency_key=f"depart:{f['id']}",
        )
        ctx.audit(conn, "depart", op, flight, {"boarded": boarded})
    return {"flight": flight, "boarded": boarded}


def arrive(ctx: Context, op: str, flight: str) -> dict[str, Any]:
    """Record the landing (once) and reconcile: boarded must equal deplaned."""
    require(ctx.actor, Perm.manifest, op)
    with ctx.write() as conn:
        f = ctx.flight(conn, op, flight, lock=True)
        if f["status"] == "scheduled":
            raise RegistryError(
                f"flight {flight}: has not departed; "
                f"record its departure first ('evacops registry flight {flight} --depart')",
                code="flight-not-departed",
                params={"flight": flight},
            )
        if f["status"] == "departed":
            ctx.event(
                conn,
                op,
                ev.ARRIVE,
                flight_id=f["id"],
                site=f["destination"],
                idempotency_key=f"arrive:{f['id']}",
            )
            ctx.audit(conn, "arrive", op, flight, {})
    return reconcile(ctx, op, flight)


def reconcile(ctx: Context, op: str, flight: str) -> dict[str, Any]:
    """Manifest, boarded and deplaned for one flight, and every discrepancy between them."""
    require(ctx.actor, Perm.report, op)
    with ctx.read() as conn:
        f = ctx.flight(conn, op, flight)
        version = conn.execute(
            select(func.max(manifests.c.version)).where(manifests.c.flight_id == f["id"])
        ).scalar()
        manifested = (
            set()
            if version is None
            else set(
                conn.execute(
                    select(manifest_entries.c.person_id).where(
                        manifest_entries.c.flight_id == f["id"],
                        manifest_entries.c.version == version,
                    )
                ).scalars()
            )
        )
        claims = conn.execute(
            select(seat_claims.c.person_id, seat_claims.c.lap_no).where(
                seat_claims.c.flight_id == f["id"]
            )
        ).all()
        boarded = {c.person_id for c in claims}
        deplaned = set(
            conn.execute(
                select(events.c.person_id).where(
                    events.c.flight_id == f["id"], events.c.type == ev.DEPLANE
                )
            ).scalars()
        )
    pairs = (
        ("boarded-not-deplaned", boarded - deplaned),
        ("deplaned-not-boarded", deplaned - boarded),
        ("manifested-not-boarded", manifested - boarded),
        ("boarded-not-manifested", boarded - manifested),
    )
    return {
        "flight": flight,
        "status": f["status"],
        "manifest_version": version,
        "manifested": len(manifested),
        "boarded": len(boarded),
        "lap_infants": sum(1 for c in claims if c.lap_no is not None),
        "deplaned": len(deplaned),
        "reconciled": boarded == deplaned,
        "discrepancies": [
            {"kind": kind, "person_id": x} for kind, ids in pairs for x in sorted(ids)
        ],
    }
