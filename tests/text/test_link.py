"""Linking person mentions to known people: context decides between namesakes, and a name
alone never picks one of two people who share it."""

from __future__ import annotations

import pytest

from peelian.text.extract import Extractor
from peelian.text.known import KnownPerson
from peelian.text.link import DEFAULT_THRESHOLD, PeopleIndex, link_mentions

PEOPLE = [
    KnownPerson(
        "N10",
        "Jordan",
        "SMITH",
        ("Jords",),
        "1998-07-14",
        ("+447700900656",),
        ("YG67MRU",),
        ("BD7 2PL",),
        ("15 Cecil Avenue, Bradford",),
    ),
    KnownPerson(
        "N11",
        "Jordan",
        "SMITH",
        ("Smithy",),
        "2006-03-02",
        ("+447700900418",),
        (),
        ("LS9 6HT",),
        ("4 Nowell Place, Leeds",),
    ),
    KnownPerson("N1", "Kyle", "BARRETT", ("K-Dog", "KB"), "1994-02-11"),
    KnownPerson("N2", "Reece", "BARRETT", ("Reecey",), "1999-08-23"),
    KnownPerson("N33", "James", "HARTLEY", ("Jim", "Jimmy"), "1975-03-03"),
    KnownPerson("N47", "Nathan", "GREENWOOD", (), "1990-06-06"),
    KnownPerson("N48", "Ryan", "GREENWOOD", (), "1992-09-15"),
]


@pytest.fixture(scope="module")
def linker() -> tuple[Extractor, PeopleIndex]:
    return Extractor(PEOPLE), PeopleIndex(PEOPLE)


def links_of(linker: tuple[Extractor, PeopleIndex], text: str) -> dict[str, str | None]:
    extractor, index = linker
    extraction = extractor.extract(text)
    return {
        extraction.spans[link.span].text: link.entity_id
        for link in link_mentions(extraction, index)
        if extraction.spans[link.span].type == "person"
    }


def test_two_people_with_the_same_name_are_not_linked_without_context(linker) -> None:  # type: ignore[no-untyped-def]
    extractor, index = linker
    extraction = extractor.extract("Jordan SMITH was seen in town.")
    (link,) = link_mentions(extraction, index)
    assert link.entity_id is None
    assert link.confidence < DEFAULT_THRESHOLD
    assert {pid for pid, _ in link.candidates} == {"N10", "N11"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Keeper Jordan SMITH (14/07/1998) stopped.", "N10"),
        ("Jordan SMITH (18, 02/03/2006) was with them.", "N11"),
        ("Jordan SMITH of 4 Nowell Place, Leeds was arrested.", "N11"),
        ("Jordan SMITH, phone 07700 900656, was seen.", "N10"),
        ("Jordan SMITH drives YG67 MRU.", "N10"),
    ],
)
def test_context_in_the_report_decides_between_namesakes(linker, text: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert links_of(linker, text)["Jordan SMITH"] == expected


def test_a_date_of_birth_that_disagrees_stops_a_link(linker) -> None:  # type: ignore[no-untyped-def]
    assert links_of(linker, "Kyle BARRETT (01/01/2001) of Heaton.")["Kyle BARRETT"] is None


def test_repeats_aliases_and_nicknames_follow_the_full_mention(linker) -> None:  # type: ignore[no-untyped-def]
    links = links_of(
        linker, 'Kyle BARRETT (11/02/1994), who goes by "K-Dog", was seen. BARRETT ran off.'
    )
    assert links == {"Kyle BARRETT": "N1", "K-Dog": "N1", "BARRETT": "N1"}
    assert links_of(linker, "Aliases recorded: Jim Hartly.")["Jim Hartly"] == "N33"


def test_a_relative_shares_the_surname_of_the_person_named(linker) -> None:  # type: ignore[no-untyped-def]
    links = links_of(
        linker, "RYAN GREENWOOD (31) holds the guns. HIS OLDER BROTHER NATHAN is not involved."
    )
    assert links == {"RYAN GREENWOOD": "N48", "NATHAN": "N47"}


def test_a_forename_alone_is_not_enough(linker) -> None:  # type: ignore[no-untyped-def]
    assert links_of(linker, "One of them is that Kyle from Buttershaw.")["Kyle"] is None


def test_phones_and_plates_link_to_their_holder(linker) -> None:  # type: ignore[no-untyped-def]
    extractor, index = linker
    extraction = extractor.extract(
        "Keeper Jordan SMITH (14/07/1998), YG67 MRU, mobile 07700 900656."
    )
    by_type = {
        extraction.spans[link.span].type: link.entity_id
        for link in link_mentions(extraction, index)
    }
    assert by_type == {"person": "N10", "vrm": "N10", "phone": "N10"}
