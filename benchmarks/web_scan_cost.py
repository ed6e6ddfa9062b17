"""Benchmark: what one device's scan request costs the server, split into the part every request
pays and the part each scan of its batch adds (``evacops serve``, PostgreSQL when reachable,
else SQLite).

One gate device sends its scans one request after another (closed loop, nothing else running
against the server), first in batches of 1, then of ``--big`` (default 20), ``--rounds`` times
in turn. For each batch size: the server's CPU milliseconds a request and a scan (read from
/proc), the database server's (PostgreSQL's processes), and the wall time a request. From the
two sizes: **per request** ``o`` and **per scan** ``w``, with CPU a request = ``o + b * w``.

Why these two figures: in ``benchmarks/web_scans.py``'s outbox mode at 1,000 scans/s the server
is busy all the time, and each phone's batch grows until the requests of all phones fit: a
scan's wait is about ``phones * o / (1 - rate * w)`` (docs/service.md, Measured). Lowering
``w`` and ``o`` is what shortens it; the CPU a scan that web_scans.py prints is pinned near
``1 / rate`` whenever the server is saturated, whatever the code does.

    .venv/bin/python benchmarks/web_scan_cost.py [--people 6000] [--big 20] [--requests 400]
                                                 [--rounds 2] [--pg-url URL | --no-pg] [--json]

Set-up (not timed): a demo operation of generated people (evacops.demo), one enrolled gate
device, ``evacops serve`` on a free localhost port. Every scan is the first gate-in of a
registered person. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import web_scans as ws


def measure(url: str, demo, payloads: list[str], b: int, n: int, pid: int, db: str | None):
    dev, token, _site = ws.enrol_devices(demo, 1)[0]
    phone = ws.Phone(url, token)
    path = f"/api/v1/operations/{ws.OPERATION}/devices/{dev}/scans"
    seq = 1
    for _ in range(20):  # warm: the server's caches, the connection
        phone.post(path, ws.scans_body(seq, payloads, b))
        seq += b
    c0, d0, t0 = ws.cpu_seconds({pid}), ws.cpu_seconds(comm=db) if db else None, time.perf_counter()
    for _ in range(n):
        status, body = phone.post(path, ws.scans_body(seq, payloads, b))
        if status != 200 or not all(ws.recorded((status, body))):
            raise SystemExit(f"a scan was not recorded (HTTP {status}); see the server")
        seq += b
    c1, d1, t1 = ws.cpu_seconds({pid}), ws.cpu_seconds(comm=db) if db else None, time.perf_counter()
    phone.close()
    server_ms = 1000 * (c1 - c0) / n
    db_ms = 1000 * (d1 - d0) / n if d0 is not None and d1 is not None else None
    return {"batch": b, "requests": n, "server_ms": server_ms, "db_ms": db_ms,
            "wall_ms": 1000 * (t1 - t0) / n}  # fmt: skip


def split(small: dict, big: dict) -> dict:
    """``o`` and ``w`` from two batch sizes: CPU a request = o + b * w."""
    out = {}
    for key in ("server_ms", "db_ms"):
        if small[key] is None or big[key] is None:
            continue
        w = (big[key] - small[key]) / (big["batch"] - small["batch"])
        out[key] = {"per_request": small[key] - small["batch"] * w, "per_scan": w}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--people", type=int, default=6000)
    p.add_argument("--big", type=int, default=20)
    p.add_argument("--requests", type=int, default=400, help="requests of one scan a round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--pg-url", default=os.environ.get("EVACOPS_TEST_DATABASE_URL", ws.PG_DEFAULT))
    p.add_argument("--no-pg", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    from evacops.demo import build_demo, served
    from evacops.registry import open_registry

    use_pg = not a.no_pg and ws.pg_reachable(a.pg_url)
    folder = tempfile.mkdtemp(prefix="evacops-bench-")
    url, drop = ws.pg_schema(a.pg_url) if use_pg else (f"sqlite:///{folder}/r.db", lambda: None)
    n_big = max(a.requests // a.big, 20)
    need = a.rounds * (a.requests + 22 + (n_big + 20) * a.big)  # first gate-ins only
    people = max(a.people, need + need // 4)  # a few are not registered only
    rows = []
    try:
        demo = build_demo(url, Path(folder) / "master.key", people=people, dedup=False)
        reg = open_registry(demo.settings, *demo.logins["registrar"])
        fresh = ws.registered_only(reg)
        payloads = [c["payload"] for c in reg.credential_payloads(ws.OPERATION, fresh)]
        reg.engine.dispose()
        pid: list[int] = []
        with served(demo, on_start=pid.append) as base:
            for r in range(a.rounds):
                part = payloads[r * len(payloads) // a.rounds : (r + 1) * len(payloads) // a.rounds]
                small = measure(
                    base, demo, part, 1, a.requests, pid[0], "postgres" if use_pg else None
                )
                rest = part[a.requests + 20 :]
                big = measure(base, demo, rest, a.big, n_big, pid[0],
                              "postgres" if use_pg else None)  # fmt: skip
                rows.append(
                    {"round": r + 1, "small": small, "big": big, "split": split(small, big)}
                )
    finally:
        drop()
    backend = "postgresql" if use_pg else "sqlite"
    if a.json:
        print(json.dumps({"backend": backend, "rows": rows}, indent=2))
        return
    print(
        f"{backend}: one device, closed loop; CPU ms of evacops serve (server) and of the database"
    )
    print(f"{'round':>5} {'batch':>5} {'server ms/req':>13} {'ms/scan':>7} {'db ms/req':>9} "
          f"{'wall ms/req':>11}   {'server: per request':>19} {'per scan':>8} "
          f"{'db: per request':>15} {'per scan':>8}")  # fmt: skip
    for row in rows:
        for m in (row["small"], row["big"]):
            sp = row["split"]
            tail = ""
            if m is row["big"]:
                s, d = sp.get("server_ms"), sp.get("db_ms")
                tail = f"   {s['per_request']:>19.2f} {s['per_scan']:>8.3f}"
                if d:
                    tail += f" {d['per_request']:>15.2f} {d['per_scan']:>8.3f}"
            db = f"{m['db_ms']:>9.2f}" if m["db_ms"] is not None else f"{'-':>9}"
            per_scan = m["server_ms"] / m["batch"]
            print(f"{row['round']:>5} {m['batch']:>5} {m['server_ms']:>13.2f} {per_scan:>7.3f} "
                  f"{db} {m['wall_ms']:>11.2f}{tail}")  # fmt: skip


if __name__ == "__main__":
    main()
