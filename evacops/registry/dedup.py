"""Duplicate registrations: blocking keys, a match score, pairs and clusters.

The same person is often registered twice: at another assembly point, by another clerk, under
another romanisation of the name, with the birth date remembered differently or the document
left at home. This module finds such pairs among in-memory :class:`PersonRecord` objects.

- :func:`blocking_keys` gives each record a few plain strings; two records are compared only if
  they share one. Keys are built so that they can be turned into blind indexes (HMAC) by the
  database service: matching needs only their equality.
- :func:`score` weighs the evidence for one pair (names, birth date, document, sex,
  nationality, household) as a log-likelihood ratio and returns a probability-like score in
  [0, 1] with short reason codes.
- :func:`find_duplicates` scores every candidate pair, vectorised over all pairs at once, and
  returns those at or above a threshold; :func:`clusters` joins them into groups of records
  believed to be one person.

The design, the keys, the weights and measured figures: docs/registry-dedup.md. No name, birth
date or document number ever appears in an exception or a log message.
"""

from __future__ import annotations

import datetime
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import OSA

from evacops.errors import RegistryError
from evacops.registry import files
from evacops.registry.names import skeleton

__all__ = [
    "EXPECTED_DUPLICATE_RATE",
    "MAX_BLOCK",
    "NameStats",
    "PersonRecord",
    "blocking_keys",
    "candidate_pairs",
    "clusters",
    "find_duplicates",
    "normalise_document",
    "score",
    "secondary_key",
]

PRECISIONS = ("exact", "year", "unknown")
SEXES = ("F", "M", "X", "U")


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """One registration of one person, as matching sees it.

    ``birth_precision`` says what ``birth_date`` means: ``"exact"`` the day, ``"year"`` only
    ``birth_date.year``, ``"unknown"`` nothing (``birth_date`` may then be ``None``). Either
    name may be ``""`` for people registered with a single name.
    """

    person_id: str
    given_name: str  # may be "" (single-name people: only one of given/family present)
    family_name: str  # may be ""
    birth_date: datetime.date | None
    birth_precision: str  # "exact" | "year" | "unknown"  (year: only birth_date.year is meaningful)
    sex: str  # "F" | "M" | "X" | "U"
    nationality: str  # ISO alpha-3
    document_number: str | None
    household_id: str | None = None

    def __post_init__(self) -> None:
        # Messages name the field and the fix, never the value (personal data).
        if self.birth_precision not in PRECISIONS:
            raise RegistryError(
                f"person {self.person_id}: birth_precision must be one of {', '.join(PRECISIONS)}"
            )
        if self.birth_precision != "unknown" and self.birth_date is None:
            raise RegistryError(
                f"person {self.person_id}: birth_date is required when birth_precision is "
                f"{self.birth_precision}; give the date or use birth_precision 'unknown'"
            )
        if self.sex not in SEXES:
            raise RegistryError(f"person {self.person_id}: sex must be one of {', '.join(SEXES)}")


# --- Keys ------------------------------------------------------------------------------------
MAX_BLOCK = 500  # larger blocks are split by secondary_key(), then compared in a sliding window
WINDOW = 50  # neighbours compared in a block still larger than MAX_BLOCK after the split


def normalise_document(doc: str | None) -> str:
    """The stored form of a document number (:func:`evacops.registry.files.normalise_document`:
    ``zz-123 4567`` -> ``ZZ1234567``, Persian digits as 0-9), letters and digits only; ``""`` if
    none."""
    if not doc:
        return ""
    return "".join(c for c in files.normalise_document(doc) if c.isalnum())


def _year_level(rec: PersonRecord) -> tuple[int, int, bool]:
    """(year or -1, level, is-default): level 2 exact day, 1 year only, 0 unknown.

    An exact 1 January is the registration default for "born in that year, day unknown": it is
    weak evidence and counts as the year only.
    """
    d = rec.birth_date
    if d is None or rec.birth_precision == "unknown":
        return -1, 0, False
    if rec.birth_precision == "year":
        return d.year, 1, False
    if d.month == 1 and d.day == 1:
        return d.year, 1, True
    return d.year, 2, False


