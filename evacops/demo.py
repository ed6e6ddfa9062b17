"""A demo operation: the Kabul scenario's sites and cohorts in a registry, generated people (never
real ones), one user per role, credentials, gate scans and a few flights flown.

:func:`build_demo` is what ``make demo`` serves and what the browser tests run against. Every step
goes through the registry's facade (:class:`~evacops.registry.service.Registry`) as the role that
would do it in an operation: the admin sets up, the registrar imports and issues credentials, the
gate scans people in, the manifest team builds manifests, boards, departs and receives flights.
Events are spread over the last days (registration two days ago, gate scans yesterday, flights
since), so the per-day views have something to show; credentials stay valid for weeks.

With a plan folder (``make demo`` passes the Kabul plan it has just made), the planner attaches
it as the operation's latest plan, its day 1 laid on the day the first demo flight left, so the
picture shows the plan next to what happened.

    python -m evacops.demo [--people 2000] [--folder out/demo | --database-url URL --key-file F]
                           [--plan out/kabul-2021] [--serve [--host 127.0.0.1] [--port 8000]]
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evacops.registry.store.tables import utcnow

if TYPE_CHECKING:
    from evacops.registry.service import Registry
    from evacops.registry.settings import RegistrySettings

__all__ = [
    "DEFAULT_SCENARIO",
    "OPERATION",
    "Demo",
    "DemoFlight",
    "build_demo",
    "demo_logins",
    "free_port",
    "run_demo",
    "served",
    "wait_for_http",
]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "kabul-2021.yaml"
OPERATION = "kabul-2021"
# the generator's categories (evacops.registry.generate.CATEGORIES) mapped to the Kabul
# scenario's cohorts, with a priority each (as in the README's registry tour)
KABUL_CATEGORIES: dict[str, tuple[str, float]] = {
    "citizen": ("US citizens", 5.0),
    "lpr": ("US citizens", 4.0),
    "siv": ("SIV and families", 3.0),
    "p1p2": ("Other at-risk Afghans", 1.0),
    "at-risk": ("Other at-risk Afghans", 1.0),
    # each nation flew its own lists; the demo puts its other foreigners on one of them
    "third-country": ("German nationals and staff", 4.0),
}
ORIGIN = "HKIA"
# (flight, destination, what happens to it): flown and received, in the air, boarding,
# manifested only
FLIGHTS: tuple[tuple[str, str, str], ...] = (
    ("RCH871", "Al Udeid", "arrived"),
    ("RCH825", "Ramstein", "arrived"),
    ("RCH402", "Al Udeid", "departed"),
    ("RCH117", "Ali Al Salem", "manifested"),
)
GATES = ("Abbey Gate", "East Gate", "North Gate", "South Gate")  # where the demo scans people in
CHECKED_IN_SHARE = 0.6  # of households, scanned in at a gate


@dataclass(frozen=True)
class DemoFlight:
    code: str
    destination: str
    status: str  # arrived, departed, manifested
    seats: int
    manifested: int
    boarded: int
    deplaned: int


@dataclass
class Demo:
    """What :func:`build_demo` made: where it is, who may log in, and what happened."""

    settings: RegistrySettings
    operation: str
    logins: dict[str, tuple[str, str]]  # role -> (user, password)
    people: int
    households: int
    credentials: int
    checked_in: int
    flights: list[DemoFlight] = field(default_factory=list)
    # payloads of credentials whose person is still only registered (not scanned anywhere):
    # for trying the gate page
    fresh_payloads: list[dict[str, Any]] = field(default_factory=list)
    # enrolled devices: {"id", "token", "site", "role", "label"} (tokens shown this once)
    devices: list[dict[str, str]] = field(default_factory=list)
    scenario: Path = DEFAULT_SCENARIO  # drawn on the operation picture (EVACOPS_SCENARIO)
    plan: dict[str, Any] | None = None  # the plan attached (services/plans.py), if one was given
    seconds: float = 0.0

    def login_lines(self) -> list[str]:
        return demo_logins(self.logins)


def demo_logins(logins: dict[str, tuple[str, str]]) -> list[str]:
    """One line per role: ``role  user / password``."""
    width = max(len(r) for r in logins)
    return [f"  {role:<{width}}  {user} / {pw}" for role, (user, pw) in logins.items()]


def _roles() -> list[str]:
    from evacops.registry.security import Role

    return [str(r) for r in Role]


def _scenario_sites(scenario: Path) -> dict[str, str]:
    from evacops.scenario import load

    return {s.name: str(s.kind) for s in load(scenario).sites}


def build_demo(
    database_url: str | None = None,
    key_file: str | Path | None = None,
    *,
    people: int = 2000,
    seed: int = 7,
    scenario: str | Path = DEFAULT_SCENARIO,
    passwords: dict[str, str] | None = None,
    dedup: bool = True,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    plan: str | Path | None = None,
) -> Demo:
    """Build a demo operation in a new registry.

    ``database_url`` and ``key_file`` default to a new temporary folder (the caller removes it);
    the database must be empty. ``passwords`` (role -> password) default to random ones, printed
    by the caller. ``now`` is the moment the demo ends (default: now); the events lie in the two
    days before it. ``plan``: a plan folder (``evacops plan --out``) the planner attaches."""
    import time

    from evacops.registry.settings import RegistrySettings

    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    if database_url is None or key_file is None:
        folder = Path(tempfile.mkdtemp(prefix="evacops-demo-"))
        database_url = database_url or f"sqlite:///{folder / 'demo.db'}"
        key_file = key_file or folder / "keys" / "master.key"
    settings = RegistrySettings(database_url=database_url, key_file=Path(key_file))
    roles = _roles()
    pw = {r: (passwords or {}).get(r) or secrets.token_urlsafe(9) for r in roles}
    logins = {r: (r, pw[r]) for r in roles}
    end = now or utcnow()

    say("registry and operation")
    view = _set_up(settings, pw, Path(scenario), end - timedelta(days=2, hours=6))
    admin, engine = view["admin"], view["admin"].engine

    say(f"{people:,} generated people")
    reg = view["registrar"]
    _at(reg, end - timedelta(days=2))
    imported = _import(reg, people, seed)
    if dedup:
        reg.run_dedup(OPERATION)
    issued = reg.issue_credentials(OPERATION)

    say("gate scans")
    gate = view["gate"]
    _at(gate, end - timedelta(days=1, hours=12))
    checked = _gate_in(gate, issued)

    say("flights")
    flights = _fly(admin, view["manifest"], issued, checked, end)
    devices = _enrol_devices(admin)
    attached = _attach_plan(view["planner"], Path(plan)) if plan is not None else None
    if attached is not None:
        say(f"plan {attached['name']} attached, day 1 = {attached['first_day']}")
    fresh_ids = {c["person_id"] for c in issued} - set(checked)
    fresh = [c for c in issued if c["person_id"] in fresh_ids][:50]
    engine.dispose()
    return Demo(
        settings=settings,
        operation=OPERATION,
        logins=logins,
        people=imported.imported,
        households=imported.households,
        credentials=len(issued),
        checked_in=len(checked),
        flights=flights,
        fresh_payloads=fresh,
        devices=devices,
        scenario=Path(scenario).resolve(),
        plan=attached,
        seconds=time.perf_counter() - t0,
    )


def _set_up(
    settings: RegistrySettings, pw: dict[str, str], scenario: Path, start: datetime
) -> dict[str, Registry]:
    """The registry, the operation with the scenario's sites, a user per role: role -> view."""
    from evacops.errors import UserError
    from evacops.registry import init_registry, open_registry

    if not init_registry(settings, admin="admin", password=pw["admin"])["admin_created"]:
        raise UserError(
            f"{settings.database_url.split('@')[-1]}: has users already; the demo needs an "
            "empty database (or a folder of its own)"
        )
    admin = open_registry(settings, "admin", pw["admin"])
    _at(admin, start)
    admin.create_operation(
        OPERATION,
        name="Kabul 2021 (demo)",
        categories=KABUL_CATEGORIES,
        sites_=_scenario_sites(scenario),
        origin_site=ORIGIN,
    )
    for r in pw:
        if r != "admin":
            admin.add_user(r, r, pw[r])
    return {
        r: admin if r == "admin" else open_registry(settings, r, pw[r], engine=admin.engine)
        for r in pw
    }


