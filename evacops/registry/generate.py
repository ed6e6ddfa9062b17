"""Synthetic evacuees for tests, benchmarks and demos: never real people.

:func:`people` makes households of 1-9 people (parents, children, grandparents, some twins,
some unaccompanied minors) and then re-registers some of them the way it happens at an
evacuation: another romanisation of the name, the order of the names swapped, the birth date
missing or replaced by the 1 January default, the document missing, a typo. It returns the
records and the set of true duplicate pairs, so matching can be measured.

Given names are common Afghan given names with their usual romanisations (:mod:`.given_names`);
family names are **synthetic**, built from syllables, and a short list of well-known
real family and tribal names is excluded. Document numbers use the reserved test prefix ``ZZ``
and seven digits, so they can never be real. Randomness comes only from
``numpy.random.default_rng(seed)``: the same seed gives the same people. How the generator
works and why: docs/registry-dedup.md, "The generator".
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evacops.registry.dedup import PersonRecord
from evacops.registry.family_names import family_pool
from evacops.registry.files import REQUIRED_COLUMNS
from evacops.registry.given_names import FEMALE_NAMES, MALE_NAMES

__all__ = [
    "CATEGORIES",
    "FEMALE_NAMES",
    "IMPORT_COLUMNS",
    "MALE_NAMES",
    "people",
    "registrations_rows",
    "write_registrations_csv",
]

REFERENCE_DATE = dt.date(2021, 8, 15)
IMPORT_COLUMNS = REQUIRED_COLUMNS  # the registration file's columns (evacops.registry.files)
CATEGORIES = ("citizen", "lpr", "siv", "p1p2", "at-risk", "third-country")

# An operation to register generated people into (tests, benchmarks, training): each category
# above mapped to (cohort, priority), and sites of every kind.
EXAMPLE_CATEGORIES: dict[str, tuple[str, float]] = {
    "citizen": ("US citizens", 5.0),
    "lpr": ("US citizens", 4.0),
    "siv": ("SIV and families", 3.0),
    "p1p2": ("P1/P2 referrals", 2.0),
    "at-risk": ("At-risk Afghans", 2.0),
    "third-country": ("Third-country nationals", 1.0),
}
EXAMPLE_SITES: dict[str, str] = {
    "Assembly": "assembly",
    **{f"Gate {g}": "gate" for g in "ABCD"},
    "HKIA": "airport",
    "Al Udeid": "staging",
    "Ramstein": "staging",
    "Dulles": "destination",
}

_FOREIGN = (("USA", 40.0), ("GBR", 14.0), ("DEU", 12.0), ("CAN", 10.0), ("NLD", 5.0),
            ("SWE", 5.0), ("NOR", 4.0), ("FRA", 4.0), ("AUS", 3.0), ("ITA", 3.0))  # fmt: skip


@dataclass
class _Person:
    """A person as generated: the true identity behind one or more registrations."""

    given: int  # index into the sex's name list
    female: bool
    family: str
    single: bool  # registered with one name only
    true_birth: dt.date
    precision: str
    default_jan1: bool
    sex: str
    nationality: str
    document: str | None
    household: int
    category: str
    twin_of: int | None = None
    copies: list[int] = field(default_factory=list)


def _weights(pairs: Sequence[tuple[float, object]]) -> np.ndarray:
    w = np.array([p[0] for p in pairs], dtype=float)
    return w / w.sum()


class _Generator:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.male_p = _weights(MALE_NAMES)
        self.female_p = _weights(FEMALE_NAMES)
        self.family_pool, state = family_pool(seed)
        self.rng.bit_generator.state = dict(state)
        # Family names are frequent the way surnames are: a few common, a long tail.
        ranks = np.arange(len(self.family_pool), dtype=float)
        w = 1.0 / (ranks + 30.0) ** 0.9
        self.family_p = w / w.sum()
        self.docs_used: set[str] = set()
        self.foreign_p = _weights([(w, c) for c, w in _FOREIGN])

    # --- names ------------------------------------------------------------------------------
    def given_spelling(self, p: _Person, avoid: str | None = None) -> str:
        spellings = (FEMALE_NAMES if p.female else MALE_NAMES)[p.given][1]
        if avoid is not None and len(spellings) > 1:
            others = [s for s in spellings if s != avoid]
            return others[self.rng.integers(len(others))]
        # The first spelling is the usual one.
        if len(spellings) == 1 or self.rng.random() < 0.6:
            return spellings[0]
        return spellings[1 + self.rng.integers(len(spellings) - 1)]

    def pick_given(self, female: bool, avoid: Sequence[int] = ()) -> int:
        p = self.female_p if female else self.male_p
        while True:
            g = int(self.rng.choice(len(p), p=p))
            if g not in avoid:
                return g

    def family_variant(self, name: str) -> str:
        """Another romanisation of a family name, as a different clerk would write it."""
        rng = self.rng
        low = name.lower()
        options = []
        for a, b in (("oo", "u"), ("u", "oo"), ("ee", "i"), ("i", "ee"), ("a", "e"), ("e", "a"),
                     ("o", "u"), ("u", "o"), ("q", "k"), ("k", "q"), ("w", "v"), ("ai", "ay"),
                     ("zai", " Zai"), ("khel", " Khel"), ("zada", " Zada"), ("ai", "ei"),
                     ("sh", "sh")):  # fmt: skip
            if a in low[1:]:
                options.append((a, b))
        if rng.random() < 0.25 or not options:
            # Double or undouble a consonant.
            cons = [i for i, c in enumerate(low) if i > 0 and c in "bdfjlmnprstz"]
            if cons:
                i = cons[rng.integers(len(cons))]
                if i + 1 < len(low) and low[i + 1] == low[i]:
                    low = low[:i] + low[i + 1 :]
                else:
                    low = low[: i + 1] + low[i:]
                return _title(low)
            return name
        a, b = options[rng.integers(len(options))]
        starts = [i for i in range(1, len(low)) if low.startswith(a, i)]
        i = starts[rng.integers(len(starts))]
        return _title(low[:i] + b + low[i + len(a) :])

    def typo(self, name: str) -> str:
        """One keying error: a letter replaced, dropped, doubled or swapped with the next."""
        rng = self.rng
        if len(name) < 4:
            return name
        i = int(rng.integers(1, len(name) - 1))
        op = rng.integers(4)
        letter = "abdefghiklmnorstuyz"[rng.integers(19)]
        if op == 0:
            s = name[:i] + letter + name[i + 1 :]
        elif op == 1:
            s = name[:i] + name[i + 1 :]
        elif op == 2:
            s = name[:i] + name[i] + name[i:]
        else:
            s = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        return s

    # --- dates and documents ----------------------------------------------------------------
    def birth(self, age_lo: float, age_hi: float) -> dt.date:
        age_days = self.rng.uniform(age_lo, age_hi) * 365.25
        return REFERENCE_DATE - dt.timedelta(days=int(age_days))

    def precision(self) -> tuple[str, bool]:
        """(precision, exact-1-January default) as registered: a fifth get the 1 Jan default."""
        u = self.rng.random()
        if u < 0.45:
            return "exact", False
        if u < 0.65:
            return "exact", True
        if u < 0.85:
            return "year", False
        return "unknown", False

    def document(self) -> str:
        while True:
            doc = f"ZZ{int(self.rng.integers(10_000_000)):07d}"
            if doc not in self.docs_used:
                self.docs_used.add(doc)
                return doc

    def doc_typo(self, doc: str) -> str:
        digits = list(doc[2:])
        i = int(self.rng.integers(len(digits) - 1))
        if self.rng.random() < 0.5:
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
        else:
            digits[i] = str((int(digits[i]) + 1 + int(self.rng.integers(9))) % 10)
        out = "ZZ" + "".join(digits)
        return out if out != doc else self.doc_typo(doc)


def _title(s: str) -> str:
    return " ".join(w.capitalize() for w in s.split())


def _households(g: _Generator, n_people: int) -> list[_Person]:
    """Households of 1-9 people until ``n_people`` are made."""
    persons: list[_Person] = []
    hh = 0
    while len(persons) < n_people:
        hh += 1
        home = _household(g)
        members = _household_members(g)
        start = len(persons)
        used_given: dict[bool, list[int]] = {True: [], False: []}
        for member in members:
            prev = persons[-1] if len(persons) > start else None
            persons.append(_member(g, hh, home, member, prev, used_given, len(persons)))
    return persons[:n_people]


@dataclass
class _Home:
    """What a household's members share: family name, nationality, category."""

    family: str
    no_family_names: bool  # registered with given names only
    nationality: str
    category: str


