"""State tests run twice: on a SQLite file and on the machine's PostgreSQL.

Each PostgreSQL test gets a fresh schema (dropped afterwards) through the
connection's search_path, so tests are isolated and can run again and again.
Without PostgreSQL those variants skip, unless PEELIAN_REQUIRE_POSTGRES=1
(as in CI), when they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from peelian.state import State

POSTGRES_URL = os.environ.get(
    "PEELIAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("PEELIAN_REQUIRE_POSTGRES") == "1"


def in_schema(url: str, schema: str) -> str:
    """`url` with every connection's search_path set to `schema`."""
    return (
        sa.make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[sa.Engine]:
    """The test PostgreSQL server, checked once per session."""
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0]
        problem = f"PostgreSQL at {POSTGRES_URL} is not reachable ({reason})"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{problem}; PEELIAN_REQUIRE_POSTGRES=1, so the PostgreSQL tests must run")
        pytest.skip(
            f"{problem}; start it or set PEELIAN_TEST_POSTGRES_URL "
            "(PEELIAN_REQUIRE_POSTGRES=1 turns this skip into a failure)"
        )
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty state database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    server: sa.Engine = request.getfixturevalue("postgres_server")
    schema = f"peelian_state_test_{uuid.uuid4().hex[:12]}"
    with server.begin() as con:
        con.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield in_schema(POSTGRES_URL, schema)
    finally:
        with server.begin() as con:
            con.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def state(state_url: str) -> Iterator[State]:
    """An opened (migrated) state database, closed after the test."""
    with State.open(state_url) as opened:
        yield opened
