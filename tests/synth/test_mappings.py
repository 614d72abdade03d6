"""Every synthetic source has a mapping that covers each of its columns, and only real ones."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

SOURCES = (
    "crime",
    "custody",
    "stop_search",
    "incidents",
    "officer_status",
    "missing",
    "referrals",
    "intelligence",
    "anpr",
    "calls",
    "cell_sites",
)


def references(node: Any, found: set[str]) -> set[str]:
    """Every column or JSON path a mapping names (in fields, templates, links or `unmapped`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("column", "path", "each") and isinstance(value, str):
                found.add(value)
            elif key == "columns" and isinstance(value, list):
                found.update(str(v) for v in value)
            elif key in ("id", "row_id") and isinstance(value, str):
                found.update(re.findall(r"\{([^}_][^}]*)\}", value))
            else:
                references(value, found)
    elif isinstance(node, list):
        for item in node:
            references(item, found)
    return found


def data_columns(force: Path, reader: dict[str, Any]) -> set[str]:
    path = force / "mappings" / reader["path"]
    if reader["kind"] == "parquet":
        return set(pq.read_schema(str(path)).names)
    if reader["kind"] == "jsonl":
        with open(path, "rb") as f:
            return set(json.loads(f.readline()))
    with open(path, "rb") as f:  # the header line only: later lines may be broken on purpose
        header = f.readline().decode(reader.get("encoding", "utf-8"))
    return set(next(csv.reader([header], delimiter=reader.get("delimiter", ","))))


@pytest.mark.parametrize("source", SOURCES)
def test_mapping_covers_every_column_and_names_no_other(force: Path, source: str) -> None:
    mapping = yaml.safe_load((force / "mappings" / f"{source}.yaml").read_text(encoding="utf-8"))
    assert mapping["source"]["name"] == source
    columns = data_columns(force, mapping["reader"])
    named = references({k: v for k, v in mapping.items() if k != "reader"}, set())
    if mapping["reader"]["kind"] == "jsonl":
        # JSON paths: the first part must be a key of the record, or of a list element
        # for entities made once per element (`each`)
        first = json.loads((force / "mappings" / mapping["reader"]["path"]).open("rb").readline())
        inner = {k for v in first.values() if isinstance(v, dict) for k in v}
        inner |= {
            k
            for v in first.values()
            if isinstance(v, list)
            for e in v
            if isinstance(e, dict)
            for k in e
        }
        named = {re.split(r"[.\[]", n)[0] for n in named}
        columns_or_inner = columns | inner
        unknown = {n for n in named if n not in columns_or_inner}
        assert not unknown, (
            f"{source}: the mapping names paths the data does not have: {sorted(unknown)}"
        )
        named &= columns
    missing = columns - named
    assert not missing, (
        f"{source}: columns neither mapped nor listed as unmapped: {sorted(missing)}"
    )
    unknown = {n for n in named if n not in columns}
    assert not unknown, (
        f"{source}: the mapping names columns the data does not have: {sorted(unknown)}"
    )
