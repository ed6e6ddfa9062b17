"""Users, roles and what each role may do; Argon2 password hashing.

Roles are enforced in the services (:mod:`evacops.registry.services`): every service function
names the permission it needs and :func:`require` refuses the others. The matrix
is documented in docs/registry.md (Roles).
"""

from __future__ import annotations

from dataclasses import dataclass
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
    Role.planner: frozenset({Perm.report}),
    Role.reporter: frozenset({Perm.report, Perm.export_counts}),
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a user name and a role (authenticated by :func:`authenticate`)."""

    name: str
    role: Role

    def can(self, perm: Perm) -> bool:
        return perm in ROLE_PERMS[self.role]


def require(actor: Actor, perm: Perm) -> None:
    if not actor.can(perm):
        raise AccessDenied(f"user {actor.name} (role {actor.role}) may not {perm}; ask an admin")


# Argon2id with the library's defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
