"""The audit log: a gapless hash chain that shows any edited, missing, forged or moved row."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from peelian.state import AuditVerification, DecisionKind, State, audit
from peelian.state.audit import GENESIS_HASH, AnchorError, AnchorFile, event_hash, read_anchors
from peelian.state.tables import audit_events

# What someone with database admin rights would drop before changing the log.
APPEND_ONLY_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_events_no_update",
        "DROP TRIGGER IF EXISTS audit_events_no_delete",
    ],
    "postgresql": ["DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events"],
}


def tamper(
    state: State, *statements: str | sa.Executable, params: dict[str, Any] | None = None
) -> None:
    """Change the audit table behind Peelian's back (raw SQL, or a Core statement)."""
    with state.engine.begin() as con:
        for drop in APPEND_ONLY_TRIGGERS[state.dialect]:
            con.exec_driver_sql(drop)
        for statement in statements:
            con.execute(sa.text(statement) if isinstance(statement, str) else statement, params)


def rows(state: State) -> list[dict[str, Any]]:
    with state.engine.connect() as con:
        return [r._asdict() for r in con.execute(sa.select(audit_events).order_by("seq"))]


@pytest.fixture
def logged(state: State) -> State:
    """A state database with five audit events."""
    state.append_audit("pc1234", "search", detail={"query": "SMITH 1990"}, purpose="stop check")
    state.append_audit("pc1234", "entity.view", target="entity:P-1", client="10.0.0.7")
    state.append_audit("dc_jones", "entity.view", target="entity:P-2", purpose="Op Ember")
    state.append_audit("dc_jones", "entity.view", target="entity:P-3", outcome="denied")
    state.append_audit("analyst1", "export", detail={"rows": 12, "format": "csv"})
    return state


def test_appended_events_form_a_gapless_chain_that_verifies(logged: State) -> None:
    events = logged.audit_events()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert logged.verify_audit() == AuditVerification(
        ok=True, checked=5, first_bad_seq=None, problem=None
    )


def test_an_event_reads_back_exactly_as_appended(state: State) -> None:
    appended = state.append_audit(
        "dc_jones",
        "entity.view",
        target="entity:P-9",
        detail={"fields": ["dob", "address"], "reason": "Siobhán's address", "n": 1.5},
        purpose="Op Ember",
        client="10.0.0.7",
        outcome="ok",
    )
    assert appended.created_at.tzinfo == dt.UTC
    assert state.audit_events() == [appended]
    assert state.audit_events(after=1) == []
    assert state.verify_audit().ok


def test_an_empty_log_verifies(state: State) -> None:
    assert state.verify_audit() == AuditVerification(
        ok=True, checked=0, first_bad_seq=None, problem=None
    )


def test_the_hash_covers_a_canonical_text_the_same_on_every_database() -> None:
    # Sorted keys, no spaces, ASCII escapes, the time in UTC to the microsecond: the
    # stored chains depend on this text never changing.
    columns = {
        "seq": 1,
        "created_at": dt.datetime(2025, 3, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        "actor": "pc1234",
        "action": "entity.view",
        "target": "entity:P-1",
        "detail": '{"name":"Siobhán"}',
        "purpose": None,
        "client": None,
        "outcome": "ok",
        "prev_hash": GENESIS_HASH,
    }
    canonical = (
        '{"action":"entity.view","actor":"pc1234","client":null,'
        '"created_at":"2025-03-01T09:30:00.000000Z","detail":"{\\"name\\":\\"Siobh\\u00e1n\\"}",'
        f'"outcome":"ok","prev_hash":"{GENESIS_HASH}","purpose":null,"seq":1,'
        '"target":"entity:P-1"}'
    )
    assert event_hash(columns) == hashlib.sha256(canonical.encode("ascii")).hexdigest()


def test_an_event_needs_an_actor_an_action_and_plain_json_detail(state: State) -> None:
    with pytest.raises(ValueError, match="non-empty actor"):
        state.append_audit("", "search")
    with pytest.raises(ValueError, match="non-empty action"):
        state.append_audit("pc1234", " ")
    with pytest.raises(ValueError, match="not plain JSON"):
        state.append_audit("pc1234", "search", detail={"when": dt.date(2025, 1, 1)})
    with pytest.raises(ValueError, match="not plain JSON"):
        state.append_audit("pc1234", "search", detail={"score": float("nan")})
    assert state.audit_events() == []


def test_the_audit_table_refuses_update_and_delete(logged: State) -> None:
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), logged.engine.begin() as con:
            con.exec_driver_sql(statement)
    assert logged.verify_audit().checked == 5