def _keys(g: str, f: str, year: int, doc: str, sex: str, nat: str) -> list[str]:
    keys = []
    if doc:
        keys.append("doc:" + doc)
        # The document with one character left out, each position in turn: two numbers one
        # substitution or one adjacent swap apart share one of these (a keying error).
        if len(doc) >= 6:
            keys.extend(f"dx:{doc[:k]}_{doc[k + 1 :]}" for k in range(len(doc)))
    parts = [p for p in (g, f) if p]
    if year >= 0:
        # Each name part with the birth year, in either role: catches swapped order, single
        # names, and a variant or typo in the other part.
        keys.extend(f"ny:{p}|{year}" for p in dict.fromkeys(parts))
    if len(parts) == 2:
        # The full name in either order, without the birth date (missing in one copy).
        keys.append("nn:" + "|".join(sorted(parts)))
        # Given name and the start of the family name, and the other way round: catches a
        # typo or an unfolded variant in one of the two when the birth date is missing.
        keys.append(f"gf:{g}|{f[:3]}")
        keys.append(f"fg:{g[:3]}|{f}")
    elif len(parts) == 1:
        # A single name: only other single-name records of the same sex and nationality.
        keys.append(f"n1:{parts[0]}|{sex}|{nat}")
    return keys


def blocking_keys(rec: PersonRecord) -> list[str]:
    """Plain-string blocking keys of a record; two records are compared if they share one.

    - ``doc:<document>``: the normalised document number;
    - ``ny:<name skeleton>|<birth year>`` for the given and for the family name (birth year
      from an exact date, a year-only date or a 1 January default; none if unknown);
    - ``nn:<skeleton>|<skeleton>``: both names, sorted (so swapped order still meets);
    - ``gf:<given>|<family[:3]>`` and ``fg:<given[:3]>|<family>``: one name whole, the other's
      first three letters of its skeleton;
    - ``n1:<skeleton>|<sex>|<nationality>`` for people with a single name.

    Safe to HMAC one by one into blind indexes: matching uses only their equality.
    """
    year, _, _ = _year_level(rec)
    return _keys(
        skeleton(rec.given_name),
        skeleton(rec.family_name),
        year,
        normalise_document(rec.document_number),
        rec.sex,
        rec.nationality,
    )


def _secondary(g: str, f: str) -> str:
    return "".join(sorted(p[0] for p in (g, f) if p))


def secondary_key(rec: PersonRecord) -> str:
    """The key splitting a block larger than :data:`MAX_BLOCK`: the sorted initials of the name
    skeletons (``"mt"`` for Mohammad Tanikhel and for Tanikhel Mohammad)."""
    return _secondary(skeleton(rec.given_name), skeleton(rec.family_name))


