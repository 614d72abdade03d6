"""Extract every document in the hub and link what it names (`peelian extract`).

Reads the hub's `documents` (free text marked `document: true` in a mapping: intelligence
reports, crime narratives, call logs, referrals) with the security label of the record
each came from, builds the known people from the resolved person entities (names and
aliases, dates of birth, phones, plates, postcodes and addresses), and writes:

- `text_mentions`: one row per extracted span (person, age, DOB, phone, VRM, postcode,
  address, weapon, drug, money, date/time, organisation) with its normalised value, the
  entity it is linked to and the confidence, the sentence it was found in, and the
  document's marking, compartment, handling and sharing roles: every extracted fact
  carries the label of the record it came from, so a reader who may not see the report
  never sees what it says;
- `text_relations`: the relations the text states, between two spans of one document.

A run replaces both tables in one transaction (a resolve since the last run may have
changed every entity id). The profile's "mentioned in" list reads `text_mentions`
through the access policy.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from peelian.text.extract import Extractor
from peelian.text.known import KnownPerson
from peelian.text.link import DEFAULT_THRESHOLD, PeopleIndex, link_mentions

BATCH = 2_000
MAX_SENTENCE = 320

TABLES = """
CREATE OR REPLACE TABLE text_mentions (
    document VARCHAR NOT NULL, span INTEGER NOT NULL, type VARCHAR NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text VARCHAR NOT NULL, value VARCHAR,
    value_number DOUBLE, rule VARCHAR, entity_id VARCHAR, confidence DOUBLE,
    sentence VARCHAR NOT NULL, happened TIMESTAMPTZ, marking VARCHAR NOT NULL,
    compartment VARCHAR, handling VARCHAR, sharing_roles VARCHAR[]
);
CREATE OR REPLACE TABLE text_relations (
    document VARCHAR NOT NULL, type VARCHAR NOT NULL, head INTEGER NOT NULL,
    tail INTEGER NOT NULL
);
"""

_KNOWN_SQL = """
SELECT entity_id,
       any_value(value) FILTER (WHERE field = 'forenames' AND chosen),
       any_value(value) FILTER (WHERE field = 'surname' AND chosen),
       any_value(value) FILTER (WHERE field = 'date_of_birth' AND chosen),
       list(DISTINCT value) FILTER (WHERE field = 'phone'),
       list(DISTINCT value) FILTER (WHERE field = 'postcode'),
       list(DISTINCT value) FILTER (WHERE field = 'address')
FROM golden_values WHERE entity_type = 'person'
GROUP BY entity_id
"""
# aliases and street names, from every record of the person
_ALIASES_SQL = """
SELECT em.entity_id, list(DISTINCT a)
FROM entity_membership em JOIN person p ON p.mention_id = em.mention_id,
     unnest(list_concat(coalesce(p.aliases, []), [p.street_name])) AS t(a)
