"""The multi-agency meeting's decisions on people the vulnerability screen flagged.

A decision says a person is at risk, not at risk, or already known to safeguarding,
with a note of why. Decisions are appended, never changed: the latest per person
stands. Each writes an audit event in the same transaction. The next run of the
screen uses them as labels, and the list shows each flag's decision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, get_args

import sqlalchemy as sa

from peelian.state import audit
from peelian.state.tables import vulnerability_decisions as table

VulnerabilityDecisionKind = Literal["at_risk", "not_at_risk", "already_known"]
VULNERABILITY_DECISIONS: tuple[str, ...] = get_args(VulnerabilityDecisionKind)
MAX_NOTE = 2000


@dataclass(frozen=True)
class VulnerabilityDecision:
    id: int
    entity_id: str
    decision: str
    note: str
    by: str
    decided_at: dt.datetime


def _row(row: sa.Row[Any]) -> VulnerabilityDecision:
    return VulnerabilityDecision(
        row.id, row.entity_id, row.decision, row.note, row.decided_by, row.decided_at
    )


def add(
    con: sa.Connection, entity_id: str, decision: str, *, by: str, note: str
) -> VulnerabilityDecision:
    if decision not in VULNERABILITY_DECISIONS:
        raise ValueError(
            f"a decision is one of {', '.join(VULNERABILITY_DECISIONS)}, not {decision!r}"
        )
    for name, value in (("entity", entity_id), ("decided by", by), ("note", note)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"a decision needs a non-empty {name}")
    if len(note) > MAX_NOTE:
        raise ValueError(f"the note is {len(note):,} characters; at most {MAX_NOTE:,}")
    now = dt.datetime.now(dt.UTC)
    new_id: int = con.execute(
        sa.insert(table)
        .values(entity_id=entity_id, decision=decision, note=note, decided_by=by, decided_at=now)
        .returning(table.c.id)
    ).scalar_one()
    audit.append(
        con,
        by,
        "vulnerability.decide",
        target=f"entity:{entity_id}",
        detail={"decision": decision, "note": note, "id": new_id},
    )
    row = con.execute(sa.select(table).where(table.c.id == new_id)).one()
    return _row(row)


def latest(con: sa.Connection, entity_id: str | None = None) -> list[VulnerabilityDecision]:
    """The standing (latest) decision per person, or every decision on one person,
    newest first."""
    if entity_id is not None:
        rows = con.execute(
            sa.select(table).where(table.c.entity_id == entity_id).order_by(table.c.id.desc())
        )
        return [_row(r) for r in rows]
    newest = sa.select(table.c.entity_id, sa.func.max(table.c.id).label("id")).group_by(
        table.c.entity_id
    )
    sub = newest.subquery()
    rows = con.execute(sa.select(table).join(sub, table.c.id == sub.c.id).order_by(table.c.id))
    return [_row(r) for r in rows]
