"""`peelian bench resolve`: Peelian's resolver and a plain Splink baseline, side by side.

Each runs in its own process so its peak memory is its own. The baseline is
the standard person model from Splink's documentation (names, date of birth,
postcode with term frequencies; blocking on forename + DOB and on surname;
clusters at probability 0.95), run on the same person mentions.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import time
from pathlib import Path
from typing import Any

from peelian.hub import Hub
from peelian.resolve.run import RESOLVE_MEMORY_LIMIT, peak_memory_mb


def _peelian(hub_path: str, truth: str) -> dict[str, Any]:
    from peelian.resolve.evaluate import evaluate
    from peelian.resolve.run import resolve

    began = time.perf_counter()
    with Hub(Path(hub_path)) as hub:
        summary = resolve(hub)
        seconds = time.perf_counter() - began
        peak = peak_memory_mb()
        scores = evaluate(hub.con, Path(truth)).overall
    return {
        "seconds": seconds,
        "peak_mb": peak,
        "mentions": summary.person_mentions,
        "pairs": summary.pairs_compared,
        "phases": [(p.name, p.seconds) for p in summary.phases],
        "scores": scores.as_dict(),
    }


def _baseline(hub_path: str, truth: str) -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from peelian.resolve.evaluate import evaluate
    from peelian.resolve.features import build_person_features

    began = time.perf_counter()
    with Hub(Path(hub_path)) as hub:
        con = hub.con
        con.execute(f"SET memory_limit = '{RESOLVE_MEMORY_LIMIT}'")
        build_person_features(con)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE baseline_input AS SELECT unique_id, first_name, surname,"
            " dob, postcode FROM person_features"
        )
        db_api = DuckDBAPI(con, output_schema="splink_baseline")
        try:
            table = db_api.register("baseline_input", dataset_display_name="baseline_input")
            settings = SettingsCreator(
                link_type="dedupe_only",
                comparisons=[
                    cl.NameComparison("first_name"),
                    cl.NameComparison("surname"),
                    cl.DateOfBirthComparison("dob", input_is_string=False),
                    cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
                ],
                blocking_rules_to_generate_predictions=[
                    block_on("first_name", "dob"),
                    block_on("surname"),
                ],
            )
            linker = Linker(table, settings, log_level=logging.ERROR)
            linker.training.estimate_probability_two_random_records_match(
                [block_on("first_name", "surname")], recall=0.7
            )
            linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on("first_name", "surname")
            )
            linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
            predictions = linker.inference.predict(threshold_match_probability=0.5)
            pairs = con.execute(f"SELECT count(*) FROM {predictions.physical_name}").fetchall()
            clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
                predictions, threshold_match_probability=0.95
            )
            con.execute("SET schema = 'main'")
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE baseline_membership AS
                    SELECT unique_id AS mention_id, 'person' AS entity_type,
                           CAST(cluster_id AS VARCHAR) AS entity_id
                    FROM splink_baseline.{clusters.physical_name.split(".")[-1]}"""
            )
            seconds = time.perf_counter() - began
            peak = peak_memory_mb()
            scores = evaluate(con, Path(truth), membership="baseline_membership").overall
        finally:
            con.execute("SET schema = 'main'")
            con.execute("DROP SCHEMA IF EXISTS splink_baseline CASCADE")
    return {
        "seconds": seconds,
        "peak_mb": peak,
        "pairs": int(pairs[0][0]),
        "scores": scores.as_dict(),
    }


def _child(target: str, hub: str, truth: str, conn: Any) -> None:
    try:
        conn.send(("ok", globals()[target](hub, truth)))
    except BaseException as exc:  # report to the parent, which prints it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _in_child(target: str, hub: Path, truth: Path) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(target, str(hub), str(truth), child))
    process.start()
    child.close()
    status, payload = parent.recv()
    process.join()
    if status != "ok":
        raise RuntimeError(f"{target} failed: {payload}")
    result: dict[str, Any] = payload
    return result


def run_bench(hub: Path, truth: Path, *, baseline: bool = True) -> list[tuple[str, str]]:
    """Run both resolvers on copies of `hub`; return (figure, value) rows."""
    rows: list[tuple[str, str]] = []
    copy = hub.parent / (hub.name + "-baseline")
    if baseline:
        shutil.copytree(hub, copy, dirs_exist_ok=True)
    ours = _in_child("_peelian", hub, truth)
    rows.append(("person mentions", f"{ours['mentions']:,}"))
    rows.append(("peelian: pairs compared", f"{ours['pairs']:,}"))
    for name, seconds in ours["phases"]:
        rows.append((f"peelian: {name} (s)", f"{seconds:,.1f}"))
    rows.append(("peelian: resolve time (s)", f"{ours['seconds']:,.1f}"))
    rows.append(("peelian: peak memory (MB)", f"{ours['peak_mb']:,.0f}"))
    rows.extend(_score_rows("peelian", ours["scores"]))
    if baseline:
        try:
            base = _in_child("_baseline", copy, truth)
        except RuntimeError as exc:
            rows.append(("splink baseline", str(exc)))
            return rows
        finally:
            shutil.rmtree(copy, ignore_errors=True)
        rows.append(("splink baseline: pairs scored (p >= 0.5)", f"{base['pairs']:,}"))
        rows.append(("splink baseline: time (s)", f"{base['seconds']:,.1f}"))
        rows.append(("splink baseline: peak memory (MB)", f"{base['peak_mb']:,.0f}"))
        rows.extend(_score_rows("splink baseline", base["scores"]))
    return rows


def _score_rows(who: str, s: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"{who}: pairwise precision / recall / F1",
            f"{s['precision']:.4f} / {s['recall']:.4f} / {s['f1']:.4f}",
        ),
        (
            f"{who}: B-cubed precision / recall",
            f"{s['bcubed_precision']:.4f} / {s['bcubed_recall']:.4f}",
        ),
        (f"{who}: entities (truth {s['true_entities']:,})", f"{s['predicted_entities']:,}"),
    ]
