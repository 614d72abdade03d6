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


# Code tables ---------------------------------------------------------------
#
# A code table turns the wording a source uses ("Male", "VICTIM", "Offender
# imprisoned") into one code ("M", "victim", "offender-imprisoned"). Which CSV
# files make up each table, and which of their columns hold the code and the
# wordings, is itself data: code_tables.csv (see README.md).


def _key(value: str) -> str:
    """Wordings match ignoring case and surrounding spaces."""
    return value.strip().casefold()


class UnknownCodeTableError(KeyError):
    """There is no code table of that name."""

    def __str__(self) -> str:
        return str(self.args[0])


class CodeTable:
    """A code table: `lookup` gives the code for a wording, or None for an unknown one.

    >>> code_table("sex_codes").lookup(" male ")
    'M'
    >>> code_table("police_uk_outcomes").lookup("Offender imprisoned")
    'offender-imprisoned'
    >>> code_table("sex_codes").lookup("Mail") is None
    True

    A table where one wording gives several codes (`several`, such as
    partner_sharing_roles) is read with `lookup_list`:

    >>> code_table("partner_sharing_roles").lookup_list("MASH partners only")
    ['safeguarding_officer', 'safeguarding_supervisor', 'mash_officer']

    A graded table (grading_3x5x2, grading_5x5x5) has `parts`, each its own
    table, because the same grade can be valid in one part and not another:

    >>> grading = code_table("grading_3x5x2")
    >>> grading.parts
    ('source', 'intelligence', 'handling')
    >>> grading.part("handling").lookup("c"), grading.part("source").lookup("C")
    ('C', None)
    """

    def __init__(
        self,
        name: str,
        index: dict[str, tuple[str, ...]],
        *,
        several: bool = False,
        parts: dict[str, CodeTable] | None = None,
    ) -> None:
        self.name = name
        self.several = several
        self._index = index
        self._parts = parts or {}
        codes = {code for found in index.values() for code in found}
        for part in self._parts.values():
            codes |= part.codes
        self.codes: frozenset[str] = frozenset(codes)

    def __repr__(self) -> str:
        return f"<CodeTable {self.name}: {len(self.codes)} codes>"

    @property
    def parts(self) -> tuple[str, ...]:
        """Names of the parts of a graded table, in file order; () for other tables."""
        return tuple(self._parts)

    def part(self, name: str) -> CodeTable:
        """The table of one part (for example the `source` grades of grading_3x5x2)."""
        try:
            return self._parts[name]
        except KeyError:
            have = ", ".join(self._parts) or "none"
            raise LookupError(
                f"code table {self.name} has no part {name!r} (its parts: {have})"
            ) from None

    def lookup(self, value: str) -> str | None:
        """The code for `value` (case and surrounding spaces ignored), None when unknown."""
        found = self.lookup_list(value)
        if found is None:
            return None
        if self.several:
            raise ValueError(
                f"code table {self.name} can give several codes for one wording: use lookup_list"
            )
        return found[0]

    def lookup_list(self, value: str) -> list[str] | None:
        """Every code for `value`, in file order; None when the wording is unknown."""
        if self._parts:
            raise ValueError(
                f"code table {self.name} is graded in parts ({', '.join(self._parts)}): "
                f"look up each grade in its part, e.g. code_table({self.name!r}).part("
                f"{next(iter(self._parts))!r}).lookup(...)"
            )
        found = self._index.get(_key(value))
        return None if found is None else list(found)


def code_table_names() -> tuple[str, ...]:
    """Names of every code table a mapping's `lookup` may use, sorted."""
    return tuple(sorted({row["table"] for row in read_table("code_tables")}))


@functools.cache
def code_table(name: str) -> CodeTable:
    """The code table `name`, as listed in code_tables.csv.

    Raises UnknownCodeTableError (a KeyError) for a name that is not a code table, and ValueError
    when the table's files give one wording two different codes (a mistake
    in the data: a lookup must never depend on row order).
    """
    sources = [row for row in read_table("code_tables") if row["table"] == name]
    if not sources:
        raise UnknownCodeTableError(
            f"no code table {name!r}; the code tables are: {', '.join(code_table_names())}"
        )
    several = any(row["several"] == "yes" for row in sources)
    by_part: dict[str, dict[str, tuple[str, ...]]] = {}
    for spec in sources:
        file = spec["file"].removesuffix(".csv")
        for row in read_table(file):
            part = row[spec["part"]] if spec["part"] else ""
            index = by_part.setdefault(part, {})
            code = row[spec["code"]].strip()
            for column_name in spec["match"].split():
                # a cell may list several wordings, separated by |
                for wording in row[column_name].split("|"):
                    if not wording.strip():
                        continue
                    key = _key(wording)
                    found = index.get(key, ())
                    if code in found:
                        continue
                    if found and not several:
                        raise ValueError(
                            f"code table {name}: {wording!r} is given two codes, "
                            f"{found[0]!r} and {code!r} (in {spec['file']})"
                        )
                    index[key] = (*found, code)
    if set(by_part) == {""}:
        return CodeTable(name, by_part[""], several=several)
    parts = {part: CodeTable(f"{name}.{part}", index) for part, index in by_part.items()}
    return CodeTable(name, {}, several=several, parts=parts)
