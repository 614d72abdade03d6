"""Clustering scored pairs into entities, with constraints that protect precision.

Plain connected components chains errors: one name-only mention scored against
a father and against his son joins the two. Here edges are taken strongest
first and two clusters are joined only if nothing they hold contradicts:

- an analyst's "not the same" decision between them;
- different values of an identifier a person has only one of (PNC, NHS ...);
- dates of birth that no typo, swap or off-by-one year explains;
- forenames that are not the same name (no nickname, typo, initial or swap).

A refused join goes to the review queue with its reason. An analyst's "the
same" decision joins clusters before any scored edge and is never refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import jellyfish

Forename = tuple[str, str | None, str | None, str | None]  # first, canonical, phonetic, surname


@dataclass(slots=True)
class Traits:
    """What a cluster holds that a join must not contradict."""

    dobs: set[dt.date] = field(default_factory=set)
    forenames: set[Forename] = field(default_factory=set)
    ids: dict[str, set[str]] = field(default_factory=dict)  # scheme -> values
    forbidden: set[tuple[int, int]] = field(default_factory=set)  # (decision, side)
    tags: set[tuple[int, int]] = field(default_factory=set)

    def absorb(self, other: Traits) -> None:
        self.dobs |= other.dobs
        self.forenames |= other.forenames
        for scheme, values in other.ids.items():
            self.ids.setdefault(scheme, set()).update(values)
        self.forbidden |= other.forbidden
        self.tags |= other.tags


def dobs_compatible(a: dt.date, b: dt.date) -> bool:
    """Could `a` and `b` be one person's date of birth written twice (with a slip)?"""
    if a == b:
        return True
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return True
    if a.month == b.month and a.day == b.day and abs(a.year - b.year) == 1:
        return True
    sa, sb = a.isoformat(), b.isoformat()
    return sum(x != y for x, y in zip(sa, sb, strict=True)) == 1


def forenames_compatible(a: Forename, b: Forename) -> bool:
    """(first name, canonical form, phonetic key, surname) of two mentions."""
    first_a, canon_a, ph_a, sur_a = a
    first_b, canon_b, ph_b, sur_b = b
    if first_a == first_b or (canon_a and canon_a == canon_b) or (ph_a and ph_a == ph_b):
        return True
    if (len(first_a) == 1 or len(first_b) == 1) and first_a[0] == first_b[0]:
        return True
    if first_a == sur_b or first_b == sur_a:
        return True
    return jellyfish.jaro_winkler_similarity(first_a, first_b) >= 0.88


def conflict(a: Traits, b: Traits, *, strong: bool = False) -> str | None:
    """Why clusters with traits `a` and `b` must not be joined, or None.

    A `strong` edge (so much agreement that the model has already outweighed a
    differing forename or date of birth between these two mentions) is only
    refused for an analyst's decision or a conflicting identifier.
    """
    if a.forbidden & b.tags or b.forbidden & a.tags:
        return "analyst decision: not the same"
    for scheme, values in a.ids.items():
        other = b.ids.get(scheme)
        if other and not values & other:
            return f"different {scheme.split('@')[0]} identifiers"
    if strong:
        return None
    if a.dobs and b.dobs and not any(dobs_compatible(x, y) for x in a.dobs for y in b.dobs):
        return "different dates of birth"
    if (
        a.forenames
        and b.forenames
        and not any(forenames_compatible(x, y) for x in a.forenames for y in b.forenames)
    ):
        return "different forenames"
    return None


@dataclass(frozen=True)
class Refusal:
    left: int
    right: int
    weight: float
    reason: str


@dataclass
class Clustering:
    labels: list[int]  # node -> root node
    spanning: list[tuple[int, int, float, str]]  # edges that joined clusters: (l, r, w, via)
    refusals: list[Refusal]


class Clusterer:
    """Union-find over node indices with per-cluster traits."""

    def __init__(self, traits: Sequence[Traits | None], strong_weight: float) -> None:
        n = len(traits)
        self.strong_weight = strong_weight
        self.parent = list(range(n))
        self.size = [1] * n
        self.traits: dict[int, Traits] = {i: t for i, t in enumerate(traits) if t is not None}
        self.spanning: list[tuple[int, int, float, str]] = []
        self.refusals: list[Refusal] = []

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def _join(self, ra: int, rb: int) -> int:
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        tb = self.traits.pop(rb, None)
        if tb is not None:
            ta = self.traits.get(ra)
            if ta is None:
                self.traits[ra] = tb
            else:
                ta.absorb(tb)
        return ra

    def force(self, a: int, b: int, via: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._join(ra, rb)
            self.spanning.append((a, b, float("inf"), via))

    def offer(self, a: int, b: int, weight: float, via: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        ta, tb = self.traits.get(ra), self.traits.get(rb)
        if ta is not None and tb is not None:
            reason = conflict(ta, tb, strong=weight >= self.strong_weight)
            if reason is not None:
                self.refusals.append(Refusal(a, b, weight, reason))
                return False
        self._join(ra, rb)
        self.spanning.append((a, b, weight, via))
        return True

    def result(self) -> Clustering:
        return Clustering(
            [self.find(i) for i in range(len(self.parent))], self.spanning, self.refusals
        )


def cluster(
    traits: Sequence[Traits | None],
    edges: Iterable[tuple[int, int, float, str]],
    forced: Iterable[tuple[int, int, str]] = (),
    *,
    strong_weight: float = float("inf"),
) -> Clustering:
    """Cluster nodes: `forced` joins first, then `edges` (l, r, weight, via), which
    must come strongest first. An edge of `strong_weight` or more is only refused
    for a decision or a conflicting identifier."""
    clusterer = Clusterer(traits, strong_weight)
    for a, b, via in forced:
        clusterer.force(a, b, via)
    for a, b, weight, via in edges:
        clusterer.offer(a, b, weight, via)
    return clusterer.result()
