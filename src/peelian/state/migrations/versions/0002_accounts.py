"""Accounts and governance: staff profiles, login throttling, API tokens, sessions,
operations that disclose their existence, and flagged persons.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)

# The staff profile misuse detection compares look-ups with (from the force's HR record).
_USER_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("forenames", sa.Text, nullable=True),
    sa.Column("surname", sa.Text, nullable=True),
    sa.Column("date_of_birth", sa.Date, nullable=True),
    sa.Column("home_postcode", sa.String(10), nullable=True),
    sa.Column("home_address", sa.Text, nullable=True),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", _TIMESTAMP, nullable=True),
    sa.Column("last_login_at", _TIMESTAMP, nullable=True),
    sa.Column("password_changed_at", _TIMESTAMP, nullable=True),
]


def upgrade() -> None:
    for column in _USER_COLUMNS:
        op.add_column("users", column)
    op.add_column(
        "operations", sa.Column("disclose", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("client", sa.Text, nullable=True),
        sa.Column("at", _TIMESTAMP, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempts"),
    )
    op.create_index("ix_login_attempts_username", "login_attempts", ["username", "at"])
    op.create_index("ix_login_attempts_client", "login_attempts", ["client", "at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.Column("last_used_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("client", sa.Text, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", _TIMESTAMP, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id_hash", name="pk_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_sessions_user_id", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "flagged_persons",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("flagged_by", sa.Text, nullable=False),
        sa.Column("flagged_at", _TIMESTAMP, nullable=False),
        sa.Column("removed_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_flagged_persons"),
    )
    op.create_index(
        "ux_flagged_persons_active",
        "flagged_persons",
        ["entity_id"],
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    )


def downgrade() -> None:
    for table in ("flagged_persons", "sessions", "api_tokens", "login_attempts"):
        op.drop_table(table)
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("disclose")
    with op.batch_alter_table("users") as batch:
        for column in _USER_COLUMNS:
            batch.drop_column(column.name)
