"""Retention: the source records disposed of under the retention schedule.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "disposals",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("entity_id", sa.Text, nullable=True),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("disposed_at", _TIMESTAMP, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_disposals"),
        sa.UniqueConstraint("source", "record_id", name="uq_disposals_source_record_id"),
    )
    op.create_index("ix_disposals_entity_id", "disposals", ["entity_id"])


def downgrade() -> None:
    op.drop_table("disposals")
