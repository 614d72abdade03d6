"""`peelian bench all`: a whole refresh of a generated force timed stage by stage,
then the load test against the hub it made, as served (issue 13's benchmark).

`run_bench_all` generates a force (or takes `force_dir`), makes a new hub, and runs
the stages of `peelian refresh` in its order, each timed on its own: ingest, resolve,
extract, analyse, index. It then makes the demo's accounts in the hub's own state
database (the load test acts as the first response officer, investigator and
analyst it finds there) and runs `serve.load.run_load` and `serve.load.run_find_max`
against it. Every stage is the command's own code (`_run_ingest`, `_run_resolve`...),
so the figures are those of `peelian refresh` and `peelian bench load`.

`figures` turns the result into (figure, value) rows for one table. A stage that
fails stops the run with a `BenchError` naming it; the work folder is removed
unless it was asked to be kept.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import typer

from peelian.serve.load import (
    CONNECTIONS,
    FIND_MAX_RATES,
    TARGET_P95,
    TARGET_P99,
    FindMaxResult,
    LoadResult,
    _load_average,
    percentile,
    run_find_max,
    run_load,
)

# The stages of `peelian refresh`, in its order.
STAGES = ("ingest", "resolve", "extract", "analyse", "index")
# Issue 13: a full refresh of the 1,000,000-person force in at most 15 minutes on
# 2 cores, i.e. more than 10,000 source records a second end to end.
TARGET_SECONDS = 15 * 60
TARGET_RECORDS_PER_SECOND = 10_000


class BenchError(RuntimeError):
    """A stage of the benchmark failed; `stage` names it."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"bench all stopped at the {stage} stage: {message}")
        self.stage = stage


@dataclass(frozen=True)
class LoadSettings:
    """The load test's settings, as `peelian bench load` takes them."""

    users: int = 8000
    think: float = 30.0
    minutes: float = 5.0
    workers: int = 2
    ramp: float | None = None  # None: one think time
    port: int = 0
    connections: int = CONNECTIONS
    rates: Sequence[float] = FIND_MAX_RATES  # searches/s offered by find-max, in turn
    phase_seconds: float = 20.0


@dataclass
class BenchAllResult:
    """What a run measured: seconds per refresh stage, sizes, memory and the load."""

    started: dt.datetime
    people: int | None  # None when the force was given
    source_records: int  # rows read by ingest, all sources
    generate_seconds: float | None  # None when the force was given
    stages: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    hub_bytes: int = 0  # the hub folder: database, snapshots, index, state
    database_bytes: int = 0  # hub.duckdb alone
    peak_mb_generate: float | None = None  # max RSS of this process after generate
    peak_mb: float = 0.0  # max RSS of this process after the refresh
    load: LoadResult | None = None
    find_max: FindMaxResult | None = None
    load_average: tuple[tuple[float, ...] | None, tuple[float, ...] | None] = (None, None)

    @property
    def refresh_seconds(self) -> float:
        return sum(self.stages.values())

    @property
    def records_per_second(self) -> float:
        return self.source_records / max(self.refresh_seconds, 1e-9)

    @property
    def refresh_met(self) -> bool:
        """Issue 13's refresh target: at most 15 minutes and over 10,000 records/s."""
        return (
            self.refresh_seconds <= TARGET_SECONDS
            and self.records_per_second > TARGET_RECORDS_PER_SECOND
        )


