"""Users, teams, operations, match decisions and the hash-chained audit log.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A timestamp with time zone; SQLite keeps it as naive UTC text (see tables.UTCDateTime).
_TIMESTAMP = sa.DateTime(timezone=True)

# The audit log is append-only in the database too: the hash chain shows tampering, these
# triggers stop the accidental kind. Someone who can drop a trigger is caught by the chain.
_SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END""",
]
_POSTGRESQL_APPEND_ONLY = [
    """CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER audit_events_append_only
       BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
       FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("role", sa.String(50), nullable=False),
        sa.Column("vetting", sa.String(20), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        sa.UniqueConstraint("name", name="uq_teams_name"),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("added_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_team_members"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_team_members_team_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_team_members_user_id", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "operations",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("team_id", sa.Integer, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("closed_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_operations"),
        sa.UniqueConstraint("name", name="uq_operations_name"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_operations_team_id"),
    )
    op.create_table(
        "match_decisions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entity_type", sa.Text, nullable=False),
        sa.Column("a", sa.Text, nullable=False),
        sa.Column("b", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.Column("revoked_by", sa.Text, nullable=True),
        sa.Column("revoke_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_match_decisions"),
        sa.CheckConstraint("kind IN ('same', 'different')", name="ck_match_decisions_kind"),
        sa.CheckConstraint("a <> b", name="ck_match_decisions_two_records"),
        sa.CheckConstraint(
            "(revoked_at IS NULL AND revoked_by IS NULL AND revoke_reason IS NULL)"
            " OR (revoked_at IS NOT NULL AND revoked_by IS NOT NULL"
            " AND revoke_reason IS NOT NULL)",
            name="ck_match_decisions_revoked_together",
        ),
    )
    op.create_index(
        "ix_match_decisions_entity_type", "match_decisions", ["entity_type", "created_at"]
    )
    op.create_index(
        "ux_match_decisions_active_pair",
        "match_decisions",
        ["entity_type", "a", "b"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("purpose", sa.Text, nullable=True),
        sa.Column("client", sa.Text, nullable=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_actor", "audit_events", ["actor", "seq"])
    op.create_index("ix_audit_events_target", "audit_events", ["target", "seq"])
    dialect = op.get_bind().dialect.name
    for statement in _POSTGRESQL_APPEND_ONLY if dialect == "postgresql" else _SQLITE_APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    for table in (
        "audit_events",
        "match_decisions",
        "operations",
        "team_members",
        "teams",
        "users",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_events_append_only()")