def _household(g: _Generator) -> _Home:
    rng = g.rng
    family = g.family_pool[int(rng.choice(len(g.family_pool), p=g.family_p))]
    no_family_names = rng.random() < 0.06  # households registered with given names only
    afghan = rng.random() < 0.92
    nat = "AFG" if afghan else str(rng.choice([c for c, _ in _FOREIGN], p=g.foreign_p))
    if nat == "AFG":
        category = str(
            rng.choice(["siv", "p1p2", "at-risk", "lpr", "citizen", "third-country"],
                       p=[0.30, 0.22, 0.36, 0.06, 0.05, 0.01])
        )  # fmt: skip
    elif nat == "USA":
        category = "citizen"
    else:
        category = "third-country"
    return _Home(family, no_family_names, nat, category)


def _household_members(g: _Generator) -> list[tuple[bool, float, float, str]]:
    """(female, age lo, age hi, role) of each member of a new household."""
    rng = g.rng
    kind = rng.random()
    members: list[tuple[bool, float, float, str]] = []
    if kind < 0.04:  # unaccompanied minors: one or two children, no adult
        for _ in range(int(rng.integers(1, 3))):
            members.append((bool(rng.random() < 0.3), 8, 18, "child"))
    elif kind < 0.22:  # one adult alone
        members.append((bool(rng.random() < 0.2), 18, 65, "adult"))
    else:
        size = int(min(9, max(2, rng.poisson(4.0) + 1)))
        father_age = rng.uniform(24, 60)
        members.append((False, father_age, father_age + 0.01, "head"))
        members.append((True, father_age - 8, father_age - 1, "spouse"))
        n_grand = int(rng.random() < 0.25) + int(rng.random() < 0.10)
        for _ in range(min(n_grand, size - 2)):
            members.append((bool(rng.random() < 0.6), father_age + 20, father_age + 30,
                            "grandparent"))  # fmt: skip
        while len(members) < size:
            members.append((bool(rng.random() < 0.5), 0, min(father_age - 18, 25), "child"))
    return members


