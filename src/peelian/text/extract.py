"""Extract entities and stated relations from free-text reports.

:class:`Extractor` runs the finders in an order where the most certain claim text first,
so later, looser rules never take what an earlier one found:

1. identifiers and numbers by pattern: phones, plates, full postcodes, money, dates and
   times, ages with a unit (:mod:`peelian.text.patterns`);
2. addresses (:mod:`peelian.text.addresses`) and organisations
   (:mod:`peelian.text.organisations`);
3. outward postcodes used as places (``LS7``);
4. person names (:mod:`peelian.text.persons`), using the hub's known people;
5. dates that are dates of birth (after ``DOB``/``born``, or beside a name) and bare ages
   beside a name (``Kyle (17)``);
6. drugs and weapons (:mod:`peelian.text.substances`);
7. relations stated between the spans (:mod:`peelian.text.relations`).

Where two candidates of one stage overlap, the longer wins. Spans never overlap.

>>> extractor = Extractor()
>>> found = extractor.extract("DP SMITH, John (17) stopped in YK18 DFE, tel 07700 900123.")
>>> [(s.type, s.text, s.value) for s in found.spans]  # doctest: +NORMALIZE_WHITESPACE
[('person', 'SMITH, John', None), ('age', '17', 17), ('vrm', 'YK18 DFE', 'YK18DFE'),
 ('phone', '07700 900123', '+447700900123')]
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Any

from peelian.standardise.addresses import parse_address
from peelian.text.addresses import AddressFinder
from peelian.text.known import KnownNames, KnownPerson, as_known_person
from peelian.text.lexicon import lexicon, phrase_keys
from peelian.text.organisations import OrganisationFinder
from peelian.text.patterns import (
    find_ages,
    find_dates,
    find_money,
    find_outward_codes,
    find_phones,
    find_postcodes,
    find_vrms,
    parse_date_parts,
)
from peelian.text.persons import PersonFinder
from peelian.text.relations import find_relations
from peelian.text.spans import Extraction, Span
from peelian.text.substances import SubstanceFinder
from peelian.text.tokens import Token, tokenize

__all__ = ["Extractor"]

_FIRST_STAGE_ORDER = {"phone": 0, "vrm": 1, "postcode": 2, "money": 3, "datetime": 4, "age": 5}
_DOB_CUE = re.compile(
    r"(?:\bDOB|\bD\.O\.B\.?|\bd\.o\.b\.?|\bborn(?:\s+on)?|\bb\.|date of birth)"
    r"\s*[:\-]?\s*[(,]?\s*$",
    re.IGNORECASE,
)
# Words allowed between a name and its date of birth: "Kyle BARRETT (aka "KB", 11/02/1994)".
_GAP_WORDS = frozenset(
    [
        "aka",
        "a.k.a",
        "prefers",
        "known",
        "as",
        "goes",
        "by",
        "dob",
        "d.o.b",
        "b",
        "born",
        "jnr",
        "snr",
        "junior",
        "senior",
        "the",
        "older",
        "younger",
        "one",
        "aged",
        "age",
        "male",
        "female",
        "m",
        "f",
        "and",
        "also",
    ]
)
_AGE_AFTER = re.compile(
    r"\s*(?:\(|,)?\s*(?:aged?\s+|approx\.?\s+)?(?P<age>[0-9]{1,3})"
    r"(?=\s*(?:\)|,|;|\s-|\s\(|\.(?:\s|$)|\s+(?:booked|arrested|of|from|and|who|lives|is|was)\b"
    r"|\s+[A-Z]{2,}\b|$))"
)
_PAREN_AGE = re.compile(
    r"\s*\((?P<inner>[^()\n]{1,40}?),\s*(?:approx\.?\s+|about\s+|aged\s+)?(?P<age>[0-9]{1,3})\)",
    re.IGNORECASE,
)
_MIN_AGE_AT_DOB = 8


class Extractor:
    """Extracts spans and relations from report text.

    ``known_people``: the people the hub knows, as :class:`~peelian.text.known.KnownPerson`
    objects or tuples ``(entity_id, forenames, surname, aliases, dob, phones, vrms,
    postcodes[, addresses])``; their names, aliases, streets and postcode areas join the
    gazetteers. ``today`` fixes the date plates and dates of birth are judged against
    (default: the current date).

    One extractor is built once and reused: :meth:`extract` is a pure function of the
    text, safe to call per document inside an Arrow batch loop.
    """

    def __init__(
        self,
        known_people: Iterable[KnownPerson | tuple[Any, ...]] = (),
        *,
        today: dt.date | None = None,
    ) -> None:
        self.lexicon = lexicon()
        self.people: list[KnownPerson] = [as_known_person(p) for p in known_people]
        self.known = KnownNames(self.people)
        self.today = today or dt.date.today()
        streets: set[str] = set()
        places: set[str] = set()
        for person in self.people:
            for parts in person.address_keys:
                for name in parts[2:]:
                    if name:
                        streets.add(" ".join(phrase_keys(name)))
            for address in person.addresses:
                parsed = parse_address(address)
                places.update(p for p in (parsed.locality, parsed.town) if p)
        self.areas = self.lexicon.postcode_areas | frozenset(self.known.postcode_areas)
        self.persons = PersonFinder(self.lexicon, self.known)
        self.addresses = AddressFinder(self.lexicon, frozenset(streets), places)
        self.organisations = OrganisationFinder(self.lexicon)
        self.substances = SubstanceFinder(self.lexicon)

    def extract(self, text: str, *, report_date: dt.date | None = None) -> Extraction:
        """Every span and stated relation in ``text``.

        ``report_date`` (when known) is the date the report was written: a date of birth
        must be at least eight years before it. Without it the latest date in the text,
        or today, is used.
        """
        tokens = tokenize(text)
        chosen: list[Span] = []
        claimed = [False] * len(tokens)

        def accept(candidates: Iterable[Span], order: dict[str, int] | None = None) -> list[Span]:
            ranked = sorted(
                candidates,
                key=lambda s: (-(s.end - s.start), (order or {}).get(s.type, 9), s.start),
            )
            kept: list[Span] = []
            for span in ranked:
                if any(span.start < c.end and c.start < span.end for c in chosen):
                    continue
                chosen.append(span)
                kept.append(span)
            _claim(tokens, claimed, kept)
            return kept

        first: list[Span] = []
        first += find_phones(text)
        first += find_vrms(text, today=self.today)
        first += find_postcodes(text)
        first += find_money(text)
        first += find_dates(text)
        first += find_ages(text)
        accept(first, _FIRST_STAGE_ORDER)
        accept(self.addresses.find(text, tokens, claimed))
        accept(self.organisations.find(text, tokens, claimed))
        accept(find_outward_codes(text, self.areas))
        people = accept(self.persons.find(text, tokens, claimed))
        people.sort(key=lambda s: s.start)
        chosen = self._dates_of_birth(text, chosen, people, report_date)
        accept(self._ages_beside_names(text, people, chosen))
        accept(self.substances.find(text, tokens, claimed))
        spans = tuple(sorted(chosen, key=lambda s: s.start))
        relations = tuple(find_relations(text, spans))
        return Extraction(text, spans, relations)

    # --- dates of birth and ages -------------------------------------------------------

    def _dates_of_birth(
        self,
        text: str,
        spans: list[Span],
        people: Sequence[Span],
        report_date: dt.date | None,
    ) -> list[Span]:
        """Turn the date-time spans that are dates of birth into ``dob`` spans."""
        out: list[Span] = []
        event_years = [
            int(str(s.value)[:4])
            for s in spans
            if s.type == "datetime"
            and isinstance(s.value, str)
            and re.match(r"[0-9]{4}-", s.value)
            and not _DOB_CUE.search(text[max(0, s.start - 16) : s.start])
            and not _after_person(text, s, people)
        ]
        if report_date is not None:
            reference = report_date.year
        else:
            reference = max(event_years) if event_years else self.today.year
        for span in spans:
            if span.type != "datetime" or not _date_like(span.text):
                out.append(span)
                continue
            parts = parse_date_parts(span.text, pivot=reference % 100)
            if parts.year is None or parts.hour is not None:
                out.append(span)
                continue
            cue = bool(_DOB_CUE.search(text[max(0, span.start - 16) : span.start]))
            bracketed = re.search(r"\(\s*$", text[max(0, span.start - 3) : span.start]) is not None
            old_enough = parts.year <= reference - _MIN_AGE_AT_DOB or (
                bracketed and parts.year < reference
            )
            full = parts.day is not None and parts.month is not None
            beside = _after_person(text, span, people)
            before_name = _year_before_name(text, span, people)
            if cue or (old_enough and (beside or before_name) and (full or beside != "loose")):
                out.append(Span("dob", span.start, span.end, span.text, parts.iso(), rule="dob"))
            else:
                out.append(span)
        return out

    def _ages_beside_names(
        self, text: str, people: Sequence[Span], chosen: Sequence[Span]
    ) -> list[Span]:
        """Bare numbers right after a name: ``Kyle (17)``, ``LEON BROWN, 16,``, ``(Albanian
        national, 29)``, also after a quoted alias or a date of birth."""
        found: list[Span] = []
        starts = {s.start: s for s in chosen}
        for person in people:
            position = person.end
            # Skip a quoted alias and a date of birth that follow the name.
            for _ in range(3):
                rest = text[position : position + 40]
                quote = re.match(r"\s*\(?\s*[\"“'][^\"”'\n]{1,25}[\"”']\)?", rest)
                if quote:
                    position += quote.end()
                    continue
                dob = re.match(r"\s*(?:DOB|D\.O\.B\.?|b\.)?\s*", rest, re.IGNORECASE)
                after = position + (dob.end() if dob else 0)
                if after in starts and starts[after].type == "dob":
                    position = starts[after].end
                    continue
                break
            rest = text[position : position + 60]
            closing = re.match(r"[\"”’']", rest)
            if closing:
                position += closing.end()
                rest = rest[closing.end() :]
            match = _AGE_AFTER.match(rest) or _PAREN_AGE.match(rest)
            if match is None:
                continue
            start, end = position + match.start("age"), position + match.end("age")
            if any(c.start < end and start < c.end for c in chosen):
                continue
            value = int(match["age"])
            if 0 < value <= 110:
                found.append(
                    Span("age", start, end, text[start:end], value, None, "years", "age_name")
                )
        return found


def _claim(tokens: Sequence[Token], claimed: list[bool], spans: Iterable[Span]) -> None:
    """Mark the tokens that overlap ``spans``."""
    ends = [t.end for t in tokens]
    for span in spans:
        k = bisect.bisect_right(ends, span.start)
        while k < len(tokens) and tokens[k].start < span.end:
            claimed[k] = True
            k += 1


def _date_like(text: str) -> bool:
    """A date with a year in it (not a bare time, weekday or month)."""
    if re.search(r"[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{2}", text):
        return True
    return parse_date_parts(text).year is not None and bool(re.search(r"(?:19|20)[0-9]{2}", text))


def _gap_ok(gap: str) -> bool:
    if "\n" in gap or len(gap) > 60:
        return False
    gap = re.sub(r"[\"“'][^\"”'\n]{0,25}[\"”']", " ", gap)
    words = re.findall(r"[A-Za-z.]+", gap)
    return all(w.lower().strip(".") in _GAP_WORDS or w.lower() in _GAP_WORDS for w in words)


def _after_person(text: str, span: Span, people: Sequence[Span]) -> str | None:
    """``"tight"`` when the date follows a name with nothing but punctuation, a quoted alias
    or a few words such as aka between them; ``"loose"`` when it sits inside parentheses
    that open straight after a name; else ``None``."""
    before = [p for p in people if p.end <= span.start]
    if not before:
        return None
    person = before[-1]
    gap = text[person.end : span.start]
    if _gap_ok(re.sub(r"[0-9]{1,3}", " ", gap)):
        return "tight" if "(" not in gap or gap.strip().startswith("(") else "loose"
    if gap.lstrip().startswith("(") and ")" not in gap and "\n" not in gap and len(gap) < 60:
        return "loose"
    return None


def _year_before_name(text: str, span: Span, people: Sequence[Span]) -> bool:
    """``the 1976 Mohammed ALI``: a year just before a name, after ``the``."""
    after = [p for p in people if p.start >= span.end]
    if not after:
        return False
    gap = text[span.end : after[0].start]
    return not gap.strip() and bool(
        re.search(r"\bthe\s+$", text[max(0, span.start - 5) : span.start], re.I)
    )