def _block_pairs(
    keys: Sequence[Sequence[str]], second: Sequence[str], order_key: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Unique candidate pairs (i < j) of records sharing a key, as two index arrays."""
    n = len(keys)
    codes: dict[str, int] = {}
    rec_idx: list[int] = []
    key_idx: list[int] = []
    for r, ks in enumerate(keys):
        for k in ks:
            key_idx.append(codes.setdefault(k, len(codes)))
            rec_idx.append(r)
    if not rec_idx:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    kk = np.asarray(key_idx, dtype=np.int64)
    rr = np.asarray(rec_idx, dtype=np.int64)
    order = np.argsort(kk, kind="stable")
    members = rr[order]
    sizes = np.bincount(kk)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    small = (sizes >= 2) & (sizes <= MAX_BLOCK)
    for s in np.unique(sizes[small]):
        st = starts[sizes == s]
        a, b = np.triu_indices(int(s), 1)
        out_i.append(members[(st[:, None] + a).ravel()])
        out_j.append(members[(st[:, None] + b).ravel()])
    for big in np.flatnonzero(sizes > MAX_BLOCK).tolist():
        first = int(starts[big])
        block = members[first : first + int(sizes[big])]
        groups: dict[str, list[int]] = {}
        for m in block.tolist():
            groups.setdefault(second[m], []).append(m)
        for group in groups.values():
            g = np.asarray(group, dtype=np.int64)
            if len(g) <= MAX_BLOCK:
                a, b = np.triu_indices(len(g), 1)
            else:  # sorted neighbourhood: each record against the next WINDOW by name
                g = g[np.argsort(np.asarray([order_key[m] for m in group]), kind="stable")]
                a = np.concatenate([np.arange(len(g) - d) for d in range(1, WINDOW + 1)])
                b = np.concatenate([np.arange(d, len(g)) for d in range(1, WINDOW + 1)])
            out_i.append(g[a])
            out_j.append(g[b])
    if not out_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    i = np.concatenate(out_i)
    j = np.concatenate(out_j)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keep = lo != hi
    code = np.unique(lo[keep] * n + hi[keep])
    return code // n, code % n


# --- Score -----------------------------------------------------------------------------------
# Evidence is weighed as in Fellegi and Sunter: each comparison adds the natural log of
# P(what we see | one person) / P(what we see | two people), and the sum is added to the prior
# log-odds that two records of the population are one person. The values are rounded
# estimates of those ratios (docs/registry-dedup.md, "The score"), checked on generated
# registrations with benchmarks/registry_dedup.py.
EXPECTED_DUPLICATE_RATE = 0.1  # share of registrations that are re-registrations (prior)
W_DOC_EQUAL = 12.0  # same document number
W_DOC_NEAR = 2.0  # one edit apart: a typo, or two documents issued in sequence; weak
W_DOC_DIFF = -8.0  # two different documents
W_DOB_EQUAL = 9.0  # same exact birth date (about 1 in 15,000 for two people)
W_DOB_NEAR = 3.0  # exact dates a day apart, or day and month swapped
W_DOB_DIFF_DAY = -3.0  # exact dates differing within the same year
W_DOB_DIFF_YEAR = -5.0  # exact dates in different years
W_YEAR_EQUAL = 3.3  # same birth year where one date is a year or a 1 January default
W_YEAR_NEAR = 0.0  # birth years one apart (year-only dates are estimates)
W_YEAR_DIFF = -4.5
W_SEX_EQUAL = 0.7
W_SEX_DIFF = -4.5
W_NAT_DIFF = -1.6  # dual nationals show either passport
W_SWAP = -0.5  # given and family names swapped
NEAR_NAME = 3.0  # a name one edit away (skeletons) counts its frequency weight less this
GIVEN_DISAGREE = -4.5  # given names that do not match
FAMILY_DISAGREE = -4.0
W_SIBLING = -4.0  # same household, different given names: siblings, twins, not one person
W_SAME_HOUSEHOLD = 2.0  # same household and the same given name: entered twice on one list
W_HOUSEHOLD_SUPPORT = 4.0  # per other matching pair of members of the same two households
MAX_SUPPORT = 3  # at most this many supporting pairs count
SUPPORT_LOGIT = 0.0  # a pair at least this likely (before support) supports its households
_FAR = 99  # distance standing for "no name to compare"


@dataclass(frozen=True)
class NameStats:
    """How common each name skeleton is, and how many people the records stand for.

    Agreeing on a rare name is strong evidence, on ``Mohammad`` weak: the weight of agreeing on
    skeleton ``s`` is ln(0.95 / share(s)). ``population`` sets the prior: among ``n`` people the
    odds that two given records are one person are about 2 x duplicate rate / n, so the same
    evidence convinces less in a larger population. :meth:`default` (used by :func:`score`)
    counts every name as moderately rare in a population of 10,000.
    """

    share: dict[str, float]
    population: int = 10_000
    default_share: float = 0.003

    @classmethod
    def default(cls) -> NameStats:
        return cls({})

    @classmethod
    def from_skeletons(cls, given: Sequence[str], family: Sequence[str]) -> NameStats:
        n = len(given)
        if n < 1000:  # too few records to estimate frequencies: the defaults
            return cls.default()
        counts = Counter(s for s in given if s)
        for g, f in zip(given, family, strict=True):
            if f and f != g:
                counts[f] += 1
        return cls({s: c / n for s, c in counts.items()}, population=n)

    @classmethod
    def from_records(cls, records: Sequence[PersonRecord]) -> NameStats:
        return cls.from_skeletons(
            [skeleton(r.given_name) for r in records], [skeleton(r.family_name) for r in records]
        )

    def weight(self, s: str) -> float:
        """Log-likelihood ratio of agreeing on skeleton ``s``: ln(0.95 / share), within [1, 12]."""
        if not s:
            return 0.0
        u = self.share.get(s, self.default_share)
        return min(12.0, max(1.0, math.log(0.95 / u)))

    def prior(self) -> float:
        """Log-odds that two records are one person before any evidence."""
        return math.log(2 * EXPECTED_DUPLICATE_RATE / max(self.population, 2))


@dataclass
class _Prepared:
    ids: np.ndarray
    g: np.ndarray  # given-name skeleton ("" if none)
    f: np.ndarray  # family-name skeleton
    gw: np.ndarray  # agreement weight of the given skeleton
    fw: np.ndarray
    prior: float
    year: np.ndarray  # -1 unknown
    level: np.ndarray  # 2 exact, 1 year only (or 1 January default), 0 unknown
    default: np.ndarray  # exact 1 January
    ordinal: np.ndarray  # date ordinal if level 2
    md: np.ndarray  # month * 100 + day if level 2
    sex: np.ndarray  # 0 unknown/X, 1 F, 2 M
    nat: np.ndarray
    doc: np.ndarray  # normalised document, "" if none
    hh: np.ndarray  # household code, -1 if none
    keys: list[list[str]]
    second: list[str]


def _prepare(records: Sequence[PersonRecord], stats: NameStats | None) -> _Prepared:
    n = len(records)
    g = [skeleton(r.given_name) for r in records]
    f = [skeleton(r.family_name) for r in records]
    if stats is None:
        stats = NameStats.from_skeletons(g, f)
    wcache: dict[str, float] = {}

    def w(s: str) -> float:
        if s not in wcache:
            wcache[s] = stats.weight(s)
        return wcache[s]

    year = np.full(n, -1, np.int32)
    level = np.zeros(n, np.int8)
    default = np.zeros(n, bool)
    ordinal = np.zeros(n, np.int64)
    md = np.zeros(n, np.int32)
    docs = [normalise_document(r.document_number) for r in records]
    keys: list[list[str]] = []
    hh_codes: dict[str, int] = {}
    nat_codes: dict[str, int] = {}
    hh = np.full(n, -1, np.int64)
    nat = np.zeros(n, np.int32)
    sex = np.zeros(n, np.int8)
    sex_code = {"F": 1, "M": 2}
    for i, r in enumerate(records):
        y, lv, dflt = _year_level(r)
        year[i], level[i], default[i] = y, lv, dflt
        if lv == 2 and r.birth_date is not None:
            ordinal[i] = r.birth_date.toordinal()
            md[i] = r.birth_date.month * 100 + r.birth_date.day
        if r.household_id is not None:
            hh[i] = hh_codes.setdefault(r.household_id, len(hh_codes))
        nat[i] = nat_codes.setdefault(r.nationality, len(nat_codes))
        sex[i] = sex_code.get(r.sex, 0)
        keys.append(_keys(g[i], f[i], y, docs[i], r.sex, r.nationality))
    return _Prepared(
        ids=np.asarray([r.person_id for r in records], dtype=object),
        g=np.asarray(g, dtype=object),
        f=np.asarray(f, dtype=object),
        gw=np.asarray([w(s) for s in g]),
        fw=np.asarray([w(s) for s in f]),
        prior=stats.prior(),
        year=year,
        level=level,
        default=default,
        ordinal=ordinal,
        md=md,
        sex=sex,
        nat=nat,
        doc=np.asarray(docs, dtype=object),
        hh=hh,
        keys=keys,
        second=[_secondary(a, b) for a, b in zip(g, f, strict=True)],
    )


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Edit distance (adjacent swaps count one) between skeletons; _FAR if either is empty."""
    if len(a) == 0:
        return np.zeros(0, np.int64)
    d = process.cpdist(a.tolist(), b.tolist(), scorer=OSA.distance, dtype=np.int64)
    return np.where((a == "") | (b == ""), _FAR, d)


def _agreement(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(level, similarity) of two skeleton arrays.

    Level 0: equal. 1, near: one edit apart (both at least 4 letters), two edits apart (both at
    least 9), or one the start of the other (at least 4 letters: Najib, Najibullah). 2:
    different. 3: nothing to compare. Similarity: 1 - distance / longer length.
    """
    d = _distance(a, b)
    la = np.fromiter((len(s) for s in a), np.int64, len(a))
    lb = np.fromiter((len(s) for s in b), np.int64, len(b))
    short = np.minimum(la, lb)
    near = ((d == 1) & (short >= 4)) | ((d == 2) & (short >= 9))
    maybe_prefix = np.flatnonzero(~near & (d != _FAR) & (d > 0) & (short >= 4))
    if len(maybe_prefix):
        near[maybe_prefix] = [
            x.startswith(y) or y.startswith(x)
            for x, y in zip(a[maybe_prefix], b[maybe_prefix], strict=True)
        ]
    level = np.where(d == _FAR, 3, np.where(d == 0, 0, np.where(near, 1, 2)))
    sim = np.where(d == _FAR, 0.0, 1.0 - d / np.maximum(np.maximum(la, lb), 1))
    return level, sim


def _name_weight(level: np.ndarray, fw: np.ndarray, disagree: float) -> np.ndarray:
    return np.select(
        [level == 0, level == 1, level == 2],
        [fw, np.maximum(fw - NEAR_NAME, 0.5), np.full(len(level), disagree)],
        0.0,
    )


@dataclass
class _Evidence:
    logit: np.ndarray
    name_sim: np.ndarray
    name_ok: np.ndarray  # no part of the names disagrees
    given_equal: np.ndarray
    swapped: np.ndarray
    single: np.ndarray
    doc: np.ndarray  # 2 equal, 1 one edit, -1 different, 0 not both present
    dob: np.ndarray  # 3 equal, 2 near, 1 year equal, -1 year near, -2 different, 0 unknown
    dob_default: np.ndarray
    sex_diff: np.ndarray
    nat_diff: np.ndarray
    sibling: np.ndarray
    support: np.ndarray | None = None  # other matching member pairs of the two households


def _evidence(p: _Prepared, i: np.ndarray, j: np.ndarray) -> _Evidence:
    """The evidence for pairs (i[k], j[k]), vectorised over all pairs; symmetric in i and j."""
    m = len(i)
    ga, fa, gb, fb = p.g[i], p.f[i], p.g[j], p.f[j]
    l_gg, s_gg = _agreement(ga, gb)
    l_ff, s_ff = _agreement(fa, fb)
    l_gf, s_gf = _agreement(ga, fb)
    l_fg, s_fg = _agreement(fa, gb)
    gwa, fwa, gwb, fwb = p.gw[i], p.fw[i], p.gw[j], p.fw[j]
    w_gg = _name_weight(l_gg, np.minimum(gwa, gwb), GIVEN_DISAGREE)
    w_ff = _name_weight(l_ff, np.minimum(fwa, fwb), FAMILY_DISAGREE)
    cross = (GIVEN_DISAGREE + FAMILY_DISAGREE) / 2  # the same both ways: keeps score symmetric
    w_gf = _name_weight(l_gf, np.minimum(gwa, fwb), cross)
    w_fg = _name_weight(l_fg, np.minimum(fwa, gwb), cross)
    full = (ga != "") & (fa != "") & (gb != "") & (fb != "")
    straight = w_gg + w_ff
    swap_w = w_gf + w_fg + W_SWAP
    swapped = full & (swap_w > straight)
    name_w = np.where(swapped, swap_w, straight)
    name_sim = np.where(swapped, (s_gf + s_fg) / 2, (s_gg + s_ff) / 2)
    name_ok = np.where(swapped, (l_gf <= 1) & (l_fg <= 1), (l_gg <= 1) & (l_ff <= 1))
    # One record (or both) with a single name: its name against the other's best part.
    levels = np.stack([l_gg, l_ff, l_gf, l_fg])
    combos_w = np.where(levels == 3, -np.inf, np.stack([w_gg, w_ff, w_gf, w_fg]))
    best = np.argmax(combos_w, axis=0)
    rows = np.arange(m)
    single_w = combos_w[best, rows]
    no_name = np.isneginf(single_w)
    single = ~full & ~no_name
    name_w = np.where(full, name_w, np.where(no_name, 0.0, single_w))
    name_sim = np.where(full, name_sim, np.stack([s_gg, s_ff, s_gf, s_fg])[best, rows])
    name_ok = np.where(full, name_ok, single & (levels[best, rows] <= 1))
    logit = p.prior + name_w

    # Document numbers.
    da, db = p.doc[i], p.doc[j]
    both = (da != "") & (db != "")
    doc = np.zeros(m, np.int8)
    eq = both & (da == db)
    doc[eq] = 2
    diff = both & ~eq
    if diff.any():
        dist = process.cpdist(da[diff].tolist(), db[diff].tolist(), scorer=OSA.distance)
        doc[np.flatnonzero(diff)] = np.where(dist <= 1, 1, -1)
    logit += np.select([doc == 2, doc == 1, doc == -1], [W_DOC_EQUAL, W_DOC_NEAR, W_DOC_DIFF], 0.0)

    # Birth dates.
    la, lb = p.level[i], p.level[j]
    ya, yb = p.year[i], p.year[j]
    exact = (la == 2) & (lb == 2)
    yearly = (la >= 1) & (lb >= 1) & ~exact
    dy = np.abs(ya - yb)
    dd = np.abs(p.ordinal[i] - p.ordinal[j])
    mda, mdb = p.md[i], p.md[j]
    swapped_dm = (mda // 100 == mdb % 100) & (mda % 100 == mdb // 100)
    dob = np.zeros(m, np.int8)
    dob[exact & (dd == 0)] = 3
    dob[exact & (dd > 0) & ((dd <= 1) | (swapped_dm & (dy == 0)))] = 2
    dob[exact & (dob == 0)] = -2
    dob[yearly & (dy == 0)] = 1
    dob[yearly & (dy == 1)] = -1
    dob[yearly & (dy > 1)] = -2
    w_dob = np.select(
        [dob == 3, dob == 2, exact & (dob == -2) & (dy == 0), exact & (dob == -2), dob == 1,
         dob == -1, dob == -2],
        [W_DOB_EQUAL, W_DOB_NEAR, W_DOB_DIFF_DAY, W_DOB_DIFF_YEAR, W_YEAR_EQUAL, W_YEAR_NEAR,
         W_YEAR_DIFF],
        0.0,
    )  # fmt: skip
    logit += w_dob
    dob_default = (dob != 0) & (p.default[i] | p.default[j])

    # Sex, nationality, household.
    sa, sb = p.sex[i], p.sex[j]
    known = (sa > 0) & (sb > 0)
    sex_diff = known & (sa != sb)
    logit += np.where(sex_diff, W_SEX_DIFF, np.where(known, W_SEX_EQUAL, 0.0))
    nat_diff = p.nat[i] != p.nat[j]
    logit += np.where(nat_diff, W_NAT_DIFF, 0.0)
    same_hh = (p.hh[i] >= 0) & (p.hh[i] == p.hh[j])
    given_level = np.where(swapped, np.maximum(l_gf, l_fg), l_gg)
    given_equal = given_level == 0
    sibling = same_hh & (ga != "") & (gb != "") & ~given_equal
    # In one household a near given name is another child (Hassan and Hussain, twins): the
    # given names count as different, and the pair gets the sibling penalty on top.
    w_given = np.where(swapped, w_gf, w_gg)
    logit += np.where(
        sibling, GIVEN_DISAGREE - np.maximum(w_given, GIVEN_DISAGREE) + W_SIBLING, 0.0
    )
    logit += np.where(same_hh & given_equal & name_ok, W_SAME_HOUSEHOLD, 0.0)
    return _Evidence(
        logit, name_sim, name_ok, given_equal, swapped, single, doc, dob, dob_default, sex_diff,
        nat_diff, sibling,
    )  # fmt: skip


def _household_support(p: _Prepared, i: np.ndarray, j: np.ndarray, e: _Evidence) -> None:
    """Collective evidence, added to ``e.logit`` in place.

    When a household registers again as a whole, several of its members match members of one
    other household. Among pairs whose names agree, across two different households, each
    person is paired with its best match in the other household only (one to one); such a
    pair's support is the number of *other* such pairs between the same two households that
    are at least :data:`SUPPORT_LOGIT` likely on their own. A pair with support gets
    :data:`W_HOUSEHOLD_SUPPORT`.
    """
    m = len(i)
    e.support = np.zeros(m, np.int64)
    ha, hb = p.hh[i], p.hh[j]
    cand = np.flatnonzero((ha >= 0) & (hb >= 0) & (ha != hb) & e.name_ok)
    if len(cand) == 0:
        return
    n_hh = int(p.hh.max()) + 1
    hp = np.minimum(ha[cand], hb[cand]) * n_hh + np.maximum(ha[cand], hb[cand])
    lg = e.logit[cand]
    best = np.ones(len(cand), bool)
    for end in (i[cand], j[cand]):  # one to one: the best pair of each person per household pair
        order = np.lexsort((-lg, end, hp))
        first = np.ones(len(cand), bool)
        first[1:] = (hp[order][1:] != hp[order][:-1]) | (end[order][1:] != end[order][:-1])
        keep = np.zeros(len(cand), bool)
        keep[order] = first
        best &= keep
    supporter = best & (lg >= SUPPORT_LOGIT)
    uniq, counts = np.unique(hp[supporter], return_counts=True)
    pos = np.clip(np.searchsorted(uniq, hp), 0, max(len(uniq) - 1, 0))
    n_sup = np.where((len(uniq) > 0) & (uniq[pos] == hp), counts[pos] if len(uniq) else 0, 0)
    support = np.where(best, n_sup - supporter, 0)
    e.support[cand] = support
    e.logit = e.logit + W_HOUSEHOLD_SUPPORT * np.minimum(e.support, MAX_SUPPORT)


_DOB_REASON = {3: "dob=", 2: "dob~", 1: "dob-year=", -1: "dob-year~1", -2: "dob!="}
_DOC_REASON = {2: "doc=", 1: "doc~1", -1: "doc!="}


def _reasons(e: _Evidence, k: int) -> list[str]:
    out = []
    if e.doc[k]:
        out.append(_DOC_REASON[int(e.doc[k])])
    out.append(f"name~{e.name_sim[k]:.2f}")
    if e.swapped[k]:
        out.append("swap")
    if e.single[k]:
        out.append("single")
    if e.dob[k]:
        out.append(_DOB_REASON[int(e.dob[k])])
    if e.dob_default[k]:
        out.append("dob-default")
    if e.sex_diff[k]:
        out.append("sex!=")
    if e.nat_diff[k]:
        out.append("nat!=")
    if e.sibling[k]:
        out.append("sibling")
    if e.support is not None and e.support[k] > 0:
        out.append(f"household+{int(e.support[k])}")
    return out


def _probability(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))


def score(
    a: PersonRecord, b: PersonRecord, stats: NameStats | None = None
) -> tuple[float, list[str]]:
    """How likely ``a`` and ``b`` are one person: a score in [0, 1] and reason codes.

    Reason codes: ``doc=`` / ``doc~1`` / ``doc!=`` (same, one edit apart, different document),
    ``name~0.93`` (Jaro-Winkler similarity of the name skeletons), ``swap`` (given and family
    swapped), ``single`` (one has a single name), ``dob=`` / ``dob~`` / ``dob!=`` (exact dates
    equal, near, different), ``dob-year=`` / ``dob-year~1`` (years equal, one apart),
    ``dob-default`` (a 1 January default involved), ``sex!=``, ``nat!=``, ``sibling`` (same
    household, different given names). ``stats`` weighs names by frequency; without it every
    name counts as moderately rare (:meth:`NameStats.default`). Symmetric in ``a`` and ``b``.
    """
    p = _prepare([a, b], stats or NameStats.default())
    e = _evidence(p, np.array([0]), np.array([1]))
    e2 = _evidence(p, np.array([1]), np.array([0]))
    logit = (float(e.logit[0]) + float(e2.logit[0])) / 2  # exactly symmetric
    return float(_probability(np.array([logit]))[0]), _reasons(e, 0)


def candidate_pairs(records: Sequence[PersonRecord]) -> Iterator[tuple[int, int]]:
    """Pairs (i, j), i < j, of records that share a blocking key, each once, in order."""
    p = _prepare(records, NameStats.default())
    i, j = _block_pairs(p.keys, p.second, [a + "|" + b for a, b in zip(p.g, p.f, strict=True)])
    return zip(i.tolist(), j.tolist(), strict=True)


_COLUMNS = ["person_a", "person_b", "score", "reasons"]


def find_duplicates(
    records: Sequence[PersonRecord],
    threshold: float = 0.8,
    *,
    keys: Sequence[Sequence[str]] | None = None,
    stats: NameStats | None = None,
) -> pd.DataFrame:
    """Pairs of records believed to be one person: score >= ``threshold``.

    Columns ``person_a``, ``person_b`` (``person_a < person_b``), ``score``, ``reasons`` (reason
    codes joined by ``,``), sorted by score, highest first. Name frequencies are estimated from
    ``records`` (when there are at least 1,000) unless ``stats`` is given.

    ``keys``, one list per record, replaces :func:`blocking_keys` for blocking: e.g. their
    blind indexes (HMACs), as the database service keeps them. Blocking needs only their
    equality; a block larger than :data:`MAX_BLOCK` is split by :func:`secondary_key`.
    Household support (docs/registry-dedup.md) needs all pairs, so a pair's score here may be
    higher than :func:`score` gives it alone.
    """
    records = list(records)
    ids = [r.person_id for r in records]
    if len(set(ids)) != len(ids):
        dup = next(k for k, c in Counter(ids).items() if c > 1)
        raise RegistryError(f"person_id {dup} appears more than once; person ids must be unique")
    p = _prepare(records, stats)
    if keys is not None:
        if len(keys) != len(records):
            raise RegistryError(
                f"find_duplicates: {len(keys)} key lists for {len(records)} records; "
                "give one list of blocking keys per record"
            )
        p.keys = [list(k) for k in keys]
    i, j = _block_pairs(p.keys, p.second, [a + "|" + b for a, b in zip(p.g, p.f, strict=True)])
    if len(i) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(_COLUMNS, "OOfO", strict=True)})
    e = _evidence(p, i, j)
    _household_support(p, i, j, e)
    prob = _probability(e.logit)
    keep = np.flatnonzero(prob >= threshold)
    a, b = p.ids[i[keep]], p.ids[j[keep]]
    swap = a > b
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    df = pd.DataFrame(
        {
            "person_a": a,
            "person_b": b,
            "score": prob[keep],
            "reasons": [",".join(_reasons(e, int(k))) for k in keep],
        }
    )
    return df.sort_values(
        ["score", "person_a", "person_b"], ascending=[False, True, True], ignore_index=True
    )


def clusters(pairs_df: pd.DataFrame) -> list[set[str]]:
    """Groups of person ids joined by the pairs (union-find over ``person_a``/``person_b``),
    largest first, then by smallest id."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    pairs: Iterable[tuple[str, str]] = zip(pairs_df["person_a"], pairs_df["person_b"], strict=True)
    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, set[str]] = {}
    for x in parent:
        groups.setdefault(find(x), set()).add(x)
    return sorted(groups.values(), key=lambda s: (-len(s), min(s)))
