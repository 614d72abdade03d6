"""The search box: what it understands in what an officer types."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peelian.index.query import MAX_QUERY_CHARS, QueryError, parse_query

TODAY = dt.date(2026, 11, 23)


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_query(text, today=TODAY)


def test_a_name_and_a_full_date_of_birth() -> None:
    q = parse("john smith 12/03/1990")
    assert q.names == ["JOHN", "SMITH"]
    assert q.dob is not None
    assert q.dob.term == "1990-03-12"
    assert q.dob.swapped == "1990-12-03"


def test_surname_initial_and_year() -> None:
    q = parse("smith j 1990")
    assert q.names == ["SMITH", "J"]
    assert q.dob is not None
    assert q.dob.term == "1990"
    assert q.dob.swapped is None


def test_surname_first_with_a_comma_as_police_systems_write_names() -> None:
    q = parse("SMITH, John")
    assert (q.surnames, q.forenames, q.names) == (["SMITH"], ["JOHN"], [])


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("12 March 1990", "1990-03-12"),
        ("1990-03-12", "1990-03-12"),
        ("12.03.90", "1990-03-12"),
        ("03/1990", "1990-03"),
        ("1990-03", "1990-03"),
        ("march 1990", "1990-03"),
        ("03/25/1990", "1990-03-25"),  # month first, as a partner system wrote it
    ],
)
def test_dates_of_birth_in_the_ways_people_write_them(text: str, term: str) -> None:
    q = parse(f"jones {text}")
    assert q.dob is not None
    assert q.dob.term == term
    assert q.names == ["JONES"]


def test_plates_whole_spaced_partial_and_misread() -> None:
    assert parse("AB12CDE").vrms == ["AB12CDE"]
    assert parse("ab12 cde").vrms == ["AB12CDE"]
    assert parse("AB12 C?E").plate_patterns == ["AB12C[A-Z0-9]E"]
    assert parse("AB1*").plate_patterns == ["AB1[A-Z0-9]*"]
    # not a valid plate (a misread of YM06 LWY), and also a valid postcode: both tried
    misread = parse("YM061WY")
    assert misread.plate_guesses == ["YM061WY"]
    assert misread.postcodes == ["YM06 1WY"]


def test_postcodes_full_sector_and_district() -> None:
    assert parse("B15 2TT").postcodes == ["B15 2TT"]
    assert parse("b152tt").postcodes == ["B15 2TT"]
    assert parse("B15").postcodes == ["B15"]


def test_phone_numbers_typed_in_groups() -> None:
    assert parse("07700 900123").phones == ["+447700900123"]
    assert parse("+44 7700 900123").phones == ["+447700900123"]


def test_identifiers_with_their_scheme_or_by_their_check_character() -> None:
    assert parse("PNC 2003/0062845E").identifiers == ["PNC:2003/0062845E"]
    assert parse("NI AB 12 34 56 C").identifiers == ["NI:AB123456C"]
    assert parse("943 476 5919").identifiers == ["NHS:9434765919"]
    # a wrong check letter is not read as a PNC ID
    assert parse("PNC 2003/0062845F").identifiers == []


def test_fielded_terms_and_filters_for_analysts() -> None:
    q = parse(
        'surname:smith dob:1990-03 area:"B15" type:person,vehicle from:2024-01-01 to:31/03/2024'
    )
    assert q.surnames == ["SMITH"]
    assert q.names == []
    assert q.dob is not None
    assert q.dob.term == "1990-03"
    assert q.areas == ["B15"]
    assert q.kinds == ["person", "vehicle"]
    assert (q.date_from, q.date_to) == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    near = parse("near:52.48,-1.89,500m knife").near
    assert near is not None
    assert near.km == pytest.approx(0.5)


def test_what_is_not_understood_is_said_not_dropped() -> None:
    q = parse("colour:red dob:31/02/1990 type:boat smith")
    assert len(q.problems) == 3
    assert any("unknown field 'colour'" in p for p in q.problems)
    assert any("31/02/1990" in p for p in q.problems)
    assert any("boat" in p for p in q.problems)
    assert q.names == ["SMITH"]


def test_a_long_sentence_is_free_text_not_a_name() -> None:
    q = parse("seen carrying a samurai sword near the park")
    assert q.names == []
    assert "samurai" in q.text
    assert parse('"samurai sword"').phrases == ["samurai sword"]


def test_a_date_of_birth_in_the_future_is_not_a_date_of_birth() -> None:
    assert parse("smith 01/01/2030").dob is None


def test_an_over_long_query_is_refused_with_the_limit() -> None:
    with pytest.raises(QueryError, match=str(MAX_QUERY_CHARS)):
        parse("a" * (MAX_QUERY_CHARS + 1))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_QUERY_CHARS))
def test_any_text_parses_without_error(text: str) -> None:
    q = parse(text)
    for token in q.names + q.forenames + q.surnames:
        assert token
        assert token == token.upper()
        assert " " not in token
    for vrm in q.vrms:
        assert vrm.isalnum()


@settings(max_examples=200, deadline=None)
@given(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY),
    st.sampled_from(["%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d %B %Y"]),
)
def test_every_written_date_of_birth_reads_back_as_itself(day: dt.date, fmt: str) -> None:
    q = parse(f"smith {day.strftime(fmt)}")
    assert q.dob is not None
    # day-first text of a day <= 12 is read day first; the day-month swap is also tried
    assert day.isoformat() in (q.dob.term, q.dob.swapped)


@pytest.mark.parametrize("text", ["may ²", "1 march ³", "999999999999 may 1990", "٣/٣/١٩٩٠"])
def test_odd_digits_and_absurd_days_are_not_dates_and_do_not_fail(text: str) -> None:
    dob = parse(text).dob
    assert dob is None or dob.day is None  # "may 1990" alone may still be read
