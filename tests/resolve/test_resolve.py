"""Resolve end to end on a small synthetic force: entities, stable IDs, decisions,
explanations, evaluation and the CLI contracts."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from tests.conftest import add_accounts
from typer.testing import CliRunner

from peelian.cli import app
from peelian.hub import TEXT_SOURCE, Hub
from peelian.ingest import ingest_mapping
from peelian.resolve.evaluate import evaluate
from peelian.resolve.run import resolve
from peelian.sources.mapping import load_mapping
from peelian.state import State

runner = CliRunner()


def copy_hub(hub: Path, tmp_path: Path) -> Path:
    target = tmp_path / "hub"
    shutil.copytree(hub, target)
    return target


def person_ids(hub: Hub) -> dict[str, str]:
    """The records' person mentions and their entities (what a document names joins
    them at the next extract, not at a resolve)."""
    rows = hub.con.execute(
        "SELECT e.mention_id, e.entity_id FROM entity_membership e"
        " JOIN mentions m USING (mention_id)"
        " WHERE e.entity_type = 'person' AND m.source <> $text",
        {"text": TEXT_SOURCE},
    ).fetchall()
    return {str(m): str(e) for m, e in rows}


def test_every_live_mention_of_a_resolvable_kind_has_exactly_one_entity(resolved: Path) -> None:
    # records' mentions, that is: what a document names joins an entity only where the
    # extract could place it (text/mentions.py), and nothing else does
    with Hub(resolved, read_only=True) as hub:
        missing = hub.con.execute(
            f"""SELECT count(*) FROM mentions m
               WHERE m.kind IN ('person', 'vehicle', 'phone', 'place', 'organisation')
                 AND m.deleted_at IS NULL AND m.source <> '{TEXT_SOURCE}'
                 AND m.mention_id NOT IN (SELECT mention_id FROM entity_membership)"""
        ).fetchall()[0][0]
        doubled = hub.con.execute(
            "SELECT count(*) FROM (SELECT mention_id FROM entity_membership GROUP BY 1"
            " HAVING count(*) > 1)"
        ).fetchall()[0][0]
        orphans = hub.con.execute(
            "SELECT count(*) FROM entities WHERE entity_id NOT IN"
            " (SELECT entity_id FROM entity_membership)"
        ).fetchall()[0][0]
    assert (missing, doubled, orphans) == (0, 0, 0)


def test_the_synthetic_force_resolves_with_high_precision_and_twins_kept_apart(
    resolved: Path, force: Path
) -> None:
    with Hub(resolved) as hub:
        result = evaluate(hub.con, force / "truth")
    assert result.overall.precision >= 0.99
    assert result.overall.bcubed_precision >= 0.99
    # Merged people are fewer than mentions: the resolver does merge.
    assert result.overall.predicted_entities < result.overall.mentions * 0.9
    checks = {c.name: c for c in result.kept_apart}
    assert checks["twins"].pairs > 0
    assert checks["twins"].rate >= 0.95
    assert set(result.per_source) >= {"crime", "custody", "incidents"}
    assert set(result.hard_cases) >= {"twins", "common names"}


def test_every_golden_value_traces_back_to_the_mentions_that_gave_it(resolved: Path) -> None:
    with Hub(resolved, read_only=True) as hub:
        bad = hub.con.execute(
            """SELECT count(*) FROM (SELECT entity_id, unnest(mentions) AS mention_id
                                     FROM golden_values) g
               LEFT JOIN entity_membership e USING (mention_id)
               WHERE e.entity_id IS DISTINCT FROM g.entity_id"""
        ).fetchall()[0][0]
        chosen = hub.con.execute(
            """SELECT count(*) FROM (SELECT entity_id, field FROM golden_values
               WHERE chosen AND field IN ('surname', 'date_of_birth') GROUP BY ALL
               HAVING count(*) > 1)"""
        ).fetchall()[0][0]
    assert bad == 0
    assert chosen == 0  # one chosen value per single-valued field


def test_resolving_again_without_changes_keeps_every_id(resolved: Path, tmp_path: Path) -> None:
    hub_path = copy_hub(resolved, tmp_path)
    with Hub(hub_path) as hub:
        before = person_ids(hub)
        summary = resolve(hub)
        after = person_ids(hub)
    assert after == before
    assert not {"merged", "split", "created", "retired"} & set(summary.history)


def test_a_refresh_with_new_and_changed_rows_keeps_entity_ids(
    resolved: Path, force: Path, tmp_path: Path
) -> None:
    """1% new crime nominals and 0.5% changed ones: at least 99.5% of people keep their ID."""
    hub_path = copy_hub(resolved, tmp_path)
    moved = tmp_path / "force"
    shutil.copytree(force, moved)
    crime = moved / "sources" / "crime" / "crime_records.csv"
    with crime.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    name = header.index("NOMINAL_NAME") if "NOMINAL_NAME" in header else None
    ref = header.index("CRIME_REF")
    good = [r for r in rows if len(r) == len(header)]
    new = [[*r] for r in good[: max(1, len(good) // 100)]]
    for r in new:
        r[ref] = r[ref].replace("/", "/9", 1)  # a new crime reference
    for r in good[len(good) // 2 : len(good) // 2 + max(1, len(good) // 200)]:
        if name is not None:
            r[name] = r[name] + "E"  # a typo corrected the other way
    with crime.open("w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([*good, *new])
    with Hub(hub_path) as hub:
        before = person_ids(hub)
        ingest_mapping(hub, load_mapping(moved / "mappings" / "crime.yaml"))
        resolve(hub)
        after = person_ids(hub)
    old_entities = set(before.values())
    kept = old_entities & set(after.values())
    assert len(kept) / len(old_entities) >= 0.995
    assert len(after) > len(before)  # the new nominals belong to entities too


def test_analyst_decisions_are_applied_and_survive_a_full_refresh(
    resolved: Path, tmp_path: Path
) -> None:
    hub_path = copy_hub(resolved, tmp_path)
    state = State.open(tmp_path / "state.db")
    with Hub(hub_path) as hub:
        big = hub.con.execute(
            # an entity with no partner records (an analyst may not see those)
            """SELECT entity_id, list(mention_id ORDER BY mention_id) FROM entity_membership
               JOIN person USING (mention_id) JOIN mentions mm USING (mention_id)
               WHERE entity_type = 'person' AND surname IS NOT NULL AND mm.source <> 'text'
                 AND entity_id NOT IN (
                     SELECT e.entity_id FROM entity_membership e JOIN mentions m USING (mention_id)
                     JOIN source_rows r ON r.source = m.source AND r.row_id = m.row_id
                     WHERE len(coalesce(r.sharing_roles, [])) > 0)
               GROUP BY 1 HAVING count(*) >= 3
               ORDER BY count(*) DESC, entity_id LIMIT 1"""
        ).fetchall()[0]
        entity, members = str(big[0]), list(big[1])
        loners = [
            str(e)
            for (e,) in hub.con.execute(
                """SELECT entity_id FROM entity_membership WHERE entity_type = 'person'
                   GROUP BY 1 HAVING count(*) = 1 ORDER BY entity_id LIMIT 2"""
            ).fetchall()
        ]
    state.close()
    add_accounts(tmp_path / "state.db", ("analyst1", "intelligence_analyst", "SC"))
    with State.open(tmp_path / "state.db") as opened:  # briefed into the force's operations
        for operation in ("OP KESTREL", "OP TIDEWATER"):
            opened.accounts.add_team(f"{operation} team", by="test-setup")
            opened.accounts.add_member("analyst1", f"{operation} team", by="test-setup")
            opened.accounts.add_operation(operation, f"{operation} team", by="test-setup")
    for kind, a, b in (("different", members[0], entity), ("same", loners[0], loners[1])):
        result = runner.invoke(
            app,
            [
                "decide",
                kind,
                a,
                b,
                "--hub",
                str(hub_path),
                "--state",
                str(tmp_path / "state.db"),
                "--by",
                "analyst1",
                "--reason",
                "checked the custody photo",
            ],
        )
        assert result.exit_code == 0, result.output
    state = State.open(tmp_path / "state.db")
    made = state.find_audit(action="match_decision.add")
    assert len(made) == 2
    assert all(e.client and e.client.startswith("cli") for e in made)
    with Hub(hub_path) as hub:
        for _ in range(2):  # applied, then again on the next refresh
            summary = resolve(hub, decisions=state.decisions())
            ids = person_ids(hub)
            assert summary.decision_problems == []
            assert summary.decisions_applied == 2
            # the mention shares an entity with none of the entity's other mentions
            assert ids[members[0]] not in {ids[m] for m in members[1:]}
            merged = hub.con.execute(
                "SELECT count(DISTINCT entity_id) FROM entity_membership WHERE mention_id IN"
                " (SELECT mention_id FROM entity_membership WHERE entity_id IN ($a, $b))",
                {"a": loners[0], "b": loners[1]},
            ).fetchall()
            # the two loners' mentions now share one entity (one of the two IDs survives)
            assert merged[0][0] in (1, 2)
            same = {ids[m] for m, e in ids.items() if e in loners}
            assert len(same) == 1
    state.close()


def test_cli_contracts_export_eval_explain_and_review(
    resolved: Path, force: Path, tmp_path: Path
) -> None:
    out = tmp_path / "memberships.csv"
    state = str(tmp_path / "state.db")
    add_accounts(
        state, ("analyst1", "intelligence_analyst", "SC"), ("pc_1", "response_officer", "NPPV1")
    )
    as_analyst = ["--state", state, "--user", "analyst1"]
    purpose = ["--purpose", "reason data_quality: checking the merge of two records"]
    result = runner.invoke(
        app,
        ["export", "memberships", "--hub", str(resolved), "--out", str(out), *as_analyst, *purpose],
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["source", "source_record_id", "entity_type", "entity_id"]
    assert {r[2] for r in rows[1:]} >= {"person", "vehicle", "phone", "address"}

    result = runner.invoke(
        app, ["eval", "resolve", "--hub", str(resolved), "--truth", str(force / "truth"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"precision"' in result.output
    assert '"twins"' in result.output

    with Hub(resolved, read_only=True) as hub:
        entity, a, b = hub.con.execute(
            """SELECT entity_id, mention_l, mention_r FROM match_edges WHERE via = 'model'
               ORDER BY match_weight DESC, entity_id LIMIT 1"""
        ).fetchall()[0]
    explain = ["explain", "--hub", str(resolved)]
    result = runner.invoke(app, [*explain, str(entity), *as_analyst, *purpose])
    assert result.exit_code == 0, result.output
    assert "golden record" in result.output
    result = runner.invoke(app, [*explain, str(a), str(b), *as_analyst, *purpose])
    assert result.exit_code == 0, result.output
    assert "merged directly (model)" in result.output
    assert "first_name" in result.output
    # no purpose, or a role without the permission: refused, and audited
    result = runner.invoke(app, [*explain, str(entity), *as_analyst])
    assert result.exit_code == 2
    assert "purpose of access is required" in result.output
    result = runner.invoke(
        app, [*explain, str(entity), "--state", state, "--user", "pc_1", *purpose]
    )
    assert result.exit_code == 2
    assert "may not see why records were merged" in result.output

    result = runner.invoke(app, ["review", "--hub", str(resolved), "--limit", "5", *as_analyst])
    assert result.exit_code == 0, result.output
    assert "review queue" in result.output
    with State.open(state) as opened:
        actions = [(e.actor, e.action, e.outcome[:7]) for e in opened.audit_events()]
        assert opened.verify_audit().ok
    assert [a for a in actions if a[0] != "test-setup"] == [
        ("analyst1", "export", "ok"),
        ("analyst1", "entity.explain", "ok"),
        ("analyst1", "entity.explain", "ok"),
        ("analyst1", "entity.explain", "refused"),
        ("pc_1", "entity.explain", "refused"),
        ("analyst1", "review.view", "ok"),
    ]


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    result = runner.invoke(app, ["resolve", "--hub", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "not a Peelian hub" in result.output
    result = runner.invoke(app, ["explain", "--hub", str(tmp_path / "nowhere"), "P1"])
    assert result.exit_code == 2
