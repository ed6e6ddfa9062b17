"""Fruin's levels of service for queuing areas: the one home of the crowd densities (persons/m2)
that plans, simulations and plots grade gate crowds by.

Above 2 persons/m2 movement is restricted, above 3.5 the crowd is dense, above 5 it becomes
dangerous, and 7 is critical (J. J. Fruin, *Pedestrian Planning and Design*, 1971, levels of
service for queuing areas).
"""

from __future__ import annotations

# (persons per m2, word) from the lowest level up
FRUIN: tuple[tuple[float, str], ...] = (
    (2.0, "restricted"),
    (3.5, "dense"),
    (5.0, "dangerous"),
    (7.0, "critical"),
)
FRUIN_LEVELS: tuple[float, ...] = tuple(level for level, _ in FRUIN)
# legend labels of the lines drawn on density plots, e.g. "3.5: dense"
FRUIN_LINES: tuple[tuple[float, str], ...] = tuple((lv, f"{lv:g}: {word}") for lv, word in FRUIN)


def fruin_text() -> str:
    """The levels in words for a report line: ``2 restricted, 3.5 dense, ..., 7 critical``."""
    return ", ".join(f"{level:g} {word}" for level, word in FRUIN)
