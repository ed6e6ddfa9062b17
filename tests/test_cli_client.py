"""The command line away from the server host: `evacops login` and `evacops registry ...` as a
registrar, a gate and a manifest user who hold no key file and no database, against `evacops
serve` on a free port (SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set).

Checked on the server: what the commands did (people registered, credentials issued, scans,
boarding, arrival) and that the log-in's lockout and audit apply to the command line, through
the service and on the server host alike. Checked on the client: one-line errors naming the fix,
the token file's mode, and (with an audit hook) that the process never opens the key file or the
database even when their real paths are in its environment.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import OPERATION, PASSWORD
from helpers import ROOT, assert_user_error, evacops

from evacops.registry.generate import registrations_rows

FLIGHT = "RCH871"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """`evacops serve` over ``registry_env``'s database and key, on a free port."""

    def __init__(self, registry_env, extra_env: dict[str, str] | None = None):
        self.env = registry_env
        self.url = f"http://127.0.0.1:{_free_port()}"
        server_env = {
            **os.environ,
            **registry_env.env,
            **(extra_env or {}),
            "PYTHONPATH": str(ROOT),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evacops.cli", "serve", "--port", self.url.rsplit(":", 1)[1]],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                httpx.get(self.url + "/api/v1/health", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("the service never answered")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


@pytest.fixture
def service(registry_env):
    for role in ("registrar", "gate", "manifest", "reporter"):
        registry_env.as_role(role)
    registry_env.as_role("admin").add_flight(
        OPERATION, FLIGHT, origin="HKIA", destination="Al Udeid", seats=40
    )
    s = Service(registry_env)
    yield s
    s.stop()


def away(tmp_path: Path, user: str, url: str | None) -> dict[str, str]:
    """The environment of ``user`` on a laptop or gate phone: their own config folder, no key
    file, no database (both point nowhere)."""
    nowhere = tmp_path / "nowhere"
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / f"home-{user}"),
        "EVACOPS_KEY_FILE": str(nowhere / "master.key"),
        "EVACOPS_DATABASE_URL": f"sqlite:///{nowhere / 'none.db'}",
        "EVACOPS_USER": user,
        "EVACOPS_PASSWORD": PASSWORD,
        "EVACOPS_OPERATION": OPERATION,
    }
    if url:
        env["EVACOPS_URL"] = url
    return env


def ok(env, *args, input=None) -> subprocess.CompletedProcess[str]:
    r = evacops(*args, env=env, input=input)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def reg_json(env, *args, input=None):
    return json.loads(ok(env, "registry", *args, "--json", input=input).stdout)


