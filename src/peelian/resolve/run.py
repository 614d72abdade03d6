"""`peelian resolve`: match and merge every live mention into entities.

People are scored by the Splink model (`model.py`) and clustered with
constraints (`cluster.py`); vehicles, phones, addresses, locations and
organisations are clustered by their normalised keys. Entities get stable IDs
and golden records (`entities.py`). Analysts' decisions are applied on every
run; uncertain and refused pairs go to the review queue.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from peelian.hub import TEXT_SOURCE, Hub, drop_text_mentions
from peelian.resolve.cluster import SHARED_ID, Name, Traits, cluster, names_compatible
from peelian.resolve.entities import TABLES as ENTITY_TABLES
from peelian.resolve.entities import assign_ids, golden_records
from peelian.resolve.features import build_person_features
from peelian.resolve.model import Phase, drop_work, load_model, train_and_score

# Chosen from evaluation on the synthetic force and FEBRL (docs/resolve.md):
# a pair is merged at a match weight of 6 or more (probability >= 0.985 at
# Bayes factor 2^6 = 64 over the prior), and pairs from weight 0 up to the
# threshold are offered for review.
DEFAULT_THRESHOLD_WEIGHT = 6.0
DEFAULT_REVIEW_WEIGHT = 0.0
# A model edge with a bare name (no date of birth, address, phone, email or
# identifier) on one side must be this strong: its weight comes from the name alone.
BARE_NAME_WEIGHT = 10.0
# An edge this strong overrides the forename and date-of-birth checks of the
# clustering (see cluster.py); identifiers and analysts' decisions still hold.
STRONG_WEIGHT = 15.0
# Scoring and clustering a million mentions needs more than the hub's ingest
# budget; DuckDB still spills to disk beyond this.
RESOLVE_MEMORY_LIMIT = "8GB"

RESOLVE_TABLES = """
CREATE TABLE IF NOT EXISTS resolve_runs (
    run_id VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL,
    threshold_weight DOUBLE NOT NULL, review_weight DOUBLE NOT NULL, model VARCHAR,
    model_path VARCHAR, pairs_compared BIGINT NOT NULL, person_mentions BIGINT NOT NULL,
    decisions_applied BIGINT NOT NULL, figures VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS match_edges (
    entity_id VARCHAR NOT NULL, mention_l VARCHAR NOT NULL, mention_r VARCHAR NOT NULL,
    match_weight DOUBLE, via VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS review_queue (
    run_id VARCHAR NOT NULL, mention_l VARCHAR NOT NULL, mention_r VARCHAR NOT NULL,
    entity_l VARCHAR, entity_r VARCHAR, match_weight DOUBLE, match_probability DOUBLE,
    reason VARCHAR NOT NULL, impact BIGINT NOT NULL
);
"""


class DecisionLike(Protocol):
    """An analyst's decision (see `peelian.state`): mentions or entities a and b are
    (`kind` "same") or are not ("different") one real-world entity."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def entity_type(self) -> str: ...
    @property
    def a(self) -> str: ...
    @property
    def b(self) -> str: ...


@dataclass
class ResolveSummary:
    run_id: str
    person_mentions: int
    pairs_compared: int
    pairs_by_rule: dict[str, int]
    entities: dict[str, int]
    history: dict[str, int]
    review_items: int
    decisions_applied: int
    decision_problems: list[str]
    phases: list[Phase] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    model_path: Path | None = None


def peak_memory_mb() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resolve(
    hub: Hub,
    *,
    decisions: Sequence[DecisionLike] = (),
    disposals: Sequence[tuple[str, str]] | None = None,
    model_path: Path | None = None,
    threshold_weight: float = DEFAULT_THRESHOLD_WEIGHT,
    review_weight: float = DEFAULT_REVIEW_WEIGHT,
    say: Callable[[str], None] = lambda _: None,
) -> ResolveSummary:
    """Resolve every live mention in `hub` into entities; all or nothing.

    `disposals`, when given, is every (source, record id) disposed of under the
    retention schedule (`State.disposed_records()`): those records are removed
    from the hub first (`peelian.govern.retention.apply_disposals`).
    """
    con = hub.con
    started = dt.datetime.now(dt.UTC)
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    if disposals is not None:
        from peelian.govern.retention import apply_disposals

        removed = apply_disposals(con, disposals)
        say(f"disposals: {len(disposals):,} records disposed of, {removed:,} source rows removed")
    con.execute(f"SET memory_limit = '{RESOLVE_MEMORY_LIMIT}'")
    # facts extracted from documents since deleted or disposed of go with them
    drop_text_mentions(con, stale_only=True)
    con.execute(ENTITY_TABLES)
    con.execute(RESOLVE_TABLES)
    phases: list[Phase] = []

    t0 = time.perf_counter()
    n_people = build_person_features(con)
    phases.append(Phase("features", time.perf_counter() - t0, f"{n_people:,} named people"))
    say(f"features: {n_people:,} named person mentions")

    model = load_model(model_path) if model_path else None
    if n_people > 1:
        scored = train_and_score(
            con, model=model, threshold_weight=min(review_weight, threshold_weight), say=say
        )
        phases.extend(scored.phases)
        pairs_compared, by_rule, model_json = (
            scored.pairs_compared,
            scored.pairs_by_rule,
            scored.model_json,
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE person_pairs AS SELECT NULL::VARCHAR AS unique_id_l,"
            " NULL::VARCHAR AS unique_id_r, NULL::DOUBLE AS match_weight,"
            " NULL::DOUBLE AS match_probability, NULL::VARCHAR AS match_key LIMIT 0"
        )
        pairs_compared, by_rule, model_json = 0, {}, model or {}

    t0 = time.perf_counter()
    problems: list[str] = []
    applied = _cluster_people(con, decisions, threshold_weight, problems)
    con.execute(KEY_CLUSTERS)
    phases.append(Phase("clustering", time.perf_counter() - t0))
    say("clustering: done")

    t0 = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        history = assign_ids(con, run_id)
        golden_records(con)
        _write_edges_and_review(con, run_id, review_weight, threshold_weight)
        entities = {
            str(t): int(n)
            for t, n in con.execute(
                "SELECT entity_type, count(*) FROM entities GROUP BY 1 ORDER BY 1"
            ).fetchall()
        }
        review_items = _scalar(
            con, "SELECT count(*) FROM review_queue WHERE run_id = $run", {"run": run_id}
        )
        saved = _save_model(hub, run_id, model_json)
        finished = dt.datetime.now(dt.UTC)
        phases.append(Phase("entities", time.perf_counter() - t0))
        summary = ResolveSummary(
            run_id,
            n_people,
            pairs_compared,
            by_rule,
            entities,
            history,
            review_items,
            applied,
            problems,
            phases,
            peak_memory_mb(),
            saved,
        )
        con.execute(
            "INSERT INTO resolve_runs VALUES ($run, $started, $finished, $threshold, $review,"
            " $model, $path, $pairs, $people, $applied, $figures)",
            {
                "run": run_id,
                "started": started,
                "finished": finished,
                "threshold": threshold_weight,
                "review": review_weight,
                "model": json.dumps(model_json, default=str),
                "path": str(saved) if saved else None,
                "pairs": pairs_compared,
                "people": n_people,
                "applied": applied,
                "figures": json.dumps(
                    {
                        "entities": entities,
                        "history": history,
                        "pairs_by_rule": by_rule,
                        "phases": {p.name: round(p.seconds, 3) for p in phases},
                        "decision_problems": problems,
                    }
                ),
            },
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        drop_work(con)
    say("entities: done")
    return summary


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> int:
    row = con.execute(sql, params or {}).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _save_model(hub: Hub, run_id: str, model_json: dict[str, Any]) -> Path | None:
    if not model_json:
        return None
    folder = hub.path / "models"
    folder.mkdir(exist_ok=True)
    path = folder / f"person-{run_id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(model_json, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)
    (folder / "person-latest.json").write_text(path.name + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ people

# Pairs of people party to two records that refer to each other (an incident and
# the crime it became, a custody record and its crime). Bearing compatible names,
# they are one person: the caller is the victim, the detainee the suspect.
LINKED_PARTIES = """
WITH live_links AS (SELECT * FROM links WHERE deleted_at IS NULL),
linked AS (
    SELECT l.from_mention AS e1, coalesce(l.to_mention, t.mention_id) AS e2
    FROM live_links l
    LEFT JOIN mentions t
      ON l.to_mention IS NULL AND t.kind = 'event' AND t.deleted_at IS NULL
     AND t.source = l.to_ref_source AND t.record_id = l.to_ref_id
    WHERE l.type = 'LINKED_TO'
),
party AS (
    SELECT from_mention AS person, to_mention AS event
    FROM live_links WHERE type = 'PARTY_TO'
)
SELECT DISTINCT a.person, b.person
FROM linked
JOIN party a ON a.event = linked.e1
JOIN party b ON b.event = linked.e2
WHERE a.person <> b.person
ORDER BY ALL
"""


def _cluster_people(
    con: duckdb.DuckDBPyConnection,
    decisions: Sequence[DecisionLike],
    threshold_weight: float,
    problems: list[str],
) -> int:
    """Cluster person mentions into temp table `person_clusters(mention_id, root)`."""
    nodes = con.sql(
        """SELECT p.mention_id, f.unique_id IS NOT NULL AS named,
                  f.dob, f.first_name, f.first_name_canon, f.first_name_ph, f.surname,
                  f.surname_ph, coalesce(ids.single_ids, []) AS single_ids,
                  f.dob_year IS NOT NULL OR f.postcode IS NOT NULL OR len(f.phones) > 0
                      OR len(f.ids) > 0 OR len(f.emails) > 0 AS rich,
                  coalesce(s.bare_names = 'attach', FALSE) AS attachable,
                  m.source || '|' || m.record_id AS record_key
           FROM person p
           JOIN mentions m USING (mention_id)
           LEFT JOIN person_features f ON f.unique_id = p.mention_id
           LEFT JOIN person_ids ids USING (mention_id)
           LEFT JOIN sources s ON s.source = m.source
           WHERE m.deleted_at IS NULL AND m.source <> $text
           ORDER BY p.mention_id""",
        params={"text": TEXT_SOURCE},
    ).to_arrow_table()
    mention_ids: list[str] = nodes.column("mention_id").to_pylist()
    index = {m: i for i, m in enumerate(mention_ids)}
    traits: list[Traits | None] = []
    for dob, first, canon, ph, surname, ids in zip(
        nodes.column("dob").to_pylist(),
        nodes.column("first_name").to_pylist(),
        nodes.column("first_name_canon").to_pylist(),
        nodes.column("first_name_ph").to_pylist(),
        nodes.column("surname").to_pylist(),
        nodes.column("single_ids").to_pylist(),
        strict=True,
    ):
        if dob is None and first is None and not ids:
            traits.append(None)
            continue
        t = Traits()
        if dob is not None:
            t.dobs.add(dob)
        if first is not None:
            t.forenames.add((first, canon, ph, surname))
        for key in ids or ():
            scheme, _, value = key.partition(":")
            t.ids.setdefault(scheme, set()).add(value)
        traits.append(t)

    forced, applied = _apply_decisions(con, decisions, index, traits, problems)
    names = [
        Name(first, canon, ph, surname, surname_ph) if first and surname else None
        for first, canon, ph, surname, surname_ph in zip(
            nodes.column("first_name").to_pylist(),
            nodes.column("first_name_canon").to_pylist(),
            nodes.column("first_name_ph").to_pylist(),
            nodes.column("surname").to_pylist(),
            nodes.column("surname_ph").to_pylist(),
            strict=True,
        )
    ]
    rich = [bool(r) for r in nodes.column("rich").to_pylist()]
    attachable = [bool(r) for r in nodes.column("attachable").to_pylist()]

    edges_table = con.sql(
        """SELECT unique_id_l, unique_id_r, match_weight, list_has_any(ids_l, ids_r)
           FROM person_pairs
           WHERE match_weight >= $t ORDER BY match_weight DESC, unique_id_l, unique_id_r""",
        params={"t": threshold_weight},
    ).to_arrow_table()

    def edges() -> Any:
        for a, b, w, shared in zip(
            edges_table.column(0).to_pylist(),
            edges_table.column(1).to_pylist(),
            edges_table.column(2).to_pylist(),
            edges_table.column(3).to_pylist(),
            strict=True,
        ):
            ia, ib = index[a], index[b]
            # A bare name is mostly the name-only pass's to judge (cluster.py): the
            # model takes it only on a very rare name, never two bare names together.
            if (rich[ia] and rich[ib]) or ((rich[ia] or rich[ib]) and w >= BARE_NAME_WEIGHT):
                yield ia, ib, float(w), SHARED_ID if shared else "model"
        for a, b in con.execute(LINKED_PARTIES).fetchall():
            if a not in index or b not in index:
                continue
            na, nb = names[index[a]], names[index[b]]
            if na is not None and nb is not None and names_compatible(na, nb):
                yield index[a], index[b], None, "linked record"
        # Mentions with no name (an officer by collar number, say) join by identifier.
        by_id: dict[str, int] = {}
        for i, (named, ids) in enumerate(
            zip(
                nodes.column("named").to_pylist(),
                nodes.column("single_ids").to_pylist(),
                strict=True,
            )
        ):
            if named:
                continue
            for key in ids or ():
                first = by_id.setdefault(key, i)
                if first != i:
                    yield first, i, float("inf"), "identifier"

    result = cluster(
        traits,
        edges(),
        forced,
        strong_weight=STRONG_WEIGHT,
        names=names,
        rich=rich,
        attachable=attachable,
        records=nodes.column("record_key").to_pylist(),
    )
    roots = [mention_ids[r] for r in result.labels]
    clusters_arrow = pa.table({"mention_id": mention_ids, "cluster_key": roots})
    con.register("clusters_arrow", clusters_arrow)
    con.execute("CREATE OR REPLACE TEMP TABLE person_clusters AS SELECT * FROM clusters_arrow")
    con.unregister("clusters_arrow")
    spanning = pa.table(
        {
            "mention_l": [mention_ids[a] for a, _, _, _ in result.spanning],
            "mention_r": [mention_ids[b] for _, b, _, _ in result.spanning],
            "match_weight": [None if w == float("inf") else w for _, _, w, _ in result.spanning],
            "via": [v for _, _, _, v in result.spanning],
        }
    )
    con.register("spanning_arrow", spanning)
    con.execute("CREATE OR REPLACE TEMP TABLE person_spanning AS SELECT * FROM spanning_arrow")
    con.unregister("spanning_arrow")
    refusals = pa.table(
        {
            "mention_l": [mention_ids[r.left] for r in result.refusals],
            "mention_r": [mention_ids[r.right] for r in result.refusals],
            "match_weight": [
                None if r.weight == float("inf") else r.weight for r in result.refusals
            ],
            "reason": [r.reason for r in result.refusals],
        }
    )
    con.register("refusals_arrow", refusals)
    con.execute("CREATE OR REPLACE TEMP TABLE person_refusals AS SELECT * FROM refusals_arrow")
    con.unregister("refusals_arrow")
    return applied


def _apply_decisions(
    con: duckdb.DuckDBPyConnection,
    decisions: Sequence[DecisionLike],
    index: dict[str, int],
    traits: list[Traits | None],
    problems: list[str],
) -> tuple[list[tuple[int, int, str]], int]:
    """Turn person decisions into forced joins and cannot-link tags. A side may name
    a mention or an entity (its mentions as of the previous run)."""
    forced: list[tuple[int, int, str]] = []
    applied = 0
    previous: dict[str, list[str]] = {}
    wanted = {x for d in decisions if d.entity_type == "person" for x in (d.a, d.b)}
    if wanted - index.keys():
        previous = _entity_mentions(con, sorted(wanted - index.keys()))

    def side(ref: str) -> list[int]:
        if ref in index:
            return [index[ref]]
        return [index[m] for m in previous.get(ref, []) if m in index]

    for d in decisions:
        if d.entity_type != "person":
            continue
        a, b = side(d.a), side(d.b)
        if not a or not b:
            missing = d.a if not a else d.b
            problems.append(f"decision #{d.id}: {missing} has no live mentions; not applied")
            continue
        if d.kind == "different":
            # "this mention is not that entity" when the entity holds the mention:
            # take the mention out of the entity's side.
            shared = set(a) & set(b)
            if len(a) >= len(b):
                a = [x for x in a if x not in shared]
            else:
                b = [x for x in b if x not in shared]
        if not a or not b:
            problems.append(f"decision #{d.id}: both sides are the same mentions; not applied")
            continue
        applied += 1
        if d.kind == "same":
            first = a[0]
            forced.extend((first, other, f"decision #{d.id}") for other in [*a[1:], *b])
            continue
        for members, mine, theirs in ((a, 0, 1), (b, 1, 0)):
            for node in members:
                t = traits[node]
                if t is None:
                    t = traits[node] = Traits()
                t.tags.add((d.id, mine))
                t.forbidden.add((d.id, theirs))
    return forced, applied


def _entity_mentions(con: duckdb.DuckDBPyConnection, refs: list[str]) -> dict[str, list[str]]:
    """The mentions of each entity ID in `refs` as of the previous run. An ID that a
    run retired (its cluster merged into another, or split) stands for the entities
    that took its mentions, followed through later runs."""
    out: dict[str, list[str]] = {}
    for ref in refs:
        frontier, seen = {ref}, set()
        members: list[str] = []
        while frontier:
            seen |= frontier
            rows = con.execute(
                "SELECT entity_id, list(mention_id ORDER BY mention_id) FROM entity_membership"
                " WHERE entity_id IN (SELECT unnest($ids)) GROUP BY 1",
                {"ids": sorted(frontier)},
            ).fetchall()
            found = {str(e) for e, _ in rows}
            for _, ms in rows:
                members.extend(ms)
            successors = con.execute(
                "SELECT DISTINCT unnest(related) FROM entity_history"
                " WHERE event = 'retired' AND entity_id IN (SELECT unnest($ids))",
                {"ids": sorted(frontier - found)},
            ).fetchall()
            frontier = {str(r) for (r,) in successors} - seen
        if members:
            out[ref] = sorted(set(members))
    return out


# ------------------------------------------------------------------ objects and places

# How each kind of object or place is clustered: (hub table, condition, cluster key).
# A phone is its number (E.164), in the numbering plan's allocated ranges or not: call
# records carry exact numbers, and a burner outside the allocated ranges is still one
# line (clustering only valid numbers split such a deal line into one entity per call).
# What documents name (the `text` source) is left out: `peelian extract` attaches it to
# these entities by the same keys (text/mentions.py).
OBJECT_KEYS: dict[str, tuple[str, str, str]] = {
    "vehicle": ("vehicle", "TRUE", "coalesce('vrm:' || vrm_key, 'mention:' || mention_id)"),
    "phone": (
        "phone",
        "TRUE",
        "coalesce('number:' || number, 'imei:' || imei, 'mention:' || mention_id)",
    ),
    "address": (
        "place",
        "kind = 'address'",
        "coalesce(CASE WHEN house_number IS NOT NULL AND postcode IS NOT NULL"
        " THEN 'house:' || postcode || '|' || coalesce(flat, '') || '|' || house_number END,"
        " 'key:' || address_key, 'mention:' || mention_id)",
    ),
    "location": (
        "place",
        "kind = 'location'",
        "coalesce('ref:' || reference, 'point:' || printf('%.4f,%.4f', lat, lon),"
        " 'text:' || upper(trim(text)), 'mention:' || mention_id)",
    ),
    "organisation": (
        "organisation",
        "TRUE",
        "coalesce('name:' || name_std, 'mention:' || mention_id)",
    ),
}

KEY_CLUSTERS = (
    "CREATE OR REPLACE TEMP TABLE new_membership AS\n"
    "WITH live AS (SELECT mention_id FROM mentions"
    f" WHERE deleted_at IS NULL AND source <> '{TEXT_SOURCE}')\n"
    "SELECT mention_id, 'person' AS entity_type, cluster_key FROM person_clusters"
    + "".join(
        f"\nUNION ALL SELECT mention_id, '{entity_type}', {key}"
        f" FROM {table} JOIN live USING (mention_id) WHERE {where}"
        for entity_type, (table, where, key) in OBJECT_KEYS.items()
    )
)


def _write_edges_and_review(
    con: duckdb.DuckDBPyConnection, run_id: str, review_weight: float, threshold_weight: float
) -> None:
    con.execute("DELETE FROM match_edges")
    con.execute(
        """INSERT INTO match_edges
           SELECT e.entity_id, s.mention_l, s.mention_r, s.match_weight, s.via
           FROM person_spanning s JOIN entity_membership e ON e.mention_id = s.mention_l"""
    )
    con.execute("DELETE FROM review_queue")
    con.execute(
        """INSERT INTO review_queue
           WITH sizes AS (SELECT entity_id, count(*) AS n FROM entity_membership GROUP BY 1),
           candidates AS (
               SELECT unique_id_l AS mention_l, unique_id_r AS mention_r, match_weight,
                      match_probability, 'uncertain match' AS reason
               FROM person_pairs WHERE match_weight >= $low AND match_weight < $high
               UNION ALL
               SELECT r.mention_l, r.mention_r, r.match_weight, p.match_probability,
                      'would merge, but ' || r.reason
               FROM person_refusals r LEFT JOIN person_pairs p
                 ON p.unique_id_l = r.mention_l AND p.unique_id_r = r.mention_r
               WHERE r.reason NOT LIKE 'analyst decision%'
           )
           SELECT $run, c.mention_l, c.mention_r, el.entity_id, er.entity_id, c.match_weight,
                  c.match_probability, c.reason, sl.n + sr.n
           FROM candidates c
           JOIN entity_membership el ON el.mention_id = c.mention_l
           JOIN entity_membership er ON er.mention_id = c.mention_r
           JOIN sizes sl ON sl.entity_id = el.entity_id
           JOIN sizes sr ON sr.entity_id = er.entity_id
           WHERE el.entity_id <> er.entity_id""",
        {"run": run_id, "low": review_weight, "high": threshold_weight},
    )
