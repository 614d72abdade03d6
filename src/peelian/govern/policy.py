"""The one access policy: who may do what, and which records they may see.

Every route, search, profile, graph expansion, export, dashboard and analytic
asks this module, and nothing else, whether a user may act and what they may
see. It decides from:

- the user's **role** and the permissions it grants (`ROLES`);
- their **vetting** against a record's **marking** (`VETTING_CLEARANCE`,
  `MARKING_RANK`); OFFICIAL-SENSITIVE is a caveat inside OFFICIAL, ranked
  above it so that seeing it is a separate grant;
- **compartments**: a record of an operation is seen by the operation's team;
- **source restrictions**: partner data only for the roles its sharing
  agreement names (the record's sharing roles; none means no restriction);
- **purpose of access** for reads of personal data (`purpose.py`).

Handling conditions are not an access rule: they travel with the record and
are shown to whoever may see it. A record a user may not see leaves no trace
(results, counts, facets, suggestions, errors), except that an operation may be
set to *disclose*: then a user outside the team who finds its records is told
only that restricted information exists and which team to contact.

>>> p = Principal("pc_1234", "response_officer", "NPPV2")
>>> p.may_see("OFFICIAL-SENSITIVE", None, []), p.may_see("SECRET", None, [])
(True, False)
>>> authorise(p, "audit.view")
Traceback (most recent call last):
...
peelian.govern.policy.PolicyDeniedError: a response officer may not view the audit log
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from peelian.govern.purpose import Purpose, PurposeError, parse_purpose

# Government Security Classifications, lowest first.
MARKING_RANK = {"OFFICIAL": 1, "OFFICIAL-SENSITIVE": 2, "SECRET": 3, "TOP SECRET": 4}
# A marking the policy does not know is ranked above every clearance: fail closed.
UNKNOWN_MARKING_RANK = 99
NO_COMPARTMENT = "-"
UNRESTRICTED = "*"

# The highest marking each vetting level may see (with a need to know). Police
# vetting (NPPV) and national security vetting (SC, DV); a force changes this
# table to match its own vetting policy.
VETTING_CLEARANCE = {
    "NPPV1": "OFFICIAL",
    "NPPV2": "OFFICIAL-SENSITIVE",
    "NPPV3": "SECRET",
    "SC": "SECRET",
    "DV": "TOP SECRET",
}

# What each permission allows; the texts make the refusals readable.
PERMISSIONS: dict[str, str] = {
    "search": "search people, vehicles, phones, places and reports",
    "entity.view": "view a person's or object's profile",
    "entity.explain": "see why records were merged",
    "document.view": "read intelligence reports and narratives in full",
    "graph.view": "explore the network of associations",
    "map.view": "view crimes and incidents on the map",
    "dashboard.view": "view dashboards of counts and rates",
    "vulnerability.view": "view exploitation and vulnerability flags",
    "vulnerability.decide": "record the safeguarding meeting's decision on a flagged person",
    "export": "export records",
    "review.view": "view the match review queue",
    "decision.make": "link or unlink records",
    "audit.view": "view the audit log",
    "audit.verify": "verify the audit chain",
    "audit.export": "export the audit log",
    "alerts.view": "view misuse alerts",
    "flag.manage": "flag high-profile persons for audit",
    "users.manage": "manage user accounts, teams and operations",
    "retention.review": "review records due for retention review",
    "retention.dispose": "dispose of records under the retention schedule",
}
# Permissions that read personal data: each use needs a purpose and is audited.
PERSONAL_DATA = frozenset(
    {"search", "entity.view", "entity.explain", "document.view", "graph.view", "export",
     "vulnerability.view", "vulnerability.decide"}
)  # fmt: skip

_OFFICER = {"search", "entity.view", "map.view", "dashboard.view"}
_INVESTIGATOR = _OFFICER | {"entity.explain", "document.view", "graph.view", "export"}
_SAFEGUARDING = _OFFICER | {
    "entity.explain",
    "document.view",
    "graph.view",
    "vulnerability.view",
    "vulnerability.decide",
}


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    permissions: frozenset[str]

    @property
    def title(self) -> str:
        """`response_officer` -> `response officer`, for messages."""
        return self.name.replace("_", " ")


def _role(name: str, description: str, permissions: Iterable[str]) -> Role:
    unknown = set(permissions) - set(PERMISSIONS)
    assert not unknown, f"role {name} names unknown permissions {unknown}"
    return Role(name, description, frozenset(permissions))


# Role names double as the sharing roles partner agreements name (mappings'
# `source.sharing.roles`), so a role must be named here to be granted there.
ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        _role("response_officer", "front-line officer: checks at the roadside", _OFFICER),
        _role("investigator", "detective or investigating officer", _INVESTIGATOR),
        _role(
            "intelligence_analyst",
            "analyst: networks, problem profiles, match review",
            _INVESTIGATOR | {"vulnerability.view", "review.view", "decision.make"},
        ),
        _role("safeguarding_officer", "public protection and exploitation teams", _SAFEGUARDING),
        _role(
            "safeguarding_supervisor",
            "supervises safeguarding decisions",
            _SAFEGUARDING | {"export", "review.view"},
        ),
        _role(
            "mash_officer",
            "multi-agency safeguarding hub officer",
            {
                "search",
                "entity.view",
                "document.view",
                "vulnerability.view",
                "vulnerability.decide",
            },
        ),
        _role(
            "supervisor",
            "sergeant or inspector: match decisions and retention review",
            _INVESTIGATOR | {"review.view", "decision.make", "retention.review"},
        ),
        _role(
            "auditor",
            "professional standards: the audit log and misuse alerts, not the records",
            {
                "audit.view",
                "audit.verify",
                "audit.export",
                "alerts.view",
                "flag.manage",
                "retention.review",
            },
        ),
        _role(
            "administrator",
            "system administrator: accounts and retention, not the records",
            {"users.manage", "audit.verify", "retention.review", "retention.dispose"},
        ),
    )
}


class PolicyDeniedError(Exception):
    """The policy refuses an action; the message is safe to show the user."""

    def __init__(self, message: str, permission: str | None = None) -> None:
        super().__init__(message)
        self.permission = permission


def marking_rank(marking: str | None) -> int:
    """The rank of a record's marking (unknown or missing markings fail closed)."""
    if marking is None:
        return UNKNOWN_MARKING_RANK
    return MARKING_RANK.get(marking.strip().upper(), UNKNOWN_MARKING_RANK)


