"""Browser tests: Playwright (sync API) driving Debian's Chromium, headless, launched by its path.

Playwright's own browser download is not reachable here, so nothing runs ``playwright install``:
the browser is ``/usr/bin/chromium`` (``EVACOPS_CHROMIUM`` to use another), which ``.ci/run``
installs. A browser test skipped in CI would hide a missing install step, so with ``CI=true`` a
missing Chromium, Playwright or web service is a **failure**; elsewhere the tests are skipped.

Fixtures:
- ``browser``: one headless Chromium for the session; ``launch_chromium(args)`` starts another
  with extra switches (the fake camera needs its file at launch).
- ``demo_server``: a demo operation (evacops.demo, generated people) served by ``evacops serve``
  on a free localhost port, for the session; ``.url``, ``.demo`` (logins, payloads), ``.api()``.
- ``shot(page, name)``: a screenshot into out/screenshots/ (not committed), to look at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("EVACOPS_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
SCREENSHOTS = ROOT / "out" / "screenshots"
DEMO_PEOPLE = 300
SERVER_START_S = 90


def unavailable(why: str) -> None:
    """Skip outside CI; fail in CI (a skipped browser test there is a missing install step)."""
    if IN_CI:
        pytest.fail(f"browser tests cannot run in CI: {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def playwright_session():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is missing: pip install -e '.[dev]'")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def launch_chromium(playwright_session):
    """Start a headless Chromium with extra command-line switches; closed after the session."""
    started = []

    def launch(args: list[str] | None = None):
        b = playwright_session.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(args or [])
        )
        started.append(b)
        return b

    yield launch
    for b in started:
        b.close()


@pytest.fixture(scope="session")
def browser(launch_chromium):
    return launch_chromium()


def fake_camera_args(video: Path) -> list[str]:
    """Switches that make ``video`` (.y4m or .mjpeg) the camera and grant camera access."""
    return [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]


@pytest.fixture
def shot():
    """``shot(page, name)``: a full-page screenshot at out/screenshots/NAME.png; its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@dataclass
class DemoServer:
    url: str
    demo: Any  # evacops.demo.Demo
    log: Path

    def login(self, page, role: str) -> None:
        """Log ``page`` in as the demo user of ``role`` through the login form."""
        user, password = self.demo.logins[role]
        page.goto(self.url + "/login")
        page.fill("input[name=name]", user)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("form[action='/login'] button")
        assert urlparse(page.url).path != "/login", f"log-in as {role} refused"


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory):
    """A demo operation served by ``evacops serve`` on a free port of 127.0.0.1."""
    try:
        import evacops.web  # noqa: F401
    except ImportError:
        unavailable("evacops.web (the web service) is not in this tree")
    from evacops.demo import build_demo, served

    folder = tmp_path_factory.mktemp("demo")
    demo = build_demo(
        f"sqlite:///{folder / 'demo.db'}", folder / "keys" / "master.key", people=DEMO_PEOPLE
    )
    log = folder / "server.log"
    try:
        with served(demo, log=log, timeout_s=SERVER_START_S) as url:
            yield DemoServer(url, demo, log)
    except RuntimeError as exc:
        pytest.fail(f"{exc}\n{log.read_text(errors='replace')[-3000:]}", pytrace=False)


def _abort(route) -> None:
    route.abort("internetdisconnected")


def go_offline(ctx) -> None:
    """Take a browser context offline for real: ``set_offline`` (the page sees no network,
    ``navigator.onLine`` is false) and every request the context makes aborted, a service
    worker's own fetches included, which ``set_offline`` alone lets through in Chromium
    (microsoft/playwright#2311; tests/browser/test_browser_offline.py shows it)."""
    ctx.set_offline(True)
    ctx.route("**/*", _abort)


def go_online(ctx) -> None:
    ctx.unroute("**/*", _abort)
    ctx.set_offline(False)
