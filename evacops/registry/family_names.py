"""Synthetic family names for generated people (:mod:`evacops.registry.generate`): syllables and
suffixes drawn at random, never a real family or tribal name.

A generator's pool of 6,000 names costs about 0.5 s to draw, and tests, benchmarks and the demo
generate people from the same few seeds many times in one process; so the pool is drawn once per
seed and process, and handed back with the random generator's state after the draw: a generator
that sets that state draws exactly what it would have drawn after drawing the pool itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from evacops.registry.names import skeleton

# Syllables for synthetic family names and their suffixes.
_ONSETS = ("b", "d", "f", "g", "gh", "h", "j", "k", "kh", "l", "m", "n", "p", "q", "r", "s",
           "sh", "t", "w", "y", "z", "zh", "ch")  # fmt: skip
_NUCLEI = ("a", "a", "a", "e", "i", "o", "u", "oo", "ee", "ai")
_CODAS = ("", "", "", "n", "r", "l", "m", "s", "d", "k", "g", "t")
_SUFFIXES = ("", "", "", "", "i", "i", "zai", "zai", "khel", "wal", "yar", "zada", "mal")
# Real family and tribal names never to be produced, even by chance.
_EXCLUDED_FAMILY = frozenset(
    skeleton(n)
    for n in (
        "Karzai", "Ghani", "Barakzai", "Popalzai", "Ahmadzai", "Haqqani", "Durrani", "Dostum",
        "Hekmatyar", "Mohseni", "Sultani", "Nabizada", "Alokozai", "Achakzai", "Noorzai",
        "Sadozai", "Mohammadzai", "Tarin", "Wardak", "Safi", "Mangal", "Zadran", "Stanikzai",
        "Amin", "Hakimi", "Karimi", "Rahimi", "Ahmadi", "Mohammadi", "Hussaini", "Rezai",
        "Sharifi", "Rasuli", "Jalali", "Hamidi", "Azizi", "Nazari", "Saberi", "Yousufzai",
        "Kakar", "Khan", "Shinwari", "Momand", "Yusufzai", "Amiri", "Nuristani", "Panjshiri",
    )
)  # fmt: skip
POOL_SIZE = 6000


def _family_name(rng: np.random.Generator) -> str:
    n_syl = int(rng.choice((1, 2, 2, 2, 3)))
    parts = []
    for _ in range(n_syl):
        parts.append(
            _ONSETS[rng.integers(len(_ONSETS))]
            + _NUCLEI[rng.integers(len(_NUCLEI))]
            + _CODAS[rng.integers(len(_CODAS))]
        )
    suffix = _SUFFIXES[rng.integers(len(_SUFFIXES))]
    if n_syl == 1 and not suffix:
        suffix = "zai"
    return ("".join(parts) + suffix).capitalize()


@functools.lru_cache(maxsize=16)
def family_pool(seed: int) -> tuple[tuple[str, ...], Mapping[str, Any]]:
    """The pool of distinct family names that ``np.random.default_rng(seed)`` draws first, and
    that generator's state after the draw (pass a copy to ``bit_generator.state``)."""
    rng = np.random.default_rng(seed)
    pool: list[str] = []
    seen: set[str] = set(_EXCLUDED_FAMILY)
    while len(pool) < POOL_SIZE:
        name = _family_name(rng)
        key = skeleton(name)
        if len(key) < 4 or key in seen:
            continue
        seen.add(key)
        pool.append(name)
    return tuple(pool), rng.bit_generator.state
