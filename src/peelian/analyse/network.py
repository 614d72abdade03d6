"""Organised crime groups from the entity graph: communities, centralities, brokers and
a ranked list of likely group nominals with the reasons.

The person graph is the entity graph (`graph.py`) projected onto people: direct
person-person relations, and people joined through a phone they share, phones that
called each other, a vehicle they share or vehicles in convoy. Each relation has a
weight (`reference/network_relations.csv`, configurable); repeated evidence adds
with the logarithm of its count, so a hundred calls weigh more than one but do not
drown every other relation.

Communities are found with Leiden (igraph, modularity) over the organised relations
(kinds `contact` and `offending`: phones, vehicles, offending and arrests together);
intelligence, household and victim-offender edges count for the centralities only,
since hearsay and family ties would pull in everyone a group touches. A community is a
likely organised crime group when its members keep in touch and offend (`GroupRules`).
Its **members** are the people tied to it by contact (phones, vehicles); the others in
the community, tied only by an arrest or a crime shared with members, are listed as
**associates**: being arrested once beside a group's members does not make someone one
of them. Members are ranked by PageRank over all relations, weighted by their recorded
offending.

Tables written: `network_person_edges`, `network_group_evidence` (the records each
group rests on, one per security label), `network_nodes` (one row per person in
the graph: community, degree, weighted degree, betweenness within the community's
neighbourhood, PageRank, broker: in or linked to two or more groups), `network_groups`
and `network_group_members` (with the reasons in plain English).
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import duckdb

from peelian.analyse.graph import OFFENDER_ROLES, not_from_text
from peelian.hub import TEXT_SOURCE
from peelian.reference import read_table

# People sharing a phone or vehicle with more people than this are not joined through
# it: a switchboard, a hire car or a pool vehicle says nothing about who knows whom.
MAX_SHARERS = 6
# Kinds of relation (reference/network_relations.csv) that communities are found by,
# and the kind that makes someone a member rather than an associate.
ORGANISED = ("contact", "shared", "offending")
MEMBERSHIP = "contact"


@dataclass(frozen=True)
class Relation:
    name: str
    weight: float
    kind: str  # contact | shared | offending | intelligence | household | harm
    description: str

    @property
    def organised(self) -> bool:
        return self.kind in ORGANISED


def relations() -> dict[str, Relation]:
    """The person-to-person relations and their weights (reference/network_relations.csv)."""
    return {
        r["relation"]: Relation(r["relation"], float(r["weight"]), r["kind"], r["description"])
        for r in read_table("network_relations")
    }


@dataclass(frozen=True)
class GroupRules:
    """When a community is reported as a likely organised crime group (configurable)."""

    min_members: int = 4  # people tied to the group by contact (phones, vehicles)
    min_offenders: int = 3  # of the members, recorded as suspect or arrested
    min_contact_pairs: int = 3  # pairs of members in contact
    resolution: float = 1.0  # Leiden resolution (higher: smaller communities)
    seed: int = 7


PROJECTION = f"""
CREATE OR REPLACE TEMP TABLE n_objects AS
SELECT CASE WHEN a_type = 'person' THEN a ELSE b END AS person,
       CASE WHEN a_type = 'person' THEN b ELSE a END AS object,
       CASE WHEN a_type = 'person' THEN b_type ELSE a_type END AS object_type,
       sum(evidence) AS evidence
FROM graph_edges
WHERE (a_type = 'person') <> (b_type = 'person')
  AND (a_type IN ('phone', 'vehicle') OR b_type IN ('phone', 'vehicle'))
  AND {not_from_text()}
GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE n_shared AS
SELECT object FROM n_objects GROUP BY object HAVING count(*) <= {MAX_SHARERS};
CREATE OR REPLACE TABLE network_person_edges AS
WITH objects AS (SELECT o.* FROM n_objects o JOIN n_shared USING (object)),
direct AS (
    SELECT a, b, relation, evidence FROM graph_edges
    WHERE a_type = 'person' AND b_type = 'person' AND {not_from_text()}
),
shared AS (
    SELECT x.person AS a, y.person AS b,
           CASE x.object_type WHEN 'phone' THEN 'shared_phone' ELSE 'shared_vehicle' END
               AS relation, 1 AS evidence
    FROM objects x JOIN objects y ON y.object = x.object AND x.person < y.person
),
contact AS (
    SELECT x.person AS a, y.person AS b, 'phone_contact' AS relation, e.evidence
    FROM graph_edges e
    JOIN objects x ON x.object = e.a JOIN objects y ON y.object = e.b
    WHERE e.relation = 'called' AND x.person <> y.person
    UNION ALL
    SELECT x.person, y.person, 'vehicles_in_convoy', e.evidence
    FROM graph_edges e
    JOIN objects x ON x.object = e.a JOIN objects y ON y.object = e.b
    WHERE e.relation = 'vehicles_in_convoy' AND x.person <> y.person
)
SELECT least(a, b) AS a, greatest(a, b) AS b, relation, sum(evidence)::BIGINT AS evidence
FROM (SELECT * FROM direct UNION ALL SELECT * FROM shared UNION ALL SELECT * FROM contact)
GROUP BY ALL;
DROP TABLE n_objects;
DROP TABLE n_shared;
"""

RESULT_TABLES = """
CREATE OR REPLACE TABLE network_nodes (
    entity_id VARCHAR NOT NULL, community INTEGER, degree INTEGER NOT NULL,
    weighted_degree DOUBLE NOT NULL, betweenness DOUBLE, pagerank DOUBLE NOT NULL,
    offences INTEGER NOT NULL, broker BOOLEAN NOT NULL, groups_touched INTEGER NOT NULL
);
CREATE OR REPLACE TABLE network_groups (
    group_id VARCHAR NOT NULL, community INTEGER NOT NULL, members INTEGER NOT NULL,
    associates INTEGER NOT NULL, offenders INTEGER NOT NULL, contact_pairs INTEGER NOT NULL,
    score DOUBLE NOT NULL,
    relations MAP(VARCHAR, INTEGER), reasons VARCHAR NOT NULL
);
CREATE OR REPLACE TABLE network_group_evidence (
    group_id VARCHAR NOT NULL, mention_id VARCHAR NOT NULL
);
CREATE OR REPLACE TABLE network_group_members (
    group_id VARCHAR NOT NULL, entity_id VARCHAR NOT NULL, role VARCHAR NOT NULL,
    rank INTEGER NOT NULL, score DOUBLE NOT NULL, pagerank DOUBLE NOT NULL,
    offences INTEGER NOT NULL,
    broker BOOLEAN NOT NULL, reasons VARCHAR NOT NULL
);
"""


# The records a group's reasons rest on, one per security label per group: its people's
# relations to each other and to the people of other groups (the broker flags), their
# phones and vehicles, the calls and convoys between those and other groups', and their
# offences. The server shows a group only to a reader who may see all. (The ranking and
# the community itself are computed over the whole graph: a hidden tie can move a rank
# or a boundary; it can't be read off the answer.)
GROUP_EVIDENCE = f"""
INSERT INTO network_group_evidence
WITH people AS (SELECT group_id, entity_id FROM network_group_members),
in_groups AS (SELECT DISTINCT entity_id FROM people),
objects AS (
    SELECT p.group_id, e.b AS object
    FROM graph_edges e JOIN people p ON e.a = p.entity_id
    WHERE e.b_type IN ('phone', 'vehicle') AND {not_from_text("e.")}
    UNION
    SELECT p.group_id, e.a
    FROM graph_edges e JOIN people p ON e.b = p.entity_id
    WHERE e.a_type IN ('phone', 'vehicle') AND {not_from_text("e.")}
),
any_objects AS (SELECT DISTINCT object FROM objects),
-- the phones and vehicles (of anyone in a group) that a group's own called or
-- travelled with
reached AS (
    SELECT x.group_id, g.b AS object FROM graph_evidence g
    JOIN objects x ON x.object = g.a JOIN any_objects y ON y.object = g.b
    WHERE g.relation IN ('called', 'vehicles_in_convoy')
    UNION
    SELECT y.group_id, g.a FROM graph_evidence g
    JOIN any_objects x ON x.object = g.a JOIN objects y ON y.object = g.b
    WHERE g.relation IN ('called', 'vehicles_in_convoy')
),
group_objects AS (SELECT group_id, object FROM objects UNION SELECT * FROM reached),
evidence AS (
    -- the group's people and anyone in a group (its own, or another: brokers)
    SELECT x.group_id, g.m_a, g.m_via, g.m_b
    FROM graph_evidence g JOIN people x ON x.entity_id = g.a
    JOIN in_groups y ON y.entity_id = g.b
    WHERE {not_from_text("g.")}
    UNION ALL
    SELECT y.group_id, g.m_a, g.m_via, g.m_b
    FROM graph_evidence g JOIN in_groups x ON x.entity_id = g.a
    JOIN people y ON y.entity_id = g.b
    WHERE {not_from_text("g.")}
    UNION ALL
    -- anyone in a group with the group's phones and vehicles, or those they reached
    SELECT o.group_id, g.m_a, g.m_via, g.m_b
    FROM graph_evidence g JOIN in_groups p ON p.entity_id = g.a
    JOIN group_objects o ON o.object = g.b
    WHERE {not_from_text("g.")}
    UNION ALL
    SELECT o.group_id, g.m_a, g.m_via, g.m_b
    FROM graph_evidence g JOIN in_groups p ON p.entity_id = g.b
    JOIN group_objects o ON o.object = g.a
    WHERE {not_from_text("g.")}
    UNION ALL
    -- calls and convoys between the group's phones and vehicles and any group's
    SELECT x.group_id, g.m_a, g.m_via, g.m_b
    FROM graph_evidence g JOIN objects x ON x.object = g.a
    JOIN any_objects y ON y.object = g.b
    WHERE g.relation IN ('called', 'vehicles_in_convoy')
    UNION ALL
    SELECT y.group_id, g.m_a, g.m_via, g.m_b
    FROM graph_evidence g JOIN any_objects x ON x.object = g.a
    JOIN objects y ON y.object = g.b
    WHERE g.relation IN ('called', 'vehicles_in_convoy')
    UNION ALL
    SELECT p.group_id, l.from_mention, l.to_mention, l.to_mention
    FROM links l JOIN entity_membership em ON em.mention_id = l.from_mention
    JOIN people p ON p.entity_id = em.entity_id
    WHERE l.type = 'PARTY_TO' AND l.deleted_at IS NULL AND l.source <> '{TEXT_SOURCE}'
      AND l.role IN ({", ".join(f"'{r}'" for r in OFFENDER_ROLES)})
),
mentioned AS (
    SELECT DISTINCT group_id, unnest([m_a, m_via, m_b]) AS mention_id FROM evidence
)
SELECT x.group_id, min(x.mention_id)
FROM mentioned x JOIN mentions m ON m.mention_id = x.mention_id
JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
GROUP BY x.group_id, sr.marking, sr.compartment, sr.sharing_roles
"""


def offences_by_person(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Crimes and arrests each person is recorded as a suspect or arrested person for."""
    roles = ", ".join(f"'{r}'" for r in OFFENDER_ROLES)
    rows = con.execute(
        f"""SELECT em.entity_id, count(DISTINCT l.to_mention)
        FROM links l JOIN entity_membership em ON em.mention_id = l.from_mention
        WHERE l.type = 'PARTY_TO' AND l.role IN ({roles}) AND l.deleted_at IS NULL
          AND em.entity_type = 'person'
        GROUP BY 1"""
    ).fetchall()
    return {str(e): int(n) for e, n in rows}


