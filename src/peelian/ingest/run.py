"""Ingest one source into the hub: read, map, standardise, stage, merge.

A source is ingested inside one database transaction: the batches go to
staging tables, then one merge compares them with what the hub already
holds. Unchanged rows (same content hash) are left alone, changed rows
replace their previous version, new rows are added and, for a full extract,
rows that are no longer in the extract are marked deleted. If anything fails
or the process is interrupted, the transaction is rolled back and the hub is
as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from peelian.govern.retention import DISPOSED_RECORDS
from peelian.hub import KIND_TABLES, Hub, drop_text_mentions
from peelian.ingest.mapper import BatchMapper, MappedBatch
from peelian.ingest.values import template_names, value_names

if TYPE_CHECKING:
    from peelian.sources.mapping import Mapping
from peelian.sources.readers import (
    RawBatch,
    ReadPlan,
    RejectedRow,
    SourceError,
    read_csv,
    read_jsonl,
    read_parquet,
    read_sql,
    resolve_files,
)

BUILT_IN_NAMES = {"_row", "_row_in_group", "_file"}
DEFAULT_BATCH_ROWS = 50_000

STAGED = ("rows", "mentions", *KIND_TABLES, "documents", "links", "flags")
_HUB_TABLE = {
    "rows": "source_rows",
    "mentions": "mentions",
    "documents": "documents",
    "links": "links",
    "flags": "field_flags",
    **{k: k for k in KIND_TABLES},
}


@dataclass(frozen=True)
class IngestSummary:
    """What one source's ingest read and wrote."""

    source: str
    run_id: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    rows_new: int
    rows_changed: int
    rows_unchanged: int
    rows_deleted: int
    mentions: int
    links: int
    seconds: float
    # rows of records disposed of under the retention schedule: not written again
    rows_disposed: int = 0


Progress = Callable[[int], None]


# ----------------------------------------------------------------- planning


