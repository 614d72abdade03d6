"""Relations a report states between the spans found in it.

Each sentence (or record line) is rewritten as a skeleton in which every span is a tag
(``<P3>`` person 3, ``<A5>`` address 5...), and cue patterns are matched on the skeleton:
``<P0> ... lives at <A1>``, ``<P0>'s dad <P2>``, ``<V4> ... keeper <P5>``. A quoted alias
straight after a name is the same person, so a relation is stated from the first full
mention, as the annotation guidelines ask.

Relations (head -> tail): partner_of, family_of, associate_of, works_for, drives_for,
supplies (person -> person or organisation), runs_line (person -> line brand),
staying_at and lives_at (person -> address or postcode; staying_at also -> person),
uses_phone (person -> phone), uses_vehicle (person -> plate).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from peelian.text.spans import Relation, Span

__all__ = ["find_relations"]

_TAG_LETTER = {
    "person": "P",
    "address": "A",
    "postcode": "C",
    "phone": "H",
    "vrm": "V",
    "organisation": "O",
    "dob": "D",
    "age": "G",
    "money": "M",
    "datetime": "T",
    "drug": "X",
    "weapon": "W",
}
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_TAG = r"<([A-Z])(\d+)>"
_PERSON = r"<P(\d+)>"
# Between a name and the address it lives at: dates of birth, ages, aliases, and words.
_FILLER = r"(?:\s|[,;:()\-–]|<[DGP]\d+>|[\"“”'’]){0,40}"
_LIVES = re.compile(
    _PERSON
    + _FILLER
    + r"(?:(?:who\s+)?(?:lives|living|resides|residing|is\s+living)\s+(?:at|in|on)\s+|of\s+|"
    r"(?:home\s+)?(?:addr(?:ess)?|address\s+given|gave\s+address)(?:\s+(?:as|is|of))?\s*:?\s*|"
    r"home\s*:?\s*|lka\s*:?\s*|\(lac\s*-\s*|at\s+)?" + _FILLER + r"<([AC])(\d+)>",
    re.IGNORECASE,
)
_WHERE_LIVES = re.compile(r"<([AC])(\d+)>[^<]{0,20}\bwhere\s+" + _PERSON + r"\s+lives", re.I)
_LABEL_ADDRESS = re.compile(
    r"(?:^|\n)\s*(?:home|address|addr|home\s+addr(?:ess)?|last\s+known\s+address|lka|"
    r"gave\s+address|address\s+given)\s*[:\-]?\s*<([AC])(\d+)>",
    re.IGNORECASE,
)
_STAYING = re.compile(
    _PERSON
    + r"[^<]{0,60}?\b(?:staying|stays|stayed|stay|sofa[\s-]surfing|crashing|stopping|living)\s+"
    r"(?:at|with|in)\s+(?:a\s+|the\s+)?(?:flat\s+(?:at|of)\s+)?<([AP])(\d+)>",
    re.IGNORECASE,
)
_MOVED_IN = re.compile(_PERSON + r"[^<]{0,40}\bhas\s+\"?moved\s+in", re.IGNORECASE)
_PHONE_CUE = re.compile(
    r"\b(?:mobile|mob|tel|phone|number|no|contact|callback|call\s+back|ring|text|whatsapp|"
    r"uses|using|on|numbers?|handset|sim)\b|[(:,]",
    re.IGNORECASE,
)
_VEHICLE_CUE = re.compile(
    r"\b(?:drives|driving|driven|driver|drove|uses|using|vehicle|veh|van|car|keeper|owns|"
    r"reg(?:istered)?|vrm|plates?|in|his|her|mercedes|merc|audi|bmw|golf|ford|vauxhall)\b",
    re.IGNORECASE,
)
_KEEPER = re.compile(
    r"<V(\d+)>[^<]{0,80}?\b(?:keeper|reg(?:istered)?\s+to|registered\s+keeper|owner)\b\s*[:\-]?\s*"
    + _PERSON,
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"(?:<P(\d+)>\s*(?:'s|’s)\s+|\b(?:his|her|their|the|my|a|an|whose)\s+)?"
    r"(?:(?:younger|older|little|big|elder|baby|twin|half|eldest|youngest)\s+)?"
    r"(?P<cue>(?:step[\s-]?)?(?:mum|mother|mom|dad|father|brother|sister|son|daughter|cousin|"
    r"uncle|aunt(?:ie)?|nephew|niece|grandson|granddaughter|grandmother|grandfather|nan|"
    r"grandma|grandad|wife|husband|partner|girlfriend|boyfriend|ex(?:-partner)?|fianc[eé]e?))"
    r"s?\b(?:\s+is\s+(?:believed\s+to\s+be\s+)?)?\s*[,:(\-]?\s*" + _PERSON,
    re.IGNORECASE,
)
_RELATIVE_OF = re.compile(
    _PERSON
    + r"[^<]{0,30}?\b(?:is|as)\s+(?:the\s+|his\s+|her\s+)?(?P<cue>mum|mother|dad|father|brother|"
    r"sister|son|daughter|cousin|boyfriend|girlfriend|partner|wife|husband)\s+of\s+" + _PERSON,
    re.IGNORECASE,
)
_PARTNER_CUES = {"wife", "husband", "partner", "girlfriend", "boyfriend", "ex", "ex-partner"}
_PARTNER_CUES |= {"fiance", "fiancee", "fiancé", "fiancée"}
_ASSOCIATE = re.compile(
    _PERSON
    + r"[^<.]{0,60}?\b(?:associat(?:ing|es|ed|e)\s+(?:with|of)?|walking\s+with|stopped\s+with|"
    r"seen\s+with|working\s+with|not\s+to\s+contact|no\s+contact\s+with|hangs?\s+(?:around|round)\s+with|"
    r"hanging\s+(?:around|round)\s+with|member\s+of|part\s+of|knows)\s+(?:the\s+)?"
    r"(?P<rest>(?:<[PO]\d+>(?:\s*(?:,|and|or|&)\s*)?)+)",
    re.IGNORECASE,
)
_WORKS = re.compile(
    _PERSON + r"[^<]{0,60}?\b(?:works?\s+(?:for|at)|working\s+(?:for|at)|employed\s+(?:by|at)|"
    r"runner\s+for|runs\s+for|employee\s+of|owner\s+of|owns|manager\s+(?:at|of)|"
    r"(?:is|as)\s+(?:a\s+)?[a-z\s]{0,30}(?:for|at))\s+(?:the\s+|a\s+)?<([PO])(\d+)>",
    re.IGNORECASE,
)
_STAFF_OF = re.compile(
    r"<O(\d+)>[^<]{0,60}?\b(?:store\s+detective|manager|owner|security|staff\s+member|"
    r"engineer|worker|employee|driver|referrer|dsl|officer)\s*[,:]?\s*(?:mrs?\s+|ms\s+)?" + _PERSON,
    re.IGNORECASE,
)
_DRIVES_FOR = re.compile(
    _PERSON + r"[^<]{0,40}?\b(?:driver\s+for|drives\s+for|driving\s+for)\s+" + _PERSON,
    re.IGNORECASE,
)
_DRIVEN_BY = re.compile(
    r"\b(?:driven|taken|transported)\s+(?:about\s+|around\s+)?by\s+[^<]{0,40}?" + _PERSON,
    re.IGNORECASE,
)
_RUNS_LINE = re.compile(
    _PERSON + r"[^<]{0,60}?\b(?:runs?|running|controls?|controlling|man\s+behind|behind|holding|"
    r"has\s+taken\s+back)\b[^<]{0,25}?<O(\d+)>",
    re.IGNORECASE,
)
_LINE_RUN_BY = re.compile(
    r"<O(\d+)>[^<]{0,80}?\b(?:controlled\s+by|run\s+by|ran\s+by|controller\s+(?:is\s+)?"
    r"(?:believed\s+(?:to\s+be\s+)?)?)\s*" + _PERSON,
    re.IGNORECASE,
)
_SUPPLIES = re.compile(
    _PERSON
    + r"[^<]{0,80}?\b(?:suppl(?:y|ies|ying|ied)|sells?\s+(?:on\s+)?to|selling\s+(?:on\s+)?to|"
    r"sold\s+(?:on\s+)?to|passing\s+them\s+to|weighed\s+in\s+at)\s+[^<]{0,30}?"
    r"(?P<rest>(?:<[PO]\d+>(?:[^<]{0,30}?\b(?:and|or)\b\s*[^<]{0,10})?)+)",
    re.IGNORECASE,
)
_SUPPLIED_BY = re.compile(
    r"(?:delivered|supplied|brought\s+in)\s+by\s+[^<]{0,30}?" + _PERSON, re.IGNORECASE
)
_ALIAS_AFTER = re.compile(
    _PERSON + r"\s*(?:,|\()?\s*(?:aka|a\.k\.a\.?|known\s+as|goes\s+by)?\s*[\"“'‘]?<P(\d+)>",
    re.IGNORECASE,
)


def _sentences(text: str) -> list[tuple[int, int]]:
    bounds = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    return [(a, b) for a, b in bounds if b > a]


def _skeleton(text: str, spans: Sequence[Span], a: int, b: int) -> str:
    parts: list[str] = []
    position = a
    for index, span in enumerate(spans):
        if span.start < a or span.end > b:
            continue
        parts.append(text[position : span.start])
        parts.append(f"<{_TAG_LETTER.get(span.type, 'Z')}{index}>")
        position = span.end
    parts.append(text[position:b])
    return "".join(parts)


def find_relations(text: str, spans: Sequence[Span]) -> list[Relation]:
    """The relations the text states between ``spans`` (indexes into ``spans``).

    >>> from peelian.text.extract import Extractor
    >>> e = Extractor().extract("Kyle BARRETT lives at 27 Spencer Place, Leeds.")
    >>> [(r.type, e.spans[r.head].text, e.spans[r.tail].text) for r in e.relations]
    [('lives_at', 'Kyle BARRETT', '27 Spencer Place, Leeds')]
    """
    found: dict[tuple[str, int, int], None] = {}
    canonical: dict[int, int] = {}

    def head(index: int) -> int:
        while index in canonical:
            index = canonical[index]
        return index

    def add(kind: str, a: int, b: int) -> None:
        a, b = head(a), head(b)
        if a == b:
            return
        if kind in ("partner_of", "family_of", "associate_of") and (kind, b, a) in found:
            return
        found[(kind, a, b)] = None

    people = [i for i, s in enumerate(spans) if s.type == "person"]
    previous_subject: int | None = None
    mentions: dict[int, int] = {}
    # Addresses followed straight away by their postcode: the postcode belongs to them.
    attached_postcodes = {
        j
        for j, s in enumerate(spans)
        if s.type == "postcode"
        and j > 0
        and spans[j - 1].type == "address"
        and not text[spans[j - 1].end : s.start].strip(" ,")
    }
    for a, b in _sentences(text):
        sk = _skeleton(text, spans, a, b)
        for m in _ALIAS_AFTER.finditer(sk):
            first, second = int(m[1]), int(m[2])
            gap = sk[m.start() : m.end()]
            if re.search(r"aka|known|goes|[\"“'‘(]", gap, re.I):
                canonical[second] = head(first)
        in_sentence = [i for i in people if a <= spans[i].start < b]
        subject = head(in_sentence[0]) if in_sentence else previous_subject
        # lives_at
        for m in _LIVES.finditer(sk):
            target = int(m[3])
            if target in attached_postcodes:
                continue
            add("lives_at", int(m[1]), target)
        for m in _WHERE_LIVES.finditer(sk):
            add("lives_at", int(m[3]), int(m[2]))
        for m in _LABEL_ADDRESS.finditer(sk):
            target = int(m[2])
            if target not in attached_postcodes and (
                subject is not None or previous_subject is not None
            ):
                who = subject if subject is not None else previous_subject
                if who is not None:
                    add("lives_at", who, target)
        for m in _STAYING.finditer(sk):
            add("staying_at", int(m[1]), int(m[3]))
        # "has moved in": into the home of the report's subject, when an address is given.
        homes = [i for i, s in enumerate(spans) if s.type == "address" and s.start < a]
        for m in _MOVED_IN.finditer(sk):
            if homes:
                add("staying_at", int(m[1]), homes[0])
        # uses_phone, uses_vehicle: the nearest name before, with a cue word between.
        for m in re.finditer(r"<([HV])(\d+)>", sk):
            kind, index = m[1], int(m[2])
            before = list(re.finditer(_PERSON, sk[: m.start()]))
            cue_pattern = _PHONE_CUE if kind == "H" else _VEHICLE_CUE
            relation = "uses_phone" if kind == "H" else "uses_vehicle"
            if before:
                last = before[-1]
                between = sk[last.end() : m.start()]
                if (
                    len(between) <= 80
                    and not re.search(r"<[PH]\d+>", between)
                    and (cue_pattern.search(between) or not between.strip(" ,()"))
                ):
                    add(relation, int(last[1]), index)
                    continue
            owner_match = re.match(r"\s*\(\s*" + _PERSON + r"\s*(?:'s|’s)", sk[m.end() :])
            if owner_match:
                add(relation, int(owner_match[1]), index)
        for m in _KEEPER.finditer(sk):
            add("uses_vehicle", int(m[2]), int(m[1]))
        # family and partners
        for m in _RELATIVE.finditer(sk):
            cue_word = m["cue"].lower().replace("-", "").replace("step", "").strip()
            relation = "partner_of" if cue_word in _PARTNER_CUES else "family_of"
            other = int(m.groups()[-1])
            owner = int(m[1]) if m[1] else None
            if owner is None:
                earlier = list(re.finditer(_PERSON, sk[: m.start()]))
                if earlier:
                    owner = int(earlier[0][1])
                elif subject is not None and head(subject) != head(other):
                    owner = subject
                elif previous_subject is not None:
                    owner = previous_subject
            if owner is not None:
                add(relation, other, owner)
        for m in _RELATIVE_OF.finditer(sk):
            relation = "partner_of" if m["cue"].lower() in _PARTNER_CUES else "family_of"
            add(relation, int(m[1]), int(m.groups()[-1]))
        for m in _ASSOCIATE.finditer(sk):
            for t in re.finditer(r"<([PO])(\d+)>", m["rest"]):
                add("associate_of", int(m[1]), int(t[2]))
        for m in _WORKS.finditer(sk):
            add("works_for", int(m[1]), int(m[3]))
        for m in _STAFF_OF.finditer(sk):
            add("works_for", int(m[2]), int(m[1]))
        for m in _DRIVES_FOR.finditer(sk):
            add("drives_for", int(m[1]), int(m[2]))
        for m in _DRIVEN_BY.finditer(sk):
            if subject is not None:
                add("drives_for", int(m[1]), subject)
        for m in _RUNS_LINE.finditer(sk):
            add("runs_line", int(m[1]), int(m[2]))
        for m in _LINE_RUN_BY.finditer(sk):
            add("runs_line", int(m[2]), int(m[1]))
        for m in _SUPPLIES.finditer(sk):
            for t in re.finditer(r"<([PO])(\d+)>", m["rest"]):
                add("supplies", int(m[1]), int(t[2]))
        for m in _SUPPLIED_BY.finditer(sk):
            if subject is not None:
                add("supplies", int(m[1]), subject)
        for i in in_sentence:
            mentions[head(i)] = mentions.get(head(i), 0) + 1
        if mentions:
            # "his", "her" with no name in the sentence: the person the report is about
            # so far (the most mentioned, the earliest on a tie).
            previous_subject = max(mentions, key=lambda k: (mentions[k], -k))
    return [Relation(kind, a, b) for kind, a, b in found]
