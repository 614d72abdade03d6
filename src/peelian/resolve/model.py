"""The person matching model: Splink comparisons, our blocking, training and scoring.

Blocking is done here in SQL rather than by Splink's rules so that arrays
(phones, identifiers) can be exploded and the hard cases get their own rules:
swapped forename and surname, day and month swapped in a date of birth, a
surname changed on marriage (forename + date of birth), a nickname (the
canonical forename). Splink then scores exactly these pairs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

# Pairs found by each rule; a pair is kept once (by its first rule).
BLOCKING_RULES: dict[str, str] = {
    "name_dob": "l.first_name_canon = r.first_name_canon AND l.surname = r.surname"
    " AND l.dob_year = r.dob_year",
    "surname_dob": "l.surname = r.surname AND l.dob = r.dob",
    "forename_dob": "l.first_name_canon = r.first_name_canon AND l.dob = r.dob",
    "sounds_dob": "l.surname_ph = r.surname_ph AND l.first_name_ph = r.first_name_ph"
    " AND l.dob_ym = r.dob_ym",
    "dob_swapped": "l.surname_ph = r.surname_ph AND l.dob = r.dob_swap",
    "names_swapped": "l.first_name = r.surname AND l.surname = r.first_name",
    "name_postcode": "l.first_name_canon = r.first_name_canon AND l.surname = r.surname"
    " AND l.postcode = r.postcode",
    "forename_address": "l.first_name_canon = r.first_name_canon AND l.address_key = r.address_key",
    "dob_address": "l.dob = r.dob AND l.address_key = r.address_key",
    # Mentions with neither a date of birth nor an address (intelligence subjects,
    # callers) can only be found by their name, phone or identifier.
    "name_only": "l.first_name_canon = r.first_name_canon AND l.surname = r.surname"
    " AND (l.dob_year IS NULL OR r.dob_year IS NULL)"
    " AND (l.postcode IS NULL OR r.postcode IS NULL)",
}
# Array features: a pair shares at least one element.
ARRAY_BLOCKING_RULES: dict[str, str] = {"phone": "phones", "identifier": "ids", "email": "emails"}


def _levels(name: str, levels: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    out = []
    for condition, label, extra in levels:
        level: dict[str, Any] = {"sql_condition": condition, "label_for_charts": label}
        level.update(extra)
        out.append(level)
    return {"output_column_name": name, "comparison_levels": out}


NULL: dict[str, Any] = {"is_null_level": True}
TF_FIRST: dict[str, Any] = {"tf_adjustment_column": "first_name", "tf_adjustment_weight": 1.0}
TF_SURNAME: dict[str, Any] = {"tf_adjustment_column": "surname", "tf_adjustment_weight": 1.0}
TF_POSTCODE: dict[str, Any] = {"tf_adjustment_column": "postcode", "tf_adjustment_weight": 1.0}


def _array_levels(name: str, column: str, what: str) -> dict[str, Any]:
    return _levels(
        name,
        [
            (f"len({column}_l) = 0 OR len({column}_r) = 0", f"no {what} on one side", NULL),
            (f"list_has_any({column}_l, {column}_r)", f"a {what} in common", {}),
            ("ELSE", f"different {what}s", {}),
        ],
    )


def comparisons() -> list[dict[str, Any]]:
    """The comparisons, field by field, from strongest agreement to disagreement."""
    return [
        _levels(
            "first_name",
            [
                ("first_name_l IS NULL OR first_name_r IS NULL", "missing", NULL),
                ("first_name_l = first_name_r", "exact", TF_FIRST),
                ("first_name_canon_l = first_name_canon_r", "same name (nickname)", {}),
                ("jaro_winkler_similarity(first_name_l, first_name_r) >= 0.92", "typo", {}),
                ("first_name_l = surname_r", "swapped with surname", {}),
                ("first_name_ph_l = first_name_ph_r", "sounds alike", {}),
                (
                    "(length(first_name_l) = 1 OR length(first_name_r) = 1)"
                    " AND left(first_name_l, 1) = left(first_name_r, 1)",
                    "initial",
                    {},
                ),
                ("jaro_winkler_similarity(first_name_l, first_name_r) >= 0.8", "similar", {}),
                ("ELSE", "different", {}),
            ],
        ),
        _levels(
            "surname",
            [
                ("surname_l IS NULL OR surname_r IS NULL", "missing", NULL),
                ("surname_l = surname_r", "exact", TF_SURNAME),
                ("jaro_winkler_similarity(surname_l, surname_r) >= 0.92", "typo", {}),
                ("surname_l = first_name_r", "swapped with forename", {}),
                ("surname_ph_l = surname_ph_r", "sounds alike", {}),
                (
                    "list_has_any(string_split(replace(surname_l, '-', ' '), ' '),"
                    " string_split(replace(surname_r, '-', ' '), ' '))",
                    "part of a double-barrelled name",
                    {},
                ),
                ("jaro_winkler_similarity(surname_l, surname_r) >= 0.8", "similar", {}),
                ("ELSE", "different", {}),
            ],
        ),
        _levels(
            "date_of_birth",
            [
                ("dob_year_l IS NULL OR dob_year_r IS NULL", "missing", NULL),
                ("dob_l = dob_r", "exact", {}),
                ("dob_l = dob_swap_r", "day and month swapped", {}),
                (
                    "levenshtein(CAST(dob_l AS VARCHAR), CAST(dob_r AS VARCHAR)) = 1",
                    "one digit different",
                    {},
                ),
                (
                    "month(dob_l) = month(dob_r) AND day(dob_l) = day(dob_r)"
                    " AND abs(dob_year_l - dob_year_r) = 1",
                    "year out by one",
                    {},
                ),
                (
                    "(dob_l IS NULL OR dob_r IS NULL) AND dob_ym_l = dob_ym_r",
                    "partial date: same month and year",
                    {},
                ),
                (
                    "(dob_ym_l IS NULL OR dob_ym_r IS NULL) AND dob_year_l = dob_year_r",
                    "partial date: same year",
                    {},
                ),
                ("ELSE", "different", {}),
            ],
        ),
        _levels(
            "sex",
            [
                ("sex_l IS NULL OR sex_r IS NULL", "missing", NULL),
                ("sex_l = sex_r", "same", {}),
                ("ELSE", "different", {}),
            ],
        ),
        _levels(
            "address",
            [
                ("postcode_l IS NULL OR postcode_r IS NULL", "missing", NULL),
                ("address_key_l = address_key_r", "same address", {}),
                ("postcode_house_l = postcode_house_r", "same postcode and house number", {}),
                ("postcode_l = postcode_r", "same postcode", TF_POSTCODE),
                (
                    "left(postcode_l, length(postcode_l) - 2)"
                    " = left(postcode_r, length(postcode_r) - 2)",
                    "same postcode sector",
                    {},
                ),
                (
                    "left(postcode_l, length(postcode_l) - 3)"
                    " = left(postcode_r, length(postcode_r) - 3)",
                    "same postcode district",
                    {},
                ),
                ("ELSE", "different area", {}),
            ],
        ),
        _array_levels("phone", "phones", "phone number"),
        _array_levels("email", "emails", "email address"),
        _levels(
            "identifier",
            [
                ("len(ids_l) = 0 OR len(ids_r) = 0", "no identifier on one side", NULL),
                ("list_has_any(ids_l, ids_r)", "an identifier in common", {}),
                (
                    "list_has_any(id_schemes_l, id_schemes_r)",
                    "different values of the same identifier",
                    {},
                ),
                ("ELSE", "no identifier scheme in common", NULL),
            ],
        ),
    ]


def settings() -> dict[str, Any]:
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": comparisons(),
        "blocking_rules_to_generate_predictions": [],
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,
        "additional_columns_to_retain": ["source"],
        "probability_two_random_records_match": 0.0001,
    }


@dataclass
class Phase:
    name: str
    seconds: float
    detail: str = ""


@dataclass
class ScoredPairs:
    """The outcome of scoring: table `person_pairs` in the connection, and figures."""

    pairs_compared: int
    pairs_by_rule: dict[str, int]
    model_json: dict[str, Any]
    phases: list[Phase] = field(default_factory=list)


def block_pairs(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Write the candidate pairs to temp table `person_blocked` (join_key_l < join_key_r)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE person_blocked "
        "(match_key VARCHAR, join_key_l VARCHAR, join_key_r VARCHAR)"
    )
    counts: dict[str, int] = {}
    selects = []
    for name, condition in BLOCKING_RULES.items():
        selects.append(
            f"SELECT '{name}' AS match_key, l.unique_id AS join_key_l, r.unique_id AS join_key_r "
            f"FROM person_features l JOIN person_features r ON {condition} "
            "AND l.unique_id < r.unique_id"
        )
    for name, column in ARRAY_BLOCKING_RULES.items():
        selects.append(
            f"SELECT '{name}' AS match_key, l.unique_id AS join_key_l, r.unique_id AS join_key_r "
            f"FROM (SELECT unique_id, unnest({column}) AS k FROM person_features) l "
            f"JOIN (SELECT unique_id, unnest({column}) AS k FROM person_features) r "
            "ON l.k = r.k AND l.unique_id < r.unique_id"
        )
    union = " UNION ALL ".join(selects)
    con.execute(
        f"""INSERT INTO person_blocked
            SELECT arg_min(match_key, rule_order), join_key_l, join_key_r
            FROM (SELECT *, CASE match_key {
            " ".join(
                f"WHEN '{n}' THEN {i}"
                for i, n in enumerate([*BLOCKING_RULES, *ARRAY_BLOCKING_RULES])
            )
        } END AS rule_order FROM ({union}))
            GROUP BY join_key_l, join_key_r"""
    )
    for key, n in con.execute(
        "SELECT match_key, count(*) FROM person_blocked GROUP BY 1"
    ).fetchall():
        counts[str(key)] = int(n)
    return counts


WORK_SCHEMA = "splink_work"


def drop_work(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET schema = 'main'")
    con.execute(f"DROP SCHEMA IF EXISTS {WORK_SCHEMA} CASCADE")


def _linker(con: duckdb.DuckDBPyConnection, model: dict[str, Any] | None) -> Any:
    from splink import DuckDBAPI, Linker

    # Splink's working tables go to their own schema, dropped when resolve ends.
    db_api = DuckDBAPI(con, output_schema=WORK_SCHEMA)
    table = db_api.register("person_features", dataset_display_name="person_features")
    return Linker(table, model or settings(), log_level=logging.ERROR), db_api


def train_and_score(
    con: duckdb.DuckDBPyConnection,
    *,
    model: dict[str, Any] | None = None,
    threshold_weight: float | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> ScoredPairs:
    """Train the model on `person_features` (unless `model` is given) and score the
    blocked pairs into temp table `person_pairs`."""
    from splink import block_on

    phases: list[Phase] = []
    t0 = time.perf_counter()
    by_rule = block_pairs(con)
    compared = sum(by_rule.values())
    phases.append(Phase("blocking", time.perf_counter() - t0, f"{compared:,} pairs"))
    say(f"blocking: {compared:,} candidate pairs")

    linker, db_api = _linker(con, model)
    if model is None:
        t0 = time.perf_counter()
        linker.training.estimate_probability_two_random_records_match(
            [
                block_on("first_name", "surname", "dob"),
                "l.ids[1] = r.ids[1]",
            ],
            recall=0.7,
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
        skipped = []
        for rule, name in (
            (block_on("dob"), "dob"),
            (block_on("first_name_canon", "surname"), "name"),
        ):
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, estimate_without_term_frequencies=True
                )
            except ValueError as exc:
                # On a small or unusual extract EM can drive a level's m probability
                # to nothing, which Splink refuses; that session's estimates are then
                # left as the other session and the defaults give them.
                skipped.append(name)
                say(f"training: the EM session blocked on {name} was skipped ({exc})")
        phases.append(
            Phase(
                "training",
                time.perf_counter() - t0,
                f"EM skipped: {', '.join(skipped)}" if skipped else "",
            )
        )
        say("training: done")

    t0 = time.perf_counter()
    blocked = db_api.register("person_blocked", dataset_display_name="person_blocked")
    linker.table_management.register_blocked_pairs_for_predict(blocked)
    predictions = linker.inference.predict(threshold_match_weight=threshold_weight)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE person_pairs AS SELECT * FROM {predictions.physical_name}"
    )
    phases.append(Phase("scoring", time.perf_counter() - t0))
    model_json = linker.misc.save_model_to_json()
    # Splink made its schema the default; the hub's own tables live in main.
    con.execute("SET schema = 'main'")
    return ScoredPairs(compared, by_rule, model_json, phases)


def load_model(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