WHERE em.entity_type = 'person' AND a IS NOT NULL AND trim(a) <> ''
GROUP BY 1
"""
# plates of the vehicles a person owns or uses (the entity graph's edges)
_VRMS_SQL = """
WITH held AS (
    SELECT CASE WHEN a_type = 'person' THEN a ELSE b END AS person,
           CASE WHEN a_type = 'person' THEN b ELSE a END AS vehicle
    FROM graph_edges
    WHERE relation IN ('owns', 'uses', 'keeper_of', 'drives')
      AND ((a_type = 'person' AND b_type = 'vehicle') OR (a_type = 'vehicle' AND b_type = 'person'))
)
SELECT h.person, list(DISTINCT g.value)
FROM held h JOIN golden_values g ON g.entity_id = h.vehicle AND g.field = 'vrm'
GROUP BY 1
"""


@dataclass
class ExtractSummary:
    documents: int
    mentions: int
    linked: int
    relations: int
    known_people: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0


def known_people(con: duckdb.DuckDBPyConnection) -> list[KnownPerson]:
    """Every resolved person with a surname, as the extractor and linker need them."""
    aliases = {str(e): list(a) for e, a in con.execute(_ALIASES_SQL).fetchall()}
    vrms = {str(p): list(v) for p, v in con.execute(_VRMS_SQL).fetchall()}
    out = []
    for entity_id, forenames, surname, dob, phones, postcodes, addresses in con.execute(
        _KNOWN_SQL
    ).fetchall():
        if not surname:
            continue
        out.append(
            KnownPerson(
                str(entity_id),
                str(forenames or ""),
                str(surname),
                tuple(str(a) for a in aliases.get(entity_id) or ()),
                str(dob)[:10] if dob else None,
                tuple(str(p) for p in phones or ()),
                tuple(str(v) for v in vrms.get(entity_id) or ()),
                tuple(str(p) for p in postcodes or ()),
                tuple(str(a) for a in addresses or ()),
            )
        )
    return out


def sentence_of(text: str, start: int, end: int) -> str:
    """The sentence holding text[start:end] (cut to MAX_SENTENCE characters around it),
    with line breaks as spaces."""
    left = max((m.end() for m in _BOUNDARY.finditer(text, 0, start)), default=0)
    found = _BOUNDARY.search(text, end)
    right = found.start() + 1 if found else len(text)
    if right - left > MAX_SENTENCE:
        left = max(left, start - MAX_SENTENCE // 2)
        right = min(right, end + MAX_SENTENCE // 2)
    return " ".join(text[left:right].split())


_BOUNDARY = re.compile(r"[.!?](?=\s)|\n\s*\n")


def _documents(con: duckdb.DuckDBPyConnection) -> Iterator[pa.Table]:
    """The live documents with their records' labels, a page at a time (each page read
    whole, so the same connection can write between pages, inside one transaction)."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE t_documents AS
           SELECT row_number() OVER (ORDER BY d.mention_id) AS n, d.mention_id AS document,
                  d.text, coalesce(sr.occurred, sr.extract_time)::VARCHAR AS happened,
                  sr.marking, sr.compartment, sr.handling, sr.sharing_roles
           FROM documents d
           JOIN mentions m ON m.mention_id = d.mention_id AND m.deleted_at IS NULL
           JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
                AND sr.deleted_at IS NULL
           WHERE length(trim(d.text)) > 0"""
    )
    total = con.execute("SELECT count(*) FROM t_documents").fetchall()[0][0]
    for first in range(0, int(total), BATCH):
        yield con.sql(
            f"SELECT * EXCLUDE (n) FROM t_documents WHERE n > {first} AND n <= {first + BATCH} "
            "ORDER BY n"
        ).to_arrow_table()
    con.execute("DROP TABLE t_documents")


def extract_hub(
    con: duckdb.DuckDBPyConnection,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    progress: Callable[[int], None] | None = None,
) -> ExtractSummary:
    """(Re)write `text_mentions` and `text_relations` from every live document, in the
    caller's transaction."""
    began = time.perf_counter()
    people = known_people(con)
    extractor = Extractor(people)
    index = PeopleIndex(people)
    con.execute(TABLES)
    documents = mentions = linked = relations = 0
    writer = con
    for batch in _documents(con):
        rows: dict[str, list[Any]] = {k: [] for k in _COLUMNS}
        rel: dict[str, list[Any]] = {"document": [], "type": [], "head": [], "tail": []}
        data = batch.to_pydict()
        for i, text in enumerate(data["text"]):
            day = _day(data["happened"][i])
            extraction = extractor.extract(text, report_date=day)
            links = {
                link.span: link
                for link in link_mentions(extraction, index, report_date=day, threshold=threshold)
            }
            doc = data["document"][i]
            for n, span in enumerate(extraction.spans):
                link = links.get(n)
                number = span.value if isinstance(span.value, int | float) else None
                rows["document"].append(doc)
                rows["span"].append(n)
                rows["type"].append(span.type)
                rows["start"].append(span.start)
                rows["end"].append(span.end)
                rows["text"].append(span.text)
                rows["value"].append(None if span.value is None else str(span.value))
                rows["value_number"].append(float(number) if number is not None else None)
                rows["rule"].append(span.rule)
                rows["entity_id"].append(link.entity_id if link else None)
                rows["confidence"].append(link.confidence if link else None)
                rows["sentence"].append(sentence_of(text, span.start, span.end))
                rows["happened"].append(data["happened"][i])
                for col in ("marking", "compartment", "handling", "sharing_roles"):
                    rows[col].append(data[col][i])
                linked += bool(link and link.entity_id)
            for r in extraction.relations:
                rel["document"].append(doc)
                rel["type"].append(r.type)
                rel["head"].append(r.head)
                rel["tail"].append(r.tail)
            documents += 1
        mentions += len(rows["document"])
        relations += len(rel["document"])
        writer.register("t_rows", pa.table(rows))
        writer.execute(
            """INSERT INTO text_mentions SELECT document, span, type, start, "end", text, value,
                   value_number, rule, entity_id, confidence, sentence, happened::TIMESTAMPTZ,
                   marking, compartment, handling, sharing_roles FROM t_rows"""
        )
        writer.unregister("t_rows")
        if rel["document"]:
            writer.register("t_rel", pa.table(rel))
            writer.execute("INSERT INTO text_relations SELECT * FROM t_rel")
            writer.unregister("t_rel")
        if progress is not None:
            progress(documents)
    return ExtractSummary(
        documents, mentions, linked, relations, len(people), time.perf_counter() - began
    )


_COLUMNS = (
    "document", "span", "type", "start", "end", "text", "value", "value_number", "rule",
    "entity_id", "confidence", "sentence", "happened", "marking", "compartment", "handling",
    "sharing_roles",
)  # fmt: skip


def _day(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
