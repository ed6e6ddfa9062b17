"""Read a scenario file (YAML or JSON), validate it once, and name every problem's place.

Errors come back as :class:`~evacops.errors.ScenarioError` whose ``problems`` are lines such as::

    kabul.yaml:57: fleets[2].count: must be >= 0, got -5 (give a whole number of aircraft)

Schema errors come from pydantic; the cross-checks (:func:`cross_check`) follow: unknown sites and
legs, cohorts with no route to any destination, fleets with no leg they may fly, air legs that do
not join two airfields.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from evacops.errors import ScenarioError
from evacops.scenario.model import Scenario, Timeline

Loc = tuple[str | int, ...]


def _loc_text(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


class _Lines:
    """Maps a location path to its line in a YAML file (from the composed node tree)."""

    def __init__(self, text: str):
        try:
            self.root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            self.root = None

    def line(self, loc: Loc) -> int | None:
        node = self.root
        found = None
        for part in loc:
            if node is None:
                break
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                nxt = None
                for key, value in node.value:
                    if key.value == part:
                        found, nxt = key.start_mark.line + 1, value
                        break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if 0 <= part < len(node.value):
                    node = node.value[part]
                    found = node.start_mark.line + 1
                else:
                    node = None
            else:
                break
        return found


_HINTS = {
    "greater_than": "must be > {gt}, got {input}",
    "greater_than_equal": "must be >= {ge}, got {input}",
    "less_than_equal": "must be <= {le}, got {input}",
    "missing": "is required",
    "extra_forbidden": "is not a known field (check the spelling; see docs/scenario.md)",
    "int_parsing": "must be a whole number, got {input!r}",
    "int_from_float": "must be a whole number, got {input!r}",
    "float_parsing": "must be a number, got {input!r}",
    "bool_parsing": "must be true or false, got {input!r}",
    "string_type": "must be text, got {input!r}",
    "list_type": "must be a list, got {input!r}",
    "dict_type": "must be a mapping, got {input!r}",
    "model_type": "must be a mapping of fields, got {input!r}",
    "too_short": "must have at least {min_length} entr{ies}",
    "literal_error": "must be one of {expected}, got {input!r}",
}


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = dict(err.get("ctx") or {})
    ctx["input"] = err.get("input")
    if kind == "too_short":
        ctx.setdefault("min_length", 1)
        ctx["ies"] = "y" if ctx["min_length"] == 1 else "ies"
    template = _HINTS.get(kind)
    if template:
        try:
            return template.format(**ctx)
        except (KeyError, IndexError, ValueError):
            pass
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


def _a(word: str) -> str:
    """'an assembly', 'a gate'."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _clean_loc(loc: Loc) -> Loc:
    # pydantic adds the member of a union it tried (e.g. 'datetime', 'str', 'float'); drop those
    # so the place reads like the user's file.
    noise = {"datetime", "str", "float", "int", "dict[str,float]", "function-after[check_time()]"}
    return tuple(p for p in loc if not (isinstance(p, str) and (p in noise or "[" in p)))


def parse_text(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario text (YAML, of which JSON is a subset)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ScenarioError(
            [f"{where}: not valid YAML ({problem}); check indentation and quoting there"]
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                f"{source}: a scenario is a mapping with name, time, sites, legs, ... (see "
                "docs/scenario.md)"
            ]
        )
    lines = _Lines(text)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        seen = set()
        for err in exc.errors():
            loc = _clean_loc(tuple(err["loc"]))
            text_loc = _loc_text(loc)
            msg = _message(dict(err))
            if (text_loc, msg) in seen:
                continue
            seen.add((text_loc, msg))
            line = lines.line(loc)
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: {text_loc}: {msg}")
        raise ScenarioError(problems) from None
    crossed = cross_check(scenario)
    if crossed:
        raise ScenarioError(
            [f"{source}:{lines.line(loc) or '?'}: {_loc_text(loc)}: {msg}" for loc, msg in crossed]
        )
    return scenario


