"""Specifications for the phone and email standardisers in peelian.standardise.contact."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peelian.standardise.contact import ParsedPhone, parse_email, parse_phone

# --- parse_phone -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "07457 800359",
        "07457-800-359",
        "(07457) 800 359",
        "+44 7457 800359",
        "+44 (0)7457 800359",
        "0044 7457 800359",
        "447457800359",
        "7457800359",  # leading zero lost in a spreadsheet
        " 07457.800.359 ",
    ],
)
def test_uk_mobile_in_any_common_format_gives_one_e164(text: str) -> None:
    assert parse_phone(text) == ParsedPhone(
        "+447457800359", text, valid=True, uk=True, mobile=True, problem=None
    )


def test_uk_landline_is_valid_and_not_mobile() -> None:
    parsed = parse_phone("0113 496 0000")
    assert (parsed.e164, parsed.valid, parsed.uk, parsed.mobile) == (
        "+441134960000",
        True,
        True,
        False,
    )
    assert parsed.problem is None


def test_uk_personal_numbers_are_not_mobiles() -> None:
    parsed = parse_phone("07000 123456")
    assert (parsed.valid, parsed.mobile) == (True, False)


def test_foreign_number_is_kept_and_flagged() -> None:
    assert parse_phone("+33 6 12 34 56 78") == ParsedPhone(
        "+33612345678",
        "+33 6 12 34 56 78",
        valid=True,
        uk=False,
        mobile=True,
        problem="foreign_phone",
    )
    assert parse_phone("0033 6 12 34 56 78").e164 == "+33612345678"


def test_national_numbers_are_read_in_the_given_region() -> None:
    parsed = parse_phone("06 12 34 56 78", region="FR")
    assert (parsed.e164, parsed.problem) == ("+33612345678", "foreign_phone")


def test_crown_dependency_numbers_count_as_uk() -> None:
    parsed = parse_phone("07797 123456")  # Jersey mobile, +44 numbering
    assert (parsed.valid, parsed.uk, parsed.problem) == (True, True, None)


def test_unallocated_number_keeps_its_e164_and_is_flagged() -> None:
    # Ofcom's drama range: the right length, never allocated to a subscriber.
    assert parse_phone("07700 900123") == ParsedPhone(
        "+447700900123", "07700 900123", valid=False, uk=True, mobile=False, problem="invalid_phone"
    )


@pytest.mark.parametrize("text", ["abc", "999", "0", "+", "07457 800 359 1234 5678", "x" * 300])
def test_not_a_phone_number_is_invalid_without_e164(text: str) -> None:
    assert parse_phone(text) == ParsedPhone(
        None, text, valid=False, uk=False, mobile=False, problem="invalid_phone"
    )


def test_blank_is_missing_not_a_problem() -> None:
    assert parse_phone("  ") == ParsedPhone(
        None, "  ", valid=False, uk=False, mobile=False, problem=None
    )


@given(st.text())
def test_parse_phone_never_raises_and_keeps_the_raw_text(text: str) -> None:
    parsed = parse_phone(text)
    assert parsed.raw == text
    assert parsed.valid == (parsed.problem in (None, "foreign_phone") and parsed.e164 is not None)
    assert not parsed.mobile or parsed.valid
    if parsed.e164 is not None:
        assert parsed.e164.startswith("+")
        assert parse_phone(parsed.e164).e164 == parsed.e164


@given(st.from_regex(r"07[1-9][0-9]{8}", fullmatch=True))
def test_uk_mobile_range_formats_agree(national: str) -> None:
    e164 = parse_phone(national).e164
    assert e164 == "+44" + national[1:]
    for text in (
        f"+44 {national[1:5]} {national[5:]}",
        f"0044{national[1:]}",
        f"({national[:5]}) {national[5:]}",
    ):
        assert parse_phone(text).e164 == e164


# --- parse_email -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("john.smith@example.co.uk", "john.smith@example.co.uk"),
        (" John.Smith@Example.CO.UK ", "john.smith@example.co.uk"),
        ("<j.smith+tag@mail.example.com>", "j.smith+tag@mail.example.com"),
        ("mailto:JS@example.org", "js@example.org"),
        ("o'neill@example.ie", "o'neill@example.ie"),
        ("a_b-c@sub-domain.example.police.uk", "a_b-c@sub-domain.example.police.uk"),
    ],
)
def test_valid_emails_are_normalised_to_lower_case(text: str, expected: str) -> None:
    assert parse_email(text) == (expected, None)


@pytest.mark.parametrize(
    "text",
    [
        "john.smith",
        "john@",
        "@example.com",
        "john@@example.com",
        "john@example",
        "john@example.c",
        "john@example.123",
        ".john@example.com",
        "john.@example.com",
        "jo..hn@example.com",
        "john@-example.com",
        "john@example-.com",
        "john@exa mple.com",
        "john smith@example.com",
        "jöhn@example.com",
        "mailto:",
        "a" * 65 + "@example.com",
        "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 63 + ".com",
    ],
)
def test_malformed_emails_are_flagged(text: str) -> None:
    assert parse_email(text) == (None, "invalid_email")


def test_blank_email_is_missing_not_a_problem() -> None:
    assert parse_email(" ") == (None, None)


@given(st.text())
def test_parse_email_never_raises_and_is_idempotent(text: str) -> None:
    address, problem = parse_email(text)
    assert (address is None) or (problem is None)
    if address is not None:
        assert parse_email(address) == (address, None)
        assert address == address.lower()


@given(st.emails())
def test_generated_emails_are_accepted(email: str) -> None:
    address, problem = parse_email(email)
    assert problem is None
    assert address == email.lower()
