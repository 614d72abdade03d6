"""CLI command for the whole benchmark, bench all (the orchestration is peelian.bench_all),
and the load options it shares with `bench load` (cli_serve.py).

Registered on the `peelian` app by `peelian.cli` (imported at its end).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from peelian.cli import _bench_table, bench_app, console, out_console
from peelian.cli_resolve import _fail

# The load options `bench load` and `bench all` share.
LoadUsers = Annotated[
    int, typer.Option("--users", min=1, help="Simulated officers, each one signed-in user.")
]
LoadThink = Annotated[
    float, typer.Option("--think", min=0, help="Mean think time between an officer's requests (s).")
]
LoadMinutes = Annotated[
    float, typer.Option("--minutes", min=0.01, help="Minutes of load measured, after the ramp.")
]
LoadWorkers = Annotated[int, typer.Option("--workers", min=1, help="Server workers.")]
LoadRamp = Annotated[
    float | None,
    typer.Option("--ramp", min=0, help="Seconds over which the officers start (default: --think)."),
]
LoadPort = Annotated[int, typer.Option("--port", help="Loopback port (0: a free one).")]
LoadConnections = Annotated[
    int,
    typer.Option(
        "--connections", min=1, help="Connections the officers share (as behind a proxy)."
    ),
]
PhaseSeconds = Annotated[
    float, typer.Option("--phase-seconds", min=1, help="Find-max: seconds per rate.")
]
Rates = Annotated[
    str | None, typer.Option("--rates", help="Find-max: searches/s to try, e.g. 10,20,40.")
]


def find_max_rates(rates: str | None) -> list[float]:
    """The --rates list (default: load.FIND_MAX_RATES)."""
    from peelian.serve.load import FIND_MAX_RATES

    try:
        steps = [float(r) for r in (rates.split(",") if rates else FIND_MAX_RATES)]
    except ValueError:
        raise _fail(f"--rates is a list of numbers such as 10,20,40, not {rates!r}") from None
    if any(r <= 0 for r in steps):
        raise _fail("--rates must all be above zero")
    return steps


@bench_app.command("all")
def bench_all(
    people: Annotated[
        int, typer.Option("--people", min=100, help="Residents of the force generated.")
    ] = 1_000_000,
    months: Annotated[
        int, typer.Option("--months", min=1, help="Months of records generated.")
    ] = 24,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the force generated.")] = 1,
    force_dir: Annotated[
        Path | None,
        typer.Option(
            "--force-dir",
            help="Refresh from this generated force instead of a new one (--people, --months "
            "and --seed are then not used).",
        ),
    ] = None,
    keep: Annotated[
        Path | None,
        typer.Option(
            "--keep",
            help="Work in this new or empty folder and keep it: DIR/hub (with its state "
            "database and DIR/demo-accounts.txt), DIR/force when generated. Default: a "
            "temporary folder, removed at the end.",
        ),
    ] = None,
    users: LoadUsers = 8000,
    think: LoadThink = 30.0,
    minutes: LoadMinutes = 5.0,
    workers: LoadWorkers = 2,
    ramp: LoadRamp = None,
    port: LoadPort = 0,
    connections: LoadConnections = 512,
    phase_seconds: PhaseSeconds = 20.0,
    rates: Rates = None,
    skip_load: Annotated[
        bool, typer.Option("--skip-load", help="No load test of the officers.")
    ] = False,
    skip_find_max: Annotated[
        bool, typer.Option("--skip-find-max", help="No search of the most searches/s held.")
    ] = False,
) -> None:
    """Time a whole refresh of a generated force stage by stage (ingest, resolve,
    extract, analyse, index) on a new hub, then load-test the hub as served (as `bench
    load`: officers, then the most searches/s held). Prints one table: seconds and
    records/s per stage, the refresh against issue 13's target (15 minutes, 10,000
    records/s at 1,000,000 people), hub size, peak memory, the load's percentiles and
    errors against p95 300 ms / p99 1 s / zero errors, and the searches/s held; then
    the date, the machine and the command. The force is generated first (timed, not
    part of the refresh) unless --force-dir names one.

    Example:

        peelian bench all --people 1000000

        peelian bench all --people 20000 --users 500 --minutes 1 --phase-seconds 10
    """
    from peelian.bench_all import BenchError, LoadSettings, figures, memory_gb, run_bench_all
    from peelian.serve.load import machine

    steps = find_max_rates(rates)
    settings = LoadSettings(
        users=users, think=think, minutes=minutes, workers=workers, ramp=ramp, port=port,
        connections=connections, rates=steps, phase_seconds=phase_seconds,
    )  # fmt: skip
    try:
        result = run_bench_all(
            people=people, months=months, seed=seed, force_dir=force_dir, keep=keep,
            settings=settings, load=not skip_load, find_max=not skip_find_max,
            say=lambda step: console.print(f"[dim]bench all: {escape(step)}[/dim]"),
        )  # fmt: skip
    except BenchError as exc:
        head, _, rest = str(exc).partition("\n")
        if rest:  # e.g. the server's log: the detail first, the one-line error last
            console.print(rest, highlight=False, markup=False)
        raise _fail(escape(head)) from None
    table = _bench_table("peelian bench all")
    for name, value in figures(result):
        table.add_row(name, value)
    out_console.print(table)
    command = ["peelian bench all"]
    if force_dir is None:
        command.append(f"--people {people} --months {months} --seed {seed}")
    else:
        command.append(f"--force-dir {force_dir}")
    if keep is not None:
        command.append(f"--keep {keep}")
    command.append(
        f"--users {users} --think {think:g} --minutes {minutes:g} --workers {workers}"
        + (f" --ramp {ramp:g}" if ramp is not None else "")
        + f" --connections {connections}"
    )
    if not skip_find_max:
        command.append(
            f"--phase-seconds {phase_seconds:g} --rates {','.join(f'{r:g}' for r in steps)}"
        )
    command += ["--skip-load"] * skip_load + ["--skip-find-max"] * skip_find_max
    memory = memory_gb()
    out_console.print(
        f"{result.started:%Y-%m-%d %H:%M %Z}; {machine(*result.load_average)}"
        + (f"; {memory:,.1f} GB memory" if memory is not None else "")
        + f"; command: {' '.join(command)}",
        highlight=False,
        soft_wrap=True,  # one line, however wide, to copy as it is
    )
