"""``evacops registry`` reports and records: report, export, credentials, shred and audit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from evacops.cli.output import err, fail, guard, out
from evacops.cli.registry.common import (
    JsonOpt,
    OpOpt,
    UserOpt,
    app,
    as_utc,
    emit,
    kv_table,
    open_as,
    quiet,
    session,
)


@app.command()
@guard
def report(
    since: Annotated[
        str | None, typer.Option(help="count people out since this date (ISO)")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="also write report.html, PNG plots and report.json here"),
    ] = None,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts by status, site, cohort and nationality; people out (since a date), per day;
    households split across places; unaccompanied minors."""
    reg, op = session(user, operation)
    r = reg.report(op, since=as_utc(since) if since else None)
    if out_dir is not None:
        from evacops.report.registry import write_registry_report

        r["files"] = {k: str(p) for k, p in write_registry_report(r, out_dir).items()}
    if as_json:
        emit(r, True)
        return
    out.print(
        kv_table(
            f"Operation {op}",
            {
                "registered": r["registered"],
                "out" + (f" since {since}" if since else ""): r["out"],
                "households split": r["households_split"],
                "unaccompanied minors": r["unaccompanied_minors"],
                "  without escort": r["unaccompanied_without_escort"],
            },
        )
    )
    for title, key in (
        ("By status", "by_status"),
        ("By site", "by_site"),
        ("By cohort", "by_cohort"),
        ("Out by nationality", "out_by_nationality"),
    ):
        out.print(kv_table(title, r[key]))
    if out_dir is not None:
        out.print(f"Report: {r['files']['report']}", highlight=False)


@app.command()
@guard
def export(
    kind: Annotated[
        str, typer.Argument(help="manifest (passenger manifest CSV) or counts (HXL CSV)")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="file to write")],
    flight_: Annotated[str | None, typer.Option("--flight", help="flight, for a manifest")] = None,
    min_cell: Annotated[int, typer.Option(help="counts under this are suppressed")] = 5,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a flight's passenger manifest (personal data: manifest role, audited) or aggregate
    counts as HXL-tagged CSV with small cells suppressed (reporter role)."""
    reg, op = session(user, operation)
    if kind == "manifest":
        if not flight_:
            fail("export manifest: name the flight (--flight)")
        n = reg.export_manifest(op, flight_, out_file)
    elif kind == "counts":
        if min_cell < 1:
            fail("--min-cell: must be >= 1")
        n = reg.export_counts(op, out_file, min_cell=min_cell)
    else:
        fail(f"export {kind!r}: use 'manifest' or 'counts'")
    emit({"rows": n, "file": str(out_file)}, as_json, lines=[f"Wrote {n:,} rows to {out_file}."])


def _verify_offline(verify: str, key: Path | None, revoked: Path | None, as_json: bool) -> None:
    """``credentials --verify``: check a payload against a public key file, no database."""
    from evacops.registry import credentials as creds

    if key is None:
        fail("--verify: give the operation's public key file with --key")
    try:
        text = key.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"--key {key}: cannot read it ({exc.strerror})")
    op_, pub = creds.read_public_key_text(text)
    revoked_ids: list[str] = []
    if revoked is not None:
        try:
            revoked_ids = revoked.read_text(encoding="utf-8").split()
        except OSError as exc:
            fail(f"--revoked {revoked}: cannot read it ({exc.strerror})")
    claim = creds.verify(verify, pub, operation=op_, revoked=revoked_ids)
    verified = {
        "valid": True,
        "credential": creds.short_code(claim.credential_id),
        "operation": claim.operation,
        "expires_at": claim.expires_at.isoformat(),
    }
    emit(
        verified,
        as_json,
        lines=[
            f"Valid: {verified['credential']} for {op_}, until {verified['expires_at']}"
            + ("" if revoked is not None else " (give --revoked LIST to check revocation)")
        ],
    )


def _label_sheet(reg: Any, op: str, out_file: Path, as_json: bool) -> dict[str, Any]:
    """``credentials --out``: the wristband label sheet of the operation's valid credentials."""
    from evacops.registry import credentials as creds

    labels = reg.credential_labels(op)  # household code and size: never a category
    if not labels:
        fail("no valid credentials to print; issue some first")
    with err.status(f"drawing {len(labels):,} labels ...") if not as_json else quiet():
        pages = creds.write_label_sheet(labels, out_file)
    return {"labels": len(labels), "pages": pages, "sheet": str(out_file)}


