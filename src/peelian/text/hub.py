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

Linking uses what the document's own record says too: an intelligence report lists its
subjects, a crime record its nominals, and those are resolved people. A name in the text
that fits one of them (full name, nickname, initial and surname, alias) is that person,
whatever others in the hub share the name (rule `record`, confidence `RECORD_CONFIDENCE`).

A run replaces both tables in one transaction (a resolve since the last run may have
changed every entity id). The profile's "mentioned in" list reads `text_mentions`
through the access policy.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from peelian.hub import TEXT_SOURCE, HubError
from peelian.text.batch import span_row
from peelian.text.extract import Extractor
from peelian.text.known import KnownPerson
from peelian.text.link import (
    DEFAULT_THRESHOLD,
    W_INITIAL,
    Link,
    PeopleIndex,
    _name_score,
    link_mentions,
    parse_mention,
)
from peelian.text.mentions import TextMentionSummary, write_text_mentions

BATCH = 2_000
MAX_SENTENCE = 320
RECORD_CONFIDENCE = 0.95

TABLES = """
CREATE OR REPLACE TABLE text_mentions (
    document VARCHAR NOT NULL, span INTEGER NOT NULL, type VARCHAR NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text VARCHAR NOT NULL, value VARCHAR,
    value_number DOUBLE, rule VARCHAR, entity_id VARCHAR, confidence DOUBLE,
    sentence VARCHAR NOT NULL, happened TIMESTAMPTZ, marking VARCHAR NOT NULL,
    compartment VARCHAR, handling VARCHAR, sharing_roles VARCHAR[], resolve_run VARCHAR
);
CREATE OR REPLACE TABLE text_relations (
    document VARCHAR NOT NULL, type VARCHAR NOT NULL, head INTEGER NOT NULL,
    tail INTEGER NOT NULL
);
"""

