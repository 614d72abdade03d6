"""Standardise mapped mentions, one Arrow table per POLE kind.

`standardise(kind, table)` takes the mapped fields of a batch of mentions
and adds the standardised columns that matching and search use (normalised
names, canonical forenames, phonetic keys, address keys, VRM keys). It is a
pure function of its input table, so the same code runs in process for the
DuckDB hub and per partition under Spark's `mapInArrow`. Columns it doesn't
know pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from peelian.standardise import addresses, contact, identifiers, names
from peelian.standardise.vehicles import vrm_misread_key

STRING = pa.string()


def map_distinct(array: pa.Array, fn: Callable[[Any], Any], type_: pa.DataType) -> pa.Array:
    """`fn` applied once per distinct non-null value of `array` (nulls stay null).

    The one way Peelian runs Python over a column: per distinct value, never per row.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) == 0:
        return pa.array([], type=type_)
    encoded = pc.dictionary_encode(array)
    mapped = pa.array(
        [None if v is None else fn(v) for v in encoded.dictionary.to_pylist()], type=type_
    )
    return pc.take(mapped, encoded.indices)


def _column(table: pa.Table, name: str) -> pa.Array:
    if name in table.column_names:
        return table[name].combine_chunks()
    return pa.nulls(table.num_rows, STRING)


def _set(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, array)
    return table.append_column(name, array)


def _empty_to_null(array: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, STRING), array)


def standardise_people(table: pa.Table) -> pa.Table:
    surname = _empty_to_null(map_distinct(_column(table, "surname"), names.normalise_name, STRING))
    forenames = _empty_to_null(
        map_distinct(_column(table, "forenames"), names.normalise_name, STRING)
    )
    first = map_distinct(forenames, lambda v: (v.split() or [None])[0], STRING)
    table = _set(table, "surname_std", surname)
    table = _set(table, "forenames_std", forenames)
    table = _set(table, "first_name_std", first)
    table = _set(
        table,
        "first_name_canonical",
        _empty_to_null(map_distinct(first, names.canonical_forename, STRING)),
    )
    table = _set(
        table, "surname_phonetic", _empty_to_null(map_distinct(surname, names.phonetic_key, STRING))
    )
    return _set(
        table,
        "first_name_phonetic",
        _empty_to_null(map_distinct(first, names.phonetic_key, STRING)),
    )


def standardise_vehicles(table: pa.Table) -> pa.Table:
    vrm = _column(table, "vrm")
    style = map_distinct(vrm, identifiers.classify_vrm, STRING)
    table = _set(table, "vrm_style", style)
    table = _set(table, "vrm_valid", pc.is_valid(style))
    return _set(table, "vrm_key", map_distinct(vrm, vrm_misread_key, STRING))


def standardise_phones(table: pa.Table) -> pa.Table:
    parsed = map_distinct(
        _column(table, "number"),
        lambda v: (lambda p: {"valid": p.valid, "uk": p.uk})(contact.parse_phone(v)),
        pa.struct([("valid", pa.bool_()), ("uk", pa.bool_())]),
    )
    table = _set(table, "number_valid", parsed.field("valid"))
    return _set(table, "number_uk", parsed.field("uk"))


_ADDRESS = pa.struct([(n, STRING) for n in ("flat", "number", "building", "street", "town", "key")])


def standardise_places(table: pa.Table) -> pa.Table:
    text = _column(table, "text")
    postcode = _column(table, "postcode")
    joined = pc.binary_join_element_wise(pc.fill_null(text, ""), pc.fill_null(postcode, ""), "\x1f")

    def parse(value: str) -> dict[str, str | None]:
        text_part, _, postcode_part = value.partition("\x1f")
        parsed = addresses.parse_address(text_part or None, postcode_part or None)
        return {
            "flat": parsed.flat,
            "number": parsed.number,
            "building": parsed.building,
            "street": parsed.street,
            "town": parsed.town,
            "key": parsed.key,
        }

    parsed = map_distinct(joined, parse, _ADDRESS)
    for field, column in (
        ("flat", "flat"),
        ("number", "house_number"),
        ("building", "building"),
        ("street", "street"),
        ("town", "town"),
        ("key", "address_key"),
    ):
        table = _set(table, column, parsed.field(field))
    return table


def standardise_organisations(table: pa.Table) -> pa.Table:
    return _set(
        table,
        "name_std",
        _empty_to_null(map_distinct(_column(table, "name"), names.normalise_name, STRING)),
    )


_STANDARDISERS: dict[str, Callable[[pa.Table], pa.Table]] = {
    "person": standardise_people,
    "vehicle": standardise_vehicles,
    "phone": standardise_phones,
    "place": standardise_places,
    "organisation": standardise_organisations,
}


def standardise(kind: str, table: pa.Table) -> pa.Table:
    """Add the standardised columns for mentions of `kind` (a hub table name)."""
    step = _STANDARDISERS.get(kind)
    return step(table) if step else table
