"""The pg_trgm baseline: a fair PostgreSQL trigram search over the same people.

Runs against the machine's PostgreSQL (`PEELIAN_TEST_POSTGRES_URL`); without it
these tests skip, unless PEELIAN_REQUIRE_POSTGRES=1 (as in CI), when they fail.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from peelian.index.pgtrgm import (
    PgBaselineError,
    PgLoad,
    connect,
    load_people,
    search_people,
)

POSTGRES_URL = os.environ.get(
    "PEELIAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("PEELIAN_REQUIRE_POSTGRES") == "1"
TABLE = f"peelian_test_pgtrgm_{os.getpid()}"
NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:1/no_such_db"  # nothing listens on port 1

HOSTILE_NAME = 'O\'NEIL "THE KNIFE" \\ 50%, X'
PEOPLE = [
    # entity_id, name, dob: one row per name an entity is known by
    ("P01", "JOHN SMITH", dt.date(1980, 3, 14)),
    ("P02", "JOHN SMITH", dt.date(1975, 6, 1)),
    ("P03", "JOHN SMITH", dt.date(1990, 2, 1)),
    ("P04", "JOHN SMITH", None),
    ("P05", "JANE SMITH", dt.date(1990, 2, 1)),
    ("P06", "SIOBHAN O'BRIEN", dt.date(1985, 7, 30)),
    ("P07", "SINEAD O'BRIEN", dt.date(1988, 1, 1)),
    ("P08", "SIOBHAN BRENNAN", None),
    ("P09", "IMRAN KHAN", dt.date(1985, 7, 30)),
    ("P09", "IMRAN ALI KHAN", dt.date(1985, 7, 30)),
    ("P09", "IMRAN KAHN", dt.date(1985, 7, 30)),
    ("P10", "AMIR KHAN", dt.date(1991, 11, 5)),
    ("P11", HOSTILE_NAME, None),
    ("P12", None, dt.date(2001, 1, 1)),  # no name: can't be searched, not loaded
]
NAMED_ROWS = sum(1 for _, name, _ in PEOPLE if name is not None)

Search = Callable[..., list[str]]


def people_table() -> pa.Table:
    ids, names, dobs = zip(*PEOPLE, strict=True)
    return pa.table(
        {
            "entity_id": pa.array(ids, pa.string()),
            "name": pa.array(names, pa.string()),
            "dob": pa.array(dobs, pa.date32()),
        }
    )


def count_rows(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def postgres_url() -> str:
    """The test PostgreSQL server's URL, checked once."""
    try:
        connect(POSTGRES_URL).close()
    except PgBaselineError as exc:
        problem = str(exc).split("; check")[0]
        if REQUIRE_POSTGRES:
            pytest.fail(f"{problem}; PEELIAN_REQUIRE_POSTGRES=1, so the PostgreSQL tests must run")
        pytest.skip(
            f"{problem}; start it or set PEELIAN_TEST_POSTGRES_URL "
            "(PEELIAN_REQUIRE_POSTGRES=1 turns this skip into a failure)"
        )
    return POSTGRES_URL


@pytest.fixture(scope="module")
def loaded(postgres_url: str) -> Iterator[PgLoad]:
    """PEOPLE loaded into a table of this test process's own, dropped afterwards."""
    try:
        yield load_people(postgres_url, people_table(), table=TABLE)
    finally:
        with connect(postgres_url) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(TABLE)))


@pytest.fixture(scope="module")
def conn(loaded: PgLoad, postgres_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(postgres_url) as opened:
        yield opened


@pytest.fixture
def search(conn: psycopg.Connection[Any]) -> Search:
    """search_people on the loaded table."""

    def run(name: str, dob: dt.date | None = None, **options: Any) -> list[str]:
        return search_people(conn, name, dob, table=TABLE, **options)

    return run


def test_load_reports_rows_times_and_size(loaded: PgLoad, conn: psycopg.Connection[Any]) -> None:
    assert loaded.rows == NAMED_ROWS == count_rows(conn, TABLE)
    assert loaded.seconds_load > 0
    assert loaded.seconds_index > 0
    assert loaded.table_bytes > 0


def test_load_builds_a_gin_trigram_index_and_a_dob_index(conn: psycopg.Connection[Any]) -> None:
    indexes = [
        definition
        for (definition,) in conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (TABLE,)
        )
    ]
    assert any("USING gin (name gin_trgm_ops)" in d for d in indexes), indexes
    assert any("USING btree (dob)" in d for d in indexes), indexes


def test_a_name_is_stored_exactly_as_given(conn: psycopg.Connection[Any]) -> None:
    stored = conn.execute(
        sql.SQL("SELECT name, dob FROM {} WHERE entity_id = 'P11'").format(sql.Identifier(TABLE))
    ).fetchall()
    assert stored == [(HOSTILE_NAME, None)]


def test_a_one_letter_typo_finds_the_person_first(search: Search) -> None:
    assert search("SIOBHAN O'BRIAN")[0] == "P06"
    assert search("IMRAN KHAM")[0] == "P09"


def test_forename_and_surname_swapped_are_found_as_if_typed_the_right_way(search: Search) -> None:
    assert search("SMITH JOHN")[:4] == search("JOHN SMITH")[:4] == ["P01", "P02", "P03", "P04"]
    assert search("O'BRIEN SIOBHAN")[0] == "P06"


