"""What documents say, as mentions of the hub (the last step of `peelian extract`).

The people, phones, plates, addresses and organisations found in a document become
mentions of the source `text` (`hub.TEXT_SOURCE`), one source row per document that
carries the document's security label (marking, compartment, handling, sharing roles)
and date. From there they feed the rest of the hub as any record does:

- **resolution**: a person linked to a resolved entity (by the linker's rules, with its
  confidence) joins that entity; a phone, plate, address or organisation joins the one
  entity whose records share its key (`resolve.run.OBJECT_KEYS`: E.164 number,
  misread-tolerant VRM key, postcode + house number, then for addresses house, street
  and town; normalised name). What only documents name makes no entity: a name the
  linker could not place, a number no record holds, stay mentions of no entity (a number
  stated as a linked person's phone is still one of that person's values, through the
  `HAS_PHONE` link). The golden records are rebuilt, so what a document says is one more
  value of the entity, traceable to it, and never outranks a record (the source's
  priority is the lowest);
- **the entity graph**: relations the text states become links (`uses_phone` ->
  `HAS_PHONE`, `lives_at` -> `LIVES_AT`, `uses_vehicle` -> `USES`, `partner_of` ->
  `PARTNER_OF`...), and each person named joins the document's event with role
  `mentioned` (the graph's `named_in_text`);
- **search**: the index is built from the golden values per security label, so a street
  name or phone only an operation's report gives is found only by its members.

Partial plates (`AB12 ???`), postcodes alone, ages and DOBs stay in `text_mentions`: they
narrow a search or a link, but are no key to an entity. The resolver leaves the people of
this source alone (this step places them after it), so entities are made from records
only and their IDs persist from one refresh to the next whatever the text says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from peelian.govern.policy import MARKING_RANK, UNKNOWN_MARKING_RANK
from peelian.hub import TEXT_SOURCE, drop_text_mentions
from peelian.resolve.entities import golden_records
from peelian.resolve.run import OBJECT_KEYS
from peelian.standardise.addresses import parse_address
from peelian.standardise.batch import standardise
from peelian.text.link import parse_mention

_NEW = pa.schema(
    [
        ("mention_id", pa.string()),
        ("document", pa.string()),
        ("span", pa.int32()),
        ("type", pa.string()),
        ("entity_id", pa.string()),
        ("confidence", pa.float64()),
        ("rule", pa.string()),
    ]
)
# extracted span type -> (hub table, mention kind, entity type)
PROMOTED = {
    "person": ("person", "person", "person"),
    "phone": ("phone", "phone", "phone"),
    "vrm": ("vehicle", "vehicle", "vehicle"),
    "address": ("place", "place", "address"),
    "organisation": ("organisation", "organisation", "organisation"),
}
# stated relation -> link type (the graph's relation is the link type in lower case)
LINK_TYPES = {
    "uses_phone": "HAS_PHONE",
    "lives_at": "LIVES_AT",
    "staying_at": "STAYING_AT",
    "uses_vehicle": "USES",
    "partner_of": "PARTNER_OF",
    "family_of": "FAMILY_OF",
    "associate_of": "ASSOCIATE_OF",
    "works_for": "WORKS_FOR",
    "drives_for": "DRIVES_FOR",
    "supplies": "SUPPLIES",
    "runs_line": "RUNS_LINE",
}
# An organisation named in a document is kept only as the tail of one of these: a firm
# someone works or drives for, a line someone runs. Agencies named in passing ("referred
# to Children's Services") are not entities of the hub.
ORGANISATION_RELATIONS = ("works_for", "drives_for", "supplies", "runs_line")
# The role of a person on the PARTY_TO link to the document's event.
MENTIONED = "mentioned"
PRIORITY = 1
_S = pa.string()
_SCHEMAS = {
    "person": pa.schema(
        [("mention_id", _S), ("forenames", _S), ("surname", _S), ("aliases", pa.list_(_S))]
    ),
    "phone": pa.schema([("mention_id", _S), ("number", _S)]),
    "vehicle": pa.schema([("mention_id", _S), ("vrm", _S)]),
    "place": pa.schema([("mention_id", _S), ("kind", _S), ("text", _S), ("postcode", _S)]),
    "organisation": pa.schema([("mention_id", _S), ("name", _S)]),
}
BATCH = 50_000

_KEEP_SQL = f"""
CREATE OR REPLACE TEMP TABLE t_keep AS
SELECT t.document, t.span, t.type, t.text, t.value, t.entity_id, t.confidence, t.rule
FROM text_mentions t
JOIN mentions d ON d.mention_id = t.document AND d.deleted_at IS NULL
WHERE t.type IN ('person', 'address')
   OR (t.type = 'phone' AND t.value IS NOT NULL)
   OR (t.type = 'vrm' AND t.value IS NOT NULL AND NOT regexp_matches(t.value, '[?*]'))
   OR (t.type = 'organisation' AND EXISTS (
        SELECT 1 FROM text_relations r
        WHERE r.document = t.document AND r.tail = t.span
          AND r.type IN ({", ".join(f"'{r}'" for r in ORGANISATION_RELATIONS)})))
