"""Benchmark: the gate page as a phone gets it, measured in Debian's Chromium (Playwright):

- first load: bytes over the wire (compressed bodies and headers, every request of a cold load
  with no cache and no service worker yet), by resource type;
- per scan: bytes over the wire for one scan entered as a keyboard-wedge scanner does (the QR's
  text and Enter) and answered, and for one short code typed into its field, the page warm (its
  service worker installed);
- time to usable on Chromium's "slow 3G" profile (DevTools' preset through CDP
  Network.emulateNetworkConditions: 2,000 ms latency, 400 kbit/s down and up), from navigation
  start. **Usable** means a gate person can scan now: the scan field, the short-code field, the
  Check, Check code and Camera buttons are shown and enabled, and the gate's script has
  attached its handlers (``#gate[data-ready]``, set after the last one; a scan typed then is
  checked, not submitted as a form). It is read on the page's own clock (``performance.now()``
  when a check polled in the page every 20 ms first holds); the driver's wall clock is printed
  too. Also first contentful paint, DOMContentLoaded and load (Performance API).

    .venv/bin/python benchmarks/web_gate.py [--people 500] [--runs 3] [--json]

A demo operation (evacops.demo) is served by ``evacops serve`` on a free localhost port; the gate
user logs in once (not measured) and each measured load is in a new browser context carrying only
its session cookie. Goals (issue 10): first load <= 150 KB, <= 5 KB per scan, usable within 3 s
on slow 3G. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from evacops.demo import OPERATION, build_demo, served  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SLOW_3G = {  # Chrome DevTools' "Slow 3G" preset
    "offline": False,
    "latency": 2000,
    "downloadThroughput": 400 * 1000 / 8,
    "uploadThroughput": 400 * 1000 / 8,
}
# the pages (evacops/web): where the gate page is and how a scan is typed in
LOGIN_PATH = "/login"
GATE_PATH = f"/o/{OPERATION}/gate"
CODE_INPUT = "#payload"  # the scan field: a keyboard-wedge scanner types the QR's text into it
SHORT_CODE_INPUT = "#code"  # the short code printed under the QR, typed in
# usable: the fields and buttons a gate uses are shown and enabled, and gate.js has attached
# every handler (it sets data-ready last)
USABLE = """() => {
  const ready = document.querySelector('#gate[data-ready="1"]');
  const shown = (sel) => { const e = document.querySelector(sel);
    return !!e && !e.disabled && e.offsetParent !== null && e.getBoundingClientRect().height > 0; };
  return !!ready && !!window.evacopsGate && ['#payload', '#code', '#camera',
    '#scan-form button[type=submit]', '#code-form button[type=submit]'].every(shown);
}"""
ANSWERED = "() => !document.getElementById('answer').classList.contains('idle')"


def log_in(browser, url: str, user: str, password: str) -> dict:
    """Log in once; the context's storage state (the session cookie) for measured contexts."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(url + LOGIN_PATH)
    page.fill("input[name=name]", user)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form[action='/login'] button")
    page.wait_for_load_state("networkidle")
    state = ctx.storage_state()
    ctx.close()
    return state


class Wire:
    """Bytes over the wire of every finished request of a context (service-worker cache hits
    left out: they never reach the network)."""

    def __init__(self, ctx):
        self.items: list[tuple[str, str, int]] = []
        ctx.on("requestfinished", self._done)

    def _done(self, req) -> None:
        resp = req.response()
        if resp is not None and resp.from_service_worker:
            return
        s = req.sizes()
        n = (
            s["requestHeadersSize"]
            + s["requestBodySize"]
            + s["responseHeadersSize"]
            + s["responseBodySize"]
        )
        self.items.append((req.resource_type, req.url, n))

    def mark(self) -> int:
        return len(self.items)

    def since(self, mark: int) -> list[tuple[str, str, int]]:
        return self.items[mark:]


def first_load(browser, url: str, state: dict, throttle: bool) -> dict:
    ctx = browser.new_context(storage_state=state)
    page = ctx.new_page()
    wire = Wire(ctx)
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    if throttle:
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    t0 = time.perf_counter()
    page.goto(url + GATE_PATH, wait_until="commit", timeout=120_000)
    # polled in the page every 20 ms; its answer is the page's own clock (ms since navigation
    # start) when it first held
    usable = (
        page.wait_for_function(
            f"() => ({USABLE})() && performance.now()", timeout=120_000, polling=20
        ).json_value()
        / 1000
    )
    seen = time.perf_counter() - t0
    page.wait_for_load_state("load", timeout=120_000)
    timing = page.evaluate(
        "() => { const t = performance.getEntriesByType('navigation')[0];"
        " const p = performance.getEntriesByName('first-contentful-paint')[0];"
        " return {dcl: t.domContentLoadedEventEnd, load: t.loadEventEnd,"
        " fcp: p ? p.startTime : null}; }"
    )
    page.wait_for_timeout(500)  # late requests (service worker registration)
    by_type: dict[str, int] = defaultdict(int)
    files: list[tuple[str, str, int]] = []
    for kind, u, n in wire.since(0):
        by_type[kind] += n
        files.append((u.split("/", 3)[-1], kind, n))
    out = {
        "usable_s": usable,
        "driver_s": seen,
        "fcp_s": (timing["fcp"] or 0) / 1000,
        "dcl_s": timing["dcl"] / 1000,
        "load_s": timing["load"] / 1000,
        "bytes": sum(by_type.values()),
        "requests": len(wire.items),
        "by_type": dict(by_type),
        "files": files,
    }
    ctx.close()
    return out


