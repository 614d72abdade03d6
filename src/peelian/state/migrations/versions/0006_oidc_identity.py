"""OpenID Connect identity: an account bound to the provider's issuer and subject.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08

The pair is unique through a unique index, not a table constraint: adding a
constraint on SQLite means batch mode, which rebuilds `users` (copy, drop,
rename), and dropping `users` with foreign keys on (they are, on every state
connection, and the pragma can't change inside the migration's transaction)
cascades to team memberships, API tokens and sessions. An index is added in
place on both backends and enforces the same rule (rows without an identity,
NULL, never clash).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("oidc_issuer", sa.Text, nullable=True))
    op.add_column("users", sa.Column("oidc_subject", sa.Text, nullable=True))
    # Only an account made for the provider (`users add --oidc`) may be bound by a name
    # claim on its first sign-in; every account made before this revision may not.
    op.add_column(
        "users",
        sa.Column("oidc_claimable", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ux_users_oidc_identity", "users", ["oidc_issuer", "oidc_subject"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_users_oidc_identity", "users")
    op.drop_column("users", "oidc_claimable")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not batch mode: see above.
    op.drop_column("users", "oidc_subject")
    op.drop_column("users", "oidc_issuer")