def run_bench_all(
    *,
    people: int = 1_000_000,
    months: int = 24,
    seed: int = 1,
    force_dir: Path | None = None,
    keep: Path | None = None,
    settings: LoadSettings = LoadSettings(),
    load: bool = True,
    find_max: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> BenchAllResult:
    """Generate a force of `people` (or use `force_dir`), refresh a new hub from it
    stage by stage, then load-test it (`load`) and find the most searches/s it holds
    (`find_max`), both with `settings`. The work (the force, the hub) goes to a
    temporary folder removed at the end, or to `keep`, a new or empty folder, kept.
    `say` hears what is starting.

    Example:

        result = run_bench_all(people=20_000, settings=LoadSettings(users=500, minutes=1))
        for name, value in figures(result):
            print(name, value)
    """
    if force_dir is not None and not (force_dir / "mappings").is_dir():
        raise BenchError("setup", f"--force-dir {force_dir} has no mappings folder")
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise BenchError("setup", f"--keep {keep} must be a new or empty folder")
    work = keep or Path(tempfile.mkdtemp(prefix="peelian-bench-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        return _run(work, people, months, seed, force_dir, settings, load, find_max, say)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _run(
    work: Path,
    people: int,
    months: int,
    seed: int,
    force_dir: Path | None,
    settings: LoadSettings,
    load: bool,
    find_max: bool,
    say: Callable[[str], None],
) -> BenchAllResult:
    from peelian.cli import _run_generate, _run_ingest
    from peelian.cli_analyse import _run_analyse
    from peelian.cli_govern import demo_accounts
    from peelian.cli_resolve import _run_resolve
    from peelian.cli_search import _run_index
    from peelian.cli_text import _run_extract

    result = BenchAllResult(
        started=dt.datetime.now().astimezone(),
        people=None if force_dir else people,
        source_records=0,
        generate_seconds=None,
    )
    before = _load_average()
    force = force_dir or work / "force"
    if force_dir is None:
        say(f"generate: {people:,} people, {months} months")
        result.generate_seconds = _timed(
            "generate",
            lambda: _run_generate(people, seed, force, "2024-01-01", months, None, False, True),
        )
        result.peak_mb_generate = _peak_mb()
    hub = work / "hub"
    state_url = str(hub / "state.db")
    # the new hub's own state database, whatever $PEELIAN_STATE says: a force's real
    # accounts are never touched by a benchmark
    summaries = []
    runs: dict[str, Callable[[], object]] = {
        "ingest": lambda: summaries.extend(_run_ingest(hub, [force / "mappings"], 50_000, True)),
        "resolve": lambda: _run_resolve(hub, state_url, None, None, None, True),
        "extract": lambda: _run_extract(hub, True),
        "analyse": lambda: _run_analyse(hub, True, state=state_url),
        "index": lambda: _run_index(hub, True),
    }
    for stage in STAGES:
        say(stage)
        result.stages[stage] = _timed(stage, runs[stage])
    result.source_records = sum(s.rows_read for s in summaries)
    result.peak_mb = _peak_mb()
    result.hub_bytes = _folder_bytes(hub)
    result.database_bytes = (hub / "hub.duckdb").stat().st_size
    if load or find_max:
        say("accounts for the officers")
        with _stage("accounts"):
            demo_accounts(hub, state_url)
    if load:
        say(f"load: {settings.users:,} officers for {settings.minutes:g} min")
        with _stage("load"):
            result.load = run_load(
                hub, state_url=state_url, users=settings.users, think=settings.think,
                seconds=settings.minutes * 60, workers=settings.workers,
                ramp=settings.ramp, port=settings.port, connections=settings.connections,
            )  # fmt: skip
    if find_max:
        say(f"find-max: {settings.phase_seconds:g} s a rate")
        with _stage("find-max"):
            result.find_max = run_find_max(
                hub, state_url=state_url, workers=settings.workers, rates=settings.rates,
                phase_seconds=settings.phase_seconds, port=settings.port,
                connections=settings.connections,
            )  # fmt: skip
    result.load_average = (before, _load_average())
    return result


def _timed(stage: str, run: Callable[[], object]) -> float:
    began = time.perf_counter()
    with _stage(stage):
        run()
    return time.perf_counter() - began


@contextmanager
def _stage(stage: str) -> Iterator[None]:
    """Run a stage with the tables it prints of its own held back (the benchmark
    prints one table), and its failure turned into a BenchError that names it."""
    from peelian.cli import out_console

    try:
        with out_console.capture():
            yield
    except typer.Exit:  # the stage printed why before it stopped
        raise BenchError(stage, "its error is above") from None
    except Exception as exc:  # a benchmark reports any failure, never a traceback
        raise BenchError(stage, f"{type(exc).__name__}: {exc}") from None


def _peak_mb() -> float:
    """The most memory this process has held (max RSS), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def memory_gb() -> float | None:
    """The machine's memory in GB (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


# -- the figures -----------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def figures(result: BenchAllResult) -> list[tuple[str, str]]:
    """The run as (figure, value) rows: the refresh stage by stage and its target,
    sizes and memory, then the load test and the most searches/s held."""
    records = result.source_records
    total = result.refresh_seconds
    rows = [
        ("people", f"{result.people:,}" if result.people else "(the force given)"),
        ("source records", f"{records:,}"),
    ]
    if result.generate_seconds is not None:
        rows.append(("generate (s, not part of the refresh)", f"{result.generate_seconds:,.1f}"))
    for stage, seconds in result.stages.items():
        rows.append(
            (
                f"{stage} (s)",
                f"{seconds:,.1f} ({records / max(seconds, 1e-9):,.0f} source records/s, "
                f"{seconds / max(total, 1e-9):.0%} of the refresh)",
            )
        )
    rows += [
        (
            "refresh total, ingest to index (s)",
            f"{total:,.1f} = {total / 60:,.1f} min ({result.records_per_second:,.0f} "
            "source records/s)",
        ),
        (
            f"refresh target: <= {TARGET_SECONDS // 60} min, > {TARGET_RECORDS_PER_SECOND:,} "
            "records/s (set for 1,000,000 people)",
            "met" if result.refresh_met else "NOT met",
        ),
        (
            "hub on disk (MB)",
            f"{result.hub_bytes / 2**20:,.0f} (hub.duckdb {result.database_bytes / 2**20:,.0f})",
        ),
        (
            "peak memory, generate and refresh (MB)",
            f"{result.peak_mb:,.0f}"
            + (
                f" ({result.peak_mb_generate:,.0f} after generate)"
                if result.peak_mb_generate is not None
                else ""
            ),
        ),
    ]
    rows += _load_rows(result.load)
    rows += _find_max_rows(result.find_max)
    return rows


def _load_rows(load: LoadResult | None) -> list[tuple[str, str]]:
    if load is None:
        return [("load", "not run (--skip-load)")]
    tally = load.tally
    times = tally.times()
    errors = tally.errors()
    met = load.met
    missed = [target for target, ok in met.items() if not ok]
    return [
        (
            "load: officers",
            f"{load.officers:,} ({load.workers} server workers, {load.connections:,} connections)",
        ),
        ("load: think time (s)", f"{load.think:g}"),
        ("load: minutes measured", f"{load.window / 60:g} (after a {load.ramp:g} s ramp)"),
        (
            "load: requests",
            f"{tally.requests():,} ({tally.answered() / load.window:,.1f} answered/s)",
        ),
        ("load: p95", _ms(percentile(times, 0.95)) if times else "-"),
        ("load: p99", _ms(percentile(times, 0.99)) if times else "-"),
        (
            "load: errors",
            f"{sum(errors.values()):,}"
            + (f" ({', '.join(f'{k}: {n:,}' for k, n in errors.most_common())})" if errors else ""),
        ),
        (
            f"load target: p95 <= {TARGET_P95 * 1000:.0f} ms, p99 <= {TARGET_P99:g} s, zero errors",
            "yes" if not missed else f"no ({', '.join(missed)} not met)",
        ),
    ]


def _find_max_rows(found: FindMaxResult | None) -> list[tuple[str, str]]:
    name = f"most searches/s held (p95 <= {TARGET_P95 * 1000:.0f} ms, no errors)"
    if found is None:
        return [(name, "not run (--skip-find-max)")]
    best = found.best
    if best is None:
        rate = found.phases[0].rate if found.phases else 0
        return [(name, f"none: the lowest rate tried ({rate:g}/s) already failed")]
    value = f"{best.rate:g} ({found.phase_seconds:g} s a rate, {found.workers} server workers)"
    if found.phases[-1].passed:
        value += "; every rate tried held, so the limit is higher"
    return [(name, value)]
