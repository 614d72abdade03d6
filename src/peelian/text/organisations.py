"""Find named organisations: agencies, forces, shops, businesses, schools, hospitals,
courts, pubs and clubs, and criminal groups, including county lines by their brand.

Three rules: a gazetteer of national names and abbreviations (``lexicon/organisations.csv``;
abbreviations such as ``NYP`` and names that are also words such as ``Boots`` match only
as written); a run of capitalised words ending in a word that names a kind of
organisation (``Calder Metals Ltd``, ``Gledhow Vale Academy``, ``Red Lion`` is not found
this way but ``Graziers Arms`` is); and a county line's brand, the capitalised word before
``line``, ``number`` or ``crew`` (``the "BENZ" number`` gives ``BENZ``), which then counts
wherever it recurs in the report.
"""

from __future__ import annotations

from collections.abc import Sequence

from peelian.text.lexicon import Lexicon, phrase_keys, read_text_table
from peelian.text.spans import Span
from peelian.text.tokens import Token

__all__ = ["OrganisationFinder"]

_JOINERS = {"&", "AND", "'S", "'"}
_LEGAL = {"LTD", "LIMITED", "PLC", "LLP", "CIC"}
_FUNCTION_WORDS = {
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
    "AND",
    "OR",
}
_BRAND_NOUNS = {"LINE", "NUMBER", "CREW", "PHONE", "LINES"}
_NOT_BRANDS = {"DEAL", "THE", "COUNTY", "PHONE", "LAND", "NEW", "SAME", "MOBILE", "HELP", "ONE"}
_QUOTES = "\"'“”‘’"