def _member(
    g: _Generator,
    hh: int,
    home: _Home,
    member: tuple[bool, float, float, str],
    prev: _Person | None,
    used_given: dict[bool, list[int]],
    index: int,
) -> _Person:
    """One member of household ``hh`` (``prev``: the member made before, for twins)."""
    rng = g.rng
    female, lo, hi, role = member
    twin = (
        role == "child" and prev is not None and prev.precision != "unknown"
        and REFERENCE_DATE.year - prev.true_birth.year < 18 and rng.random() < 0.04
    )  # fmt: skip
    precision, jan1 = g.precision()
    birth = g.birth(lo, hi)
    if twin and prev is not None:
        birth, precision, jan1 = prev.true_birth, prev.precision, prev.default_jan1
    own_family = role == "spouse" and rng.random() < 0.5
    fam = "" if home.no_family_names else home.family
    if own_family and not home.no_family_names:
        fam = g.family_pool[int(rng.choice(len(g.family_pool), p=g.family_p))]
    given = g.pick_given(female, used_given[female])  # siblings get different names
    used_given[female].append(given)
    u = rng.random()
    sex = "F" if female else "M"
    if u < 0.01:
        sex = "U"
    elif u < 0.012:
        sex = "X"
    member_nat = home.nationality
    if home.nationality != "AFG" and role in ("spouse", "grandparent") and rng.random() < 0.5:
        member_nat = "AFG"
    return _Person(
        given=given,
        female=female,
        family=fam,
        single=not fam or rng.random() < 0.03,
        true_birth=birth,
        precision=precision,
        default_jan1=jan1,
        sex=sex,
        nationality=member_nat,
        document=g.document() if rng.random() < 0.6 else None,
        household=hh,
        category=home.category,
        twin_of=index - 1 if twin else None,
    )


