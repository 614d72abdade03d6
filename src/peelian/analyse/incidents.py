"""999 / 101 incidents, response times and who can get there first.

`build_incident_tables(con, settings)` writes, from the command-and-control
records in the hub:

- `kpi_incidents`: one row per live incident record, with its grade, THRIVE
  fields, call / dispatch / arrival / close times, area type, place, the minutes
  from call to first arrival, the target for its grade and area type
  (settings `response_targets`) and whether it was breached;
- `kpi_status`: each resource's status updates (on duty, deployed, at scene,
  available, off duty) with the position given, in the order they were logged.

Read-time functions take the table (or a view of the rows a reader may see):
`response` (KPIs per grade and area type), `breaches` (the incidents over
target), `open_at` (what was open at a moment, with the time since the call),
and `fleet_at`, which rebuilds every resource's state from the status log, with
`Fleet.ranked`, which ranks the available ones by an estimated time to arrive
(straight-line distance x circuity at an area-type speed, plus turnout: the
`travel` settings; no road network ships with Peelian).
`evaluate_dispatch` compares, for graded-1 incidents, the recommended resource's
arrival under the generator's true travel model with the dispatched resource's.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from peelian.analyse.kpis import Table, first, located_sql
from peelian.analyse.settings import Settings, TravelSettings

KM_PER_DEG_LAT = 111.2
AVAILABLE = ("ON DUTY", "AVAILABLE")
THRIVE = ("threat", "harm", "risk", "investigation", "vulnerability", "engagement")

TABLES = """
CREATE OR REPLACE TABLE kpi_incidents (
    incident_id VARCHAR NOT NULL, reference VARCHAR, called TIMESTAMPTZ, grade INTEGER,
    area_type VARCHAR, call_source VARCHAR, opening_code VARCHAR, closing_code VARCHAR,
    threat VARCHAR, harm VARCHAR, risk VARCHAR, investigation VARCHAR, vulnerability VARCHAR,
    engagement VARCHAR, dispatched TIMESTAMPTZ, arrived TIMESTAMPTZ, closed TIMESTAMPTZ,
    resource VARCHAR, beat VARCHAR, lat DOUBLE, lon DOUBLE, response_minutes DOUBLE,
    target_minutes DOUBLE, breached BOOLEAN,
    marking VARCHAR NOT NULL, compartment VARCHAR, sharing_roles VARCHAR[]
);
CREATE OR REPLACE TABLE kpi_status (
    status_id VARCHAR NOT NULL, logged TIMESTAMPTZ NOT NULL, seq BIGINT NOT NULL,
    resource VARCHAR NOT NULL, callsign VARCHAR, status VARCHAR NOT NULL,
    lat DOUBLE, lon DOUBLE, incident VARCHAR,
    marking VARCHAR NOT NULL, compartment VARCHAR, sharing_roles VARCHAR[]
);
"""


def build_incident_tables(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    settings.set_zone(con)
    con.execute(TABLES)
    targets = [(t.grade, t.area_type, t.minutes) for t in settings.response_targets]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE k_targets (grade INTEGER, area_type VARCHAR, m DOUBLE)"
    )
    if targets:
        con.executemany("INSERT INTO k_targets VALUES (?, ?, ?)", targets)
    con.execute(
        f"""
        INSERT INTO kpi_incidents
        WITH inc AS (
            SELECT ev.mention_id, ev.reference, coalesce(ev.occurred, sr.occurred) AS called,
                   TRY_CAST(ev.attributes['grade'] AS INTEGER) AS grade,
                   upper(ev.attributes['area_type']) AS area_type, ev.attributes AS a,
                   TRY_CAST(ev.attributes['dispatched'] AS TIMESTAMPTZ) AS dispatched,
                   TRY_CAST(ev.attributes['arrived'] AS TIMESTAMPTZ) AS arrived,
                   ev."end" AS closed, ev.beat, sr.marking, sr.compartment, sr.sharing_roles
            FROM event ev
            JOIN mentions m ON m.mention_id = ev.mention_id AND m.deleted_at IS NULL
            JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
                 AND sr.deleted_at IS NULL
            WHERE ev.event_type = 'incident'
        ),
        located AS ({located_sql("inc")})
        SELECT i.mention_id, i.reference, i.called, i.grade, i.area_type,
               i.a['call_source'], i.a['opening_code'], i.a['closing_code'], i.a['threat'],
               i.a['harm'], i.a['risk'], i.a['investigation'], i.a['vulnerability'],
               i.a['engagement'], i.dispatched, i.arrived, i.closed, i.a['resource'], i.beat,
               loc.lat, loc.lon,
               round(epoch(i.arrived - i.called) / 60.0, 2) AS response_minutes,
               t.m,
               -- with no arrival: a breach once the target passed before it was closed;
               -- closed within the target unattended (or still open): not counted
               CASE WHEN t.m IS NULL THEN NULL
                    WHEN i.arrived IS NOT NULL THEN epoch(i.arrived - i.called) / 60.0 > t.m
                    WHEN i.closed IS NOT NULL AND epoch(i.closed - i.called) / 60.0 > t.m
                         THEN true
                    ELSE NULL END,
               i.marking, i.compartment, i.sharing_roles
        FROM inc i
        LEFT JOIN located loc ON loc.mention_id = i.mention_id
        LEFT JOIN k_targets t ON t.grade = i.grade AND t.area_type = i.area_type
        """
    )
    con.execute(
        f"""
        INSERT INTO kpi_status
        WITH st AS (
            SELECT ev.mention_id, coalesce(ev.occurred, sr.occurred) AS logged,
                   sr.file, sr.extract_time, sr.row_number,
                   ev.attributes['callsign'] AS callsign,
                   upper(ev.attributes['status']) AS status,
                   sr.marking, sr.compartment, sr.sharing_roles
            FROM event ev
            JOIN mentions m ON m.mention_id = ev.mention_id AND m.deleted_at IS NULL
            JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
                 AND sr.deleted_at IS NULL
            WHERE ev.event_type = 'officer_status'
        ),
        who AS (
            -- the resource: the officer's collar number, else the call sign
            SELECT l.to_mention AS mention_id,
                   min(list_filter(p.identifiers, lambda x: x.scheme = 'collar_number')[1].value)
                       AS collar
            FROM links l JOIN person p ON p.mention_id = l.from_mention
            WHERE l.type = 'PARTY_TO' AND l.deleted_at IS NULL
              AND l.to_mention IN (SELECT mention_id FROM st)
            GROUP BY 1
        ),
        located AS ({located_sql("st")}),
        about AS (
            SELECT l.from_mention AS mention_id, min(l.to_ref_id) AS incident
            FROM links l WHERE l.type = 'LINKED_TO' AND l.deleted_at IS NULL
              AND l.from_mention IN (SELECT mention_id FROM st)
            GROUP BY 1
        )
        -- the order updates were logged in: time, then the extract and the row within it
        SELECT st.mention_id, st.logged,
               row_number() OVER (ORDER BY st.logged, st.extract_time, st.file,
                                  st.row_number, st.mention_id),
               coalesce(w.collar, st.callsign), st.callsign, st.status, loc.lat, loc.lon,
               ab.incident, st.marking, st.compartment, st.sharing_roles
        FROM st
        LEFT JOIN who w ON w.mention_id = st.mention_id
        LEFT JOIN located loc ON loc.mention_id = st.mention_id
        LEFT JOIN about ab ON ab.mention_id = st.mention_id
        WHERE st.logged IS NOT NULL AND coalesce(w.collar, st.callsign) IS NOT NULL
        """
    )
    counts = {}
    for table in ("kpi_incidents", "kpi_status"):
        row = first(con, f"SELECT count(*) FROM {table}")
        counts[table] = int(row[0]) if row else 0
    return counts


# -- response KPIs ---------------------------------------------------------------------


def response(
    con: duckdb.DuckDBPyConnection, incidents: str, start: dt.datetime, end: dt.datetime
) -> Table:
    rows = con.execute(
        f"""SELECT grade, area_type, count(*), count(arrived),
                   any_value(target_minutes),
                   round(median(response_minutes), 1),
                   round(quantile_cont(response_minutes, 0.9), 1),
                   round(100.0 * count(*) FILTER (WHERE NOT breached)
                         / nullif(count(*) FILTER (WHERE breached IS NOT NULL), 0), 1),
                   count(*) FILTER (WHERE breached)
            FROM {incidents} WHERE called >= $s AND called < $e
            GROUP BY 1, 2 ORDER BY 1, 2""",
        {"s": start, "e": end},
    ).fetchall()
    return Table(
        "response",
        f"Response to incidents, {start:%d %b %Y} to {end - dt.timedelta(seconds=1):%d %b %Y}",
        ["grade", "area_type", "incidents", "attended", "target_minutes", "median_minutes",
         "p90_minutes", "within_target_pct", "breaches"],
        [list(r) for r in rows],
        ["Minutes from the call to the first arrival. An incident closed unattended after "
         "its target counts as a breach; one closed unattended within it, or still open, "
         "is not counted."],
    )  # fmt: skip


def breaches(
    con: duckdb.DuckDBPyConnection,
    incidents: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    limit: int = 100,
    offset: int = 0,
) -> Table:
    rows = con.execute(
        f"""SELECT reference, strftime(called, '%Y-%m-%d %H:%M'), grade, area_type, opening_code,
                   beat, resource, response_minutes, target_minutes,
                   round(coalesce(response_minutes, epoch(closed - called) / 60.0)
                         - target_minutes, 1) AS over
            FROM {incidents} WHERE breached AND called >= $s AND called < $e
            ORDER BY over DESC NULLS LAST, reference LIMIT $limit OFFSET $offset""",
        {"s": start, "e": end, "limit": limit, "offset": offset},
    ).fetchall()
    return Table(
        "breaches",
        "Incidents attended later than the target for their grade",
        ["reference", "called", "grade", "area_type", "opening_code", "beat", "resource",
         "response_minutes", "target_minutes", "minutes_over"],
        [list(r) for r in rows],
    )  # fmt: skip


def open_at(
    con: duckdb.DuckDBPyConnection, incidents: str, when: dt.datetime, *, limit: int = 200
) -> list[dict[str, Any]]:
    """Incidents open at `when` (called, not yet closed), most urgent first."""
    rows = con.execute(
        f"""SELECT incident_id, reference, called, grade, area_type, opening_code, beat,
                   {{{", ".join(f"'{t}': {t}" for t in THRIVE)}}} AS thrive,
                   dispatched, arrived, resource, lat, lon, target_minutes
            FROM {incidents}
            WHERE called <= $w AND (closed IS NULL OR closed > $w)
            ORDER BY grade NULLS LAST, called LIMIT $limit""",
        {"w": when, "limit": limit},
    )
    names = [d[0] for d in rows.description]
    return [open_incident(when, dict(zip(names, r, strict=True))) for r in rows.fetchall()]


def open_incident(when: dt.datetime, row: dict[str, Any]) -> dict[str, Any]:
    """An open incident as the live view shows it at `when`, from a row with the fields
    of `kpi_incidents` (THRIVE as one mapping) or of a live feed's incident."""
    called, dispatched, arrived = row["called"], row["dispatched"], row["arrived"]
    target = row["target_minutes"]
    waited = (when - called).total_seconds() / 60 if called else None
    if arrived and arrived <= when:
        state = "at scene"
    elif dispatched and dispatched <= when:
        state = "dispatched"
    else:
        state = "waiting"
    return {
        "incident_id": row.get("incident_id") or f"live:{row['reference']}",
        "reference": row["reference"],
        "called": called.isoformat() if called else None, "grade": row["grade"],
        "area_type": row["area_type"], "opening_code": row["opening_code"],
        "beat": row["beat"], "thrive": dict(row["thrive"] or {}), "state": state,
        "resource": row["resource"] if state != "waiting" else None,
        "lat": row["lat"], "lon": row["lon"],
        "minutes_since_call": round(waited, 1) if waited is not None else None,
        "target_minutes": target,
        "overdue": bool(target is not None and waited is not None
                        and state == "waiting" and waited > target),
    }  # fmt: skip


