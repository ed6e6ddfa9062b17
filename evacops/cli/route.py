"""``evacops route``: exact evacuation routing (or the CCRP baseline) on a node/edge network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evacops.cli.output import err, fail, guard, out


def _route_table(s: dict) -> Table:
    t = Table(title=f"Routes: {s['instance']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    rows = [
        ("method", s["method"]),
        ("evacuees", f"{s['evacuees']:,}"),
        ("egress (last arrival)", f"step {s['egress']}"),
        ("total arrival", f"{s['total_arrival']:,} person-steps"),
        ("mean arrival", f"step {s['total_arrival'] / max(s['evacuees'], 1):.2f}"),
        ("groups", f"{s['groups']:,}"),
        ("solve time", f"{s['solve_s']:.2f} s"),
    ]
    if s["lower_bound"] is not None:
        rows.append(("bounds on the egress", f"{s['lower_bound']} <= egress <= {s['upper_bound']}"))
    for k, v in rows:
        t.add_row(k, v)
    return t


@guard
def route(
    instance: Annotated[Path, typer.Argument(help="network instance file (docs/routing.md)")],
    method: Annotated[
        str, typer.Option(help="exact (optimal, with a proof) or ccrp (the CCRP heuristic)")
    ] = "exact",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="write the groups: CSV, or JSON if FILE ends with .json"),
    ] = None,
) -> None:
    """Route evacuees on a network to its exits: least egress time, then least total arrival.

    Reads a network instance (nodes with holding capacity and evacuees, exits, roads with
    capacity per step and travel steps). `exact` solves the time-expanded network with OR-Tools
    max flows and proves that no plan ends a step earlier; `ccrp` runs the CCRP heuristic.
    """
    from evacops.route import ccrp, read_instance, route_exact, write_groups

    if method not in ("exact", "ccrp"):
        fail(f"--method {method}: must be exact or ccrp")
    inst = read_instance(instance)
    with err.status("routing", spinner="dots") as status:
        if method == "exact":
            res = route_exact(inst, progress=lambda msg: status.update(msg))
        else:
            res = ccrp(inst)
    summary = res.summary()
    if out_file is not None:
        summary["out"] = str(write_groups(res, out_file))
    if as_json:
        print(json.dumps(summary))
        return
    out.print(_route_table(summary))
    if summary["proof_text"]:
        out.print(f"Optimal: {summary['proof_text']}.", highlight=False, soft_wrap=True)
    elif method == "ccrp":
        out.print("Heuristic: no proof of optimality (use --method exact).", highlight=False)
    if out_file is not None:
        out.print(f"Groups: {summary['out']}", highlight=False, soft_wrap=True)
