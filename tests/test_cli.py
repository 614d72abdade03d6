"""The `peelian` command line: help with examples, clear errors, nothing half-written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peelian.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [["generate"], ["demo"], ["bench", "generate"], ["index"], ["search"], ["bench", "search"]],
)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert "peelian " in result.output


def test_generate_writes_a_force_and_summarises_it(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["generate", "--people", "600", "--months", "2", "--out", str(tmp_path / "f"), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert "crime_records.csv" in result.output
    assert (tmp_path / "f" / "manifest.json").exists()
    assert sorted(p.name for p in (tmp_path / "f" / "mappings").iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--people", "-5"], "--people must be at least 100"),
        (["--months", "0"], "--months must be between 1 and 120"),
        (["--start", "2024-13-01"], "is not a date"),
        (["--seed", "-1"], "--seed must be zero or positive"),
    ],
)
def test_bad_arguments_give_a_clear_error_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "f"
    result = runner.invoke(app, ["generate", "--out", str(out), "--quiet", *args])
    assert result.exit_code == 2
    assert message in result.output.replace("\n", " ")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_folder_is_refused_without_force_and_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "f"
    out.mkdir()
    (out / "notes.txt").write_text("an analyst's notes")
    result = runner.invoke(
        app, ["generate", "--people", "300", "--months", "1", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 2
    assert "is not empty; use --force" in result.output.replace("\n", " ")
    assert (out / "notes.txt").read_text() == "an analyst's notes"
    result = runner.invoke(
        app,
        ["generate", "--people", "300", "--months", "1", "--out", str(out), "--quiet", "--force"],
    )
    assert result.exit_code == 0, result.output
    assert not (out / "notes.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["f"], "no staging folders are left behind"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_parent_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = runner.invoke(app, ["generate", "--out", str(locked / "f"), "--quiet"])
    assert result.exit_code == 2
    assert "cannot write to" in result.output


def test_a_missing_parent_folder_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["generate", "--out", str(tmp_path / "no" / "such" / "f"), "--quiet"]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_a_failure_part_way_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import peelian.synth.generate as gen

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(gen, "generate_anpr", broken)
    out = tmp_path / "f"
    with pytest.raises(RuntimeError, match="disk full"):
        gen.generate(
            gen.SynthConfig(
                people=400,
                seed=1,
                start=__import__("datetime").date(2024, 1, 1),
                months=1,
                settings=gen_settings(),
            ),
            out,
        )
    assert list(tmp_path.iterdir()) == []


def test_a_failure_with_force_keeps_the_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import peelian.synth.generate as gen

    out = tmp_path / "f"
    out.mkdir()
    (out / "old.txt").write_text("previous force")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(gen, "generate_calls", broken)
    with pytest.raises(RuntimeError):
        gen.generate(
            gen.SynthConfig(
                people=400,
                seed=1,
                start=__import__("datetime").date(2024, 1, 1),
                months=1,
                settings=gen_settings(),
            ),
            out,
            force=True,
        )
    assert (out / "old.txt").read_text() == "previous force"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_bad_settings_file_names_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("rates:\n  crimez: 10\n")
    result = runner.invoke(
        app, ["generate", "--out", str(tmp_path / "f"), "--config", str(config), "--quiet"]
    )
    assert result.exit_code == 2
    assert "crimez: unknown setting" in result.output.replace("\n", " ")


def gen_settings() -> dict[str, object]:
    from peelian.synth.config import load_settings

    return load_settings()


def test_ingest_then_dq_print_their_tables(force: Path, tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    mappings = [str(force / "mappings" / f"{name}.yaml") for name in ("crime", "referrals")]
    ingested = runner.invoke(app, ["ingest", "--hub", str(hub), "--quiet", *mappings])
    assert ingested.exit_code == 0, ingested.output
    assert "crime" in ingested.output
    assert "referrals" in ingested.output
    quality = runner.invoke(app, ["dq", "--hub", str(hub), "--source", "crime"])
    assert quality.exit_code == 0, quality.output
    assert "unknown_marking" in quality.output
    assert "date_of_birth" in quality.output


def test_ingest_of_a_wrong_mapping_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "people.yaml"
    bad.write_text("format: peelian-mapping/1\nsource:\n  name: people\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", "--hub", str(tmp_path / "hub"), str(bad)])
    assert result.exit_code == 2
    assert "people.yaml" in result.output


def test_dq_of_a_folder_that_is_not_a_hub_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dq", "--hub", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a Peelian hub" in result.output