class OrganisationFinder:
    """Finds organisation spans over tokens not already claimed."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lex = lexicon
        self.exact_first: dict[str, int] = {}
        for words in self.lex.exact_organisations:
            self.exact_first[words[0]] = max(self.exact_first.get(words[0], 0), len(words))
        self.platforms = frozenset(
            key for row in read_text_table("platforms") for key in phrase_keys(row["platform"])[:1]
        )

    def find(self, text: str, tokens: Sequence[Token], claimed: list[bool]) -> list[Span]:
        taken = list(claimed)
        found: list[tuple[int, int, str]] = []

        def take(a: int, b: int, rule: str) -> None:
            if a < b and not any(taken[a:b]):
                for k in range(a, b):
                    taken[k] = True
                found.append((a, b, rule))

        self._gazetteer(tokens, taken, take)
        self._suffixed(tokens, taken, take)
        self._brands(tokens, taken, take)
        spans = []
        for a, b, rule in sorted(found):
            start, end = tokens[a].start, tokens[b - 1].end
            spans.append(Span("organisation", start, end, text[start:end], rule=rule))
        return spans

    def _gazetteer(self, tokens: Sequence[Token], taken: list[bool], take) -> None:  # type: ignore[no-untyped-def]
        for i in range(len(tokens)):
            if taken[i]:
                continue
            hit = self.lex.organisations.longest(tokens, i)
            if hit is not None and (
                tokens[i].capitalised or tokens[i].caps or tokens[i].shape == "N"
            ):
                take(i, i + hit[0], "org_gazetteer")
                continue
            longest_exact = self.exact_first.get(tokens[i].text, 0)
            for n in range(min(longest_exact, len(tokens) - i), 0, -1):
                words = tuple(t.text for t in tokens[i : i + n])
                if words in self.lex.exact_organisations:
                    # "Met" in "met him" is a verb: names that are words need a capital
                    # and must not start a sentence.
                    if n == 1 and tokens[i].shape == "T" and tokens[i].sentence_start:
                        break
                    take(i, i + n, "org_gazetteer")
                    break

    def _suffixed(self, tokens: Sequence[Token], taken: list[bool], take) -> None:  # type: ignore[no-untyped-def]
        i = 0
        while i < len(tokens):
            hit = self.lex.org_words.longest(tokens, i)
            if hit is None or taken[i] or not (tokens[i].capitalised or tokens[i].caps):
                i += 1
                continue
            n, strength = hit
            if strength == "weak" and tokens[i].caps:
                i += 1  # in a line of capitals "STORE" or "SERVICES" says too little
                continue
            end = i + n
            start = i
            k = i - 1
            names = 0
            while k >= 0 and i - k <= 5 and not taken[k]:
                t = tokens[k]
                if t.kind == "possessive" or t.key in _JOINERS:
                    k -= 1
                    continue
                if not (t.is_word or t.kind == "alnum"):
                    break
                if t.kind == "word" and not (t.capitalised or t.caps):
                    break
                if t.key in _FUNCTION_WORDS or t.key in self.platforms:
                    break
                # A common word may be part of a name (Northern Fresh Produce Ltd) but not
                # in capitals (where every word looks like a name) or starting a sentence.
                if t.key in self.lex.common and (t.caps or t.sentence_start):
                    break
                if self.lex.cues.get(t.key) or t.key in self.lex.titles:
                    break
                names += 1
                start = k
                if tokens[k].newline_before:
                    break
                k -= 1
            # Leading joiners never start a name.
            while start < i and tokens[start].key in _JOINERS | {"'S"}:
                start += 1
            extended = self._extend_right(tokens, taken, end)
            if names == 0 and not (
                strength == "strong" and extended > end and tokens[end].key == "OF"
            ):
                i += 1
                continue
            end = extended
            take(start, end, "org_suffix")
            i = end

    def _extend_right(self, tokens: Sequence[Token], taken: list[bool], end: int) -> int:
        """Carry on over more kind words (Calder Metals Ltd, Nails & Beauty, D2 Gang TV),
        ``of`` and a place (University of Leeds), or a place that closes the name
        (Prestige Motors Bradford)."""
        while end < len(tokens) and not taken[end]:
            k = end + 1 if tokens[end].key in ("&", "AND") else end
            if k >= len(tokens) or taken[k] or not (tokens[k].capitalised or tokens[k].caps):
                break
            hit = self.lex.org_words.longest(tokens, k)
            last = self.lex.org_words.longest(tokens, end - 1)
            legal = tokens[k].key in _LEGAL
            if hit is None or not (legal or (last is not None and last[1] == "weak")):
                break
            end = k + hit[0]
        if end + 1 < len(tokens) and tokens[end].key == "OF" and not taken[end + 1]:
            place = self.lex.places.longest(tokens, end + 1)
            if place is not None and tokens[end + 1].capitalised:
                return end + 1 + place[0]
        if end < len(tokens) and not taken[end] and tokens[end].capitalised:
            place = self.lex.places.longest(tokens, end)
            after = end + place[0] if place else end
            if place is not None and (after >= len(tokens) or not tokens[after].is_word):
                return after
        return end

    def _brands(self, tokens: Sequence[Token], taken: list[bool], take) -> None:  # type: ignore[no-untyped-def]
        brands: set[str] = set()
        for i, t in enumerate(tokens):
            if t.key not in _BRAND_NOUNS or i == 0:
                continue
            k = i - 1
            if tokens[k].text in _QUOTES:
                k -= 1
            if k < 0 or not tokens[k].is_word or taken[k]:
                continue
            b = tokens[k]
            if not (b.capitalised or b.caps) or b.key in _NOT_BRANDS or b.key in self.lex.common:
                continue
            if self.lex.places.longest(tokens, k) is not None:
                continue
            if t.key == "PHONE" and b.key not in self.lex.line_brands:
                continue
            if b.key in self.platforms:
                continue
            take(k, k + 1, "line_brand")
            brands.add(b.key)
        for i, t in enumerate(tokens):
            if t.key in brands and not taken[i] and (t.capitalised or t.caps):
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if nxt is not None and nxt.is_word and nxt.key in self.lex.surnames:
                    continue  # "Tommy GRANT": a person
                take(i, i + 1, "line_brand")
