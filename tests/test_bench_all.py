"""`peelian bench all`: the whole refresh timed stage by stage, then the load, in one table."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peelian.bench_all import STAGES, BenchAllResult, figures
from peelian.cli import app

runner = CliRunner()


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the benchmark's temporary folders go, so a test can see they are gone."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def test_bench_all_has_help_with_an_example() -> None:
    result = runner.invoke(app, ["bench", "all", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert "peelian bench all" in result.output


@pytest.mark.slow
def test_bench_all_times_each_stage_then_the_load_in_one_table(temp_root: Path) -> None:
    result = runner.invoke(
        app,
        ["bench", "all", "--people", "1500", "--months", "3", "--users", "20", "--think", "1",
         "--minutes", "0.1", "--skip-find-max"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("peelian bench all") >= 2, "the table's title and the closing command"
    for stage in STAGES:
        assert f"{stage} (s)" in out
    assert "generate (s, not part of the refresh)" in out
    assert "refresh total, ingest to index (s)" in out
    assert "refresh target" in out
    assert "hub on disk (MB)" in out
    assert "peak memory" in out
    for row in ("load: officers", "load: think time", "load: minutes measured", "load: requests",
                "load: p95", "load: p99", "load: errors", "load target"):  # fmt: skip
        assert row in out
    assert "not run (--skip-find-max)" in out
    last = out.strip().splitlines()[-1]
    assert "cores" in last
    assert "GB memory" in last
    assert "command: peelian bench all --people 1500 --months 3 --seed 1 --users 20" in last
    assert "Traceback" not in out
    assert list(temp_root.iterdir()) == [], "the temporary folder is removed"


def test_a_failing_stage_is_named_in_one_line_and_the_work_folder_removed(
    tmp_path: Path, temp_root: Path
) -> None:
    force = tmp_path / "force"
    (force / "mappings").mkdir(parents=True)
    (force / "mappings" / "crime.yaml").write_text(
        "format: peelian-mapping/1\nsource:\n  name: crime\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["bench", "all", "--force-dir", str(force), "--skip-load"])
    assert result.exit_code == 2
    assert "bench all stopped at the ingest stage" in result.output
    assert "crime.yaml" in result.output, "the stage's own reason is shown too"
    assert "Traceback" not in result.output
    assert list(temp_root.iterdir()) == []


def test_a_force_dir_without_mappings_and_a_used_keep_folder_are_refused(
    tmp_path: Path, temp_root: Path
) -> None:
    result = runner.invoke(app, ["bench", "all", "--force-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "has no mappings folder" in result.output
    used = tmp_path / "kept"
    used.mkdir()
    (used / "notes.txt").write_text("an analyst's notes")
    result = runner.invoke(app, ["bench", "all", "--people", "300", "--keep", str(used)])
    assert result.exit_code == 2
    assert "must be a new or empty folder" in result.output
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    assert list(temp_root.iterdir()) == []


def _result(records: int, seconds: float) -> BenchAllResult:
    share = seconds / len(STAGES)
    return BenchAllResult(
        started=dt.datetime(2026, 12, 8, tzinfo=dt.UTC),
        people=1_000_000,
        source_records=records,
        generate_seconds=None,
        stages=dict.fromkeys(STAGES, share),
    )


def test_the_refresh_target_needs_both_15_minutes_and_10000_records_a_second() -> None:
    assert _result(25_000_000, 14 * 60).refresh_met
    assert not _result(25_000_000, 16 * 60).refresh_met, "too slow, however many records"
    assert not _result(5_000_000, 10 * 60).refresh_met, "in time, but under 10,000/s"
    rows = dict(figures(_result(25_000_000, 14 * 60)))
    assert rows["refresh total, ingest to index (s)"].startswith("840.0 = 14.0 min")
    assert rows["load"] == "not run (--skip-load)"
