"""Specifications for the identifier standardisers in peelian.standardise.identifiers."""

import re
import string
from datetime import date, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from peelian.standardise.identifiers import (
    classify_vrm,
    cro_check_letter,
    format_cro_number,
    format_pnc_id,
    format_vrm,
    is_valid_cro_number,
    is_valid_nhs_number,
    is_valid_ni_number,
    is_valid_pnc_id,
    is_valid_upn,
    nhs_check_digit,
    normalise_cro_number,
    normalise_nhs_number,
    normalise_ni_number,
    normalise_pnc_id,
    normalise_postcode,
    normalise_upn,
    normalise_vrm,
    pnc_check_letter,
    postcode_area,
    postcode_district,
    postcode_sector,
    upn_check_letter,
    vrm_age_identifier,
)

# A fixed "today" keeps date-dependent rules (two-digit years, age identifiers) stable.
TODAY = date(2026, 12, 31)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

# Text that often looks like an identifier, so properties exercise valid values too.
identifier_like_text = st.text(
    alphabet=string.ascii_letters + string.digits + " -/()+", max_size=16
)
any_text = st.one_of(st.text(max_size=30), identifier_like_text)

# --- PNC ID ----------------------------------------------------------------------------


def test_pnc_id_from_domain_example_is_valid() -> None:
    assert is_valid_pnc_id("2003/0062845E")
    assert pnc_check_letter(2003, 62845) == "E"


@pytest.mark.parametrize("letter", sorted(set(string.ascii_uppercase) - {"E"}))
def test_pnc_id_from_domain_example_with_any_other_check_letter_is_invalid(letter: str) -> None:
    assert not is_valid_pnc_id(f"2003/0062845{letter}")


@pytest.mark.parametrize(
    "text",
    [
        "2003/0062845E",
        "2003/0062845e",
        " 2003 / 0062845 E ",
        "2003 0062845E",
        "20030062845E",
        "2003/62845E",
        "03/62845E",
        "03/0062845E",
        "03 62845E",
        "0362845E",
    ],
)
def test_pnc_id_full_and_short_forms_normalise_to_full_form(text: str) -> None:
    assert normalise_pnc_id(text, today=TODAY) == "2003/0062845E"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2003/0062845",
        "2003/00628450E",
        "203/0062845E",
        "2003/0062845EE",
        "ABC",
        "２００３/0062845E",
    ],
)
def test_pnc_id_rejects_malformed_text(text: str) -> None:
    assert normalise_pnc_id(text, today=TODAY) is None


def test_pnc_id_two_digit_year_is_never_in_the_future() -> None:
    today = date(2026, 6, 1)
    this_year = format_pnc_id(2026, 1234).removeprefix("20")
    next_year = format_pnc_id(1927, 1234).removeprefix("19")
    assert normalise_pnc_id(this_year, today=today) == "2026/0001234" + this_year[-1]
    assert normalise_pnc_id(next_year, today=today) == "1927/0001234" + next_year[-1]


def test_format_pnc_id_rejects_a_two_digit_year() -> None:
    with pytest.raises(ValueError, match="four digits"):
        format_pnc_id(3, 62845)


def test_pnc_check_letter_rejects_a_serial_longer_than_seven_digits() -> None:
    with pytest.raises(ValueError, match="serial"):
        pnc_check_letter(2003, 10_000_000)


@PROPERTY_SETTINGS
@given(year=st.integers(1970, 2026), serial=st.integers(0, 9_999_999))
def test_pnc_id_round_trips_through_format_and_normalise(year: int, serial: int) -> None:
    full = format_pnc_id(year, serial)
    assert re.fullmatch(r"[0-9]{4}/[0-9]{7}[A-Z]", full)
    assert normalise_pnc_id(full, today=TODAY) == full
    assert is_valid_pnc_id(full, today=TODAY)


@PROPERTY_SETTINGS
@given(year=st.integers(1970, 2026), serial=st.integers(0, 9_999_999), data=st.data())
def test_pnc_id_with_a_changed_check_letter_is_invalid(
    year: int, serial: int, data: st.DataObject
) -> None:
    full = format_pnc_id(year, serial)
    wrong = data.draw(st.sampled_from(string.ascii_uppercase).filter(lambda c: c != full[-1]))
    assert not is_valid_pnc_id(full[:-1] + wrong, today=TODAY)


