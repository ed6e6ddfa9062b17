"""Shared fixtures of the registry tests: a fresh registry on SQLite, and on PostgreSQL when
``EVACOPS_TEST_DATABASE_URL`` is set (``.ci/run`` sets it when the local server answers).

People are generated (evacops.registry.generate): never real personal data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evacops.registry.generate import EXAMPLE_CATEGORIES, EXAMPLE_SITES


@pytest.fixture(autouse=True, scope="session")
def _argon2_at_its_lowest_cost():
    """Passwords hashed in the tests' own process cost Argon2id's least (1 pass, 8 KiB), not the
    service's 64 MiB, 3 passes and 4 lanes (0.1-0.35 s a hash): the suite creates and logs in
    thousands of users, and what it checks (a password verifies, a wrong one does not, an
    unknown user does the same work) does not depend on the cost. The hashes stay Argon2id; a
    command line the tests start is a new interpreter with the real cost, and
    tests/test_registry_cli.py checks that cost on the hashes a command line stored."""
    from argon2 import PasswordHasher

    from evacops.registry import security

    patch = pytest.MonkeyPatch()
    patch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    security.dummy_hash.cache_clear()
    yield
    patch.undo()
    security.dummy_hash.cache_clear()


@pytest.fixture(autouse=True)
def _loop_engines_closed(monkeypatch):
    """Every engine a test's web service made for its scans on the event loop
    (``Accounts.loop``, PostgreSQL) is closed after the test: a server's lifespan closes it, but
    a TestClient used without ``with`` never runs the lifespan."""
    import asyncio
    import concurrent.futures

    from evacops.registry.store import db

    made: list = []
    real = db.make_loop_engine

    def tracked(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(db, "make_loop_engine", tracked)
    yield
    # each in a thread of its own: in a worker that ran the browser tests, the session's
    # Playwright (sync API) keeps its event loop marked as running in this thread, and
    # asyncio.run refuses to start here ("cannot be called from a running event loop")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        for engine in made:
            pool.submit(asyncio.run, engine.dispose()).result()


PG_URL = os.environ.get("EVACOPS_TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"]
PASSWORD = "test-password-1"
OPERATION = "test-op"
SITES = EXAMPLE_SITES
CATEGORIES = EXAMPLE_CATEGORIES


def postgres_schema_url(url: str, schema: str) -> str:
    """``url`` with every connection's search_path set to ``schema``: each test gets a schema of
    its own, so tests (and anything else using the same database) never see each other's data."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return u.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def _pg_exec(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