def per_scan(browser, url: str, state: dict, payloads: list[str], field: str = CODE_INPUT) -> dict:
    """Bytes over the wire per scan: each credential's text entered as a keyboard-wedge
    scanner does (or its short code typed into ``field``) and answered, the page warm."""
    ctx = browser.new_context(storage_state=state)
    page = ctx.new_page()
    wire = Wire(ctx)
    page.goto(url + GATE_PATH)
    page.wait_for_selector(CODE_INPUT, state="visible")
    # the service worker's install (it fetches jsQR once) belongs to the first load: wait until
    # its fetch is reported, so that it is not counted in the first scan
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    for _ in range(100):
        if any(u.endswith("/static/vendor/jsQR.js") for _, u, _ in wire.items):
            break
        page.wait_for_timeout(100)
    page.wait_for_load_state("networkidle")
    sizes = []
    for payload in payloads:
        page.evaluate("() => document.getElementById('answer').className = 'answer idle'")
        m = wire.mark()
        page.fill(field, payload)
        # wait for the scan's request itself to finish: "networkidle" was reached at load and
        # does not wait again, so a request could be counted in the next scan's window
        with page.expect_request_finished(lambda r: "/scans" in r.url):
            page.press(field, "Enter")
        page.wait_for_function(ANSWERED)
        sizes.append(sum(n for _, _, n in wire.since(m)))
    ctx.close()
    return {"scans": len(sizes), "bytes_median": statistics.median(sizes), "bytes_max": max(sizes)}


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=500)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--scans", type=int, default=10)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="evacops-bench-") as tmp:
        demo = build_demo(f"sqlite:///{tmp}/demo.db", Path(tmp) / "master.key", people=a.people)
        payloads = [c["payload"] for c in demo.fresh_payloads[: a.scans]]
        codes = [c["code"] for c in demo.fresh_payloads[a.scans : 2 * a.scans]]
        with served(demo) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            state = log_in(browser, url, *demo.logins["gate"])
            fast = first_load(browser, url, state, throttle=False)
            slow = [first_load(browser, url, state, throttle=True) for _ in range(a.runs)]
            scans = per_scan(browser, url, state, payloads)
            typed = per_scan(browser, url, state, codes, SHORT_CODE_INPUT)
            browser.close()
    result = {
        "first_load_bytes": fast["bytes"],
        "first_load_requests": fast["requests"],
        "first_load_by_type": fast["by_type"],
        "slow3g_usable_s": [r["usable_s"] for r in slow],
        "slow3g_usable_driver_s": [r["driver_s"] for r in slow],
        "slow3g_fcp_s": [r["fcp_s"] for r in slow],
        "slow3g_dcl_s": [r["dcl_s"] for r in slow],
        "slow3g_load_s": [r["load_s"] for r in slow],
        **{f"scan_{k}": v for k, v in scans.items()},
        **{f"typed_code_{k}": v for k, v in typed.items()},
    }
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"gate page first load: {fast['bytes'] / 1024:.1f} KB over the wire in "
          f"{fast['requests']} requests (goal <= 150 KB)")  # fmt: skip
    for path, kind, n in sorted(fast["files"], key=lambda f: -f[2]):
        print(f"  {n / 1024:7.1f} KB  {kind:<10} /{path}")
    med, top = scans["bytes_median"] / 1024, scans["bytes_max"] / 1024
    print(f"per scan: median {med:.2f} KB, max {top:.2f} KB over {scans['scans']} scans "
          "(goal <= 5 KB)")  # fmt: skip
    med, top = typed["bytes_median"] / 1024, typed["bytes_max"] / 1024
    print(f"per short code typed: median {med:.2f} KB, max {top:.2f} KB over "
          f"{typed['scans']} codes (goal <= 5 KB)")  # fmt: skip
    us = result["slow3g_usable_s"]
    print(f"slow 3G: usable after {statistics.median(us):.2f} s (goal <= 3 s; median of "
          f"{len(us)}: {', '.join(f'{x:.2f}' for x in us)}); first contentful paint "
          f"{statistics.median(result['slow3g_fcp_s']):.2f} s, DOMContentLoaded "
          f"{statistics.median(result['slow3g_dcl_s']):.2f} s, load "
          f"{statistics.median(result['slow3g_load_s']):.2f} s; as the test driver saw it "
          f"{statistics.median(result['slow3g_usable_driver_s']):.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
