"""What the API and the pages show: one function per question, each asking the
policy first and appending an audit event for what it shows.

`Reads` is one request's view of the hub: the hub cursor, the state, who asks,
from where and why. Every method

1. authorises the permission it needs (`govern.policy.authorise`; a person read
   needs a purpose), auditing a refusal;
2. reads only records whose labels the principal may see (the policy's
   `visible_labels` temp table, joined in SQL): a record they may not see is
   never read into Python, so it cannot reach a result, a count, a label, an
   edge or a map point;
3. answers "not found" for an entity that is missing, retired or wholly hidden,
   the same words for all three;
4. appends one audit event naming what was shown (entity ids, fields).

The API returns these dicts as JSON; the pages render the same dicts, so both
show the same data for the same user and question.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import duckdb
import h3

from peelian.analyse.graph import BULK_EVENTS
from peelian.analyse.kpis import cell_boundary
from peelian.govern.policy import Grant, PolicyDeniedError, Principal, authorise, marking_rank
from peelian.govern.records import create_visible_labels, explanation_seen, visible_history
from peelian.index.access import Viewer
from peelian.index.search import SearchResult
from peelian.resolve.explain import ExplainError, explain_entity, explain_pair
from peelian.serve.hubs import HAPPENED, ServedHub
from peelian.serve.problems import Problem, not_found
from peelian.state import State

ENTITY_ID = re.compile(r"^[A-Z][0-9]{1,12}$")
MAX_TIMELINE = 200
MAX_NODES = 150
MAX_PATH_HOPS = 4

# A mention joined to the labels the principal may see (`vis`, per request).
_SEEN = """
JOIN memory.served_mentions {a}m ON {a}m.mention_id = {col}
JOIN vis {a}v ON {a}v.label = {a}m.label
"""


# Resolve's reason "the name alone fits N known people" counts people whose records
# the reader may not see: shown without the number.
_KNOWN_PEOPLE = re.compile(r"fits \d+ known people")
_FITS_SEVERAL = "fits more than one known person"


def seen(alias: str, column: str) -> str:
    """SQL joining the live mention in `column` to the labels the principal may see
    (rows of mentions they may not see drop out); its columns are `{alias}m.*`
    (see hubs.py `served_mentions`)."""
    return _SEEN.format(a=alias, col=column)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def check_entity_id(entity_id: str) -> str:
    if not ENTITY_ID.match(entity_id or ""):
        raise Problem(400, f"{entity_id[:40]!r} is not an entity id (such as P00000042)")
    return entity_id


@dataclasses.dataclass
class Reads:
    """One request's reads of the hub, as `principal` may see it."""

    hub: ServedHub
    state: State
    principal: Principal
    client: str | None = None
    purpose: str | None = None
    _con: duckdb.DuckDBPyConnection | None = None
    _last_grant: Grant | None = None

    # -- the policy and the audit writer ---------------------------------------

    def grant(self, permission: str, *, target: str | None = None) -> Grant:
        """The policy's yes, or PolicyDeniedError (audited)."""
        try:
            self._last_grant = authorise(self.principal, permission, purpose=self.purpose)
            return self._last_grant
        except PolicyDeniedError as exc:
            self.state.append_audit(
                self.principal.username,
                permission,
                target=target,
                purpose=self.purpose[:300] if self.purpose else None,
                client=self.client,
                outcome=f"refused: {exc}"[:500],
            )
            raise

    def audit(
        self,
        grant: Grant,
        *,
        action: str | None = None,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        outcome: str = "ok",
    ) -> None:
        self.state.append_audit(
            self.principal.username,
            action or grant.permission,
            target=target,
            detail=detail,
            purpose=grant.purpose_text,
            client=self.client,
            outcome=outcome,
        )

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The hub cursor with `visible_labels` made for this principal."""
        if self._con is None:
            self._con = self.hub.cursor()
            create_visible_labels(self._con, self.principal)
            self._con.execute(
                "CREATE OR REPLACE TEMP TABLE vis AS SELECT l.label FROM memory.served_labels l "
                "JOIN visible_labels v ON v.marking IS NOT DISTINCT FROM l.marking "
                "AND v.compartment IS NOT DISTINCT FROM l.compartment "
                "AND v.sharing_roles IS NOT DISTINCT FROM l.sharing_roles"
            )
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _resolved(self) -> None:
        if not self.hub.resolved:
            raise Problem(503, "the hub has not been resolved yet; run `peelian resolve`")

    # -- search -----------------------------------------------------------------

    def search(self, query: str, *, limit: int = 10, offset: int = 0) -> dict[str, Any]:
        from peelian.index.build import SearchIndexError
        from peelian.index.query import QueryError
        from peelian.index.search import SearchError

        grant = self.grant("search")
        try:
            result = self.hub.searcher().search(
                query, Viewer.of(self.principal), limit=limit, offset=offset
            )
        except (SearchIndexError, QueryError, SearchError) as exc:
            self.audit(
                grant, detail={"query": query[:1000]}, outcome=f"refused: {exc}"[:500]
            )  # a refused search is still an attempt on record
            status = 503 if isinstance(exc, SearchIndexError) else 400
            raise Problem(status, str(exc)) from None
        self.audit(grant, detail=search_audit(result))
        return search_json(result)

    # -- entities ---------------------------------------------------------------

    def _members(self, entity_id: str) -> list[tuple[str, str, str, str, str | None, str | None]]:
        """The entity's mentions the principal may see: (mention, source, record id,
        marking, handling, compartment)."""
        self._resolved()
        return [
            tuple(r)
            for r in self.con.execute(
                "SELECT xm.mention_id, xm.source, xm.record_id, xm.marking, xm.handling, "
                "xm.compartment FROM memory.served_mentions xm JOIN vis ON vis.label = xm.label "
                "WHERE xm.entity_id = $e ORDER BY xm.source, xm.mention_id",
                {"e": entity_id},
            ).fetchall()
        ]

    def _entity(self, entity_id: str) -> tuple[Any, list[Any], int]:
        """(entities row, visible members, all members) or not found."""
        check_entity_id(entity_id)
        members = self._members(entity_id)
        row = self.con.execute(
            "SELECT entity_type, mentions FROM entities WHERE entity_id = $e",
            {"e": entity_id},
        ).fetchone()
        if row is None or not members:
            raise self._not_found(entity_id, f"entity:{entity_id}")
        return row, members, int(row[1])

    def _not_found(self, what: str, target: str) -> Problem:
        """The one answer for a missing or hidden record, the attempt audited (probing
        for an operation's subjects is itself a look-up an auditor must see)."""
        if self._last_grant is not None:
            self.audit(self._last_grant, target=target[:300], outcome="not found")
        return not_found(what[:200])

    def profile(self, entity_id: str) -> dict[str, Any]:
        """The golden record as the principal may see it, each value with its sources
        and dates; warning markers; the markings and handling conditions of the
        records it is built from."""
        grant = self.grant("entity.view", target=f"entity:{entity_id}")
        row, members, _ = self._entity(entity_id)
        # the members are the mentions the principal may see (the served labels)
        explained = explanation_seen(explain_entity(self.con, entity_id), {m[0] for m in members})
        assert explained is not None  # members were visible
        # When each visible record was made (the hub's golden last_seen weighs hidden
        # records too, so dates are worked out from the visible ones here).
        when = dict(
            self.con.execute(
                "SELECT m.mention_id, coalesce(s.occurred, s.extract_time, s.ingested_at)::VARCHAR "
                "FROM mentions m JOIN source_rows s ON s.source = m.source AND s.row_id = m.row_id "
                "WHERE m.mention_id IN (SELECT unnest($ids::VARCHAR[]))",
                {"ids": [m[0] for m in members]},
            ).fetchall()
        )
        fields: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for field, value, chosen, sources, mentions in explained.golden:
            last = max((when[m] for m in mentions if when.get(m)), default=None)
            fields[field].append(
                {
                    "value": value,
                    "chosen": chosen,
                    "sources": sources,
                    "mentions": len(mentions),
                    "last_seen": last,
                }
            )
        markings = sorted({m[3] for m in members}, key=marking_rank)
        handling = sorted({m[4] for m in members if m[4]})
        warnings = [v["value"] for v in fields.get("warning_marker", [])]
        seen_at = sorted(w for w in when.values() if w)
        out = {
            "id": entity_id,
            "type": row[0],
            "label": explained.label or _label_from(fields, row[0]),
            "warnings": warnings,
            "marking": markings[-1] if markings else None,
            "handling": handling,
            "sources": sorted({m[1] for m in members}),
            "mentions": len(members),
            "first_seen": seen_at[0] if seen_at else None,
            "last_seen": seen_at[-1] if seen_at else None,
            "fields": [{"field": f, "values": vs} for f, vs in fields.items()],
            "harm": self.person_harm(entity_id) if row[0] == "person" else None,
            "mentioned_in": self._mentioned_in(entity_id),
        }
        documents = [d["document"] for d in (out["mentioned_in"] or {}).get("items", [])]
        crimes = [o["reference"] for o in (out["harm"] or {}).get("listed", [])]
        self.audit(
            grant,
            target=f"entity:{entity_id}",
            detail={"entities": [entity_id], "fields": sorted(fields)}
            | ({"documents": documents} if documents else {})
            | ({"crimes": crimes} if crimes else {}),
        )
        return out

    def _mentioned_in(self, entity_id: str, *, limit: int = 20) -> dict[str, Any] | None:
        """Documents the principal may see that name the entity (text extraction linked a
        name, phone, plate or address in them to it), newest first, each with the
        sentence; the sentences only for roles that may read documents."""
        if not self.hub.has_table("text_mentions"):
            return None
        current = self.con.execute(
            "SELECT coalesce((SELECT max(run_id) FROM resolve_runs) = "
            "(SELECT any_value(resolve_run) FROM text_mentions), false)"
        ).fetchall()[0][0]
        if not current:
            return None  # entities changed since the text was linked: `peelian extract`
        # a link made by name and context may rest on values of records the reader may not
        # see (an alias, a phone known only from an operation's report): those links are
        # shown only to a reader who sees every record of the entity; a link through the
        # document's own record is always shown with it
        hidden = self.con.execute(
            """SELECT count(*) FROM memory.served_mentions sm
               LEFT JOIN vis ON vis.label = sm.label
               WHERE sm.entity_id = $e AND vis.label IS NULL""",
            {"e": entity_id},
        ).fetchall()[0][0]
        rows = self.con.execute(
            """SELECT t.document, any_value(sm.source), max(t.happened)::VARCHAR,
                      list(DISTINCT t.text), arg_min(t.sentence, t.span),
                      max(t.confidence), count(*) OVER ()
               FROM text_mentions t
               JOIN memory.served_mentions sm ON sm.mention_id = t.document
               JOIN vis ON vis.label = sm.label
               WHERE t.entity_id = $e AND ($all OR t.rule = 'record')
               GROUP BY t.document
               ORDER BY 3 DESC NULLS LAST, 1 LIMIT $limit""",
            {"e": entity_id, "limit": limit, "all": not hidden},
        ).fetchall()
        readable = self.principal.may("document.view")
        return {
            "total": int(rows[0][6]) if rows else 0,
            "readable": readable,
            "items": [
                {
                    "document": doc, "source": source, "date": (when or "")[:10] or None,
                    "as_written": sorted(texts), "confidence": round(float(conf or 0), 2),
                    "sentence": sentence if readable else None,
                }
                for doc, source, when, texts, sentence, conf, _ in rows
            ],
        }  # fmt: skip

    def mentions(self, entity_id: str, *, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """The records an entity is built from (those the principal may see)."""
        grant = self.grant("entity.view", target=f"entity:{entity_id}")
        _, members, _ = self._entity(entity_id)
        page = members[offset : offset + limit]
        items = [
            {
                "mention_id": m,
                "source": source,
                "record_id": record,
                "marking": marking,
                "handling": handling,
                "compartment": compartment,
            }
            for m, source, record, marking, handling, compartment in page
        ]
        self.audit(
            grant,
            target=f"entity:{entity_id}",
            detail={"entities": [entity_id], "mentions": [i["mention_id"] for i in items]},
        )
        more = offset + limit < len(members)
        return {"items": items, "total": len(members), "next": offset + limit if more else None}

    def history(self, entity_id: str) -> dict[str, Any]:
        """Created / merged / split events, as `visible_history` lets the reader see them."""
        grant = self.grant("entity.view", target=f"entity:{entity_id}")
        _, members, total = self._entity(entity_id)
        rows = [
            (str(r), str(e), list(rel or []), _text(at))
            for r, at, e, rel in self.con.execute(
                "SELECT run_id, recorded_at::VARCHAR, event, related FROM entity_history "
                "WHERE entity_id = $e ORDER BY recorded_at",
                {"e": entity_id},
            ).fetchall()
        ]
        items = [
            {"run": r, "at": at, "event": e, "related": rel}
            for r, e, rel, at in visible_history(rows, len(members) == total)
        ]
        self.audit(grant, action="entity.history", target=f"entity:{entity_id}")
        return {"items": items}

    def explanation(self, entity_id: str) -> dict[str, Any]:
        """Why these records were merged: each visible join with its weight."""
        grant = self.grant("entity.explain", target=f"entity:{entity_id}")
        _, members, _ = self._entity(entity_id)
        try:
            entity = explain_entity(self.con, entity_id)
        except ExplainError:
            raise not_found(entity_id) from None
        shown = explanation_seen(entity, {m[0] for m in members})
        if shown is None:
            raise not_found(entity_id)
        self.audit(
            grant,
            target=f"entity:{entity_id}",
            detail={"asked": [entity_id], "fields": sorted({f for f, *_ in shown.golden})},
        )
        return {
            "id": entity_id,
            "mentions": [{"mention_id": m, "source": s} for m, s in shown.mentions],
            "joins": [{"a": a, "b": b, "weight": w, "by": via} for a, b, w, via in shown.edges],
            "history": [{"run": r, "event": e, "related": rel} for r, e, rel in shown.history],
        }

    def pair(self, left: str, right: str) -> dict[str, Any]:
        """Field-by-field weights for two person mentions (both visible)."""
        grant = self.grant("entity.explain")
        self._resolved()
        rows = self.con.execute(
            "SELECT xm.mention_id FROM (SELECT unnest($ids::VARCHAR[]) AS mid) q "
            + seen("x", "q.mid"),
            {"ids": [left, right]},
        ).fetchall()
        if len({r[0] for r in rows}) < 2:
            raise self._not_found(f"{left} or {right}", f"mention:{left}")
        scratch = self.hub.scratch()  # Splink makes a schema: not in the read-only hub
        try:
            p = explain_pair(scratch, left, right)
        except ExplainError:
            raise self._not_found(f"{left} or {right}", f"mention:{left}") from None
        finally:
            scratch.close()
        entities = [e for e in (p.entity_left, p.entity_right) if e]
        self.audit(
            grant,
            target=f"entity:{entities[0]}" if entities else None,
            detail={"asked": [left, right], "entities": entities, "fields": ["pair weights"]},
        )
        return dataclasses.asdict(p)

    def timeline(self, entity_id: str, *, limit: int = MAX_TIMELINE) -> dict[str, Any]:
        """Events the entity's visible records take part in, newest first, with where
        they happened; event text only for a role that may read narratives."""
        grant = self.grant("entity.view", target=f"entity:{entity_id}")
        self._entity(entity_id)
        with_text = self.principal.may("document.view")
        rows = self.con.execute(
            f"""
            WITH evs AS (
                SELECT DISTINCT l.role, l.to_mention AS event_id
                FROM links l
                WHERE l.from_mention IN (
                        SELECT xm.mention_id FROM memory.served_mentions xm
                        JOIN vis ON vis.label = xm.label WHERE xm.entity_id = $e)
                  AND l.deleted_at IS NULL AND l.type IN ('PARTY_TO', 'INVOLVED_IN')
            )
            SELECT evs.event_id, evs.role, ev.event_type, ev.reference,
                   {HAPPENED}::VARCHAR AS happened, ev.text, ev.attributes, ym.marking,
                   ym.handling, CASE WHEN vp.label IS NOT NULL THEN [se.lat, se.lon] END,
                   ev.beat
            FROM evs JOIN event ev ON ev.mention_id = evs.event_id
            {seen("y", "evs.event_id")}
            LEFT JOIN memory.served_events se ON se.event_id = evs.event_id
            LEFT JOIN vis vp ON vp.label = se.lp
            ORDER BY happened DESC NULLS LAST, evs.event_id
            """,
            {"e": entity_id},
        ).fetchall()
        counts = Counter(r[2] for r in rows)
        items = []
        for event_id, role, etype, ref, at, text, attrs, marking, handling, point, beat in rows[
            :limit
        ]:
            attributes = dict(attrs or {})
            item: dict[str, Any] = {
                "event_id": event_id,
                "type": etype,
                "role": role,
                "reference": ref,
                "at": at,
                "beat": beat,
                "summary": attributes.get("offence") or attributes.get("crime_type"),
                "marking": marking,
                "handling": handling,
                "point": list(point) if point and point[0] is not None else None,
            }
            if with_text and text:
                item["text"] = text
            items.append(item)
        self.audit(
            grant,
            action="entity.timeline",
            target=f"entity:{entity_id}",
            detail={"entities": [entity_id], "events": [i["event_id"] for i in items]},
        )
        return {"items": items, "total": len(rows), "by_type": dict(counts.most_common())}

    # -- links and the network --------------------------------------------------

    def _edges(self, entity_ids: Iterable[str]) -> list[tuple[str, str, str, int, str | None]]:
        """Entity-to-entity edges from the given entities (hubs.py `served_edges`),
        each resting only on records the principal may see at both ends and in
        between: (entity, other entity, relation, how many, latest)."""
        ids = list(dict.fromkeys(entity_ids))
        if not ids:
            return []
        rows = self.con.execute(
            """
            SELECT e.a, e.b, e.relation, count(*), max(e.happened)::VARCHAR
            FROM memory.served_edges e
            JOIN vis va ON va.label = e.la JOIN vis vm ON vm.label = e.lm
            JOIN vis vb ON vb.label = e.lb
            WHERE e.a IN (SELECT unnest($ids::VARCHAR[]))
            GROUP BY ALL
            """,
            {"ids": ids},
        ).fetchall()
        return [(a, b, rel, int(n), at) for a, b, rel, n, at in rows]

    def _labels(self, entity_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """(type, label) of each entity, the label made only of values some record
        the principal may see gave (never of a hidden record's values)."""
        ids = list(dict.fromkeys(entity_ids))
        if not ids:
            return {}
        rows = self.con.execute(
            """
            SELECT DISTINCT n.entity_id, n.entity_type, n.field, n.value, n.chosen, n.seen
            FROM memory.served_names n JOIN vis ON vis.label = n.label
            WHERE n.entity_id IN (SELECT unnest($ids::VARCHAR[]))
            """,
            {"ids": ids},
        ).fetchall()
        best: dict[str, dict[str, tuple[bool, int, str]]] = defaultdict(dict)
        types: dict[str, str] = {}
        for entity_id, etype, field, value, chosen, n in rows:
            types[entity_id] = etype
            current = best[entity_id].get(field)
            if current is None or (bool(chosen), int(n)) > current[:2]:
                best[entity_id][field] = (bool(chosen), int(n), value)
        out = {}
        for entity_id, values in best.items():
            picked = {f: v[2] for f, v in values.items()}
            out[entity_id] = (types[entity_id], _label_from(picked, types[entity_id]))
        return out

    def links(self, entity_id: str) -> dict[str, Any]:
        """The people, vehicles, phones and places linked to an entity, strongest first."""
        grant = self.grant("entity.view", target=f"entity:{entity_id}")
        self._entity(entity_id)
        edges = self._edges([entity_id])
        labels = self._labels(b for _, b, *_ in edges)
        merged: dict[str, dict[str, Any]] = {}
        for _, other, relation, n, at in edges:
            if other not in labels:
                continue
            item = merged.setdefault(
                other,
                {
                    "id": other,
                    "type": labels[other][0],
                    "label": labels[other][1],
                    "relations": {},
                    "count": 0,
                    "last": None,
                },
            )
            item["relations"][relation] = item["relations"].get(relation, 0) + n
            item["count"] += n
            item["last"] = max(filter(None, [item["last"], at]), default=None)
        items = sorted(merged.values(), key=lambda i: (-i["count"], i["id"]))
        self.audit(
            grant,
            action="entity.links",
            target=f"entity:{entity_id}",
            detail={"entities": [entity_id, *[i["id"] for i in items]]},
        )
        return {"items": items}

    def network(self, entity_ids: list[str], *, depth: int = 1) -> dict[str, Any]:
        """The neighbourhood of one or more entities for the network explorer: nodes
        (with their visible records and harm, coloured by community), edges with relations."""
        grant = self.grant("graph.view", target=f"entity:{entity_ids[0]}" if entity_ids else None)
        if not 1 <= len(entity_ids) <= 20:
            raise Problem(400, "give 1 to 20 entity ids to expand")
        if not 1 <= depth <= 2:
            raise Problem(400, "depth is 1 or 2")
        for e in entity_ids:
            self._entity(e)
        nodes: set[str] = set(entity_ids)
        frontier = list(entity_ids)
        edges: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for _ in range(depth):
            found = self._edges(frontier)
            frontier = []
            for a, b, relation, n, _at in found:
                if b not in nodes:
                    if len(nodes) >= MAX_NODES:
                        continue
                    nodes.add(b)
                    frontier.append(b)
                key = (min(a, b), max(a, b))
                edges[key][relation] = max(edges[key].get(relation, 0), n)
        labels = self._labels(nodes)
        nodes = {n for n in nodes if n in labels}
        kept = {k: v for k, v in edges.items() if k[0] in nodes and k[1] in nodes}
        sizes = dict(
            self.con.execute(
                "SELECT xm.entity_id, count(*) FROM memory.served_mentions xm "
                "JOIN vis ON vis.label = xm.label "
                "WHERE xm.entity_id IN (SELECT unnest($ids::VARCHAR[])) GROUP BY 1",
                {"ids": sorted(nodes)},
            ).fetchall()
        )
        community = _communities(sorted(nodes), list(kept))
        harm: dict[str, float] = {}
        if self.hub.has_table("harm_offences"):
            self._kpi_views()
            index = self.hub.kpi_settings.harm.index
            harm = {
                str(e): float(h)
                for e, h in self.con.execute(
                    f"SELECT entity_id, sum({index}) FROM v_offences "
                    "WHERE entity_id IN (SELECT unnest($ids::VARCHAR[])) GROUP BY 1",
                    {"ids": sorted(nodes)},
                ).fetchall()
            }
        out_nodes = [
            {
                "id": n,
                "type": labels[n][0],
                "label": labels[n][1],
                "records": int(sizes.get(n, 0)),
                "harm": round(harm.get(n, 0.0), 2),
                "community": community.get(n, 0),
                "focus": n in entity_ids,
            }
            for n in sorted(nodes)
        ]
        out_edges = [
            {"source": a, "target": b, "relations": rel, "weight": sum(rel.values())}
            for (a, b), rel in sorted(kept.items())
        ]
        self.audit(
            grant,
            action="graph.view",
            detail={"expanded": entity_ids, "depth": depth, "entities": sorted(nodes)},
        )
        return {"nodes": out_nodes, "edges": out_edges, "truncated": len(nodes) >= MAX_NODES}

    def path(self, start: str, end: str) -> dict[str, Any]:
        """The shortest chain of links between two entities (up to four hops) over
        records the principal may see."""
        grant = self.grant("graph.view", target=f"entity:{start}")
        self._entity(start)
        self._entity(end)
        parents: dict[str, str | None] = {start: None}
        relation: dict[str, str] = {}
        frontier = [start]
        for _ in range(MAX_PATH_HOPS):
            if end in parents or not frontier:
                break
            nxt = []
            for a, b, rel, _n, _at in self._edges(frontier):
                if b not in parents:
                    parents[b] = a
                    relation[b] = rel
                    nxt.append(b)
            frontier = nxt[:2000]
        chain: list[str] = []
        if end in parents:
            node: str | None = end
            while node is not None:
                chain.append(node)
                node = parents[node]
            chain.reverse()
        labels = self._labels(chain)
        steps = [
            {
                "id": n,
                "type": labels.get(n, ("?", n))[0],
                "label": labels.get(n, ("?", n))[1],
                "via": relation.get(n),
            }
            for n in chain
        ]
        self.audit(grant, action="graph.path", detail={"between": [start, end], "entities": chain})
        return {"found": bool(chain), "hops": max(len(chain) - 1, 0), "steps": steps}

    # -- organised crime groups and county lines (peelian analyse) -------------

    def _analysed(self) -> None:
        self._resolved()
        if not self.hub.has_table("network_groups"):
            raise Problem(503, "the hub has not been analysed yet; run `peelian analyse`")

    def _hidden(self, table: str, key: str) -> set[str]:
        """Keys of `table` rows resting on a record the principal may not see (or on one
        no longer live): such a row is withheld whole, and so is what it would reveal."""
        rows = self.con.execute(
            f"""SELECT DISTINCT t.k
            FROM (SELECT {key} AS k, unnest(mentions) AS mention_id FROM {table}) t
            LEFT JOIN memory.served_mentions sm ON sm.mention_id = t.mention_id
            LEFT JOIN vis ON vis.label = sm.label
            WHERE vis.label IS NULL"""
        ).fetchall()
        return {str(r[0]) for r in rows}

    def groups(self) -> dict[str, Any]:
        """Likely organised crime groups, strongest first, each with its members and
        associates ranked and the reasons; a group any of whose evidence the principal
        may not see is left out whole (its reasons would count the hidden records)."""
        grant = self.grant("graph.view")
        self._analysed()
        rows = self.con.execute(
            """
            WITH hidden AS (
                SELECT DISTINCT e.group_id FROM network_group_evidence e
                LEFT JOIN memory.served_mentions sm ON sm.mention_id = e.mention_id
                LEFT JOIN vis ON vis.label = sm.label
                WHERE vis.label IS NULL
            )
            SELECT group_id, members, associates, offenders, contact_pairs, score, reasons
            FROM network_groups WHERE group_id NOT IN (SELECT group_id FROM hidden)
            ORDER BY score DESC, group_id
            """
        ).fetchall()
        shown = [r[0] for r in rows]
        people = self.con.execute(
            """SELECT group_id, entity_id, role, rank, score, offences, broker, reasons
            FROM network_group_members WHERE group_id IN (SELECT unnest($g::VARCHAR[]))
            ORDER BY group_id, rank""",
            {"g": shown},
        ).fetchall()
        labels = self._labels(p[1] for p in people)
        by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for group_id, entity_id, role, rank, score, offences, broker, reasons in people:
            by_group[group_id].append(
                {
                    "id": entity_id,
                    "label": labels.get(entity_id, ("person", entity_id))[1],
                    "role": role,
                    "rank": int(rank),
                    "score": round(float(score), 3),
                    "offences": int(offences),
                    "broker": bool(broker),
                    "reasons": reasons,
                }
            )
        items = [
            {
                "id": group_id,
                "members": int(members),
                "associates": int(associates),
                "offenders": int(offenders),
                "contact_pairs": int(pairs),
                "score": round(float(score), 2),
                "reasons": reasons,
                "people": by_group[group_id],
            }
            for group_id, members, associates, offenders, pairs, score, reasons in rows
        ]
        self.audit(
            grant,
            action="network.groups",
            detail={"groups": shown, "entities": [p[1] for p in people]},
        )
        return {"items": items}

    def county_lines(self) -> dict[str, Any]:
        """County lines with their handsets and controllers, as the principal may see
        them; runners and cuckooed homes (exploitation of children and vulnerable adults)
        only for roles that may view vulnerability flags."""
        grant = self.grant("graph.view")
        self._analysed()
        safeguarding = self.principal.may("vulnerability.view")
        hidden_lines = self._hidden("county_line_phones", "line_id")
        hidden_people = self._hidden("county_line_people", "line_id || '/' || entity_id")
        hidden_homes = self._hidden("county_line_addresses", "line_id || '/' || person_entity")
        hidden_vehicles = self._hidden("county_line_vehicles", "line_id || '/' || vehicle_entity")
        # where a line runs from and to rests on the controllers' addresses and the
        # runners' missing records: without sight of them, the towns are not given
        hidden_places = self._hidden(
            "(SELECT line_id, place_mentions AS mentions FROM county_lines)", "line_id"
        )
        lines = [
            (*r[:6], *((None, None, None) if r[0] in hidden_places else r[6:9]), r[9])
            for r in self.con.execute(
                """SELECT line_id, handsets, contacts, bulk_texts, first_seen::VARCHAR,
                          last_seen::VARCHAR, hub_town, market_town, place_evidence, evidence
                FROM county_lines ORDER BY line_id"""
            ).fetchall()
            if r[0] not in hidden_lines
        ]
        shown = [r[0] for r in lines]
        phones = self.con.execute(
            """SELECT line_id, phone_entity, number, handset, evidence FROM county_line_phones
            WHERE line_id IN (SELECT unnest($l::VARCHAR[])) ORDER BY line_id, handset""",
            {"l": shown},
        ).fetchall()
        people = [
            r
            for r in self.con.execute(
                """SELECT line_id, entity_id, role, evidence FROM county_line_people
                WHERE line_id IN (SELECT unnest($l::VARCHAR[])) ORDER BY line_id, role, 2""",
                {"l": shown},
            ).fetchall()
            # runners, and handlers of unknown age (who may be children), are exploitation
            # flags: for roles that may view them
            if f"{r[0]}/{r[1]}" not in hidden_people and (safeguarding or r[2] == "controller")
        ]
        homes = (
            [
                r
                for r in self.con.execute(
                    """SELECT line_id, person_entity, address, town, evidence
                    FROM county_line_addresses
                    WHERE line_id IN (SELECT unnest($l::VARCHAR[])) ORDER BY 1, 2""",
                    {"l": shown},
                ).fetchall()
                if f"{r[0]}/{r[1]}" not in hidden_homes
            ]
            if safeguarding
            else []
        )
        vehicles = [
            r
            for r in self.con.execute(
                """SELECT line_id, vehicle_entity, vrm, evidence FROM county_line_vehicles
                WHERE line_id IN (SELECT unnest($l::VARCHAR[])) ORDER BY 1, market_days DESC""",
                {"l": shown},
            ).fetchall()
            if f"{r[0]}/{r[1]}" not in hidden_vehicles
        ]
        labels = self._labels([p[1] for p in people] + [h[1] for h in homes])
        items = []
        for line_id, handsets, contacts, bulk, first, last, hub, market, places, evidence in lines:
            items.append(
                {
                    "id": line_id,
                    "handsets": int(handsets),
                    "contacts": int(contacts),
                    "bulk_texts": int(bulk),
                    "first_seen": first,
                    "last_seen": last,
                    "origin": hub,
                    "market": market,
                    "evidence": f"{evidence}; {places}" if places else evidence,
                    "phones": [
                        {"id": p[1], "number": p[2], "handset": int(p[3]), "evidence": p[4]}
                        for p in phones
                        if p[0] == line_id
                    ],
                    "people": _flagged_people(people, labels, line_id),
                    "vehicles": [
                        {"id": v[1], "vrm": v[2], "evidence": v[3]}
                        for v in vehicles
                        if v[0] == line_id
                    ],
                    "cuckooed": [
                        {
                            "person": h[1],
                            "label": labels.get(h[1], ("person", h[1]))[1],
                            "address": h[2],
                            "town": h[3],
                            "evidence": h[4],
                        }
                        for h in homes
                        if h[0] == line_id
                    ],
                }
            )
        flows: dict[tuple[str, str], int] = defaultdict(int)
        for item in items:
            if item["origin"] and item["market"]:
                flows[(item["origin"], item["market"])] += 1
        self.audit(
            grant,
            action="network.county_lines",
            detail={
                "lines": shown,
                "entities": sorted(
                    {p[1] for p in people} | {h[1] for h in homes} | {v[1] for v in vehicles}
                ),
            },
        )
        return {
            "items": items,
            "flows": [
                {"origin": o, "market": m, "lines": n} for (o, m), n in sorted(flows.items())
            ],
            "safeguarding_shown": safeguarding,
        }

    def labour_sites(self) -> dict[str, Any]:
        """Possible labour-exploitation sites with their reasons and controllers, as the
        principal may see them: a site resting on any record they may not see is left out
        whole; the workers (victims) only for roles that may view vulnerability flags."""
        grant = self.grant("graph.view")
        self._analysed()
        if not self.hub.has_table("slavery_sites"):
            raise Problem(503, "the hub has not been analysed since modern-slavery indicators "
                          "were added; run `peelian analyse`")  # fmt: skip
        safeguarding = self.principal.may("vulnerability.view")
        hidden_sites = self._hidden("slavery_sites", "site_id")
        hidden_people = self._hidden("slavery_people", "site_id || '/' || entity_id")
        sites = [
            r
            for r in self.con.execute(
                """SELECT site_id, phone_entity, number, address_entity, address, workers,
                          surnames, adults_at_address, reports, evidence
                FROM slavery_sites ORDER BY site_id"""
            ).fetchall()
            if r[0] not in hidden_sites
        ]
        shown = [r[0] for r in sites]
        people = [
            r
            for r in self.con.execute(
                """SELECT site_id, entity_id, role, evidence FROM slavery_people
                WHERE site_id IN (SELECT unnest($s::VARCHAR[])) ORDER BY site_id, role, 2""",
                {"s": shown},
            ).fetchall()
            if f"{r[0]}/{r[1]}" not in hidden_people and (safeguarding or r[2] == "controller")
        ]
        labels = self._labels(p[1] for p in people)
        items = [
            {
                "id": site_id,
                "phone": phone,
                "number": number,
                "address_id": address_id,
                "address": address,
                "workers": int(workers),
                "surnames": int(surnames),
                "adults_at_address": int(adults),
                "reports": int(reports),
                "evidence": evidence,
                "people": _flagged_people(people, labels, site_id),
            }
            for site_id, phone, number, address_id, address, workers, surnames, adults, reports,
            evidence in sites
        ]  # fmt: skip
        self.audit(
            grant,
            action="network.labour_sites",
            detail={"sites": shown, "entities": sorted({p[1] for p in people})},
        )
        return {"items": items, "safeguarding_shown": safeguarding}

    # -- documents, events, the map --------------------------------------------

    def document(self, mention_id: str) -> dict[str, Any]:
        """An intelligence report or narrative in full, with its marking and handling."""
        grant = self.grant("document.view", target=f"mention:{mention_id[:200]}")
        rows = self.con.execute(
            "SELECT d.field, d.text, xm.source, xm.record_id, xm.marking, xm.handling, "
            "ev.event_type, ev.reference, coalesce(ev.occurred, ev.start, ev.recorded)::VARCHAR "
            "FROM documents d "
            + seen("x", "d.mention_id")
            + " LEFT JOIN event ev ON ev.mention_id = d.mention_id "
            "WHERE d.mention_id = $m ORDER BY d.field",
            {"m": mention_id},
        ).fetchall()
        if not rows:
            raise self._not_found(mention_id, f"mention:{mention_id}")
        _, _, source, record, marking, handling, etype, ref, at = rows[0]
        self.audit(grant, target=f"mention:{mention_id}", detail={"fields": [r[0] for r in rows]})
        return {
            "mention_id": mention_id,
            "source": source,
            "record_id": record,
            "type": etype,
            "reference": ref,
            "at": at,
            "marking": marking,
            "handling": handling,
            "texts": [{"field": f, "text": t} for f, t, *_ in rows],
        }

    def events(
        self,
        *,
        types: list[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        limit: int = 2000,
    ) -> dict[str, Any]:
        """Crimes, incidents and other events with a place, for the map: points (up to
        `limit`, newest first) and hotspots (counts per H3 hexagon) of every
        matching event the principal may see. No names: a point is an event."""
        grant = self.grant("map.view")
        self._resolved()
        where = ["e.lat IS NOT NULL", "e.event_type NOT IN (SELECT unnest($bulk::VARCHAR[]))"]
        params: dict[str, Any] = {"bulk": list(BULK_EVENTS)}
        if types:
            where.append("e.event_type IN (SELECT unnest($types::VARCHAR[]))")
            params["types"] = types
        if since:
            where.append("e.happened >= $since")
            params["since"] = since
        if until:
            where.append("e.happened < $until::DATE + 1")
            params["until"] = until
        if bbox:
            where.append("e.lat BETWEEN $s AND $n AND e.lon BETWEEN $w AND $e")
            params.update(dict(zip(("s", "w", "n", "e"), bbox, strict=True)))
        base = (
            "FROM memory.served_events e JOIN vis ve ON ve.label = e.le "
            "JOIN vis vp ON vp.label = e.lp WHERE " + " AND ".join(where)
        )
        points = self.con.execute(
            "SELECT e.event_id, e.event_type, e.reference, e.happened::VARCHAR AS happened, "
            "round(e.lat, 5), round(e.lon, 5), e.marking "
            + base
            + " ORDER BY e.happened DESC NULLS LAST, e.event_id LIMIT $limit",
            {**params, "limit": limit},
        ).fetchall()
        # hotspots: H3 hexagons (the settings' resolution) of every matching event; points
        # ~10 m apart are counted together first, so Python sees thousands, not millions
        near = self.con.execute(
            "SELECT round(e.lat, 4), round(e.lon, 4), count(*) " + base + " GROUP BY 1, 2",
            params,
        ).fetchall()
        resolution = self.hub.kpi_settings.hotspots.h3_resolution
        per_cell: Counter[str] = Counter()
        for la, lo, n in near:
            if -90 <= la <= 90 and -180 <= lo <= 180:
                per_cell[h3.latlng_to_cell(la, lo, resolution)] += int(n)
        cells = per_cell.most_common(self.hub.kpi_settings.hotspots.top)
        by_type = self.con.execute(
            "SELECT e.event_type, count(*) " + base + " GROUP BY 1 ORDER BY 2 DESC", params
        ).fetchall()
        self.audit(
            grant,
            detail={"types": types, "since": _text(since), "until": _text(until),
                    "points": len(points)},
        )  # fmt: skip
        return {
            "points": [
                {
                    "event_id": m,
                    "type": t,
                    "reference": r,
                    "at": a,
                    "lat": la,
                    "lon": lo,
                    "marking": mk,
                }
                for m, t, r, a, la, lo, mk in points
            ],
            "hotspots": [
                {
                    "cell": c,
                    "lat": round(h3.cell_to_latlng(c)[0], 5),
                    "lon": round(h3.cell_to_latlng(c)[1], 5),
                    "count": n,
                    "boundary": cell_boundary(c),
                }
                for c, n in cells
            ],
            "by_type": {k: int(v) for k, v in by_type},
            "total": sum(int(v) for _, v in by_type),
        }

    def dashboard(self) -> dict[str, Any]:
        """Counts the principal may see: records by source, events by type and month,
        entities by type. Counts of what they may not see are not counted."""
        grant = self.grant("dashboard.view")
        self._resolved()
        by_month = self.con.execute(
            """SELECT strftime(date_trunc('month', e.happened), '%Y-%m') AS month,
                      e.event_type, count(*)
               FROM memory.served_events e JOIN vis ON vis.label = e.le
               WHERE e.event_type IN ('crime', 'incident', 'arrest', 'stop_search',
                                      'missing_episode', 'referral', 'intelligence_report')
               GROUP BY ALL ORDER BY 1, 2"""
        ).fetchall()
        by_source = self.con.execute(
            """SELECT m.source, sum(m.n)::BIGINT
               FROM (SELECT source, label, count(*) AS n FROM memory.served_mentions
                     GROUP BY ALL) m JOIN vis ON vis.label = m.label
               GROUP BY 1 ORDER BY 2 DESC"""
        ).fetchall()
        entities = self.con.execute(
            """SELECT m.entity_type, count(DISTINCT m.entity_id) FROM memory.served_mentions m
               JOIN vis ON vis.label = m.label WHERE m.entity_id IS NOT NULL
               GROUP BY 1 ORDER BY 2 DESC"""
        ).fetchall()
        crime_types = self.con.execute(
            """SELECT e.crime_type, count(*) FROM memory.served_events e
               JOIN vis ON vis.label = e.le
               WHERE e.event_type = 'crime' AND e.crime_type IS NOT NULL
               GROUP BY 1 ORDER BY 2 DESC"""
        ).fetchall()
        self.audit(grant)
        series: dict[str, dict[str, int]] = defaultdict(dict)
        for month, etype, n in by_month:
            if month:
                series[etype][month] = int(n)
        return {
            "events_by_month": series,
            "records_by_source": {s: int(n) for s, n in by_source},
            "entities_by_type": {t: int(n) for t, n in entities},
            "crimes_by_type": {t: int(n) for t, n in crime_types},
        }

    # -- crime KPIs, harm and incidents (peelian analyse / peelian kpis) ---------

    def _kpi_views(self) -> None:
        """Views of the KPI tables holding only rows whose records the principal may see
        (a crime in an operation's compartment is not counted for someone outside it)."""
        if not self.hub.has_table("kpi_crimes"):
            raise Problem(503, "the hub has no KPI tables yet; run `peelian analyse`")
        same = (
            "v.marking IS NOT DISTINCT FROM t.marking AND v.compartment IS NOT DISTINCT FROM "
            "t.compartment AND v.sharing_roles IS NOT DISTINCT FROM t.sharing_roles"
        )
        for view, table in (
            ("v_crimes", "kpi_crimes"),
            ("v_incidents", "kpi_incidents"),
            ("v_status", "kpi_status"),
        ):
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT t.* FROM hub.main.{table} t "
                f"JOIN visible_labels v ON {same}"
            )
        if self.hub.resolved and self.hub.has_table("harm_offences"):
            # an offence counts only if every record it rests on is visible; its person is
            # the entity the person's record belongs to now (a resolve since the last
            # analyse may have merged or split people)
            self.con.execute(
                """CREATE OR REPLACE TEMP VIEW v_offences AS
                SELECT o.* REPLACE (sm.entity_id AS entity_id) FROM hub.main.harm_offences o
                JOIN memory.served_mentions sm ON sm.mention_id = o.mentions[1]
                ANTI JOIN (
                    SELECT DISTINCT t.entity_id, t.crime_id
                    FROM (SELECT entity_id, crime_id, unnest(mentions) AS mid
                          FROM hub.main.harm_offences) t
                    LEFT JOIN memory.served_mentions hm ON hm.mention_id = t.mid
                    LEFT JOIN vis ON vis.label = hm.label
                    WHERE vis.label IS NULL
                ) h ON h.entity_id = o.entity_id AND h.crime_id = o.crime_id
                WHERE sm.entity_id IS NOT NULL
                -- two people merged since: their rows for one crime count once
                QUALIFY row_number() OVER (PARTITION BY sm.entity_id, o.crime_id
                                           ORDER BY len(o.mentions), o.entity_id) = 1"""
            )

    def kpis(self, *, months: int = 12, trend_months: int = 1) -> dict[str, Any]:
        """Every crime and response KPI table, counting only what the principal may see."""
        from peelian.analyse.dashboard import all_tables

        grant = self.grant("dashboard.view")
        self._kpi_views()
        tables = all_tables(
            self.con,
            self.hub.kpi_settings,
            crimes="v_crimes",
            incident_table="v_incidents",
            offences=None,
            months=months,
            trend_months=trend_months,
        )
        self.audit(grant, action="kpis.view", detail={"tables": sorted(tables)} | _listed(tables))
        return {"months": months, "trend_months": trend_months,
                "tables": {k: t.json() for k, t in tables.items()}}  # fmt: skip

    def kpi_table(self, name: str, *, months: int = 12, trend_months: int = 1) -> Any:
        from peelian.analyse.dashboard import TABLE_NAMES, all_tables

        if name not in TABLE_NAMES or name == "harm_ranking":
            raise not_found(f"KPI table {name[:40]!r}")
        grant = self.grant("dashboard.view")
        self._kpi_views()
        tables = all_tables(
            self.con, self.hub.kpi_settings, crimes="v_crimes", incident_table="v_incidents",
            offences=None, months=months, trend_months=trend_months, names=(name,),
        )  # fmt: skip
        if name not in tables:
            raise Problem(404, f"there is no data for {name} yet")
        self.audit(grant, action="kpis.view", detail={"tables": [name]} | _listed(tables))
        return tables[name]

    def harm(self, *, limit: int = 50, offset: int = 0, area: str | None = None) -> dict[str, Any]:
        """Offenders ranked by harm, with RFG and the offences behind each score, from the
        offences the principal may see."""
        from peelian.analyse.harm import ranking

        grant = self.grant("graph.view")
        self._resolved()
        self._kpi_views()
        table, behind = ranking(
            self.con, "v_offences", self.hub.kpi_settings, limit=limit, offset=offset, area=area
        )
        ids = [r[1] for r in table.rows]
        labels = self._labels(ids)
        items = []
        for row in table.rows:
            item = dict(zip(table.columns, row, strict=True))
            item["label"] = labels.get(row[1], ("person", row[1]))[1]
            item["listed"] = behind.get(row[1], [])
            items.append(item)
        self.audit(grant, action="harm.ranking", detail={"entities": ids, "offset": offset})
        return {"title": table.title, "notes": table.notes, "items": items,
                "next": offset + limit if len(items) == limit else None}  # fmt: skip

    def person_harm(self, entity_id: str) -> dict[str, Any] | None:
        """One person's harm and RFG (warning context on the profile), or None."""
        from peelian.analyse.harm import person_harm

        if not self.hub.has_table("harm_offences"):
            return None
        self._kpi_views()
        return person_harm(self.con, "v_offences", self.hub.kpi_settings, entity_id)

    def incidents(self, *, at: dt.datetime | None = None, top: int = 5) -> dict[str, Any]:
        """Incidents open now, most urgent first, each waiting grade 1 or 2 incident with
        the available resources ranked by estimated time to arrive. "Now" is the live
        feed's clock while a feed is written to (`peelian incidents replay`, or a
        command-and-control interface); otherwise, or when `at` is given, the hub's records
        at `at` (default: the latest call). Only incidents and resources whose records the
        principal may see are shown or ranked."""
        from peelian.analyse.incidents import fleet_at, fleet_from, open_at, open_incident
        from peelian.state.live import LIVE_SECONDS

        grant = self.grant("map.view")
        settings = self.hub.kpi_settings
        live = self.state.live_picture() if at is None else None
        stopped = None
        if (
            live is not None
            and (dt.datetime.now(dt.UTC) - live.updated_at).total_seconds() > LIVE_SECONDS
        ):
            stopped, live = live.updated_at.isoformat(), None  # a feed no longer written to
        source = "hub"
        if live is not None:
            at = live.clock
            source = f"live feed {live.feed}"
            seen = [i for i in live.incidents if self._may_see(i)]
            items = [
                open_incident(at, i)
                for i in sorted(seen, key=lambda i: (i["grade"] or 9, i["called"]))
            ]
            fleet = fleet_from([r for r in live.resources if self._may_see(r)])
        else:
            self._kpi_views()
            if at is None:
                rows = self.con.execute("SELECT max(called) FROM v_incidents").fetchall()
                at = rows[0][0] if rows and rows[0][0] else dt.datetime.now(dt.UTC)
            assert at is not None
            if at.tzinfo is None:
                at = at.replace(tzinfo=settings.zone)  # a bare time is the force's local time
            items = open_at(self.con, "v_incidents", at)
            fleet = fleet_at(self.con, "v_status", at)
        for item in items:
            waiting = item["state"] == "waiting" and item["lat"] is not None
            item["resources"] = (
                fleet.ranked(item["lat"], item["lon"], item["area_type"] or "URBAN",
                             settings.travel, top=top)
                if waiting and item["grade"] in (1, 2) else []
            )  # fmt: skip
        # times in the force's local time, as the control room reads them
        local = settings.zone
        at = at.astimezone(local)
        for item in items:
            if item["called"]:
                item["called"] = (
                    dt.datetime.fromisoformat(item["called"]).astimezone(local).isoformat()
                )
        by_grade = Counter(str(i["grade"]) for i in items)
        self.audit(
            grant,
            action="incidents.view",
            detail={
                "at": at.isoformat(),
                "source": source,
                "incidents": [i["reference"] for i in items],
                "resources": sorted({r["resource"] for i in items for r in i["resources"]}),
            },
        )
        return {"at": at.isoformat(), "source": source, "live": live is not None,
                "feed_stopped": stopped, "open": len(items), "by_grade": dict(by_grade),
                "items": items}  # fmt: skip

    def _may_see(self, row: dict[str, Any]) -> bool:
        """May the principal see a live-feed row (by its record's label)?"""
        return self.principal.may_see(
            row.get("marking"), row.get("compartment"), row.get("sharing_roles") or None
        )

    def quality(self) -> dict[str, Any]:
        """Data quality per source: rows read, accepted, quarantined and why, field
        completeness. Counts only (quarantined rows' raw content is not shown).

        The run counts, quarantine and field figures cover every row of a source,
        so they are shown only for sources the reader may see whole; of a source
        they see in part, only the rows they may see are counted; a source they
        may see nothing of is not listed."""
        grant = self.grant("dashboard.view")
        shown = self.con.execute(
            "SELECT s.source, count(v.marking), count(*) FROM source_rows s "
            "LEFT JOIN visible_labels v ON v.marking IS NOT DISTINCT FROM s.marking "
            "AND v.compartment IS NOT DISTINCT FROM s.compartment "
            "AND v.sharing_roles IS NOT DISTINCT FROM s.sharing_roles "
            "WHERE s.deleted_at IS NULL GROUP BY 1"
        ).fetchall()
        seen_rows = {source: int(n) for source, n, _ in shown if n}
        whole = {source for source, n, total in shown if n == total}
        runs = self.con.execute(
            "SELECT source, sum(rows_read), sum(rows_accepted), sum(rows_quarantined), "
            "max(finished_at)::VARCHAR FROM ingest_runs GROUP BY 1 ORDER BY 1"
        ).fetchall()
        reasons = self.con.execute(
            "SELECT source, reason, count(*) FROM quarantine GROUP BY 1, 2 ORDER BY 1, 3 DESC"
        ).fetchall()
        fields = self.con.execute(
            "SELECT source, kind, field, max(mentions), max(present), max(flagged) "
            "FROM dq_fields GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
        runs = [
            r if r[0] in whole else (r[0], seen_rows[r[0]], seen_rows[r[0]], 0, r[4])
            for r in runs
            if r[0] in seen_rows
        ]
        reasons = [r for r in reasons if r[0] in whole]
        fields = [f for f in fields if f[0] in whole]
        self.audit(grant, action="quality.view")
        why: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for source, reason, n in reasons:
            why[source].append({"reason": reason, "rows": int(n)})
        completeness: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for source, kind, field, n, present, flagged in fields:
            completeness[source].append(
                {"kind": kind, "field": field, "mentions": int(n), "present": int(present),
                 "flagged": int(flagged)}
            )  # fmt: skip
        return {
            "sources": [
                {
                    "source": s,
                    "read": int(r),
                    "accepted": int(a),
                    "quarantined": int(q),
                    "last_run": last,
                    "quarantine_reasons": why.get(s, []),
                    "fields": completeness.get(s, []),
                }
                for s, r, a, q, last in runs
            ]
        }

    # -- the review queue and decisions ------------------------------------------

    def vulnerability(
        self,
        *,
        population: str = "child",
        scorer: str = "points",
        decided: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """The advisory list for the multi-agency meeting: people flagged by a scorer,
        highest first, with the reasons, the first week they would have been flagged,
        whether already recorded as exploited, and the meeting's decision. A person
        decided on is off the agenda (shown with `decided`) until records newer than
        the decision arrive. A row resting on any record the principal may not see is
        withheld whole."""
        grant = self.grant("vulnerability.view")
        self._resolved()
        if not self.hub.has_table("vulnerability_scores"):
            raise Problem(503, "the hub has no vulnerability screen yet; run `peelian analyse`")
        if population not in ("child", "adult") or scorer not in ("points", "model"):
            raise Problem(400, "population is child or adult; scorer is points or model")
        if population == "adult" and scorer == "model":
            raise Problem(400, "adults are screened by points only")
        flagged, rank = (
            ("points_flagged", "points_rank")
            if scorer == "points"
            else ("model_flagged", "model_rank")
        )
        hidden = self._hidden(
            f"(SELECT entity_id, mentions FROM vulnerability_scores WHERE {flagged})", "entity_id"
        )
        rows = self.con.execute(
            f"""SELECT entity_id, age, points, probability, reasons, model_reasons,
                       first_flagged, model_first_flagged, recorded, points_mitigated,
                       probability_mitigated, mitigated, points_as_is, probability_as_is,
                       last_loaded
            FROM vulnerability_scores WHERE population = $p AND {flagged}
            ORDER BY {rank}, entity_id""",
            {"p": population},
        ).fetchall()
        standing = {d.entity_id: d for d in self.state.vulnerability_decisions()}
        agenda: list[tuple[Any, Any, bool]] = []
        done: list[tuple[Any, Any, bool]] = []
        for r in rows:
            if r[0] in hidden:
                continue
            d = standing.get(r[0])
            # records loaded after the decision (whenever they say things happened)
            new_records = d is not None and r[14] is not None and r[14] > d.decided_at
            (done if d is not None and not new_records else agenda).append((r, d, new_records))
        chosen = (done if decided else agenda)[offset : offset + limit]
        labels = self._labels(r[0] for r, _, _ in chosen)
        records = self._flag_records([r[0] for r, _, _ in chosen])
        items = [
            {
                "entity_id": r[0],
                "label": labels.get(r[0], ("person", r[0]))[1],
                "age": r[1],
                "points": r[2],
                "probability": r[3],
                "points_mitigated": r[9],
                "probability_mitigated": r[10],
                "mitigated": r[11],
                "points_as_is": r[12],
                "probability_as_is": r[13],
                "reasons": list(r[4] or []),
                "model_reasons": list(r[5] or []),
                "first_flagged": r[6] if scorer == "points" else r[7],
                "recorded": r[8],
                "decision": None
                if d is None
                else {
                    "decision": d.decision,
                    "note": d.note,
                    "by": d.by,
                    "decided_at": d.decided_at,
                },
                "new_records_since_decision": new,
                "records": records.get(r[0], []),
            }
            for r, d, new in chosen
        ]
        run = self.con.execute(
            """SELECT as_of, model_trained FROM vulnerability_runs ORDER BY ran_at DESC LIMIT 1"""
        ).fetchall()
        self.audit(
            grant,
            action="vulnerability.list",
            detail={
                "entities": [i["entity_id"] for i in items],
                "population": population,
                "scorer": scorer,
                "decided": decided,
            },
        )
        return {
            "as_of": run[0][0] if run else None,
            "model_trained": bool(run[0][1]) if run else False,
            "population": population,
            "scorer": scorer,
            "decided": decided,
            "agenda": len(agenda),
            "decided_count": len(done),
            "items": items,
            "next": offset + limit if offset + limit < len(done if decided else agenda) else None,
        }

    def _flag_records(self, entity_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Per listed person, newest first: each signal the score rests on and each record
        saying they were recorded as exploited, with its date and what it says (the rows
        a flag rests on are all visible to the reader, or the flag is withheld)."""
        if not entity_ids:
            return {}
        rows = self.con.execute(
            """WITH listed AS (
                   SELECT entity_id, mentions FROM vulnerability_scores
                   WHERE entity_id IN (SELECT unnest($ids::VARCHAR[]))
               )
               SELECT s.entity_id, s.happened, s.indicator, s.detail, s.mentions
               FROM vulnerability_signals s JOIN listed l USING (entity_id)
               WHERE list_contains(l.mentions, s.mentions[1])
               UNION ALL
               SELECT r.entity_id, r.happened, 'recorded', r.detail, r.mentions
               FROM vulnerability_recorded r JOIN listed l USING (entity_id)
               ORDER BY 1, 2 DESC, 3""",
            {"ids": entity_ids},
        ).fetchall()
        out: dict[str, list[dict[str, Any]]] = {}
        for entity, happened, indicator, detail, mentions in rows:
            out.setdefault(entity, []).append(
                {
                    "happened": happened,
                    "indicator": indicator,
                    "detail": detail,
                    "mentions": list(mentions),
                }
            )
        return out

    def decide_vulnerability(self, entity_id: str, decision: str, *, note: str) -> dict[str, Any]:
        """Record the meeting's decision on a person the screen flagged (at_risk,
        not_at_risk, already_known): only on a person whose flag the principal may see."""
        self.grant("vulnerability.decide", target=f"entity:{entity_id[:100]}")
        self._resolved()
        if not self.hub.has_table("vulnerability_scores"):
            raise Problem(503, "the hub has no vulnerability screen yet; run `peelian analyse`")
        listed = self.con.execute(
            """SELECT entity_id FROM vulnerability_scores
            WHERE entity_id = $e AND (points_flagged OR coalesce(model_flagged, false))""",
            {"e": entity_id},
        ).fetchall()
        if not listed or entity_id in self._hidden("vulnerability_scores", "entity_id"):
            raise self._not_found(entity_id, f"entity:{entity_id}")  # the attempt is audited
        try:
            d = self.state.add_vulnerability_decision(
                entity_id, decision, by=self.principal.username, note=note
            )
        except ValueError as exc:
            raise Problem(400, str(exc)) from None
        return {"id": d.id, "entity_id": d.entity_id, "decision": d.decision, "note": d.note,
                "by": d.by, "decided_at": d.decided_at}  # fmt: skip

    def review_queue(self, *, offset: int = 0, limit: int = 20) -> dict[str, Any]:
        """Uncertain pairs of people, biggest impact first: one item per pair of entities
        (or records not in one), shown by its strongest pair of records, counting the
        record pairs behind it. Only pairs whose both records the principal may see
        are shown or counted."""
        grant = self.grant("review.view")
        self._resolved()
        grouped = (
            "FROM (SELECT r.*, lm.source AS source_l, rm.source AS source_r, "
            "  count(*) OVER pair AS pairs, row_number() OVER (pair ORDER BY r.impact DESC, "
            "  r.match_weight DESC NULLS LAST, r.mention_l, r.mention_r) AS nth "
            "  FROM review_queue r "
            + seen("l", "r.mention_l")
            + seen("r", "r.mention_r")
            + " WINDOW pair AS (PARTITION BY "
            "    least(coalesce(r.entity_l, r.mention_l), coalesce(r.entity_r, r.mention_r)), "
            "    greatest(coalesce(r.entity_l, r.mention_l), coalesce(r.entity_r, r.mention_r)))"
            ") g WHERE g.nth = 1"
        )
        rows = self.con.execute(
            "SELECT mention_l, mention_r, entity_l, entity_r, match_weight, match_probability, "
            "reason, impact, source_l, source_r, pairs "
            + grouped
            + " ORDER BY impact DESC, match_weight DESC NULLS LAST, mention_l, mention_r "
            "LIMIT $n OFFSET $o",
            {"n": limit, "o": offset},
        ).fetchall()
        totals = self.con.execute("SELECT count(*), sum(pairs) " + grouped).fetchone()
        total, record_pairs = (int(totals[0]), int(totals[1] or 0)) if totals else (0, 0)
        self.audit(grant, detail={"pairs": [[r[0], r[1]] for r in rows]})
        return {
            "items": [
                {
                    "a": a,
                    "b": b,
                    "entity_a": ea,
                    "entity_b": eb,
                    "weight": w,
                    "probability": p,
                    "reason": _KNOWN_PEOPLE.sub(_FITS_SEVERAL, reason),
                    "impact": int(impact),
                    "source_a": sa,
                    "source_b": sb,
                    "pairs": int(pairs),
                }
                for a, b, ea, eb, w, p, reason, impact, sa, sb, pairs in rows
            ],
            "total": total,
            "record_pairs": record_pairs,
            "next": offset + limit if offset + limit < total else None,
        }

    def visible_refs(self, refs: list[str]) -> set[str]:
        """Of decision sides (mention or entity ids), those that exist and that the
        principal may see whole (every mention of an entity)."""
        self._resolved()
        rows = self.con.execute(
            "SELECT q.ref, m.mention_id, EXISTS (SELECT 1 FROM (SELECT m.mention_id AS mid) z "
            + seen("x", "z.mid")
            + ") FROM (SELECT unnest($r::VARCHAR[]) AS ref) q "
            "JOIN (SELECT mention_id, mention_id AS ref FROM mentions WHERE deleted_at IS NULL "
            "      UNION ALL SELECT mention_id, entity_id FROM entity_membership) m "
            "  ON m.ref = q.ref",
            {"r": list(dict.fromkeys(refs))},
        ).fetchall()
        ok: dict[str, bool] = {}
        for ref, _m, visible in rows:
            ok[ref] = ok.get(ref, True) and bool(visible)
        return {ref for ref, v in ok.items() if v}

    def decide(self, kind: str, a: str, b: str, *, reason: str, entity_type: str) -> dict[str, Any]:
        """Record that A and B are (not) the same; applied from the next resolve."""
        self.grant("decision.make")
        if kind not in ("same", "different"):
            raise Problem(400, "a decision is 'same' or 'different'")
        visible = self.visible_refs([a, b])
        for ref in (a, b):
            if ref not in visible:
                raise not_found(ref[:200])
        try:
            d = self.state.add_decision(
                kind,  # type: ignore[arg-type]
                entity_type,
                a,
                b,
                by=self.principal.username,
                reason=reason,
                client=self.client,
            )
        except ValueError as exc:
            raise Problem(400, str(exc)) from None
        return decision_json(d)

    def decisions(self) -> dict[str, Any]:
        grant = self.grant("review.view")
        every = self.state.decisions()
        visible = self.visible_refs([r for d in every for r in (d.a, d.b)]) if every else set()
        items = [decision_json(d) for d in every if d.a in visible and d.b in visible]
        self.audit(grant, action="decision.list", detail={"decisions": [i["id"] for i in items]})
        return {"items": items}

    def revoke(self, decision_id: int, *, reason: str) -> dict[str, Any]:
        self.grant("decision.make")
        found = [d for d in self.state.decisions(active_only=False) if d.id == decision_id]
        if not found or self.visible_refs([found[0].a, found[0].b]) != {found[0].a, found[0].b}:
            raise not_found(f"decision #{decision_id}")
        try:
            d = self.state.revoke_decision(
                decision_id, by=self.principal.username, reason=reason, client=self.client
            )
        except (LookupError, ValueError) as exc:
            raise Problem(409, str(exc).strip("'\"")) from None
        return decision_json(d)


def _listed(tables: dict[str, Any]) -> dict[str, Any]:
    """The incidents a KPI answer lists one by one (the breaches), for the audit event."""
    breaches = tables.get("breaches")
    if breaches is None or not breaches.rows:
        return {}
    at = breaches.columns.index("reference")
    return {"incidents": [row[at] for row in breaches.rows]}


def decision_json(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "kind": d.kind,
        "entity_type": d.entity_type,
        "a": d.a,
        "b": d.b,
        "by": d.by,
        "reason": d.reason,
        "created_at": _text(d.created_at),
        "revoked": d.revoked_at is not None,
    }


def _label_from(fields: dict[str, Any], entity_type: str) -> str:
    """A display label from field -> value (or -> [{value, chosen}...])."""

    def one(name: str) -> str | None:
        value = fields.get(name)
        if isinstance(value, list):
            chosen = [v["value"] for v in value if v.get("chosen")] or [v["value"] for v in value]
            return chosen[0] if chosen else None
        return value

    if entity_type == "person":
        parts = [one("forenames"), one("surname")]
        return " ".join(p for p in parts if p) or "(no name)"
    for name in ("vrm", "number", "address", "location", "name"):
        if one(name):
            return str(one(name))
    return f"({entity_type})"


def _communities(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Community number of each node (Louvain, igraph); 0 for a graph without edges."""
    if not edges:
        return {}
    import igraph as ig

    index = {n: i for i, n in enumerate(nodes)}
    graph = ig.Graph(n=len(nodes), edges=[(index[a], index[b]) for a, b in edges])
    parts = graph.community_multilevel()
    return {nodes[i]: c for c, members in enumerate(parts) for i in members}


def search_audit(result: SearchResult) -> dict[str, Any]:
    """What a search's audit event records: the query, the entity ids shown, the
    count, the index build and any restricted-information notices."""
    return {
        "query": result.query.raw,
        "results": [h.entity_id for h in result.hits],
        "total": result.total,
        "index": result.index,
        **({"notices": result.notices} if result.notices else {}),
    }


def search_json(result: SearchResult) -> dict[str, object]:
    """The JSON form of a search result (the CLI's --json and the API)."""
    q = {
        k: v
        for k, v in dataclasses.asdict(result.query).items()
        if v not in (None, [], "") and k != "raw"
    }
    for key in ("date_from", "date_to"):
        if key in q:
            q[key] = str(q[key])
    if result.query.dob is not None:
        q["dob"] = result.query.dob.term
    return {
        "query": result.query.raw,
        "understood": q,
        "total": result.total,
        "total_exact": result.total_exact,
        "offset": result.offset,
        "limit": result.limit,
        "took_ms": round(result.took_ms, 2),
        "index": result.index,
        "facets": result.facets,
        "restricted": result.notices,
        "hits": [
            {
                "id": h.entity_id,
                "kind": h.kind,
                "label": h.label,
                "score": h.score,
                "matched": [dataclasses.asdict(m) for m in h.matched],
                **({"snippet": h.snippet} if h.snippet else {}),
                "marking": h.show.get("m"),
                "handling": h.show.get("h", []),
                "warnings": h.show.get("w", []),
                "record": h.show,
            }
            for h in result.hits
        ],
    }


def _flagged_people(
    rows: list[Any], labels: dict[str, tuple[str, str]], key: str
) -> list[dict[str, Any]]:
    """The people flagged on one line or site: rows of (key, entity, role, evidence)."""
    return [
        {
            "id": r[1],
            "label": labels.get(r[1], ("person", r[1]))[1],
            "role": r[2],
            "evidence": r[3],
        }
        for r in rows
        if r[0] == key
    ]
