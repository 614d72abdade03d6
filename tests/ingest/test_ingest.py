"""Ingest behaviour: nothing lost, re-runs idempotent, deletions marked, hostile input handled."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from peelian.hub import Hub
from peelian.ingest import ingest_mapping
from peelian.sources.mapping import load_mapping, load_mappings
from peelian.sources.readers import SourceError

TABLES = (
    "source_rows",
    "mentions",
    "person",
    "vehicle",
    "phone",
    "place",
    "organisation",
    "event",
    "documents",
    "links",
    "field_flags",
    "quarantine",
)


def snapshot(hub: Hub) -> dict[str, Any]:
    """Everything the hub holds that a re-run must not change."""
    out: dict[str, Any] = {}
    for table in TABLES:
        columns = list(hub.con.execute(f"DESCRIBE {table}").fetchall())
        names = [c[0] for c in columns if c[0] not in ("run_id", "quarantined_at", "ingested_at")]
        select = ", ".join(f'"{n}"::VARCHAR' for n in names)
        out[table] = sorted(hub.con.execute(f"SELECT {select} FROM {table}").fetchall(), key=repr)
    return out


@pytest.fixture(scope="module")
def ingested(force: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Hub, list[Any]]:
    hub = Hub(tmp_path_factory.mktemp("hub") / "hub", create=True)
    summaries = [ingest_mapping(hub, m) for m in load_mappings([force / "mappings"])]
    yield hub, summaries
    hub.close()


def test_every_synthetic_source_quarantines_exactly_the_rows_the_generator_broke(
    force: Path, ingested: tuple[Hub, list[Any]]
) -> None:
    hub, _ = ingested
    broken = pq.read_table(force / "truth" / "broken_rows.parquet").to_pylist()
    expected = {(b["source"], b["line"], b["kind"]) for b in broken}
    found = set(hub.con.execute("SELECT source, line, reason FROM quarantine").fetchall())
    assert found == expected
    assert len(expected) > 30  # every text source has some


def test_count_in_equals_records_out_plus_quarantined(ingested: tuple[Hub, list[Any]]) -> None:
    hub, summaries = ingested
    for s in summaries:
        kept = hub.con.execute(
            "SELECT count(*) FROM source_rows WHERE source = ? AND deleted_at IS NULL", [s.source]
        ).fetchone()[0]
        quarantined = hub.con.execute(
            "SELECT count(*) FROM quarantine WHERE source = ?", [s.source]
        ).fetchone()[0]
        assert s.rows_read == kept + quarantined == s.rows_accepted + s.rows_quarantined


def test_every_source_row_is_a_line_of_its_file(
    force: Path, ingested: tuple[Hub, list[Any]]
) -> None:
    _, summaries = ingested
    by_source = {s.source: s.rows_read for s in summaries}
    crime_lines = (force / "sources/crime/crime_records.csv").read_bytes().count(b"\n") - 1
    assert by_source["crime"] == crime_lines
    anpr = pq.read_metadata(force / "sources/anpr/anpr_reads.parquet").num_rows
    assert by_source["anpr"] == anpr


def test_mentions_keep_provenance_and_marking(ingested: tuple[Hub, list[Any]]) -> None:
    hub, _ = ingested
    orphans = hub.con.execute(
        """SELECT count(*) FROM mentions m LEFT JOIN source_rows r
           ON r.source = m.source AND r.row_id = m.row_id WHERE r.row_id IS NULL"""
    ).fetchone()[0]
    assert orphans == 0
    markings = {
        m for (m,) in hub.con.execute("SELECT DISTINCT marking FROM source_rows").fetchall()
    }
    assert markings <= {"OFFICIAL", "OFFICIAL-SENSITIVE", "SECRET"}
    compartments = hub.con.execute(
        "SELECT count(*) FROM source_rows WHERE source = 'intelligence' AND compartment IS NOT NULL"
    ).fetchone()[0]
    assert compartments > 0
    restricted = hub.con.execute(
        "SELECT count(*) FROM source_rows WHERE source = 'referrals' AND len(sharing_roles) > 0"
    ).fetchone()[0]
    assert restricted > 0


def test_people_are_standardised_for_matching(ingested: tuple[Hub, list[Any]]) -> None:
    hub, _ = ingested
    rows = hub.con.execute(
        """SELECT count(*), count(surname_std), count(first_name_canonical),
                  count(surname_phonetic), count(date_of_birth)
           FROM person JOIN mentions USING (mention_id)
           WHERE surname IS NOT NULL AND source = 'crime'"""
    ).fetchone()
    assert rows[0] > 300
    assert rows[1] == rows[3] == rows[0]
    assert rows[2] > 0.9 * rows[0]
    assert rows[4] > 0.8 * rows[0]
    pnc = hub.con.execute(
        "SELECT count(*) FROM person, unnest(identifiers) AS i(x) WHERE x.scheme = 'pnc'"
    ).fetchone()[0]
    assert pnc > 0


def test_links_join_mentions_of_the_same_row(ingested: tuple[Hub, list[Any]]) -> None:
    hub, _ = ingested
    dangling = hub.con.execute(
        """SELECT count(*) FROM links l
           WHERE (l.from_mention IS NOT NULL
                  AND l.from_mention NOT IN (SELECT mention_id FROM mentions))
              OR (l.to_mention IS NOT NULL
                  AND l.to_mention NOT IN (SELECT mention_id FROM mentions))
              OR (l.to_mention IS NULL AND l.to_ref_id IS NULL)"""
    ).fetchone()[0]
    assert dangling == 0
    roles = {
        r
        for (r,) in hub.con.execute(
            "SELECT DISTINCT role FROM links WHERE source = 'crime' AND type = 'PARTY_TO'"
        ).fetchall()
    }
    assert {"victim", "suspect"} <= roles


def test_reingesting_an_unchanged_extract_changes_nothing(
    force: Path, ingested: tuple[Hub, list[Any]]
) -> None:
    hub, _ = ingested
    before = snapshot(hub)
    again = [ingest_mapping(hub, m) for m in load_mappings([force / "mappings"])]
    assert all(s.rows_new == s.rows_changed == s.rows_deleted == 0 for s in again)
    assert snapshot(hub) == before


# ------------------------------------------------------------ a small source


def write_source(folder: Path, rows: list[str], *, extract: str = "full", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "people.csv").write_text(
        "REF,NAME,DOB,PHONE,MARK\n" + "".join(r + "\n" for r in rows), encoding="utf-8"
    )
    mapping = folder / "people.yaml"
    mapping.write_text(
        textwrap.dedent(f"""\
        format: peelian-mapping/1
        source:
          name: people
          title: Test people list
          owner: Test
          default_marking: OFFICIAL
          handling: null
          sharing: {{roles: []}}
          priority: 50
          extract: {extract}
        reader:
          kind: csv
          path: people.csv
          {extra}
        record:
          id: "{{REF}}"
          marking: {{column: MARK}}
        entities:
          - as: person
            kind: person
            fields:
              surname: {{column: NAME, transform: [{{split_name: surname_first}}],
                         part: surname}}
              forenames: {{column: NAME, transform: [{{split_name: surname_first}}],
                           part: forenames}}
              date_of_birth: {{column: DOB, transform: [{{parse_date: ["%d/%m/%Y"]}}]}}
          - as: phone
            kind: phone
            fields:
              number: {{column: PHONE, transform: [{{normalise: phone}}]}}
        links:
          - {{from: person, to: phone, type: HAS_PHONE}}
        unmapped: []
        """),
        encoding="utf-8",
    )
    return mapping


def counts(hub: Hub) -> dict[str, int]:
    return dict(
        hub.con.execute(
            """SELECT coalesce(deleted_at IS NOT NULL, false)::VARCHAR, count(*)
           FROM source_rows GROUP BY 1"""
        ).fetchall()
    )


def test_changed_rows_replace_and_vanished_rows_are_marked_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    rows = [
        'P1,"SMITH, John",01/02/1990,07700 900123,OFFICIAL',
        'P2,"JONES, Mary",03/04/1985,,OFFICIAL',
        'P3,"PATEL, Ravi",05/06/1970,,OFFICIAL',
    ]
    mapping = write_source(folder, rows)
    with Hub(tmp_path / "hub", create=True) as hub:
        first = ingest_mapping(hub, load_mapping(mapping))
        assert (first.rows_new, first.rows_changed, first.rows_deleted) == (3, 0, 0)
        write_source(folder, [rows[0], 'P2,"JONES, Mary Ann",03/04/1985,,OFFICIAL'])
        second = ingest_mapping(hub, load_mapping(mapping))
        assert (second.rows_unchanged, second.rows_changed, second.rows_deleted) == (1, 1, 1)
        names = hub.con.execute(
            """SELECT p.forenames FROM person p JOIN mentions m USING (mention_id)
               WHERE m.row_id = 'P2'"""
        ).fetchall()
        assert names == [("Mary Ann",)]
        gone = hub.con.execute(
            "SELECT deleted_at IS NOT NULL FROM mentions WHERE row_id = 'P3'"
        ).fetchall()
        assert gone == [(True,)]
        assert counts(hub) == {"false": 2, "true": 1}


def test_delta_extract_never_deletes(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    mapping = write_source(folder, ['P1,"SMITH, John",01/02/1990,,OFFICIAL'], extract="delta")
    with Hub(tmp_path / "hub", create=True) as hub:
        ingest_mapping(hub, load_mapping(mapping))
        write_source(folder, ['P2,"JONES, Mary",03/04/1985,,OFFICIAL'], extract="delta")
        summary = ingest_mapping(hub, load_mapping(mapping))
        assert summary.rows_deleted == 0
        assert counts(hub) == {"false": 2}


def test_impossible_date_is_flagged_and_the_row_kept(tmp_path: Path) -> None:
    mapping = write_source(tmp_path / "src", ['P1,"SMITH, John",31/02/2020,,OFFICIAL'])
    with Hub(tmp_path / "hub", create=True) as hub:
        summary = ingest_mapping(hub, load_mapping(mapping))
        assert (summary.rows_accepted, summary.rows_quarantined) == (1, 0)
        flag = hub.con.execute("SELECT field, reason, raw FROM field_flags").fetchall()
        assert flag == [("date_of_birth", "impossible_date", "31/02/2020")]
        assert hub.con.execute("SELECT date_of_birth FROM person").fetchall() == [(None,)]


def test_hostile_rows_are_quarantined_with_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    mapping = write_source(folder, [], extra="max_line_bytes: 1000")
    good = b'P1,"SMITH, John",01/02/1990,,OFFICIAL\n'
    (folder / "people.csv").write_bytes(
        b"REF,NAME,DOB,PHONE,MARK\n"
        + good
        + b"P2,"
        + b"A" * 5000
        + b",01/02/1990,,OFFICIAL\n"  # over-long line
        + b'P3,"JONES, Mary,03/04/1985,,OFFICIAL\n'  # quote never closed
        + b"P4,\xff\xfeBAD,01/02/1990,,OFFICIAL\n"  # not UTF-8
        + b"P5,only two\n"
        + b",,,,\n"
        + b'P6,"PATEL, Ravi",05/06/1970,,RESTRICTED\n'  # withdrawn marking: fails closed
        + b'P1,"SMITH, John",01/02/1990,,OFFICIAL\n'  # the same record twice
        + b'P7,"LEE, Ann",05/06/1970,,OFFICIAL\n'
    )
    with Hub(tmp_path / "hub", create=True) as hub:
        summary = ingest_mapping(hub, load_mapping(mapping))
        reasons = dict(
            hub.con.execute("SELECT line, reason FROM quarantine ORDER BY line").fetchall()
        )
        assert reasons == {
            3: "line_too_long",
            4: "broken_quote",
            5: "undecodable",
            6: "wrong_column_count",
            7: "empty_row",
            8: "unknown_marking",
            9: "duplicate_row_id",
        }
        assert (summary.rows_read, summary.rows_accepted) == (9, 2)
        raw = hub.con.execute("SELECT raw FROM quarantine WHERE line = 8").fetchone()[0]
        assert "RESTRICTED" in raw


def test_a_binary_file_is_refused_and_the_hub_left_unchanged(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    mapping = write_source(folder, ['P1,"SMITH, John",01/02/1990,,OFFICIAL'])
    with Hub(tmp_path / "hub", create=True) as hub:
        ingest_mapping(hub, load_mapping(mapping))
        before = snapshot(hub)
        (folder / "people.csv").write_bytes(bytes(range(256)) * 100)
        with pytest.raises(SourceError, match="binary file"):
            ingest_mapping(hub, load_mapping(mapping))
        assert snapshot(hub) == before


def test_an_interrupted_ingest_leaves_the_hub_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    rows = [f'P{i},"SMITH, John",01/02/1990,,OFFICIAL' for i in range(3000)]
    mapping = write_source(folder, rows[:10])
    with Hub(tmp_path / "hub", create=True) as hub:
        ingest_mapping(hub, load_mapping(mapping))
        before = snapshot(hub)
        write_source(folder, rows)

        def interrupt(_: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            ingest_mapping(hub, load_mapping(mapping), batch_rows=1000, progress=interrupt)
        assert snapshot(hub) == before
        summary = ingest_mapping(hub, load_mapping(mapping), batch_rows=1000)
        assert summary.rows_new == 2990