# -- resources: availability and time to arrive ------------------------------------------


def km_between(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Straight-line km (equirectangular; accurate to well under 1% across a force)."""
    dy = (np.asarray(lat2) - lat1) * KM_PER_DEG_LAT
    dx = (
        (np.asarray(lon2) - lon1)
        * KM_PER_DEG_LAT
        * np.cos(np.radians((np.asarray(lat2) + lat1) / 2))
    )
    return np.hypot(dx, dy)


@dataclass
class Fleet:
    """Every resource's state as a status log is replayed in order."""

    names: list[str]
    callsigns: list[str]
    status: list[str]
    lat: np.ndarray
    lon: np.ndarray
    since: list[dt.datetime | None]

    @classmethod
    def empty(cls, names: list[str], callsigns: list[str]) -> Fleet:
        n = len(names)
        return cls(names, callsigns, ["OFF DUTY"] * n, np.full(n, np.nan), np.full(n, np.nan),
                   [None] * n)  # fmt: skip

    def apply(
        self, k: int, status: str, lat: float | None, lon: float | None, at: dt.datetime
    ) -> None:
        self.status[k] = status
        if lat is not None and lon is not None:
            self.lat[k], self.lon[k] = lat, lon
        self.since[k] = at

    def ranked(
        self, lat: float, lon: float, area_type: str, travel: TravelSettings, *, top: int = 10
    ) -> list[dict[str, Any]]:
        free = np.array([s in AVAILABLE for s in self.status]) & ~np.isnan(self.lat)
        idx = np.flatnonzero(free)
        if not len(idx):
            return []
        km = km_between(lat, lon, self.lat[idx], self.lon[idx])
        order = np.argsort(km, kind="stable")[:top]
        return [
            {
                "resource": self.names[idx[j]],
                "callsign": self.callsigns[idx[j]],
                "status": self.status[idx[j]],
                "km": round(float(km[j]), 2),
                "eta_minutes": round(travel.minutes(float(km[j]), area_type), 1),
                "lat": float(self.lat[idx[j]]),
                "lon": float(self.lon[idx[j]]),
            }
            for j in order
        ]


def _status_log(
    con: duckdb.DuckDBPyConnection, status: str, until: dt.datetime | None = None
) -> list[tuple[Any, ...]]:
    where = "WHERE logged <= $u" if until else ""
    return con.execute(
        f"SELECT logged, resource, callsign, status, lat, lon, incident FROM {status} {where} "
        "ORDER BY seq",
        {"u": until} if until else {},
    ).fetchall()


def fleet_from(resources: list[dict[str, Any]]) -> Fleet:
    """A fleet from resources' latest status (a live feed's picture)."""
    names = [str(r["resource"]) for r in resources]
    fleet = Fleet.empty(names, [str(r.get("callsign") or "") for r in resources])
    for k, r in enumerate(resources):
        fleet.apply(k, str(r["status"]), r.get("lat"), r.get("lon"), r["since"])
    return fleet


def fleet_at(con: duckdb.DuckDBPyConnection, status: str, when: dt.datetime) -> Fleet:
    """Every resource's state at `when`: what replaying the status log up to `when`
    leaves (`Fleet.apply`: the last status, its time and callsign, the last position
    given), worked out by the database rather than row by row."""
    rows = con.execute(
        f"""SELECT resource, arg_max_null(callsign, seq), arg_max(status, seq),
                   arg_max(logged, seq),
                   arg_max(lat, seq) FILTER (WHERE lat IS NOT NULL AND lon IS NOT NULL),
                   arg_max(lon, seq) FILTER (WHERE lat IS NOT NULL AND lon IS NOT NULL)
            FROM {status} WHERE logged <= $u GROUP BY resource ORDER BY resource""",
        {"u": when},
    ).fetchall()
    fleet = Fleet.empty([r[0] for r in rows], [r[1] or "" for r in rows])
    for k, (_, _, st, at, la, lo) in enumerate(rows):
        fleet.apply(k, st, la, lo, at)
    return fleet


@dataclass
class DispatchResult:
    incidents: int
    compared: int
    no_later: int
    same_resource: int
    minutes_saved_median: float
    no_resource_free: int

    @property
    def share_no_later(self) -> float:
        return self.no_later / self.compared if self.compared else 0.0


def evaluate_dispatch(
    con: duckdb.DuckDBPyConnection, settings: Settings, truth: Path, *, grade: int = 1
) -> DispatchResult:
    """For each incident of `grade` that was dispatched: the resource Peelian ranks first
    from the status log at the moment of dispatch, timed by the generator's true travel
    model (truth/travel_model.json), against the arrival the data records."""
    try:
        model = json.loads((Path(truth) / "travel_model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"{truth}/travel_model.json: {exc}") from None
    true = TravelSettings(
        circuity=float(model["circuity"]),
        speed_kmh={k.upper(): float(v) for k, v in model["speed_kmh"].items()},
        turnout_minutes=float(model["turnout_minutes"]),
    )
    incidents = con.execute(
        """SELECT reference, dispatched, arrived, lat, lon, area_type FROM kpi_incidents
           WHERE grade = $g AND dispatched IS NOT NULL AND arrived IS NOT NULL
             AND lat IS NOT NULL ORDER BY dispatched, reference""",
        {"g": grade},
    ).fetchall()
    log = _status_log(con, "kpi_status")
    names = sorted({r[1] for r in log})
    index = {n: k for k, n in enumerate(names)}
    fleet = Fleet.empty(names, [""] * len(names))
    sent = {
        str(r[0]): str(r[1])
        for r in con.execute(
            "SELECT incident, arg_min(resource, seq) FROM kpi_status "
            "WHERE status = 'DEPLOYED' AND incident IS NOT NULL GROUP BY 1"
        ).fetchall()
    }
    i = 0
    compared = no_later = same = no_free = 0
    saved: list[float] = []
    for ref, dispatched, arrived, lat, lon, area_type in incidents:
        held = []
        # every update up to the moment of dispatch, except this incident's own
        while i < len(log) and log[i][0] <= dispatched:
            row = log[i]
            if row[6] == ref and row[0] == dispatched:
                held.append(row)
            else:
                fleet.apply(index[row[1]], row[3], row[4], row[5], row[0])
            i += 1
        best = fleet.ranked(lat, lon, area_type or "URBAN", settings.travel, top=1)
        for row in held:
            fleet.apply(index[row[1]], row[3], row[4], row[5], row[0])
        if not best:
            no_free += 1
            continue
        compared += 1
        minutes = true.minutes(best[0]["km"], area_type or "URBAN")
        true_arrival = dispatched + dt.timedelta(minutes=minutes)
        # the data's times are to the second (the world's to the minute's fraction)
        if true_arrival <= arrived + dt.timedelta(seconds=1):
            no_later += 1
        saved.append((arrived - true_arrival).total_seconds() / 60)
        if sent.get(ref) == best[0]["resource"]:
            same += 1
    return DispatchResult(
        incidents=len(incidents),
        compared=compared,
        no_later=no_later,
        same_resource=same,
        minutes_saved_median=float(np.median(saved)) if saved else math.nan,
        no_resource_free=no_free,
    )
