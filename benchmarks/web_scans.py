"""Benchmark: gate devices scanning over HTTP against ``evacops serve`` (SQLite, and PostgreSQL
when reachable): scans/s sustained and the latency of one scan request, p50/p95/p99.

    .venv/bin/python benchmarks/web_scans.py [--people 20000] [--devices 8] [--duration 10]
                                             [--workers 1] [--pg-url URL | --no-pg]
                                             [--no-sqlite] [--json]

Set-up (not timed): a demo operation (evacops.demo, generated people) with ``--people`` people,
one enrolled gate device per simulated phone (each bound to a gate of the operation), served by
``evacops serve`` on a free localhost port. Then ``--devices`` processes, each one device with its
own HTTP connection, send the scans a phone's outbox sends when online: one POST per scan with the
device's token, its device id and the next sequence number, each a gate-in of a credential of its
own run (people not yet at a gate; after the run's last one a device starts its run again, and
those are gate-ins again at the same gate), for ``--duration`` seconds after a warm-up. Printed
per backend: scans/s over the run (all devices together), p50/p95/p99/max of one request in
ms, and errors. Goal (issue 10): >= 1,000 scans/s sustained with p99 <= 50 ms on PostgreSQL.
Figures are printed, never asserted; every request goes to 127.0.0.1 only, and the run stops by
itself.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from evacops.demo import OPERATION, build_demo, served  # noqa: E402

GATES = ("Abbey Gate", "East Gate", "North Gate", "South Gate")
WARMUP = 30  # scans per device before the clock starts
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# A device's outbox sync (evacops/web/routers/scans.py, api_device_sync): a phone online sends
# each scan as it is made, one per request, with its device token.
SCAN_PATH = "/api/v1/operations/{op}/devices/{device}/scans"


def scan_body(seq: int, payload: str) -> dict:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"scans": [{"seq": seq, "payload": payload, "action": "gate-in", "at": at}]}


def device_worker(url, token, device, site, payloads, duration, barrier, out_q) -> None:
    """One gate phone: WARMUP scans, then scans for ``duration`` seconds after the barrier."""
    import httpx

    try:
        headers = {"Authorization": f"Bearer {token}"}
        path = SCAN_PATH.format(op=OPERATION, device=device)
        lat, errors, seq = [], 0, 0
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:

            def one() -> bool:
                nonlocal seq
                seq += 1
                r = client.post(path, json=scan_body(seq, payloads[seq % len(payloads)]))
                if r.status_code >= 300:
                    return False
                answer = r.json()["answers"][0]
                return answer["outcome"] == "recorded"

            for _ in range(WARMUP):
                if not one():
                    raise RuntimeError(f"warm-up scan refused: {path}")
            barrier.wait(timeout=600)
            start = time.monotonic()
            deadline = start + duration
            while time.monotonic() < deadline:
                t = time.perf_counter()
                ok = one()
                lat.append(time.perf_counter() - t)
                errors += not ok
            end = time.monotonic()
        out_q.put({"lat": lat, "errors": errors, "start": start, "end": end})
    except BaseException as exc:  # the parent must not wait forever
        barrier.abort()
        out_q.put({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})


def enrol_devices(demo, n: int) -> list[tuple[str, str, str]]:
    """``n`` gate devices (device id, token, site) enrolled by the demo's admin."""
    from evacops.registry import open_registry

    admin = open_registry(demo.settings, *demo.logins["admin"])
    out = []
    for i in range(n):
        site = GATES[i % len(GATES)]
        dev, token = admin.enrol_device(OPERATION, site, "gate", f"bench phone {i}")
        out.append((dev, token, site))
    admin.engine.dispose()
    return out


def registered_only(reg) -> list[str]:
    """The people only registered so far (not yet at a gate): each one's first gate-in."""
    from sqlalchemy import select

    from evacops.registry.store.tables import persons

    with reg.engine.connect() as conn:
        return list(
            conn.execute(
                select(persons.c.id).where(
                    persons.c.operation_id == OPERATION, persons.c.status == "registered"
                )
            ).scalars()
        )


def run(url, demo, devices, payloads, duration) -> dict:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(devices))
    out_q = ctx.Queue()
    per = max(1, len(payloads) // len(devices))
    procs = [
        ctx.Process(
            target=device_worker,
            args=(url, tok, dev, site, payloads[i * per : (i + 1) * per], duration, barrier, out_q),
        )
        for i, (dev, tok, site) in enumerate(devices)
    ]
    for p in procs:
        p.start()
    try:
        results = [out_q.get(timeout=duration + 900) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"a device failed: {errors[0]}")
    lat_ms = np.concatenate([np.asarray(r["lat"]) for r in results]) * 1000
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    p50, p95, p99 = np.percentile(lat_ms, [50, 95, 99])
    return {
        "devices": len(devices),
        "scans": int(lat_ms.size),
        "errors": int(sum(r["errors"] for r in results)),
        "seconds": span,
        "scans_per_s": lat_ms.size / span,
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(lat_ms.max()),
    }


def pg_schema(base: str):
    """A fresh schema on ``base`` for one run: (url, drop())."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = "evacops_bench_" + uuid.uuid4().hex[:10]
    eng = create_engine(base)
    with eng.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    url = (
        make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )

    def drop() -> None:
        with eng.begin() as c:
            c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        eng.dispose()

    return url, drop


def pg_reachable(url: str) -> bool:
    from sqlalchemy import create_engine, text

    try:
        eng = create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def bench_backend(name, database_url, key_file, a) -> dict:
    t = time.perf_counter()
    demo = build_demo(database_url, key_file, people=a.people, dedup=False)
    devices = enrol_devices(demo, a.devices)
    from evacops.registry import open_registry

    reg = open_registry(demo.settings, *demo.logins["registrar"])
    payloads = [c["payload"] for c in reg.credential_payloads(OPERATION, registered_only(reg))]
    reg.engine.dispose()
    setup_s = time.perf_counter() - t
    args = ["--workers", str(a.workers)] if a.workers > 1 else []
    with served(demo, extra_args=args) as url:
        r = run(url, demo, devices, payloads, a.duration)
    return {"backend": name, "people": a.people, "workers": a.workers, "setup_s": setup_s, **r}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=20000)
    p.add_argument("--devices", type=int, default=8)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--pg-url", default=os.environ.get("EVACOPS_TEST_DATABASE_URL", PG_DEFAULT))
    p.add_argument("--no-pg", action="store_true")
    p.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only (e.g. --workers 2)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    header = (
        f"{'backend':<11} {'devices':>7} {'scans':>7} {'scans/s':>8} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="evacops-bench-") as tmp:
        runs = [] if a.no_sqlite else [("sqlite", f"sqlite:///{tmp}/bench.db", None)]
        if not a.no_pg and pg_reachable(a.pg_url):
            runs.append(("postgresql", None, a.pg_url))
        if not a.json:
            print(header, flush=True)
        for name, url, pg in runs:
            drop = None
            if pg:
                url, drop = pg_schema(pg)
            try:  # each backend its own key folder (an operation's key-encryption key is per id)
                r = bench_backend(name, url, Path(tmp) / name / "master.key", a)
            finally:
                if drop:
                    drop()
            results.append(r)
            if not a.json:
                print(
                    f"{r['backend']:<11} {r['devices']:>7} {r['scans']:>7} "
                    f"{r['scans_per_s']:>8.0f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
                    f"{r['p99_ms']:>7.1f} {r['max_ms']:>7.1f} {r['errors']:>6}",
                    flush=True,
                )
    if a.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
