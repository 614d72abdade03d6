"""The policy applied to hub records outside the search index: which mentions a
user may see, and an entity's explanation cut down to them.

A mention's security label is its source row's (marking, compartment, sharing
roles). A snapshot holds few distinct labels, so the policy's rule runs once per
label (into a temp table the queries join), not per row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

import duckdb

from peelian.govern.policy import Principal
from peelian.resolve.explain import EntityExplanation

LABELS = "SELECT DISTINCT marking, compartment, sharing_roles FROM source_rows"
VISIBLE = """
SELECT m.mention_id
FROM mentions m
JOIN source_rows s ON s.source = m.source AND s.row_id = m.row_id
JOIN visible_labels v
  ON v.marking IS NOT DISTINCT FROM s.marking
 AND v.compartment IS NOT DISTINCT FROM s.compartment
 AND v.sharing_roles IS NOT DISTINCT FROM s.sharing_roles
"""


def create_visible_labels(con: duckdb.DuckDBPyConnection, principal: Principal) -> None:
    """A temp table `visible_labels` of the source-row labels `principal` may see;
    join source rows to it (as `VISIBLE` does) to keep only what they may see."""
    labels = con.execute(LABELS).fetchall()
    keep = [
        (marking, compartment, roles)
        for marking, compartment, roles in labels
        if principal.may_see(marking, compartment, roles or [])
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE visible_labels "
        "(marking VARCHAR, compartment VARCHAR, sharing_roles VARCHAR[])"
    )
    if keep:
        con.executemany("INSERT INTO visible_labels VALUES (?, ?, ?)", keep)


def visible_mentions(
    con: duckdb.DuckDBPyConnection, principal: Principal, mention_ids: Iterable[str]
) -> set[str]:
    """Of `mention_ids`, those `principal` may see (unknown ids are not visible)."""
    create_visible_labels(con, principal)
    rows = con.execute(
        VISIBLE + " WHERE m.mention_id IN (SELECT unnest($ids::VARCHAR[]))",
        {"ids": list(mention_ids)},
    ).fetchall()
    return {mention_id for (mention_id,) in rows}


HistoryRow = TypeVar("HistoryRow", bound=tuple[Any, ...])


def visible_history(history: list[HistoryRow], complete: bool) -> list[HistoryRow]:
    """An entity's history rows (run, event, related entities, ...) as a reader may see it:
    merges and splits name other entities, so they are kept only for who sees every
    record of this one; others get the events naming none, so the answer does not
    tell them that records are withheld."""
    return history if complete else [h for h in history if not h[2]]


def visible_explanation(
    con: duckdb.DuckDBPyConnection, principal: Principal, entity: EntityExplanation
) -> EntityExplanation | None:
    """The entity as `principal` may see it (see `explanation_seen`)."""
    visible = visible_mentions(con, principal, [m for m, _ in entity.mentions])
    return explanation_seen(entity, visible)


def explanation_seen(entity: EntityExplanation, visible: set[str]) -> EntityExplanation | None:
    """The entity as a reader who may see the mentions `visible` sees it: golden values
    some visible mention gave (with only the visible mentions' sources), visible
    mentions, joins between visible mentions. None when they may see none of its
    mentions (to them the entity does not exist). Merge history names other entities,
    so it is kept only for someone who may see every mention."""
    visible = visible & {m for m, _ in entity.mentions}
    if not visible:
        return None
    complete = len(visible) == len(entity.mentions)
    source_of = dict(entity.mentions)
    golden = []
    for field, value, chosen, _sources, mentions in entity.golden:
        seen = [m for m in mentions if m in visible]
        if seen:
            # Sources from the visible mentions only (a hidden partner source must not
            # show). Which value survivorship chose weighed hidden records too, so the
            # choice is shown only to who sees every record.
            sources = sorted({source_of[m] for m in seen if m in source_of})
            golden.append((field, value, chosen and complete, sources, seen))
    # The display label only if every word of it is a word of a visible value.
    words = {w for _, value, _, _, _ in golden for w in value.upper().split()}
    label_words = (entity.label or "").upper().split()
    return dataclasses.replace(
        entity,
        label=entity.label if label_words and set(label_words) <= words else None,
        golden=golden,
        mentions=[(m, s) for m, s in entity.mentions if m in visible],
        edges=[e for e in entity.edges if e[0] in visible and e[1] in visible],
        history=visible_history(entity.history, complete),
    )
