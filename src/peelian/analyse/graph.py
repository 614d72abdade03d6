"""The entity graph: typed, time-stamped edges between entities, each with its evidence.

`build_graph(con)` reads the resolved hub and writes two tables:

- `graph_evidence(relation, a, b, a_type, b_type, happened, m_a, m_via, m_b)`: one
  row per piece of evidence: the mention of `a`, the mention it came through (the
  event, the address, the camera read) and the mention of `b`. An edge may be shown
  to a reader only through evidence whose three records the reader may see (the
  server joins their security labels; see serve/hubs.py).
- `graph_edges(a, b, a_type, b_type, relation, evidence, first_seen, last_seen)`:
  the evidence counted per entity pair and relation, `a < b`.

Relations:

- a link of one record between two entities: `has_phone`, `owns`, `uses`,
  `lives_at`, `called` (one row per call or text), ... (the link type, lower case),
  including what a document states (`partner_of`, `family_of`, `associate_of`,
  `supplies`, `runs_line`, `staying_at`...: text/mentions.py);
- parties to one event: `co_offending` (two suspects or arrested persons of one
  crime), `victim_offender` (a = the suspect), `named_together` (two subjects of an
  intelligence report), `named_in_text` (one of the two is not a party on the record but
  named in its text: `peelian extract`), otherwise the event type (`incident`,
  `stop_search`...);
- `arrested_together`: two custody records naming the same crime reference;
- `lives_with`: two people recorded at the same address within a year of each other
  (addresses with more than `MAX_HOUSEHOLD` people are left to the modern-slavery
  indicators: they are hostels, blocks or exploitation sites, not households);
- `vehicles_in_convoy`: two vehicles read by the same camera within two minutes of
  each other on at least three different days.

Officers at events for work (STAFF_ROLES) and bulk events (ANPR reads, status
updates, calls: joined directly instead) make no party pairs.
"""

from __future__ import annotations

import duckdb

from peelian.hub import TEXT_SOURCE

# Roles in which a person is at an event for work, not as a party to it: officers
# attend hundreds of events, and joining everyone they met would say nothing.
STAFF_ROLES = ("officer", "attending_officer", "arresting_officer", "author", "referrer")
# Events too many and too thin to join their parties by (each has one vehicle or
# two phones, joined directly by SEEN_AT / CALLED links instead).
BULK_EVENTS = ("anpr_read", "officer_status", "phone_call")
# Roles of a person who is suspected of, or arrested for, a crime.
OFFENDER_ROLES = ("suspect", "offender", "arrested", "accused", "charged")
VICTIM_ROLES = ("victim",)
# Link types that join mentions to events or places of events, not entities to entities.
EVENT_LINKS = ("PARTY_TO", "INVOLVED_IN", "LINKED_TO", "OCCURRED_AT", "SEEN_AT", "FOUND_AT")
MAX_HOUSEHOLD = 12
# Relations a document states (text/mentions.py) are kept apart from the records' own:
# `stated_has_phone`, `stated_uses`, `stated_partner_of`..., and `named_in_text`. The
# network explorer shows them (each through its evidence's labels); the groups, their
# rankings and their evidence leave them out (network.py), so a group's reasons never
# rest on what a report says.
STATED = "stated_"
NAMED_IN_TEXT = "named_in_text"


def not_from_text(alias: str = "") -> str:
    """SQL: the edge or evidence row at `alias` is not one a document states."""
    return f"{alias}relation <> '{NAMED_IN_TEXT}' AND NOT starts_with({alias}relation, '{STATED}')"


LIVES_WITH_DAYS = 365
CONVOY_SECONDS = 120
CONVOY_DAYS = 3

TABLES = """
CREATE OR REPLACE TABLE graph_evidence (
    relation VARCHAR NOT NULL, a VARCHAR NOT NULL, b VARCHAR NOT NULL,
    a_type VARCHAR NOT NULL, b_type VARCHAR NOT NULL, happened TIMESTAMPTZ,
    m_a VARCHAR NOT NULL, m_via VARCHAR NOT NULL, m_b VARCHAR NOT NULL
);
CREATE OR REPLACE TABLE graph_edges (
    a VARCHAR NOT NULL, b VARCHAR NOT NULL, a_type VARCHAR NOT NULL, b_type VARCHAR NOT NULL,
    relation VARCHAR NOT NULL, evidence BIGINT NOT NULL, first_seen TIMESTAMPTZ,
    last_seen TIMESTAMPTZ
);
"""


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


HAPPENED = "coalesce(ev.occurred, ev.start, ev.recorded, sr.occurred)"

