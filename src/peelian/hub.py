"""The hub: one folder holding the DuckDB database every stage reads and writes.

    HUB/
      hub.duckdb     source rows, mentions, links, quarantine, data quality

Tables written by the ingest (one row per ...):

- `source_rows`: accepted source row, with its raw content, content hash,
  marking, compartment, handling, sharing roles and extract time: the
  provenance every later fact points back to. `deleted_at` is set when a
  full extract no longer holds the row.
- `mentions`: entity made from a row (a person, vehicle, phone, place,
  organisation or event), keyed `source:row_or_record_id:slot[element]`.
- `person`, `vehicle`, `phone`, `place` (addresses and locations),
  `organisation`, `event`: the mapped and standardised fields, per mention.
- `documents`: free text marked `document: true` (for search and NLP).
- `links`: how mentions of one row are connected, with role and times;
  `to_ref_*` points at a record of another source (`refers_to`).
- `field_flags`: field-level problems (value kept as given, left out of keys).
- `quarantine`: rows that could not be accepted, with raw content and reason.
- `ingest_runs` and `dq_fields`: what each run read and wrote; data quality.
- `sources`: each source's owner, priority (for survivorship), default marking and
  how its bare names are resolved.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import duckdb

HUB_FILE = "hub.duckdb"
MEMORY_LIMIT = "1GB"

_IDENTIFIER = "STRUCT(scheme VARCHAR, value VARCHAR, issuer VARCHAR, valid BOOLEAN)"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS source_rows (
    source VARCHAR NOT NULL, record_id VARCHAR NOT NULL, row_id VARCHAR NOT NULL,
    file VARCHAR, row_number BIGINT, line BIGINT, raw VARCHAR, content_hash VARCHAR NOT NULL,
    marking VARCHAR NOT NULL, compartment VARCHAR, handling VARCHAR, sharing_roles VARCHAR[],
    occurred TIMESTAMPTZ, extract_time TIMESTAMPTZ, ingested_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL, deleted_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS mentions (
    mention_id VARCHAR NOT NULL, source VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL, slot VARCHAR NOT NULL, element INTEGER, kind VARCHAR NOT NULL,
    event_type VARCHAR, run_id VARCHAR NOT NULL, deleted_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS person (
    mention_id VARCHAR NOT NULL, forenames VARCHAR, surname VARCHAR, aliases VARCHAR[],
    street_name VARCHAR, date_of_birth DATE, date_of_birth_precision VARCHAR, age BIGINT,
    age_range VARCHAR, sex VARCHAR, ethnicity_self_defined VARCHAR,
    ethnicity_officer_defined VARCHAR, address VARCHAR, postcode VARCHAR, phones VARCHAR[],
    emails VARCHAR[], warning_markers VARCHAR[], identifiers {_IDENTIFIER}[],
    surname_std VARCHAR, forenames_std VARCHAR, first_name_std VARCHAR,
    first_name_canonical VARCHAR, surname_phonetic VARCHAR, first_name_phonetic VARCHAR
);
CREATE TABLE IF NOT EXISTS vehicle (
    mention_id VARCHAR NOT NULL, vrm VARCHAR, make VARCHAR, model VARCHAR, colour VARCHAR,
    description VARCHAR, vrm_valid BOOLEAN, vrm_style VARCHAR, vrm_key VARCHAR
);
CREATE TABLE IF NOT EXISTS phone (
    mention_id VARCHAR NOT NULL, number VARCHAR, imei VARCHAR, number_valid BOOLEAN,
    number_uk BOOLEAN
);
CREATE TABLE IF NOT EXISTS place (
    mention_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, reference VARCHAR, text VARCHAR,
    postcode VARCHAR, lat DOUBLE, lon DOUBLE, flat VARCHAR, house_number VARCHAR,
    building VARCHAR, street VARCHAR, town VARCHAR, address_key VARCHAR
);
CREATE TABLE IF NOT EXISTS organisation (
    mention_id VARCHAR NOT NULL, name VARCHAR, name_std VARCHAR
);
CREATE TABLE IF NOT EXISTS event (
    mention_id VARCHAR NOT NULL, event_type VARCHAR, reference VARCHAR, occurred TIMESTAMPTZ,
    occurred_precision VARCHAR,
    start TIMESTAMPTZ, "end" TIMESTAMPTZ, recorded TIMESTAMPTZ, beat VARCHAR, text VARCHAR,
    attributes MAP(VARCHAR, VARCHAR)
);
CREATE TABLE IF NOT EXISTS documents (
    mention_id VARCHAR NOT NULL, field VARCHAR NOT NULL, text VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
    link_id VARCHAR NOT NULL, source VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL, type VARCHAR NOT NULL, from_mention VARCHAR, to_mention VARCHAR,
    to_ref_source VARCHAR, to_ref_id VARCHAR, role VARCHAR, role_problem VARCHAR,
    start TIMESTAMPTZ, "end" TIMESTAMPTZ, confidence DOUBLE, run_id VARCHAR NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS field_flags (
    mention_id VARCHAR NOT NULL, source VARCHAR NOT NULL, slot VARCHAR NOT NULL,
    field VARCHAR NOT NULL, reason VARCHAR NOT NULL, raw VARCHAR
);
CREATE TABLE IF NOT EXISTS quarantine (
    run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, file VARCHAR, row_number BIGINT,
    line BIGINT, raw VARCHAR, reason VARCHAR NOT NULL, detail VARCHAR,
    quarantined_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, mapping VARCHAR NOT NULL,
    mapping_hash VARCHAR NOT NULL, extract VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL, rows_read BIGINT NOT NULL, rows_accepted BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL, rows_new BIGINT NOT NULL, rows_changed BIGINT NOT NULL,
    rows_unchanged BIGINT NOT NULL, rows_deleted BIGINT NOT NULL, mentions BIGINT NOT NULL,
    links BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    source VARCHAR NOT NULL, owner VARCHAR, priority INTEGER NOT NULL, marking VARCHAR,
    extract VARCHAR NOT NULL, run_id VARCHAR NOT NULL
);
ALTER TABLE sources ADD COLUMN IF NOT EXISTS bare_names VARCHAR;
CREATE TABLE IF NOT EXISTS dq_fields (
    source VARCHAR NOT NULL, slot VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    field VARCHAR NOT NULL, mentions BIGINT NOT NULL, present BIGINT NOT NULL,
    flagged BIGINT NOT NULL, computed_at TIMESTAMPTZ NOT NULL
);
"""

