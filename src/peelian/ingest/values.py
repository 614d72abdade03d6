"""Evaluate a mapping's values, conditions and transforms over an Arrow table.

Everything here works column by column. Python-level work (parsing a date,
checking a check digit) runs once per *distinct* value of a column, never
once per row, which is what keeps ingest fast on sources where the same
value repeats (camera ids, crime types, postcodes).

A field-level problem never drops the row: the value is kept as given (or
left empty when it can't be represented, e.g. a date that doesn't parse) and
a reason code is recorded beside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from peelian.reference import code_table
from peelian.standardise import contact, dates, identifiers, names
from peelian.standardise.batch import map_distinct

STRING = pa.string()
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass
class Evaluated:
    """A value per row, the raw text it came from, and a problem code or null."""

    values: pa.Array
    raw: pa.Array
    problems: pa.Array
    extra: dict[str, pa.Array] = field(default_factory=dict)


def nulls(count: int, type_: pa.DataType = STRING) -> pa.Array:
    return pa.nulls(count, type=type_)


def _combine(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks()
    return array


def as_text(array: pa.Array) -> pa.Array:
    array = _combine(array)
    if array.type == STRING:
        return array
    if pa.types.is_large_string(array.type):
        return array.cast(STRING)
    if pa.types.is_list(array.type):
        return map_distinct(pc.binary_join(array.cast(pa.list_(STRING)), ";"), lambda v: v, STRING)
    return array.cast(STRING)


# ------------------------------------------------------------------ sources


def template_parts(template: str) -> list[tuple[str, bool]]:
    """`"{A}/{B}"` -> [("A", True), ("/", False), ("B", True)]."""
    parts: list[tuple[str, bool]] = []
    for literal, name in re.findall(r"([^{}]+)|\{([^{}]+)\}", template):
        parts.append((name, True) if name else (literal, False))
    return parts


def render_template(template: str, frame: pa.Table) -> pa.Array:
    """The template filled in per row; null where any referenced value is empty."""
    count = frame.num_rows
    pieces: list[pa.Array | str] = []
    for text, is_name in template_parts(template):
        if is_name:
            pieces.append(as_text(frame.column(text)))
        else:
            pieces.append(pa.array([text] * count, type=STRING))
    if not pieces:
        return nulls(count)
    if len(pieces) == 1:
        piece = pieces[0]
        return piece if isinstance(piece, pa.Array) else pa.array([piece] * count, STRING)
    return pc.binary_join_element_wise(*pieces, "", null_handling="emit_null")


def join_present(arrays: Sequence[pa.Array], sep: str) -> pa.Array:
    """Join the non-empty values of each row with `sep`; null when all are empty.

    (Arrow's own `null_handling="skip"` is avoided: it loses rows where every
    input is null.)
    """
    result = arrays[0]
    for array in arrays[1:]:
        both = pc.binary_join_element_wise(result, array, sep)
        result = pc.if_else(pc.is_null(result), array, pc.if_else(pc.is_null(array), result, both))
    return pc.if_else(pc.equal(result, ""), pa.scalar(None, STRING), result)


def template_names(template: str | Sequence[str]) -> set[str]:
    templates = [template] if isinstance(template, str) else list(template)
    return {t for tpl in templates for t, is_name in template_parts(tpl) if is_name}


def render_templates(template: str | Sequence[str], frame: pa.Table) -> pa.Array:
    templates = [template] if isinstance(template, str) else list(template)
    rendered = [render_template(t, frame) for t in templates]
    return rendered[0] if len(rendered) == 1 else pc.coalesce(*rendered)


def value_names(spec: dict[str, Any]) -> set[str]:
    """Column names or JSON paths a value spec reads."""
    if "column" in spec:
        return {spec["column"]}
    if "path" in spec:
        return {spec["path"]}
    if "concat" in spec:
        concat = spec["concat"]
        return set(concat.get("columns", []) or concat.get("paths", []))
    return set()


def source_array(spec: dict[str, Any], frame: pa.Table) -> pa.Array:
    count = frame.num_rows
    if "column" in spec or "path" in spec:
        return _combine(frame.column(spec.get("column", spec.get("path"))))
    if "concat" in spec:
        concat = spec["concat"]
        columns = concat.get("columns", []) or concat.get("paths", [])
        arrays = [as_text(frame.column(c)) for c in columns]
        return join_present(arrays, concat.get("sep", " "))
    if "constant" in spec:
        constant = spec["constant"]
        return pa.array([constant] * count)
    raise ValueError(f"value has no column, path, concat or constant: {spec}")


# ---------------------------------------------------------------- conditions


def condition(spec: dict[str, Any] | None, frame: pa.Table) -> pa.Array:
    """Boolean mask of the rows where the `when` condition holds."""
    count = frame.num_rows
    if not spec:
        return pa.array([True] * count, type=pa.bool_())
    values = as_text(source_array(spec, frame))
    if "equals" in spec:
        mask = pc.equal(values, str(spec["equals"]))
    elif "in" in spec:
        mask = pc.is_in(values, value_set=pa.array([str(v) for v in spec["in"]], STRING))
    elif "present" in spec:
        mask = pc.is_valid(values) if spec["present"] else pc.is_null(values)
    else:
        mask = pc.is_valid(values)
    return pc.fill_null(mask, False)


# ---------------------------------------------------------------- transforms


def _apply_text(ev: Evaluated, fn: Callable[[pa.Array], pa.Array]) -> Evaluated:
    if pa.types.is_list(ev.values.type):
        flat = fn(as_text(pc.list_flatten(ev.values)))
        rebuilt = pa.ListArray.from_arrays(ev.values.offsets, flat, mask=pc.is_null(ev.values))
        return Evaluated(rebuilt, ev.raw, ev.problems, ev.extra)
    return Evaluated(fn(as_text(ev.values)), ev.raw, ev.problems, ev.extra)


def _checked(
    ev: Evaluated, fn: Callable[[str], tuple[Any, str | None]], type_: pa.DataType
) -> Evaluated:
    """Apply a checking function: (value, problem); a problem keeps the first one seen."""
    values = as_text(ev.values) if not pa.types.is_list(ev.values.type) else ev.values
    if pa.types.is_list(values.type):
        flat = as_text(pc.list_flatten(values))
        results = map_distinct(flat, lambda v: _pair(fn, v), pa.struct(_pair_type(type_)))
        flat_values = results.field("value")
        flat_problems = results.field("problem")
        rebuilt = pa.ListArray.from_arrays(values.offsets, flat_values, mask=pc.is_null(values))
        parents = pc.list_parent_indices(values)
        row_problem = [None] * len(values)
        for parent, problem in zip(parents.to_pylist(), flat_problems.to_pylist(), strict=True):
            if problem and row_problem[parent] is None:
                row_problem[parent] = problem
        problems = pc.coalesce(ev.problems, pa.array(row_problem, STRING))
        return Evaluated(rebuilt, ev.raw, problems, ev.extra)
    results = map_distinct(values, lambda v: _pair(fn, v), pa.struct(_pair_type(type_)))
    problems = pc.coalesce(ev.problems, results.field("problem"))
    return Evaluated(results.field("value"), ev.raw, problems, ev.extra)


def _pair_type(type_: pa.DataType) -> list[tuple[str, pa.DataType]]:
    return [("value", type_), ("problem", STRING)]


def _pair(fn: Callable[[str], tuple[Any, str | None]], value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    result, problem = fn(value)
    return {"value": result, "problem": problem}


def _normaliser(kind: str) -> Callable[[str], tuple[Any, str | None]]:
    simple: dict[str, Callable[[str], str | None]] = {
        "postcode": identifiers.normalise_postcode,
        "vrm": identifiers.normalise_vrm,
        "pnc": identifiers.normalise_pnc_id,
        "cro": identifiers.normalise_cro_number,
        "nhs": identifiers.normalise_nhs_number,
        "ni": identifiers.normalise_ni_number,
        "upn": identifiers.normalise_upn,
    }
    if kind == "phone":

        def phone(text: str) -> tuple[str, str | None]:
            parsed = contact.parse_phone(text)
            return (parsed.e164 or text.strip()), parsed.problem

        return phone
    if kind == "email":

        def email(text: str) -> tuple[str, str | None]:
            value, problem = contact.parse_email(text)
            return (value or text.strip()), problem

        return email
    check = simple[kind]

    def normalise(text: str) -> tuple[str, str | None]:
        result = check(text)
        if result is None:
            return " ".join(text.split()).upper(), f"invalid_{kind}"
        return result, None

    return normalise


def _lookup(table: str) -> Callable[[str], tuple[str, str | None]]:
    codes = code_table(table)

    def lookup(text: str) -> tuple[str, str | None]:
        code = codes.lookup(text)
        if code is None:
            return text.strip(), "unknown_code"
        return code, None

    return lookup


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def apply_transform(ev: Evaluated, transform: Any, timezone: str) -> Evaluated:
    """One transform step (see docs/mappings.md, Transforms)."""
    arg: Any
    if isinstance(transform, str):
        name, arg = transform, None
    else:
        ((name, arg),) = transform.items()
    if name == "strip":
        return _apply_text(ev, pc.utf8_trim_whitespace)
    if name == "upper":
        return _apply_text(ev, pc.utf8_upper)
    if name == "lower":
        return _apply_text(ev, pc.utf8_lower)
    if name == "split":
        text = as_text(ev.values)
        parts = pc.split_pattern(text, pattern=str(arg))
        flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
        keep = pc.not_equal(flat, "")
        parents = pc.list_parent_indices(parts)
        kept = pc.filter(flat, keep)
        kept_parents = pc.filter(parents, keep).to_numpy()
        import numpy as np

        counts = (
            np.bincount(kept_parents, minlength=len(text))
            if len(kept_parents)
            else (np.zeros(len(text), dtype=np.int64))
        )
        offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
        lists = pa.ListArray.from_arrays(offsets, kept, mask=pc.is_null(text))
        return Evaluated(lists, ev.raw, ev.problems, ev.extra)
    if name == "regex":
        pattern = _compiled(arg["pattern"])
        group = int(arg.get("group", 0))

        def extract(text: str) -> tuple[str | None, str | None]:
            match = pattern.search(text)
            return (match.group(group) if match else None), None

        return _checked(ev, extract, STRING)
    if name == "lookup":
        return _checked(ev, _lookup(str(arg)), STRING)
    if name == "normalise":
        return _checked(ev, _normaliser(str(arg)), STRING)
    if name == "split_name":
        order = str(arg)

        def split(text: str) -> tuple[dict[str, str | None], None]:
            surname, forenames = names.split_name(text, order)  # type: ignore[arg-type]
            return {"surname": surname, "forenames": forenames}, None

        pair = pa.struct([("surname", STRING), ("forenames", STRING)])
        return _checked(ev, split, pair)
    if name in ("parse_date", "parse_datetime"):
        formats, date_only = tuple(arg), name == "parse_date"
        if not pa.types.is_list(ev.values.type):
            fast = _fast_parse(ev, formats, timezone, date_only)
            if fast is not None:
                return fast
        return _parse_dates(ev, formats, timezone, date_only)
    raise ValueError(f"unknown transform {name!r}")


_ARROW_CODES = re.compile(r"%[dmYHMS]")


def _parse_dates(
    ev: Evaluated, formats: tuple[str, ...], timezone: str, date_only: bool
) -> Evaluated:
    """The full date parser (`peelian.standardise.dates`): reason codes, partial dates."""
    if date_only:
        precision: dict[str, str | None] = {}

        def parse(text: str) -> tuple[Any, str | None]:
            parsed = dates.parse_date(text, formats)
            precision[text] = parsed.precision
            return parsed.value, parsed.problem

        out = _checked(ev, parse, pa.date32())
        out.extra["precision"] = map_distinct(as_text(ev.values), precision.get, STRING)
        return out

    def parse_dt(text: str) -> tuple[Any, str | None]:
        parsed = dates.parse_datetime(text, formats, timezone)
        return parsed.value, parsed.problem

    return _checked(ev, parse_dt, TIMESTAMP)


def _fast_parse(
    ev: Evaluated, formats: tuple[str, ...], timezone: str, date_only: bool
) -> Evaluated | None:
    """Arrow's vectorised strptime for the plain formats; None to use the full parser.

    Only formats made of %d %m %Y %H %M %S and literal separators take this path.
    Values it can't read (partial or impossible dates, other formats) are left
    to the full parser, which gives the reason codes.
    """
    if not all(_ARROW_CODES.sub("", f).count("%") == 0 for f in formats):
        return None
    text = as_text(ev.values)
    parsed = None
    precision = None
    for fmt in formats:
        attempt = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
        # Arrow rolls impossible dates over (31/02 becomes 02/03): keep only values
        # that read back exactly as written; the rest go to the full parser.
        # (seconds precision: Arrow's %S on microseconds would print a fraction)
        same = pc.equal(pc.strftime(attempt.cast(pa.timestamp("s")), format=fmt), text)
        attempt = pc.if_else(pc.fill_null(same, False), attempt, pa.scalar(None, attempt.type))
        parsed = attempt if parsed is None else pc.coalesce(parsed, attempt)
        level = "day" if "%d" in fmt else ("month" if "%m" in fmt else "year")
        found = pc.if_else(pc.is_valid(attempt), pa.scalar(level), pa.scalar(None, STRING))
        precision = found if precision is None else pc.coalesce(precision, found)
    assert parsed is not None
    if not date_only:
        # Wall-clock times that don't exist (the hour skipped when clocks go forward)
        # are read by the full parser, like every other value, for one rule.
        early = pc.assume_timezone(parsed, timezone, ambiguous="earliest", nonexistent="earliest")
        late = pc.assume_timezone(parsed, timezone, ambiguous="earliest", nonexistent="latest")
        parsed = pc.if_else(
            pc.fill_null(pc.equal(early, late), True), parsed, pa.scalar(None, parsed.type)
        )
    missed = pc.and_(pc.is_valid(text), pc.is_null(parsed))
    if date_only:
        values = parsed.cast(pa.date32())
        fast = Evaluated(values, ev.raw, ev.problems, {**ev.extra, "precision": precision})
    else:
        local = pc.assume_timezone(parsed, timezone, ambiguous="earliest", nonexistent="earliest")
        fast = Evaluated(local.cast(TIMESTAMP), ev.raw, ev.problems, ev.extra)
    if not pc.any(missed).as_py():
        return fast
    # The rest go through the full parser, which says why a value can't be read.
    rest = Evaluated(
        pc.if_else(missed, text, pa.scalar(None, STRING)), ev.raw, ev.problems, dict(ev.extra)
    )
    slow = _parse_dates(rest, formats, timezone, date_only)
    out = Evaluated(
        pc.if_else(missed, slow.values, fast.values),
        ev.raw,
        pc.if_else(missed, slow.problems, ev.problems),
        fast.extra,
    )
    if date_only:
        out.extra["precision"] = pc.if_else(
            missed, slow.extra["precision"], fast.extra["precision"]
        )
    return out


def evaluate(spec: dict[str, Any], frame: pa.Table, timezone: str) -> Evaluated:
    """The value a field spec gives for every row of `frame`."""
    values = source_array(spec, frame)
    if pa.types.is_timestamp(values.type) and values.type.tz is None:
        # A timestamp without zone is local wall-clock time in the reader's zone.
        values = pc.assume_timezone(
            values, timezone, ambiguous="earliest", nonexistent="earliest"
        ).cast(TIMESTAMP)
    elif pa.types.is_timestamp(values.type):
        values = values.cast(TIMESTAMP)
    # `raw` stays in the source's type; it is turned into text only for flagged values.
    ev = Evaluated(values, values, nulls(len(values)))
    for transform in spec.get("transform") or []:
        ev = apply_transform(ev, transform, timezone)
    if spec.get("part") and pa.types.is_struct(ev.values.type):
        ev = Evaluated(ev.values.field(spec["part"]), ev.raw, ev.problems, ev.extra)
    return ev


def coerce(ev: Evaluated, kind: str) -> Evaluated:
    """Cast to the field's type: number, integer, timestamp, date, list or text."""
    values = ev.values
    if kind in ("number", "integer"):
        if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
            target = pa.float64() if kind == "number" else pa.int64()
            return Evaluated(values.cast(target, safe=False), ev.raw, ev.problems, ev.extra)

        def number(text: str) -> tuple[float | None, str | None]:
            try:
                result = float(text.strip().replace(",", ""))
            except ValueError:
                return None, "not_a_number"
            if result != result or result in (float("inf"), float("-inf")):
                return None, "not_a_number"
            if kind == "integer" and not result.is_integer():
                return None, "not_a_whole_number"
            return result, None

        out = _checked(ev, number, pa.float64())
        if kind == "integer":
            out.values = out.values.cast(pa.int64(), safe=False)
        return out
    if kind == "timestamp":
        if pa.types.is_timestamp(values.type):
            return ev
        if pa.types.is_date(values.type):
            return Evaluated(
                values.cast(pa.timestamp("us")).cast(TIMESTAMP), ev.raw, ev.problems, ev.extra
            )
        return Evaluated(
            nulls(len(values), TIMESTAMP),
            ev.raw,
            pc.coalesce(
                ev.problems,
                pc.if_else(
                    pc.is_valid(values), pa.scalar("not_a_datetime"), pa.scalar(None, STRING)
                ),
            ),
            ev.extra,
        )
    if kind == "date":
        if pa.types.is_date(values.type):
            return ev
        if pa.types.is_timestamp(values.type):
            return Evaluated(values.cast(pa.date32()), ev.raw, ev.problems, ev.extra)
        return Evaluated(
            nulls(len(values), pa.date32()),
            ev.raw,
            pc.coalesce(
                ev.problems,
                pc.if_else(pc.is_valid(values), pa.scalar("not_a_date"), pa.scalar(None, STRING)),
            ),
            ev.extra,
        )
    if kind == "list":
        if pa.types.is_list(values.type):
            return Evaluated(values.cast(pa.list_(STRING)), ev.raw, ev.problems, ev.extra)
        text = as_text(values)
        lists = pa.ListArray.from_arrays(
            pa.array(range(len(text) + 1), pa.int32()),
            pc.fill_null(text, ""),
            mask=pc.is_null(text),
        )
        return Evaluated(lists, ev.raw, ev.problems, ev.extra)
    return Evaluated(as_text(values), ev.raw, ev.problems, ev.extra)
