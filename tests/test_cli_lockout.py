"""Every way a person logs in through the command line goes through the log-in's lockout and
audit (:meth:`evacops.registry.accounts.Accounts.login`): each ``evacops registry`` command that
acts as a user, run on the server host with the right password for a name that is locked, is
refused, and leaves a ``login-locked-out`` entry in the audit log. ``open_registry`` (and
``Registry.authenticate`` under it) log in without lockout or audit, for processes that hold the
master key already (the demo, tests, benchmarks): no module of the command line calls them.
SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set."""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path

from conftest import OPERATION, PASSWORD
from typer.testing import CliRunner

from evacops.cli.registry import app
from evacops.errors import AccessDenied
from evacops.registry.accounts import Accounts

ROOT = Path(__file__).resolve().parents[1]

#: each registry command, with arguments that take it as far as the log-in (None: a command
#: that acts as nobody and never logs in)
ARGS: dict[str, list[str] | None] = {
    "init": ["--operation", "op-locked"],
    "user": ["newcomer", "--role", "gate"],
    "site": ["Gate Z", "--kind", "gate"],
    "flight": ["RCH1", "--depart"],
    "categories": [],
    "import": ["people.csv"],
    "generate": None,  # writes synthetic people to a file; no registry
    "register": ["-"],
    "person": ["p-1"],
    "dedup": [],
    "scan": ["--site", "Gate A", "EVC1:NOTACREDENTIAL"],
    "board": ["--flight", "RCH1", "EVC1:NOTACREDENTIAL"],
    "manifest": ["--flight", "RCH1"],
    "arrive": ["--flight", "RCH1"],
    "rollcall": ["--site", "Gate A"],
    "conflicts": [],
    "report": [],
    "export": ["counts", "--out", "counts.csv"],
    "credentials": [],
    "shred": ["--operation", OPERATION, "--yes"],
    "audit": ["verify"],
    "plan attach": ["plan-folder"],
    "plan show": [],
}


def _commands() -> set[str]:
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    names.discard("import_")
    names.add("import")
    for g in app.registered_groups:
        group = g.typer_instance.registered_commands
        names |= {f"{g.name} {c.name or c.callback.__name__}" for c in group}
    return names


def _locked_out(admin) -> int:
    return sum(e["action"] == "login-locked-out" for e in admin.audit_entries(100_000))


def test_every_registry_command_logs_in_through_the_lockout(registry_env, admin, tmp_path):
    assert _commands() == set(ARGS), "a new command: say in ARGS how it reaches the log-in"
    admin.add_user("chief2", "admin", PASSWORD)
    accounts = Accounts.from_settings(registry_env.settings, engine=admin.engine)
    for _ in range(registry_env.settings.login_max_failures):
        with contextlib.suppress(AccessDenied):
            accounts.login("chief2", "not-the-password")
    (tmp_path / "people.csv").write_text("household_id,given_name\n")
    plan = tmp_path / "plan-folder"  # a plan folder as `evacops plan --out` writes it
    plan.mkdir()
    (plan / "summary.json").write_text('{"period_h": 6}')
    (plan / "daily_out.csv").write_text("date,total\n2021-08-15,100\n")
    env = {**registry_env.env, "EVACOPS_USER": "chief2", "EVACOPS_PASSWORD": PASSWORD,
           "EVACOPS_NEW_PASSWORD": "a-new-password-1", "EVACOPS_URL": None}  # fmt: skip
    runner = CliRunner()
    tried = 0
    for name, args in sorted(ARGS.items()):
        if args is None:
            continue
        before = _locked_out(admin)
        argv = [*name.split(), *(str(tmp_path / a) if (tmp_path / a).exists() else a for a in args)]
        r = runner.invoke(app, argv, env=env, input="")
        assert r.exit_code == 2, (name, r.exit_code, r.output)
        assert _locked_out(admin) == before + 1, f"{name} did not log in through the lockout"
        tried += 1
    assert tried == len(ARGS) - 1
    # nothing was done: the shred and the new user were refused at the log-in
    with admin.ctx.read() as conn:
        assert admin.ctx.operation(conn, OPERATION)["shredded_at"] is None
    assert "newcomer" not in {m["user"] for m in admin.members(OPERATION)}


def test_no_module_of_the_command_line_logs_in_without_the_lockout():
    """The command line's registry comes from ``open_as`` (Accounts.login) or the service; the
    lockout-free log-ins are for processes, not people."""
    lockout_free = {"open_registry", "authenticate", "for_actor"}
    found = []
    for path in sorted((ROOT / "evacops" / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            name = getattr(node, "attr", None) or getattr(node, "id", None)
            if isinstance(node, ast.alias):
                name = node.name
            if name in lockout_free:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert found == []
