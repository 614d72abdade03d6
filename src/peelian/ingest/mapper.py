"""Apply one mapping to one batch of source rows.

`BatchMapper.map` turns a `RawBatch` into the tables the hub stores: the
accepted source rows (provenance), a mention per entity made, one table per
POLE kind with the mapped fields, the links between mentions, field-level
flags, and the quarantined rows with their reasons. Every row of the batch
ends up either accepted or quarantined, never neither.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from peelian.ingest.values import (
    STRING,
    TIMESTAMP,
    Evaluated,
    as_text,
    coerce,
    condition,
    evaluate,
    nulls,
    render_templates,
)
from peelian.reference import code_table
from peelian.sources.readers import RawBatch, RejectedRow
from peelian.standardise.batch import standardise

MARKINGS = ("OFFICIAL", "OFFICIAL-SENSITIVE", "SECRET")

# Field types by kind; anything not listed is text. Event fields that are not
# common to every event type are kept as attributes (name -> text).
FIELD_TYPES: dict[str, dict[str, str]] = {
    "person": {
        "forenames": "text",
        "surname": "text",
        "aliases": "list",
        "street_name": "text",
        "date_of_birth": "date",
        "age": "integer",
        "age_range": "text",
        "sex": "text",
        "ethnicity_self_defined": "text",
        "ethnicity_officer_defined": "text",
        "address": "text",
        "postcode": "text",
        "phones": "list",
        "emails": "list",
        "warning_markers": "list",
    },
    "vehicle": {
        "vrm": "text",
        "make": "text",
        "model": "text",
        "colour": "text",
        "description": "text",
    },
    "phone": {"number": "text", "imei": "text"},
    "address": {
        "reference": "text",
        "text": "text",
        "postcode": "text",
        "lat": "number",
        "lon": "number",
    },
    "organisation": {"name": "text"},
    "event": {
        "reference": "text",
        "occurred": "timestamp",
        "start": "timestamp",
        "end": "timestamp",
        "recorded": "timestamp",
        "beat": "text",
        "text": "text",
    },
}
FIELD_TYPES["location"] = FIELD_TYPES["address"]
EVENT_ATTRIBUTE_TYPES = {
    "grade": "number",
    "duration_s": "number",
    "confidence": "number",
    "dispatched": "timestamp",
    "arrived": "timestamp",
    "outcome_date": "date",
}
KIND_TABLE = {
    "person": "person",
    "vehicle": "vehicle",
    "phone": "phone",
    "address": "place",
    "location": "place",
    "organisation": "organisation",
    "event": "event",
}


@dataclass
class MappedBatch:
    rows: pa.Table
    mentions: list[pa.Table] = field(default_factory=list)
    kinds: dict[str, list[pa.Table]] = field(default_factory=dict)
    links: list[pa.Table] = field(default_factory=list)
    flags: list[pa.Table] = field(default_factory=list)
    documents: list[pa.Table] = field(default_factory=list)
    quarantine: list[RejectedRow] = field(default_factory=list)


@dataclass
class _Made:
    """An entity evaluated on a frame (the batch, or an `each` list's elements)."""

    spec: dict[str, Any]
    idx: pa.Array  # row index in the batch, per made entity
    element: pa.Array  # element index (null when not an `each` entity)
    mention_id: pa.Array
    table: pa.Table | None  # fields (None for refers_to)
    ref_source: str | None = None
    ref_id: pa.Array | None = None
    every_row: pa.Table | None = None  # record-level entities: the fields on every row


def _take(array: pa.Array, indices: pa.Array) -> pa.Array:
    return pc.take(array, indices)


def interleave(columns: list[pa.Array], count: int, type_: pa.DataType = STRING) -> pa.Array:
    """Per row, a list of the non-null values of `columns` (row-major order)."""
    if not columns:
        return pa.array([[] for _ in range(count)], type=pa.list_(type_))
    k = len(columns)
    stacked = pa.concat_arrays(columns)
    order = (np.arange(count)[:, None] + np.arange(k)[None, :] * count).ravel()
    items = stacked.take(pa.array(order))
    valid = pc.is_valid(items)
    kept = items.filter(valid)
    per_row = np.asarray(valid.to_numpy(zero_copy_only=False), dtype=np.int64)
    counts = per_row.reshape(count, k).sum(axis=1) if count else np.zeros(0, np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, kept)


class BatchMapper:
    """Applies a loaded mapping (its validated `data` dict) to batches."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.source = data["source"]["name"]
        self.timezone = data["reader"].get("timezone", "UTC")
        self.record = data["record"]
        self.entities = data["entities"]
        self.links = data.get("links") or []
        self.source_roles = list((data["source"].get("sharing") or {}).get("roles") or [])
        self._group_id: str | None = None
        self._group_count = 0
        self._record_fingerprints: dict[str, str] = {}
        self._seq = 0  # running row number over the whole run, ties outputs to their row

    # ------------------------------------------------------------ records

    def _row_in_group(self, record_ids: pa.Array) -> pa.Array:
        out = []
        last, count = self._group_id, self._group_count
        for rid in record_ids.to_pylist():
            if rid is not None and rid == last:
                count += 1
            else:
                last, count = rid, 1
            out.append(count)
        self._group_id, self._group_count = last, count
        return pa.array(out, pa.int64())

    def _frame(self, batch: RawBatch) -> tuple[pa.Table, pa.Array]:
        table = batch.table
        record_ids = render_templates(self.record["id"], table)
        table = table.append_column("_row_in_group", self._row_in_group(record_ids))
        return table, record_ids

    def map(self, batch: RawBatch) -> MappedBatch:
        frame, record_ids = self._frame(batch)
        count = frame.num_rows
        seq = pa.array(np.arange(self._seq, self._seq + count, dtype=np.int64))
        self._seq += count
        row_template = self.record.get("row_id")
        row_ids = render_templates(row_template, frame) if row_template else record_ids
        reasons: list[pa.Array] = []
        details: list[pa.Array] = []

        def reject(mask: pa.Array, reason: str, detail: pa.Array | str) -> None:
            reasons.append(pc.if_else(mask, pa.scalar(reason), pa.scalar(None, STRING)))
            if isinstance(detail, str):
                detail = pa.array([detail] * count, STRING)
            details.append(pc.if_else(mask, detail, pa.scalar(None, STRING)))

        data_columns = [c for c in batch.table.column_names if not c.startswith("_")]
        if data_columns:
            all_empty = functools.reduce(pc.and_, [pc.is_null(frame[c]) for c in data_columns])
            reject(_combined(all_empty), "empty_row", "every column of the row is empty")
        reject(
            pc.is_null(record_ids),
            "no_record_id",
            "the record id is empty (its columns have no value)",
        )
        if row_template:
            reject(
                pc.and_(pc.is_valid(record_ids), pc.is_null(row_ids)),
                "no_record_id",
                "the row id is empty (its columns have no value)",
            )
        marking, marking_bad, marking_raw = self._marking(frame)
        reject(
            marking_bad,
            "unknown_marking",
            pc.fill_null(
                pc.binary_join_element_wise(pa.scalar("marking "), marking_raw, ""),
                "",
            ),
        )
        sharing, sharing_reason, sharing_detail = self._sharing(frame)
        if sharing_reason is not None:
            reasons.append(sharing_reason)
            details.append(sharing_detail)
        compartment = self._record_text("compartment", frame)
        handling = self._handling(frame)
        occurred_ev = self._record_value("occurred", frame)
        occurred = (
            coerce(occurred_ev, "timestamp").values if occurred_ev else nulls(count, TIMESTAMP)
        )

        made = self._make_entities(frame, batch, row_ids, record_ids)
        rows_with_entity = np.zeros(count, dtype=bool)
        for entity in made:
            if entity.table is not None and len(entity.idx):
                rows_with_entity[entity.idx.to_numpy()] = True
        reject(
            pa.array(~rows_with_entity),
            "no_usable_content",
            "no entity could be made from the row (every mapped value is empty)",
        )
        disagree = self._record_disagreements(frame, record_ids, made)
        if disagree is not None:
            reasons.append(disagree[0])
            details.append(disagree[1])

        reason = pc.coalesce(*reasons) if reasons else nulls(count)
        detail = pc.coalesce(*details) if details else nulls(count)
        accepted = pc.is_null(reason)
        out = MappedBatch(
            rows=self._rows_table(
                frame,
                accepted,
                record_ids,
                row_ids,
                marking,
                compartment,
                handling,
                sharing,
                occurred,
                seq,
            )
        )
        out.quarantine = list(batch.rejects)
        rejected_idx = _nonzero(pc.invert(accepted))
        if len(rejected_idx):
            for i, why, what in zip(
                rejected_idx.to_pylist(),
                _take(reason, rejected_idx).to_pylist(),
                _take(detail, rejected_idx).to_pylist(),
                strict=True,
            ):
                out.quarantine.append(
                    RejectedRow(
                        frame["_file"][i].as_py(),
                        frame["_row"][i].as_py(),
                        frame["_line"][i].as_py(),
                        frame["_raw"][i].as_py(),
                        why,
                        what or "",
                    )
                )
        self._emit(out, made, accepted, frame, row_ids, record_ids, seq)
        return out

    def _record_value(self, key: str, frame: pa.Table) -> Evaluated | None:
        spec = self.record.get(key)
        return evaluate(spec, frame, self.timezone) if spec else None

    def _record_text(self, key: str, frame: pa.Table) -> pa.Array:
        ev = self._record_value(key, frame)
        if ev is None:
            return nulls(frame.num_rows)
        return pc.utf8_trim_whitespace(as_text(ev.values))

    def _marking(self, frame: pa.Table) -> tuple[pa.Array, pa.Array, pa.Array]:
        """The marking per row, which rows hold an unknown one, and the raw text."""
        count = frame.num_rows
        default = self.data["source"]["default_marking"]
        ev = self._record_value("marking", frame)
        if ev is None:
            return pa.array([default] * count, STRING), pa.array([False] * count), nulls(count)
        given = pc.utf8_upper(pc.utf8_trim_whitespace(as_text(ev.values)))
        known = pc.is_in(given, value_set=pa.array(MARKINGS, STRING))
        bad = pc.and_(pc.is_valid(given), pc.invert(pc.fill_null(known, False)))
        marking = pc.coalesce(given, pa.scalar(default))
        return marking, pc.fill_null(bad, False), as_text(ev.raw)

    def _handling(self, frame: pa.Table) -> pa.Array:
        count = frame.num_rows
        source_handling = self.data["source"].get("handling")
        record = self._record_text("handling", frame)
        if not source_handling:
            return record
        base = pa.array([source_handling] * count, STRING)
        joined = pc.binary_join_element_wise(base, pc.fill_null(record, ""), "; ")
        return pc.if_else(pc.is_valid(record), joined, base)

    def _sharing(self, frame: pa.Table) -> tuple[pa.Array, pa.Array | None, pa.Array | None]:
        count = frame.num_rows
        source_roles = self.source_roles
        spec = self.record.get("sharing")
        base = pa.array([source_roles] * count, pa.list_(STRING))
        if not spec or not spec.get("roles"):
            return base, None, None
        ev = evaluate(
            {k: v for k, v in spec["roles"].items() if k != "transform"}, frame, self.timezone
        )
        table_name = _lookup_table(spec["roles"].get("transform") or [])
        table = code_table(table_name) if table_name else None
        text = as_text(ev.values)
        roles_of: dict[str, list[str] | None] = {}
        for value in pc.unique(text).to_pylist():
            if value is None:
                continue
            roles_of[value] = (
                table.lookup_list(value)
                if table
                else [r.strip() for r in value.split(";") if r.strip()]
            )
        roles: list[list[str] | None] = []
        reason: list[str | None] = []
        detail: list[str | None] = []
        for value in text.to_pylist():
            if value is None:
                roles.append(source_roles)
                reason.append(None)
                detail.append(None)
                continue
            found = roles_of.get(value)
            if found is None:
                roles.append(None)
                reason.append("unknown_sharing")
                detail.append(f"sharing restriction {value!r} is not in the code table")
            elif source_roles and not set(found) <= set(source_roles):
                roles.append(None)
                reason.append("sharing_wider_than_source")
                detail.append(f"sharing {value!r} names roles the source does not allow")
            else:
                roles.append(found)
                reason.append(None)
                detail.append(None)
        return (
            pa.array(roles, pa.list_(STRING)),
            pa.array(reason, STRING),
            pa.array(detail, STRING),
        )

    def _rows_table(
        self,
        frame: pa.Table,
        accepted: pa.Array,
        record_ids: pa.Array,
        row_ids: pa.Array,
        marking: pa.Array,
        compartment: pa.Array,
        handling: pa.Array,
        sharing: pa.Array,
        occurred: pa.Array,
        seq: pa.Array,
    ) -> pa.Table:
        table = pa.table(
            {
                "source": pa.array([self.source] * frame.num_rows, STRING),
                "record_id": record_ids,
                "row_id": row_ids,
                "file": frame["_file"],
                "row_number": frame["_row"],
                "line": frame["_line"],
                "raw": frame["_raw"],
                "marking": marking,
                "compartment": compartment,
                "handling": handling,
                "sharing_roles": sharing,
                "occurred": occurred,
                "_seq": seq,
            }
        )
        return table.filter(accepted)

    # ----------------------------------------------------------- entities

    def _make_entities(
        self, frame: pa.Table, batch: RawBatch, row_ids: pa.Array, record_ids: pa.Array
    ) -> list[_Made]:
        made = []
        first_of_record = pc.equal(frame["_row_in_group"], 1)
        for spec in self.entities:
            if spec.get("each"):
                made.append(self._make_each(spec, frame, batch, row_ids))
                continue
            mask = condition(spec.get("when"), frame)
            scope_record = spec.get("scope") == "record"
            if scope_record:
                mask = pc.and_(mask, first_of_record)
            owner_ids = record_ids if scope_record else row_ids
            if spec.get("refers_to"):
                ref = spec["refers_to"]
                ref_ids = render_templates(ref["id"], frame)
                mask = pc.and_(mask, pc.is_valid(ref_ids))
                idx = _nonzero(mask)
                made.append(
                    _Made(
                        spec,
                        idx,
                        nulls(len(idx), pa.int64()),
                        nulls(len(idx)),
                        None,
                        ref["source"],
                        _take(ref_ids, idx),
                    )
                )
                continue
            table, nonempty = self._fields(spec, frame)
            idx = _nonzero(pc.and_(mask, nonempty))
            mention_ids = self._mention_ids(_take(owner_ids, idx), spec["as"], None)
            made.append(
                _Made(
                    spec,
                    idx,
                    nulls(len(idx), pa.int64()),
                    mention_ids,
                    table.take(idx),
                    every_row=table if scope_record else None,
                )
            )
        return made

    def _make_each(
        self, spec: dict[str, Any], frame: pa.Table, batch: RawBatch, row_ids: pa.Array
    ) -> _Made:
        elements = batch.elements[spec["each"]]
        mask = condition(spec.get("when"), elements)
        table, nonempty = self._fields(spec, elements)
        keep = _nonzero(pc.and_(mask, nonempty))
        idx = _take(elements["_parent"], keep)
        element = _take(elements["_element"], keep)
        mention_ids = self._mention_ids(_take(row_ids, idx), spec["as"], element)
        return _Made(spec, _combined(idx), _combined(element), mention_ids, table.take(keep))

    def _mention_ids(self, owner: pa.Array, slot: str, element: pa.Array | None) -> pa.Array:
        count = len(owner)
        prefix = pa.array([f"{self.source}:"] * count, STRING)
        suffix = pa.array([f":{slot}"] * count, STRING)
        ids = pc.binary_join_element_wise(prefix, owner, suffix, "")
        if element is not None:
            ids = pc.binary_join_element_wise(
                ids,
                pa.array(["["] * count, STRING),
                as_text(element),
                pa.array(["]"] * count, STRING),
                "",
            )
        return _combined(ids)

    def _fields(self, spec: dict[str, Any], frame: pa.Table) -> tuple[pa.Table, pa.Array]:
        """The entity's typed fields per row of `frame`, and which rows have any."""
        kind = spec["kind"]
        types = FIELD_TYPES[kind]
        count = frame.num_rows
        columns: dict[str, pa.Array] = {}
        problems: dict[str, tuple[pa.Array, pa.Array]] = {}
        attributes: dict[str, pa.Array] = {}
        nonempty = np.zeros(count, dtype=bool)
        for name, value_spec in (spec.get("fields") or {}).items():
            if name == "identifiers":
                columns["identifiers"], id_problems = self._identifiers(value_spec, frame)
                problems.update(id_problems)
                lengths = pc.fill_null(pc.list_value_length(columns["identifiers"]), 0)
                nonempty |= lengths.to_numpy(zero_copy_only=False) > 0
                continue
            if name == "grading":
                for part, part_spec in value_spec.items():
                    ev = evaluate(part_spec, frame, self.timezone)
                    attributes[f"grading_{part}"] = as_text(ev.values)
                grade_problem = self._check_grading(attributes)
                problems["grading"] = (
                    grade_problem,
                    as_text(attributes.get("grading_scheme", nulls(count))),
                )
                continue
            ftype = types.get(name) or EVENT_ATTRIBUTE_TYPES.get(name, "text")
            ev = coerce(evaluate(value_spec, frame, self.timezone), ftype)
            if kind == "event" and name not in types:
                attributes[name] = ev.values
            else:
                columns[name] = ev.values
                if "precision" in ev.extra and name in ("date_of_birth", "occurred"):
                    columns[f"{name}_precision"] = ev.extra["precision"]
            if value_spec.get("document"):
                columns["_document_field"] = pa.array([name] * count, STRING)
            problems[name] = (ev.problems, ev.raw)
            present = pc.is_valid(ev.values)
            if pa.types.is_list(ev.values.type):
                present = pc.greater(pc.fill_null(pc.list_value_length(ev.values), 0), 0)
            if "constant" not in value_spec:
                nonempty |= pc.fill_null(present, False).to_numpy(zero_copy_only=False)
        if kind == "event":
            for name in list(attributes):
                attributes[name] = (
                    as_text(attributes[name])
                    if not pa.types.is_timestamp(attributes[name].type)
                    else attributes[name].cast(STRING)
                )
            names = sorted(attributes)
            keys = interleave(
                [
                    pc.if_else(pc.is_valid(attributes[n]), pa.scalar(n), pa.scalar(None, STRING))
                    for n in names
                ],
                count,
            )
            vals = interleave([attributes[n] for n in names], count)
            columns["attributes"] = pa.MapArray.from_arrays(keys.offsets, keys.values, vals.values)
            columns["event_type"] = pa.array([spec.get("type")] * count, STRING)
        # Field problems travel as one list per row: "field\x1freason\x1fraw".
        flag_cols = []
        for name, (problem, raw) in problems.items():
            if pc.any(pc.is_valid(problem)).as_py():
                flag_cols.append(
                    pc.binary_join_element_wise(
                        pa.array([name] * count, STRING),
                        problem,
                        pc.fill_null(as_text(raw), ""),
                        "\x1f",
                        null_handling="emit_null",
                    )
                )
        columns["_flags"] = interleave(flag_cols, count)
        return pa.table(columns) if columns else pa.table({"_flags": columns["_flags"]}), pa.array(
            nonempty
        )

    def _identifiers(
        self, specs: list[dict[str, Any]], frame: pa.Table
    ) -> tuple[pa.Array, dict[str, tuple[pa.Array, pa.Array]]]:
        count = frame.num_rows
        structs = []
        problems = {}
        for j, spec in enumerate(specs):
            value_spec = {k: v for k, v in spec.items() if k not in ("scheme", "issuer", "when")}
            ev = evaluate(value_spec, frame, self.timezone)
            values = as_text(ev.values)
            mask = condition(spec.get("when"), frame)
            values = pc.if_else(mask, values, pa.scalar(None, STRING))
            issuer = (
                as_text(evaluate(spec["issuer"], frame, self.timezone).values)
                if spec.get("issuer")
                else nulls(count)
            )
            valid = pc.is_null(ev.problems)
            struct = pa.StructArray.from_arrays(
                [pa.array([spec["scheme"]] * count, STRING), values, issuer, valid],
                names=["scheme", "value", "issuer", "valid"],
                mask=pc.is_null(values),
            )
            structs.append(struct)
            problems[f"identifiers.{spec['scheme']}" + (f"[{j}]" if j else "")] = (
                pc.if_else(mask, ev.problems, pa.scalar(None, STRING)),
                ev.raw,
            )
        return interleave(structs, count, _IDENTIFIER), problems

    def _check_grading(self, attributes: dict[str, pa.Array]) -> pa.Array:
        scheme = attributes.get("grading_scheme")
        if scheme is None:
            return nulls(0)
        count = len(scheme)
        result: list[str | None] = []
        parts = [p for p in ("source", "intelligence", "handling") if f"grading_{p}" in attributes]
        columns = {p: attributes[f"grading_{p}"].to_pylist() for p in parts}
        for i, value in enumerate(scheme.to_pylist()):
            if value is None:
                result.append(None)
                continue
            try:
                table = code_table(f"grading_{value}")
            except (KeyError, FileNotFoundError):
                result.append("unknown_grading_scheme")
                continue
            bad = [
                p
                for p in parts
                if columns[p][i] is not None and table.part(p).lookup(columns[p][i]) is None
            ]
            result.append(f"invalid_grade:{','.join(bad)}" if bad else None)
        return pa.array(result if count else [], STRING)

    def _record_disagreements(
        self, frame: pa.Table, record_ids: pa.Array, made: list[_Made]
    ) -> tuple[pa.Array, pa.Array] | None:
        """A row whose record-level entity disagrees with the record's first row."""
        tables = [m.every_row for m in made if m.every_row is not None]
        if not tables:
            return None
        count = frame.num_rows
        prints = []
        for table in tables:
            cols = [
                as_text(table[c].combine_chunks())
                if not pa.types.is_map(table[c].type)
                else nulls(count)
                for c in table.column_names
                if not c.startswith("_")
            ]
            cols = [pc.fill_null(c, "") for c in cols]
            prints.append(
                pc.binary_join_element_wise(*cols, "\x1f")
                if cols
                else pa.array([""] * count, STRING)
            )
        combined = pc.binary_join_element_wise(*prints, "\x1e") if len(prints) > 1 else prints[0]
        reasons: list[str | None] = []
        details: list[str | None] = []
        first = self._record_fingerprints
        for rid, fp, rig in zip(
            record_ids.to_pylist(),
            combined.to_pylist(),
            frame["_row_in_group"].to_pylist(),
            strict=True,
        ):
            if rig == 1:
                first.clear()
                if rid is not None:
                    first[rid] = fp
                reasons.append(None)
                details.append(None)
            elif rid in first and first[rid] != fp:
                reasons.append("record_disagrees")
                details.append("a record-level value differs from the record's first row")
            else:
                reasons.append(None)
                details.append(None)
        return pa.array(reasons, STRING), pa.array(details, STRING)

    # -------------------------------------------------------------- output

    def _emit(
        self,
        out: MappedBatch,
        made: list[_Made],
        accepted: pa.Array,
        frame: pa.Table,
        row_ids: pa.Array,
        record_ids: pa.Array,
        seq: pa.Array,
    ) -> None:
        by_slot: dict[str, _Made] = {}
        accepted_np = accepted.to_numpy(zero_copy_only=False)
        for entity in made:
            keep = (
                pa.array(accepted_np[entity.idx.to_numpy()])
                if len(entity.idx)
                else pa.array([], pa.bool_())
            )
            entity = _Made(
                entity.spec,
                entity.idx.filter(keep),
                entity.element.filter(keep),
                entity.mention_id.filter(keep),
                entity.table.filter(keep) if entity.table is not None else None,
                entity.ref_source,
                entity.ref_id.filter(keep) if entity.ref_id is not None else None,
            )
            by_slot[entity.spec["as"]] = entity
            if entity.table is None:
                continue
            self._emit_entity(out, entity, row_ids, record_ids, seq)
        for link in self.links:
            table = self._link_table(link, by_slot, frame, row_ids, record_ids, seq)
            if table is not None and table.num_rows:
                out.links.append(table)

    def _emit_entity(
        self,
        out: MappedBatch,
        entity: _Made,
        row_ids: pa.Array,
        record_ids: pa.Array,
        seq: pa.Array,
    ) -> None:
        spec = entity.spec
        n = len(entity.idx)
        if n == 0:
            return
        entity_seq = _take(seq, entity.idx)
        out.mentions.append(
            pa.table(
                {
                    "mention_id": entity.mention_id,
                    "source": pa.array([self.source] * n, STRING),
                    "record_id": _take(record_ids, entity.idx),
                    "row_id": _take(row_ids, entity.idx),
                    "slot": pa.array([spec["as"]] * n, STRING),
                    "element": entity.element.cast(pa.int32()),
                    "kind": pa.array([spec["kind"]] * n, STRING),
                    "event_type": pa.array([spec.get("type")] * n, STRING),
                    "_seq": entity_seq,
                }
            )
        )
        table = entity.table
        assert table is not None
        flags = table["_flags"].combine_chunks()
        if pc.any(pc.greater(pc.fill_null(pc.list_value_length(flags), 0), 0)).as_py():
            parents = pc.list_parent_indices(flags)
            parts = pc.split_pattern(pc.list_flatten(flags), "\x1f", max_splits=2)
            out.flags.append(
                pa.table(
                    {
                        "mention_id": _take(entity.mention_id, parents),
                        "source": pa.array([self.source] * len(parents), STRING),
                        "slot": pa.array([spec["as"]] * len(parents), STRING),
                        "field": pc.list_element(parts, 0),
                        "reason": pc.list_element(parts, 1),
                        "raw": pc.list_element(parts, 2),
                        "_seq": _take(entity_seq, parents),
                    }
                )
            )
        if "_document_field" in table.column_names and "text" in table.column_names:
            has_text = pc.is_valid(table["text"])
            out.documents.append(
                pa.table(
                    {
                        "mention_id": entity.mention_id.filter(has_text),
                        "field": table["_document_field"].filter(has_text),
                        "text": table["text"].filter(has_text),
                        "_seq": entity_seq.filter(has_text),
                    }
                )
            )
        kind_table = KIND_TABLE[spec["kind"]]
        columns = {"mention_id": entity.mention_id, "_seq": entity_seq}
        if kind_table == "place":
            columns["kind"] = pa.array([spec["kind"]] * n, STRING)
        for name in table.column_names:
            if not name.startswith("_"):
                columns[name] = table[name].combine_chunks()
        out.kinds.setdefault(kind_table, []).append(standardise(kind_table, pa.table(columns)))

    def _link_table(
        self,
        link: dict[str, Any],
        by_slot: dict[str, _Made],
        frame: pa.Table,
        row_ids: pa.Array,
        record_ids: pa.Array,
        seq: pa.Array,
    ) -> pa.Table | None:
        src, dst = by_slot.get(link["from"]), by_slot.get(link["to"])
        if src is None or dst is None or len(src.idx) == 0 or len(dst.idx) == 0:
            return None
        # Pair the two ends by row (and by element when both come from the same list).
        left = pa.table(
            {
                "idx": src.idx,
                "el": _fill_el(src),
                "from_id": _or_ref(src),
            }
        )
        right = pa.table(
            {
                "idx": dst.idx,
                "el_r": _fill_el(dst),
                "to_id": _or_ref(dst),
                "to_ref_source": _ref_source(dst),
                "to_ref_id": _ref_id(dst),
            }
        )
        joined = left.join(right, keys="idx", join_type="inner")
        same_list = src.spec.get("each") and src.spec.get("each") == dst.spec.get("each")
        if same_list:
            joined = joined.filter(pc.equal(joined["el"], joined["el_r"]))
        if joined.num_rows == 0:
            return None
        idx = joined["idx"].combine_chunks()
        mask = _take(condition(link.get("when"), frame), idx)
        joined = joined.filter(mask)
        idx = joined["idx"].combine_chunks()
        n = joined.num_rows
        if n == 0:
            return None

        def link_value(key: str, kind: str) -> tuple[pa.Array, pa.Array | None]:
            spec = link.get(key)
            if not spec:
                empty = nulls(
                    n,
                    TIMESTAMP
                    if kind == "timestamp"
                    else (pa.float64() if kind == "number" else STRING),
                )
                return empty, None
            ev = coerce(evaluate(spec, frame, self.timezone), kind)
            return _take(ev.values, idx), _take(ev.problems, idx)

        role, role_problem = link_value("role", "text")
        start, _ = link_value("start", "timestamp")
        end, _ = link_value("end", "timestamp")
        confidence, _ = link_value("confidence", "number")
        from_el = joined["el"].combine_chunks()
        to_el = joined["el_r"].combine_chunks()
        ids = pc.binary_join_element_wise(
            pa.array([f"{self.source}:"] * n, STRING),
            _take(row_ids, idx),
            pa.array([f":{link['from']}"] * n, STRING),
            as_text(from_el),
            pa.array([f">{link['type']}>{link['to']}"] * n, STRING),
            as_text(to_el),
            "",
        )
        return pa.table(
            {
                "link_id": ids,
                "source": pa.array([self.source] * n, STRING),
                "record_id": _take(record_ids, idx),
                "row_id": _take(row_ids, idx),
                "type": pa.array([link["type"]] * n, STRING),
                "from_mention": joined["from_id"].combine_chunks(),
                "to_mention": joined["to_id"].combine_chunks(),
                "to_ref_source": joined["to_ref_source"].combine_chunks(),
                "to_ref_id": joined["to_ref_id"].combine_chunks(),
                "role": role,
                "role_problem": role_problem if role_problem is not None else nulls(n),
                "start": start,
                "end": end,
                "confidence": confidence,
                "_seq": _take(seq, idx),
            }
        )


_IDENTIFIER = pa.struct(
    [("scheme", STRING), ("value", STRING), ("issuer", STRING), ("valid", pa.bool_())]
)


def _nonzero(mask: pa.Array) -> pa.Array:
    return pc.indices_nonzero(mask).cast(pa.int64())


def _combined(array: Any) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _fill_el(made: _Made) -> pa.Array:
    return pc.fill_null(made.element, -1)


def _or_ref(made: _Made) -> pa.Array:
    return made.mention_id if made.table is not None else nulls(len(made.idx))


def _ref_source(made: _Made) -> pa.Array:
    return pa.array([made.ref_source] * len(made.idx), STRING)


def _ref_id(made: _Made) -> pa.Array:
    return made.ref_id if made.ref_id is not None else nulls(len(made.idx))


def _lookup_table(transforms: list[Any]) -> str | None:
    for transform in transforms:
        if isinstance(transform, dict) and "lookup" in transform:
            return str(transform["lookup"])
    return None
