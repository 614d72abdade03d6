"""The hub as a server reads it: one DuckDB instance shared by all requests (each
request takes its own cursor, so its temp tables are its own) with the hub
attached read-only, and the current search index, reopened when `peelian index`
makes a new build current.

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

Serving while a refresh writes the same hub file is the scale-out issue's
snapshot switch; here a refresh runs with the server stopped.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

from peelian.analyse.settings import load_settings
from peelian.hub import HUB_FILE, HubError
from peelian.index.build import SearchIndexError, current_name, index_root, open_path
from peelian.index.search import Searcher

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
    """A hub opened for serving."""

    def __init__(self, path: Path, *, kpi_settings: Path | None = None) -> None:
        self.path = Path(path)
        if not (self.path / HUB_FILE).exists():
            raise HubError(f"{path} is not a Peelian hub (no {HUB_FILE}); run `peelian demo`")
        self._con = duckdb.connect()
        self._con.execute("ATTACH $p AS hub (READ_ONLY)", {"p": str(self.path / HUB_FILE)})
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
        self._index_name: str | None = None

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
        con.execute("ATTACH $p AS hub (READ_ONLY)", {"p": str(self.path / HUB_FILE)})
        con.execute("SET search_path = 'memory.main,hub.main'")
        return con

    def searcher(self) -> Searcher:
        """The searcher over the current index build (checked on each call)."""
        root = index_root(self.path)
        name = current_name(root)
        if name is None:
            raise SearchIndexError(
                f"the hub has no search index yet; run `peelian index --hub {self.path}`"
            )
        with self._lock:
            if self._searcher is None or name != self._index_name:
                self._searcher = Searcher(open_path(root / name))
                self._index_name = name
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
