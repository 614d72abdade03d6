"""What the search box was given.

One box takes what an officer types: ``john smith 12/03/1990``, ``smith j 1990``,
``SMITH, John``, ``AB12CDE``, ``AB12 C?E`` (a partial plate: ``?`` one unknown
character, ``*`` any number), ``B15 2TT`` or ``B15``, ``07700 900123``,
``PNC 2003/0062845E``, or free text. Analysts add fields and filters:
``surname:smith dob:1990-03 area:"B15"``, ``type:vehicle``, ``from:2024-01-01``,
``to:2024-06-30``, ``near:52.48,-1.89,2km``.

`parse_query` turns the text into a `SearchQuery`: plain data, no index needed.
Anything it cannot use is listed in `problems` rather than silently dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from peelian.resolve.entities import ENTITY_PREFIX
from peelian.standardise import contact, identifiers, names

MAX_QUERY_CHARS = 500
KINDS = (*ENTITY_PREFIX, "document")

# Fielded terms: the name an analyst types -> what it means.
FIELD_ALIASES = {
    "forename": "forename",
    "forenames": "forename",
    "first": "forename",
    "firstname": "forename",
    "given": "forename",
    "surname": "surname",
    "last": "surname",
    "lastname": "surname",
    "family": "surname",
    "name": "name",
    "alias": "name",
    "dob": "dob",
    "born": "dob",
    "vrm": "vrm",
    "plate": "vrm",
    "reg": "vrm",
    "phone": "phone",
    "tel": "phone",
    "mobile": "phone",
    "postcode": "postcode",
    "pc": "postcode",
    "area": "area",
    "type": "type",
    "kind": "type",
    "from": "from",
    "after": "from",
    "to": "to",
    "before": "to",
    "near": "near",
    "text": "text",
    "ref": "ref",
    "id": "id",
    "pnc": "pnc",
    "cro": "cro",
    "ni": "ni",
    "nino": "ni",
    "nhs": "nhs",
}
# Identifier schemes the box recognises by their word ("PNC 2003/0062845E") or shape.
SCHEMES = {"pnc", "cro", "ni", "nhs"}

_TOKEN = re.compile(
    r'(?P<key>[A-Za-z_]+):(?:"(?P<qval>[^"]*)"|(?P<val>\S*))'  # field:value, field:"a b"
    r'|"(?P<phrase>[^"]*)"'  # "a phrase"
    r"|(?P<word>\S+)"
)
_MONTHS = {
    m: i
    for i, ms in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for m in ms
}
_DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})", re.ASCII)
_YMD = re.compile(r"(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})", re.ASCII)
_MY = re.compile(r"(\d{1,2})[/.\-](\d{4})", re.ASCII)
_YM = re.compile(r"(\d{4})[/.\-](\d{1,2})", re.ASCII)
_YEAR = re.compile(r"(19|20)\d\d", re.ASCII)
_OUTWARD = re.compile(r"[A-Z]{1,2}\d[A-Z\d]?", re.ASCII)
_SECTOR = re.compile(r"([A-Z]{1,2}\d[A-Z\d]?) ?(\d)", re.ASCII)
_NAME_WORD = re.compile(r"[^\W\d_][^\W\d_'\-’]*(?:['\-’][^\W\d_]+)*\.?,?", re.UNICODE)
_PLATE_CHARS = re.compile(r"[A-Z0-9?*]+")
_NEAR = re.compile(
    r"(-?\d{1,2}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)(?:,(\d+(?:\.\d+)?)(km|m|mi)?)?", re.IGNORECASE
)
# More name words than this and the box reads the text as a phrase, not a name.
MAX_NAME_WORDS = 4


class QueryError(ValueError):
    """A query that can't be run at all (too long, or empty once cleaned)."""


