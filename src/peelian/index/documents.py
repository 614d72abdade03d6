"""Index documents from a snapshot: one per entity and security label, one per text.

An entity's mentions may carry different markings: most of a nominal's records
are OFFICIAL, one intelligence report about them is in an operation's
compartment. A viewer outside the operation must not find the person by the
name or phone number only that report gives. So the index holds one document
per entity *and label* (marking, compartment, sharing roles), built only from
the golden values the mentions under that label gave; the viewer's filter
selects documents inside the query and results are collapsed to entities.

The values come from `golden_values` (every value any mention gave, with the
mentions that gave it), so what the index finds is what the profile shows.

`entity_groups(con)` yields those groups as plain rows and `index_document`
turns one into the JSON the Tantivy schema in `build` expects; the benchmark
feeds synthetic groups through the same function.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator
from typing import Any

import duckdb

from peelian.govern.policy import NO_COMPARTMENT, UNRESTRICTED, normalise_label
from peelian.index.access import label_key
from peelian.standardise import identifiers, names
from peelian.standardise.vehicles import vrm_misread_key

BATCH_ROWS = 20_000

# Which mention labels there are: marking rank, compartment, sharing roles.
LABELS_SQL = f"""
CREATE OR REPLACE TEMP TABLE index_labels AS
SELECT m.mention_id,
       coalesce(s.marking, '?') AS marking,
       coalesce(nullif(trim(s.compartment), ''), '{NO_COMPARTMENT}') AS compartment,
       CASE WHEN s.sharing_roles IS NULL OR len(s.sharing_roles) = 0 THEN ['{UNRESTRICTED}']
            ELSE list_sort(list_distinct(s.sharing_roles)) END AS roles,
       coalesce(s.occurred, s.extract_time, s.ingested_at) AS seen_at,
       nullif(trim(s.handling), '') AS handling
FROM mentions m
JOIN source_rows s ON s.source = m.source AND s.row_id = m.row_id
WHERE m.deleted_at IS NULL AND s.deleted_at IS NULL
"""

# One row per entity and label: its values per field (most mentioned first).
GROUPS_SQL = """
WITH per_value AS (
    SELECT g.entity_id, g.entity_type, l.marking, l.compartment, l.roles, g.field, g.value,
           count(*) AS n
    FROM golden_values g, unnest(g.mentions) AS u(mention_id)
    JOIN index_labels l ON l.mention_id = u.mention_id
    GROUP BY ALL),
per_field AS (
    SELECT entity_id, entity_type, marking, compartment, roles, field,
           list(value ORDER BY n DESC, value) AS vals
    FROM per_value GROUP BY ALL),
per_label AS (
    SELECT entity_id, entity_type, marking, compartment, roles,
           map_from_entries(list((field, vals))) AS fields
    FROM per_field GROUP BY ALL),
seen AS (
    SELECT e.entity_id, l.marking, l.compartment, l.roles, count(*) AS mentions,
           min(l.seen_at) AS first_seen, max(l.seen_at) AS last_seen,
           list_sort(list(DISTINCT l.handling) FILTER (WHERE l.handling IS NOT NULL))
               AS handling
    FROM entity_membership e JOIN index_labels l USING (mention_id)
    GROUP BY ALL)
SELECT p.entity_id, p.entity_type, p.marking, p.compartment, p.roles, p.fields,
       s.mentions, s.first_seen, s.last_seen, s.handling
FROM per_label p JOIN seen s USING (entity_id, marking, compartment, roles)
"""

# Free text (narratives, intelligence) with the record it belongs to.
TEXTS_SQL = """
SELECT d.mention_id, d.field, d.text, m.source, m.record_id, e.event_type, e.reference,
       e.occurred, l.marking, l.compartment, l.roles, l.seen_at, l.handling
