"""Standardise personal names for matching nominals across sources.

Names arrive as people type them: mixed case, accents or not, titles, suffixes, stray
punctuation, nicknames. These functions turn them into forms that compare equal when the
name is the same. They never raise on arbitrary text; the caller keeps the raw value.

Word lists are data: titles and suffixes come from ``reference/name_titles.csv`` and
nicknames from ``reference/nicknames.csv``.

>>> normalise_name("  Mrs  Małgorzata  WIŚNIEWSKA-O’Brien jnr. ")
"MALGORZATA WISNIEWSKA-O'BRIEN"
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Literal

import jellyfish

from peelian.reference import read_table

__all__ = [
    "NameOrder",
    "canonical_forename",
    "name_tokens",
    "normalise_name",
    "phonetic_key",
    "split_name",
]

# Latin letters that NFKD does not take apart into an ASCII letter and accents: the
# common ones spelt out, the rest read from their Unicode names ("LATIN CAPITAL LETTER T
# WITH STROKE" is T, "LATIN CAPITAL LIGATURE OE" is OE). "ß" needs nothing: its upper
# case is "SS".
_FOLD_EXCEPTIONS = {"Þ": "TH", "Ð": "D", "Ŋ": "NG", "ĸ": "K", "ẞ": "SS", "Ə": "E", "Ʉ": "U"}
_LATIN_LETTER_NAME = re.compile(
    r"LATIN (?:CAPITAL |SMALL )?(?:LETTER|LIGATURE) (?:(?:OPEN|TURNED|REVERSED|AFRICAN|SMALL"
    r"|DOTLESS|CAPITAL) )*([A-Z]{1,2})(?: WITH .+)?"
)
_LATIN_BLOCKS = ((0x80, 0x250), (0x1E00, 0x1F00), (0x2C60, 0x2C80), (0xA720, 0xA800))


def _latin_fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for start, end in _LATIN_BLOCKS:
        for code in range(start, end):
            if match := _LATIN_LETTER_NAME.fullmatch(unicodedata.name(chr(code), "")):
                table[code] = match[1]
    table.update({ord(letter): plain for letter, plain in _FOLD_EXCEPTIONS.items()})
    return table


_FOLD_LETTERS = _latin_fold_table()

# Apostrophe and hyphen look-alikes people paste from word processors.
_APOSTROPHES = "'’‘ʼ`´′ʹ"
_HYPHENS = "-‐‑‒–—−"
_PUNCTUATION_MARKS = str.maketrans(
    {**dict.fromkeys(_APOSTROPHES, "'"), **dict.fromkeys(_HYPHENS, "-")}
)
# An apostrophe or hyphen joining two letters, with any spaces around it, is kept (group
# 1); any other apostrophe or hyphen becomes a space.
_LETTER = r"[^\W\d_]"
_JOINER = re.compile(rf"(?<={_LETTER})\s*(['-])\s*(?={_LETTER})|['-]")
# Letters, marks (vowel signs in other scripts) and digits are name characters.
_NAME_CHARACTER_CATEGORIES = ("L", "M", "N")


@functools.lru_cache(maxsize=1)
def _titles_and_suffixes() -> tuple[frozenset[str], frozenset[str]]:
    rows = read_table("name_titles")
    titles = frozenset(row["word"] for row in rows if row["kind"] == "title")
    suffixes = frozenset(row["word"] for row in rows if row["kind"] == "suffix")
    return titles, suffixes


def _fold_to_ascii(text: str) -> str:
    """Upper case, with accents removed from Latin letters; other scripts are kept whole."""
    decomposed = unicodedata.normalize("NFKD", text.upper().translate(_FOLD_LETTERS))
    kept: list[str] = []
    for char in decomposed:
        # Accents on ASCII letters go, and marks on nothing; marks in other scripts stay
        # (they can be vowels).
        if unicodedata.category(char).startswith("M") and not (
            kept and not kept[-1].isascii() and unicodedata.category(kept[-1])[0] in "LM"
        ):
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _is_kept(char: str) -> bool:
    return char in "'- " or unicodedata.category(char).startswith(_NAME_CHARACTER_CATEGORIES)


def _clean_punctuation(text: str) -> str:
    """Keep letters, digits and joining apostrophes and hyphens; the rest becomes spaces."""
    text = text.translate(_PUNCTUATION_MARKS)
    text = _JOINER.sub(lambda match: match[1] or " ", " ".join(text.split()))
    return "".join(char if _is_kept(char) else " " for char in text)


def _drop_titles_and_suffixes(words: list[str]) -> list[str]:
    """Drop leading titles and trailing suffixes, always keeping at least one word."""
    titles, suffixes = _titles_and_suffixes()
    start, end = 0, len(words)
    while end - start > 1 and words[start] in titles:
        start += 1
    while end - start > 1 and words[end - 1] in suffixes:
        end -= 1
    return words[start:end]


def normalise_name(text: str) -> str:
    """Return a name in one comparable form: upper case, ASCII letters, single spaces.

    Steps: Unicode NFKC; accents folded (``Ś`` to ``S``, ``ß`` to ``SS``, ``Ł`` to ``L``,
    ``Æ`` to ``AE``...); hyphens and apostrophes kept only between two letters (curly
    apostrophes and dashes count, and spaces around them go: ``SMITH - JONES`` is
    ``SMITH-JONES``); other punctuation becomes a space; titles at the start (``MR``,
    ``DR``...) and suffixes at the end (``JNR``, ``III``...) are removed, but never the
    last word (the surname ``LORD`` stays). Digits are kept, and letters of non-Latin
    scripts are kept as they are rather than dropped.

    >>> normalise_name("Dr. Seán  o'brien")
    "SEAN O'BRIEN"
    >>> normalise_name("Smith – Jones Jr")
    'SMITH-JONES'
    """
    text = unicodedata.normalize("NFKC", text)
    text = _clean_punctuation(_fold_to_ascii(text))
    return " ".join(_drop_titles_and_suffixes(text.split()))


def name_tokens(text: str) -> list[str]:
    """The words of the normalised name, split at spaces and hyphens.

    For double-barrelled names: ``SMITH-JONES`` matches ``JONES``.

    >>> name_tokens("Anne-Marie Smith-Jones")
    ['ANNE', 'MARIE', 'SMITH', 'JONES']
    """
    return normalise_name(text).replace("-", " ").split()


@functools.lru_cache(maxsize=1)
def _formal_forenames() -> dict[str, str]:
    """First word of a forename or nickname to the first word of its formal forename."""
    formal_of: dict[str, str] = {}
    formal_names: set[str] = set()
    for row in read_table("nicknames"):
        formal = _first_word(row["forename"])
        nickname = _first_word(row["nickname"])
        formal_names.add(formal)
        # The first row for a nickname wins: file order is the tie rule.
        if nickname:
            formal_of.setdefault(nickname, formal)
    # A formal forename is never read as someone else's nickname (HARRY stays HARRY).
    formal_of.update({name: name for name in formal_names})
    return formal_of


@functools.lru_cache(maxsize=1)
def _all_formal_forenames() -> dict[str, tuple[str, ...]]:
    """Every formal forename a word may stand for, in file order."""
    formal_of: dict[str, list[str]] = {}
    for row in read_table("nicknames"):
        formal = _first_word(row["forename"])
        for word in (formal, _first_word(row["nickname"])):
            if word and formal not in formal_of.setdefault(word, []):
                formal_of[word].append(formal)
    return {word: tuple(formals) for word, formals in formal_of.items()}


def formal_forenames(name: str) -> tuple[str, ...]:
    """Every formal forename the first word of `name` may stand for (at least itself).

    `canonical_forename` picks one sense for comparing records; a search must try
    them all, since an officer typing ``ALEX`` may mean Alexander or Alexandra.

    A word that is itself a formal forename comes first.

    >>> formal_forenames("alex")[:2], formal_forenames("Bill"), formal_forenames("Zebedee")
    (('ALEXANDER', 'ALEXANDRA'), ('WILLIAM',), ('ZEBEDEE',))
    >>> formal_forenames("harry")[:3]
    ('HARRY', 'HAROLD', 'HENRY')
    """
    word = _first_word(name)
    if not word:
        return ()
    formals = _all_formal_forenames().get(word, ())
    if word in formals:
        return (word, *(f for f in formals if f != word))
    return formals if formals else (word,)


def _first_word(name: str) -> str:
    words = normalise_name(name).split(maxsplit=1)
    return words[0] if words else ""


def canonical_forename(name: str) -> str:
    """The formal form of the first forename, for comparing forenames across records.

    Takes the first word of the normalised name (``Mary-Jane Ann`` gives ``MARY-JANE``)
    and maps it through ``reference/nicknames.csv``: ``BILL`` gives ``WILLIAM``. The
    result is always one word: a formal forename of several words gives its first
    (``ZEZE``, for Maria José, gives ``MARIA``, as ``Maria José`` itself does). A word
    that is itself a formal forename in the table stays as it is (``HARRY`` stays
    ``HARRY`` though it is also short for Harold and Henry), so the function is
    idempotent. A nickname of several formal forenames maps to the forename of its first
    row in the file (``ALEX`` to ``ALEXANDER``, not ``ALEXANDRA``; ``CHRIS`` to
    ``CHRISTOPHER``): keep the commonest sense first in the CSV. Unknown names are
    returned normalised; empty input gives ``""``.

    >>> canonical_forename("bill"), canonical_forename("Liz Ann"), canonical_forename("Zebedee")
    ('WILLIAM', 'ELIZABETH', 'ZEBEDEE')
    """
    word = _first_word(name)
    return _formal_forenames().get(word, word)


def phonetic_key(name: str) -> str:
    """A sound-alike key of the normalised name: Metaphone of each word, space-separated.

    Metaphone (jellyfish's closest to Double Metaphone) encodes English spelling rules
    (``PH``, silent ``K`` in ``KN``, ``TH``, soft ``C``) with no length cap, so
    ``CATHERINE`` and ``KATHERINE`` or ``SMITH`` and ``SMYTHE`` share a key while long
    names keep their distinguishing consonants. Soundex keeps the first letter (so
    ``K``/``C`` never meet) and truncates to four characters; NYSIIS and the match rating
    codex are tuned to American surnames and discard more. Hyphens split words and
    apostrophes are dropped (``O'BRIEN`` is ``OBRN``). Words that give no code (digits,
    other scripts) are left out. Empty input gives ``""``.

    >>> phonetic_key("Catherine Smythe"), phonetic_key("KATHERINE SMITH")
    ('K0RN SM0', 'K0RN SM0')
    """
    keys = (jellyfish.metaphone(word.replace("'", "")) for word in name_tokens(name))
    return " ".join(key.upper() for key in keys if key)


NameOrder = Literal["surname_first", "forename_first"]


def _none_if_empty(text: str) -> str | None:
    cleaned = " ".join(text.split())
    return cleaned or None


def _is_initial(word: str) -> bool:
    """A single letter, maybe with a full stop: ``A`` or ``A.``."""
    return len(word.rstrip(".")) == 1 and word[0].isalpha()


def _split_forename_first(words: list[str]) -> tuple[str | None, str | None]:
    capitals = len(words)
    while capitals > 0 and words[capitals - 1].isupper():
        capitals -= 1
    if 0 < capitals < len(words):
        # Initials written in capitals ("John A SMITH") belong to the forenames.
        while capitals < len(words) - 1 and _is_initial(words[capitals]):
            capitals += 1
    else:
        capitals = len(words) - 1
    return _none_if_empty(" ".join(words[capitals:])), _none_if_empty(" ".join(words[:capitals]))


def split_name(text: str, order: NameOrder) -> tuple[str | None, str | None]:
    """Split a full name into ``(surname, forenames)``, keeping the words as written.

    ``"surname_first"``: the surname is before the first comma (``"SMITH, John Paul"``);
    with no comma, the first word is the surname. ``"forename_first"``: when the name
    ends in words written wholly in capitals after a word that is not, those words are
    the surname (``"Mary Jane VAN DER BERG"``), except single-letter initials at their
    start (``"John A. SMITH"``); otherwise the last word is the surname. Whitespace is
    trimmed and collapsed; an empty part is ``None``.

    >>> split_name("Mary Jane VAN DER BERG", "forename_first")
    ('VAN DER BERG', 'Mary Jane')
    >>> split_name("JAS READ", "forename_first"), split_name("READ, Jas", "surname_first")
    (('READ', 'JAS'), ('READ', 'Jas'))
    """
    if order == "surname_first":
        surname, comma, forenames = text.partition(",")
        if not comma:
            surname, _, forenames = " ".join(text.split()).partition(" ")
        return _none_if_empty(surname), _none_if_empty(forenames)
    if order == "forename_first":
        words = text.split()
        if not words:
            return None, None
        return _split_forename_first(words)
    raise ValueError(f"split_name order must be 'surname_first' or 'forename_first', got {order!r}")
