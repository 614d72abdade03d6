"""Split report text into tokens that keep their offsets, their case and their line.

Police text mixes upper-case reports, upper-case headers over lower-case prose, hard line
breaks inside sentences and chat shorthand, so every token records how its line is written
(``caps``: the line is in capitals, where case says nothing about names) and whether it
starts a sentence or a line. Words keep inner apostrophes and hyphens (``O'NEILL``,
``HALL-JONES``); a possessive ``'s`` is a token of its own, so ``Dean's`` gives ``Dean``.

>>> [t.text for t in tokenize("Dean's phone: 07700 900959")]
['Dean', "'s", 'phone', ':', '07700', '900959']
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from peelian.standardise.names import normalise_name

__all__ = ["Token", "fold", "tokenize"]

_APOSTROPHES = "'’‘`"
_WORD = rf"[^\W\d_]+(?:[{_APOSTROPHES}][^\W\d_]+)*(?:-[^\W\d_]+(?:[{_APOSTROPHES}][^\W\d_]+)*)*"
_TOKEN = re.compile(rf"(?P<word>{_WORD})(?![\w])|(?P<alnum>\w+)|(?P<punct>[^\w\s])")
_POSSESSIVE = re.compile(rf"[{_APOSTROPHES}][sS]$")
_CAPS_SHARE = 0.75
_MIN_CAPS_LETTERS = 6


@functools.lru_cache(maxsize=1 << 16)
def fold(word: str) -> str:
    """A word as names are compared: upper case, accents folded, curly apostrophes plain.

    >>> fold("Wiśniewski"), fold("O’Neill")
    ('WISNIEWSKI', "O'NEILL")
    """
    return normalise_name(word) or word.upper()


@dataclass(slots=True)
class Token:
    """A word, number or punctuation mark with its place in the text.

    ``shape`` is ``U`` (all capitals, two letters or more), ``T`` (a capital then small
    letters, or a single capital), ``L`` (small letters), ``M`` (mixed), ``N`` (has
    digits) or ``P`` (punctuation). ``caps`` says the token's line is written in capitals.
    ``gap`` is the text between the previous token and this one.
    """

    text: str
    start: int
    end: int
    kind: str
    shape: str
    key: str
    caps: bool
    line: int
    sentence_start: bool
    gap: str

    @property
    def is_word(self) -> bool:
        return self.kind == "word"

    @property
    def capitalised(self) -> bool:
        """Written with a capital first letter (title case or all capitals)."""
        return self.shape in ("U", "T")

    @property
    def newline_before(self) -> bool:
        return "\n" in self.gap


def _shape(text: str, kind: str) -> str:
    if kind == "punct":
        return "P"
    if kind == "alnum":
        return "N"
    if text.isupper():
        # All capitals; one capital letter (an initial) counts as title case.
        return "U" if sum(map(str.isalpha, text)) > 1 else "T"
    if text.islower():
        return "L"
    first = next((c for c in text if c.isalpha()), "")
    if not first:
        return "P"
    if first.isupper():
        rest = text[text.index(first) + 1 :]
        if not any(map(str.isupper, rest)):
            return "T"
        # McDONAGH, O'Neill, MacLeod: a capital first and capitals inside.
        upper = sum(map(str.isupper, text))
        letters = sum(map(str.isalpha, text))
        return "T" if upper * 2 <= letters else "U"
    return "M"


def _caps_lines(text: str) -> list[bool]:
    """For each line, whether it is written in capitals (short lines follow the document)."""
    upper_all = sum(map(str.isupper, text))
    lower_all = sum(map(str.islower, text))
    document_caps = upper_all >= _CAPS_SHARE * max(1, upper_all + lower_all)
    flags: list[bool] = []
    for line in text.split("\n"):
        upper = sum(map(str.isupper, line))
        lower = sum(map(str.islower, line))
        if upper + lower < _MIN_CAPS_LETTERS:
            flags.append(document_caps)
        else:
            flags.append(upper >= _CAPS_SHARE * (upper + lower))
    return flags


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` in order, with offsets, shapes and line facts."""
    caps_lines = _caps_lines(text)
    tokens: list[Token] = []
    line = 0
    previous_end = 0
    sentence_start = True
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "punct"
        start, end = match.start(), match.end()
        gap = text[previous_end:start]
        newlines = gap.count("\n")
        line += newlines
        if newlines:
            sentence_start = True
        pieces = [(start, end)]
        if kind == "word" and (possessive := _POSSESSIVE.search(match[0])) and end - start > 3:
            cut = start + possessive.start()
            pieces = [(start, cut), (cut, end)]
        for index, (a, b) in enumerate(pieces):
            piece = text[a:b]
            piece_kind = kind if index == 0 else "possessive"
            shape = _shape(piece, kind if index == 0 else "punct")
            tokens.append(
                Token(
                    text=piece,
                    start=a,
                    end=b,
                    kind=piece_kind,
                    shape=shape,
                    key=fold(piece) if piece_kind == "word" else piece.upper(),
                    caps=caps_lines[line] if line < len(caps_lines) else False,
                    line=line,
                    sentence_start=sentence_start and index == 0,
                    gap=gap if index == 0 else "",
                )
            )
        previous_end = end
        sentence_start = kind == "punct" and match[0] in ".!?"
    return tokens