@dataclass(frozen=True)
class DobQuery:
    """A full or partial date of birth."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def term(self) -> str:
        """The index term (see `documents.dob_terms`): YYYY-MM-DD, YYYY-MM or YYYY."""
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    @property
    def swapped(self) -> str | None:
        """The same date with day and month swapped, when that is also a date."""
        if self.day is None or self.month is None or self.day == self.month or self.day > 12:
            return None
        try:
            return dt.date(self.year, self.day, self.month).isoformat()
        except ValueError:
            return None


@dataclass(frozen=True)
class Near:
    lat: float
    lon: float
    km: float


@dataclass
class SearchQuery:
    """What to look for; every list is normalised the way the index stores it."""

    raw: str
    names: list[str] = field(default_factory=list)
    forenames: list[str] = field(default_factory=list)
    surnames: list[str] = field(default_factory=list)
    dob: DobQuery | None = None
    vrms: list[str] = field(default_factory=list)
    plate_patterns: list[str] = field(default_factory=list)
    # plate-like words that are not a valid VRM: a misread or the start of a plate
    plate_guesses: list[str] = field(default_factory=list)
    postcodes: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    areas: list[str] = field(default_factory=list)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    near: Near | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def person_names(self) -> bool:
        return bool(self.names or self.forenames or self.surnames)

    @property
    def empty(self) -> bool:
        """Nothing to look for (filters alone don't make a search)."""
        return not (
            self.person_names
            or self.dob
            or self.vrms
            or self.plate_patterns
            or self.plate_guesses
            or self.postcodes
            or self.phones
            or self.identifiers
            or self.refs
            or self.text
            or self.phrases
        )


def parse_query(text: str, *, today: dt.date | None = None) -> SearchQuery:
    """Read the search box.

    >>> q = parse_query("john smith 12/03/1990")
    >>> q.names, q.dob.term
    (['JOHN', 'SMITH'], '1990-03-12')
    >>> parse_query("AB12 C?E").plate_patterns
    ['AB12C[A-Z0-9]E']
    """
    today = today or dt.date.today()
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(text)} characters long; at most {MAX_QUERY_CHARS} are read"
        )
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    query = SearchQuery(raw=cleaned)
    words: list[str] = []
    for match in _TOKEN.finditer(cleaned):
        if match["key"] is not None:
            key = FIELD_ALIASES.get(match["key"].lower())
            value = match["qval"] if match["qval"] is not None else match["val"] or ""
            if key is None:
                query.problems.append(
                    f"unknown field {match['key']!r}: known fields are "
                    + ", ".join(sorted(set(FIELD_ALIASES.values())))
                )
                continue
            _fielded(query, key, value.strip(), today)
        elif match["phrase"] is not None:
            phrase = " ".join(match["phrase"].split())
            if phrase:
                query.phrases.append(phrase)
        else:
            words.append(match["word"])
    _unfielded(query, words, today)
    return query


def _fielded(query: SearchQuery, key: str, value: str, today: dt.date) -> None:
    if not value:
        query.problems.append(f"{key}: has no value")
        return
    if key in ("forename", "surname", "name"):
        tokens = names.name_tokens(value)
        target = {"forename": query.forenames, "surname": query.surnames, "name": query.names}
        target[key].extend(tokens)
    elif key == "dob":
        dob = parse_dob(value, today)
        if dob is None:
            query.problems.append(f"dob: {value!r} is not a date (try 1990-03-12, 03/1990, 1990)")
        query.dob = dob or query.dob
    elif key == "vrm" and not _plate(query, value):
        query.problems.append(f"vrm: {value!r} is not a number plate")
    elif key == "phone" and not _phone(query, value):
        query.problems.append(f"phone: {value!r} is not a phone number")
    elif key == "postcode" and not _postcode(query, value):
        query.problems.append(f"postcode: {value!r} is not a postcode")
    elif key == "area":
        area = _area(value)
        if area is None:
            query.problems.append(f"area: {value!r} is not a postcode district or sector")
        else:
            query.areas.append(area)
    elif key == "type":
        for kind in value.lower().split(","):
            if kind in KINDS:
                query.kinds.append(kind)
            else:
                query.problems.append(f"type: {kind!r} is not one of {', '.join(KINDS)}")
    elif key in ("from", "to"):
        day = parse_day(value)
        if day is None:
            query.problems.append(f"{key}: {value!r} is not a date (try 2024-03-31)")
        elif key == "from":
            query.date_from = day
        else:
            query.date_to = day
    elif key == "near":
        near = _near(value)
        if near is None:
            query.problems.append(
                f"near: {value!r} is not LAT,LON[,DISTANCE] (e.g. 52.48,-1.89,2km)"
            )
        query.near = near or query.near
    elif key == "text":
        query.phrases.append(" ".join(value.split()))
    elif key == "ref":
        query.refs.append(value.upper())
    elif key == "id":
        query.identifiers.append(value.upper())
    elif key in SCHEMES and not _identifier(query, key, value):
        query.problems.append(f"{key}: {value!r} is not a valid {key.upper()} number")


