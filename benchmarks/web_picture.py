"""Benchmark: the operation picture of a large operation, as the server renders it and as Chromium
shows it.

    .venv/bin/python benchmarks/web_picture.py [--people 100000] [--runs 5] [--json]
        [--database-url URL [--reuse]] [--no-browser] [--plain-plan]

An operation of ``--people`` generated people is built fast, through the registry's own paths:
the operation, its sites and one user per role as in the demo (evacops.demo); the people
imported from one generated CSV file by the registrar (the registry's bulk import); then what
happened appended to the event log in bulk through the registry's own event path
(``Context.event``: append and project, 5,000 events a transaction): 60% of households checked in
at the four Kabul gates, 8 flights of 600 seats scheduled (by the service), boarded, 6 departed
(by the service) and 4 deplaned and arrived; a 17-day plan attached by the planner (with
2,400 departures and its people at each staging base every hour: the picture shows planned
flights per day and the bases' planned people now beside what happened). It is
served by ``evacops serve`` on a free localhost port.

Printed: the server's time for the page (``GET /o/{op}/picture``, the planner's session, median
and max over ``--runs``), its size over the wire, the live fragment htmx fetches every 10 s, the
API's ``/report`` for comparison, and in Chromium the time from navigation start to the page
loaded with its counts shown. Nothing is cached between requests: each one counts from the
database. Goal (issue 10): the picture of 100,000 people renders in <= 1 s. Figures are printed,
never asserted.

``--database-url`` builds in that (empty) database, e.g. PostgreSQL; with ``--reuse`` an
operation built there by an earlier run is measured again (the build is not timed then).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from evacops.demo import GATES, OPERATION, Demo, served  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-picture-1"  # every benchmark user's (a throw-away operation of generated people)
ROLES = ("admin", "registrar", "gate", "manifest", "planner", "reporter")
FLIGHTS, SEATS, DEPARTED, ARRIVED = 8, 600, 6, 4
BATCH = 5000


def _batched(reg: Any, rows: list[dict[str, Any]]) -> None:
    """Append and project events through the registry's own event path, in a few
    transactions (what many gate and ramp scans would have written one by one)."""
    ctx = reg.ctx
    for i in range(0, len(rows), BATCH):
        with ctx.write() as conn:
            for r in rows[i : i + BATCH]:
                ctx.event(conn, OPERATION, **r)


def build_fast(
    url: str, key: Path, people: int, seed: int = 7, plain_plan: bool = False
) -> dict[str, Any]:
    """The benchmark's operation (see the module's docstring); returns what it holds."""
    from evacops.demo import _import, _set_up
    from evacops.registry import events as ev
    from evacops.registry.settings import RegistrySettings
    from evacops.registry.store.tables import persons, utcnow

    settings = RegistrySettings(database_url=url, key_file=key)
    end = utcnow()
    view = _set_up(settings, dict.fromkeys(ROLES, PASSWORD), ROOT / "scenarios" /
                   "kabul-2021.yaml", end - timedelta(days=3))  # fmt: skip
    admin = view["admin"]
    imported = _import(view["registrar"], people, seed)
    with admin.ctx.read() as conn:
        rows = conn.execute(
            persons.select()
            .with_only_columns(persons.c.id, persons.c.household_id)
            .where(persons.c.operation_id == OPERATION)
            .order_by(persons.c.household_id, persons.c.id)
        ).all()
    households: dict[str, list[str]] = {}
    for pid, hh in rows:
        households.setdefault(hh or pid, []).append(pid)
    keep = sorted(households)[: round(len(households) * 0.6)]
    t0 = end - timedelta(days=1, hours=12)
    checked, gate_in = [], []
    for i, hh in enumerate(keep):
        for pid in households[hh]:
            at = t0 + timedelta(seconds=len(checked))
            gate_in.append({"type_": ev.GATE_IN, "person_id": pid, "household_id": hh,
                            "site": GATES[i % len(GATES)], "at": at})  # fmt: skip
            checked.append(pid)
    _batched(admin, gate_in)
    flown = _fly(admin, checked, end)
    plan = _plan(end)
    if plain_plan:  # people out per day only, as before the plan's flights and bases
        plan = {k: plan[k] for k in ("name", "daily_out")}
    view["planner"].attach_plan(OPERATION, plan)
    _analyze(admin.engine)
    admin.engine.dispose()
    return {"people": imported.imported, "households": imported.households,
            "checked_in": len(checked), "boarded": flown}  # fmt: skip


def _analyze(engine: Any) -> None:
    """On PostgreSQL, what autovacuum does soon after a bulk load anyway: table statistics and
    the visibility map (without them, the planner guesses a few rows and reads the table
    instead of the covering index). SQLite's planner needs none."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("persons", "events", "flights"):
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")


