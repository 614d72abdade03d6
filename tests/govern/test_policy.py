"""The access policy: roles and permissions, vetting against markings,
compartments, partner sharing roles, disclosure notices and purpose of access."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peelian.govern.policy import (
    MARKING_RANK,
    PERMISSIONS,
    PERSONAL_DATA,
    ROLES,
    VETTING_CLEARANCE,
    PolicyDeniedError,
    Principal,
    authorise,
    disclosed_by,
    label_visible,
    notice,
)
from peelian.govern.purpose import REASONS, PurposeError, parse_purpose
from peelian.index.access import Viewer

PURPOSE = "incident WM-20241103-0045"


def test_every_role_named_in_the_brief_exists_and_grants_known_permissions() -> None:
    wanted = {
        "response_officer",
        "investigator",
        "intelligence_analyst",
        "safeguarding_officer",
        "supervisor",
        "auditor",
        "administrator",
    }
    assert wanted <= set(ROLES)
    for role in ROLES.values():
        assert role.permissions <= set(PERMISSIONS)


def test_auditors_and_administrators_do_not_read_records() -> None:
    for role in ("auditor", "administrator"):
        assert not ROLES[role].permissions & PERSONAL_DATA


@pytest.mark.parametrize(("role", "permission"), list(itertools.product(ROLES, PERMISSIONS)))
def test_a_permission_is_granted_exactly_when_the_role_has_it(role: str, permission: str) -> None:
    principal = Principal("u1", role, "SC")
    if permission not in ROLES[role].permissions:
        with pytest.raises(PolicyDeniedError, match=f"may not {PERMISSIONS[permission]}"):
            authorise(principal, permission, purpose=PURPOSE)
        return
    grant = authorise(principal, permission, purpose=PURPOSE)
    assert (grant.purpose is not None) == (permission in PERSONAL_DATA)
    if permission in PERSONAL_DATA:
        with pytest.raises(PolicyDeniedError, match="purpose of access is required"):
            authorise(principal, permission)


@pytest.mark.parametrize(
    ("vetting", "marking"), list(itertools.product(VETTING_CLEARANCE, MARKING_RANK))
)
def test_vetting_sees_markings_up_to_its_clearance(vetting: str, marking: str) -> None:
    principal = Principal("u1", "investigator", vetting)
    expected = MARKING_RANK[marking] <= MARKING_RANK[VETTING_CLEARANCE[vetting]]
    assert principal.may_see(marking, None, []) is expected
    # The index's viewer applies the very same rule.
    assert Viewer.of(principal).may_see(marking, None, []) is expected


def test_unknown_or_missing_markings_are_hidden_from_everyone() -> None:
    top = Principal("u1", "investigator", "DV")
    assert not top.may_see("RESTRICTED", None, [])
    assert not top.may_see(None, None, [])


def test_compartments_and_partner_roles() -> None:
    member = Principal("dc", "investigator", "SC", operations=frozenset({"Op Kestrel"}))
    outsider = Principal("pc", "investigator", "SC")
    assert member.may_see("OFFICIAL", " op kestrel ", [])
    assert not outsider.may_see("OFFICIAL", "OP KESTREL", [])
    mash = Principal("m", "mash_officer", "NPPV2")
    partner_roles = ["safeguarding_officer", "mash_officer"]
    assert mash.may_see("OFFICIAL-SENSITIVE", None, partner_roles)
    assert not outsider.may_see("OFFICIAL-SENSITIVE", None, partner_roles)
    # "*" and blanks mean no restriction.
    assert outsider.may_see("OFFICIAL", "", ["*", " "])


def test_a_restricted_notice_only_for_a_disclosing_operation_the_user_could_otherwise_see() -> None:
    principal = Principal(
        "pc", "response_officer", "NPPV2", disclosing={"OP TIDEWATER": "Tidewater team"}
    )

    def earns(marking: str, compartment: str | None, roles: list[str]) -> str | None:
        return disclosed_by(
            principal.clearance,
            principal.operations,
            {principal.role},
            principal.disclosing,
            marking,
            compartment,
            roles,
        )

    assert earns("OFFICIAL", "op tidewater", []) == "OP TIDEWATER"
    assert "Tidewater team" in notice("OP TIDEWATER", principal.disclosing["OP TIDEWATER"])
    # Above their vetting, behind a partner restriction, or a silent operation: nothing.
    assert earns("SECRET", "OP TIDEWATER", []) is None
    assert earns("OFFICIAL", "OP TIDEWATER", ["mash_officer"]) is None
    assert earns("OFFICIAL", "OP KESTREL", []) is None
    assert earns("OFFICIAL", None, []) is None


def test_unknown_roles_vetting_and_permissions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        Principal("u", "constable", "SC")
    with pytest.raises(ValueError, match="unknown vetting"):
        Principal("u", "investigator", "TOP")
    with pytest.raises(PolicyDeniedError, match="unknown permission"):
        authorise(Principal("u", "investigator", "SC"), "delete.everything")


@given(
    st.sampled_from([*list(MARKING_RANK), "RESTRICTED", "official ", ""]),
    st.sampled_from([None, "", "OP KESTREL", "op tidewater", "-"]),
    st.lists(st.sampled_from(["mash_officer", "investigator", "*", "", "supervisor"]), max_size=3),
    st.sampled_from(list(VETTING_CLEARANCE)),
    st.sampled_from(list(ROLES)),
)
def test_the_label_rule_is_monotonic_in_vetting(
    marking: str, compartment: str | None, roles: list[str], vetting: str, role: str
) -> None:
    """Seeing a record with some vetting implies seeing it with any higher vetting."""
    low = label_visible(
        VETTING_CLEARANCE[vetting], {"OP KESTREL"}, {role}, marking, compartment, roles
    )
    if low:
        assert label_visible("TOP SECRET", {"OP KESTREL"}, {role}, marking, compartment, roles)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("incident WM-20241103-0045", "incident WM-20241103-0045"),
        ("Crime 43/000123/24", "crime 43/000123/24"),
        ("incident: wm-1", "incident WM-1"),
        ("incident W", None),
        (
            "reason safeguarding: welfare check on a child",
            "reason safeguarding: welfare check on a child",
        ),
        (
            "REASON Officer_Safety:   roadside   stop of AB12CDE",
            "reason officer_safety: roadside stop of AB12CDE",
        ),
    ],
)
def test_purposes_are_read_into_one_canonical_form(text: str, canonical: str | None) -> None:
    if canonical is None:
        with pytest.raises(PurposeError):
            parse_purpose(text)
        return
    parsed = parse_purpose(text)
    assert parsed.text == canonical
    assert parse_purpose(parsed.text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "is required"),
        ("  ", "is required"),
        ("because", "starts with"),
        ("incident <script>", "not a incident reference"),
        ("reason curiosity: just wanted to look", "unknown reason"),
        ("reason safeguarding", "needs a note"),
        ("reason safeguarding: x", "needs a note"),
        ("incident WM-1\n", "control characters"),
        ("reason audit: " + "x" * 400, "at most"),
    ],
)
def test_bad_purposes_are_refused_saying_what_is_expected(text: str | None, message: str) -> None:
    with pytest.raises(PurposeError, match=message):
        parse_purpose(text)


@given(st.text(max_size=400))
def test_any_text_either_parses_to_a_stable_purpose_or_is_refused(text: str) -> None:
    try:
        parsed = parse_purpose(text)
    except PurposeError:
        return
    assert parse_purpose(parsed.text) == parsed
    assert parsed.kind in ("incident", "crime", "reason")
    assert parsed.reason is None or parsed.reason in REASONS