@PROPERTY_SETTINGS
@given(year=st.integers(1970, 2026), serial=st.integers(0, 9_999_999))
def test_pnc_id_short_form_normalises_to_full_form(year: int, serial: int) -> None:
    full = format_pnc_id(year, serial)
    short = f"{year % 100:02d}/{serial}{full[-1]}"
    assert normalise_pnc_id(short, today=TODAY) == full


# --- CRO number ------------------------------------------------------------------------


def test_cro_number_with_short_serial_is_zero_padded() -> None:
    letter = cro_check_letter(93, 12345)
    assert normalise_cro_number(f"12345/93{letter.lower()}") == f"012345/93{letter}"


def test_cro_check_letter_ignores_the_century() -> None:
    assert cro_check_letter(1993, 123456) == cro_check_letter(93, 123456)


def test_cro_check_letter_rejects_a_serial_longer_than_six_digits() -> None:
    with pytest.raises(ValueError, match="serial"):
        cro_check_letter(93, 1_000_000)


@PROPERTY_SETTINGS
@given(year=st.integers(0, 99), serial=st.integers(0, 999_999), data=st.data())
def test_cro_number_round_trips_and_a_changed_check_letter_is_invalid(
    year: int, serial: int, data: st.DataObject
) -> None:
    cro = format_cro_number(year, serial)
    assert re.fullmatch(r"[0-9]{6}/[0-9]{2}[A-Z]", cro)
    assert normalise_cro_number(cro) == cro
    assert normalise_cro_number(cro.replace("/", " ").lower()) == cro
    wrong = data.draw(st.sampled_from(string.ascii_uppercase).filter(lambda c: c != cro[-1]))
    assert not is_valid_cro_number(cro[:-1] + wrong)


# --- National Insurance number ---------------------------------------------------------


def test_ni_number_valid_example_is_accepted() -> None:
    assert is_valid_ni_number("AB123456C")


def test_ni_number_in_lower_case_with_spaces_normalises() -> None:
    assert normalise_ni_number(" ab 12 34 56 c ") == "AB123456C"


