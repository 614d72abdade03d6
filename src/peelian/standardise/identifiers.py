"""Clean and validate UK identifiers: PNC IDs, CRO numbers, NI numbers, NHS numbers,
Unique Pupil Numbers, vehicle registration marks (VRMs) and postcodes (phone numbers are
in ``peelian.standardise.contact``).

Every ``normalise_*`` function returns the canonical form, or ``None`` when the text is
not a valid identifier. They never raise on arbitrary text, so a caller can keep the raw
value beside a ``None`` and flag it: validate, normalise, never silently drop. Functions
that take numbers (``format_pnc_id``, ``nhs_check_digit``...) raise ``ValueError`` with
the expected shape when given out-of-range input, because that is a programming error.

Input is trimmed, upper-cased and any Unicode whitespace (such as a non-breaking space)
treated as a space. Other non-ASCII characters make the text invalid, so that look-alike
letters (``"ſ".upper() == "S"``) never turn into a valid identifier.

Rules and their sources
-----------------------
PNC ID (Police National Computer), ``YYYY/NNNNNNNC``; short form ``YY/NNNNNNC``:
    check letter = ``"ZABCDEFGHJKLMNPQRTUVWXY"[int(YY + 7-digit serial) mod 23]``, where
    YY is the last two digits of the year (ACRO / Home Office PNC rule, as recorded in
    DOMAIN.md "Identifiers"). Example: ``2003/0062845E``.
CRO number (Criminal Records Office), ``NNNNNN/YYC``:
    same alphabet, over ``int(YY + 6-digit serial) mod 23``.
National Insurance number (HMRC National Insurance Manual, NIM39110):
    two prefix letters, six digits, suffix A-D. D, F, I, Q, U and V are never used in the
    prefix, O is never the second letter, and the prefixes BG, GB, KN, NK, NT, TN and ZZ
    are not allocated.
NHS number (NHS Data Dictionary, "NHS Number"):
    ten digits; check digit = 11 - (sum of the first nine digits weighted 10..2, mod 11);
    11 becomes 0 and 10 means the number is invalid (never issued).
Unique Pupil Number (DfE, "Unique Pupil Numbers (UPNs): guidance for schools and local
authorities"):
    a check letter then 12 digits; see :func:`upn_check_letter`.
VRM (DVLA, INF104 "Vehicle registration numbers and number plates"):
    - current (September 2001 onwards), ``AB12 CDE``: two letters (no I, Q, Z), a two-digit
      age identifier (March: YY, September: YY + 50), three letters (no I, Q). Only age
      identifiers already issued on ``today`` are accepted; the scheme's last identifier is
      ``00`` (September 2050 to February 2051).
    - prefix (1983-2001), ``A123 BCD``: a year letter (not I, O, Q, U, Z), 1-999 with no
      leading zero, three letters.
    - suffix (1963-1983), ``ABC 123D``: three letters, 1-999 with no leading zero, a year
      letter (not I, O, Q, U, Z).
    - dateless (before 1963, still transferable), ``ABC 123`` or ``1234 AB``: 1-3 letters
      and 1-4 digits in either order, digits with no leading zero.
    - Q plate (vehicle of uncertain age or identity), ``Q123 ABC``: Q, 1-999, three letters.
    In the letter groups of prefix, suffix, dateless and Q plates, I, Q and Z never appear:
    I and Z belong to Northern Ireland marks, which this module does not accept, and Q is
    kept for Q plates.
Postcode (Royal Mail Programmer's Guide to the PAF; BS 7666):
    outward code A9, A99, AA9, AA99, A9A or AA9A; inward code a digit and two letters,
    never C, I, K, M, O or V; plus the special ``GIR 0AA``. The shape is checked, not
    whether the postcode exists.
"""

import re
from datetime import date
from itertools import takewhile
from typing import Literal

__all__ = [
    "VrmStyle",
    "classify_vrm",
    "cro_check_letter",
    "format_cro_number",
    "format_pnc_id",
    "format_vrm",
    "is_valid_cro_number",
    "is_valid_nhs_number",
    "is_valid_ni_number",
    "is_valid_pnc_id",
    "is_valid_upn",
    "nhs_check_digit",
    "normalise_cro_number",
    "normalise_nhs_number",
    "normalise_ni_number",
    "normalise_pnc_id",
    "normalise_postcode",
    "normalise_upn",
    "normalise_vrm",
    "pnc_check_letter",
    "postcode_area",
    "postcode_district",
    "postcode_sector",
    "upn_check_letter",
    "vrm_age_identifier",
]


