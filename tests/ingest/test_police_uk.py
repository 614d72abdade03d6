"""Real data.police.uk street files through the `police_uk_street` preset.

West Yorkshire, July 2016-2018 (87,348 rows), is fetched by `make fixtures`
and must be present: these tests fail, not skip, without it. City of London,
2017-2021, is read only where a copy is on the machine (set
PEELIAN_CITY_OF_LONDON_STREET to its folder).
"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from peelian.hub import Hub
from peelian.ingest import IngestSummary, ingest_mapping
from peelian.reference import code_table
from peelian.sources.mapping import load_mapping

POLICE_UK = Path(__file__).parents[1] / "fixtures" / "police_uk"
WEST_YORKSHIRE = "*/20??-07-west-yorkshire-street.csv"
CITY_OF_LONDON = Path(
    os.environ.get(
        "PEELIAN_CITY_OF_LONDON_STREET", "/work/shared/data/police_uk_street/city-of-london"
    )
)


@dataclass(frozen=True)
class Ingested:
    hub: Hub
    summary: IngestSummary
    rows: dict[str, list[dict[str, str]]]  # each file's rows, read with the csv module


def west_yorkshire_files() -> list[Path]:
    files = sorted(POLICE_UK.glob(WEST_YORKSHIRE))
    if len(files) != 3:
        pytest.fail(
            f"{POLICE_UK} holds {len(files)} of the 3 West Yorkshire street files "
            "(July 2016, 2017, 2018): run make fixtures (it fetches them from PyPI)"
        )
    return files


def city_of_london_files() -> list[Path]:
    files = sorted(CITY_OF_LONDON.glob("*-city-of-london-street.csv.gz"))
    if not files:
        pytest.skip(f"no City of London street files in {CITY_OF_LONDON} (not on a fresh clone)")
    return files


CASES = {
    "west_yorkshire": (west_yorkshire_files, POLICE_UK, WEST_YORKSHIRE),
    "city_of_london": (city_of_london_files, CITY_OF_LONDON, "*-city-of-london-street.csv.gz"),
}


@pytest.fixture(scope="module", params=list(CASES))
def ingested(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingested]:
    """The files ingested into a fresh hub by a three-line mapping, as a user would write it."""
    find_files, folder, pattern = CASES[request.param]
    files = find_files()
    work = tmp_path_factory.mktemp(request.param)
    mapping = work / f"{request.param}.yaml"
    mapping.write_text(
        "format: peelian-mapping/1\n"
        "preset: police_uk_street\n"
        f'reader: {{path: "{folder.resolve() / pattern}"}}\n'
    )
    hub = Hub(work / "hub", create=True)
    summary = ingest_mapping(hub, load_mapping(mapping))
    yield Ingested(hub, summary, {f.name: read_rows(f) for f in files})
    hub.close()


def test_the_west_yorkshire_files_are_fetched() -> None:
    # A plain test, so that a missing fetch shows as a failure and not only as
    # errors in the fixture below.
    assert [f.parent.name for f in west_yorkshire_files()] == ["2016-07", "2017-07", "2018-07"]


def read_rows(file: Path) -> list[dict[str, str]]:
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_row_of_every_file_is_read_and_accepted(ingested: Ingested) -> None:
    rows_per_file = {name: len(rows) for name, rows in ingested.rows.items()}
    s = ingested.summary
    assert s.rows_read == sum(rows_per_file.values())
    assert s.rows_read == s.rows_accepted + s.rows_quarantined
    # The files are well formed (every row has the 12 columns, no broken quotes,
    # a crime type and month on every row), so nothing may be quarantined.
    assert s.rows_quarantined == 0
    con = ingested.hub.con
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    kept = con.execute("SELECT file, count(*) FROM source_rows GROUP BY file").fetchall()
    assert {Path(file).name: n for file, n in kept} == rows_per_file
    # one crime and one location per row, joined by one link
    assert (s.mentions, s.links) == (2 * s.rows_read, s.rows_read)


def test_crime_counts_by_type_and_month_match_the_files(ingested: Ingested) -> None:
    crime_types = code_table("police_uk_crime_types")
    expected: Counter[tuple[str, str]] = Counter()
    for name, rows in ingested.rows.items():
        for row in rows:
            slug = crime_types.lookup(row["Crime type"])
            assert slug is not None, f"{name}: crime type {row['Crime type']!r} has no slug"
            expected[slug, row["Month"]] += 1
    # event.occurred is the first of the month, at midnight UTC
    found = ingested.hub.con.execute("""
        SELECT attributes['crime_type'], strftime(timezone('UTC', occurred), '%Y-%m'), count(*)
        FROM event WHERE event_type = 'crime' GROUP BY ALL""").fetchall()
    assert {(slug, month): n for slug, month, n in found} == dict(expected)
    assert ingested.hub.con.execute("SELECT count(*) FROM field_flags").fetchone()[0] == 0


def test_anti_social_behaviour_is_kept_and_known_by_file_and_row(ingested: Ingested) -> None:
    blank_ids = sum(1 for rows in ingested.rows.values() for row in rows if not row["Crime ID"])
    con = ingested.hub.con
    asb = con.execute("""
        SELECT count(*), count(e.reference),
               count(*) FILTER (WHERE m.record_id = m.row_id AND m.record_id LIKE '%#%')
        FROM event e JOIN mentions m USING (mention_id)
        WHERE e.attributes['crime_type'] = 'anti-social-behaviour'""").fetchone()
    assert blank_ids > 0
    assert asb == (blank_ids, 0, blank_ids)


def test_month_only_dates_keep_month_precision(ingested: Ingested) -> None:
    precisions = ingested.hub.con.execute(
        "SELECT DISTINCT occurred_precision FROM event"
    ).fetchall()
    assert precisions == [("month",)]


def test_kpi_counts_equal_a_plain_count_of_the_police_uk_csv(tmp_path: Path) -> None:
    """Crime KPIs on real data.police.uk files: every count is a plain count of the CSV."""
    import pandas as pd

    from peelian.analyse import build_kpis, kpis
    from peelian.analyse.settings import load_settings
    from peelian.hub import Hub
    from peelian.ingest import ingest_mapping
    from peelian.sources.mapping import load_mappings

    files = west_yorkshire_files()
    download = tmp_path / "download"
    for f in files:
        (download / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, download / f.parent.name / f.name)
    (download / "street.yaml").write_text(
        "format: peelian-mapping/1\npreset: police_uk_street\n", encoding="utf-8"
    )
    with Hub(tmp_path / "hub", create=True) as hub:
        for mapping in load_mappings([download / "street.yaml"]):
            ingest_mapping(hub, mapping)
        build_kpis(hub.con, load_settings())
        table = kpis.counts(hub.con, "kpi_crimes")
    raw = pd.concat(pd.read_csv(f, dtype=str, keep_default_na=False) for f in files)
    got = pd.DataFrame(table.rows, columns=table.columns)
    assert int(got["crimes"].sum()) == len(raw)
    got["area"] = got["area"].fillna("")
    mine = got.groupby(["area", "month"])["crimes"].sum().to_dict()
    theirs = raw.groupby(["LSOA code", "Month"]).size().to_dict()
    assert theirs == mine
    by_type = got.groupby("crime_type")["crimes"].sum()
    assert sorted(by_type.tolist()) == sorted(raw.groupby("Crime type").size().tolist())