def _value_specs(mapping: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Every value or condition spec in the mapping, with the `each` list it is inside."""
    record = mapping["record"]
    for key in ("marking", "occurred", "compartment", "handling"):
        if record.get(key):
            yield None, record[key]
    sharing = record.get("sharing") or {}
    for key in ("roles", "caveat"):
        if sharing.get(key):
            yield None, sharing[key]
    for entity in mapping["entities"]:
        each = entity.get("each")
        if entity.get("when"):
            yield each, entity["when"]
        for value in (entity.get("fields") or {}).values():
            if isinstance(value, list):  # identifiers
                for item in value:
                    yield each, item
                    if item.get("issuer"):
                        yield each, item["issuer"]
                    if item.get("when"):
                        yield each, item["when"]
            elif isinstance(value, dict) and not _is_value(value):  # grading
                for part in value.values():
                    yield each, part
            else:
                yield each, value
    for link in mapping.get("links") or []:
        for key in ("role", "start", "end", "confidence", "when"):
            if link.get(key):
                yield None, link[key]


def _is_value(spec: dict[str, Any]) -> bool:
    return any(k in spec for k in ("column", "path", "concat", "constant"))


def _template_specs(mapping: dict[str, Any]) -> set[str]:
    names = template_names(mapping["record"]["id"])
    if mapping["record"].get("row_id"):
        names |= template_names(mapping["record"]["row_id"])
    for entity in mapping["entities"]:
        if entity.get("refers_to"):
            names |= template_names(entity["refers_to"]["id"])
    return names - BUILT_IN_NAMES


def read_plan(mapping: dict[str, Any]) -> ReadPlan:
    """Which columns / paths the mapping reads, and which inside `each` lists."""
    values: set[str] = set(_template_specs(mapping))
    lists: dict[str, set[str]] = {}
    for each, spec in _value_specs(mapping):
        names = value_names(spec)
        if each:
            lists.setdefault(each, set()).update(names)
        else:
            values |= names
    return ReadPlan(frozenset(values), {k: frozenset(v) for k, v in lists.items()})


def _generic(path: str) -> str:
    return re.sub(r"\[\d*\]", "[]", path)


def check_columns(mapping: Mapping, available: set[str], plan: ReadPlan, json: bool) -> None:
    """Every column the mapping uses exists; every column the data has is used or unmapped."""
    unmapped = {u.get("column") or u.get("path") for u in mapping.data.get("unmapped") or []}
    used = set(plan.values) | {f"{k}[].{s}" for k, subs in plan.lists.items() for s in subs}
    name = mapping.path.name
    if json:
        used_generic = {_generic(u) for u in used} | {f"{k}[]" for k in plan.lists}
        covered = used_generic | {_generic(str(u)) for u in unmapped}
        leftover = sorted(
            p
            for p in available
            if not any(p == c or p.startswith(c + ".") or p.startswith(c + "[") for c in covered)
        )
    else:
        missing = sorted(used - available)
        if missing:
            raise SourceError(
                f"{name}: the mapping uses {_names(missing)} but the data has no such "
                f"column; the data's columns are {_names(sorted(available))}"
            )
        leftover = sorted(available - used - {str(u) for u in unmapped})
    if leftover:
        raise SourceError(
            f"{name}: the data has {_names(leftover)} which the mapping neither uses nor lists "
            "under `unmapped:` (with a reason); nothing may be ignored silently"
        )


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


# ---------------------------------------------------------------- reading


def open_source(mapping: Mapping, batch_rows: int) -> tuple[Iterator[RawBatch], datetime]:
    """The source's batches (after the column checks) and its extract time."""
    spec = mapping.data["reader"]
    kind = spec["kind"]
    plan = read_plan(mapping.data)
    base = mapping.base_dir
    if kind == "sql":
        columns, batches = read_sql(spec, batch_rows)
        check_columns(mapping, set(columns), plan, json=False)
        return batches, datetime.now(UTC)
    extract_time = max(f.modified for f in resolve_files(spec["path"], base))
    if kind == "csv":
        header, batches = read_csv(spec, base, batch_rows)
        check_columns(mapping, set(header), plan, json=False)
    elif kind == "jsonl":
        seen, batches = read_jsonl(spec, base, plan, batch_rows)
        check_columns(mapping, seen, plan, json=True)
    elif kind == "parquet":
        names, batches = read_parquet(spec, base, batch_rows)
        check_columns(mapping, set(names), plan, json=False)
    else:
        raise SourceError(f"{mapping.path.name}: reader kind {kind!r} is not supported")
    return batches, extract_time


# ---------------------------------------------------------------- staging


_EMPTY = {
    "rows": "SELECT * EXCLUDE (extract_time, ingested_at, run_id, deleted_at), "
    "0::BIGINT AS _seq FROM source_rows WHERE false",
    "mentions": "SELECT * EXCLUDE (run_id, deleted_at), 0::BIGINT AS _seq FROM mentions "
    "WHERE false",
    "links": "SELECT * EXCLUDE (run_id, deleted_at), 0::BIGINT AS _seq FROM links WHERE false",
    "flags": "SELECT *, 0::BIGINT AS _seq FROM field_flags WHERE false",
    "documents": "SELECT *, 0::BIGINT AS _seq FROM documents WHERE false",
    **{k: f"SELECT *, 0::BIGINT AS _seq FROM {k} WHERE false" for k in KIND_TABLES},
}


class Staging:
    """Batches written as Parquet files beside the hub, read back by the merge.

    Staging on disk keeps memory bounded by the batch, whatever the size of
    the source; the folder is removed when the source is merged or abandoned.
    """

    def __init__(self, hub: Hub, run_id: str) -> None:
        self.folder = hub.path / ".staging" / run_id
        self.parts: dict[str, int] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        part = self.parts.get(name, 0)
        self.parts[name] = part + 1
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"part-{part:06d}.parquet", compression="lz4")

    def views(self, con: Any) -> None:
        """`stg_<name>` views over the staged files, less the rows in `stg_skip`."""
        con.execute("CREATE TEMP TABLE stg_skip (_seq BIGINT)")
        con.execute(
            "CREATE TEMP TABLE stg_quarantine (file VARCHAR, row_number BIGINT, line BIGINT,"
            " raw VARCHAR, reason VARCHAR, detail VARCHAR)"
        )
        for name in STAGED:
            if self.parts.get(name):
                files = str(self.folder / name / "*.parquet").replace("'", "''")
                hashed = ", md5(raw) AS content_hash" if name == "rows" else ""
                body = (
                    f"SELECT *{hashed} FROM read_parquet('{files}', union_by_name = true) "
                    "WHERE _seq NOT IN (SELECT _seq FROM stg_skip)"
                )
            else:
                body = _EMPTY[name]
            con.execute(f"CREATE TEMP VIEW stg_{name} AS {body}")
        if self.parts.get("quarantine"):
            files = str(self.folder / "quarantine" / "*.parquet").replace("'", "''")
            con.execute(f"INSERT INTO stg_quarantine SELECT * FROM read_parquet('{files}')")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.folder.parent.rmdir()


