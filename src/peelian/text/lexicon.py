"""The gazetteers the extractor reads, loaded once and indexed by folded word keys.

Name tokens, drug and weapon terms, street slang, county-line brands, street suffixes and
vehicle makes come from ``peelian/reference`` (shared with the generator and the
standardisers); word lists that only text extraction needs (common words, the cue words
that introduce a person, organisation names and suffixes, towns, postcode areas) are in
``peelian/text/lexicon/`` with their sources in its README.

A :class:`PhraseIndex` maps token sequences to payloads and finds the longest entry that
starts at a token, which is how every multi-word gazetteer is matched.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Generic, TypeVar

from peelian.reference import read_table
from peelian.text.tokens import Token, tokenize

__all__ = ["Lexicon", "PhraseIndex", "Term", "lexicon", "phrase_keys", "read_text_table"]

T = TypeVar("T")


def read_text_table(name: str) -> tuple[dict[str, str], ...]:
    """Rows of ``peelian/text/lexicon/<name>.csv``."""
    path = resources.files("peelian.text").joinpath("lexicon", f"{name}.csv")
    if not path.is_file():
        raise FileNotFoundError(f"no text lexicon table {name!r} (expected lexicon/{name}.csv)")
    return tuple(dict(row) for row in csv.DictReader(io.StringIO(path.read_text("utf-8"))))


@functools.lru_cache(maxsize=1 << 16)
def phrase_keys(phrase: str) -> tuple[str, ...]:
    """The token keys of a gazetteer phrase, as :func:`tokenize` keys running text."""
    return tuple(t.key for t in tokenize(phrase))


class PhraseIndex(Generic[T]):
    """Longest-match lookup of token-key sequences.

    >>> index = PhraseIndex[str]()
    >>> index.add("zombie knife", "knife")
    >>> tokens = tokenize("a Zombie Knife and a knife")
    >>> index.longest(tokens, 1)
    (2, 'knife')
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], T] = {}
        self._firsts: dict[str, int] = {}

    def add(self, phrase: str, payload: T, *, keep_first: bool = True) -> None:
        keys = phrase_keys(phrase)
        if not keys:
            return
        if keep_first and keys in self._entries:
            return
        self._entries[keys] = payload
        self._firsts[keys[0]] = max(self._firsts.get(keys[0], 0), len(keys))

    def __contains__(self, keys: object) -> bool:
        return keys in self._entries

    def get(self, keys: tuple[str, ...]) -> T | None:
        return self._entries.get(keys)

    def longest(self, tokens: Sequence[Token], at: int) -> tuple[int, T] | None:
        """``(number of tokens, payload)`` of the longest entry starting at ``tokens[at]``."""
        longest = self._firsts.get(tokens[at].key)
        if longest is None:
            return None
        for n in range(min(longest, len(tokens) - at), 0, -1):
            keys = tuple(t.key for t in tokens[at : at + n])
            found = self._entries.get(keys)
            if found is not None:
                return n, found
        return None


@dataclass(frozen=True)
class Term:
    """A gazetteer term: its canonical value and whether it needs a cue nearby."""

    canonical: str
    needs_cue: bool


@dataclass
class Lexicon:
    """Every word list, keyed by :func:`peelian.text.tokens.fold` of each word."""

    forenames: frozenset[str]
    formal_forenames: frozenset[str]
    surnames: frozenset[str]
    common: frozenset[str]
    titles: frozenset[str]
    suffixes: frozenset[str]
    cues: dict[str, tuple[str, str]]
    cue_phrases: PhraseIndex[tuple[str, str]]
    street_slang: frozenset[str]
    line_brands: frozenset[str]
    street_types: dict[str, str]
    vehicle_makes: frozenset[str]
    vehicle_models: frozenset[str]
    drugs: PhraseIndex[Term]
    weapons: PhraseIndex[Term]
    organisations: PhraseIndex[str]
    exact_organisations: dict[tuple[str, ...], str]
    org_words: PhraseIndex[str]
    places: PhraseIndex[str]
    postcode_areas: frozenset[str]
    not_persons: PhraseIndex[str]


