"""The audit log: append-only events in a hash chain.

Each event has a `seq` (1, 2, 3... with no gaps), the hash of the event before
it (`prev_hash`; 64 zeros for the first) and its own `hash`: SHA-256 over a
canonical JSON of its fields and `prev_hash`. Editing, deleting, inserting or
reordering rows breaks the chain at the first row touched, and `verify` names
it.

The chain alone can't show rows cut off the end, or a chain rewritten from the
first forged row onwards with fresh hashes. Anchors do: `AnchorFile` appends
the seq and hash of the newest event to a file kept outside the database (on
write-once storage or another machine), and `check_anchors` finds every
anchored event still there with the same hash. The anchor file is a chain of
its own (each line holds the SHA-256 of the line before), so an edited or
removed anchor line is named too.

`append` must run inside the state's write transaction (`State._write`), which
holds the lock that serialises appends across processes; callers use
`State.append_audit`, which commits the events that concurrent requests of one
process append together, in one transaction (`GroupCommit`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
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
    anchors_checked: int = 0
    # the last event walked (seq, hash), when sound: where a later check may start
    last: tuple[int, str] | None = field(default=None, compare=False)


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


def append(con: sa.Connection, actor: str, action: str, **fields: Any) -> AuditEvent:
    """Append one event after the last one; the caller holds the state write lock.
    `fields` are `prepare`'s (target, detail, purpose, client, outcome)."""
    return write(con, [prepare(actor, action, **fields)])[0]


def prepare(
    actor: str,
    action: str,
    *,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    purpose: str | None = None,
    client: str | None = None,
    outcome: str = "ok",
) -> dict[str, Any]:
    """An event's own fields, checked (ValueError for an empty actor, action or
    outcome, or a detail that is not plain JSON): all but its place in the chain."""
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
    return {
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail_text,
        "purpose": purpose,
        "client": client,
        "outcome": outcome,
    }


