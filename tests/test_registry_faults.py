"""A crash (kill -9) during an import or a stream of scans loses no acknowledged event and leaves
no partial state (docs/registry.md, "Concurrency and durability"), on SQLite and on PostgreSQL.

A driver process (tests/registry_drivers/) does the work through the service layer and is sent
SIGKILL part-way; this process then looks at what is in the database. The kill times are random
(the seed is in every failure message; EVACOPS_FAULT_SEED=N replays it), so over many runs the
kill lands in every phase.

People are generated (evacops.registry.generate): never real personal data, and nothing here
prints a name, a date or a document.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import assert_projection_is_the_log
from sqlalchemy import create_engine, func, make_url, select, text

from evacops.errors import RegistryError
from evacops.registry import events as ev
from evacops.registry.store.tables import (
    audit,
    credentials,
    events,
    flights,
    households,
    person_keys,
    persons,
)

HERE = Path(__file__).parent
ROOT = HERE.parent
DRIVERS = HERE / "registry_drivers"
OP = "test-op"
IMPORT_ROWS = 2500  # the replay check (events.rebuild, one statement per event) bounds this
SCAN_PEOPLE = 400


# ---------------------------------------------------------------- helpers
def kill_seed() -> int:
    """The seed of a test's kill times: EVACOPS_FAULT_SEED to replay a failure, else random."""
    return int(os.environ.get("EVACOPS_FAULT_SEED") or random.randrange(2**32))


def write_registrations(path: Path, n: int, seed: int) -> Path:
    """A generated registration file (the import format)."""
    from evacops.registry.generate import write_registrations_csv

    return write_registrations_csv(path, n, seed=seed)


class Driver:
    """A driver script in its own process; its stdout lines arrive in a queue (a thread reads
    them, so waiting for one can time out)."""

    def __init__(self, script: str, args: list[str], env: dict[str, str], user: str, stdin=None):
        full_env = {
            **os.environ,
            **env,
            "EVACOPS_USER": user,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
        # on PostgreSQL its connections carry a name of their own (see kill)
        self.url, self.app = env.get("EVACOPS_DATABASE_URL", ""), ""
        if self.url.startswith("postgresql"):
            self.app = "evacops-fault-" + os.urandom(6).hex()
            named = make_url(self.url).update_query_dict({"application_name": self.app})
            full_env["EVACOPS_DATABASE_URL"] = named.render_as_string(hide_password=False)
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVERS / script), *args],
            cwd=ROOT,
            env=full_env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []  # complete lines only (a line cut by the kill is dropped)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.endswith("\n"):
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, predicate, timeout: float = 120) -> str | None:
        """Lines until one satisfies ``predicate`` (returned); None if the process ended first."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError(f"driver: no expected line in {timeout} s: {self.seen[-3:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                return None
            self.seen.append(line)
            if predicate(line):
                return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._server_done()

    def _server_done(self, timeout: float = 30.0) -> None:
        """On PostgreSQL, wait until the server has ended the killed process's sessions: a
        COMMIT it had sent may still be applied after the kill, and a test that reads the
        tables meanwhile (one count at a time) could see half of it."""
        if not self.app:
            return
        engine = create_engine(self.url)
        try:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                with engine.connect() as conn:
                    left = conn.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                        {"a": self.app},
                    ).scalar_one()
                if left == 0:
                    return
                time.sleep(0.05)
            raise AssertionError(f"the server kept a killed driver's session for {timeout} s")
        finally:
            engine.dispose()

    def finish(self) -> list[str]:
        """Every complete line the process wrote (after it ended)."""
        self.proc.wait(timeout=120)
        while True:
            line = self.lines.get(timeout=30)
            if line is None:
                return self.seen
            self.seen.append(line)

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.stderr else ""


def projection(conn) -> dict[str, object]:
    """Every projection table as plain values: persons, credentials, flight status, blind keys."""
    return {
        "persons": ev.snapshot(conn),
        "credentials": {r["id"]: dict(r) for r in conn.execute(select(credentials)).mappings()},
        "flights": dict(conn.execute(select(flights.c.id, flights.c.status)).all()),
        "person_keys": sorted(
            conn.execute(select(person_keys.c.person_id, person_keys.c.bidx)).all()
        ),
    }


def assert_projection_is_replay(engine) -> None:
    """The projection equals the reference worked out from the log, and a replay of every event
    from nothing (in a transaction that is rolled back, so the database is left as it was)."""
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            assert_projection_is_the_log(conn)  # an independent reference (conftest)
            now = projection(conn)
            ev.rebuild(conn)
            replayed = projection(conn)
        finally:
            tx.rollback()
    for table in now:
        a, b = now[table], replayed[table]
        if isinstance(a, dict):
            bad = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            assert not bad, f"{table}: {len(bad)} rows differ from a replay, e.g. {bad[:3]}"
        else:
            assert a == b, f"{table}: differs from a replay"


def assert_sound(reg, backend: str) -> None:
    """Audit chain verifies, projection is a replay, and SQLite's file is intact."""
    v = reg.audit_verify()
    assert v.ok, v.problem
    assert_projection_is_replay(reg.engine)
    if backend == "sqlite":
        with reg.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def count(conn, table, *where) -> int:
    return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