def _keys(words: Iterable[str]) -> frozenset[str]:
    found: set[str] = set()
    for word in words:
        keys = phrase_keys(word)
        if len(keys) == 1:
            found.add(keys[0])
    return frozenset(found)


def _name_parts(words: Iterable[str]) -> frozenset[str]:
    """Single-word keys of names, with each part of a hyphenated or multi-word name."""
    found: set[str] = set()
    for word in words:
        for key in phrase_keys(word):
            found.add(key)
            found.update(part for part in key.split("-") if len(part) > 1)
    return frozenset(found)


@functools.cache
def lexicon() -> Lexicon:
    """The shipped gazetteers (read once)."""
    forenames = _name_parts(
        [r["forename"] for r in read_table("forenames")]
        + [r["forename"] for r in read_table("nicknames")]
        + [r["nickname"] for r in read_table("nicknames")]
    )
    formal = _name_parts(
        [r["forename"] for r in read_table("forenames")]
        + [r["forename"] for r in read_table("nicknames")]
    )
    surnames = _name_parts(r["surname"] for r in read_table("surnames"))
    titles_rows = read_table("name_titles")
    cues: dict[str, tuple[str, str]] = {}
    cue_phrases: PhraseIndex[tuple[str, str]] = PhraseIndex()
    for row in read_text_table("person_cues"):
        keys = phrase_keys(row["cue"])
        if len(keys) == 1:
            cues[keys[0]] = (row["kind"], row["relation"])
        cue_phrases.add(row["cue"], (row["kind"], row["relation"]))
    drugs: PhraseIndex[Term] = PhraseIndex()
    for row in read_table("drug_terms"):
        drugs.add(row["term"], Term(row["drug"], row.get("context", "cue") != "always"))
    weapons: PhraseIndex[Term] = PhraseIndex()
    for row in read_table("weapon_terms"):
        weapons.add(row["term"], Term(row["weapon"], row.get("context", "cue") != "always"))
    organisations: PhraseIndex[str] = PhraseIndex()
    exact_organisations: dict[tuple[str, ...], str] = {}
    for row in read_text_table("organisations"):
        if row["match"] == "exact":
            exact_organisations[tuple(t.text for t in tokenize(row["name"]))] = row["kind"]
        else:
            organisations.add(row["name"], row["kind"])
    org_words: PhraseIndex[str] = PhraseIndex()
    for row in read_text_table("org_words"):
        org_words.add(row["word"], row["strength"])
    places: PhraseIndex[str] = PhraseIndex()
    for row in read_text_table("places"):
        places.add(row["place"], "place")
    street_types: dict[str, str] = {}
    for row in read_table("street_suffixes"):
        street_types[phrase_keys(row["suffix"])[0]] = row["suffix"]
        street_types.setdefault(phrase_keys(row["abbreviation"])[0], row["suffix"])
    vehicles = read_table("vehicles")
    not_persons: PhraseIndex[str] = PhraseIndex()
    for row in read_text_table("not_persons"):
        not_persons.add(row["phrase"], row["kind"])
    return Lexicon(
        forenames=forenames,
        formal_forenames=formal,
        not_persons=not_persons,
        surnames=surnames,
        common=_keys(r["word"] for r in read_text_table("common_words")),
        titles=frozenset(r["word"] for r in titles_rows if r["kind"] == "title"),
        suffixes=frozenset(r["word"] for r in titles_rows if r["kind"] == "suffix"),
        cues=cues,
        cue_phrases=cue_phrases,
        street_slang=frozenset(
            " ".join(phrase_keys(r["name"])) for r in read_table("street_slang")
        ),
        line_brands=frozenset(
            " ".join(phrase_keys(r["brand"])) for r in read_table("county_line_brands")
        ),
        street_types=street_types,
        vehicle_makes=_keys(r["make"] for r in vehicles) | _keys(["VW", "MERC", "BEEMER"]),
        vehicle_models=_name_parts(r["model"] for r in vehicles),
        drugs=drugs,
        weapons=weapons,
        organisations=organisations,
        exact_organisations=exact_organisations,
        org_words=org_words,
        places=places,
        postcode_areas=frozenset(r["area"] for r in read_text_table("postcode_areas")),
    )
