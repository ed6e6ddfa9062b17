"""Names and small index helpers that the planner, the simulator and the plan folder share.

One home for the strings that name the network's parts in tables and models (an air arc is
``leg@fleet``, an empty return move ``leg~back@fleet``, a station ``fleet@site``), for the period
by which people must be out (the deadline), and for padding ragged index lists into arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BACK = "~back"  # marks a move flown back empty


def air_arc_name(leg: str, fleet: str) -> str:
    """The name of the people arc of ``leg`` flown outbound by ``fleet``: ``leg@fleet``."""
    return f"{leg}@{fleet}"


def move_name(leg: str, forward: bool, fleet: str) -> str:
    """The name of an aircraft move: ``leg@fleet`` outbound, ``leg~back@fleet`` flown back."""
    return f"{leg}{'' if forward else BACK}@{fleet}"


def station_name(fleet: str, site: str) -> str:
    """The name of a station (a fleet's aircraft on the ground at a site): ``fleet@site``."""
    return f"{fleet}@{site}"


def padded(groups: Sequence[Sequence[Any]], fill: int = -1) -> np.ndarray:
    """A list of index lists as a ``(len(groups), longest)`` int64 array padded with ``fill``."""
    width = max([len(g) for g in groups] + [1])
    out = np.full((len(groups), width), fill, dtype=np.int64)
    for i, g in enumerate(groups):
        out[i, : len(g)] = g
    return out
