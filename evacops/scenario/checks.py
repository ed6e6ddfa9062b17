"""Checks across a scenario's components, after each component has validated on its own.

One small function per component (names, the evacuation airport, sites, legs, fleets, parking,
events, cohorts), each returning its problems as ``(location, message with the fix)``;
:func:`cross_check` puts them together in that order. The loader
(:mod:`evacops.scenario.load`) turns each location into ``file:line: path``.
"""

from __future__ import annotations

from dataclasses import dataclass

from evacops.scenario.model import Cohort, Event, Fleet, Leg, Scenario, Site
from evacops.scenario.routes import reachable_destinations
from evacops.scenario.timeline import Timeline, TimeRef

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


def _a(word: str) -> str:
    """'an assembly', 'a gate'."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


@dataclass(frozen=True)
class _Names:
    """What the checks look names up in: the scenario's components by name, and its timeline."""

    sc: Scenario
    tl: Timeline
    sites: dict[str, Site]
    legs: dict[str, Leg]
    types: set[str]
    flagged: frozenset[Loc]  # components already found wrong, e.g. ("fleets", 2): a duplicate

    @classmethod
    def of(cls, sc: Scenario, flagged: frozenset[Loc] = frozenset()) -> _Names:
        return cls(
            sc=sc,
            tl=Timeline(sc.time.start, sc.time.horizon_h, sc.time.period),
            sites={s.name: s for s in sc.sites},
            legs={leg.name: leg for leg in sc.legs},
            types={t.name for t in sc.aircraft_types},
            flagged=flagged,
        )

    def unknown_site(self, loc: Loc, name: str) -> Problem:
        shown = ", ".join(sorted(self.sites)[:8]) + (", ..." if len(self.sites) > 8 else "")
        return (loc, f"unknown site {name!r}; use one of the names under sites: {shown}")

    def unknown_type(self, loc: Loc, key: str) -> list[Problem]:
        """A key of a map by aircraft type that names no type (and is not 'default')."""
        if key == "default" or key in self.types:
            return []
        return [
            (loc, f"unknown aircraft type {key!r}; use a name under aircraft_types or 'default'")
        ]

    def hours(self, ref: TimeRef) -> float:
        return self.tl.hours(ref)


def check_unique_names(sc: Scenario) -> list[Problem]:
    """Names must be unique within sites, legs, aircraft types, fleets and cohorts."""
    out: list[Problem] = []
    for field in ("sites", "legs", "aircraft_types", "fleets", "cohorts"):
        seen: dict[str, int] = {}
        for i, it in enumerate(getattr(sc, field)):
            if it.name in seen:
                out.append(
                    (
                        (field, i, "name"),
                        f"duplicate name {it.name!r} (also "
                        f"{field}[{seen[it.name]}]); names must be unique",
                    )
                )
            seen[it.name] = i
    return out


def check_evacuation_airport(names: _Names) -> list[Problem]:
    """The evacuation airport is a site with an airfield."""
    sc = names.sc
    evac = names.sites.get(sc.evacuation_airport)
    if evac is None:
        return [names.unknown_site(("evacuation_airport",), sc.evacuation_airport)]
    if evac.airfield is None:
        return [
            (
                ("evacuation_airport",),
                f"site {evac.name!r} has no airfield; give it an "
                "airfield block (slots, mog, ground_time_h)",
            )
        ]
    return []


def check_site(names: _Names, i: int, s: Site) -> list[Problem]:
    """A site's crowd area (gates only), closures, capacity changes and ground times."""
    out: list[Problem] = []
    if s.crowd_area_m2 is not None and s.kind != "gate":
        out.append(
            (
                ("sites", i, "crowd_area_m2"),
                f"crowd_area_m2 is for gates; site {s.name!r} is {_a(s.kind)}",
            )
        )
    if s.approach_width_m is not None and s.crowd_area_m2 is None:
        out.append(
            (
                ("sites", i, "approach_width_m"),
                "is the width where a gate's crowd queues: give the gate a crowd_area_m2 too",
            )
        )
    for j, w in enumerate(s.closures):
        if names.hours(w.end) <= names.hours(w.start):
            out.append((("sites", i, "closures", j), "end must be after start"))
    ats = [names.hours(c.at) for c in s.capacity_changes]
    if ats != sorted(ats):
        out.append((("sites", i, "capacity_changes"), "list the changes in time order"))
    if s.airfield:
        for key in s.airfield.ground_time_h:
            out += names.unknown_type(("sites", i, "airfield", "ground_time_h", key), key)
        for j, ch in enumerate(s.airfield.slot_changes):
            if names.hours(ch.to) <= names.hours(ch.from_):
                out.append((("sites", i, "airfield", "slot_changes", j), "to must be after from"))
        out += _ground_limit(names, i, s)
    return out + check_site_limits(names, i, s)


