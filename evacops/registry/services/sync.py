"""Offline sync: the scans a gate or ramp device made while its link was down, and the conflicts
they bring.

A device numbers its scans (``seq``, 1, 2, ... per device) and sends them when the link returns
(:func:`sync_scans`). Each ``(device, seq)`` is kept once in ``device_scans`` with the answer it
got, in the same transaction as its event: a retry gets the same answer and makes no new event;
a different scan sent under a ``(device, seq)`` already used is refused.

**An offline scan is never refused at sync**: it happened. Each is first tried as an online scan
(:func:`evacops.registry.services.movements.scan`'s checks); what those checks would refuse is
recorded anyway as the event of what happened, marked ``offline_conflict`` in its data, and a
conflict is queued in ``scan_conflicts`` for review (:func:`conflicts`,
:func:`resolve_conflict`):

- ``two-gates``: one credential checked in at two gates, or boarded twice;
- ``revoked-while-stale``: a credential revoked before the scan, which the device's list did not
  know yet (a credential revoked after the scan is no conflict);
- ``expired``: a credential past its expiry at the scan's time;
- ``over-seats``: more boarded than seats. **The earlier scan (device time) wins the seat**: the
  conflict names the winner and the loser; when the scan that arrived late is the earlier
  one, the seat holder recorded first is the loser and is to be offloaded;
- ``refused-online``: any other check an online scan would have failed (the check's words kept);
- ``ambiguous-code``: a short code typed offline that more than one credential has (no event:
  whom is not known; :func:`evacops.registry.services.credentials.offline_code`).

A scan may carry a typed short code (``"code"``) in place of the QR ``"payload"``; it is
resolved here, at the scan's device time.

A payload that is not a credential of the operation (malformed, forged, another operation's)
makes no event: its answer is ``invalid``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from evacops.errors import AccessDenied, CredentialError, RegistryError
from evacops.registry import credentials as creds
from evacops.registry import events as ev
from evacops.registry.security import Perm, require
from evacops.registry.services import credentials, gate_view, lookups, movements
from evacops.registry.services.context import Context, chunks
from evacops.registry.store.db import integrity_errors, raw
from evacops.registry.store.tables import (
    devices,
    events,
    scan_conflicts,
    seat_claims,
)

#: what a device may record offline
SYNC_ACTIONS = tuple(a for a in movements.SCAN_ACTIONS if a != ev.CALL_FORWARD)
MAX_BATCH = 500
#: scans of one batch recorded in one transaction: one commit for many, while other devices'
#: writes still get their turn between (SQLite has one writer at a time)
TXN_SCANS = 25
PAYLOAD_MAX = 400
CONFLICT_KINDS = ("two-gates", "revoked-while-stale", "expired", "over-seats", "refused-online",
                  "ambiguous-code")  # fmt: skip
RESOLUTIONS = ("confirmed", "offloaded", "corrected", "dismissed")
REASON_MAX = 500


@dataclass(frozen=True)
class OfflineScan:
    seq: int
    payload: str
    action: str
    site: str | None
    flight: str | None
    at: datetime
    body_hash: str


def parse_scan(raw: Any) -> OfflineScan:
    """One scan as a device sent it (``seq``, ``payload``, ``action``, ``at``, optional
    ``site`` and ``flight``), checked; :class:`RegistryError` naming the member otherwise."""
    if not isinstance(raw, dict):
        raise RegistryError("each scan is an object", field="scans")
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**62:
        raise RegistryError("a whole number from 1", field="seq", value=seq)
    if raw.get("payload") is None and "code" in raw:  # a short code typed in
        raw = {**raw, "payload": credentials.code_payload(raw["code"])}
    payload, action = raw.get("payload"), raw.get("action")
    if not isinstance(payload, str) or not 0 < len(payload) <= PAYLOAD_MAX:
        raise RegistryError(f"a credential payload of 1 to {PAYLOAD_MAX} characters",
                            field="payload")  # fmt: skip
    if action not in SYNC_ACTIONS:
        raise RegistryError(f"use one of {', '.join(SYNC_ACTIONS)}", field="action", value=action)
    site, flight = raw.get("site"), raw.get("flight")
    for name, v in (("site", site), ("flight", flight)):
        if v is not None and (not isinstance(v, str) or not 0 < len(v) <= 100):
            raise RegistryError("text of 1 to 100 characters", field=name)
    at = raw.get("at")
    try:
        at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    except ValueError:
        raise RegistryError("an ISO date and time with its zone", field="at") from None
    if at.tzinfo is None:
        raise RegistryError("give the zone (e.g. Z or +04:30)", field="at")
    at = at.astimezone(UTC)
    body = json.dumps([payload, action, site, flight, at.isoformat()], separators=(",", ":"))
    digest = hashlib.sha256(body.encode()).hexdigest()
    return OfflineScan(seq, payload, action, site, flight, at, digest)


def sync_scans(
    ctx: Context, op: str, device_id: str, scans: list[Any], *, view: bool = False
) -> list[dict[str, Any]]:
    """Record a device's offline scans; one answer per scan, in order (see the module). The
    scans are recorded in order, :data:`TXN_SCANS` at most to a transaction (each scan with its
    event, audit entry and ``device_scans`` row; the answers are given once all are committed).
    ``view``: a recorded scan's answer also holds the gate's view of the person (``view``:
    initials, household size; :mod:`.gate_view`), read and audited in that scan's transaction
    and never kept in ``device_scans``."""
    require(ctx.actor, Perm.scan, op)
    if ctx.actor.device != device_id and not ctx.actor.admin:
        raise AccessDenied(f"only device {device_id} (or an admin) may sync its scans")
    if len(scans) > MAX_BATCH:
        raise RegistryError(f"at most {MAX_BATCH} scans at a time", field="scans")
    dev = _device(ctx, op, device_id)
    ctx.own_signer(op)  # read (once a process) before a transaction holds a connection
    out: list[dict[str, Any] | None] = []
    todo: list[tuple[int, OfflineScan]] = []
    for sent in scans:
        try:
            todo.append((len(out), parse_scan(sent)))
            out.append(None)
        except RegistryError as exc:
            seq = sent.get("seq") if isinstance(sent, dict) else None
            out.append({"seq": seq, "outcome": "refused", **refusal(exc)})
    for part in chunks(todo, TXN_SCANS):
        for (i, _s), answer in zip(part, _sync_part(ctx, op, dev, [s for _, s in part], view),
                                   strict=True):  # fmt: skip
            out[i] = answer
    return [a for a in out if a is not None]


def refusal(exc: RegistryError) -> dict[str, Any]:
    """How a device is told why a scan was refused: the problem in English, and the refusal's
    ``code`` and ``params`` for a gate page to word in its language."""
    out: dict[str, Any] = {"problem": str(exc), "code": exc.code}
    if exc.params:
        out["params"] = exc.params
    return out


def _sync_part(
    ctx: Context, op: str, dev: dict, part: list[OfflineScan], view: bool
) -> list[dict[str, Any]]:
    """Scans of one device in one transaction (one commit instead of one per scan), their
    ``device_scans`` rows written together and their audit entries chained together at the end
    (:meth:`Context.audit_together`).

    First on the hope that none of them was synced before (the common case: one round trip
    fewer); if one was (a retry), the ``device_scans`` key refuses the rows at the end, the
    transaction rolls back whole, and the part is recorded again with one read of the answers
    kept for its ``(device, seq)``, replaying those. If a copy of one of them was being
    recorded at that same moment (a retry sent before its answer came back, or the same seq
    twice in the batch), they are recorded one transaction each, which replays that copy."""
    for replaying in (False, True) if len(part) > 1 else (False,):
        try:
            with ctx.write() as conn, ctx.audit_together(conn) as together:
                priors = _priors(conn, dev["id"], [s.seq for s in part]) if replaying else {}
                ahead = _Ahead(conn, [s for s in part if s.seq not in priors])
                together.lane = ahead.lane
                kept: list[dict[str, Any]] = []
                together.also = functools.partial(_keep, conn, kept)
                out = [_sync_in(ctx, conn, op, dev, s, view, priors.get(s.seq), kept, ahead)
                       for s in part]  # fmt: skip
            return out
        except integrity_errors():
            pass  # rolled back whole: nothing of it was kept
    return [_sync_one(ctx, op, dev, s, view) for s in part]


class _Ahead:
    """The credentials and persons of a transaction's scans, read together before the first
    is recorded (one round trip instead of one a scan). A row is used once, and only while no
    earlier scan of the batch touched its person: a credential or person seen again is read
    again, so each scan sees what the scans before it recorded."""

    def __init__(self, conn: Connection, part: list[OfflineScan]):
        cids = set()
        for s in part:
            if not s.payload.startswith(credentials.CODE_PREFIX):
                with contextlib.suppress(creds.InvalidCredential):
                    cids.add(creds.decode_unverified(s.payload).credential_id)
        self.rows, self.lane = lookups.scan_lookups_and_lane(conn, sorted(cids))
        self.touched: set[str] = set()

    def take(self, conn: Connection, cid: str) -> dict[str, Any] | None:
        found = self.rows.pop(cid, None)
        if found is None or found["p_id"] in self.touched:
            found = lookups.scan_lookups(conn, [cid]).get(cid)
        if found is not None:
            self.touched.add(found["p_id"])
        return found


def _device(ctx: Context, op: str, device_id: str) -> dict[str, Any]:
    """The device's id and site: the acting device's own (read with its token in this
    request, and bound to ``op`` since it may scan there), or read for an admin."""
    actor = ctx.actor
    if actor.device == device_id and actor.site is not None:
        return {"id": device_id, "site": actor.site}
    with ctx.read() as conn:
        dev = (
            conn.execute(
                select(devices.c.id, devices.c.site).where(
                    devices.c.id == device_id, devices.c.operation_id == op
                )
            )
            .mappings()
            .first()
        )
    if dev is None:
        raise RegistryError(f"not a device of operation {op}", field="device", value=device_id)
    return dict(dev)


def _sync_one(ctx: Context, op: str, dev: dict, s: OfflineScan, view: bool) -> dict[str, Any]:
    try:
        with ctx.write() as conn:
            return _sync_in(ctx, conn, op, dev, s, view)
    except integrity_errors():
        # the same (device, seq) sent twice at once: the other copy won; give its answer
        with ctx.read() as conn:
            prior = _prior(conn, dev["id"], s.seq)
        if prior is None:
            raise
        return _replay(prior, s)


_READ = object()  # _sync_in: read the answer kept for (device, seq) now


def _sync_in(
    ctx: Context, conn: Connection, op: str, dev: dict, s: OfflineScan, view: bool,
    prior: Any = _READ, kept: list[dict[str, Any]] | None = None, ahead: _Ahead | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One scan of a device in ``conn``'s transaction: its answer kept before (``prior``, read
    here unless given), or recorded now (event, conflict, audit entry) with its
    ``device_scans`` row (written now, or added to ``kept`` for :func:`_keep`)."""
    if prior is _READ:
        prior = _prior(conn, dev["id"], s.seq)
    if prior is not None:
        return _replay(prior, s, ctx, conn, op, view)
    answer = _record(ctx, conn, op, dev, s, view, ahead)
    shown = answer.pop("view", None)  # personal: told, never kept
    r = raw(conn)
    row = {
        "device_id": dev["id"], "seq": s.seq, "body_hash": s.body_hash,
        "event_seq": answer.get("event"), "outcome": answer["outcome"],
        "answer": r.json(answer), "received_at": r.dt(ctx.clock()),
    }  # fmt: skip
    if kept is None:
        r.run(conn, _INSERT_SCAN, row).close()
    else:
        kept.append(row)
    out = {**answer, "duplicate": False}
    if shown:
        out["view"] = shown
    return out


