"""Benchmark: gate devices scanning over HTTP against ``evacops serve`` (SQLite, and PostgreSQL
when reachable), in two modes measured in the same run, against the same server:

- ``1/request``: a phone online sends each scan as it is made, one POST per scan, and makes the
  next scan when the answer is back (closed loop). scans/s over the run (all devices together)
  and the latency of one request, p50/p95/p99/max in ms.
- ``outbox``: scans come faster than the link answers. Each phone makes scans at a steady
  ``--batch-rate`` / ``--devices`` per second into its outbox (open loop, each stamped with the
  moment it was made); whenever no request of its own is in flight it sends everything waiting
  (up to the endpoint's 500) as one batch, as the gate page's outbox does. scans/s acknowledged
  and the latency of each scan **from its making to the answer that acknowledges it** (queueing
  in the outbox included), and the mean batch size. If the server cannot keep up, the outbox
  grows: scans/s falls below the offered rate, the latency grows, and the scans still waiting
  in the outboxes when the run ends are printed (``waiting``).

    .venv/bin/python benchmarks/web_scans.py [--people 20000] [--devices 8] [--duration 10]
                                             [--batch-rate 2000] [--modes 1/request,outbox]
                                             [--workers 1] [--pg-url URL | --no-pg]
                                             [--no-sqlite] [--json]

Set-up (not timed): a demo operation (evacops.demo, generated people) with ``--people`` people,
one enrolled gate device per simulated phone and mode (each bound to a gate of the operation),
served by ``evacops serve`` on a free localhost port. Every scan goes to the device sync endpoint
(``/devices/{device}/scans``) with the device's token, its id and the next sequence number; each
is a gate-in of a credential of the device's own run (people not yet at a gate; after the run's
last one a device starts its run again, and those are gate-ins again at the same gate). Each
device is its own process with its own HTTP connection; their CPU time is measured and printed
as a share of the machine (``client cpu``: the clients run on the same cores as the server).
Goal (issue 10): >= 1,000 scans/s sustained with p99 <= 50 ms on PostgreSQL (the 1/request
mode is the one the goal was set for). Figures are printed, never asserted; every request goes
to 127.0.0.1 only, and the run stops by itself.
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
MAX_BATCH = 500  # the sync endpoint's limit (evacops/registry/services/sync.py)
MODES = ("1/request", "outbox")

# A device's outbox sync (evacops/web/routers/scans.py, api_device_sync)
SCAN_PATH = "/api/v1/operations/{op}/devices/{device}/scans"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def scans_body(first_seq: int, payloads: list[str], n: int = 1) -> dict:
    at = now_iso()
    return {
        "scans": [
            {"seq": s, "payload": payloads[s % len(payloads)], "action": "gate-in", "at": at}
            for s in range(first_seq, first_seq + n)
        ]
    }


def recorded(r) -> list[bool]:
    if r.status_code >= 300:
        return []
    return [a.get("outcome") == "recorded" for a in r.json()["answers"]]


def device_worker(url, token, device, payloads, duration, rate, barrier, out_q) -> None:
    """One gate phone: WARMUP scans one at a time, then the measured run after the barrier:
    one scan per request (``rate`` None) or the outbox at ``rate`` scans/s (:func:`outbox`)."""
    import httpx

    try:
        headers = {"Authorization": f"Bearer {token}"}
        path = SCAN_PATH.format(op=OPERATION, device=device)
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for seq in range(1, WARMUP + 1):
                if recorded(client.post(path, json=scans_body(seq, payloads))) != [True]:
                    raise RuntimeError(f"warm-up scan refused: {path}")
            barrier.wait(timeout=600)
            cpu0, start = time.process_time(), time.monotonic()
            if rate is None:
                res = one_per_request(client, path, payloads, start + duration)
            else:
                res = outbox(client, path, payloads, start, duration, rate)
            end = time.monotonic()
            cpu = time.process_time() - cpu0
        out_q.put({**res, "start": start, "end": end, "cpu_s": cpu})
    except BaseException as exc:  # the parent must not wait forever
        barrier.abort()
        out_q.put({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})


def one_per_request(client, path, payloads, deadline) -> dict:
    lat, errors, seq = [], 0, WARMUP
    while time.monotonic() < deadline:
        seq += 1
        t = time.perf_counter()
        ok = recorded(client.post(path, json=scans_body(seq, payloads)))
        lat.append(time.perf_counter() - t)
        errors += ok != [True]
    return {"lat": lat, "errors": errors, "batches": len(lat), "waiting": 0}


def outbox(client, path, payloads, start, duration, rate) -> dict:
    """Scan i is made at ``start + i / rate`` until ``duration`` is over; whenever the previous
    batch is answered, all that is waiting goes as one batch (at most MAX_BATCH); each scan's
    latency runs from its making to the answer. The run ends with the batch in flight when
    ``duration`` is over: scans made and not yet sent then are counted as ``waiting``."""
    total = int(duration * rate)
    deadline = start + duration
    lat, errors, batches, sent = [], 0, 0, 0
    while sent < total:
        now = time.monotonic()
        if now >= deadline:
            break
        made = min(total, int((now - start) * rate) + 1)
        if made <= sent:  # nothing waiting: wait for the next scan
            time.sleep(max(0.0, start + sent / rate - now))
            continue
        n = min(made - sent, MAX_BATCH)
        ok = recorded(client.post(path, json=scans_body(WARMUP + sent + 1, payloads, n)))
        acked = time.monotonic()
        batches += 1
        lat.extend(acked - (start + (sent + i) / rate) for i in range(n))
        errors += n - sum(ok)
        sent += n
    made = min(total, int((time.monotonic() - start) * rate) + 1)
    return {"lat": lat, "errors": errors, "batches": batches, "waiting": max(0, made - sent)}


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


def run(url, devices, payloads, duration, rate=None) -> dict:
    """One mode: ``len(devices)`` phones for ``duration`` s (``rate``: outbox mode, scans/s
    offered by all phones together)."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(devices))
    out_q = ctx.Queue()
    per = max(1, len(payloads) // len(devices))
    each = None if rate is None else rate / len(devices)
    procs = []
    for i, (dev, tok, _site) in enumerate(devices):
        mine = payloads[i * per : (i + 1) * per]
        args = (url, tok, dev, mine, duration, each, barrier, out_q)
        procs.append(ctx.Process(target=device_worker, args=args))
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
    batches = sum(r["batches"] for r in results)
    return {
        "mode": MODES[0] if rate is None else MODES[1],
        "offered_per_s": rate,
        "devices": len(devices),
        "scans": int(lat_ms.size),
        "requests": batches,
        "mean_batch": lat_ms.size / batches,
        "errors": int(sum(r["errors"] for r in results)),
        "waiting": int(sum(r["waiting"] for r in results)),
        "seconds": span,
        "scans_per_s": lat_ms.size / span,
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(lat_ms.max()),
        "client_cpu_share": sum(r["cpu_s"] for r in results) / (span * (os.cpu_count() or 1)),
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


def bench_backend(name, database_url, key_file, a) -> list[dict]:
    t = time.perf_counter()
    demo = build_demo(database_url, key_file, people=a.people, dedup=False)
    from evacops.registry import open_registry

    reg = open_registry(demo.settings, *demo.logins["registrar"])
    payloads = [c["payload"] for c in reg.credential_payloads(OPERATION, registered_only(reg))]
    reg.engine.dispose()
    setup_s = time.perf_counter() - t
    args = ["--workers", str(a.workers)] if a.workers > 1 else []
    out = []
    with served(demo, extra_args=args) as url:
        for mode in a.modes:
            devices = enrol_devices(demo, a.devices)  # each mode its own phones (seq from 1)
            rate = a.batch_rate if mode == "outbox" else None
            r = run(url, devices, payloads, a.duration, rate)
            out.append({"backend": name, "people": a.people, "workers": a.workers,
                        "setup_s": setup_s, **r})  # fmt: skip
    return out


HEADER = (
    f"{'backend':<11} {'mode':<10} {'devices':>7} {'scans':>7} {'scans/s':>8} {'offered':>8} "
    f"{'batch':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6} "
    f"{'waiting':>7} {'client cpu':>10}"
)
LEGEND = (
    "1/request: one scan per request, latency of the request; outbox: all waiting scans in one "
    "request,\nlatency of a scan from its making to its acknowledgement; offered: scans/s made "
    "by the phones;\nbatch: mean scans per request; waiting: scans made but not yet sent when "
    "the run ended;\nclient cpu: the phones' share of this machine's CPU (all cores)"
)


def line(r: dict) -> str:
    offered = f"{r['offered_per_s']:>8.0f}" if r["offered_per_s"] else f"{'-':>8}"
    return (
        f"{r['backend']:<11} {r['mode']:<10} {r['devices']:>7} {r['scans']:>7} "
        f"{r['scans_per_s']:>8.0f} {offered} {r['mean_batch']:>6.1f} {r['p50_ms']:>7.1f} "
        f"{r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['max_ms']:>7.1f} {r['errors']:>6} "
        f"{r['waiting']:>7} {r['client_cpu_share']:>10.0%}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=20000)
    p.add_argument("--devices", type=int, default=8)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--batch-rate", type=float, default=2000.0,
                   help="outbox mode: scans/s made by all phones together")  # fmt: skip
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--pg-url", default=os.environ.get("EVACOPS_TEST_DATABASE_URL", PG_DEFAULT))
    p.add_argument("--no-pg", action="store_true")
    p.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only (e.g. --workers 2)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    if not a.modes or any(m not in MODES for m in a.modes):
        p.error(f"--modes: use {', '.join(MODES)} (comma-separated)")
    results = []
    with tempfile.TemporaryDirectory(prefix="evacops-bench-") as tmp:
        runs = [] if a.no_sqlite else [("sqlite", f"sqlite:///{tmp}/bench.db", None)]
        if not a.no_pg and pg_reachable(a.pg_url):
            runs.append(("postgresql", None, a.pg_url))
        if not a.json:
            print(LEGEND, HEADER, sep="\n", flush=True)
        for name, url, pg in runs:
            drop = None
            if pg:
                url, drop = pg_schema(pg)
            try:  # each backend its own key folder (an operation's key-encryption key is per id)
                rs = bench_backend(name, url, Path(tmp) / name / "master.key", a)
            finally:
                if drop:
                    drop()
            results.extend(rs)
            if not a.json:
                for r in rs:
                    print(line(r), flush=True)
    if a.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
