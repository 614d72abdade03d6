"""Analyse: read the resolved hub, write analytic tables beside it (`peelian analyse`).

- `graph.py`: the entity graph (typed, time-stamped edges with their evidence);
- `network.py`: communities, centralities, brokers, likely organised crime groups;
- `county_lines.py`: deal-line phones, lines, controllers, runners, cuckooed homes;
- `evaluate.py`: all of the above against the synthetic truth (`peelian eval network`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb

from peelian.analyse.county_lines import LineRules, find_county_lines
from peelian.analyse.graph import build_graph
from peelian.analyse.network import GroupRules, NetworkSummary, analyse_network

# The graph joins every mention to its entity and record; at a million residents that
# is tens of millions of rows, more than the hub's ingest budget (DuckDB spills beyond).
ANALYSE_MEMORY_LIMIT = "6GB"

__all__ = ["AnalyseSummary", "GroupRules", "LineRules", "NotResolvedError", "analyse"]


@dataclass
class AnalyseSummary:
    edges: dict[str, int]
    network: NetworkSummary
    lines: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


class NotResolvedError(Exception):
    """The hub has no entities yet."""


def analyse(
    con: duckdb.DuckDBPyConnection,
    *,
    groups: GroupRules | None = None,
    lines: LineRules | None = None,
) -> AnalyseSummary:
    """Build the entity graph, then the network and county-lines tables, in one
    transaction: a failed run leaves the previous results in place."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'entity_membership' "
        "AND NOT temporary"
    ).fetchone()
    if not row or not row[0]:
        raise NotResolvedError("the hub has no entities yet; run `peelian resolve` first")
    seconds: dict[str, float] = {}
    con.execute(f"SET memory_limit = '{ANALYSE_MEMORY_LIMIT}'")
    con.execute("BEGIN TRANSACTION")
    try:
        t0 = time.perf_counter()
        edges = build_graph(con)
        seconds["graph"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        network = analyse_network(con, groups)
        seconds["network"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        found = find_county_lines(con, lines)
        seconds["county_lines"] = time.perf_counter() - t0
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return AnalyseSummary(edges, network, found, seconds)