FROM documents d
JOIN mentions m USING (mention_id)
JOIN index_labels l USING (mention_id)
LEFT JOIN event e USING (mention_id)
"""


def entity_groups(con: duckdb.DuckDBPyConnection) -> Iterator[dict[str, Any]]:
    """Every (entity, label) group of the snapshot, as dicts (see `GROUPS_SQL`)."""
    con.execute(LABELS_SQL)
    yield from _rows(con, GROUPS_SQL)


def text_rows(con: duckdb.DuckDBPyConnection) -> Iterator[dict[str, Any]]:
    """Every free-text document with its record and label (needs `index_labels`)."""
    yield from _rows(con, TEXTS_SQL)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[dict[str, Any]]:
    reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        yield from batch.to_pylist()


# Every formal forename a word may stand for, cached: names repeat across millions.
formals = functools.lru_cache(maxsize=100_000)(names.formal_forenames)


@functools.lru_cache(maxsize=500_000)
def name_keys(value: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(tokens, canonical forenames, phonetic keys) of one name as given."""
    tokens = tuple(names.name_tokens(value))
    # every formal forename a word may stand for: JAMIE is found by JAMES
    canon = tuple(dict.fromkeys(f for t in tokens for f in formals(t)))
    phonetic = tuple(dict.fromkeys(k for t in tokens if (k := names.phonetic_key(t))))
    return tokens, canon, phonetic


@functools.lru_cache(maxsize=200_000)
def postcode_terms(value: str) -> tuple[str, ...]:
    """A postcode as the terms it is found by: full, sector, district."""
    postcode = identifiers.normalise_postcode(value)
    if postcode is None:
        return ()
    return (
        postcode,
        identifiers.postcode_sector(postcode),
        identifiers.postcode_district(postcode),
    )


def dob_terms(value: str) -> list[str]:
    """A date of birth as the terms a full or partial DOB query looks for."""
    return [value, value[:7], value[:4]] if len(value) == 10 else [value]


def _yyyymmdd(value: Any) -> int | None:
    if isinstance(value, dt.datetime | dt.date):
        return value.year * 10_000 + value.month * 100 + value.day
    return None


def _distinct(values: Any) -> list[str]:
    return list(dict.fromkeys(values))


def index_document(group: dict[str, Any]) -> dict[str, Any]:
    """The index document of one (entity, label) group.

    Fields: `id`, `kind`, `label` (the security label, see `access`), the
    kind's search fields, `words` (free words: addresses, makes, names of
    places), `area` (postcode districts, for facets), `seen_first`/`seen_last`,
    `mentions` and `show`: what a result shows and how its match is explained.
    """
    fields: dict[str, list[str]] = dict(group["fields"] or ())
    kind = group["entity_type"]
    doc: dict[str, Any] = {
        "id": group["entity_id"],
        "kind": kind,
        "label": label_key(group["marking"], group["compartment"], group["roles"]),
        "label_parts": normalise_label(group["marking"], group["compartment"], group["roles"]),
        "mentions": group["mentions"],
    }
    first, last = _yyyymmdd(group["first_seen"]), _yyyymmdd(group["last_seen"])
    if first is not None and last is not None:
        doc["seen_first"], doc["seen_last"] = first, last
    show: dict[str, Any] = {}
    words: list[str] = []
    postcodes: list[str] = []
    get = fields.get
    if kind == "person":
        _person(doc, show, fields)
        words += get("address", [])
        postcodes += get("postcode", [])
    elif kind == "vehicle":
        vrms = get("vrm", [])
        doc["vrm"] = vrms
        doc["vrmkey"] = _distinct(vrm_misread_key(v) for v in vrms)
        desc = [*get("colour", [])[:1], *get("make", [])[:1], *get("model", [])[:1]]
        words += [*get("colour", []), *get("make", []), *get("model", [])]
        show.update(l=" ".join([vrms[0] if vrms else "?", *desc]), v=vrms)
    elif kind == "phone":
        numbers, imeis = get("number", []), get("imei", [])
        doc["phone"] = numbers
        doc["ident"] = _distinct([*imeis, *(f"IMEI:{i}" for i in imeis)])
        show.update(l=numbers[0] if numbers else imeis[0] if imeis else "?", t=numbers, i=imeis)
    elif kind in ("address", "location"):
        texts = get("address", []) + get("location", [])
        postcodes += get("postcode", [])
        words += texts
        show.update(l=(texts or postcodes or ["?"])[0], a=texts)
        points = get("point", [])
        if points:
            lat, lon = (float(x) for x in points[0].split(","))
            doc["lat"], doc["lon"] = lat, lon
            show["g"] = [lat, lon]
    elif kind == "organisation":
        words += get("name", [])
        show.update(l=(get("name", []) or ["?"])[0])
    parsed = [terms for p in postcodes if (terms := postcode_terms(p))]
    if parsed:
        doc["postcode"] = _distinct(t for terms in parsed for t in terms)
        doc["area"] = _distinct(district for _, _, district in parsed)
        show["p"] = _distinct(full for full, _, _ in parsed)
    if words:
        doc["words"] = " ".join(words)
    _security(show, group["marking"], group.get("handling"))
    doc["show"] = json.dumps(show, separators=(",", ":"))
    return doc


