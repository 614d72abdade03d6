"""`peelian explain`: why two mentions were (not) merged, and how an entity was built."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import duckdb

from peelian.resolve.features import build_person_features


class ExplainError(Exception):
    """The mentions or entity asked about can't be explained."""


@dataclass
class FieldWeight:
    comparison: str
    left: str
    right: str
    level: str
    weight: float  # log2 Bayes factor, term-frequency adjustment included


@dataclass
class PairExplanation:
    left: str
    right: str
    fields: list[FieldWeight]
    prior_weight: float
    match_weight: float
    match_probability: float
    threshold_weight: float
    entity_left: str | None
    entity_right: str | None
    verdict: str


@dataclass
class EntityExplanation:
    entity_id: str
    entity_type: str
    label: str | None
    golden: list[tuple[str, str, bool, list[str], list[str]]]  # field, value, chosen, sources, m
    mentions: list[tuple[str, str]]  # mention id, source
    edges: list[tuple[str, str, float | None, str]]
    history: list[tuple[str, str, list[str]]] = field(default_factory=list)


def latest_run(con: duckdb.DuckDBPyConnection) -> tuple[str, float, str | None] | None:
    """(run ID, match threshold, model JSON) of the hub's last resolve; None before
    the first one. What the current snapshot was resolved by."""
    try:
        row = con.execute(
            "SELECT run_id, threshold_weight, model FROM resolve_runs"
            " ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
    except duckdb.CatalogException:
        return None
    return None if row is None else (str(row[0]), float(row[1]), row[2])


def _latest_run(con: duckdb.DuckDBPyConnection) -> tuple[str, float, str | None]:
    run = latest_run(con)
    if run is None:
        raise ExplainError("the hub has not been resolved yet; run `peelian resolve --hub HUB`")
    return run


def _entity_of(con: duckdb.DuckDBPyConnection, mention: str) -> str | None:
    row = con.execute(
        "SELECT entity_id FROM entity_membership WHERE mention_id = $m", {"m": mention}
    ).fetchone()
    return str(row[0]) if row else None


def explain_pair(con: duckdb.DuckDBPyConnection, left: str, right: str) -> PairExplanation:
    """Field-by-field match weights for two person mentions under the hub's model."""
    from splink import DuckDBAPI, Linker

    _, threshold, model_text = _latest_run(con)
    if not model_text:
        raise ExplainError("the last resolve run kept no person model")
    build_person_features(con)
    for mention in (left, right):
        found = con.execute(
            "SELECT count(*) FROM person_features WHERE unique_id = $m", {"m": mention}
        ).fetchall()
        if not found[0][0]:
            raise ExplainError(
                f"{mention} is not a named person mention in this hub "
                "(see `peelian export memberships` for mention ids)"
            )
    model: dict[str, Any] = json.loads(model_text)
    model["retain_intermediate_calculation_columns"] = True
    model["retain_matching_columns"] = True
    # Splink switches the schema to its output schema; put the search path back after
    # (a server's connection reads the hub through it, see serve/reads.py `pair`).
    rows = con.execute("SELECT current_setting('search_path')").fetchall()
    search_path = str(rows[0][0]) if rows and rows[0][0] else ""
    db_api = DuckDBAPI(con, output_schema="splink_explain")
    try:
        table = db_api.register("person_features", dataset_display_name="person_features")
        linker = Linker(table, model, log_level=logging.ERROR)
        for column in ("first_name", "surname", "postcode"):
            linker.table_management.compute_tf_table(column)
        for side, mention in (("left", left), ("right", right)):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE explain_{side} AS"
                " SELECT * FROM person_features WHERE unique_id = $m",
                {"m": mention},
            )
        records = {
            left: db_api.register("explain_left", dataset_display_name="explain_left"),
            right: db_api.register("explain_right", dataset_display_name="explain_right"),
        }
        scored = linker.inference.score_pair(records[left], records[right])
        result = con.execute(f"SELECT * FROM {scored.physical_name}").fetchone()
        out_names = [d[0] for d in con.description or []]
    finally:
        con.execute("SET schema = 'main'")
        if search_path:
            con.execute(f"SET search_path = '{search_path}'")
        con.execute("DROP SCHEMA IF EXISTS splink_explain CASCADE")
    assert result is not None
    got = dict(zip(out_names, result, strict=True))
    fields = []
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        gamma = got.get(f"gamma_{name}")
        label = "missing on one side"
        if gamma is not None and gamma >= 0:
            # Levels are numbered from the last (ELSE = 0) upwards.
            ordered = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
            label = ordered[len(ordered) - 1 - int(gamma)].get("label_for_charts", str(gamma))
        weight = float(got.get(f"mw_{name}") or 0.0) + float(got.get(f"mw_tf_adj_{name}") or 0.0)
        lcols = [k for k in got if k.endswith("_l") and _belongs(k[:-2], name)]
        fields.append(
            FieldWeight(
                name,
                ", ".join(str(got[c]) for c in lcols if got[c] not in (None, [])) or "-",
                ", ".join(
                    str(got[c[:-2] + "_r"])
                    for c in lcols
                    if got.get(c[:-2] + "_r") not in (None, [])
                )
                or "-",
                label,
                weight,
            )
        )
    prior = float(model.get("probability_two_random_records_match", 1e-4))
    prior_weight = math.log2(prior / (1 - prior))
    weight = float(got["match_weight"])
    el, er = _entity_of(con, left), _entity_of(con, right)
    verdict = _verdict(con, left, right, el, er, weight, threshold)
    return PairExplanation(
        left,
        right,
        fields,
        prior_weight,
        weight,
        float(got["match_probability"]),
        threshold,
        el,
        er,
        verdict,
    )