def _ground_limit(names: _Names, i: int, s: Site) -> list[Problem]:
    """An airfield's ``max_ground_h`` leaves every type that lands there its ground time."""
    af = s.airfield
    if af is None or af.max_ground_h is None:
        return []
    lands = {
        f.type
        for f in names.sc.fleets
        for n in f.legs
        if (lg := names.legs.get(n)) is not None and s.name in (lg.origin, lg.destination)
    }
    short = sorted(t for t in lands if af.ground_time_for(t) > af.max_ground_h)
    if not short:
        return []
    t = short[0]
    return [
        (
            ("sites", i, "airfield", "max_ground_h"),
            f"{af.max_ground_h:g} h is shorter than the ground time of {t!r} there "
            f"({af.ground_time_for(t):g} h); raise max_ground_h to at least that",
        )
    ]


def check_site_limits(names: _Names, i: int, s: Site) -> list[Problem]:
    """A site that receives people (some leg leads into it) says how many it holds: a
    holding_capacity, a gate's crowd area, or unlimited: true with a reason. A stay limit is not
    for a site where people appear, and a minimum dwell must be shorter than the stay."""
    out: list[Problem] = []
    receives = any(leg.destination == s.name for leg in names.sc.legs)
    bounded = s.holding_capacity is not None or s.crowd_area_m2 is not None
    if receives and not bounded and not s.unlimited:
        out.append(
            (
                ("sites", i),
                f"site {s.name!r} receives people but has no holding_capacity; give "
                "holding_capacity: N (people at once), or unlimited: true with reason: '...'",
            )
        )
    if (s.max_stay_h or s.min_dwell_h) and any(c.origin == s.name for c in names.sc.cohorts):
        field = "max_stay_h" if s.max_stay_h else "min_dwell_h"
        out.append(
            (
                ("sites", i, field),
                f"people appear at {s.name!r} (a cohort's origin), so they have no arrival "
                f"to count a stay from; remove {field} or move the cohort's origin",
            )
        )
    if s.max_stay_h and s.min_dwell_h and s.min_dwell_h >= s.max_stay_h:
        out.append(
            (("sites", i, "min_dwell_h"), "must be shorter than max_stay_h; lower one of them")
        )
    return out


def check_leg(names: _Names, i: int, leg: Leg) -> list[Problem]:
    """A leg joins two known, different sites; an air leg two airfields; no leg leads into an
    assembly point."""
    out: list[Problem] = []
    for end in ("origin", "destination"):
        name = getattr(leg, end)
        if name not in names.sites:
            out.append(names.unknown_site(("legs", i, end), name))
    if leg.origin == leg.destination:
        out.append((("legs", i, "destination"), "a leg must join two different sites"))
    if leg.kind == "air":
        for end in ("origin", "destination"):
            s = names.sites.get(getattr(leg, end))
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
                out += names.unknown_type(("legs", i, "block_time_h", key), key)
    else:
        dst = names.sites.get(leg.destination)
        if dst is not None and dst.kind in ("assembly",):
            out.append(
                (
                    ("legs", i, "destination"),
                    "a leg may not lead into an assembly point; people only leave assembly points",
                )
            )
    return out


def _fleet_leg(names: _Names, f: Fleet, loc: Loc, name: str) -> tuple[Leg | None, list[Problem]]:
    """One leg of a fleet: (the leg if the fleet may fly it, else the problem)."""
    leg = names.legs.get(name)
    if leg is None:
        return None, [(loc, f"unknown leg {name!r}; use a name under legs")]
    if leg.kind != "air":
        return None, [(loc, f"leg {name!r} is a ground leg; a fleet flies air legs only")]
    if leg.block_time_for(f.type) is None:
        return None, [
            (
                loc,
                f"leg {name!r} has no block time for type "
                f"{f.type!r}; add it to block_time_h (or a 'default')",
            )
        ]
    evac = names.sc.evacuation_airport
    if not f.may_enter_evacuation_airport and evac in (leg.origin, leg.destination):
        return None, [
            (
                loc,
                f"fleet {f.name!r} may not enter the "
                f"evacuation airport but leg {name!r} flies there; remove the leg or "
                "set may_enter_evacuation_airport: true",
            )
        ]
    return leg, []


