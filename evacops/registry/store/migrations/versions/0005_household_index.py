"""a household's members counted from one index

A gate is shown the size of the scanned person's household: people of the household in the
operation who were not merged away (the scan's one look-up,
evacops/registry/services/gate_view.py; ``household_size`` in services/reports.py). With only
``ix_persons_household (household_id)``, SQLite preferred the picture's covering index of
migration 0004, which starts with ``operation_id``, and counted the household by walking every
person of the operation: 7.2 ms a scan at 20,000 people, inside the scan's writing transaction
(one writer at a time), where the look-up took 0.03 ms before (benchmarks/web_scans.py: 190
scans/s before 0004, 87 after). ``ix_persons_household`` now holds the household, the
operation and the status: both equalities of the count are in the index and the count reads
nothing else, on SQLite and PostgreSQL.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_persons_household", "persons")
    op.create_index("ix_persons_household", "persons", ["household_id", "operation_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_persons_household", "persons")
    op.create_index("ix_persons_household", "persons", ["household_id"])
