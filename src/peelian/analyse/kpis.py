"""Crime KPIs: counts, rates, solved rates, harm, trends and hotspots (`peelian kpis`).

`build_crime_table(con, settings)` writes `kpi_crimes`, one row per live crime
record (a police.uk row is a record, so a plain count of the CSV is a count of
this table), with what every KPI needs: the month it was recorded in (force
local time), the policing area, the crime type, the offence's Home Office
subgroup, the outcome and whether it is detected (reference/outcomes.csv), both
harm weights, the point and its H3 hexagon, and the record's security label.

The tables themselves are computed when asked, from the crimes a reader may see
(`crimes` is a table or view of `kpi_crimes` rows): a compartment's crimes are
not counted for someone outside it, and the numbers always add up to what the
reader could count for themselves. Every function returns a `Table` (columns
and rows), which the API sends as JSON and as CSV and the pages draw.

- `counts`: crimes, detected crimes and harm by area, crime type, month and outcome;
- `by_area`: per area, with residents and rates per 1,000 (`area_population`);
- `by_type`, `by_month`: the same per crime type and per month;
- `trends`: the latest period against the one before and the same period a year
  earlier, with an exact test (two Poisson counts: the conditional binomial
  test) and Benjamini-Hochberg control of false discoveries across the rows,
  so that noise is not reported as a rise or a fall;
- `hotspots`: H3 hexagons with crimes and harm.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import h3
import numpy as np
import pyarrow as pa
from scipy import stats

from peelian.analyse.settings import Settings
from peelian.reference import read_table

# Crime types that are not crimes (no solved rate): police.uk's anti-social behaviour.
NOT_CRIME = ("anti-social-behaviour",)
COVERAGE_GRACE_DAYS = 7

CRIMES_TABLE = """
CREATE OR REPLACE TABLE kpi_crimes (
    crime_id VARCHAR NOT NULL, source VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    reference VARCHAR, recorded TIMESTAMPTZ, month DATE, area VARCHAR, crime_type VARCHAR,
    offence_code VARCHAR, subgroup VARCHAR, outcome VARCHAR, detected BOOLEAN NOT NULL,
    cchi DOUBLE NOT NULL, ons DOUBLE NOT NULL, lat DOUBLE, lon DOUBLE, cell VARCHAR,
    marking VARCHAR NOT NULL, compartment VARCHAR, sharing_roles VARCHAR[]
);
CREATE TABLE IF NOT EXISTS area_population (
    area VARCHAR NOT NULL, name VARCHAR, residents BIGINT NOT NULL, source VARCHAR
);
"""


class PopulationError(ValueError):
    """A population file that can't be read or is malformed."""


# Column headings for people (the CSV keeps the column names).
LABELS = {
    "area": "Area", "name": "Name", "residents": "Residents", "crimes": "Crimes",
    "per_1000": "Per 1,000 residents", "detected": "Detected", "solved_pct": "Solved %",
    "harm_cchi": "Harm (CCHI days)", "harm_cchi_per_1000": "Harm per 1,000",
    "harm_ons": "Harm (ONS)", "crime_type": "Crime type", "month": "Month",
    "outcome": "Outcome", "key": "", "previous": "Previous period",
    "change_pct": "Change %", "p_previous": "p", "vs_previous": "Against the previous period",
    "last_year": "A year earlier", "change_last_year_pct": "Change %", "p_last_year": "p",
    "vs_last_year": "Against a year earlier", "cell": "H3 cell", "lat": "Latitude",
    "lon": "Longitude", "grade": "Grade", "area_type": "Area type", "incidents": "Incidents",
    "attended": "Attended", "target_minutes": "Target (min)",
    "median_minutes": "Median (min)", "p90_minutes": "90th percentile (min)",
    "within_target_pct": "Within target %", "breaches": "Breaches",
    "reference": "Incident", "called": "Called", "opening_code": "Opening code",
    "beat": "Beat", "resource": "Resource", "response_minutes": "Arrived after (min)",
    "minutes_over": "Minutes over",
}  # fmt: skip