def _clean(text: str) -> str | None:
    """Trim, collapse whitespace runs to one space and upper-case; ``None`` if not ASCII."""
    cleaned = " ".join(text.split())
    if not cleaned.isascii():
        return None
    return cleaned.upper()


def _without_spaces(text: str) -> str | None:
    cleaned = _clean(text)
    return None if cleaned is None else cleaned.replace(" ", "")


# --- PNC ID and CRO number -------------------------------------------------------------

# 23 letters: the alphabet without I, O and S. Index 0 is Z.
_PNC_CRO_ALPHABET = "ZABCDEFGHJKLMNPQRTUVWXY"

_PNC_SEPARATED = re.compile(r"([0-9]{4}|[0-9]{2}) ?[/ ] ?([0-9]{1,7}) ?([A-Z])")
_PNC_COMPACT = re.compile(r"([0-9]{3,11}) ?([A-Z])")
_CRO = re.compile(r"([0-9]{1,6})(?: ?[/ ] ?)?([0-9]{2}) ?([A-Z])")


def _require_range(value: int, low: int, high: int, what: str) -> None:
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low} and {high}, got {value}")


def _century_for(two_digit_year: int, today: date) -> int:
    """The latest year ending in ``two_digit_year`` that is not after ``today``."""
    year = today.year - today.year % 100 + two_digit_year
    return year - 100 if year > today.year else year


def pnc_check_letter(year: int, serial: int) -> str:
    """Return the check letter of the PNC ID for ``year`` and ``serial``.

    Only the last two digits of ``year`` count, so 2003 and 3 give the same letter.

    >>> pnc_check_letter(2003, 62845)
    'E'
    """
    _require_range(year, 0, 9999, "PNC ID year")
    _require_range(serial, 0, 9_999_999, "PNC ID serial (7 digits)")
    return _PNC_CRO_ALPHABET[int(f"{year % 100:02d}{serial:07d}") % 23]


def format_pnc_id(year: int, serial: int) -> str:
    """Return the full PNC ID ``YYYY/NNNNNNNC`` for a four-digit ``year`` and ``serial``.

    >>> format_pnc_id(2003, 62845)
    '2003/0062845E'
    """
    _require_range(year, 1000, 9999, "PNC ID year (four digits, e.g. 2003)")
    return f"{year:04d}/{serial:07d}{pnc_check_letter(year, serial)}"


def normalise_pnc_id(text: str, *, today: date | None = None) -> str | None:
    """Return the full PNC ID ``YYYY/NNNNNNNC``, or ``None`` if ``text`` is not a valid one.

    Accepts the full form (``2003/0062845E``) and the short form (``03/62845E``, serial of
    1-7 digits), in any case, with a slash, a space or nothing between year and serial.
    Without a separator, 11 digits are read as YYYY + 7-digit serial, and 3 to 9 digits as
    YY + serial. A two-digit year is given the century that puts it in the 100 years up to
    ``today`` (default: the current date): with ``today`` in 2026, ``26`` is 2026 and
    ``27`` is 1927. The check letter must be right.

    >>> normalise_pnc_id("03/62845e")
    '2003/0062845E'
    >>> normalise_pnc_id("2003/0062845F") is None
    True
    """
    cleaned = _clean(text)
    if cleaned is None:
        return None
    if match := _PNC_SEPARATED.fullmatch(cleaned):
        year_text, serial_text, letter = match.groups()
    elif match := _PNC_COMPACT.fullmatch(cleaned):
        digits, letter = match.groups()
        if len(digits) == 11:
            year_text, serial_text = digits[:4], digits[4:]
        elif len(digits) <= 9:
            year_text, serial_text = digits[:2], digits[2:]
        else:
            return None
    else:
        return None
    year = int(year_text)
    if len(year_text) == 2:
        year = _century_for(year, today or date.today())
    elif year < 1000:
        return None
    serial = int(serial_text)
    if letter != pnc_check_letter(year, serial):
        return None
    return format_pnc_id(year, serial)