@pytest.mark.parametrize("prefix", ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"])
def test_ni_number_with_unallocated_prefix_is_rejected(prefix: str) -> None:
    assert not is_valid_ni_number(f"{prefix}123456A")


@pytest.mark.parametrize("letter", list("DFIQUV"))
def test_ni_number_with_never_used_prefix_letter_is_rejected(letter: str) -> None:
    assert not is_valid_ni_number(f"{letter}A123456A")
    assert not is_valid_ni_number(f"A{letter}123456A")


def test_ni_number_with_o_as_second_letter_is_rejected() -> None:
    assert not is_valid_ni_number("AO123456A")
    assert is_valid_ni_number("OA123456A")


@pytest.mark.parametrize("text", ["QQ 12 34 56 C", "AB123456E", "AB12345C", "AB1234567C", ""])
def test_ni_number_malformed_is_rejected(text: str) -> None:
    assert normalise_ni_number(text) is None


# --- NHS number ------------------------------------------------------------------------


def test_nhs_number_commonly_cited_example_is_valid() -> None:
    assert is_valid_nhs_number("9434765919")
    assert nhs_check_digit("943476591") == 9


@pytest.mark.parametrize("text", ["943 476 5919", "943-476-5919", " 9434765919 "])
def test_nhs_number_with_spaces_or_dashes_normalises_to_ten_digits(text: str) -> None:
    assert normalise_nhs_number(text) == "9434765919"


def test_nhs_check_digit_of_eleven_becomes_zero() -> None:
    assert nhs_check_digit("000000000") == 0


def test_nhs_check_digit_of_ten_means_no_valid_number() -> None:
    # 6 x 2 = 12, and 12 mod 11 = 1, so the check would be 10.
    assert nhs_check_digit("000000006") is None
    assert not any(is_valid_nhs_number(f"000000006{d}") for d in range(10))


def test_nhs_check_digit_rejects_anything_but_nine_digits() -> None:
    with pytest.raises(ValueError, match="nine digits"):
        nhs_check_digit("12345678")


@PROPERTY_SETTINGS
@given(first9=st.text(alphabet=string.digits, min_size=9, max_size=9), data=st.data())
def test_nhs_number_with_computed_check_digit_validates_and_any_digit_change_invalidates(
    first9: str, data: st.DataObject
) -> None:
    check = nhs_check_digit(first9)
    assume(check is not None)
    number = f"{first9}{check}"
    assert is_valid_nhs_number(number)
    position = data.draw(st.integers(0, 9))
    replacement = data.draw(st.sampled_from(string.digits).filter(lambda d: d != number[position]))
    changed = number[:position] + replacement + number[position + 1 :]
    assert not is_valid_nhs_number(changed)


# --- Unique Pupil Number ---------------------------------------------------------------


def test_upn_published_example_is_valid() -> None:
    assert upn_check_letter("801200005001") == "B"
    assert is_valid_upn("B801200005001")
    assert not is_valid_upn("A801200005001")


def test_upn_in_lower_case_with_spaces_normalises() -> None:
    assert normalise_upn("b 801 2000 05001") == "B801200005001"


def test_upn_check_letter_rejects_anything_but_twelve_digits() -> None:
    with pytest.raises(ValueError, match="12 digits"):
        upn_check_letter("80120000500A")


@PROPERTY_SETTINGS
@given(digits=st.text(alphabet=string.digits, min_size=12, max_size=12), data=st.data())
def test_upn_with_computed_check_letter_validates_and_other_letters_do_not(
    digits: str, data: st.DataObject
) -> None:
    letter = upn_check_letter(digits)
    assert letter not in "IOS"
    assert is_valid_upn(letter + digits)
    wrong = data.draw(st.sampled_from(string.ascii_uppercase).filter(lambda c: c != letter))
    assert not is_valid_upn(wrong + digits)


# --- VRM -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "style"),
    [
        ("AB12 CDE", "current"),
        ("ab51cde", "current"),
        ("YX26 ZZZ", "current"),
        ("A123 BCD", "prefix"),
        ("Y1 ABC", "prefix"),
        ("ABC 123D", "suffix"),
        ("ABC 1A", "suffix"),
        ("ABC 123", "dateless"),
        ("1234 AB", "dateless"),
        ("A 1", "dateless"),
        ("Q123 ABC", "q_plate"),
    ],
)
def test_vrm_of_each_style_is_classified(text: str, style: str) -> None:
    assert classify_vrm(text, today=TODAY) == style


@pytest.mark.parametrize(
    "text",
    [
        "AI12 CDE",  # I in the memory tag
        "QB12 CDE",  # Q in the memory tag
        "AZ12 CDE",  # Z in the memory tag
        "AB12 CDI",  # I in the random letters
        "AB12 CDQ",  # Q in the random letters
        "AB01 CDE",  # 01 was never issued (the scheme began with 51)
        "AB50 CDE",  # 50 is March 2050
        "AB00 CDE",  # 00 is September 2050
        "I123 BCD",  # I as prefix year letter
        "U123 BCD",  # U as prefix year letter
        "A012 BCD",  # leading zero
        "A1234 BCD",  # four digits in a prefix mark
        "ABC 123O",  # O as suffix year letter
        "ABZ 1234",  # Northern Ireland marks are not accepted
        "0123 AB",  # leading zero in a dateless mark
        "Q012 ABC",
        "",
        "HELLO WORLD",
        "AB12 ÇDE",
    ],
)
def test_vrm_invalid_examples_are_rejected(text: str) -> None:
    assert classify_vrm(text, today=TODAY) is None
    assert normalise_vrm(text, today=TODAY) is None


def test_vrm_with_future_age_identifier_is_rejected() -> None:
    today = date(2024, 5, 1)
    assert classify_vrm("AB24 CDE", today=today) == "current"
    assert classify_vrm("AB74 CDE", today=today) is None  # September 2024
    assert classify_vrm("AB25 CDE", today=today) is None
    assert classify_vrm("AB74 CDE", today=date(2024, 9, 1)) == "current"


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ("AB12CDE", "AB12 CDE"),
        ("A123BCD", "A123 BCD"),
        ("ABC123D", "ABC 123D"),
        ("ABC123", "ABC 123"),
        ("1234AB", "1234 AB"),
        ("Q123ABC", "Q123 ABC"),
        ("ab-12-cde", "AB12 CDE"),
    ],
)
def test_format_vrm_puts_the_space_in_its_place(text: str, display: str) -> None:
    assert format_vrm(text, today=TODAY) == display


