"""idempotency keys of the web API

``idempotency_keys``: one row per (caller, ``Idempotency-Key``) a write of ``/api/v1`` was sent
with (evacops/web/idempotency.py): the route, a digest of the request (method, path, query and
body), and once it is done its status and its response, sealed (under the operation's data key,
so a shred takes it too). Rows expire after ``EVACOPS_IDEMPOTENCY_HOURS`` and are deleted.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_At = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("caller", sa.String(150), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("route", sa.String(60), nullable=False),
        sa.Column("operation_id", sa.String(64), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _At, nullable=False),
        sa.Column("expires_at", _At, nullable=False),
        sa.PrimaryKeyConstraint("caller", "key"),
    )
    op.create_index("ix_idempotency_keys_expires", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
