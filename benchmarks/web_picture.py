"""Benchmark: the operation picture of a large operation, as the server renders it and as Chromium
shows it.

    .venv/bin/python benchmarks/web_picture.py [--people 100000] [--runs 5] [--json]

A demo operation (evacops.demo: generated people, 60% of households scanned in at the gates,
four flights) with ``--people`` people is served by ``evacops serve`` on a free localhost port.
Printed: the server's time for the page (``GET /o/{op}/picture``, the planner's session, median
and max over ``--runs``), its size over the wire, the API's ``/report`` for comparison, and in
Chromium the time from navigation start to the page loaded with its counts shown. Goal (issue
10): the picture of 100,000 people renders in <= 1 s. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from evacops.demo import OPERATION, build_demo, served  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


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


def main() -> None:
    import httpx

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="evacops-bench-") as tmp:
        t = time.perf_counter()
        demo = build_demo(
            f"sqlite:///{tmp}/demo.db", Path(tmp) / "keys" / "master.key", people=a.people,
            dedup=False,
        )  # fmt: skip
        setup_s = time.perf_counter() - t
        user, password = demo.logins["planner"]
        with served(demo) as url:
            with httpx.Client(base_url=url, timeout=120) as c:
                c.get("/login")
                form = {"name": user, "password": password, "csrf": c.cookies["evacops_prelogin"]}
                r = c.post("/login", data=form)
                if r.status_code != 303:  # logged in: sent on to the home page
                    raise RuntimeError(f"log-in refused ({r.status_code})")
                page = timed_get(c, f"/o/{OPERATION}/picture", a.runs)
                api = timed_get(c, f"/api/v1/operations/{OPERATION}/report", a.runs)
            shown = browser_load(url, user, password, a.runs)
    result = {
        "people": a.people,
        "setup_s": setup_s,
        "page": page,
        "api_report": api,
        "chromium_load_s": shown,
    }
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"operation picture, {a.people:,} people (demo built in {setup_s:.0f} s):")
    kb = page["bytes"] / 1024
    print(f"  server, GET the page: median {page['median_s'] * 1000:.0f} ms, max "
          f"{page['max_s'] * 1000:.0f} ms, {kb:.1f} KB over the wire")  # fmt: skip
    print(f"  server, GET /report:  median {api['median_s'] * 1000:.0f} ms, max "
          f"{api['max_s'] * 1000:.0f} ms")  # fmt: skip
    print(f"  Chromium, navigation to counts shown: median {statistics.median(shown):.2f} s "
          f"(goal <= 1 s)")  # fmt: skip


if __name__ == "__main__":
    main()
