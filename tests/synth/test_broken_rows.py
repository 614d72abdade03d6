"""Deliberately broken rows: the truth lists exactly the malformed lines, and they replace nothing.

Each line of every text source is checked here with Python's own `csv` and
`json` modules, independently of how the generator made it.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
from tests.conftest import small_config

from peelian.synth.config import load_settings
from peelian.synth.generate import generate

# file -> (source, delimiter (None: JSON lines), encoding, marking column or key)
TEXT_SOURCES = {
    "sources/crime/crime_records.csv": ("crime", ",", "utf-8", "MARKING"),
    "sources/custody/custody_records.csv": ("custody", ",", "utf-8", None),
    "sources/stop_search/stop_search.csv": ("stop_search", ",", "utf-8", None),
    "sources/command_control/incidents.csv": ("incidents", ",", "utf-8", None),
    "sources/command_control/officer_status.csv": ("officer_status", ",", "utf-8", None),
    "sources/missing/missing_episodes.csv": ("missing", ",", "utf-8", None),
    "sources/partners/safeguarding_referrals.csv": ("referrals", ";", "cp1252", "Marking"),
    "sources/comms/call_records.csv": ("calls", ",", "utf-8", None),
    "sources/comms/cell_sites.csv": ("cell_sites", ",", "utf-8", None),
    "sources/intelligence/intel_reports.jsonl": ("intelligence", None, "utf-8", "security_marking"),
}
KNOWN_MARKINGS = {"OFFICIAL", "OFFICIAL-SENSITIVE"}
CSV_KINDS = {"wrong_column_count", "broken_quote", "undecodable", "empty_row"}
JSONL_KINDS = {"bad_json", "not_an_object", "undecodable"}


def csv_fault(
    line: bytes, columns: int, delimiter: str, encoding: str, marking: int | None
) -> str | None:
    """What is wrong with one physical CSV line, or None if it is a good row."""
    body = line.rstrip(b"\r\n")
    assert body, "never a blank line: a reader would skip it silently"
    assert body.count(b'"') % 2 == 0, "a reader must never run on into the next line"
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        fields = next(csv.reader([body.decode(encoding, errors="replace")], delimiter=delimiter))
        assert len(fields) == columns, "undecodable bytes are the only damage"
        return "undecodable"
    try:
        fields = next(csv.reader([text], delimiter=delimiter, strict=True))
    except csv.Error:
        fields = next(csv.reader([text], delimiter=delimiter))
        assert len(fields) == columns - 1, "a misplaced quote pair joins two fields"
        return "broken_quote"
    if len(fields) != columns:
        return "wrong_column_count"
    if not any(fields):
        return "empty_row"
    if marking is not None and fields[marking] not in KNOWN_MARKINGS:
        return "unknown_marking"
    return None


def jsonl_fault(line: bytes, marking: str) -> str | None:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        assert isinstance(json.loads(line.decode("utf-8", errors="replace")), dict)
        return "undecodable"
    try:
        value = json.loads(text)
    except ValueError:
        return "bad_json"
    if not isinstance(value, dict):
        return "not_an_object"
    if value[marking] not in KNOWN_MARKINGS:
        return "unknown_marking"
    return None


def faults(force: Path, file: str) -> dict[int, str]:
    """Line number -> what is wrong with it, for every malformed line of `file`."""
    _, delimiter, encoding, marking = TEXT_SOURCES[file]
    found = {}
    with open(force / file, "rb") as f:
        if delimiter is None:
            assert marking is not None
            for n, line in enumerate(f, 1):
                fault = jsonl_fault(line, marking)
                if fault:
                    found[n] = fault
            return found
        header = next(csv.reader([f.readline().decode(encoding)], delimiter=delimiter))
        at = header.index(marking) if marking else None
        for n, line in enumerate(f, 2):
            fault = csv_fault(line, len(header), delimiter, encoding, at)
            if fault:
                found[n] = fault
    return found


def listed(force: Path) -> dict[str, dict[int, str]]:
    """File -> line -> kind, as truth/broken_rows.parquet lists them."""
    out: dict[str, dict[int, str]] = defaultdict(dict)
    for row in pq.read_table(force / "truth" / "broken_rows.parquet").to_pylist():
        assert row["source"] == TEXT_SOURCES[row["file"]][0]
        out[row["file"]][row["line"]] = row["kind"]
    return out


def test_broken_rows_are_exactly_the_malformed_lines(force: Path) -> None:
    truth = listed(force)
    assert set(truth) == set(TEXT_SOURCES), "every text source, and no Parquet source"
    for file, (_, delimiter, _, marking) in TEXT_SOURCES.items():
        assert faults(force, file) == truth[file], file
        # the default minimum deals every kind a source can hold at least once
        kinds = CSV_KINDS if delimiter else JSONL_KINDS
        marked = {"unknown_marking"} if marking else set()
        assert set(truth[file].values()) == kinds | marked, file


def test_a_broken_row_never_sits_inside_a_crime(force: Path) -> None:
    file = "sources/crime/crime_records.csv"
    broken = listed(force)[file]
    lines = (force / file).read_bytes().split(b"\r\n")[:-1]
    ref = {
        n: line.split(b",", 1)[0] for n, line in enumerate(lines, 1) if n > 1 and n not in broken
    }
    for n in broken:
        before = max(k for k in ref if k < n)
        after = min((k for k in ref if k > n), default=None)
        assert after is None or ref[before] != ref[after], f"line {n} splits {ref[before]!r}"


def test_manifest_counts_the_broken_rows(force: Path) -> None:
    manifest = json.loads((force / "manifest.json").read_text())["files"]
    truth = listed(force)
    for file in TEXT_SOURCES:
        assert manifest[file]["broken_rows"] == len(truth[file])
    assert "broken_rows" not in manifest["sources/anpr/anpr_reads.parquet"]
    assert manifest["truth/broken_rows.parquet"]["rows"] == sum(map(len, truth.values()))


def test_broken_rows_replace_nothing_and_rate_zero_breaks_none(tmp_path: Path) -> None:
    settings = load_settings()
    settings["broken_rows"] = {"rate": 0.0, "min_per_source": 5}
    generate(small_config(people=1500, months=3, settings=settings), tmp_path / "clean")
    generate(small_config(people=1500, months=3), tmp_path / "broken")
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    assert listed(clean) == {}
    truth = listed(broken)
    for file in TEXT_SOURCES:
        assert faults(clean, file) == {}, file
        assert faults(broken, file) == truth[file], file
        with open(broken / file, "rb") as f:
            kept = b"".join(line for n, line in enumerate(f, 1) if n not in truth[file])
        assert kept == (clean / file).read_bytes(), f"{file}: the real rows are unchanged"
    for path in clean.rglob("*"):
        rel = path.relative_to(clean).as_posix()
        if path.is_file() and rel not in TEXT_SOURCES and rel != "manifest.json":
            same = path.read_bytes() == (broken / rel).read_bytes()
            assert same or rel == "truth/broken_rows.parquet", f"{rel}: the truth is unchanged"
