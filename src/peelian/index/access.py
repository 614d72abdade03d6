"""The viewer a search runs for, and the filter their clearance puts into the query.

The governance issue brings the one policy decision point (roles, vetting,
operations, purpose of access); it decides what a user may see and hands the
search a `Viewer`. The index needs three facts per record: the marking, the
compartment (an operation's need-to-know group, or none) and the sharing roles
a partner's agreement allows (or none: no restriction beyond the marking).

They are indexed together as one *label* term per document (`label_key`). A
snapshot holds few distinct labels (tens), all listed in the index's metadata,
so the viewer's filter excludes the labels `Viewer.may_see` refuses: the same
rule decides inside the index and outside it. Excluding the (rare) hidden
labels costs a seek per candidate; requiring the (common) visible ones would
walk every document the viewer may see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def hidden_labels(self, labels: list[str]) -> list[str] | None:
        """Of an index's labels, those this viewer may not see; None if they may see
        none at all."""
        hidden = [key for key in labels if not self.may_see(*parse_label_key(key))]
        return None if labels and len(hidden) == len(labels) else hidden


def label_key(marking: str | None, compartment: str | None, roles: list[str] | None) -> str:
    """The one term a record's security label is indexed as.

    >>> label_key("OFFICIAL-SENSITIVE", "OP KESTREL", ["mash_officer"])
    'OFFICIAL-SENSITIVE|OP KESTREL|mash_officer'
    >>> label_key("OFFICIAL", None, [])
    'OFFICIAL|-|*'
    """
    marking_text = (marking or "?").strip().upper()
    compartment_text = (compartment or "").strip() or NO_COMPARTMENT
    clean_roles = sorted({r for r in roles or [] if r and r != UNRESTRICTED})
    return "|".join((marking_text, compartment_text, ",".join(clean_roles) or UNRESTRICTED))


def parse_label_key(key: str) -> tuple[str, str | None, list[str]]:
    """(marking, compartment or None, roles) of a label term."""
    marking, compartment, roles = key.split("|")
    return (
        marking,
        None if compartment == NO_COMPARTMENT else compartment,
        [] if roles == UNRESTRICTED else roles.split(","),
    )


# Fixed viewers for tests and the benchmark until the policy module lands.
EVERYONE_OFFICIAL = Viewer("official", "OFFICIAL")
