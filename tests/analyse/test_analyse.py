"""The entity graph, organised crime groups and county lines on the small force, scored
against its truth; the analyse run is all or nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from peelian.analyse import NotResolvedError, analyse
from peelian.analyse.evaluate import entity_people, evaluate_network
from peelian.cli import app
from peelian.hub import Hub

runner = CliRunner()


@pytest.fixture(scope="module")
def person_of(con: duckdb.DuckDBPyConnection, force: Path) -> dict[str, str]:
    return entity_people(con, force / "truth")


def test_every_edge_rests_on_evidence_whose_mentions_belong_to_its_ends(
    con: duckdb.DuckDBPyConnection,
) -> None:
    counted = con.execute("""SELECT count(*), sum(evidence) FROM graph_edges""").fetchone()
    assert counted is not None
    assert counted[1] == con.execute("SELECT count(*) FROM graph_evidence").fetchone()[0]  # type: ignore[index]
    assert con.execute("SELECT count(*) FROM graph_edges WHERE a >= b").fetchone() == (0,)
    # m_a is a mention of a, m_b a mention of b (for every relation)
    wrong = con.execute(
        """SELECT count(*) FROM graph_evidence g
        LEFT JOIN entity_membership ea ON ea.mention_id = g.m_a
        LEFT JOIN entity_membership eb ON eb.mention_id = g.m_b
        WHERE ea.entity_id IS DISTINCT FROM g.a OR eb.entity_id IS DISTINCT FROM g.b"""
    ).fetchone()
    assert wrong == (0,)
    relations = {r for (r,) in con.execute("SELECT DISTINCT relation FROM graph_edges").fetchall()}
    for expected in ("arrested_together", "named_together", "called", "has_phone", "lives_with"):
        assert expected in relations


def test_officers_at_work_are_not_associates_of_the_people_they_dealt_with(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # collar numbers identify the officers (intelligence authors, arresting officers)
    staff = con.execute(
        """SELECT count(*) FROM graph_evidence g
        JOIN person p ON p.mention_id IN (g.m_a, g.m_b)
        WHERE list_contains(list_transform(p.identifiers, lambda x: x.scheme), 'collar_number')"""
    ).fetchone()
    assert staff == (0,)


def test_groups_found_match_the_true_organised_crime_groups(
    con: duckdb.DuckDBPyConnection, force: Path
) -> None:
    result = evaluate_network(con, force / "truth")
    assert result.groups, "the small force has organised crime groups"
    for group in result.groups:
        # every true group is found, and what is reported as its membership is right
        assert group.matched_group is not None, group
        assert group.precision >= 0.9, group
    assert result.member_precision >= 0.9
    assert result.ari > 0.3


def test_every_group_member_has_reasons_and_members_come_before_associates(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute(
        "SELECT group_id, role, rank, reasons FROM network_group_members ORDER BY 1, 3"
    ).fetchall()
    assert rows
    last: dict[str, str] = {}
    for group_id, role, _rank, reasons in rows:
        assert reasons, (group_id, role)
        if last.get(group_id) == "associate":
            assert role == "associate", "a member ranked after an associate"
        last[group_id] = role
    assert "in phone contact" in " ".join(r[3] for r in rows)
    for (reasons,) in con.execute("SELECT reasons FROM network_groups").fetchall():
        assert "members in contact by phone or vehicle" in reasons


def test_every_true_county_line_is_found_with_its_handsets_in_order(
    con: duckdb.DuckDBPyConnection, force: Path
) -> None:
    lines = json.loads((force / "truth" / "county_lines.json").read_text(encoding="utf-8"))
    result = evaluate_network(con, force / "truth")
    assert result.line_recall.total == len(lines)
    assert result.line_recall.value == 1.0
    assert result.line_precision.value == 1.0
    assert result.runner_recall.value >= 0.8
    handsets = con.execute(
        "SELECT line_id, list(first_seen::VARCHAR ORDER BY handset) FROM county_line_phones "
        "GROUP BY 1"
    ).fetchall()
    for _line, firsts in handsets:
        assert firsts == sorted(firsts)


def test_every_flag_says_why_in_words_and_names_its_records(
    con: duckdb.DuckDBPyConnection,
) -> None:
    for (evidence,) in con.execute("SELECT evidence FROM county_line_phones").fetchall():
        assert "distinct numbers" in evidence
        assert "bulk texts" in evidence
    for table in ("county_line_phones", "county_line_people", "county_line_addresses"):
        empty = con.execute(
            f"SELECT count(*) FROM {table} WHERE len(mentions) = 0 OR evidence = ''"
        ).fetchone()
        assert empty == (0,), table
    runner_evidence = [
        e for (e,) in con.execute("SELECT evidence FROM county_line_runners").fetchall()
    ]
    assert any("market" in e or "named with the line's controller" in e for e in runner_evidence)


def test_runners_are_children_and_controllers_adults(
    con: duckdb.DuckDBPyConnection, person_of: dict[str, str], force: Path
) -> None:
    import datetime as dt

    born = {
        str(p): d
        for p, d in con.execute(
            "SELECT person_id, date_of_birth FROM read_parquet($f)",
            {"f": str(force / "truth" / "people.parquet")},
        ).fetchall()
    }
    start = dt.date(2024, 1, 1)
    for entity_id, role in con.execute("SELECT entity_id, role FROM county_line_people").fetchall():
        dob = born.get(person_of.get(entity_id, ""))
        if dob is None:
            continue
        age_at_start = (start - dob).days / 365.25
        if role == "controller":
            assert age_at_start >= 17, entity_id
        else:
            assert age_at_start < 19, entity_id


def test_a_failed_analyse_leaves_the_previous_results(
    resolved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_path = tmp_path / "hub"
    shutil.copytree(resolved, hub_path)
    with Hub(hub_path) as hub:
        before = hub.con.execute("SELECT count(*) FROM graph_evidence").fetchone()
        groups = hub.con.execute("SELECT count(*) FROM network_groups").fetchone()
        hub.con.execute("DELETE FROM links WHERE type = 'CALLED'")  # a different graph

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("county lines failed")

        monkeypatch.setattr("peelian.analyse.find_county_lines", broken)
        with pytest.raises(RuntimeError, match="county lines failed"):
            analyse(hub.con)
        assert hub.con.execute("SELECT count(*) FROM graph_evidence").fetchone() == before
        assert hub.con.execute("SELECT count(*) FROM network_groups").fetchone() == groups


def test_an_unresolved_hub_is_refused_clearly(tmp_path: Path) -> None:
    with Hub(tmp_path / "hub", create=True) as hub, pytest.raises(NotResolvedError):
        analyse(hub.con)
    result = runner.invoke(app, ["analyse", "--hub", str(tmp_path / "hub")])
    assert result.exit_code == 2
    assert "run `peelian resolve` first" in result.output


def test_the_cli_analyses_and_scores_against_the_truth(
    resolved: Path, force: Path, tmp_path: Path
) -> None:
    hub_path = tmp_path / "hub"
    shutil.copytree(resolved, hub_path)
    result = runner.invoke(app, ["analyse", "--hub", str(hub_path)])
    assert result.exit_code == 0, result.output
    assert "likely organised crime groups" in result.output
    scored = runner.invoke(
        app, ["eval", "network", "--hub", str(hub_path), "--truth", str(force / "truth")]
    )
    assert scored.exit_code == 0, scored.output
    assert "member precision" in scored.output
    assert "line recall" in scored.output
    missing = runner.invoke(
        app, ["eval", "network", "--hub", str(hub_path), "--truth", str(tmp_path / "nope")]
    )
    assert missing.exit_code == 2
    assert "no such folder" in missing.output


@pytest.mark.parametrize("command", [["analyse"], ["eval", "network"], ["bench", "network"]])
def test_analyse_commands_have_help_with_an_example(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_a_flag_names_a_record_of_every_label_its_words_count(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # "named with the line's controller in N intelligence reports" (a runner) and "named
    # with the line's runners or controller in N intelligence reports" (a cuckooed adult):
    # every one of those N reports' security labels is among the row's records, so a
    # reader who may not see one of them is not shown the row (the server withholds it).
    # Labels of every record: a row may rest on a report's subject record rather than the
    # report itself, or on another record under the same label (one record per label is
    # what the server needs the reader to see).
    label_of = dict(
        con.execute(
            """SELECT m.mention_id, concat_ws('|', sr.marking, coalesce(sr.compartment, ''))
            FROM mentions m JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id"""
        ).fetchall()
    )
    flags = [
        # (the flags, the roles of the line's people they were named with)
        ("""SELECT line_id, entity_id, mentions FROM county_line_people
            WHERE role = 'runner' AND evidence LIKE '%named with the line''s controller%'""",
         ("controller",)),
        ("""SELECT line_id, person_entity, mentions FROM county_line_addresses
            WHERE evidence LIKE '%named with the line''s runners or controller%'""",
         ("controller", "runner", "handler")),
    ]  # fmt: skip
    checked = 0
    for flagged, roles in flags:
        for line_id, person, mentions in con.execute(flagged).fetchall():
            with_whom = [
                p
                for (p,) in con.execute(
                    "SELECT entity_id FROM county_line_people WHERE line_id = $l "
                    "AND role IN (SELECT unnest($r::VARCHAR[]))",
                    {"l": line_id, "r": list(roles)},
                ).fetchall()
            ]
            reports = {
                r
                for (r,) in con.execute(
                    """SELECT m_via FROM graph_evidence WHERE relation = 'named_together'
                    AND ((a = $p AND b IN (SELECT unnest($c::VARCHAR[])))
                      OR (b = $p AND a IN (SELECT unnest($c::VARCHAR[]))))""",
                    {"p": person, "c": with_whom},
                ).fetchall()
            }
            needed = {label_of[r] for r in reports}
            have = {label_of[m] for m in mentions if m in label_of}
            assert needed <= have, (line_id, person, needed - have)
            checked += 1
    assert checked, "the small force has flags counting intelligence reports"