def _attach_plan(planner: Registry, folder: Path) -> dict[str, Any]:
    """The planner attaches the plan, its day 1 on the day the first demo flight left."""
    from datetime import date

    from evacops.planfolder import plan_outline

    outline = plan_outline(folder)
    out_days = planner.report(OPERATION)["out_per_day"]
    first = date.fromisoformat(min(out_days)) if out_days else None
    return planner.attach_plan(OPERATION, outline, first_day=first)


def _enrol_devices(admin: Registry) -> list[dict[str, str]]:
    """A gate phone at each of the gates the demo scans at, and a ramp tablet at the airport."""
    out = []
    for site, role, label in [
        *((g, "gate", f"{g} phone") for g in GATES),
        (ORIGIN, "manifest", f"{ORIGIN} ramp tablet"),
    ]:
        dev, token = admin.enrol_device(OPERATION, site, role, label)
        out.append({"id": dev, "token": token, "site": site, "role": role, "label": label})
    return out


def _at(reg: Registry, start: datetime, step: timedelta = timedelta(seconds=2)) -> None:
    """Give ``reg`` a clock that starts at ``start`` and moves ``step`` per reading."""
    state = {"t": start}

    def clock() -> datetime:
        state["t"] += step
        return state["t"]

    reg.clock = clock


