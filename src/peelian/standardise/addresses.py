"""Split UK free-text addresses into parts and a key that matches the same dwelling.

Police records write one address many ways: ``"Flat 3, 12A High St, Northfieldton BF1
0EA"``, ``"FLAT 3 12A HIGH STREET NORTHFIELDTON"``, ``"12a High Street, BF10EA"``.
:func:`parse_address` reads the parts the way a person would, using commas where
present, and gives a :attr:`ParsedAddress.key` for linking addresses. It never raises
on arbitrary text; anything it cannot place stays in ``locality`` or ``town``.

Street types come from ``reference/street_suffixes.csv``; postcodes are normalised by
:func:`peelian.standardise.identifiers.normalise_postcode`.

>>> parse_address("Flat 3, 12A High St, Northfieldton BF1 0EA").key
'BF1 0EA|3|12A|HIGH STREET'
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from peelian.reference import read_table
from peelian.standardise.identifiers import normalise_postcode

__all__ = ["ParsedAddress", "parse_address"]


@dataclass(frozen=True)
class ParsedAddress:
    """The parts of an address, upper case; ``None`` where the text does not give one.

    ``flat`` is the flat, apartment or unit (``"3"``, ``"2B"``, ``"GROUND"``);
    ``number`` the house number with any suffix letter or range (``"12A"``,
    ``"12-14"``); ``building`` a house or block name (``"ROSE COURT"``); ``street`` the
    thoroughfare with its type in full (``"HIGH STREET"``); ``town`` the last part after
    the street and ``locality`` any parts between; ``postcode`` the normalised postcode,
    or the given text when it is not a valid UK postcode; ``key`` see
    :func:`parse_address`.
    """

    flat: str | None
    number: str | None
    building: str | None
    street: str | None
    locality: str | None
    town: str | None
    postcode: str | None
    key: str | None


_POSTCODE_IN_TEXT = re.compile(
    r"(?<![A-Z0-9])[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][ABD-HJLNP-UW-Z]{2}(?![A-Z0-9])"
)
# At a part's start: "FLAT 3", "APARTMENT 2B", "UNIT A", "FLAT NO 4", "GROUND FLOOR FLAT",
# and "3/12" (flat 3 at number 12).
_FLAT = re.compile(
    r"(?:FLAT|FLT|APARTMENT|APT|UNIT|STUDIO|ROOM) (?:NO )?(?P<flat>[0-9]+[A-Z]?|[A-Z][0-9]*)"
    r"(?:/| |$)"
    r"|(?P<level>(?:LOWER )?(?:BASEMENT|GROUND|FIRST|SECOND|THIRD|TOP))(?: FLOOR)? FLAT(?:/| |$)"
    r"|(?P<over>[0-9]+[A-Z]?)/(?=[0-9])"
)
_HOUSE_NUMBER = re.compile(r"[0-9]+[A-Z]?(?:-[0-9]+[A-Z]?)?")
_RANGE_HYPHEN = re.compile(r"(?:(?<=[0-9])|(?<=[0-9][A-Z])) ?- ?(?=[0-9])")
_SEPARATORS = re.compile(r"[\n\r;|]")
_DELETED = str.maketrans(dict.fromkeys(".'’‘`", ""))
_LONE_HYPHEN = re.compile(r"(?<![0-9A-Z])-|-(?![0-9A-Z])")


@functools.lru_cache(maxsize=1)
def _street_types() -> dict[str, str]:
    """Every street type and its abbreviation, upper case, to the type in full."""
    types: dict[str, str] = {}
    for row in read_table("street_suffixes"):
        full = row["suffix"].upper()
        types[full] = full
        types.setdefault(row["abbreviation"].upper(), full)
    return types


def _clean(text: str) -> str:
    """Upper case; commas and line breaks separate parts; other punctuation goes.

    Hyphens (``12-14``, ``STRATFORD-UPON-AVON``) and slashes (``3/12``) stay for now.
    """
    text = unicodedata.normalize("NFKC", text).upper().translate(_DELETED)
    text = _SEPARATORS.sub(",", text)
    text = _RANGE_HYPHEN.sub("-", " ".join(text.split()))
    text = "".join(char if char.isalnum() or char in ",-/" else " " for char in text)
    return _LONE_HYPHEN.sub(" ", text.replace(" - ", ", ").replace(" / ", "/"))


def _take_postcode(text: str) -> tuple[str, str | None]:
    """The text without its valid postcodes, and the last of them normalised."""
    found: list[str] = []

    def take(match: re.Match[str]) -> str:
        postcode = normalise_postcode(match[0])
        if postcode is None:
            return match[0]
        found.append(postcode)
        return ","

    rest = _POSTCODE_IN_TEXT.sub(take, text)
    return rest, found[-1] if found else None


def _given_postcode(postcode: str | None) -> str | None:
    if postcode is None or not postcode.strip():
        return None
    return normalise_postcode(postcode) or " ".join(postcode.split()).upper()


def _take_flat(parts: list[str]) -> tuple[list[str], str | None]:
    """The parts without the first flat found at the start of one, and that flat."""
    for index, part in enumerate(parts):
        if match := _FLAT.match(part):
            flat = match["flat"] or match["level"] or match["over"]
            rest = part[match.end() :].strip()
            return [*parts[:index], *([rest] if rest else []), *parts[index + 1 :]], flat
    return parts, None


def _street_end(words: list[str]) -> int | None:
    """Index of the street type ending the street, or ``None`` if no type follows word 1.

    The street ends at the first street type after its first word, or the last of a run
    of them (``PARK VIEW ROAD``). A first word is never the type: ``ST JOHNS ROAD`` is
    Saint John's and ``PARK ROAD`` is a road.
    """
    types = _street_types()
    end = next((i for i in range(1, len(words)) if words[i] in types), None)
    while end is not None and end + 1 < len(words) and words[end + 1] in types:
        end += 1
    return end


def _split_street(words: list[str]) -> tuple[str | None, str | None]:
    """The street, with its type written in full, and the words after it (a place)."""
    end = _street_end(words)
    if end is None:
        return " ".join(words) or None, None
    types = _street_types()
    street = [words[0], *(types.get(word, word) for word in words[1 : end + 1])]
    return " ".join(street), " ".join(words[end + 1 :]) or None


def _number_at(words: list[str]) -> tuple[int, str, int] | None:
    """``(start, number, end)`` of the first house number: ``12``, ``12A``, ``12 A``."""
    for index, word in enumerate(words):
        if _HOUSE_NUMBER.fullmatch(word):
            after = index + 1
            # "12 A HIGH STREET": a lone letter between number and street is its suffix.
            if (
                word.isdigit()
                and after + 1 < len(words)
                and len(words[after]) == 1
                and words[after].isalpha()
            ):
                return index, word + words[after], after + 1
            return index, word, after
    return None


@dataclass(frozen=True)
class _Thoroughfare:
    number: str | None
    building: str | None
    street: str | None
    places: tuple[str | None, ...]  # what follows the street: locality and town


def _numbered(parts: list[str]) -> _Thoroughfare | None:
    """Words before the first house number are the building, words after the street."""
    for index, part in enumerate(parts):
        words = part.split()
        found = _number_at(words)
        if found is None:
            continue
        start, number, end = found
        building = " ".join([*parts[:index], *words[:start]]) or None
        after, later = words[end:], parts[index + 1 :]
        if not after and later:  # "12, HIGH STREET"
            after, later = later[0].split(), later[1:]
        street, place = _split_street(after)
        return _Thoroughfare(number, building, street, (place, *later))
    return None


def _named(parts: list[str]) -> _Thoroughfare:
    """No house number: the first part with a street type is the street."""
    for index, part in enumerate(parts):
        words = part.split()
        if _street_end(words) is not None:
            street, place = _split_street(words)
            building = " ".join(parts[:index]) or None
            return _Thoroughfare(None, building, street, (place, *parts[index + 1 :]))
    return _Thoroughfare(None, parts[0] if parts else None, None, tuple(parts[1:]))


def parse_address(text: str | None, postcode: str | None = None) -> ParsedAddress:
    """Read a UK free-text address into its parts and a dwelling key.

    Rules, in order:

    - Upper case; full stops and apostrophes are dropped; commas, line breaks and
      semicolons separate parts; ``12 - 14`` is the range ``12-14``.
    - Postcode: the last valid UK postcode in the text (all are taken out of it), else
      the ``postcode`` argument, normalised (``"bf10ea"`` is ``"BF1 0EA"``). An argument
      that is not a valid UK postcode (a foreign one) is kept, upper case, not dropped.
    - Flat: ``FLAT``, ``APARTMENT``, ``APT``, ``UNIT``, ``STUDIO`` or ``ROOM`` and its
      number or letter, ``GROUND FLOOR FLAT`` and the like (flat ``GROUND``), or
      ``3/12`` (flat 3 at number 12), at the start of a part.
    - Number: the first house number (``12``, ``12A``, ``12 A``, ``12-14``). Words
      before it are the building, words after it the street. With no number, the first
      part containing a street type after its first word is the street and the parts
      before it the building; failing that, the first part is the building.
    - Street: its type (``RD``, ``ST``, ``AVE``...) written in full from
      ``reference/street_suffixes.csv``. It ends at its type, so in ``"36 BURGHLEY PLACE
      BRACKENFORD"`` the town still comes out.
    - Town: the last remaining part; locality: any parts between street and town.

    ``key`` is ``"<POSTCODE or TOWN>|<FLAT>|<NUMBER or BUILDING>|<STREET>"``, missing
    parts empty: the house number stands for the house when there is one, otherwise the
    building name. It is ``None`` unless there is a number or building, and a postcode
    or town: a street alone, or a house with no area, does not identify one dwelling.
    Addresses with a postcode and without do not share a key.

    >>> parse_address("FLAT 2 ROSE COURT 5 MILL LANE", "bf1 0ea")
    ParsedAddress(flat='2', number='5', building='ROSE COURT', street='MILL LANE', \
locality=None, town=None, postcode='BF1 0EA', key='BF1 0EA|2|5|MILL LANE')
    >>> parse_address("36 Burghley Pl, Brackenford").key
    'BRACKENFORD||36|BURGHLEY PLACE'
    """
    text_postcode = None
    parts: list[str] = []
    if text is not None:
        cleaned, text_postcode = _take_postcode(_clean(text))
        parts = [part.strip() for part in cleaned.split(",") if part.strip()]
    found_postcode = text_postcode or _given_postcode(postcode)
    parts, flat = _take_flat(parts)
    # A slash that does not mark a flat ("3/12") separates nothing in particular.
    parts = [" ".join(part.replace("/", " ").split()) for part in parts]
    parts = [part for part in parts if part]
    road = _numbered(parts) or _named(parts)
    places = [place for place in road.places if place]
    town = places[-1] if places else None
    locality = ", ".join(places[:-1]) or None
    return ParsedAddress(
        flat=flat,
        number=road.number,
        building=road.building,
        street=road.street,
        locality=locality,
        town=town,
        postcode=found_postcode,
        key=_key(flat, road, found_postcode or town),
    )


def _key(flat: str | None, road: _Thoroughfare, area: str | None) -> str | None:
    house = road.number or road.building
    if house is None or area is None:
        return None
    # Only a postcode kept as given can hold the separator.
    return "|".join([area.replace("|", "/"), flat or "", house, road.street or ""])
