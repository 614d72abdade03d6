"""CLI commands for analyse: analyse, kpis, eval network, eval incidents, bench network,
bench dashboard.

Registered on the `peelian` app by `peelian.cli` (imported at its end). These
commands print counts and scores only, never a person's details: the groups, lines
and flags themselves are read through the access policy (API and web UI).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from peelian.cli import _bench_table, app, bench_app, out_console
from peelian.cli_resolve import HubOption, StateOption, _fail, _open_hub, _state_url, eval_app

if TYPE_CHECKING:
    import duckdb

    from peelian.analyse import AnalyseSummary
    from peelian.analyse.settings import Settings
    from peelian.analyse.vulnerability import VulnerabilitySettings


SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        help="Harm, KPI and response settings (YAML); default: Peelian's reference/kpis.yaml.",
    ),
]
PopulationOption = Annotated[
    Path | None,
    typer.Option(
        "--population",
        help="CSV of area,name,residents (the denominators of crime rates); kept in the hub "
        "for later runs.",
    ),
]


VulnerabilityOption = Annotated[
    Path | None,
    typer.Option(
        "--vulnerability",
        help="Vulnerability screen settings (YAML: indicator points, thresholds, model, "
        "fairness groups); default: Peelian's reference/vulnerability.yaml.",
    ),
]


def _vulnerability(path: Path | None) -> VulnerabilitySettings:
    from peelian.analyse.settings import SettingsError
    from peelian.analyse.vulnerability import load_vulnerability_settings

    try:
        return load_vulnerability_settings(path)
    except SettingsError as exc:
        raise _fail(str(exc)) from exc


def _meeting_decisions(hub: Path, state: str | None) -> dict[str, tuple[str, dt.date]]:
    """The vulnerability meeting's standing decisions, from the operational state."""
    from peelian.analyse.vulnerability import decisions_from
    from peelian.cli_resolve import _open_state

    with _open_state(hub, state) as opened:
        return decisions_from(opened)


def _settings(path: Path | None) -> Settings:
    from peelian.analyse.settings import SettingsError, load_settings

    try:
        return load_settings(path)
    except SettingsError as exc:
        raise _fail(str(exc)) from exc


def _run_analyse(
    hub_path: Path,
    quiet: bool,
    *,
    settings: Path | None = None,
    population: Path | None = None,
    vulnerability: Path | None = None,
    state: str | None = None,
) -> AnalyseSummary:
    from peelian.analyse import NotResolvedError, analyse
    from peelian.analyse.kpis import PopulationError

    chosen = _settings(settings)
    screen = _vulnerability(vulnerability)
    decisions = _meeting_decisions(hub_path, state)
    with _open_hub(hub_path) as hub:
        try:
            summary = analyse(
                hub.con,
                settings=chosen,
                population=population,
                vulnerability=screen,
                decisions=decisions,
            )
        except (NotResolvedError, PopulationError) as exc:
            raise _fail(f"{hub_path}: {exc}") from exc
        card = _write_card(hub.con, hub_path)
    if not quiet:
        _analyse_table(summary, hub_path)
        out_console.print(f"vulnerability model card: {card}")
    return summary


def _write_card(con: duckdb.DuckDBPyConnection, hub_path: Path) -> Path:
    """The latest run's model card, as Markdown in HUB/reports."""
    run_id, card = con.execute(
        "SELECT run_id, card FROM vulnerability_runs ORDER BY ran_at DESC LIMIT 1"
    ).fetchall()[0]
    path = hub_path / "reports" / f"vulnerability-model-card-{run_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(card, encoding="utf-8")
    return path


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
        *((f"labour exploitation: {name}", f"{n:,}") for name, n in summary.slavery.items()),
        *((f"vulnerability: {name}", f"{n:,}") for name, n in summary.vulnerability.items()),
        *((f"kpis: {name}", f"{n:,}") for name, n in summary.kpis.items()),
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
    settings: SettingsOption = None,
    population: PopulationOption = None,
    vulnerability: VulnerabilityOption = None,
    state: StateOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
) -> None:
    """Build the entity graph (typed edges with their evidence), find communities,
    centralities and likely organised crime groups, detect county lines (deal-line
    phones, controllers, runners, cuckooed homes), screen children and adults for signs
    of exploitation (with the meeting's decisions from --state as labels; the model
    card goes to HUB/reports), and compute crime KPIs, harm per offender and 999
    response tables. Needs a resolved hub.

    Prints counts only; the results are read through the access policy in the web UI
    and the API (/api/v1/networks/..., /api/v1/kpis/..., /api/v1/harm, /api/v1/incidents/...).

    Example:

        peelian analyse --hub data/hub --population data/force/sources/geography/population.csv
    """
    _run_analyse(
        hub, quiet, settings=settings, population=population, vulnerability=vulnerability,
        state=state,
    )  # fmt: skip


