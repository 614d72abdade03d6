"""Link extracted mentions to the people the hub knows, with a confidence.

A person span is compared with candidate people found through a :class:`PeopleIndex`
(surname words, their sound-alike keys and one-typo variants, formal forenames and
nicknames, aliases). Each candidate gets a score, a sum of weights of evidence:

- the name: full name, forename or nickname with surname, initial with surname, surname
  alone (stronger when no one else has it), forename alone, alias; a typo or a sound-alike
  spelling counts a little less than an exact match, and a forename that disagrees counts
  against;
- the context in the same report: a date of birth or an age written beside the name that
  agrees (for) or disagrees (strongly against); the candidate's phone, plate, postcode or
  address in the report, more when a stated relation ties it to this name; a place next to
  the name that is in the candidate's address; ``Snr``/``Jnr`` after the name;
- the other mentions of the same person: a shorter mention (``BARRETT``, ``Kyle``), a
  quoted alias right after a name and the full mention it repeats are linked together,
  with the context of all of them.

Scores become a confidence by a softmax over the candidates and a "someone else" option
(a person the hub does not know), so two people with the same name and no context to
tell them apart share the confidence and neither reaches the threshold: the mention is not
linked. Phone, plate and address spans are linked to the person who holds that value,
when that is one person or the person named in the report.

>>> from peelian.text.extract import Extractor
>>> people = [
...     ("N1", "Jordan", "SMITH", "", "1998-07-14"),
...     ("N2", "Jordan", "SMITH", "", "2006-03-02"),
... ]
>>> text = "Keeper Jordan SMITH (14/07/1998). Seen with a Jordan SMITH."
>>> links = link_mentions(Extractor(people).extract(text), PeopleIndex(people))
>>> [(link.entity_id, round(link.confidence, 2)) for link in links]
[('N1', 1.0), (None, 0.45)]

The second mention has no context to tell the two Jordan SMITHs apart: it is not linked.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jellyfish

from peelian.standardise.names import formal_forenames as _formal_forenames
from peelian.standardise.names import phonetic_key as _phonetic_key
from peelian.text.known import KnownPerson, address_parts, as_known_person, same_address
from peelian.text.lexicon import lexicon, phrase_keys
from peelian.text.spans import Extraction, Span

__all__ = ["Link", "PeopleIndex", "link_mentions"]

DEFAULT_THRESHOLD = 0.5
# The "someone the hub does not know" option scores as a surname alone plus a little: a
# name alone must beat it clearly.
_NULL_SCORE = 2.5
_MAX_CANDIDATES = 200

W_FULL = 4.0
W_NICK_FULL = 3.0
W_TYPO_FULL = 3.0
W_INITIAL = 2.5
W_SURNAME = 1.5
W_UNIQUE_SURNAME = 1.5
W_FORENAME = 1.0
W_ALIAS = 3.0
W_FORENAME_CLASH = -3.5
W_DOB_MATCH = 5.0
W_DOB_CLASH = -7.0
W_YEAR_MATCH = 2.0
W_AGE_MATCH = 2.0
W_AGE_CLASH = -4.0
W_YEAR_CLASH = -6.0
W_VALUE_RELATED = 3.0
W_VALUE_IN_REPORT = 1.5
W_IN_REPORT_CAP = 2.0
W_PLACE = 1.0
W_GENERATION = 2.5
W_ALIAS_IS_NAME = 1.5
W_FORENAME_ALIAS = 1.0
W_FAMILY_SURNAME = 2.5
W_PARTNER_SURNAME = 1.5


@dataclass(frozen=True, slots=True)
class Link:
    """The link of one span (an index into ``Extraction.spans``) to a known entity.

    ``entity_id`` is ``None`` when no candidate reaches the threshold; ``confidence`` is
    that of the best candidate either way, and ``candidates`` the best few with theirs.
    """

    span: int
    entity_id: str | None
    confidence: float
    candidates: tuple[tuple[str, float], ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Name:
    """What a person mention says: forename words, surname words, initials, nicknames."""

    forenames: tuple[str, ...]
    surname: tuple[str, ...]
    initials: tuple[str, ...]
    nicknames: tuple[str, ...]
    whole: tuple[str, ...]
    surname_initial: str | None = None


_QUOTED = re.compile(r"[\"“”‘’']([^\"“”‘’']{1,30})[\"“”‘’']")
_HANDLE = re.compile(r"@?[A-Za-z0-9]+(?:[._][A-Za-z0-9]+)+")


@functools.lru_cache(maxsize=1 << 16)
def formal_forenames(word: str) -> tuple[str, ...]:
    """Formal forenames a word may stand for (cached: linking asks for the same words)."""
    return _formal_forenames(word)


@functools.lru_cache(maxsize=1 << 16)
def phonetic_key(word: str) -> str:
    """Sound-alike key of a word (cached)."""
    return _phonetic_key(word)


def _compact(text: str) -> str:
    """Letters and digits only, upper case: ``M-Dot`` and ``mdot`` compare equal."""
    return "".join(c for c in text.upper() if c.isalnum())


def parse_mention(text: str) -> _Name:
    """Split a person mention into its parts.

    >>> parse_mention('Robert "Bobby" FLETCHER').nicknames
    ('BOBBY',)
    >>> parse_mention("CAMPBELL, Tyrell").surname
    ('CAMPBELL',)
    """
    if _HANDLE.fullmatch(text.strip()):
        # A social-media handle: its parts may be an alias or a name (mdot.x, lenny_b).
        parts = tuple(p.upper() for p in re.split(r"[._]+", text.strip().lstrip("@")) if p)
        joined = tuple("".join(parts[:k]) for k in range(2, len(parts)))
        return _Name(
            (), (), (), tuple(p for p in (*parts, *joined) if p.isalpha()), (_compact(text),)
        )
    nicknames = tuple(k for m in _QUOTED.finditer(text) for k in phrase_keys(m[1]))
    bare = _QUOTED.sub(" ", text)
    whole = tuple(k for k in phrase_keys(bare) if k not in (",", ".", "'S"))
    if "," in bare:
        surname_text, _, forename_text = bare.partition(",")
        surname = tuple(k for k in phrase_keys(surname_text) if k[0].isalpha())
        forenames = tuple(k for k in phrase_keys(forename_text) if k[0].isalpha())
    else:
        words = [w for w in re.split(r"\s+", bare.strip()) if w and any(c.isalpha() for c in w)]
        upper = [w.isupper() and len(w.strip(".")) > 1 for w in words]
        mixed = any(upper) and not all(upper)
        if len(words) <= 1:
            return _Name((), (), (), nicknames, whole)
        if mixed and upper[0] and not upper[-1]:
            # HARTLEY James: surname in capitals first.
            split = upper.index(False)
            surname_words, forename_words = words[:split], words[split:]
        elif mixed:
            split = next(k for k in range(len(words)) if upper[k] and all(upper[k:]))
            forename_words, surname_words = words[:split], words[split:]
        else:
            forename_words, surname_words = words[:-1], words[-1:]
        surname = tuple(k for w in surname_words for k in phrase_keys(w) if k[0].isalpha())
        forenames = tuple(k for w in forename_words for k in phrase_keys(w) if k[0].isalpha())
    initials = tuple(f for f in forenames if len(f) == 1)
    forenames = tuple(f for f in forenames if len(f) > 1)
    if len(surname) == 1 and len(surname[0]) == 1 and forenames:
        # Bobby F: a forename and the initial of the surname.
        return _Name(forenames, (), (), nicknames, whole, surname_initial=surname[0])
    return _Name(forenames, surname, initials, nicknames, whole)


def _deletions(word: str) -> set[str]:
    return {word[:k] + word[k + 1 :] for k in range(len(word))} | {word}


class PeopleIndex:
    """Known people indexed for finding candidates by name, alias and held values."""

    def __init__(self, people: Iterable[KnownPerson | tuple[Any, ...]]) -> None:
        self.people: dict[str, KnownPerson] = {}
        self.by_surname: dict[str, set[str]] = defaultdict(set)
        self.by_phonetic: dict[str, set[str]] = defaultdict(set)
        self.by_deletion: dict[str, set[str]] = defaultdict(set)
        self.by_forename: dict[str, set[str]] = defaultdict(set)
        self.by_alias: dict[tuple[str, ...], set[str]] = defaultdict(set)
        self.by_alias_compact: dict[str, set[str]] = defaultdict(set)
        self.by_phone: dict[str, set[str]] = defaultdict(set)
        self.by_vrm: dict[str, set[str]] = defaultdict(set)
        self.by_postcode: dict[str, set[str]] = defaultdict(set)
        self.by_street: dict[str, set[str]] = defaultdict(set)
        self.surnames_of: dict[str, tuple[str, ...]] = {}
        self.forenames_of: dict[str, tuple[str, ...]] = {}
        self.formal_of: dict[str, set[str]] = {}
        self.aliases_of: dict[str, set[tuple[str, ...]]] = {}
        self.place_words_of: dict[str, set[str]] = {}
        lex = lexicon()
        # Aliases that are full forenames (Danny, Katie) are shared by many people; a
        # diminutive (Harv, Tomek) or a street name (K-Dog) is more personal.
        self.name_words = lex.formal_forenames | lex.surnames
        for raw in people:
            person = as_known_person(raw)
            pid = person.entity_id
            self.people[pid] = person
            surname = tuple(k for k in phrase_keys(person.surname) if k[0].isalpha())
            forenames = tuple(k for k in phrase_keys(person.forenames) if k[0].isalpha())
            self.surnames_of[pid] = surname
            self.forenames_of[pid] = forenames
            for word in _surname_words(surname):
                self.by_surname[word].add(pid)
                self.by_phonetic[phonetic_key(word)].add(pid)
                if len(word) >= 4:
                    for variant in _deletions(word):
                        self.by_deletion[variant].add(pid)
            formal: set[str] = set()
            for word in forenames[:1]:
                formal.update(formal_forenames(word))
                formal.add(word)
            self.formal_of[pid] = formal
            for word in formal | set(forenames):
                self.by_forename[word].add(pid)
            aliases = {phrase_keys(a) for a in person.aliases if a}
            self.aliases_of[pid] = {a for a in aliases if a}
            for alias in self.aliases_of[pid]:
                self.by_alias[alias].add(pid)
                self.by_alias_compact[_compact("".join(alias))].add(pid)
                for word in formal_forenames(alias[0]) if len(alias) == 1 else ():
                    self.by_forename[word].add(pid)
            for phone in person.phone_keys:
                self.by_phone[phone].add(pid)
            for vrm in person.vrm_keys:
                self.by_vrm[vrm].add(pid)
            for postcode in person.postcode_keys:
                self.by_postcode[postcode].add(pid)
            words: set[str] = set()
            for parts in person.address_keys:
                for name in parts[2:]:
                    if name:
                        self.by_street[name].add(pid)
            for address in person.addresses:
                words.update(k for k in phrase_keys(address) if k.isalpha() and len(k) > 2)
            self.place_words_of[pid] = words - set(lexicon().street_types) - set(lexicon().common)

    def __len__(self) -> int:
        return len(self.people)

    def candidates(self, name: _Name) -> set[str]:
        """People who may be meant by a mention (found by any name key)."""
        found: set[str] = set()
        for word in _surname_words(name.surname):
            found |= self.by_surname.get(word, set())
            found |= self.by_phonetic.get(phonetic_key(word), set())
            if len(word) >= 4:
                for variant in _deletions(word):
                    found |= self.by_deletion.get(variant, set())
        if not name.surname:
            for word in name.whole[:1]:
                found |= self.by_surname.get(word, set())
                for formal in formal_forenames(word):
                    found |= self.by_forename.get(formal, set())
        for alias in (name.whole, *((n,) for n in name.nicknames)):
            found |= self.by_alias.get(alias, set())
            found |= self.by_alias_compact.get(_compact("".join(alias)), set())
        if name.surname_initial and name.forenames:
            for formal in formal_forenames(name.forenames[0]):
                found |= {
                    p
                    for p in self.by_forename.get(formal, set())
                    if self.surnames_of[p][:1] and self.surnames_of[p][0][0] == name.surname_initial
                }
        if len(found) > _MAX_CANDIDATES and name.forenames:
            wanted = {f for word in name.forenames[:1] for f in formal_forenames(word)}
            found = {p for p in found if self.formal_of[p] & wanted}
        return found


def _surname_words(surname: Sequence[str]) -> list[str]:
    words: list[str] = []
    for word in surname:
        words.append(word)
        words.extend(part for part in word.split("-") if len(part) > 2 and part != word)
    return words


@functools.lru_cache(maxsize=1 << 18)
def _close(a: str, b: str) -> bool:
    """One keystroke apart, or sounding alike (for words of four letters or more)."""
    if a == b:
        return True
    if min(len(a), len(b)) < 4:
        return False
    if jellyfish.damerau_levenshtein_distance(a, b) <= 1:
        return True
    return phonetic_key(a) == phonetic_key(b) and jellyfish.jaro_winkler_similarity(a, b) > 0.85


def _name_score(index: PeopleIndex, pid: str, name: _Name) -> tuple[float, list[str]]:
    sur = index.surnames_of[pid]
    fore = index.forenames_of[pid]
    formal = index.formal_of[pid]
    reasons: list[str] = []
    aliases = index.aliases_of[pid]
    compact_aliases = {_compact("".join(a)) for a in aliases}
    said = [name.whole, *((n,) for n in name.nicknames)]
    hit = next((a for a in said if a in aliases or _compact("".join(a)) in compact_aliases), None)
    alias_score = 0.0
    if hit is not None:
        # A recorded alias that is only a forename or nickname (Danny, Billy) says
        # little more than a forename; a street name (K-Dog, Bandz) says much more.
        if len(hit) == 1 and hit[0] in index.name_words:
            alias_score = W_ALIAS_IS_NAME
            reasons.append("alias (a common forename)")
        else:
            alias_score = W_ALIAS
            reasons.append("alias")
    if name.surname_initial and name.forenames:
        first = name.forenames[0]
        if (
            sur[:1]
            and sur[0][0] == name.surname_initial
            and (first in fore or set(formal_forenames(first)) & formal or (first,) in aliases)
        ):
            reasons.append("forename and surname initial")
            return max(W_INITIAL, alias_score), reasons
        return alias_score, reasons
    if not name.surname and not name.forenames:
        # One word: a surname, a forename or nickname, or an alias.
        if not name.whole:
            return alias_score, reasons
        word = name.whole[0]
        if alias_score:
            return alias_score, reasons
        if len(name.whole) == 1 and word in _surname_words(sur):
            unique = len(index.by_surname.get(word, ())) == 1
            reasons.append("surname" + (" (unique)" if unique else ""))
            return W_SURNAME + (W_UNIQUE_SURNAME if unique else 0.0), reasons
        if len(name.whole) == 1 and (word in fore or set(formal_forenames(word)) & formal):
            reasons.append("forename")
            return W_FORENAME, reasons
        return 0.0, reasons
    surname_words = _surname_words(sur)
    surname_exact = bool(name.surname) and all(w in surname_words for w in name.surname)
    surname_close = surname_exact or (
        bool(name.surname) and all(any(_close(w, s) for s in surname_words) for w in name.surname)
    )
    if not surname_close:
        return alias_score, reasons
    score = 0.0
    if name.forenames:
        first = name.forenames[0]
        wanted = set(formal_forenames(first)) | {first}
        nick_ok = bool(set(name.nicknames) & ({*fore} | formal)) or any(
            set(formal_forenames(n)) & formal for n in name.nicknames
        )
        if (first,) in aliases and first not in fore:
            # Mikey O'NEILL: the forename written is this person's recorded alias.
            score = (W_NICK_FULL if surname_exact else W_TYPO_FULL - 0.5) + W_FORENAME_ALIAS
            reasons.append("recorded alias and surname")
        elif first in fore:
            score = W_FULL if surname_exact else W_TYPO_FULL
            reasons.append("full name" if surname_exact else "full name, surname spelt differently")
        elif wanted & formal or nick_ok:
            score = W_NICK_FULL if surname_exact else W_TYPO_FULL - 0.5
            reasons.append("nickname and surname")
        elif fore and any(_close(first, f) for f in fore):
            score = W_TYPO_FULL if surname_exact else W_TYPO_FULL - 1.0
            reasons.append("forename spelt differently")
        else:
            reasons.append("forename differs")
            score = (W_SURNAME if surname_exact else 0.5) + W_FORENAME_CLASH
    elif name.initials:
        if fore and fore[0][0] == name.initials[0]:
            score = W_INITIAL if surname_exact else W_INITIAL - 1.0
            reasons.append("initial and surname")
        else:
            score = W_SURNAME + W_FORENAME_CLASH
            reasons.append("initial differs")
    else:
        unique = len(index.by_surname.get(name.surname[0], ())) == 1
        score = W_SURNAME + (W_UNIQUE_SURNAME if unique and surname_exact else 0.0)
        reasons.append("surname")
    return max(score, alias_score), reasons


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass
class _Context:
    """What the report says around one cluster of mentions of the same person."""

    dobs: list[Span]
    ages: list[Span]
    related: dict[str, list[Span]]
    places: set[str]
    generation: set[str]
    kin_surnames: dict[str, float] = field(default_factory=dict)


def _report_day(extraction: Extraction, report_date: dt.date | None) -> dt.date | None:
    if report_date is not None:
        return report_date
    days = []
    for span in extraction.spans:
        if span.type == "datetime" and isinstance(span.value, str):
            try:
                days.append(dt.date.fromisoformat(span.value[:10]))
            except ValueError:
                continue
    return max(days) if days else None


def _context_score(
    index: PeopleIndex,
    pid: str,
    context: _Context,
    report_values: dict[str, set[str]],
    report_addresses: list[tuple[Any, ...]],
    day: dt.date | None,
) -> tuple[float, list[str]]:
    person = index.people[pid]
    score = 0.0
    reasons: list[str] = []
    birth = person.birth
    for dob in context.dobs:
        value = str(dob.value or "")
        if birth is None or not value:
            continue
        if len(value) == 10:
            if value == birth.isoformat():
                score += W_DOB_MATCH
                reasons.append("date of birth agrees")
            elif (
                value[:4] == str(birth.year)
                and value[5:7] == f"{birth.day:02d}"
                and value[8:] == f"{birth.month:02d}"
            ):
                score += W_YEAR_MATCH
                reasons.append("date of birth agrees with day and month swapped")
            else:
                score += W_DOB_CLASH
                reasons.append("date of birth differs")
        elif value[:4] == str(birth.year) and (
            len(value) == 4 or value[5:7] == f"{birth.month:02d}"
        ):
            score += W_YEAR_MATCH
            reasons.append("year of birth agrees")
        else:
            score += W_YEAR_CLASH
            reasons.append("year of birth differs")
    if birth is not None:
        for age in context.ages:
            if not isinstance(age.value, int):
                continue
            low = age.value
            high = int(age.value_max) if age.value_max is not None else low
            if day is not None:
                actual = _age_on(birth, day)
                lo, hi = actual, actual
            else:
                # No date in the report: allow the last few years.
                lo, hi = _age_on(birth, dt.date.today()) - 4, _age_on(birth, dt.date.today())
            if low - 1 <= hi and lo <= high + 1:
                score += W_AGE_MATCH
                reasons.append("age agrees")
            elif low - 3 > hi or lo > high + 3:
                score += W_AGE_CLASH
                reasons.append("age differs")
    held = {
        "phone": person.phone_keys,
        "vrm": person.vrm_keys,
        "postcode": person.postcode_keys,
    }
    in_report = 0.0
    for kind, values in held.items():
        related = {str(s.value) for s in context.related.get(kind, [])}
        if values & related:
            score += W_VALUE_RELATED
            reasons.append(f"{kind} on record, stated as theirs")
        elif values & report_values.get(kind, set()):
            in_report += W_VALUE_IN_REPORT
            reasons.append(f"{kind} on record in the report")
        elif kind == "postcode":
            districts = {v.split(" ")[0] for v in values}
            if districts & report_values.get("district", set()):
                in_report += W_PLACE
                reasons.append("postcode district in the report")
    related_addresses = [address_parts(s.text) for s in context.related.get("address", [])]
    for parts in person.address_keys:
        if any(p and same_address(parts, p) for p in related_addresses):
            score += W_VALUE_RELATED
            reasons.append("address on record, stated as theirs")
            break
        if any(p and same_address(parts, p) for p in report_addresses):
            in_report += W_VALUE_IN_REPORT
            reasons.append("address on record in the report")
            break
    score += min(in_report, W_IN_REPORT_CAP)
    if context.kin_surnames:
        bonus = max((context.kin_surnames.get(w, 0.0) for w in index.surnames_of[pid]), default=0.0)
        if bonus:
            score += bonus
            reasons.append("shares the surname of a relative named in the report")
    if context.places & index.place_words_of[pid]:
        score += W_PLACE
        reasons.append("place beside the name in their address")
    if context.generation:
        aliases = " ".join(" ".join(a) for a in index.aliases_of[pid])
        if any(g in aliases for g in context.generation):
            score += W_GENERATION
            reasons.append("Snr/Jnr as on record")
    return score, reasons


_GENERATIONS = {
    "SNR": "SNR",
    "SR": "SNR",
    "SENIOR": "SNR",
    "JNR": "JNR",
    "JR": "JNR",
    "JUNIOR": "JNR",
}


_ALIAS_GAP = re.compile(
    r"\s*[,(]?\s*(?:\((?:[^()\n]{0,20})\)\s*)?(?:(?:aka|a\.k\.a\.?|known as|goes by|who goes by|"
    r"prefers|also)?\s*[\"“'‘(]|aka|a\.k\.a\.?|known as|goes by)\s*",
    re.IGNORECASE,
)


def _clusters(extraction: Extraction, names: dict[int, _Name]) -> dict[int, int]:
    """Each person span to the mention it repeats: a quoted alias to the name it follows,
    a shorter mention (``BARRETT``, ``Kyle``) to the last full mention before it that
    contains its words."""
    spans = extraction.spans
    text = extraction.text
    root: dict[int, int] = {}
    ordered = sorted(names)
    for a, b in itertools.pairwise(ordered):
        gap = text[spans[a].end : spans[b].start]
        between = [k for k in range(a + 1, b) if spans[k].type not in ("age", "dob")]
        if not between and len(gap) <= 30 and _ALIAS_GAP.fullmatch(gap) and gap[:1] not in "\"”’'":
            root[b] = root.get(a, a)
    full = [i for i, n in names.items() if n.surname and (n.forenames or n.initials)]
    for i, name in names.items():
        if i in full or i in root:
            continue
        matches = [j for j in full if _repeats(name, names[j], exact=True)] or [
            j for j in full if _repeats(name, names[j], exact=False)
        ]
        before = [j for j in matches if j < i]
        # A full name later in the report ("her ex Liam ... Liam WALSH") unless the text
        # says it may be someone else ("do NOT confuse with Kyle BARRETT").
        after = [
            j
            for j in matches
            if j > i
            and names[j].forenames[:1] == name.whole[:1]
            and not _DISTANCING.search(text[max(0, spans[j].start - 40) : spans[j].start])
        ]
        if before:
            root[i] = root.get(before[-1], before[-1])
        elif after:
            root[i] = after[0]
    return root


_DISTANCING = re.compile(
    r"\b(?:not|no\s+link|confuse[sd]?|may\s+be|might\s+be|possibly|unconfirmed|different)\b",
    re.IGNORECASE,
)


def _repeats(short: _Name, full: _Name, *, exact: bool) -> bool:
    """Whether a mention's words are all in a fuller mention, or (not ``exact``) it is a
    nickname of its forename (``SEUN`` repeats ``OLUWASEUN ADEBAYO``)."""
    keys = set(short.whole) | set(short.nicknames)
    if not keys:
        return False
    words = set(full.whole) | set(full.nicknames)
    if keys <= words:
        return True
    if exact:
        return False
    if len(short.whole) == 1 and full.forenames:
        formal = set(formal_forenames(full.forenames[0])) | {full.forenames[0]}
        return bool(set(formal_forenames(short.whole[0])) & formal)
    return False


def link_mentions(
    extraction: Extraction,
    people: PeopleIndex,
    *,
    report_date: dt.date | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Link]:
    """Links for the person, phone, plate and address spans of one extraction.

    ``people`` holds the candidates (the whole hub, or those the hub pre-selected for this
    document). Returns one :class:`Link` per person, phone, vrm and address span, in span
    order.
    """
    spans = extraction.spans
    names = {i: parse_mention(s.text) for i, s in enumerate(spans) if s.type == "person"}
    root = _clusters(extraction, names)
    members: dict[int, list[int]] = defaultdict(list)
    for i in names:
        members[root.get(i, i)].append(i)
    related_of: dict[int, dict[str, list[Span]]] = defaultdict(lambda: defaultdict(list))
    kin_of: dict[int, list[tuple[str, int]]] = defaultdict(list)
    owned: dict[int, int] = {}
    for rel in extraction.relations:
        if rel.head not in names:
            continue
        head = root.get(rel.head, rel.head)
        tail = spans[rel.tail]
        related_of[head][tail.type].append(tail)
        owned.setdefault(rel.tail, head)
        if rel.tail in names and rel.type in ("family_of", "partner_of"):
            other = root.get(rel.tail, rel.tail)
            kin_of[head].append((rel.type, other))
            kin_of[other].append((rel.type, head))
    day = _report_day(extraction, report_date)
    decisions: dict[int, Link] = {}

    def decide(cluster: int, kin_surnames: dict[str, float]) -> Link:
        values, addresses = _report_evidence(spans, owned, cluster)
        context = _cluster_context(extraction, members[cluster], related_of.get(cluster, {}))
        context.kin_surnames = kin_surnames
        return _decide(
            people, [names[m] for m in members[cluster]], context, values, addresses, day, threshold
        )

    for cluster in members:
        decisions[cluster] = decide(cluster, {})
    # A second pass: a relative or partner of a linked person probably shares their
    # surname ("his brother Dominik", "Stacey's dad Gary").
    for cluster, kin in kin_of.items():
        if decisions[cluster].entity_id is not None:
            continue
        surnames: dict[str, float] = {}
        for kind, other in kin:
            linked = decisions.get(other)
            if linked is None or linked.entity_id is None:
                continue
            weight = W_FAMILY_SURNAME if kind == "family_of" else W_PARTNER_SURNAME
            for word in people.surnames_of[linked.entity_id]:
                surnames[word] = max(surnames.get(word, 0.0), weight)
        if surnames:
            decisions[cluster] = decide(cluster, surnames)
    named = {d.entity_id for d in decisions.values() if d.entity_id}
    links: list[Link] = []
    for i, span in enumerate(spans):
        if i in names:
            best = decisions[root.get(i, i)]
            links.append(Link(i, best.entity_id, best.confidence, best.candidates, best.reasons))
        elif span.type in ("phone", "vrm", "address"):
            links.append(_link_value(people, i, span, named))
    return links


def _report_evidence(
    spans: Sequence[Span], owned: dict[int, int], cluster: int
) -> tuple[dict[str, set[str]], list[tuple[Any, ...]]]:
    """Values in the report not stated as someone else's (by a relation to another name)."""
    values: dict[str, set[str]] = defaultdict(set)
    addresses: list[tuple[Any, ...]] = []
    for k, s in enumerate(spans):
        if owned.get(k, cluster) != cluster:
            continue
        if s.type in ("phone", "vrm") and s.value:
            values[s.type].add(str(s.value))
        elif s.type == "postcode" and s.value:
            value = str(s.value)
            if " " in value:
                values["postcode"].add(value)
            values["district"].add(value.split(" ")[0])
        elif s.type == "address" and (parts := address_parts(s.text)):
            addresses.append(parts)
    return values, addresses


