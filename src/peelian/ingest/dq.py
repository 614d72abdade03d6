"""Data-quality figures per source: completeness and validity of each mapped field.

For every entity slot of a mapping and every field it maps, the hub keeps
how many current mentions there are, how many have the field filled
(completeness) and how many of those were flagged (validity = present and
not flagged). `peelian dq` prints them with the quarantine reasons; the web
UI reads the same `dq_fields` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from peelian.ingest.mapper import FIELD_TYPES, KIND_TABLE


def _mapped_fields(entity: dict[str, Any]) -> list[str]:
    fields = entity.get("fields") or {}
    return [name for name in fields if name != "grading"]


def compute_dq(con: Any, mapping: dict[str, Any], now: datetime) -> None:
    """Recompute `dq_fields` for the mapping's source (inside the caller's transaction)."""
    source = mapping["source"]["name"]
    con.execute("DELETE FROM dq_fields WHERE source = $source", {"source": source})
    flagged = {
        (slot, field): n
        for slot, field, n in con.execute(
            """SELECT f.slot, split_part(f.field, '[', 1), count(DISTINCT f.mention_id)
               FROM field_flags f JOIN mentions m USING (mention_id)
               WHERE f.source = $source AND m.deleted_at IS NULL GROUP BY ALL""",
            {"source": source},
        ).fetchall()
    }
    rows = []
    for entity in mapping["entities"]:
        if entity.get("refers_to"):
            continue
        fields = _mapped_fields(entity)
        table = KIND_TABLE[entity["kind"]]
        present = []
        types = FIELD_TYPES[entity["kind"]]
        for field in fields:
            quoted = f'"{field}"'
            if field == "identifiers" or types.get(field) == "list":
                present.append(f"count(*) FILTER (WHERE len(k.{quoted}) > 0)")
            elif table == "event" and field not in types:  # kept as an attribute
                present.append(f"count(*) FILTER (WHERE k.attributes['{field}'] IS NOT NULL)")
            else:
                present.append(f"count(k.{quoted})")
        select = ", ".join(["count(*)", *present])
        result = con.execute(
            f"""SELECT {select} FROM mentions m JOIN {table} k USING (mention_id)
                WHERE m.source = $source AND m.slot = $slot AND m.deleted_at IS NULL""",
            {"source": source, "slot": entity["as"]},
        ).fetchone()
        total = result[0]
        for field, filled in zip(fields, result[1:], strict=True):
            bad = sum(
                n
                for (slot, name), n in flagged.items()
                if slot == entity["as"] and name.split(".")[0] == field
            )
            rows.append((source, entity["as"], entity["kind"], field, total, filled, bad, now))
    if rows:
        con.executemany("INSERT INTO dq_fields VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


@dataclass(frozen=True)
class SourceQuality:
    source: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    last_run: datetime
    quarantine_reasons: list[tuple[str, int]]
    fields: list[tuple[str, str, int, int, int]]  # slot, field, mentions, present, flagged
    flag_reasons: list[tuple[str, str, int]]  # field, reason, count


def data_quality(con: Any) -> list[SourceQuality]:
    """The latest figures for every source in the hub."""
    runs = con.execute(
        """SELECT source, rows_read, rows_accepted, rows_quarantined, epoch(finished_at)
           FROM ingest_runs QUALIFY row_number() OVER (PARTITION BY source
                                                      ORDER BY finished_at DESC) = 1
           ORDER BY source"""
    ).fetchall()
    out = []
    for source, read, accepted, quarantined, finished_epoch in runs:
        # (epoch seconds: fetching TIMESTAMPTZ values would need pytz)
        finished = datetime.fromtimestamp(finished_epoch, tz=UTC)
        reasons = con.execute(
            "SELECT reason, count(*) FROM quarantine WHERE source = ? GROUP BY reason "
            "ORDER BY 2 DESC, 1",
            [source],
        ).fetchall()
        fields = con.execute(
            "SELECT slot, field, mentions, present, flagged FROM dq_fields WHERE source = ? "
            "ORDER BY slot, field",
            [source],
        ).fetchall()
        flags = con.execute(
            """SELECT f.slot || '.' || f.field, split_part(f.reason, ':', 1), count(*)
               FROM field_flags f JOIN mentions m USING (mention_id)
               WHERE f.source = ? AND m.deleted_at IS NULL
               GROUP BY ALL ORDER BY 3 DESC, 1, 2 LIMIT 10""",
            [source],
        ).fetchall()
        out.append(
            SourceQuality(
                source,
                read,
                accepted,
                quarantined,
                finished,
                [(r, n) for r, n in reasons],
                [(a, b, c, d, e) for a, b, c, d, e in fields],
                [(f, r, n) for f, r, n in flags],
            )
        )
    return out
