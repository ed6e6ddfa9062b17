"""Typed model of an evacuation scenario (pydantic v2).

Every component is declared once here, with units in the attribute names and defaults; the loader
(:mod:`evacops.scenario.load`) turns a YAML or JSON file into a :class:`Scenario` and every error
into a line that names the place in the file. Times are timezone-aware datetimes, or offsets from
the scenario start written as ``"+36h"`` / ``"+90min"``;
:class:`~evacops.scenario.timeline.Timeline` turns them into integer periods for the planner and
the simulator. Checks across components (unknown names, routes) are in
:mod:`evacops.scenario.checks`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from evacops.errors import UserError
from evacops.scenario.behaviour import Crowd, Uncertainty  # the simulator's blocks
from evacops.scenario.fields import NonNegFloat, PositiveFloat, check_timeref
from evacops.scenario.fields import StrictModel as _Model
from evacops.scenario.timeline import Timeline, TimeRef, check_period

SiteKind = Literal["assembly", "gate", "airport", "staging", "destination"]


class Window(_Model):
    """An interval of time, ``start`` included and ``end`` excluded."""

    start: TimeRef
    end: TimeRef

    @field_validator("start", "end")
    @classmethod
    def check_time(cls, v: TimeRef) -> TimeRef:
        return check_timeref(v)


class CapacityChange(_Model):
    """From ``at`` on, the site holds at most ``holding_capacity`` people."""

    at: TimeRef
    holding_capacity: NonNegFloat

    @field_validator("at")
    @classmethod
    def check_time(cls, v: TimeRef) -> TimeRef:
        return check_timeref(v)


class SlotChange(_Model):
    """From ``from`` (included) to ``to`` (excluded), the airfield's rates are these instead
    (a rate not given keeps the airfield's own)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: TimeRef = Field(alias="from")
    to: TimeRef
    departure_slots_per_h: PositiveFloat | None = None
    arrival_slots_per_h: PositiveFloat | None = None
    movements_per_h: PositiveFloat | None = None

    @field_validator("from_", "to")
    @classmethod
    def check_time(cls, v: TimeRef) -> TimeRef:
        return check_timeref(v)

    @model_validator(mode="after")
    def _some_rate(self) -> SlotChange:
        if (
            self.departure_slots_per_h is None
            and self.arrival_slots_per_h is None
            and self.movements_per_h is None
        ):
            raise ValueError(
                "a slot change needs departure_slots_per_h, arrival_slots_per_h or movements_per_h"
            )
        return self


class Airfield(_Model):
    """Air-side limits of a site that aircraft use."""

    departure_slots_per_h: PositiveFloat | None = None
    arrival_slots_per_h: PositiveFloat | None = None
    movements_per_h: PositiveFloat | None = Field(
        default=None,
        description="arrivals plus departures per hour on the runway; None = unlimited",
    )
    slot_changes: list[SlotChange] = Field(
        default_factory=list, description="rates that hold over a window instead of the above"
    )
    mog: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="maximum aircraft on the ground at once; None = unlimited"
    )
    ground_time_h: dict[str, NonNegFloat] = Field(
        default_factory=dict,
        description="ground time by aircraft type; the key 'default' applies to other types",
    )
    max_ground_h: PositiveFloat | None = Field(
        default=None,
        description="aircraft leave within this many hours of landing (a contested ramp is "
        "no place to wait); None = any",
    )

    def ground_time_for(self, aircraft_type: str) -> float:
        return self.ground_time_h.get(aircraft_type, self.ground_time_h.get("default", 1.0))


class Site(_Model):
    name: str = Field(min_length=1)
    kind: SiteKind
    holding_capacity: NonNegFloat | None = Field(
        default=None, description="people who may wait here at once; None = unlimited"
    )
    processing_rate_per_h: PositiveFloat | None = Field(
        default=None, description="people per hour who may leave (screening, out-processing)"
    )
    unlimited: bool = Field(
        default=False, description="no holding capacity, on purpose (then reason is required)"
    )
    reason: str | None = Field(default=None, description="why the site is unlimited")
    max_stay_h: PositiveFloat | None = Field(
        default=None, description="people leave within this many hours of arriving; None = any"
    )
    min_dwell_h: PositiveFloat | None = Field(
        default=None,
        description="people leave no sooner than this many hours after arriving (processing)",
    )
    crowd_area_m2: PositiveFloat | None = None
    approach_width_m: PositiveFloat | None = Field(
        default=None,
        description="width of the approach where a gate's crowd queues beyond its crowd area; "
        "None = the crowd area taken as a square",
    )
    opens: TimeRef | None = None
    capacity_changes: list[CapacityChange] = Field(default_factory=list)
    closures: list[Window] = Field(default_factory=list)
    airfield: Airfield | None = None

    @field_validator("opens")
    @classmethod
    def check_time(cls, v: TimeRef | None) -> TimeRef | None:
        return v if v is None else check_timeref(v)

    @model_validator(mode="after")
    def _unlimited(self) -> Site:
        if self.unlimited and self.holding_capacity is not None:
            raise ValueError(
                "give holding_capacity or unlimited: true, not both (remove one of them)"
            )
        if self.unlimited and not (self.reason or "").strip():
            raise ValueError(
                'unlimited: true needs a reason, e.g. reason: "a nation\'s own territory"'
            )
        if self.reason is not None and not self.unlimited:
            raise ValueError("reason is for unlimited: true; remove it or set unlimited: true")
        return self


