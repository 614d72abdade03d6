"""Phone numbers and email addresses: one place to parse, normalise and flag them.

Phones are read with ``phonenumbers`` (Google's libphonenumber metadata) and stored in
E.164 (``+447700900123``), the form that links the same handset across call records,
custody records and intelligence. Nothing is dropped: a foreign number is kept and
flagged ``foreign_phone``, a number the metadata does not know is flagged
``invalid_phone`` with its E.164 form still given when its length is possible, and the
raw text always travels with the result.

>>> parse_phone("07457-800-359").e164
'+447457800359'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

__all__ = ["ParsedPhone", "parse_email", "parse_phone"]

INVALID_PHONE = "invalid_phone"
FOREIGN_PHONE = "foreign_phone"
INVALID_EMAIL = "invalid_email"

_UK_COUNTRY_CODE = 44


@dataclass(frozen=True)
class ParsedPhone:
    """A phone number as read: E.164 form, the raw text and what is known about it.

    ``e164`` is ``None`` only when the text is not a phone number of a possible length.
    ``valid`` means the number is in a range allocated in the numbering plan; ``uk``
    that ``e164`` has country code +44 (which also serves the Channel Islands and the Isle of
    Man); ``mobile`` that the metadata types it as a mobile number (UK 071-075 and
    077-079; personal numbers 070 and pagers 076 are not mobiles).
    """

    e164: str | None
    raw: str
    valid: bool
    uk: bool
    mobile: bool
    problem: str | None


# phonenumbers takes tens of microseconds a number and sources repeat numbers; the
# cache is bounded, so memory stays bounded whatever the input.
@lru_cache(maxsize=1 << 16)
def parse_phone(text: str, region: str = "GB") -> ParsedPhone:
    """Read a phone number written in any common way; national numbers are in ``region``.

    Accepts ``07700 900123``, ``(07700) 900 123``, ``+44 7700 900123``, ``0044 7700
    900123``, ``447700900123``, ``+44 (0)7700 900123`` and foreign numbers with their
    ``+`` or ``00`` prefix. Problems:

    - ``invalid_phone``: not a number, a number of impossible length (``e164`` is then
      ``None``), or a number of possible length in a range the numbering plan does not
      allocate (``e164`` is given so that the same mistyped or made-up number still
      links; Ofcom's drama numbers ``07700 900000``-``900999`` are such numbers).
    - ``foreign_phone``: a valid number outside +44, kept and flagged, not rejected.

    Blank text is missing, not a problem: no number and no problem.

    >>> parse_phone("+33 6 12 34 56 78")
    ParsedPhone(e164='+33612345678', raw='+33 6 12 34 56 78', valid=True, uk=False, \
mobile=True, problem='foreign_phone')
    """
    if not text.strip():
        return ParsedPhone(None, text, valid=False, uk=False, mobile=False, problem=None)
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return ParsedPhone(None, text, valid=False, uk=False, mobile=False, problem=INVALID_PHONE)
    uk = number.country_code == _UK_COUNTRY_CODE
    # one look-up of the number's type (UNKNOWN exactly when `is_valid_number` is
    # false): asking both walks the numbering plan's patterns twice
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        if not phonenumbers.is_possible_number(number):
            return ParsedPhone(None, text, False, uk=False, mobile=False, problem=INVALID_PHONE)
        return ParsedPhone(_e164(number), text, False, uk=uk, mobile=False, problem=INVALID_PHONE)
    return ParsedPhone(
        _e164(number),
        text,
        valid=True,
        uk=uk,
        mobile=kind == PhoneNumberType.MOBILE,
        problem=None if uk else FOREIGN_PHONE,
    )


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A practical subset of RFC 5321/5322: dot-atom local part, dotted domain of LDH labels
# and a top-level domain of two or more letters (or punycode, xn--...). No quoted local
# parts, no IP literals.
_LOCAL_PART = r"[A-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN_LABEL = r"[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?"
_TOP_LEVEL_DOMAIN = r"(?:[A-Z]{2,63}|XN--[A-Z0-9-]{1,58}[A-Z0-9])"  # letters, or punycode
_EMAIL = re.compile(
    rf"(?P<local>{_LOCAL_PART})@(?P<domain>(?:{_DOMAIN_LABEL}\.)+{_TOP_LEVEL_DOMAIN})",
    re.IGNORECASE | re.ASCII,
)
_MAX_LOCAL_PART, _MAX_ADDRESS = 64, 254


def parse_email(text: str) -> tuple[str | None, str | None]:
    """Return ``(address, problem)``: the address trimmed and in lower case, or the problem.

    A syntactic check only, no DNS: a dot-atom local part of at most 64 characters, ``@``,
    a domain of dot-separated labels (letters, digits, inner hyphens) ending in a
    top-level domain of letters (or punycode), 254 characters in all. A ``mailto:`` prefix and angle
    brackets are removed. The whole address is lower-cased: providers treat local parts
    case-insensitively, so ``John.Smith@`` and ``john.smith@`` are one mailbox for
    linking. Internationalised (non-ASCII) addresses are flagged ``invalid_email``.
    Blank text gives ``(None, None)``.

    >>> parse_email(" John.Smith@Example.CO.UK "), parse_email("john@@example")
    (('john.smith@example.co.uk', None), (None, 'invalid_email'))
    """
    if not text.strip():
        return None, None
    cleaned = text.strip().removeprefix("<").removesuffix(">").strip()
    if cleaned[:7].lower() == "mailto:":
        cleaned = cleaned[7:]
    match = _EMAIL.fullmatch(cleaned)
    if match is None or len(match["local"]) > _MAX_LOCAL_PART or len(cleaned) > _MAX_ADDRESS:
        return None, INVALID_EMAIL
    return cleaned.lower(), None