def test_normalise_vrm_removes_spaces_and_hyphens_and_upper_cases() -> None:
    assert normalise_vrm(" ab12-cde ", today=TODAY) == "AB12CDE"


@pytest.mark.parametrize(
    ("year", "month", "identifier"),
    [
        (2001, 9, "51"),
        (2002, 2, "51"),
        (2002, 3, "02"),
        (2024, 8, "24"),
        (2024, 9, "74"),
        (2025, 1, "74"),
        (2049, 9, "99"),
        (2050, 3, "50"),
        (2050, 9, "00"),
        (2051, 2, "00"),
    ],
)
def test_vrm_age_identifier_follows_march_and_september_periods(
    year: int, month: int, identifier: str
) -> None:
    assert vrm_age_identifier(year, month) == identifier


@pytest.mark.parametrize(("year", "month"), [(2001, 8), (1999, 12), (2051, 3), (2024, 13)])
def test_vrm_age_identifier_outside_the_scheme_raises(year: int, month: int) -> None:
    with pytest.raises(ValueError, match=r"scheme|month"):
        vrm_age_identifier(year, month)


@PROPERTY_SETTINGS
@given(year=st.integers(2001, 2050), month=st.sampled_from([3, 9]))
def test_vrm_age_identifier_is_valid_from_its_first_day_and_not_before(
    year: int, month: int
) -> None:
    assume((year, month) != (2001, 3))
    plate = f"AB{vrm_age_identifier(year, month)}CDE"
    first_day = date(year, month, 1)
    assert classify_vrm(plate, today=first_day) == "current"
    assert classify_vrm(plate, today=first_day - timedelta(days=1)) is None


@PROPERTY_SETTINGS
@given(text=any_text)
def test_normalise_vrm_is_idempotent_and_never_raises(text: str) -> None:
    normalised = normalise_vrm(text, today=TODAY)
    if normalised is not None:
        assert normalise_vrm(normalised, today=TODAY) == normalised
        assert normalise_vrm(format_vrm(text, today=TODAY) or "", today=TODAY) == normalised


# --- Postcodes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("M1 1AE", "M1 1AE"),  # A9
        ("B33 8TH", "B33 8TH"),  # A99
        ("CR2 6XH", "CR2 6XH"),  # AA9
        ("DN55 1PT", "DN55 1PT"),  # AA99
        ("W1A 0AX", "W1A 0AX"),  # A9A
        ("EC1A 1BB", "EC1A 1BB"),  # AA9A
        ("gir 0aa", "GIR 0AA"),
        (" sw1a1aa ", "SW1A 1AA"),
        ("SW1A   1AA", "SW1A 1AA"),
        ("ls1\u00a04dy", "LS1 4DY"),  # non-breaking space
    ],
)
def test_postcode_valid_forms_normalise(text: str, expected: str) -> None:
    assert normalise_postcode(text) == expected


@pytest.mark.parametrize("letter", list("CIKMOV"))
def test_postcode_with_forbidden_inward_letter_is_rejected(letter: str) -> None:
    assert normalise_postcode(f"SW1A 1A{letter}") is None
    assert normalise_postcode(f"SW1A 1{letter}A") is None


@pytest.mark.parametrize("text", ["", "SW1A", "1AA SW1", "SW1A 1AAA", "ABC1 1AA", "SW1A 11A"])
def test_postcode_malformed_is_rejected(text: str) -> None:
    assert normalise_postcode(text) is None


def test_postcode_district_sector_and_area() -> None:
    assert postcode_district("sw1a 1aa") == "SW1A"
    assert postcode_sector("sw1a 1aa") == "SW1A 1"
    assert postcode_area("sw1a 1aa") == "SW"
    assert postcode_area("M1 1AE") == "M"


def test_postcode_district_of_invalid_postcode_raises() -> None:
    with pytest.raises(ValueError, match="not a valid UK postcode"):
        postcode_district("nonsense")


@PROPERTY_SETTINGS
@given(text=st.one_of(any_text, st.text(alphabet="ABCDIKMOSVW0189 ", max_size=9)))
def test_normalise_postcode_is_idempotent_and_never_raises(text: str) -> None:
    normalised = normalise_postcode(text)
    if normalised is not None:
        assert normalise_postcode(normalised) == normalised
        assert normalised.count(" ") == 1
