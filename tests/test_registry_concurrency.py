"""Concurrent scans from several gates never give the last seat twice, and the same scan received
by two gates is one event: on SQLite and on PostgreSQL.

Each gate is its own process with its own Registry and engine (tests/registry_drivers/
scan_stream.py); the gates are started together (each waits for a line on stdin). People are
generated (evacops.registry.generate): never real personal data.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import defaultdict

import pytest
from sqlalchemy import select, text
from test_registry_faults import Driver, assert_sound, count, write_registrations

from evacops.registry.store.tables import events, flights, persons, seat_claims

OP = "test-op"
GATES = 4
SEATS = 5
WANTING = 12  # more people at the gate than seats


# ---------------------------------------------------------------- helpers
def run_gates(registry_env, tmp_path, plans, user, *, hold=None):
    """Run one gate process per plan, all started at once; their responses, by gate.

    ``hold`` (a context manager) is entered before the gates start and left once they are all
    waiting on it, so every gate is in the middle of its scan when the others go on."""
    drivers = []
    for g, plan in enumerate(plans):
        f = tmp_path / f"gate-{g}.json"
        f.write_text(json.dumps(plan))
        drivers.append(
            Driver(
                "scan_stream.py",
                [str(f), "--wait-go"],
                registry_env.env,
                user,
                stdin=subprocess.PIPE,
            )
        )
    try:
        for d in drivers:
            assert d.wait_for(lambda line: '"ready"' in line) is not None, d.stderr()
        if hold is None:
            for d in drivers:
                d.proc.stdin.write("go\n")
                d.proc.stdin.close()
        else:
            with hold(len(drivers)) as wait:
                for d in drivers:
                    d.proc.stdin.write("go\n")
                    d.proc.stdin.close()
                wait()
        out = []
        for d in drivers:
            lines = d.finish()
            assert d.proc.returncode == 0, d.stderr()
            out.append([json.loads(line) for line in lines if '"i"' in line])
    finally:
        for d in drivers:
            d.kill()
    bugs = [r for rs in out for r in rs if "bug" in r]
    assert not bugs, f"not a one-line refusal: {bugs[0]}"
    return out


def by_scan(plans, responses):
    """scan key -> every gate's response to it."""
    got = defaultdict(list)
    for plan, rs in zip(plans, responses, strict=True):
        assert len(rs) == len(plan)
        for r in rs:
            got[plan[r["i"]]["key"]].append(r)
    return got


def outcome(r: dict) -> tuple:
    """What a gate was told, minus whether it was the first to say it."""
    return ("event", r["event"], r["seat"]) if "event" in r else ("refused", r["message"])


def board_state(engine, code: str):
    with engine.connect() as conn:
        fid = conn.execute(select(flights.c.id).where(flights.c.code == code)).scalar_one()
        boards = conn.execute(
            select(events.c.seq, events.c.person_id, events.c.idempotency_key).where(
                events.c.type == "board", events.c.flight_id == fid
            )
        ).all()
        claims = conn.execute(
            select(seat_claims.c.seat_no, seat_claims.c.lap_no, seat_claims.c.person_id).where(
                seat_claims.c.flight_id == fid
            )
        ).all()
        boarded = count(conn, persons, persons.c.flight_id == fid, persons.c.status == "boarded")
    return boards, claims, boarded


@pytest.fixture
def checked_in(registry_env, tmp_path):
    """WANTING people (no infant: an infant takes a lap place, not a seat) with credentials,
    checked in at Gate A; flight EVC1 with SEATS seats, its manifest built from them."""
    registrar = registry_env.as_role("registrar")
    gate = registry_env.as_role("gate")
    manifest = registry_env.as_role("manifest")
    registrar.import_file(OP, write_registrations(tmp_path / "people.csv", 30, seed=21))
    issued = registrar.issue_credentials(OP)
    with registrar.engine.connect() as conn:
        seated = set(
            conn.execute(select(persons.c.id).where(persons.c.age_group != "infant")).scalars()
        )
    chosen = [c for c in issued if c["person_id"] in seated][:WANTING]
    assert len(chosen) == WANTING
    for c in chosen:
        gate.scan(OP, c["payload"], "gate-in", site="Gate A")
    manifest.add_flight(OP, "EVC1", origin="HKIA", destination="Al Udeid", seats=SEATS)
    manifest.build_manifest(OP, "EVC1")  # takes whom it can; the others board on an override
    return chosen


def board(c: dict, scan_id: str) -> dict:
    return {
        "payload": c["payload"],
        "action": "board",
        "flight": "EVC1",
        "scan_id": scan_id,
        "override": "test: more people than seats",
        "key": scan_id,
    }


# ---------------------------------------------------------------- the last seat
def test_last_seat_is_never_given_twice(registry_env, backend, checked_in, tmp_path):
    rng = random.Random(5)
    scans = [board(c, f"board-{i}") for i, c in enumerate(checked_in)]
    # every scan is sent by two gates (a gate's scanner retrying on another gate's link)
    plans = [
        [s for i, s in enumerate(scans) if i % GATES in (g, (g + 1) % GATES)] for g in range(GATES)
    ]
    for p in plans:
        rng.shuffle(p)
    responses = run_gates(registry_env, tmp_path, plans, "manifest")

    boards, claims, boarded = board_state(registry_env.as_role("admin").engine, "EVC1")
    assert len(boards) == SEATS
    assert boarded == SEATS
    assert sorted(c.seat_no for c in claims) == list(range(1, SEATS + 1))
    assert all(c.lap_no is None for c in claims)
    assert len({c.person_id for c in claims}) == SEATS
    keys = {b.idempotency_key: b for b in boards}
    refused = 0
    for key, rs in by_scan(plans, responses).items():
        assert len(rs) == 2
        assert outcome(rs[0]) == outcome(rs[1]), f"{key}: two gates were told different things"
        if "scan:" + key in keys:
            assert rs[0]["event"] == keys["scan:" + key].seq
            assert sorted(r["duplicate"] for r in rs) == [False, True]
        else:
            refused += 1
            assert rs[0]["error"] == "RegistryError"
            assert rs[0]["message"] == f"flight EVC1: all {SEATS} seats are taken"
    assert refused == WANTING - SEATS
    assert_sound(registry_env.as_role("admin"), backend)


