"""The `peelian` command: a thin layer over the library."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from peelian import __version__

if TYPE_CHECKING:
    from peelian.ingest import IngestSummary

app = typer.Typer(
    name="peelian",
    help="Peelian: an open police data hub. Run `peelian COMMAND --help` for examples.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(
    help="Benchmarks that print figures (they never fail on speed).", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")
console = Console(stderr=True, soft_wrap=True)
# Tables are for reading in full: when output goes to a file or a pipe, don't squeeze
# them into 80 columns.
out_console = Console(width=None if sys.stdout.isatty() else 160)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"peelian {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Peelian: ingest, match and merge, search and analyse police records in one POLE view."""


def _parse_start(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2024-01-01"
        ) from None


def _run_generate(
    people: int,
    seed: int,
    out: Path,
    start: str,
    months: int,
    config: Path | None,
    force: bool,
    quiet: bool,
) -> dict[str, int]:
    from peelian.synth.config import ConfigError, SynthConfig, load_settings
    from peelian.synth.generate import STEPS, GenerateError, generate
    from peelian.synth.output import OutputError

    try:
        cfg = SynthConfig(
            people=people,
            seed=seed,
            start=_parse_start(start),
            months=months,
            settings=load_settings(config),
        )
        with Progress(
            TextColumn("[bold]{task.description:<22}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
            transient=False,
        ) as bar:
            task = bar.add_task("generate", total=len(STEPS))

            def progress(step: str, fraction: float) -> None:
                bar.update(task, completed=STEPS.index(step) + fraction, description=step)

            result = generate(cfg, out, force=force, progress=progress)
            bar.update(task, completed=len(STEPS), description="done")
    except (GenerateError, OutputError, ConfigError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return result.files


def _summary(files: dict[str, int], out: Path) -> None:
    table = Table(title=f"Synthetic force written to {out}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for rel, rows in files.items():
        if rel.startswith("sources/"):
            table.add_row(rel, f"{rows:,}")
    table.add_row(
        "[bold]source records[/bold]",
        f"[bold]{sum(r for k, r in files.items() if k.startswith('sources/')):,}[/bold]",
    )
    table.add_row("truth/*", f"{sum(1 for k in files if k.startswith('truth/'))} files")
    out_console.print(table)


@app.command("generate")
def generate_cmd(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder to write the force into (must be empty unless --force)."
        ),
    ],
    people: Annotated[int, typer.Option("--people", help="Residents of the force area.")] = 20_000,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: same seed and arguments, same bytes.")
    ] = 1,
    start: Annotated[
        str, typer.Option("--start", help="First day of the recorded window (YYYY-MM-DD).")
    ] = "2024-01-01",
    months: Annotated[
        int, typer.Option("--months", help="Length of the recorded window in months.")
    ] = 24,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="YAML settings laid over the defaults (rates, noise, geography).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty --out folder.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Build a synthetic police force: source extracts, mappings and ground truth.

    Example:

        peelian generate --people 20000 --seed 7 --out data/force --start 2024-01-01 --months 24
    """
    files = _run_generate(people, seed, out, start, months, config, force, quiet)
    _summary(files, out)


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo force.")] = Path("demo"),
    people: Annotated[int, typer.Option("--people", help="Residents of the demo force.")] = 20_000,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing demo folder.")
    ] = False,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the web UI when built.")
    ] = True,
    port: Annotated[int, typer.Option("--port", help="Port for the web UI.")] = 8000,
) -> None:
    """Build a small synthetic force, run every stage that exists so far (generate,
    ingest, resolve, extract, analyse, index), make demo accounts and serve the web UI on localhost.

    Example:

        peelian demo --out demo --force
    """
    files = _run_generate(people, 1, out, "2024-01-01", 24, None, force, False)
    _summary(files, out)
    hub = out / "hub"
    _run_ingest(hub, [out / "mappings"], 50_000, False)
    from peelian.cli_resolve import _run_resolve

    _run_resolve(hub, None, None, None, None, False)
    from peelian.cli_text import _run_extract

    _run_extract(hub, False)
    from peelian.cli_analyse import _run_analyse

    _run_analyse(hub, False, population=out / "sources" / "geography" / "population.csv")
    from peelian.cli_search import _run_index

    _run_index(hub, False)
    from peelian.cli_govern import demo_accounts

    accounts = demo_accounts(hub)
    out_console.print(f"\n[bold]Demo accounts[/bold] (also in {accounts}):")
    out_console.print(accounts.read_text(encoding="utf-8"), highlight=False)
    out_console.print(
        "\n[bold]Stages available so far:[/bold] generate, ingest, resolve, extract, analyse, "
        "index.\n"
        f"Sources are in {out}/sources, their mappings in {out}/mappings and the ground truth "
        f"in {out}/truth (see docs/synthetic-force.md).\n"
        f"The hub is {hub}: `peelian dq --hub {hub}` shows data quality per source; the rows "
        "the generator broke on purpose are in its quarantine table.\n"
        f"`peelian eval resolve --hub {hub} --truth {out}/truth` scores the entities and "
        f"`peelian eval network --hub {hub} --truth {out}/truth` the groups and county lines; "
        f"`peelian review --hub {hub}` lists uncertain pairs and `peelian explain --hub {hub} "
        "ENTITY_ID` shows how an entity was built.\n"
        "The exploitation screen's list is the web UI's Exploitation page (safeguard_demo, "
        f"sgsup_demo, mash_demo); its model card is in {hub}/reports, and "
        f"`peelian eval vulnerability --hub {hub} --truth {out}/truth` writes the bias "
        "report (a force this small holds too few exploited children to train the model: "
        "see docs/vulnerability.md for the study force).\n"
        f'`peelian search --hub {hub} --user pc_demo --purpose "incident WM-20240105-0001" '
        '"QUERY"` searches it as the response officer (try a name and a year of birth, a '
        "plate, a postcode or words from an intelligence report; --user analyst_demo sees "
        "the operations' intelligence too).\n"
        f"`peelian users list --hub {hub} --by admin` lists the accounts; "
        f"`peelian audit show --hub {hub} --by auditor_demo` shows who looked at what, and "
        f"`peelian audit verify --hub {hub} --by auditor_demo` checks the audit chain.\n"
        f"`peelian serve --hub {hub} --boundaries {out}/sources/geography/neighbourhoods.geojson`"
        " serves the web UI and the API again later."
    )
    if serve:
        from peelian.cli_serve import serve_cmd

        out_console.print(
            f"\n[bold]Web UI:[/bold] http://localhost:{port}/ (sign in with an account above; "
            f"API described at http://localhost:{port}/api/v1/openapi.json). Ctrl-C stops it."
        )
        serve_cmd(
            hub,
            host="127.0.0.1",
            port=port,
            boundaries=out / "sources" / "geography" / "neighbourhoods.geojson",
        )


def _run_ingest(
    hub_path: Path, mappings: list[Path], batch_rows: int, quiet: bool
) -> list[IngestSummary]:
    from peelian.hub import Hub, HubError
    from peelian.ingest import ingest_mapping
    from peelian.sources.mapping import MappingError, load_mappings
    from peelian.sources.readers import SourceError

    try:
        loaded = load_mappings(mappings)
    except MappingError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    summaries = []
    failed = []
    try:
        with Hub(hub_path, create=True) as hub:
            for mapping in loaded:
                with Progress(
                    TextColumn("[bold]{task.description:<16}"),
                    BarColumn(),
                    TextColumn("{task.completed:>12,} rows"),
                    TimeElapsedColumn(),
                    console=console,
                    disable=quiet,
                ) as bar:
                    task = bar.add_task(mapping.name, total=None)

                    def advance(rows: int, task: TaskID = task) -> None:
                        bar.advance(task, rows)

                    try:
                        summaries.append(
                            ingest_mapping(
                                hub,
                                mapping,
                                batch_rows=batch_rows,
                                progress=advance,
                            )
                        )
                    except SourceError as exc:
                        failed.append(mapping.name)
                        console.print(
                            f"[red]error:[/red] {mapping.name}: {exc}\n"
                            "  nothing from this source was written; the hub is unchanged for it"
                        )
    except HubError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if summaries:
        _ingest_table(summaries, hub_path)
    if failed:
        console.print(f"[red]{len(failed)} source(s) failed:[/red] {', '.join(failed)}")
        raise typer.Exit(1)
    return summaries


def _ingest_table(summaries: list[IngestSummary], hub_path: Path) -> None:
    table = Table(title=f"Ingested into {hub_path}")
    for name in (
        "source",
        "read",
        "accepted",
        "quarantined",
        "new",
        "changed",
        "unchanged",
        "deleted",
        "mentions",
        "links",
        "seconds",
    ):
        table.add_column(name, justify="left" if name == "source" else "right")
    for s in summaries:
        table.add_row(
            s.source,
            f"{s.rows_read:,}",
            f"{s.rows_accepted:,}",
            f"[yellow]{s.rows_quarantined:,}[/yellow]" if s.rows_quarantined else "0",
            f"{s.rows_new:,}",
            f"{s.rows_changed:,}",
            f"{s.rows_unchanged:,}",
            f"{s.rows_deleted:,}",
            f"{s.mentions:,}",
            f"{s.links:,}",
            f"{s.seconds:.1f}",
        )
    out_console.print(table)


@app.command("ingest")
def ingest_cmd(
    mappings: Annotated[
        list[Path],
        typer.Argument(help="Mapping files (.yaml), or folders of them.", show_default=False),
    ],
    hub: Annotated[Path, typer.Option("--hub", help="Hub folder (created if missing).")],
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=100, help="Rows per batch (bounds memory).")
    ] = 50_000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Read sources through their mappings into the hub.

    Re-running with an unchanged extract changes nothing; changed rows replace
    their previous version; rows gone from a full extract are marked deleted.
    Rows that can't be read are kept in the hub's quarantine with the reason.

    Example:

        peelian ingest --hub data/hub data/force/mappings
    """
    _run_ingest(hub, mappings, batch_rows, quiet)


@app.command("dq")
def dq_cmd(
    hub: Annotated[Path, typer.Option("--hub", help="Hub folder.")],
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
) -> None:
    """Print data-quality figures per source: quarantine reasons, completeness, validity.

    Example:

        peelian dq --hub data/hub --source crime
    """
    from peelian.hub import Hub, HubError
    from peelian.ingest.dq import data_quality

    try:
        with Hub(hub, read_only=True) as opened:
            figures = data_quality(opened.con)
    except HubError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if source:
        figures = [f for f in figures if f.source == source]
        if not figures:
            console.print(f"[red]error:[/red] no source {source!r} in {hub}")
            raise typer.Exit(2)
    for f in figures:
        head = Table(title=f"{f.source}: last ingest {f.last_run:%Y-%m-%d %H:%M} UTC")
        head.add_column("rows read", justify="right")
        head.add_column("accepted", justify="right")
        head.add_column("quarantined", justify="right")
        head.add_column("quarantine reasons")
        head.add_row(
            f"{f.rows_read:,}",
            f"{f.rows_accepted:,}",
            f"{f.rows_quarantined:,}",
            ", ".join(f"{r} {n:,}" for r, n in f.quarantine_reasons) or "-",
        )
        out_console.print(head)
        fields = Table(show_header=True)
        for name in ("entity", "field", "mentions", "complete %", "valid %"):
            fields.add_column(name, justify="left" if name in ("entity", "field") else "right")
        for slot, field, total, present, flagged in f.fields:
            complete = 100 * present / total if total else 0.0
            valid = 100 * (present - flagged) / present if present else 0.0
            fields.add_row(
                slot, field, f"{total:,}", f"{complete:.1f}", f"{valid:.1f}" if present else "-"
            )
        out_console.print(fields)
        if f.flag_reasons:
            out_console.print(
                "  top field problems: "
                + "; ".join(f"{field} {reason} {n:,}" for field, reason, n in f.flag_reasons)
            )


def _bench_table(title: str) -> Table:
    """A figures table that starts with the command and the machine it ran on."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("command", " ".join(["peelian", *sys.argv[1:]]))
    table.add_row(
        "machine",
        f"{platform.machine()} {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}",
    )
    return table


@bench_app.command("generate")
def bench_generate(
    people: Annotated[
        int, typer.Option("--people", help="Residents of the benchmark force.")
    ] = 100_000,
    months: Annotated[int, typer.Option("--months", help="Months of records.")] = 24,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    keep: Annotated[
        Path | None,
        typer.Option(
            "--keep", help="Write here and keep the output (default: a temporary folder, removed)."
        ),
    ] = None,
) -> None:
    """Time `generate` and print records/s and peak memory.

    Example:

        peelian bench generate --people 1000000
    """
    import shutil

    work = Path(tempfile.mkdtemp(prefix="peelian-bench-"))
    out = keep or work / "force"
    began = time.perf_counter()
    try:
        files = _run_generate(people, seed, out, "2024-01-01", months, None, keep is not None, True)
    finally:
        elapsed = time.perf_counter() - began
        shutil.rmtree(work, ignore_errors=True)
    records = sum(rows for rel, rows in files.items() if rel.startswith("sources/"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = _bench_table("peelian bench generate")
    table.add_row("people", f"{people:,}")
    table.add_row("months", str(months))
    for rel, rows in files.items():
        if rel.startswith("sources/"):
            table.add_row(f"  {rel.removeprefix('sources/')}", f"{rows:,}")
    table.add_row("source records", f"{records:,}")
    table.add_row("wall time (s)", f"{elapsed:,.1f}")
    table.add_row("records/s", f"{records / elapsed:,.0f}")
    table.add_row("peak memory (MB)", f"{peak_mb:,.0f}")
    out_console.print(table)


@bench_app.command("ingest")
def bench_ingest(
    people: Annotated[
        int, typer.Option("--people", help="Residents of the benchmark force.")
    ] = 100_000,
    months: Annotated[int, typer.Option("--months", help="Months of records.")] = 24,
    batch_rows: Annotated[int, typer.Option("--batch-rows", min=100)] = 50_000,
    force_dir: Annotated[
        Path | None,
        typer.Option("--force-dir", help="Ingest this generated force instead of a new one."),
    ] = None,
) -> None:
    """Time `ingest` of a synthetic force end to end; print records/s and peak memory.

    The force is generated first (not timed) unless --force-dir names one.

    Example:

        peelian bench ingest --people 100000
    """
    import shutil

    work = Path(tempfile.mkdtemp(prefix="peelian-bench-"))
    try:
        out = force_dir or work / "force"
        if force_dir is None:
            _run_generate(people, 1, out, "2024-01-01", months, None, False, True)
        before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        began = time.perf_counter()
        summaries = _run_ingest(work / "hub", [out / "mappings"], batch_rows, True)
        elapsed = time.perf_counter() - began
        hub_mb = (work / "hub" / "hub.duckdb").stat().st_size / 2**20
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    records = sum(s.rows_read for s in summaries)
    table = _bench_table("peelian bench ingest")
    for s in summaries:
        table.add_row(
            f"  {s.source}",
            f"{s.rows_read:,} rows in {s.seconds:,.1f} s "
            f"({s.rows_read / max(s.seconds, 1e-9):,.0f}/s)",
        )
    table.add_row("source records", f"{records:,}")
    table.add_row("wall time (s)", f"{elapsed:,.1f}")
    table.add_row("records/s", f"{records / elapsed:,.0f}")
    table.add_row("batch rows", f"{batch_rows:,}")
    table.add_row("peak memory before ingest (MB)", f"{before_mb:,.0f}")
    table.add_row("peak memory (MB)", f"{peak_mb:,.0f}")
    table.add_row("hub size (MB)", f"{hub_mb:,.0f}")
    out_console.print(table)


# The resolve commands live in their own module; importing it registers them.
from peelian import (  # noqa: E402, F401
    cli_analyse,
    cli_bench,
    cli_govern,
    cli_resolve,
    cli_retention,
    cli_search,
    cli_serve,
    cli_text,
)

if __name__ == "__main__":  # pragma: no cover
    app()