def normalise_label(
    marking: str | None, compartment: str | None, roles: Iterable[str] | None
) -> tuple[str, str | None, list[str]]:
    """One form of a security label: marking and compartment upper case, no
    compartment as None, roles sorted without blanks (none: unrestricted)."""
    compartment_text = (compartment or "").strip().upper()
    return (
        (marking or "?").strip().upper(),
        None if compartment_text in ("", NO_COMPARTMENT) else compartment_text,
        sorted({r.strip() for r in roles or [] if r and r.strip() and r != UNRESTRICTED}),
    )


def label_visible(
    clearance: str,
    compartments: Iterable[str],
    roles: Iterable[str],
    marking: str | None,
    compartment: str | None,
    label_roles: Iterable[str] | None,
) -> bool:
    """The rule: may someone with this clearance, these compartments and roles see
    a record with this marking, compartment and sharing roles?"""
    marking, compartment, wanted = normalise_label(marking, compartment, label_roles)
    if marking_rank(marking) > marking_rank(clearance):
        return False
    if compartment is not None and compartment not in {c.strip().upper() for c in compartments}:
        return False
    return not wanted or bool(set(wanted) & set(roles))


def clearance_for(vetting: str) -> str:
    """The highest marking a vetting level may see; ValueError for an unknown level."""
    try:
        return VETTING_CLEARANCE[vetting.strip().upper()]
    except KeyError:
        raise ValueError(
            f"unknown vetting level {vetting!r}: expected one of {', '.join(VETTING_CLEARANCE)}"
        ) from None


def check_role(role: str) -> Role:
    """The role named `role`; ValueError listing the roles for an unknown one."""
    try:
        return ROLES[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}") from None


@dataclass(frozen=True)
class Principal:
    """An authenticated user as the policy sees them.

    `operations` are the compartments they are briefed into (the operations of
    their teams); `disclosing` maps each disclosing operation they are *not* in
    to the team to contact.
    """

    username: str
    role: str
    vetting: str
    teams: frozenset[str] = field(default_factory=frozenset)
    operations: frozenset[str] = field(default_factory=frozenset)
    disclosing: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_role(self.role)
        clearance_for(self.vetting)
        object.__setattr__(self, "operations", frozenset(o.upper() for o in self.operations))

    @property
    def clearance(self) -> str:
        return clearance_for(self.vetting)

    @property
    def permissions(self) -> frozenset[str]:
        return ROLES[self.role].permissions

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def may_see(
        self, marking: str | None, compartment: str | None, roles: Iterable[str] | None
    ) -> bool:
        """May this user see a record with this security label?"""
        return label_visible(
            self.clearance, self.operations, {self.role}, marking, compartment, roles
        )


def disclosed_by(
    clearance: str,
    compartments: Iterable[str],
    roles: Iterable[str],
    disclosing: Iterable[str],
    marking: str | None,
    compartment: str | None,
    label_roles: Iterable[str] | None,
) -> str | None:
    """The disclosing operation whose notice a hidden record earns, or None.

    Only a record hidden by its compartment alone, of an operation set to
    disclose, earns one; a marking above the reader's vetting or a partner
    restriction is never disclosed.
    """
    if label_visible(clearance, compartments, roles, marking, compartment, label_roles):
        return None
    _, operation, _ = normalise_label(marking, compartment, label_roles)
    if operation is None or operation not in {d.upper() for d in disclosing}:
        return None
    if not label_visible(clearance, {operation}, roles, marking, operation, label_roles):
        return None
    return operation


def notice(operation: str, team: str) -> str:
    """What a reader is told of a disclosing operation's records they may not see."""
    return f"Restricted information exists (held by {operation}); contact {team}."


@dataclass(frozen=True)
class Grant:
    """The policy's yes: the permission, and the purpose recorded with the access."""

    principal: Principal
    permission: str
    purpose: Purpose | None

    @property
    def purpose_text(self) -> str | None:
        """The purpose as recorded in the audit log (None for no personal data)."""
        return None if self.purpose is None else self.purpose.text


def authorise(principal: Principal, permission: str, *, purpose: str | None = None) -> Grant:
    """Allow `principal` to use `permission`, or raise PolicyDeniedError saying why.

    Reads of personal data (`PERSONAL_DATA`) need a purpose of access.
    """
    if permission not in PERMISSIONS:
        raise PolicyDeniedError(f"unknown permission {permission!r}", permission)
    if not principal.may(permission):
        raise PolicyDeniedError(
            f"a {ROLES[principal.role].title} may not {PERMISSIONS[permission]}", permission
        )
    if permission not in PERSONAL_DATA:
        return Grant(principal, permission, None)
    try:
        parsed = parse_purpose(purpose)
    except PurposeError as exc:
        raise PolicyDeniedError(str(exc), permission) from None
    return Grant(principal, permission, parsed)
