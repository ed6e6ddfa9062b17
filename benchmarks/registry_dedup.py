"""Measure duplicate detection of registrations on generated people.

    .venv/bin/python benchmarks/registry_dedup.py [--n 100000] [--seed 0] [--threshold 0.8]
                                                  [--duplicate-rate 0.1]

Generates ``n`` registrations (evacops.registry.generate.people: households, transliteration
variants, re-registrations), times ``find_duplicates`` on them and prints n, the true duplicate
pairs, the candidate pairs from blocking, the time, and pairwise precision, recall and F1
against the generator's truth, then how many true pairs have nothing but names to compare (no
document on both, no birth date on one) and the recall on the other true pairs.
Target: 100,000 registrations in <= 60 s on one core, precision
and recall >= 0.95. Figures are printed, never asserted. Only counts are printed, never a name.

With ``--service`` it also measures the registry's own dedup, side by side: the same people
are imported into a temporary SQLite registry (or ``--db-url``), and ``Registry.run_dedup``
(blocking on the blind indexes, opening the sealed fields, scoring, writing the review queue)
is timed and scored against the same truth.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evacops.registry.dedup import candidate_pairs, find_duplicates  # noqa: E402
from evacops.registry.generate import people  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--duplicate-rate", type=float, default=0.1)
    ap.add_argument("--service", action="store_true", help="also time Registry.run_dedup")
    ap.add_argument("--db-url", default=None, help="registry database for --service")
    a = ap.parse_args()
    t0 = time.perf_counter()
    records, truth = people(a.n, seed=a.seed, duplicate_rate=a.duplicate_rate)
    t_gen = time.perf_counter() - t0
    n_candidates = sum(1 for _ in candidate_pairs(records))
    t0 = time.perf_counter()
    found = find_duplicates(records, threshold=a.threshold)
    t_find = time.perf_counter() - t0
    pairs = {frozenset(p) for p in zip(found["person_a"], found["person_b"], strict=True)}
    tp = len(pairs & truth)
    precision = tp / len(pairs) if pairs else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # True pairs where nothing but the names can be compared: no document on both records and
    # no birth date on at least one. Among n people, many others share the same names, so no
    # score can tell these from namesakes; they bound the reachable recall.
    by_id = {r.person_id: r for r in records}

    def names_only(pair: frozenset[str]) -> bool:
        a, b = (by_id[x] for x in pair)
        doc = a.document_number and b.document_number
        dob = a.birth_precision != "unknown" and b.birth_precision != "unknown"
        return not doc and not dob

    weak = {p for p in truth if names_only(p)}
    rest = truth - weak
    recall_rest = len(pairs & rest) / len(rest) if rest else 1.0
    print(f"n                       {a.n}")
    print(f"seed                    {a.seed}")
    print(f"duplicates in truth     {len(truth)}")
    print(f"candidate pairs         {n_candidates}")
    print(f"pairs found             {len(pairs)}")
    print(f"generate time s         {t_gen:.1f}")
    print(f"find_duplicates time s  {t_find:.1f}")
    print(f"precision               {precision:.4f}")
    print(f"recall                  {recall:.4f}")
    print(f"F1                      {f1:.4f}")
    print(f"true pairs, names only  {len(weak)} ({len(weak) / max(len(truth), 1):.1%})")
    print(f"recall on the others    {recall_rest:.4f}")
    if a.service:
        service_run(a, records, truth)


def service_run(a, records, truth) -> None:
    import csv
    import os
    import tempfile

    from evacops.registry import init_registry, open_registry
    from evacops.registry.generate import IMPORT_COLUMNS, registrations_rows
    from evacops.registry.settings import RegistrySettings

    with tempfile.TemporaryDirectory() as tmp:
        url = a.db_url or f"sqlite:///{tmp}/registry.db"
        settings = RegistrySettings(database_url=url, key_file=f"{tmp}/master.key")
        init_registry(settings, admin="bench", password="bench-password")
        reg = open_registry(settings, "bench", "bench-password")
        reg.create_operation("bench")
        rows = registrations_rows(a.n, seed=a.seed, duplicate_rate=a.duplicate_rate)
        path = os.path.join(tmp, "reg.csv")
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=IMPORT_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        t0 = time.perf_counter()
        ids = reg.import_file("bench", path).person_ids
        t_imp = time.perf_counter() - t0
        to_gen = dict(zip(ids, (r.person_id for r in records), strict=True))
        t0 = time.perf_counter()
        res = reg.run_dedup("bench", threshold=a.threshold)
        t_dedup = time.perf_counter() - t0
        queue = reg.review_queue("bench")
        pairs = {frozenset((to_gen[q["person_a"]], to_gen[q["person_b"]])) for q in queue}
        tp = len(pairs & truth)
        print("-- through the registry service (Registry.run_dedup) --")
        print(f"database                {url.split(':')[0]}")
        print(f"import time s           {t_imp:.1f}")
        print(f"run_dedup time s        {t_dedup:.1f}")
        print(f"queued pairs            {res['new_candidates']}")
        print(f"precision               {tp / len(pairs) if pairs else 1.0:.4f}")
        print(f"recall                  {tp / len(truth) if truth else 1.0:.4f}")
        reg.engine.dispose()


if __name__ == "__main__":
    main()
