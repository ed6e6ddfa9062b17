"""The command line in a new process for every call, without paying for its imports each time.

A test runs ``evacops ...`` as a user does (tests/helpers.py ``evacops``): a process of its own,
its own environment, standard streams and exit code. Most of what a registry command costs is
importing SQLAlchemy, psycopg, httpx and the registry (0.6 of about 1 s), and the suite runs
hundreds. So each test worker starts one interpreter (the *zygote*, a new interpreter, never a
fork of the test process: none of the tests' patches reach it) that imports those once and then
forks a child for every call. The child takes the call's environment, working directory and
streams, and runs ``python -m evacops.cli`` as the interpreter would (:func:`runpy.run_module`):
an unhandled exception prints its traceback and exits 1, and the interpreter's own shutdown
flushes the streams and runs the exit handlers.

What a child shares with the zygote is what importing made and what an interpreter settles when
it starts. Imports here read no environment, start no thread (Python's or the OS's) and open no
database: the zygote checks the threads and that the command line itself is not imported. The
random module is seeded again in every child (numpy is never in the zygote). What stays the
zygote's: the string-hash seed (every child of a worker iterates sets of strings in the same
order, where new interpreters would differ), the locale and the streams' encoding; a call
that sets ``PYTHON*``, ``LANG``, ``LC_*`` or ``TZ`` differently runs in a plain new
interpreter (:func:`forkable`).

``EVACOPS_TEST_FORKSERVER=0`` runs every call in a plain new interpreter instead.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import locale
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENCODING = locale.getpreferredencoding(False)  # what subprocess.run(text=True) uses
# the zygote's environment: the worker's as it starts, before any test has patched it
_START_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# imported once in the zygote: what the registry's commands import when they run (most of the
# commands the tests start). Not the command line itself: its consoles (evacops.cli.output) read
# the environment (COLUMNS, NO_COLOR, TERM) when they are made, and each call has its own. Not
# numpy, pandas or linopy: importing them starts threads (OpenBLAS, jemalloc, polars), and a
# fork copies a process with threads mid-work (polars documents deadlocks). Both checked when
# the zygote starts.
PRELOAD = (
    "evacops.registry.accounts",
    "evacops.registry.service",
    "evacops.client",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
)

# set when an interpreter starts, not when a command runs: a call that sets any of these
# differently from the zygote's environment runs in a plain new interpreter instead
AT_START = ("PYTHON", "LANG", "LC_", "TZ")

_ZYGOTE = r"""
import importlib, json, os, sys, threading
sys.path[0] = {root!r}
for name in {preload!r}:
    importlib.import_module(name)
threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
if threading.active_count() != 1 or threads != 1:
    sys.exit("forkserver: an import started a thread; forking would copy a process mid-work")
if "evacops.cli" in sys.modules or "typer" in sys.modules:
    sys.exit("forkserver: the command line was imported; its consoles read the environment")
# what the imports made is never collected: a child's collections and its shutdown then skip
# it instead of touching (and so copying) every page the zygote holds (0.5 s a call without)
import gc
gc.freeze()
requests, replies = os.dup(0), os.dup(1)
def line():
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(requests, 65536)
        if not chunk:
            os._exit(0)
        buf += chunk
    return json.loads(buf)
os.write(replies, b"ready\n")
while True:
    req = line()
    pid = os.fork()
    if pid == 0:
        break
    os.write(replies, b"%d\n" % pid)
    _, status = os.waitpid(pid, 0)
    os.write(replies, b"%d\n" % os.waitstatus_to_exitcode(status))
os.close(requests)
os.close(replies)
os.environ.clear()
os.environ.update(req["env"])
os.chdir(req["cwd"])
for fd, (path, mode) in enumerate([(req["stdin"], os.O_RDONLY),
                                   (req["stdout"], os.O_WRONLY), (req["stderr"], os.O_WRONLY)]):
    new = os.open(path, mode)
    os.dup2(new, fd)
    os.close(new)