def _drop_staging(con: Any) -> None:
    for name in STAGED:
        con.execute(f"DROP VIEW IF EXISTS stg_{name}")
    for name in ("quarantine", "classes", "skip", "dups", "gone"):
        con.execute(f"DROP TABLE IF EXISTS stg_{name}")


def _quarantine_table(rejects: list[RejectedRow]) -> pa.Table:
    return pa.table(
        {
            "file": pa.array([r.file for r in rejects], pa.string()),
            "row_number": pa.array([r.row for r in rejects], pa.int64()),
            "line": pa.array([r.line for r in rejects], pa.int64()),
            "raw": pa.array([r.raw for r in rejects], pa.string()),
            "reason": pa.array([r.reason for r in rejects], pa.string()),
            "detail": pa.array([r.detail for r in rejects], pa.string()),
        }
    )


def _stage_batch(staging: Staging, mapped: MappedBatch) -> None:
    staging.write("rows", mapped.rows)
    for table in mapped.mentions:
        staging.write("mentions", table)
    for kind, tables in mapped.kinds.items():
        for table in tables:
            staging.write(kind, table)
    for table in mapped.documents:
        staging.write("documents", table)
    for table in mapped.links:
        staging.write("links", table)
    for table in mapped.flags:
        staging.write("flags", table)
    if mapped.quarantine:
        staging.write("quarantine", _quarantine_table(mapped.quarantine))


# ------------------------------------------------------------------ merge


def _merge(
    con: Any, source: str, run_id: str, full: bool, extract_time: datetime, now: datetime
) -> dict[str, int]:
    disposed = _skip_disposed(con, source)
    # A row id seen twice in one extract: the first is kept, the others quarantined.
    staged, distinct = con.execute(
        "SELECT count(*), count(DISTINCT row_id) FROM stg_rows"
    ).fetchone()
    if staged != distinct:
        _quarantine_duplicates(con)
    _classify(con, source)
    counts = dict(
        con.execute("SELECT status, count(*) FROM stg_classes GROUP BY status").fetchall()
    )
    if counts.get("unchanged"):
        con.execute("INSERT INTO stg_skip SELECT _seq FROM stg_classes WHERE status = 'unchanged'")
    if counts.get("changed"):
        _remove_previous(con, source)
    deleted = _mark_deleted(con, source, now) if full else 0
    _insert(con, source, run_id, extract_time, now)
    mentions = con.execute("SELECT count(*) FROM stg_mentions").fetchone()[0]
    links = con.execute("SELECT count(*) FROM stg_links").fetchone()[0]
    quarantined = con.execute("SELECT count(*) FROM stg_quarantine").fetchone()[0]
    return {
        "new": counts.get("new", 0),
        "changed": counts.get("changed", 0),
        "unchanged": counts.get("unchanged", 0),
        "deleted": deleted,
        "mentions": mentions,
        "links": links,
        "quarantined": quarantined,
        "accepted": sum(counts.values()),
        "disposed": disposed,
    }


def _skip_disposed(con: Any, source: str) -> int:
    """Rows of records disposed of under the retention schedule (`disposed_records`,
    see peelian.govern.retention) are not written again, whatever the extract resends."""
    con.execute(DISPOSED_RECORDS)
    skipped = """SELECT s._seq FROM stg_rows s SEMI JOIN disposed_records d
                 ON d.source = $source AND d.record_id = s.record_id"""
    rows = con.execute(f"SELECT count(*) FROM ({skipped})", {"source": source}).fetchall()
    count = int(rows[0][0])
    if count:
        con.execute(f"INSERT INTO stg_skip {skipped}", {"source": source})
    return count


