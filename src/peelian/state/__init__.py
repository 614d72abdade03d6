"""Operational state: users, teams, operations, match decisions and the audit log.

    state = State.open("data/state.db")   # or sqlite:///..., postgresql+psycopg://...
    state.add_decision("same", "person", a, b, by="analyst1", reason="same PNC id") -> Decision
    state.revoke_decision(decision.id, by="analyst2", reason="twins") -> Decision
    state.decisions(entity_type=None, active_only=True) -> list[Decision], oldest first
    state.append_audit(actor, action, target=, detail=, purpose=, client=, outcome="ok")
    state.audit_events(after=0, limit=None) -> list[AuditEvent]
    state.verify_audit(anchors=()) -> AuditVerification(ok, checked, first_bad_seq, problem)
    state.anchor_audit(path, by=) -> (AuditVerification, Anchor | None): the last hash, kept outside
    state.close()                         # or `with State.open(...) as state:`
Opening migrates to the latest schema (Alembic scripts in migrations/). A newer
decision on a pair supersedes the older; nothing is deleted; every change is audited.

Modules: `database` (URL, engine, locking, `State`), `tables` (the schema as
SQLAlchemy Core), `decisions` and `audit` (the logic, run inside a transaction),
`migrations/` (Alembic; the only thing that changes the schema).
"""

from peelian.state.audit import AuditEvent, AuditVerification
from peelian.state.database import State, StateError, database_url
from peelian.state.decisions import Decision, DecisionKind

__all__ = [
    "AuditEvent",
    "AuditVerification",
    "Decision",
    "DecisionKind",
    "State",
    "StateError",
    "database_url",
]
