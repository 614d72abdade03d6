"""Specifications for the code tables mappings look values up in (peelian.reference)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peelian.reference import code_table, code_table_names, read_table
from peelian.sources import load_mappings
from peelian.synth.config import SynthConfig, load_settings
from peelian.synth.generate import generate

ROOT = Path(__file__).resolve().parents[2]
POLICE_UK = ROOT.parent / "shared" / "data" / "police_uk_street"


@pytest.mark.parametrize("name", code_table_names())
def test_every_code_table_loads_and_has_codes(name: str) -> None:
    table = code_table(name)
    assert table.codes
    assert table is code_table(name)  # read once


def test_the_tables_the_mappings_name_all_exist() -> None:
    assert set(code_table_names()) >= {
        "police_uk_crime_types",
        "police_uk_outcomes",
        "ethnicity_codes",
        "ic_codes",
        "officer_defined_ethnicity",
        "nominal_roles",
        "sex_codes",
        "grading_3x5x2",
        "grading_5x5x5",
        "partner_sharing_roles",
    }


@pytest.mark.parametrize(
    ("table", "wording", "code"),
    [
        ("police_uk_crime_types", "Violence and sexual offences", "violent-crime"),
        ("police_uk_crime_types", "VIOLENCE AND SEXUAL OFFENCES", "violent-crime"),
        ("police_uk_crime_types", "violent-crime", "violent-crime"),
        ("police_uk_crime_types", "Anti-social behaviour", "anti-social-behaviour"),
        ("police_uk_crime_types", "Public disorder and weapons", "public-disorder-weapons"),
        ("police_uk_outcomes", "Offender imprisoned", "offender-imprisoned"),
        ("police_uk_outcomes", "Offender sent to prison", "offender-imprisoned"),
        ("police_uk_outcomes", "Offender given a penalty notice", "penalty-notice-issued"),
        ("police_uk_outcomes", "Offender given penalty notice", "penalty-notice-issued"),
        ("ethnicity_codes", "w1", "W1"),
        ("ethnicity_codes", "Other ethnic group - Not stated", "NS"),
        ("ic_codes", "ic3", "IC3"),
        ("officer_defined_ethnicity", "white", "White"),
        ("nominal_roles", "VICTIM", "victim"),
        ("nominal_roles", "Informant", "reporter"),
        ("sex_codes", "  Female ", "F"),
        ("sex_codes", "u", "U"),
        ("sex_codes", "Other", "O"),
    ],
)
def test_lookup_ignores_case_and_surrounding_spaces(table: str, wording: str, code: str) -> None:
    assert code_table(table).lookup(wording) == code


@given(st.text(max_size=12))
def test_lookup_gives_a_valid_code_or_none(wording: str) -> None:
    table = code_table("sex_codes")
    code = table.lookup(wording)
    assert code is None or code in table.codes


def test_an_unknown_wording_has_no_code() -> None:
    assert code_table("sex_codes").lookup("Mail") is None
    assert code_table("partner_sharing_roles").lookup_list("EVERYONE") is None


def test_a_sharing_wording_gives_every_role_it_allows() -> None:
    table = code_table("partner_sharing_roles")
    assert table.several
    assert table.lookup_list("mash partners only") == [
        "safeguarding_officer",
        "safeguarding_supervisor",
        "mash_officer",
    ]
    with pytest.raises(ValueError, match="use lookup_list"):
        table.lookup("MASH PARTNERS ONLY")


def test_a_grading_is_checked_part_by_part() -> None:
    current = code_table("grading_3x5x2")
    assert current.parts == ("source", "intelligence", "handling")
    grading = {"source": "2", "intelligence": "c", "handling": "C"}
    assert {part: current.part(part).lookup(v) for part, v in grading.items()} == {
        "source": "2",
        "intelligence": "C",
        "handling": "C",
    }
    assert current.part("source").lookup("C") is None  # C is not a source grade
    legacy = code_table("grading_5x5x5")
    assert legacy.part("source").lookup("E") == "E"
    assert legacy.part("handling").lookup("5") == "5"
    assert legacy.part("intelligence").lookup("6") is None
    with pytest.raises(ValueError, match="graded in parts"):
        current.lookup("2")
    with pytest.raises(LookupError, match="no part 'grade'"):
        current.part("grade")


def test_an_unknown_table_is_a_key_error_naming_the_tables() -> None:
    with pytest.raises(KeyError) as caught:
        code_table("sex_code")
    assert "no code table 'sex_code'" in str(caught.value)
    assert "sex_codes" in str(caught.value)


def test_no_wording_is_given_two_codes() -> None:
    # code_table raises on a clash; every table is built
    for name in code_table_names():
        code_table(name)
    for row in read_table("code_tables"):
        assert (ROOT / "src" / "peelian" / "reference" / row["file"]).is_file()


# Every label in real police.uk files is known -----------------------------------------


def police_uk_files() -> list[Path]:
    return sorted(POLICE_UK.glob("*.csv.gz")) + sorted(POLICE_UK.glob("*/*.csv.gz"))


@pytest.mark.skipif(not POLICE_UK.is_dir(), reason="the shared police.uk files are not here")
def test_every_crime_type_and_outcome_in_real_police_uk_files_is_known() -> None:
    types, outcomes = code_table("police_uk_crime_types"), code_table("police_uk_outcomes")
    unknown: set[str] = set()
    for path in police_uk_files():
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if types.lookup(row["Crime type"]) is None:
                    unknown.add(f"crime type {row['Crime type']!r} in {path.name}")
                outcome = row["Last outcome category"]
                if outcome and outcomes.lookup(outcome) is None:
                    unknown.add(f"outcome {outcome!r} in {path.name}")
    assert len(police_uk_files()) >= 63
    assert not unknown


# Every code the synthetic force writes is known -------------------------------------


def lookups(mapping: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    """(column, table, transforms before the lookup) for every column looked up."""
    found = []
    values = [mapping["record"]["sharing"] or {}]
    for entity in mapping["entities"]:
        values.append(entity["fields"])
    for link in mapping["links"]:
        values.append({"role": link["role"]})
    for group in values:
        for value in group.values():
            if not isinstance(value, dict) or "column" not in value:
                continue
            for i, step in enumerate(value["transform"]):
                if isinstance(step, dict) and "lookup" in step:
                    found.append((value["column"], step["lookup"], value["transform"][:i]))
    return found


@pytest.fixture(scope="module")
def clean_force(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic force without the deliberately broken rows."""
    settings = load_settings()
    settings["broken_rows"] = {"rate": 0, "min_per_source": 0}
    config = SynthConfig(
        settings=settings, people=3000, seed=5, start=dt.date(2024, 1, 1), months=6
    )
    out = tmp_path_factory.mktemp("clean") / "force"
    generate(config, out)
    return out


def test_every_code_the_synthetic_force_writes_is_known(clean_force: Path) -> None:
    unknown = []
    for mapping in load_mappings([clean_force / "mappings"]):
        reader = mapping.data["reader"]
        if reader["kind"] != "csv":
            continue
        path = mapping.base_dir / reader["path"]
        with open(path, encoding=reader["encoding"], newline="") as f:
            rows = list(csv.DictReader(f, delimiter=reader["delimiter"]))
        for column, table_name, before in lookups(mapping.data):
            table = code_table(table_name)
            for raw in {row[column] for row in rows if row[column]}:
                assert not before, "only the value as written is looked up in these mappings"
                if table.lookup_list(raw) is None:
                    unknown.append(f"{mapping.name}: {column} {raw!r} is not in {table_name}")
    assert not unknown


def test_every_grade_the_synthetic_intelligence_reports_use_is_known(clean_force: Path) -> None:
    with open(
        clean_force / "sources" / "intelligence" / "intel_reports.jsonl", encoding="utf-8"
    ) as f:
        for line in f:
            grading = json.loads(line)["grading"]
            table = code_table(f"grading_{grading['scheme']}")
            for part in table.parts:
                assert table.part(part).lookup(grading[part]) is not None, grading