def write(con: sa.Connection, prepared: Sequence[Mapping[str, Any]]) -> list[AuditEvent]:
    """Chain prepared events after the last one, in order, in the caller's write
    transaction (which holds the lock: two writers never share a seq)."""
    # Read the last row only now, inside the lock.
    last = con.execute(
        sa.select(audit_events.c.seq, audit_events.c.hash)
        .order_by(audit_events.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev_hash = (0, GENESIS_HASH) if last is None else (last.seq, last.hash)
    rows = []
    for fields in prepared:
        seq += 1
        columns: dict[str, Any] = {
            "seq": seq,
            "created_at": dt.datetime.now(dt.UTC),
            **fields,
            "prev_hash": prev_hash,
        }
        columns["hash"] = prev_hash = event_hash(columns)
        rows.append(columns)
    if rows:
        con.execute(sa.insert(audit_events), rows)
    return [_event(columns) for columns in rows]


class GroupCommit:
    """Appends from the threads of one process, committed together.

    A request's audit event must be committed before its answer goes out, and each
    commit is a synced write under the state's one write lock. So the first thread to
    arrive writes what is waiting, in one transaction, while the threads that arrive
    meanwhile wait; when it has committed, one of them writes everything that queued
    up behind it, and so on. Each caller gets its own event back, or the error its
    transaction met (no event of a failed transaction is kept).
    """

    def __init__(self, transaction: Callable[[], AbstractContextManager[sa.Connection]]) -> None:
        self._transaction = transaction
        self._ready = threading.Condition()
        self._waiting: list[_Queued] = []
        self._writing = False
        self.commits = 0  # transactions written (for tests and figures)

    def append(self, prepared: Mapping[str, Any]) -> AuditEvent:
        mine = _Queued(prepared)
        with self._ready:
            self._waiting.append(mine)
            while self._writing and not mine.done:
                self._ready.wait()
            if not mine.done:  # nobody took it: this thread writes the batch
                batch, self._waiting, self._writing = self._waiting, [], True
        if mine.done:
            return mine.result()
        try:
            with self._transaction() as con:
                events = write(con, [queued.prepared for queued in batch])
            for queued, event in zip(batch, events, strict=True):
                queued.event = event
            self.commits += 1
        except BaseException as exc:
            for queued in batch:
                queued.error = exc
        finally:
            with self._ready:
                for queued in batch:
                    queued.done = True
                self._writing = False
                self._ready.notify_all()
        return mine.result()


@dataclass
class _Queued:
    prepared: Mapping[str, Any]
    done: bool = False
    event: AuditEvent | None = None
    error: BaseException | None = None

    def result(self) -> AuditEvent:
        if self.error is not None:
            raise self.error
        assert self.event is not None
        return self.event


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


def verify(con: sa.Connection, *, after: tuple[int, str] | None = None) -> AuditVerification:
    """Walk the chain from seq 1, or from the event after `after` (a seq and its
    hash, known good: an anchor that holds), and report the first row that breaks
    it. `checked` counts the rows walked."""
    start, prev_hash = after if after is not None else (0, GENESIS_HASH)
    expected = start + 1
    rows = con.execute(
        sa.select(audit_events).where(audit_events.c.seq > start).order_by(audit_events.c.seq),
        execution_options={"yield_per": VERIFY_BATCH},
    )
    for row in rows:
        broken = _check(row._asdict(), expected, prev_hash)
        if broken is not None:
            rows.close()
            bad, problem = broken
            return AuditVerification(
                ok=False, checked=expected - 1 - start, first_bad_seq=bad, problem=problem
            )
        expected += 1
        prev_hash = row.hash
    return AuditVerification(
        ok=True,
        checked=expected - 1 - start,
        first_bad_seq=None,
        problem=None,
        last=(expected - 1, prev_hash),
    )


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


# ------------------------------------------------------------------ anchors

ANCHOR_FORMAT = "peelian-audit-anchor/1"
_HASH = re.compile(r"[0-9a-f]{64}")


class AnchorError(Exception):
    """An anchor file that can't be read, or whose own chain is broken."""


@dataclass(frozen=True)
class Anchor:
    """One line of an anchor file: the audit log's newest event when it was written."""

    line: int
    seq: int
    hash: str
    event_at: str
    anchored_at: str
    prev: str  # SHA-256 of the line before (its text), GENESIS_HASH for the first


def _line_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in `path`, oldest first; AnchorError naming the line for a file
    that is not an anchor file or whose lines were edited, removed or reordered."""
    return _parse_anchors(path, _read_anchor_text(path))[0]


def _read_anchor_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorError(f"can't read the anchor file {path}: {exc}") from None


def _parse_anchors(path: Path, text: str) -> tuple[list[Anchor], list[int], str]:
    """(anchors, numbers of lines skipped as torn, the text of the last anchor line).

    A line that is not JSON at all is taken for a write cut short (a full disk, a
    crash) and skipped: the next line must chain to the anchor before it. Skipping
    it trusts nothing, as an anchor counts only through its place in the chain."""
    anchors: list[Anchor] = []
    skipped: list[int] = []
    prev, last_line = GENESIS_HASH, ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            value = json.loads(line)
        except ValueError:
            skipped.append(number)
            continue
        if not isinstance(value, dict) or value.get("format") != ANCHOR_FORMAT:
            raise AnchorError(f"{where}: not a {ANCHOR_FORMAT} line")
        seq, digest, back = value.get("seq"), value.get("hash"), value.get("prev")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise AnchorError(f"{where}: 'seq' must be a whole number from 1")
        for name, field_value in (("hash", digest), ("prev", back)):
            if not isinstance(field_value, str) or not _HASH.fullmatch(field_value):
                raise AnchorError(f"{where}: {name!r} must be 64 lower-case hex digits")
        if back != prev:
            raise AnchorError(
                f"{where} does not follow on from the anchor before it: the anchor file "
                "was edited, or lines were removed or reordered"
            )
        if anchors and seq < anchors[-1].seq:
            raise AnchorError(f"{where}: seq {seq} is older than the anchor before it")
        anchors.append(
            Anchor(
                number,
                seq,
                str(digest),
                str(value.get("event_at", "")),
                str(value.get("anchored_at", "")),
                str(back),
            )
        )
        prev, last_line = _line_hash(line), line
    if skipped and not anchors:
        raise AnchorError(f"{path} holds no {ANCHOR_FORMAT} line: is it an anchor file?")
    return anchors, skipped, last_line


class AnchorFile:
    """An anchor file opened for appending and locked (`flock`) until closed, so that
    anchoring runs that overlap take turns: the checks made while it is open hold
    when the line is written.

        with AnchorFile(path) as file:
            file.anchors, file.skipped
            file.append(event)
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._created = not path.exists()  # removed again if nothing is anchored
        try:
            self._handle = path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise AnchorError(f"can't write the anchor file {path}: {exc}") from None
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX)
            self._handle.seek(0)
            self._text = self._handle.read()
            self.anchors, self.skipped, self._last = _parse_anchors(path, self._text)
        except (OSError, UnicodeDecodeError) as exc:
            self._handle.close()
            raise AnchorError(f"can't read the anchor file {path}: {exc}") from None
        except AnchorError:
            self._handle.close()
            raise

    def __enter__(self) -> AnchorFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._created and not self._text:
            self.path.unlink(missing_ok=True)
        self._handle.close()  # and with it the lock

    def append(self, event: AuditEvent, *, now: dt.datetime | None = None) -> Anchor:
        """Append an anchor for `event`, on disk before this returns."""
        if self.anchors and event.seq < self.anchors[-1].seq:
            raise AnchorError(
                f"{self.path} already anchors event {self.anchors[-1].seq}, after event "
                f"{event.seq}: is this the right audit log?"
            )
        prev = _line_hash(self._last) if self.anchors else GENESIS_HASH
        anchored_at = timestamp_text(now or dt.datetime.now(dt.UTC))
        event_at = timestamp_text(event.created_at)
        line = canonical_json(
            {
                "format": ANCHOR_FORMAT,
                "seq": event.seq,
                "hash": event.hash,
                "event_at": event_at,
                "anchored_at": anchored_at,
                "prev": prev,
            }
        )
        text = ("\n" if self._text and not self._text.endswith("\n") else "") + line + "\n"
        try:
            self._handle.write(text)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise AnchorError(f"can't write the anchor file {self.path}: {exc}") from None
        self._text += text
        anchor = Anchor(
            len(self._text.splitlines()), event.seq, event.hash, event_at, anchored_at, prev
        )
        self.anchors.append(anchor)
        self._last = line
        return anchor


def check_anchors(con: sa.Connection, anchors: Sequence[Anchor]) -> tuple[int, str] | None:
    """The first anchored event that is gone or no longer has its anchored hash, as
    (seq, what is wrong), or None when every anchor holds. Run after `verify`: with
    a sound chain, a changed hash means the log was rewritten at or before it."""
    if not anchors:
        return None
    wanted = sorted({a.seq for a in anchors})
    found: dict[int, str] = {}
    for start in range(0, len(wanted), VERIFY_BATCH):
        chunk = wanted[start : start + VERIFY_BATCH]
        rows = con.execute(
            sa.select(audit_events.c.seq, audit_events.c.hash).where(audit_events.c.seq.in_(chunk))
        )
        found.update({int(seq): str(digest) for seq, digest in rows})
    last = con.execute(sa.select(sa.func.max(audit_events.c.seq))).scalar()
    held: Anchor | None = None
    for anchor in anchors:
        digest = found.get(anchor.seq)
        if digest is None:
            return anchor.seq, (
                f"event {anchor.seq}, anchored at {anchor.anchored_at} (anchor line "
                f"{anchor.line}), is gone: the log now ends at event {last or 0} "
                "(events cut off the end)"
            )
        if digest != anchor.hash:
            since = (
                f"; the anchor before it (event {held.seq}) still holds, so the change is "
                f"in events {held.seq + 1} to {anchor.seq}"
                if held is not None and held.seq < anchor.seq
                else ""
            )
            return anchor.seq, (
                f"event {anchor.seq} no longer has the hash anchored at {anchor.anchored_at} "
                f"(anchor line {anchor.line}): the log was rewritten at or before it{since}"
            )
        held = anchor
    return None
