"""accounts, sessions, devices and offline sync

Roles per operation (``memberships``): ``admin`` stays the one global role in ``users``; every
other user's role carries over as a membership of every operation that exists now. Web
sessions, login attempts (the name only as an HMAC), enrolled devices, the scans they synced
(``device_scans``, append-only) and the conflicts queued for review.

Revision ID: 0002
Revises: 0001
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_At = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "memberships",
        sa.Column("user_name", sa.String(100), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("operation_id", sa.String(64), sa.ForeignKey("operations.id"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("granted_at", _At, nullable=False),
        sa.Column("granted_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("user_name", "operation_id"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(100), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("created_at", _At, nullable=False),
        sa.Column("expires_at", _At, nullable=False),
        sa.Column("last_seen_at", _At, nullable=False),
        sa.Column("csrf_hash", sa.String(64), nullable=False),
        sa.Column("ended_at", _At, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_name"])
    op.create_table(
        "login_attempts",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("name_mac", sa.String(64), nullable=False),
        sa.Column("at", _At, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_attempts_name", "login_attempts", ["name_mac", "at"])
    op.create_table(
        "devices",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("operation_id", sa.String(64), sa.ForeignKey("operations.id"), nullable=False),
        sa.Column("site", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("enrolled_by", sa.String(100), nullable=False),
        sa.Column("enrolled_at", _At, nullable=False),
        sa.Column("revoked_at", _At, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "device_scans",
        sa.Column("device_id", sa.String(40), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("received_at", _At, nullable=False),
        sa.PrimaryKeyConstraint("device_id", "seq"),
    )
    op.create_table(
        "scan_conflicts",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("operation_id", sa.String(64), sa.ForeignKey("operations.id"), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("person_id", sa.String(40), nullable=True),
        sa.Column("flight_id", sa.BigInteger(), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("resolution", sa.String(30), nullable=True),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _At, nullable=False),
        sa.Column("resolved_at", _At, nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scan_conflicts_op", "scan_conflicts", ["operation_id", "status"])
    _carry_roles_over()
    _append_only("device_scans")


def _carry_roles_over() -> None:
    """Each non-admin user's global role becomes their role in every existing operation."""
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    op.get_bind().execute(
        sa.text(
            "INSERT INTO memberships (user_name, operation_id, role, granted_at, granted_by) "
            "SELECT u.name, o.id, u.role, :now, 'migration-0002' FROM users u, operations o "
            "WHERE u.role != 'admin'"
        ),
        {"now": now},
    )


def _append_only(table: str) -> None:
    """As in 0001: the table refuses UPDATE and DELETE in the database itself."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    else:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION evacops_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS device_scans_append_only ON device_scans")
    for table in (
        "scan_conflicts", "device_scans", "devices", "login_attempts", "web_sessions",
        "memberships",
    ):  # fmt: skip
        op.drop_table(table)