# sent straight to the driver on the scan's hot path (see evacops.registry.store.db.Raw)
_PRIOR = "SELECT body_hash, answer FROM device_scans WHERE device_id = {device_id} AND seq = {seq}"
_PRIORS = (
    "SELECT seq, body_hash, answer FROM device_scans WHERE device_id = {{device_id}} "
    "AND seq IN ({seqs})"
)
_INSERT_SCAN = (
    "INSERT INTO device_scans (device_id, seq, body_hash, event_seq, outcome, answer, "
    "received_at) VALUES ({device_id}, {seq}, {body_hash}, {event_seq}, {outcome}, {answer}, "
    "{received_at})"
)


_KEEP_COLUMNS = ("seq", "body_hash", "event_seq", "outcome", "answer", "received_at")
# a data-modifying WITH query (see _keep); the audit entries' statement is its primary statement
_KEEP_PG = (
    "ds AS (INSERT INTO device_scans (device_id, seq, body_hash, event_seq, outcome, answer, "
    "received_at) SELECT {ds_device_id}, s.seq, s.body_hash, s.event_seq, s.outcome, "
    "s.answer::json, s.received_at FROM unnest({ds_seq}::bigint[], {ds_body_hash}::text[], "
    "{ds_event_seq}::bigint[], {ds_outcome}::text[], {ds_answer}::text[], "
    "{ds_received_at}::timestamptz[]) AS s(seq, body_hash, event_seq, outcome, answer, "
    "received_at))"
)