def _fleet_home(names: _Names, i: int, f: Fleet) -> tuple[Site | None, list[Problem]]:
    home = names.sites.get(f.home)
    if home is None:
        return None, [names.unknown_site(("fleets", i, "home"), f.home)]
    if home.airfield is None:
        return home, [
            (
                ("fleets", i, "home"),
                f"home {f.home!r} has no airfield; a fleet's home "
                "must be a site with an airfield block",
            )
        ]
    if home.airfield.max_ground_h is not None:
        return home, [
            (
                ("fleets", i, "home"),
                f"home {f.home!r} lets aircraft stay only {home.airfield.max_ground_h:g} h on "
                "the ground (max_ground_h); base the fleet elsewhere or drop that limit",
            )
        ]
    return home, []


def check_fleet(names: _Names, i: int, f: Fleet) -> list[Problem]:
    """A fleet's aircraft type, home, legs it may fly (one touching its home) and window."""
    out: list[Problem] = []
    if f.type not in names.types:
        out.append(
            (
                ("fleets", i, "type"),
                f"unknown aircraft type {f.type!r}; use a name under aircraft_types",
            )
        )
    home, problems = _fleet_home(names, i, f)
    out += problems
    flyable = []
    for j, name in enumerate(f.legs):
        leg, problems = _fleet_leg(names, f, ("fleets", i, "legs", j), name)
        out += problems
        if leg is not None:
            flyable.append(leg)
    if f.legs and not flyable and not out and ("fleets", i) not in names.flagged:
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
        and (names.hours(f.available_until) <= names.hours(f.available_from))
    ):
        out.append((("fleets", i, "available_until"), "must be after available_from"))
    return out


def check_parking(names: _Names) -> list[Problem]:
    """The fleets based at an airfield fit within its MOG (at their largest count)."""
    sc = names.sc
    based: dict[str, list[tuple[str, int]]] = {}
    for f in sc.fleets:
        most = max(
            [f.count]
            + [int(e.count or 0) for e in sc.events if e.kind == "fleet" and e.fleet == f.name]
        )
        based.setdefault(f.home, []).append((f.name, most))
    out: list[Problem] = []
    for name, group in based.items():
        site = names.sites.get(name)
        total = sum(c for _, c in group)
        if site is None or site.airfield is None or site.airfield.mog is None:
            continue
        if total > site.airfield.mog:
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
    return out


def check_event(names: _Names, i: int, e: Event) -> list[Problem]:
    """An event names a known site or fleet; its times are in order and near the horizon."""
    out: list[Problem] = []
    if e.site is not None and e.site not in names.sites:
        out.append(names.unknown_site(("events", i, "site"), e.site))
    if e.fleet is not None and e.fleet not in {f.name for f in names.sc.fleets}:
        out.append((("events", i, "fleet"), f"unknown fleet {e.fleet!r}; use a name under fleets"))
    out += _event_kind(names, i, e)
    if (
        e.kind in ("closure", "news")
        and e.start is not None
        and e.end is not None
        and (names.hours(e.end) <= names.hours(e.start))
    ):
        out.append((("events", i, "end"), "end must be after start"))
    horizon_h = names.sc.time.horizon_h
    for field in ("start", "end", "at"):
        ref = getattr(e, field)
        if ref is None:
            continue
        h = names.hours(ref)
        if h < -1e-9 or h > horizon_h * 10:
            out.append(
                (
                    ("events", i, field),
                    f"time is {h:.1f} h from the start; expected within the horizon "
                    f"(0 to {horizon_h:g} h)",
                )
            )
    return out


#: the kinds of site a decision event may make exist from a time (a site agreed)
DECIDED_KINDS = ("staging", "airport", "destination")


