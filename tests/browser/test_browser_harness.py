"""The browser harness itself: in CI a browser test that cannot run fails (a skip there would hide
a missing install step); elsewhere it is skipped."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.browser.conftest import ROOT

TARGET = "tests/browser/test_browser_camera.py::test_fake_camera_shows_the_credential_qr_to_a_page"


def _run(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["EVACOPS_CHROMIUM"] = "/nonexistent/chromium"
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TARGET],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_chromium_fails_in_ci(ci):
    r = _run(ci)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "browser tests cannot run in CI: no Chromium at /nonexistent/chromium" in r.stdout
    assert "1 error" in r.stdout and "skipped" not in r.stdout.splitlines()[-1]


def test_missing_chromium_skips_outside_ci():
    r = _run(None)
    assert r.returncode == 0, r.stdout[-2000:]
    assert "1 skipped" in r.stdout.splitlines()[-1]
