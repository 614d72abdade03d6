"""Retention disposals: source records disposed of under the retention schedule.

A disposal names source records as (source, source record id): disposing of an
entity means disposing of the records its mentions came from. Each disposal
records who decided, why and when, and writes one audit event, the
*tombstone*, in the same transaction: it says which records went, by whom,
under which retention group, and holds no personal data beyond ids (the
reason, which an officer writes, is kept here and only its SHA-256 goes into
the chain, so the chain still shows if it is changed).

Disposals are final: the next refresh removes the records from the hub, the
index and everything derived (`peelian.govern.retention.apply_disposals`), and
the ingest skips them whenever a source resends them. A record is disposed of
once; naming it again is refused.

The functions here run inside the state's write transaction; callers use
`State.dispose_records`, `State.disposals` and `State.disposed_records`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from peelian.state import audit
from peelian.state.tables import disposals

# Keys looked up per query when checking for records already disposed of.
_CHUNK = 500

# (source, source record id) pairs; what the schedule said (group, action, due).
RecordKeys = Iterable[tuple[str, str]]
RetentionNote = Mapping[str, Any]


@dataclass(frozen=True)
class Disposal:
    """One disposed source record, and the decision that disposed of it."""

    id: int
    source: str
    record_id: str
    entity_id: str | None
    by: str
    reason: str
    disposed_at: dt.datetime
    audit_seq: int


def _disposal(row: sa.Row[Any]) -> Disposal:
    return Disposal(
        id=row.id,
        source=row.source,
        record_id=row.record_id,
        entity_id=row.entity_id,
        by=row.decided_by,
        reason=row.reason,
        disposed_at=row.disposed_at,
        audit_seq=row.audit_seq,
    )


def _keys(records: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    keys = set()
    for item in records:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(f"a record is a (source, record id) pair, not {item!r}")
        source, record_id = item
        if not isinstance(source, str) or not source.strip():
            raise ValueError(f"a record needs a non-empty source (got {source!r})")
        if not isinstance(record_id, str) or not record_id.strip():
            raise ValueError(f"a record needs a non-empty record id (got {record_id!r})")
        keys.add((source, record_id))
    if not keys:
        raise ValueError("a disposal needs at least one record")
    return sorted(keys)


def _already(con: sa.Connection, keys: list[tuple[str, str]]) -> list[Disposal]:
    found: list[Disposal] = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        query = sa.select(disposals).where(
            sa.tuple_(disposals.c.source, disposals.c.record_id).in_(chunk)
        )
        found.extend(_disposal(row) for row in con.execute(query))
    return found


def dispose(
    con: sa.Connection,
    records: RecordKeys,
    *,
    by: str,
    reason: str,
    entity_id: str | None = None,
    retention: RetentionNote | None = None,
) -> list[Disposal]:
    """Record the disposal of `records` with its tombstone; returns the new rows.

    `retention` is what the schedule said (group, action, due), kept in the
    tombstone. Raises ValueError for an empty `by` or `reason`, no records, or a
    record already disposed of.
    """
    for name, value in (("by", by), ("reason", reason)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"a disposal needs a non-empty {name} (got {value!r})")
    keys = _keys(records)
    done = _already(con, keys)
    if done:
        first = done[0]
        raise ValueError(
            f"{len(done)} of these records were already disposed of, e.g. "
            f"{first.source}:{first.record_id} by {first.by} on "
            f"{first.disposed_at:%Y-%m-%d} (disposal #{first.id})"
        )
    now = dt.datetime.now(dt.UTC)
    event = audit.append(
        con,
        by,
        "retention.dispose",
        target=f"entity:{entity_id}" if entity_id else f"record:{keys[0][0]}:{keys[0][1]}",
        detail={
            "entity": entity_id,
            "records": [list(k) for k in keys],
            "count": len(keys),
            "retention": dict(retention) if retention else None,
            "reason_sha256": hashlib.sha256(reason.encode("utf-8")).hexdigest(),
        },
    )
    con.execute(
        sa.insert(disposals),
        [
            {
                "source": source,
                "record_id": record_id,
                "entity_id": entity_id,
                "decided_by": by,
                "reason": reason,
                "disposed_at": now,
                "audit_seq": event.seq,
            }
            for source, record_id in keys
        ],
    )
    return [
        _disposal(row)
        for row in con.execute(
            sa.select(disposals)
            .where(disposals.c.audit_seq == event.seq)
            .order_by(disposals.c.source, disposals.c.record_id)
        )
    ]


def find(con: sa.Connection, *, entity_id: str | None = None) -> list[Disposal]:
    """Disposals, oldest first; only those of one entity when given."""
    query = sa.select(disposals).order_by(disposals.c.id)
    if entity_id is not None:
        query = query.where(disposals.c.entity_id == entity_id)
    return [_disposal(row) for row in con.execute(query)]


def disposed_keys(con: sa.Connection) -> list[tuple[str, str]]:
    """Every disposed (source, record id), sorted: what each refresh removes."""
    query = sa.select(disposals.c.source, disposals.c.record_id).order_by(
        disposals.c.source, disposals.c.record_id
    )
    return [(str(s), str(r)) for s, r in con.execute(query)]
