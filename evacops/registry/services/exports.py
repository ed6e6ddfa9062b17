"""Exports: the passenger manifest as CSV (personal data: role-checked, audited) and the counts
as HXL-tagged CSV with small cells suppressed (no personal data). For a client of the service
that writes the file itself, the same rows a page at a time (:func:`manifest_page`,
:func:`counts_page`), each page role-checked and audited as an export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from evacops.errors import RegistryError
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
        n = write_manifest_csv(_manifest_rows(ctx, conn, op, flight, m["entries"]), Path(path))
        ctx.audit(conn, "export-manifest", op, flight, {"rows": n, "version": m["version"]})
    return n


def manifest_page(
    ctx: Context, op: str, flight: str, *, version: int | None = None, offset: int = 0,
    limit: int = 100,
) -> dict[str, Any]:  # fmt: skip
    """Rows ``offset`` to ``offset + limit`` of the passenger manifest's ``version`` (default:
    the newest; a client asks for the first page's version after it, so that every page is of
    the same manifest), as :func:`export_manifest` writes them: personal data, so role-checked
    and audited (``export-manifest``, with the version and the rows' offset)."""
    require(ctx.actor, Perm.export_manifest, op)
    m = manifest(ctx, op, flight, version)
    part = m["entries"][offset : offset + limit]
    with ctx.write() as conn:
        rows = _manifest_rows(ctx, conn, op, flight, part)
        ctx.audit(conn, "export-manifest", op, flight,
                  {"rows": len(rows), "version": m["version"], "offset": offset})  # fmt: skip
    return {"version": m["version"], "total": len(m["entries"]), "rows": rows}


def _manifest_rows(
    ctx: Context, conn: Any, op: str, flight: str, entries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    f = ctx.flight(conn, op, flight)
    cipher = ctx.cipher(conn, op)
    rows = []
    for e in entries:
        p = ctx.person(conn, op, e["person_id"])
        o = ctx.open_person(cipher, p)
        cred = conn.execute(
            select(credentials.c.id).where(
                credentials.c.person_id == p["id"], credentials.c.revoked_at.is_(None)
            )
        ).scalar()
        rows.append(_manifest_row(flight, f, e, p, o, cred))
    return rows


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
            .order_by(P.site, P.status, P.cohort, P.nationality)  # the same order every time
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


def counts_page(
    ctx: Context, op: str, *, min_cell: int = 5, offset: int = 0, limit: int = 100
) -> dict[str, Any]:
    """Rows ``offset`` to ``offset + limit`` of the counts :func:`export_counts` writes, small
    cells already suppressed (``<5``), with the columns; audited (``export-counts``). Each page
    is counted when it is asked for."""
    from evacops.registry.writers import counts_table

    require(ctx.actor, Perm.export_counts, op)
    if min_cell < 1:
        raise RegistryError("must be 1 or more", field="min_cell", value=min_cell)
    columns, rows = counts_table(counts_frame(ctx, op), min_cell=min_cell)
    part = rows[offset : offset + limit]
    with ctx.write() as conn:
        ctx.audit(conn, "export-counts", op, "api",
                  {"rows": len(part), "min_cell": min_cell, "offset": offset})  # fmt: skip
    return {"columns": columns, "min_cell": min_cell, "total": len(rows), "rows": part}
