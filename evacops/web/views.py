"""What the pages and the API show, built from the registry's services: the gate's answer
(initials and household size only, never a document or a category) and the operation picture
(counts, flights, staging occupancy against capacity, crowd at each gate against its safe number,
the scenario's sites and legs as a schematic SVG).

Each read goes through a service that checks the caller's role first (``person``, ``report``);
the two small counts the services do not give yet (household size, flights by status) are read
after that check. They belong in the registry's services (a lead's follow-up).
"""

from __future__ import annotations

from typing import Any

from evacops.registry.security import Perm
from evacops.registry.service import Registry


def gate_answer(reg: Registry, op: str, answer: dict[str, Any]) -> dict[str, Any]:
    """A scan's answer as a gate may see it: let in, initials, household size. The view comes
    with the answer when the scan was asked for it (``view=True``: read and audited in the
    scan's own transaction); otherwise it is read now through the role-checked services."""
    pid = answer.get("person_id")
    out: dict[str, Any] = {
        "let_in": True,
        "duplicate": bool(answer.get("duplicate")),
        "action": answer.get("action"),
    }
    if pid is None:
        return out
    view = answer.get("view")
    if view is not None:
        out["initials"] = view["initials"]
        out["household_size"] = view["household_size"]
    else:
        seen = reg.person(op, pid)  # role-checked and audited by the service
        out["initials"] = seen["initials"]
        out["household_size"] = reg.household_size(op, seen["household_id"])
    for key in ("seat", "lap"):
        if key in answer:
            out[key] = answer[key]
    return out


def person_view(reg: Registry, op: str, person_id: str) -> dict[str, Any]:
    """One person as the caller may see them (:meth:`Registry.person`), without the eligibility
    category and cohort for a role that may not read personal fields (a gate: the category
    marks the wearer)."""
    seen = reg.person(op, person_id)
    if not reg.actor.can(Perm.read_personal, op):
        for key in ("category", "cohort"):
            seen.pop(key, None)
    return seen


def picture(
    reg: Registry, op: str, scenario: Any = None, scenario_sha256: str | None = None
) -> dict[str, Any]:
    """The operation picture (the caller needs ``report`` in ``op``: :meth:`Registry.report`):
    counts now and per day, flights, the latest plan next to what happened and, with the
    scenario, staging against capacity, gates against their safe numbers and the network. All
    counted by the database (:meth:`Registry.picture_counts`: the report's GROUP BY queries
    for what the picture shows), never by loading people or events."""
    rep = reg.picture_counts(op)
    flights_now = reg.flight_summary(op)
    in_air_people = rep["by_status"].get("in-flight", 0)
    out = {
        "operation": op,
        "registered": rep["registered"],
        "out": rep["out"],
        "by_status": rep["by_status"],
        "by_site": rep["by_site"],
        "by_cohort": rep["by_cohort"],
        "per_day": rep["per_day"],
        "out_per_day": rep["out_per_day"],
        "flights": {**flights_now, "people_in_air": in_air_people},
        "staging": [],
        "gates": [],
        "map": None,
        "map_narrow": None,
        "plan": plan_view(reg.plan_vs_actual(op), scenario_sha256),
    }
    if scenario is not None:
        out.update(_against_scenario(scenario, rep["by_site"]))
    return out


def scenario_sha256(request: Any) -> str | None:
    """The SHA-256 of the scenario file the server draws (``EVACOPS_SCENARIO``), or None."""
    return request.app.state.replanner.digest  # (read once, when the server started)


def plan_view(
    pva: dict[str, Any] | None, scenario_sha256: str | None = None
) -> dict[str, Any] | None:
    """The latest plan next to what happened (:meth:`Registry.plan_vs_actual`), with whether it
    was made for the scenario served (None: not known) and a bar chart's geometry: per day, the
    planned bar (outline) and the actual one (filled), on one scale."""
    if pva is None:
        return None
    recorded = pva.get("scenario_sha256")
    same = None if not (recorded and scenario_sha256) else recorded == scenario_sha256
    return {**pva, "same_scenario": same, "chart": _bars(pva["days"])}