_STEPS = (
    # every live mention of an entity, with the date of its record
    """CREATE OR REPLACE TEMP TABLE g_mentions AS
    SELECT em.mention_id, em.entity_id, em.entity_type, sr.occurred
    FROM entity_membership em
    JOIN mentions m ON m.mention_id = em.mention_id AND m.deleted_at IS NULL
    JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id""",
    """CREATE OR REPLACE TEMP TABLE g_live_links AS
    SELECT * FROM links WHERE deleted_at IS NULL""",
    # parties to events (not staff, not bulk events)
    f"""CREATE OR REPLACE TEMP TABLE g_parties AS
    SELECT l.to_mention AS event_mention, l.from_mention AS mention_id, l.role,
           gm.entity_id, gm.entity_type, ev.event_type, {HAPPENED} AS happened,
           m.source AS event_source, m.record_id AS event_record
    FROM g_live_links l
    JOIN event ev ON ev.mention_id = l.to_mention
    JOIN mentions m ON m.mention_id = ev.mention_id
    JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
    JOIN g_mentions gm ON gm.mention_id = l.from_mention
    WHERE l.type IN ('PARTY_TO', 'INVOLVED_IN')
      AND coalesce(l.role, '') NOT IN ({_quoted(STAFF_ROLES)})
      AND ev.event_type NOT IN ({_quoted(BULK_EVENTS)})""",
    # a link of one record between two entities (not through an event, no places of events)
    f"""INSERT INTO graph_evidence
    SELECT CASE WHEN l.source = '{TEXT_SOURCE}' THEN '{STATED}' || lower(l.type)
                ELSE lower(l.type) END,
           fa.entity_id, fb.entity_id, fa.entity_type, fb.entity_type,
           coalesce(l.start, fa.occurred), l.from_mention, l.from_mention, l.to_mention
    FROM g_live_links l
    JOIN g_mentions fa ON fa.mention_id = l.from_mention
    JOIN g_mentions fb ON fb.mention_id = l.to_mention
    WHERE l.type NOT IN ({_quoted(EVENT_LINKS)})
      AND fa.entity_type <> 'location' AND fb.entity_type <> 'location'
      AND fa.entity_id <> fb.entity_id""",
    # parties to one event, each pair once
    f"""INSERT INTO graph_evidence
    SELECT CASE
             WHEN x.event_type = 'crime' AND x.role IN ({_quoted(OFFENDER_ROLES)})
                  AND y.role IN ({_quoted(OFFENDER_ROLES)}) THEN 'co_offending'
             WHEN x.event_type = 'crime' AND x.role IN ({_quoted(OFFENDER_ROLES)})
                  AND y.role IN ({_quoted(VICTIM_ROLES)}) THEN 'victim_offender'
             WHEN x.event_type = 'intelligence_report' AND x.role = 'subject'
                  AND y.role = 'subject' THEN 'named_together'
             WHEN x.role = 'mentioned' OR y.role = 'mentioned' THEN '{NAMED_IN_TEXT}'
             ELSE x.event_type END,
           x.entity_id, y.entity_id, x.entity_type, y.entity_type, x.happened,
           x.mention_id, x.event_mention, y.mention_id
    FROM g_parties x JOIN g_parties y
      ON y.event_mention = x.event_mention AND y.entity_id <> x.entity_id
    WHERE x.entity_type <> 'location' AND y.entity_type <> 'location'
      AND (x.entity_id < y.entity_id
           OR (x.event_type = 'crime' AND x.role IN ({_quoted(OFFENDER_ROLES)})
               AND y.role IN ({_quoted(VICTIM_ROLES)})))
      AND NOT (x.event_type = 'crime' AND x.role IN ({_quoted(VICTIM_ROLES)})
               AND y.role IN ({_quoted(OFFENDER_ROLES)}))""",
    # custody records naming one crime reference: arrested together
    f"""INSERT INTO graph_evidence
    WITH arrested AS (
        SELECT p.*, r.to_ref_source, r.to_ref_id
        FROM g_parties p
        JOIN g_live_links r ON r.from_mention = p.event_mention AND r.type = 'LINKED_TO'
        WHERE p.role IN ({_quoted(OFFENDER_ROLES)}) AND r.to_ref_id IS NOT NULL
    )
    SELECT 'arrested_together', x.entity_id, y.entity_id, x.entity_type, y.entity_type,
           x.happened, x.mention_id, x.event_mention, y.mention_id
    FROM arrested x JOIN arrested y
      ON y.to_ref_source = x.to_ref_source AND y.to_ref_id = x.to_ref_id
     AND y.event_mention <> x.event_mention AND x.entity_id < y.entity_id""",
    # people at one address within a year of each other
    f"""INSERT INTO graph_evidence
    WITH residents AS (
        SELECT p.entity_id AS person, p.mention_id AS person_mention, p.occurred,
               ad.entity_id AS address, l.to_mention AS address_mention
        FROM g_live_links l
        JOIN g_mentions p ON p.mention_id = l.from_mention AND p.entity_type = 'person'
        JOIN g_mentions ad ON ad.mention_id = l.to_mention AND ad.entity_type = 'address'
        WHERE l.type = 'LIVES_AT' AND l.source <> '{TEXT_SOURCE}'
    ),
    households AS (
        SELECT address FROM residents GROUP BY address
        HAVING count(DISTINCT person) BETWEEN 2 AND {MAX_HOUSEHOLD}
    )
    SELECT 'lives_with', x.person, y.person, 'person', 'person',
           greatest(x.occurred, y.occurred), x.person_mention, x.address_mention,
           y.person_mention
    FROM residents x JOIN households h ON h.address = x.address
    JOIN residents y ON y.address = x.address AND x.person < y.person
    WHERE x.occurred IS NULL OR y.occurred IS NULL
       OR abs(date_diff('day', x.occurred, y.occurred)) <= {LIVES_WITH_DAYS}""",
    # vehicles read together by one camera on several days: reads in time buckets,
    # each compared with the reads of its own and the next bucket
    f"""CREATE OR REPLACE TEMP TABLE g_reads AS
    SELECT v.entity_id AS vehicle, v.mention_id AS vehicle_mention, cam.entity_id AS camera,
           l.start AS seen, epoch(l.start)::BIGINT // {CONVOY_SECONDS} AS bucket
    FROM g_live_links l
    JOIN g_mentions v ON v.mention_id = l.from_mention AND v.entity_type = 'vehicle'
    JOIN g_mentions cam ON cam.mention_id = l.to_mention
    WHERE l.type = 'SEEN_AT' AND l.start IS NOT NULL""",
    f"""CREATE OR REPLACE TEMP TABLE g_together AS
    SELECT least(x.vehicle, y.vehicle) AS a, greatest(x.vehicle, y.vehicle) AS b, x.seen,
           CASE WHEN x.vehicle < y.vehicle THEN x.vehicle_mention ELSE y.vehicle_mention END
               AS m_a,
           CASE WHEN x.vehicle < y.vehicle THEN y.vehicle_mention ELSE x.vehicle_mention END
               AS m_b
    FROM g_reads x JOIN g_reads y ON y.camera = x.camera AND y.bucket = x.bucket
    WHERE x.vehicle < y.vehicle AND abs(epoch(y.seen) - epoch(x.seen)) <= {CONVOY_SECONDS}
    UNION ALL
    SELECT least(x.vehicle, y.vehicle), greatest(x.vehicle, y.vehicle), x.seen,
           CASE WHEN x.vehicle < y.vehicle THEN x.vehicle_mention ELSE y.vehicle_mention END,
           CASE WHEN x.vehicle < y.vehicle THEN y.vehicle_mention ELSE x.vehicle_mention END
    FROM g_reads x JOIN g_reads y ON y.camera = x.camera AND y.bucket = x.bucket + 1
    WHERE x.vehicle <> y.vehicle AND abs(epoch(y.seen) - epoch(x.seen)) <= {CONVOY_SECONDS}""",
    f"""INSERT INTO graph_evidence
    SELECT 'vehicles_in_convoy', t.a, t.b, 'vehicle', 'vehicle', t.seen, t.m_a, t.m_a, t.m_b
    FROM g_together t
    JOIN (SELECT a, b FROM g_together GROUP BY a, b
          HAVING count(DISTINCT date_trunc('day', seen)) >= {CONVOY_DAYS}) USING (a, b)""",
    """INSERT INTO graph_edges
    SELECT least(a, b), greatest(a, b),
           CASE WHEN a < b THEN a_type ELSE b_type END,
           CASE WHEN a < b THEN b_type ELSE a_type END,
           relation, count(*), min(happened), max(happened)
    FROM graph_evidence GROUP BY ALL""",
    "DROP TABLE g_mentions",
    "DROP TABLE g_live_links",
    "DROP TABLE g_parties",
    "DROP TABLE g_reads",
    "DROP TABLE g_together",
)


def build_graph(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Write `graph_evidence` and `graph_edges` from the resolved hub; counts per relation."""
    con.execute(TABLES)
    for sql in _STEPS:
        con.execute(sql)
    rows = con.execute(
        "SELECT relation, count(*) FROM graph_edges GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {str(r): int(n) for r, n in rows}
