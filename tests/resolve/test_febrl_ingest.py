"""The FEBRL person data sets land in the hub whole, one person mention per row.

The resolver is judged on FEBRL (see tests/resolve/febrl.py), so its input must be
the files as written: every row kept, every name, postcode and social security
number as given, dates of birth read where they can be and flagged where they
can't. data/febrl.yaml maps dataset3; the other four files go through a copy of
it. The tests skip when `make fixtures` hasn't fetched the files.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.resolve.febrl import (
    DATASETS,
    MAPPING,
    febrl_file,
    febrl_mapping,
    febrl_truth,
    read_febrl,
)

from peelian.hub import Hub
from peelian.ingest import IngestSummary, ingest_mapping
from peelian.sources.mapping import load_mapping


@dataclass(frozen=True)
class Expected:
    people: int
    sizes: dict[int, int]  # records per person -> how many people
    forenames: int
    surname: int
    dob_day: int  # read to the day
    dob_partial: int  # month 00: read to the year (Peelian's "unknown" convention)
    dob_flagged: int  # impossible (day 00, 31 September...): flagged, left out


# Counted from the files with the csv module; the rows are 1,000 for dataset1 and
# 5,000 for the others, and every row has a postcode and a social security number.
EXPECTED = {
    "dataset1.csv": Expected(500, {2: 500}, 956, 982, 956, 0, 3),
    "dataset2.csv": Expected(
        4000, {1: 3572, 2: 114, 3: 141, 4: 107, 5: 47, 6: 19}, 4891, 4936, 4880, 1, 9
    ),
    "dataset3.csv": Expected(
        2000, {1: 835, 2: 368, 3: 256, 4: 212, 5: 161, 6: 168}, 4844, 4921, 4810, 4, 31
    ),
    "dataset4a.csv": Expected(5000, {1: 5000}, 4888, 4952, 4906, 0, 0),
    "dataset4b.csv": Expected(5000, {1: 5000}, 4766, 4898, 4737, 9, 55),
}


@dataclass(frozen=True)
class Ingested:
    name: str
    hub: Hub
    summary: IngestSummary
    rows: list[dict[str, str]]  # the file's rows, stripped

    def query(self, sql: str) -> list[tuple[object, ...]]:
        return self.hub.con.execute(sql).fetchall()


@pytest.fixture(scope="module", params=DATASETS)
def ingested(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingested]:
    name: str = request.param
    csv_path = febrl_file(name)
    work = tmp_path_factory.mktemp(Path(name).stem)
    # dataset3 through the mapping itself, so its path relative to the mapping is checked too
    mapping = MAPPING if name == "dataset3.csv" else febrl_mapping(csv_path, work)
    hub = Hub(work / "hub", create=True)
    summary = ingest_mapping(hub, load_mapping(mapping))
    yield Ingested(name, hub, summary, read_febrl(csv_path))
    hub.close()


def people(ingested: Ingested) -> dict[str, dict[str, object]]:
    found = ingested.query(
        """SELECT m.record_id, p.forenames, p.surname, p.date_of_birth,
                  p.date_of_birth_precision, p.address, p.postcode, p.identifiers
           FROM person p JOIN mentions m USING (mention_id)"""
    )
    names = ("forenames", "surname", "dob", "precision", "address", "postcode", "identifiers")
    return {str(r[0]): dict(zip(names, r[1:], strict=True)) for r in found}


def test_the_truth_is_in_the_record_ids() -> None:
    for name in DATASETS:
        truth = febrl_truth(febrl_file(name))
        expected = EXPECTED[name]
        per_person = Counter(truth.values())
        assert (len(truth), len(per_person)) == (
            sum(k * n for k, n in expected.sizes.items()),
            expected.people,
        ), name
        assert dict(Counter(per_person.values())) == expected.sizes, name
        # every person has exactly one original record, except in the duplicates-only 4b
        originals = Counter(person for rec, person in truth.items() if rec.endswith("-org"))
        if name != "dataset4b.csv":
            assert originals == Counter(set(truth.values())), name
    assert febrl_truth(febrl_file("dataset3.csv"))["rec-552-dup-3"] == "rec-552"
    # 4a holds the originals of 4b's duplicates: together, 5,000 pairs
    linked = Counter(febrl_truth(febrl_file("dataset4a.csv")).values()) + Counter(
        febrl_truth(febrl_file("dataset4b.csv")).values()
    )
    assert Counter(linked.values()) == {2: 5000}


def test_every_row_is_accepted_as_one_person_mention(ingested: Ingested) -> None:
    s, rows = ingested.summary, ingested.rows
    assert len(rows) == (1000 if ingested.name == "dataset1.csv" else 5000)
    # the files are well formed (dataset4a with CRLF line ends and no newline after its
    # last row): nothing is quarantined, nothing else is made
    assert (s.rows_read, s.rows_accepted, s.rows_quarantined) == (len(rows), len(rows), 0)
    assert (s.mentions, s.links) == (len(rows), 0)
    assert ingested.query("SELECT count(*) FROM quarantine") == [(0,)]
    mentions = ingested.query("SELECT record_id, row_id, slot, kind FROM mentions")
    assert sorted(mentions) == sorted((r["rec_id"], r["rec_id"], "person", "person") for r in rows)


def test_names_addresses_postcodes_and_numbers_are_kept_as_written(ingested: Ingested) -> None:
    found = people(ingested)
    for row in ingested.rows:
        person = found[row["rec_id"]]
        parts = [row[c] for c in ("street_number", "address_1", "address_2", "suburb", "state")]
        assert {k: person[k] for k in ("forenames", "surname", "postcode", "identifiers")} == {
            "forenames": row["given_name"] or None,
            "surname": row["surname"] or None,
            # four digits, 0800 and the like with their leading zero, never flagged
            "postcode": row["postcode"],
            "identifiers": [
                {
                    "scheme": "partner_ref",
                    "value": row["soc_sec_id"],
                    "issuer": "au_soc_sec",
                    "valid": True,
                }
            ],
        }, row["rec_id"]
        # the parts one space apart (two where a part is empty), in order
        address = str(person["address"])
        assert address == address.strip(), row["rec_id"]
        assert address.split() == " ".join(parts).split(), row["rec_id"]
    assert all(len(str(p["postcode"])) == 4 for p in found.values())


def test_dates_of_birth_are_read_or_flagged_and_never_lose_the_row(ingested: Ingested) -> None:
    found = people(ingested)
    flags = {
        str(record): (field, reason, str(raw).strip())
        for record, field, reason, raw in ingested.query(
            """SELECT m.record_id, f.field, f.reason, f.raw
               FROM field_flags f JOIN mentions m USING (mention_id)"""
        )
    }
    day = partial = flagged = 0
    for row in ingested.rows:
        record, written, person = row["rec_id"], row["date_of_birth"], found[row["rec_id"]]
        if not written:  # missing: no value and no flag
            assert (person["dob"], record in flags) == (None, False), record
            continue
        try:
            real = dt.datetime.strptime(written, "%Y%m%d").date()
        except ValueError:
            real = None
        if real is not None:
            assert (person["dob"], person["precision"], record in flags) == (real, "day", False)
            day += 1
        elif written[4:6] == "00":  # an unknown month: the year is kept
            assert (person["dob"], person["precision"]) == (
                dt.date(int(written[:4]), 1, 1),
                "year",
            ), record
            partial += 1
        else:
            assert person["dob"] is None, record
            assert flags[record] == ("date_of_birth", "impossible_date", written)
            flagged += 1
    expected = EXPECTED[ingested.name]
    assert (day, partial, flagged) == (expected.dob_day, expected.dob_partial, expected.dob_flagged)
    # the only field flags are those dates
    assert len(flags) == flagged


def test_names_and_dates_of_birth_are_present_in_the_expected_shares(ingested: Ingested) -> None:
    expected = EXPECTED[ingested.name]
    [counts] = ingested.query(
        """SELECT count(*), count(forenames), count(surname),
                  count(*) FILTER (WHERE date_of_birth_precision = 'day'),
                  count(postcode), count(address), count(identifiers)
           FROM person"""
    )
    rows = len(ingested.rows)
    assert counts == (
        rows,
        expected.forenames,
        expected.surname,
        expected.dob_day,
        rows,
        rows,
        rows,
    )
    # what the resolver has to work with: most records are complete, none is empty
    assert min(counts[1:4]) / rows > 0.94
    dq = ingested.query(
        "SELECT field, mentions, present, flagged FROM dq_fields WHERE source = 'febrl'"
        " ORDER BY field"
    )
    assert dq == [
        ("address", rows, rows, 0),
        ("date_of_birth", rows, expected.dob_day + expected.dob_partial, expected.dob_flagged),
        ("forenames", rows, expected.forenames, 0),
        ("identifiers", rows, rows, 0),
        ("postcode", rows, rows, 0),
        ("surname", rows, expected.surname, 0),
    ]
