"""`peelian bench load`: simulated officers against a served hub. The scheduling is
tested without a server; one short run against a real two-worker server checks what
the run does (never how fast)."""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from tests.serve.conftest import Served, own_state
from typer.testing import CliRunner

from peelian.cli import app
from peelian.govern.purpose import parse_purpose
from peelian.serve.load import (
    MIX,
    OFFICER_ROLES,
    SEARCH_KINDS,
    FindMaxResult,
    Officer,
    Phase,
    Tally,
    make_officers,
    percentile,
    queries_from_hub,
    result_tables,
    run_load,
    start_times,
    think_time,
)
from peelian.state import State

runner = CliRunner()
TOKENS = {role: (f"user_{role}", f"pln_{role}") for role, _, _ in OFFICER_ROLES}


def officer(seed: int = 1, found: list[str] | None = None) -> Officer:
    return Officer(0, "pc1", "pln_x", "incident LOAD-00001", random.Random(seed), found or [])


# -- the scheduling, without a server ---------------------------------------------------------


def test_an_officer_asks_in_the_mix_proportions() -> None:
    someone = officer(found=["P00000001"])
    asked = Counter(someone.next_kind() for _ in range(20_000))
    for kind, share in MIX.items():
        assert asked[kind] / 20_000 == pytest.approx(share, abs=0.02), kind


def test_an_officer_with_no_results_yet_looks_someone_up_instead_of_a_profile() -> None:
    someone = officer()
    asked = {someone.next_kind() for _ in range(2_000)}
    assert "profile" not in asked
    assert asked == {"name+dob", "plate", "search"}


def test_find_max_asks_searches_only() -> None:
    someone = officer(found=["P00000001"])
    assert {someone.next_search() for _ in range(2_000)} == set(SEARCH_KINDS)


def test_think_time_is_exponential_with_the_mean_asked() -> None:
    rng = random.Random(7)
    pauses = [think_time(rng, 30.0) for _ in range(20_000)]
    mean = sum(pauses) / len(pauses)
    assert mean == pytest.approx(30.0, rel=0.03)
    assert min(pauses) >= 0
    # exponential: about 63% of pauses are shorter than the mean, and the median is mean*ln 2
    assert sum(p < 30 for p in pauses) / len(pauses) == pytest.approx(0.632, abs=0.02)
    assert percentile(pauses, 0.5) == pytest.approx(30 * 0.693, rel=0.05)
    assert think_time(rng, 0) == 0


def test_officers_start_evenly_over_the_ramp() -> None:
    assert start_times(4, 2.0) == [0.0, 0.5, 1.0, 1.5]
    starts = start_times(8000, 30.0)
    assert starts[0] == 0
    assert max(starts) < 30
    assert all(b > a for a, b in itertools.pairwise(starts))


def test_officers_are_spread_over_the_roles_each_with_a_purpose() -> None:
    officers = make_officers(100, TOKENS)
    by_role = Counter(o.username for o in officers)
    for role, share, _ in OFFICER_ROLES:
        assert by_role[f"user_{role}"] == pytest.approx(100 * share, abs=1)
    for someone in officers:
        assert parse_purpose(someone.purpose).text  # a purpose the API takes
    assert len({o.purpose for o in officers}) == 100  # each officer its own


def test_officers_of_a_role_with_no_account_act_as_the_others() -> None:
    only = {"investigator": TOKENS["investigator"]}
    assert {o.username for o in make_officers(20, only)} == {"user_investigator"}


def test_the_highest_rate_is_the_last_before_a_phase_fails() -> None:
    def phase(rate: float, seconds: list[float], status: str = "200") -> Phase:
        tally = Tally()
        for s in seconds:
            tally.add("search", s, status)
        return Phase(rate, 10, 11, tally, [0.0], 1.0, 2.0)

    held = phase(10, [0.05] * 20)
    slow = phase(20, [0.05] * 18 + [0.5] * 2)  # p95 over 300 ms
    failed = phase(20, [0.05] * 20, status="503")
    assert held.passed
    assert not slow.passed
    assert not failed.passed
    assert FindMaxResult([held, slow], 10, 2, 8, []).best is held
    assert FindMaxResult([held, failed], 10, 2, 8, []).best is held
    assert FindMaxResult([slow], 10, 2, 8, []).best is None