"""


@dataclass
class TextMentionSummary:
    """What one run wrote: mentions per kind, links, and memberships per entity type."""

    documents: int = 0
    mentions: dict[str, int] = field(default_factory=dict)
    links: int = 0
    attached: dict[str, int] = field(default_factory=dict)


def mention_id(document: str, span: int) -> str:
    """The hub mention of span `span` of a document (stable while the text is)."""
    return f"{document}#t{span}"


def write_text_mentions(con: duckdb.DuckDBPyConnection, run_id: str) -> TextMentionSummary:
    """Replace the `text` source's mentions, links and memberships with what
    `text_mentions` and `text_relations` now hold; rebuild the golden records. Runs in
    the caller's transaction."""
    summary = TextMentionSummary()
    drop_text_mentions(con)
    con.execute(_KEEP_SQL)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE t_new (
               mention_id VARCHAR, document VARCHAR, span INTEGER, type VARCHAR,
               entity_id VARCHAR, confidence DOUBLE, rule VARCHAR)"""
    )
    reader = con.sql(
        "SELECT document, span, type, text, value, entity_id, confidence, rule FROM t_keep"
        " ORDER BY document, span"
    ).to_arrow_table()
    for batch in reader.to_batches(BATCH):
        _write_batch(con, batch.to_pylist(), run_id)
    _source_rows(con, run_id)
    summary.attached = _attach(con)
    summary.links = _links(con, run_id)
    con.execute("DELETE FROM sources WHERE source = $s", {"s": TEXT_SOURCE})
    con.execute(
        "INSERT INTO sources (source, owner, priority, marking, extract, run_id, bare_names)"
        " VALUES ($s, 'Peelian: facts extracted from documents', $p, NULL, 'derived', $run,"
        " 'keep_apart')",
        {"s": TEXT_SOURCE, "p": PRIORITY, "run": run_id},
    )
    golden_records(con)
    summary.documents = int(
        con.execute(
            "SELECT count(*) FROM source_rows WHERE source = $s", {"s": TEXT_SOURCE}
        ).fetchall()[0][0]
    )
    summary.mentions = {
        str(k): int(n)
        for k, n in con.execute(
            "SELECT kind, count(*) FROM mentions WHERE source = $s GROUP BY 1 ORDER BY 1",
            {"s": TEXT_SOURCE},
        ).fetchall()
    }
    con.execute("DROP TABLE t_keep")
    con.execute("DROP TABLE t_new")
    con.execute("DROP TABLE t_attached")
    return summary


def _person(text: str) -> dict[str, Any]:
    name = parse_mention(text)
    # A single bare word ("MILLS", "Owen") is a name the person already has, not a new
    # one: such a mention joins the person without a name value. Quoted nicknames and
    # handles are aliases.
    forenames = list(name.forenames) or list(name.initials)
    surname = list(name.surname)
    aliases = list(name.nicknames)
    return {
        "forenames": " ".join(w.title() for w in forenames) or None,
        "surname": " ".join(w.title() for w in surname) or None,
        "aliases": [a.title() for a in aliases if a] or None,
    }


def _write_batch(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], run_id: str) -> None:
    by_table: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        table = PROMOTED[row["type"]][0]
        mid = mention_id(row["document"], row["span"])
        values: dict[str, Any]
        if table == "person":
            values = {"mention_id": mid, **_person(row["text"])}
            named = any(v for k, v in values.items() if k != "mention_id")
            if row["entity_id"] is None and not named:
                continue  # no name to keep and no one to join
        elif table == "phone":
            values = {"mention_id": mid, "number": row["value"]}
        elif table == "vehicle":
            values = {"mention_id": mid, "vrm": row["value"]}
        elif table == "place":
            parsed = parse_address(row["text"])
            values = {"mention_id": mid, "kind": "address", "text": row["text"]}
            values["postcode"] = parsed.postcode
        else:
            values = {"mention_id": mid, "name": row["text"]}
        by_table.setdefault(table, []).append(values)
    accepted: set[str] = set()
    for table, table_rows in by_table.items():
        arrow = standardise(table, pa.Table.from_pylist(table_rows, schema=_SCHEMAS[table]))
        keep = _usable(table, arrow)
        arrow = arrow.filter(pa.array(keep))
        if not arrow.num_rows:
            continue
        accepted.update(arrow.column("mention_id").to_pylist())
        con.register("t_kind", arrow)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM t_kind")
        con.unregister("t_kind")
    new = [
        {
            "mention_id": mid,
            "document": row["document"],
            "span": row["span"],
            "type": row["type"],
            "entity_id": row["entity_id"],
            "confidence": row["confidence"],
            "rule": row["rule"],
        }
        for row in rows
        if (mid := mention_id(row["document"], row["span"])) in accepted
    ]
    if not new:
        return
    con.register("t_batch", pa.Table.from_pylist(new, schema=_NEW))
    con.execute("INSERT INTO t_new BY NAME SELECT * FROM t_batch")
    kinds = " ".join(f"WHEN '{t}' THEN '{kind}'" for t, (_, kind, _) in PROMOTED.items())
    con.execute(
        f"""INSERT INTO mentions
            SELECT mention_id, $s, document, document, 'text', span, CASE type {kinds} END,
                   NULL, $run, NULL
            FROM t_batch""",
        {"s": TEXT_SOURCE, "run": run_id},
    )
    con.unregister("t_batch")


def _usable(table: str, arrow: pa.Table) -> list[bool]:
    """Which rows make a mention: a valid plate, an address with a house or a key, a
    named organisation (people are sifted before: a name or a link)."""
    n = arrow.num_rows
    if table == "vehicle":
        return [bool(v) for v in arrow.column("vrm_valid").to_pylist()]
    if table == "place":
        return [
            bool(key) or bool(house and postcode)
            for key, house, postcode in zip(
                arrow.column("address_key").to_pylist(),
                arrow.column("house_number").to_pylist(),
                arrow.column("postcode").to_pylist(),
                strict=True,
            )
        ]
    if table == "organisation":
        return [bool(v) for v in arrow.column("name_std").to_pylist()]
    return [True] * n


def _source_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """One row of the `text` source per document: the document's label and date."""
    con.execute(
        """INSERT INTO source_rows
           SELECT $s, d.document, d.document, NULL, NULL, NULL, NULL,
                  md5(coalesce((SELECT string_agg(text, chr(10)) FROM documents
                                WHERE mention_id = d.document), '')),
                  sr.marking, sr.compartment, sr.handling, sr.sharing_roles, sr.occurred,
                  sr.extract_time, now(), $run, NULL
           FROM (SELECT DISTINCT document FROM t_new) d
           JOIN mentions m ON m.mention_id = d.document
           JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
                AND sr.deleted_at IS NULL""",
        {"s": TEXT_SOURCE, "run": run_id},
    )


