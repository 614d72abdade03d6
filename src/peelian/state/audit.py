"""The audit log: append-only events in a hash chain.

Each event has a `seq` (1, 2, 3... with no gaps), the hash of the event before
it (`prev_hash`; 64 zeros for the first) and its own `hash`: SHA-256 over a
canonical JSON of its fields and `prev_hash`. Editing, deleting, inserting or
reordering rows breaks the chain at the first row touched, and `verify` names
it. The chain alone can't show rows cut off the end, or a chain rewritten from
the first forged row onwards: for that, compare the last hash with a copy kept
elsewhere.

`append` must run inside the state's write transaction (`State._write`), which
holds the lock that serialises appends across processes; callers use
`State.append_audit`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from peelian.state.tables import audit_events

GENESIS_HASH = "0" * 64
# Rows fetched at a time while verifying, so a long log is never held in memory.
VERIFY_BATCH = 5_000


@dataclass(frozen=True)
class AuditEvent:
    """One audit event: who did what to which record, why, from where, and how it went."""

    seq: int
    created_at: dt.datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] | None
    purpose: str | None
    client: str | None
    outcome: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    """The result of checking the chain.

    `checked` counts the rows found sound (all of them when `ok`); `first_bad_seq` is
    where the chain first breaks (for a deleted row, the missing seq), and `problem`
    says how.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def timestamp_text(when: dt.datetime) -> str:
    """A UTC timestamp to the microsecond, as hashed: `2024-05-01T09:00:00.000000Z`."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The columns a hash covers: every column but the hash itself.
HASHED_COLUMNS = (
    "seq",
    "created_at",
    "actor",
    "action",
    "target",
    "detail",
    "purpose",
    "client",
    "outcome",
    "prev_hash",
)


def event_hash(columns: Mapping[str, Any]) -> str:
    """The SHA-256 of one event's stored columns (`detail` as its canonical JSON text).

    Timestamps are hashed as text to the microsecond, so the hash is the same
    whichever database stored the event.
    """
    payload = {name: columns[name] for name in HASHED_COLUMNS}
    payload["created_at"] = timestamp_text(payload["created_at"])
    # ASCII escapes in the hashed text: any string hashes, whatever the encoding.
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def append(
    con: sa.Connection,
    actor: str,
    action: str,
    *,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    purpose: str | None = None,
    client: str | None = None,
    outcome: str = "ok",
) -> AuditEvent:
    """Append one event after the last one; the caller holds the state write lock."""
    for name, value in (("actor", actor), ("action", action), ("outcome", outcome)):
        if not value or not value.strip():
            raise ValueError(f"an audit event needs a non-empty {name}")
    detail_text = None
    if detail is not None:
        if not isinstance(detail, dict):
            raise ValueError(f"audit detail must be a dict, not {type(detail).__name__}")
        try:
            detail_text = canonical_json(detail)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"audit detail for {action!r} is not plain JSON: {exc}") from None
    # Read the last row only now, inside the lock, so two writers never share a seq.
    last = con.execute(
        sa.select(audit_events.c.seq, audit_events.c.hash)
        .order_by(audit_events.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev_hash = (1, GENESIS_HASH) if last is None else (last.seq + 1, last.hash)
    columns: dict[str, Any] = {
        "seq": seq,
        "created_at": dt.datetime.now(dt.UTC),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail_text,
        "purpose": purpose,
        "client": client,
        "outcome": outcome,
        "prev_hash": prev_hash,
    }
    columns["hash"] = event_hash(columns)
    con.execute(sa.insert(audit_events).values(columns))
    return _event(columns)


def _event(columns: Mapping[str, Any]) -> AuditEvent:
    detail = columns["detail"]
    return AuditEvent(**{**columns, "detail": None if detail is None else json.loads(detail)})


def from_row(row: sa.Row[Any]) -> AuditEvent:
    return _event(row._asdict())


def matching(
    *,
    actor: str | None = None,
    entity: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: int | None = None,
) -> sa.Select[Any]:
    """Events by a user, about an entity, of an action, in a time range.

    An event is about an entity when it targets it (`entity:ID`) or returned it
    among its results (the id appears as a JSON string in `detail`).
    """
    query = sa.select(audit_events)
    if actor is not None:
        query = query.where(audit_events.c.actor == actor)
    if action is not None:
        query = query.where(audit_events.c.action == action)
    if before is not None:  # paging newest first: events older than seq `before`
        query = query.where(audit_events.c.seq < before)
    if since is not None:
        query = query.where(audit_events.c.created_at >= since)
    if until is not None:
        query = query.where(audit_events.c.created_at < until)
    if entity is not None:
        quoted = json.dumps(entity)
        escaped = quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            sa.or_(
                audit_events.c.target == f"entity:{entity}",
                audit_events.c.detail.like(f"%{escaped}%", escape="\\"),
            )
        )
    return query


def events(con: sa.Connection, *, after: int = 0, limit: int | None = None) -> list[AuditEvent]:
    """Events with seq greater than `after`, oldest first."""
    query = sa.select(audit_events).where(audit_events.c.seq > after).order_by(audit_events.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return [_event(row._asdict()) for row in con.execute(query)]


def verify(con: sa.Connection) -> AuditVerification:
    """Walk the chain from seq 1 and report the first row that breaks it."""
    expected, prev_hash = 1, GENESIS_HASH
    rows = con.execute(
        sa.select(audit_events).order_by(audit_events.c.seq),
        execution_options={"yield_per": VERIFY_BATCH},
    )
    for row in rows:
        broken = _check(row._asdict(), expected, prev_hash)
        if broken is not None:
            rows.close()
            bad, problem = broken
            return AuditVerification(
                ok=False, checked=expected - 1, first_bad_seq=bad, problem=problem
            )
        expected += 1
        prev_hash = row.hash
    return AuditVerification(ok=True, checked=expected - 1, first_bad_seq=None, problem=None)


def _check(row: Mapping[str, Any], expected: int, prev_hash: str) -> tuple[int, str] | None:
    """The first bad seq and what is wrong, if `row` doesn't continue the chain."""
    seq = row["seq"]
    if seq > expected:
        return expected, (
            f"seq {expected} is missing: the row after seq {expected - 1} is seq {seq} "
            "(rows deleted or renumbered)"
        )
    if seq < expected:
        return seq, f"seq {seq} is out of place: seqs start at 1 and rise by 1"
    if row["prev_hash"] != prev_hash:
        if seq == 1:
            return seq, "seq 1 does not start the chain: its prev_hash is not the genesis hash"
        return seq, (
            f"seq {seq} does not follow on from seq {seq - 1}: its prev_hash is not that "
            "row's hash (rows inserted, deleted or reordered)"
        )
    if event_hash(row) != row["hash"]:
        return seq, f"seq {seq} does not match its hash (the row was edited)"
    return None
