"""Opening the state database: URLs, migrations, schema and SQLite settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from peelian.state import State, StateError, database_url
from peelian.state.accounts import AuthenticationError
from peelian.state.database import alembic_config, create_engine
from peelian.state.tables import (
    api_tokens,
    metadata,
    operations,
    sessions,
    team_members,
    teams,
    users,
)

TABLES = {
    "users",
    "teams",
    "team_members",
    "operations",
    "match_decisions",
    "audit_events",
    "login_attempts",
    "api_tokens",
    "sessions",
    "flagged_persons",
    "disposals",
    "live_feeds",
    "live_incidents",
    "live_resources",
}
NOW = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)


def revision(state: State) -> str | None:
    with state.engine.connect() as con:
        return MigrationContext.configure(con).get_current_revision()


def test_opening_creates_every_table_at_the_latest_revision(state: State) -> None:
    assert set(sa.inspect(state.engine).get_table_names()) >= TABLES
    assert revision(state) == "0006"


def test_opening_again_migrates_nothing_and_keeps_the_data(state_url: str) -> None:
    with State.open(state_url) as first:
        first.add_decision("same", "person", "m1", "m2", by="analyst1", reason="same PNC id")
    with State.open(state_url) as again:
        assert revision(again) == "0006"
        assert [d.reason for d in again.decisions()] == ["same PNC id"]
        assert again.verify_audit().ok


def test_the_tables_in_code_match_the_migrated_schema(state: State) -> None:
    with state.engine.connect() as con:
        differences = compare_metadata(MigrationContext.configure(con), metadata)
    assert differences == []


def test_adding_the_oidc_identity_keeps_every_users_teams_tokens_and_sessions(
    state_url: str,
) -> None:
    # 0006 adds columns and a unique index to `users` in place: rebuilding the table
    # (SQLite batch mode) would cascade its deletion to these rows.
    old = State(create_engine(database_url(state_url)))
    with old._write() as con:
        command.upgrade(alembic_config(connection=con), "0005")
        user = con.execute(
            sa.insert(users)
            .values(username="pc_1", display_name="PC 1", role="investigator", vetting="SC",
                    created_at=NOW)
            .returning(users.c.id)
        ).scalar_one()  # fmt: skip
        team = con.execute(
            sa.insert(teams).values(name="OPS", created_at=NOW).returning(teams.c.id)
        ).scalar_one()
        con.execute(sa.insert(team_members).values(team_id=team, user_id=user, added_at=NOW))
        con.execute(
            sa.insert(api_tokens).values(user_id=user, name="mdt", token_hash="a" * 64,
                                         created_at=NOW, expires_at=NOW)
        )  # fmt: skip
        con.execute(
            sa.insert(sessions).values(id_hash="b" * 64, user_id=user, csrf_token="c",
                                       created_at=NOW, last_seen_at=NOW, expires_at=NOW)
        )  # fmt: skip
    old.close()
    with State.open(state_url) as state:
        assert revision(state) == "0006"
        assert state.accounts.user("pc_1").teams == ("OPS",)
        assert state.accounts.user("pc_1").oidc_subject is None
        # made before bindings existed: no name claim binds it, an administrator does
        assert not state.accounts.user("pc_1").oidc_claimable
        with pytest.raises(AuthenticationError, match="not made to be claimed"):
            state.accounts.identity_principal("https://idp.example", "sub-1", "pc_1")
        with state.engine.connect() as con:
            for table in (users, team_members, api_tokens, sessions):
                assert con.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 1


def test_users_teams_and_operations_hold_rows_and_keep_their_keys(state: State) -> None:
    with state.engine.begin() as con:
        user = con.execute(
            sa.insert(users)
            .values(
                username="dc_jones",
                display_name="DC Jones",
                role="investigator",
                vetting="SC",
                created_at=NOW,
            )
            .returning(users.c.id)
        ).scalar_one()
        team_id = con.execute(
            sa.insert(teams).values(name="Op Ember team", created_at=NOW).returning(teams.c.id)
        ).scalar_one()
        con.execute(sa.insert(team_members).values(team_id=team_id, user_id=user, added_at=NOW))
        con.execute(sa.insert(operations).values(name="Op Ember", team_id=team_id, created_at=NOW))
    with state.engine.connect() as con:
        row = con.execute(sa.select(users)).one()
        assert (row.username, row.disabled, row.password_hash) == ("dc_jones", False, None)
        assert row.created_at == NOW
        assert con.execute(sa.select(operations.c.name, operations.c.team_id)).all() == [
            ("Op Ember", team_id)
        ]
    with pytest.raises(sa.exc.IntegrityError), state.engine.begin() as con:
        con.execute(
            sa.insert(users).values(
                username="dc_jones", display_name="x", role="r", vetting="SC", created_at=NOW
            )
        )
    # Foreign keys are enforced on SQLite too (PRAGMA foreign_keys on every connection).
    with pytest.raises(sa.exc.IntegrityError), state.engine.begin() as con:
        con.execute(sa.insert(team_members).values(team_id=team_id, user_id=999, added_at=NOW))


def test_a_timestamp_without_a_time_zone_is_refused(state: State) -> None:
    with pytest.raises(sa.exc.StatementError, match="no time zone"), state.engine.begin() as con:
        con.execute(sa.insert(teams).values(name="t", created_at=dt.datetime(2025, 1, 1)))


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    with State.open(tmp_path / "state.db") as state, state.engine.connect() as con:
        assert con.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert con.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_plain_path_means_a_sqlite_file_and_its_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.db"
    with State.open(str(path)) as state:
        assert state.dialect == "sqlite"
    assert path.exists()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("state.db", "sqlite"),
        ("sqlite:///data/state.db", "sqlite"),
        ("postgresql://peelian@db/peelian", "postgresql+psycopg"),
        ("postgresql+psycopg://peelian@db/peelian", "postgresql+psycopg"),
    ],
)
def test_database_urls(given: str, driver: str) -> None:
    assert database_url(given).drivername == driver


def test_a_database_other_than_sqlite_or_postgresql_is_refused() -> None:
    with pytest.raises(StateError, match="must be SQLite or PostgreSQL, not mysql"):
        State.open("mysql://peelian@db/peelian")


def test_an_unreachable_postgresql_gives_a_clear_error() -> None:
    with pytest.raises(StateError, match=r"can't open the state database .*nobody@127\.0\.0\.1:1/"):
        State.open("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")


def test_a_database_migrated_by_a_newer_peelian_is_refused_clearly(state_url: str) -> None:
    with State.open(state_url) as state, state.engine.begin() as con:
        con.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StateError, match=r"can't migrate the state database .*'9999'"):
        State.open(state_url)


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    with pytest.raises(StateError, match=r"notes\.txt: file is not a database"):
        State.open(notes)