_COLUMNS = {
    "first_name": ("first_name",),
    "surname": ("surname",),
    "date_of_birth": ("dob", "dob_ym", "dob_year"),
    "sex": ("sex",),
    "address": ("address_key", "postcode"),
    "phone": ("phones",),
    "email": ("emails",),
    "identifier": ("ids",),
}


def _belongs(column: str, comparison: str) -> bool:
    return column in _COLUMNS.get(comparison, ())


def _verdict(
    con: duckdb.DuckDBPyConnection,
    left: str,
    right: str,
    el: str | None,
    er: str | None,
    weight: float,
    threshold: float,
) -> str:
    if el is not None and el == er:
        edge = con.execute(
            "SELECT via, match_weight FROM match_edges WHERE (mention_l, mention_r) IN"
            " (($a, $b), ($b, $a))",
            {"a": left, "b": right},
        ).fetchone()
        if edge:
            return f"merged directly ({edge[0]})"
        return f"in one entity {el}, joined through other mentions (see `peelian explain {el}`)"
    refused = con.execute(
        "SELECT reason FROM review_queue WHERE (mention_l, mention_r) IN (($a, $b), ($b, $a))",
        {"a": left, "b": right},
    ).fetchone()
    if refused and str(refused[0]).startswith("would merge"):
        return f"not merged: {refused[0]}; in the review queue"
    if weight >= threshold:
        return "not merged: scored above the threshold but the join was refused or not blocked"
    if refused:
        return f"not merged: weight {weight:.1f} is below the threshold {threshold:.1f}; in review"
    return f"not merged: weight {weight:.1f} is below the threshold {threshold:.1f}"


def explain_entity(con: duckdb.DuckDBPyConnection, entity_id: str) -> EntityExplanation:
    _latest_run(con)
    row = con.execute(
        "SELECT entity_type, label FROM entities WHERE entity_id = $e", {"e": entity_id}
    ).fetchone()
    if row is None:
        last = con.execute(
            "SELECT event, related FROM entity_history WHERE entity_id = $e"
            " ORDER BY recorded_at DESC LIMIT 1",
            {"e": entity_id},
        ).fetchone()
        if last:
            raise ExplainError(
                f"{entity_id} no longer exists: {last[0]}"
                + (f" into {', '.join(last[1])}" if last[1] else "")
            )
        raise ExplainError(f"no entity {entity_id} in this hub")
    golden = [
        (str(f), str(v), bool(c), list(s), list(m))
        for f, v, c, s, m in con.execute(
            "SELECT field, value, chosen, sources, mentions FROM golden_values"
            " WHERE entity_id = $e ORDER BY field, chosen DESC, seen DESC, value",
            {"e": entity_id},
        ).fetchall()
    ]
    mentions = [
        (str(m), str(s))
        for m, s in con.execute(
            "SELECT mention_id, source FROM entity_membership JOIN mentions USING (mention_id)"
            " WHERE entity_id = $e ORDER BY source, mention_id",
            {"e": entity_id},
        ).fetchall()
    ]
    edges = [
        (str(a), str(b), None if w is None else float(w), str(v))
        for a, b, w, v in con.execute(
            "SELECT mention_l, mention_r, match_weight, via FROM match_edges"
            " WHERE entity_id = $e ORDER BY match_weight DESC NULLS FIRST",
            {"e": entity_id},
        ).fetchall()
    ]
    history = [
        (str(r), str(e), list(rel or []))
        for r, e, rel in con.execute(
            "SELECT run_id, event, related FROM entity_history WHERE entity_id = $e"
            " ORDER BY recorded_at",
            {"e": entity_id},
        ).fetchall()
    ]
    return EntityExplanation(entity_id, str(row[0]), row[1], golden, mentions, edges, history)