def load(path: str | Path) -> Scenario:
    """Load and validate a scenario file; raise ScenarioError naming the place of each problem."""
    p = Path(path)
    if not p.exists():
        raise ScenarioError([f"{p}: no such file; give the path of a scenario YAML or JSON file"])
    if p.is_dir():
        raise ScenarioError([f"{p}: is a folder; give the path of a scenario YAML or JSON file"])
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError([f"{p}: not a text file; a scenario is YAML or JSON text"]) from None
    if p.suffix.lower() == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(
                [f"{p}:{exc.lineno}: not valid JSON ({exc.msg}); fix the syntax there"]
            ) from None
    return parse_text(text, source=str(p))


def cross_check(sc: Scenario) -> list[tuple[Loc, str]]:
    """Checks across components; each problem is (location, message with the fix)."""
    out: list[tuple[Loc, str]] = []
    tl = Timeline(sc.time.start, sc.time.horizon_h, sc.time.period)

    def dupes(items: list[Any], field: str) -> None:
        seen: dict[str, int] = {}
        for i, it in enumerate(items):
            if it.name in seen:
                out.append(
                    (
                        (field, i, "name"),
                        f"duplicate name {it.name!r} (also "
                        f"{field}[{seen[it.name]}]); names must be unique",
                    )
                )
            seen[it.name] = i

    for field in ("sites", "legs", "aircraft_types", "fleets", "cohorts"):
        dupes(getattr(sc, field), field)

    sites = {s.name: s for s in sc.sites}
    legs = {leg.name: leg for leg in sc.legs}
    types = {t.name for t in sc.aircraft_types}
    site_names = ", ".join(sorted(sites)[:8]) + (", ..." if len(sites) > 8 else "")

    def unknown_site(loc: Loc, name: str) -> None:
        out.append((loc, f"unknown site {name!r}; use one of the names under sites: {site_names}"))

    evac = sites.get(sc.evacuation_airport)
    if evac is None:
        unknown_site(("evacuation_airport",), sc.evacuation_airport)
    elif evac.airfield is None:
        out.append(
            (
                ("evacuation_airport",),
                f"site {evac.name!r} has no airfield; give it an "
                "airfield block (slots, mog, ground_time_h)",
            )
        )

    def check_time(loc: Loc, ref: Any) -> None:
        h = tl.hours(ref)
        if h < -1e-9 or h > sc.time.horizon_h * 10:
            out.append(
                (
                    loc,
                    f"time is {h:.1f} h from the start; expected within the horizon "
                    f"(0 to {sc.time.horizon_h:g} h)",
                )
            )

    for i, s in enumerate(sc.sites):
        if s.crowd_area_m2 is not None and s.kind != "gate":
            out.append(
                (
                    ("sites", i, "crowd_area_m2"),
                    f"crowd_area_m2 is for gates; site {s.name!r} is {_a(s.kind)}",
                )
            )
        for j, w in enumerate(s.closures):
            if tl.hours(w.end) <= tl.hours(w.start):
                out.append((("sites", i, "closures", j), "end must be after start"))
        ats = [tl.hours(c.at) for c in s.capacity_changes]
        if ats != sorted(ats):
            out.append((("sites", i, "capacity_changes"), "list the changes in time order"))
        if s.airfield:
            for j, key in enumerate(s.airfield.ground_time_h):
                if key != "default" and key not in types:
                    out.append(
                        (
                            ("sites", i, "airfield", "ground_time_h", key),
                            f"unknown aircraft type {key!r}; use a name under aircraft_types "
                            "or 'default'",
                        )
                    )
                del j

    for i, leg in enumerate(sc.legs):
        for end in ("origin", "destination"):
            name = getattr(leg, end)
            if name not in sites:
                unknown_site(("legs", i, end), name)
        if leg.origin == leg.destination:
            out.append((("legs", i, "destination"), "a leg must join two different sites"))
        if leg.kind == "air":
            for end in ("origin", "destination"):
                s = sites.get(getattr(leg, end))  # type: ignore[assignment]
                if s is not None and s.airfield is None:
                    out.append(
                        (
                            ("legs", i, end),
                            f"air leg {leg.name!r} must join two airfields; "
                            f"site {s.name!r} has none (add an airfield block to it, or make "
                            "this a ground leg)",
                        )
                    )
            if isinstance(leg.block_time_h, dict):
                for key in leg.block_time_h:
                    if key != "default" and key not in types:
                        out.append(
                            (
                                ("legs", i, "block_time_h", key),
                                f"unknown aircraft type {key!r}; use a name under "
                                "aircraft_types or 'default'",
                            )
                        )
        else:
            dst = sites.get(leg.destination)
            if dst is not None and dst.kind in ("assembly",):
                out.append(
                    (
                        ("legs", i, "destination"),
                        "a leg may not lead into an assembly "
                        "point; people only leave assembly points",
                    )
                )

    for i, f in enumerate(sc.fleets):
        if f.type not in types:
            out.append(
                (
                    ("fleets", i, "type"),
                    f"unknown aircraft type {f.type!r}; use a name under aircraft_types",
                )
            )
        home = sites.get(f.home)
        if home is None:
            unknown_site(("fleets", i, "home"), f.home)
        elif home.airfield is None:
            out.append(
                (
                    ("fleets", i, "home"),
                    f"home {f.home!r} has no airfield; a fleet's home "
                    "must be a site with an airfield block",
                )
            )
        flyable = []
        for j, name in enumerate(f.legs):
            leg = legs.get(name)  # type: ignore[assignment]
            if leg is None:
                out.append(
                    (("fleets", i, "legs", j), f"unknown leg {name!r}; use a name under legs")
                )
                continue
            if leg.kind != "air":
                out.append(
                    (
                        ("fleets", i, "legs", j),
                        f"leg {name!r} is a ground leg; a fleet flies air legs only",
                    )
                )
                continue
            if leg.block_time_for(f.type) is None:
                out.append(
                    (
                        ("fleets", i, "legs", j),
                        f"leg {name!r} has no block time for type "
                        f"{f.type!r}; add it to block_time_h (or a 'default')",
                    )
                )
                continue
            if not f.may_enter_evacuation_airport and sc.evacuation_airport in (
                leg.origin,
                leg.destination,
            ):
                out.append(
                    (
                        ("fleets", i, "legs", j),
                        f"fleet {f.name!r} may not enter the "
                        f"evacuation airport but leg {name!r} flies there; remove the leg or "
                        "set may_enter_evacuation_airport: true",
                    )
                )
                continue
            flyable.append(leg)
        if f.legs and not flyable and not any(p[0][:2] == ("fleets", i) for p in out):
            out.append((("fleets", i, "legs"), f"fleet {f.name!r} has no leg it may fly"))
        if (
            flyable
            and home is not None
            and not any(f.home in (lg.origin, lg.destination) for lg in flyable)
        ):
            out.append(
                (
                    ("fleets", i, "home"),
                    f"no leg of fleet {f.name!r} touches its home "
                    f"{f.home!r}; add such a leg or change home",
                )
            )
        if (
            f.available_from is not None
            and f.available_until is not None
            and (tl.hours(f.available_until) <= tl.hours(f.available_from))
        ):
            out.append((("fleets", i, "available_until"), "must be after available_from"))

    based: dict[str, list[tuple[str, int]]] = {}
    for f in sc.fleets:
        most = max(
            [f.count]
            + [int(e.count or 0) for e in sc.events if e.kind == "fleet" and e.fleet == f.name]
        )
        based.setdefault(f.home, []).append((f.name, most))
    for name, group in based.items():
        site = sites.get(name)
        total = sum(c for _, c in group)
        if (
            site is not None
            and site.airfield is not None
            and site.airfield.mog is not None
            and total > site.airfield.mog
        ):
            i = next(k for k, s in enumerate(sc.sites) if s.name == name)
            who = ", ".join(f for f, _ in group)
            out.append(
                (
                    ("sites", i, "airfield", "mog"),
                    f"fleets based at {name!r} ({who}) park "
                    f"{total} aircraft there, more than its mog of {site.airfield.mog:g}; "
                    "raise the mog or base some of these fleets elsewhere",
                )
            )

    fleet_names = {f.name for f in sc.fleets}
    operators = {f.operator for f in sc.fleets}
    for i, e in enumerate(sc.events):
        if e.site is not None and e.site not in sites:
            unknown_site(("events", i, "site"), e.site)
        if e.fleet is not None and e.fleet not in fleet_names:
            out.append(
                (("events", i, "fleet"), f"unknown fleet {e.fleet!r}; use a name under fleets")
            )
        if (
            e.kind == "closure"
            and e.start is not None
            and e.end is not None
            and (tl.hours(e.end) <= tl.hours(e.start))
        ):
            out.append((("events", i, "end"), "end must be after start"))
        for field in ("start", "end", "at"):
            ref = getattr(e, field)
            if ref is not None:
                check_time(("events", i, field), ref)

    # Routes: which sites can a cohort reach, on legs it may use?
    for i, c in enumerate(sc.cohorts):
        origin = sites.get(c.origin)
        if origin is None:
            unknown_site(("cohorts", i, "origin"), c.origin)
            continue
        for field, kind in (("staging", "staging"), ("destinations", "destination")):
            for j, name in enumerate(getattr(c, field) or []):
                s = sites.get(name)  # type: ignore[assignment]
                if s is None:
                    unknown_site(("cohorts", i, field, j), name)
                elif s.kind != kind:
                    out.append(
                        (("cohorts", i, field, j), f"site {name!r} is {_a(s.kind)}, not {_a(kind)}")
                    )
        for j, op in enumerate(c.operators or []):
            if op not in operators:
                out.append(
                    (
                        ("cohorts", i, "operators", j),
                        f"no fleet has operator {op!r}; use one of {sorted(operators)}",
                    )
                )
        if c.appear.mode == "table" and sum(p.count for p in c.appear.table) != c.size:
            out.append(
                (
                    ("cohorts", i, "appear", "table"),
                    f"the table's counts add up to "
                    f"{sum(p.count for p in c.appear.table)} but size is {c.size}; make them "
                    "agree",
                )
            )
        if any(p[0][:2] == ("cohorts", i) for p in out):
            continue
        if not reachable_destinations(sc, c.name):
            out.append(
                (
                    ("cohorts", i),
                    f"cohort {c.name!r} has no route from {c.origin!r} to any "
                    "destination it may use (check legs, fleets' legs, its staging, "
                    "destinations and operators)",
                )
            )
    return out


