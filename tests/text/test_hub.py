"""Extraction over a resolved hub: links checked against the synthetic truth, labels
carried from each document's record."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from peelian.analyse.graph import build_graph
from peelian.hub import TEXT_SOURCE, Hub, drop_text_mentions
from peelian.index.documents import entity_groups
from peelian.resolve.run import resolve
from peelian.text.hub import evaluate_links, extract_hub, sentence_of


@pytest.fixture(scope="module")
def extracted(resolved: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    hub_path = tmp_path_factory.mktemp("extract") / "hub"
    shutil.copytree(resolved, hub_path)
    with Hub(hub_path) as hub:
        hub.con.execute("BEGIN")
        summary = extract_hub(hub.con)
        hub.con.execute("COMMIT")
    assert summary.documents > 1000
    assert summary.linked > 0
    return hub_path


def test_names_in_reports_link_to_the_right_people(extracted: Path, force: Path) -> None:
    with Hub(extracted, read_only=True) as hub:
        score = evaluate_links(hub.con, force / "truth")
    assert score.found > 0.9 * score.gold
    assert score.accuracy >= 0.9
    assert score.precision >= 0.98


def test_every_extracted_fact_carries_its_documents_label(extracted: Path) -> None:
    with Hub(extracted, read_only=True) as hub:
        wrong = hub.con.execute(
            """SELECT count(*) FROM text_mentions t
               JOIN mentions m ON m.mention_id = t.document
               JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
               WHERE t.marking IS DISTINCT FROM sr.marking
                  OR t.compartment IS DISTINCT FROM sr.compartment
                  OR t.sharing_roles IS DISTINCT FROM sr.sharing_roles"""
        ).fetchall()[0][0]
        compartments = hub.con.execute(
            "SELECT count(*) FROM text_mentions WHERE compartment IS NOT NULL"
        ).fetchall()[0][0]
        outside = hub.con.execute(
            """SELECT count(*) FROM text_mentions
               WHERE position(regexp_replace(text, '\\s+', ' ', 'g') IN sentence) = 0"""
        ).fetchall()[0][0]
    assert wrong == 0
    assert compartments > 0  # operations' reports are extracted, under their compartment
    assert outside == 0


def test_a_sentence_is_cut_at_its_ends() -> None:
    text = "First one. Kyle BARRETT was seen\nin a car. Last one."
    start = text.index("Kyle")
    assert sentence_of(text, start, start + 12) == "Kyle BARRETT was seen in a car."
    long = "word " * 200 + "TARGET " + "word " * 200
    at = long.index("TARGET")
    cut = sentence_of(long, at, at + 6)
    assert "TARGET" in cut
    assert len(cut) <= 330


# -- what documents name, as mentions of the hub (text/mentions.py) -------------------


def _one(hub: Hub, sql: str) -> Any:
    return hub.con.execute(sql).fetchall()[0][0]


def test_linked_names_and_known_objects_join_their_entities(extracted: Path) -> None:
    with Hub(extracted, read_only=True) as hub:
        kinds = dict(
            hub.con.execute(
                f"SELECT kind, count(*) FROM mentions WHERE source = '{TEXT_SOURCE}' GROUP BY 1"
            ).fetchall()
        )
        # a linked person is a member of the entity the linker chose
        misplaced = _one(
            hub,
            """SELECT count(*) FROM text_mentions t
               JOIN entity_membership e ON e.mention_id = t.document || '#t' || t.span
               WHERE t.type = 'person' AND e.entity_id IS DISTINCT FROM t.entity_id""",
        )
        linked = _one(
            hub,
            """SELECT count(*) FROM text_mentions t
               JOIN entity_membership e ON e.mention_id = t.document || '#t' || t.span
               WHERE t.type = 'person'""",
        )
        # a phone joins the entity of its number, a plate the entity of its plate
        wrong_key = _one(
            hub,
            f"""SELECT count(*) FROM phone p JOIN mentions m USING (mention_id)
                JOIN entity_membership e USING (mention_id)
                WHERE m.source = '{TEXT_SOURCE}' AND NOT EXISTS (
                    SELECT 1 FROM golden_values g WHERE g.entity_id = e.entity_id
                      AND g.field = 'number' AND g.value = p.number)""",
        )
        attached = dict(
            hub.con.execute(
                f"""SELECT e.entity_type, count(*) FROM entity_membership e
                    JOIN mentions m USING (mention_id) WHERE m.source = '{TEXT_SOURCE}'
                    GROUP BY 1"""
            ).fetchall()
        )
        # a document open to more readers than an entity's records joins it only when
        # the entity is a party to the document's own record
        leaks = _one(
            hub,
            f"""SELECT count(*) FROM entity_membership e
                JOIN mentions m USING (mention_id)
                JOIN source_rows d ON d.source = m.source AND d.row_id = m.row_id
                JOIN text_mentions t ON t.document || '#t' || t.span = e.mention_id
                WHERE m.source = '{TEXT_SOURCE}' AND coalesce(t.rule, '') <> 'record'
                  AND coalesce(trim(d.compartment), '') = ''
                  AND EXISTS (
                    SELECT 1 FROM entity_membership o JOIN mentions om USING (mention_id)
                    JOIN source_rows r ON r.source = om.source AND r.row_id = om.row_id
                    WHERE o.entity_id = e.entity_id AND om.source <> '{TEXT_SOURCE}'
                      AND trim(r.compartment) <> '')""",
        )
        # nothing found only in documents makes an entity
        text_only = _one(
            hub,
            f"""SELECT count(*) FROM entities WHERE sources = ['{TEXT_SOURCE}']""",
        )
        # a value a document gives is one more candidate, traceable, never chosen over a
        # record's value of a single-valued field
        chosen_from_text = _one(
            hub,
            f"""SELECT count(*) FROM golden_values g
                WHERE g.chosen AND g.field IN ('forenames', 'surname', 'address')
                  AND g.sources = ['{TEXT_SOURCE}']
                  AND EXISTS (SELECT 1 FROM golden_values o WHERE o.entity_id = g.entity_id
                      AND o.field = g.field AND NOT list_contains(o.sources, '{TEXT_SOURCE}'))""",
        )
        traced = _one(
            hub,
            f"""SELECT count(*) FROM golden_values g, unnest(g.mentions) AS u(m)
                WHERE list_contains(g.sources, '{TEXT_SOURCE}') AND u.m LIKE '%#t%'""",
        )
    assert kinds["person"] > 100
    assert {"phone", "vehicle", "place"} <= set(kinds)
    assert linked > 100
    assert misplaced == 0
    assert leaks == 0
    assert attached.get("phone", 0) > 0
    assert attached.get("vehicle", 0) > 0
    assert attached.get("address", 0) > 0
    assert wrong_key == 0
    assert text_only == 0
    assert chosen_from_text == 0
    assert traced > 0


def test_what_a_document_names_keeps_its_label(extracted: Path) -> None:
    with Hub(extracted, read_only=True) as hub:
        rows = _one(hub, f"SELECT count(*) FROM source_rows WHERE source = '{TEXT_SOURCE}'")
        wrong = _one(
            hub,
            f"""SELECT count(*) FROM source_rows t
                JOIN mentions d ON d.mention_id = t.row_id
                JOIN source_rows sr ON sr.source = d.source AND sr.row_id = d.row_id
                WHERE t.source = '{TEXT_SOURCE}' AND (
                    t.marking IS DISTINCT FROM sr.marking
                    OR t.compartment IS DISTINCT FROM sr.compartment
                    OR t.handling IS DISTINCT FROM sr.handling
                    OR t.sharing_roles IS DISTINCT FROM sr.sharing_roles)""",
        )
        compartmented = _one(
            hub,
            f"""SELECT count(*) FROM source_rows
                WHERE source = '{TEXT_SOURCE}' AND compartment IS NOT NULL""",
        )
        # the search index holds what an operation's report names under the operation
        # (a bare surname gives the person no new value, so nothing to find them by)
        in_operations = set(
            hub.con.execute(
                f"""SELECT e.entity_id, trim(sr.compartment) FROM entity_membership e
                    JOIN mentions m USING (mention_id)
                    JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
                    WHERE m.source = '{TEXT_SOURCE}' AND trim(sr.compartment) <> ''
                      AND EXISTS (SELECT 1 FROM golden_values g
                                  WHERE list_contains(g.mentions, m.mention_id))"""
            ).fetchall()
        )
        groups = {(g["entity_id"], g["compartment"]) for g in entity_groups(hub.con)}
    assert rows > 100
    assert wrong == 0
    assert compartmented > 0
    assert in_operations
    assert in_operations <= groups


def test_stated_relations_and_names_in_text_reach_the_graph(
    extracted: Path, tmp_path: Path
) -> None:
    hub_path = tmp_path / "hub"
    shutil.copytree(extracted, hub_path)
    with Hub(hub_path) as hub:
        counts = build_graph(hub.con)
        # evidence of a text relation is the two mentions of one document
        foreign = _one(
            hub,
            f"""SELECT count(*) FROM graph_evidence g
                JOIN mentions a ON a.mention_id = g.m_a JOIN mentions b ON b.mention_id = g.m_b
                WHERE g.relation IN ('named_in_text', 'stated_associate_of', 'stated_partner_of')
                  AND a.source = '{TEXT_SOURCE}' AND b.source = '{TEXT_SOURCE}'
                  AND a.record_id <> b.record_id""",
        )
    assert counts.get("named_in_text", 0) > 0
    assert foreign == 0


def test_refreshing_keeps_entity_ids_and_puts_the_text_back(
    extracted: Path, tmp_path: Path
) -> None:
    hub_path = tmp_path / "hub"
    shutil.copytree(extracted, hub_path)
    with Hub(hub_path) as hub:
        before = hub.con.execute(
            "SELECT mention_id, entity_id FROM entity_membership ORDER BY 1"
        ).fetchall()
        resolve(hub)
        # the resolver leaves what documents name alone
        after_resolve = _one(
            hub,
            f"""SELECT count(*) FROM entity_membership e JOIN mentions m USING (mention_id)
                WHERE m.source = '{TEXT_SOURCE}'""",
        )
        hub.con.execute("BEGIN")
        extract_hub(hub.con)
        hub.con.execute("COMMIT")
        after = hub.con.execute(
            "SELECT mention_id, entity_id FROM entity_membership ORDER BY 1"
        ).fetchall()
        history = hub.con.execute(
            "SELECT event, count(*) FROM entity_history"
            " WHERE run_id = (SELECT max(run_id) FROM resolve_runs) GROUP BY 1"
        ).fetchall()
        # a document gone takes what it named with it at the next resolve
        document = _one(hub, f"SELECT min(row_id) FROM source_rows WHERE source = '{TEXT_SOURCE}'")
        hub.con.execute(
            "UPDATE mentions SET deleted_at = now() WHERE mention_id = $d", {"d": document}
        )
        removed = drop_text_mentions(hub.con, stale_only=True)
        left = _one(
            hub,
            f"""SELECT count(*) FROM mentions WHERE source = '{TEXT_SOURCE}'
                AND record_id = '{document}'""",
        )
        # ...and one re-marked by an ingest, since the copy of its label is out of date
        other = _one(hub, f"SELECT min(row_id) FROM source_rows WHERE source = '{TEXT_SOURCE}'")
        hub.con.execute(
            """UPDATE source_rows SET compartment = 'OP NEW', ingested_at = now()
               FROM mentions d WHERE d.mention_id = $d AND source_rows.source = d.source
                 AND source_rows.row_id = d.row_id""",
            {"d": other},
        )
        remarked = drop_text_mentions(hub.con, stale_only=True)
    assert after_resolve == 0
    assert after == before
    assert dict(history) == {}
    assert removed == 1
    assert left == 0
    assert remarked == 1