# ---------------------------------------------------------------- import
@pytest.fixture(scope="module")
def import_file(tmp_path_factory) -> Path:
    return write_registrations(
        tmp_path_factory.mktemp("faults") / "registrations.csv", IMPORT_ROWS, seed=11
    )


def import_state(reg, digest: str) -> dict[str, int]:
    with reg.engine.connect() as conn:
        return {
            "events": count(conn, events, events.c.idempotency_key.like(f"import:{digest[:40]}:%")),
            "all_events": count(conn, events),
            "persons": count(conn, persons),
            "households": count(conn, households),
            "person_keys": count(conn, person_keys),
            "audit_imports": count(conn, audit, audit.c.action == "import"),
        }


def test_kill_during_import_leaves_all_or_nothing(registry_env, backend, import_file):
    seed = kill_seed()
    rng = random.Random(seed)
    registrar = registry_env.as_role("registrar")
    admin = registry_env.as_role("admin")
    digest = hashlib.sha256(import_file.read_bytes()).hexdigest()
    before = import_state(registrar, digest)
    assert before["events"] == 0

    d = Driver("import_file.py", [str(import_file)], registry_env.env, "registrar")
    assert d.wait_for(lambda line: line == "start") == "start", d.stderr()
    # Kill while the import writes: after the first INSERT into a table picked at random (the
    # events, the persons projection, the blind keys, or the audit entry just before the commit),
    # then a random 0-0.3 s more. Over many runs every phase is hit, the commit included.
    phase = rng.choice(["events", "persons", "person_keys", "audit"])
    if d.wait_for(lambda line: line == f"writing {phase}") is None:
        pytest.fail(f"import ended before writing {phase}: {d.stderr()[-500:]}")
    time.sleep(rng.uniform(0.0, 0.3))
    d.kill()
    lines = d.finish()
    acknowledged = any(line.startswith("done") for line in lines)

    after = import_state(registrar, digest)
    msg = f"(seed {seed}, driver said {lines[-2:]})"
    committed = after["events"] == IMPORT_ROWS
    print(f"killed after 'writing {phase}': {'committed' if committed else 'rolled back'} {msg}")
    assert after["events"] in (0, IMPORT_ROWS), f"partial import: {after['events']} rows {msg}"
    if acknowledged:
        assert committed, f"an acknowledged import was lost {msg}"
    if committed:
        assert after["persons"] - before["persons"] == IMPORT_ROWS, msg
        assert after["households"] > before["households"], msg
        assert after["audit_imports"] == before["audit_imports"] + 1, msg
    else:
        assert after == before, f"a killed import left rows behind {msg}"
    assert_sound(admin, backend)

    # the file again: refused if the first import committed, imported whole if it did not
    if committed:
        with pytest.raises(RegistryError, match="imported already"):
            registrar.import_file(OP, import_file)
    else:
        assert registrar.import_file(OP, import_file).imported == IMPORT_ROWS
    final = import_state(registrar, digest)
    assert final["events"] == IMPORT_ROWS
    assert final["persons"] - before["persons"] == IMPORT_ROWS
    assert final["audit_imports"] == before["audit_imports"] + 1
    assert_sound(admin, backend)


