"""Purpose of access: why a person search or profile view is made.

A purpose is an incident or crime reference, or a reason from a fixed list with
a note saying what the enquiry is. It is recorded with the access in the audit
log as one line of text, which `parse_purpose` reads back, so the auditor and
misuse detection see the same thing the officer gave:

    incident WM-20241103-0045
    crime 43/000123/24
    reason safeguarding: welfare check on caller's child, no log yet

>>> parse_purpose("Incident wm-20241103-0045").text
'incident WM-20241103-0045'
>>> parse_purpose("reason officer_safety: roadside stop of the vehicle").linked
False
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Reasons an access may have without an incident or crime reference.
REASONS: dict[str, str] = {
    "investigation": "an investigation without a crime reference yet",
    "intelligence": "intelligence development or assessment",
    "safeguarding": "a safeguarding or welfare enquiry",
    "officer_safety": "officer safety (a stop, a visit, an arrest)",
    "missing_person": "a missing or wanted person enquiry",
    "disclosure": "a disclosure request (court, vetting, DBS, subject access)",
    "data_quality": "correcting or merging records",
    "audit": "an audit or professional-standards review",
    "training": "training on test records",
}
LINKED_KINDS = ("incident", "crime")
MAX_PURPOSE_CHARS = 300
MIN_NOTE_CHARS = 10
# A reference: letters, digits and the separators forces use (/ - .), 3 to 40 long.
_REFERENCE = re.compile(r"[A-Z0-9][A-Z0-9/\-.]{1,38}[A-Z0-9]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PurposeError(ValueError):
    """A purpose that is missing, malformed or names an unknown reason."""


@dataclass(frozen=True)
class Purpose:
    """A parsed purpose: `kind` is incident, crime or reason; `reference` is set for
    the first two, `reason` (a REASONS key) and `note` for the third."""

    kind: str
    reference: str | None = None
    reason: str | None = None
    note: str | None = None

    @property
    def linked(self) -> bool:
        """True when the access is tied to an incident or crime reference."""
        return self.kind in LINKED_KINDS

    @property
    def text(self) -> str:
        """The canonical one-line form recorded in the audit log."""
        if self.linked:
            return f"{self.kind} {self.reference}"
        return f"reason {self.reason}: {self.note}"


def parse_purpose(text: str | None) -> Purpose:
    """Read a purpose given by a user (or recorded in the audit log).

    Raises PurposeError, saying what is expected, for anything else.
    """
    if text is None or not text.strip():
        raise PurposeError(
            "a purpose of access is required: an incident or crime reference "
            "('incident WM-20241103-0045', 'crime 43/000123/24') or a reason with a note "
            f"('reason safeguarding: ...'; reasons: {', '.join(REASONS)})"
        )
    if len(text) > MAX_PURPOSE_CHARS:
        raise PurposeError(f"the purpose is {len(text)} characters; at most {MAX_PURPOSE_CHARS}")
    if _CONTROL.search(text):
        raise PurposeError("the purpose contains control characters")
    head, _, rest = text.strip().partition(" ")
    kind = head.lower().rstrip(":")
    rest = rest.strip()
    if kind in LINKED_KINDS:
        reference = rest.upper()
        if not _REFERENCE.fullmatch(reference):
            raise PurposeError(
                f"{rest!r} is not a {kind} reference: 3 to 40 letters, digits, '/', '-' or '.'"
            )
        return Purpose(kind, reference=reference)
    if kind == "reason":
        code, colon, note = rest.partition(":")
        code = code.strip().lower()
        if code not in REASONS:
            raise PurposeError(f"unknown reason {code!r}: expected one of {', '.join(REASONS)}")
        note = " ".join(note.split())
        if not colon or len(note) < MIN_NOTE_CHARS:
            raise PurposeError(
                f"a reason needs a note of at least {MIN_NOTE_CHARS} characters saying what "
                f"the enquiry is: 'reason {code}: ...'"
            )
        return Purpose("reason", reason=code, note=note)
    raise PurposeError(
        f"a purpose starts with 'incident', 'crime' or 'reason', not {head!r} "
        "(e.g. 'incident WM-20241103-0045')"
    )