def _prior(conn: Connection, device_id: str, seq: int) -> tuple[str, dict] | None:
    """The body hash and answer kept for ``(device, seq)``, if it was synced before."""
    cur = raw(conn).run(conn, _PRIOR, {"device_id": device_id, "seq": seq})
    row = cur.fetchone()
    cur.close()
    if row is None:
        return None
    answer = row[1] if isinstance(row[1], dict) else json.loads(row[1])
    return row[0], answer


def _priors(conn: Connection, device_id: str, seqs: list[int]) -> dict[int, tuple[str, dict]]:
    """:func:`_prior` of several seqs of one device in one read."""
    marks = ", ".join(f"{{s{i}}}" for i in range(len(seqs)))
    params: dict[str, Any] = {f"s{i}": q for i, q in enumerate(seqs)}
    params["device_id"] = device_id
    cur = raw(conn).run(conn, _PRIORS.format(seqs=marks), params)
    rows = cur.fetchall()
    cur.close()
    return {q: (h, a if isinstance(a, dict) else json.loads(a)) for q, h, a in rows}


def _keep(conn: Connection, rows: list[dict[str, Any]]) -> tuple[str, dict] | None:
    """The ``device_scans`` rows of :func:`_sync_in` (``kept``), in one go: on SQLite written
    now; on PostgreSQL the statement that writes them (the rows as one array a column), for
    :meth:`Context.audit_together` to send with the batch's audit entries (one round trip)."""
    if not rows:
        return None
    r = raw(conn)
    if r.sqlite:
        r.run_many(conn, _INSERT_SCAN, rows)
        return None
    params: dict[str, Any] = {f"ds_{c}": [row[c] for row in rows] for c in _KEEP_COLUMNS}
    params["ds_answer"] = [json.dumps(a.obj) for a in params["ds_answer"]]  # psycopg's Json
    params["ds_device_id"] = rows[0]["device_id"]
    return _KEEP_PG, params


