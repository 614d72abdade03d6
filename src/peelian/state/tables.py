"""The tables of the state database, as SQLAlchemy Core (what the code queries).

The schema itself is made by the Alembic migrations in `migrations/versions/`;
`tests/state/test_state_open.py` checks that these definitions and the
migrated database agree, so a column added here needs a migration too.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is
    stored as naive UTC and read back as aware UTC. Naive values are refused.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone; use UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# Constraint names are fixed so that migrations can name what they alter.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    # argon2 hash; null for users who sign in through the force's identity provider.
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("role", sa.String(50), nullable=False),
    sa.Column("vetting", sa.String(20), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The staff profile (from the force's HR record) that misuse detection compares
    # look-ups with: a search for oneself, one's family or a colleague.
    sa.Column("forenames", sa.Text, nullable=True),
    sa.Column("surname", sa.Text, nullable=True),
    sa.Column("date_of_birth", sa.Date, nullable=True),
    sa.Column("home_postcode", sa.String(10), nullable=True),
    sa.Column("home_address", sa.Text, nullable=True),
    # Login throttling: failures since the last success, and a lock after too many.
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UTCDateTime, nullable=True),
    sa.Column("last_login_at", UTCDateTime, nullable=True),
    sa.Column("password_changed_at", UTCDateTime, nullable=True),
    # The OpenID Connect identity (the ID token's `iss` and `sub`) the user signs in
    # with; both null until bound. One account per identity.
    sa.Column("oidc_issuer", sa.Text, nullable=True),
    sa.Column("oidc_subject", sa.Text, nullable=True),
    # may be bound by a name claim on its first sign-in (made with `users add --oidc`)
    sa.Column("oidc_claimable", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ux_users_oidc_identity", "oidc_issuer", "oidc_subject", unique=True),
)

teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column(
        "team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("added_at", UTCDateTime, nullable=False),
)

# An operation is a compartment: records marked with it are seen by its team only.
operations = sa.Table(
    "operations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    # True: a user outside the team who finds its records is told that restricted
    # information exists and which team to contact (nothing else of them).
    sa.Column("disclose", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Every login attempt, for throttling by username and by client address.
login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("client", sa.Text, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Index("ix_login_attempts_username", "username", "at"),
    sa.Index("ix_login_attempts_client", "client", "at"),
)

# API tokens: only the SHA-256 of a token is kept; the token is shown once.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
)

# UI sessions: the cookie holds a random id; only its SHA-256 is kept here.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("client", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

# High-profile persons (public figures, protected witnesses...) whose look-ups the
# auditor is alerted to. One active flag per entity; removal keeps the row.
flagged_persons = sa.Table(
    "flagged_persons",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity_id", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("flagged_by", sa.Text, nullable=False),
    sa.Column("flagged_at", UTCDateTime, nullable=False),
    sa.Column("removed_at", UTCDateTime, nullable=True),
    sa.Index(
        "ux_flagged_persons_active",
        "entity_id",
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    ),
)

# Analysts' link (same) and unlink (different) decisions, applied on every refresh.
# A pair is stored in sorted order (a < b); at most one decision per pair is active.
match_decisions = sa.Table(
    "match_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("entity_type", sa.Text, nullable=False),
    sa.Column("a", sa.Text, nullable=False),
    sa.Column("b", sa.Text, nullable=False),
    sa.Column("decided_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("revoked_by", sa.Text, nullable=True),
    sa.Column("revoke_reason", sa.Text, nullable=True),
    sa.CheckConstraint("kind IN ('same', 'different')", name="kind"),
    sa.CheckConstraint("a <> b", name="two_records"),
    sa.CheckConstraint(
        "(revoked_at IS NULL AND revoked_by IS NULL AND revoke_reason IS NULL)"
        " OR (revoked_at IS NOT NULL AND revoked_by IS NOT NULL AND revoke_reason IS NOT NULL)",
        name="revoked_together",
    ),
    sa.Index("ix_match_decisions_entity_type", "entity_type", "created_at"),
    sa.Index(
        "ux_match_decisions_active_pair",
        "entity_type",
        "a",
        "b",
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    ),
)

# The audit log: append-only (triggers refuse UPDATE and DELETE) and hash-chained.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=True),
    # The canonical JSON text that was hashed, kept byte for byte.
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("purpose", sa.Text, nullable=True),
    sa.Column("client", sa.Text, nullable=True),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_events_actor", "actor", "seq"),
    sa.Index("ix_audit_events_target", "target", "seq"),
)

# Retention disposals: source records disposed of under the retention schedule.
# Each refresh removes them from the hub (and the ingest skips them if a source
# resends them); the row is the lasting record of who decided, why and when,
# with the audit event (the tombstone) written in the same transaction.
disposals = sa.Table(
    "disposals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("record_id", sa.Text, nullable=False),
    # The entity whose disposal took the record; null when records were named.
    sa.Column("entity_id", sa.Text, nullable=True),
    sa.Column("decided_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("disposed_at", UTCDateTime, nullable=False),
    sa.Column("audit_seq", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("source", "record_id"),
    sa.Index("ix_disposals_entity_id", "entity_id"),
)

# The multi-agency meeting's decisions on people the vulnerability screen flagged: at
# risk, not at risk, or already known. Never updated or deleted: the latest decision
# per person stands, each is audited, and the next screen run learns from them.
vulnerability_decisions = sa.Table(
    "vulnerability_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity_id", sa.Text, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("decided_by", sa.Text, nullable=False),
    sa.Column("decided_at", UTCDateTime, nullable=False),
    sa.Index("ix_vulnerability_decisions_entity_id", "entity_id"),
)

# The live command-and-control picture: incidents as they are now and each resource's
# latest status, fed by a command-and-control interface or by `peelian incidents replay`.
# A feed's clock is the time its picture is true at (a replay runs in simulated time).
live_feeds = sa.Table(
    "live_feeds",
    metadata,
    sa.Column("feed", sa.Text, primary_key=True),
    sa.Column("clock", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("speed", sa.Float, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
)
live_incidents = sa.Table(
    "live_incidents",
    metadata,
    sa.Column("feed", sa.Text, primary_key=True),
    sa.Column("reference", sa.Text, primary_key=True),
    sa.Column("called", UTCDateTime, nullable=False),
    sa.Column("grade", sa.Integer, nullable=True),
    sa.Column("area_type", sa.Text, nullable=True),
    sa.Column("opening_code", sa.Text, nullable=True),
    sa.Column("beat", sa.Text, nullable=True),
    sa.Column("thrive", sa.JSON, nullable=False),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("dispatched", UTCDateTime, nullable=True),
    sa.Column("arrived", UTCDateTime, nullable=True),
    sa.Column("closed", UTCDateTime, nullable=True),
    sa.Column("resource", sa.Text, nullable=True),
    sa.Column("target_minutes", sa.Float, nullable=True),
    # the security label of the record the incident comes from: the live view shows it
    # only to those who may see that record
    sa.Column("marking", sa.Text, nullable=False),
    sa.Column("compartment", sa.Text, nullable=True),
    sa.Column("sharing_roles", sa.JSON, nullable=False),
    sa.Index("ix_live_incidents_feed_closed", "feed", "closed"),
)
live_resources = sa.Table(
    "live_resources",
    metadata,
    sa.Column("feed", sa.Text, primary_key=True),
    sa.Column("resource", sa.Text, primary_key=True),
    sa.Column("callsign", sa.Text, nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("incident", sa.Text, nullable=True),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("marking", sa.Text, nullable=False),
    sa.Column("compartment", sa.Text, nullable=True),
    sa.Column("sharing_roles", sa.JSON, nullable=False),
)
