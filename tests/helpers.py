"""Shared helpers for the tests: small scenario builders (generated, never real people)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from evacops.scenario import Scenario, parse_text

HERE = Path(__file__).parent
ROOT = HERE.parent


def shuttle_dict() -> dict:
    return yaml.safe_load((HERE / "scenarios" / "shuttle.yaml").read_text())


def scenario_from(d: dict) -> Scenario:
    return parse_text(yaml.safe_dump(copy.deepcopy(d), sort_keys=False), source="test.yaml")
