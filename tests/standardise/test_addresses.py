"""Specifications for the address parser in peelian.standardise.addresses."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from peelian.reference import read_table
from peelian.standardise.addresses import ParsedAddress, parse_address


def test_number_street_and_town() -> None:
    assert parse_address("36 BURGHLEY PLACE, BRACKENFORD") == ParsedAddress(
        flat=None,
        number="36",
        building=None,
        street="BURGHLEY PLACE",
        locality=None,
        town="BRACKENFORD",
        postcode=None,
        key="BRACKENFORD||36|BURGHLEY PLACE",
    )


def test_flat_number_suffix_abbreviation_and_postcode_in_the_text() -> None:
    assert parse_address("Flat 3, 12A High St, Northfieldton BF1 0EA") == ParsedAddress(
        flat="3",
        number="12A",
        building=None,
        street="HIGH STREET",
        locality=None,
        town="NORTHFIELDTON",
        postcode="BF1 0EA",
        key="BF1 0EA|3|12A|HIGH STREET",
    )


def test_flat_in_a_named_block_without_commas() -> None:
    parsed = parse_address("FLAT 2 ROSE COURT 5 MILL LANE")
    assert (parsed.flat, parsed.building, parsed.number, parsed.street) == (
        "2",
        "ROSE COURT",
        "5",
        "MILL LANE",
    )
    assert parsed.key is None  # no postcode or town: not one dwelling


def test_locality_is_between_street_and_town() -> None:
    parsed = parse_address("Flat 2, 14 Mill Road, Eastfield, Brackenford")
    assert (parsed.locality, parsed.town) == ("EASTFIELD", "BRACKENFORD")
    parsed = parse_address("1 Mill Rd, Upper End, Eastfield, Brackenford, LS7 3AB")
    assert (parsed.locality, parsed.town) == ("UPPER END, EASTFIELD", "BRACKENFORD")


@pytest.mark.parametrize(
    "text",
    [
        "Flat 3, 12A High St, Northfieldton BF1 0EA",
        "FLAT 3 12A HIGH STREET NORTHFIELDTON BF10EA",
        "flat 3, 12 a high st., bf1 0ea",
        "Apartment 3, 12A High Street, BF1 0EA",
        "3/12A High St, Northfieldton, BF1 0EA",
        "Flat No 3\n12A High Street\nNorthfieldton\nBF1 0EA",
    ],
)
def test_the_same_dwelling_written_differently_has_one_key(text: str) -> None:
    assert parse_address(text).key == "BF1 0EA|3|12A|HIGH STREET"


def test_postcode_argument_is_used_when_the_text_has_none() -> None:
    parsed = parse_address("12A High St, Northfieldton", "bf10ea")
    assert parsed.postcode == "BF1 0EA"
    assert parsed.key == "BF1 0EA||12A|HIGH STREET"


def test_postcode_in_the_text_wins_over_the_argument() -> None:
    assert parse_address("12 High St, LS1 4DY", "BF1 0EA").postcode == "LS1 4DY"


def test_foreign_postcode_is_kept_not_dropped() -> None:
    parsed = parse_address("12 Rue de Rivoli, Paris", " 75001 ")
    assert parsed.postcode == "75001"
    assert parsed.key == "75001||12|RUE DE RIVOLI"


def test_invalid_postcode_in_the_text_stays_in_the_text() -> None:
    parsed = parse_address("12 High St, BF1 0CA")  # C is never in an inward code
    assert parsed.postcode is None
    assert parsed.town == "BF1 0CA"


@pytest.mark.parametrize(
    ("text", "street"),
    [
        ("1 Mill Rd, X", "MILL ROAD"),
        ("1 Park Ave, X", "PARK AVENUE"),
        ("1 Rose Cl, X", "ROSE CLOSE"),
        ("1 Oak Cres, X", "OAK CRESCENT"),
        ("1 St John's Rd, X", "ST JOHNS ROAD"),  # a leading ST is Saint
        ("1 St Marys St, X", "ST MARYS STREET"),
        ("1 Park Road, X", "PARK ROAD"),  # a type as the first word is the name
        ("1 Park View Rd, X", "PARK VIEW ROAD"),  # a run of types ends at the last
        ("1 The Green, X", "THE GREEN"),
        ("1 Broadway, X", "BROADWAY"),
    ],
)
def test_street_types_are_written_in_full(text: str, street: str) -> None:
    assert parse_address(text).street == street


def test_every_street_type_abbreviation_in_the_table_is_expanded() -> None:
    for row in read_table("street_suffixes"):
        parsed = parse_address(f"1 Acacia {row['abbreviation']}, Town")
        assert parsed.street == f"ACACIA {row['suffix'].upper()}"


def test_without_commas_the_street_ends_at_its_type() -> None:
    parsed = parse_address("36 BURGHLEY PLACE BRACKENFORD")
    assert (parsed.street, parsed.town) == ("BURGHLEY PLACE", "BRACKENFORD")


@pytest.mark.parametrize(
    ("text", "number"),
    [("12-14 High St, X", "12-14"), ("12 - 14 High St, X", "12-14"), ("12 A High St, X", "12A")],
)
def test_house_number_ranges_and_suffix_letters(text: str, number: str) -> None:
    assert parse_address(text).number == number


@pytest.mark.parametrize(
    ("text", "flat"),
    [
        ("Flat 3, 1 High St", "3"),
        ("FLAT 2B 1 High St", "2B"),
        ("Flat A, 1 High St", "A"),
        ("Apt 7, 1 High St", "7"),
        ("Unit 4, 1 High St", "4"),
        ("Ground Floor Flat, 1 High St", "GROUND"),
        ("Ground Flat, 1 High St", "GROUND"),
        ("Basement Flat, 1 High St", "BASEMENT"),
        ("7/1 High St", "7"),
    ],
)
def test_flats(text: str, flat: str) -> None:
    parsed = parse_address(text)
    assert (parsed.flat, parsed.number, parsed.street) == (flat, "1", "HIGH STREET")


def test_named_house_without_number_uses_the_name_in_the_key() -> None:
    parsed = parse_address("Rose Cottage, Mill Lane, Brackenford")
    assert (parsed.building, parsed.street, parsed.town) == (
        "ROSE COTTAGE",
        "MILL LANE",
        "BRACKENFORD",
    )
    assert parsed.key == "BRACKENFORD||ROSE COTTAGE|MILL LANE"
    parsed = parse_address("The Old Rectory, Brackenford BF1 0EA")
    assert parsed.key == "BF1 0EA||THE OLD RECTORY|"


def test_a_street_alone_has_no_key() -> None:
    assert parse_address("High Street, Brackenford").key is None
    assert parse_address("36 Burghley Place").key is None  # no postcode or town


def test_missing_text_keeps_the_postcode() -> None:
    assert parse_address(None, "BF1 0EA") == ParsedAddress(
        None, None, None, None, None, None, "BF1 0EA", None
    )
    assert parse_address("", None) == ParsedAddress(None, None, None, None, None, None, None, None)
    assert parse_address("  ", "  ").postcode is None


@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_parse_address_never_raises(text: str | None, postcode: str | None) -> None:
    parsed = parse_address(text, postcode)
    for part in (parsed.flat, parsed.number, parsed.building, parsed.street, parsed.town):
        assert part is None or (part and part == part.strip() and "," not in part)
    if parsed.key is not None:
        assert parsed.key.count("|") == 3


_FLAT_PREFIXES = st.sampled_from(["", "FLAT 3 ", "Apt B, ", "2/", "Ground floor flat "])
_WORDS = st.sampled_from(
    [
        "3",
        "12A",
        "12",
        "-",
        "14",
        "HIGH",
        "ST",
        "ROAD",
        "ROSE",
        "COURT",
        "MILL",
        "LANE",
        "BF1 0EA",
        "LEEDS",
        ",",
        "/",
        "THE",
        "GREEN",
        "B",
        "Rd.",
        "O'NEILL",
        "ST.",
    ]
)
_ADDRESSES = st.builds(lambda flat, words: flat + " ".join(words), _FLAT_PREFIXES, st.lists(_WORDS))


@given(_ADDRESSES)
def test_parsed_parts_written_out_again_parse_the_same(text: str) -> None:
    parsed = parse_address(text)
    assume(parsed.number is not None)
    parts = [parsed.building, parsed.number, parsed.street, parsed.locality, parsed.town]
    again = ", ".join(part for part in parts if part)
    if parsed.flat is not None:
        level = len(parsed.flat) > 1 and parsed.flat.isalpha()  # GROUND FLOOR FLAT
        again = f"{parsed.flat} FLAT, {again}" if level else f"FLAT {parsed.flat}, {again}"
    assert parse_address(again, parsed.postcode) == parsed
