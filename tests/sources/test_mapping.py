"""Specifications for loading and checking mapping files (peelian.sources.mapping)."""

from __future__ import annotations

import copy
import csv
import gzip
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from peelian.sources import (
    Mapping,
    MappingError,
    Problem,
    load_mapping,
    load_mappings,
    presets,
)
from peelian.sources.mapping import PRESETS_DIR, SCHEMA_PATH, schema

ROOT = Path(__file__).resolve().parents[2]
SYNTH = ROOT / "src" / "peelian" / "synth" / "mappings"
SHIPPED = sorted(SYNTH.glob("*.yaml")) + sorted(PRESETS_DIR.glob("*.yaml"))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def broken_copy(folder: Path, source: str, old: str, new: str) -> Path:
    """A shipped mapping with `old` replaced by `new`, under its own file name."""
    text = (SYNTH / f"{source}.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {source}.yaml"
    return write(folder, f"{source}.yaml", text.replace(old, new))


def line_of(path: Path, marker: str) -> int:
    """The line where `marker` (found once in the file) starts."""
    text = path.read_text(encoding="utf-8")
    assert text.count(marker) == 1, f"{marker!r} must occur once in {path.name}"
    return text[: text.index(marker)].count("\n") + 1


# Every shipped mapping loads ---------------------------------------------------------


def test_the_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(schema())
    assert SCHEMA_PATH.name == "mapping.schema.json"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_each_shipped_mapping_loads(path: Path) -> None:
    mapping = load_mapping(path)
    assert mapping.name == path.stem
    assert mapping.base_dir == path.parent


def test_both_presets_are_shipped() -> None:
    assert presets() == ("police_uk_stop_search", "police_uk_street")


def test_load_mappings_reads_every_yaml_file_of_a_folder_in_name_order() -> None:
    mappings = load_mappings([SYNTH])
    assert [m.name for m in mappings] == sorted(p.stem for p in SYNTH.glob("*.yaml"))
    assert len(mappings) == 11


def test_defaults_are_filled_in() -> None:
    crime = load_mapping(SYNTH / "crime.yaml").data
    assert crime["preset"] is None
    assert crime["record"]["id"] == ["{CRIME_REF}"]
    assert crime["record"]["compartment"] is None
    assert crime["reader"]["max_line_bytes"] == 16_777_216
    assert crime["reader"]["max_record_lines"] == 100
    nominal = next(e for e in crime["entities"] if e["as"] == "nominal")
    assert nominal["scope"] == "row"
    assert nominal["type"] is None
    assert nominal["refers_to"] is None
    assert nominal["fields"]["age"] == {
        "column": "NOMINAL_AGE",
        "transform": [],
        "part": None,
        "document": False,
    }
    assert nominal["fields"]["identifiers"][0]["issuer"] is None
    assert crime["links"][0]["role"] is None

    custody = load_mapping(SYNTH / "custody.yaml").data
    arrest = custody["entities"][0]["fields"]
    assert arrest["station"]["transform"][0]["regex"]["group"] == 1

    intelligence = load_mapping(SYNTH / "intelligence.yaml").data
    assert intelligence["reader"] == {
        "kind": "jsonl",
        "path": yaml.safe_load((SYNTH / "intelligence.yaml").read_text())["reader"]["path"],
        "encoding": "utf-8",
        "timezone": "Europe/London",
        "max_line_bytes": 16_777_216,
    }
    assert intelligence["source"]["sharing"] == {"roles": []}


def anpr_from_sql(folder: Path, url: str) -> Path:
    """The ANPR mapping, reading a database table instead of a Parquet file."""
    text = (SYNTH / "anpr.yaml").read_text(encoding="utf-8")
    reader = f'reader:\n  kind: sql\n  url: {url}\n  query: "SELECT * FROM reads"\n'
    return write(folder, "anpr.yaml", re.sub(r"reader:\n(  .*\n)+", reader, text))


def test_a_sql_reader_gets_its_defaults(tmp_path: Path) -> None:
    reader = load_mapping(anpr_from_sql(tmp_path, "postgresql://user@localhost/anpr")).data[
        "reader"
    ]
    assert reader["timeout_s"] == 300
    assert reader["batch_rows"] == 10_000
    assert reader["timezone"] == "UTC"


def test_a_password_in_a_sql_url_is_refused(tmp_path: Path) -> None:
    path = anpr_from_sql(tmp_path, "postgresql://anpr:secret@db/anpr")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert f"anpr.yaml line {line_of(path, 'url:')}," in str(caught.value)
    assert "holds a password" in str(caught.value)
    assert "PGPASSWORD" in str(caught.value)


def test_line_of_and_where_point_into_the_file() -> None:
    mapping = load_mapping(SYNTH / "anpr.yaml")
    text = (SYNTH / "anpr.yaml").read_text(encoding="utf-8").splitlines()
    line = mapping.line_of("entities", 2, "fields", "vrm")
    assert line is not None
    assert text[line - 1].strip().startswith("vrm:")
    assert mapping.line_of("entities", 9) is None
    assert mapping.where("reader", "path") == f"anpr.yaml line {mapping.line_of('reader', 'path')}"


# Broken mappings fail with the right line and a message naming what was expected ------

# (case, source, text to replace, replacement, text on the line the problem is on,
#  words the message must contain)
BROKEN = [
    (
        "misspelt field",
        "crime",
        "      surname: {column: NOMINAL_NAME",
        "      surnme: {column: NOMINAL_NAME",
        "surnme:",
        [
            "entities[3].fields",
            "'surnme' is not a field of a person",
            "forenames, surname",
            "did you mean 'surname'",
        ],
    ),
    (
        "misspelt event field",
        "crime",
        "      offence: {column: OFFENCE}",
        "      offense: {column: OFFENCE}",
        "offense:",
        ["'offense' is not a field of a crime", "did you mean 'offence'"],
    ),
    (
        "wrong kind in link",
        "crime",
        "{from: nominal, to: vehicle, type: OWNS}",
        "{from: vehicle, to: nominal, type: OWNS}",
        "{from: vehicle, to: nominal, type: OWNS}",
        ["an OWNS link goes from a person to a vehicle", "'vehicle' is a vehicle"],
    ),
    (
        "link type that fits other kinds",
        "anpr",
        "{from: read, to: camera, type: OCCURRED_AT}",
        "{from: read, to: camera, type: SEEN_AT}",
        "{from: read, to: camera, type: SEEN_AT}",
        ["a SEEN_AT link goes from a vehicle to a location", "use OCCURRED_AT"],
    ),
    (
        "link to a missing entity",
        "crime",
        "{from: crime, to: crime_location, type: OCCURRED_AT}",
        "{from: crime, to: crime_locaton, type: OCCURRED_AT}",
        "crime_locaton",
        ["links[0].to", "'crime_locaton' is not an entity", "did you mean 'crime_location'"],
    ),
    (
        "unknown transform",
        "crime",
        "[{normalise: vrm}]",
        "[{normalize: vrm}]",
        "normalize",
        ["'normalize' is not a transform", "parse_date", "did you mean 'normalise'"],
    ),
    (
        "transform without its setting",
        "crime",
        "[strip, upper]",
        "[strip, lookup]",
        "[strip, lookup]",
        ["the transform 'lookup' needs a setting", "{lookup: sex_codes}"],
    ),
    (
        "bad regex",
        "custody",
        '"^([A-Z]+[0-9]+)/"',
        '"^([A-Z]+[0-9]+/"',
        "regex:",
        ["regular expression doesn't work", "missing )"],
    ),
    (
        "regex group that doesn't exist",
        "custody",
        "group: 1}",
        "group: 2}",
        "regex:",
        ["group 2 doesn't exist", "the pattern has 1 group"],
    ),
    (
        "unknown lookup table",
        "crime",
        "{column: NOMINAL_SEX, transform: [{lookup: sex_codes}]}",
        "{column: NOMINAL_SEX, transform: [{lookup: sex_code}]}",
        "sex_code}",
        ["no code table 'sex_code'", "police_uk_outcomes", "did you mean 'sex_codes'"],
    ),
    (
        "missing record id",
        "crime",
        '  id: "{CRIME_REF}"\n',
        "",
        "  row_id:",
        ["record: 'id' is missing", "the record's identifier"],
    ),
    (
        "bad marking",
        "crime",
        "default_marking: OFFICIAL",
        "default_marking: OFFICAL",
        "default_marking",
        ["'OFFICAL' is not a marking", "OFFICIAL, OFFICIAL-SENSITIVE, SECRET"],
    ),
    (
        "YAML indentation error",
        "crime",
        "  title: Crime records",
        "   title: Crime records",
        "   title: Crime records",
        ["not valid YAML", "indented wrongly"],
    ),
    (
        "tab in YAML",
        "crime",
        "  title: Crime records",
        "\ttitle: Crime records",
        "\ttitle",
        ["not valid YAML", "tab"],
    ),
    (
        "path used with csv",
        "crime",
        "{column: OFFENCE}",
        "{path: OFFENCE}",
        "{path: OFFENCE}",
        ["path is for JSON lines", "{column: OFFENCE}"],
    ),
    (
        "column used with jsonl",
        "intelligence",
        "author: {path: officer}",
        "author: {column: officer}",
        "author:",
        ["column is for csv, parquet and sql", "{path: officer}"],
    ),
    (
        "each used with csv",
        "missing",
        "  - as: missing_person\n    kind: person\n",
        "  - as: missing_person\n    kind: person\n    each: people\n",
        "each: people",
        ["each is for JSON lines"],
    ),
    (
        "bare text instead of a value",
        "crime",
        "beat: {column: BEAT}",
        "beat: BEAT",
        "beat: BEAT",
        ["{column: BEAT}", "{constant: BEAT}"],
    ),
    (
        "two value forms",
        "crime",
        "beat: {column: BEAT}",
        "beat: {column: BEAT, constant: X}",
        "beat:",
        ["takes only one of column, path, concat or constant", "column and constant"],
    ),
    (
        "priority out of range",
        "crime",
        "priority: 80",
        "priority: 180",
        "priority:",
        ["180 is more than 100", "0-100"],
    ),
    (
        "two-digit year",
        "missing",
        '["%d.%m.%Y"]',
        '["%d.%m.%y"]',
        "%d.%m.%y",
        ["%y, a two-digit year", "%Y"],
    ),
    (
        "time code in parse_date",
        "missing",
        '["%d.%m.%Y"]',
        '["%d.%m.%Y %H"]',
        "%d.%m.%Y %H",
        ["use parse_datetime"],
    ),
    (
        "part without split_name",
        "missing",
        "surname: {column: Name, transform: [{split_name: forename_first}], part: surname}",
        "surname: {column: Name, part: surname}",
        "surname: {column: Name, part: surname}",
        ["part is for a value split with split_name"],
    ),
    (
        "split_name without part",
        "missing",
        "surname: {column: Name, transform: [{split_name: forename_first}], part: surname}",
        "surname: {column: Name, transform: [{split_name: forename_first}]}",
        "surname: {column: Name",
        ["say which part to keep", "part: surname"],
    ),
    (
        "refers_to entity with fields",
        "custody",
        '    refers_to: {source: crime, id: "{Crime Reference}"}',
        '    refers_to: {source: crime, id: "{Crime Reference}"}\n'
        "    fields: {reference: {column: x}}",
        "fields: {reference",
        ["has no fields of its own"],
    ),
    (
        "scope record without row_id",
        "incidents",
        "    type: incident\n    fields:\n      reference: {column: INCIDENT_NO}",
        "    type: incident\n    scope: record\n"
        "    fields:\n      reference: {column: INCIDENT_NO}",
        "scope: record",
        ["needs record.row_id"],
    ),
    (
        "source name not the file name",
        "calls",
        "  name: calls\n",
        "  name: phone_calls\n",
        "name: phone_calls",
        ["the source is called 'phone_calls' but the file is calls.yaml"],
    ),
    (
        "as name used twice",
        "calls",
        "  - as: msisdn_b\n",
        "  - as: msisdn_a\n",
        "  - as: msisdn_a\n    kind: phone\n    fields:\n      number: {column: MSISDN_B",
        ["'msisdn_a' is already the name of entities[1]"],
    ),
    (
        "record sharing wider than the source's",
        "referrals",
        "roles: [safeguarding_officer, safeguarding_supervisor, mash_officer]",
        "roles: [safeguarding_officer, safeguarding_supervisor]",
        "roles: {column: SharingRestriction",
        ["can only narrow source.sharing.roles", "mash_officer"],
    ),
    (
        "partner_ref without issuer",
        "referrals",
        ", issuer: {column: PartnerAgency}",
        "",
        "scheme: partner_ref",
        ["'issuer' is missing", "naming the agency"],
    ),
    (
        "identifier scheme",
        "referrals",
        "scheme: nhs,",
        "scheme: nhs_number,",
        "scheme: nhs_number",
        ["'nhs_number' is not an identifier scheme", "did you mean 'nhs'"],
    ),
    (
        "grading part missing",
        "intelligence",
        "        handling: {path: grading.handling}\n",
        "",
        "scheme: {path: grading.scheme}",
        ["'handling' is missing"],
    ),
    (
        "YAML reads NO as false",
        "crime",
        "equals: ORGANISATION}",
        "equals: NO}",
        "equals: NO}",
        ["YAML reads NO as false", '"NO"'],
    ),
    (
        "unknown time zone",
        "calls",
        "timezone: Europe/London",
        "timezone: Europe/Londn",
        "timezone:",
        ["'Europe/Londn' is not a time zone"],
    ),
    (
        "reader key of another kind",
        "calls",
        "  quotechar: '\"'\n",
        "  quotechar: '\"'\n  query: SELECT 1\n",
        "query: SELECT 1",
        ["'query' is not a key of a csv reader", "max_record_lines"],
    ),
    (
        "unknown built-in name",
        "crime",
        "#{_row_in_group}",
        "#{_row_in_grp}",
        "row_id:",
        ["{_row_in_grp} is not a built-in name", "{_file}", "did you mean '_row_in_group'"],
    ),
    (
        "a key given twice",
        "crime",
        "      beat: {column: BEAT}\n",
        "      beat: {column: BEAT}\n      beat: {column: MO_TEXT}\n",
        "beat: {column: MO_TEXT}",
        ["'beat' is given twice"],
    ),
    (
        "misspelt section",
        "anpr",
        "entities:",
        "entites:",
        "entites:",
        ["'entites' is not a section of a mapping", "did you mean 'entities'"],
    ),
    (
        "unmapped left empty",
        "anpr",
        "unmapped: []",
        "unmapped:",
        "unmapped:",
        ["expected a list, found nothing", "unmapped: []"],
    ),
    (
        "column both used and unmapped",
        "anpr",
        "unmapped: []",
        "unmapped:\n  - {column: direction, reason: not needed}",
        "{column: direction, reason",
        ["'direction' is listed as unmapped but the mapping uses it"],
    ),
]


@pytest.mark.parametrize(
    ("source", "old", "new", "marker", "words"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_a_broken_mapping_fails_with_its_line_and_what_was_expected(
    tmp_path: Path, source: str, old: str, new: str, marker: str, words: list[str]
) -> None:
    path = broken_copy(tmp_path, source, old, new)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert f"{source}.yaml line {line_of(path, marker)}," in message
    for word in words:
        assert word in message
    assert all(p.file == path for p in caught.value.problems)


def test_a_file_of_another_format_version_is_refused(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, "anpr", "peelian-mapping/1", "peelian-mapping/2")
    with pytest.raises(MappingError, match="this file is format peelian-mapping/2; "):
        load_mapping(path)


def test_a_file_without_a_format_line_is_refused(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, "anpr", "format: peelian-mapping/1\n", "")
    with pytest.raises(MappingError, match="there is no format line"):
        load_mapping(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "found a list"),
        ("format: peelian-mapping/1\n---\nformat: x\n", "more than one document"),
        ('format: peelian-mapping/1\nsource: {name: "x}\n', "line 2, column 16: .*never closed"),
    ],
)
def test_files_that_are_not_mappings_are_refused_plainly(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(MappingError, match=message):
        load_mapping(write(tmp_path, "x.yaml", text))


def test_a_missing_file_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no such file"):
        load_mapping(tmp_path / "nothing.yaml")


def test_load_mappings_reports_every_broken_file_and_duplicate_sources(tmp_path: Path) -> None:
    one = tmp_path / "one"
    two = tmp_path / "two"
    one.mkdir()
    two.mkdir()
    broken_copy(one, "anpr", "priority: 30", "priority: -1")
    broken_copy(one, "calls", "default_marking: OFFICIAL-SENSITIVE", "default_marking: TOP")
    write(two, "crime.yaml", (SYNTH / "crime.yaml").read_text(encoding="utf-8"))
    write(one, "crime.yml", (SYNTH / "crime.yaml").read_text(encoding="utf-8"))
    with pytest.raises(MappingError) as caught:
        load_mappings([one, two])
    message = str(caught.value)
    assert "anpr.yaml line" in message
    assert "calls.yaml line" in message
    assert "'crime' is also the source of" in message


# Presets ---------------------------------------------------------------------------


def test_a_preset_is_merged_under_the_users_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "west_yorkshire_street.yaml",
        "format: peelian-mapping/1\n"
        "preset: police_uk_street\n"
        "source:\n"
        "  owner: West Yorkshire Police\n"
        "  priority: 15\n"
        "reader: {path: 'downloads/*-street.csv.gz'}\n",
    )
    mapping = load_mapping(path)
    street = load_mapping(PRESETS_DIR / "police_uk_street.yaml").data
    assert mapping.name == "west_yorkshire_street"
    assert mapping.data["preset"] == "police_uk_street"
    assert mapping.base_dir == tmp_path
    assert mapping.data["reader"]["path"] == "downloads/*-street.csv.gz"
    assert mapping.data["reader"]["encoding"] == "utf-8"
    assert mapping.data["source"]["owner"] == "West Yorkshire Police"
    assert mapping.data["source"]["priority"] == 15
    assert mapping.data["source"]["title"] == street["source"]["title"]
    assert mapping.data["entities"] == street["entities"]
    assert mapping.data["record"]["id"] == ["{Crime ID}", "{_file}#{_row}"]
    assert mapping.line_of("reader", "path") == 6
    assert mapping.line_of("record", "id") is None
    assert mapping.where("record", "id").startswith("police_uk_street.yaml (a preset")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("preset: police_uk_stret\n", 2, ["no preset 'police_uk_stret'", "police_uk_street'?"]),
        ("preset: police_uk_street\nentities: []\n", 3, ["'entities' comes from the preset"]),
        ("preset: police_uk_street\nreader:\n  encoding: cp1252\n", 4, ["only reader.path"]),
        ("preset: police_uk_street\nsource:\n  default_marking: SECRETS\n", 4, ["not a marking"]),
        ("preset: police_uk_street\nsource: {name: leeds}\n", 3, ["called 'leeds' but the file"]),
    ],
)
def test_a_preset_override_is_checked_against_the_users_file(
    tmp_path: Path, text: str, line: int, words: list[str]
) -> None:
    path = write(tmp_path, "west_yorkshire_street.yaml", "format: peelian-mapping/1\n" + text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert f"west_yorkshire_street.yaml line {line}," in message
    for word in words:
        assert word in message


# The examples in docs/mappings.md are correct ------------------------------------------


def doc_examples() -> list[str]:
    text = (ROOT / "docs" / "mappings.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    complete = []
    for block in blocks:
        data = yaml.safe_load(block)
        if not isinstance(data, dict):
            continue
        entities = data.get("entities")
        if "preset" in data or (isinstance(entities, list) and isinstance(entities[0], dict)):
            complete.append(block)
    return complete


@pytest.mark.parametrize("example", doc_examples())
def test_every_complete_mapping_in_the_docs_loads(tmp_path: Path, example: str) -> None:
    data = yaml.safe_load(example)
    name = data["source"]["name"] if "name" in data.get("source", {}) else "example_source"
    mapping = load_mapping(write(tmp_path, f"{name}.yaml", example))
    assert isinstance(mapping, Mapping)


def test_the_docs_show_several_complete_mappings() -> None:
    assert len(doc_examples()) >= 5


# Whatever the file holds, loading it never fails in any other way -------------------


def problems_of(path: Path) -> tuple[Problem, ...]:
    """What load_mapping finds wrong with `path` (nothing: it loads); any other error fails."""
    try:
        load_mapping(path)
    except MappingError as e:
        return e.problems or (Problem(path, None, None, ""),)  # an error names a problem
    return ()


WORDS = ["", "x", "-", "{", "}", "[", "]", ":", "null", "1", "OFFICIAL", "person", "event"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    source=st.sampled_from(SHIPPED),
    line=st.integers(min_value=0, max_value=120),
    mutation=st.sampled_from(["delete", "duplicate", "indent", "dedent", "word"]),
    word=st.sampled_from(WORDS),
    at=st.integers(min_value=0, max_value=200),
)
def test_a_mangled_mapping_loads_or_gives_a_mapping_error(
    tmp_path: Path, source: Path, line: int, mutation: str, word: str, at: int
) -> None:
    lines = source.read_text(encoding="utf-8").splitlines()
    n = line % len(lines)
    if mutation == "delete":
        del lines[n]
    elif mutation == "duplicate":
        lines.insert(n, lines[n])
    elif mutation == "indent":
        lines[n] = " " + lines[n]
    elif mutation == "dedent":
        lines[n] = lines[n][1:]
    else:
        cut = at % (len(lines[n]) + 1)
        lines[n] = lines[n][:cut] + word + lines[n][cut:]
    problems = problems_of(write(tmp_path, source.name, "\n".join(lines) + "\n"))
    for problem in problems:
        assert problem.message
        assert problem.line is None or 1 <= problem.line <= len(lines) + 1


ODD_VALUES = [None, 1, "x", [], {}, True, [1], {"a": 1}, "{x", "%y", {"column": "x"}]
ODD_KEYS = ["as", "kind", "type", "fields", "when", "each", "scope", "refers_to", "column", "path"]


def places(node: object, at: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [at] if at else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += places(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += places(value, (*at, i))
    return found


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), source=st.sampled_from(SHIPPED))
def test_a_mapping_with_odd_values_anywhere_loads_or_gives_a_mapping_error(
    tmp_path: Path, data: st.DataObject, source: Path
) -> None:
    mapping = yaml.safe_load(source.read_text(encoding="utf-8"))
    for _ in range(data.draw(st.integers(1, 3))):
        *parents, last = data.draw(st.sampled_from(places(mapping)))
        parent = mapping
        for key in parents:
            parent = parent[key]
        action = data.draw(st.sampled_from(["delete", "add", "replace"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(ODD_KEYS))] = copy.deepcopy(
                data.draw(st.sampled_from(ODD_VALUES))
            )
        else:
            parent[last] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES)))
    problems = problems_of(write(tmp_path, source.name, yaml.safe_dump(mapping, sort_keys=False)))
    assert all(problem.message for problem in problems)