def _event_kind(names: _Names, i: int, e: Event) -> list[Problem]:
    """An eligibility event names a gate and known cohorts; a decision event names a site that
    receives aircraft (not the evacuation airport)."""
    site = names.sites.get(e.site) if e.site is not None else None
    out: list[Problem] = []
    if e.kind == "eligibility":
        if site is not None and site.kind != "gate":
            out.append(
                (
                    ("events", i, "site"),
                    f"site {e.site!r} is {_a(site.kind)}; eligibility is "
                    "for a gate (who its screening accepts)",
                )
            )
        known = {c.name for c in names.sc.cohorts}
        for j, c in enumerate(e.cohorts or []):
            if c not in known:
                out.append(
                    (("events", i, "cohorts", j), f"unknown cohort {c!r}; use a name under cohorts")
                )
    if (
        e.kind == "decision"
        and site is not None
        and (site.kind not in DECIDED_KINDS or site.name == names.sc.evacuation_airport)
    ):
        out.append(
            (
                ("events", i, "site"),
                f"site {e.site!r} is {_a(site.kind)}; a decision event "
                "makes a staging base, an airport other than the evacuation airport or a "
                "destination exist from its time (use opens or a closure for other sites)",
            )
        )
    return out


def _cohort_names(names: _Names, i: int, c: Cohort) -> list[Problem]:
    """The staging bases, destinations and operators a cohort names exist and are of that kind."""
    out: list[Problem] = []
    for field, kind in (("staging", "staging"), ("destinations", "destination")):
        for j, name in enumerate(getattr(c, field) or []):
            s = names.sites.get(name)
            if s is None:
                out.append(names.unknown_site(("cohorts", i, field, j), name))
            elif s.kind != kind:
                out.append(
                    (("cohorts", i, field, j), f"site {name!r} is {_a(s.kind)}, not {_a(kind)}")
                )
    operators = {f.operator for f in names.sc.fleets}
    for j, op in enumerate(c.operators or []):
        if op not in operators:
            out.append(
                (
                    ("cohorts", i, "operators", j),
                    f"no fleet has operator {op!r}; use one of {sorted(operators)}",
                )
            )
    return out


def check_cohort(names: _Names, i: int, c: Cohort) -> list[Problem]:
    """A cohort's origin, the sites and operators it names, its appear table, and a route from
    its origin to a destination it may use (checked only when the rest is right)."""
    if c.origin not in names.sites:
        return [names.unknown_site(("cohorts", i, "origin"), c.origin)]
    out = _cohort_names(names, i, c)
    if c.appear.mode == "table" and sum(p.count for p in c.appear.table) != c.size:
        out.append(
            (
                ("cohorts", i, "appear", "table"),
                f"the table's counts add up to "
                f"{sum(p.count for p in c.appear.table)} but size is {c.size}; make them "
                "agree",
            )
        )
    if out or ("cohorts", i) in names.flagged:
        return out
    if not reachable_destinations(names.sc, c.name):
        out.append(
            (
                ("cohorts", i),
                f"cohort {c.name!r} has no route from {c.origin!r} to any "
                "destination it may use (check legs, fleets' legs, its staging, "
                "destinations and operators)",
            )
        )
    return out


def cross_check(sc: Scenario) -> list[Problem]:
    """Checks across components; each problem is (location, message with the fix)."""
    out = check_unique_names(sc)
    names = _Names.of(sc, flagged=frozenset(loc[:2] for loc, _ in out))
    out += check_evacuation_airport(names)
    for i, s in enumerate(sc.sites):
        out += check_site(names, i, s)
    for i, leg in enumerate(sc.legs):
        out += check_leg(names, i, leg)
    for i, f in enumerate(sc.fleets):
        out += check_fleet(names, i, f)
    out += check_parking(names)
    for i, e in enumerate(sc.events):
        out += check_event(names, i, e)
    for i, c in enumerate(sc.cohorts):
        out += check_cohort(names, i, c)
    out += check_crowd(sc)
    return out


def check_crowd(sc: Scenario) -> list[Problem]:
    """The physical maximum density is above the safe density (a crowd can pack tighter than it
    is allowed to)."""
    if sc.crowd.max_density_per_m2 <= sc.safe_density_per_m2:
        return [
            (
                ("crowd", "max_density_per_m2"),
                f"must be above safe_density_per_m2 ({sc.safe_density_per_m2:g}); "
                "people can stand closer than is safe",
            )
        ]
    return []
