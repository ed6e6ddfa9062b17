"""Eligibility categories of an operation: list, add, retire and restore.

An operation's categories live in ``operations.category_map`` (category -> cohort of the
scenario and priority, :func:`evacops.registry.services.setup.create_operation`). A retired
category stays in the map, marked ``retired``: the people who have it keep it (their events and
the projection are untouched), but no new registration or correction may use it until it is
restored. An operation with no categories at all takes any category a registration names;
its first category added makes the list binding for every later registration. Every change is
an event (``category-added``, ``category-retired``, ``category-restored``) and an audit entry,
in the same transaction as the map it changes; only a role that may manage the operation
(admin) may make one.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection, func, select, update

from evacops.errors import RegistryError
from evacops.registry import events as ev
from evacops.registry.limits import check_text
from evacops.registry.security import Perm, require
from evacops.registry.services.context import Context
from evacops.registry.store.tables import operations, persons


def list_categories(ctx: Context, op: str) -> list[dict[str, Any]]:
    """The operation's categories by name: cohort, priority, whether retired (and since when)
    and how many people (merged ones aside) have it."""
    require(ctx.actor, Perm.manage, op)
    with ctx.read() as conn:
        catmap = ctx.operation(conn, op)["category_map"]
        P = persons.c
        used: dict[str, int] = dict(
            conn.execute(
                select(P.category, func.count())
                .where(P.operation_id == op, P.status != "merged")
                .group_by(P.category)
            ).all()
        )
    return [
        {
            "category": name,
            "cohort": v["cohort"],
            "priority": v["priority"],
            "retired": bool(v.get("retired")),
            "retired_at": v.get("retired_at"),
            "people": used.get(name, 0),
        }
        for name, v in sorted(catmap.items())
    ]


def add_category(ctx: Context, op: str, category: str, cohort: str, priority: float) -> None:
    """A new category whose people go in ``cohort`` with ``priority`` (a finite number >= 0)."""
    require(ctx.actor, Perm.manage, op)
    category, cohort = (category or "").strip(), (cohort or "").strip()
    if not category:
        raise RegistryError("give the category a name", field="category", code="category-needed")
    if not cohort:
        raise RegistryError(
            "give the cohort its people go in", field="cohort", code="cohort-needed"
        )
    check_text("category", category)
    check_text("cohort", cohort)
    try:
        priority = float(priority)
    except (TypeError, ValueError):
        raise RegistryError(
            "must be a number such as 1 or 2.5", field="priority", code="priority-number"
        ) from None
    if not math.isfinite(priority) or priority < 0:
        raise RegistryError(
            "must be a number 0 or more", field="priority", value=priority, code="priority-number"
        )
    with ctx.write() as conn:
        catmap = _locked_map(ctx, conn, op)
        if category in catmap:
            retired = bool(catmap[category].get("retired"))
            raise RegistryError(
                f"exists already ({'retired; restore it' if retired else 'in use'})",
                field="category",
                code="category-exists-retired" if retired else "category-exists",
            )
        catmap[category] = {"cohort": cohort, "priority": priority}
        data = {"category": category, "cohort": cohort, "priority": priority}
        _write(ctx, conn, op, catmap, ev.CATEGORY_ADDED, data)


def retire_category(ctx: Context, op: str, category: str) -> None:
    """No new registration may use ``category``; the people who have it keep it."""
    _set_retired(ctx, op, category, retired=True)


def restore_category(ctx: Context, op: str, category: str) -> None:
    """A retired ``category`` may be used again."""
    _set_retired(ctx, op, category, retired=False)


def _set_retired(ctx: Context, op: str, category: str, *, retired: bool) -> None:
    require(ctx.actor, Perm.manage, op)
    check_text("category", category)
    with ctx.write() as conn:
        catmap = _locked_map(ctx, conn, op)
        entry = catmap.get(category)
        if entry is None:
            raise RegistryError(
                f"not a category of operation {op}", field="category", code="not-a-category"
            )
        if bool(entry.get("retired")) == retired:
            raise RegistryError(
                "retired already" if retired else "not retired",
                field="category",
                code="retired-already" if retired else "not-retired",
            )
        entry = {k: v for k, v in entry.items() if k not in ("retired", "retired_at")}
        if retired:
            entry.update(retired=True, retired_at=ctx.clock().isoformat())
        catmap[category] = entry
        kind = ev.CATEGORY_RETIRED if retired else ev.CATEGORY_RESTORED
        _write(ctx, conn, op, catmap, kind, {"category": category})


def _locked_map(ctx: Context, conn: Connection, op: str) -> dict[str, Any]:
    """A copy of the operation's category map, its row locked until the transaction ends
    (PostgreSQL; on SQLite the write turn serialises writers), so two admins' changes do not
    overwrite each other."""
    q = select(operations.c.category_map, operations.c.shredded_at).where(operations.c.id == op)
    if ctx.pg:
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        ctx.operation(conn, op)  # words the error
    assert row is not None
    if row.shredded_at is not None:
        raise RegistryError(
            f"operation {op}: shredded; its categories no longer change", code="shredded"
        )
    return {k: dict(v) for k, v in (row.category_map or {}).items()}


def _write(
    ctx: Context, conn: Connection, op: str, catmap: dict, kind: str, data: dict[str, Any]
) -> None:
    conn.execute(update(operations).where(operations.c.id == op).values(category_map=catmap))
    row = ctx.event(conn, op, kind, data=data)
    ctx.audit(conn, kind, op, data["category"], {**data, "event": row["seq"]})