def _cluster_context(
    extraction: Extraction, mentions: list[int], related: dict[str, list[Span]]
) -> _Context:
    spans = extraction.spans
    text = extraction.text
    dobs: list[Span] = []
    ages: list[Span] = []
    places: set[str] = set()
    generation: set[str] = set()
    for m in mentions:
        span = spans[m]
        # Spans right after the name, before the next person: its DOB and age.
        for k in range(m + 1, min(len(spans), m + 4)):
            nxt = spans[k]
            if nxt.type == "person":
                break
            gap = text[span.end : nxt.start]
            if "\n" in gap or len(gap) > 45:
                break
            if nxt.type == "dob":
                dobs.append(nxt)
            elif nxt.type == "age":
                ages.append(nxt)
        before = [k for k in range(max(0, m - 2), m) if spans[k].type == "dob"]
        for k in before:
            if not text[spans[k].end : span.start].strip() and re.search(
                r"\bthe\s+$", text[max(0, spans[k].start - 5) : spans[k].start], re.I
            ):
                dobs.append(spans[k])
        window = text[span.end : span.end + 40].split("\n")[0]
        for word in re.findall(r"[A-Za-z]+", window)[:6]:
            key = word.upper()
            if key in _GENERATIONS:
                generation.add(_GENERATIONS[key])
        bracket = re.match(r"\s*\(([^()\n]{1,40})\)", text[span.end :])
        near = (
            text[max(0, span.start - 40) : span.start] + " " + (bracket[1] if bracket else window)
        )
        places.update(w.upper() for w in re.findall(r"[A-Za-z]{3,}", near))
    return _Context(dobs, ages, related, places, generation)


