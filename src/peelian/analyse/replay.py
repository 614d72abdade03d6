"""Replay a day of 999 / 101 calls and status updates into a live feed
(`peelian incidents replay`), so the live incident view can be seen moving.

The day (midnight to midnight, both included) is read from the hub's `kpi_incidents`
and `kpi_status` (built by `peelian analyse` or `peelian kpis`). The feed starts with
the picture at the day's first moment (incidents still open from the day before, every resource's
last status), then each call, dispatch, arrival, close and status update is
written to the state database when the simulated clock passes it. The simulated
clock runs `speed` times faster than the wall clock; updates go in batches, one
write transaction every `step` wall seconds, each moving the feed's clock on.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from peelian.analyse.incidents import THRIVE
from peelian.analyse.settings import Settings
from peelian.state import State

_INCIDENT_SQL = """
SELECT reference, called, grade, area_type, opening_code, beat,
       threat, harm, risk, investigation, vulnerability, engagement,
       lat, lon, dispatched, arrived, closed, resource, target_minutes, marking, compartment,
       sharing_roles
FROM kpi_incidents
WHERE called <= $end AND (closed IS NULL OR closed >= $start) AND reference IS NOT NULL
ORDER BY called, reference
"""


@dataclass
class ReplaySummary:
    feed: str
    day: dt.date
    incidents: int
    status_updates: int
    writes: int
    clock: dt.datetime


def _incident_row(r: tuple[Any, ...], at: dt.datetime) -> dict[str, Any]:
    """The incident as the control room knew it at `at`."""
    dispatched, arrived, closed = r[14], r[15], r[16]
    return {
        "reference": r[0],
        "called": r[1],
        "grade": r[2],
        "area_type": r[3],
        "opening_code": r[4],
        "beat": r[5],
        "thrive": dict(zip(THRIVE, r[6:12], strict=True)),
        "lat": r[12],
        "lon": r[13],
        "dispatched": dispatched if dispatched and dispatched <= at else None,
        "arrived": arrived if arrived and arrived <= at else None,
        "closed": closed if closed and closed <= at else None,
        "resource": r[17] if dispatched and dispatched <= at else None,
        "target_minutes": r[18],
        "marking": r[19],
        "compartment": r[20],
        "sharing_roles": list(r[21] or []),
    }


def replay_day(
    con: duckdb.DuckDBPyConnection,
    state: State,
    day: dt.date,
    *,
    speed: float = 60.0,
    feed: str = "replay",
    timezone: str = "Europe/London",
    step: float = 1.0,
    until: dt.datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_write: Callable[[dt.datetime], None] | None = None,
) -> ReplaySummary:
    """Replay `day` (force local time) into `feed`; returns when the day (or `until`)
    has been replayed. The feed is reset first."""
    if speed <= 0:
        raise ValueError("speed must be above 0")
    tz = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    stop = min(end, until) if until else end
    rows = con.execute(_INCIDENT_SQL, {"start": start, "end": end}).fetchall()
    if not rows:
        raise LookupError(f"the hub has no incidents on {day.isoformat()}")
    # what happens to each incident during the day, in time order
    changes: list[tuple[dt.datetime, int, str, dict[str, Any]]] = []
    opening = [_incident_row(r, start) for r in rows if r[1] < start]
    for r in rows:
        for moment in (r[1], r[14], r[15], r[16]):
            if moment is not None and start <= moment <= end:
                changes.append((moment, 0, r[0], _incident_row(r, moment)))
    statuses = con.execute(
        """SELECT logged, seq, resource, callsign, status, lat, lon, incident, marking,
                  compartment, sharing_roles
           FROM kpi_status WHERE logged <= $end ORDER BY seq""",
        {"end": end},
    ).fetchall()
    first: dict[str, dict[str, Any]] = {}
    day_updates = 0
    for logged, seq, res, callsign, status, lat, lon, incident, marking, comp, roles in statuses:
        row = {"resource": res, "callsign": callsign, "status": status, "lat": lat, "lon": lon,
               "incident": incident, "since": logged, "marking": marking,
               "compartment": comp, "sharing_roles": list(roles or [])}  # fmt: skip
        if logged < start:
            first[res] = row
        else:
            changes.append((logged, 1 + int(seq), res, row))
            day_updates += 1
    changes.sort(key=lambda c: (c[0], c[1], c[2]))
    state.live_reset(feed)
    description = f"replay of {day.isoformat()} at {speed:g}x"
    state.live_update(feed, clock=start, incidents=opening, resources=list(first.values()),
                      speed=speed, description=description)  # fmt: skip
    writes = 1
    began = clock()
    i = 0
    now = start
    while now < stop:
        sleep(step)
        now = min(stop, start + dt.timedelta(seconds=(clock() - began) * speed))
        incidents: dict[str, dict[str, Any]] = {}
        resources: dict[str, dict[str, Any]] = {}
        while i < len(changes) and changes[i][0] <= now:
            _, kind, key, row = changes[i]
            (incidents if kind == 0 else resources)[key] = row
            i += 1
        state.live_update(feed, clock=now, incidents=list(incidents.values()),
                          resources=list(resources.values()), speed=speed,
                          description=description)  # fmt: skip
        writes += 1
        if on_write is not None:
            on_write(now)
    return ReplaySummary(feed, day, len(rows), day_updates, writes, now)


def busiest_day(con: duckdb.DuckDBPyConnection, settings: Settings) -> dt.date:
    """The day with the most grade 1 and 2 calls (a good day to watch)."""
    settings.set_zone(con)
    rows = con.execute(
        """SELECT called::DATE AS d FROM kpi_incidents WHERE grade <= 2
           GROUP BY 1 ORDER BY count(*) DESC, d DESC LIMIT 1"""
    ).fetchall()
    if not rows:
        raise LookupError("the hub has no graded incidents; run `peelian analyse` or `kpis`")
    day: dt.date = rows[0][0]
    return day
