"""Identifier, number and date finders: never crash, offsets always point at the text, and a
well-formed value planted in random text is found with its normalised value."""

from __future__ import annotations

import itertools
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from peelian.text.extract import Extractor
from peelian.text.patterns import (
    find_ages,
    find_dates,
    find_money,
    find_phones,
    find_postcodes,
    find_vrms,
)
from peelian.text.spans import Span

FINDERS = (find_phones, find_vrms, find_postcodes, find_money, find_ages)

# Filler that cannot run into a planted value: lower-case words and spaces.
filler = st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8), max_size=8).map(
    " ".join
)


def _check(text: str, spans: list[Span]) -> None:
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        assert text[span.start : span.end] == span.text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_finders_never_crash_and_offsets_slice_to_the_span_text(text: str) -> None:
    for finder in FINDERS:
        _check(text, finder(text))
    _check(text, list(find_dates(text)))


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=string.printable + "£€’“”é", max_size=400))
def test_the_extractor_never_crashes_and_its_spans_never_overlap(text: str) -> None:
    extraction = Extractor().extract(text)
    _check(text, list(extraction.spans))
    ordered = sorted(extraction.spans, key=lambda s: s.start)
    for a, b in itertools.pairwise(ordered):
        assert a.end <= b.start
    for relation in extraction.relations:
        assert 0 <= relation.head < len(extraction.spans)
        assert 0 <= relation.tail < len(extraction.spans)


mobile_digits = st.text(alphabet=string.digits, min_size=9, max_size=9).map(lambda d: "7" + d[1:])


@st.composite
def written_mobile(draw: st.DrawFn) -> tuple[str, str]:
    """A UK mobile as people write it, and its E.164 form."""
    digits = draw(mobile_digits)  # 7xxxxxxxx after the leading 0
    national = "0" + digits
    style = draw(st.integers(0, 5))
    written = [
        f"{national[:5]} {national[5:]}",
        f"+44 {digits[:4]} {digits[4:]}",
        f"0044 {digits}",
        f"{national[:5]}-{national[5:8]}-{national[8:]}",
        national,
        f"+44{digits}",
    ][style]
    return written, "+44" + digits


@settings(max_examples=200, deadline=None)
@given(before=filler, after=filler, phone=written_mobile())
def test_a_planted_phone_is_found_in_e164(before: str, after: str, phone: tuple[str, str]) -> None:
    written, e164 = phone
    text = f"{before} tel {written} {after}"
    found = [s for s in find_phones(text) if s.text == written]
    assert found, text
    assert found[0].value == e164


current_plate = st.tuples(
    st.sampled_from("ABCDEFGHJKLMNOPRSTUVWXY"),
    st.sampled_from("ABCDEFGHJKLMNOPRSTUVWXY"),
    st.sampled_from(["02", "07", "12", "18", "21", "51", "58", "66", "70", "73"]),
    st.text(alphabet="ABCDEFGHJKLMNOPRSTUVWXYZ", min_size=3, max_size=3),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(before=filler, after=filler, plate=current_plate)
def test_a_planted_plate_is_found_normalised(
    before: str, after: str, plate: tuple[str, str, str, str, bool, bool]
) -> None:
    a, b, age, letters, spaced, lower = plate
    written = f"{a}{b}{age}{' ' if spaced else ''}{letters}"
    if lower:
        written = written.lower()
    text = f"{before} vrm {written} {after}"
    found = [s for s in find_vrms(text) if s.text == written]
    assert found, text
    assert found[0].value == f"{a}{b}{age}{letters}"


postcode = st.tuples(
    st.sampled_from(["LS", "BD", "WF", "HX", "M", "B", "SW", "EC"]),
    st.integers(1, 29),
    st.integers(0, 9),
    st.text(alphabet="ABDEFGHJLNPQRSTUWXYZ", min_size=2, max_size=2),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(before=filler, after=filler, code=postcode)
def test_a_planted_postcode_is_found_normalised(
    before: str, after: str, code: tuple[str, int, int, str, bool]
) -> None:
    area, district, sector, unit, spaced = code
    written = f"{area}{district}{' ' if spaced else ''}{sector}{unit}"
    text = f"{before} {written} {after}"
    found = [s for s in find_postcodes(text) if s.text == written]
    assert found, text
    assert found[0].value == f"{area}{district} {sector}{unit}"


@settings(max_examples=200, deadline=None)
@given(
    before=filler,
    after=filler,
    day=st.integers(1, 28),
    month=st.integers(1, 12),
    year=st.integers(1950, 2024),
    separator=st.sampled_from(["/", "."]),
)
def test_a_planted_date_is_found_in_iso(
    before: str, after: str, day: int, month: int, year: int, separator: str
) -> None:
    written = f"{day:02d}{separator}{month:02d}{separator}{year}"
    text = f"{before} on {written} {after}"
    found = [s for s in find_dates(text) if s.text == written]
    assert found, text
    assert found[0].value == f"{year:04d}-{month:02d}-{day:02d}"


def test_partial_and_cued_plates_keep_their_unknown_characters() -> None:
    text = "silver Corsa YS64 ???, partial reg YB17 T??, a van plate ending 4XK, VRM starts YN66"
    values = {s.text: s.value for s in find_vrms(text)}
    assert values == {"YS64 ???": "YS64???", "YB17 T??": "YB17T??", "4XK": "*4XK", "YN66": "YN66*"}


def test_misread_plates_are_repaired_only_beside_a_vehicle_word() -> None:
    assert [s.value for s in find_vrms("VRM read as YK1B DFE")] == ["YK18DFE"]
    assert find_vrms("the code YK1B DFE") == []


def test_older_plates_need_a_vehicle_word_and_partial_phone_numbers_are_not_phones() -> None:
    assert [s.value for s in find_vrms("his old Volvo estate, MUB 412V.")] == ["MUB412V"]
    assert find_vrms("they took the X99 bus") == []
    assert find_phones("a number ending 123 and ref 13/20912/24") == []


def test_times_need_a_cue_and_reference_numbers_are_not_times() -> None:
    values = {s.text: s.value for s in find_dates("0312 RP called. CALL 0457 at 2230hrs. PC 2231")}
    assert values == {"0312": "03:12", "2230hrs": "22:30"}


def test_money_in_slang_and_ranges() -> None:
    text = "paid £150-£250 each, owes 2 bags, on a grand a week, earns 2k but 38k views"
    found = {s.text: (s.value, s.value_max) for s in find_money(text)}
    assert found == {
        "£150-£250": (150.0, 250.0),
        "2 bags": (2000.0, None),
        "a grand": (1000.0, None),
        "2k": (2000.0, None),
    }


def test_ages_with_units_and_durations_that_are_not_ages() -> None:
    found = {s.text: s.value for s in find_ages("a 23 YEAR OLD, youths 14-16, in his 30s")}
    assert found == {"23 YEAR OLD": 23, "14-16": 14, "30s": 30}
    assert find_ages("suspended for 2 years") == []