@pytest.mark.parametrize(
    "edit",
    [
        "actor = 'someone_else'",
        'detail = \'{"query":"JONES"}\'',
        "purpose = 'curiosity'",
        "outcome = 'ok'",
        "hash = prev_hash",
    ],
)
def test_an_edited_row_is_named(logged: State, edit: str) -> None:
    tamper(logged, f"UPDATE audit_events SET {edit} WHERE seq = 4")
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 4, 3)
    assert result.problem == "seq 4 does not match its hash (the row was edited)"


def test_a_deleted_row_is_named(logged: State) -> None:
    tamper(logged, "DELETE FROM audit_events WHERE seq = 3")
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 3, 2)
    assert result.problem is not None
    assert "seq 3 is missing" in result.problem


def test_a_deleted_row_is_named_even_when_later_rows_are_renumbered(logged: State) -> None:
    tamper(
        logged,
        "DELETE FROM audit_events WHERE seq = 3",
        "UPDATE audit_events SET seq = seq - 1 WHERE seq > 3",
    )
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.problem is not None
    assert "does not follow on from seq 2" in result.problem


def test_a_forged_row_at_the_end_is_named(logged: State) -> None:
    tamper(
        logged,
        "INSERT INTO audit_events (seq, created_at, actor, action, outcome, prev_hash, hash) "
        "VALUES (6, :now, 'pc1234', 'search', 'ok', :prev, :hash)",
        params={
            "now": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            "prev": rows(logged)[-1]["hash"],
            "hash": "f" * 64,
        },
    )
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 6, 5)


def test_a_forged_row_in_the_middle_is_named_even_with_a_valid_hash(logged: State) -> None:
    # The forger makes room at seq 3 and inserts a row hashed correctly onto seq 2:
    # the chain then breaks at the first genuine row after it.
    before = rows(logged)
    tamper(
        logged,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 3",
        "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000",
    )
    forged = {
        "seq": 3,
        "created_at": before[2]["created_at"],
        "actor": "dc_jones",
        "action": "entity.view",
        "target": "entity:P-2",
        "detail": None,
        "purpose": "Op Ember",
        "client": None,
        "outcome": "ok",
        "prev_hash": before[1]["hash"],
    }
    forged["hash"] = event_hash(forged)
    tamper(logged, sa.insert(audit_events).values(forged))
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 4, 3)
    assert result.problem is not None
    assert "does not follow on from seq 3" in result.problem


def test_two_swapped_rows_are_named(logged: State) -> None:
    second, fourth = rows(logged)[1], rows(logged)[3]
    tamper(
        logged,
        *(
            sa.update(audit_events)
            .where(audit_events.c.seq == seq)
            .values({name: value for name, value in row.items() if name != "seq"})
            for row, seq in ((fourth, 2), (second, 4))
        ),
    )
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 2, 1)
    assert result.problem is not None
    assert "does not follow on from seq 1" in result.problem


# Anchors: the chain's last hash kept outside the database.


def rewrite_from(state: State, seq: int) -> None:
    """What a forger with database rights does: edit event `seq` and re-hash every
    event after it, so that the chain alone verifies."""
    events = rows(state)
    tamper(state, sa.delete(audit_events).where(audit_events.c.seq >= seq))
    prev = events[seq - 2]["hash"] if seq > 1 else GENESIS_HASH
    for row in events[seq - 1 :]:
        row = dict(row, prev_hash=prev)
        if row["seq"] == seq:
            row["outcome"] = "ok" if row["outcome"] != "ok" else "denied"
        row["hash"] = event_hash(row)
        tamper(state, sa.insert(audit_events).values(row))
        prev = row["hash"]


