"""Review reminders: when each learner was last reminded of due reviews.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the review_reminders table (one row per reminded learner)."""
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "review_reminders",
        sa.Column("learner_id", sa.Integer(), sa.ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("last_sent_at", ts, nullable=False),
        sa.Column("due_count", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("delivered_via", sa.String(16), nullable=True),
        sa.Column("delivered_at", ts, nullable=True),
    )


def downgrade() -> None:
    """Drop the review_reminders table."""
    op.drop_table("review_reminders")
