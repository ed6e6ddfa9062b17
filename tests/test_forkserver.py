"""The tests' fork server (tests/forkserver.py) runs a command as a new interpreter would: the
same output, error and exit code, each call with its own environment, and a call that runs too
long is killed without stopping the next."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import forkserver
import pytest
from helpers import ROOT, assert_user_error

pytestmark = pytest.mark.skipif(not forkserver.enabled(), reason="EVACOPS_TEST_FORKSERVER=0")


def new_interpreter(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evacops.cli", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_a_forked_call_answers_as_a_new_interpreter(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nperiods: [\n", encoding="utf-8")
    env = {**os.environ, "EVACOPS_KEY_FILE": str(tmp_path / "none" / "master.key")}
    env["EVACOPS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'none' / 'r.db'}"
    env.pop("EVACOPS_URL", None)
    wide = {**env, "COLUMNS": "200", "FORCE_COLOR": "1"}  # read when the consoles are made
    for argv, e in (
        (["--help"], env),
        (["--help"], wide),
        (["plan", "--help"], env),
        (["validate", str(bad)], env),
        (["registry", "report", "--json"], env),
        (["no-such-command"], env),
    ):
        forked = forkserver.run(argv, e, input=None, timeout=120)
        fresh = new_interpreter(argv, e)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            fresh.returncode,
            fresh.stdout,
            fresh.stderr,
        ), argv
    # a command's own consoles take the call's width, as a new interpreter's do
    shuttle = str(ROOT / "tests" / "scenarios" / "shuttle.yaml")
    for columns in ("60", "72"):
        e = {**env, "COLUMNS": columns}
        widths = [
            {len(ln) for ln in r.stdout.splitlines() if ln.startswith("By cohort")}
            for r in (
                forkserver.run(["plan", shuttle], e, None, 120),
                new_interpreter(["plan", shuttle], e),
            )
        ]
        assert widths == [{int(columns)}] * 2
    # and those calls did fail where they should: a user error of one line
    assert_user_error(forkserver.run(["validate", str(bad)], env, input=None, timeout=120))


def test_each_call_has_its_own_environment(tmp_path):
    """The key file's place comes from each call's environment, never from an earlier call."""
    lines = []
    for name in ("first", "second", "first"):
        env = {**os.environ, "EVACOPS_KEY_FILE": str(tmp_path / name / "master.key")}
        env["EVACOPS_DATABASE_URL"] = f"sqlite:///{tmp_path / name / 'r.db'}"
        env.pop("EVACOPS_URL", None)
        env["EVACOPS_USER"], env["EVACOPS_PASSWORD"] = "nobody", "nothing-1"
        lines.append(assert_user_error(forkserver.run(["registry", "report"], env, None, 120)))
    assert str(tmp_path / "first") in lines[0] and str(tmp_path / "second") not in lines[0]
    assert str(tmp_path / "second") in lines[1] and str(tmp_path / "first") not in lines[1]
    assert lines[2] == lines[0]


def test_a_call_that_runs_too_long_is_killed_and_the_next_one_runs(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "EVACOPS_KEY_FILE": str(tmp_path / "k" / "master.key"),
        "EVACOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "EVACOPS_PASSWORD": "forkserver-password-1",
    }
    init = ["registry", "init", "--admin", "chief", "--operation", "op"]
    assert forkserver.run(init, env, input=None, timeout=120).returncode == 0
    with pytest.raises(subprocess.TimeoutExpired):
        forkserver.run(["serve", "--port", str(port)], env, input=None, timeout=3)
    after = forkserver.run(["--help"], env, input=None, timeout=120)
    assert after.returncode == 0 and "Usage" in after.stdout


def test_the_zygote_has_one_thread_and_a_new_one_follows_a_lost_one():
    """Forking a process copies only the forking thread: the zygote has no other (Python's or
    the OS's). One killed under the tests' feet is replaced at the next call."""
    z = forkserver._get()
    assert len(os.listdir(f"/proc/{z.proc.pid}/task")) == 1
    z.proc.kill()
    z.proc.wait()
    r = forkserver.run(["--help"], dict(os.environ), input=None, timeout=120)
    assert r.returncode == 0 and "Usage" in r.stdout
    assert forkserver._get() is not z


def test_what_an_interpreter_reads_at_start_is_never_forked():
    env = dict(os.environ)
    assert forkserver.forkable(env)
    for key, value in (("PYTHONHASHSEED", "12345"), ("LANG", "de_DE.UTF-8"), ("TZ", "Asia/Kabul")):
        assert not forkserver.forkable({**env, key: value}), key
    assert forkserver.forkable({**env, "EVACOPS_USER": "someone", "COLUMNS": "50"})
