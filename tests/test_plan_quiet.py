"""The solver's banner is kept off stdout (``--json`` stays one JSON object), also when two
threads solve at once (a kept what-if and its baseline): stdout must come back afterwards,
whichever thread leaves last."""

from __future__ import annotations

import subprocess
import sys

# thread A silences stdout, then B, then A leaves, then B: with each thread saving and putting
# back its own stdout, B would put back the null device A left it, and the last line is lost
SCRIPT = """
import os, threading
from evacops.plan.highs import _quiet_stdout
a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
def a():
    with _quiet_stdout():
        a_in.set(); b_in.wait(); os.write(1, b"hidden a\\n")
    a_out.set()
def b():
    a_in.wait()
    with _quiet_stdout():
        b_in.set(); a_out.wait(); os.write(1, b"hidden b\\n")
ts = [threading.Thread(target=f) for f in (a, b)]
[t.start() for t in ts]; [t.join() for t in ts]
print("visible", flush=True)
"""


def test_stdout_comes_back_after_two_threads_silence_it_in_turn():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert out == "visible\n"
