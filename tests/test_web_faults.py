"""``evacops serve`` killed with SIGKILL while several gate devices stream scans to it (SQLite,
and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set): no acknowledged scan is lost, and the
devices' retries after the restart create no duplicates (docs/service.md, "Offline sync").

Each device is a thread with its own HTTP connection doing what a phone's outbox does: it sends
its scans in order, a few at a time, through ``POST .../devices/{device}/scans`` with its token,
and keeps a batch until the server answers it; when the connection drops it sends the same batch
again. The server is a real ``evacops serve`` subprocess; it is sent SIGKILL once a random number
of scans (the seed is in every failure message; EVACOPS_FAULT_SEED=N replays it) has been
acknowledged, and started again on the same database and port. After the stream each device
sends a few acknowledged scans once more. Then the database is read directly.

People are generated (evacops.registry.generate): never real personal data.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from conftest import OPERATION, assert_projection_is_the_log
from sqlalchemy import func, select

from evacops.registry.store.tables import audit, device_scans, events, persons

ROOT = Path(__file__).resolve().parent.parent
GATES = ("Gate A", "Gate B", "Gate C", "Gate D")
SCANS_PER_DEVICE = 40
RESENT = 4  # acknowledged scans each device sends again at the end
DEADLINE_S = 50.0  # the whole stream, restart included, ends by then or the test fails


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``evacops serve`` over the test's registry, started (and killed) as a real process."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "evacops.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        for _ in range(300):
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"evacops serve never answered: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Device(threading.Thread):
    """One gate phone: its outbox of scans (seq 1, 2, ...), sent a few at a time until each is
    acknowledged; then ``RESENT`` acknowledged ones again."""

    def __init__(self, url: str, op: str, device: str, token: str, payloads: list[str], seed: int):
        super().__init__(daemon=True)
        self.url, self.device, self.rng = url, device, random.Random(seed)
        self.path = f"/api/v1/operations/{op}/devices/{device}/scans"
        self.headers = {"Authorization": f"Bearer {token}"}
        start = datetime.now(UTC) - timedelta(minutes=30)
        self.outbox = [
            {"seq": i + 1, "payload": p, "action": "gate-in",
             "at": (start + timedelta(seconds=i)).isoformat()}
            for i, p in enumerate(payloads)
        ]  # fmt: skip
        self.acked: dict[int, dict] = {}  # seq -> its first answer
        self.replies: dict[int, dict] = {}  # seq -> its answer when sent again at the end
        self.retries = 0  # batches sent again after a dropped connection or a 5xx
        self.error: str | None = None

    def _send(self, client: httpx.Client, batch: list[dict]) -> list[dict]:
        """``batch`` until the server answers it (the phone keeps it in its outbox till then)."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            try:
                r = client.post(self.path, json={"scans": batch})
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code == 200:
                answers = r.json()["answers"]
                assert [a["seq"] for a in answers] == [s["seq"] for s in batch]
                return answers
            if r is not None and r.status_code < 500:
                raise AssertionError(f"{self.device}: {r.status_code} {r.text[:300]}")
            self.retries += 1
            time.sleep(0.05)
        raise AssertionError(f"{self.device}: the server did not come back in {DEADLINE_S} s")

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, headers=self.headers, timeout=10) as client:
                i = 0
                while i < len(self.outbox):
                    batch = self.outbox[i : i + self.rng.randint(1, 4)]
                    for a in self._send(client, batch):
                        self.acked[a["seq"]] = a
                    i += len(batch)
                again = self.rng.sample(sorted(self.acked), RESENT)
                for a in self._send(client, [self.outbox[s - 1] for s in again]):
                    self.replies[a["seq"]] = a
        except BaseException as exc:  # reported by the test, with the seed
            self.error = f"{type(exc).__name__}: {exc}"

    @property
    def total_acked(self) -> int:
        return len(self.acked)


def _setup(registry_env) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """Generated people with credentials, and one enrolled gate device per gate: (device id,
    token, site) and payload -> person id."""
    from evacops.registry.files import read_records
    from evacops.registry.generate import registrations_rows

    admin = registry_env.as_role("admin")
    n = SCANS_PER_DEVICE * len(GATES)
    rows = registrations_rows(n, 17, 0.0)[:n]
    admin.register(OPERATION, read_records(rows, source="t"), source="t")
    person_of = {c["payload"]: c["person_id"] for c in admin.issue_credentials(OPERATION)}
    devices = []
    for k, site in enumerate(GATES):
        device, token = admin.enrol_device(OPERATION, site, "gate", f"phone {k}")
        devices.append((device, token, site))
    return devices, person_of


