"""Entities from clusters: stable IDs, history, golden records with provenance.

Input: temp table `new_membership(mention_id, entity_type, cluster_key)` for every
live mention of a resolvable kind. Output (hub tables, replaced each run):

- `entity_membership(mention_id, entity_type, entity_id)`;
- `entities(entity_id, entity_type, label, mentions, sources, first_seen, last_seen)`;
- `golden_values(entity_id, entity_type, field, value, chosen, mentions, sources,
  priority, seen, last_seen)`: every value any mention gives, the chosen one
  marked, so each golden value traces back to the mentions that gave it;
- `entity_history` (appended): created / merged / split / retired events.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from peelian.hub import TEXT_SOURCE

ENTITY_PREFIX = {
    "person": "P",
    "vehicle": "V",
    "phone": "T",
    "address": "A",
    "location": "L",
    "organisation": "O",
}

TABLES = """
CREATE TABLE IF NOT EXISTS entity_membership (
    mention_id VARCHAR NOT NULL, entity_type VARCHAR NOT NULL, entity_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id VARCHAR NOT NULL, entity_type VARCHAR NOT NULL, label VARCHAR,
    mentions BIGINT NOT NULL, sources VARCHAR[], first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS golden_values (
    entity_id VARCHAR NOT NULL, entity_type VARCHAR NOT NULL, field VARCHAR NOT NULL,
    value VARCHAR NOT NULL, chosen BOOLEAN NOT NULL, mentions VARCHAR[] NOT NULL,
    sources VARCHAR[] NOT NULL, priority INTEGER, seen BIGINT NOT NULL, last_seen TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS entity_history (
    run_id VARCHAR NOT NULL, recorded_at TIMESTAMPTZ NOT NULL, entity_type VARCHAR NOT NULL,
    entity_id VARCHAR NOT NULL, event VARCHAR NOT NULL, related VARCHAR[],
    mentions BIGINT
);
CREATE TABLE IF NOT EXISTS entity_id_counters (
    entity_type VARCHAR NOT NULL, next_number BIGINT NOT NULL
);
"""


ID_WORK = (
    "id_overlap",
    "id_kept",
    "id_clusters",
    "id_fresh",
    "id_assigned",
    "id_counts",
    "id_moves",
)


@contextmanager
def _unordered(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB write tables in any row order (less memory, parallel inserts):
    nothing here relies on the order rows are stored in."""
    row = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    before = bool(row[0]) if row else True
    con.execute("SET preserve_insertion_order = false")
    yield
    # not in a `finally`: after an error the transaction is aborted and refuses even a
    # SET, which would hide the error (say, out of memory) behind its own
    con.execute(f"SET preserve_insertion_order = {str(before).lower()}")


def assign_ids(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Give each cluster in `new_membership` an entity ID, keeping the previous ID
    where the cluster persists; record history; replace `entity_membership`.

    A cluster keeps an old ID when each is the other's best match by shared
    mentions (ties to the lower ID); every other cluster gets a fresh ID, never
    reused. Returns counts of history events by kind.
    """
    con.execute(TABLES)
    with _unordered(con):
        # new clusters x previous entities by shared mentions: the only join of
        # both memberships; the history below is worked out from it
        con.execute(
            """CREATE OR REPLACE TEMP TABLE id_overlap AS
               SELECT n.entity_type, n.cluster_key, p.entity_id, count(*) AS shared
               FROM new_membership n JOIN entity_membership p USING (mention_id, entity_type)
               GROUP BY ALL"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE id_kept AS
               WITH best_for_cluster AS (
                   SELECT entity_type, cluster_key,
                          first(entity_id ORDER BY shared DESC, entity_id) AS entity_id
                   FROM id_overlap GROUP BY ALL),
               best_for_entity AS (
                   SELECT entity_type, entity_id,
                          first(cluster_key ORDER BY shared DESC, cluster_key) AS cluster_key
                   FROM id_overlap GROUP BY ALL)
               SELECT c.entity_type, c.cluster_key, c.entity_id
               FROM best_for_cluster c JOIN best_for_entity e
                 ON c.entity_type = e.entity_type AND c.entity_id = e.entity_id
                AND c.cluster_key = e.cluster_key"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE id_clusters AS
               SELECT entity_type, cluster_key, min(mention_id) AS min_mention, count(*) AS n
               FROM new_membership GROUP BY ALL"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE id_fresh AS
               SELECT entity_type, cluster_key,
                      row_number() OVER (PARTITION BY entity_type ORDER BY min_mention) AS n
               FROM id_clusters ANTI JOIN id_kept USING (entity_type, cluster_key)"""
        )
        prefixes = " ".join(f"WHEN '{t}' THEN '{p}'" for t, p in ENTITY_PREFIX.items())
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE id_assigned AS
                SELECT entity_type, cluster_key, entity_id, false AS fresh FROM id_kept
                UNION ALL
                SELECT f.entity_type, f.cluster_key,
                       (CASE f.entity_type {prefixes} ELSE 'X' END)
                       || lpad(CAST(coalesce(c.next_number, 1) + f.n - 1 AS VARCHAR), 8, '0'),
                       true
                FROM id_fresh f LEFT JOIN entity_id_counters c USING (entity_type)"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE id_counts AS
               SELECT entity_type, count(*) AS fresh FROM id_fresh GROUP BY ALL"""
        )
        con.execute(
            """INSERT INTO entity_id_counters
               SELECT entity_type, 1 FROM id_counts
               ANTI JOIN entity_id_counters USING (entity_type)"""
        )
        con.execute(
            """UPDATE entity_id_counters c SET next_number = c.next_number + f.fresh
               FROM id_counts f WHERE f.entity_type = c.entity_type"""
        )
        _history(con, run_id)
        con.execute("DELETE FROM entity_membership")
        con.execute(
            """INSERT INTO entity_membership
               SELECT n.mention_id, n.entity_type, a.entity_id
               FROM new_membership n JOIN id_assigned a USING (entity_type, cluster_key)"""
        )
        for table in ID_WORK:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    rows = con.execute(
        "SELECT event, count(*) FROM entity_history WHERE run_id = $run GROUP BY 1",
        {"run": run_id},
    ).fetchall()
    return {str(event): int(n) for event, n in rows}


def _history(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    # old -> new entity pairs sharing mentions: each cluster has one ID, so these
    # are the cluster overlaps under their new IDs
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_moves AS
           SELECT o.entity_type, o.entity_id AS old_id, a.entity_id AS new_id,
                  CAST(sum(o.shared) AS BIGINT) AS shared
           FROM id_overlap o JOIN id_assigned a USING (entity_type, cluster_key)
           GROUP BY ALL"""
    )
    con.execute(
        """INSERT INTO entity_history
           -- a fresh ID whose mentions were in no entity before
           SELECT $run, now(), a.entity_type, a.entity_id, 'created', [], m.n
           FROM id_assigned a
           JOIN (SELECT a.entity_id, sum(c.n) AS n
                 FROM id_assigned a JOIN id_clusters c USING (entity_type, cluster_key)
                 GROUP BY 1) m
             USING (entity_id)
           WHERE a.fresh AND a.entity_id NOT IN (SELECT new_id FROM id_moves)
           UNION ALL
           -- an entity that now holds mentions of other, earlier entities
           SELECT $run, now(), entity_type, new_id, 'merged',
                  list(old_id ORDER BY old_id) FILTER (WHERE old_id <> new_id), sum(shared)
           FROM id_moves GROUP BY entity_type, new_id
           HAVING count(*) FILTER (WHERE old_id <> new_id) > 0
              AND (count(*) > 1 OR bool_or(old_id = new_id) IS NOT TRUE)
           UNION ALL
           -- an earlier entity whose mentions are now in more than one entity
           SELECT $run, now(), entity_type, old_id, 'split',
                  list(new_id ORDER BY new_id) FILTER (WHERE new_id <> old_id), sum(shared)
           FROM id_moves GROUP BY entity_type, old_id HAVING count(*) > 1
           UNION ALL
           -- an earlier ID no cluster kept: merged into another, or its mentions gone
           SELECT $run, now(), p.entity_type, p.entity_id, 'retired',
                  coalesce(mv.related, []), p.n
           FROM (SELECT entity_type, entity_id, count(DISTINCT mention_id) AS n
                 FROM entity_membership
                 WHERE entity_id NOT IN (SELECT entity_id FROM id_assigned)
                 GROUP BY ALL) p
           LEFT JOIN (SELECT entity_type, old_id, list(DISTINCT new_id) AS related
                      FROM id_moves GROUP BY ALL) mv
             ON mv.old_id = p.entity_id AND mv.entity_type = p.entity_type""",
        {"run": run_id},
    )


# (entity_type, field, SQL giving (mention_id, value) rows, multi-valued?, may the
# SQL give a mention more than once?)
GOLDEN_FIELDS: list[tuple[str, str, str, bool, bool]] = [
    ("person", "forenames", "SELECT mention_id, forenames FROM person", False, False),
    ("person", "surname", "SELECT mention_id, surname FROM person", False, False),
    (
        "person",
        "date_of_birth",
        "SELECT mention_id, CAST(date_of_birth AS VARCHAR) FROM person"
        " WHERE date_of_birth_precision = 'day'",
        False,
        False,
    ),
    (
        "person",
        "sex",
        "SELECT mention_id, sex FROM person WHERE sex IN ('M', 'F')",
        False,
        False,
    ),
    (
        "person",
        "ethnicity_self_defined",
        "SELECT mention_id, ethnicity_self_defined FROM person",
        False,
        False,
    ),
    (
        "person",
        "address",
        "SELECT l.from_mention, coalesce(pl.text, pl.postcode) FROM links l"
        " JOIN place pl ON pl.mention_id = l.to_mention"
        " WHERE l.type = 'LIVES_AT' AND l.deleted_at IS NULL"
        " UNION ALL SELECT mention_id, address FROM person",
        False,
        True,
    ),
    (
        "person",
        "postcode",
        "SELECT l.from_mention, pl.postcode FROM links l"
        " JOIN place pl ON pl.mention_id = l.to_mention"
        " WHERE l.type = 'LIVES_AT' AND l.deleted_at IS NULL"
        " UNION ALL SELECT mention_id, postcode FROM person",
        False,
        True,
    ),
    (
        "person",
        "phone",
        "SELECT l.from_mention, ph.number FROM links l JOIN phone ph"
        " ON ph.mention_id = l.to_mention WHERE l.type = 'HAS_PHONE' AND l.deleted_at IS NULL"
        " AND ph.number_valid UNION ALL SELECT mention_id, unnest(phones) FROM person",
        True,
        True,
    ),
    (
        "person",
        "identifier",
        "SELECT mention_id, i.scheme || ':' || i.value FROM"
        " (SELECT mention_id, unnest(identifiers) AS i FROM person) WHERE i.valid",
        True,
        True,
    ),
    ("person", "alias", "SELECT mention_id, unnest(aliases) FROM person", True, True),
    ("person", "street_name", "SELECT mention_id, street_name FROM person", True, False),
    (
        "person",
        "warning_marker",
        "SELECT mention_id, unnest(warning_markers) FROM person",
        True,
        True,
    ),
    ("vehicle", "vrm", "SELECT mention_id, vrm FROM vehicle WHERE vrm_valid", False, False),
    ("vehicle", "make", "SELECT mention_id, make FROM vehicle", False, False),
    ("vehicle", "model", "SELECT mention_id, model FROM vehicle", False, False),
    ("vehicle", "colour", "SELECT mention_id, colour FROM vehicle", False, False),
    ("phone", "number", "SELECT mention_id, number FROM phone", False, False),
    ("phone", "imei", "SELECT mention_id, imei FROM phone", True, False),
    (
        "address",
        "address",
        "SELECT mention_id, text FROM place WHERE kind = 'address'",
        False,
        False,
    ),
    (
        "address",
        "postcode",
        "SELECT mention_id, postcode FROM place WHERE kind = 'address'",
        False,
        False,
    ),
    (
        "location",
        "location",
        "SELECT mention_id, coalesce(text, reference) FROM place WHERE kind = 'location'",
        False,
        False,
    ),
    (
        "location",
        "point",
        "SELECT mention_id, printf('%.5f,%.5f', lat, lon) FROM place"
        " WHERE kind = 'location' AND lat IS NOT NULL",
        False,
        False,
    ),
    ("organisation", "name", "SELECT mention_id, name FROM organisation", False, False),
]

LABELS = {
    "person": "concat_ws(' ', g['forenames'], g['surname'])"
    " || coalesce(' (' || g['date_of_birth'] || ')', '')",
    "vehicle": "concat_ws(' ', g['vrm'], g['colour'], g['make'], g['model'])",
    "phone": "g['number']",
    "address": "coalesce(g['address'], g['postcode'])",
    "location": "coalesce(g['location'], g['point'])",
    "organisation": "g['name']",
}


# Mentions whose golden values are worked out at once (see `golden_records`).
GOLDEN_SLICE_MENTIONS = 2_000_000


def _golden_slice(con: duckdb.DuckDBPyConnection, entity_type: str, part: int, slices: int) -> None:
    """Add to `golden_values` the candidate values of the `entity_type` entities whose
    id hashes to slice `part` of `slices`, the chosen one marked."""
    parts = []
    for of_type, name, sql, multi, repeats in GOLDEN_FIELDS:
        if of_type != entity_type:
            continue
        distinct = "DISTINCT " if repeats else ""
        parts.append(
            f"SELECT {distinct}'{name}' AS field,"
            f" {str(multi).lower()} AS multi, mention_id,"
            f" trim(CAST(value AS VARCHAR)) AS value FROM ({sql}) AS v(mention_id, value)"
            " WHERE value IS NOT NULL AND trim(CAST(value AS VARCHAR)) <> ''"
        )
    if not parts:
        return
    # each (mention, field, value) once; by source first, so that no aggregate
    # needs DISTINCT (a source has one priority)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE golden_candidates AS
            SELECT entity_id, field, any_value(multi) AS multi, value,
                   list_sort(flatten(list(mentions))) AS mentions,
                   list(source ORDER BY source) AS sources, max(priority) AS priority,
                   CAST(sum(seen) AS BIGINT) AS seen, max(last_seen) AS last_seen
            FROM (SELECT c.entity_id, v.field, any_value(v.multi) AS multi,
                         v.value, c.source, list(v.mention_id) AS mentions,
                         max(c.priority) AS priority, count(*) AS seen,
                         max(c.seen_at) AS last_seen
                  FROM ({" UNION ALL ".join(parts)}) v
                  JOIN mention_context c USING (mention_id)
                  WHERE c.entity_type = $type AND hash(c.entity_id) % $slices = $part
                  GROUP BY c.entity_id, v.field, v.value, c.source)
            GROUP BY entity_id, field, value""",
        {"type": entity_type, "slices": slices, "part": part},
    )
    con.execute(
        """INSERT INTO golden_values
           SELECT g.entity_id, $type, g.field, g.value,
                  g.multi OR (w.entity_id IS NOT NULL AND g.sources <> [$text]),
                  g.mentions, g.sources, g.priority, g.seen, g.last_seen
           FROM golden_candidates g
           LEFT JOIN (SELECT entity_id, field, value FROM golden_candidates
                      QUALIFY row_number() OVER (
                          PARTITION BY entity_id, field
                          ORDER BY sources = [$text], priority DESC, seen DESC,
                                   last_seen DESC NULLS LAST, value
                      ) = 1) w
             USING (entity_id, field, value)""",
        {"text": TEXT_SOURCE, "type": entity_type},
    )


def golden_records(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild `golden_values` and `entities` from `entity_membership`.

    Survivorship for a single-valued field: a value some record gives wins over one
    only documents gave (the `text` source, which is never chosen); then the value from
    the highest-priority source; among equals, the value most mentions give; then the most
    recently recorded. Multi-valued fields (phones, identifiers, aliases) keep
    every value. All candidates stay in `golden_values` with their mentions.
    """
    con.execute(TABLES)
    with _unordered(con):
        con.execute(
            """CREATE OR REPLACE TEMP TABLE mention_context AS
               SELECT e.mention_id, e.entity_type, e.entity_id, m.source,
                      coalesce(s.priority, 50) AS priority,
                      coalesce(r.occurred, r.extract_time, r.ingested_at) AS seen_at
               FROM entity_membership e
               JOIN mentions m USING (mention_id)
               LEFT JOIN sources s USING (source)
               LEFT JOIN source_rows r
                 ON r.source = m.source AND r.row_id = m.row_id AND r.deleted_at IS NULL"""
        )
        con.execute("DELETE FROM golden_values")
        counts = con.execute(
            "SELECT entity_type, count(*) FROM mention_context GROUP BY 1 ORDER BY 1"
        ).fetchall()
        for entity_type, mentions in counts:
            # an entity type's values in slices of entities, so that a force's millions of
            # ANPR reads never need their value lists built all at once
            slices = max(1, math.ceil(int(mentions) / GOLDEN_SLICE_MENTIONS))
            for part in range(slices):
                _golden_slice(con, str(entity_type), part, slices)
        label_cases = " ".join(f"WHEN '{t}' THEN {sql}" for t, sql in LABELS.items())
        con.execute("DELETE FROM entities")
        con.execute(
            f"""INSERT INTO entities
                WITH chosen AS (
                    SELECT entity_id, map_from_entries(list((field, value))) AS g
                    FROM (SELECT entity_id, field, first(value ORDER BY seen DESC) AS value
                          FROM golden_values WHERE chosen GROUP BY ALL)
                    GROUP BY entity_id),
                members AS (
                    SELECT entity_id, any_value(entity_type) AS entity_type,
                           CAST(sum(n) AS BIGINT) AS mentions,
                           list(source ORDER BY source) AS sources,
                           min(first_seen) AS first_seen, max(last_seen) AS last_seen
                    FROM (SELECT entity_id, any_value(entity_type) AS entity_type, source,
                                 count(*) AS n, min(seen_at) AS first_seen,
                                 max(seen_at) AS last_seen
                          FROM mention_context GROUP BY entity_id, source)
                    GROUP BY entity_id)
                SELECT m.entity_id, m.entity_type, CASE m.entity_type {label_cases} END,
                       m.mentions, m.sources, m.first_seen, m.last_seen
                FROM members m LEFT JOIN chosen USING (entity_id)"""
        )
        con.execute("DROP TABLE IF EXISTS golden_candidates")
        con.execute("DROP TABLE IF EXISTS mention_context")
