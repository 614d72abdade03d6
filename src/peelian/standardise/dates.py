"""Parse dates and date-times as police systems write them, keeping what is unknown.

Each source's mapping names its formats (strptime-style, such as ``"%d/%m/%Y"``); a value
is tried against them in order. Every format is compiled once to a regular expression, so
parsing a column costs one match per format and value rather than a ``strptime`` call and
an exception per failure.

Dates may be partial: a format may leave out the day (``"%m/%Y"``) or the day and month
(``"%Y"``), and police systems write an unknown day or month as ``00``, ``XX`` or ``??``
inside a full date (``"00/03/1990"``). The result keeps the precision (``"day"``,
``"month"`` or ``"year"``) and the first day of the period as its value.

Problems are short reason codes, never exceptions: ``unparsed_date`` (the text fits no
format), ``impossible_date`` (it fits a format but names no real day, such as
``31/02/2020``), and the same pair for date-times. Whether a date is in the future is for
the caller to decide. Blank text is missing, not a problem: no value and no problem.

>>> parse_date("00/03/1990", ["%d/%m/%Y"])
ParsedDate(value=datetime.date(1990, 3, 1), precision='month', problem=None)
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ParsedDate",
    "ParsedDateTime",
    "Precision",
    "parse_date",
    "parse_datetime",
    "swap_day_month",
]

Precision = Literal["day", "month", "year"]

UNPARSED_DATE = "unparsed_date"
IMPOSSIBLE_DATE = "impossible_date"
UNPARSED_DATETIME = "unparsed_datetime"
IMPOSSIBLE_DATETIME = "impossible_datetime"


@dataclass(frozen=True)
class ParsedDate:
    """A parsed date: its value (first day of the period), precision and any problem."""

    value: dt.date | None
    precision: Precision | None
    problem: str | None


@dataclass(frozen=True)
class ParsedDateTime:
    """A parsed date-time, timezone-aware in UTC, or the reason it could not be read."""

    value: dt.datetime | None
    problem: str | None


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_FULL_MONTHS = (
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
)
_MONTH_NUMBER = {
    **{name: number for number, name in enumerate(_MONTHS, start=1)},
    **{name: number for number, name in enumerate(_FULL_MONTHS, start=1)},
    "SEPT": 9,
}
_UNKNOWN = r"00|XX|\?\?"

# Directive to (group name, pattern). Day and month also match the unknown markers.
_DIRECTIVES = {
    "d": ("day", rf"[0-9]{{1,2}}|{_UNKNOWN}"),
    "m": ("month", rf"[0-9]{{1,2}}|{_UNKNOWN}"),
    "b": ("month_name", "|".join(sorted(_MONTH_NUMBER, key=len, reverse=True))),
    "B": ("month_name", "|".join(_FULL_MONTHS)),
    "Y": ("year", "[0-9]{4}"),
    "y": ("year2", "[0-9]{2}"),
    "H": ("hour", "[0-9]{1,2}"),
    "M": ("minute", "[0-9]{2}"),
    "S": ("second", "[0-9]{2}"),
    "f": ("fraction", "[0-9]{1,6}"),
    "z": ("offset", r"Z|[+-][0-9]{2}(?::?[0-9]{2})?"),
}
_DATE_DIRECTIVES = frozenset("dmbBYy")
_FIELD_OF_GROUP = {"month_name": "month", "year2": "year"}
_DIRECTIVE = re.compile(r"%(.)")


@functools.lru_cache(maxsize=256)
def _compile(fmt: str, with_time: bool) -> re.Pattern[str]:
    """The regular expression for a strptime-style format; ``ValueError`` if unsupported."""
    allowed = set(_DIRECTIVES) if with_time else _DATE_DIRECTIVES
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    for match in _DIRECTIVE.finditer(fmt):
        parts.append(_literal(fmt[position : match.start()]))
        position = match.end()
        directive = match[1]
        if directive == "%":
            parts.append("%")
            continue
        if directive not in allowed:
            supported = " ".join(f"%{d}" for d in sorted(allowed))
            raise ValueError(f"format {fmt!r}: %{directive} is not supported (use {supported})")
        name, pattern = _DIRECTIVES[directive]
        field = _FIELD_OF_GROUP.get(name, name)
        if field in seen:
            raise ValueError(f"format {fmt!r} gives the {field} twice")
        seen.add(field)
        parts.append(f"(?P<{name}>{pattern})")
    parts.append(_literal(fmt[position:]))
    _check_fields(fmt, seen, with_time)
    return re.compile("".join(parts), re.IGNORECASE | re.ASCII)


def _literal(text: str) -> str:
    # Values have their whitespace runs collapsed to one space before matching.
    return re.escape(re.sub(r"\s+", " ", text))


def _check_fields(fmt: str, seen: set[str], with_time: bool) -> None:
    if "year" not in seen:
        raise ValueError(f"format {fmt!r} has no year (%Y or %y)")
    if "day" in seen and "month" not in seen:
        raise ValueError(f"format {fmt!r} has a day but no month")
    if with_time and not {"day", "month", "hour"} <= seen:
        raise ValueError(f"date-time format {fmt!r} needs a day, a month, a year and %H")


def _is_unknown(text: str) -> bool:
    return text.upper() in ("0", "00", "XX", "??")


def _year(fields: dict[str, str]) -> int:
    if fields.get("year") is not None:
        return int(fields["year"])
    # As strptime (POSIX): 69-99 are 1969-1999 and 00-68 are 2000-2068.
    two_digits = int(fields["year2"])
    return two_digits + (1900 if two_digits >= 69 else 2000)


def _month(fields: dict[str, str]) -> str | None:
    if fields.get("month_name") is not None:
        return str(_MONTH_NUMBER[fields["month_name"].upper()])
    return fields.get("month")


def _precision(month: str | None, day: str | None) -> Precision:
    # A known day in an unknown month ("15/XX/1990") says no more than the year.
    if month is None or _is_unknown(month):
        return "year"
    if day is None or _is_unknown(day):
        return "month"
    return "day"


def _date_from_fields(fields: dict[str, str]) -> ParsedDate:
    """The date the matched fields name, with its precision, or ``impossible_date``."""
    month, day = _month(fields), fields.get("day")
    precision = _precision(month, day)
    try:
        value = dt.date(
            _year(fields),
            int(month) if month is not None and precision != "year" else 1,
            int(day) if day is not None and precision == "day" else 1,
        )
    except ValueError:
        return ParsedDate(None, None, IMPOSSIBLE_DATE)
    return ParsedDate(value, precision, None)


def parse_date(text: str, formats: Sequence[str]) -> ParsedDate:
    """Read ``text`` with the first of ``formats`` that gives a real date.

    Supported directives: ``%d %m %b %B %Y %y`` (``%b`` also takes ``Sept``; month names
    are English, any case) and ``%%``; other characters must match literally, and
    whitespace matches any run of whitespace. ``%d`` and ``%m`` take one or two digits.
    ``%y`` follows strptime: 69-99 are 19xx, 00-68 are 20xx. A format without a year, or
    with a day but no month, raises ``ValueError`` (a mapping error, not a data error).

    The day or month may be unknown: ``00``, ``XX`` or ``??`` in the value (or left out
    of the format) gives month precision for an unknown day and year precision for an
    unknown month, with the first day of the period as the value. When the text fits a
    format's shape but no format gives a real date (``31/02/2020``, ``12/13/2020``,
    ``00/00/0000``), the problem is ``impossible_date``; when it fits no format,
    ``unparsed_date``.

    >>> parse_date("29/02/2024", ["%d/%m/%Y"]).value
    datetime.date(2024, 2, 29)
    >>> parse_date("29/02/2023", ["%d/%m/%Y"]).problem, parse_date("2023", ["%d/%m/%Y"]).problem
    ('impossible_date', 'unparsed_date')
    >>> parse_date("Mar 1990", ["%d/%m/%Y", "%b %Y"]).precision
    'month'
    """
    cleaned = " ".join(text.split())
    if not cleaned:
        return ParsedDate(None, None, None)
    problem = UNPARSED_DATE
    for fmt in formats:
        match = _compile(fmt, with_time=False).fullmatch(cleaned)
        if match is None:
            continue
        parsed = _date_from_fields(match.groupdict())
        if parsed.problem is None:
            return parsed
        problem = IMPOSSIBLE_DATE
    return ParsedDate(None, None, problem)


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"unknown IANA timezone {timezone!r} (expected e.g. 'Europe/London')"
        ) from error


def _offset(text: str) -> dt.timezone:
    if text.upper() == "Z":
        return dt.UTC
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset out of range: {text}")
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if text[0] == "-" else delta)


def _datetime_from_fields(fields: dict[str, str], zone: ZoneInfo) -> dt.datetime:
    """The UTC instant the matched fields name; ``ValueError`` if they name none."""
    day, month = fields["day"], _month(fields)
    if month is None or _is_unknown(day) or _is_unknown(month):
        raise ValueError("unknown day or month")
    fraction = fields.get("fraction") or "0"
    local = dt.datetime(
        _year(fields),
        int(month),
        int(day),
        int(fields["hour"]),
        int(fields.get("minute") or 0),
        int(fields.get("second") or 0),
        int(fraction.ljust(6, "0")),
        fold=0,
    )
    offset = fields.get("offset")
    tzinfo = _offset(offset) if offset else zone
    return local.replace(tzinfo=tzinfo).astimezone(dt.UTC)


def parse_datetime(text: str, formats: Sequence[str], timezone: str) -> ParsedDateTime:
    """Read a date-time with the first of ``formats`` that fits, as an aware UTC datetime.

    Directives: those of :func:`parse_date` plus ``%H %M %S %f`` (fraction of a second,
    1-6 digits) and ``%z`` (``+01:00``, ``+0100``, ``+01`` or ``Z``); a ``T`` between
    date and time is a literal. A format needs a day, a month, a year and ``%H``;
    minutes and seconds default to 0. A value with an offset is converted from that
    offset; one without is local time in ``timezone`` (an IANA name such as
    ``"Europe/London"``; an unknown name raises ``ValueError``).

    At the clock changes a local time can be missing (01:30 on the last Sunday in March
    in London) or happen twice (01:30 on the last Sunday in October). Both are resolved
    with ``fold=0``, the offset in force before the change: a missing 01:30 is read as
    01:30 GMT (02:30 BST), a repeated 01:30 as its first occurrence, 01:30 BST (00:30 UTC).

    Problems: ``unparsed_datetime`` (fits no format) and ``impossible_datetime`` (fits a
    format but the values name no instant, such as 25:00 or 31 February).

    >>> parse_datetime("2024-07-01T14:05", ["%Y-%m-%dT%H:%M"], "Europe/London").value
    datetime.datetime(2024, 7, 1, 13, 5, tzinfo=datetime.timezone.utc)
    >>> parse_datetime("01/07/2024 14:05:00Z", ["%d/%m/%Y %H:%M:%S%z"], "Europe/London").value
    datetime.datetime(2024, 7, 1, 14, 5, tzinfo=datetime.timezone.utc)
    """
    zone = _zone(timezone)
    cleaned = " ".join(text.split())
    if not cleaned:
        return ParsedDateTime(None, None)
    problem = UNPARSED_DATETIME
    for fmt in formats:
        match = _compile(fmt, with_time=True).fullmatch(cleaned)
        if match is None:
            continue
        try:
            return ParsedDateTime(_datetime_from_fields(match.groupdict(), zone), None)
        except (ValueError, OverflowError):
            problem = IMPOSSIBLE_DATETIME
    return ParsedDateTime(None, problem)


def swap_day_month(d: dt.date) -> dt.date | None:
    """The date with day and month exchanged, to match DOBs keyed the other way round.

    ``None`` when the swap names no real date or gives the same date (day equals month).

    >>> swap_day_month(dt.date(1990, 3, 12)), swap_day_month(dt.date(1990, 3, 13))
    (datetime.date(1990, 12, 3), None)
    """
    if d.day == d.month or d.day > 12:
        return None
    # Both are now 1-12, and every month has twelve days: the swap is a real date.
    return dt.date(d.year, d.day, d.month)
