"""`peelian eval resolve`: the hub's entities against a ground truth.

Truth folder (as `peelian generate` writes it): `mentions.parquet` with
`source, record_id, slot, entity_type, entity_id`, and optionally
`people.parquet` (twins, juniors, aliases, surname changes) for the hard cases.
Another dataset's truth may be just a CSV `mentions.csv` with the same columns.

Pairwise precision and recall count pairs of mentions put in one entity;
B-cubed averages, per mention, the share of its entity that is right
(precision) and the share of its true entity found with it (recall).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb


class TruthError(Exception):
    """The truth folder can't be read."""


@dataclass
class Scores:
    mentions: int
    true_entities: int
    predicted_entities: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    precision: float
    recall: float
    f1: float
    bcubed_precision: float
    bcubed_recall: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PairCheck:
    """Pairs of different real people that must stay apart (twins, father/son)."""

    name: str
    pairs: int
    kept_apart: int

    @property
    def rate(self) -> float:
        return self.kept_apart / self.pairs if self.pairs else 1.0


@dataclass
class Evaluation:
    entity_type: str
    overall: Scores
    matched_mentions: int
    unmatched_truth: int
    hard_cases: dict[str, Scores] = field(default_factory=dict)
    per_source: dict[str, Scores] = field(default_factory=dict)
    kept_apart: list[PairCheck] = field(default_factory=list)


def _slot_sql(alias: str) -> str:
    return (
        f"{alias}.slot || CASE WHEN {alias}.element IS NULL THEN ''"
        f" ELSE '[' || {alias}.element || ']' END"
    )


def load_truth(
    con: duckdb.DuckDBPyConnection,
    truth: Path,
    entity_type: str,
    membership: str = "entity_membership",
) -> None:
    """Temp table `eval_pairs(mention_id, source, predicted, truth)` for `entity_type`."""
    parquet, csv = truth / "mentions.parquet", truth / "mentions.csv"
    if parquet.exists():
        reader = f"read_parquet('{parquet}')"
    elif csv.exists():
        reader = f"read_csv('{csv}', all_varchar = true)"
    else:
        raise TruthError(f"{truth} holds neither mentions.parquet nor mentions.csv")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE eval_truth AS
            SELECT source, CAST(record_id AS VARCHAR) AS record_id,
                   replace(slot, '.', '_') AS slot, CAST(entity_id AS VARCHAR) AS entity_id
            FROM {reader} WHERE entity_type = $type""",
        {"type": entity_type},
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE eval_pairs AS
            SELECT m.mention_id, m.source, e.entity_id AS predicted, t.entity_id AS truth
            FROM mentions m
            JOIN {membership} e ON e.mention_id = m.mention_id AND e.entity_type = $type
            JOIN eval_truth t
              ON t.source = m.source AND t.record_id = m.row_id
             AND (t.slot = {_slot_sql("m")} OR (t.slot = m.slot AND m.element IS NULL))
            WHERE m.deleted_at IS NULL""",
        {"type": entity_type},
    )


def _from_row(row: tuple[Any, ...] | None) -> Scores:
    assert row is not None
    n, nt, np_, tp_all, pp, tp, bp, br = row
    n = int(n)
    precision = tp / pp if pp else 1.0
    recall = tp / tp_all if tp_all else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        n,
        int(nt),
        int(np_),
        int(tp_all),
        int(pp),
        int(tp),
        float(precision),
        float(recall),
        float(f1),
        float(bp / n) if n else 1.0,
        float(br / n) if n else 1.0,
    )


def _scores(con: duckdb.DuckDBPyConnection, where: str = "TRUE") -> Scores:
    row = con.execute(
        f"""WITH e AS (SELECT * FROM eval_pairs WHERE {where}),
            cells AS (SELECT predicted, truth, count(*) AS n FROM e GROUP BY ALL),
            p AS (SELECT predicted, count(*) AS n FROM e GROUP BY ALL),
            t AS (SELECT truth, count(*) AS n FROM e GROUP BY ALL),
            b AS (SELECT sum(c.n * c.n / p.n) AS bp, sum(c.n * c.n / t.n) AS br
                  FROM cells c JOIN p USING (predicted) JOIN t USING (truth))
            SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM t), (SELECT count(*) FROM p),
                   (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM t),
                   (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM p),
                   (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM cells),
                   (SELECT bp FROM b), (SELECT br FROM b)"""
    ).fetchone()
    return _from_row(row)


