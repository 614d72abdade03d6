"""`peelian users` and `peelian audit`: bootstrap, policy checks on every command,
refusals audited, tamper detection by `audit verify`, views by user and entity,
exports."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peelian.cli import app
from peelian.hub import Hub
from peelian.state import State
from peelian.state.accounts import AuthenticationError
from tests.state.test_state_audit import tamper

runner = CliRunner()
PASSWORD = "a long enough passphrase"


def run(hub: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--hub", str(hub)], input=stdin)
    return result.exit_code, result.output


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    """A hub folder whose state has an administrator, an auditor and two officers."""
    hub = tmp_path / "hub"
    code, out = run(
        hub, "users", "add", "admin", "--name", "Admin", "--role", "administrator",
        "--vetting", "SC", "--by", "admin", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, out
    for username, role in (
        ("auditor1", "auditor"),
        ("pc_1", "response_officer"),
        ("dc_2", "investigator"),
    ):
        code, out = run(
            hub, "users", "add", username, "--name", username, "--role", role,
            "--vetting", "NPPV2", "--by", "admin", "--no-password",
        )  # fmt: skip
        assert code == 0, out
    return hub


def test_the_first_account_must_be_an_administrator_adding_itself(tmp_path: Path) -> None:
    code, out = run(
        tmp_path / "hub", "users", "add", "pc_1", "--name", "PC", "--role", "response_officer",
        "--vetting", "NPPV2", "--by", "pc_1", "--no-password",
    )  # fmt: skip
    assert code == 2
    assert "first account must be an administrator" in out


def test_only_administrators_manage_users_and_refusals_are_audited(hub: Path) -> None:
    code, out = run(hub, "users", "set-role", "pc_1", "supervisor", "--by", "pc_1")
    assert code == 2
    assert "may not manage user accounts" in out
    code, out = run(hub, "users", "set-role", "pc_1", "supervisor", "--by", "ghost")
    assert code == 2
    assert "not an enabled user" in out
    code, out = run(hub, "users", "set-role", "pc_1", "constable", "--by", "admin")
    assert code == 2
    assert "unknown role" in out
    code, out = run(hub, "users", "add-team", "dc_2", "Kestrel team", "--by", "admin", "--create")
    assert code == 0, out
    code, out = run(
        hub, "users", "add-operation", "op kestrel", "--team", "Kestrel team", "--by", "admin"
    )
    assert code == 0, out
    assert "OP KESTREL" in out
    code, out = run(hub, "users", "list", "--by", "admin", "--json")
    assert code == 0, out
    listed = {u["username"]: u for u in json.loads(out)}
    assert listed["dc_2"]["teams"] == ["Kestrel team"]
    assert listed["admin"]["password"] is True
    with State.open(str(hub / "state.db")) as state:
        refused = [e for e in state.audit_events() if e.outcome.startswith("refused")]
        principal = state.accounts.principal("dc_2")
    assert [(e.actor, e.action) for e in refused] == [
        ("pc_1", "users.manage"),
        ("ghost", "users.manage"),
    ]
    assert principal.operations == {"OP KESTREL"}


def test_an_administrator_binds_and_unbinds_a_provider_identity(hub: Path) -> None:
    issuer, subject = "https://idp.force.example", "f81d4fae-7dec-11d0"
    code, out = run(
        hub, "users", "bind-identity", "admin", "--issuer", issuer, "--subject", subject,
        "--by", "admin",
    )  # fmt: skip
    assert code == 0, out
    assert f"signs in as {subject} at {issuer}" in out
    code, out = run(
        hub, "users", "bind-identity", "pc_1", "--issuer", issuer, "--subject", subject,
        "--by", "admin",
    )  # fmt: skip
    assert code == 2  # one account per identity
    code, out = run(
        hub, "users", "bind-identity", "pc_1", "--issuer", issuer, "--subject", "x",
        "--by", "pc_1",
    )  # fmt: skip
    assert code == 2
    assert "may not manage user accounts" in out
    code, out = run(hub, "users", "list", "--by", "admin", "--json")
    listed = {u["username"]: u for u in json.loads(out)}
    assert listed["admin"]["identity"] == {"issuer": issuer, "subject": subject}
    assert listed["pc_1"]["identity"] is None
    code, out = run(
        hub, "users", "unbind-identity", "admin", "--reason", "left the force", "--by", "admin"
    )
    assert code == 0, out
    with State.open(str(hub / "state.db")) as state:
        assert state.accounts.user("admin").oidc_subject is None
        actions = [e.action for e in state.audit_events() if e.target == "user:admin"]
    assert "user.bind_identity" in actions
    assert "user.unbind_identity" in actions


def test_a_disabled_user_is_refused_everywhere(hub: Path) -> None:
    code, out = run(hub, "users", "disable", "pc_1", "--by", "admin", "--reason", "suspended")
    assert code == 0, out
    assert "DISABLED" in out
    code, out = run(hub, "users", "token", "pc_1", "--name", "mdt", "--by", "admin")
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    with (
        State.open(str(hub / "state.db")) as state,
        pytest.raises(AuthenticationError, match="not a valid API token"),
    ):
        state.accounts.token_principal(token)


def test_audit_verify_passes_then_names_the_first_tampered_event(hub: Path) -> None:
    code, out = run(hub, "audit", "verify", "--by", "auditor1")
    assert code == 0, out
    assert "audit chain intact" in out
    with State.open(str(hub / "state.db")) as state:
        tamper(state, "UPDATE audit_events SET actor = 'someone_else' WHERE seq = 3")
    code, out = run(hub, "audit", "verify", "--by", "auditor1")
    assert code == 1
    assert "broken at event 3" in out
    assert "edited" in out
    code, out = run(hub, "audit", "verify", "--by", "pc_1")
    assert code == 2
    assert "may not verify the audit chain" in out


def test_audit_anchor_then_verify_finds_events_cut_off_the_end(hub: Path, tmp_path: Path) -> None:
    anchors = tmp_path / "worm" / "anchors.jsonl"
    anchors.parent.mkdir()
    code, out = run(hub, "audit", "anchor", "--by", "auditor1", "--to", str(anchors))
    assert code == 2  # a missing file is not started without --init
    assert "give --init" in out
    code, out = run(hub, "audit", "anchor", "--by", "auditor1", "--to", str(anchors), "--init")
    assert code == 0, out
    assert "anchored event" in out
    assert "line 1" in out
    assert "beside the hub" not in out
    code, out = run(hub, "audit", "verify", "--by", "auditor1", "--anchors", str(anchors))
    assert code == 0, out
    assert "1 anchor holds" in out
    with State.open(str(hub / "state.db")) as state:
        anchored = state.find_audit(action="audit.anchor")[0].seq
        tamper(state, f"DELETE FROM audit_events WHERE seq >= {anchored - 1}")
    code, out = run(hub, "audit", "verify", "--by", "auditor1")
    assert code == 0, out  # the chain alone can't see it
    code, out = run(hub, "audit", "verify", "--by", "auditor1", "--anchors", str(anchors))
    assert code == 1, out
    assert f"broken at event {anchored}" in out
    assert "cut off the end" in out
    # a damaged chain is never anchored
    code, out = run(hub, "audit", "anchor", "--by", "auditor1", "--to", str(anchors))
    assert code == 1, out
    assert "not anchored" in out
    anchors.write_text("garbage\n")
    code, out = run(hub, "audit", "verify", "--by", "auditor1", "--anchors", str(anchors))
    assert code == 2
    assert "holds no peelian-audit-anchor/1 line" in out
    code, out = run(hub, "audit", "anchor", "--by", "pc_1", "--to", str(anchors))
    assert code == 2
    assert "may not verify the audit chain" in out


def test_audit_show_by_user_and_by_entity_and_export(hub: Path, tmp_path: Path) -> None:
    with State.open(str(hub / "state.db")) as state:
        state.append_audit("pc_1", "search", detail={"query": "x", "results": ["P-1", "P-10"]})
        state.append_audit("dc_2", "entity.view", target="entity:P-1")
        state.append_audit("dc_2", "search", detail={"query": "y", "results": ["P-10"]})
    code, out = run(hub, "audit", "show", "--by", "auditor1", "--entity", "P-1", "--json")
    assert code == 0, out
    assert [(e["user"], e["action"]) for e in json.loads(out)] == [
        ("dc_2", "entity.view"),
        ("pc_1", "search"),
    ]
    code, out = run(hub, "audit", "show", "--by", "auditor1", "--user", "dc_2", "--json")
    assert [e["action"] for e in json.loads(out)] == ["search", "entity.view"]
    code, out = run(hub, "audit", "show", "--by", "pc_1")
    assert code == 2
    assert "may not view the audit log" in out
    target = tmp_path / "out.csv"
    code, out = run(
        hub, "audit", "export", "--by", "auditor1", "--action", "search", "--out", str(target)
    )
    assert code == 0, out
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["user"] for r in rows] == ["pc_1", "dc_2"]
    assert all(len(r["hash"]) == 64 for r in rows)
    code, out = run(hub, "audit", "export", "--by", "auditor1", "--out", str(tmp_path / "x.pdf"))
    assert code == 2
    with State.open(str(hub / "state.db")) as state:
        views = [e for e in state.audit_events() if e.action in ("audit.view", "audit.export")]
        assert state.verify_audit().ok
    assert [v.detail["events"] for v in views if v.detail] == [2, 2, 2]


def test_flagging_is_for_auditors(hub: Path) -> None:
    code, out = run(hub, "audit", "flag", "P-7", "--by", "auditor1", "--reason", "public figure")
    assert code == 0, out
    code, out = run(hub, "audit", "flag", "P-8", "--by", "dc_2", "--reason", "curious")
    assert code == 2
    with State.open(str(hub / "state.db")) as state:
        assert [f.entity_id for f in state.accounts.flagged()] == ["P-7"]


def test_audit_alerts_find_a_self_look_up_and_a_flagged_person_on_a_real_hub(
    resolved: Path, tmp_path: Path
) -> None:
    """An officer searches their own record (typed name and DOB; namesakes without
    a DOB come up too), which is also flagged: two alerts, with the event."""
    hub = tmp_path / "hub"
    shutil.copytree(resolved, hub, ignore=shutil.ignore_patterns("state.db*"))
    with Hub(hub, read_only=True) as opened:
        entity, forename, surname, dob, address = opened.con.execute(
            """SELECT entity_id, any_value(value) FILTER (field = 'forenames'),
                      any_value(value) FILTER (field = 'surname'),
                      any_value(value) FILTER (field = 'date_of_birth'),
                      any_value(value) FILTER (field = 'address')
               FROM golden_values WHERE entity_type = 'person' GROUP BY 1
               HAVING count(*) FILTER (field IN ('forenames', 'surname', 'date_of_birth',
                      'address')) >= 4 ORDER BY 1 LIMIT 1"""
        ).fetchone()
    with State.open(str(hub / "state.db")) as state:
        accounts = state.accounts
        accounts.add_user("auditor1", "A", "auditor", "SC", by="setup")
        accounts.add_user(
            "pc_1", "PC", "response_officer", "NPPV2", by="setup", forenames=forename,
            surname=surname, date_of_birth=dt.date.fromisoformat(dob), home_address=address,
        )  # fmt: skip
        accounts.flag_person(entity, reason="public figure", by="auditor1")
        event = state.append_audit(
            "pc_1",
            "search",
            detail={"query": f"{forename} {surname} {dob}", "results": [entity]},
            purpose="reason officer_safety: roadside check on a driver",
        )
    code, out = run(hub, "audit", "alerts", "--by", "auditor1", "--json")
    assert code == 0, out
    alerts = {(a["kind"], a["username"]): a for a in json.loads(out)}
    assert set(alerts) >= {("self_lookup", "pc_1"), ("flagged_person", "pc_1")}
    assert alerts["self_lookup", "pc_1"]["seqs"] == [event.seq]
    code, out = run(hub, "audit", "alerts", "--by", "pc_1")
    assert code == 2
    assert "may not view misuse alerts" in out


def test_eval_misuse_prints_precision_and_recall() -> None:
    result = runner.invoke(app, ["eval", "misuse", "--seed", "3", "--days", "14", "--users", "60"])
    assert result.exit_code == 0, result.output
    assert "precision" in result.output
    assert "self_lookup" in result.output
