"""Extraction over a resolved hub: links checked against the synthetic truth, labels
carried from each document's record."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from peelian.hub import Hub
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