def _decide(
    people: PeopleIndex,
    names: Sequence[_Name],
    context: _Context,
    report_values: dict[str, set[str]],
    report_addresses: list[tuple[Any, ...]],
    day: dt.date | None,
    threshold: float,
) -> Link:
    # A cluster with a full name is described by it (and by its aliases): a bare
    # forename or surname in the same cluster adds nothing and would let a namesake in.
    full = [n for n in names if n.surname and (n.forenames or n.initials)]
    if full:
        names = [
            n
            for n in names
            if n in full or n.nicknames or not (len(n.whole) == 1 and _plain_name(n))
        ]
    candidates: set[str] = set()
    for name in names:
        candidates |= people.candidates(name)
    scored: list[tuple[float, str, list[str]]] = []
    for pid in candidates:
        best_name, reasons = max(
            (_name_score(people, pid, name) for name in names), key=lambda x: x[0]
        )
        if best_name <= 0:
            continue
        context_score, context_reasons = _context_score(
            people, pid, context, report_values, report_addresses, day
        )
        scored.append((best_name + context_score, pid, reasons + context_reasons))
    if not scored:
        return Link(-1, None, 0.0)
    scored.sort(key=lambda x: (-x[0], x[1]))
    top = scored[0][0]
    exps = [math.exp(s - top) for s, _, _ in scored]
    null = math.exp(_NULL_SCORE - top)
    total = sum(exps) + null
    ranked = tuple((pid, e / total) for (_, pid, _), e in zip(scored[:5], exps[:5], strict=False))
    confidence = ranked[0][1]
    entity = scored[0][1] if confidence >= threshold else None
    return Link(-1, entity, confidence, ranked, tuple(scored[0][2]))