def _source_scores(con: duckdb.DuckDBPyConnection, source: str) -> Scores:
    """Scores over the pairs with at least one mention from `source`."""
    row = con.execute(
        """WITH e AS (SELECT *, source = $s AS mine FROM eval_pairs),
           cells AS (SELECT predicted, truth, count(*) AS n, count(*) FILTER (WHERE mine) AS k
                     FROM e GROUP BY ALL),
           p AS (SELECT predicted, count(*) AS n, count(*) FILTER (WHERE mine) AS k
                 FROM e GROUP BY ALL),
           t AS (SELECT truth, count(*) AS n, count(*) FILTER (WHERE mine) AS k
                 FROM e GROUP BY ALL),
           b AS (SELECT sum(c.k * c.n / p.n) AS bp, sum(c.k * c.n / t.n) AS br
                 FROM cells c JOIN p USING (predicted) JOIN t USING (truth))
           SELECT (SELECT count(*) FROM e WHERE mine),
                  (SELECT count(*) FROM t WHERE k > 0), (SELECT count(*) FROM p WHERE k > 0),
                  (SELECT coalesce(sum(n*(n-1)/2 - (n-k)*(n-k-1)/2), 0) FROM t),
                  (SELECT coalesce(sum(n*(n-1)/2 - (n-k)*(n-k-1)/2), 0) FROM p),
                  (SELECT coalesce(sum(n*(n-1)/2 - (n-k)*(n-k-1)/2), 0) FROM cells),
                  (SELECT bp FROM b), (SELECT br FROM b)""",
        {"s": source},
    ).fetchone()
    return _from_row(row)


HARD_CASES = {
    "twins": "SELECT person_id FROM people WHERE twin_id IS NOT NULL",
    "father/son": "SELECT person_id FROM people WHERE junior_of_id IS NOT NULL"
    " UNION SELECT junior_of_id FROM people WHERE junior_of_id IS NOT NULL",
    "common names": "SELECT person_id FROM people WHERE (forename, surname) IN"
    " (SELECT (forename, surname) FROM people GROUP BY ALL HAVING count(*) >= 3)",
    "aliases": "SELECT person_id FROM people WHERE nullif(alias, '') IS NOT NULL"
    " OR nullif(street_name, '') IS NOT NULL",
    "surname changes": "SELECT person_id FROM people WHERE surname_changed_on IS NOT NULL",
}
KEEP_APART = {
    "twins": "SELECT person_id AS a, twin_id AS b FROM people"
    " WHERE twin_id IS NOT NULL AND person_id < twin_id",
    "father/son": "SELECT person_id AS a, junior_of_id AS b FROM people"
    " WHERE junior_of_id IS NOT NULL",
}


def evaluate(
    con: duckdb.DuckDBPyConnection,
    truth: Path,
    entity_type: str = "person",
    *,
    membership: str = "entity_membership",
) -> Evaluation:
    """Score `membership` (mention_id, entity_type, entity_id) against `truth`."""
    if not truth.is_dir():
        raise TruthError(f"{truth} is not a folder")
    try:
        load_truth(con, truth, entity_type, membership)
    except duckdb.CatalogException as exc:
        raise TruthError("the hub has not been resolved yet; run `peelian resolve`") from exc
    matched = int(con.execute("SELECT count(*) FROM eval_pairs").fetchone()[0])  # type: ignore[index]
    if matched == 0:
        raise TruthError(
            f"no {entity_type} mention in the hub matches the truth in {truth}; "
            "was the hub resolved (`peelian resolve`) from this force's sources?"
        )
    total = int(con.execute("SELECT count(*) FROM eval_truth").fetchone()[0])  # type: ignore[index]
    result = Evaluation(entity_type, _scores(con), matched, total - matched)
    people = truth / "people.parquet"
    if entity_type == "person" and people.exists():
        con.execute(f"CREATE OR REPLACE TEMP VIEW people AS SELECT * FROM read_parquet('{people}')")
        for name, sql in HARD_CASES.items():
            scores = _scores(con, f"truth IN ({sql})")
            if scores.mentions:
                result.hard_cases[name] = scores
        for name, sql in KEEP_APART.items():
            row = con.execute(
                f"""WITH pairs AS ({sql}),
                    ea AS (SELECT DISTINCT truth, predicted FROM eval_pairs)
                    SELECT count(*), count(*) FILTER (WHERE NOT merged) FROM (
                        SELECT p.a, p.b, bool_or(x.predicted = y.predicted) AS merged
                        FROM pairs p JOIN ea x ON x.truth = p.a JOIN ea y ON y.truth = p.b
                        GROUP BY p.a, p.b)"""
            ).fetchone()
            assert row is not None
            result.kept_apart.append(PairCheck(name, int(row[0]), int(row[1])))
    for (source,) in con.execute("SELECT DISTINCT source FROM eval_pairs ORDER BY 1").fetchall():
        result.per_source[str(source)] = _source_scores(con, str(source))
    return result
