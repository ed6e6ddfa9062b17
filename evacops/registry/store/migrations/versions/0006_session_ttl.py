"""a session's own lifetime (the command line's token)

``web_sessions.idle_min``: the minutes a session may go unused before it ends, when its
lifetime was chosen at log-in (``evacops login --ttl``, ``POST /api/v1/login`` with
``ttl_min``: a token that lasts that long, used or not, capped by ``EVACOPS_TOKEN_MAX_HOURS``);
NULL: the server's ``EVACOPS_SESSION_IDLE_MIN`` (every page session, and API log-ins without a
lifetime).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("idle_min", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("idle_min")