def is_valid_pnc_id(text: str, *, today: date | None = None) -> bool:
    """Whether ``text`` is a PNC ID, full or short, with the right check letter.

    >>> is_valid_pnc_id("2003/0062845E")
    True
    """
    return normalise_pnc_id(text, today=today) is not None


def cro_check_letter(year: int, serial: int) -> str:
    """Return the check letter of the CRO number for ``year`` and ``serial``.

    Only the last two digits of ``year`` count (1993 and 93 are the same).

    >>> cro_check_letter(93, 123456)
    'X'
    """
    _require_range(year, 0, 9999, "CRO number year")
    _require_range(serial, 0, 999_999, "CRO number serial (6 digits)")
    return _PNC_CRO_ALPHABET[int(f"{year % 100:02d}{serial:06d}") % 23]


def format_cro_number(year: int, serial: int) -> str:
    """Return the CRO number ``NNNNNN/YYC``; ``year`` may have two or four digits.

    >>> format_cro_number(1993, 123456)
    '123456/93X'
    """
    letter = cro_check_letter(year, serial)
    return f"{serial:06d}/{year % 100:02d}{letter}"


def normalise_cro_number(text: str) -> str | None:
    """Return the CRO number as ``NNNNNN/YYC``, or ``None`` if ``text`` is not a valid one.

    Accepts a serial of 1-6 digits, any case, and a slash, a space or nothing before the
    year. The check letter must be right.

    >>> normalise_cro_number("12345/93 z")
    '012345/93Z'
    """
    cleaned = _clean(text)
    if cleaned is None or (match := _CRO.fullmatch(cleaned)) is None:
        return None
    serial, year, letter = int(match[1]), int(match[2]), match[3]
    if letter != cro_check_letter(year, serial):
        return None
    return format_cro_number(year, serial)


def is_valid_cro_number(text: str) -> bool:
    """Whether ``text`` is a CRO number with the right check letter.

    >>> is_valid_cro_number("123456/93X")
    True
    """
    return normalise_cro_number(text) is not None


# --- National Insurance number ---------------------------------------------------------

# First letter: not D, F, I, Q, U, V. Second letter: not those, nor O.
_NI_NUMBER = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]")
_NI_UNALLOCATED_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def normalise_ni_number(text: str) -> str | None:
    """Return the NI number upper case without spaces, or ``None`` if it is not valid.

    >>> normalise_ni_number("ab 12 34 56 c")
    'AB123456C'
    >>> normalise_ni_number("QQ 12 34 56 C") is None
    True
    """
    compact = _without_spaces(text)
    if compact is None or not _NI_NUMBER.fullmatch(compact):
        return None
    if compact[:2] in _NI_UNALLOCATED_PREFIXES:
        return None
    return compact


def is_valid_ni_number(text: str) -> bool:
    """Whether ``text`` is a National Insurance number (spaces and case ignored).

    >>> is_valid_ni_number("GB123456A")
    False
    """
    return normalise_ni_number(text) is not None


# --- NHS number ------------------------------------------------------------------------

_NINE_DIGITS = re.compile(r"[0-9]{9}")
_NHS_NUMBER = re.compile(r"[0-9]{10}")


