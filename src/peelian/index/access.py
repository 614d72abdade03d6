"""The viewer a search runs for, and the filter their clearance puts into the query.

The governance issue brings the one policy decision point (roles, vetting,
operations, purpose of access); it decides what a user may see and hands the
search a `Viewer`. The index needs three facts per record: the marking, the
compartment (an operation's need-to-know group, or none) and the sharing roles
a partner's agreement allows (or none: no restriction beyond the marking).

They are indexed together as one *label* term per document (`label_key`, a
digest). A snapshot holds few distinct labels (tens), all listed in the index's
metadata with their parts,
so the viewer's filter excludes the labels `Viewer.may_see` refuses: the same
rule decides inside the index and outside it. Excluding the (rare) hidden
labels costs a seek per candidate; requiring the (common) visible ones would
walk every document the viewer may see.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

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
        marking, compartment, roles = normalise_label(marking, compartment, roles)
        if marking_rank(marking) > self.rank:
            return False
        if compartment is not None and compartment not in {c.upper() for c in self.compartments}:
            return False
        return not roles or bool(set(roles) & self.roles)

    def hidden_labels(self, labels: dict[str, dict[str, Any]]) -> list[str] | None:
        """Of an index's labels (term -> marking, compartment, roles), the terms this
        viewer may not see; None if they may see none at all."""
        hidden = [
            key
            for key, label in labels.items()
            if not self.may_see(label["marking"], label["compartment"], label["roles"])
        ]
        return None if labels and len(hidden) == len(labels) else hidden


def normalise_label(
    marking: str | None, compartment: str | None, roles: list[str] | None
) -> tuple[str, str | None, list[str]]:
    """One form of a security label: marking and compartment upper case, no
    compartment as None, roles sorted without blanks (none: unrestricted)."""
    compartment_text = (compartment or "").strip().upper()
    return (
        (marking or "?").strip().upper(),
        None if compartment_text in ("", NO_COMPARTMENT) else compartment_text,
        sorted({r.strip() for r in roles or [] if r and r.strip() and r != UNRESTRICTED}),
    )


def label_key(marking: str | None, compartment: str | None, roles: list[str] | None) -> str:
    """The one term a record's security label is indexed as: a digest of the
    normalised label (fixed length, whatever the compartment or roles hold; the
    index metadata maps it back).

    >>> label_key("OFFICIAL", None, []) == label_key("official", "", ["*"])
    True
    """
    canonical = json.dumps(normalise_label(marking, compartment, roles), separators=(",", ":"))
    return "L" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