BlockTime = Annotated[
    Annotated[PositiveFloat, Tag("block[one]")]
    | Annotated[dict[str, PositiveFloat], Tag("block[map]")],
    Discriminator(lambda v: "block[map]" if isinstance(v, dict) else "block[one]"),
]
"""Hours of an air leg: one number for every type, or a map by aircraft type (with 'default').

A callable discriminator picks the member by shape, so a bad value gives one error, not one per
member of the union (the tags contain '[' and are dropped from the place the loader reports)."""


class Leg(_Model):
    name: str = Field(min_length=1)
    kind: Literal["ground", "air"]
    origin: str
    destination: str
    capacity_per_h: PositiveFloat | None = Field(
        default=None, description="ground legs: people per hour; None = unlimited"
    )
    travel_time_h: NonNegFloat | None = Field(default=None, description="ground legs")
    block_time_h: BlockTime | None = Field(
        default=None, description="air legs: one for all types, or by aircraft type"
    )
    surge_load: bool = Field(
        default=False,
        description="air legs: sorties may carry up to the type's max_load (a surge load)",
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> Leg:
        if self.kind == "ground":
            if self.block_time_h is not None:
                raise ValueError("block_time_h is for air legs; a ground leg takes travel_time_h")
            if self.travel_time_h is None:
                raise ValueError(
                    "a ground leg needs travel_time_h (hours), e.g. travel_time_h: 0.5"
                )
            if self.surge_load:
                raise ValueError("surge_load is for air legs; remove it from this ground leg")
        else:
            if self.block_time_h is None:
                raise ValueError("an air leg needs block_time_h (hours, or a map by aircraft type)")
            if self.capacity_per_h is not None or self.travel_time_h is not None:
                raise ValueError(
                    "capacity_per_h and travel_time_h are for ground legs; an air leg is limited "
                    "by its sorties and takes block_time_h"
                )
        return self

    def block_time_for(self, aircraft_type: str) -> float | None:
        bt = self.block_time_h
        if isinstance(bt, dict):
            return bt.get(aircraft_type, bt.get("default"))
        return bt


class AircraftType(_Model):
    name: str = Field(min_length=1)
    planning_load: Annotated[int, Field(gt=0)] = Field(description="people planned per sortie")
    max_load: Annotated[int, Field(gt=0)] = Field(description="most people ever carried")

    @model_validator(mode="after")
    def _loads(self) -> AircraftType:
        if self.planning_load > self.max_load:
            raise ValueError(
                f"planning_load ({self.planning_load}) must not exceed max_load ({self.max_load})"
            )
        return self


class Fleet(_Model):
    name: str = Field(min_length=1)
    type: str
    count: Annotated[int, Field(ge=0)]
    home: str = Field(description="site where the aircraft are at the start")
    available_from: TimeRef | None = None
    available_until: TimeRef | None = None
    legs: list[str] = Field(min_length=1, description="air legs this fleet may fly")
    operator: str = Field(default="any", description="operator or nation")
    may_enter_evacuation_airport: bool = True
    max_sorties_per_day: PositiveFloat | None = Field(
        default=None,
        description="crew limit: sorties (outbound or back) per aircraft in any 24 hours; "
        "None = no limit",
    )
    maintenance_down_fraction: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=0.0,
        description="share of the fleet's aircraft down for maintenance at any time: at most "
        "(1 - this) of the aircraft available are flying or on the ground between sorties",
    )

    @field_validator("available_from", "available_until")
    @classmethod
    def check_time(cls, v: TimeRef | None) -> TimeRef | None:
        return v if v is None else check_timeref(v)


class TablePoint(_Model):
    at: TimeRef
    count: Annotated[int, Field(ge=0)]

    @field_validator("at")
    @classmethod
    def check_time(cls, v: TimeRef) -> TimeRef:
        return check_timeref(v)


class Appearance(_Model):
    """How a cohort appears at its origin: all at start, uniformly over a window, or a table."""

    mode: Literal["at_start", "uniform", "table"] = "at_start"
    start: TimeRef | None = None
    end: TimeRef | None = None
    table: list[TablePoint] = Field(default_factory=list)

    @field_validator("start", "end")
    @classmethod
    def check_time(cls, v: TimeRef | None) -> TimeRef | None:
        return None if v is None else check_timeref(v)

    @model_validator(mode="after")
    def _fields(self) -> Appearance:
        if self.mode == "uniform" and (self.start is None or self.end is None):
            raise ValueError("mode 'uniform' needs start and end")
        if self.mode == "table" and not self.table:
            raise ValueError("mode 'table' needs a table of {at, count} rows")
        return self


