"""PostgreSQL with pg_trgm: the baseline our person search is measured against.

The search benchmark runs the same records and queries through PostgreSQL's
trigram extension, the tool a force would reach for instead of Peelian. So this
is what a competent DBA would build, not a straw man: a plain table loaded with
COPY, a GIN trigram index on the name and a btree on the date of birth, ANALYZE;
candidates found through the index with the `%` operator and ranked by
`similarity()` plus a bonus for a matching date of birth. Nothing pg_trgm can't
do natively (no phonetics, no nicknames): that is what makes it the baseline.

    load = load_people("postgresql+psycopg://postgres@127.0.0.1:5432/test", people)
    with connect("postgresql+psycopg://postgres@127.0.0.1:5432/test") as conn:
        search_people(conn, "SMITH JON", year=1990)  # ['P00000042', ...]

How pg_trgm sees a name (checked on PostgreSQL 15, pg_trgm 1.6): it lower-cases
the text, splits it into words at every non-alphanumeric character, pads each
word ("JOHN" gives "  j", " jo", "joh", "ohn", "hn ") and keeps the *set* of
trigrams. So case, punctuation, repeated words and word order make no
difference: similarity('JOHN SMITH', 'SMITH JOHN') = 1, and a forename and
surname typed the wrong way round are found as if typed the right way. A
one-letter typo costs about 0.4 on a two-word name (similarity('JOHN SMITH',
'JON SMITH') = 0.62, 'JOHN SMYTH' 0.57), a forename alone scores about 0.45
against the full name, and an extra middle name about 0.7.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from psycopg import sql
from psycopg.rows import tuple_row

DEFAULT_TABLE = "peelian_search_baseline"
# pg_trgm's own default, set on every search so that a server-wide setting
# can't change the baseline. At 0.3 a one-letter typo, a swapped order or a
# missing middle name passes (0.5-1.0), while another surname with the same
# forename mostly does not (JOHN SMITH / JOHN BROWN = 0.29).
SIMILARITY_THRESHOLD = 0.3
# A full date-of-birth match outranks any name-only match (similarity is at
# most 1): two people with close names and the same DOB are rare, so the DOB
# decides. A birth-year match is weaker evidence (many namesakes share a year)
# and is worth about one typo of similarity.
DOB_BONUS = 1.0
YEAR_BONUS = 0.5
# Rows per Arrow batch written into the COPY stream (bounds memory, not speed).
COPY_BATCH_ROWS = 50_000
# What a DBA gives a large index build for the session (PostgreSQL's default is 64MB).
INDEX_BUILD_MEMORY = "256MB"
CONNECT_TIMEOUT_S = 10

# A plain lower-case identifier of at most 63 bytes (PostgreSQL silently
# truncates longer names, so two tables could end up as one).
_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_URL_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_PEOPLE_SCHEMA = pa.schema(
    [("entity_id", pa.string()), ("name", pa.string()), ("dob", pa.date32())]
)
_EXAMPLE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class PgBaselineError(Exception):
    """The PostgreSQL baseline can't run: bad URL, server unreachable, pg_trgm or table missing."""


@dataclass(frozen=True)
class PgLoad:
    """What loading the baseline table cost."""

    rows: int  # rows loaded (those with a name)
    seconds_load: float  # COPY time, to commit
    seconds_index: float  # CREATE INDEX time (GIN trigram + btree on dob); ANALYZE not included
    table_bytes: int  # pg_total_relation_size of the table incl. indexes


