"""Shared helpers for the tests: small scenario builders (generated, never real people)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import yaml

from evacops.scenario import Scenario, parse_text

try:  # imported here: it takes the worker's environment before any test patches it
    import forkserver
except ModuleNotFoundError:  # tests.helpers from a script with only the root on sys.path
    from tests import forkserver

HERE = Path(__file__).parent
ROOT = HERE.parent


def shuttle_dict() -> dict:
    return yaml.safe_load((HERE / "scenarios" / "shuttle.yaml").read_text())


def set_capacity(site: dict, holding_capacity: float) -> dict:
    """Give a site of a scenario dict a holding capacity in place of ``unlimited: true``."""
    site.pop("unlimited", None)
    site.pop("reason", None)
    site["holding_capacity"] = holding_capacity
    return site


def scenario_from(d: dict) -> Scenario:
    return parse_text(yaml.safe_dump(copy.deepcopy(d), sort_keys=False), source="test.yaml")


def evacops(
    *args: str | Path,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the command line as a user does: a new process, from the repository root (forked
    from an interpreter that has the imports done: tests/forkserver.py). ``env`` adds to (or
    overrides) the environment; ``input`` is standard input."""
    import os

    call_env = {**os.environ, **(env or {})}
    if forkserver.enabled() and forkserver.forkable(call_env):
        return forkserver.run([*map(str, args)], call_env, input=input, timeout=timeout)
    return subprocess.run(
        [sys.executable, "-m", "evacops.cli", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
        input=input,
    )


def assert_user_error(r: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 and exactly one line on stderr, starting with 'error:'; no traceback anywhere."""
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr  # one line, nothing else
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]