@pytest.fixture
def database_url(backend, tmp_path):
    """A fresh, empty registry database URL for one test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL: set EVACOPS_TEST_DATABASE_URL to run these")
    import uuid

    schema = "evacops_t_" + uuid.uuid4().hex[:12]
    _pg_exec(f"CREATE SCHEMA {schema}")
    try:
        yield postgres_schema_url(PG_URL, schema)
    finally:
        _pg_exec(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@dataclass
class RegistryEnv:
    """A registry with an operation, its sites, and one user per role."""

    settings: object
    url: str
    key_file: Path
    env: dict[str, str]
    _users: set = field(default_factory=set)
    _engine: object = None
    _views: dict = field(default_factory=dict)

    def as_role(self, role: str, *, fresh: bool = False):
        """The registry as a user of ``role`` (created and logged in once per test: Argon2 is
        slow on purpose); ``fresh`` logs in again and returns a view of its own."""
        from evacops.registry import open_registry

        if not fresh and role in self._views:
            return self._views[role]
        if self._engine is None:
            from evacops.registry.store.db import make_engine

            self._engine = make_engine(self.url)
        if role != "admin" and role not in self._users:
            self.as_role("admin").add_user(role, role, PASSWORD)
            self._users.add(role)
        view = open_registry(self.settings, role, PASSWORD, engine=self._engine)
        if not fresh:
            self._views[role] = view
        return view


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def registry_env(database_url, tmp_path) -> RegistryEnv:
    from evacops.registry import init_registry
    from evacops.registry.settings import RegistrySettings

    url = database_url
    key = tmp_path / "keys" / "master.key"
    settings = RegistrySettings(database_url=url, key_file=key)
    init_registry(settings, admin="admin", password=PASSWORD)
    env = {
        "EVACOPS_DATABASE_URL": url,
        "EVACOPS_KEY_FILE": str(key),
        "EVACOPS_PASSWORD": PASSWORD,
        "EVACOPS_OPERATION": OPERATION,
    }
    renv = RegistryEnv(settings, url, key, env)
    renv.as_role("admin").create_operation(
        OPERATION, categories=CATEGORIES, sites_=SITES, origin_site="HKIA"
    )
    yield renv
    renv._engine.dispose()


@pytest.fixture
def admin(registry_env):
    return registry_env.as_role("admin")


# ------------------------------------------------------------------ the reference projection
# An independent oracle for the projection (docs/registry.md, Events): what the log says about
# each person, credential, flight and candidate pair, worked out here in plain Python from the
# event rows, without evacops.registry.events. The live projection must equal it.
PERSON_FIELDS = (
    "status", "site", "flight_id", "merged_into", "first_departed_at", "last_seen_at",
    "last_event", "household_id", "category", "cohort", "priority", "escort_id", "age_group",
    "sex", "nationality", "birth_precision", "relationship", "unaccompanied",
)  # fmt: skip
SEEN = {  # an event at a site: the status it gives (None: the status stays)
    "call-forward": "called-forward",
    "gate-in": "checked-in",
    "roll-call": None,
    "departed-independently": "departed-independently",
    "deplane": "arrived",
}
PLAIN_CORRECTIONS = PERSON_FIELDS[7:]  # category ... unaccompanied


def reference_projection(log, candidates=frozenset()) -> dict[str, dict]:
    """persons, credentials (revoked_at, boarded_at), flights (status), pairs (decision, for the
    ``candidates`` pairs that dedup queued) and seats ((flight, person) -> boarding event), from
    ``log`` (event rows in order)."""
    people: dict[str, dict] = {}
    creds: dict[str, dict] = {}
    flights: dict[int, str] = {}
    pairs: dict[tuple, str | None] = {}
    seats: dict[tuple, int] = {}
    for e in log:
        t, pid, at, d = e["type"], e["person_id"], e["occurred_at"], e["data"] or {}
        p = people.get(pid)
        if t == "registered":
            people[pid] = dict.fromkeys(PERSON_FIELDS)
            people[pid].update(
                status="registered", last_seen_at=at, last_event=e["seq"],
                household_id=e["household_id"], category=d["category"], cohort=d["cohort"],
                priority=d["priority"], age_group=d["age_group"], escort_id=d.get("escort_id"),
                sex=d["sex"], nationality=d["nationality"], birth_precision=d["birth_precision"],
                relationship=d.get("relationship", ""), unaccompanied=d.get("unaccompanied", False),
            )  # fmt: skip
        elif t in SEEN or t == "found":
            # seen at a site: on no flight
            p.update(site=e["site"], last_seen_at=at, last_event=e["seq"], flight_id=None)
            status = d.get("status") if t == "found" else SEEN[t]  # an offline conflict: none
            if status:
                p["status"] = status
        elif t == "missing":
            p.update(status="missing", last_event=e["seq"])
        elif t == "board":
            p.update(status="boarded", flight_id=e["flight_id"], site=e["site"], last_seen_at=at,
                     last_event=e["seq"])  # fmt: skip
            creds[e["credential_id"]]["boarded_at"] = at
            if "seat" in d or "lap" in d:  # an offline boarding over the seats holds none
                seats[(e["flight_id"], pid)] = e["seq"]
            flights.setdefault(e["flight_id"], "scheduled")
        elif t == "depart":
            flights[e["flight_id"]] = "departed"
            for q in people.values():
                if q["flight_id"] == e["flight_id"]:
                    if q["status"] == "boarded":
                        q.update(status="in-flight", site=None, last_event=e["seq"])
                    if q["first_departed_at"] is None:
                        q["first_departed_at"] = at
        elif t == "arrive":
            flights[e["flight_id"]] = "arrived"
        elif t == "flight-scheduled":
            flights[e["flight_id"]] = "scheduled"
        elif t == "correction":
            p.update({k: d[k] for k in PLAIN_CORRECTIONS if k in d})
            p["last_event"] = e["seq"]
        elif t in ("merge", "unmerge", "not-duplicate"):
            pair = tuple(sorted((pid, d["other"])))
            if pair in candidates:
                pairs[pair] = {"merge": "merged", "unmerge": None, "not-duplicate": "distinct"}[t]
            if t == "merge":
                p.update(status="merged", merged_into=d["into"], last_event=e["seq"])
            elif t == "unmerge":
                p.update(status=d["status"], site=d["site"], merged_into=None, last_event=e["seq"])
        elif t == "credential-issued":
            creds[e["credential_id"]] = {"person_id": pid, "revoked_at": None, "boarded_at": None}
        elif t == "credential-revoked":
            creds[e["credential_id"]]["revoked_at"] = at
    return {"persons": people, "credentials": creds, "flights": flights, "pairs": pairs,
            "seats": seats}  # fmt: skip


def live_projection(conn, operation: str | None = None) -> dict[str, dict]:
    """The same view of the live projection tables."""
    from sqlalchemy import select

    from evacops.registry.store.tables import (
        credentials,
        dedup_candidates,
        flights,
        persons,
        seat_claims,
    )

    def mine(table):
        return table.c.operation_id == operation if operation else True

    people = {
        r["id"]: {f: r[f] for f in PERSON_FIELDS}
        for r in conn.execute(select(persons).where(mine(persons))).mappings()
    }
    creds = {
        r["id"]: {"person_id": r["person_id"], "revoked_at": r["revoked_at"],
                  "boarded_at": r["boarded_at"]}
        for r in conn.execute(select(credentials).where(mine(credentials))).mappings()
    }  # fmt: skip
    fl = dict(conn.execute(select(flights.c.id, flights.c.status).where(mine(flights))).all())
    pairs = {
        (r.person_a, r.person_b): r.decision
        for r in conn.execute(select(dedup_candidates).where(mine(dedup_candidates)))
        if r.decision is not None
    }
    seats = {
        (r.flight_id, r.person_id): r.event_seq
        for r in conn.execute(select(seat_claims).where(seat_claims.c.flight_id.in_(fl)))
    }
    return {"persons": people, "credentials": creds, "flights": fl, "pairs": pairs,
            "seats": seats}  # fmt: skip


def assert_projection_is_the_log(conn, operation: str | None = None) -> None:
    """The live projection equals the reference worked out from the log, table by table."""
    from sqlalchemy import select

    from evacops.registry.store.tables import dedup_candidates, events

    q = select(events).order_by(events.c.seq)
    D = dedup_candidates.c
    c = select(D.person_a, D.person_b)
    if operation:
        q = q.where(events.c.operation_id == operation)
        c = c.where(D.operation_id == operation)
    candidates = {tuple(r) for r in conn.execute(c)}
    want = reference_projection(conn.execute(q).mappings(), candidates)
    want["pairs"] = {k: v for k, v in want["pairs"].items() if v is not None}
    got = live_projection(conn, operation)
    for table, expected in want.items():
        live = got[table]
        bad = [k for k in expected.keys() | live.keys() if expected.get(k) != live.get(k)]
        if bad:
            k = min(bad, key=str)
            raise AssertionError(
                f"{table}: {len(bad)} rows differ from the log, e.g. {k}: "
                f"live {live.get(k)} != reference {expected.get(k)}"
            )


# the test files that take longest, started first: with `-n auto --dist loadfile` a file is one
# worker's unit, handed out in collection order, and a long file handed out last keeps one core
# busy after the other has finished (measured with --durations on 6 and 7 Dec 2026: these took
# 255 s to 27 s each; on 7 Dec test_polish.py, 116 s and not in the list, was handed out by its
# name in the middle of the run)
LONGEST_FIRST = (
    "test_registry_cli.py",
    "test_cli_client.py",
    "test_polish.py",
    "test_sim_kabul.py",
    "test_web_replan.py",
    "test_cli.py",
    "test_cli_replan.py",
    "test_plan_properties.py",
    "test_ground_limit.py",
    "test_registry_faults.py",
    "test_sim.py",
    "test_browser_pages.py",
    "test_priority.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
