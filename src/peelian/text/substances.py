"""Find drugs and weapons by their gazetteers (``reference/drug_terms.csv`` and
``reference/weapon_terms.csv``), valued with the canonical drug or weapon type.

Terms marked ``always`` in the gazetteer (heroin, skunk, machete, zombie knife) count
wherever they appear. Terms marked ``cue`` are also ordinary words (white, dark, gear,
bat, piece, nine) and count only when a word nearby says drugs or weapons are meant
(dealing, wraps, need, smoking; carrying, armed, produced, access to) and the term ends
its noun phrase: ``white`` in ``a white van`` describes the van and is not crack cocaine.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from peelian.text.lexicon import Lexicon, PhraseIndex, Term, read_text_table
from peelian.text.spans import Span
from peelian.text.tokens import Token

__all__ = ["SubstanceFinder"]

_WINDOW = 5


@functools.cache
def _words(kind: str) -> frozenset[str]:
    """One kind of word from ``lexicon/substance_cues.csv`` (drug_cue, weapon_cue,
    phrase_end, weapon_modified, drug_modified, vague, sale_verb...)."""
    return frozenset(
        r["word"].upper() for r in read_text_table("substance_cues") if r["kind"] == kind
    )


class SubstanceFinder:
    """Finds drug and weapon spans over tokens not already claimed."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lex = lexicon

    def find(self, text: str, tokens: Sequence[Token], claimed: list[bool]) -> list[Span]:
        spans: list[Span] = []
        taken = list(claimed)
        for kind, index, cues in (
            ("weapon", self.lex.weapons, _words("weapon_cue")),
            ("drug", self.lex.drugs, _words("drug_cue")),
        ):
            spans += self._find(text, tokens, taken, kind, index, cues, spans)
        return sorted(spans, key=lambda s: s.start)

    def _find(
        self,
        text: str,
        tokens: Sequence[Token],
        taken: list[bool],
        kind: str,
        index: PhraseIndex[Term],
        cues: frozenset[str],
        earlier: list[Span],
    ) -> list[Span]:
        spans: list[Span] = list(earlier)
        first_new = len(spans)
        i = 0
        while i < len(tokens):
            hit = index.longest(tokens, i)
            if hit is None or any(taken[i : i + hit[0]]):
                i += 1
                continue
            n, term = hit
            if self._modifier(tokens, i, i + n, kind) or (
                kind == "drug" and self._after_drug(spans, tokens, i)
            ):
                i += 1
                continue
            if (
                term.canonical == "drugs_generic"
                and tokens[i].key in _words("vague")
                and not (i > 0 and tokens[i - 1].key in _words("sale_verb"))
            ):
                # "the bits", "stuff", "a package" may not be drugs: only after dealing/selling.
                i += 1
                continue
            if n == 1 and len(tokens[i].text) == 1 and not self._quoted(tokens, i):
                i += 1  # one letter (K, B, H) is a drug only when quoted: "K"
                continue
            if term.needs_cue and not self._cued(tokens, i, i + n, cues):
                i += 1
                continue
            for k in range(i, i + n):
                taken[k] = True
            start, end = tokens[i].start, tokens[i + n - 1].end
            spans.append(Span(kind, start, end, text[start:end], term.canonical, rule=kind))
            i += n
        return spans[first_new:]

    @staticmethod
    def _modifier(tokens: Sequence[Token], start: int, end: int, kind: str) -> bool:
        """A term used to describe something else: FIREARMS INCIDENT, razor blades."""
        after = tokens[end].key if end < len(tokens) else ""
        before = tokens[start - 1].key if start > 0 else ""
        if kind == "weapon":
            return after in _words("weapon_modified") or before in _words("weapon_not_after")
        return after in _words("drug_modified")

    @staticmethod
    def _after_drug(spans: list[Span], tokens: Sequence[Token], i: int) -> bool:
        """Packaging right after a drug (xanax bars, crack wraps) is not another drug."""
        return i > 0 and any(s.end == tokens[i - 1].end and s.type == "drug" for s in spans)

    @staticmethod
    def _quoted(tokens: Sequence[Token], i: int) -> bool:
        quotes = "\"'“”‘’"
        return (
            0 < i < len(tokens) - 1
            and tokens[i - 1].text in quotes
            and tokens[i + 1].text in quotes
        )

    def _cued(self, tokens: Sequence[Token], start: int, end: int, cues: frozenset[str]) -> bool:
        first = tokens[start]
        nxt_key = tokens[end].key if end < len(tokens) else ""
        if nxt_key == "OF":
            return False  # a bag of work, a bottle of poppers: the packaging, not the thing
        if start > 0 and tokens[start - 1].key in _words("drug_not_after"):
            return False
        # A capitalised ambiguous word mid-sentence is a name (Charlie, Molly, Brown).
        quoted = start > 0 and tokens[start - 1].text in "\"'“‘"
        if first.shape == "T" and not first.caps and not first.sentence_start and not quoted:
            return False
        if end < len(tokens):
            nxt = tokens[end]
            if nxt.is_word and nxt.key not in _words("phrase_end") and not nxt.newline_before:
                return False
        line = first.line
        lo = max(0, start - _WINDOW)
        for k in range(start - 1, lo - 1, -1):
            t = tokens[k]
            if t.line != line or t.text in ".!?":
                break
            if t.key in cues:
                return True
            if k == start - 1 and t.kind == "alnum" and t.text.isdigit():
                return True  # NEED 2 DARK
            if t.text == "£":
                return True
        for k in range(end, min(len(tokens), end + 2)):
            if tokens[k].key in cues and tokens[k].line == line:
                return True
        return False
