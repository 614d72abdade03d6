"""Specifications for the date standardisers in peelian.standardise.dates."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peelian.standardise.dates import (
    ParsedDate,
    ParsedDateTime,
    parse_date,
    parse_datetime,
    swap_day_month,
)

UK = ["%d/%m/%Y", "%m/%Y", "%Y"]
LONDON = "Europe/London"
UTC = dt.UTC

# --- parse_date ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "formats", "expected"),
    [
        ("12/03/1990", UK, dt.date(1990, 3, 12)),
        ("1/3/1990", UK, dt.date(1990, 3, 1)),
        (" 12/03/1990 ", UK, dt.date(1990, 3, 12)),
        ("1990-03-12", ["%Y-%m-%d"], dt.date(1990, 3, 12)),
        ("19900312", ["%Y%m%d"], dt.date(1990, 3, 12)),
        ("12 Mar 1990", ["%d %b %Y"], dt.date(1990, 3, 12)),
        ("12  mar\u00a01990", ["%d %b %Y"], dt.date(1990, 3, 12)),
        ("12-SEPT-1990", ["%d-%b-%Y"], dt.date(1990, 9, 12)),
        ("12 September 1990", ["%d %B %Y"], dt.date(1990, 9, 12)),
        ("12/03/90", ["%d/%m/%y"], dt.date(1990, 3, 12)),
        ("12/03/05", ["%d/%m/%y"], dt.date(2005, 3, 12)),
        ("29/02/2024", UK, dt.date(2024, 2, 29)),
    ],
)
def test_full_dates_have_day_precision(text: str, formats: list[str], expected: dt.date) -> None:
    parsed = parse_date(text, formats)
    assert parsed == ParsedDate(expected, "day", None)


def test_percent_sign_and_other_characters_match_literally() -> None:
    assert parse_date("Y100%/1990.", ["Y100%%/%Y."]) == ParsedDate(
        dt.date(1990, 1, 1), "year", None
    )
    assert parse_date("1990+", ["%Y."]).problem == "unparsed_date"  # "." is not a wildcard


@pytest.mark.parametrize(
    ("text", "expected", "precision"),
    [
        ("03/1990", dt.date(1990, 3, 1), "month"),
        ("1990", dt.date(1990, 1, 1), "year"),
        ("00/03/1990", dt.date(1990, 3, 1), "month"),
        ("XX/03/1990", dt.date(1990, 3, 1), "month"),
        ("xx/03/1990", dt.date(1990, 3, 1), "month"),
        ("??/03/1990", dt.date(1990, 3, 1), "month"),
        ("00/00/1990", dt.date(1990, 1, 1), "year"),
        ("XX/XX/1990", dt.date(1990, 1, 1), "year"),
        ("15/00/1990", dt.date(1990, 1, 1), "year"),  # a day in an unknown month
        ("00/1990", dt.date(1990, 1, 1), "year"),
    ],
)
def test_partial_dates_keep_their_precision(text: str, expected: dt.date, precision: str) -> None:
    assert parse_date(text, UK) == ParsedDate(expected, precision, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["31/02/2020", "29/02/2023", "30/13/2020", "32/01/2020", "XX/13/2020", "13/1990", "00/00/0000"],
)
def test_dates_of_the_right_shape_that_do_not_exist_are_impossible(text: str) -> None:
    assert parse_date(text, UK) == ParsedDate(None, None, "impossible_date")


@pytest.mark.parametrize(
    "text", ["abc", "12.03.1990", "12/03/1990 10:00", "1990/03/12", "123/03/1990"]
)
def test_text_of_no_format_is_unparsed(text: str) -> None:
    assert parse_date(text, UK) == ParsedDate(None, None, "unparsed_date")


def test_blank_text_is_missing_not_a_problem() -> None:
    assert parse_date("", UK) == ParsedDate(None, None, None)
    assert parse_date("   ", UK) == ParsedDate(None, None, None)


def test_the_first_format_giving_a_real_date_wins() -> None:
    us_then_uk = ["%m/%d/%Y", "%d/%m/%Y"]
    assert parse_date("02/03/1990", us_then_uk).value == dt.date(1990, 2, 3)
    assert parse_date("13/03/1990", us_then_uk).value == dt.date(1990, 3, 13)
    assert parse_date("13/13/1990", us_then_uk).problem == "impossible_date"


def test_unknown_markers_are_not_accepted_for_the_year() -> None:
    assert parse_date("12/03/XXXX", UK).problem == "unparsed_date"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("%d/%m", "no year"),
        ("%d/%Y", "a day but no month"),
        ("%d/%m/%Y %H", "not supported"),
        ("%d/%m/%Y/%Y", "twice"),
        ("%d/%m/%Y/%y", "twice"),
        ("%d/%m/%b/%Y", "twice"),
        ("%j/%Y", "not supported"),
    ],
)
def test_bad_formats_raise_value_error_naming_the_format(fmt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_date("12/03/1990", [fmt])


@given(st.text(), st.sampled_from([UK, ["%d %b %Y"], ["%Y%m%d", "%y"]]))
def test_parse_date_never_raises_and_is_consistent(text: str, formats: list[str]) -> None:
    parsed = parse_date(text, formats)
    assert (parsed.value is None) == (parsed.precision is None)
    assert (parsed.value is None) != (parsed.problem is None) or not text.strip()
    assert parsed.problem in (None, "unparsed_date", "impossible_date")


@given(st.dates())
def test_formatted_dates_read_back(day: dt.date) -> None:
    month_name = day.strftime("%B")
    texts = {
        "%d/%m/%Y": f"{day.day:02d}/{day.month:02d}/{day.year:04d}",
        "%Y-%m-%d": f"{day.year:04d}-{day.month:02d}-{day.day:02d}",
        "%d %b %Y": f"{day.day} {month_name[:3]} {day.year:04d}",
        "%d %B %Y": f"{day.day} {month_name.upper()} {day.year:04d}",
    }
    for fmt, text in texts.items():
        assert parse_date(text, [fmt]) == ParsedDate(day, "day", None)


@given(st.dates())
def test_partial_dates_are_the_first_day_of_their_period(day: dt.date) -> None:
    month = parse_date(f"XX/{day.month:02d}/{day.year:04d}", UK)
    assert month == ParsedDate(day.replace(day=1), "month", None)
    year = parse_date(f"{day.year:04d}", UK)
    assert year == ParsedDate(dt.date(day.year, 1, 1), "year", None)


# --- parse_datetime --------------------------------------------------------------------

ISO = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-07-01T14:05", dt.datetime(2024, 7, 1, 13, 5, tzinfo=UTC)),  # BST
        ("2024-01-15T14:05", dt.datetime(2024, 1, 15, 14, 5, tzinfo=UTC)),  # GMT
        ("01/07/2024 14:05", dt.datetime(2024, 7, 1, 13, 5, tzinfo=UTC)),
        ("2024-07-01T14:05:30Z", dt.datetime(2024, 7, 1, 14, 5, 30, tzinfo=UTC)),
        ("2024-07-01T14:05:30z", dt.datetime(2024, 7, 1, 14, 5, 30, tzinfo=UTC)),
        ("2024-07-01T14:05:30+02:00", dt.datetime(2024, 7, 1, 12, 5, 30, tzinfo=UTC)),
        ("2024-07-01T14:05:30+0200", dt.datetime(2024, 7, 1, 12, 5, 30, tzinfo=UTC)),
        ("2024-07-01T14:05:30-0530", dt.datetime(2024, 7, 1, 19, 35, 30, tzinfo=UTC)),
        ("2024-07-01T14:05:30+00:00", dt.datetime(2024, 7, 1, 14, 5, 30, tzinfo=UTC)),
    ],
)
def test_datetimes_are_read_as_utc(text: str, expected: dt.datetime) -> None:
    parsed = parse_datetime(text, ISO, LONDON)
    assert parsed == ParsedDateTime(expected, None)
    assert parsed.value is not None
    assert parsed.value.utcoffset() == dt.timedelta(0)


def test_fractions_of_a_second_are_read() -> None:
    parsed = parse_datetime("2024-01-15 14:05:30.25", ["%Y-%m-%d %H:%M:%S.%f"], LONDON)
    assert parsed.value == dt.datetime(2024, 1, 15, 14, 5, 30, 250000, tzinfo=UTC)


def test_local_time_missing_at_the_spring_change_is_read_before_the_change() -> None:
    # 01:30 on 31 March 2024 never happened in London; fold=0 reads it as 01:30 GMT.
    parsed = parse_datetime("2024-03-31T01:30", ISO, LONDON)
    assert parsed == ParsedDateTime(dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC), None)


def test_local_time_repeated_at_the_autumn_change_is_its_first_occurrence() -> None:
    # 01:30 on 27 October 2024 happened twice; fold=0 is the first, in BST.
    parsed = parse_datetime("2024-10-27T01:30", ISO, LONDON)
    assert parsed == ParsedDateTime(dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC), None)


def test_other_timezones_are_honoured() -> None:
    parsed = parse_datetime("2024-07-01T14:05", ISO, "Europe/Warsaw")
    assert parsed.value == dt.datetime(2024, 7, 1, 12, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["2024-07-01T25:05", "2024-02-30T10:00", "2024-07-01T14:60", "2024-07-01T14:05:00+2400"]
)
def test_datetimes_that_do_not_exist_are_impossible(text: str) -> None:
    assert parse_datetime(text, ISO, LONDON) == ParsedDateTime(None, "impossible_datetime")


def test_unknown_day_in_a_datetime_is_impossible() -> None:
    assert parse_datetime("00/07/2024 14:05", ISO, LONDON).problem == "impossible_datetime"


def test_datetime_text_of_no_format_is_unparsed() -> None:
    assert parse_datetime("yesterday", ISO, LONDON) == ParsedDateTime(None, "unparsed_datetime")
    assert parse_datetime("", ISO, LONDON) == ParsedDateTime(None, None)


def test_unknown_timezone_raises() -> None:
    with pytest.raises(ValueError, match="IANA timezone"):
        parse_datetime("2024-07-01T14:05", ISO, "Europe/Atlantis")


def test_datetime_format_needs_day_month_year_and_hour() -> None:
    with pytest.raises(ValueError, match="needs a day"):
        parse_datetime("2024-07", ["%Y-%m"], LONDON)


@given(st.text())
def test_parse_datetime_never_raises(text: str) -> None:
    parsed = parse_datetime(text, ISO, LONDON)
    assert parsed.problem in (None, "unparsed_datetime", "impossible_datetime")
    assert parsed.value is None or parsed.value.tzinfo is UTC


@given(st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(9999, 12, 30)))
def test_utc_datetimes_read_back(moment: dt.datetime) -> None:
    moment = moment.replace(microsecond=0)
    text = f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%SZ")
    assert parse_datetime(text, ISO, LONDON).value == moment.replace(tzinfo=UTC)


# --- swap_day_month --------------------------------------------------------------------


def test_swap_day_month() -> None:
    assert swap_day_month(dt.date(1990, 3, 12)) == dt.date(1990, 12, 3)
    assert swap_day_month(dt.date(1990, 3, 13)) is None  # no 13th month
    assert swap_day_month(dt.date(1990, 3, 3)) is None  # same date
    assert swap_day_month(dt.date(1990, 1, 31)) is None
    assert swap_day_month(dt.date(1990, 4, 2)) == dt.date(1990, 2, 4)


@given(st.dates())
def test_swapping_twice_gives_the_date_back(day: dt.date) -> None:
    swapped = swap_day_month(day)
    if swapped is not None:
        assert swapped != day
        assert swap_day_month(swapped) == day
