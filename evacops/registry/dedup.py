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
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evacops.errors import RegistryError
from evacops.registry import files
from evacops.registry.evidence import (
    EXPECTED_DUPLICATE_RATE,
    NameStats,
    Prepared,
    evidence,
    household_support,
    probability,
    reasons,
)
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


# --- Records prepared for scoring (the score itself: evacops.registry.evidence) ------------
def _prepare(records: Sequence[PersonRecord], stats: NameStats | None) -> Prepared:
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
    return Prepared(
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
    e = evidence(p, np.array([0]), np.array([1]))
    e2 = evidence(p, np.array([1]), np.array([0]))
    logit = (float(e.logit[0]) + float(e2.logit[0])) / 2  # exactly symmetric
    return float(probability(np.array([logit]))[0]), reasons(e, 0)


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
    e = evidence(p, i, j)
    household_support(p, i, j, e)
    prob = probability(e.logit)
    keep = np.flatnonzero(prob >= threshold)
    a, b = p.ids[i[keep]], p.ids[j[keep]]
    swap = a > b
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    df = pd.DataFrame(
        {
            "person_a": a,
            "person_b": b,
            "score": prob[keep],
            "reasons": [",".join(reasons(e, int(k))) for k in keep],
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