def test_an_anchored_log_verifies_with_its_anchors(logged: State, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    first, anchor = logged.anchor_audit(path, by="auditor1")
    assert first.ok
    assert first.checked == 5
    assert anchor is not None
    assert anchor.seq == 6
    assert logged.audit_events()[-1].action == "audit.anchor"
    assert logged.audit_events()[-1].hash == anchor.hash
    logged.append_audit("pc1234", "search")
    _, second = logged.anchor_audit(path, by="auditor1")
    assert second is not None
    assert second.seq == 8
    anchors = read_anchors(path)
    assert [(a.line, a.seq) for a in anchors] == [(1, 6), (2, 8)]
    result = logged.verify_audit(anchors)
    assert (result.ok, result.checked, result.anchors_checked) == (True, 8, 2)


def test_events_cut_off_the_end_are_found_only_with_an_anchor(
    logged: State, tmp_path: Path
) -> None:
    path = tmp_path / "anchors.jsonl"
    logged.anchor_audit(path, by="auditor1")
    tamper(logged, "DELETE FROM audit_events WHERE seq >= 5")
    assert logged.verify_audit().ok  # the chain alone can't tell
    result = logged.verify_audit(read_anchors(path))
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert result.problem is not None
    assert "is gone: the log now ends at event 4 (events cut off the end)" in result.problem


def test_a_log_rewritten_with_fresh_hashes_is_found_with_an_anchor(
    logged: State, tmp_path: Path
) -> None:
    path = tmp_path / "anchors.jsonl"
    logged.anchor_audit(path, by="auditor1")  # anchors event 6
    logged.append_audit("pc1234", "search")
    logged.anchor_audit(path, by="auditor1")  # anchors event 8
    rewrite_from(logged, 7)
    assert logged.verify_audit().ok
    result = logged.verify_audit(read_anchors(path))
    assert (result.ok, result.first_bad_seq) == (False, 8)
    assert result.problem is not None
    assert "the log was rewritten at or before it" in result.problem
    assert "the change is in events 7 to 8" in result.problem


def test_an_edited_or_removed_anchor_line_is_named(logged: State, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    for _ in range(3):
        logged.anchor_audit(path, by="auditor1")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(AnchorError, match="line 2 does not follow on from the anchor before"):
        read_anchors(path)
    edited = lines[1].replace('"seq":', '"seq": ')
    path.write_text("\n".join([lines[0], edited, lines[2]]) + "\n")
    with pytest.raises(AnchorError, match="line 3 does not follow on"):
        read_anchors(path)
    # a line that is not JSON is a write cut short: skipped, and the next must chain
    path.write_text("\n".join([lines[0], '{"format": "peelian-au', lines[1]]) + "\n")
    assert [a.line for a in read_anchors(path)] == [1, 3]
    path.write_text("not json\n")
    with pytest.raises(AnchorError, match="holds no peelian-audit-anchor/1 line"):
        read_anchors(path)
    with pytest.raises(AnchorError, match="can't read the anchor file"):
        read_anchors(tmp_path / "missing.jsonl")


def test_a_broken_chain_is_not_anchored(logged: State, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    tamper(logged, "UPDATE audit_events SET actor = 'someone' WHERE seq = 2")
    result, anchor = logged.anchor_audit(path, by="auditor1")
    assert (result.ok, result.first_bad_seq, anchor) == (False, 2, None)
    assert not path.exists()
    refused = logged.find_audit(action="audit.anchor")
    assert [e.outcome for e in refused] == ["refused: the audit chain does not verify"]


def test_an_anchor_file_of_a_longer_log_is_refused(state: State, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    for _ in range(4):
        state.append_audit("pc1234", "search")
    state.anchor_audit(path, by="auditor1")
    tamper(state, "DELETE FROM audit_events")
    first = state.append_audit("pc1234", "search")
    result, anchor = state.anchor_audit(path, by="auditor1")
    assert (result.ok, result.first_bad_seq, anchor) == (False, 5, None)
    with AnchorFile(path) as file, pytest.raises(AnchorError, match="right audit log"):
        file.append(first)
    assert len(read_anchors(path)) == 1


WORKERS = 4
EVENTS_EACH = 50


def write_events(url: str, worker: int, start: Barrier) -> None:
    """One writer process: 45 audit events and 5 decisions on a pair every worker shares."""
    with State.open(url) as state:
        start.wait(timeout=60)
        for i in range(EVENTS_EACH):
            if i % 10 == 9:
                kind: DecisionKind = "same" if i % 20 == 9 else "different"
                state.add_decision(kind, "person", "m1", "m2", by=f"worker{worker}", reason=f"{i}")
            else:
                state.append_audit(f"worker{worker}", "entity.view", target=f"entity:{i}")


def test_writers_in_several_processes_keep_one_gapless_chain(state_url: str) -> None:
    # Forked (quick: nothing to import again) before anything has opened the new,
    # unmigrated database, so each writer opens and migrates it itself, racing the others.
    context = multiprocessing.get_context("fork")
    start = context.Barrier(WORKERS)
    writers = [
        context.Process(target=write_events, args=(state_url, n, start)) for n in range(WORKERS)
    ]
    for writer in writers:
        writer.start()
    try:
        for writer in writers:
            writer.join(timeout=120)
        assert [writer.exitcode for writer in writers] == [0] * WORKERS
    finally:
        for writer in writers:
            if writer.is_alive():
                writer.kill()
    with State.open(state_url) as state:
        total = WORKERS * EVENTS_EACH
        assert state.verify_audit() == AuditVerification(
            ok=True, checked=total, first_bad_seq=None, problem=None
        )
        events = state.audit_events()
        assert [e.seq for e in events] == list(range(1, total + 1))
        assert Counter(e.actor for e in events) == {f"worker{n}": EVENTS_EACH for n in range(4)}
        # One decision active on the shared pair; each earlier one superseded by the next.
        history = state.decisions(active_only=False)
        assert len(history) == WORKERS * 5
        assert state.decisions() == [history[-1]]
        assert [d.revoke_reason for d in history[:-1]] == [
            f"superseded by #{d.id}" for d in history[1:]
        ]


def test_appends_that_arrive_while_one_commits_are_committed_together(state: State) -> None:
    """Group commit: while the state write lock is held elsewhere, the first append
    waits for it alone and the ones arriving meanwhile queue; when the lock is let
    go they go in one more transaction, each caller with its own event."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    state.append_audit("setup", "first")  # the table exists and has a chain
    group = state._audit
    commits = group.commits
    release = threading.Event()
    held = threading.Event()

    def hold_the_lock() -> None:
        with state._write():
            held.set()
            release.wait(60)

    def append(n: int) -> int:
        return state.append_audit(f"officer{n}", "entity.view", target=f"entity:P{n}").seq

    with ThreadPoolExecutor(12) as pool:
        holder = pool.submit(hold_the_lock)
        assert held.wait(60)
        first = pool.submit(append, 0)
        wait_until(lambda: group._writing)  # the first is writing: waiting for the lock
        rest = [pool.submit(append, n) for n in range(1, 10)]
        wait_until(lambda: len(group._waiting) == 9)
        release.set()
        holder.result(60)
        seqs = [first.result(60)] + [r.result(60) for r in rest]
    assert group.commits == commits + 2  # the first alone, then the nine together
    assert sorted(seqs) == list(range(2, 12))
    events = state.audit_events(after=1)
    assert {e.actor: e.seq for e in events} == {f"officer{n}": s for n, s in enumerate(seqs)}
    assert state.verify_audit().ok


def test_a_failed_group_commit_fails_every_append_in_it_and_keeps_none(state: State) -> None:
    from peelian.state.audit import GroupCommit

    state.append_audit("setup", "first")

    @contextmanager
    def broken() -> Iterator[sa.Connection]:
        with state._write() as con:
            yield con
            raise RuntimeError("the disk is full")

    group = GroupCommit(broken)
    with pytest.raises(RuntimeError, match="disk is full"):
        group.append(audit.prepare("pc1", "entity.view"))
    assert [e.actor for e in state.audit_events()] == ["setup"]
    assert state.verify_audit().ok


def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)
