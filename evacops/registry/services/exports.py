"""Exports: the passenger manifest as CSV (personal data: role-checked, audited) and the counts
as HXL-tagged CSV with small cells suppressed (no personal data)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from evacops.registry import credentials as creds
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context
from evacops.registry.services.manifests import manifest
from evacops.registry.store.tables import credentials, persons

if TYPE_CHECKING:
    import pandas as pd


def export_manifest(ctx: Context, op: str, flight: str, path: str | Path) -> int:
    """The passenger manifest as CSV (personal data: role-checked, audited)."""
    from evacops.registry.writers import write_manifest_csv

    require(ctx.actor, Perm.export_manifest, op)
    m = manifest(ctx, op, flight)
    with ctx.write() as conn:
        f = ctx.flight(conn, op, flight)
        cipher = ctx.cipher(conn, op)
        rows = []
        for e in m["entries"]:
            p = ctx.person(conn, op, e["person_id"])
            o = ctx.open_person(cipher, p)
            cred = conn.execute(
                select(credentials.c.id).where(
                    credentials.c.person_id == p["id"], credentials.c.revoked_at.is_(None)
                )
            ).scalar()
            rows.append(_manifest_row(flight, f, e, p, o, cred))
        n = write_manifest_csv(rows, Path(path))
        ctx.audit(conn, "export-manifest", op, flight, {"rows": n, "version": m["version"]})
    return n


def _manifest_row(flight: str, f: Any, e: dict, p: Any, o: dict, cred: str | None) -> dict:
    return {
        "flight": flight,
        "flight_date": f["departs_at"].date().isoformat() if f["departs_at"] else "",
        "origin": f["origin"],
        "destination": f["destination"],
        "seq": e["position"],
        "family_name": o["family_name"],
        "given_name": o["given_name"],
        "sex": p["sex"],
        "birth_date": o["birth_date"] or "",
        "birth_precision": p["birth_precision"],
        "nationality": p["nationality"],
        "document_type": o["document_type"] or "",
        "document_number": o["document"] or "",
        "household_id": p["household_id"],
        "lap_infant": e["lap_infant"],
        "seat_required": not e["lap_infant"],
        "unaccompanied_minor": p["unaccompanied"],
        "document_country": "",
        "category": p["category"],
        "credential_code": creds.short_code(cred) if cred else "",
    }


def counts_frame(ctx: Context, op: str) -> pd.DataFrame:
    """Tidy counts (site, status, cohort, nationality, count) for the HXL export."""
    import pandas as pd

    require(ctx.actor, Perm.report, op)
    P = persons.c
    with ctx.read() as conn:
        rows = conn.execute(
            select(P.site, P.status, P.cohort, P.nationality, func.count().label("count"))
            .where(P.operation_id == op, P.status != "merged")
            .group_by(P.site, P.status, P.cohort, P.nationality)
        ).all()
    df = pd.DataFrame(rows, columns=["site", "status", "cohort", "nationality", "count"])
    df["site"] = df["site"].fillna("")
    df.insert(0, "date", ctx.clock().date().isoformat())
    return df


def export_counts(ctx: Context, op: str, path: str | Path, *, min_cell: int = 5) -> int:
    """The counts as HXL CSV, cells under ``min_cell`` suppressed; returns the rows written."""
    from evacops.registry.writers import write_counts_hxl

    require(ctx.actor, Perm.export_counts, op)
    df = counts_frame(ctx, op)
    n = write_counts_hxl(df, Path(path), min_cell=min_cell)
    with ctx.write() as conn:
        ctx.audit(
            conn,
            "export-counts",
            op,
            str(getattr(path, "name", path)),
            {"rows": n, "min_cell": min_cell},
        )
    return n
