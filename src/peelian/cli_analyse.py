"""CLI commands for analyse: analyse, eval network, bench network.

Registered on the `peelian` app by `peelian.cli` (imported at its end). These
commands print counts and scores only, never a person's details: the groups, lines
and flags themselves are read through the access policy (API and web UI).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from peelian.cli import _bench_table, app, bench_app, out_console
from peelian.cli_resolve import HubOption, _fail, _open_hub, eval_app

if TYPE_CHECKING:
    from peelian.analyse import AnalyseSummary


def _run_analyse(hub_path: Path, quiet: bool) -> AnalyseSummary:
    from peelian.analyse import NotResolvedError, analyse

    with _open_hub(hub_path) as hub:
        try:
            summary = analyse(hub.con)
        except NotResolvedError as exc:
            raise _fail(f"{hub_path}: {exc}") from exc
    if not quiet:
        _analyse_table(summary, hub_path)
    return summary


def _summary_rows(summary: AnalyseSummary) -> list[tuple[str, str]]:
    """What an analyse run found, as (result, count) rows."""
    net = summary.network
    return [
        *((f"edges: {relation}", f"{n:,}") for relation, n in summary.edges.items()),
        ("people in the network", f"{net.people:,}"),
        ("person-to-person links", f"{net.person_edges:,}"),
        ("communities", f"{net.communities:,}"),
        ("likely organised crime groups", f"{net.groups:,}"),
        ("brokers (in or linked to two or more groups)", f"{net.brokers:,}"),
        *((f"county lines: {name}", f"{n:,}") for name, n in summary.lines.items()),
    ]


def _analyse_table(summary: AnalyseSummary, hub_path: Path) -> None:
    table = Table(title=f"Analysed {hub_path}")
    table.add_column("result")
    table.add_column("count", justify="right")
    for row in _summary_rows(summary):
        table.add_row(*row)
    out_console.print(table)
    out_console.print("seconds: " + ", ".join(f"{k} {v:,.1f}" for k, v in summary.seconds.items()))


@app.command("analyse")
def analyse_cmd(
    hub: HubOption,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
) -> None:
    """Build the entity graph (typed edges with their evidence), find communities,
    centralities and likely organised crime groups, and detect county lines (deal-line
    phones, controllers, runners, cuckooed homes). Needs a resolved hub.

    Prints counts only; the results are read through the access policy in the web UI
    and the API (/api/v1/networks/...).

    Example:

        peelian analyse --hub data/hub
    """
    _run_analyse(hub, quiet)


TARGETS = {
    "member precision": 0.9,
    "member recall": 0.8,
    "line recall": 0.9,
    "runner recall": 0.8,
}


@eval_app.command("network")
def eval_network(
    hub: HubOption,
    truth: Annotated[Path, typer.Option("--truth", help="The force's truth folder.")],
) -> None:
    """Score the organised crime groups, county lines, runners and cuckooed homes against
    a synthetic force's truth.

    Example:

        peelian eval network --hub data/hub --truth data/force/truth
    """
    from peelian.analyse.evaluate import evaluate_network
    from peelian.resolve.evaluate import TruthError

    if not truth.is_dir():
        raise _fail(f"--truth {truth}: no such folder")
    with _open_hub(hub, read_only=True) as opened:
        needed = {"network_group_members", "county_lines"}
        have = {
            r[0]
            for r in opened.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
            ).fetchall()
        }
        if needed - have:
            raise _fail(f"{hub} has not been analysed; run `peelian analyse --hub {hub}`")
        try:
            result = evaluate_network(opened.con, truth)
        except TruthError as exc:
            raise _fail(str(exc)) from exc
    groups = Table(title="Organised crime groups")
    for column in (
        "true group",
        "members",
        "known to the hub",
        "reported group",
        "its members",
        "precision",
        "recall",
    ):
        groups.add_column(column, justify="left" if column.endswith("group") else "right")
    for g in result.groups:
        groups.add_row(
            g.ocg_id,
            str(g.members),
            str(g.known),
            g.matched_group or "-",
            str(g.group_size),
            f"{g.precision:.3f}",
            f"{g.recall:.3f}",
        )
    out_console.print(groups)
    table = Table(title=f"Network analytics against {truth}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    rows: list[tuple[str, str, float | None]] = [
        ("reported groups", str(result.reported_groups), None),
        ("member precision", f"{result.member_precision:.3f}", result.member_precision),
        ("member recall", f"{result.member_recall:.3f}", result.member_recall),
        ("adjusted Rand index", f"{result.ari:.3f}", None),
    ]
    for name, rate in (
        ("line precision", result.line_precision),
        ("line recall", result.line_recall),
        ("market town right", result.market_right),
        ("line vehicle precision", result.vehicle_precision),
        ("line vehicle recall", result.vehicle_recall),
        ("runner precision", result.runner_precision),
        ("runner recall", result.runner_recall),
        ("cuckooed precision", result.cuckooed_precision),
        ("cuckooed recall", result.cuckooed_recall),
    ):
        rows.append((name, f"{rate.value:.3f} ({rate.found}/{rate.total})", rate.value))
    for name, text, value in rows:
        target = TARGETS.get(name)
        mark = ""
        if target is not None and value is not None:
            mark = f">= {target} " + ("met" if value >= target else "NOT MET")
        table.add_row(name, text, mark)
    out_console.print(table)
    for note in result.notes:
        out_console.print(f"note: {note}")


@bench_app.command("network")
def bench_network(
    hub: Annotated[
        Path, typer.Option("--hub", help="A resolved hub (copied; the original is not changed).")
    ],
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Analyse the hub itself instead of a copy.")
    ] = False,
) -> None:
    """Time the graph build, communities, centralities and county lines on a resolved hub;
    print the figures and peak memory.

    Example:

        peelian bench network --hub data/hub
    """
    from peelian.analyse import NotResolvedError, analyse
    from peelian.resolve.run import peak_memory_mb

    work = Path(tempfile.mkdtemp(prefix="peelian-bench-"))
    try:
        target = hub
        if not in_place:
            target = work / "hub"
            shutil.copytree(hub, target, ignore=shutil.ignore_patterns("index*", "models"))
        with _open_hub(target) as opened:
            began = time.perf_counter()
            try:
                summary = analyse(opened.con)
            except NotResolvedError as exc:
                raise _fail(f"{hub}: {exc}") from exc
            elapsed = time.perf_counter() - began
            evidence = opened.con.execute("SELECT count(*) FROM graph_evidence").fetchone()
            entities = opened.con.execute(
                "SELECT entity_type, count(*) FROM entities GROUP BY 1 ORDER BY 1"
            ).fetchall()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = _bench_table("peelian bench network")
    for entity_type, n in entities:
        table.add_row(f"entities: {entity_type}", f"{n:,}")
    table.add_row("graph evidence rows", f"{evidence[0] if evidence else 0:,}")
    for row in _summary_rows(summary):
        table.add_row(*row)
    for phase, seconds in summary.seconds.items():
        table.add_row(f"  {phase} (s)", f"{seconds:,.1f}")
    for phase, seconds in summary.network.seconds.items():
        table.add_row(f"    network: {phase} (s)", f"{seconds:,.2f}")
    table.add_row("wall time (s)", f"{elapsed:,.1f}")
    table.add_row("peak memory (MB)", f"{peak_memory_mb():,.0f}")
    out_console.print(table)