def _import(reg: Registry, n: int, seed: int) -> Any:
    from evacops.registry.generate import write_registrations_csv

    with tempfile.TemporaryDirectory(prefix="evacops-demo-") as tmp:
        path = write_registrations_csv(Path(tmp) / "demo-registrations.csv", n, seed)
        return reg.import_file(OPERATION, path)


def _households(issued: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_hh: dict[str, list[dict[str, Any]]] = {}
    for c in issued:
        by_hh.setdefault(c["household_id"] or c["person_id"], []).append(c)
    return by_hh


def _gate_in(gate: Registry, issued: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Scan whole households in at the Kabul gates: person -> payload of those checked in."""
    gates = GATES
    by_hh = _households(issued)
    keep = sorted(by_hh)[: round(len(by_hh) * CHECKED_IN_SHARE)]
    checked: dict[str, str] = {}
    for i, hh in enumerate(keep):
        for c in by_hh[hh]:
            gate.scan(OPERATION, c["payload"], "gate-in", site=gates[i % len(gates)])
            checked[c["person_id"]] = c["payload"]
    return checked


def _fly(
    admin: Registry,
    mf: Registry,
    issued: Sequence[dict[str, Any]],
    checked: dict[str, str],
    end: datetime,
) -> list[DemoFlight]:
    """Schedule the demo flights, manifest each from the people checked in, and take each as far
    as its status in :data:`FLIGHTS`."""
    seats = max(8, len(checked) // (len(FLIGHTS) + 1))
    out = []
    for i, (code, dest, status) in enumerate(FLIGHTS):
        start = end - timedelta(hours=30 - 8 * i)
        _at(admin, start)
        _at(mf, start + timedelta(minutes=5))
        admin.add_flight(
            OPERATION,
            code,
            origin=ORIGIN,
            destination=dest,
            seats=seats,
            departs_at=start + timedelta(hours=3),
        )
        m = mf.build_manifest(OPERATION, code)
        on = [e["person_id"] for e in m["entries"]]
        boarded = deplaned = 0
        if status in ("arrived", "departed"):
            for pid in on:
                mf.scan(OPERATION, checked[pid], "board", flight=code)
            boarded = len(on)
            mf.depart(OPERATION, code)
        if status == "arrived":
            _at(mf, start + timedelta(hours=7))
            for pid in on:
                mf.scan(OPERATION, checked[pid], "deplane", flight=code)
            deplaned = len(on)
            mf.arrive(OPERATION, code)
        out.append(DemoFlight(code, dest, status, seats, len(on), boarded, deplaned))
    return out


def run_demo(
    *,
    people: int = 2000,
    seed: int = 7,
    folder: str | Path | None = None,
    database_url: str | None = None,
    key_file: str | Path | None = None,
    serve_on: tuple[str, int] | None = None,
    echo: Callable[[str], None] = print,
    plan: str | Path | None = None,
) -> Demo:
    """Build a demo (in ``folder``, its earlier demo replaced, or in the database given), print
    where it is and the logins; with ``serve_on=(host, port)``, then become ``evacops serve``."""
    url, key = database_url, key_file
    if folder is not None:
        url, key = _fresh_folder(Path(folder), url, key)
    demo = build_demo(
        url, key, people=people, seed=seed, plan=plan, progress=lambda m: echo(f"demo: {m}")
    )
    echo(describe(demo))
    if serve_on:
        serve(demo, *serve_on, echo=echo)
    return demo


def main(argv: Sequence[str] | None = None) -> None:
    """Build a demo operation, print where it is and the logins; with --serve, serve it."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m evacops.demo", description=main.__doc__)
    p.add_argument("--people", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--folder", help="build in this folder (its demo database and key replaced)")
    p.add_argument("--database-url", help="an empty database (default: a SQLite file)")
    p.add_argument("--key-file")
    p.add_argument("--plan", help="a plan folder (evacops plan --out) to attach as the latest")
    p.add_argument("--serve", action="store_true", help="then run `evacops serve` on it")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    a = p.parse_args(argv)
    run_demo(
        people=a.people,
        seed=a.seed,
        folder=a.folder,
        database_url=a.database_url,
        key_file=a.key_file,
        serve_on=(a.host, a.port) if a.serve else None,
        echo=lambda line: print(line, flush=True),
        plan=a.plan,
    )


def _fresh_folder(folder: Path, url: str | None, key: str | Path | None) -> tuple[str, str | Path]:
    """The demo's database and key in ``folder`` (mode 0700), any earlier demo's removed. A
    folder that holds anything else and was not made by a demo is refused (nothing removed)."""
    import shutil

    from evacops.errors import UserError

    marker = folder / ".evacops-demo"
    if folder.is_dir() and any(folder.iterdir()) and not marker.exists():
        raise UserError(
            "not empty and not a demo folder; give a new or empty folder",
            field="folder",
            value=str(folder),
        )
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    marker.touch()
    for old in folder.glob("demo.db*"):
        old.unlink()
    # the master key and the operations' key-encryption keys beside it
    shutil.rmtree(folder / "keys", ignore_errors=True)
    return url or f"sqlite:///{folder.resolve() / 'demo.db'}", key or str(
        folder.resolve() / "keys" / "master.key"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, proc: Any = None, timeout_s: float = 60.0) -> None:
    """Wait until ``url`` answers with any HTTP status; RuntimeError if ``proc`` (a Popen) ends
    first or nothing answers within ``timeout_s``."""
    import time
    import urllib.error
    import urllib.request

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


@contextmanager
def served(
    demo: Demo,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    log: str | Path | None = None,
    extra_args: Sequence[str] = (),
    timeout_s: float = 90.0,
    on_start: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """Run ``evacops serve`` over ``demo`` in a child process until the block ends; yields its
    base URL once it answers. Its output goes to ``log`` (default: discarded); ``on_start`` is
    told the server's process id (a benchmark measures its CPU time)."""
    import subprocess
    import sys

    port = port or free_port(host)
    env = _server_env(demo)
    cmd = [sys.executable, "-m", "evacops.cli", "serve", "--host", host, "--port", str(port)]
    logfile = open(log, "wb") if log else None  # noqa: SIM115 (closed below)
    out = logfile if logfile is not None else subprocess.DEVNULL
    proc = subprocess.Popen([*cmd, *extra_args], cwd=ROOT, env=env, stdout=out, stderr=out)
    url = f"http://{host}:{port}"
    try:
        wait_for_http(url + "/", proc, timeout_s)
        if on_start is not None:
            on_start(proc.pid)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if logfile is not None:
            logfile.close()


def serve(demo: Demo, host: str, port: int, echo: Callable[[str], None] = print) -> None:
    """Run ``evacops serve`` over the demo's database and key until Ctrl-C; print the URL and
    the logins once it answers."""
    import signal
    import subprocess
    import sys

    from evacops.errors import UserError

    try:
        import evacops.web  # noqa: F401
    except ImportError:
        raise UserError("evacops serve (evacops.web) is not in this installation") from None
    url = f"http://{host}:{port}"
    cmd = [sys.executable, "-m", "evacops.cli", "serve", "--host", host, "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_server_env(demo))
    try:
        wait_for_http(url + "/", proc, 120)
        echo(f"\nThe demo is served on {url}  (Ctrl-C stops it). Log in as:")
        echo("\n".join(demo.login_lines()))
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
    except RuntimeError as exc:
        raise UserError(f"evacops serve: {exc}") from None
    finally:
        if proc.poll() is None:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _server_env(demo: Demo) -> dict[str, str]:
    import os

    return {
        **os.environ,
        "EVACOPS_DATABASE_URL": demo.settings.database_url,
        "EVACOPS_KEY_FILE": str(demo.settings.key_file),
        "EVACOPS_SCENARIO": str(demo.scenario),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }


def describe(demo: Demo) -> str:
    """What a person starting the demo needs: the database, the key file, the logins."""
    lines = [
        f"Demo operation {demo.operation}: {demo.people:,} generated people in "
        f"{demo.households:,} households, {demo.checked_in:,} checked in, "
        f"{len(demo.flights)} flights (built in {demo.seconds:.0f} s)",
        f"  EVACOPS_DATABASE_URL={demo.settings.database_url}",
        f"  EVACOPS_KEY_FILE={demo.settings.key_file}",
        "Demo logins (one per role):",
        *demo.login_lines(),
    ]
    if demo.devices:
        lines.append("Device tokens (for the API; shown this once):")
        lines += [f"  {d['label']:<20} {d['role']:<8} {d['token']}" for d in demo.devices]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