@dataclass
class _Registration:
    person: int
    given_name: str
    family_name: str
    birth_date: dt.date | None
    precision: str
    sex: str
    nationality: str
    document: str | None
    household: int | None


def _registered_birth(p: _Person, precision: str, jan1: bool) -> dt.date | None:
    if precision == "unknown":
        return None
    if precision == "year" or jan1:
        return dt.date(p.true_birth.year, 1, 1)
    return p.true_birth


def _first(g: _Generator, idx: int, p: _Person) -> _Registration:
    given = g.given_spelling(p)
    family = "" if p.single else p.family
    return _Registration(
        idx, given, family, _registered_birth(p, p.precision, p.default_jan1), p.precision,
        p.sex, p.nationality, p.document, p.household,
    )  # fmt: skip


def _again(g: _Generator, idx: int, p: _Person, first: _Registration, hh: int | None):
    """A re-registration of person ``p``: how the same person is written down a second time."""
    given, family = _again_names(g, p, first)
    precision, birth = _again_birth(g, p, first)
    rng = g.rng
    document = p.document
    u = rng.random()
    if document is not None:
        if u < 0.30:
            document = None
        elif u < 0.35:
            document = g.doc_typo(document)
    elif u < 0.15:
        document = g.document()  # issued since the first registration
    sex = p.sex
    if sex in "FM" and rng.random() < 0.015:
        sex = "U"
    nat = p.nationality
    if rng.random() < 0.03:
        nat = "USA" if nat == "AFG" else "AFG"  # a dual national, the other passport this time
    return _Registration(idx, given, family, birth, precision, sex, nat, document, hh)


def _again_names(g: _Generator, p: _Person, first: _Registration) -> tuple[str, str]:
    """Given and family name the second time: another spelling, a typo, one left out, swapped."""
    rng = g.rng
    given = first.given_name
    u = rng.random()
    if u < 0.55:
        given = g.given_spelling(p, avoid=given)
    elif u < 0.59:
        given = g.typo(given)
    family = p.family
    u = rng.random()
    if family and u < 0.35:
        family = g.family_variant(family)
    elif family and u < 0.39:
        family = g.typo(family)
    if family and rng.random() < 0.05:
        family = ""  # registered this time with the given name only
    if family and rng.random() < 0.05:
        given, family = family, given  # order swapped
    return given, family


def _again_birth(g: _Generator, p: _Person, first: _Registration) -> tuple[str, dt.date | None]:
    """Birth date the second time: the same, missing, the 1 January default, the year only, or
    a slip."""
    rng = g.rng
    u = rng.random()
    true = p.true_birth
    if u < 0.55:
        precision = p.precision
        birth = first.birth_date
        if p.precision == "unknown" and rng.random() < 0.4:
            precision, birth = "exact", true
    elif u < 0.67:
        precision, birth = "unknown", None
    elif u < 0.79:
        precision, birth = "exact", dt.date(true.year, 1, 1)
    elif u < 0.91:
        precision, birth = "year", dt.date(true.year, 1, 1)
    elif u < 0.95:
        precision, birth = "year", dt.date(true.year + int(rng.choice((-1, 1))), 1, 1)
    else:
        precision = "exact"
        if true.day <= 12 and true.day != true.month:
            birth = dt.date(true.year, true.day, true.month)  # day and month swapped
        else:
            birth = true + dt.timedelta(days=int(rng.choice((-1, 1))))
    return precision, birth