def _links(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Stated relations between kept spans, and each person's PARTY_TO its document."""
    types = " ".join(f"WHEN '{r}' THEN '{t}'" for r, t in LINK_TYPES.items())
    before = int(con.execute("SELECT count(*) FROM links").fetchall()[0][0])
    con.execute(
        f"""INSERT INTO links
            SELECT DISTINCT h.document || '#r' || r.head || '-' || r.tail || '-' || r.type, $s,
                   h.document, h.document, CASE r.type {types} END, h.mention_id, t.mention_id,
                   NULL, NULL, NULL, NULL, sr.occurred, NULL,
                   least(coalesce(h.confidence, 1), coalesce(t.confidence, 1)), $run, NULL
            FROM text_relations r
            JOIN t_new h ON h.document = r.document AND h.span = r.head
            JOIN t_new t ON t.document = r.document AND t.span = r.tail
            JOIN source_rows sr ON sr.source = $s AND sr.row_id = h.document
            WHERE r.type IN ({", ".join(f"'{r}'" for r in LINK_TYPES)})""",
        {"s": TEXT_SOURCE, "run": run_id},
    )
    # one link per document and person placed, none for the record's own parties
    con.execute(
        f"""INSERT INTO links
            SELECT n.mention_id || '#in', $s, n.document, n.document, 'PARTY_TO', n.mention_id,
                   n.document, NULL, NULL, '{MENTIONED}', NULL, sr.occurred, NULL,
                   n.confidence, $run, NULL
            FROM (SELECT document, entity_id, min(mention_id) AS mention_id,
                         max(confidence) AS confidence
                  FROM t_attached WHERE type = 'person' GROUP BY ALL) n
            JOIN mentions d ON d.mention_id = n.document AND d.kind = 'event'
            JOIN source_rows sr ON sr.source = $s AND sr.row_id = n.document
            WHERE NOT EXISTS (
                SELECT 1 FROM links l JOIN entity_membership e ON e.mention_id = l.from_mention
                WHERE l.to_mention = n.document AND l.type = 'PARTY_TO'
                  AND l.source <> $s AND e.entity_id = n.entity_id)""",
        {"s": TEXT_SOURCE, "run": run_id},
    )
    return int(con.execute("SELECT count(*) FROM links").fetchall()[0][0]) - before


# Keys a found object is matched by, in turn: the resolver's own, then (addresses) house,
# street and town, since reports seldom give the postcode a record keys its address by.
_EXTRA_KEYS = {
    "address": [
        "CASE WHEN house_number IS NOT NULL AND street IS NOT NULL AND town IS NOT NULL"
        " THEN upper(town) || '|' || coalesce(flat, '') || '|' || house_number || '|'"
        " || upper(street) END"
    ]
}


_RANK = "CASE upper(trim({})) {} ELSE {} END".format(
    "{}",
    " ".join(f"WHEN '{m}' THEN {r}" for m, r in MARKING_RANK.items()),
    UNKNOWN_MARKING_RANK,
)

# Candidates (mention, document, entity) whose entity is open to whoever may see the
# document: every record of the entity at most as highly marked, in no other
# compartment, and shared with every role the document is shared with. Only then may
# joining the document to the entity show nothing the document's reader may not see
# (the linker may have used an alias or phone known only from a restricted record; an
# object's key may be held only by one).
_OPEN = f"""
CREATE OR REPLACE TEMP TABLE t_open AS
WITH entity_labels AS (
    SELECT em.entity_id,
           max({_RANK.format("r.marking")}) AS rank,
           list(DISTINCT trim(r.compartment)) FILTER (WHERE trim(r.compartment) <> '')
               AS compartments,
           list(DISTINCT r.sharing_roles) FILTER (WHERE len(r.sharing_roles) > 0) AS roles
    FROM entity_membership em
    JOIN mentions m ON m.mention_id = em.mention_id AND m.source <> '{TEXT_SOURCE}'
    JOIN source_rows r ON r.source = m.source AND r.row_id = m.row_id
    WHERE em.entity_id IN (SELECT entity_id FROM t_candidates)
    GROUP BY 1
)
SELECT c.mention_id, c.entity_id, c.entity_type
FROM t_candidates c
JOIN source_rows d ON d.source = '{TEXT_SOURCE}' AND d.row_id = c.document
JOIN entity_labels e ON e.entity_id = c.entity_id
WHERE c.own_record
   OR (e.rank <= {_RANK.format("d.marking")}
       AND (e.compartments IS NULL
            OR e.compartments = [trim(coalesce(d.compartment, ''))])
       AND (e.roles IS NULL
            OR (len(coalesce(d.sharing_roles, [])) > 0
                AND list_bool_and(list_transform(e.roles,
                        lambda r: list_has_all(r, d.sharing_roles))))))
"""

# Keys a found object is matched by, in turn: the resolver's own, then (addresses) house,
# street and town, since reports seldom give the postcode a record keys its address by.
_EXTRA_KEYS = {
    "address": [
        "CASE WHEN house_number IS NOT NULL AND street IS NOT NULL AND town IS NOT NULL"
        " THEN upper(town) || '|' || coalesce(flat, '') || '|' || house_number || '|'"
        " || upper(street) END"
    ]
}


def _attach(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Memberships: a person the linker placed joins that entity, an object the one
    entity whose records share its key; either only where the entity is open to the
    document's readers (or the person is a party to the document's own record). Nothing
    found only in documents makes an entity. Leaves `t_attached` for the links."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE t_candidates AS
           SELECT mention_id, document, 'person' AS entity_type, entity_id,
                  coalesce(rule = 'record', false) AS own_record
           FROM t_new WHERE type = 'person' AND entity_id IN
                (SELECT entity_id FROM entity_membership WHERE entity_type = 'person')"""
    )
    for span_type, (table, _, entity_type) in PROMOTED.items():
        if table == "person":
            continue
        _, where, resolver_key = OBJECT_KEYS[entity_type]
        for key in (resolver_key, *_EXTRA_KEYS.get(entity_type, [])):
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE t_keys AS
                    SELECT mention_id, document, {key} AS k FROM {table}
                    JOIN (SELECT mention_id, document FROM t_new WHERE type = '{span_type}'
                          AND mention_id NOT IN (SELECT mention_id FROM t_candidates))
                      USING (mention_id)
                    WHERE {where} AND {key} IS NOT NULL"""
            )
            con.execute(
                f"""INSERT INTO t_candidates
                    WITH known AS (
                        SELECT {key} AS k, min(em.entity_id) AS entity_id
                        FROM {table} JOIN entity_membership em USING (mention_id)
                        JOIN (SELECT mention_id FROM mentions WHERE source <> '{TEXT_SOURCE}')
                          USING (mention_id)
                        WHERE em.entity_type = '{entity_type}' AND {where}
                          AND {key} IN (SELECT k FROM t_keys)
                        GROUP BY 1 HAVING count(DISTINCT em.entity_id) = 1)
                    SELECT t.mention_id, t.document, '{entity_type}', known.entity_id, false
                    FROM t_keys t JOIN known USING (k)"""
            )
            con.execute("DROP TABLE t_keys")
    con.execute(_OPEN)
    con.execute(
        "INSERT INTO entity_membership SELECT mention_id, entity_type, entity_id FROM t_open"
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE t_attached AS
           SELECT n.mention_id, n.document, n.type, o.entity_id, n.confidence
           FROM t_new n JOIN t_open o USING (mention_id)"""
    )
    counts = dict(
        con.execute(
            "SELECT c.entity_type, count(o.mention_id) FROM t_candidates c"
            " LEFT JOIN t_open o USING (mention_id) GROUP BY 1"
        ).fetchall()
    )
    withheld = con.execute(
        "SELECT count(*) FROM t_candidates ANTI JOIN t_open USING (mention_id)"
    ).fetchall()[0][0]
    con.execute("DROP TABLE t_candidates")
    con.execute("DROP TABLE t_open")
    out = {str(k): int(v) for k, v in counts.items()}
    out["withheld (entity not open to the document's readers)"] = int(withheld)
    return out
