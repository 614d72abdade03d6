"""Extract and link mentions for a batch of documents, Arrow in and Arrow out.

This is the seam a hub step uses: it reads documents in Arrow batches (from DuckDB, or
per partition under Spark's ``mapInArrow``), calls :func:`mention_table` with one
:class:`~peelian.text.extract.Extractor` and one :class:`~peelian.text.link.PeopleIndex`
built for the run, and writes the rows it returns. Columns named in ``carry`` (the
document's security marking, handling code, source...) are copied onto every mention,
so each extracted fact keeps the provenance and marking of the document it came from.

>>> import pyarrow as pa
>>> from peelian.text.extract import Extractor
>>> docs = pa.table({"doc": ["R1"], "text": ["Tel 07700 900123"], "marking": ["OFFICIAL"]})
>>> rows = mention_table(
...     docs, Extractor(), id_column="doc", text_column="text", carry=("marking",)
... )
>>> rows.select(["doc", "type", "value", "marking"]).to_pylist()
[{'doc': 'R1', 'type': 'phone', 'value': '+447700900123', 'marking': 'OFFICIAL'}]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from peelian.text.extract import Extractor
from peelian.text.link import DEFAULT_THRESHOLD, Link, PeopleIndex, link_mentions
from peelian.text.spans import Span

__all__ = ["MENTION_FIELDS", "RELATION_FIELDS", "mention_table", "relation_table", "span_row"]

MENTION_FIELDS = [
    pa.field("span", pa.int32()),
    pa.field("type", pa.string()),
    pa.field("start", pa.int32()),
    pa.field("end", pa.int32()),
    pa.field("text", pa.string()),
    pa.field("value", pa.string()),
    pa.field("value_number", pa.float64()),
    pa.field("value_max", pa.float64()),
    pa.field("unit", pa.string()),
    pa.field("rule", pa.string()),
    pa.field("entity_id", pa.string()),
    pa.field("confidence", pa.float64()),
]
RELATION_FIELDS = [
    pa.field("type", pa.string()),
    pa.field("head", pa.int32()),
    pa.field("tail", pa.int32()),
]


def _rows(table: pa.Table | pa.RecordBatch, column: str | None) -> list[Any]:
    if column is None:
        return [None] * table.num_rows
    if column not in table.schema.names:
        raise KeyError(
            f"no column {column!r} in the batch (it has {', '.join(table.schema.names)})"
        )
    values: list[Any] = table.column(column).to_pylist()
    return values


def _day(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def span_row(index: int, span: Span, link: Link | None, rule: str | None = None) -> dict[str, Any]:
    """One extracted span as a row of `MENTION_FIELDS` (`rule` overrides the span's own,
    for a link made another way)."""
    number = span.value if isinstance(span.value, int | float) else None
    return {
        "span": index,
        "type": span.type,
        "start": span.start,
        "end": span.end,
        "text": span.text,
        "value": None if span.value is None else str(span.value),
        "value_number": float(number) if number is not None else None,
        "value_max": float(span.value_max) if span.value_max is not None else None,
        "unit": span.unit,
        "rule": rule or span.rule,
        "entity_id": link.entity_id if link else None,
        "confidence": link.confidence if link else None,
    }


def mention_table(
    documents: pa.Table | pa.RecordBatch,
    extractor: Extractor,
    people: PeopleIndex | None = None,
    *,
    id_column: str,
    text_column: str,
    date_column: str | None = None,
    carry: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
) -> pa.Table:
    """One row per extracted span of every document, with its link when ``people`` is
    given (``entity_id`` null when not linked). Numbers (ages, amounts) are in
    ``value_number``; every value also in text in ``value``."""
    ids = _rows(documents, id_column)
    texts = _rows(documents, text_column)
    days = _rows(documents, date_column)
    carried = {name: _rows(documents, name) for name in carry}
    columns: dict[str, list[Any]] = {f.name: [] for f in MENTION_FIELDS}
    out_ids: list[Any] = []
    out_carried: dict[str, list[Any]] = {name: [] for name in carry}
    for row, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            continue
        day = _day(days[row])
        extraction = extractor.extract(text, report_date=day)
        links = {}
        if people is not None:
            links = {
                link.span: link
                for link in link_mentions(extraction, people, report_date=day, threshold=threshold)
            }
        for index, span in enumerate(extraction.spans):
            for name, value in span_row(index, span, links.get(index)).items():
                columns[name].append(value)
            out_ids.append(ids[row])
            for name in carry:
                out_carried[name].append(carried[name][row])
    id_type = documents.schema.field(id_column).type
    arrays = [pa.array(out_ids, type=id_type)]
    names = [id_column]
    for f in MENTION_FIELDS:
        arrays.append(pa.array(columns[f.name], type=f.type))
        names.append(f.name)
    for name in carry:
        arrays.append(pa.array(out_carried[name], type=documents.schema.field(name).type))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def relation_table(
    documents: pa.Table | pa.RecordBatch,
    extractor: Extractor,
    *,
    id_column: str,
    text_column: str,
) -> pa.Table:
    """One row per stated relation: the document id, the relation and the span indexes
    (as in :func:`mention_table`'s ``span`` column) of its head and tail."""
    ids = _rows(documents, id_column)
    texts = _rows(documents, text_column)
    out: dict[str, list[Any]] = {id_column: [], "type": [], "head": [], "tail": []}
    for row, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            continue
        for relation in extractor.extract(text).relations:
            out[id_column].append(ids[row])
            out["type"].append(relation.type)
            out["head"].append(relation.head)
            out["tail"].append(relation.tail)
    schema = pa.schema([documents.schema.field(id_column), *RELATION_FIELDS])
    return pa.table(out, schema=schema)
