"""A SQL source read through SQLAlchemy, against the machine's PostgreSQL (never skipped)."""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from peelian.hub import Hub
from peelian.ingest import ingest_mapping
from peelian.sources.mapping import load_mapping
from peelian.sources.readers import SourceError

POSTGRES_URL = os.environ.get(
    "PEELIAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def rms_table() -> Iterator[str]:
    """A records-management table of nominals in a throwaway schema."""
    schema = f"peelian_test_{uuid.uuid4().hex[:8]}"
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.begin() as con:
            con.exec_driver_sql(f"CREATE SCHEMA {schema}")
            con.exec_driver_sql(
                f"""CREATE TABLE {schema}.nominal (
                    nominal_ref text PRIMARY KEY, surname text, forenames text,
                    dob date, pnc_id text, updated timestamp)"""
            )
            con.exec_driver_sql(
                f"""INSERT INTO {schema}.nominal VALUES
                ('N1', 'SMITH', 'John', '1990-02-01', '2003/0062845E', '2024-05-01 10:00'),
                ('N2', 'O''BRIEN', 'Siobhan', NULL, NULL, '2024-05-02 11:30'),
                ('N3', 'KHAN', 'Imran', '1985-07-30', '99/1234567Z', '2024-05-03 09:15')"""
            )
    except sa.exc.OperationalError as exc:  # pragma: no cover - machine fault
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable ({exc}); CI needs it running")
    yield schema
    with engine.begin() as con:
        con.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


def sql_mapping(folder: Path, query: str, timeout_s: float = 30) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rms.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        format: peelian-mapping/1
        source:
          name: rms
          title: Records management system (nominals)
          owner: Test
          default_marking: OFFICIAL
          handling: null
          sharing: {{roles: []}}
          priority: 70
          extract: full
        reader:
          kind: sql
          url: "{POSTGRES_URL}"
          query: "{query}"
          timezone: Europe/London
          timeout_s: {timeout_s}
        record:
          id: "{{nominal_ref}}"
          occurred: {{column: updated}}
        entities:
          - as: nominal
            kind: person
            fields:
              surname: {{column: surname}}
              forenames: {{column: forenames}}
              date_of_birth: {{column: dob}}
              identifiers:
                - {{scheme: pnc, column: pnc_id, transform: [{{normalise: pnc}}]}}
        links: []
        unmapped: []
        """),
        encoding="utf-8",
    )
    return path


def test_sql_source_rows_become_people(tmp_path: Path, rms_table: str) -> None:
    mapping = sql_mapping(tmp_path, f"SELECT * FROM {rms_table}.nominal ORDER BY nominal_ref")
    with Hub(tmp_path / "hub", create=True) as hub:
        summary = ingest_mapping(hub, load_mapping(mapping))
        assert (summary.rows_read, summary.rows_accepted, summary.rows_quarantined) == (3, 3, 0)
        people = hub.con.execute(
            """SELECT surname_std, date_of_birth::VARCHAR, identifiers[1].valid
               FROM person ORDER BY surname_std"""
        ).fetchall()
        assert people == [
            ("KHAN", "1985-07-30", False),  # wrong check letter: kept, flagged invalid
            ("O'BRIEN", None, None),
            ("SMITH", "1990-02-01", True),
        ]
        occurred = hub.con.execute(
            "SELECT occurred::VARCHAR FROM source_rows WHERE row_id = 'N1'"
        ).fetchone()[0]
        assert occurred.startswith("2024-05-01 09:00:00")  # 10:00 BST is 09:00 UTC
        again = ingest_mapping(hub, load_mapping(mapping))
        assert again.rows_unchanged == 3


def test_a_query_that_runs_too_long_is_cancelled_and_nothing_written(
    tmp_path: Path, rms_table: str
) -> None:
    slow = sql_mapping(
        tmp_path, f"SELECT n.* FROM {rms_table}.nominal n, pg_sleep(5)", timeout_s=0.5
    )
    with Hub(tmp_path / "hub", create=True) as hub:
        with pytest.raises(SourceError, match="longer than timeout_s"):
            ingest_mapping(hub, load_mapping(slow))
        assert hub.con.execute("SELECT count(*) FROM source_rows").fetchone() == (0,)


def test_an_unknown_database_user_gives_a_clear_error(tmp_path: Path) -> None:
    mapping = sql_mapping(tmp_path, "SELECT 1 AS nominal_ref")
    text = mapping.read_text().replace(
        POSTGRES_URL, "postgresql+psycopg://nobody@127.0.0.1:5432/no_such_db"
    )
    mapping.write_text(text)
    with Hub(tmp_path / "hub", create=True) as hub, pytest.raises(SourceError) as caught:
        ingest_mapping(hub, load_mapping(mapping))
    assert "can't connect" in str(caught.value)
    assert "nobody" in str(caught.value)