def _plan(end: Any) -> dict[str, Any]:
    """A Kabul-sized plan outline (counts only): 17 days of people out, 2,400 departures with
    people (150 a day), and the people at each of the scenario's staging bases every hour of
    17 days, which the picture reads on every refresh to show beside the people there now."""
    from evacops.demo import DEFAULT_SCENARIO
    from evacops.scenario import load

    first = end - timedelta(days=1)
    start = first.replace(hour=0, minute=0, second=0, microsecond=0)
    days = {(start + timedelta(days=d)).date().isoformat(): 6000 for d in range(17)}
    departures = [[(start + timedelta(minutes=10 * k)).isoformat(), "HKIA", "Al Udeid",
                   f"RCH{k % 40}", 380] for k in range(2400)]  # fmt: skip
    bases = [s.name for s in load(DEFAULT_SCENARIO).sites if s.kind == "staging"]
    hours = 17 * 24
    occupancy = {"start": start.isoformat(), "period_h": 1,
                 "sites": {b: [(37 * k + 11 * i) % 9000 for k in range(hours)]
                           for i, b in enumerate(bases)}}  # fmt: skip
    return {"name": "bench-plan", "daily_out": days, "departures": departures,
            "occupancy": occupancy}  # fmt: skip


def _fly(admin: Any, checked: list[str], end: Any) -> int:
    """Flights scheduled and departed/arrived by the services; boarding and deplaning appended
    in bulk. Returns the people boarded."""
    from evacops.registry import events as ev

    boarded = 0
    for f in range(FLIGHTS):
        code = f"RCH{100 + f}"
        start = end - timedelta(hours=30 - 3 * f)
        admin.clock = lambda t=start: t
        fid = admin.add_flight(OPERATION, code, origin="HKIA", destination="Al Udeid",
                               seats=SEATS, departs_at=start + timedelta(hours=1))  # fmt: skip
        if f >= DEPARTED:
            continue
        on = checked[f * SEATS : (f + 1) * SEATS]
        _batched(admin, [{"type_": ev.BOARD, "person_id": p, "flight_id": fid, "site": "HKIA",
                          "at": start + timedelta(minutes=30)} for p in on])  # fmt: skip
        admin.clock = lambda t=start + timedelta(hours=1): t
        admin.depart(OPERATION, code)
        boarded += len(on)
        if f < ARRIVED:
            _batched(admin, [{"type_": ev.DEPLANE, "person_id": p, "flight_id": fid,
                              "site": "Al Udeid", "at": start + timedelta(hours=6)}
                             for p in on])  # fmt: skip
            admin.clock = lambda t=start + timedelta(hours=6): t
            admin.arrive(OPERATION, code)
    return boarded


def timed_get(client, path: str, runs: int) -> dict:
    times, size = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(path, headers={"Accept-Encoding": "gzip"})
        times.append(time.perf_counter() - t)
        r.raise_for_status()
        size = int(r.headers.get("content-length") or len(r.content))
    return {"median_s": statistics.median(times), "max_s": max(times), "bytes": size}


