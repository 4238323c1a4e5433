"""Learning plans: onboarding tracks and daily lessons of new recruits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the onboarding tables."""
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "onboarding_tracks",
        sa.Column("learner_id", sa.Integer(), sa.ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("track", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total_days", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("send_time", sa.String(5), nullable=False),
        sa.Column("next_due_at", ts, nullable=True),
        sa.Column("started_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.Column("completed_at", ts, nullable=True),
    )
    op.create_index("ix_onboarding_tracks_status_due", "onboarding_tracks", ["status", "next_due_at"])
    op.create_table(
        "onboarding_lessons",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("learner_id", sa.Integer(), sa.ForeignKey("learners.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("module", sa.String(128), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("anchor", sa.String(255), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=True),
        sa.Column("quiz_session_id", sa.String(36), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("delivered_at", ts, nullable=True),
        sa.Column("delivered_via", sa.String(16), nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("learner_id", "day", name="uq_onboarding_lessons_day"),
    )
    op.create_index("ix_onboarding_lessons_pending", "onboarding_lessons", ["learner_id", "delivered_at"])


def downgrade() -> None:
    """Drop the onboarding tables."""
    op.drop_index("ix_onboarding_lessons_pending", table_name="onboarding_lessons")
    op.drop_table("onboarding_lessons")
    op.drop_index("ix_onboarding_tracks_status_due", table_name="onboarding_tracks")
    op.drop_table("onboarding_tracks")