def _security(show: dict[str, Any], marking: str, handling: list[str] | str | None) -> None:
    """The marking and handling conditions travel with what a result shows: the
    reader is told them with the record (`m`, `h`)."""
    show["m"] = marking
    conditions = [handling] if isinstance(handling, str) else handling or []
    if conditions:
        show["h"] = conditions


def _person(doc: dict[str, Any], show: dict[str, Any], fields: dict[str, list[str]]) -> None:
    get = fields.get
    forenames, surnames = get("forenames", []), get("surname", [])
    aliases = [*get("alias", []), *get("street_name", [])]
    fore_tokens: list[str] = []
    fore_canon: list[str] = []
    fore_ph: list[str] = []
    for value in forenames:
        tokens, canon, phonetic = name_keys(value)
        fore_tokens += tokens
        fore_canon += canon
        fore_ph += phonetic
    sur_tokens: list[str] = []
    sur_ph: list[str] = []
    for value in surnames:
        tokens, _, phonetic = name_keys(value)
        sur_tokens += tokens
        if len(tokens) > 1:  # SMITH-JONES is also typed SMITHJONES
            sur_tokens.append("".join(tokens))
        sur_ph += phonetic
    alias_tokens = [t for value in aliases for t in name_keys(value)[0]]
    firsts = _distinct(name_keys(v)[0][0] for v in forenames if name_keys(v)[0])
    doc["forename"] = _distinct(fore_tokens)
    doc["fcanon"] = _distinct(fore_canon)
    doc["fph"] = _distinct(fore_ph)
    doc["surname"] = _distinct(sur_tokens)
    doc["sph"] = _distinct(sur_ph)
    doc["alias"] = _distinct(alias_tokens)
    doc["fullname"] = _distinct(f"{f} {s}" for f in firsts for s in sur_tokens)
    # the same with every formal form of the first forename: BILL JONES as WILLIAM JONES
    doc["fullcanon"] = _distinct(f"{c} {s}" for f in firsts for c in formals(f) for s in sur_tokens)
    dobs = get("date_of_birth", [])
    doc["dob"] = _distinct(t for d in dobs for t in dob_terms(d))
    doc["phone"] = get("phone", [])
    ids = get("identifier", [])
    doc["ident"] = _distinct(t for i in ids for t in (i.upper(), i.split(":", 1)[-1].upper()))
    forename = forenames[0].title() if forenames else ""
    surname = surnames[0].upper() if surnames else ""
    label = " ".join(x for x in (forename, surname) if x) or "(no name)"
    if dobs:
        label += f" ({dobs[0]})"
    show.update(l=label, f=forenames, s=surnames, d=dobs, t=get("phone", []), i=ids)
    for key, field in (
        ("a", "address"),
        ("k", "alias"),
        ("n", "street_name"),
        ("w", "warning_marker"),
        ("x", "sex"),
    ):
        if get(field):
            show[key] = get(field)


def text_document(row: dict[str, Any]) -> dict[str, Any]:
    """The index document of one free text (a narrative, an intelligence report)."""
    reference = row["reference"] or row["record_id"]
    occurred = row["occurred"] or row["seen_at"]
    doc: dict[str, Any] = {
        "id": f"doc:{row['mention_id']}:{row['field']}",
        "kind": "document",
        "label": label_key(row["marking"], row["compartment"], row["roles"]),
        "label_parts": normalise_label(row["marking"], row["compartment"], row["roles"]),
        "mentions": 1,
        "text": row["text"],
        "ref": _distinct([reference.upper(), row["record_id"].upper()]),
    }
    day = _yyyymmdd(occurred)
    if day is not None:
        doc["seen_first"] = doc["seen_last"] = day
    label = f"{(row['event_type'] or 'record').replace('_', ' ')} {reference}"
    show = {"l": label, "src": row["source"], "rec": row["record_id"]}
    if isinstance(occurred, dt.datetime | dt.date):
        show["o"] = occurred.isoformat()
    _security(show, row["marking"], row.get("handling"))
    doc["show"] = json.dumps(show, separators=(",", ":"))
    return doc
