"""Users, roles and what each role may do; Argon2 password hashing; token hashing.

Roles are enforced in the services (:mod:`evacops.registry.services`): every service function
names the permission it needs and the operation it acts on, and :func:`require` refuses the
others. ``admin`` is the one global role (the server's administrator: every operation); every
other role is held **per operation** (the ``memberships`` table): a user with no role in an
operation can do nothing in it, not even read it. The matrix is documented in docs/registry.md
(Roles; Accounts, sessions and devices).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from evacops.errors import AccessDenied


class Role(StrEnum):
    admin = "admin"
    registrar = "registrar"
    gate = "gate"
    manifest = "manifest"
    planner = "planner"
    reporter = "reporter"


class Perm(StrEnum):
    manage = "manage"  # operations, users, sites, flights, shred
    register = "register"  # register, import, correct, call-forward, issue/revoke credentials
    read_personal = "read-personal"  # names, birth dates, nationality detail of one person
    read_documents = "read-documents"  # identity documents
    read_gate_view = "read-gate-view"  # credential, initials, eligibility
    scan = "scan"  # gate-in, board, deplane, roll-call, missing/found
    manifest = "manifest"  # build manifests, board overrides, flight departure/arrival
    export_manifest = "export-manifest"  # passenger manifest CSV (personal data)
    dedup = "dedup"  # run dedup, review queue, merge/unmerge
    report = "report"  # aggregate counts, roll-call lists by opaque id
    export_counts = "export-counts"  # HXL aggregate export
    audit = "audit"  # read and verify the audit chain
    plan = "plan"  # attach the operation's latest plan (planned people out per day)


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.admin: frozenset(Perm),
    Role.registrar: frozenset(
        {
            Perm.register,
            Perm.read_personal,
            Perm.read_documents,
            Perm.read_gate_view,
            Perm.dedup,
            Perm.report,
            Perm.scan,
        }
    ),
    Role.gate: frozenset({Perm.scan, Perm.read_gate_view}),
    Role.manifest: frozenset(
        {
            Perm.manifest,
            Perm.scan,
            Perm.read_gate_view,
            Perm.read_personal,
            Perm.read_documents,
            Perm.export_manifest,
            Perm.report,
        }
    ),
    Role.planner: frozenset({Perm.report, Perm.plan}),
    Role.reporter: frozenset({Perm.report, Perm.export_counts}),
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (or an enrolled device) and the role it holds in each operation.

    ``role`` is the global role: :attr:`Role.admin` for a server admin (every operation). For
    anyone else the roles are ``roles`` (operation -> role), loaded from ``memberships`` when the
    user logs in or a session or device token is checked. ``roles=None`` means ``role`` holds in
    every operation: only for in-process tools and tests that build an Actor by hand; every
    actor the registry itself authenticates carries ``roles``. A device actor also carries its
    ``device`` id and the ``site`` it is bound to.
    """

    name: str
    role: Role
    roles: Mapping[str, Role] | None = None
    device: str | None = None
    site: str | None = None
    user_id: str | None = field(default=None, compare=False)

    @property
    def admin(self) -> bool:
        return self.role == Role.admin

    def role_in(self, op: str | None) -> Role | None:
        """The role this actor holds in operation ``op`` (None: none); ``op=None`` asks for the
        global role (admin only)."""
        if self.role == Role.admin:
            return Role.admin
        if self.roles is None:
            return self.role
        if op is None:
            return None
        return self.roles.get(op)

    def can(self, perm: Perm, op: str | None = None) -> bool:
        role = self.role_in(op)
        return role is not None and perm in ROLE_PERMS[role]

    def operations(self) -> list[str] | None:
        """The operations this actor has a role in (None: every one)."""
        if self.role == Role.admin or self.roles is None:
            return None
        return sorted(self.roles)


def require(actor: Actor, perm: Perm, op: str | None = None) -> None:
    """Refuse unless ``actor`` holds a role with ``perm`` in operation ``op`` (``op=None``:
    a server-wide action, for admins)."""
    if actor.can(perm, op):
        return
    role = actor.role_in(op)
    who = f"device {actor.device}" if actor.device else f"user {actor.name}"
    if role is None:
        where = f"operation {op}" if op else "this server (admin only)"
        raise AccessDenied(f"{who} has no role in {where}; ask an admin", code="not-allowed")
    raise AccessDenied(
        f"{who} (role {role} in {op}) may not {perm}; ask an admin", code="not-allowed"
    )


def token_hash(token: str) -> str:
    """How a bearer secret (session, CSRF or device token) is stored: SHA-256, hex. The tokens
    are 256-bit random, so a plain hash is enough (no salt, no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets (or their hashes)."""
    return hmac.compare_digest(a.encode(), b.encode())


# Argon2id with the library's defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def dummy_hash() -> str:
    """Verified against when the user is unknown, so an unknown name costs the same as a wrong
    password. Made on first use, not at import: an Argon2 hash costs about 0.35 s, which every
    command line would pay on start."""
    return _hasher.hash("evacops: no such user; this hash only spends the same time")


def check_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