def nhs_check_digit(first9: str) -> int | None:
    """Return the check digit for the first nine digits of an NHS number.

    Returns ``None`` when the check would be 10: no NHS number starts with those digits.

    >>> nhs_check_digit("943476591")
    9
    """
    if not _NINE_DIGITS.fullmatch(first9):
        raise ValueError(f"nhs_check_digit expects exactly nine digits 0-9, got {first9!r}")
    total = sum(int(digit) * weight for digit, weight in zip(first9, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def normalise_nhs_number(text: str) -> str | None:
    """Return the NHS number as ten digits, or ``None`` if it is not valid.

    Spaces and hyphens are ignored.

    >>> normalise_nhs_number("943 476 5919")
    '9434765919'
    """
    compact = _without_spaces(text)
    if compact is None:
        return None
    compact = compact.replace("-", "")
    if not _NHS_NUMBER.fullmatch(compact):
        return None
    if nhs_check_digit(compact[:9]) != int(compact[9]):
        return None
    return compact


def is_valid_nhs_number(text: str) -> bool:
    """Whether ``text`` is an NHS number with the right check digit.

    >>> is_valid_nhs_number("9434765918")
    False
    """
    return normalise_nhs_number(text) is not None


# --- Unique Pupil Number ---------------------------------------------------------------

# 23 letters: the alphabet without I, O and S. Index 0 is A.
_UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
_TWELVE_DIGITS = re.compile(r"[0-9]{12}")
_UPN = re.compile(r"([A-Z])([0-9]{12})")


def upn_check_letter(twelve_digits: str) -> str:
    """Return the check letter (character 1) of a Unique Pupil Number.

    As specified in DfE "UPN and former UPN" guidance: each of characters 2-13 is
    multiplied by its position (2 to 13), the products are summed, and the sum mod 23
    indexes ``"ABCDEFGHJKLMNPQRTUVWXYZ"`` (0 is A, 22 is Z). Characters 2-4 are the local
    authority number and 5-8 the establishment number. Temporary UPNs, whose last
    character is a letter, are not supported.

    >>> upn_check_letter("801200005001")
    'B'
    """
    if not _TWELVE_DIGITS.fullmatch(twelve_digits):
        raise ValueError(
            f"upn_check_letter expects the 12 digits after the check letter, got {twelve_digits!r}"
        )
    total = sum(int(digit) * position for position, digit in enumerate(twelve_digits, start=2))
    return _UPN_ALPHABET[total % 23]


def normalise_upn(text: str) -> str | None:
    """Return the UPN upper case without spaces, or ``None`` if it is not valid.

    >>> normalise_upn("b 801200005001")
    'B801200005001'
    """
    compact = _without_spaces(text)
    if compact is None or (match := _UPN.fullmatch(compact)) is None:
        return None
    if match[1] != upn_check_letter(match[2]):
        return None
    return compact


def is_valid_upn(text: str) -> bool:
    """Whether ``text`` is a Unique Pupil Number with the right check letter.

    >>> is_valid_upn("B801200005001")
    True
    """
    return normalise_upn(text) is not None


# --- Vehicle registration marks --------------------------------------------------------

VrmStyle = Literal["current", "prefix", "suffix", "dateless", "q_plate"]

_YEAR_LETTER = "[A-HJ-NPR-TV-Y]"  # prefix and suffix year letter: not I, O, Q, U, Z
_OLD_LETTERS = "[A-HJ-PR-Y]"  # letter groups of older marks: not I, Q, Z
_NUMBER_1_999 = "[1-9][0-9]{0,2}"

# Each pattern has two groups: the display form puts a space between them.
_VRM_PATTERNS: tuple[tuple[VrmStyle, re.Pattern[str]], ...] = (
    ("current", re.compile(r"([A-HJ-PR-Y]{2}[0-9]{2})([A-HJ-PR-Z]{3})")),
    ("prefix", re.compile(rf"({_YEAR_LETTER}{_NUMBER_1_999})({_OLD_LETTERS}{{3}})")),
    ("suffix", re.compile(rf"({_OLD_LETTERS}{{3}})({_NUMBER_1_999}{_YEAR_LETTER})")),
    ("q_plate", re.compile(rf"(Q{_NUMBER_1_999})({_OLD_LETTERS}{{3}})")),
    ("dateless", re.compile(rf"({_OLD_LETTERS}{{1,3}})([1-9][0-9]{{0,3}})")),
    ("dateless", re.compile(rf"([1-9][0-9]{{0,3}})({_OLD_LETTERS}{{1,3}})")),
)

_SCHEME_START = date(2001, 9, 1)


def vrm_age_identifier(year: int, month: int) -> str:
    """Return the current-style age identifier for a first registration in ``month``.

    March to August use the year's last two digits; September to February use them plus
    50, January and February belonging to the previous September. The scheme ran from
    September 2001 and runs out after February 2051 (September 2050 is ``00``).

    >>> vrm_age_identifier(2024, 3), vrm_age_identifier(2024, 9), vrm_age_identifier(2025, 2)
    ('24', '74', '74')
    """
    _require_range(month, 1, 12, "month")
    if (year, month) < (2001, 9):
        raise ValueError(
            f"no current-style age identifier for {year}-{month:02d}: "
            "the scheme started in September 2001"
        )
    if (year, month) > (2051, 2):
        raise ValueError(
            f"no current-style age identifier for {year}-{month:02d}: "
            "the scheme runs out after February 2051"
        )
    if 3 <= month <= 8:
        return f"{year % 100:02d}"
    september_year = year if month >= 9 else year - 1
    return f"{(september_year % 100 + 50) % 100:02d}"


def _age_identifier_start(identifier: int) -> date | None:
    """First day an age identifier was issued, or ``None`` if the scheme never issues it."""
    if identifier == 0:
        return date(2050, 9, 1)
    if identifier <= 50:
        start = date(2000 + identifier, 3, 1)
    else:
        start = date(2000 + identifier - 50, 9, 1)
    return start if start >= _SCHEME_START else None


def _parse_vrm(text: str, today: date | None) -> tuple[VrmStyle, str, str] | None:
    """Return ``(style, before_space, after_space)`` for a valid VRM, else ``None``."""
    compact = _without_spaces(text)
    if compact is None:
        return None
    compact = compact.replace("-", "")
    for style, pattern in _VRM_PATTERNS:
        if match := pattern.fullmatch(compact):
            if style == "current":
                start = _age_identifier_start(int(match[1][2:]))
                if start is None or start > (today or date.today()):
                    return None
            return style, match[1], match[2]
    return None


def classify_vrm(text: str, *, today: date | None = None) -> VrmStyle | None:
    """Return the style of a UK number plate, or ``None`` if ``text`` is not a valid one.

    Styles: ``"current"``, ``"prefix"``, ``"suffix"``, ``"dateless"`` and ``"q_plate"``.
    A current-style mark is valid only if its age identifier has been issued by ``today``
    (default: the current date).

    >>> classify_vrm("ab12 cde"), classify_vrm("A123 BCD"), classify_vrm("ABC 123D")
    ('current', 'prefix', 'suffix')
    """
    parsed = _parse_vrm(text, today)
    return None if parsed is None else parsed[0]


def normalise_vrm(text: str, *, today: date | None = None) -> str | None:
    """Return the VRM upper case without spaces or hyphens, for matching; ``None`` if invalid.

    >>> normalise_vrm(" ab12-cde ")
    'AB12CDE'
    """
    parsed = _parse_vrm(text, today)
    return None if parsed is None else parsed[1] + parsed[2]


def format_vrm(text: str, *, today: date | None = None) -> str | None:
    """Return the VRM as displayed on the plate, with the space in its place; ``None`` if invalid.

    >>> format_vrm("AB12CDE"), format_vrm("A123BCD"), format_vrm("ABC123D")
    ('AB12 CDE', 'A123 BCD', 'ABC 123D')
    """
    parsed = _parse_vrm(text, today)
    return None if parsed is None else f"{parsed[1]} {parsed[2]}"


# --- Postcodes -------------------------------------------------------------------------

_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][0-9A-Z]?)([0-9][ABD-HJLNP-UW-Z]{2})")
_GIRO_POSTCODE = "GIR0AA"