# The presets fit the real files ---------------------------------------------------------

SHARED = ROOT.parent / "shared" / "data"
REAL_FILES = {
    "police_uk_street": SHARED / "police_uk_street" / "2017-07-west-yorkshire-street.csv.gz",
    "police_uk_stop_search": SHARED
    / "police_uk_other"
    / "2019-06-greater-manchester-stop-and-search.csv.gz",
}


def columns_named(node: object) -> set[str]:
    """Every column a mapping names: in values, conditions, templates and `unmapped`."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "column" and isinstance(value, str):
                found.add(value)
            elif key in ("id", "row_id") and isinstance(value, str | list):
                for template in [value] if isinstance(value, str) else value:
                    found |= set(re.findall(r"\{([^}_][^}]*)\}", template))
            else:
                found |= columns_named(value)
    elif isinstance(node, list):
        for item in node:
            found |= columns_named(item)
    return found


@pytest.mark.parametrize("preset", sorted(REAL_FILES))
def test_a_preset_names_every_column_of_a_real_file_and_no_other(preset: str) -> None:
    path = REAL_FILES[preset]
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        header = set(next(csv.reader(f)))
    mapping = load_mapping(PRESETS_DIR / f"{preset}.yaml")
    assert columns_named({k: v for k, v in mapping.data.items() if k != "reader"}) == header


def test_the_source_name_of_extracted_text_is_reserved(tmp_path: Path) -> None:
    text = (SYNTH / "crime.yaml").read_text(encoding="utf-8")
    path = tmp_path / "text.yaml"
    path.write_text(text.replace("  name: crime\n", "  name: text\n", 1), encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert f"text.yaml line {line_of(path, 'name: text')}," in message
    assert "reserved for the facts Peelian extracts from documents" in message