def test_queries_come_from_the_hubs_golden_records(served: Served) -> None:
    queries = queries_from_hub(served.hub, limit=200)
    assert len(queries.names) > 50
    assert all(re.search(r"\b\d\d/\d\d/\d{4}$", name) for name in queries.names)
    assert queries.plates
    assert queries.searches
    rng = random.Random(3)
    plates = {queries.text("plate", rng) for _ in range(200)}
    assert any("?" in p for p in plates)  # some partial plates
    assert queries_from_hub(served.hub, limit=200) == queries  # the same each time


def test_bench_load_has_help_with_an_example() -> None:
    result = runner.invoke(app, ["bench", "load", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert "peelian bench load" in result.output


# -- against a served hub ---------------------------------------------------------------------


def alive(pid: int) -> bool:
    """A process still running: not ended, nor a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.slow
def test_officers_load_a_two_worker_server(served: Served, tmp_path: Path) -> None:
    state = own_state(served, tmp_path)  # an audit log of this run's own
    result = run_load(
        served.hub, state_url=state.state_url, users=30, think=0.2, seconds=12, workers=2,
        ramp=0.2,
    )  # fmt: skip
    # every kind was asked, and every answer was a 200
    assert {k for k, n in result.tally.outcomes.items() if sum(n.values())} == set(MIX)
    assert result.tally.errors() == Counter()
    assert set(result.accounts) == {"pc1", "dc1", "analyst1"}
    # the server is stopped, its workers too
    assert result.server_exit is not None
    assert len(result.server_pids) >= 3  # the command and two workers (Linux)
    assert not [pid for pid in result.server_pids if alive(pid)]
    # the figures are printed
    console = Console(record=True, width=160)
    for table in result_tables(result):
        console.print(table)
    text = console.export_text()
    for kind in (*MIX, "searches", "all"):
        assert re.search(rf"│ {re.escape(kind)} +│ +[\d,]+ │", text), kind
    figures = ("p50 ms", "p95 ms", "p99 ms", "answered/s", "answers/s", "searches/s OK",
               "generator CPU", "2 workers", "p95 <= 300 ms", "p99 <= 1 s",
               "met (0 errors)")  # fmt: skip
    for figure in figures:
        assert figure in text, figure
    # the audit log has the searches and profile views, each with its officer's purpose
    officers = {o.purpose for o in make_officers(30, {r: ("", "") for r, _, _ in OFFICER_ROLES})}
    with State.open(state.state_url) as opened:
        searches = opened.find_audit(action="search", limit=100_000)
        views = opened.find_audit(action="entity.view", limit=100_000)
        tokens = opened.accounts.tokens()
    assert len(searches) >= result.tally.requests(SEARCH_KINDS)
    assert len(views) >= result.tally.requests(["profile"])
    for event in searches + views:
        assert event.outcome == "ok"
        assert event.purpose in officers
    assert {e.actor for e in searches} == {"pc1", "dc1", "analyst1"}
    # the tokens made for the run no longer work
    assert tokens
    assert all(t.revoked_at is not None for t in tokens)


@pytest.mark.slow
def test_bench_load_find_max_prints_the_highest_rate(served: Served, tmp_path: Path) -> None:
    state = own_state(served, tmp_path)
    result = runner.invoke(
        app,
        ["bench", "load", "--hub", str(served.hub), "--state", state.state_url, "--find-max",
         "--rates", "2,4", "--phase-seconds", "2", "--workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "searches at fixed rates, open loop" in result.output
    assert "highest rate with p95 <= 300 ms and no errors" in result.output
    assert re.search(r"│ +2 │", result.output)  # the first phase ran
    assert "peelian bench load --hub" in result.output  # the command, to run it again
    with State.open(state.state_url) as opened:
        assert opened.find_audit(action="search", limit=5)
