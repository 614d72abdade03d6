"""The people the hub already knows, as the extractor and the linker need them.

The hub knows every resolved nominal's names, aliases, date of birth, phones, plates and
addresses; :class:`KnownPerson` is that record, and :class:`KnownNames` the word-level
gazetteer built from a set of them, which the extractor uses to find names (including
unusual surnames and street names no general list holds).

>>> person = KnownPerson("N1", "Kyle", "BARRETT", ("K-Dog",), "1994-02-11")
>>> names = KnownNames([person])
>>> sorted(names.phrases_of(person))
['BARRETT , KYLE', 'BARRETT KYLE', 'K DOG', 'K-DOG', 'KYLE BARRETT']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from peelian.standardise.addresses import parse_address
from peelian.standardise.contact import parse_phone
from peelian.standardise.identifiers import normalise_postcode, normalise_vrm
from peelian.text.lexicon import PhraseIndex, phrase_keys

__all__ = ["KnownNames", "KnownPerson", "address_parts", "as_known_person", "same_address"]


@dataclass(frozen=True)
class KnownPerson:
    """A person the hub knows: ``(entity_id, forenames, surname, aliases, dob, phones, vrms,
    postcodes)`` and, optionally, addresses.

    ``dob`` is an ISO date (or ``None``); phones may be written any way (they are compared
    in E.164), plates and postcodes are normalised on the way in. Aliases are nicknames
    and street names. A plain tuple in that order is accepted wherever a ``KnownPerson``
    is (see :func:`as_known_person`).
    """

    entity_id: str
    forenames: str
    surname: str
    aliases: tuple[str, ...] = ()
    dob: str | None = None
    phones: tuple[str, ...] = ()
    vrms: tuple[str, ...] = ()
    postcodes: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    birth: dt.date | None = field(default=None, compare=False)
    phone_keys: frozenset[str] = field(default=frozenset(), compare=False)
    vrm_keys: frozenset[str] = field(default=frozenset(), compare=False)
    postcode_keys: frozenset[str] = field(default=frozenset(), compare=False)
    address_keys: tuple[AddressParts, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        birth = None
        if self.dob:
            try:
                birth = dt.date.fromisoformat(str(self.dob)[:10])
            except ValueError:
                birth = None
        object.__setattr__(self, "birth", birth)
        phones = {parse_phone(p).e164 for p in self.phones if p}
        object.__setattr__(self, "phone_keys", frozenset(p for p in phones if p))
        vrms = {normalise_vrm(v) or v.replace(" ", "").upper() for v in self.vrms if v}
        object.__setattr__(self, "vrm_keys", frozenset(vrms))
        postcodes = {normalise_postcode(p) for p in self.postcodes if p}
        object.__setattr__(self, "postcode_keys", frozenset(p for p in postcodes if p))
        object.__setattr__(
            self, "address_keys", tuple(k for a in self.addresses if (k := address_parts(a)))
        )


AddressParts = tuple[str | None, str | None, str | None, str | None]


def address_parts(text: str) -> AddressParts | None:
    """``(flat, number, building, street)`` of an address, upper case with street types in
    full, for comparing an address written in a report with one on record; ``None`` when
    the text names neither a street nor a building."""
    parsed = parse_address(text)
    if parsed.street is None and parsed.building is None:
        return None
    return parsed.flat, parsed.number, parsed.building, parsed.street


def same_address(a: AddressParts, b: AddressParts) -> bool:
    """Whether two addresses can be the same premises: the same street (or building),
    and the same house number and flat wherever both give one.

    >>> same_address(address_parts("14 Cowper St, Leeds"), address_parts("14 COWPER STREET"))
    True
    >>> same_address(address_parts("Flat 3, 14 Hyde Park Road"), address_parts("14 Hyde Park Rd"))
    True
    >>> same_address(address_parts("12 Hyde Park Road"), address_parts("14 Hyde Park Road"))
    False
    """
    flat_a, number_a, building_a, street_a = a
    flat_b, number_b, building_b, street_b = b
    places_a = {x for x in (building_a, street_a) if x}
    places_b = {x for x in (building_b, street_b) if x}
    if not places_a & places_b:
        return False
    if number_a and number_b and number_a != number_b:
        return False
    if (number_a is None) != (number_b is None) and not (building_a or building_b):
        return False
    return not (flat_a and flat_b and flat_a != flat_b)


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(";") if v.strip())
    return tuple(str(v) for v in value if v)


def as_known_person(value: KnownPerson | tuple[Any, ...] | list[Any]) -> KnownPerson:
    """A :class:`KnownPerson` from itself or from a tuple ``(entity_id, forenames, surname,
    aliases, dob, phones, vrms, postcodes[, addresses])``; list fields may be lists or
    ``;``-separated text."""
    if isinstance(value, KnownPerson):
        return value
    items = list(value)
    if len(items) < 3:
        raise ValueError(
            f"a known person needs at least (entity_id, forenames, surname), got {value!r}"
        )
    items += [None] * (9 - len(items))
    return KnownPerson(
        entity_id=str(items[0]),
        forenames=str(items[1] or ""),
        surname=str(items[2] or ""),
        aliases=_tuple(items[3]),
        dob=str(items[4]) if items[4] else None,
        phones=_tuple(items[5]),
        vrms=_tuple(items[6]),
        postcodes=_tuple(items[7]),
        addresses=_tuple(items[8]),
    )


class KnownNames:
    """Word-level gazetteer of known people: their name phrases and single name words."""

    def __init__(self, people: Iterable[KnownPerson]) -> None:
        self.phrases: PhraseIndex[set[str]] = PhraseIndex()
        self.forenames: set[str] = set()
        self.surnames: set[str] = set()
        self.aliases: set[str] = set()
        self.alias_phrases: set[tuple[str, ...]] = set()
        self.postcode_areas: set[str] = set()
        self.count = 0
        for person in people:
            self.count += 1
            for phrase in self.phrases_of(person):
                keys = tuple(phrase.split(" "))
                found = self.phrases.get(keys)
                if found is None:
                    self.phrases.add(phrase, {person.entity_id})
                else:
                    found.add(person.entity_id)
            for word in phrase_keys(person.forenames):
                if len(word) > 1:
                    self.forenames.add(word)
            for word in phrase_keys(person.surname):
                if len(word) > 1:
                    self.surnames.add(word)
                    self.surnames.update(part for part in word.split("-") if len(part) > 2)
            for alias in person.aliases:
                keys = phrase_keys(alias)
                if len(keys) == 1:
                    self.aliases.add(keys[0])
                elif keys:
                    self.alias_phrases.add(keys)
            for postcode in person.postcode_keys:
                self.postcode_areas.add("".join(c for c in postcode.split(" ")[0] if c.isalpha()))

    @staticmethod
    def phrases_of(person: KnownPerson) -> Iterator[str]:
        """Multi-word name phrases, and aliases, as space-joined token keys."""
        fore = phrase_keys(person.forenames)
        sur = phrase_keys(person.surname)
        seen: set[str] = set()
        candidates: list[tuple[str, ...]] = []
        if fore and sur:
            candidates += [(fore[0], *sur), (*sur, fore[0]), (*sur, ",", fore[0]), (*fore, *sur)]
        for alias in person.aliases:
            keys = phrase_keys(alias)
            if keys and (len(keys) > 1 or len(keys[0]) > 1):
                candidates.append(keys)
            if "-" in alias:
                # K-Dog is also written K Dog.
                candidates.append(phrase_keys(alias.replace("-", " ")))
        for keys in candidates:
            phrase = " ".join(keys)
            if phrase not in seen:
                seen.add(phrase)
                yield phrase
