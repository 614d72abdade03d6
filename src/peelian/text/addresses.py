"""Find addresses written in report text: ``Flat 3, 14 Hyde Park Road``, ``14 Cowper St,
Leeds``, ``WILLOW HOUSE, 8 MOOR LANE, HALIFAX``, ``88 scott hall road``.

An address is a house number and a street (a street type from
``reference/street_suffixes.csv``, its usual abbreviations, a one-word street ending in
-gate, or a street the hub already knows), or a flat and a named building, with the
locality or town when a comma joins it on. A street type one keystroke from a real one
(``Avneue``, ``ROADD``) counts after a house number. Streets without a number ("on Monks
Road"), numbers without a street ("no. 38") and descriptions are not addresses.

Values are the address in one comparable form (upper case, street types in full) made by
:func:`peelian.standardise.addresses.parse_address`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

import jellyfish

from peelian.standardise.addresses import parse_address
from peelian.text.lexicon import Lexicon, PhraseIndex, read_text_table
from peelian.text.spans import Span
from peelian.text.tokens import Token

__all__ = ["AddressFinder", "address_value"]

_HOUSE_NUMBER = re.compile(r"[0-9]{1,4}[A-Za-z]?")
_FLAT_WORDS = {"FLAT", "FLATT", "FLT", "APARTMENT", "APT", "UNIT", "ROOM", "STUDIO"}
_STREET_WORD_ENDINGS = ("GATE",)
_LINK_WORDS = {"AT", "ON", "IN", "FOR", "AND", "WITH", "TO", "BY", "FROM", "WHERE", "WHICH", "THAT"}
_FUNCTION_WORDS = {
    "AND",
    "OR",
    "THE",
    "A",
    "AN",
    "OF",
    "TO",
    "AT",
    "IN",
    "ON",
    "BY",
    "FOR",
    "WITH",
    "FROM",
}


@functools.cache
def _street_abbreviations() -> dict[str, str]:
    return {row["word"].upper(): row["type"] for row in read_text_table("street_words")}


@functools.cache
def _building_words() -> frozenset[str]:
    return frozenset(row["word"].upper() for row in read_text_table("building_words"))


def address_value(text: str) -> str | None:
    """One comparable form of an address: ``FLAT 3, 14 HYDE PARK ROAD, LEEDS``.

    >>> address_value("Flat 3, 14 Hyde Park Rd, Leeds")
    'FLAT 3, 14 HYDE PARK ROAD, LEEDS'
    """
    parsed = parse_address(text)
    parts = []
    if parsed.flat:
        parts.append(f"FLAT {parsed.flat}")
    if parsed.building:
        parts.append(parsed.building)
    street = " ".join(x for x in (parsed.number, parsed.street) if x)
    if street:
        parts.append(street)
    for extra in (parsed.locality, parsed.town):
        if extra:
            parts.append(extra)
    return ", ".join(parts) or None


class AddressFinder:
    """Finds address spans over tokens not already claimed."""

    def __init__(
        self,
        lexicon: Lexicon,
        known_streets: frozenset[str] = frozenset(),
        known_places: Iterable[str] = (),
    ) -> None:
        self.lex = lexicon
        self.known_places: PhraseIndex[str] = PhraseIndex()
        for place in known_places:
            self.known_places.add(place, "place")
        self.types = dict(lexicon.street_types)
        self.types.update(_street_abbreviations())
        self.full_types = sorted({v.upper() for v in self.types.values() if len(v) >= 4})
        self.known_streets = known_streets
        self.buildings = _building_words()

    # --- word tests -------------------------------------------------------------------

    def _street_type(self, token: Token, fuzzy: bool) -> bool:
        if not token.is_word:
            return False
        key = token.key.rstrip(".")
        if key in self.types:
            return True
        if fuzzy and len(key) >= 4:
            return any(
                abs(len(key) - len(full)) <= 1
                and jellyfish.damerau_levenshtein_distance(key, full) == 1
                for full in self.full_types
            )
        return False

    def _street_word(self, token: Token, lower_text: bool, inner: bool = False) -> bool:
        if not token.is_word or token.key in _FUNCTION_WORDS:
            return False
        # "Otley Old Road", "Cross Flatts Grove": a capitalised common word may be part
        # of a street name, except at its start in a line of capitals.
        if (
            token.key in self.lex.common
            and token.key not in self.types
            and not (token.shape == "T" or (token.caps and inner))
        ):
            return False
        if token.caps or token.capitalised:
            return True
        return lower_text and token.shape == "L"

    # --- parsing ----------------------------------------------------------------------

    def find(self, text: str, tokens: Sequence[Token], claimed: list[bool]) -> list[Span]:
        spans: list[Span] = []
        i = 0
        while i < len(tokens):
            end = self._address_at(tokens, i, claimed)
            if end is None:
                i += 1
                continue
            start_char, end_char = tokens[i].start, tokens[end - 1].end
            raw = text[start_char:end_char]
            spans.append(
                Span("address", start_char, end_char, raw, address_value(raw), rule="address")
            )
            i = end
        return spans

    def _free(self, claimed: list[bool], a: int, b: int) -> bool:
        return not any(claimed[a:b])

    def _address_at(self, tokens: Sequence[Token], i: int, claimed: list[bool]) -> int | None:
        if claimed[i]:
            return None
        k = i
        flat = building = False
        if tokens[k].key in _FLAT_WORDS and (tokens[k].capitalised or tokens[k].caps):
            if (
                k + 1 < len(tokens)
                and tokens[k + 1].kind == "alnum"
                and _HOUSE_NUMBER.fullmatch(tokens[k + 1].text)
            ):
                flat = True
                k += 2
                if k < len(tokens) and tokens[k].text == ",":
                    k += 1
            else:
                return None
        after_building = self._building(tokens, k, claimed)
        if after_building is not None:
            building = True
            k = after_building
            if k < len(tokens) and tokens[k].text == ",":
                k += 1
        street_end = self._numbered_street(tokens, k, claimed)
        if street_end is None and (flat or building):
            street_end = self._street(tokens, k, claimed, fuzzy=False)
            if street_end is None:
                # FLAT 12, CLARENCE HOUSE: flat and building only.
                if flat and building:
                    end = after_building if after_building is not None else k
                    return self._locality(tokens, end, claimed)
                return None
        if street_end is None:
            return None
        if not (flat or building) and not self._numbered_start(tokens, i):
            return None
        return self._locality(tokens, street_end, claimed)

    def _numbered_start(self, tokens: Sequence[Token], i: int) -> bool:
        return tokens[i].kind == "alnum" and bool(_HOUSE_NUMBER.fullmatch(tokens[i].text))

    def _building(self, tokens: Sequence[Token], k: int, claimed: list[bool]) -> int | None:
        """End of a named building (``Saxton House``, ``ROWAN COURT``) starting at ``k``."""
        end = k
        while end < len(tokens) and end - k < 3 and not claimed[end]:
            t = tokens[end]
            if not t.is_word or not (t.capitalised or t.caps) or (t.newline_before and end > k):
                break
            if t.key in self.buildings and end > k:
                # "Court" after a building word would be "Rowan Court Road": check on.
                if (
                    end + 1 < len(tokens)
                    and self._street_type(tokens[end + 1], fuzzy=False)
                    and tokens[end + 1].key not in self.buildings
                ):
                    return None
                return end + 1
            if t.key in self.lex.common:
                break
            end += 1
        return None

    def _numbered_street(self, tokens: Sequence[Token], k: int, claimed: list[bool]) -> int | None:
        if k >= len(tokens) or claimed[k] or not self._numbered_start(tokens, k):
            return None
        if k > 0 and tokens[k - 1].text in ("£", "$", "€", "/"):
            return None
        return self._street(tokens, k + 1, claimed, fuzzy=True)

    def _street(
        self, tokens: Sequence[Token], k: int, claimed: list[bool], *, fuzzy: bool
    ) -> int | None:
        """End of a street name starting at ``k``: up to four words ending in a street type."""
        if k >= len(tokens) or claimed[k] or (tokens[k].newline_before and not tokens[k].caps):
            return None
        lower_text = tokens[k].shape == "L"
        best = None
        end = k
        while end < len(tokens) and end - k < 5 and not claimed[end]:
            t = tokens[end]
            if end > k and t.newline_before and not self._street_type(t, fuzzy=False):
                break
            if not self._street_word(t, lower_text, inner=end > k):
                break
            words = " ".join(x.key for x in tokens[k : end + 1])
            typed = end > k and self._street_type(t, fuzzy=fuzzy)
            one_word = end == k and t.key.endswith(_STREET_WORD_ENDINGS) and len(t.key) > 5
            if typed or words in self.known_streets or one_word:
                best = end + 1
            end += 1
        return best

    def _locality(self, tokens: Sequence[Token], end: int, claimed: list[bool]) -> int:
        """Extend over ``, Locality`` and ``, Town`` parts that follow on the same line."""
        for _ in range(3):
            if end + 1 >= len(tokens) or tokens[end].text != ",":
                break
            k = end + 1
            if claimed[k] or tokens[k].newline_before:
                break
            words_end = k
            while words_end < len(tokens) and words_end - k < 3 and not claimed[words_end]:
                t = tokens[words_end]
                if (
                    not t.is_word
                    or not (t.capitalised or t.caps)
                    or (words_end > k and t.newline_before)
                ):
                    break
                if self.lex.cues.get(t.key) or (
                    t.key in self.lex.forenames
                    and self.lex.places.longest(tokens, words_end) is None
                ):
                    break
                # A common word may be the second word of a place (Kirkby Fell), never
                # the first.
                if t.key in self.lex.common and (
                    words_end == k or t.caps or t.key in _FUNCTION_WORDS
                ):
                    break
                words_end += 1
            if words_end == k:
                break
            # A street after the building ("Flat 4, Rowan Court, Falsgrave Road").
            street_end = self._street(tokens, k, claimed, fuzzy=False)
            if street_end is not None and street_end > words_end:
                words_end = street_end
            known = self.lex.places.longest(tokens, k) or self.known_places.longest(tokens, k)
            if known is not None and known[0] >= words_end - k:
                end = k + known[0]
                continue
            nxt = tokens[words_end] if words_end < len(tokens) else None
            # ", Halton at ..." is fine; ", Kyle said" is not: a lower-case verb after a
            # capitalised word that no list knows as a place.
            if (
                nxt is not None
                and nxt.is_word
                and nxt.shape == "L"
                and not nxt.caps
                and not tokens[k].caps
                and nxt.key not in _LINK_WORDS
            ):
                break
            end = words_end
        return end