def _cell(value: Any) -> Any:
    """A CSV cell: a text a spreadsheet would run as a formula (= + - @, tab, return at
    its start) is written with a leading apostrophe, so opening the file runs nothing."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@dataclass
class Table:
    """A KPI table: what it is, its columns and its rows (lists, JSON-ready)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def to_csv(self) -> str:
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows([_cell(v) for v in r] for r in self.rows)
        return out.getvalue()

    def json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
        }


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _weights_table(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables of the reference weights the SQL joins to."""
    codes = read_table("home_office_offence_codes")
    weights = {r["offence_subgroup"]: r for r in read_table("harm_weights")}
    missing = sorted({r["offence_subgroup"] for r in codes} - weights.keys())
    if missing:
        raise ValueError(f"reference/harm_weights.csv has no weight for {', '.join(missing)}")
    con.register(
        "k_codes",
        pa.table(
            {
                "offence_code": [r["offence_code"].upper() for r in codes],
                "subgroup": [r["offence_subgroup"] for r in codes],
            }
        ),
    )
    con.register(
        "k_weights",
        pa.table(
            {
                "subgroup": list(weights),
                "cchi": [float(r["cchi_days"]) for r in weights.values()],
                "ons": [float(r["ons_severity"]) for r in weights.values()],
            }
        ),
    )
    types = read_table("harm_crime_types")
    con.register(
        "k_type_subgroups",
        pa.table(
            {
                "crime_type": [r["slug"] for r in types],
                "subgroup": [r["offence_subgroup"] for r in types],
            }
        ),
    )
    outcomes = read_table("outcomes")
    con.register(
        "k_outcomes",
        pa.table(
            {
                "outcome": [r["code"] for r in outcomes],
                "detected": [r["detected"] == "true" for r in outcomes],
            }
        ),
    )


def located_sql(events: str) -> str:
    """SQL of each event in the CTE `events` (column `mention_id`) with the place it
    occurred at (`place_ref`, `lat`, `lon`), one place per event, all from the same one."""
    return f"""
        SELECT l.from_mention AS mention_id,
               arg_min(p.reference, l.to_mention) AS place_ref,
               arg_min(p.lat, l.to_mention) AS lat, arg_min(p.lon, l.to_mention) AS lon
        FROM links l JOIN place p ON p.mention_id = l.to_mention
        WHERE l.type = 'OCCURRED_AT' AND l.deleted_at IS NULL
          AND l.from_mention IN (SELECT mention_id FROM {events})
        GROUP BY 1"""


def build_crime_table(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """(Re)write `kpi_crimes` from the hub's live crime records; returns its rows."""
    _weights_table(con)
    settings.set_zone(con)
    con.execute(CRIMES_TABLE)
    con.execute(
        f"""
        INSERT INTO kpi_crimes
        WITH crimes AS (
            SELECT ev.mention_id, m.source, m.record_id, ev.reference,
                   coalesce(ev.recorded, ev.occurred, ev.start, sr.occurred) AS recorded,
                   ev.beat, ev.attributes['crime_type'] AS crime_type,
                   upper(trim(ev.attributes['offence_code'])) AS offence_code,
                   ev.attributes['outcome'] AS outcome,
                   sr.marking, sr.compartment, sr.sharing_roles
            FROM event ev
            JOIN mentions m ON m.mention_id = ev.mention_id AND m.deleted_at IS NULL
            JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
                 AND sr.deleted_at IS NULL
            WHERE ev.event_type = 'crime'
        ),
        located AS ({located_sql("crimes")})
        SELECT c.mention_id, c.source, c.record_id, c.reference, c.recorded,
               date_trunc('month', c.recorded)::DATE,
               coalesce(c.beat, loc.place_ref), c.crime_type, c.offence_code,
               coalesce(code.subgroup, ts.subgroup), c.outcome,
               coalesce(o.detected, false),
               coalesce(w.cchi, 1.0), coalesce(w.ons, 1.0),
               loc.lat, loc.lon, NULL, c.marking, c.compartment, c.sharing_roles
        FROM crimes c
        LEFT JOIN located loc ON loc.mention_id = c.mention_id
        LEFT JOIN k_codes code ON code.offence_code = c.offence_code
        LEFT JOIN k_type_subgroups ts ON ts.crime_type = c.crime_type
        LEFT JOIN k_weights w ON w.subgroup = coalesce(code.subgroup, ts.subgroup)
        LEFT JOIN k_outcomes o ON o.outcome = c.outcome
        """
    )
    _cells(con, settings.hotspots.h3_resolution)
    row = first(con, "SELECT count(*) FROM kpi_crimes")
    return int(row[0]) if row else 0


def _cells(con: duckdb.DuckDBPyConnection, resolution: int) -> None:
    """Each located crime's H3 cell (computed in Python: the DuckDB h3 extension
    would be a download at run time)."""
    points = con.sql(
        "SELECT DISTINCT round(lat, 6) AS lat, round(lon, 6) AS lon FROM kpi_crimes "
        "WHERE lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180"
    ).to_arrow_table()
    lats = points.column("lat").to_pylist()
    lons = points.column("lon").to_pylist()
    cells = [h3.latlng_to_cell(a, o, resolution) for a, o in zip(lats, lons, strict=True)]
    con.register("k_cells", pa.table({"lat": lats, "lon": lons, "cell": cells}))
    con.execute(
        "UPDATE kpi_crimes k SET cell = c.cell FROM k_cells c "
        "WHERE round(k.lat, 6) = c.lat AND round(k.lon, 6) = c.lon"
    )
    con.unregister("k_cells")


def load_population(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Replace `area_population` with a CSV of `area,name,residents` (the ONS
    mid-year estimates for the force's areas, or the generator's)."""
    try:
        with Path(path).open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            need = {"area", "residents"}
            if not reader.fieldnames or not need <= set(reader.fieldnames):
                raise PopulationError(
                    f"{path}: expected a header with columns area, name, residents; "
                    f"found {reader.fieldnames}"
                )
            rows = []
            for n, r in enumerate(reader, start=2):
                try:
                    residents = int(str(r["residents"]).replace(",", ""))
                except ValueError:
                    raise PopulationError(
                        f"{path}, line {n}: residents {r['residents']!r} is not a whole number"
                    ) from None
                if residents < 0 or not (r["area"] or "").strip():
                    raise PopulationError(f"{path}, line {n}: needs an area and residents >= 0")
                rows.append((r["area"].strip(), (r.get("name") or "").strip() or None, residents))
    except OSError as exc:
        raise PopulationError(f"{path}: can't read the file: {exc.strerror}") from None
    areas = [r[0] for r in rows]
    if len(set(areas)) != len(areas):
        raise PopulationError(f"{path}: an area is listed twice")
    con.execute(CRIMES_TABLE.split(";")[1])  # area_population, if new
    con.execute("DELETE FROM area_population")
    con.executemany(
        "INSERT INTO area_population VALUES (?, ?, ?, ?)",
        [(a, name, n, str(path.name)) for a, name, n in rows],
    )
    return len(rows)


# -- the tables, from the crimes a reader may see --------------------------------------


def first(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> tuple[Any, ...] | None:
    """The first row of a query, or None (the whole result is read: DuckDB keeps a
    connection busy until it is)."""
    rows = con.execute(sql, params or {}).fetchall()
    return rows[0] if rows else None


def latest_month(con: duckdb.DuckDBPyConnection, crimes: str) -> dt.date | None:
    """The last complete month of `crimes`: the month of the latest record, unless the
    records stop before its last day (an extract taken mid-month), then the one before.
    Month-only records (police.uk: every one on the 1st at midnight) are whole months."""
    row = first(
        con,
        f"""SELECT max(month),
                   max(recorded)::DATE < last_day(max(month)),
                   bool_or(recorded <> month::TIMESTAMPTZ) FILTER (
                       WHERE month = (SELECT max(month) FROM {crimes}))
            FROM {crimes}""",
    )
    if not row or row[0] is None:
        return None
    month, stops_early, has_times = row
    return _shift(month, -1) if stops_early and has_times else month


def _shift(month: dt.date, months: int) -> dt.date:
    total = month.year * 12 + month.month - 1 + months
    return dt.date(total // 12, total % 12 + 1, 1)


def period(as_of: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """The `months` months ending with `as_of` (first day of the first, first day after)."""
    end = _shift(as_of, 1)
    return _shift(end, -months), end


def counts(con: duckdb.DuckDBPyConnection, crimes: str) -> Table:
    rows = con.execute(
        f"""SELECT area, crime_type, strftime(month, '%Y-%m'), outcome, count(*),
                  count(*) FILTER (WHERE detected), round(sum(cchi), 2), round(sum(ons), 2)
           FROM {crimes} GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    return Table(
        "counts",
        "Crimes by area, crime type, month and outcome",
        ["area", "crime_type", "month", "outcome", "crimes", "detected", "harm_cchi", "harm_ons"],
        [list(r) for r in rows],
    )


def by_area(con: duckdb.DuckDBPyConnection, crimes: str, start: dt.date, end: dt.date) -> Table:
    rows = con.execute(
        f"""WITH c AS (
                SELECT area, count(*) AS n,
                       count(*) FILTER (WHERE crime_type NOT IN ({_quoted(NOT_CRIME)})) AS rc,
                       count(*) FILTER (WHERE detected) AS d,
                       sum(cchi) AS cchi, sum(ons) AS ons
                FROM {crimes} WHERE month >= $s AND month < $e GROUP BY area
            )
            SELECT coalesce(c.area, p.area), p.name, p.residents, coalesce(c.n, 0),
                   round(1000.0 * coalesce(c.n, 0) / nullif(p.residents, 0), 2),
                   coalesce(c.d, 0), round(100.0 * c.d / nullif(c.rc, 0), 1),
                   round(coalesce(c.cchi, 0), 1),
                   round(1000.0 * coalesce(c.cchi, 0) / nullif(p.residents, 0), 1),
                   round(coalesce(c.ons, 0), 1)
            FROM c FULL JOIN area_population p ON p.area = c.area
            ORDER BY 4 DESC, 1""",
        {"s": start, "e": end},
    ).fetchall()
    return Table(
        "by_area",
        f"Crimes by area, {start:%b %Y} to {_shift(end, -1):%b %Y}",
        ["area", "name", "residents", "crimes", "per_1000", "detected", "solved_pct",
         "harm_cchi", "harm_cchi_per_1000", "harm_ons"],
        [list(r) for r in rows],
        ["Rates are per 1,000 residents (area_population); solved = detected outcomes "
         "over crimes other than anti-social behaviour."],
    )  # fmt: skip


def by_type(con: duckdb.DuckDBPyConnection, crimes: str, start: dt.date, end: dt.date) -> Table:
    residents = _residents(con)
    rows = con.execute(
        f"""SELECT crime_type, count(*), count(*) FILTER (WHERE detected),
                   round(100.0 * count(*) FILTER (WHERE detected) / count(*), 1),
                   round(sum(cchi), 1), round(sum(ons), 1)
            FROM {crimes} WHERE month >= $s AND month < $e GROUP BY 1 ORDER BY 2 DESC, 1""",
        {"s": start, "e": end},
    ).fetchall()
    out = []
    for t, n, d, pct, cchi, ons in rows:
        rate = round(1000 * n / residents, 2) if residents else None
        out.append([t, n, rate, d, None if t in NOT_CRIME else pct, cchi, ons])
    return Table(
        "by_type",
        f"Crimes by type, {start:%b %Y} to {_shift(end, -1):%b %Y}",
        ["crime_type", "crimes", "per_1000", "detected", "solved_pct", "harm_cchi", "harm_ons"],
        out,
    )


def _residents(con: duckdb.DuckDBPyConnection) -> int:
    row = first(con, "SELECT sum(residents) FROM area_population")
    return int(row[0]) if row and row[0] else 0


def by_month(con: duckdb.DuckDBPyConnection, crimes: str) -> Table:
    rows = con.execute(
        f"""SELECT strftime(month, '%Y-%m'), count(*), count(*) FILTER (WHERE detected),
                   round(sum(cchi), 1), round(sum(ons), 1)
            FROM {crimes} WHERE month IS NOT NULL GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    return Table(
        "by_month",
        "Crimes by month",
        ["month", "crimes", "detected", "harm_cchi", "harm_ons"],
        [list(r) for r in rows],
    )


def by_outcome(con: duckdb.DuckDBPyConnection, crimes: str, start: dt.date, end: dt.date) -> Table:
    rows = con.execute(
        f"""SELECT coalesce(outcome, '(none)'), any_value(detected), count(*)
            FROM {crimes} WHERE month >= $s AND month < $e GROUP BY 1 ORDER BY 3 DESC, 1""",
        {"s": start, "e": end},
    ).fetchall()
    return Table(
        "by_outcome",
        f"Outcomes of crimes recorded {start:%b %Y} to {_shift(end, -1):%b %Y}",
        ["outcome", "detected", "crimes"],
        [list(r) for r in rows],
    )


def _poisson_p(a: int, b: int, share: float = 0.5) -> float:
    """Two-sided exact p-value that counts `a` and `b` come from one Poisson rate, `a`
    over `share` of the time the two cover (given a + b, a is binomial(a + b, share))."""
    if a + b == 0:
        return 1.0
    return float(stats.binomtest(a, a + b, share).pvalue)


def trends(
    con: duckdb.DuckDBPyConnection,
    crimes: str,
    settings: Settings,
    *,
    as_of: dt.date,
    months: int = 1,
    by: str = "area",
) -> Table:
    """Each area (or crime type) now against the previous period and the same period
    a year earlier; a change is called a rise or a fall only when it is significant."""
    if by not in ("area", "crime_type"):
        raise ValueError("by must be area or crime_type")
    start, end = period(as_of, months)
    prev = (_shift(start, -months), start)
    last = (_shift(start, -12), _shift(end, -12))
    rows = con.execute(
        f"""SELECT coalesce({by}, '(unknown)') AS k,
                   count(*) FILTER (WHERE month >= $s AND month < $e),
                   count(*) FILTER (WHERE month >= $ps AND month < $pe),
                   count(*) FILTER (WHERE month >= $ls AND month < $le)
            FROM {crimes} GROUP BY 1 ORDER BY 2 DESC, 1""",
        {"s": start, "e": end, "ps": prev[0], "pe": prev[1], "ls": last[0], "le": last[1]},
    ).fetchall()
    rows.insert(0, ("(all)", *(sum(r[i] for r in rows) for i in (1, 2, 3))))
    # a period the records don't wholly cover is no period of few crimes: not compared
    # (records starting in a period's first week count as covering it: a quiet first day
    # or two is not a partial extract)
    first_day = _first_day(con, crimes)
    covered = first_day - dt.timedelta(days=COVERAGE_GRACE_DAYS) if first_day else None
    has_prev = covered is not None and prev[0] >= covered
    has_last = covered is not None and last[0] >= covered
    # months differ in length: each comparison weighs the periods by their days
    share_prev = (end - start).days / ((end - start).days + (prev[1] - prev[0]).days)
    share_last = (end - start).days / ((end - start).days + (last[1] - last[0]).days)
    rows = [
        (k, now, before if has_prev else None, year_ago if has_last else None)
        for k, now, before, year_ago in rows
    ]
    t = settings.trends
    p_prev: list[float | None] = []
    p_last: list[float | None] = []
    for _, now, before, year_ago in rows:
        p_prev.append(_tested(now, before, t.min_count, share_prev))
        p_last.append(_tested(now, year_ago, t.min_count, share_last))
    q_prev, q_last = (
        _adjust(p_prev, t.false_discovery_rate),
        _adjust(p_last, t.false_discovery_rate),
    )
    out = []
    for (k, now, before, year_ago), pp, qp, pl, ql in zip(
        rows, p_prev, q_prev, p_last, q_last, strict=True
    ):
        out.append(
            [k, now, before, _pct(now, before), _round(pp), _verdict(now, before, qp, t.alpha),
             year_ago, _pct(now, year_ago), _round(pl), _verdict(now, year_ago, ql, t.alpha)]
        )  # fmt: skip
    label = "months" if months > 1 else "month"
    return Table(
        f"trends_{by}",
        f"{'Areas' if by == 'area' else 'Crime types'}: {months} {label} to {as_of:%b %Y} "
        f"against the {months} {label} before and a year earlier",
        ["key", "crimes", "previous", "change_pct", "p_previous", "vs_previous",
         "last_year", "change_last_year_pct", "p_last_year", "vs_last_year"],
        out,
        [f"Exact test of two Poisson counts weighed by the days of each period; "
         f"Benjamini-Hochberg across the rows "
         f"(alpha {t.alpha}). Rows with fewer than {t.min_count} crimes in both periods "
         "are not tested."]
        if t.false_discovery_rate
        else [f"Exact test of two Poisson counts (alpha {t.alpha}), no correction."],
    )  # fmt: skip


def _first_day(con: duckdb.DuckDBPyConnection, crimes: str) -> dt.date | None:
    """The first day the records cover (a month-only record covers its whole month)."""
    row = first(con, f"SELECT min(recorded)::DATE FROM {crimes}")
    return row[0] if row and row[0] else None


def _tested(now: int, before: int | None, min_count: int, share: float) -> float | None:
    if before is None or max(now, before) < min_count:
        return None
    return _poisson_p(now, before, share)


def _adjust(ps: list[float | None], fdr: bool) -> list[float | None]:
    if not fdr:
        return ps
    tested = [i for i, p in enumerate(ps) if p is not None]
    out: list[float | None] = [None] * len(ps)
    if tested:
        q = stats.false_discovery_control(np.array([ps[i] for i in tested]), method="bh")
        for i, v in zip(tested, q, strict=True):
            out[i] = float(v)
    return out


def _pct(now: int, before: int | None) -> float | None:
    return round(100.0 * (now - before) / before, 1) if before else None


def _round(p: float | None) -> float | None:
    return None if p is None else round(p, 4)


def _verdict(now: int, before: int | None, q: float | None, alpha: float) -> str:
    if before is None:
        return "no records for that period"
    if q is None:
        return "too few to test"
    if q >= alpha:
        return "no significant change"
    return "significant rise" if now > before else "significant fall"


def hotspots(
    con: duckdb.DuckDBPyConnection,
    crimes: str,
    settings: Settings,
    start: dt.date,
    end: dt.date,
) -> Table:
    rows = con.execute(
        f"""SELECT cell, count(*), round(sum(cchi), 1), round(sum(ons), 1)
            FROM {crimes} WHERE cell IS NOT NULL AND month >= $s AND month < $e
            GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1 LIMIT $top""",
        {"s": start, "e": end, "top": settings.hotspots.top},
    ).fetchall()
    out = []
    for cell, n, cchi, ons in rows:
        lat, lon = h3.cell_to_latlng(cell)
        out.append([cell, round(lat, 5), round(lon, 5), n, cchi, ons])
    return Table(
        "hotspots",
        f"Hotspots (H3 resolution {settings.hotspots.h3_resolution}), "
        f"{start:%b %Y} to {_shift(end, -1):%b %Y}",
        ["cell", "lat", "lon", "crimes", "harm_cchi", "harm_ons"],
        out,
    )


def cell_boundary(cell: str) -> list[list[float]]:
    """The hexagon's corners as [lon, lat] (GeoJSON order), closed."""
    ring = [[round(lon, 6), round(lat, 6)] for lat, lon in h3.cell_to_boundary(cell)]
    return [*ring, ring[0]]