def _unfielded(query: SearchQuery, words: list[str], today: dt.date) -> None:
    """Classify the free words, trying the longest sensible reading first."""
    name_words: list[str] = []
    comma_at: int | None = None
    i = 0
    while i < len(words):
        used = _special(query, words, i, today)
        if used:
            i += used
            continue
        word = words[i]
        if _NAME_WORD.fullmatch(word):
            if word.endswith(",") and comma_at is None:
                comma_at = len(name_words) + 1
            name_words.append(word.rstrip(",").rstrip("."))
        else:
            query.text.append(word)
        i += 1
    if not name_words:
        return
    if len(name_words) > MAX_NAME_WORDS:
        query.text.extend(name_words)
        return
    tokens = [t for w in name_words for t in names.name_tokens(w)]
    if comma_at is not None and 0 < comma_at < len(name_words):
        # "SMITH, John": surname first, as police systems write names
        query.surnames.extend(t for w in name_words[:comma_at] for t in names.name_tokens(w))
        query.forenames.extend(t for w in name_words[comma_at:] for t in names.name_tokens(w))
    else:
        query.names.extend(tokens)
    query.text.extend(name_words)


def _special(query: SearchQuery, words: list[str], i: int, today: dt.date) -> int:
    """If words[i:] start with a date, identifier, phone, postcode or plate, record it
    and return how many words it took; else 0."""
    word = words[i]
    lower = word.lower().rstrip(":")
    rest = words[i + 1 :]
    # "PNC 2003/0062845E", "NI AB 12 34 56 C"
    if lower in SCHEMES and rest:
        for n in range(min(5, len(rest)), 0, -1):
            if _identifier(query, lower, "".join(rest[:n])):
                return 1 + n
    # "12 March 1990", "March 1990"
    for n in (3, 2):
        if len(words) - i >= n and words[i + n - 2].lower().strip(",") in _MONTHS:
            dob = parse_dob(" ".join(words[i : i + n]), today)
            if dob is not None:
                query.dob = dob
                return n
    if not any(c.isdigit() for c in word) and "?" not in word and "*" not in word:
        return 0
    dob = parse_dob(word, today)
    if dob is not None:
        query.dob = dob
        return 1
    for n in range(min(4, len(words) - i), 0, -1):
        joined = "".join(words[i : i + n])
        if _bare_identifier(query, joined):
            return n
    # phones and plates may be typed in groups: "07700 900123", "AB12 CDE", "AB12 C?E"
    for n in range(min(4, len(words) - i), 0, -1):
        joined = "".join(words[i : i + n])
        if sum(c.isdigit() for c in joined) >= 9 and _phone(query, joined):
            return n
    for n in (2, 1):
        if len(words) - i >= n:
            spaced = " ".join(words[i : i + n])
            found_postcode = _postcode(query, spaced, districts=n == 1)
            found_plate = _plate(query, spaced.replace(" ", ""))
            if found_postcode or found_plate:
                return n
    return 0


def parse_dob(text: str, today: dt.date) -> DobQuery | None:
    """A full or partial date of birth in the ways people write them (day first)."""
    text = text.strip().lower().replace(",", " ")
    parts = text.split()
    if len(parts) in (2, 3) and parts[-2] in _MONTHS and _ascii_digits(parts[-1]):
        year = _year(parts[-1], today)
        month = _MONTHS[parts[-2]]
        if len(parts) == 2:
            return DobQuery(year, month) if year else None
        day = parts[0].rstrip("stndrh")
        return _dob(year, month, int(day), today) if year and _ascii_digits(day) else None
    if len(parts) != 1:
        return None
    if match := _YMD.fullmatch(text):
        return _dob(int(match[1]), int(match[2]), int(match[3]), today)
    if match := _DMY.fullmatch(text):
        year = _year(match[3], today)
        first, second = int(match[1]), int(match[2])
        if second > 12 >= first:  # month first, as an American or partner system wrote it
            first, second = second, first
        return _dob(year, second, first, today) if year else None
    if match := _YM.fullmatch(text):
        return _partial(int(match[1]), int(match[2]), today)
    if match := _MY.fullmatch(text):
        return _partial(int(match[2]), int(match[1]), today)
    if _YEAR.fullmatch(text) and 1900 <= int(text) <= today.year:
        return DobQuery(int(text))
    return None


def _ascii_digits(text: str) -> bool:
    """Digits 0-9 only, at most four (``"²".isdigit()`` is true, and ``int`` of it fails)."""
    return 0 < len(text) <= 4 and text.isascii() and text.isdigit()


