"""``evacops registry``: the evacuee registry from the command line, thin over its services.

- common.py: the Typer app, options every command takes (who acts, which operation, --json),
  and opening the registry as the acting user;
- setup.py: init, user, site, flight, categories;
- people.py: import, generate, register, person, dedup;
- movements.py: scan, board, manifest, arrive, rollcall;
- reports.py: report, export, credentials, shred, audit;
- plans.py: plan attach, plan show (the latest plan next to what happened).
"""

from evacops.cli.registry import movements, people, plans, reports, setup
from evacops.cli.registry.common import app

__all__ = ["app", "movements", "people", "plans", "reports", "setup"]