# ---------------------------------------------------------------- duplicate scans
def test_same_scan_from_several_gates_is_one_event(registry_env, backend, tmp_path):
    registrar = registry_env.as_role("registrar")
    registry_env.as_role("gate")
    registrar.import_file(OP, write_registrations(tmp_path / "people.csv", 24, seed=22))
    issued = registrar.issue_credentials(OP)
    # half with a scan id; half without (then the payload, action, site and flight are the key)
    scans = []
    for i, c in enumerate(issued):
        s = {"payload": c["payload"], "action": "gate-in", "site": "Gate A", "key": f"in-{i}"}
        if i % 2 == 0:
            s["scan_id"] = s["key"]
        scans.append(s)
    rng = random.Random(6)
    plans = [rng.sample(scans, len(scans)) for _ in range(GATES)]
    responses = run_gates(registry_env, tmp_path, plans, "gate")

    got = by_scan(plans, responses)
    assert len(got) == len(scans)
    for key, rs in got.items():
        assert len(rs) == GATES
        assert all("event" in r for r in rs), f"{key}: refused {rs}"
        assert len({r["event"] for r in rs}) == 1, f"{key}: more than one event"
        assert sorted(r["duplicate"] for r in rs) == [False] + [True] * (GATES - 1)
    with registrar.engine.connect() as conn:
        assert count(conn, events, events.c.type == "gate-in") == len(scans)
        assert count(conn, persons, persons.c.status == "checked-in") == len(scans)
    assert_sound(registry_env.as_role("admin"), backend)


# ---------------------------------------------------------------- gates queued on the flight
class FlightHeld:
    """Hold the write lock a boarding scan needs (SQLite: the database's write lock; PostgreSQL:
    the flight's row) while the gates start, so they all queue on it in mid-scan; let go once
    they all wait."""

    def __init__(self, engine, code: str):
        self.engine, self.code = engine, code

    def __call__(self, gates: int):
        self.gates = gates
        return self

    def __enter__(self):
        self.conn = self.engine.connect()
        self.tx = self.conn.begin()  # SQLite: BEGIN IMMEDIATE (db.make_engine)
        if self.engine.dialect.name == "postgresql":
            self.conn.execute(
                select(flights.c.id).where(flights.c.code == self.code).with_for_update()
            )
        return self._wait

    def _wait(self) -> None:
        if self.engine.dialect.name != "postgresql":
            time.sleep(1.0)  # a SQLite writer waits in its busy handler; nothing to observe
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self.engine.connect() as c:
                waiting = c.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            if waiting >= self.gates:
                return
            time.sleep(0.05)
        raise AssertionError(f"only {waiting} of {self.gates} gates queued on the flight")

    def __exit__(self, *exc):
        self.tx.rollback()
        self.conn.close()


@pytest.mark.parametrize("race", ["one-scan-last-seat", "one-person-two-scans"])
def test_gates_queued_on_the_flight(registry_env, backend, checked_in, tmp_path, race):
    """Two gates wait on the flight at once (the flight is held until both are in mid-scan).

    one-scan-last-seat: the same scan for the one seat left, from two gates: one event, and both
    gates are told that event. one-person-two-scans: one credential under two scan ids, seats
    left: one boarding, the other a one-line refusal (the credential is single use)."""
    manifest = registry_env.as_role("manifest")
    seats = 1 if race == "one-scan-last-seat" else 2
    manifest.add_flight(OP, "EVC2", origin="HKIA", destination="Ramstein", seats=seats)
    one = checked_in[0]
    keys = ["b-one", "b-one"] if race == "one-scan-last-seat" else ["b-one", "b-one-again"]
    plans = [[{**board(one, k), "flight": "EVC2"}] for k in keys]
    hold = FlightHeld(manifest.engine, "EVC2")
    (a,), (b,) = run_gates(registry_env, tmp_path, plans, "manifest", hold=hold)

    boards, claims, boarded = board_state(manifest.engine, "EVC2")
    assert len(boards) == 1 and boarded == 1
    assert [(c.seat_no, c.person_id) for c in claims] == [(1, one["person_id"])]
    if race == "one-scan-last-seat":
        assert "event" in a and "event" in b, f"one scan, two answers: {a} / {b}"
        assert a["event"] == b["event"] == boards[0].seq
        assert sorted((a["duplicate"], b["duplicate"])) == [False, True]
    else:
        done, refused = (a, b) if "event" in a else (b, a)
        assert done["event"] == boards[0].seq and not done["duplicate"]
        assert refused.get("error") == "CredentialError", refused
        assert "used for boarding already" in refused["message"]
        assert "\n" not in refused["message"]
    assert_sound(registry_env.as_role("admin"), backend)
