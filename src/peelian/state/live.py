"""The live command-and-control picture (a feed): incidents as they are now and each
resource's latest status, with the feed's clock (the moment the picture is true at).

A feed is written by whatever reads the force's command-and-control system; Peelian's
own writer is `peelian incidents replay`, which replays a day of the hub's calls and
status updates in simulated time. Updates are upserts: the newest word on an incident
or a resource replaces the last, and the clock moves forward only. Every row carries
the security label (marking, compartment, sharing roles) of the record it comes from,
and readers see only rows their clearance, operations and roles allow. A feed counts as
live while it is written to (`LIVE_SECONDS`); a feed that stopped is history. The functions run
inside the state's write transaction; callers use `State.live_update`,
`State.live_picture` and `State.live_reset`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from peelian.state.tables import live_feeds, live_incidents, live_resources

INCIDENT_FIELDS = (
    "reference", "called", "grade", "area_type", "opening_code", "beat", "thrive", "lat",
    "lon", "dispatched", "arrived", "closed", "resource", "target_minutes", "marking",
    "compartment", "sharing_roles",
)  # fmt: skip
LIVE_SECONDS = 120  # a feed not written to for this long has stopped
RESOURCE_FIELDS = (
    "resource", "callsign", "status", "lat", "lon", "incident", "since", "marking",
    "compartment", "sharing_roles",
)  # fmt: skip


@dataclass
class LivePicture:
    feed: str
    clock: dt.datetime
    updated_at: dt.datetime
    speed: float
    description: str | None
    incidents: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)


def _checked(row: Mapping[str, Any], fields: tuple[str, ...], kind: str) -> dict[str, Any]:
    unknown = set(row) - set(fields)
    if unknown:
        raise ValueError(f"a live {kind} has no field {sorted(unknown)[0]!r}")
    key = fields[0]
    if not row.get(key):
        raise ValueError(f"a live {kind} needs its {key}")
    # every row carries the security label of the record it comes from
    if not row.get("marking"):
        raise ValueError(f"a live {kind} needs the marking of its record")
    out = {f: row.get(f) for f in fields}
    out["sharing_roles"] = sorted(out["sharing_roles"] or [])
    return out


def _upsert(
    con: sa.Connection, table: sa.Table, keys: tuple[str, ...], row: dict[str, Any]
) -> None:
    where = sa.and_(*(table.c[k] == row[k] for k in keys))
    done = con.execute(sa.update(table).where(where).values(**row))
    if done.rowcount == 0:
        con.execute(sa.insert(table).values(**row))


def update(
    con: sa.Connection,
    feed: str,
    *,
    clock: dt.datetime,
    incidents: Iterable[Mapping[str, Any]] = (),
    resources: Iterable[Mapping[str, Any]] = (),
    speed: float = 1.0,
    description: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Apply incident and resource updates and move the feed's clock to `clock`."""
    if not feed or len(feed) > 100:
        raise ValueError("a feed needs a name of 1 to 100 characters")
    now = now or dt.datetime.now(dt.UTC)
    old = con.execute(sa.select(live_feeds.c.clock).where(live_feeds.c.feed == feed)).first()
    if old is not None and clock < old.clock:
        raise ValueError(
            f"feed {feed!r} is at {old.clock.isoformat()}; its clock can't go back to "
            f"{clock.isoformat()} (reset the feed to start again)"
        )
    _upsert(con, live_feeds, ("feed",), {"feed": feed, "clock": clock, "updated_at": now,
                                         "speed": speed, "description": description})  # fmt: skip
    for row in incidents:
        _upsert(con, live_incidents, ("feed", "reference"),
                {"feed": feed, **_checked(row, INCIDENT_FIELDS, "incident")})  # fmt: skip
    for row in resources:
        _upsert(con, live_resources, ("feed", "resource"),
                {"feed": feed, **_checked(row, RESOURCE_FIELDS, "resource")})  # fmt: skip


def reset(con: sa.Connection, feed: str) -> None:
    for table in (live_incidents, live_resources, live_feeds):
        con.execute(sa.delete(table).where(table.c.feed == feed))


def picture(con: sa.Connection, feed: str | None = None) -> LivePicture | None:
    """The feed's open incidents and resources (the most recently updated feed if none
    is named), or None when there is no feed."""
    query = sa.select(live_feeds)
    query = (query.where(live_feeds.c.feed == feed) if feed
             else query.order_by(live_feeds.c.updated_at.desc()).limit(1))  # fmt: skip
    head = con.execute(query).first()
    if head is None:
        return None
    out = LivePicture(head.feed, head.clock, head.updated_at, head.speed, head.description)
    rows = con.execute(
        sa.select(live_incidents)
        .where(live_incidents.c.feed == head.feed)
        .where(sa.or_(live_incidents.c.closed.is_(None), live_incidents.c.closed > head.clock))
        .where(live_incidents.c.called <= head.clock)
    ).mappings()
    out.incidents = [{k: v for k, v in r.items() if k != "feed"} for r in rows]
    res = con.execute(
        sa.select(live_resources).where(live_resources.c.feed == head.feed)
    ).mappings()
    out.resources = [{k: v for k, v in r.items() if k != "feed"} for r in res]
    return out