def _bars(days: list[dict[str, Any]]) -> dict[str, Any]:
    slot, bar, top, plot_h, left = 24, 9, 14, 120, 44
    peak = max([1, *(max(d["planned"], d["actual"]) for d in days)])
    scale = plot_h / peak
    # a date label every ``every`` bars: at most 8, and never two in a row (a label is wider
    # than a bar's slot: side by side they overlapped)
    every = max(2, -(-len(days) // 8))
    bars = []
    for i, d in enumerate(days):
        x = left + i * slot + 2
        hp, ha = round(d["planned"] * scale, 1), round(d["actual"] * scale, 1)
        bars.append(
            {"date": d["date"], "label": d["date"][5:], "x": x, "xa": x + bar + 1, "w": bar,
             "planned": d["planned"], "actual": d["actual"],
             "yp": top + plot_h - hp, "hp": hp, "ya": top + plot_h - ha, "ha": ha,
             "tick": i % every == 0}
        )  # fmt: skip
    return {
        "bars": bars,
        "width": left + len(days) * slot + 24,
        "height": top + plot_h + 30,
        "base": top + plot_h,
        "top": top,
        "left": left,
        "peak": peak,
    }


def _against_scenario(sc: Any, by_site: dict[str, int]) -> dict[str, Any]:
    staging, gates = [], []
    for s in sc.sites:
        here = by_site.get(s.name, 0)
        if s.kind == "staging":
            staging.append({"site": s.name, "people": here, "capacity": s.holding_capacity})
        elif s.kind == "gate":
            safe = (s.crowd_area_m2 * sc.safe_density_per_m2) if s.crowd_area_m2 else None
            gates.append({"site": s.name, "people": here, "safe": int(safe) if safe else None})
    return {
        "staging": staging,
        "gates": gates,
        "map": schematic(sc, by_site),
        "map_narrow": schematic(sc, by_site, narrow=True),
    }


_COLUMNS = ("assembly", "gate", "airport", "staging", "destination")


def schematic(sc: Any, by_site: dict[str, int], *, narrow: bool = False) -> dict[str, Any]:
    """Sites placed by kind (assembly to destination), legs as lines between them: coordinates
    for the SVG template, with the live count at each site. Wide: one column per kind, for a
    desktop. ``narrow``: one band per kind, top to bottom, two sites a line, for a phone (the
    drawing scales to the screen's width and its words stay readable)."""
    placed = _placed_narrow(sc) if narrow else _placed_wide(sc)
    nodes = [
        {"name": n, "x": x, "y": y, "people": by_site.get(n, 0)} for n, (x, y) in placed.items()
    ]
    dx = 0 if narrow else 8
    edges = [
        {
            "x1": placed[g.origin][0] + dx,
            "y1": placed[g.origin][1],
            "x2": placed[g.destination][0] - dx,
            "y2": placed[g.destination][1],
            "kind": g.kind,
        }
        for g in sc.legs
        if g.origin in placed and g.destination in placed
    ]
    return {
        "nodes": nodes,
        "edges": edges,
        "width": max(x for x, _ in placed.values()) + (190 if narrow else 180),
        "height": max(y for _, y in placed.values()) + 24,
    }


def _placed_wide(sc: Any) -> dict[str, tuple[int, int]]:
    col_w, row_h, pad = 200, 34, 20
    placed: dict[str, tuple[int, int]] = {}
    rows = dict.fromkeys(_COLUMNS, 0)
    for s in sc.sites:
        placed[s.name] = (pad + _COLUMNS.index(s.kind) * col_w, pad + rows[s.kind] * row_h + 10)
        rows[s.kind] += 1
    return placed


def _placed_narrow(sc: Any) -> dict[str, tuple[int, int]]:
    col_w, row_h, pad, gap = 190, 26, 12, 16
    placed: dict[str, tuple[int, int]] = {}
    top = pad + 8
    for kind in _COLUMNS:
        here = [s.name for s in sc.sites if s.kind == kind]
        for i, name in enumerate(here):
            placed[name] = (pad + (i % 2) * col_w, top + (i // 2) * row_h)
        top += ((len(here) + 1) // 2) * row_h + gap if here else 0
    return placed


def what_if_options(scenario: Any) -> dict[str, Any] | None:
    """What the picture's what-if form offers from the scenario served: sites to close or
    resize (gates, assembly points, staging bases), fleets with their aircraft, airfields."""
    if scenario is None:
        return None
    kinds = ("gate", "assembly", "staging")
    return {
        "sites": sorted((s.name for s in scenario.sites if s.kind in kinds), key=str.casefold),
        "fleets": [{"name": f.name, "count": f.count} for f in scenario.fleets],
        "airfields": sorted(s.name for s in scenario.sites if s.airfield is not None),
    }


def page_sites(c: Any, op: str, kinds: tuple[str, ...]) -> list[str]:
    """The sites a page offers: the caller's own (a device or user bound to a site), or the
    operation's sites of ``kinds``, in that order of kinds, then by name."""
    if c.actor.site:
        return [c.actor.site]
    with c.registry.ctx.read() as conn:
        found = c.registry.ctx.site_kinds(conn, op)
    return sorted(
        (s for s, k in found.items() if k in kinds), key=lambda s: (kinds.index(found[s]), s)
    )