def connect(url: str) -> psycopg.Connection[Any]:
    """A psycopg connection (autocommit) to the PostgreSQL database at `url`.

    `url` is a SQLAlchemy-style URL (`postgresql+psycopg://user@host:5432/db`)
    or a plain libpq one (`postgresql://user@host/db`); query parameters such
    as `?sslmode=require` are passed on to libpq.
    """
    params, safe_url = _connection_params(url)
    try:
        return psycopg.connect(**params, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
    except psycopg.Error as exc:
        raise PgBaselineError(
            f"can't connect to PostgreSQL at {safe_url}: {_first_line(exc)}; check that the "
            "server is running and that the URL's host, port, user, password and database "
            f"are right (e.g. {_EXAMPLE_URL})"
        ) from exc


def load_people(url: str, people: pa.Table, *, table: str = DEFAULT_TABLE) -> PgLoad:
    """(Re)create `table` and load `people` into it, then index and analyse it.

    `people` has columns entity_id (string), name (string, a full name
    'FORENAMES SURNAME' in upper case; an entity has one row per name variant
    it is known by) and dob (date32, nullable); other columns are ignored, and
    rows without a name (which no name search can find) are not loaded. The
    rows go in through one COPY written batch by batch, then come a GIN index
    with gin_trgm_ops on name, a btree on dob, and ANALYZE. The pg_trgm
    extension is created if the database lacks it.
    """
    identifier = _table_identifier(table)  # refuse a bad name before touching the server
    rows = _people_rows(people)
    with connect(url) as conn:
        try:
            return _load(conn, table, identifier, rows)
        except psycopg.Error as exc:
            raise PgBaselineError(
                f"loading table {table} at {_connection_params(url)[1]} failed: {_first_line(exc)}"
            ) from exc


def search_people(
    conn: psycopg.Connection[Any],
    name: str,
    dob: dt.date | None = None,
    year: int | None = None,
    *,
    table: str = DEFAULT_TABLE,
    limit: int = 10,
) -> list[str]:
    """The top `limit` distinct entity_ids for `name`, best first.

    Candidates are the rows whose name is trigram-similar to `name` (`name %
    query`, through the GIN index), scored by similarity(name, query) plus
    DOB_BONUS when their date of birth is `dob`, or YEAR_BONUS when their
    birth year is `year` (give one or neither). Each entity appears once, at
    the score of its best-matching name; ties go to the lower entity_id.

        search_people(conn, "SMITH JOHN", dob=dt.date(1990, 2, 1))  # ['P00000042', ...]
    """
    identifier = _table_identifier(table)
    if dob is not None and year is not None:
        raise ValueError("give the full date of birth or the birth year, not both")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if not any(ch.isalnum() for ch in name):
        # No trigrams, so nothing can match; PostgreSQL would plan a sequential
        # scan to find that out (230 ms on 200k rows).
        return []
    born_from, born_before, bonus = _birth_window(dob, year)
    params = {
        "name": name,
        "born_from": born_from,
        "born_before": born_before,
        "bonus": bonus,
        "limit": limit,
    }
    with conn.cursor(row_factory=tuple_row) as cur:
        try:
            # On every search, not once per session: a SET is undone when the
            # caller's transaction rolls back. It costs a round trip, about
            # 0.3 ms next to a search's 9-13 ms median on 200k rows.
            cur.execute(
                "SELECT set_config('pg_trgm.similarity_threshold', %s, false)",
                (str(SIMILARITY_THRESHOLD),),
            )
            cur.execute(_search_query(identifier), params)
        except psycopg.errors.UndefinedTable as exc:
            raise PgBaselineError(
                f"there is no table {table} in database {conn.info.dbname!r}; "
                "load it first with load_people()"
            ) from exc
        return [entity_id for (entity_id,) in cur.fetchall()]


def _search_query(table: sql.Identifier) -> sql.Composed:
    # The plan on 200k rows (PostgreSQL 15, 'JOHN SMITH', warm cache): Bitmap
    # Index Scan on the GIN index (8,716 rows, 4 ms) -> Bitmap Heap Scan
    # rechecking similarity (3,066 left, 26 ms) -> HashAggregate by entity
    # (2,764) -> top-N heapsort -> Limit; 33 ms in all. A rare name
    # ('SIOBHAN OBRIEN', 224 candidates) takes 10 ms. The generic plan that
    # prepared statements switch to is the same. Almost all the time is the
    # recheck, so GROUP BY with max() and DISTINCT ON (entity_id) time the same
    # (11.5 and 11.7 ms median over 900 typo'd queries); GROUP BY reads simpler.
    # With no DOB given the window is NULL, so the CASE gives 0 for every row.
    return sql.SQL(
        """SELECT entity_id
        FROM (
            SELECT entity_id,
                   similarity(name, %(name)s)
                   + CASE WHEN dob >= %(born_from)s AND dob < %(born_before)s
                          THEN %(bonus)s ELSE 0 END AS score
            FROM {table}
            WHERE name %% %(name)s
        ) AS candidate
        GROUP BY entity_id
        ORDER BY max(score) DESC, entity_id
        LIMIT %(limit)s"""
    ).format(table=table)


def _birth_window(
    dob: dt.date | None, year: int | None
) -> tuple[dt.date | None, dt.date | None, float]:
    """The dates of birth that earn a bonus, [from, before), and the bonus."""
    if dob is not None:
        return dob, dob + dt.timedelta(days=1), DOB_BONUS
    if year is not None:
        return dt.date(year, 1, 1), dt.date(year + 1, 1, 1), YEAR_BONUS
    return None, None, 0.0


def _load(
    conn: psycopg.Connection[Any], table: str, identifier: sql.Identifier, rows: pa.Table
) -> PgLoad:
    _ensure_pg_trgm(conn)
    conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(INDEX_BUILD_MEMORY)))
    with conn.transaction():
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(identifier))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (entity_id text NOT NULL, name text NOT NULL, dob date)"
            ).format(identifier)
        )
        started = time.perf_counter()
        copy = sql.SQL("COPY {} (entity_id, name, dob) FROM STDIN (FORMAT csv)").format(identifier)
        with conn.cursor() as cur, cur.copy(copy) as stream:
            for batch in rows.to_batches(max_chunksize=COPY_BATCH_ROWS):
                stream.write(_csv(batch))
    seconds_load = time.perf_counter() - started

    # Unnamed, so PostgreSQL names them (TABLE_name_idx, TABLE_dob_idx) and
    # deals with long names and clashes itself.
    started = time.perf_counter()
    conn.execute(sql.SQL("CREATE INDEX ON {} USING gin (name gin_trgm_ops)").format(identifier))
    conn.execute(sql.SQL("CREATE INDEX ON {} (dob)").format(identifier))
    seconds_index = time.perf_counter() - started

    conn.execute(sql.SQL("ANALYZE {}").format(identifier))
    size = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone()
    return PgLoad(
        rows=rows.num_rows,
        seconds_load=seconds_load,
        seconds_index=seconds_index,
        table_bytes=int(size[0]) if size else 0,
    )


