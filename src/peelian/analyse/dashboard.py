"""Every table the dashboard shows, from the rows one reader may see.

`all_tables(con, settings, ...)` takes the names of the tables (or the reader's
views of them) and returns each KPI table by name; the server passes views
restricted to the reader's labels, the benchmark the whole tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb

from peelian.analyse import harm, incidents, kpis
from peelian.analyse.kpis import Table
from peelian.analyse.settings import Settings

TABLE_NAMES = (
    "counts",
    "by_area",
    "by_type",
    "by_month",
    "by_outcome",
    "trends_area",
    "trends_crime_type",
    "hotspots",
    "response",
    "breaches",
    "harm_ranking",
)


def reporting_period(
    con: duckdb.DuckDBPyConnection, crimes: str, months: int
) -> tuple[dt.date, dt.date, dt.date] | None:
    """(as_of month, first day, first day after) of the last `months` complete months."""
    as_of = kpis.latest_month(con, crimes)
    if as_of is None:
        return None
    start, end = kpis.period(as_of, months)
    return as_of, start, end


def all_tables(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    crimes: str = "kpi_crimes",
    incident_table: str = "kpi_incidents",
    offences: str | None = "harm_offences",
    months: int = 12,
    trend_months: int = 1,
    names: tuple[str, ...] = TABLE_NAMES,
) -> dict[str, Table]:
    out: dict[str, Table] = {}
    span = reporting_period(con, crimes, months)
    if span is not None:
        as_of, start, end = span
        makers: dict[str, Callable[[], Table]] = {
            "counts": lambda: kpis.counts(con, crimes),
            "by_area": lambda: kpis.by_area(con, crimes, start, end),
            "by_type": lambda: kpis.by_type(con, crimes, start, end),
            "by_month": lambda: kpis.by_month(con, crimes),
            "by_outcome": lambda: kpis.by_outcome(con, crimes, start, end),
            "trends_area": lambda: kpis.trends(
                con, crimes, settings, as_of=as_of, months=trend_months, by="area"
            ),
            "trends_crime_type": lambda: kpis.trends(
                con, crimes, settings, as_of=as_of, months=trend_months, by="crime_type"
            ),
            "hotspots": lambda: kpis.hotspots(con, crimes, settings, start, end),
        }
        for name, make in makers.items():
            if name in names:
                out[name] = make()
    window = incident_window(con, incident_table, months)
    if window is not None:
        s, e = window
        if "response" in names:
            out["response"] = incidents.response(con, incident_table, s, e)
        if "breaches" in names:
            out["breaches"] = incidents.breaches(con, incident_table, s, e)
    if offences and "harm_ranking" in names:
        out["harm_ranking"] = harm.ranking(con, offences, settings)[0]
    return out


def incident_window(
    con: duckdb.DuckDBPyConnection, incident_table: str, months: int
) -> tuple[dt.datetime, dt.datetime] | None:
    """The last `months` whole months of calls (as crime months are chosen), their
    boundaries at local midnight (the connection's time zone is the force's)."""
    row = kpis.first(
        con,
        f"""WITH last AS (
                SELECT date_trunc('month', max(called)) AS m,
                       max(called)::DATE < last_day(max(called)) AS partial
                FROM {incident_table}
            ), ends AS (
                SELECT CASE WHEN partial THEN m ELSE m + INTERVAL 1 MONTH END AS e FROM last
            )
            SELECT e - to_months($months), e FROM ends""",
        {"months": months},
    )
    if not row or row[0] is None:
        return None
    return row[0], row[1]
