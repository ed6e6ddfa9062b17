"""Fixtures and helpers of the web tests (tests/test_web_*.py): the real app over a fresh
registry (SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set) with one user per role
in the operation, generated people with credentials, and a second operation. Generated people
only."""

from __future__ import annotations

import re

from conftest import OPERATION, PASSWORD
from fastapi.testclient import TestClient

from evacops.registry.accounts import Accounts
from evacops.registry.files import read_records
from evacops.registry.generate import EXAMPLE_CATEGORIES, EXAMPLE_SITES, registrations_rows
from evacops.registry.store import crypto
from evacops.web.app import create_app
from evacops.web.config import WebSettings

ROLES = ("admin", "registrar", "gate", "manifest", "planner", "reporter")
OTHER_OP = "other-op"


class World:
    """The app, its registry, the people and their credentials, a token per role."""

    def __init__(self, registry_env, admin):
        self.env = registry_env
        self.admin = admin
        self.settings = WebSettings(database_url=registry_env.url, key_file=registry_env.key_file)
        self.accounts = Accounts(
            admin.engine, crypto.load_master_key(registry_env.key_file), registry_env.settings
        )
        # every role logs in (and every route is tried without credentials) from the one test
        # address: the per-address limits are off in this app and tested on their own in
        # tests/test_web_hardening.py (whose apps are built from ``settings``, the defaults)
        unlimited = {"rate_login_per_min": 0, "rate_auth_failures_per_min": 0}
        self.app = create_app(self.settings.model_copy(update=unlimited), accounts=self.accounts)
        for role in ROLES[1:]:
            admin.add_user(role, role, PASSWORD, operations=[OPERATION])
        self.rows = registrations_rows(12, 5, 0.0)
        self.ids = admin.register(
            OPERATION, read_records(self.rows, source="t"), source="t"
        ).person_ids
        self.payload = {c["person_id"]: c["payload"] for c in admin.issue_credentials(OPERATION)}
        admin.create_operation(
            OTHER_OP, categories=EXAMPLE_CATEGORIES, sites_=EXAMPLE_SITES, origin_site="HKIA"
        )
        self.other_ids = admin.register(
            OTHER_OP, read_records(registrations_rows(4, 99, 0.0), source="t"), source="t"
        ).person_ids
        self._tokens: dict[str, str] = {}

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver")

    def service_clock(self, monkeypatch, now) -> None:
        """Every registry the service opens from now on reads the clock at ``now()``."""
        make = self.accounts.registry

        def registry(actor):
            reg = make(actor)
            reg.clock = now
            return reg

        monkeypatch.setattr(self.accounts, "registry", registry)

    def token(self, role: str) -> str:
        if role not in self._tokens:
            r = self.client().post("/api/v1/login", json={"name": role, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[role] = r.json()["token"]
        return self._tokens[role]

    def auth(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"} if role else {}

    def page_login(self, role: str) -> TestClient:
        """A browser-like client logged in through the log-in form (cookies)."""
        c = self.client()
        r = c.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
        r = c.post(
            "/login",
            data={"name": role, "password": PASSWORD, "csrf": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return c


def csrf_of(client: TestClient) -> str:
    return client.cookies.get("evacops_csrf")
