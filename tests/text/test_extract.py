"""The extractor on the hard cases of police text: capitals, surname first, aliases,
partial plates, names broken over lines, words that are drugs only in context."""

from __future__ import annotations

import pyarrow as pa
import pytest

from peelian.text.batch import mention_table, relation_table
from peelian.text.extract import Extractor
from peelian.text.spans import Extraction

KNOWN = [
    ("N1", "Kyle", "BARRETT", "K-Dog;KB", "1994-02-11", "+447700900907", "YF19KXA", "LS7 4DW"),
    ("N2", "Lee", "MOORCROFT", "", "1990-01-01", "", "", "LS9 7AB"),
]


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor(KNOWN)


def found(extraction: Extraction, kind: str) -> list[str]:
    return [s.text for s in extraction.spans if s.type == kind]


def test_upper_case_report(extractor: Extractor) -> None:
    text = (
        'S&S 1 OF 2. DRIVER ZAIN AKHTAR (22) KNOWN AS "ZEE". RESULT - 2 SMALL SEALED BAGS OF '
        "SKUNK, £340 IN TWENTIES. CALLER MARIA GONZALEZ TEL 07700 900 552."
    )
    e = extractor.extract(text)
    assert found(e, "person") == ["ZAIN AKHTAR", "ZEE", "MARIA GONZALEZ"]
    assert found(e, "age") == ["22"]
    assert found(e, "drug") == ["SKUNK"]
    assert found(e, "money") == ["£340"]
    assert [s.value for s in e.of_type("phone")] == ["+447700900552"]


def test_surname_first_forms(extractor: Extractor) -> None:
    e = extractor.extract(
        "DP SMITH, John (17) arrested. REG KEEPER: PRICE, Shannon. HARTLEY James."
    )
    assert found(e, "person") == ["SMITH, John", "PRICE, Shannon", "HARTLEY James"]
    assert found(e, "age") == ["17"]


def test_aliases_after_aka_and_in_quotes_are_their_own_spans(extractor: Extractor) -> None:
    e = extractor.extract(
        'Kyle BARRETT (11/02/1994), who goes by "K-Dog", aka Tomek. His mate "Jonno".'
    )
    assert found(e, "person") == ["Kyle BARRETT", "K-Dog", "Tomek", "Jonno"]
    assert [s.value for s in e.of_type("dob")] == ["1994-02-11"]


def test_a_nickname_inside_a_name_and_initials(extractor: Extractor) -> None:
    e = extractor.extract('Robert "Bobby" FLETCHER met J. SMITH and A.J. at the Red Lion.')
    assert found(e, "person") == ['Robert "Bobby" FLETCHER', "J. SMITH", "A.J."]


def test_a_line_break_inside_a_name(extractor: Extractor) -> None:
    e = extractor.extract("Neighbour Ashley GREEN says the tenant Lee\nMOORCROFT is away.")
    assert found(e, "person") == ["Ashley GREEN", "Lee\nMOORCROFT"]


def test_partial_plates(extractor: Extractor) -> None:
    e = extractor.extract(
        "Silver Corsa YS64 ??? seen again; white van, plate ending 4XK; partial reg YB17 T??."
    )
    assert [(s.text, s.value) for s in e.of_type("vrm")] == [
        ("YS64 ???", "YS64???"),
        ("4XK", "*4XK"),
        ("YB17 T??", "YB17T??"),
    ]


def test_postcodes_full_lower_case_and_outward_codes_as_places(extractor: Extractor) -> None:
    e = extractor.extract(
        "Lives at 14 Cowper St, Leeds LS7 4DR; lads from WF2 and the ls15 8nt area, not the M62."
    )
    assert [s.value for s in e.of_type("postcode")] == ["LS7 4DR", "WF2", "LS15 8NT"]
    assert found(e, "address") == ["14 Cowper St, Leeds"]


def test_addresses_with_flats_and_buildings(extractor: Extractor) -> None:
    e = extractor.extract(
        "Found at FLAT 12, CLARENCE HOUSE, BRADFORD with two males. Home: Flat 3, 14 Hyde Park "
        "Road. Not at no. 38 or on Monks Road."
    )
    assert found(e, "address") == ["FLAT 12, CLARENCE HOUSE, BRADFORD", "Flat 3, 14 Hyde Park Road"]
    assert e.of_type("address")[1].value == "FLAT 3, 14 HYDE PARK ROAD"


def test_dates_of_birth_are_told_from_event_dates(extractor: Extractor) -> None:
    e = extractor.extract(
        "Arrested 14/04/24 0140. DP CAMPBELL, Tyrell 30.05.1997, b. 11/1992. Jack WILSON (2003)."
    )
    assert [s.value for s in e.of_type("dob")] == ["1997-05-30", "1992-11", "2003"]
    assert [s.value for s in e.of_type("datetime")] == ["2024-04-14T01:40"]


def test_ambiguous_drug_and_weapon_words_need_a_cue(extractor: Extractor) -> None:
    e = extractor.extract(
        'A white van and dark clothing. Texts read "NEED 2 DARK". He was carrying a sharp around '
        "town and the cutting gear. FIREARMS INCIDENT declared; razor blades taken."
    )
    assert found(e, "drug") == ["DARK"]
    assert found(e, "weapon") == ["sharp"]


def test_organisations_and_line_brands(extractor: Extractor) -> None:
    e = extractor.extract(
        'Seen at the Graziers Arms and Calder Metals Ltd. The "BENZ" line is run by Tariq; '
        "BENZ texts went out. Referred to North Yorkshire Police and NYP."
    )
    assert found(e, "organisation") == [
        "Graziers Arms",
        "Calder Metals Ltd",
        "BENZ",
        "BENZ",
        "North Yorkshire Police",
        "NYP",
    ]


def test_stated_relations(extractor: Extractor) -> None:
    e = extractor.extract(
        "Kyle BARRETT lives at 27 Spencer Place. His brother Reece BARRETT uses 07700 900006."
    )
    relations = {(r.type, e.spans[r.head].text, e.spans[r.tail].text) for r in e.relations}
    assert ("lives_at", "Kyle BARRETT", "27 Spencer Place") in relations
    assert ("family_of", "Reece BARRETT", "Kyle BARRETT") in relations
    assert ("uses_phone", "Reece BARRETT", "07700 900006") in relations


def test_batch_of_documents_carries_the_document_marking(extractor: Extractor) -> None:
    documents = pa.table(
        {
            "ref": ["R1", "R2", "R3"],
            "text": ["Kyle BARRETT lives at 27 Spencer Place.", None, "VRM YF19 KXA"],
            "marking": ["OFFICIAL-SENSITIVE", "OFFICIAL", "OFFICIAL"],
        }
    )
    rows = mention_table(
        documents, extractor, id_column="ref", text_column="text", carry=("marking",)
    ).to_pylist()
    assert [(r["ref"], r["type"], r["marking"]) for r in rows] == [
        ("R1", "person", "OFFICIAL-SENSITIVE"),
        ("R1", "address", "OFFICIAL-SENSITIVE"),
        ("R3", "vrm", "OFFICIAL"),
    ]
    relations = relation_table(documents, extractor, id_column="ref", text_column="text")
    assert relations.to_pylist() == [{"ref": "R1", "type": "lives_at", "head": 0, "tail": 1}]
