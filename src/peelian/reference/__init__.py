"""Versioned code tables and gazetteers shipped with Peelian.

Domain knowledge lives here as CSV files (see README.md in this folder for
what each table is and where its facts come from); code reads them through
`read_table` and never hard-codes them.

>>> rows = read_table("crime_types")
>>> rows[0]["crime_type"]
'Violence and sexual offences'
"""

from __future__ import annotations

import csv
import functools
import io
from importlib import resources


@functools.cache
def read_table(name: str) -> tuple[dict[str, str], ...]:
    """Rows of reference table `name` (file `<name>.csv` in this package)."""
    path = resources.files(__package__).joinpath(f"{name}.csv")
    if not path.is_file():
        raise FileNotFoundError(
            f"no reference table {name!r} (expected {name}.csv in {__package__})"
        )
    text = path.read_text(encoding="utf-8")
    return tuple(dict(row) for row in csv.DictReader(io.StringIO(text)))


def column(name: str, field: str) -> list[str]:
    """One column of a reference table, in file order."""
    return [row[field] for row in read_table(name)]