def _quarantine_duplicates(con: Any) -> None:
    """A row id seen twice in one extract: the first is kept, the others quarantined."""
    con.execute("""
        CREATE TEMP TABLE stg_dups AS
        SELECT _seq, row_id, first_row FROM (
            SELECT _seq, row_id, row_number() OVER w AS n, first_value(row_number) OVER w
                   AS first_row
            FROM stg_rows WINDOW w AS (PARTITION BY row_id ORDER BY _seq)
        ) WHERE n > 1""")
    con.execute("""
        INSERT INTO stg_quarantine
        SELECT r.file, r.row_number, r.line, r.raw, 'duplicate_row_id',
               'row id ' || r.row_id || ' already came from row ' || d.first_row
        FROM stg_rows r JOIN stg_dups d USING (_seq)""")
    con.execute("INSERT INTO stg_skip SELECT _seq FROM stg_dups")
    con.execute("DROP TABLE stg_dups")


def _classify(con: Any, source: str) -> None:
    """Each staged row is new, changed or unchanged against the hub's current version."""
    con.execute(
        """
        CREATE TEMP TABLE stg_classes AS
        SELECT s._seq, s.row_id,
               CASE WHEN h.row_id IS NULL THEN 'new'
                    WHEN h.deleted_at IS NULL AND h.content_hash = s.content_hash
                         AND h.marking IS NOT DISTINCT FROM s.marking THEN 'unchanged'
                    ELSE 'changed' END AS status
        FROM stg_rows s
        LEFT JOIN (SELECT row_id, content_hash, deleted_at, marking FROM source_rows
                   WHERE source = $source) h USING (row_id)""",
        {"source": source},
    )


def _remove_previous(con: Any, source: str) -> None:
    """Changed rows: their previous mentions, links and flags go before the new version lands."""
    changed = "(SELECT row_id FROM stg_classes WHERE status = 'changed')"
    old_mentions = (
        f"(SELECT mention_id FROM mentions WHERE source = $source AND row_id IN {changed})"
    )
    for table in (*KIND_TABLES, "documents", "field_flags"):
        con.execute(f"DELETE FROM {table} WHERE mention_id IN {old_mentions}", {"source": source})
    for table in ("mentions", "links", "source_rows"):
        con.execute(
            f"DELETE FROM {table} WHERE source = $source AND row_id IN {changed}",
            {"source": source},
        )


def _mark_deleted(con: Any, source: str, now: datetime) -> int:
    """Full extract: rows the hub holds that the extract no longer has are marked deleted."""
    con.execute(
        """
        CREATE TEMP TABLE stg_gone AS
        SELECT row_id FROM source_rows h
        WHERE source = $source AND deleted_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM stg_classes c WHERE c.row_id = h.row_id)""",
        {"source": source},
    )
    deleted: int = con.execute("SELECT count(*) FROM stg_gone").fetchone()[0]
    if deleted:
        for table in ("source_rows", "mentions", "links"):
            con.execute(
                f"UPDATE {table} SET deleted_at = $now WHERE source = $source "
                "AND deleted_at IS NULL AND row_id IN (SELECT row_id FROM stg_gone)",
                {"source": source, "now": now},
            )
    con.execute("DROP TABLE stg_gone")
    return deleted