class Cohort(_Model):
    name: str = Field(min_length=1)
    size: Annotated[int, Field(gt=0)]
    origin: str = Field(description="site where the cohort's people appear")
    appear: Appearance = Field(default_factory=Appearance)
    priority: PositiveFloat = 1.0
    staging: list[str] | None = Field(default=None, description="allowed staging bases; None = any")
    destinations: list[str] | None = Field(default=None, description="None = any")
    operators: list[str] | None = Field(default=None, description="allowed operators; None = any")


class Event(_Model):
    """Something imposed from outside: a closure, a capacity change, a fleet change, news that
    brings uncalled people to the gates more (or less) often (the simulator's surges), a change
    in which cohorts a gate accepts (eligibility), or a decision that makes a site or a fleet
    exist only from a time (a staging base agreed, airliners activated)."""

    kind: Literal["closure", "capacity", "fleet", "news", "eligibility", "decision"]
    note: str = ""
    site: str | None = None
    fleet: str | None = None
    start: TimeRef | None = None
    end: TimeRef | None = None
    at: TimeRef | None = None
    holding_capacity: NonNegFloat | None = None
    count: Annotated[int, Field(ge=0)] | None = None
    factor: NonNegFloat | None = Field(
        default=None, description="news: the surge chance at every gate is multiplied by this"
    )
    cohorts: list[str] | None = Field(
        default=None,
        description="eligibility: the cohorts the gate accepts from `at` on (the others are "
        "turned away)",
    )

    @field_validator("start", "end", "at")
    @classmethod
    def check_time(cls, v: TimeRef | None) -> TimeRef | None:
        return None if v is None else check_timeref(v)

    @model_validator(mode="after")
    def _fields(self) -> Event:
        need = {
            "closure": ("site", "start", "end"),
            "capacity": ("site", "at", "holding_capacity"),
            "fleet": ("fleet", "at", "count"),
            "news": ("start", "end", "factor"),
            "eligibility": ("site", "at", "cohorts"),
            "decision": ("at",),
        }[self.kind]
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise ValueError(f"a {self.kind} event needs {', '.join(need)}; missing {missing}")
        if self.kind == "decision" and (self.site is None) == (self.fleet is None):
            raise ValueError(
                "a decision event needs site (a site agreed) or fleet (a fleet activated), "
                "not both or neither"
            )
        return self


class Objective(_Model):
    """Weights of the three terms, in order of importance (see docs/scenario.md)."""

    evacuation: PositiveFloat = Field(
        default=1.0, description="per person and hour earlier off the evacuation airport"
    )
    delivery: NonNegFloat = Field(
        default=0.05, description="per person and hour earlier at a destination"
    )
    sortie: NonNegFloat = Field(default=1.0, description="per sortie flown")
    gate_wait: NonNegFloat = Field(
        default=0.01,
        description="per person and hour waiting in front of a gate: people are called forward "
        "when the gate can take them, not earlier",
    )


class TimeSpec(_Model):
    start: datetime
    horizon_h: PositiveFloat
    period: str = "1h"

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return check_timeref(v)  # type: ignore[return-value]

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        try:
            return check_period(v)
        except UserError as exc:
            raise ValueError(f"{exc.problem}, got {v!r}") from None


class Scenario(_Model):
    name: str = Field(min_length=1)
    description: str = ""
    time: TimeSpec
    evacuation_airport: str = Field(description="site name of the airport being evacuated")
    deadline: TimeRef | None = Field(default=None, description="None = end of the horizon")
    deadline_hard: bool = Field(
        default=False,
        description="nobody leaves, and no aircraft lands at, the evacuation airport after the "
        "deadline (it closes then); False: the deadline only counts who is left behind",
    )
    sites: list[Site] = Field(min_length=1)
    legs: list[Leg] = Field(min_length=1)
    aircraft_types: list[AircraftType] = Field(min_length=1)
    fleets: list[Fleet] = Field(min_length=1)
    cohorts: list[Cohort] = Field(min_length=1)
    events: list[Event] = Field(default_factory=list)
    objective: Objective = Field(default_factory=Objective)
    safe_density_per_m2: PositiveFloat = 2.0
    crowd: Crowd = Field(default_factory=Crowd)
    uncertainty: Uncertainty = Field(default_factory=Uncertainty)

    @field_validator("deadline")
    @classmethod
    def check_time(cls, v: TimeRef | None) -> TimeRef | None:
        return v if v is None else check_timeref(v)

    def site(self, name: str) -> Site:
        return next(s for s in self.sites if s.name == name)

    def aircraft_type(self, name: str) -> AircraftType:
        return next(t for t in self.aircraft_types if t.name == name)

    def timeline(self, period: str | None = None) -> Timeline:
        return Timeline(self.time.start, self.time.horizon_h, period or self.time.period)
