"""The auditor's and the administrator's questions: the audit log by user, by
entity ("who looked at this person") and by time, its chain check, misuse
alerts; user accounts. Same rules as reads.py: the policy first, then an audit
event for the look (viewing the audit log is itself audited).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import duckdb

from peelian.govern.purpose import PurposeError, parse_purpose
from peelian.serve.problems import Problem
from peelian.serve.reads import Reads
from peelian.state import State
from peelian.state.accounts import AccountError


def event_json(event: Any) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.created_at.isoformat(),
        "user": event.actor,
        "action": event.action,
        "target": event.target,
        "purpose": event.purpose,
        "client": event.client,
        "outcome": event.outcome,
        "detail": event.detail,
    }


def _day(value: dt.date | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.combine(value, dt.time(), dt.UTC)


def audit_log(
    reads: Reads,
    *,
    user: str | None = None,
    entity: str | None = None,
    action: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    before: int | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Audit events, newest first, a page at a time (`before` = the last seq seen)."""
    grant = reads.grant("audit.view")
    filters = {
        "actor": user or None,
        "entity": entity or None,
        "action": action or None,
        "since": _day(since),
        "until": _day(until + dt.timedelta(days=1)) if until else None,
    }
    events = reads.state.find_audit(**filters, before=before, limit=limit + 1)
    page = events[:limit]
    shown = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in filters.items()}
    reads.audit(
        grant,
        detail={"filters": {k: v for k, v in shown.items() if v}, "events": len(page)},
    )
    return {
        "items": [event_json(e) for e in page],
        "next": page[-1].seq if len(events) > limit else None,
    }


# The last event this process found the chain sound up to, and when the whole chain
# was last walked, per state database: the audit page then checks only what came
# since (a walk of the whole chain costs about 40 us an event; `peelian audit verify`
# walks it all, with the anchors).
_VERIFIED: dict[str, tuple[tuple[int, str], str]] = {}
_VERIFIED_LOCK = threading.Lock()


def audit_verify(reads: Reads) -> dict[str, Any]:
    grant = reads.grant("audit.verify")
    key = reads.state.engine.url.render_as_string(hide_password=True)
    with _VERIFIED_LOCK:
        known = _VERIFIED.get(key)
    after, walked_at = known if known else (None, None)
    result = reads.state.verify_audit(after=after)
    if result.ok and result.last is not None:
        walked_at = walked_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with _VERIFIED_LOCK:
            _VERIFIED[key] = (result.last, walked_at)
    else:
        with _VERIFIED_LOCK:  # a broken chain is walked whole again next time
            _VERIFIED.pop(key, None)
    events = result.last[0] if result.ok and result.last else result.checked
    reads.audit(
        grant,
        detail={
            "ok": result.ok, "checked": result.checked, "first_bad": result.first_bad_seq,
            "since": after[0] if after else 0,
        },
    )  # fmt: skip
    return {
        "ok": result.ok,
        "checked": events,
        "since": after[0] if after else 0,
        "walked_at": walked_at,
        "first_bad_seq": result.first_bad_seq,
        "problem": result.problem,
    }


def find_alerts(state: State, con: duckdb.DuckDBPyConnection, events: list[Any]) -> list[Any]:
    """Misuse alerts over `events`: staff profiles and flagged persons from the
    state, the persons looked up and the known incident/crime references from
    the hub (`con`). The one place the CLI and the auditor's page get them."""
    from peelian.govern.misuse import StaffProfile, detect, person_facts, person_ids

    staff = {
        a.username: StaffProfile(
            a.username,
            a.role,
            a.forenames,
            a.surname,
            a.date_of_birth,
            a.home_postcode,
            a.home_address,
            frozenset(a.teams),
        )
        for a in state.accounts.users()
    }
    flagged = {f.entity_id for f in state.accounts.flagged()}
    persons = person_facts(con, person_ids(events))
    # Of the references the look-ups gave as purposes, those that exist in the hub
    # (asking for those alone, not reading every reference the hub holds).
    given = set()
    for event in events:
        try:
            purpose = parse_purpose(event.purpose) if event.purpose else None
        except PurposeError:
            continue
        if purpose is not None and purpose.reference:
            given.add(purpose.reference.upper())
    refs = {
        str(r)
        for (r,) in con.execute(
            "SELECT DISTINCT upper(reference) FROM event "
            "WHERE upper(reference) IN (SELECT unnest($refs::VARCHAR[]))",
            {"refs": sorted(given)},
        ).fetchall()
    }
    return detect(events, staff, persons, flagged, known_refs=refs)


