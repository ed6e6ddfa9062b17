"""The registry's facade: every action on the registry goes through :class:`Registry`.

``Registry`` is thin: each method is one call to a service in :mod:`evacops.registry.services`
(one module per job) over one shared :class:`~evacops.registry.services.context.Context`. A
service checks the acting user's role (:mod:`evacops.registry.security`), validates the request,
then in **one transaction** appends the event(s), changes the projection
(:mod:`evacops.registry.events`) and appends the audit entry (:mod:`evacops.registry.store.audit`).
Either all of it is written or none of it is. Personal fields are sealed before they reach the
database and opened only for roles that may read them, each read leaving an audit entry (never
the value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from evacops.registry.security import Actor
from evacops.registry.services import (
    accounts,
    credentials,
    dedup,
    exports,
    manifests,
    movements,
    people,
    plans,
    registration,
    replans,
    reports,
    rollcall,
    setup,
    shred,
    sync,
)
from evacops.registry.services import categories as categories_
from evacops.registry.services import devices as devices_
from evacops.registry.services.context import Context
from evacops.registry.services.movements import SCAN_ACTIONS
from evacops.registry.services.registration import ImportResult, age_group, initials
from evacops.registry.services.setup import OPERATION_ID, SITE_KINDS
from evacops.registry.store.crypto import KeyFolder
from evacops.registry.store.tables import utcnow

if TYPE_CHECKING:
    import pandas as pd

    from evacops.registry.store.audit import Verification

__all__ = [
    "OPERATION_ID",
    "SCAN_ACTIONS",
    "SITE_KINDS",
    "ImportResult",
    "Registry",
    "age_group",
    "initials",
]


class Registry:
    """The registry as one acting user sees it (``actor``)."""

    def __init__(
        self,
        engine: Engine,
        master_key: bytes | None,
        actor: Actor,
        *,
        clock: Callable[[], datetime] = utcnow,
        keys: KeyFolder | None = None,
    ):
        self.ctx = Context(engine, master_key, actor, clock=clock, keys=keys)

    @classmethod
    def for_actor(
        cls, engine: Engine, master_key: bytes | None, actor: Actor, keys: KeyFolder | None = None
    ) -> Registry:
        """The registry as an actor the server has authenticated already (a session's user or an
        enrolled device: :class:`evacops.registry.accounts.Accounts`); ``keys``: the folder of
        the operations' key-encryption keys (``RegistrySettings.operation_keys_dir``)."""
        return cls(engine, master_key, actor, keys=keys)

    @property
    def engine(self) -> Engine:
        return self.ctx.engine

    @property
    def actor(self) -> Actor:
        return self.ctx.actor

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.ctx.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.ctx.clock = clock

    def public_key(self, op: str) -> bytes:
        return self.ctx.public_key(op)

    # ------------------------------------------------------------------ users and set-up
    @staticmethod
    def authenticate(engine: Engine, name: str, password: str) -> Actor:
        return setup.authenticate(engine, name, password)

    @staticmethod
    def bootstrap_admin(engine: Engine, master_key: bytes, name: str, password: str) -> bool:
        """Create the first admin if the registry has no user yet; True if created."""
        return setup.bootstrap_admin(engine, master_key, name, password)

    def add_user(
        self, name: str, role: str, password: str, *, operations: list[str] | None = None
    ) -> None:
        """A new user; a role other than admin is held in ``operations`` (default: every
        operation there is now)."""
        setup.add_user(self.ctx, name, role, password, operations=operations)

    # ------------------------------------------------------------------ roles and devices
    def grant(self, op: str, user: str, role: str) -> None:
        """``user`` holds ``role`` in ``op`` (replacing the role they had there)."""
        accounts.grant(self.ctx, op, user, role)

    def revoke_role(self, op: str, user: str) -> bool:
        return accounts.revoke_role(self.ctx, op, user)

    def members(self, op: str) -> list[dict[str, Any]]:
        return accounts.members(self.ctx, op)

    def enrol_device(self, op: str, site: str, role: str, label: str) -> tuple[str, str]:
        """A new device; returns (device id, token). The token is shown once."""
        return devices_.enrol_device(self.ctx, op, site, role, label)

    def revoke_device(self, op: str, device_id: str) -> bool:
        return devices_.revoke_device(self.ctx, op, device_id)

    def devices(self, op: str) -> list[dict[str, Any]]:
        return devices_.list_devices(self.ctx, op)

    def sync_scans(
        self, op: str, device_id: str, scans: list[Any], *, view: bool = False
    ) -> list[dict[str, Any]]:
        """A device's offline scans: idempotent per (device, seq), never refused
        (:mod:`.services.sync`); ``view``: with the gate's view of each recorded scan."""
        return sync.sync_scans(self.ctx, op, device_id, scans, view=view)

    def conflicts(self, op: str, *, status: str | None = "open") -> list[dict[str, Any]]:
        return sync.conflicts(self.ctx, op, status=status)

    def resolve_conflict(self, op: str, conflict_id: int, resolution: str, reason: str) -> None:
        sync.resolve_conflict(self.ctx, op, conflict_id, resolution, reason)

    # ------------------------------------------------------------------ categories
    def categories(self, op: str) -> list[dict[str, Any]]:
        """The operation's eligibility categories (retired ones too), with how many have each."""
        return categories_.list_categories(self.ctx, op)

    def add_category(self, op: str, category: str, cohort: str, priority: float) -> None:
        categories_.add_category(self.ctx, op, category, cohort, priority)

    def retire_category(self, op: str, category: str) -> None:
        """No new registration may use ``category``; those who have it keep it."""
        categories_.retire_category(self.ctx, op, category)

    def restore_category(self, op: str, category: str) -> None:
        categories_.restore_category(self.ctx, op, category)

    def create_operation(
        self,
        op: str,
        *,
        name: str | None = None,
        categories: Mapping[str, tuple[str, float]] | None = None,
        sites_: Mapping[str, str] | None = None,
        origin_site: str | None = None,
        rule_version: str = "1",
    ) -> None:
        """A new operation with its own data key and signing key.

        ``categories`` maps an eligibility category to (scenario cohort, priority)."""
        setup.create_operation(
            self.ctx,
            op,
            name=name,
            categories=categories,
            sites_=sites_,
            origin_site=origin_site,
            rule_version=rule_version,
        )

    def operations(self) -> list[dict[str, Any]]:
        return setup.list_operations(self.ctx)

    def add_site(self, op: str, code: str, kind: str) -> None:
        setup.add_site(self.ctx, op, code, kind)

    def add_flight(
        self,
        op: str,
        code: str,
        *,
        origin: str,
        destination: str,
        seats: int,
        departs_at: datetime | None = None,
    ) -> int:
        return setup.add_flight(
            self.ctx,
            op,
            code,
            origin=origin,
            destination=destination,
            seats=seats,
            departs_at=departs_at,
        )

    # ------------------------------------------------------------------ registration and people
    def register(
        self,
        op: str,
        rows: Sequence[Any],
        *,
        source: str = "register",
        source_digest: str | None = None,
    ) -> ImportResult:
        """Register people in one transaction: all or nothing (:func:`.registration.register`)."""
        return registration.register(self.ctx, op, rows, source=source, source_digest=source_digest)

    def import_file(self, op: str, path: str | Path) -> ImportResult:
        return registration.import_file(self.ctx, op, path)

    def correct(self, op: str, person_id: str, *, reason: str, **fields: Any) -> None:
        """Correct a person's record: a ``correction`` event (the old values stay in the log)."""
        people.correct(self.ctx, op, person_id, reason=reason, **fields)

    def person(self, op: str, person_id: str) -> dict[str, Any]:
        """One person as the acting role may see them (every protected read audited)."""
        return people.person(self.ctx, op, person_id)

    def find_by_document(self, op: str, number: str) -> list[str]:
        return people.find_by_document(self.ctx, op, number)

    # ------------------------------------------------------------------ credentials
    def issue_credentials(
        self, op: str, person_ids: Iterable[str] | None = None, *, days: int = 30
    ) -> list[dict[str, Any]]:
        return credentials.issue_credentials(self.ctx, op, person_ids, days=days)

    def credential_payloads(
        self, op: str, person_ids: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        return credentials.credential_payloads(self.ctx, op, person_ids)

    def credential_labels(self, op: str, person_ids: Iterable[str] | None = None) -> list[Any]:
        """Wristband labels (:class:`evacops.registry.credentials.Label`) of the valid
        credentials: no name, no eligibility category; audited as a reprint."""
        return credentials.credential_labels(self.ctx, op, person_ids)

    def revoke(self, op: str, credential: str, *, reason: str) -> None:
        credentials.revoke(self.ctx, op, credential, reason=reason)

    def revoked(self, op: str) -> list[str]:
        return credentials.revoked(self.ctx, op)

    def resolve_short_code(self, op: str, code: str) -> dict[str, Any]:
        """The credential a typed short code stands for (scan permission; rate limited and
        audited: :func:`.credentials.resolve_short_code`)."""
        return credentials.resolve_short_code(self.ctx, op, code)

    def scan_short_code(self, op: str, code: str, action: str, **scan: Any) -> dict[str, Any]:
        """A scan made by typing the short code (the options of :meth:`scan`)."""
        return credentials.scan_short_code(self.ctx, op, code, action, **scan)

    # ------------------------------------------------------------------ scans and movements
    def scan(
        self,
        op: str,
        payload: str,
        action: str,
        *,
        site: str | None = None,
        flight: str | None = None,
        scan_id: str | None = None,
        override: str | None = None,
        at: datetime | None = None,
        view: bool = False,
    ) -> dict[str, Any]:
        """Record a scanned credential (:func:`.movements.scan`); a repeat is one event.
        ``view``: with the gate's view (initials, household size) from the same transaction."""
        return movements.scan(
            self.ctx,
            op,
            payload,
            action,
            site=site,
            flight=flight,
            scan_id=scan_id,
            override=override,
            at=at,
            view=view,
        )

    def call_forward(self, op: str, person_ids: Iterable[str], site: str) -> int:
        return movements.call_forward(self.ctx, op, person_ids, site)

    def depart(self, op: str, flight: str) -> dict[str, Any]:
        return movements.depart(self.ctx, op, flight)

    def arrive(self, op: str, flight: str) -> dict[str, Any]:
        return movements.arrive(self.ctx, op, flight)

    def reconcile(self, op: str, flight: str) -> dict[str, Any]:
        return movements.reconcile(self.ctx, op, flight)

    # ------------------------------------------------------------------ manifests and roll-call
    def build_manifest(self, op: str, flight: str, *, allow_split: bool = False) -> dict[str, Any]:
        return manifests.build_manifest(self.ctx, op, flight, allow_split=allow_split)

    def manifest(self, op: str, flight: str, version: int | None = None) -> dict[str, Any]:
        return manifests.manifest(self.ctx, op, flight, version)

    def export_manifest(self, op: str, flight: str, path: str | Path) -> int:
        return exports.export_manifest(self.ctx, op, flight, path)

    def manifest_page(
        self, op: str, flight: str, *, version: int | None = None, offset: int = 0,
        limit: int = 100,
    ) -> dict[str, Any]:  # fmt: skip
        return exports.manifest_page(self.ctx, op, flight, version=version, offset=offset,
                                     limit=limit)  # fmt: skip

    def rollcall(
        self,
        op: str,
        site: str,
        payloads: Sequence[str] = (),
        *,
        rollcall_id: str | None = None,
        mark_missing: bool = False,
    ) -> dict[str, Any]:
        return rollcall.rollcall(
            self.ctx, op, site, payloads, rollcall_id=rollcall_id, mark_missing=mark_missing
        )

    # ------------------------------------------------------------------ dedup
    def run_dedup(self, op: str, *, threshold: float = 0.8) -> dict[str, Any]:
        return dedup.run_dedup(self.ctx, op, threshold=threshold)

    def review_queue(self, op: str, candidate: int | None = None) -> list[dict[str, Any]]:
        return dedup.review_queue(self.ctx, op, candidate)

    def merge(self, op: str, keep: str, duplicate: str, *, reason: str = "") -> int:
        return people.merge(self.ctx, op, keep, duplicate, reason=reason)

    def unmerge(self, op: str, duplicate: str, *, reason: str = "") -> int:
        return people.unmerge(self.ctx, op, duplicate, reason=reason)

    def not_duplicate(self, op: str, a: str, b: str, *, reason: str = "") -> int:
        return people.not_duplicate(self.ctx, op, a, b, reason=reason)

    # ------------------------------------------------------------------ reports and exports
    def household_size(self, op: str, household_id: str | None) -> int:
        return reports.household_size(self.ctx, op, household_id)

    def flight_summary(self, op: str) -> dict[str, Any]:
        return reports.flight_summary(self.ctx, op)

    def report(self, op: str, *, since: datetime | None = None) -> dict[str, Any]:
        return reports.report(self.ctx, op, since=since)

    def picture_counts(self, op: str) -> dict[str, Any]:
        return reports.picture_counts(self.ctx, op)

    def people_by_place(self, op: str) -> list[dict[str, Any]]:
        return reports.people_by_place(self.ctx, op)

    def attach_plan(
        self, op: str, outline: dict[str, Any], *, first_day: date | None = None
    ) -> dict[str, Any]:
        return plans.attach_plan(self.ctx, op, outline, first_day=first_day)

    def request_replan(
        self,
        op: str,
        *,
        at: datetime | None = None,
        what_if: dict[str, Any] | None = None,
        scenario_sha256: str | None = None,
        runner: str | None = None,
        keep_schedule: bool = False,
        window_h: float | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return replans.request_replan(
            self.ctx,
            op,
            at=at,
            what_if=what_if,
            scenario_sha256=scenario_sha256,
            runner=runner,
            keep_schedule=keep_schedule,
            window_h=window_h,
        )

    def finish_replan(self, op: str, request: int, got: dict[str, Any]) -> None:
        replans.finish_replan(self.ctx, op, request, got)

    def replans(
        self, op: str, running: frozenset[int] = frozenset(), runner: str | None = None
    ) -> list[dict[str, Any]]:
        return replans.replans(self.ctx, op, running, runner)

    def adopt_replan(self, op: str, request: int) -> dict[str, Any]:
        return replans.adopt_replan(self.ctx, op, request)

    def plan_vs_actual(self, op: str) -> dict[str, Any] | None:
        return plans.plan_vs_actual(self.ctx, op)

    def plan_rows_now(
        self, op: str, field: str, sites: list[str], now: datetime
    ) -> dict[str, Any] | None:
        return plans.plan_rows_now(self.ctx, op, field, sites, now)

    def counts_frame(self, op: str) -> pd.DataFrame:
        return exports.counts_frame(self.ctx, op)

    def export_counts(self, op: str, path: str | Path, *, min_cell: int = 5) -> int:
        return exports.export_counts(self.ctx, op, path, min_cell=min_cell)

    def counts_page(
        self, op: str, *, min_cell: int = 5, offset: int = 0, limit: int = 100
    ) -> dict[str, Any]:
        return exports.counts_page(self.ctx, op, min_cell=min_cell, offset=offset, limit=limit)

    # ------------------------------------------------------------------ shred and audit
    def shred(self, op: str) -> dict[str, Any]:
        return shred.shred(self.ctx, op)

    def audit_verify(self) -> Verification:
        return reports.audit_verify(self.ctx)

    def audit_entries(self, limit: int = 50) -> list[dict[str, Any]]:
        return reports.audit_entries(self.ctx, limit)