def _generate(
    n: int, seed: int, duplicate_rate: float
) -> tuple[list[PersonRecord], set[frozenset[str]], list[str]]:
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0.0 <= duplicate_rate < 1.0:
        raise ValueError("duplicate_rate must be in [0, 1)")
    g = _Generator(seed)
    rng = g.rng
    n_dup = round(n * duplicate_rate)
    persons = _households(g, n - n_dup)
    regs = [_first(g, i, p) for i, p in enumerate(persons)]
    # Re-registrations: whole households again under a new household (40 %), or one person
    # alone (60 %), some people twice.
    n_households = persons[-1].household if persons else 0
    by_hh: dict[int, list[int]] = {}
    for i, p in enumerate(persons):
        by_hh.setdefault(p.household, []).append(i)
    next_hh = n_households + 1
    made = 0
    while made < n_dup and persons:
        if rng.random() < 0.4:
            members = by_hh[int(rng.integers(1, n_households + 1))][: n_dup - made]
            hh: int | None = next_hh
            next_hh += 1
        else:
            members = [int(rng.integers(len(persons)))]
            u = rng.random()
            hh = None if u < 0.4 else persons[members[0]].household if u < 0.5 else next_hh
            if hh == next_hh:
                next_hh += 1
        for i in members:
            regs.append(_again(g, i, persons[i], regs[i], hh))
            made += 1
    # Person and household ids in random order, so that ids say nothing about duplicates.
    order = rng.permutation(len(regs))
    hh_ids = rng.permutation(next_hh) + 1
    width = max(7, len(str(len(regs))))
    records: list[PersonRecord] = [None] * len(regs)  # type: ignore[list-item]
    categories: list[str] = [""] * len(regs)
    ids_of: dict[int, list[str]] = {}
    for pos, k in enumerate(order):
        r = regs[k]
        pid = f"P{pos + 1:0{width}d}"
        records[pos] = PersonRecord(
            person_id=pid,
            given_name=r.given_name,
            family_name=r.family_name,
            birth_date=r.birth_date,
            birth_precision=r.precision,
            sex=r.sex,
            nationality=r.nationality,
            document_number=r.document,
            household_id=None if r.household is None else f"H{hh_ids[r.household - 1]:06d}",
        )
        categories[pos] = persons[r.person].category
        ids_of.setdefault(r.person, []).append(pid)
    truth = {
        frozenset(pair)
        for ids in ids_of.values()
        if len(ids) > 1
        for pair in itertools.combinations(ids, 2)
    }
    return records, truth, categories


def people(
    n: int, seed: int = 0, duplicate_rate: float = 0.1
) -> tuple[list[PersonRecord], set[frozenset[str]]]:
    """``n`` registrations of synthetic people, ``round(n * duplicate_rate)`` of them
    re-registrations, and the set of true duplicate pairs (person ids).

    Deterministic: the same ``(n, seed, duplicate_rate)`` gives the same records.
    """
    records, truth, _ = _generate(n, seed, duplicate_rate)
    return records, truth


def _birth_text(r: PersonRecord) -> str:
    if r.birth_date is None or r.birth_precision == "unknown":
        return ""
    if r.birth_precision == "year":
        return f"{r.birth_date.year:04d}"
    return r.birth_date.isoformat()


def registrations_rows(n: int, seed: int = 0, duplicate_rate: float = 0.1) -> list[dict[str, str]]:
    """Rows of a registration import file (:data:`IMPORT_COLUMNS`), from :func:`people`.

    ``birth_date`` is ``YYYY-MM-DD``, ``YYYY`` or ``""`` by precision; ``household_id`` is
    ``S<number>`` for a person registered alone (a household of one);
    ``document_number`` is ``""`` when absent; ``category`` is one of :data:`CATEGORIES`, by
    household (US nationals ``citizen``, other foreigners ``third-country``, Afghans mostly
    ``siv``, ``p1p2`` and ``at-risk``).
    """
    records, _, categories = _generate(n, seed, duplicate_rate)
    return [
        {
            # a person registering alone is a household of one (the import needs an id)
            "household_id": r.household_id or f"S{r.person_id[1:]}",
            "given_name": r.given_name,
            "family_name": r.family_name,
            "sex": r.sex,
            "birth_date": _birth_text(r),
            "nationality": r.nationality,
            "document_number": r.document_number or "",
            "category": c,
        }
        for r, c in zip(records, categories, strict=True)
    ]


def write_registrations_csv(
    path: str | Path, n: int, seed: int = 0, duplicate_rate: float = 0.1
) -> Path:
    """Write :func:`registrations_rows` as a UTF-8 CSV file with a header; returns the path."""
    path = Path(path)
    rows = registrations_rows(n, seed, duplicate_rate)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=IMPORT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path
