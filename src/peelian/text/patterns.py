"""Find identifiers, numbers and dates in free text: phones, plates, postcodes, money,
ages, and dates and times.

Each finder scans the raw text with regular expressions and returns candidate
:class:`~peelian.text.spans.Span` objects with a normalised value; the extractor decides
between overlapping candidates. Normalising reuses the standardisers: phones through
``phonenumbers`` (:func:`peelian.standardise.contact.parse_phone`), plates and postcodes
through :mod:`peelian.standardise.identifiers`. Nothing here raises on arbitrary text.

Where a shape is also an ordinary number (``0312`` as a time, ``17`` as an age), the
finder asks for a cue: a word before it that says what it is (``at 0312``, ``aged 17``).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections.abc import Iterator

from peelian.reference import read_table
from peelian.standardise.contact import parse_phone
from peelian.standardise.identifiers import classify_vrm, normalise_postcode, normalise_vrm
from peelian.text.spans import Span

__all__ = [
    "DateParts",
    "find_ages",
    "find_dates",
    "find_money",
    "find_outward_codes",
    "find_phones",
    "find_postcodes",
    "find_vrms",
]

# --- phones ---------------------------------------------------------------------------

_SEP = r"[ \t\-]?"
_PHONE = re.compile(
    r"(?<![\w+/.£$€])(?:"
    rf"(?:\+|00){_SEP}44{_SEP}(?:\(0\){_SEP})?[1-9](?:{_SEP}\d){{8,9}}"  # +44 / 0044
    # national: 0 and 9 or 10 digits
    rf"|(?:\(0[1-9]\d{{1,3}}\)|0[1-9]\d{{1,3}}){_SEP}\d(?:{_SEP}\d){{5,7}}"
    r"|44[1-9]\d{8,9}"  # 44 without the plus
    rf"|\+1{_SEP}\(?\d{{3}}\)?{_SEP}\d{{3}}{_SEP}\d{{4}}"  # North American
    rf"|\+(?!44)[2-9]\d{{0,2}}(?:{_SEP}\d){{6,12}}"  # other international
    r")(?![\w/])"
)


def find_phones(text: str) -> list[Span]:
    """Telephone numbers in UK and international forms, valued in E.164.

    Partial numbers (``ends 123``) are too short to match; a digit run that phonenumbers
    cannot give a possible length is not a phone.

    >>> [(s.text, s.value) for s in find_phones("tel 07700 900 552 or +44 (0)113 496 0731")]
    [('07700 900 552', '+447700900552'), ('+44 (0)113 496 0731', '+441134960731')]
    """
    found: list[Span] = []
    for match in _PHONE.finditer(text):
        raw = match[0].rstrip(" -")
        digits = re.sub(r"\D", "", raw)
        parsed = parse_phone("+" + digits if raw.startswith("44") else raw)
        if parsed.e164 is None:
            continue
        start = match.start()
        found.append(Span("phone", start, start + len(raw), raw, parsed.e164, rule="phone"))
    return found


# --- vehicle registration marks -------------------------------------------------------

_PLATE_WORDS = (
    "vrm|vrms|reg|registration|plates?|index|keeper|vehicle|veh|car|van|taxi|driving|drives|"
    "driven|anpr|estate|hatchback|saloon|motorbike|moped|pickup|lorry|hgv|4x4|suv"
)


@functools.cache
def _plate_cue() -> re.Pattern[str]:
    """Words that say a plate is near: vehicle words and the makes in vehicles.csv."""
    makes = sorted(
        {re.escape(r["make"].lower()) for r in read_table("vehicles")}, key=len, reverse=True
    )
    return re.compile(rf"\b(?:{_PLATE_WORDS}|{'|'.join(makes)})\b", re.IGNORECASE)


_CURRENT = re.compile(r"(?<![\w?])([A-Za-z]{2}[0-9]{2}) ?([A-Za-z]{3})(?![\w?])")
# Look-alike characters read into a plate (0 for O, 8 for B, 5 for S...), upper case only.
_CURRENT_MISREAD = re.compile(r"(?<![\w?])([A-Z0-9]{2}[A-Z0-9]{2}) ?([A-Z0-9]{3})(?![\w?])")
_OLDER = re.compile(
    r"(?<![\w?])(?:[A-Z][1-9][0-9]{0,2} ?[A-Z]{3}|[A-Z]{3} ?[1-9][0-9]{0,2}[A-Z])(?![\w?])"
)
_PARTIAL = re.compile(
    r"(?<![\w?])([A-Z?]{2}[0-9?]{2}) ?([A-Z?]{1,3})?(?![\w?])"
    r"|(?<![\w?])([A-Z]{2}[0-9?]{1,2}\?)(?![\w?])"
    r"|(?<![\w?])([A-Z][1-9][0-9]{0,2}) ?(\?{3}|[A-Z]\?\?)(?![\w?])"
)
_CUE_PARTIAL = re.compile(
    r"\b(?:vrm|reg(?:istration)?|plates?|index)(?: number| no\.?)?,?"
    r" (?P<how>ending(?: in| with)?|ends(?: in| with)?|ended(?: in| with)?|starting(?: with)?"
    r"|starts(?: with)?|started(?: with)?|beginning(?: with)?|begins(?: with)?|began(?: with)?)"
    r"(?: in| with)? (?P<part>[A-Za-z0-9]{1,5})(?![\w?])"
    r"|\b(?P<which>last|first|end|start)"
    r"(?: (?:part|bit|half|letters|digits|three letters|two letters))?"
    r" of the (?:plate|reg(?:istration)?|vrm)(?: (?:was|is|as|reads?))?"
    r" (?P<part2>[A-Za-z0-9]{1,5})(?![\w?])",
    re.IGNORECASE,
)
_PARTIAL_CUE_BEFORE = re.compile(r"\b(?:partial|partly|part)\b[^.\n]{0,25}$", re.IGNORECASE)
_HALF_PLATE = re.compile(r"(?<![\w?])([A-Z]{2}[0-9]{2}) ([A-Z]{1,2})(?![\w?])")


@functools.cache
def _look_alikes() -> dict[str, tuple[str, ...]]:
    """Each character to the characters a reader confuses it with (vrm_confusions.csv)."""
    table: dict[str, tuple[str, ...]] = {}
    for row in read_table("vrm_confusions"):
        group = row["characters"]
        for char in group:
            table[char] = tuple(c for c in group if c != char)
    return table


def _repair_current(raw: str, today: dt.date | None) -> str | None:
    """A current-style plate with one or two look-alike characters put back, if that
    gives a valid plate (``YK1B DFE`` is ``YK18DFE``)."""
    compact = raw.replace(" ", "")
    if len(compact) != 7:
        return None
    options: list[tuple[str, ...]] = []
    changes = 0
    for position, char in enumerate(compact):
        wants_digit = position in (2, 3)
        if wants_digit != char.isdigit():
            swaps = tuple(c for c in _look_alikes().get(char, ()) if c.isdigit() == wants_digit)
            if not swaps:
                return None
            options.append(swaps)
            changes += 1
        else:
            options.append((char,))
    if not 0 < changes <= 2:
        return None
    for chars in itertools.product(*options):
        plate = "".join(chars)
        if normalise_vrm(plate, today=today) is not None:
            return plate
    return None


def _cue_near(text: str, start: int, end: int, before: int = 60, after: int = 30) -> bool:
    cue = _plate_cue()
    return bool(cue.search(text[max(0, start - before) : start])) or bool(
        cue.search(text[end : end + after])
    )


def find_vrms(text: str, *, today: dt.date | None = None) -> list[Span]:
    """Number plates: current, prefix and suffix styles, misreads and partial plates.

    Values are upper case without spaces; a partial plate keeps ``?`` for each unread
    character and ``*`` for an unread run (``plate ending 4XK`` is ``*4XK``).

    >>> spans = find_vrms("silver Corsa YS64 ??? then yr67sge, plate ending 4XK")
    >>> sorted((s.start, s.text, s.value) for s in spans)
    [(13, 'YS64 ???', 'YS64???'), (27, 'yr67sge', 'YR67SGE'), (49, '4XK', '*4XK')]
    """
    found: list[Span] = []
    for match in _CURRENT.finditer(text):
        raw = match[0]
        if raw != raw.upper() and raw != raw.lower():
            continue
        value = normalise_vrm(raw, today=today)
        if value is not None:
            found.append(Span("vrm", match.start(), match.end(), raw, value, rule="vrm"))
    for match in _CURRENT_MISREAD.finditer(text):
        raw = match[0]
        if not (any(c.isdigit() for c in raw) and sum(c.isalpha() for c in raw) >= 3):
            continue
        if normalise_vrm(raw, today=today) is not None or normalise_postcode(raw) is not None:
            continue
        repaired = _repair_current(raw, today)
        if repaired is not None and _cue_near(text, match.start(), match.end()):
            found.append(Span("vrm", match.start(), match.end(), raw, repaired, rule="vrm_misread"))
    for match in _OLDER.finditer(text):
        raw = match[0]
        style = classify_vrm(raw, today=today)
        if style not in ("prefix", "suffix", "q_plate"):
            continue
        if not _cue_near(text, match.start(), match.end()):
            continue
        value = normalise_vrm(raw, today=today)
        found.append(Span("vrm", match.start(), match.end(), raw, value, rule="vrm_" + style))
    for match in _PARTIAL.finditer(text):
        raw = match[0]
        if "?" not in raw:
            continue
        compact = raw.replace(" ", "")
        known = sum(c.isalnum() for c in compact)
        has_second_half = match[2] is not None and any(c.isalpha() for c in match[2])
        if known < 2 or not (any(c.isdigit() for c in compact) or has_second_half):
            continue
        if match[4] and not _cue_near(text, match.start(), match.end()):
            continue  # an older-style partial (G151 ???) only beside a vehicle word
        found.append(Span("vrm", match.start(), match.end(), raw, compact, rule="vrm_partial"))
    for match in _CUE_PARTIAL.finditer(text):
        group = "part" if match["part"] else "part2"
        part = match[group]
        if part.lower() in ("with", "in", "and", "the", "a", "of", "was", "is"):
            continue
        if not any(c.isdigit() for c in part) and not part.isupper():
            continue
        how = (match["how"] or match["which"] or "").lower()
        starts = how.startswith(("start", "begin", "began", "first"))
        value = part.upper() + "*" if starts else "*" + part.upper()
        found.append(Span("vrm", match.start(group), match.end(group), part, value, rule="vrm_cue"))
    for match in _HALF_PLATE.finditer(text):
        if _PARTIAL_CUE_BEFORE.search(text[max(0, match.start() - 40) : match.start()]):
            value = match[1] + match[2] + "*"
            found.append(Span("vrm", match.start(), match.end(), match[0], value, rule="vrm_part"))
    return found


# --- postcodes ------------------------------------------------------------------------

_FULL_POSTCODE = re.compile(
    r"(?<![\w])([A-Za-z]{1,2}[0-9][A-Za-z0-9]?) ?([0-9][A-Za-z]{2})(?![\w])"
)
_OUTWARD = re.compile(r"(?<![\w.@])([A-Z]{1,2})([0-9]{1,2}[A-Z]?)(?![\w])")
_OUTWARD_CUE_AFTER = re.compile(r"^\s*(?:area|postcode|district|estates?|side)\b", re.I)
_OUTWARD_CUE_BEFORE = re.compile(r"\b(?:postcode|area|district)\s*:?\s*$", re.I)
_ROAD_AFTER = re.compile(r"^\s*(?:J\d|junction|slip|[NSEW]B\b|north|south|east|west)", re.I)


def find_postcodes(text: str) -> list[Span]:
    """Full postcodes in any case, with or without the space.

    >>> [(s.text, s.value) for s in find_postcodes("LS116AD and ls15 8nt")]
    [('LS116AD', 'LS11 6AD'), ('ls15 8nt', 'LS15 8NT')]
    """
    found: list[Span] = []
    for match in _FULL_POSTCODE.finditer(text):
        raw = match[0]
        if raw != raw.upper() and raw != raw.lower():
            continue
        value = normalise_postcode(raw)
        if value is not None:
            found.append(Span("postcode", match.start(), match.end(), raw, value, rule="postcode"))
    return found


def find_outward_codes(text: str, areas: frozenset[str]) -> list[Span]:
    """Outward codes used as places (``LS7``, ``the BD3 area``), written in capitals.

    Only areas in ``areas`` count. Single-letter areas (B, M, S...) need the word
    ``area`` or ``postcode`` next to them, since ``M62`` and ``A64`` are roads and ``S60``
    a statute; a code followed by a junction or carriageway (``M1 J42``, ``A61 SB``) is
    a road.
    """
    found: list[Span] = []
    for match in _OUTWARD.finditer(text):
        area = match[1]
        if area not in areas:
            continue
        after = text[match.end() : match.end() + 20]
        if _ROAD_AFTER.match(after):
            continue
        if len(area) == 1 and not (
            _OUTWARD_CUE_AFTER.match(after)
            or _OUTWARD_CUE_BEFORE.search(text[max(0, match.start() - 20) : match.start()])
        ):
            continue
        found.append(
            Span("postcode", match.start(), match.end(), match[0], match[0], rule="outward")
        )
    return found


# --- money ----------------------------------------------------------------------------

_CURRENCY = {"£": "GBP", "€": "EUR", "$": "USD"}
_AMOUNT = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?"
_MULTIPLIER = r"(?:\s?(?:k|K|m|M|bn|million|grand)(?![\w]))?"
_SIGNED = re.compile(
    rf"([£€$])\s?({_AMOUNT})({_MULTIPLIER})"
    rf"(?:\s?(?:-|–|to)\s?[£€$]?({_AMOUNT})({_MULTIPLIER}))?(?![\d])"
)
_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
    "few": 3,
    "couple": 2,
}
_NUMBER = (
    r"(?:[0-9]+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen"
    r"|twenty|thirty|forty|fifty)"
)
# Slang amounts, in pounds: a grand 1000, a monkey 500, a pony 25, a bag 1000, a bill 100.
_SLANG = {"grand": 1000.0, "monkey": 500.0, "pony": 25.0, "bag": 1000.0, "bags": 1000.0}
_SLANG.update({"bill": 100.0, "bills": 100.0, "k": 1000.0, "quid": 1.0, "pounds": 1.0})
_GRAND = re.compile(
    rf"(?<![\w£$€])({_NUMBER})(?:\s?(?:or|-|to)\s?({_NUMBER}))?\s+grand(?![\w])", re.IGNORECASE
)
_ANIMAL = re.compile(r"(?<![\w])an? (monkey|pony)(?![\w])", re.IGNORECASE)
_BAGS = re.compile(r"(?<![\w£$€.])([0-9]{1,2}) (bags|bills|bag|bill)(?![\w])(?! of)", re.I)
_K_AMOUNT = re.compile(r"(?<![\w£$€.,])([0-9]+(?:\.[0-9])?)\s?([kK])(?![\w])")
_WORD_AMOUNT = re.compile(
    r"(?<![\w])((?:another\s+)?(?:a few|a couple of|several|few|an?|one|two|three|four|five|"
    r"ten|twenty|fifty|[0-9]+)\s+(?:hundred|thousand)(?:\s+(?:pounds|quid))?"
    r"|[0-9][0-9,]*\s+(?:pounds|quid))(?![\w])",
    re.IGNORECASE,
)
_MONEY_CUE = re.compile(
    r"\b(?:owe[sd]?|owing|pay|paid|pays|paying|earn|earns|earning|cost|costs|worth|charge[sd]?|"
    r"debt|price|for|takes|taking|made|making|wants|demand(?:ed|ing)?|withdr[ae]w\w*|cash|"
    r"given|gave|lent|borrowed|about|asked|asking|sold)\b",
    re.IGNORECASE,
)


def _multiplier(text: str) -> float:
    text = text.strip().lower()
    if text in ("k", "grand"):
        return 1000.0
    if text in ("m", "million"):
        return 1_000_000.0
    if text == "bn":
        return 1_000_000_000.0
    return 1.0


def _number(text: str) -> float:
    text = text.strip().lower()
    if text in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[text])
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def _money_cue(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 30) : start]
    after = text[end : end + 12]
    return bool(_MONEY_CUE.search(before)) or bool(re.match(r"\s*(?:i |he |she )?owe", after))


def find_money(text: str) -> list[Span]:
    """Amounts of money: with a currency sign, ``2k``, ``a grand``, ``a monkey``, and
    ``2 bags`` or ``2 bills`` when a word such as owe, pay or worth says they are money.

    >>> [(s.text, s.value, s.value_max) for s in find_money("paid £150-£250, owes 2 bags")]
    [('£150-£250', 150.0, 250.0), ('2 bags', 2000.0, None)]
    """
    found: list[Span] = []
    for match in _SIGNED.finditer(text):
        unit = _CURRENCY[match[1]]
        low = _number(match[2]) * _multiplier(match[3])
        high = None
        if match[4]:
            high = _number(match[4]) * _multiplier(match[5] or match[3])
        raw = match[0].rstrip()
        found.append(
            Span("money", match.start(), match.start() + len(raw), raw, low, high, unit, "money")
        )
    for match in _GRAND.finditer(text):
        low = _number(match[1]) * 1000
        high = _number(match[2]) * 1000 if match[2] else None
        found.append(
            Span("money", match.start(), match.end(), match[0], low, high, "GBP", "money_grand")
        )
    for match in _ANIMAL.finditer(text):
        if _money_cue(text, match.start(), match.end()) or text[match.end() :].startswith(" a "):
            value = _SLANG[match[1].lower()]
            found.append(
                Span("money", match.start(), match.end(), match[0], value, None, "GBP", "slang")
            )
    for match in _BAGS.finditer(text):
        if _money_cue(text, match.start(), match.end()):
            value = _number(match[1]) * _SLANG[match[2].lower()]
            found.append(
                Span("money", match.start(), match.end(), match[0], value, None, "GBP", "slang")
            )
    for match in _K_AMOUNT.finditer(text):
        after = text[match.end() : match.end() + 12].lower()
        if re.match(r"\s*(?:views|likes|followers|miles|km|subs|plays)", after):
            continue
        if _money_cue(text, match.start(), match.end()):
            value = _number(match[1]) * 1000
            found.append(
                Span("money", match.start(), match.end(), match[0], value, None, "GBP", "money_k")
            )
    for match in _WORD_AMOUNT.finditer(text):
        words = match[0].lower()
        if (
            "pounds" not in words
            and "quid" not in words
            and not _money_cue(text, match.start(), match.end())
        ):
            continue
        numbers = [
            w for w in words.split() if (w in _NUMBER_WORDS and w not in ("a", "an")) or w.isdigit()
        ]
        number = numbers[-1] if numbers else "1"
        scale = 1000 if "thousand" in words else 100 if "hundred" in words else 1
        value = _number(number) * scale
        found.append(
            Span("money", match.start(), match.end(), match[0], value, None, "GBP", "money_words")
        )
    return found


# --- ages -----------------------------------------------------------------------------

_AGE_UNIT = re.compile(
    r"(?<![\w/£$€.])([0-9]{1,3})(?:\s?-\s?([0-9]{1,3}))?"
    r"(?:\s?-?\s?(?:yrs?|years?(?:[\s-]old)?|y/?o|yo|yr[\s-]olds?|year[\s-]olds?))(?![\w])",
    re.IGNORECASE,
)
_DURATION_BEFORE = re.compile(
    r"\b(?:for|serving|served|of|over|after|within|in|last|next|past|to|sentenced|suspended|"
    r"jailed|prison|custody|ago|every)\s+(?:about\s+|approx\.?\s+|up\s+to\s+)?$",
    re.IGNORECASE,
)
_DECADE = re.compile(r"(?<![\w'])(?:(early|mid|late)[\s-])?([1-9])0'?[sS](?![\w])", re.IGNORECASE)
_AGED = re.compile(
    r"\b(?:aged?|age:)\s+(?:about\s+|approx\.?\s+|around\s+)?"
    r"([0-9]{1,3}(?:\s?-\s?[0-9]{1,3})?)(?:\s+and\s+([0-9]{1,3}))?(?![\w])",
    re.IGNORECASE,
)
_DESCRIBED = re.compile(
    r"\b(?:IC[0-9]|w/[mf]|[wb]/[mf]|males?|females?|youths?|lads?|boys?|girls?)"
    r"(?:\s*,)?\s+(?:approx\.?\s+|about\s+|aged\s+)?([0-9]{1,2}\s?-\s?[0-9]{1,2}|[0-9]{1,2})"
    r"(?![\w/.:%])(?!\s?(?:x|mins?|minutes|hours|hrs|days|weeks|months|times))",
    re.IGNORECASE,
)
_STATED_AGE = re.compile(
    r"\b(?:he|she|i|i'm|im|they|rp|ip|dp|caller|victim|boyfriend|girlfriend|mum|dad|who)"
    r"[\"”’']?\s+(?:is|was|am|are|said\s+(?:he|she)\s+(?:is|was))\s+(?:only\s+|just\s+|aged\s+)?"
    r"([0-9]{1,2})(?=\s*(?:and\b|,|\.|;|\"|”|$|\s+(?:now|then|at)\b))",
    re.IGNORECASE,
)
_BRACKETED_AGES = re.compile(
    r"\b(?:children|kids|child|daughters?|sons)\b[^()\n]{0,30}"
    r"\(([0-9]{1,2})(?: and ([0-9]{1,2}))?\)",
    re.IGNORECASE,
)


def _age_span(text: str, start: int, end: int, rule: str) -> Span | None:
    raw = text[start:end]
    numbers = [int(n) for n in re.findall(r"[0-9]+", raw)]
    if not numbers or numbers[0] > 110 or (len(numbers) > 1 and numbers[1] > 110):
        return None
    high = numbers[1] if len(numbers) > 1 and numbers[1] > numbers[0] else None
    return Span("age", start, end, raw, numbers[0], high, "years", rule)


def find_ages(text: str) -> list[Span]:
    """Ages written with a unit or cue: ``17yrs``, ``16 y/o``, ``23 YEAR OLD``, ``aged 15``,
    ``30s``, ``late 20s``, ``IC1 male, 20-25``. Ages beside a name (``Kyle (17)``) are
    found by the extractor, which knows where the names are.

    >>> [(s.text, s.value, s.value_max) for s in find_ages("youths 14-16 and a 12-year-old")]
    [('12-year-old', 12, None), ('14-16', 14, 16)]
    """
    found: list[Span] = []
    for match in _AGE_UNIT.finditer(text):
        if _DURATION_BEFORE.search(
            text[max(0, match.start() - 25) : match.start()]
        ) and not re.search(r"old|o$|/o", match[0], re.IGNORECASE):
            continue  # "suspended for 2 years", "serving 9 years": a duration
        if (span := _age_span(text, match.start(), match.end(), "age_unit")) is not None:
            found.append(span)
    for match in _DECADE.finditer(text):
        decade = int(match[2]) * 10
        low, high = decade, decade + 9
        if match[1]:
            part = match[1].lower()
            low, high = {"early": (decade, decade + 3), "mid": (decade + 3, decade + 6)}.get(
                part, (decade + 6, decade + 9)
            )
        found.append(
            Span("age", match.start(), match.end(), match[0], low, high, "years", "age_decade")
        )
    for match in _AGED.finditer(text):
        for group in (1, 2):
            if match[group] and (span := _age_span(text, *match.span(group), "aged")):
                found.append(span)
    for match in _DESCRIBED.finditer(text):
        if (span := _age_span(text, *match.span(1), "described")) is not None:
            found.append(span)
    for match in _STATED_AGE.finditer(text):
        if (span := _age_span(text, *match.span(1), "stated")) is not None:
            found.append(span)
    for match in _BRACKETED_AGES.finditer(text):
        for group in (1, 2):
            if match[group] and (span := _age_span(text, *match.span(group), "children")):
                found.append(span)
    return found


# --- dates and times ------------------------------------------------------------------

_DAY = (
    r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:s|nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|"
    r"sat(?:urday)?|sun(?:day)?)"
)
_DAY_FULL = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_MONTH_FULL = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
)
_ORDINAL = r"(?:[0-9]{1,2}(?:st|nd|rd|th)?)"
_NUMERIC_DATE = (
    r"(?:[0-9]{1,2}[/.][0-9]{1,2}[/.](?:[0-9]{4}|[0-9]{2})(?![0-9])|[0-9]{4}-[0-9]{2}-[0-9]{2})"
)
_SHORT_DATE = r"(?:[0-9]{1,2}/[0-9]{1,2}(?![/0-9])|(?:0?[1-9]|1[0-2])/(?:19|20)[0-9]{2}(?![/0-9]))"
_TEXT_DATE = (
    rf"(?:(?:{_DAY},?[ \t]+)?(?:the[ \t]+)?{_ORDINAL}[ \t]+(?:of[ \t]+)?{_MONTH}"
    rf"(?:,?[ \t]+[0-9]{{4}})?"
    rf"|(?:{_DAY},?[ \t]+)?{_MONTH}[ \t]+{_ORDINAL}(?:,?[ \t]+[0-9]{{4}})?(?![0-9:])"
    rf"|{_MONTH}[ \t]+[0-9]{{4}})"
)
_DAY_DATE = rf"(?:{_DAY}[ \t]+(?:{_NUMERIC_DATE}|{_SHORT_DATE}))"
_CLOCK = r"(?:[01]?[0-9]|2[0-3])[:.][0-5][0-9](?:[:.][0-5][0-9])?"
_ONE_DIGIT_CLOCK = re.compile(r"[0-9][:.][0-9]{2}$")
_TIME = (
    rf"(?:(?:{_CLOCK})[ \t]?(?:am|pm|hrs|hours)?"
    r"|(?:[01][0-9]|2[0-3])[0-5][0-9][ \t]?(?:hrs|hours|h)(?![\w])"
    r"|(?:[01]?[0-9])(?:[ \t]?-[ \t]?(?:[01]?[0-9]))?[ \t]?(?:am|pm)(?![\w])"
    r"|(?:[01][0-9]|2[0-3])[0-5][0-9](?![\w/]|[:.][0-9]))"
)
_PART_OF_DAY = r"(?:morning|afternoon|evening|night|lunchtime|teatime)s?"
_DATE_ANY = rf"(?:{_DAY_DATE}|{_NUMERIC_DATE}|{_TEXT_DATE}|{_SHORT_DATE})"
_DATETIME = re.compile(
    rf"(?<![\w/.:£$€])(?:"
    rf"(?P<date_time>{_DATE_ANY}(?:,?[ \t]+(?:at[ \t]+)?{_TIME})?(?:[ \t]+{_PART_OF_DAY})?)"
    rf"|(?P<time_date>{_TIME}[ \t]+(?:on[ \t]+)?(?:{_DAY_FULL}[ \t]+|{_DAY}[ \t]+)?{_DATE_ANY})"
    rf"|(?P<day_time>{_DAY}[ \t]+{_TIME}|{_TIME}[ \t]+{_DAY}(?![\w]))"
    rf"|(?P<day_part>(?:{_DAY}|yesterday|today|tomorrow)[ \t]+{_PART_OF_DAY})"
    rf"|(?P<time>{_TIME})"
    rf")(?![\w/])",
    re.IGNORECASE,
)
_DEICTIC = re.compile(
    r"(?<![\w])(?:"
    r"(?:yesterday|today|tonight|tonite|2nite|2night|tomorrow|tmoro|tmrw|2moro|2morrow)"
    r"(?:\s+(?:[0-9]{1,2}(?:[:.][0-9]{2})?\s?(?:am|pm)|" + _PART_OF_DAY + r"))?"
    r"|[0-9]{1,2}\s+(?:this|last|tomorrow)\s+(?:morning|afternoon|evening|night)"
    r"|(?:this|last|next)\s+(?:morning|afternoon|evening|night|week|weekend|month|year|term|"
    + _DAY
    + r"(?![\w])|"
    + _MONTH_FULL
    + r")"
    r"|(?:previous|following|same|next)\s+(?:day|week|month|year|morning|evening|night|"
    + _DAY_FULL
    + r")"
    r"|(?:(?:early|mid|late)[\s-]" + _MONTH_FULL + r")"
    r"|(?:summer|winter|spring|autumn|christmas|easter)(?:\s+[0-9]{4})?"
    r"|half[\s-]term|end of term|new year|bonfire night"
    r"|(?<=\bon the )[0-9]{1,2}(?:st|nd|rd|th)"
    r"|(?:morning|afternoon|evening|night) of (?:the\s+)?[0-9]{1,2}(?:st|nd|rd|th)?\s+"
    + _MONTH_FULL
    + r"|"
    + _DAY_FULL
    + r"s?(?:\s+"
    + _PART_OF_DAY
    + r")?"
    r"|(?:19|20)[0-9]0'?s"
    r")(?![\w])",
    re.IGNORECASE,
)
_DEICTIC_TIME = re.compile(
    r"(?<![\w])(?:yesterday|today|tonight|tonite|2nite|2night|tomorrow|tmoro|tmrw|2moro|2morrow)"
    r"\s+[0-9]{1,2}(?:[:.][0-9]{2})?\s?(?:am|pm)(?![\w])",
    re.IGNORECASE,
)
_LONE_MONTH = re.compile(
    rf"(?<![\w])({_MONTH_FULL}|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)(?:\s+([0-9]{{2}}|[0-9]{{4}}))?(?![\w])",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?<![\w/.:£$€,-])((?:19[5-9]|20[0-4])[0-9])(?![\w/:-]|\.[0-9])")
_STATUTE_BEFORE = re.compile(r"(?:\bAct|\bSOA|\bCJPOA|\bPACE|\bMDA|\bs\.?\s?[0-9]+)\s*$", re.I)
_TIME_CUE_BEFORE = re.compile(
    r"(?:\b(?:at|approx\.?|about|around|from|until|till|til|by|between|and|to|before|after|"
    r"since|circa|c\.|time:?|upd(?:ate)?:?|assigned|for)|@|(?<=[0-9\s])-|–|^)\s*$",
    re.IGNORECASE,
)
_NOT_TIME_BEFORE = re.compile(
    r"\b(?:pc|dc|ds|ps|di|pcso|unit|call|incident|site|ref|no\.?|cam(?:era)?|exhibit|room|bus|"
    r"route|cad|log|collar|badge|flat|number|tel|mob|mobile|phone|x)\s*:?\s*$",
    re.IGNORECASE,
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}


class DateParts:
    """What a date or time expression fixes: year, month, day, hour, minute."""

    __slots__ = ("day", "hour", "minute", "month", "year")

    def __init__(self) -> None:
        self.year: int | None = None
        self.month: int | None = None
        self.day: int | None = None
        self.hour: int | None = None
        self.minute: int | None = None

    def iso(self) -> str | None:
        """ISO 8601 text for what is known: ``2024-03-23T22:14``, ``--05-02``, ``22:14``."""
        date_part = None
        if self.year is not None and self.month is not None and self.day is not None:
            try:
                date_part = dt.date(self.year, self.month, self.day).isoformat()
            except ValueError:
                return None
        elif self.year is not None and self.month is not None:
            date_part = f"{self.year:04d}-{self.month:02d}"
        elif self.month is not None and self.day is not None:
            date_part = f"--{self.month:02d}-{self.day:02d}"
        elif self.year is not None:
            date_part = f"{self.year:04d}"
        time_part = None
        if self.hour is not None:
            time_part = f"{self.hour:02d}:{self.minute or 0:02d}"
        if date_part and time_part:
            return f"{date_part}T{time_part}"
        return date_part or time_part


def _year(text: str, pivot: int) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year <= pivot else 1900
    return year


def parse_date_parts(text: str, pivot: int = 30) -> DateParts:
    """Read the year, month, day, hour and minute a date-time expression gives.

    ``pivot``: two-digit years up to it are 20xx, later ones 19xx.

    >>> parse_date_parts("Sat 27/07/24 0120hrs").iso(), parse_date_parts("4 July 2001").iso()
    ('2024-07-27T01:20', '2001-07-04')
    """
    parts = DateParts()
    lowered = text.lower()
    if m := re.search(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", lowered):
        parts.year, parts.month, parts.day = int(m[1]), int(m[2]), int(m[3])
    elif m := re.search(
        r"(?<![0-9])([0-9]{1,2})[/.]([0-9]{1,2})[/.]([0-9]{4}|[0-9]{2})(?![0-9])", lowered
    ):
        parts.day, parts.month, parts.year = int(m[1]), int(m[2]), _year(m[3], pivot)
    elif m := re.search(r"(?<![0-9])([0-9]{1,2})/([0-9]{4}|[0-9]{2})(?![0-9/])", lowered):
        if int(m[1]) <= 12 and len(m[2]) == 4:
            parts.month, parts.year = int(m[1]), int(m[2])
        else:
            parts.day, parts.month = int(m[1]), int(m[2])
    elif m := re.search(r"(?<![0-9])([0-9]{1,2})/([0-9]{1,2})(?![0-9/])", lowered):
        parts.day, parts.month = int(m[1]), int(m[2])
    else:
        month = re.search(_MONTH, lowered)
        if month:
            parts.month = _MONTHS.get(month[0][:3])
            day = re.search(r"(?<![0-9])([0-9]{1,2})(?:st|nd|rd|th)?(?![0-9:.])", lowered)
            if day and not re.fullmatch(r"[0-9]{4}", day[0]):
                value = int(day[1])
                if 1 <= value <= 31:
                    parts.day = value
        year = re.search(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])", lowered)
        # A bare four-digit number is a year only beside a month or on its own (or in
        # "summer 2023"); beside a weekday (TUES 1900) it is a time.
        if year and (parts.month is not None or not re.search(_DAY, lowered)):
            parts.year = int(year[1])
    time_text = lowered
    if m := re.search(
        r"([0-9]{1,2})[/.]([0-9]{1,2})[/.]([0-9]{2,4})|[0-9]{4}-[0-9]{2}-[0-9]{2}", time_text
    ):
        time_text = time_text[: m.start()] + " " + time_text[m.end() :]
    if m := re.search(
        r"(?<![0-9])([0-9]{1,2})[:.]([0-9]{2})(?:[:.][0-9]{2})?\s?(am|pm)?", time_text
    ):
        hour = int(m[1])
        if m[3] == "pm" and hour < 12:
            hour += 12
        parts.hour, parts.minute = hour, int(m[2])
    elif m := re.search(r"(?<![0-9])([01][0-9]|2[0-3])([0-5][0-9])(?![0-9])", time_text):
        if not (parts.year and int(m[0]) == parts.year):
            parts.hour, parts.minute = int(m[1]), int(m[2])
    elif m := re.search(r"(?<![0-9])([0-9]{1,2})\s?(am|pm)", time_text):
        hour = int(m[1]) % 12 + (12 if m[2] == "pm" else 0)
        parts.hour, parts.minute = hour, 0
    return parts


def find_dates(text: str) -> Iterator[Span]:
    """Dates, times and date-times, deictic expressions (``yesterday``, ``last friday``),
    day and month names and years, valued in ISO 8601 where the text fixes them.

    A four-digit time (``0312``) counts at the start of a line, after a time word (at,
    approx, from, until, between...) or before ``hrs``; after PC, unit, call or ref it is
    a number, not a time.

    >>> text = "0312 RP states. Seen at 2230hrs on 12/03/2024; CALL 0457"
    >>> [(s.text, s.value) for s in find_dates(text)]
    [('0312', '03:12'), ('2230hrs on 12/03/2024', '2024-03-12T22:30')]
    """
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for hit in _DEICTIC_TIME.finditer(text):
        taken.append(hit.span())
        parts = parse_date_parts(hit[0])
        yield Span("datetime", hit.start(), hit.end(), hit[0], parts.iso(), rule="date_deictic")
    position = 0
    match: re.Match[str] | None
    while (match := _DATETIME.search(text, position)) is not None:
        position = match.end()
        raw = match[0].rstrip(" ,")
        start, end = match.start(), match.start() + len(raw)
        if not free(start, end):
            continue
        before = text[max(0, start - 25) : start]
        kind = match.lastgroup or "time"
        leading = re.match(r"[0-9]{4}(?![0-9/.:-])|[0-9]{1,2}[.][0-9]{2}(?![0-9])", raw)
        if (
            kind in ("time", "time_date")
            and leading is not None
            and not re.match(r"[0-9]{4}\s?(?:hrs|hours|h)\b", raw, re.I)
        ):
            # A bare number first: a time only after a time word or at a line's start.
            line_start = text.rfind("\n", 0, start) + 1
            at_line_start = not text[line_start:start].strip(" \t")
            if _NOT_TIME_BEFORE.search(before) or not (
                at_line_start or _TIME_CUE_BEFORE.search(before)
            ):
                position = start + 1
                continue
        if kind == "time" and _ONE_DIGIT_CLOCK.match(raw) and not _TIME_CUE_BEFORE.search(before):
            position = start + 1
            continue  # 0:14 in a video is an offset, not a time of day
        if kind == "date_time" and re.fullmatch(r"[0-9]{1,2}/[0-9]{1,2}", raw):
            day, month = (int(x) for x in raw.split("/"))
            if not (1 <= day <= 31 and 1 <= month <= 12):
                continue
        parts = parse_date_parts(raw)
        taken.append((start, end))
        yield Span("datetime", start, end, raw, parts.iso(), rule="date_" + kind)
    for match in _DEICTIC.finditer(text):
        if free(match.start(), match.end()):
            taken.append(match.span())
            raw = match[0]
            iso = None
            if re.fullmatch(r"(?:19|20)[0-9]0'?s", raw, re.IGNORECASE):
                iso = raw[:4]
            yield Span("datetime", match.start(), match.end(), raw, iso, rule="date_deictic")
    for match in _LONE_MONTH.finditer(text):
        if not free(match.start(), match.end()):
            continue
        word = match[1]
        if word.lower() in ("may", "march") and not (word[0].isupper() and match[2]):
            before = text[max(0, match.start() - 8) : match.start()].lower()
            if not (word[0].isupper() and re.search(r"\b(?:in|since|of|during|until)\s+$", before)):
                continue
        if word.islower() and len(word) <= 4:
            continue
        parts = DateParts()
        parts.month = _MONTHS.get(word[:3].lower())
        if match[2]:
            parts.year = _year(match[2], 30)
        taken.append(match.span())
        yield Span("datetime", match.start(), match.end(), match[0], parts.iso(), rule="month")
    for match in _YEAR.finditer(text):
        if not free(match.start(), match.end()):
            continue
        if _STATUTE_BEFORE.search(text[max(0, match.start() - 12) : match.start()]):
            continue
        taken.append(match.span())
        yield Span("datetime", match.start(), match.end(), match[0], match[1], rule="year")