# The tables that hold one row per mention, and so are cleared together.
KIND_TABLES = ("person", "vehicle", "phone", "place", "organisation", "event")
MENTION_TABLES = ("mentions", *KIND_TABLES, "documents", "field_flags")

# What `peelian extract` finds in documents (people, phones, plates, addresses named in
# intelligence reports and narratives) is kept as mentions of this source: one source row
# per document, with the document's security label, rebuilt by every extract run. No
# mapping may take the name (sources/mapping.py).
TEXT_SOURCE = "text"


def drop_text_mentions(con: duckdb.DuckDBPyConnection, *, stale_only: bool = False) -> int:
    """Remove the mentions extracted from documents, with their links, source rows and
    entity memberships: all of them, or (`stale_only`) those whose document is no longer
    live or was re-ingested since (changed or re-marked: the copy of its label would be
    out of date). Run by every ingest and resolve. Returns how many documents' rows were
    removed."""
    if not has_table(con, "source_rows"):
        return 0
    # stale: the document is no longer live, or its record was re-ingested (changed,
    # re-marked) after the extract that read it
    stale = """
        AND (r.row_id IS NULL OR r.ingested_at > t.ingested_at
             OR r.marking IS DISTINCT FROM t.marking
             OR r.compartment IS DISTINCT FROM t.compartment
             OR r.handling IS DISTINCT FROM t.handling
             OR r.sharing_roles IS DISTINCT FROM t.sharing_roles)"""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE t_text_gone AS
            SELECT t.row_id FROM source_rows t
            LEFT JOIN mentions d ON d.mention_id = t.row_id AND d.deleted_at IS NULL
                 AND d.source <> '{TEXT_SOURCE}'
            LEFT JOIN source_rows r ON r.source = d.source AND r.row_id = d.row_id
                 AND r.deleted_at IS NULL
            WHERE t.source = '{TEXT_SOURCE}'{stale if stale_only else ""}"""
    )
    gone = int(con.execute("SELECT count(*) FROM t_text_gone").fetchall()[0][0])
    if gone:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE t_text_mentions AS SELECT mention_id FROM mentions"
            f" WHERE source = '{TEXT_SOURCE}' AND row_id IN (SELECT row_id FROM t_text_gone)"
        )
        members = ("entity_membership",) if has_table(con, "entity_membership") else ()
        for table in (*KIND_TABLES, "documents", "field_flags", *members, "mentions"):
            con.execute(
                f"DELETE FROM {table} WHERE mention_id IN (SELECT mention_id FROM t_text_mentions)"
            )
        for table in ("links", "source_rows"):
            con.execute(
                f"DELETE FROM {table} WHERE source = '{TEXT_SOURCE}'"
                " AND row_id IN (SELECT row_id FROM t_text_gone)"
            )
        con.execute("DROP TABLE t_text_mentions")
    con.execute("DROP TABLE t_text_gone")
    return gone


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Does the hub on `con` have table `name` (not a temporary one)?"""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = $t AND NOT temporary",
        {"t": name},
    ).fetchall()
    return bool(rows and rows[0][0])


class HubError(Exception):
    """The hub can't be opened (missing, locked by another process, not a hub)."""


class Hub:
    """A hub folder and its open DuckDB connection (use as a context manager)."""

    def __init__(self, path: Path, *, create: bool = False, read_only: bool = False) -> None:
        self.path = Path(path)
        database = self.path / HUB_FILE
        if not database.exists():
            if not create:
                raise HubError(
                    f"{self.path} is not a Peelian hub (no {HUB_FILE}); "
                    "run `peelian ingest --hub DIR ...` to create one"
                )
            if self.path.exists() and not self.path.is_dir():
                raise HubError(f"{self.path} exists and is not a folder")
            self.path.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(database), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise HubError(
                    f"{database} is in use by another Peelian process (an ingest or refresh "
                    "is running); wait for it to finish"
                ) from exc
            raise HubError(f"can't open {database}: {exc}") from exc
        except duckdb.Error as exc:
            raise HubError(f"{database} is not a readable hub database: {exc}") from exc
        # Bounded memory: DuckDB spills to disk rather than growing with the input.
        self.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        self.con.execute("SET preserve_insertion_order = false")
        if not read_only:
            self.con.execute(SCHEMA)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Hub:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