# Known people are what the records say: values only documents gave (the `text`
# source, written by the last run) are left out, so a run does not feed on its own output.
_KNOWN_SQL = f"""
WITH recorded AS (
    SELECT * FROM golden_values
    WHERE entity_type = 'person' AND len(list_filter(sources, lambda s: s <> '{TEXT_SOURCE}')) > 0
)
SELECT entity_id,
       any_value(value) FILTER (WHERE field = 'forenames' AND chosen),
       any_value(value) FILTER (WHERE field = 'surname' AND chosen),
       any_value(value) FILTER (WHERE field = 'date_of_birth' AND chosen),
       list(DISTINCT value) FILTER (WHERE field = 'phone'),
       list(DISTINCT value) FILTER (WHERE field = 'postcode'),
       list(DISTINCT value) FILTER (WHERE field = 'address')
FROM recorded
GROUP BY entity_id
"""
# aliases and street names, from every record of the person
_ALIASES_SQL = f"""
SELECT em.entity_id, list(DISTINCT a)
FROM entity_membership em JOIN person p ON p.mention_id = em.mention_id
     JOIN mentions m ON m.mention_id = em.mention_id AND m.source <> '{TEXT_SOURCE}',
     unnest(list_concat(coalesce(p.aliases, []), [p.street_name])) AS t(a)
WHERE em.entity_type = 'person' AND a IS NOT NULL AND trim(a) <> ''
GROUP BY 1
"""
# plates of the vehicles a person owns or uses, by the records' links
_VRMS_SQL = f"""
WITH held AS (
    SELECT from_mention AS a, to_mention AS b FROM links
    WHERE deleted_at IS NULL AND source <> '{TEXT_SOURCE}'
      AND type IN ('OWNS', 'USES', 'KEEPER_OF', 'DRIVES')
),
pairs AS (
    SELECT p.entity_id AS person, v.entity_id AS vehicle
    FROM (SELECT a, b FROM held UNION ALL SELECT b, a FROM held) h
    JOIN entity_membership p ON p.mention_id = h.a AND p.entity_type = 'person'
    JOIN entity_membership v ON v.mention_id = h.b AND v.entity_type = 'vehicle'
)
SELECT h.person, list(DISTINCT g.value)
FROM pairs h JOIN golden_values g ON g.entity_id = h.vehicle AND g.field = 'vrm'
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
    hub: TextMentionSummary | None = None  # what became mentions of the hub

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
                  sr.marking, sr.compartment, sr.handling, sr.sharing_roles,
                  (SELECT list(DISTINCT em.entity_id) FROM mentions pm
                   JOIN entity_membership em ON em.mention_id = pm.mention_id
                   WHERE pm.source = m.source AND pm.row_id = m.row_id
                     AND pm.kind = 'person' AND pm.deleted_at IS NULL) AS record_people
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
    taken = con.execute(
        "SELECT count(*) FROM ingest_runs WHERE source = $s", {"s": TEXT_SOURCE}
    ).fetchall()[0][0]
    if taken:
        raise HubError(
            f"the hub holds an ingested source named '{TEXT_SOURCE}', the name Peelian keeps "
            "for what it extracts from documents; re-ingest that source under another name "
            "before extracting"
        )
    people = known_people(con)
    extractor = Extractor(people)
    index = PeopleIndex(people)
    con.execute(TABLES)
    documents = mentions = linked = relations = 0
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
            on_record = _record_links(extraction, index, data["record_people"][i] or [])
            for n, span in enumerate(extraction.spans):
                link, rule = links.get(n), None
                if n in on_record:
                    link, rule = Link(n, on_record[n], RECORD_CONFIDENCE), "record"
                row = span_row(n, span, link, rule)
                row.update(document=doc, sentence=sentence_of(text, span.start, span.end))
                row.update({c: data[c][i] for c in _CARRIED})
                for name in _COLUMNS:
                    rows[name].append(row[name])
                linked += bool(row["entity_id"])
            for r in extraction.relations:
                rel["document"].append(doc)
                rel["type"].append(r.type)
                rel["head"].append(r.head)
                rel["tail"].append(r.tail)
            documents += 1
        mentions += len(rows["document"])
        relations += len(rel["document"])
        con.register("t_rows", pa.table(rows))
        con.execute(
            """INSERT INTO text_mentions SELECT document, span, type, start, "end", text, value,
                   value_number, rule, entity_id, confidence, sentence, happened::TIMESTAMPTZ,
                   marking, compartment, handling, sharing_roles,
                   (SELECT max(run_id) FROM resolve_runs) FROM t_rows"""
        )
        con.unregister("t_rows")
        if rel["document"]:
            con.register("t_rel", pa.table(rel))
            con.execute("INSERT INTO text_relations SELECT * FROM t_rel")
            con.unregister("t_rel")
        if progress is not None:
            progress(documents)
    run_id = f"extract-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    written = write_text_mentions(con, run_id)
    return ExtractSummary(
        documents, mentions, linked, relations, len(people), time.perf_counter() - began, written
    )


# what a document gives each of its rows: when, and the label of its record
_CARRIED = ("happened", "marking", "compartment", "handling", "sharing_roles")
_COLUMNS = (
    "document", "span", "type", "start", "end", "text", "value", "value_number", "rule",
    "entity_id", "confidence", "sentence", *_CARRIED,
)  # fmt: skip


def _record_links(extraction: Any, index: PeopleIndex, record_people: list[str]) -> dict[int, str]:
    """Person spans that fit exactly one of the people the document's own record names
    (by name: full, nickname, initial and surname, or alias; not by a surname alone)."""
    people = [p for p in record_people if p in index.surnames_of]
    if not people:
        return {}
    out: dict[int, str] = {}
    for n, span in enumerate(extraction.spans):
        if span.type != "person":
            continue
        name = parse_mention(span.text)
        scored = sorted(((_name_score(index, p, name)[0], p) for p in people), reverse=True)
        best, who = scored[0]
        runner_up = scored[1][0] if len(scored) > 1 else float("-inf")
        if best >= W_INITIAL and best > runner_up:
            out[n] = who
    return out


def _day(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


@dataclass
class LinkScore:
    """Extracted person names in a synthetic force's intelligence reports against the
    truth (`truth/intel_spans.jsonl`), for people the hub knows."""

    gold: int  # names of people the hub has an entity for
    found: int  # of those, extracted with the exact span
    right: int
    wrong: int
    unlinked: int
    by_record: int  # linked through the report's own subjects

    @property
    def accuracy(self) -> float:
        return self.right / self.found if self.found else 0.0

    @property
    def precision(self) -> float:
        return self.right / (self.right + self.wrong) if self.right + self.wrong else 0.0


def evaluate_links(con: duckdb.DuckDBPyConnection, truth: Path) -> LinkScore:
    """Score `text_mentions` person links against a synthetic force's annotated reports."""
    from peelian.analyse.evaluate import entity_people

    spans_file = Path(truth) / "intel_spans.jsonl"
    if not spans_file.is_file():
        raise FileNotFoundError(f"{spans_file}: no annotated reports in the truth folder")
    person_of = entity_people(con, Path(truth), "person")
    known = set(person_of.values())
    extracted = {
        (str(doc).split(":")[1], int(start), int(end)): (entity, rule)
        for doc, start, end, entity, rule in con.execute(
            """SELECT t.document, t.start, t."end", t.entity_id, t.rule FROM text_mentions t
               JOIN mentions m ON m.mention_id = t.document
               WHERE t.type = 'person' AND m.source = 'intelligence'"""
        ).fetchall()
    }
    score = LinkScore(0, 0, 0, 0, 0, 0)
    with spans_file.open(encoding="utf-8") as f:
        for line in f:
            report = json.loads(line)
            for span in report["spans"]:
                if span["label"] not in ("PERSON", "STREET_NAME"):
                    continue
                if span["entity_id"] not in known:
                    continue
                score.gold += 1
                hit = extracted.get((report["intel_ref"], span["start"], span["end"]))
                if hit is None:
                    continue
                score.found += 1
                entity, rule = hit
                score.by_record += rule == "record"
                if entity is None:
                    score.unlinked += 1
                elif person_of.get(entity) == span["entity_id"]:
                    score.right += 1
                else:
                    score.wrong += 1
    return score