def alerts(
    reads: Reads, *, since: dt.date | None = None, until: dt.date | None = None, limit: int = 100
) -> dict[str, Any]:
    """Misuse alerts with their evidence (docs/misuse.md): leads, not findings."""

    grant = reads.grant("alerts.view")
    filters = {"since": _day(since), "until": _day(until + dt.timedelta(days=1)) if until else None}
    events = list(reads.state.iter_audit(**filters))
    con = reads.hub.cursor()
    try:
        found = find_alerts(reads.state, con, events)
    finally:
        con.close()
    reads.audit(grant, detail={"events": len(events), "alerts": len(found)})
    return {"total": len(found), "items": [a.as_dict() for a in found[:limit]]}


def account_json(a: Any) -> dict[str, Any]:
    return {
        "username": a.username,
        "name": a.display_name,
        "role": a.role,
        "vetting": a.vetting,
        "teams": list(a.teams),
        "disabled": a.disabled,
        "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None,
        "locked": a.locked_until is not None
        and a.locked_until > dt.datetime.now(dt.UTC).replace(tzinfo=a.locked_until.tzinfo),
    }


def users(reads: Reads) -> dict[str, Any]:
    grant = reads.grant("users.manage")
    accounts = reads.state.accounts
    out = {
        "items": [account_json(a) for a in accounts.users()],
        "teams": accounts.teams(),
        "operations": [
            {
                "name": o.name,
                "team": o.team,
                "disclose": o.disclose,
                "closed": o.closed_at is not None,
            }
            for o in accounts.operations()
        ],
    }
    reads.audit(grant, action="users.list")
    return out


def change_user(reads: Reads, username: str, change: str, value: str) -> dict[str, Any]:
    """An administrator's change to an account (each audited by the accounts store)."""
    reads.grant("users.manage")
    accounts = reads.state.accounts
    by = reads.principal.username
    try:
        accounts.user(username)
    except AccountError:
        raise Problem(404, f"{username[:100]}: no such user") from None
    try:
        if change == "role":
            accounts.set_role(username, value, by=by)
        elif change == "vetting":
            accounts.set_vetting(username, value, by=by)
        elif change == "disable":
            if username == by:
                raise Problem(409, "you can't disable your own account")
            accounts.disable(username, by=by, reason=value or "disabled by an administrator")
        elif change == "enable":
            accounts.enable(username, by=by, reason=value or "enabled by an administrator")
        elif change == "add-team":
            accounts.add_member(username, value, by=by)
        elif change == "remove-team":
            accounts.remove_member(username, value, by=by)
        else:
            raise Problem(400, f"unknown change {change!r}")
        return account_json(accounts.user(username))
    except (AccountError, ValueError) as exc:
        raise Problem(400, str(exc)) from None


def add_user(
    reads: Reads, username: str, name: str, role: str, vetting: str, password: str | None
) -> dict[str, Any]:
    reads.grant("users.manage")
    try:
        reads.state.accounts.add_user(
            username, name, role, vetting, by=reads.principal.username, password=password
        )
        return account_json(reads.state.accounts.user(username))
    except (AccountError, ValueError) as exc:
        raise Problem(400, str(exc)) from None
