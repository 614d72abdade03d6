"""The handwritten entity-extraction evaluation set (issue 10) is well formed.

The set is data, not code: these checks keep it usable as a gold standard (offsets that
point at the text they claim, no overlapping spans, known types and relations, links to
nominals that exist) and keep the shipped JSONL in step with the marked-up source it is
built from.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import itertools
import json
import re
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from peelian.text.spans import ENTITY_TYPES, RELATION_TYPES

EVALSETS = Path(__file__).resolve().parents[2] / "src" / "peelian" / "text" / "evalsets"
REPORTS = EVALSETS / "handwritten.jsonl"
NOMINALS = EVALSETS / "nominals.csv"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_handwritten", EVALSETS / "build_handwritten.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDER = _builder()
STYLES = BUILDER.STYLES
NOMINAL_TYPES = BUILDER.NOMINAL_TYPES
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
MIN_REPORTS = 150
MIN_PER_TYPE = 25
MIN_RELATIONS = 40


@pytest.fixture(scope="module")
def reports() -> list[dict[str, Any]]:
    with REPORTS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def nominals() -> list[dict[str, str]]:
    with NOMINALS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_enough_reports_with_unique_ids(reports: list[dict[str, Any]]) -> None:
    assert len(reports) >= MIN_REPORTS
    ids = [r["id"] for r in reports]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    assert all(re.fullmatch(r"HW\d{4}", i) for i in ids)


def test_report_shape(reports: list[dict[str, Any]]) -> None:
    for r in reports:
        assert set(r) == {"id", "style", "text", "entities", "relations"}, r["id"]
        assert r["style"] in STYLES, r["id"]
        assert r["text"].strip(), r["id"]


def test_spans_point_at_their_text(reports: list[dict[str, Any]]) -> None:
    for r in reports:
        for e in r["entities"]:
            assert set(e) == {"type", "start", "end", "text", "nominal"}, (r["id"], e)
            assert 0 <= e["start"] < e["end"] <= len(r["text"]), (r["id"], e)
            assert r["text"][e["start"] : e["end"]] == e["text"], (r["id"], e)
            assert e["text"] == e["text"].strip(), (r["id"], e)


def test_spans_do_not_overlap(reports: list[dict[str, Any]]) -> None:
    for r in reports:
        spans = sorted((e["start"], e["end"]) for e in r["entities"])
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, (r["id"], spans)


def test_types_and_relations_are_known(reports: list[dict[str, Any]]) -> None:
    for r in reports:
        assert {e["type"] for e in r["entities"]} <= set(ENTITY_TYPES), r["id"]
        for rel in r["relations"]:
            assert set(rel) == {"type", "head", "tail"}, (r["id"], rel)
            assert rel["type"] in RELATION_TYPES, (r["id"], rel)
            for end in (rel["head"], rel["tail"]):
                assert isinstance(end, int), (r["id"], rel)
                assert 0 <= end < len(r["entities"]), (r["id"], rel)
            assert rel["head"] != rel["tail"], (r["id"], rel)


def test_nominal_links(reports: list[dict[str, Any]], nominals: list[dict[str, str]]) -> None:
    known = {n["nominal_id"] for n in nominals}
    for r in reports:
        for e in r["entities"]:
            if e["nominal"] is None:
                continue
            assert e["nominal"] in known, (r["id"], e)
            assert e["type"] in NOMINAL_TYPES, (r["id"], e)


def test_every_type_is_well_represented(reports: list[dict[str, Any]]) -> None:
    types = Counter(e["type"] for r in reports for e in r["entities"])
    thin = {t: types[t] for t in ENTITY_TYPES if types[t] < MIN_PER_TYPE}
    assert not thin, thin
    assert sum(len(r["relations"]) for r in reports) >= MIN_RELATIONS


def test_person_mentions_mix_known_and_unknown(reports: list[dict[str, Any]]) -> None:
    people = [e for r in reports for e in r["entities"] if e["type"] == "person"]
    known = sum(1 for e in people if e["nominal"])
    # Most, but far from all, people in the reports are on the nominal index.
    assert 0.5 <= known / len(people) <= 0.7


def test_nominals_file(nominals: list[dict[str, str]]) -> None:
    assert list(nominals[0]) == [
        "nominal_id",
        "forenames",
        "surname",
        "aliases",
        "dob",
        "sex",
        "phone",
        "vrm",
        "address",
        "postcode",
    ]
    ids = [n["nominal_id"] for n in nominals]
    assert len(ids) == len(set(ids)), [i for i, c in Counter(ids).items() if c > 1]
    for n in nominals:
        assert re.fullmatch(r"N\d{4}", n["nominal_id"]), n
        assert n["forenames"], n
        assert n["surname"], n
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", n["dob"]), n
        assert dt.date.fromisoformat(n["dob"]) < dt.date(2025, 1, 1), n
        assert n["sex"] in {"M", "F"}, n
        assert n["phone"] == "" or E164.match(n["phone"]), n
        assert n["vrm"] == n["vrm"].upper().replace(" ", ""), n


def test_jsonl_matches_its_marked_source(
    reports: list[dict[str, Any]], nominals: list[dict[str, str]]
) -> None:
    """handwritten.jsonl is what build_handwritten.py makes of handwritten_source.txt."""
    builder = BUILDER
    source = (EVALSETS / "handwritten_source.txt").read_text(encoding="utf-8")
    rebuilt = builder.parse(source, {n["nominal_id"] for n in nominals})
    assert rebuilt == reports
