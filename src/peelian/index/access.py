"""The viewer a search runs for, and the filter their clearance puts into the query.

The policy (`peelian.govern.policy`) decides what a user may see; `Viewer.of`
turns its `Principal` into what the index needs. The index needs three facts
per record: the marking, the compartment (an operation's need-to-know group,
or none) and the sharing roles a partner's agreement allows (or none: no
restriction beyond the marking).

They are indexed together as one *label* term per document (`label_key`, a
digest). A snapshot holds few distinct labels (tens), all listed in the index's
metadata with their parts, so the viewer's filter excludes the labels the
policy's rule refuses: the same rule decides inside the index and outside it.
Excluding the (rare) hidden labels costs a seek per candidate; requiring the
(common) visible ones would walk every document the viewer may see.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from peelian.govern.policy import (
    MARKING_RANK,
    Principal,
    disclosed_by,
    label_visible,
    normalise_label,
)


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
    # Operations that disclose their existence to this viewer: (operation, team).
    disclosing: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.clearance.strip().upper() not in MARKING_RANK:
            raise AccessError(
                f"unknown clearance {self.clearance!r}: expected one of {', '.join(MARKING_RANK)}"
            )

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        """The viewer the policy makes of an authenticated user."""
        return cls(
            principal.username,
            principal.clearance,
            principal.operations,
            frozenset({principal.role}),
            tuple(sorted(principal.disclosing.items())),
        )

    def disclosed_labels(self, labels: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
        """Per disclosing operation, the labels this viewer may not see only because
        they are not in that operation (the policy's `disclosed_by`)."""
        out: dict[str, list[str]] = {}
        operations = [operation for operation, _ in self.disclosing]
        for key, label in labels.items():
            operation = disclosed_by(
                self.clearance,
                self.compartments,
                self.roles,
                operations,
                label["marking"],
                label["compartment"],
                label["roles"],
            )
            if operation is not None:
                out.setdefault(operation, []).append(key)
        return out

    def may_see(self, marking: str | None, compartment: str | None, roles: list[str]) -> bool:
        """The policy's rule (`label_visible`), for one label."""
        return label_visible(
            self.clearance, self.compartments, self.roles, marking, compartment, roles
        )

    def hidden_labels(self, labels: dict[str, dict[str, Any]]) -> list[str] | None:
        """Of an index's labels (term -> marking, compartment, roles), the terms this
        viewer may not see; None if they may see none at all."""
        hidden = [
            key
            for key, label in labels.items()
            if not self.may_see(label["marking"], label["compartment"], label["roles"])
        ]
        return None if labels and len(hidden) == len(labels) else hidden


def label_key(marking: str | None, compartment: str | None, roles: list[str] | None) -> str:
    """The one term a record's security label is indexed as: a digest of the
    normalised label (fixed length, whatever the compartment or roles hold; the
    index metadata maps it back).

    >>> label_key("OFFICIAL", None, []) == label_key("official", "", ["*"])
    True
    """
    canonical = json.dumps(normalise_label(marking, compartment, roles), separators=(",", ":"))
    return "L" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
