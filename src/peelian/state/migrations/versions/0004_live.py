"""Live command and control: feeds, incidents as they are now, resources' latest status.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "live_feeds",
        sa.Column("feed", sa.Text, nullable=False),
        sa.Column("clock", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("speed", sa.Float, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("feed", name="pk_live_feeds"),
    )
    op.create_table(
        "live_incidents",
        sa.Column("feed", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("called", _TIMESTAMP, nullable=False),
        sa.Column("grade", sa.Integer, nullable=True),
        sa.Column("area_type", sa.Text, nullable=True),
        sa.Column("opening_code", sa.Text, nullable=True),
        sa.Column("beat", sa.Text, nullable=True),
        sa.Column("thrive", sa.JSON, nullable=False),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("dispatched", _TIMESTAMP, nullable=True),
        sa.Column("arrived", _TIMESTAMP, nullable=True),
        sa.Column("closed", _TIMESTAMP, nullable=True),
        sa.Column("resource", sa.Text, nullable=True),
        sa.Column("target_minutes", sa.Float, nullable=True),
        sa.Column("marking", sa.Text, nullable=False),
        sa.Column("compartment", sa.Text, nullable=True),
        sa.Column("sharing_roles", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("feed", "reference", name="pk_live_incidents"),
    )
    op.create_index("ix_live_incidents_feed_closed", "live_incidents", ["feed", "closed"])
    op.create_table(
        "live_resources",
        sa.Column("feed", sa.Text, nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("callsign", sa.Text, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("incident", sa.Text, nullable=True),
        sa.Column("since", _TIMESTAMP, nullable=False),
        sa.Column("marking", sa.Text, nullable=False),
        sa.Column("compartment", sa.Text, nullable=True),
        sa.Column("sharing_roles", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("feed", "resource", name="pk_live_resources"),
    )


def downgrade() -> None:
    op.drop_table("live_resources")
    op.drop_table("live_incidents")
    op.drop_table("live_feeds")
