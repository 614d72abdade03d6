"""The viewer a search runs for, and the filter their clearance puts into the query.

The governance issue brings the one policy decision point (roles, vetting,
operations, purpose of access); it decides what a user may see and hands the
search a `Viewer`. The index only needs three facts per record, all indexed
with it: the marking (as a rank), the compartment (an operation's need-to-know
group, or none) and the sharing roles a partner's agreement allows (or none,
meaning no restriction beyond the marking).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tantivy

# Government Security Classifications. OFFICIAL-SENSITIVE is a handling caveat
# inside OFFICIAL, ranked above it so that seeing it is a separate grant.
MARKING_RANK = {"OFFICIAL": 1, "OFFICIAL-SENSITIVE": 2, "SECRET": 3, "TOP SECRET": 4}
# A marking the index does not know is ranked above every clearance: fail closed.
UNKNOWN_MARKING_RANK = 99
NO_COMPARTMENT = "-"
UNRESTRICTED = "*"


def marking_rank(marking: str | None) -> int:
    """The rank a record's marking is indexed with (unknown markings fail closed)."""
    if marking is None:
        return UNKNOWN_MARKING_RANK
    return MARKING_RANK.get(marking.strip().upper(), UNKNOWN_MARKING_RANK)


class AccessError(ValueError):
    """A viewer that can't be turned into a filter (an unknown clearance)."""


@dataclass(frozen=True)
class Viewer:
    """Who a search runs for: the highest marking they may see, the compartments
    (operations) they are briefed into and the sharing roles they hold.

    >>> Viewer("pc_1234", "OFFICIAL").may_see("OFFICIAL-SENSITIVE", None, [])
    False
    """

    name: str
    clearance: str
    compartments: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.clearance.strip().upper() not in MARKING_RANK:
            raise AccessError(
                f"unknown clearance {self.clearance!r}: expected one of {', '.join(MARKING_RANK)}"
            )

    @property
    def rank(self) -> int:
        return MARKING_RANK[self.clearance.strip().upper()]

    def may_see(self, marking: str | None, compartment: str | None, roles: list[str]) -> bool:
        """The same rule as `filter_query`, for one record outside the index."""
        if marking_rank(marking) > self.rank:
            return False
        if compartment and compartment not in self.compartments:
            return False
        return not roles or bool(set(roles) & self.roles)

    def filter_query(self, schema: tantivy.Schema) -> tantivy.Query:
        """The clauses every search of this viewer must satisfy, scored zero."""
        marking = tantivy.Query.range_query(
            schema, "marking", tantivy.FieldType.Integer, lower_bound=0, upper_bound=self.rank
        )
        compartment = tantivy.Query.term_set_query(
            schema, "compartment", [NO_COMPARTMENT, *sorted(self.compartments)]
        )
        roles = tantivy.Query.term_set_query(schema, "roles", [UNRESTRICTED, *sorted(self.roles)])
        must = tantivy.Occur.Must
        return tantivy.Query.const_score_query(
            tantivy.Query.boolean_query([(must, marking), (must, compartment), (must, roles)]), 0.0
        )


# Fixed viewers for tests and the benchmark until the policy module lands.
EVERYONE_OFFICIAL = Viewer("official", "OFFICIAL")