def _insert(con: Any, source: str, run_id: str, extract_time: datetime, now: datetime) -> None:
    params = {"run": run_id, "now": now, "extract": extract_time}
    con.execute(
        """INSERT INTO source_rows BY NAME
                   SELECT * EXCLUDE (_seq), $extract AS extract_time, $now AS ingested_at,
                          $run AS run_id FROM stg_rows""",
        params,
    )
    con.execute(
        "INSERT INTO mentions BY NAME SELECT * EXCLUDE (_seq), $run AS run_id FROM stg_mentions",
        {"run": run_id},
    )
    for table in KIND_TABLES:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * EXCLUDE (_seq) FROM stg_{table}")
    con.execute("INSERT INTO documents BY NAME SELECT * EXCLUDE (_seq) FROM stg_documents")
    con.execute("INSERT INTO field_flags BY NAME SELECT * EXCLUDE (_seq) FROM stg_flags")
    con.execute(
        "INSERT INTO links BY NAME SELECT * EXCLUDE (_seq), $run AS run_id FROM stg_links",
        {"run": run_id},
    )
    con.execute("DELETE FROM quarantine WHERE source = $source", {"source": source})
    con.execute(
        """INSERT INTO quarantine BY NAME
                   SELECT $run AS run_id, $source AS source, *, $now AS quarantined_at
                   FROM stg_quarantine""",
        {"run": run_id, "source": source, "now": now},
    )


# ------------------------------------------------------------------ entry


def ingest_mapping(
    hub: Hub,
    mapping: Mapping,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest the source `mapping` describes into `hub`; all or nothing."""
    from peelian.ingest.dq import compute_dq

    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    source = mapping.name
    batches, extract_time = open_source(mapping, batch_rows)
    mapper = BatchMapper(mapping.data)
    con = hub.con
    staging = Staging(hub, run_id)
    began = False
    try:
        read = 0
        for batch in batches:
            mapped = mapper.map(batch)
            _stage_batch(staging, mapped)
            count = batch.table.num_rows + len(batch.rejects)
            read += count
            if progress:
                progress(count)
        con.execute("BEGIN TRANSACTION")
        began = True
        staging.views(con)
        full = mapping.data["source"].get("extract", "full") == "full"
        now = datetime.now(UTC)
        result = _merge(con, source, run_id, full, extract_time, now)
        finished = datetime.now(UTC)
        if read != result["accepted"] + result["quarantined"] + result["disposed"]:
            raise AssertionError(
                f"{source}: {read} rows read but {result['accepted']} accepted + "
                f"{result['quarantined']} quarantined + {result['disposed']} disposed; "
                "nothing was written"
            )
        summary = IngestSummary(
            source,
            run_id,
            read,
            result["accepted"],
            result["quarantined"],
            result["new"],
            result["changed"],
            result["unchanged"],
            result["deleted"],
            result["mentions"],
            result["links"],
            (finished - started).total_seconds(),
            rows_disposed=result["disposed"],
        )
        con.execute(
            "INSERT INTO ingest_runs VALUES ($run, $source, $mapping, $hash, $extract, $started,"
            " $finished, $read, $accepted, $quarantined, $new, $changed, $unchanged, $deleted,"
            " $mentions, $links)",
            {
                "run": run_id,
                "source": source,
                "mapping": str(mapping.path),
                "hash": _mapping_hash(mapping.path),
                "extract": "full" if full else "delta",
                "started": started,
                "finished": finished,
                "read": read,
                "accepted": result["accepted"],
                "quarantined": result["quarantined"],
                "new": result["new"],
                "changed": result["changed"],
                "unchanged": result["unchanged"],
                "deleted": result["deleted"],
                "mentions": result["mentions"],
                "links": result["links"],
            },
        )
        meta = mapping.data["source"]
        con.execute("DELETE FROM sources WHERE source = $source", {"source": source})
        con.execute(
            "INSERT INTO sources (source, owner, priority, marking, extract, run_id, bare_names)"
            " VALUES ($source, $owner, $priority, $marking, $extract, $run, $bare_names)",
            {
                "bare_names": meta.get("bare_names", "keep_apart"),
                "source": source,
                "owner": meta.get("owner"),
                "priority": int(meta["priority"]),
                "marking": meta.get("default_marking"),
                "extract": "full" if full else "delta",
                "run": run_id,
            },
        )
        # what an extract read from this source's documents, if they changed, is stale
        drop_text_mentions(con, stale_only=True)
        compute_dq(con, mapping.data, now)
        _drop_staging(con)
        con.execute("COMMIT")
    except BaseException:
        if began:
            con.execute("ROLLBACK")
            _drop_staging(con)
        raise
    finally:
        staging.remove()
    return summary


def _mapping_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