def _ensure_pg_trgm(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except psycopg.Error as exc:
        raise PgBaselineError(
            f"pg_trgm is not installed in database {conn.info.dbname!r} and user "
            f"{conn.info.user!r} can't create it ({_first_line(exc)}); install PostgreSQL's "
            "contrib package on the server and have the database owner run "
            "CREATE EXTENSION pg_trgm"
        ) from exc


def _table_identifier(table: str) -> sql.Identifier:
    """`table` as a quoted SQL identifier, if it is a plain lower-case name."""
    if not _TABLE_NAME.fullmatch(table):
        raise ValueError(
            f"table name {table!r} is not a plain identifier: use 1 to 63 of a-z, 0-9 "
            "and _, not starting with a digit"
        )
    return sql.Identifier(table)


def _people_rows(people: pa.Table) -> pa.Table:
    """`people` as exactly (entity_id string, name string, dob date32), named rows only."""
    missing = [name for name in _PEOPLE_SCHEMA.names if name not in people.column_names]
    if missing:
        raise ValueError(
            f"the people table lacks {', '.join(missing)}: it needs entity_id (string), "
            f"name (string) and dob (date32), and has {', '.join(people.column_names)}"
        )
    try:
        rows = people.select(_PEOPLE_SCHEMA.names).cast(_PEOPLE_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(
            "the people table's columns can't be read as entity_id (string), name (string) "
            f"and dob (date32): {exc}"
        ) from exc
    if rows["entity_id"].null_count:
        raise ValueError(
            f"the people table has {rows['entity_id'].null_count} rows without an entity_id"
        )
    return rows.filter(pc.is_valid(rows["name"]))


def _csv(batch: pa.RecordBatch) -> bytes:
    # Arrow quotes every string and writes null as an empty unquoted field,
    # which COPY's CSV format reads back as NULL; so names with quotes, commas,
    # backslashes or line breaks arrive unchanged. (About twice as fast as
    # psycopg's write_row: 0.13 s for 200k rows against 0.39 s.)
    out = io.BytesIO()
    pa_csv.write_csv(batch, out, pa_csv.WriteOptions(include_header=False))
    return out.getvalue()


def _connection_params(url: str) -> tuple[dict[str, Any], str]:
    """libpq keyword parameters for `url`, and `url` fit to show (no password)."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise PgBaselineError(
            f"{url!r} is not a database URL; expected e.g. {_EXAMPLE_URL}"
        ) from None
    safe_url = parsed.render_as_string(hide_password=True)
    if parsed.drivername not in _URL_SCHEMES:
        raise PgBaselineError(
            f"{safe_url} is not a PostgreSQL URL psycopg can use; it should start with "
            f"{', '.join(scheme + '://' for scheme in _URL_SCHEMES)} (e.g. {_EXAMPLE_URL})"
        )
    # Keywords rather than the URL itself: SQLAlchemy and libpq escape query
    # strings differently ('+' is a space to one and a plus to the other).
    params: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    params = {key: value for key, value in params.items() if value is not None}
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return params, safe_url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
