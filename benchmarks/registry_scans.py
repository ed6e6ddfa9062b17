"""Benchmark: sustained gate scans through the service layer (:meth:`Registry.scan`), with one
gate and with several gates at once, on SQLite and on PostgreSQL side by side.

    .venv/bin/python benchmarks/registry_scans.py [--people 20000] [--duration 10]
                                                  [--gates 1,4] [--pg-url URL | --no-pg]
                                                  [--profile] [--json]

Set-up (not timed): a fresh registry, ``--people`` generated people imported and given a
credential each. Then, per number of gates k, k processes (each its own Registry and engine, as
k gate laptops would be) scan gate-in for ``--duration`` seconds, each through its own run of
credentials (signed payloads; every scan verifies the Ed25519 signature, checks the scan id
against the log, writes the event, its projection and the audit entry, and commits). Printed:
scans/s over the run (all gates together) and the latency of one ``Registry.scan`` call,
p50/p95/p99 in ms. Goal: 1,000 scans/s sustained with p99 <= 20 ms on both backends.

--profile adds, per backend, one gate's scans under cProfile in this process: the time per scan
by where it goes (signature check, SQL sent and waited for, commit, SQLAlchemy and the service's
own Python) and the SQL statements per scan. Figures are printed, never asserted.
PostgreSQL runs in a schema of its own, dropped after the run (see registry_import.py).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing as mp
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from registry_import import (  # noqa: E402
    OPERATION,
    PASSWORD,
    choose_backends,
    fresh_database,
    new_registry,
    pg_url_default,
    write_registrations,
)
from sqlalchemy import event  # noqa: E402

from evacops.registry import open_registry  # noqa: E402
from evacops.registry.settings import RegistrySettings  # noqa: E402

GATE_SITES = ("Gate A", "Gate B", "Gate C", "Gate D")
WARMUP = 50  # scans per gate before the clock starts (connections, caches)


def _scan_item(payloads: list[str], j: int, tag: str, site: str) -> tuple[str, str, str]:
    return payloads[j % len(payloads)], site, f"{tag}-{j}"


def gate_worker(url, key_file, payloads, first, tag, site, duration, barrier, out_q) -> None:
    """One gate: its own Registry; WARMUP scans, then scans for ``duration`` seconds after the
    barrier. Puts {"lat": [s...], "start": t, "end": t} (time.monotonic is system-wide)."""
    try:
        settings = RegistrySettings(database_url=url, key_file=key_file)
        reg = open_registry(settings, "gate", PASSWORD)
        j = first
        for _ in range(WARMUP):
            payload, s, sid = _scan_item(payloads, j, tag, site)
            reg.scan(OPERATION, payload, "gate-in", site=s, scan_id=sid)
            j += 1
        barrier.wait()
        lat = []
        start = time.monotonic()
        deadline = start + duration
        while True:
            payload, s, sid = _scan_item(payloads, j, tag, site)
            t = time.perf_counter()
            r = reg.scan(OPERATION, payload, "gate-in", site=s, scan_id=sid)
            lat.append(time.perf_counter() - t)
            j += 1
            if r["duplicate"]:
                raise RuntimeError("a benchmark scan was a duplicate: scan ids overlap")
            if time.monotonic() >= deadline:
                break
        end = time.monotonic()
        reg.engine.dispose()
        out_q.put({"lat": lat, "start": start, "end": end})
    except BaseException as exc:  # the parent must not wait forever
        barrier.abort()
        out_q.put({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})


def run_gates(url, key_file, payloads, gates, duration, run_no) -> dict:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(gates)
    out_q = ctx.Queue()
    # each gate its own stretch of credentials: gate g of run r starts at a fresh offset
    stride = max(1, len(payloads) // (gates * 4))
    procs = [
        ctx.Process(
            target=gate_worker,
            args=(
                url,
                key_file,
                payloads,
                (run_no * gates + g) * stride,
                f"r{run_no}g{g}",
                GATE_SITES[g % len(GATE_SITES)],
                duration,
                barrier,
                out_q,
            ),
        )
        for g in range(gates)
    ]
    for p in procs:
        p.start()
    results = [out_q.get(timeout=duration + 600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"a gate failed: {errors[0]}")
    lat_ms = np.concatenate([np.asarray(r["lat"]) for r in results]) * 1000
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    p50, p95, p99 = np.percentile(lat_ms, [50, 95, 99])
    return {
        "gates": gates,
        "scans": int(lat_ms.size),
        "seconds": span,
        "scans_per_s": lat_ms.size / span,
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(lat_ms.max()),
    }


# where a scan's time goes: cProfile cumulative time of these functions, per scan
PROFILE_PARTS = [
    ("signature check (credentials.verify)", "registry/credentials.py", "verify"),
    ("idempotency lookup (movements._replayed)", "registry/services/movements.py", "_replayed"),
    ("the scan's checks and writes (movements._scan)", "registry/services/movements.py", "_scan"),
    ("  event + projection (Context.event)", "registry/services/context.py", "event"),
    ("  audit entry (audit.append)", "registry/store/audit.py", "append"),
    ("SQL sent and waited for (dialect.do_execute)", "engine/default.py", "do_execute"),
    ("commit (dialect.do_commit)", "engine/default.py", "do_commit"),
]


def profile_scans(settings, payloads, n, tag) -> dict:
    reg = open_registry(settings, "gate", PASSWORD)
    statements: Counter[str] = Counter()

    @event.listens_for(reg.engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements[" ".join(statement.split()[:3])] += 1

    for j in range(WARMUP):
        p, s, sid = _scan_item(payloads, j, tag + "w", "Gate A")
        reg.scan(OPERATION, p, "gate-in", site=s, scan_id=sid)
    statements.clear()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for j in range(n):
        p, s, sid = _scan_item(payloads, j + WARMUP, tag, "Gate A")
        reg.scan(OPERATION, p, "gate-in", site=s, scan_id=sid)
    prof.disable()
    wall = time.perf_counter() - t0
    reg.engine.dispose()
    st = pstats.Stats(prof)
    profiled = sum(tt for (_, _, tt, _, _) in st.stats.values())  # the run, profiler included
    parts = {}
    for label, file, func in PROFILE_PARTS:
        parts[label] = sum(
            ct
            for (fname, _line, fn), (_cc, _nc, _tt, ct, _callers) in st.stats.items()
            if fn == func and fname.endswith(file)
        )
    parts["the rest: SQLAlchemy and service Python"] = profiled - sum(
        parts[k] for k, _, _ in (PROFILE_PARTS[0], PROFILE_PARTS[5], PROFILE_PARTS[6])
    )
    top = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    return {
        "scans": n,
        "ms_per_scan": wall / n * 1000,
        "parts_ms": {k: v / n * 1000 for k, v in parts.items()},
        "statements_per_scan": {k: v / n for k, v in statements.most_common()},
        "top_tottime_ms": [
            (f"{Path(f).name}:{ln}({fn})", tt / n * 1000) for (f, ln, fn), (_, _, tt, _, _) in top
        ],
    }


def bench_backend(backend, pg_url, folder, people, duration, gates_list, profile, seed) -> dict:
    with fresh_database(backend, pg_url, folder) as url:
        settings, admin = new_registry(url, folder)
        admin.add_user("gate", "gate", PASSWORD)
        admin.add_user("registrar", "registrar", PASSWORD)
        registrar = open_registry(settings, "registrar", PASSWORD)
        t = time.perf_counter()
        registrar.import_file(
            OPERATION, write_registrations(folder / f"people-{backend}.csv", people, seed)
        )
        payloads = [c["payload"] for c in registrar.issue_credentials(OPERATION)]
        setup_s = time.perf_counter() - t
        registrar.engine.dispose()
        admin.engine.dispose()
        runs = [
            run_gates(url, settings.key_file, payloads, k, duration, i)
            for i, k in enumerate(gates_list)
        ]
        prof = profile_scans(settings, payloads, 2000, "prof") if profile else None
        return {"setup_s": setup_s, "runs": runs, "profile": prof}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    ap.add_argument("--gates", default="1,4", help="gate processes per run, e.g. 1,2,4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pg-url", default=pg_url_default(), help="a PostgreSQL database to use")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--profile", action="store_true", help="where one gate's scan time goes")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    gates_list = [int(g) for g in args.gates.split(",")]

    backends, notes = choose_backends(args)

    out = {}
    with tempfile.TemporaryDirectory(prefix="evacops-bench-") as tmp:
        for backend in backends:
            out[backend] = bench_backend(
                backend,
                args.pg_url,
                Path(tmp),
                args.people,
                args.duration,
                gates_list,
                args.profile,
                args.seed,
            )
    if args.json:
        print(json.dumps(out, indent=2))
        return 0

    print(
        f"registry scans: gate-in through Registry.scan, {args.people:,} generated people with "
        f"credentials, {args.duration:g} s per run, {os.cpu_count()} CPUs"
    )
    print(
        f"{'backend':<12}{'gates':>6}{'scans':>8}{'scans/s':>9}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'p99 ms':>8}{'max ms':>8}"
    )
    for backend, r in out.items():
        for run in r["runs"]:
            print(
                f"{backend:<12}{run['gates']:>6}{run['scans']:>8}{run['scans_per_s']:>9.0f}"
                f"{run['p50_ms']:>8.1f}{run['p95_ms']:>8.1f}{run['p99_ms']:>8.1f}"
                f"{run['max_ms']:>8.1f}"
            )
    for note in notes:
        print(note)
    # the goal per backend and number of gates (one gate alone waits for each of its own
    # commits; several gates are how an airport scans)
    verdicts = []
    for b, r in out.items():
        ok = [x["gates"] for x in r["runs"] if x["scans_per_s"] >= 1000 and x["p99_ms"] <= 20]
        bad = [x["gates"] for x in r["runs"] if x["gates"] not in ok]
        verdicts.append(
            f"{b} met with {', '.join(map(str, ok)) or 'no'} gate(s)"
            + (f", missed with {', '.join(map(str, bad))}" if bad else "")
        )
    print("goal: >= 1,000 scans/s with p99 <= 20 ms: " + "; ".join(verdicts))
    for backend, r in out.items():
        p = r["profile"]
        if not p:
            continue
        print(
            f"\n{backend}: one gate, {p['scans']} scans under cProfile "
            f"(which slows Python down): {p['ms_per_scan']:.2f} ms/scan"
        )
        for label, ms in p["parts_ms"].items():
            print(f"  {label:<44}{ms:>7.2f} ms")
        n_stmt = sum(p["statements_per_scan"].values())
        print(f"  SQL statements per scan: {n_stmt:.1f}")
        for stmt, k in p["statements_per_scan"].items():
            print(f"    {k:>4.1f}  {stmt}")
        print("  most own time (ms/scan):")
        for name, ms in p["top_tottime_ms"]:
            print(f"    {ms:>6.3f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
