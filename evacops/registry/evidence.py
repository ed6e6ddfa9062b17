"""The match score of duplicate registrations: how alike two records are.

Evidence is weighed as in Fellegi and Sunter (the weights below, docs/registry-dedup.md "The
score"): names (by how common they are, :class:`NameStats`; straight, swapped or single),
document number, birth date, sex, nationality, household, and the collective evidence of whole
households registered twice (:func:`household_support`). :func:`evidence` works on all candidate
pairs at once (numpy), over the records as :func:`evacops.registry.dedup` prepares them
(:class:`Prepared`); :func:`reasons` gives a pair's short reason codes. Blocking, pairs and
clusters are :mod:`evacops.registry.dedup`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from evacops.registry.names import skeleton

if TYPE_CHECKING:
    from evacops.registry.dedup import PersonRecord


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
class Prepared:
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
class Evidence:
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


def evidence(p: Prepared, i: np.ndarray, j: np.ndarray) -> Evidence:
    """The evidence for pairs (i[k], j[k]), vectorised over all pairs; symmetric in i and j."""
    n = _names(p, i, j)
    logit = p.prior + n.weight
    doc, w_doc = _documents(p, i, j)
    logit += w_doc
    dob, w_dob, dob_default = _births(p, i, j)
    logit += w_dob
    # Sex, nationality, household.
    sa, sb = p.sex[i], p.sex[j]
    known = (sa > 0) & (sb > 0)
    sex_diff = known & (sa != sb)
    logit += np.where(sex_diff, W_SEX_DIFF, np.where(known, W_SEX_EQUAL, 0.0))
    nat_diff = p.nat[i] != p.nat[j]
    logit += np.where(nat_diff, W_NAT_DIFF, 0.0)
    same_hh = (p.hh[i] >= 0) & (p.hh[i] == p.hh[j])
    given_equal = n.given_level == 0
    sibling = same_hh & (p.g[i] != "") & (p.g[j] != "") & ~given_equal
    # In one household a near given name is another child (Hassan and Hussain, twins): the
    # given names count as different, and the pair gets the sibling penalty on top.
    logit += np.where(
        sibling, GIVEN_DISAGREE - np.maximum(n.w_given, GIVEN_DISAGREE) + W_SIBLING, 0.0
    )
    logit += np.where(same_hh & given_equal & n.ok, W_SAME_HOUSEHOLD, 0.0)
    return Evidence(
        logit, n.sim, n.ok, given_equal, n.swapped, n.single, doc, dob, dob_default, sex_diff,
        nat_diff, sibling,
    )  # fmt: skip


@dataclass
class _NameEvidence:
    weight: np.ndarray  # log-likelihood ratio of the names
    sim: np.ndarray
    ok: np.ndarray  # no part of the names disagrees
    swapped: np.ndarray
    single: np.ndarray
    given_level: np.ndarray  # agreement level of the given names (as compared)
    w_given: np.ndarray  # weight of the given names (as compared)


def _names(p: Prepared, i: np.ndarray, j: np.ndarray) -> _NameEvidence:
    """Names compared straight, swapped, or (a single name) against the other's best part."""
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
    return _NameEvidence(
        weight=np.where(full, name_w, np.where(no_name, 0.0, single_w)),
        sim=np.where(full, name_sim, np.stack([s_gg, s_ff, s_gf, s_fg])[best, rows]),
        ok=np.where(full, name_ok, single & (levels[best, rows] <= 1)),
        swapped=swapped,
        single=single,
        given_level=np.where(swapped, np.maximum(l_gf, l_fg), l_gg),
        w_given=np.where(swapped, w_gf, w_gg),
    )


def _documents(p: Prepared, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Document numbers: 2 equal, 1 one edit apart, -1 different, 0 not both; and the weight."""
    m = len(i)
    da, db = p.doc[i], p.doc[j]
    both = (da != "") & (db != "")
    doc = np.zeros(m, np.int8)
    eq = both & (da == db)
    doc[eq] = 2
    diff = both & ~eq
    if diff.any():
        dist = process.cpdist(da[diff].tolist(), db[diff].tolist(), scorer=OSA.distance)
        doc[np.flatnonzero(diff)] = np.where(dist <= 1, 1, -1)
    weight = np.select([doc == 2, doc == 1, doc == -1], [W_DOC_EQUAL, W_DOC_NEAR, W_DOC_DIFF], 0.0)
    return doc, weight


def _births(p: Prepared, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Birth dates: the level (3 equal ... -2 different, 0 unknown), the weight, and whether a
    1 January default is involved."""
    m = len(i)
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
    return dob, w_dob, (dob != 0) & (p.default[i] | p.default[j])


def household_support(p: Prepared, i: np.ndarray, j: np.ndarray, e: Evidence) -> None:
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


def reasons(e: Evidence, k: int) -> list[str]:
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


def probability(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))
