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
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen | None, timeout_s: float) -> None:
    """Wait until ``url`` answers with any HTTP status; fail if ``proc`` ends first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}) before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: no answer within {timeout_s:.0f} s")


@dataclass
class DemoServer:
    url: str
    demo: Any  # evacops.demo.Demo
    proc: subprocess.Popen
    log: Path

    def login(self, page, role: str) -> None:
        """Log ``page`` in as the demo user of ``role`` through the login form."""
        user, password = self.demo.logins[role]
        page.goto(self.url + "/login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state("networkidle")


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory):
    """A demo operation served by ``evacops serve`` on a free port of 127.0.0.1."""
    try:
        import evacops.web  # noqa: F401
    except ImportError:
        unavailable("evacops.web (the web service) is not in this tree")
    from evacops.demo import build_demo

    folder = tmp_path_factory.mktemp("demo")
    demo = build_demo(
        f"sqlite:///{folder / 'demo.db'}", folder / "keys" / "master.key", people=DEMO_PEOPLE
    )
    port = free_port()
    env = {
        **os.environ,
        "EVACOPS_DATABASE_URL": demo.settings.database_url,
        "EVACOPS_KEY_FILE": str(demo.settings.key_file),
        "PYTHONPATH": str(ROOT),
    }
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "evacops.cli", "serve", "--host", "127.0.0.1", "--port",
             str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/", proc, SERVER_START_S)
    except RuntimeError as exc:
        proc.kill()
        proc.wait()
        pytest.fail(f"{exc}\n{log.read_text(errors='replace')[-3000:]}", pytrace=False)
    yield DemoServer(url, demo, proc, log)
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