def browser_load(url: str, user: str, password: str, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.goto(url + "/login")
        page.fill("input[name=name]", user)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("form[action='/login'] button")
        for _ in range(runs):
            t = time.perf_counter()
            page.goto(f"{url}/o/{OPERATION}/picture", wait_until="load")
            page.wait_for_selector("[data-status]")
            out.append(time.perf_counter() - t)
        browser.close()
    return out


def measure(demo: Demo, runs: int, browser: bool) -> dict[str, Any]:
    import httpx

    user, password = demo.logins["planner"]
    with served(demo) as url:
        with httpx.Client(base_url=url, timeout=120) as c:
            c.get("/login")
            form = {"name": user, "password": password, "csrf": c.cookies["evacops_prelogin"]}
            r = c.post("/login", data=form)
            if r.status_code != 303:  # logged in: sent on to the home page
                raise RuntimeError(f"log-in refused ({r.status_code})")
            c.get(f"/o/{OPERATION}/picture")  # the server's first request (imports) not timed
            page = timed_get(c, f"/o/{OPERATION}/picture", runs)
            live = timed_get(c, f"/o/{OPERATION}/picture/live", runs)
            api = timed_get(c, f"/api/v1/operations/{OPERATION}/report", runs)
        shown = browser_load(url, user, password, runs) if browser else []
    return {"page": page, "live": live, "api_report": api, "chromium_load_s": shown}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--database-url", help="an empty database to build in (default: SQLite)")
    p.add_argument("--key-file", help="with --database-url: the master key's file")
    p.add_argument("--reuse", action="store_true", help="measure the operation built there")
    p.add_argument("--no-browser", action="store_true", help="the server's times only")
    p.add_argument(
        "--plain-plan",
        action="store_true",
        help="attach the plan's people out per day only (no departures, no bases): the "
        "picture as it was before it showed them, for comparison",
    )
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    from evacops.registry.settings import RegistrySettings

    with tempfile.TemporaryDirectory(prefix="evacops-bench-") as tmp:
        url = a.database_url or f"sqlite:///{tmp}/bench.db"
        key = Path(a.key_file or Path(tmp) / "keys" / "master.key")
        t = time.perf_counter()
        built = None if a.reuse else build_fast(url, key, a.people, plain_plan=a.plain_plan)
        setup_s = time.perf_counter() - t
        demo = Demo(
            settings=RegistrySettings(database_url=url, key_file=key),
            operation=OPERATION,
            logins={r: (r, PASSWORD) for r in ROLES},
            people=a.people,
            households=0,
            credentials=0,
            checked_in=0,
        )
        result = {"people": a.people, "database": url.split(":")[0], "built": built,
                  "plain_plan": a.plain_plan,
                  "setup_s": setup_s, **measure(demo, a.runs, not a.no_browser)}  # fmt: skip
    if a.json:
        print(json.dumps(result, indent=2))
        return
    say(result, a.reuse)


def say(r: dict[str, Any], reused: bool) -> None:
    built = "reused" if reused else f"built in {r['setup_s']:.0f} s"
    plan = "people out only" if r.get("plain_plan") else "departures and bases"
    print(f"operation picture, {r['people']:,} people on {r['database']} ({built}; plan: {plan}):")
    for key, what in (("page", "GET the page"), ("live", "GET /picture/live"),
                      ("api_report", "GET /report")):  # fmt: skip
        m = r[key]
        print(f"  server, {what:<18} median {m['median_s'] * 1000:.0f} ms, max "
              f"{m['max_s'] * 1000:.0f} ms, {m['bytes'] / 1024:.1f} KB over the wire")  # fmt: skip
    if r["chromium_load_s"]:
        print(f"  Chromium, navigation to counts shown: median "
              f"{statistics.median(r['chromium_load_s']):.2f} s (goal <= 1 s)")  # fmt: skip


if __name__ == "__main__":
    main()
