"""indexes for the operation picture's counts

The report and the picture count people by GROUP BY (evacops/registry/services/reports.py).
These indexes hold every column those queries read, so the database answers from the index
alone and never reads a person's or an event's row (whose sealed fields make them large):

- ``ix_persons_picture``: status, site, cohort, nationality, category, first departure,
  registration time, household and flight of each person of an operation (every count, people
  out and registered per day, households split across places);
- ``ix_persons_unaccompanied``: only the unaccompanied minors (a partial index);
- ``ix_events_firsts``: type, person and time of each event of an operation (the first time
  each person was checked in, boarded, deplaned, per day; an operation's plans).

Revision ID: 0004
Revises: 0002 (the lead chains it after 0003 at merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PICTURE_COLUMNS = [
    "operation_id", "status", "site", "cohort", "nationality", "category", "first_departed_at",
    "registered_at", "household_id", "flight_id",
]  # fmt: skip


def upgrade() -> None:
    op.create_index("ix_persons_picture", "persons", PICTURE_COLUMNS)
    op.create_index(
        "ix_persons_unaccompanied",
        "persons",
        ["operation_id"],
        sqlite_where=sa.text("unaccompanied = 1"),
        postgresql_where=sa.text("unaccompanied"),
    )
    op.create_index(
        "ix_events_firsts", "events", ["operation_id", "type", "person_id", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_events_firsts", "events")
    op.drop_index("ix_persons_unaccompanied", "persons")
    op.drop_index("ix_persons_picture", "persons")
