"""Offender harm: the Cambridge Crime Harm Index, the ONS severity score and RFG.

`build_offences(con)` writes `harm_offences`: one row per person entity and crime
they are recorded as a suspect of, or arrested for (a custody record naming the
crime), with the crime's harm weights (`kpi_crimes`, so `build_crime_table` runs
first) and the records it rests on (`mentions`: the person's record, the record
naming them, the crime). A row resting on a record the reader may not see is left
out before anything is summed, so a score never counts what the reader can't see.

`ranking` orders offenders by total harm (the index the settings name) with RFG
(recency x frequency x gravity, configurable) beside it, and lists the offences
behind each score; `person_harm` gives one person's, for the profile's warnings.
Scores are dated at the latest crime in the hub (`as_of`): on a historical extract
"today" would make every offence old.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from peelian.analyse.graph import OFFENDER_ROLES
from peelian.analyse.kpis import Table, first
from peelian.analyse.settings import Settings

MAX_LISTED_OFFENCES = 10

OFFENCES_TABLE = """
CREATE OR REPLACE TABLE harm_offences (
    entity_id VARCHAR NOT NULL, crime_id VARCHAR NOT NULL, reference VARCHAR,
    recorded TIMESTAMPTZ, crime_type VARCHAR, subgroup VARCHAR, offence VARCHAR,
    role VARCHAR, cchi DOUBLE NOT NULL, ons DOUBLE NOT NULL, mentions VARCHAR[] NOT NULL
)
"""


def build_offences(con: duckdb.DuckDBPyConnection) -> int:
    """(Re)write `harm_offences`; returns the number of offenders."""
    roles = ", ".join(f"'{r}'" for r in OFFENDER_ROLES)
    con.execute(OFFENCES_TABLE)
    con.execute(
        f"""
        INSERT INTO harm_offences
        WITH people AS (
            SELECT em.mention_id, em.entity_id FROM entity_membership em
            WHERE em.entity_type = 'person'
        ),
        named AS (
            -- a crime record naming the person as its suspect
            SELECT p.entity_id, k.crime_id, l.role, [l.from_mention, k.crime_id] AS mentions
            FROM links l
            JOIN people p ON p.mention_id = l.from_mention
            JOIN kpi_crimes k ON k.crime_id = l.to_mention
            WHERE l.type = 'PARTY_TO' AND l.role IN ({roles}) AND l.deleted_at IS NULL
            UNION ALL
            -- a custody (or other) record of the person's arrest naming the crime
            SELECT p.entity_id, k.crime_id, l.role,
                   [l.from_mention, l.to_mention, k.crime_id]
            FROM links l
            JOIN people p ON p.mention_id = l.from_mention
            JOIN links r ON r.from_mention = l.to_mention AND r.type = 'LINKED_TO'
                 AND r.deleted_at IS NULL AND r.to_ref_id IS NOT NULL
            JOIN mentions cm ON cm.source = r.to_ref_source AND cm.record_id = r.to_ref_id
                 AND cm.kind = 'event' AND cm.deleted_at IS NULL
            JOIN kpi_crimes k ON k.crime_id = cm.mention_id
            WHERE l.type = 'PARTY_TO' AND l.role IN ({roles}) AND l.deleted_at IS NULL
        )
        SELECT entity_id, crime_id, reference, recorded, crime_type, subgroup, offence,
               best.role, cchi, ons, best.mentions
        FROM (
            SELECT n.entity_id, n.crime_id, k.reference, k.recorded, k.crime_type,
                   k.subgroup, ev.attributes['offence'] AS offence, k.cchi, k.ons,
                   -- one path per person and crime, the one with the fewest records, and
                   -- the role that path gives (not a role only a record left out would show)
                   arg_min({{'role': n.role, 'mentions': n.mentions}},
                           lpad(len(n.mentions)::VARCHAR, 3, '0')
                           || array_to_string(n.mentions, '|')) AS best
            FROM named n JOIN kpi_crimes k ON k.crime_id = n.crime_id
            JOIN event ev ON ev.mention_id = k.crime_id
            GROUP BY ALL
        )
        """
    )
    row = first(con, "SELECT count(DISTINCT entity_id) FROM harm_offences")
    return int(row[0]) if row else 0


def as_of(con: duckdb.DuckDBPyConnection, offences: str) -> dt.date:
    row = first(con, f"SELECT max(recorded)::DATE FROM {offences}")
    return row[0] if row and row[0] else dt.date.today()


def rfg(
    offences: list[tuple[dt.date, float]], settings: Settings, when: dt.date
) -> tuple[float, float, int, float]:
    """(score, recency, frequency, gravity) of offences given as (date, harm weight)."""
    r = settings.rfg
    window = [
        (d, w) for d, w in offences if d is not None and 0 <= (when - d).days <= r.window_days
    ]
    if not window:
        return 0.0, 0.0, 0, 0.0
    latest = max(d for d, _ in window)
    recency = 0.5 ** ((when - latest).days / r.half_life_days)
    weights = [w for _, w in window]
    gravity = max(weights) if r.gravity == "max" else sum(weights) / len(weights)
    return recency * len(window) * gravity, recency, len(window), gravity


def ranking(
    con: duckdb.DuckDBPyConnection,
    offences: str,
    settings: Settings,
    *,
    limit: int = 100,
    offset: int = 0,
    area: str | None = None,
) -> tuple[Table, dict[str, list[dict[str, Any]]]]:
    """Offenders by total harm, with RFG, and the offences behind each (by entity)."""
    index = settings.harm.index
    when = as_of(con, offences)
    where = ""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if area:
        where = f"WHERE entity_id IN (SELECT o.entity_id FROM {offences} o JOIN kpi_crimes k " \
                "ON k.crime_id = o.crime_id WHERE k.area = $area)"  # fmt: skip
        params["area"] = area
    top = con.execute(
        f"""SELECT entity_id, count(*) AS n, sum(cchi) AS cchi, sum(ons) AS ons,
                   max(recorded)::DATE AS latest
            FROM {offences} {where} GROUP BY 1
            ORDER BY {index} DESC, n DESC, entity_id LIMIT $limit OFFSET $offset""",
        params,
    ).fetchall()
    ids = [r[0] for r in top]
    listed = con.execute(
        f"""SELECT entity_id, reference, recorded::DATE, crime_type, subgroup, offence,
                   role, cchi, ons
            FROM {offences} WHERE entity_id IN (SELECT unnest($ids::VARCHAR[]))
            ORDER BY entity_id, recorded DESC NULLS LAST, reference""",
        {"ids": ids},
    ).fetchall()
    behind: dict[str, list[dict[str, Any]]] = {}
    dated: dict[str, list[tuple[dt.date, float]]] = {}
    for e, ref, day, ctype, sub, offence, role, cchi, ons in listed:
        dated.setdefault(e, []).append((day, cchi if index == "cchi" else ons))
        behind.setdefault(e, []).append(
            {"reference": ref, "date": day.isoformat() if day else None, "crime_type": ctype,
             "subgroup": sub, "offence": offence, "role": role, "cchi": cchi, "ons": ons}
        )  # fmt: skip
    rows = []
    for rank, (e, n, cchi, ons, latest) in enumerate(top, start=offset + 1):
        score, recency, freq, gravity = rfg(dated.get(e, []), settings, when)
        rows.append(
            [rank, e, int(n), round(cchi, 2), round(ons, 2), latest.isoformat() if latest else None,
             round(score, 2), round(recency, 3), freq, round(gravity, 2)]
        )  # fmt: skip
    table = Table(
        "harm_ranking",
        f"Offenders by harm ({'Cambridge Crime Harm Index' if index == 'cchi' else 'ONS severity'}"
        f"), as of {when:%d %b %Y}",
        ["rank", "entity_id", "offences", "harm_cchi", "harm_ons", "latest", "rfg",
         "recency", "frequency", "gravity"],
        rows,
        [f"RFG: recency halves every {settings.rfg.half_life_days:g} days since the latest "
         f"offence; frequency counts offences in the last {settings.rfg.window_days} days; "
         f"gravity is the {settings.rfg.gravity} {index.upper()} weight among them."],
    )  # fmt: skip
    for e in behind:
        behind[e] = behind[e][:MAX_LISTED_OFFENCES]
    return table, behind


def person_harm(
    con: duckdb.DuckDBPyConnection, offences: str, settings: Settings, entity_id: str
) -> dict[str, Any] | None:
    """One person's harm and RFG, with the offences behind them; None for no offences."""
    rows = con.execute(
        f"""SELECT reference, recorded::DATE, crime_type, subgroup, offence, role, cchi, ons
            FROM {offences} WHERE entity_id = $e ORDER BY recorded DESC NULLS LAST""",
        {"e": entity_id},
    ).fetchall()
    if not rows:
        return None
    index = settings.harm.index
    when = as_of(con, offences)
    score, recency, freq, gravity = rfg(
        [(r[1], r[6] if index == "cchi" else r[7]) for r in rows], settings, when
    )
    return {
        "offences": len(rows),
        "harm_cchi": round(sum(r[6] for r in rows), 2),
        "harm_ons": round(sum(r[7] for r in rows), 2),
        "rfg": round(score, 2),
        "recency": round(recency, 3),
        "frequency": freq,
        "gravity": round(gravity, 2),
        "index": index,
        "as_of": when.isoformat(),
        "band": harm_band(sum(r[6] if index == "cchi" else r[7] for r in rows)),
        "gravest": _offence(max(rows, key=lambda r: (r[6 if index == "cchi" else 7], r[1]))),
        "listed": [
            {"reference": r[0], "date": r[1].isoformat() if r[1] else None, "crime_type": r[2],
             "subgroup": r[3], "offence": r[4], "role": r[5], "cchi": r[6], "ons": r[7]}
            for r in rows[:MAX_LISTED_OFFENCES]
        ],
    }  # fmt: skip


def _offence(r: tuple[Any, ...]) -> dict[str, Any]:
    return {"reference": r[0], "date": r[1].isoformat() if r[1] else None, "crime_type": r[2],
            "subgroup": r[3], "offence": r[4], "role": r[5], "cchi": r[6], "ons": r[7]}  # fmt: skip


def harm_band(total: float) -> str:
    """Words for a harm total (days of custody): how the profile's warning reads."""
    if total >= 365:
        return "high"
    if total >= 30:
        return "medium"
    return "low" if total > 0 else "none"
