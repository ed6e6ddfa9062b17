"""Typed model of an evacuation, its loader and checks; imports nothing of ours but evacops.errors.

- :mod:`~evacops.scenario.model`: the components (sites, legs, aircraft types, fleets, cohorts,
  events, objective, uncertainty) as pydantic models;
- :mod:`~evacops.scenario.timeline`: durations, offsets, the rule for period lengths, and
  :class:`Timeline` (times to integer periods);
- :mod:`~evacops.scenario.load`: a YAML/JSON file to a :class:`Scenario`, every problem on one
  line naming its place;
- :mod:`~evacops.scenario.checks`: the checks across components, one function per component;
- :mod:`~evacops.scenario.routes`: where a cohort may go.
"""

from evacops.scenario.checks import cross_check
from evacops.scenario.load import load, parse_text
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
)
from evacops.scenario.routes import allowed_sites, cohort_may_fly, reachable_destinations
from evacops.scenario.timeline import Timeline, check_period, parse_duration_h

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
    "check_period",
    "cohort_may_fly",
    "cross_check",
    "load",
    "parse_duration_h",
    "parse_text",
    "reachable_destinations",
]
