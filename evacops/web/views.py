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


def picture(reg: Registry, op: str, scenario: Any = None) -> dict[str, Any]:
    """The operation picture (the caller needs ``report`` in ``op``: :meth:`Registry.report`)."""
    rep = reg.report(op)
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
        "flights": {**flights_now, "people_in_air": in_air_people},
        "staging": [],
        "gates": [],
        "map": None,
    }
    if scenario is not None:
        out.update(_against_scenario(scenario, rep["by_site"]))
    return out


def _against_scenario(sc: Any, by_site: dict[str, int]) -> dict[str, Any]:
    staging, gates = [], []
    for s in sc.sites:
        here = by_site.get(s.name, 0)
        if s.kind == "staging":
            staging.append({"site": s.name, "people": here, "capacity": s.holding_capacity})
        elif s.kind == "gate":
            safe = (s.crowd_area_m2 * sc.safe_density_per_m2) if s.crowd_area_m2 else None
            gates.append({"site": s.name, "people": here, "safe": int(safe) if safe else None})
    return {"staging": staging, "gates": gates, "map": schematic(sc, by_site)}


_COLUMNS = ("assembly", "gate", "airport", "staging", "destination")


def schematic(sc: Any, by_site: dict[str, int]) -> dict[str, Any]:
    """Sites placed in columns by kind (assembly to destination), legs as lines between them:
    coordinates for the SVG template, with the live count at each site."""
    col_w, row_h, pad = 200, 34, 20
    placed: dict[str, tuple[int, int]] = {}
    rows = {k: 0 for k in _COLUMNS}
    for s in sc.sites:
        c = _COLUMNS.index(s.kind)
        placed[s.name] = (pad + c * col_w, pad + rows[s.kind] * row_h + 10)
        rows[s.kind] += 1
    nodes = [
        {"name": n, "x": x, "y": y, "people": by_site.get(n, 0)} for n, (x, y) in placed.items()
    ]
    edges = [
        {
            "x1": placed[g.origin][0] + 8,
            "y1": placed[g.origin][1],
            "x2": placed[g.destination][0] - 8,
            "y2": placed[g.destination][1],
            "kind": g.kind,
        }
        for g in sc.legs
        if g.origin in placed and g.destination in placed
    ]
    height = pad * 2 + max(rows.values(), default=1) * row_h
    return {
        "nodes": nodes,
        "edges": edges,
        "width": pad * 2 + len(_COLUMNS) * col_w,
        "height": height,
    }
