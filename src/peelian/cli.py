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
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from peelian import __version__

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
out_console = Console()


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
) -> None:
    """Build a small synthetic force and run every stage that exists so far.

    Example:

        peelian demo --out demo --force
    """
    files = _run_generate(people, 1, out, "2024-01-01", 24, None, force, False)
    _summary(files, out)
    out_console.print(
        "\n[bold]Stages available so far:[/bold] generate.\n"
        f"Sources are in {out}/sources, their mappings in {out}/mappings and the ground truth "
        f"in {out}/truth (see docs/synthetic-force.md).\n"
        "Ingest, resolve, search and the web UI arrive with their issues; "
        "`make demo` will run them here as they land."
    )


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
    table = Table(title="peelian bench generate")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("command", " ".join(["peelian", *sys.argv[1:]]))
    table.add_row(
        "machine",
        f"{platform.machine()} {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}",
    )
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


if __name__ == "__main__":  # pragma: no cover
    app()