def test_roles_act_through_the_service_without_the_key(service, tmp_path):
    server = service.env
    admin = server.as_role("admin")
    registrar = away(tmp_path, "registrar", service.url)

    # not logged in yet: one line saying what to do
    line = assert_user_error(evacops("registry", "report", env=registrar))
    assert "evacops login --url " + service.url in line
    # neither a service nor a key file: one line saying what to do
    no_url = {k: v for k, v in registrar.items() if k != "EVACOPS_URL"}
    line = assert_user_error(evacops("registry", "report", env=no_url))
    assert "EVACOPS_URL" in line and "evacops login" in line

    done = json.loads(ok(registrar, "login", "--json").stdout)
    token_file = Path(done["token_file"])
    assert token_file == tmp_path / "home-registrar" / "evacops" / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert json.loads(token_file.read_text())["url"] == service.url

    # registration: JSON lines on standard input, and a file
    rows = registrations_rows(6, seed=41, duplicate_rate=0.0)
    lines = "".join(json.dumps(r) + "\n" for r in rows[:2])
    got = reg_json(registrar, "register", input=lines)
    assert got["registered"] == 2 and len(got["person_ids"]) == 2
    for pid in got["person_ids"]:  # on the server, with the data as sent
        assert admin.person(OPERATION, pid)["given_name"] in {r["given_name"] for r in rows[:2]}
    import csv

    path = tmp_path / "more.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows[2:])
    imported = reg_json(registrar, "import", str(path))
    assert set(imported) == {"imported", "rejected", "households"}  # the local command's keys
    assert imported["imported"] == 4 and imported["rejected"] == 0
    assert admin.report(OPERATION)["registered"] == 6

    issued = reg_json(registrar, "credentials")
    assert issued == {"issued": 6}
    payloads = {c["person_id"]: c["payload"] for c in admin.credential_payloads(OPERATION)}
    assert len(payloads) == 6

    # the same report, printed the same, here and on the server host
    remote = ok(registrar, "registry", "report").stdout
    on_host = ok(server.env | {"EVACOPS_USER": "admin"}, "registry", "report").stdout
    assert remote == on_host and "registered" in remote
    # one person, as the registrar may see them: the same here and on the server host
    pid = got["person_ids"][0]
    remote = ok(registrar, "registry", "person", pid, "--json").stdout
    host_registrar = server.env | {"EVACOPS_USER": "registrar"}
    assert remote == ok(host_registrar, "registry", "person", pid, "--json").stdout
    assert json.loads(remote)["given_name"] in {r["given_name"] for r in rows[:2]}
    ok(registrar, "registry", "report", "--out", str(tmp_path / "report"))
    assert (tmp_path / "report" / "report.html").is_file()

    # a gate checks people in
    gate = away(tmp_path, "gate", service.url)
    ok(gate, "login")
    pids = sorted(payloads)
    r = ok(gate, "registry", "scan", "--site", "Gate A", *(payloads[p] for p in pids[:5]))
    assert r.stdout.count("gate-in ") == 5 and "household of" in r.stdout
    assert {admin.person(OPERATION, p)["status"] for p in pids[:5]} == {"checked-in"}
    first = reg_json(gate, "scan", "--site", "Gate A", "--scan-id", "s-9", payloads[pids[5]])
    again = reg_json(gate, "scan", "--site", "Gate A", "--scan-id", "s-9", payloads[pids[5]])
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["event"] == first["event"]
    assert admin.person(OPERATION, pids[5])["status"] == "checked-in"
    # refused by the role: one line, worded by the service
    line = assert_user_error(evacops("registry", "manifest", "--flight", FLIGHT, env=gate))
    assert "may not manifest" in line and "gate" in line

    # the ramp: manifest, board, depart; deplane and arrive
    ramp = away(tmp_path, "manifest", service.url)
    ok(ramp, "login")
    m = reg_json(ramp, "manifest", "--flight", FLIGHT)
    assert m["version"] == 1 and m["persons"] == 6
    on_server = json.loads(json.dumps(admin.manifest(OPERATION, FLIGHT), default=str))
    assert m["entries"] == on_server["entries"]
    on_board = [e["person_id"] for e in m["entries"]]
    assert sorted(on_board) == pids
    r = ok(ramp, "registry", "board", "--flight", FLIGHT, *(payloads[p] for p in on_board))
    assert r.stdout.count("board ") == 6
    dep = reg_json(ramp, "flight", FLIGHT, "--depart")
    assert dep["boarded"] == 6
    ok(
        ramp,
        "registry",
        "scan",
        "--action",
        "deplane",
        "--flight",
        FLIGHT,
        *(payloads[p] for p in on_board),
    )
    arrived = reg_json(ramp, "arrive", "--flight", FLIGHT)
    assert arrived["reconciled"] is True and arrived["deplaned"] == 6
    assert admin.reconcile(OPERATION, FLIGHT)["deplaned"] == 6
    # a revoked credential: refused in the registry's own words
    cred = admin.credential_payloads(OPERATION, [pids[0]])[0]["credential_id"]
    admin.revoke(OPERATION, cred, reason="lost")
    line = assert_user_error(
        evacops(
            "registry",
            "scan",
            "--action",
            "roll-call",
            "--site",
            "Al Udeid",
            payloads[pids[0]],
            env=gate,
        )
    )
    assert "revoked" in line
    assert reg_json(ramp, "conflicts") == []
    # exports and the report since a date: through the service, the same as on the server host
    export = ("registry", "export", "manifest", "--flight", FLIGHT, "--out")
    ok(ramp, *export, str(tmp_path / "m.csv"))
    ok(server.env | {"EVACOPS_USER": "manifest"}, *export, str(tmp_path / "host-m.csv"))
    assert (tmp_path / "m.csv").read_bytes() == (tmp_path / "host-m.csv").read_bytes()
    assert (tmp_path / "m.csv").read_text().count("\n") == 1 + 6
    reporter = away(tmp_path, "reporter", service.url)
    ok(reporter, "login")
    export = ("registry", "export", "counts", "--min-cell", "2", "--out")
    ok(reporter, *export, str(tmp_path / "c.csv"))
    ok(server.env | {"EVACOPS_USER": "reporter"}, *export, str(tmp_path / "host-c.csv"))
    assert (tmp_path / "c.csv").read_bytes() == (tmp_path / "host-c.csv").read_bytes()
    since = ("registry", "report", "--since", "2000-01-01")
    remote = ok(reporter, *since).stdout
    assert remote == ok(server.env | {"EVACOPS_USER": "reporter"}, *since).stdout
    assert "out since 2000-01-01" in remote
    # what needs the key stays on the server host: printing labels
    line = assert_user_error(
        evacops("registry", "credentials", "--no-issue", "--out", tmp_path / "l.pdf", env=ramp)
    )
    assert "server host" in line and not (tmp_path / "l.pdf").exists()

    # log-out ends the session on the server and forgets the token
    token = json.loads(token_file.read_text())["token"]
    ok(registrar, "logout")
    assert not token_file.exists()
    me = httpx.get(service.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    line = assert_user_error(evacops("registry", "report", env=registrar))
    assert "evacops login" in line


HOOKED = """
import sys
log = open(sys.argv.pop(1), "w")
def hook(event, args):
    if event in ("open", "sqlite3.connect", "os.listdir", "os.scandir") and args:
        log.write(event + "\\t" + str(args[0]) + "\\n")
        log.flush()
sys.addaudithook(hook)
from evacops.cli import main
sys.argv = ["evacops"] + sys.argv[1:]
main()
"""


def test_the_client_never_opens_the_key_file_or_the_database(service, tmp_path):
    """With the real key file and database in its environment (as on a shared host), a command
    sent through the service opens neither: every file the process opens is logged."""
    server = service.env
    env = {**away(tmp_path, "registrar", service.url), **server.env}
    env["EVACOPS_USER"] = "registrar"
    ok(env, "login")
    key_dir = str(Path(server.key_file).parent)

    def opened_by(env: dict[str, str]) -> tuple[set[str], set[str]]:
        log = tmp_path / "opened.txt"
        r = subprocess.run(
            [sys.executable, "-c", HOOKED, str(log), "registry", "report", "--json"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["registered"] == 0
        opened = [ln.split("\t", 1) for ln in log.read_text().splitlines()]
        return {p for e, p in opened if e == "open"}, {e for e, _ in opened}

    files, events = opened_by(env)
    assert not [p for p in files if p.startswith(key_dir)]
    assert "sqlite3.connect" not in events
    if server.url.startswith("sqlite"):
        assert server.url.removeprefix("sqlite:///") not in files
    # the hook does see it when the command runs on the server host (no EVACOPS_URL)
    host = {k: v for k, v in env.items() if k != "EVACOPS_URL"}
    files, events = opened_by(host)
    assert [p for p in files if p.startswith(key_dir)]


def test_cli_login_through_the_service_is_locked_out_and_audited(registry_env, tmp_path):
    registry_env.as_role("gate")
    s = Service(registry_env, {"EVACOPS_LOGIN_MAX_FAILURES": "3"})
    try:
        gate = away(tmp_path, "gate", s.url)
        wrong = {**gate, "EVACOPS_PASSWORD": "not-the-password"}
        for _ in range(3):
            line = assert_user_error(evacops("login", env=wrong))
            assert "unknown user or wrong password" in line
        line = assert_user_error(evacops("login", env=gate))  # the right password, refused
        assert "too many failed log-ins" in line
        assert not (tmp_path / "home-gate" / "evacops" / "token").exists()
    finally:
        s.stop()
    actions = [e["action"] for e in registry_env.as_role("admin").audit_entries(50)]
    assert actions.count("login-failed") == 3 and "login-locked-out" in actions


def test_cli_login_on_the_server_host_is_locked_out_and_audited(registry_env):
    """The registry commands run on the server host log in as the web does: after the allowed
    failures even the right password is refused, and each attempt is in the audit log."""
    host = {**registry_env.env, "EVACOPS_USER": "admin", "EVACOPS_LOGIN_MAX_FAILURES": "3"}
    wrong = {**host, "EVACOPS_PASSWORD": "not-the-password"}
    for _ in range(3):
        line = assert_user_error(evacops("registry", "report", env=wrong))
        assert "unknown user or wrong password" in line
    line = assert_user_error(evacops("registry", "report", env=host))
    assert "too many failed log-ins" in line
    actions = [e["action"] for e in registry_env.as_role("admin").audit_entries(50)]
    assert actions.count("login-failed") == 3 and "login-locked-out" in actions


def test_bad_addresses_and_stale_log_ins_are_one_line(registry_env, tmp_path):
    """No service at the address, an address that is not http(s), a log-in made elsewhere."""
    port = _free_port()
    env = away(tmp_path, "gate", f"http://127.0.0.1:{port}")
    line = assert_user_error(evacops("login", env=env))
    assert "cannot reach the service" in line and "EVACOPS_URL" in line
    line = assert_user_error(evacops("login", "--url", "ftp://x", env=env))
    assert "https://HOST:PORT" in line
    token = tmp_path / "home-gate" / "evacops" / "token"
    token.parent.mkdir(parents=True)
    token.write_text(json.dumps({"url": "http://elsewhere:1", "user": "gate", "token": "t"}))
    line = assert_user_error(evacops("registry", "report", env=env))
    assert "evacops login --url http://127.0.0.1" in line


def _read_until(fd: int, word: bytes, seen: bytearray) -> None:
    import select

    while word not in seen:
        ready, _, _ = select.select([fd], [], [], 120)
        assert ready, f"no {word!r} from the command: {bytes(seen)!r}"
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the terminal closed
            chunk = b""
        assert chunk, f"no {word!r} from the command: {bytes(seen)!r}"
        seen.extend(chunk)


def test_login_asks_for_the_name_and_password_in_a_terminal(service, tmp_path):
    """In a terminal `evacops login` asks; the password is not echoed; the token is saved."""
    import pty

    env = {**os.environ, **away(tmp_path, "gate", service.url), "PYTHONPATH": str(ROOT)}
    for name in ("EVACOPS_USER", "EVACOPS_PASSWORD"):
        env.pop(name, None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command in a terminal of its own
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "evacops.cli", "login"], env)
    seen = bytearray()
    try:
        _read_until(fd, b"Name: ", seen)
        os.write(fd, b"gate\n")
        _read_until(fd, b"Password: ", seen)
        os.write(fd, PASSWORD.encode() + b"\n")
        _read_until(fd, b"Logged in", seen)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, bytes(seen)
    assert PASSWORD.encode() not in seen  # getpass: not echoed
    saved = json.loads((tmp_path / "home-gate" / "evacops" / "token").read_text())
    assert saved["user"] == "gate" and saved["url"] == service.url


def test_conflicts_are_reviewed_and_closed_through_the_service(service, tmp_path):
    """An offline scan at a second gate makes a conflict; a manifest user lists it and closes
    it from the command line, and the list reads the same here and on the server host."""
    from datetime import timedelta

    from evacops.registry.files import read_records
    from evacops.registry.store.tables import utcnow

    admin = service.env.as_role("admin")
    rows = read_records(registrations_rows(1, seed=5, duplicate_rate=0.0), source="test")
    [pid] = admin.register(OPERATION, rows).person_ids
    [cred] = admin.issue_credentials(OPERATION, [pid])
    at = utcnow() - timedelta(minutes=20)
    for n, site in enumerate(("Gate A", "Gate B")):
        device, _token = admin.enrol_device(OPERATION, site, "gate", f"phone {site}")
        scan = {
            "seq": 1,
            "payload": cred["payload"],
            "action": "gate-in",
            "at": (at + timedelta(minutes=n)).isoformat(),
        }
        admin.sync_scans(OPERATION, device, [scan])

    ramp = away(tmp_path, "manifest", service.url)
    ok(ramp, "login")
    [c] = reg_json(ramp, "conflicts")
    assert (c["kind"], c["person_id"], c["status"]) == ("two-gates", pid, "open")
    here = ok(service.env.env | {"EVACOPS_USER": "admin"}, "registry", "conflicts").stdout
    assert ok(ramp, "registry", "conflicts").stdout == here and "two-gates" in here
    line = assert_user_error(
        evacops(
            "registry",
            "conflicts",
            "--resolve",
            str(c["id"]),
            "--resolution",
            "bogus",
            "--reason",
            "x",
            env=ramp,
        )
    )
    assert "--resolution bogus: use one of" in line
    done = reg_json(
        ramp,
        "conflicts",
        "--resolve",
        str(c["id"]),
        "--resolution",
        "confirmed",
        "--reason",
        "the same person at both gates",
    )
    assert done == {"conflict": c["id"], "resolution": "confirmed"}
    assert admin.conflicts(OPERATION) == []
    [closed] = admin.conflicts(OPERATION, status="resolved")
    assert closed["resolution"] == "confirmed" and closed["resolved_by"] == "manifest"
    assert [x["id"] for x in reg_json(ramp, "conflicts", "--status", "all")] == [c["id"]]


def test_admin_categories_through_the_service(service, tmp_path):
    """An admin away from the server host lists, adds and retires the operation's categories
    through the API (as the admin page does); a registrar is refused in one line."""
    admin = away(tmp_path, "admin", service.url)
    ok(admin, "login")
    added = reg_json(admin, "categories", "add", "p9", "--cohort", "At risk", "--priority", "2")
    assert added == {"category": "p9", "done": "added"}
    reg_json(admin, "categories", "retire", "p9")
    listed = {c["category"]: c for c in reg_json(admin, "categories")}
    assert listed["p9"]["retired"] and listed["p9"]["cohort"] == "At risk"
    on_server = {c["category"]: c for c in service.env.as_role("admin").categories(OPERATION)}
    assert on_server["p9"]["retired"] and on_server["p9"]["priority"] == 2
    line = assert_user_error(evacops("registry", "categories", "retire", "nosuch", env=admin))
    assert line == f"error: category nosuch: not a category of operation {OPERATION}"
    registrar = away(tmp_path, "registrar", service.url)
    ok(registrar, "login")
    line = assert_user_error(evacops("registry", "categories", env=registrar))
    assert "may not manage" in line and "ask an admin" in line


def test_cli_login_with_a_token_lifetime_capped_by_the_service(registry_env, tmp_path):
    """`evacops login --ttl`: a token that lasts that long, used or not; more than the
    service's EVACOPS_TOKEN_MAX_HOURS is refused in one line, and the saved log-in stays."""
    registry_env.as_role("gate")
    s = Service(registry_env, {"EVACOPS_TOKEN_MAX_HOURS": "4"})
    try:
        gate = away(tmp_path, "gate", s.url)
        done = json.loads(ok(gate, "login", "--ttl", "3h", "--json").stdout)
        saved = json.loads(Path(done["token_file"]).read_text())
        assert saved["expires_at"] == done["expires_at"] and done["idle_min"] == 180
        left = datetime.fromisoformat(done["expires_at"]) - datetime.now(UTC)
        assert timedelta(hours=2, minutes=55) < left <= timedelta(hours=3)
        line = assert_user_error(evacops("login", "--ttl", "5h", env=gate))
        assert line.startswith("error: --ttl 5h: from 1 to 240 minutes") and "TOKEN_MAX" in line
        assert json.loads(Path(done["token_file"]).read_text())["token"] == saved["token"]
        me = httpx.get(s.url + "/api/v1/me", headers={"Authorization": f"Bearer {saved['token']}"})
        assert me.json()["name"] == "gate"
    finally:
        s.stop()


def test_a_planner_attaches_a_plan_through_the_service(service, tmp_path):
    """`registry plan attach` and `plan show` away from the server host (they were missing from
    the client: an attribute error, not an answer); the call-forward and sorties go with it."""
    service.env.as_role("planner")
    planner = away(tmp_path, "planner", service.url)
    ok(planner, "login", "--json")
    folder = tmp_path / "shuttle-plan"
    ok(planner, "plan", "tests/scenarios/shuttle.yaml", "--out", folder, "--check", "0")
    got = json.loads(ok(planner, "registry", "plan", "attach", folder, "--json").stdout)
    assert got["name"] == "shuttle-plan" and got["departures_rows"] == 5
    shown = json.loads(ok(planner, "registry", "plan", "show", "--json").stdout)
    assert shown["name"] == "shuttle-plan" and shown["planned"] == 300


def test_a_planner_replans_the_operation_through_the_service(registry_env, tmp_path):
    """`evacops replan SCENARIO --operation OP` away from the server host: the service re-plans
    in its worker process (under `evacops serve`, not a test app) and the command follows it to
    the end; --adopt makes it the operation's plan."""
    import yaml
    from test_replan_registry import _scenario

    path = tmp_path / "registry-replan.yaml"
    path.write_text(yaml.safe_dump(_scenario()))
    registry_env.as_role("planner")
    s = Service(registry_env, {"EVACOPS_SCENARIO": str(path)})
    try:
        planner = away(tmp_path, "planner", s.url)
        ok(planner, "login", "--json")
        folder = tmp_path / "plan"
        ok(planner, "plan", path, "--out", folder, "--check", "0")
        today = datetime.now(UTC).date()
        ok(planner, "registry", "plan", "attach", folder, "--first-day", today.isoformat())
        at = f"{today.isoformat()}T04:00:00+00:00"
        r = ok(planner, "replan", path, "--operation", OPERATION, "--at", at, "--adopt", "--json")
        got = json.loads(r.stdout)
        assert got["status"] == "done" and got["requested_by"] == "planner", got
        assert got["at"] == at and got["adopted"] is True
        assert got["adopted_as"]["name"] == f"re-plan {got['id']}"
        shown = json.loads(ok(planner, "registry", "plan", "show", "--json").stdout)
        assert shown["name"] == f"re-plan {got['id']}"
        # SCENARIO is checked against the one the server draws (by its digest), and must exist
        other = tmp_path / "other.yaml"
        other.write_text(path.read_text() + "\n# another version\n")
        for scenario, says in ((other, "another scenario"), (tmp_path / "gone.yaml", "gone.yaml")):
            bad = evacops("replan", scenario, "--operation", OPERATION, "--at", at, env=planner)
            assert says in assert_user_error(bad)
    finally:
        s.stop()