def _replay(
    prior: tuple[str, dict], s: OfflineScan, ctx: Context | None = None,
    conn: Connection | None = None, op: str = "", view: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The answer kept for a ``(device, seq)`` synced before (with the gate's view again, read
    and audited now, when ``view`` and a writing ``conn`` are given)."""
    body_hash, answer = prior
    if body_hash != s.body_hash:
        return {
            "seq": s.seq,
            "outcome": "refused",
            "problem": f"seq {s.seq}: a different scan was synced under this number already",
            "code": "seq-reused",
        }
    out = {**answer, "duplicate": True}
    pid = answer.get("person_id")
    if view and ctx is not None and conn is not None and pid and answer["outcome"] == "recorded":
        shown = gate_view.by_person(ctx, conn, op, pid)
        if shown:
            out["view"] = shown
    return out


def _record(
    ctx: Context, conn: Connection, op: str, dev: dict, s: OfflineScan, view: bool = False,
    ahead: _Ahead | None = None,
) -> dict:  # fmt: skip
    """The event of one offline scan (and its conflict, if any); the answer to the device."""
    base: dict[str, Any] = {"seq": s.seq, "action": s.action}
    if s.payload.startswith(credentials.CODE_PREFIX):
        got = credentials.offline_code(ctx, conn, op, s.payload, s.at, dev["id"])
        if "payload" not in got:
            return {**base, **got}
        s = replace(s, payload=got["payload"])
    try:
        claim = creds.verify(s.payload, ctx.public_key(op), operation=op, now=s.at,
                             own=ctx.own_signer(op))  # fmt: skip
        expired = False
    except creds.InvalidCredential as exc:
        if exc.reason != creds.Reason.EXPIRED:
            return {**base, "outcome": "invalid", **refusal(exc), "problem": exc.reason.value}
        claim, expired = creds.decode_unverified(s.payload), True
    cid = claim.credential_id
    found = ahead.take(conn, cid) if ahead else lookups.scan_lookups(conn, [cid]).get(cid)
    if found is None or found["c_operation_id"] != op or found["p_operation_id"] != op:
        return {**base, "outcome": "invalid", "problem": "unknown-credential",
                "code": "credential-unknown"}  # fmt: skip
    shown = lookups.lookup_view(ctx, op, found) if view else None
    cred = {k[2:]: found[k] for k in found if k.startswith("c_")}
    p = {k[2:]: found[k] for k in found if k.startswith("p_")}
    site = dev["site"]  # a device scans where it is enrolled
    req = movements._Scan(s.action, site, s.flight, f"dev:{dev['id']}:{s.seq}", None, s.at)
    kind, problem = _stale(cred, s, expired)
    if kind is None:
        two_gates = s.action == ev.GATE_IN and p["status"] == "checked-in" and p["site"] != site
        try:
            done = movements._scan(ctx, conn, op, req, cred, p, None if two_gates else shown)
        except AccessDenied:
            raise
        except (RegistryError, CredentialError) as exc:
            kind, problem = _refusal_kind(s, cred, p, exc), str(exc)
        else:
            answer = {**base, "outcome": "recorded", "event": done["event"],
                      "person_id": p["id"]}  # fmt: skip
            if "view" in done:
                answer["view"] = done["view"]
            if two_gates:
                answer["outcome"] = "conflict"
                answer.update(_queue(ctx, conn, op, "two-gates", p, None, [done["event"]],
                                     {"sites": [p["site"], site]}))  # fmt: skip
            return answer
    return {**_record_anyway(ctx, conn, op, req, cred, p, kind, problem), **base}


def _stale(cred: dict, s: OfflineScan, expired: bool) -> tuple[str | None, str]:
    """A conflict the credential itself brings: revoked before the scan, or expired."""
    revoked = _as_dt(cred["revoked_at"])
    if revoked is not None and revoked <= s.at:
        return "revoked-while-stale", "revoked before the scan"
    if expired:
        return "expired", "expired before the scan"
    return None, ""


def _as_dt(v: Any) -> datetime | None:
    """A datetime read straight from the driver (SQLite gives text, naive UTC)."""
    if v is None:
        return None
    d = datetime.fromisoformat(v) if isinstance(v, str) else v
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def _refusal_kind(s: OfflineScan, cred: dict, p: dict, exc: Exception) -> str:
    if s.action == ev.BOARD and (cred["boarded_at"] is not None or p["status"] == "boarded"):
        return "two-gates"
    if s.action == ev.BOARD and getattr(exc, "code", None) in ("flight-full", "flight-full-laps"):
        return "over-seats"
    return "refused-online"


def _record_anyway(
    ctx: Context, conn: Connection, op: str, req: Any, cred: dict, p: dict, kind: str,
    problem: str,
) -> dict[str, Any]:  # fmt: skip
    """Record what happened though an online scan would have been refused; queue the conflict."""
    fid = None
    site = req.site
    data: dict[str, Any] = {"offline_conflict": kind}
    flight = None
    if req.action in (ev.BOARD, ev.DEPLANE) and req.flight:
        try:
            flight = ctx.flight(conn, op, req.flight, lock=req.action == ev.BOARD)
        except RegistryError:
            flight = None
        if flight is not None:
            fid = flight["id"]
            data["flight"] = flight["code"]
    seat = _free_seat(conn, flight, p) if req.action == ev.BOARD and flight else None
    if req.action == ev.BOARD and flight is not None and seat is None and kind != "two-gates":
        kind = data["offline_conflict"] = "over-seats"
    if seat is not None:
        data.update(seat)
    row = ctx.event(
        conn, op, req.action, person_id=p["id"], household_id=p["household_id"], flight_id=fid,
        site=site, credential_id=cred["id"], idempotency_key=req.key, data=data, at=req.at,
    )  # fmt: skip
    if seat is not None:
        conn.execute(
            insert(seat_claims).values(
                flight_id=fid, seat_no=seat.get("seat"), lap_no=seat.get("lap"),
                person_id=p["id"], event_seq=row["seq"],
            )
        )  # fmt: skip
    ctx.audit(
        conn,
        "scan-offline",
        op,
        p["id"],
        {"action": req.action, "credential": cred["id"], "site": site, "conflict": kind},
    )
    detail: dict[str, Any] = {"problem": problem[:200]}
    involved = [row["seq"]]
    if kind == "over-seats" and flight is not None:
        detail.update(_seat_verdict(conn, flight["id"], row["seq"], req.at))
        involved = sorted({row["seq"], detail["winner_event"], detail["loser_event"]})
    answer = {"outcome": "conflict", "event": row["seq"], "person_id": p["id"]}
    answer.update(_queue(ctx, conn, op, kind, p, fid, involved, detail))
    return answer


def _free_seat(conn: Connection, flight: Any, p: dict) -> dict[str, int] | None:
    """The next free seat (or lap place) of ``flight`` for ``p``, if there is one and ``p`` has
    none on it yet."""
    C = seat_claims.c
    if conn.execute(
        select(C.person_id).where(C.flight_id == flight["id"], C.person_id == p["id"])
    ).first():
        return None
    lap = p["age_group"] == "infant"
    col = C.lap_no if lap else C.seat_no
    taken = conn.execute(select(func.count(col)).where(C.flight_id == flight["id"])).scalar_one()
    if taken >= flight["seats"]:
        return None
    return {"lap" if lap else "seat": taken + 1}


def _seat_verdict(conn: Connection, fid: int, seq: int, at: datetime) -> dict[str, Any]:
    """Over seats: the earlier scan (device time) wins the seat. The latest-scanned seat
    holder loses it if this scan was made before it; otherwise this scan loses."""
    C, E = seat_claims.c, events.c
    latest = conn.execute(
        select(C.event_seq, E.occurred_at)
        .join(events, E.seq == C.event_seq)
        .where(C.flight_id == fid)
        .order_by(E.occurred_at.desc(), C.event_seq.desc())
        .limit(1)
    ).first()
    if latest is not None and latest.occurred_at > at:
        return {"winner_event": seq, "loser_event": latest.event_seq, "seat_moves": True}
    holder = latest.event_seq if latest is not None else seq
    return {"winner_event": holder, "loser_event": seq, "seat_moves": False}


def _queue(
    ctx: Context, conn: Connection, op: str, kind: str, p: dict, fid: int | None,
    involved: list[int], detail: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    cid = conn.execute(
        insert(scan_conflicts).values(
            operation_id=op, kind=kind, person_id=p["id"], flight_id=fid, events=involved,
            detail=detail, status="open", created_at=ctx.clock(),
        )
    ).inserted_primary_key  # fmt: skip
    assert cid is not None
    return {"conflict": kind, "conflict_id": cid[0]}


# ---------------------------------------------------------------------------- the review queue
def conflicts(ctx: Context, op: str, *, status: str | None = "open") -> list[dict[str, Any]]:
    """The conflicts of ``op`` (open ones by default), oldest first; reasons are not shown."""
    require(ctx.actor, Perm.manifest, op)
    K = scan_conflicts.c
    q = select(
        K.id, K.kind, K.person_id, K.flight_id, K.events, K.detail, K.status, K.resolution,
        K.created_at, K.resolved_at, K.resolved_by,
    ).where(K.operation_id == op)  # fmt: skip
    if status is not None:
        q = q.where(K.status == status)
    with ctx.read() as conn:
        return [dict(r) for r in conn.execute(q.order_by(K.id)).mappings()]


def resolve_conflict(ctx: Context, op: str, conflict_id: int, resolution: str, reason: str) -> None:
    """Close a conflict with ``resolution`` and a reason (sealed: free text may name people)."""
    require(ctx.actor, Perm.manifest, op)
    if resolution not in RESOLUTIONS:
        raise RegistryError(f"use one of {', '.join(RESOLUTIONS)}", field="resolution",
                            value=resolution)  # fmt: skip
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise RegistryError(f"give a reason of 1 to {REASON_MAX} characters", field="reason")
    K = scan_conflicts.c
    with ctx.write() as conn:
        row = conn.execute(
            select(K.status).where(K.id == conflict_id, K.operation_id == op)
        ).first()
        if row is None:
            raise RegistryError(f"not a conflict of operation {op}", field="conflict",
                                value=conflict_id)  # fmt: skip
        if row.status != "open":
            raise RegistryError("resolved already", field="conflict", value=conflict_id)
        sealed = ctx.cipher(conn, op).seal(reason, f"scan_conflicts|{conflict_id}|reason")
        conn.execute(
            update(scan_conflicts).where(K.id == conflict_id).values(
                status="resolved", resolution=resolution, reason_enc=sealed,
                resolved_at=ctx.clock(), resolved_by=ctx.actor.name,
            )
        )  # fmt: skip
        ctx.audit(conn, "conflict-resolved", op, str(conflict_id), {"resolution": resolution})
