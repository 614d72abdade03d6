"""Specifications for the name standardisers in peelian.standardise.names."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peelian.reference import read_table
from peelian.standardise.names import (
    canonical_forename,
    name_tokens,
    normalise_name,
    phonetic_key,
    split_name,
)

# --- normalise_name --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wiśniewski", "WISNIEWSKI"),
        ("  john   SMITH ", "JOHN SMITH"),
        ("Seán Ó Súilleabháin", "SEAN O SUILLEABHAIN"),
        ("Strauß", "STRAUSS"),
        ("Łukasz Małecki", "LUKASZ MALECKI"),
        ("Søren Ærø", "SOREN AERO"),
        ("Œuvre", "OEUVRE"),
        ("Đoković", "DOKOVIC"),
        ("Dvořák", "DVORAK"),
        ("Bērziņš", "BERZINS"),
        ("Ștefan", "STEFAN"),
        ("Gonçalves", "GONCALVES"),
        ("Ŧ", "T"),  # no decomposition: read from the letter's Unicode name
        ("Ǽ", "AE"),
        ("ﬁnn", "FINN"),  # NFKC ligature
        ("John\u00a0Smith", "JOHN SMITH"),  # non-breaking space
    ],
)
def test_accents_are_folded_to_ascii_capitals(text: str, expected: str) -> None:
    assert normalise_name(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("O'Brien", "O'BRIEN"),
        ("O’Brien", "O'BRIEN"),  # curly apostrophe
        ("O ' Brien", "O'BRIEN"),
        ("Smith-Jones", "SMITH-JONES"),
        ("Smith – Jones", "SMITH-JONES"),  # en dash with spaces
        ("Smith/Jones", "SMITH JONES"),
        ("J.R. Smith", "J R SMITH"),
        ("Smith, John", "SMITH JOHN"),
        ("'Smith'", "SMITH"),
        ("-Smith-", "SMITH"),
        ("O'", "O"),
        ("JOHN_SMITH", "JOHN SMITH"),
        ("(Smith)", "SMITH"),
    ],
)
def test_hyphens_and_apostrophes_are_kept_only_between_letters(text: str, expected: str) -> None:
    assert normalise_name(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr John Smith", "JOHN SMITH"),
        ("MRS. JANE SMITH", "JANE SMITH"),
        ("Dr Prof Jane Smith", "JANE SMITH"),
        ("Rev. Smith", "SMITH"),
        ("Sir Lancelot Brown", "LANCELOT BROWN"),
        ("John Smith Jr.", "JOHN SMITH"),
        ("John Smith JNR", "JOHN SMITH"),
        ("John Smith III", "JOHN SMITH"),
        ("Mr John Smith Snr", "JOHN SMITH"),
        ("John Senior", "JOHN SENIOR"),  # a surname, not a suffix
        ("Lord", "LORD"),  # a surname alone is never dropped
        ("John Lord", "JOHN LORD"),  # titles only at the start
        ("Mr Jr", "JR"),
        ("Miss", "MISS"),
    ],
)
def test_titles_and_suffixes_are_removed_from_the_ends(text: str, expected: str) -> None:
    assert normalise_name(text) == expected


def test_other_scripts_are_kept_not_dropped() -> None:
    assert normalise_name("иван петров") == "ИВАН ПЕТРОВ"
    assert normalise_name("मोहन") == "मोहन"


def test_empty_and_punctuation_only_give_empty_string() -> None:
    assert normalise_name("") == ""
    assert normalise_name("  ...  ") == ""


def test_every_title_and_suffix_in_the_table_is_recognised() -> None:
    for row in read_table("name_titles"):
        word, kind = row["word"], row["kind"]
        assert kind in {"title", "suffix"}
        assert word == normalise_name(word)
        text = f"{word} ANNE SMITH" if kind == "title" else f"ANNE SMITH {word}"
        assert normalise_name(text) == "ANNE SMITH"


@given(st.text())
def test_normalise_name_never_raises_and_is_idempotent(text: str) -> None:
    once = normalise_name(text)
    assert normalise_name(once) == once
    assert once == once.strip()
    assert "  " not in once


# Latin-1 and Latin Extended-A: the letters of European names.
_LATIN = st.characters(max_codepoint=0x17F).filter(
    lambda char: not char.isalpha() or "LATIN" in unicodedata.name(char, "")
)


@given(st.text(alphabet=_LATIN))
def test_latin_names_normalise_to_ascii(text: str) -> None:
    assert normalise_name(text).isascii()


# --- name_tokens -----------------------------------------------------------------------


def test_name_tokens_split_double_barrelled_names() -> None:
    assert name_tokens("Anne-Marie Smith-Jones") == ["ANNE", "MARIE", "SMITH", "JONES"]
    assert name_tokens("Mr O'Brien") == ["O'BRIEN"]
    assert name_tokens("") == []


@given(st.text())
def test_name_tokens_have_no_spaces_or_hyphens(text: str) -> None:
    for token in name_tokens(text):
        assert token
        assert " " not in token
        assert "-" not in token


# --- canonical_forename ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Bill", "WILLIAM"),
        ("billy", "WILLIAM"),
        ("LIZ", "ELIZABETH"),
        ("Peggy", "MARGARET"),
        ("Gosia", "MALGORZATA"),  # formal name Małgorzata, folded
        ("Liz Ann", "ELIZABETH"),  # first word only
        ("Mr Bill Smith", "WILLIAM"),
        ("William", "WILLIAM"),
        ("Zebedee", "ZEBEDEE"),  # not in the table
        ("", ""),
    ],
)
def test_canonical_forename_maps_nicknames_to_the_formal_name(name: str, expected: str) -> None:
    assert canonical_forename(name) == expected


def test_nickname_of_several_forenames_maps_to_its_first_row_in_the_file() -> None:
    first_formal: dict[str, str] = {}
    for row in read_table("nicknames"):
        first_formal.setdefault(row["nickname"], row["forename"])
    assert first_formal["Alex"] == "Alexander"
    assert canonical_forename("Alex") == "ALEXANDER"
    assert canonical_forename("Chris") == "CHRISTOPHER"


def test_a_formal_forename_is_never_read_as_a_nickname() -> None:
    # Harry is a nickname of Harold and Henry, but a name in its own right in the table.
    assert canonical_forename("Harry") == "HARRY"
    assert canonical_forename("Haz") == "HARRY"


def test_canonical_forename_is_always_one_word() -> None:
    assert canonical_forename("Zezé") == canonical_forename("Maria José") == "MARIA"
    assert canonical_forename("JP") == "JEAN-PAUL"


def test_every_nickname_in_the_table_maps_to_a_formal_forename() -> None:
    formal_first_words = {
        normalise_name(row["forename"]).split()[0] for row in read_table("nicknames")
    }
    for row in read_table("nicknames"):
        assert canonical_forename(row["nickname"]) in formal_first_words


@given(st.text())
def test_canonical_forename_never_raises_and_is_idempotent(name: str) -> None:
    once = canonical_forename(name)
    assert canonical_forename(once) == once
    assert " " not in once


# --- phonetic_key ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Smith", "Smythe"),
        ("Catherine", "Katherine"),
        ("Mohammed", "Muhammad"),
        ("Wiśniewski", "WISNIEWSKI"),
        ("Stephen", "Steven"),
        ("O'Brien", "OBrien"),
        ("Mr Phillips", "Philips"),
    ],
)
def test_names_that_sound_alike_share_a_key(one: str, other: str) -> None:
    assert phonetic_key(one) == phonetic_key(other)


def test_names_that_sound_different_have_different_keys() -> None:
    assert phonetic_key("Smith") != phonetic_key("Jones")
    assert phonetic_key("Ali") != phonetic_key("Allen")


def test_phonetic_key_has_one_code_per_word() -> None:
    assert phonetic_key("Smith-Jones") == "SM0 JNS"
    assert phonetic_key("") == ""
    assert phonetic_key("  123 ") == ""


@given(st.text())
def test_phonetic_key_never_raises(name: str) -> None:
    key = phonetic_key(name)
    assert key == key.strip()


# --- split_name ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SMITH, John Paul", ("SMITH", "John Paul")),
        ("  SMITH ,  John  ", ("SMITH", "John")),
        ("VAN DER BERG, Mary, Jane", ("VAN DER BERG", "Mary, Jane")),
        ("SMITH JOHN PAUL", ("SMITH", "JOHN PAUL")),
        ("SMITH", ("SMITH", None)),
        ("SMITH,", ("SMITH", None)),
        (", John", (None, "John")),
        ("", (None, None)),
        ("   ", (None, None)),
    ],
)
def test_split_surname_first(text: str, expected: tuple[str | None, str | None]) -> None:
    assert split_name(text, "surname_first") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mary Jane VAN DER BERG", ("VAN DER BERG", "Mary Jane")),
        ("JAS READ", ("READ", "JAS")),
        ("John Smith", ("Smith", "John")),
        ("John McDONALD", ("McDONALD", "John")),
        ("Sean O'BRIEN", ("O'BRIEN", "Sean")),
        ("John A. SMITH", ("SMITH", "John A.")),
        ("John A B SMITH", ("SMITH", "John A B")),
        ("john A", ("A", "john")),  # a lone capital is still a surname when last
        ("  Mary   Jane   SMITH-JONES ", ("SMITH-JONES", "Mary Jane")),
        ("Madonna", ("Madonna", None)),
        ("", (None, None)),
    ],
)
def test_split_forename_first(text: str, expected: tuple[str | None, str | None]) -> None:
    assert split_name(text, "forename_first") == expected


def test_split_name_rejects_an_unknown_order() -> None:
    with pytest.raises(ValueError, match="surname_first"):
        split_name("SMITH, John", "surname_last")  # type: ignore[arg-type]


@given(st.text(), st.sampled_from(["surname_first", "forename_first"]))
def test_split_name_never_raises_and_keeps_every_word(text: str, order: str) -> None:
    surname, forenames = split_name(text, order)  # type: ignore[arg-type]
    for part in (surname, forenames):
        assert part is None or (part and part == part.strip())
    kept = " ".join(part for part in (surname, forenames) if part)
    assert sorted(kept.replace(",", " ").split()) == sorted(text.replace(",", " ").split())