import random
random.seed()
sys.argv = ["evacops", *req["argv"]]
import runpy
runpy.run_module("evacops.cli", run_name="__main__", alter_sys=True)
"""


class _Zygote:
    def __init__(self) -> None:
        code = _ZYGOTE.format(root=str(ROOT), preload=PRELOAD)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_START_ENV,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.replies = self.proc.stdin, self.proc.stdout.fileno()
        self.buffer = b""
        if self.line(None) != b"ready":
            raise RuntimeError(f"forkserver: the zygote did not start ({self.proc.wait()})")

    def line(self, timeout: float | None) -> bytes | None:
        """The zygote's next reply line; None if none came within ``timeout`` seconds."""
        while b"\n" not in self.buffer:
            if not select.select([self.replies], [], [], timeout)[0]:
                return None
            chunk = os.read(self.replies, 4096)
            if not chunk:
                raise RuntimeError(f"forkserver: the zygote ended ({self.proc.wait()})")
            self.buffer += chunk
        reply, self.buffer = self.buffer.split(b"\n", 1)
        return reply

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive():
            self.stdin.close()
            self.proc.wait(10)

    def kill(self) -> None:
        """Stop the zygote (it is out of step with this side): the next call starts another."""
        self.proc.kill()
        self.proc.wait(10)

    def run(
        self, argv: list[str], env: dict[str, str], stdin: str, out: str, err: str, timeout: float
    ) -> int | None:
        """The call's exit code; None if it ran longer than ``timeout`` (then killed). Any
        failure on the way leaves the zygote out of step with this side: it is killed."""
        request = {
            "argv": argv,
            "env": env,
            "cwd": str(ROOT),
            "stdin": stdin,
            "stdout": out,
            "stderr": err,
        }
        try:
            self.stdin.write(json.dumps(request).encode() + b"\n")
            self.stdin.flush()
            pid = int(self.line(None) or b"")
            if pid <= 1:
                raise RuntimeError(f"forkserver: no child's pid but {pid}")
            code = self.line(timeout)
            if code is None:
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    os.kill(pid, signal.SIGKILL)
                if self.line(30) is None:
                    raise RuntimeError("forkserver: the zygote did not reap a killed child")
                return None
            return int(code)
        except BaseException:
            self.kill()
            raise


_lock = threading.Lock()
_zygote: _Zygote | None = None


def _get() -> _Zygote:
    global _zygote
    if _zygote is None or not _zygote.alive():
        _zygote = _Zygote()
        atexit.register(_zygote.close)
    return _zygote


def enabled() -> bool:
    return os.environ.get("EVACOPS_TEST_FORKSERVER", "1") != "0" and hasattr(os, "fork")


def run(
    argv: list[str], env: dict[str, str], input: str | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``python -m evacops.cli *argv`` with exactly ``env``, from the repository root; standard
    input ``input`` (else empty), output captured as text (as ``subprocess.run(...,
    capture_output=True, text=True)``)."""
    with tempfile.TemporaryDirectory(prefix="evacops-call-") as d:
        paths = {k: os.path.join(d, k) for k in ("stdin", "stdout", "stderr")}
        Path(paths["stdin"]).write_text(input or "", encoding=ENCODING)
        for k in ("stdout", "stderr"):
            Path(paths[k]).touch()
        with _lock:
            code = _get().run(argv, env, paths["stdin"], paths["stdout"], paths["stderr"], timeout)

        def read(k: str) -> str:
            with open(paths[k], encoding=ENCODING, newline=None) as fh:
                return fh.read()

        cmd = [sys.executable, "-m", "evacops.cli", *argv]
        if code is None:
            raise subprocess.TimeoutExpired(cmd, timeout, read("stdout"), read("stderr"))
        return subprocess.CompletedProcess(cmd, code, read("stdout"), read("stderr"))


def forkable(env: dict[str, str]) -> bool:
    """Whether a call with ``env`` can be forked: it sets nothing an interpreter reads only when
    it starts (:data:`AT_START`) differently from the zygote."""
    keys = {k for k in {*env, *_START_ENV} if k.startswith(AT_START) and k != "PYTHONPATH"}
    return all(env.get(k) == _START_ENV.get(k) for k in keys)