def normalise_postcode(text: str) -> str | None:
    """Return the postcode as ``"OUTWARD INWARD"`` upper case, or ``None`` if it is not valid.

    >>> normalise_postcode(" sw1a1aa ")
    'SW1A 1AA'
    """
    compact = _without_spaces(text)
    if compact is None:
        return None
    if compact == _GIRO_POSTCODE:
        return "GIR 0AA"
    if match := _POSTCODE.fullmatch(compact):
        return f"{match[1]} {match[2]}"
    return None


def _split_postcode(postcode: str) -> tuple[str, str]:
    normalised = normalise_postcode(postcode)
    if normalised is None:
        raise ValueError(f"not a valid UK postcode: {postcode!r} (expected e.g. 'SW1A 1AA')")
    outward, inward = normalised.split(" ")
    return outward, inward


def postcode_district(postcode: str) -> str:
    """Return the postcode district (the outward code). Raises ``ValueError`` if invalid.

    >>> postcode_district("sw1a 1aa")
    'SW1A'
    """
    return _split_postcode(postcode)[0]


def postcode_sector(postcode: str) -> str:
    """Return the postcode sector: outward code, space, first inward digit.

    >>> postcode_sector("LS1 4DY")
    'LS1 4'
    """
    outward, inward = _split_postcode(postcode)
    return f"{outward} {inward[0]}"


def postcode_area(postcode: str) -> str:
    """Return the postcode area: the letters the outward code starts with.

    >>> postcode_area("LS1 4DY"), postcode_area("W1A 1AA")
    ('LS', 'W')
    """
    outward = _split_postcode(postcode)[0]
    return "".join(takewhile(str.isalpha, outward))