@app.command("kpis")
def kpis_cmd(
    hub: HubOption,
    settings: SettingsOption = None,
    population: PopulationOption = None,
) -> None:
    """Compute the crime KPI and 999 incident tables only: for a hub that is not resolved,
    such as one of data.police.uk files (harm per offender needs `peelian analyse`).

    Example:

        peelian kpis --hub data/police-uk-hub
    """
    from peelian.analyse import build_kpis
    from peelian.analyse.kpis import PopulationError

    chosen = _settings(settings)
    with _open_hub(hub) as opened:
        opened.con.execute("BEGIN TRANSACTION")
        try:
            counts = build_kpis(opened.con, chosen, population)
            opened.con.execute("COMMIT")
        except PopulationError as exc:
            opened.con.execute("ROLLBACK")
            raise _fail(str(exc)) from exc
        except BaseException:
            opened.con.execute("ROLLBACK")
            raise
    table = Table(title=f"KPI tables of {hub}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    out_console.print(table)


@eval_app.command("incidents")
def eval_incidents(
    hub: HubOption,
    truth: Annotated[Path, typer.Option("--truth", help="The force's truth folder.")],
    settings: SettingsOption = None,
    grade: Annotated[int, typer.Option("--grade", min=1, max=4)] = 1,
) -> None:
    """For every dispatched incident of a grade: would the resource Peelian ranks first
    (from the status log at the moment of dispatch) have arrived no later than the one
    sent, timed by the generator's true travel model? Target: at least 80% of grade 1.

    Example:

        peelian eval incidents --hub data/hub --truth data/force/truth
    """
    from peelian.analyse.incidents import evaluate_dispatch

    chosen = _settings(settings)
    with _open_hub(hub, read_only=True) as opened:
        try:
            result = evaluate_dispatch(opened.con, chosen, truth, grade=grade)
        except FileNotFoundError as exc:
            raise _fail(str(exc)) from exc
        except Exception as exc:  # a hub without the KPI tables
            if "kpi_" in str(exc):
                raise _fail(f"{hub} has no incident tables; run `peelian analyse`") from exc
            raise
    table = Table(title=f"Resource recommendation against {truth} (grade {grade})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("dispatched incidents", f"{result.incidents:,}")
    table.add_row("compared (a resource was free)", f"{result.compared:,}")
    table.add_row("no resource free at dispatch", f"{result.no_resource_free:,}")
    target = "met" if result.share_no_later >= 0.8 else "NOT MET"
    table.add_row(
        "recommended arrives no later",
        f"{result.share_no_later:.3f} ({result.no_later}/{result.compared}) >= 0.8 {target}",
    )
    table.add_row("recommended = the one sent", f"{result.same_resource:,}")
    table.add_row("median minutes sooner", f"{result.minutes_saved_median:.1f}")
    out_console.print(table)


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
        ("labour site precision", result.site_precision),
        ("labour site recall", result.site_recall),
        ("labour controller precision", result.controller_precision),
        ("labour controller recall", result.controller_recall),
        ("labour worker precision", result.worker_precision),
        ("labour worker recall", result.worker_recall),
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


@eval_app.command("vulnerability")
def eval_vulnerability(
    hub: HubOption,
    truth: Annotated[Path, typer.Option("--truth", help="The force's truth folder.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the report and charts; default HUB/reports/."),
    ] = None,
    vulnerability: VulnerabilityOption = None,
    state: StateOption = None,
) -> None:
    """Score both vulnerability scorers (points screen and trained model, as they are and
    mitigated) against a synthetic force's truth: AUC, precision among the top 100,
    recall of exploited children, days flagged before first recorded as exploited, and
    the bias report (rates per sex, ethnicity and age band; the over-policing trap),
    written as Markdown with charts for an ethics panel.

    Example:

        peelian eval vulnerability --hub data/hub --truth data/force/truth
    """
    from peelian.analyse import fairness
    from peelian.analyse.vulnerability_eval import (
        SCORER_TEXT,
        TARGETS,
        evaluate_vulnerability,
        possible_text,
        summary_rows,
        write_report,
    )
    from peelian.resolve.evaluate import TruthError

    if not truth.is_dir():
        raise _fail(f"--truth {truth}: no such folder")
    screen = _vulnerability(vulnerability)
    decisions = _meeting_decisions(hub, state)
    with _open_hub(hub, read_only=True) as opened:
        from peelian.hub import has_table

        if not has_table(opened.con, "vulnerability_signals"):
            raise _fail(f"{hub} has no vulnerability screen; run `peelian analyse --hub {hub}`")
        try:
            result = evaluate_vulnerability(opened.con, truth, screen, decisions)
        except TruthError as exc:
            raise _fail(str(exc)) from exc
    table = Table(title=f"Vulnerability screen against {truth} (as of {result.as_of})")
    table.add_column("measure")
    names = list(result.scorers)
    for n in names:
        table.add_column(SCORER_TEXT[n], justify="right")
    for label, values in summary_rows(result):
        table.add_row(label, *(values.get(n, "-") for n in names))
    out_console.print(table)
    out_console.print(
        f"{result.children:,} children scored, {result.exploited} truly exploited "
        f"({result.recorded} recorded as such in the hub; {result.exploited_unknown} exploited "
        "children have no record in the hub). Targets: "
        + ", ".join(f"{k.replace('_', ' ')} >= {v}" for k, v in TARGETS.items())
        + f"; false-positive-rate ratios within {result.bounds[0]}-{result.bounds[1]} "
        "after mitigation."
    )
    out_console.print(fairness.LEGEND.format(lo=result.bounds[0], hi=result.bounds[1]))
    out_console.print(possible_text(result))
    for note in result.notes:
        out_console.print(f"note: {note}")
    path = write_report(result, out or hub / "reports")
    out_console.print(f"report: {path}")


@contextmanager
def _bench_hub(hub: Path, in_place: bool) -> Iterator[Path]:
    """The hub a benchmark writes to: a copy of `hub` (without its search index and
    models), removed afterwards, or `hub` itself when `in_place`."""
    if in_place:
        yield hub
        return
    work = Path(tempfile.mkdtemp(prefix="peelian-bench-"))
    try:
        shutil.copytree(
            hub, work / "hub", ignore=shutil.ignore_patterns("index*", "snapshots", "models")
        )
        yield work / "hub"
    finally:
        shutil.rmtree(work, ignore_errors=True)


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

    with _bench_hub(hub, in_place) as target, _open_hub(target) as opened:
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


@bench_app.command("dashboard")
def bench_dashboard(
    hub: Annotated[
        Path, typer.Option("--hub", help="An ingested hub (copied; the original is not changed).")
    ],
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Build in the hub itself instead of a copy.")
    ] = False,
    settings_file: SettingsOption = None,
) -> None:
    """Time the dashboard data: the KPI, harm and incident tables, then every table the
    dashboard, harm and incident pages show, for a reader who may see everything.

    Example:

        peelian bench dashboard --hub data/hub
    """
    from peelian.analyse import build_kpis
    from peelian.analyse.dashboard import TABLE_NAMES, all_tables
    from peelian.resolve.run import peak_memory_mb

    settings = _settings(settings_file)
    with _bench_hub(hub, in_place) as target, _open_hub(target) as opened:
        began = time.perf_counter()
        seconds: dict[str, float] = {}
        counts = build_kpis(opened.con, settings, seconds=seconds)
        built = time.perf_counter() - began
        resolved = "offenders" in counts  # harm per offender needs entities
        per_table: dict[str, float] = {}
        for name in TABLE_NAMES:
            t0 = time.perf_counter()
            made = all_tables(
                opened.con, settings, names=(name,),
                offences="harm_offences" if resolved else None,
            )  # fmt: skip
            if made:
                per_table[name] = time.perf_counter() - t0
        shown = sum(per_table.values())
    table = _bench_table("peelian bench dashboard")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    for phase, s in seconds.items():
        table.add_row(f"  build {phase} (s)", f"{s:,.1f}")
    table.add_row("tables built (s)", f"{built:,.1f}")
    for name, s in per_table.items():
        table.add_row(f"  {name} (s)", f"{s:,.2f}")
    table.add_row(f"dashboard tables computed ({len(per_table)}) (s)", f"{shown:,.1f}")
    table.add_row("total (s)", f"{built + shown:,.1f}")
    table.add_row("peak memory (MB)", f"{peak_memory_mb():,.0f}")
    out_console.print(table)


incidents_app = typer.Typer(
    help="999 / 101 incidents: replay a day into the live view.", no_args_is_help=True
)
app.add_typer(incidents_app, name="incidents")


@incidents_app.command("replay")
def incidents_replay(
    hub: HubOption,
    state: StateOption = None,
    day: Annotated[
        str | None,
        typer.Option("--day", help="The day to replay (YYYY-MM-DD); default: the busiest."),
    ] = None,
    speed: Annotated[
        float, typer.Option("--speed", min=0.1, max=100000, help="Simulated seconds per second.")
    ] = 60.0,
    feed: Annotated[str, typer.Option("--feed", help="The live feed to write.")] = "replay",
    step: Annotated[
        float, typer.Option("--step", min=0.05, max=60, help="Wall seconds between writes.")
    ] = 1.0,
    settings_file: SettingsOption = None,
) -> None:
    """Replay a day of calls, dispatches, arrivals and status updates from the hub into the
    live incident view (the /incidents page and /api/v1/incidents/open follow the feed's
    clock while it runs). Ctrl-C stops it; the feed keeps the picture it reached.

    Example:

        peelian incidents replay --hub data/hub --speed 60
    """
    import datetime as dt

    from peelian.analyse.replay import busiest_day, replay_day
    from peelian.state import State, StateError

    settings = _settings(settings_file)
    with _open_hub(hub, read_only=True) as opened:
        try:
            chosen = dt.date.fromisoformat(day) if day else busiest_day(
                opened.con, settings)  # fmt: skip
        except ValueError:
            raise _fail(f"--day {day!r}: expected a date such as 2024-06-01") from None
        except (LookupError, duckdb_errors()) as exc:
            raise _fail(f"{hub}: {exc}; run `peelian analyse` first") from exc
        try:
            live = State.open(_state_url(hub, state))
        except StateError as exc:
            raise _fail(str(exc)) from exc
        out_console.print(
            f"Replaying {chosen.isoformat()} into feed {feed!r} at {speed:g}x "
            f"(a day takes {24 * 3600 / speed / 60:,.1f} minutes); Ctrl-C stops."
        )

        def shown(now: dt.datetime) -> None:
            out_console.print(f"  clock {now.isoformat(timespec='minutes')}", highlight=False)

        try:
            summary = replay_day(
                opened.con, live, chosen, speed=speed, feed=feed, timezone=settings.timezone,
                step=step, on_write=shown if step >= 1 else None,
            )  # fmt: skip
        except LookupError as exc:
            raise _fail(str(exc)) from exc
        except KeyboardInterrupt:
            out_console.print("stopped; the feed keeps the picture it reached")
            return
        finally:
            live.close()
    out_console.print(
        f"Replayed {summary.incidents:,} incidents and {summary.status_updates:,} status "
        f"updates in {summary.writes:,} writes; feed clock {summary.clock.isoformat()}."
    )


def duckdb_errors() -> type[Exception]:
    import duckdb

    return duckdb.Error