def parse_day(text: str) -> dt.date | None:
    """A calendar day for a date filter: ISO or day first."""
    dob = parse_dob(text, dt.date.max)
    if dob is None or dob.month is None:
        return None
    return dt.date(dob.year, dob.month, dob.day or 1)


def _year(text: str, today: dt.date) -> int | None:
    year = int(text)
    if len(text) == 2:  # a two-digit year of birth is in the last hundred years
        year += 2000 if year <= today.year % 100 else 1900
    return year if 1900 <= year <= today.year else None


def _dob(year: int | None, month: int, day: int, today: dt.date) -> DobQuery | None:
    if year is None:
        return None
    try:
        date = dt.date(year, month, day)
    except (ValueError, OverflowError):
        return None
    return DobQuery(year, month, day) if date <= today else None


def _partial(year: int, month: int, today: dt.date) -> DobQuery | None:
    return DobQuery(year, month) if 1 <= month <= 12 and 1900 <= year <= today.year else None


def _identifier(query: SearchQuery, scheme: str, value: str) -> bool:
    normalise = {
        "pnc": identifiers.normalise_pnc_id,
        "cro": identifiers.normalise_cro_number,
        "ni": identifiers.normalise_ni_number,
        "nhs": identifiers.normalise_nhs_number,
    }[scheme]
    try:
        normal = normalise(value)
    except ValueError:
        normal = None
    if normal is None:
        return False
    query.identifiers.append(f"{scheme.upper()}:{normal}")
    return True


def _bare_identifier(query: SearchQuery, value: str) -> bool:
    """A PNC ID, CRO number, NI number or NHS number typed without its scheme: only
    when the check digit or letter holds, so a phone number is not read as one."""
    checks = (
        ("pnc", identifiers.is_valid_pnc_id),
        ("cro", identifiers.is_valid_cro_number),
        ("ni", identifiers.is_valid_ni_number),
        ("nhs", identifiers.is_valid_nhs_number),
    )
    for scheme, valid in checks:
        try:
            ok = valid(value)
        except ValueError:
            ok = False
        if ok and (scheme != "nhs" or not value.startswith("0")):
            return _identifier(query, scheme, value)
    return False


def _phone(query: SearchQuery, value: str) -> bool:
    if sum(c.isdigit() for c in value) < 9 or any(c.isalpha() for c in value):
        return False
    parsed = contact.parse_phone(value)
    if parsed.e164 is None:
        return False
    query.phones.append(parsed.e164)
    return True


def _postcode(query: SearchQuery, value: str, *, districts: bool = True) -> bool:
    full = identifiers.normalise_postcode(value)
    if full is not None:
        query.postcodes.append(full)
        return True
    upper = value.upper().strip()
    if (match := _SECTOR.fullmatch(upper)) and " " in upper:
        query.postcodes.append(f"{match[1]} {match[2]}")
        return True
    if districts and _OUTWARD.fullmatch(upper):
        query.postcodes.append(upper)
        return True
    return False


def _area(value: str) -> str | None:
    upper = " ".join(value.upper().split())
    if _OUTWARD.fullmatch(upper):
        return upper
    if match := _SECTOR.fullmatch(upper):
        return f"{match[1]} {match[2]}"
    return None


def _plate(query: SearchQuery, value: str) -> bool:
    compact = value.upper().replace(" ", "").replace("-", "").replace("_", "?")
    if not compact or not _PLATE_CHARS.fullmatch(compact) or len(compact) > 8:
        return False
    if "?" in compact or "*" in compact:
        if sum(c.isalnum() for c in compact) < 2:
            return False
        pattern = compact.replace("?", "[A-Z0-9]").replace("*", "[A-Z0-9]*")
        query.plate_patterns.append(pattern)
        return True
    vrm = identifiers.normalise_vrm(compact)
    if vrm is not None:
        query.vrms.append(vrm)
        return True
    if (
        len(compact) >= 3
        and any(c.isalpha() for c in compact)
        and any(c.isdigit() for c in compact)
    ):
        query.plate_guesses.append(compact)
        return True
    return False


def _near(value: str) -> Near | None:
    match = _NEAR.fullmatch(value.replace(" ", ""))
    if match is None:
        return None
    lat, lon = float(match[1]), float(match[2])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    distance = float(match[3]) if match[3] else 1.0
    unit = (match[4] or "km").lower()
    km = {"km": distance, "m": distance / 1000, "mi": distance * 1.609344}[unit]
    return Near(lat, lon, km) if 0 < km <= 100 else None
