"""The hub as a server reads it: the current snapshot (`index/build.py`), its frozen
database attached read-only to one DuckDB instance shared by all requests (each
request takes its own cursor, so its temp tables are its own) and its search index.
When `peelian index` (the last step of `peelian refresh`) makes a new snapshot
current, the server loads it beside the one it serves and then switches (see
`Snapshots`): no request fails or waits for it, and each request reads one snapshot
throughout.

At start the server derives three in-memory tables from the hub, so that a page
joins a few small tables instead of mentions to source rows each time:

- `served_labels(label, marking, compartment, sharing_roles)`: each distinct
  security label, numbered;
- `served_mentions`: each live mention with its label number, entity, source,
  record id, marking, handling and compartment;
- `served_edges(a, b, b_type, relation, happened, la, lm, lb)`: the entity graph's
  evidence (`graph_evidence`, written by `peelian analyse`) both ways round, with the
  labels of the three records each piece rests on (`la`, `lm`, `lb`); an edge is
  shown only through evidence whose records are all visible;
- `served_names(entity_id, entity_type, field, value, chosen, seen, label)`: the
  golden values labels are made of, once per label of the mentions that gave
  them, so that a label shows only values some visible record gave;
- `served_events`: events with their place, if any (for timelines, the map and
  dashboards), with the labels of the event (`le`) and of the place (`lp`).

A hub with no snapshot yet (never indexed) is served from its working database;
no stage can write it while the server runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import duckdb

from peelian.analyse.settings import load_settings
from peelian.hub import HUB_FILE, HubError
from peelian.index.build import (
    SearchIndexError,
    current_name,
    index_root,
    open_path,
    snapshot_database,
)
from peelian.index.search import Searcher

log = logging.getLogger(__name__)

HAPPENED = "coalesce(ev.occurred, ev.start, ev.recorded)"
# The golden fields an entity's display label is made of.
NAME_FIELDS = ("forenames", "surname", "name", "vrm", "number", "address", "location")
_NAMES = ", ".join(f"'{f}'" for f in NAME_FIELDS)

DERIVED = (
    """CREATE OR REPLACE TABLE memory.main.served_labels AS
    SELECT row_number() OVER (ORDER BY marking, compartment, sharing_roles)::INTEGER AS label, *
    FROM (SELECT DISTINCT marking, compartment, sharing_roles FROM source_rows)""",
    """CREATE OR REPLACE TABLE memory.main.served_mentions AS
    SELECT m.mention_id, l.label, em.entity_id, em.entity_type, m.source, m.record_id,
           m.kind, s.marking, s.handling, s.compartment
    FROM mentions m
    JOIN source_rows s ON s.source = m.source AND s.row_id = m.row_id
    JOIN memory.main.served_labels l
      ON l.marking IS NOT DISTINCT FROM s.marking
     AND l.compartment IS NOT DISTINCT FROM s.compartment
     AND l.sharing_roles IS NOT DISTINCT FROM s.sharing_roles
    LEFT JOIN entity_membership em ON em.mention_id = m.mention_id
    WHERE m.deleted_at IS NULL""",
    """CREATE OR REPLACE TABLE memory.main.served_edges AS
    WITH ev AS (
        -- the ends as the current resolve has them (a resolve since the last analyse may
        -- have merged or split entities: the evidence's records still say who is linked)
        SELECT ma.entity_id AS a, mb.entity_id AS b, ma.entity_type AS a_type,
               mb.entity_type AS b_type, g.relation, g.happened,
               ma.label AS la, mv.label AS lm, mb.label AS lb
        FROM graph_evidence g
        JOIN memory.main.served_mentions ma ON ma.mention_id = g.m_a
        JOIN memory.main.served_mentions mv ON mv.mention_id = g.m_via
        JOIN memory.main.served_mentions mb ON mb.mention_id = g.m_b
        WHERE ma.entity_id IS NOT NULL AND mb.entity_id IS NOT NULL
          AND ma.entity_id <> mb.entity_id
    )
    SELECT a, b, b_type, relation, happened, la, lm, lb FROM ev
    UNION ALL
    SELECT b, a, a_type, relation, happened, lb, lm, la FROM ev
    ORDER BY a""",
    f"""CREATE OR REPLACE TABLE memory.main.served_names AS
    SELECT DISTINCT g.entity_id, g.entity_type, g.field, g.value, g.chosen, g.seen, sm.label
    FROM (SELECT entity_id, entity_type, field, value, chosen, seen, unnest(mentions) AS mid
          FROM golden_values WHERE field IN ({_NAMES})) g
    JOIN memory.main.served_mentions sm ON sm.mention_id = g.mid""",
    f"""CREATE OR REPLACE TABLE memory.main.served_events AS
    SELECT ev.mention_id AS event_id, ev.event_type, ev.reference,
           {HAPPENED} AS happened, ev.beat, ev.attributes['crime_type'] AS crime_type,
           p.lat, p.lon, e.label AS le, pl.label AS lp, e.marking
    FROM event ev
    JOIN memory.main.served_mentions e ON e.mention_id = ev.mention_id
    LEFT JOIN links l ON l.from_mention = ev.mention_id AND l.type = 'OCCURRED_AT'
         AND l.deleted_at IS NULL
    LEFT JOIN place p ON p.mention_id = l.to_mention
    LEFT JOIN memory.main.served_mentions pl ON pl.mention_id = l.to_mention""",
)


class ServedHub:
    """One snapshot of a hub opened for serving (or, before the first snapshot, the
    hub's working database with no search index)."""

    def __init__(
        self, path: Path, *, kpi_settings: Path | None = None, snapshot: str | None = None
    ) -> None:
        self.path = Path(path)
        self.snapshot = snapshot
        if snapshot is None:
            if not (self.path / HUB_FILE).exists():
                raise HubError(
                    f"{path} is not a Peelian hub (no {HUB_FILE} and no snapshot); "
                    "run `peelian demo`"
                )
            self.database = self.path / HUB_FILE
        else:  # a replica may hold the snapshots alone (docs/operations.md)
            self.database = snapshot_database(self.path, snapshot)
            if not self.database.exists():
                raise HubError(
                    f"the current snapshot of {path} ({snapshot}) has no copy of the hub "
                    f"database; run `peelian index --hub {path}`"
                )
        self._con = duckdb.connect()
        self._con.execute("ATTACH $p AS hub (READ_ONLY)", {"p": str(self.database)})
        self._con.execute("USE hub")
        self._lock = threading.Lock()
        self.kpi_settings = load_settings(kpi_settings)
        self.resolved = self.has_table("entities")
        if self.resolved and not self.has_table("graph_evidence"):
            raise HubError(
                f"{path} has entities but no entity graph; run `peelian analyse --hub {path}`"
            )
        # the labels always (an unresolved hub's KPIs are read through them too), the rest
        # once there are entities
        for sql in DERIVED if self.resolved else DERIVED[:1]:
            self._con.execute(sql)
        self._searcher: Searcher | None = None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of one's own to the hub (temp tables are per cursor)."""
        cursor = self._con.cursor()
        cursor.execute("USE hub")
        self.kpi_settings.set_zone(cursor)  # months and days in the force's local time
        return cursor

    def scratch(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own with a writable in-memory database that reads the
        hub through its search path: for work that makes tables or schemas (Splink)."""
        con = duckdb.connect()
        con.execute("ATTACH $p AS hub (READ_ONLY)", {"p": str(self.database)})
        con.execute("SET search_path = 'memory.main,hub.main'")
        return con

    def searcher(self) -> Searcher:
        """The searcher over this snapshot's index (opened on first use)."""
        if self.snapshot is None:
            raise SearchIndexError(
                f"the hub has no search index yet; run `peelian index --hub {self.path}`"
            )
        with self._lock:
            if self._searcher is None:
                self._searcher = Searcher(open_path(index_root(self.path) / self.snapshot))
            return self._searcher

    def has_table(self, name: str) -> bool:
        row = (
            self.cursor()
            .execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'hub' "
                "AND table_name = $t",
                {"t": name},
            )
            .fetchone()
        )
        return bool(row and row[0])

    def close(self) -> None:
        self._con.close()


class Snapshots:
    """The snapshot a server answers from, switched when a build makes another current.

    `current()` (called by each request, once) looks at the hub's `CURRENT` at most
    every `check_every` seconds. When it names a new snapshot, a thread opens it (its
    derived tables take seconds on a large force) while requests go on being answered
    from the old one; then the next request gets the new one, if it is still current
    (a rollback or another build meanwhile: it is dropped and the current one loaded).
    One load runs at a time. A request keeps the snapshot it started with, and the old
    one is closed when the last such request lets go of it (nothing else holds it).
    A snapshot that fails to open is logged and tried again after `retry_after`
    seconds; the old one is served meanwhile. A worker with no requests does not
    switch until its next one (and holds its snapshot open, so builds keep it).
    """

    def __init__(
        self,
        path: Path,
        *,
        kpi_settings: Path | None = None,
        check_every: float = 0.5,
        retry_after: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.kpi_settings = kpi_settings
        self.check_every = check_every
        self.retry_after = retry_after
        self._root = index_root(self.path)
        self._served = ServedHub(
            self.path, kpi_settings=kpi_settings, snapshot=current_name(self._root)
        )
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._loading: str | None = None
        self._failed: dict[str, float] = {}
        self.switches = 0

    def current(self) -> ServedHub:
        """The snapshot to answer this request from."""
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            self._check(now)
        return self._served

    def _check(self, now: float) -> None:
        with self._lock:
            if now - self._checked < self.check_every:
                return  # another thread looked meanwhile
            self._checked = now
            name = current_name(self._root)
            if name is None or name == self._served.snapshot or self._loading is not None:
                return  # nothing new, or one load at a time (it re-checks when done)
            if now - self._failed.get(name, -self.retry_after) < self.retry_after:
                return
            self._loading = name
        threading.Thread(target=self._load, args=(name,), name=f"load-{name}", daemon=True).start()

    def _load(self, name: str) -> None:
        started = time.perf_counter()
        try:
            served = ServedHub(self.path, kpi_settings=self.kpi_settings, snapshot=name)
            served.searcher()  # open the index now, not in the first search
        except Exception:
            log.exception("snapshot %s could not be opened; still serving %s",
                          name, self._served.snapshot)  # fmt: skip
            with self._lock:
                self._failed[name] = time.monotonic()
                self._loading = None
            return
        with self._lock:
            self._loading = None
            self._checked = -self.check_every  # the next request looks again
            if current_name(self._root) != name:
                # another build, or a rollback, made another one current meanwhile
                log.info("snapshot %s loaded but no longer current; not switched to", name)
                return
            previous, self._served = self._served, served
            self.switches += 1
        log.info(
            "worker %d switched to snapshot %s from %s (loaded in %.1f s)",
            os.getpid(), name, previous.snapshot, time.perf_counter() - started,
        )  # fmt: skip

    def close(self) -> None:
        self._served.close()
