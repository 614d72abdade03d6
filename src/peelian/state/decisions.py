"""Analysts' match decisions: two records are the same, or are different.

Resolution applies the active decisions on every refresh. `a` and `b` are
mention or entity ids, kept as given but stored in sorted order, so (x, y) and
(y, x) are the same pair. A decision is never deleted: revoking one, or making
a newer decision on the same pair (which supersedes it), records who, when
and why. Each change writes an audit event in the same transaction.

The functions here run inside the state's write transaction; callers use
`State.add_decision`, `State.revoke_decision` and `State.decisions`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, get_args

import sqlalchemy as sa

from peelian.state import audit
from peelian.state.tables import match_decisions

DecisionKind = Literal["same", "different"]
DECISION_KINDS: tuple[str, ...] = get_args(DecisionKind)


@dataclass(frozen=True)
class Decision:
    """One analyst decision about a pair of records (`a` < `b`)."""

    id: int
    kind: DecisionKind
    entity_type: str
    a: str
    b: str
    by: str
    reason: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _target(decision_id: int) -> str:
    return f"match_decision:{decision_id}"


def _require(what: str, **values: str) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{what} needs a non-empty {name} (got {value!r})")


def _decision(row: sa.Row[Any]) -> Decision:
    return Decision(
        id=row.id,
        kind=row.kind,
        entity_type=row.entity_type,
        a=row.a,
        b=row.b,
        by=row.decided_by,
        reason=row.reason,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        revoke_reason=row.revoke_reason,
    )


def get(con: sa.Connection, decision_id: int) -> Decision:
    row = con.execute(sa.select(match_decisions).where(match_decisions.c.id == decision_id)).first()
    if row is None:
        raise LookupError(f"there is no match decision #{decision_id}")
    return _decision(row)


def add(
    con: sa.Connection,
    kind: DecisionKind,
    entity_type: str,
    a: str,
    b: str,
    *,
    by: str,
    reason: str,
    client: str | None = None,
) -> Decision:
    """Record a decision; an active decision on the same pair is superseded by it."""
    if kind not in DECISION_KINDS:
        raise ValueError(f"a match decision is 'same' or 'different', not {kind!r}")
    _require("a match decision", entity_type=entity_type, a=a, b=b, by=by, reason=reason)
    if a == b:
        raise ValueError(f"a match decision needs two different records; both are {a!r}")
    a, b = sorted((a, b))
    now = dt.datetime.now(dt.UTC)
    pair = (
        (match_decisions.c.entity_type == entity_type)
        & (match_decisions.c.a == a)
        & (match_decisions.c.b == b)
        & match_decisions.c.revoked_at.is_(None)
    )
    older = con.execute(sa.select(match_decisions.c.id).where(pair)).scalar_one_or_none()
    if older is not None:
        # Revoke first: only one decision per pair may be active (a unique index says so).
        con.execute(
            sa.update(match_decisions)
            .where(match_decisions.c.id == older)
            .values(revoked_at=now, revoked_by=by, revoke_reason="superseded")
        )
    decision_id: int = con.execute(
        sa.insert(match_decisions)
        .values(
            kind=kind,
            entity_type=entity_type,
            a=a,
            b=b,
            decided_by=by,
            reason=reason,
            created_at=now,
        )
        .returning(match_decisions.c.id)
    ).scalar_one()
    if older is not None:
        con.execute(
            sa.update(match_decisions)
            .where(match_decisions.c.id == older)
            .values(revoke_reason=f"superseded by #{decision_id}")
        )
    audit.append(
        con,
        by,
        "match_decision.add",
        target=_target(decision_id),
        detail={
            "kind": kind,
            "entity_type": entity_type,
            "a": a,
            "b": b,
            "reason": reason,
            "supersedes": older,
        },
        client=client,
    )
    return get(con, decision_id)


def revoke(
    con: sa.Connection, decision_id: int, *, by: str, reason: str, client: str | None = None
) -> Decision:
    """Revoke an active decision: it stays on record with who revoked it, when and why."""
    _require(f"revoking match decision #{decision_id}", by=by, reason=reason)
    decision = get(con, decision_id)
    if decision.revoked_at is not None:
        raise ValueError(
            f"match decision #{decision_id} was already revoked by {decision.revoked_by} "
            f"at {decision.revoked_at:%Y-%m-%d %H:%M} UTC ({decision.revoke_reason})"
        )
    con.execute(
        sa.update(match_decisions)
        .where(match_decisions.c.id == decision_id)
        .values(revoked_at=dt.datetime.now(dt.UTC), revoked_by=by, revoke_reason=reason)
    )
    audit.append(
        con,
        by,
        "match_decision.revoke",
        target=_target(decision_id),
        detail={"reason": reason},
        client=client,
    )
    return get(con, decision_id)


def find(
    con: sa.Connection, entity_type: str | None = None, *, active_only: bool = True
) -> list[Decision]:
    """Decisions, oldest first; only the active ones unless `active_only` is false."""
    query = sa.select(match_decisions).order_by(match_decisions.c.created_at, match_decisions.c.id)
    if entity_type is not None:
        query = query.where(match_decisions.c.entity_type == entity_type)
    if active_only:
        query = query.where(match_decisions.c.revoked_at.is_(None))
    return [_decision(row) for row in con.execute(query)]
