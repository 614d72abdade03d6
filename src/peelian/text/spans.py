"""What extraction returns: typed spans over a document's text and the relations between them.

These plain, frozen dataclasses are the contract between :mod:`peelian.text.extract`,
:mod:`peelian.text.link` and :mod:`peelian.text.evaluate`. Offsets are Python string
offsets (code points), so ``text[span.start:span.end] == span.text`` always holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ENTITY_TYPES",
    "RELATION_TYPES",
    "Extraction",
    "Relation",
    "Span",
]

ENTITY_TYPES = (
    "person",
    "age",
    "dob",
    "phone",
    "vrm",
    "postcode",
    "address",
    "weapon",
    "drug",
    "money",
    "datetime",
    "organisation",
)

RELATION_TYPES = (
    "partner_of",
    "family_of",
    "associate_of",
    "runs_line",
    "works_for",
    "drives_for",
    "staying_at",
    "lives_at",
    "uses_phone",
    "uses_vehicle",
    "supplies",
)


@dataclass(frozen=True, slots=True)
class Span:
    """One entity mention.

    ``value`` is the normalised form where one exists: E.164 for a phone, the VRM upper
    case without spaces (or a pattern with ``?`` for an unread character and ``*`` for an
    unknown run, such as ``AB12???`` or ``*4XK``) for a plate, ``"LS7 4DR"`` or the outward
    code ``"LS7"`` for a postcode, an ISO date (``1997-05-30``, partial ``1996-03`` or
    ``1998``) for a date of birth, an ISO date and/or time for a date-time where the text
    fixes one (``2024-03-23T22:14``, ``--05-02`` when the year is not written, ``22:14``),
    whole years for an age, the amount for money (``unit`` ``GBP``, ``EUR`` or ``USD``), and
    the canonical drug or weapon (``heroin``, ``knife``). Ranges (``14-16``, ``£150-£250``,
    ``30s``) put the upper end in ``value_max``. ``rule`` names the rule that found the span,
    for explaining a result.
    """

    type: str
    start: int
    end: int
    text: str
    value: str | int | float | None = None
    value_max: int | float | None = None
    unit: str | None = None
    rule: str = ""


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation the text states between two spans (indexes into ``Extraction.spans``)."""

    type: str
    head: int
    tail: int


@dataclass(frozen=True, slots=True)
class Extraction:
    """Everything extracted from one document, spans in text order."""

    text: str
    spans: tuple[Span, ...] = ()
    relations: tuple[Relation, ...] = field(default=())

    def of_type(self, kind: str) -> list[Span]:
        """The spans of one type, in text order."""
        return [s for s in self.spans if s.type == kind]