# ---------------------------------------------------------------- scans
@pytest.fixture
def scan_setup(registry_env, tmp_path):
    """SCAN_PEOPLE people with credentials; a plan of a gate-in for each, then roll-calls (so
    the stream lasts longer than any kill delay)."""
    registrar = registry_env.as_role("registrar")
    registry_env.as_role("gate")
    path = write_registrations(tmp_path / "people.csv", SCAN_PEOPLE, seed=12)
    registrar.import_file(OP, path)
    issued = registrar.issue_credentials(OP)
    plan = [
        {"payload": c["payload"], "action": "gate-in", "site": "Gate A", "scan_id": f"in-{i}"}
        for i, c in enumerate(issued)
    ]
    plan += [
        {
            "payload": issued[k % len(issued)]["payload"],
            "action": "roll-call",
            "site": "Gate B",
            "scan_id": f"rc-{k}",
        }
        for k in range(20 * len(issued))
    ]
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    return plan, plan_file


def test_kill_during_scans_loses_no_acknowledged_scan(registry_env, backend, scan_setup):
    plan, plan_file = scan_setup
    seed = kill_seed()
    rng = random.Random(seed)
    gate = registry_env.as_role("gate")
    admin = registry_env.as_role("admin")

    d = Driver("scan_stream.py", [str(plan_file)], registry_env.env, "gate")
    assert d.wait_for(lambda line: '"ready"' in line) is not None, d.stderr()
    assert d.wait_for(lambda line: '"event"' in line) is not None, d.stderr()
    time.sleep(rng.uniform(0.2, 1.5))
    d.kill()
    acks = [json.loads(line) for line in d.finish() if '"i"' in line]
    msg = f"(seed {seed}, {len(acks)} scans acknowledged)"
    assert acks, msg
    assert all("event" in a for a in acks), f"a scan was refused: {acks[-1]} {msg}"
    assert [a["i"] for a in acks] == list(range(len(acks))), msg

    with admin.engine.connect() as conn:
        rows = {
            r.idempotency_key: r
            for r in conn.execute(
                select(
                    events.c.seq, events.c.type, events.c.person_id, events.c.idempotency_key
                ).where(events.c.type.in_(("gate-in", "roll-call")))
            )
        }
        # every acknowledged scan is there, as it was acknowledged
        for a in acks:
            s = plan[a["i"]]
            row = rows.get("scan:" + s["scan_id"])
            assert row is not None, f"acknowledged scan {a['i']} lost {msg}"
            assert (row.seq, row.type, row.person_id) == (a["event"], s["action"], a["person_id"])
        # at most the one scan in flight at the kill is there unacknowledged
        assert len(acks) <= len(rows) <= len(acks) + 1, f"{len(rows)} scan events {msg}"
        # no event without its projection: each person's last event is their newest event
        newest = dict(
            conn.execute(
                select(events.c.person_id, func.max(events.c.seq))
                .where(
                    events.c.person_id.is_not(None),
                    events.c.type.not_in((ev.CREDENTIAL_ISSUED, ev.CREDENTIAL_REVOKED)),
                )
                .group_by(events.c.person_id)
            ).all()
        )
        last = dict(conn.execute(select(persons.c.id, persons.c.last_event)).all())
        assert last == newest, msg
        checked_in = count(conn, persons, persons.c.status == "checked-in")
        gate_ins = sum(1 for k in rows if k.startswith("scan:in-"))
        assert checked_in == gate_ins, msg
        # one audit entry per scan, written with it
        assert count(conn, audit, audit.c.action == "scan") == len(rows), msg
    assert_sound(admin, backend)

    # the gate sends its last scans again after the crash: the same events, not new ones
    resend = len(acks) + 2
    for i, s in enumerate(plan[:resend]):
        r = gate.scan(OP, s["payload"], s["action"], site=s["site"], scan_id=s["scan_id"])
        if i < len(acks):
            assert r["duplicate"] and r["event"] == acks[i]["event"], msg
        else:
            assert r["duplicate"] == (("scan:" + s["scan_id"]) in rows), msg
    with admin.engine.connect() as conn:
        n = count(conn, events, events.c.type.in_(("gate-in", "roll-call")))
    assert n == max(len(rows), resend), msg
    assert_sound(admin, backend)
