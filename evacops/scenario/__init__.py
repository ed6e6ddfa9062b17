"""Typed model of an evacuation and its loader; imports nothing of ours but evacops.errors."""

from evacops.scenario.load import (
    allowed_sites,
    cohort_may_fly,
    cross_check,
    load,
    parse_text,
    reachable_destinations,
)
from evacops.scenario.model import (
    AircraftType,
    Airfield,
    Appearance,
    Cohort,
    Event,
    Fleet,
    Leg,
    Objective,
    Scenario,
    Site,
    Timeline,
    parse_duration_h,
)

__all__ = [
    "AircraftType",
    "Airfield",
    "Appearance",
    "Cohort",
    "Event",
    "Fleet",
    "Leg",
    "Objective",
    "Scenario",
    "Site",
    "Timeline",
    "allowed_sites",
    "cohort_may_fly",
    "cross_check",
    "load",
    "parse_duration_h",
    "parse_text",
    "reachable_destinations",
]