@app.command()
@guard
def credentials(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="write a sheet of wristband labels (.pdf or .png)")
    ] = None,
    issue: Annotated[
        bool, typer.Option(help="issue credentials to everyone active without a valid one first")
    ] = True,
    days: Annotated[int, typer.Option(help="days a new credential is valid")] = 30,
    public_key: Annotated[
        Path | None,
        typer.Option(help="write the operation's public key file (for offline verifiers)"),
    ] = None,
    revoke: Annotated[
        str | None, typer.Option(help="revoke this credential (id or printed code)")
    ] = None,
    reason: Annotated[str, typer.Option(help="why it is revoked")] = "",
    verify: Annotated[
        str | None, typer.Option(help="check a payload offline against --key (no database)")
    ] = None,
    key: Annotated[Path | None, typer.Option(help="public key file, for --verify")] = None,
    revoked: Annotated[
        Path | None,
        typer.Option(
            help="with --verify: the revocation list to check against; otherwise write the "
            "operation's revocation list there (one credential id per line)"
        ),
    ] = None,
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue signed credentials (QR payloads: an opaque id, the operation and an expiry; no
    personal data), print wristband label sheets, export the public key, revoke, verify offline."""
    from evacops.registry import credentials as creds

    if verify is not None:
        _verify_offline(verify, key, revoked, as_json)
        return
    reg, op = session(user, operation)
    if revoke:
        reg.revoke(op, revoke, reason=reason or "revoked")
        emit({"revoked": revoke}, as_json, lines=[f"Credential {revoke} revoked."])
        return
    res: dict[str, Any] = {}
    if public_key is not None:
        public_key.write_text(creds.public_key_text(reg.public_key(op), op), encoding="utf-8")
        res["public_key"] = str(public_key)
    if revoked is not None:
        ids = reg.revoked(op)
        revoked.write_text("".join(i + "\n" for i in ids), encoding="utf-8")
        res.update(revoked=len(ids), revocation_list=str(revoked))
    if issue:
        res["issued"] = len(reg.issue_credentials(op, days=days))
    if out_file is not None:
        res.update(_label_sheet(reg, op, out_file, as_json))
    lines = []
    if "issued" in res:
        lines.append(f"Issued {res['issued']:,} credentials.")
    if "sheet" in res:
        lines.append(f"Wrote {res['labels']:,} labels on {res['pages']} page(s): {res['sheet']}")
    if "public_key" in res:
        lines.append(f"Public key: {res['public_key']}")
    if "revocation_list" in res:
        lines.append(f"Revocation list ({res['revoked']} ids): {res['revocation_list']}")
    emit(res, as_json, lines=lines)


@app.command()
@guard
def shred(
    operation: Annotated[
        str, typer.Option("--operation", help="the operation whose personal data is destroyed")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Crypto-shred an operation: destroy its data key, so every personal field becomes
    unreadable at once; counts and movements remain. Cannot be undone."""
    reg = open_as(user)
    if not yes:
        if not sys.stdin.isatty():
            fail("shred: add --yes to confirm (it cannot be undone)")
        typer.confirm(
            f"Destroy every personal field of operation {operation}? This cannot be undone",
            abort=True,
        )
    r = reg.shred(operation)
    emit(
        r,
        as_json,
        lines=[f"Operation {operation}: data key destroyed; personal fields are unreadable."],
    )


@app.command()
@guard
def audit(
    action: Annotated[
        str, typer.Argument(help="verify (check the hash chain) or list (newest entries)")
    ] = "verify",
    limit: Annotated[int, typer.Option(help="entries to list")] = 50,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify the audit chain (exit 1 if it was altered) or list its newest entries."""
    reg = open_as(user)
    if action == "verify":
        v = reg.audit_verify()
        emit(
            v.to_dict(),
            as_json,
            lines=[
                f"Audit chain verified: {v.entries:,} entries."
                if v.ok
                else f"AUDIT CHAIN BROKEN: {v.problem}"
            ],
        )
        if not v.ok:
            raise typer.Exit(1)
    elif action == "list":
        rows = reg.audit_entries(limit)
        t = Table(title="Audit (newest last)")
        for c in ("seq", "at", "actor", "action", "subject"):
            t.add_column(c)
        for e in rows:
            t.add_row(*(str(e[c]) for c in ("seq", "at", "actor", "action", "subject")))
        emit(rows, as_json, table=t)
    else:
        fail(f"audit {action!r}: use 'verify' or 'list'")