def allowed_sites(sc: Scenario, cohort: str) -> set[str]:
    """Sites a cohort's people may be at: everything but the staging bases and destinations the
    cohort is not allowed."""
    c = next(c for c in sc.cohorts if c.name == cohort)
    out = set()
    for s in sc.sites:
        if s.kind == "staging" and c.staging is not None and s.name not in c.staging:
            continue
        if s.kind == "destination" and c.destinations is not None and s.name not in c.destinations:
            continue
        out.add(s.name)
    return out


def cohort_may_fly(sc: Scenario, cohort: str, fleet: str) -> bool:
    c = next(c for c in sc.cohorts if c.name == cohort)
    f = next(f for f in sc.fleets if f.name == fleet)
    return c.operators is None or f.operator in c.operators


def reachable_destinations(sc: Scenario, cohort: str) -> set[str]:
    """Destinations the cohort can reach from its origin by ground legs and by air legs that a
    fleet it may fly flies (breadth-first over the static network)."""
    c = next(c for c in sc.cohorts if c.name == cohort)
    allowed = allowed_sites(sc, cohort)
    kinds = {s.name: s.kind for s in sc.sites}
    flown = {
        leg
        for f in sc.fleets
        if cohort_may_fly(sc, cohort, f.name) and f.count > 0
        for leg in f.legs
    }
    adj: dict[str, list[str]] = {}
    for leg in sc.legs:
        if leg.kind == "ground" or leg.name in flown:
            adj.setdefault(leg.origin, []).append(leg.destination)
    seen, queue = {c.origin}, deque([c.origin])
    while queue:
        s = queue.popleft()
        for nxt in adj.get(s, []):
            if nxt in allowed and nxt not in seen and kinds.get(nxt) is not None:
                seen.add(nxt)
                queue.append(nxt)
    return {s for s in seen if kinds[s] == "destination"}