def test_the_date_of_birth_ranks_the_right_john_smith_first(search: Search) -> None:
    assert search("JOHN SMITH")[0] == "P01"  # equal names: lowest id first
    assert search("JOHN SMITH", dt.date(1990, 2, 1))[0] == "P03"
    assert search("JON SMITH", dt.date(1975, 6, 1))[0] == "P02"


def test_a_birth_year_ranks_the_john_smith_born_that_year_first(search: Search) -> None:
    assert search("JOHN SMITH", year=1975)[0] == "P02"


def test_a_full_dob_match_outranks_any_name_only_match(search: Search) -> None:
    # JANE SMITH shares the date of birth; the other JOHN SMITHs only the name.
    assert search("JOHN SMITH", dt.date(1990, 2, 1))[:2] == ["P03", "P05"]


def test_each_entity_appears_once_at_its_best_name(search: Search) -> None:
    found = search("IMRAN KHAN")  # P09 is known by three names, all similar
    assert found.count("P09") == 1
    assert found[0] == "P09"
    assert len(found) == len(set(found))


def test_the_limit_caps_the_results(search: Search) -> None:
    assert search("JOHN SMITH", limit=2) == ["P01", "P02"]


def test_a_name_with_no_letters_or_digits_finds_nothing(search: Search) -> None:
    assert search("!!! -- '") == []


@pytest.mark.parametrize(
    "hostile",
    [
        "'; DROP TABLE x; --",
        f"'; DROP TABLE {TABLE}; --",
        "100% SMITH",
        "%%",
        "%(name)s",
        "{table}",
        "$1",
        "SMITH\\",
        "O'BRIEN\\'",
        '"; DELETE FROM people; --',
    ],
)
def test_a_hostile_name_is_just_a_query_value(
    hostile: str, search: Search, conn: psycopg.Connection[Any]
) -> None:
    assert isinstance(search(hostile), list)
    assert count_rows(conn, TABLE) == NAMED_ROWS


def test_a_name_with_quotes_backslashes_and_percent_is_found(search: Search) -> None:
    assert search(HOSTILE_NAME)[0] == "P11"


def test_a_session_threshold_does_not_change_the_baseline(postgres_url: str) -> None:
    with connect(postgres_url) as own:
        own.execute("SET pg_trgm.similarity_threshold = 0.9")  # JON SMITH scores 0.62
        assert search_people(own, "JON SMITH", table=TABLE, limit=1) == ["P01"]


def test_a_rolled_back_transaction_does_not_lose_the_threshold(postgres_url: str) -> None:
    with connect(postgres_url) as own:
        own.execute("SET pg_trgm.similarity_threshold = 0.9")
        own.autocommit = False
        assert search_people(own, "JON SMITH", table=TABLE, limit=1) == ["P01"]
        own.rollback()  # undoes the threshold set inside the transaction
        assert search_people(own, "JON SMITH", table=TABLE, limit=1) == ["P01"]


@pytest.mark.parametrize(
    "table",
    [
        "People",
        "1people",
        "people;drop",
        "people search",
        'people"x',
        "public.people",
        "",
        "people\n",
        "p" * 64,
    ],
)
def test_an_invalid_table_name_is_refused(table: str, conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        search_people(conn, "JOHN SMITH", table=table)
    with pytest.raises(ValueError, match="not a plain identifier"):
        load_people(NOWHERE, people_table(), table=table)  # refused before connecting


def test_searching_a_table_never_loaded_says_load_it_first(
    conn: psycopg.Connection[Any],
) -> None:
    with pytest.raises(PgBaselineError, match="load it first"):
        search_people(conn, "JOHN SMITH", table=f"peelian_test_pgtrgm_missing_{os.getpid()}")


def test_a_dob_and_a_year_together_are_refused(search: Search) -> None:
    with pytest.raises(ValueError, match="not both"):
        search("JOHN SMITH", dt.date(1990, 2, 1), year=1990)


def test_people_without_the_expected_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="lacks dob"):
        load_people(NOWHERE, people_table().drop_columns(["dob"]))


def test_a_plain_postgresql_url_works_too(postgres_url: str) -> None:
    with connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as plain:
        assert plain.execute("SELECT 1").fetchone() == (1,)


def test_an_unreachable_server_says_what_to_check() -> None:
    with pytest.raises(PgBaselineError) as caught:
        connect("postgresql+psycopg://nobody:s3cret@127.0.0.1:1/no_such_db")
    message = str(caught.value)
    assert "can't connect to PostgreSQL at" in message
    assert "127.0.0.1:1" in message
    assert "host, port, user, password and database" in message
    assert "s3cret" not in message


def test_loading_into_an_unreachable_server_says_what_to_check() -> None:
    with pytest.raises(PgBaselineError, match="can't connect"):
        load_people(NOWHERE, people_table(), table="peelian_test_never_created")


@pytest.mark.parametrize("url", ["mysql://root@localhost/people", "not a url at all"])
def test_a_url_that_is_not_postgresql_is_refused(url: str) -> None:
    with pytest.raises(PgBaselineError, match=r"e\.g\. postgresql\+psycopg://"):
        connect(url)
