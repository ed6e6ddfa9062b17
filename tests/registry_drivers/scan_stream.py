"""Subprocess target of the registry fault and concurrency tests: send a list of scans through
:meth:`Registry.scan` and acknowledge each one on stdout after it returned.

    python tests/registry_drivers/scan_stream.py PLAN.json [--wait-go]

PLAN.json is a list of scans: ``{"payload", "action", "site", "flight", "scan_id", "override"}``
(missing keys are None). Settings come from the environment (EVACOPS_DATABASE_URL,
EVACOPS_KEY_FILE, EVACOPS_USER, EVACOPS_PASSWORD, EVACOPS_OPERATION). Printed on stdout, one JSON
object a line, flushed at once: ``{"ready": true}`` once the registry is open; with --wait-go it
then waits for a line on stdin (so several gates start together). Then for scan ``i`` either
``{"i", "event", "person_id", "duplicate", "seat", "lap"}`` or ``{"i", "error": class name,
"message"}`` for a refusal (an EvacopsError), or ``{"i", "bug": class name}`` for anything else.
Only opaque ids are printed: never a name, date or document.
"""

from __future__ import annotations

import json
import os
import sys

from evacops.errors import EvacopsError
from evacops.registry import open_registry
from evacops.registry.settings import RegistrySettings


def say(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(plan_path: str, wait_go: bool) -> None:
    with open(plan_path, encoding="utf-8") as f:
        plan = json.load(f)
    settings = RegistrySettings()
    op = os.environ["EVACOPS_OPERATION"]
    reg = open_registry(settings, settings.user, settings.password)
    reg.public_key(op)  # warm the key cache, so the first scans race like the others
    say({"ready": True})
    if wait_go:
        sys.stdin.readline()
    for i, s in enumerate(plan):
        try:
            r = reg.scan(
                op,
                s["payload"],
                s["action"],
                site=s.get("site"),
                flight=s.get("flight"),
                scan_id=s.get("scan_id"),
                override=s.get("override"),
            )
        except EvacopsError as exc:
            say({"i": i, "error": type(exc).__name__, "message": str(exc)})
            continue
        except Exception as exc:  # a bug in the registry: reported, not hidden
            say({"i": i, "bug": type(exc).__name__, "message": str(exc).splitlines()[0][:300]})
            continue
        say(
            {
                "i": i,
                "event": r["event"],
                "person_id": r["person_id"],
                "duplicate": r["duplicate"],
                "seat": r.get("seat"),
                "lap": r.get("lap"),
            }
        )


if __name__ == "__main__":
    main(sys.argv[1], "--wait-go" in sys.argv[2:])
