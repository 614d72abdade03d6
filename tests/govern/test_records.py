"""The policy applied to hub records: an entity's explanation cut down to the
mentions a user may see."""

from __future__ import annotations

from pathlib import Path

from peelian.govern.policy import Principal
from peelian.govern.records import visible_explanation, visible_mentions
from peelian.hub import Hub
from peelian.resolve.explain import explain_entity

OUTSIDER = Principal("pc_1", "investigator", "SC")
MEMBER = Principal("dc_2", "investigator", "SC", operations=frozenset({"OP KESTREL"}))
LOW = Principal("pc_3", "response_officer", "NPPV1")


def test_an_explanation_shows_only_what_its_reader_may_see(resolved: Path) -> None:
    with Hub(resolved, read_only=True) as hub:
        con = hub.con
        # A person entity with mentions both inside and outside the operation.
        row = con.execute(
            """SELECT e.entity_id FROM entity_membership e JOIN mentions m USING (mention_id)
               JOIN source_rows s ON s.source = m.source AND s.row_id = m.row_id
               WHERE e.entity_type = 'person'
               GROUP BY 1
               HAVING bool_or(s.compartment = 'OP KESTREL') AND bool_or(s.compartment IS NULL)
               ORDER BY 1 LIMIT 1"""
        ).fetchone()
        assert row is not None
        full = explain_entity(con, row[0])
        hidden = {
            m
            for (m,) in con.execute(
                """SELECT m.mention_id FROM mentions m JOIN source_rows s
                   ON s.source = m.source AND s.row_id = m.row_id
                   WHERE s.compartment = 'OP KESTREL' AND m.mention_id IN
                   (SELECT unnest($ids::VARCHAR[]))""",
                {"ids": [m for m, _ in full.mentions]},
            ).fetchall()
        }
        assert hidden
        seen_by_member = visible_explanation(con, MEMBER, full)
        seen_by_outsider = visible_explanation(con, OUTSIDER, full)
        visible_to_low = visible_mentions(con, LOW, [m for m, _ in full.mentions])
    assert seen_by_member is not None
    assert seen_by_outsider is not None
    assert len(seen_by_member.mentions) == len(full.mentions)
    assert {m for m, _ in seen_by_outsider.mentions} == {m for m, _ in full.mentions} - hidden
    for _, _, _, _, mentions in seen_by_outsider.golden:
        assert mentions
        assert not set(mentions) & hidden
    for a, b, _, _ in seen_by_outsider.edges:
        assert a not in hidden
        assert b not in hidden
    # values only the operation's records gave are not shown to the outsider
    only_hidden = {(f, v) for f, v, _, _, ms in full.golden if set(ms) <= hidden}
    assert not only_hidden & {(f, v) for f, v, _, _, _ in seen_by_outsider.golden}
    # merges and splits name other entities: not shown to a partial reader
    assert all(not related for _, _, related in seen_by_outsider.history)
    hidden_sources = {s for m, s in full.mentions if m in hidden}
    only_hidden_sources = hidden_sources - {s for m, s in seen_by_outsider.mentions}
    for _, _, chosen, sources, _ in seen_by_outsider.golden:
        assert not chosen  # the choice weighed records the outsider may not see
        assert not set(sources) & only_hidden_sources
    assert visible_to_low <= {m for m, _ in seen_by_outsider.mentions}


def test_decisions_need_both_sides_visible_and_hidden_ones_look_missing(
    resolved: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from peelian.cli import app
    from tests.conftest import add_accounts

    state = str(tmp_path / "state.db")
    add_accounts(state, ("sup_1", "supervisor", "NPPV3"))
    with Hub(resolved, read_only=True) as hub:
        hidden, open_ = (
            hub.con.execute(
                f"""SELECT min(m.mention_id) FROM mentions m JOIN source_rows s
                    ON s.source = m.source AND s.row_id = m.row_id
                    WHERE m.kind = 'person' AND s.compartment {test}"""
            ).fetchone()[0]  # type: ignore[index]
            for test in ("= 'OP KESTREL'", "IS NULL AND len(coalesce(s.sharing_roles, [])) = 0")
        )
    runner = CliRunner()
    answers = []
    for ref in (hidden, "person:NO-SUCH-RECORD"):
        result = runner.invoke(
            app,
            ["decide", "same", ref, open_, "--hub", str(resolved), "--state", state,
             "--by", "sup_1", "--reason", "same custody photograph"],
        )  # fmt: skip
        assert result.exit_code == 2
        answers.append(result.output.replace(ref, "REF"))
    assert answers[0] == answers[1]
    assert "no such mention or entity" in answers[0]
