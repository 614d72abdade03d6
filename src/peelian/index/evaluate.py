"""Search quality against the synthetic truth: recall@10 and MRR per kind of query.

Each query is what an officer would type for a real person of the force: the
name one of their records gives (forename and surname), changed the way names
get changed, with their date of birth from the ground truth. Its target is the
person's true entity: any entity whose mentions are mostly that person's. Kinds:

- `exact`: ``forename surname dd/mm/yyyy``;
- `typo_dob`: one letter of the forename or surname substituted, dropped,
  doubled or swapped with its neighbour, and the full DOB;
- `nickname`: the forename as one of its nicknames (``Bill`` for William), DOB;
- `swapped`: ``surname forename`` and the DOB;
- `partial_dob`: ``forename surname`` and only the year, or month and year.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from peelian.reference import read_table
from peelian.resolve.evaluate import load_truth

KINDS = ("exact", "typo_dob", "nickname", "swapped", "partial_dob")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class QualityQuery:
    kind: str
    text: str
    forename: str
    surname: str
    dob: str  # ISO; the query may give only part of it
    targets: frozenset[str]


@dataclass(frozen=True)
class KindScore:
    kind: str
    queries: int
    recall_at_10: float
    mrr: float
    p50_ms: float
    p95_ms: float


def nicknames_by_forename() -> dict[str, list[str]]:
    """Formal forename (lower case) -> its nicknames, from `reference/nicknames.csv`."""
    out: dict[str, list[str]] = {}
    for row in read_table("nicknames"):
        out.setdefault(row["forename"].lower(), []).append(row["nickname"])
    return out


def one_typo(word: str, rnd: random.Random) -> str:
    """`word` with one edit: a letter substituted, dropped, doubled or transposed."""
    i = rnd.randrange(1, len(word)) if len(word) > 2 else 0
    op = rnd.choice(("substitute", "drop", "double", "transpose"))
    if op == "substitute":
        letter = rnd.choice([c for c in LETTERS if c != word[i].lower()])
        return word[:i] + letter + word[i + 1 :]
    if op == "drop" and len(word) > 3:
        return word[:i] + word[i + 1 :]
    if op == "transpose" and i + 1 < len(word) and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i] + word[i:]


def quality_queries(
    con: duckdb.DuckDBPyConnection, truth: Path, per_kind: int = 500, seed: int = 7
) -> list[QualityQuery]:
    """Queries of every kind for people the hub holds, deterministic for a seed."""
    load_truth(con, truth, "person")
    people = truth / "people.parquet"
    # one recorded name per person (a random mention of theirs with both parts),
    # their true DOB, and every entity that is mostly them
    rows = con.execute(
        f"""WITH owner AS (
                SELECT predicted, arg_max(truth, n) AS person
                FROM (SELECT predicted, truth, count(*) AS n FROM eval_pairs GROUP BY ALL)
                GROUP BY predicted),
            targets AS (SELECT person, list(predicted ORDER BY predicted) AS entities
                        FROM owner GROUP BY person),
            named AS (
                SELECT e.truth AS person, split_part(p.forenames, ' ', 1) AS forename,
                       p.surname, hash(e.mention_id || $seed) AS pick
                FROM eval_pairs e JOIN person p USING (mention_id)
                WHERE p.forenames IS NOT NULL AND p.surname IS NOT NULL
                  AND length(p.forenames) > 1 AND length(p.surname) > 1)
            SELECT t.person, arg_min(n.forename, n.pick), arg_min(n.surname, n.pick),
                   CAST(any_value(pp.date_of_birth) AS VARCHAR), any_value(t.entities)
            FROM targets t JOIN named n USING (person)
            JOIN read_parquet('{people}') pp ON pp.person_id = t.person
            WHERE pp.date_of_birth IS NOT NULL
            GROUP BY t.person ORDER BY t.person""",
        {"seed": str(seed)},
    ).fetchall()
    nicknames = nicknames_by_forename()
    rnd = random.Random(seed)
    out: list[QualityQuery] = []
    for kind in KINDS:
        pool = list(rows)
        if kind == "nickname":
            pool = [r for r in pool if r[1].lower() in nicknames]
        for _pid, forename, surname, dob, targets in rnd.sample(pool, min(per_kind, len(pool))):
            y, m, d = dob.split("-")
            full = f"{d}/{m}/{y}"
            forename, surname = forename.title(), surname.title()
            first, last = forename, surname
            if kind == "typo_dob":
                if rnd.random() < 0.5 and len(surname) >= 4:
                    last = one_typo(surname, rnd)
                else:
                    first = one_typo(forename, rnd)
            elif kind == "nickname":
                first = rnd.choice(nicknames[forename.lower()])
            if kind == "swapped":
                text = f"{last} {first} {full}"
            elif kind == "partial_dob":
                text = f"{first} {last} " + (y if rnd.random() < 0.5 else f"{m}/{y}")
            else:
                text = f"{first} {last} {full}"
            out.append(QualityQuery(kind, text, first, last, dob, frozenset(targets)))
    return out


def score(run: Callable[[QualityQuery], list[str]], queries: list[QualityQuery]) -> list[KindScore]:
    """Recall@10, MRR and latency per kind for a search function (top entity IDs)."""
    by_kind: dict[str, list[tuple[int | None, float]]] = {}
    for q in queries:
        started = time.perf_counter()
        ids = run(q)[:10]
        ms = (time.perf_counter() - started) * 1000
        rank = next((i + 1 for i, e in enumerate(ids) if e in q.targets), None)
        by_kind.setdefault(q.kind, []).append((rank, ms))
    out = []
    for kind, results in by_kind.items():
        ranks = [r for r, _ in results]
        times = sorted(ms for _, ms in results)
        out.append(
            KindScore(
                kind,
                len(results),
                sum(r is not None for r in ranks) / len(results),
                sum(1 / r for r in ranks if r is not None) / len(results),
                statistics.median(times),
                times[min(len(times) - 1, int(len(times) * 0.95))],
            )
        )
    return out
