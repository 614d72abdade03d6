"""Analyse: read the resolved hub, write analytic tables beside it (`peelian analyse`).

- `graph.py`: the entity graph (typed, time-stamped edges with their evidence);
- `network.py`: communities, centralities, brokers, likely organised crime groups;
- `county_lines.py`: deal-line phones, lines, controllers, runners, cuckooed homes;
- `slavery.py`: modern slavery indicators: shared contact phones of unrelated adults,
  where they live, who controls them (possible labour-exploitation sites);
- `kpis.py`: crime KPIs (counts, rates, solved rates, harm-weighted crime, trends with a
  significance test, H3 hotspots), which need no entities (`peelian kpis` runs them alone);
- `harm.py`: harm per offender (CCHI, ONS severity) and RFG;
- `incidents.py`: 999 / 101 response KPIs, breaches, resource availability and ranking;
- `vulnerability.py`: indicators of exploitation per person over time, a points screen
  and a calibrated model side by side, the advisory list (`model_card.py` writes each
  run's model card and assessment; `fairness.py` the rates per protected group);
- `evaluate.py`: networks and lines against the synthetic truth (`peelian eval network`);
  `vulnerability_eval.py`: both scorers and the bias report (`peelian eval vulnerability`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from peelian.analyse.county_lines import LineRules, find_county_lines
from peelian.analyse.graph import build_graph
from peelian.analyse.harm import build_offences
from peelian.analyse.incidents import build_incident_tables
from peelian.analyse.kpis import build_crime_table, load_population
from peelian.analyse.network import GroupRules, NetworkSummary, analyse_network
from peelian.analyse.settings import Settings, load_settings
from peelian.analyse.slavery import SlaveryRules, find_sites
from peelian.analyse.vulnerability import (
    VulnerabilitySettings,
    build_signals,
    load_vulnerability_settings,
    score_hub,
)
from peelian.hub import has_table

# The graph joins every mention to its entity and record; at a million residents that
# is tens of millions of rows, more than the hub's ingest budget (DuckDB spills beyond).
ANALYSE_MEMORY_LIMIT = "6GB"

__all__ = [
    "AnalyseSummary",
    "GroupRules",
    "LineRules",
    "NotResolvedError",
    "analyse",
    "build_kpis",
]


@dataclass
class AnalyseSummary:
    edges: dict[str, int]
    network: NetworkSummary
    lines: dict[str, int]
    kpis: dict[str, int] = field(default_factory=dict)
    vulnerability: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    slavery: dict[str, int] = field(default_factory=dict)


class NotResolvedError(Exception):
    """The hub has no entities yet."""


def analyse(
    con: duckdb.DuckDBPyConnection,
    *,
    groups: GroupRules | None = None,
    lines: LineRules | None = None,
    settings: Settings | None = None,
    population: Path | None = None,
    vulnerability: VulnerabilitySettings | None = None,
    decisions: dict[str, tuple[str, dt.date]] | None = None,
    slavery: SlaveryRules | None = None,
) -> AnalyseSummary:
    """Build the entity graph, the network, county-lines and modern-slavery tables, the
    vulnerability screen (with the meeting's `decisions` as labels), then the KPI, harm
    and incident tables, in one transaction: a failed run leaves the previous results in
    place."""
    if not has_table(con, "entity_membership"):
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
        t0 = time.perf_counter()
        sites = find_sites(con, slavery)
        seconds["slavery"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        screen = vulnerability or load_vulnerability_settings()
        build_signals(con, screen)
        vulnerable = score_hub(con, screen, decisions)
        seconds["vulnerability"] = time.perf_counter() - t0
        kpis = build_kpis(con, settings or load_settings(), population, seconds=seconds)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return AnalyseSummary(edges, network, found, kpis, vulnerable, seconds, sites)


def build_kpis(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    population: Path | None = None,
    *,
    seconds: dict[str, float] | None = None,
) -> dict[str, int]:
    """The crime, harm and incident tables (harm per offender only on a resolved hub).
    Runs in the caller's transaction."""
    seconds = seconds if seconds is not None else {}
    out: dict[str, int] = {}
    t0 = time.perf_counter()
    if population is not None:
        out["areas"] = load_population(con, population)
    out["crimes"] = build_crime_table(con, settings)
    seconds["kpis"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if has_table(con, "entity_membership"):
        out["offenders"] = build_offences(con)
    seconds["harm"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables = build_incident_tables(con, settings)
    out["incidents"] = tables["kpi_incidents"]
    out["status_updates"] = tables["kpi_status"]
    seconds["incidents"] = time.perf_counter() - t0
    return out
