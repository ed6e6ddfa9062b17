"""``evacops registry`` people: import, generate, register, person, and the dedup review queue."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from evacops.cli.output import err, fail, guard
from evacops.cli.registry.common import (
    JsonOpt,
    OpOpt,
    UserOpt,
    app,
    emit,
    kv_table,
    quiet,
    session,
)


@app.command("import")
@guard
def import_(
    file: Annotated[Path, typer.Argument(help="registrations, .csv (UTF-8) or .xlsx")],
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import registrations: all rows or none. Columns: household_id, given_name, family_name,
    sex, birth_date, nationality, document_number, category (docs/registry-files.md)."""
    reg, op = session(user, operation)
    with err.status(f"importing {file.name} ...") if not as_json else quiet():
        res = reg.import_file(op, file)
    emit(
        res.to_dict(),
        as_json,
        lines=[f"Imported {res.imported:,} people in {res.households:,} new households."],
    )


@app.command()
@guard
def generate(
    file: Annotated[Path, typer.Argument(help="CSV file to write (registration import format)")],
    n: Annotated[int, typer.Option("--n", help="registrations to generate")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same people)")] = 0,
    duplicate_rate: Annotated[
        float, typer.Option(help="share that are re-registrations of someone")
    ] = 0.1,
    as_json: JsonOpt = False,
) -> None:
    """Write synthetic registrations (generated people, never real ones) for training, demos and
    benchmarks: households, transliteration variants, default birth dates, missing documents and
    re-registrations (docs/registry-dedup.md)."""
    from evacops.registry.generate import write_registrations_csv

    if n <= 0:
        fail(f"--n: must be > 0, got {n}")
    if not 0 <= duplicate_rate < 1:
        fail(f"--duplicate-rate: must be in [0, 1), got {duplicate_rate}")
    try:
        write_registrations_csv(file, n, seed, duplicate_rate)
    except OSError as exc:
        fail(f"{file}: cannot write it ({exc.strerror}); choose a writable path")
    emit(
        {"file": str(file), "rows": n, "seed": seed},
        as_json,
        lines=[f"Wrote {n:,} generated registrations to {file} (seed {seed})."],
    )


@app.command()
@guard
def register(
    file: Annotated[
        str,
        typer.Argument(
            help="JSON lines, one person per line with the import columns; '-' reads standard input"
        ),
    ] = "-",
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register people one by one (JSON lines on standard input, so names never appear in the
    shell history). Prints the new opaque person ids."""
    from evacops.registry.files import read_records

    reg, op = session(user, operation)
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                fail(f"{file}:{n}: not a JSON object; give one object per line")
            if not isinstance(obj, dict):
                fail(f"{file}:{n}: not a JSON object; give one object per line")
            records.append(obj)
    if not records:
        fail(f"{file}: nobody to register; give one JSON object per line")
    rows = read_records(records, source=file if file != "-" else "stdin")
    res = reg.register(op, rows, source="register")
    emit(
        {"registered": res.imported, "person_ids": res.person_ids},
        as_json,
        lines=[f"Registered {res.imported}: {', '.join(res.person_ids)}"],
    )


@app.command()
@guard
def person(
    person_id: Annotated[str, typer.Argument(help="opaque person id")],
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one person as your role may see them (the read is audited)."""
    reg, op = session(user, operation)
    p = reg.person(op, person_id)
    emit(p, as_json, table=kv_table(f"Person {person_id}", p))


@app.command()
@guard
def dedup(
    run: Annotated[
        bool, typer.Option("--run/--no-run", help="look for new likely duplicates first")
    ] = True,
    merge: Annotated[
        tuple[str, str] | None,
        typer.Option(help="KEEP DUPLICATE: the second is the same person as the first"),
    ] = None,
    not_duplicate: Annotated[
        tuple[str, str] | None, typer.Option(help="A B: not the same person; off the queue")
    ] = None,
    undo: Annotated[str | None, typer.Option(help="undo the merge of this person")] = None,
    threshold: Annotated[float, typer.Option(help="score from which a pair is queued")] = 0.8,
    reason: Annotated[str, typer.Option(help="why (kept in the event)")] = "",
    user: UserOpt = None,
    operation: OpOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find likely duplicate registrations and review them: the queue lists pairs by opaque id,
    score and reasons; --merge, --not-duplicate and --undo decide (each an event)."""
    reg, op = session(user, operation)
    if merge or not_duplicate or undo:
        if merge:
            seq = reg.merge(op, merge[0], merge[1], reason=reason)
            msg = f"Merged {merge[1]} into {merge[0]} (event {seq})."
        elif not_duplicate:
            seq = reg.not_duplicate(op, not_duplicate[0], not_duplicate[1], reason=reason)
            msg = f"{not_duplicate[0]} and {not_duplicate[1]}: not duplicates (event {seq})."
        else:
            seq = reg.unmerge(op, undo, reason=reason)
            msg = f"Merge of {undo} undone (event {seq})."
        emit({"event": seq}, as_json, lines=[msg])
        return
    res: dict[str, Any] = {}
    if run:
        with err.status("looking for duplicates ...") if not as_json else quiet():
            res = reg.run_dedup(op, threshold=threshold)
    queue = reg.review_queue(op)
    res["queue"] = queue
    t = Table(title=f"Review queue ({len(queue)})")
    for c in ("candidate", "person_a", "person_b", "score", "reasons"):
        t.add_column(c)
    for q in queue[:100]:
        t.add_row(*(str(q[c]) for c in ("candidate", "person_a", "person_b", "score", "reasons")))
    emit(
        res,
        as_json,
        table=t,
        lines=[
            f"{res.get('pairs_found', 0):,} likely duplicate pairs among "
            f"{res.get('persons', 0):,} people; {res.get('new_candidates', 0)} new in the queue."
        ]
        if run
        else [],
    )