def test_kill_9_during_device_scans_loses_no_acknowledged_scan(registry_env, backend, tmp_path):
    seed = int(os.environ.get("EVACOPS_FAULT_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    devices, person_of = _setup(registry_env)
    payloads = sorted(person_of)
    rng.shuffle(payloads)
    assert len(payloads) >= SCANS_PER_DEVICE * len(GATES)
    server = Server(registry_env.env, tmp_path / "serve.log")
    server.start()
    phones = [
        Device(server.url, OPERATION, dev, token,
               payloads[k * SCANS_PER_DEVICE : (k + 1) * SCANS_PER_DEVICE], seed + k)
        for k, (dev, token, _site) in enumerate(devices)
    ]  # fmt: skip
    kill_at = rng.randint(10, SCANS_PER_DEVICE * len(GATES) // 2)
    msg = f"(seed {seed}, kill after {kill_at} acknowledged)"
    try:
        for p in phones:
            p.start()
        deadline = time.monotonic() + DEADLINE_S
        while sum(p.total_acked for p in phones) < kill_at and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()
        acked_before = {p.device: dict(p.acked) for p in phones}
        time.sleep(rng.uniform(0.0, 0.5))  # the phones find the link down
        server.start()
        for p in phones:
            p.join(DEADLINE_S)
    finally:
        server.stop()
    for p in phones:
        assert not p.is_alive(), f"{p.device} never finished {msg}"
        assert p.error is None, f"{p.error} {msg}"
    assert sum(map(len, acked_before.values())) < SCANS_PER_DEVICE * len(GATES), (
        f"the kill came after the stream ended {msg}"
    )
    assert any(p.retries for p in phones), f"no phone saw the server go down {msg}"
    _check_database(registry_env, phones, devices, person_of, acked_before, msg)
    v = registry_env.as_role("admin").audit_verify()
    assert v.ok, f"{v.problem} {msg}"


def _check_database(registry_env, phones, devices, person_of, acked_before, msg) -> None:
    site_of = {d: site for d, _t, site in devices}
    D = device_scans.c
    with registry_env.as_role("admin").engine.connect() as conn:
        rows = {
            (r.device_id, r.seq): r
            for r in conn.execute(select(D.device_id, D.seq, D.event_seq, D.outcome))
        }
        scan_events = {
            r.seq: r
            for r in conn.execute(
                select(events.c.seq, events.c.person_id, events.c.site, events.c.type).where(
                    events.c.type == "gate-in"
                )
            )
        }
        for p in phones:
            # every scan acknowledged (before the kill or after) is there, once, as answered
            assert sorted(p.acked) == [s["seq"] for s in p.outbox], f"{p.device} {msg}"
            for s in p.outbox:
                first = p.acked[s["seq"]]
                assert first["outcome"] == "recorded", f"{p.device} {first} {msg}"
                row = rows.get((p.device, s["seq"]))
                assert row is not None, f"acknowledged {p.device}/{s['seq']} lost {msg}"
                assert row.outcome == "recorded", msg
                e = scan_events[row.event_seq]
                assert e.person_id == person_of[s["payload"]], msg
                assert e.site == site_of[p.device], msg
            # a scan acknowledged before the kill was a new event then, never after
            for seq, a in acked_before[p.device].items():
                assert a["duplicate"] is False, f"{p.device}/{seq} {msg}"
            # sent again at the end: the same answer, marked as a duplicate
            for seq, again in p.replies.items():
                assert again["duplicate"] is True, f"{p.device}/{seq} {msg}"
                assert again["outcome"] == p.acked[seq]["outcome"], msg
        total = sum(len(p.outbox) for p in phones)
        # no (device, seq) and no scanned person twice: one event per scan, nothing more
        assert len(rows) == total, f"{len(rows)} device scans for {total} sent {msg}"
        assert len(scan_events) == total, f"{len(scan_events)} gate-in events {msg}"
        assert len({e.person_id for e in scan_events.values()}) == total, msg
        assert len({r.event_seq for r in rows.values()}) == total, msg
        # the people's statuses agree with the events, and one audit entry per scan
        checked_in = conn.execute(
            select(func.count()).select_from(persons).where(persons.c.status == "checked-in")
        ).scalar_one()
        assert checked_in == total, msg
        assert_projection_is_the_log(conn, OPERATION)
        scans_audited = conn.execute(
            select(func.count()).select_from(audit).where(audit.c.action == "scan")
        ).scalar_one()
        assert scans_audited == total, f"{scans_audited} scan audit entries {msg}"