def _plain_name(name: _Name) -> bool:
    """A one-word mention that is a forename or surname from the lists (not an alias)."""
    word = name.whole[0] if name.whole else ""
    lex = lexicon()
    return word in lex.forenames or word in lex.surnames


def _link_value(people: PeopleIndex, i: int, span: Span, named: set[str]) -> Link:
    holders: set[str] = set()
    if span.type == "phone" and span.value:
        holders = people.by_phone.get(str(span.value), set())
    elif (
        span.type == "vrm"
        and span.value
        and "?" not in str(span.value)
        and "*" not in str(span.value)
    ):
        holders = people.by_vrm.get(str(span.value), set())
    elif span.type == "address" and (parts := address_parts(span.text)):
        street = parts[3] or parts[2]
        for pid in people.by_street.get(street or "", set()):
            if any(same_address(parts, own) for own in people.people[pid].address_keys):
                holders.add(pid)
    if not holders:
        return Link(i, None, 0.0)
    in_report = holders & named
    if len(in_report) == 1:
        pid = next(iter(in_report))
        return Link(i, pid, 0.95, ((pid, 0.95),), ("value on record, person named in the report",))
    if len(holders) == 1 and not in_report:
        pid = next(iter(holders))
        return Link(i, pid, 0.6, ((pid, 0.6),), ("value on record",))
    share = 1.0 / len(holders)
    return Link(i, None, share, tuple((p, share) for p in sorted(holders)), ("value shared",))