def _pair_weight(relation: Relation, evidence: int) -> float:
    return relation.weight * (1.0 + math.log(max(evidence, 1)))


@dataclass
class NetworkSummary:
    people: int
    person_edges: int
    communities: int
    groups: int
    brokers: int
    seconds: dict[str, float]


def analyse_network(
    con: duckdb.DuckDBPyConnection, rules: GroupRules | None = None
) -> NetworkSummary:
    """Project the graph onto people, find communities and likely groups, rank members."""
    import time

    import igraph as ig

    rules = rules or GroupRules()
    rel = relations()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    con.execute(PROJECTION)
    edges = con.execute(
        "SELECT a, b, relation, evidence FROM network_person_edges ORDER BY a, b, relation"
    ).fetchall()
    seconds["projection"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    index: dict[str, int] = {}
    names: list[str] = []

    def node(entity_id: str) -> int:
        k = index.get(entity_id)
        if k is None:
            k = index[entity_id] = len(names)
            names.append(entity_id)
        return k

    organised: dict[tuple[int, int], float] = defaultdict(float)
    every: dict[tuple[int, int], float] = defaultdict(float)
    pair_relations: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for a, b, relation, evidence in edges:
        r = rel.get(str(relation))
        if r is None:
            continue  # a shared event that says nothing about organisation (an incident)
        key = (node(str(a)), node(str(b)))
        w = _pair_weight(r, int(evidence))
        every[key] += w
        if r.organised:
            organised[key] += w
        pair_relations[key][r.name] += int(evidence)
    n = len(names)
    g_org = ig.Graph(n=n, edges=list(organised), edge_attrs={"weight": list(organised.values())})
    g_all = ig.Graph(n=n, edges=list(every), edge_attrs={"weight": list(every.values())})
    seconds["graph"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    random.seed(rules.seed)
    ig.set_random_number_generator(random.Random(rules.seed))
    parts = g_org.community_leiden(
        objective_function="modularity",
        weights="weight",
        resolution=rules.resolution,
        n_iterations=-1,
    )
    membership = list(parts.membership)
    seconds["communities"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pagerank = g_all.pagerank(weights="weight") if n else []
    degree = g_all.degree() if n else []
    strength = g_all.strength(weights="weight") if n else []
    offences = offences_by_person(con)
    seconds["centralities"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    members_of: dict[int, list[int]] = defaultdict(list)
    for k, c in enumerate(membership):
        if g_org.degree(k) > 0:
            members_of[c].append(k)
    # each community's own pairs (every relation), found in one pass
    pairs_in: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for x, y in pair_relations:
        if membership[x] == membership[y]:
            pairs_in[membership[x]].append((x, y))
    groups: list[dict[str, Any]] = []
    group_members: list[dict[str, Any]] = []
    betweenness: dict[int, float] = {}
    for c, people in members_of.items():
        counts: Counter[str] = Counter()
        contact: set[int] = set()
        contact_pairs = 0
        for x, y in pairs_in[c]:
            rels = pair_relations[(x, y)]
            counts.update(dict.fromkeys(rels, 1))
            if any(rel[r].kind == MEMBERSHIP for r in rels):
                contact_pairs += 1
                contact.update((x, y))
        members = sorted(contact)
        offenders = sum(1 for k in members if offences.get(names[k], 0) > 0)
        if (
            len(members) < rules.min_members
            or offenders < rules.min_offenders
            or contact_pairs < rules.min_contact_pairs
        ):
            continue
        sub = g_org.subgraph(people)
        for k, b in zip(people, sub.betweenness(weights=None), strict=True):
            betweenness[k] = float(b)
        score = sum(organised.get(key, 0.0) for key in pairs_in[c]) * offenders / len(members)
        groups.append(
            {
                "community": c,
                "people": people,
                "members": members,
                "offenders": offenders,
                "contact_pairs": contact_pairs,
                "score": score,
                "relations": dict(counts),
            }
        )
    groups.sort(key=lambda g: (-g["score"], g["community"]))
    # brokers: people in, or linked by any relation to, two or more of the groups
    group_of_node = {k: g["community"] for g in groups for k in g["people"]}
    touched: dict[int, set[int]] = defaultdict(set)
    for k, c in group_of_node.items():
        touched[k].add(c)
    for x, y in every:
        if y in group_of_node:
            touched[x].add(group_of_node[y])
        if x in group_of_node:
            touched[y].add(group_of_node[x])

    def member_score(k: int) -> float:
        return float(pagerank[k]) * n * (1 + math.log1p(offences.get(names[k], 0)))

    for number, group in enumerate(groups, start=1):
        group["group_id"] = f"G{number:04d}"
        people, in_group = group["people"], frozenset(group["members"])
        own_pairs: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for x, y in pairs_in[group["community"]]:
            own_pairs[x].append((x, y))
            own_pairs[y].append((x, y))
        ranked = sorted(people, key=lambda k: (k not in in_group, -member_score(k), names[k]))
        for rank, k in enumerate(ranked, start=1):
            group_members.append(
                {
                    "group_id": group["group_id"],
                    "entity_id": names[k],
                    "role": "member" if k in in_group else "associate",
                    "rank": rank,
                    "score": member_score(k),
                    "pagerank": pagerank[k],
                    "offences": offences.get(names[k], 0),
                    "broker": len(touched.get(k, ())) >= 2,
                    "reasons": _member_reasons(
                        [pair_relations[key] for key in own_pairs.get(k, [])],
                        offences=offences.get(names[k], 0),
                        groups=len(touched.get(k, ())),
                        betweenness=betweenness.get(k, 0.0),
                        size=len(people),
                    ),
                }
            )
        group["reasons"] = _group_reasons(group)
    seconds["groups"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    con.execute(RESULT_TABLES)
    nodes = [
        {
            "entity_id": names[k],
            "community": membership[k] if g_org.degree(k) > 0 else None,
            "degree": degree[k],
            "weighted_degree": strength[k],
            "betweenness": betweenness.get(k),
            "pagerank": pagerank[k],
            "offences": offences.get(names[k], 0),
            "broker": len(touched.get(k, ())) >= 2,
            "groups_touched": len(touched.get(k, ())),
        }
        for k in range(n)
    ]
    insert_rows(con, "network_nodes", nodes)
    insert_rows(
        con,
        "network_groups",
        [
            {
                "group_id": g["group_id"],
                "community": g["community"],
                "members": len(g["members"]),
                "associates": len(g["people"]) - len(g["members"]),
                "offenders": g["offenders"],
                "contact_pairs": g["contact_pairs"],
                "score": g["score"],
                "relations": g["relations"],
                "reasons": g["reasons"],
            }
            for g in groups
        ],
    )
    insert_rows(con, "network_group_members", group_members)
    con.execute(GROUP_EVIDENCE)
    seconds["write"] = time.perf_counter() - t0
    return NetworkSummary(
        people=n,
        person_edges=len(every),
        communities=len({membership[k] for k in range(n) if g_org.degree(k) > 0}),
        groups=len(groups),
        brokers=sum(1 for k in range(n) if len(touched.get(k, ())) >= 2),
        seconds=seconds,
    )


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Append dicts (one per row, keyed by column) to a hub table, typed by the table."""
    import pyarrow as pa

    schema = con.sql(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema
    # date-times travel as ISO text (read as text, without a time-zone library) and are
    # cast by DuckDB on insert
    batch = pa.table(
        {
            f.name: pa.array(
                [r[f.name] for r in rows],
                type=pa.string() if pa.types.is_timestamp(f.type) else f.type,
            )
            for f in schema
        }
    )
    con.register("analyse_batch", batch)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM analyse_batch")
    finally:
        con.unregister("analyse_batch")


PLAIN = {
    "co_offending": "offended together",
    "arrested_together": "arrested together",
    "named_together": "named together in intelligence",
    "shared_phone": "share a phone",
    "phone_contact": "in phone contact",
    "shared_vehicle": "share a vehicle",
    "vehicles_in_convoy": "vehicles seen in convoy",
    "lives_with": "live together",
    "victim_offender": "victim and suspect",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _group_reasons(group: dict[str, Any]) -> str:
    rels = group["relations"]
    associates = len(group["people"]) - len(group["members"])
    parts = [
        f"{len(group['members'])} members in contact by phone or vehicle, "
        f"{group['offenders']} of them recorded as suspects or arrested; "
        f"{_count(associates, 'associate')} (arrested or offending with members only)"
    ]
    parts += [
        f"{_count(rels[r], 'pair')} {PLAIN.get(r, r)}"
        for r in sorted(rels, key=lambda r: (-rels[r], r))
    ]
    return "; ".join(parts)


def _member_reasons(
    own: list[Counter[str]],
    *,
    offences: int,
    groups: int,
    betweenness: float,
    size: int,
) -> str:
    """Why a member ranks where it does, from its pairs inside the group (`own`)."""
    counts: Counter[str] = Counter()
    for rels in own:
        counts.update(dict.fromkeys(rels, 1))
    parts = [f"{_count(offences, 'offence')} as suspect or arrested"] if offences else []
    parts += [
        f"{_count(counts[r], 'member')} {PLAIN.get(r, r)}"
        for r in sorted(counts, key=lambda r: (-counts[r], r))
    ]
    if size > 2 and betweenness > 0:
        share = betweenness / ((size - 1) * (size - 2) / 2)
        if share >= 0.1:
            parts.append(f"on {share:.0%} of the shortest paths between members")
    if groups >= 2:
        others = groups - 1
        parts.append(f"linked to {others} other group{'s' if others > 1 else ''} (broker)")
    return "; ".join(parts)
