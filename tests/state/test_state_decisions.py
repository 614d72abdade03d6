"""Analysts' match decisions: add, supersede, revoke, list, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from peelian.state import Decision, State
from peelian.state import audit as audit_module


def test_a_decision_is_stored_with_its_pair_in_sorted_order(state: State) -> None:
    made = state.add_decision(
        "same", "person", "custody:K2:detainee", "crime:C9:suspect", by="analyst1", reason="PNC"
    )
    assert isinstance(made, Decision)
    assert (made.kind, made.entity_type, made.a, made.b) == (
        "same",
        "person",
        "crime:C9:suspect",
        "custody:K2:detainee",
    )
    assert (made.by, made.reason, made.active) == ("analyst1", "PNC", True)
    assert made.created_at.tzinfo is not None
    assert state.decisions() == [made]


def test_the_pair_is_the_same_whichever_way_round(state: State) -> None:
    first = state.add_decision("same", "vehicle", "v2", "v1", by="a1", reason="same VIN")
    assert (first.a, first.b) == ("v1", "v2")
    second = state.add_decision("different", "vehicle", "v1", "v2", by="a2", reason="cloned")
    assert [d.id for d in state.decisions()] == [second.id]
    (older,) = [d for d in state.decisions(active_only=False) if d.id == first.id]
    assert older.revoke_reason == f"superseded by #{second.id}"


def test_a_newer_decision_supersedes_the_older_which_is_kept_revoked(state: State) -> None:
    old = state.add_decision("same", "person", "m1", "m2", by="analyst1", reason="same DOB")
    new = state.add_decision("different", "person", "m1", "m2", by="analyst2", reason="twins")
    everything = state.decisions(active_only=False)
    assert [d.id for d in everything] == [old.id, new.id]
    superseded = everything[0]
    assert superseded.active is False
    assert (superseded.revoked_by, superseded.revoke_reason) == (
        "analyst2",
        f"superseded by #{new.id}",
    )
    assert superseded.revoked_at == new.created_at
    assert state.decisions() == [new]


def test_the_same_ids_under_another_entity_type_are_another_pair(state: State) -> None:
    state.add_decision("same", "person", "x1", "x2", by="a", reason="r")
    state.add_decision("different", "phone", "x1", "x2", by="a", reason="r")
    assert len(state.decisions()) == 2
    assert [d.entity_type for d in state.decisions("phone")] == ["phone"]


def test_revoking_keeps_the_decision_with_who_when_and_why(state: State) -> None:
    made = state.add_decision("same", "person", "m1", "m2", by="analyst1", reason="same DOB")
    revoked = state.revoke_decision(made.id, by="supervisor", reason="DOB was a default value")
    assert revoked.id == made.id
    assert (revoked.active, revoked.revoked_by, revoked.revoke_reason) == (
        False,
        "supervisor",
        "DOB was a default value",
    )
    assert revoked.revoked_at is not None
    assert revoked.revoked_at >= made.created_at
    assert state.decisions() == []
    assert state.decisions(active_only=False) == [revoked]
    # The pair is free for a new decision.
    again = state.add_decision("different", "person", "m2", "m1", by="analyst1", reason="seen")
    assert state.decisions() == [again]


def test_revoking_twice_or_an_unknown_decision_is_an_error(state: State) -> None:
    made = state.add_decision("same", "person", "m1", "m2", by="analyst1", reason="r")
    state.revoke_decision(made.id, by="supervisor", reason="wrong")
    with pytest.raises(ValueError, match=rf"#{made.id} was already revoked by supervisor"):
        state.revoke_decision(made.id, by="supervisor", reason="again")
    with pytest.raises(LookupError, match="no match decision #999"):
        state.revoke_decision(999, by="supervisor", reason="wrong")
    with pytest.raises(ValueError, match="non-empty reason"):
        state.revoke_decision(made.id, by="supervisor", reason=" ")


def test_decisions_are_listed_oldest_first_and_filtered_by_entity_type(state: State) -> None:
    made = [
        state.add_decision("same", kind, f"{kind}-a{i}", f"{kind}-b{i}", by="a", reason="r")
        for i in range(3)
        for kind in ("person", "vehicle")
    ]
    assert state.decisions() == made
    assert state.decisions("vehicle") == [d for d in made if d.entity_type == "vehicle"]
    assert state.decisions("location") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reason": ""}, "needs a non-empty reason"),
        ({"reason": "   "}, "needs a non-empty reason"),
        ({"by": ""}, "needs a non-empty by"),
        ({"b": "m1"}, "two different records; both are 'm1'"),
        ({"kind": "maybe"}, "'same' or 'different', not 'maybe'"),
        ({"entity_type": ""}, "needs a non-empty entity_type"),
    ],
)
def test_an_incomplete_decision_is_refused_and_nothing_written(
    state: State, change: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {
        "kind": "same",
        "entity_type": "person",
        "a": "m1",
        "b": "m2",
        "by": "analyst1",
        "reason": "same PNC id",
        **change,
    }
    with pytest.raises(ValueError, match=message):
        state.add_decision(
            args["kind"],
            args["entity_type"],
            args["a"],
            args["b"],
            by=args["by"],
            reason=args["reason"],
        )
    assert state.decisions(active_only=False) == []
    assert state.audit_events() == []


def test_every_decision_change_is_audited(state: State) -> None:
    first = state.add_decision("same", "person", "m1", "m2", by="analyst1", reason="PNC")
    second = state.add_decision(
        "different", "person", "m2", "m1", by="analyst2", reason="twins", client="10.0.0.7"
    )
    state.revoke_decision(second.id, by="supervisor", reason="not twins", client="ws-12")
    events = state.audit_events()
    assert [e.client for e in events] == [None, "10.0.0.7", "ws-12"]
    assert [(e.actor, e.action, e.target) for e in events] == [
        ("analyst1", "match_decision.add", f"match_decision:{first.id}"),
        ("analyst2", "match_decision.add", f"match_decision:{second.id}"),
        ("supervisor", "match_decision.revoke", f"match_decision:{second.id}"),
    ]
    assert events[1].detail == {
        "kind": "different",
        "entity_type": "person",
        "a": "m1",
        "b": "m2",
        "reason": "twins",
        "supersedes": first.id,
    }
    assert events[2].detail == {"reason": "not twins"}
    assert state.verify_audit().ok


def test_a_decision_and_its_audit_event_commit_together(
    state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = state.add_decision("same", "person", "m1", "m2", by="analyst1", reason="PNC")

    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit store failed")

    monkeypatch.setattr(audit_module, "append", broken_audit)
    with pytest.raises(RuntimeError, match="audit store failed"):
        state.add_decision("different", "person", "m1", "m2", by="analyst2", reason="twins")
    with pytest.raises(RuntimeError, match="audit store failed"):
        state.revoke_decision(kept.id, by="analyst2", reason="wrong")
    # Neither the new decision nor the supersession nor the revocation was kept.
    assert state.decisions(active_only=False) == [kept]
    assert len(state.audit_events()) == 1
