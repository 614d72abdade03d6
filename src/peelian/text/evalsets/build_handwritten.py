"""Build handwritten.jsonl from the inline-marked source handwritten_source.txt.

The source holds one report per block::

    === HW0001 | intel_log
    Source states [[p:N0001#a|Kyle BARRETT]] uses [[ph#b|07700 900907]].
    >> a uses_phone b

A block runs from its ``===`` header to the next header. Every line that does not
start with ``>>`` is report text (hard line breaks are kept; the block is stripped
of leading and trailing blank space). An entity is marked ``[[code|text]]``,
``[[code:N0001|text]]`` (a known nominal) and/or ``[[code#label|text]]`` (a label
that ``>> head relation tail`` lines refer to). Codes:

    p person, age age, dob dob, ph phone, vrm vrm, pc postcode, addr address,
    wpn weapon, drug drug, money money, dt datetime, org organisation

A header may end with writing tags (``=== HW0002 | call_log | caps typos``: caps,
typos, breaks for hard line breaks mid-sentence); they are counted, not shipped.

Run ``python build_handwritten.py`` to rewrite handwritten.jsonl, ``--stats`` for the
counts the README quotes, or ``--lint`` to list text outside any span that looks like a
missed annotation (numbers shaped like phones, plates or postcodes, money, dates, known
names and aliases, drug and weapon terms): a reviewing aid, most hits are false alarms.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from peelian.text.spans import ENTITY_TYPES, RELATION_TYPES

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "handwritten_source.txt"
TARGET = HERE / "handwritten.jsonl"
NOMINALS = HERE / "nominals.csv"

CODES = {
    "p": "person",
    "age": "age",
    "dob": "dob",
    "ph": "phone",
    "vrm": "vrm",
    "pc": "postcode",
    "addr": "address",
    "wpn": "weapon",
    "drug": "drug",
    "money": "money",
    "dt": "datetime",
    "org": "organisation",
}
# every code names a type the extractor finds (the set is scored on them)
if not set(CODES.values()) <= set(ENTITY_TYPES):
    raise SystemExit(f"codes name unknown types: {set(CODES.values()) - set(ENTITY_TYPES)}")
STYLES = {
    "intel_log",
    "crime_narrative",
    "custody_note",
    "call_log",
    "stop_search",
    "missing_return",
    "safeguarding",
    "anpr",
    "social_media",
    "other",
}
RELATIONS = set(RELATION_TYPES)  # the extractor's relations: the set is scored on them
NOMINAL_TYPES = {"person", "phone", "vrm", "address"}

HEADER = re.compile(r"^=== (HW\d{4}) \| (\w+)(?: \| ([\w ]+))?\s*$")
TAGS = {"caps", "typos", "breaks"}
MARK = re.compile(r"\[\[([a-z]+)(?::(N\d{4}))?(?:#(\w+))?\|([^\[\]|]+)\]\]")
RELATION = re.compile(r"^>> (\w+) (\w+) (\w+)\s*$")


class SourceError(ValueError):
    pass


def parse_block(rid: str, style: str, lines: list[str], nominal_ids: set[str]) -> dict[str, Any]:
    body = [line for line in lines if not line.startswith(">>")]
    rel_lines = [line for line in lines if line.startswith(">>")]
    marked = "\n".join(body).strip()
    text_parts: list[str] = []
    entities: list[dict[str, Any]] = []
    labels: dict[str, int] = {}
    pos = 0
    length = 0
    for m in MARK.finditer(marked):
        before = marked[pos : m.start()]
        if "[[" in before or "]]" in before:
            raise SourceError(f"{rid}: broken mark near {before[-40:]!r}")
        text_parts.append(before)
        length += len(before)
        code, nominal, label, span = m.groups()
        if code not in CODES:
            raise SourceError(f"{rid}: unknown code {code!r}")
        kind = CODES[code]
        if nominal is not None and (kind not in NOMINAL_TYPES or nominal not in nominal_ids):
            raise SourceError(f"{rid}: bad nominal {nominal} on {kind} {span!r}")
        if span != span.strip():
            raise SourceError(f"{rid}: span with outer blanks {span!r}")
        entities.append(
            {
                "type": kind,
                "start": length,
                "end": length + len(span),
                "text": span,
                "nominal": nominal,
            }
        )
        if label:
            if label in labels:
                raise SourceError(f"{rid}: label {label} used twice")
            labels[label] = len(entities) - 1
        text_parts.append(span)
        length += len(span)
        pos = m.end()
    rest = marked[pos:]
    if "[[" in rest or "]]" in rest:
        raise SourceError(f"{rid}: broken mark near {rest[:40]!r}")
    text_parts.append(rest)
    text = "".join(text_parts)
    relations = []
    for line in rel_lines:
        rm = RELATION.match(line)
        if not rm:
            raise SourceError(f"{rid}: bad relation line {line!r}")
        head, rel, tail = rm.groups()
        if rel not in RELATIONS or head not in labels or tail not in labels:
            raise SourceError(f"{rid}: bad relation {line!r}")
        relations.append({"type": rel, "head": labels[head], "tail": labels[tail]})
    unused = set(labels) - {x for line in rel_lines for x in line.split()[1::2]}
    if unused:
        raise SourceError(f"{rid}: labels never related: {sorted(unused)}")
    for e in entities:
        assert text[e["start"] : e["end"]] == e["text"]
    return {"id": rid, "style": style, "text": text, "entities": entities, "relations": relations}


def load_nominals() -> list[dict[str, str]]:
    with NOMINALS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def parse(
    source: str, nominal_ids: set[str], tags: dict[str, set[str]] | None = None
) -> list[dict[str, Any]]:
    """Reports in source order; `tags` (if given) receives each report's writing tags."""
    reports: list[dict[str, Any]] = []
    errors: list[str] = []
    current: tuple[str, str] | None = None
    lines: list[str] = []

    def flush() -> None:
        if current:
            try:
                reports.append(parse_block(*current, lines, nominal_ids))
            except SourceError as e:
                errors.append(str(e))

    for line in source.splitlines():
        m = HEADER.match(line)
        if m:
            flush()
            current = (m.group(1), m.group(2))
            if current[1] not in STYLES:
                raise SourceError(f"{current[0]}: unknown style {current[1]}")
            marks = set((m.group(3) or "").split())
            if marks - TAGS:
                raise SourceError(f"{current[0]}: unknown tags {sorted(marks - TAGS)}")
            if tags is not None:
                tags[current[0]] = marks
            lines = []
        elif current:
            lines.append(line)
        elif line.strip() and not line.startswith("#"):
            raise SourceError(f"text before the first report: {line!r}")
    flush()
    if errors:
        raise SourceError("\n".join(errors))
    ids = [r["id"] for r in reports]
    if len(ids) != len(set(ids)):
        raise SourceError("duplicate report ids")
    return reports


def lint(reports: list[dict[str, Any]], nominals: list[dict[str, str]]) -> list[str]:
    """Text outside every span that looks like an entity someone forgot to mark."""
    words: set[str] = set()
    for n in nominals:
        words.update(w.lower() for w in n["forenames"].split())
        words.update(w.lower() for w in re.split(r"[ -]", n["surname"]) if len(w) > 2)
        words.update(a.lower() for a in n["aliases"].split(";") if a and " " not in a)
    ref = Path(__file__).resolve().parents[2] / "reference"
    terms: set[str] = set()
    for table, column in (("drug_terms.csv", "term"), ("weapon_terms.csv", "term")):
        with (ref / table).open(encoding="utf-8") as f:
            terms.update(r[column].lower() for r in csv.DictReader(f) if len(r[column]) > 2)
    terms.update({"heroin", "cocaine", "cannabis", "knife", "firearm", "ketamine", "spice"})
    shapes = [
        ("phone", re.compile(r"(?:\+44|0044|\b0)[\d \-]{9,13}\d")),
        ("vrm", re.compile(r"\b[A-Z]{2}\d{2} ?[A-Z]{3}\b", re.I)),
        ("postcode", re.compile(r"\b[A-Z]{1,2}\d{1,2}[A-Z]? ?\d[A-Z]{2}\b", re.I)),
        ("district", re.compile(r"\b(?:LS|BD|WF|HD|HX|YO|LN|HG|HU|S|M|B)\d{1,2}\b", re.I)),
        ("money", re.compile(r"£\s?\d|\b\d+k\b|\bgrand\b|\bquid\b", re.I)),
        ("time", re.compile(r"\b\d{4}\s?hrs\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{1,2}[ap]m\b", re.I)),
        (
            "day",
            re.compile(
                r"\b(?:mon|tues?|wed|thu|thurs|fri|sat|sun)(?:day)?s?\b|\b(?:january|february"
                r"|march|april|june|july|august|september|october|november|december"
                r"|yesterday|today|tonight|tomorrow|2nite|tonite|2moro|tmoro|tmrw)\b",
                re.I,
            ),
        ),
    ]
    out: list[str] = []
    for r in reports:
        text = r["text"]
        mask = list(text)
        for e in r["entities"]:
            for k in range(e["start"], e["end"]):
                mask[k] = "\0"
        free = "".join(mask)
        for name, rx in shapes:
            for m in rx.finditer(free):
                out.append(f"{r['id']}: {name}? {m.group(0)!r}")
        for m in re.finditer(r"[A-Za-z][A-Za-z'\-]+", free):
            w = m.group(0).lower()
            if w in words or w in terms:
                out.append(f"{r['id']}: word? {m.group(0)!r}")
    return out


def stats(reports: list[dict[str, Any]], tags: dict[str, set[str]]) -> list[str]:
    """The counts the README quotes."""
    styles = Counter(r["style"] for r in reports)
    types = Counter(e["type"] for r in reports for e in r["entities"])
    relations = Counter(x["type"] for r in reports for x in r["relations"])
    people = [e for r in reports for e in r["entities"] if e["type"] == "person"]
    known = sum(1 for e in people if e["nominal"])
    marks = Counter(t for ts in tags.values() for t in ts)
    out = [f"reports {len(reports)}"]
    out += [f"style {k} {v}" for k, v in sorted(styles.items())]
    out += [f"entity {k} {v}" for k, v in sorted(types.items())]
    out.append(f"entities {sum(types.values())}")
    out += [f"relation {k} {v}" for k, v in sorted(relations.items())]
    out.append(f"relations {sum(relations.values())}")
    out.append(
        f"person mentions {len(people)}, of known nominals {known} ({known / len(people):.0%})"
    )
    out.append(f"nominals mentioned {len({e['nominal'] for e in people if e['nominal']})}")
    out += [f"tag {k} {v}" for k, v in sorted(marks.items())]
    return out


def main(argv: list[str]) -> int:
    nominals = load_nominals()
    tags: dict[str, set[str]] = {}
    reports = parse(SOURCE.read_text(encoding="utf-8"), {n["nominal_id"] for n in nominals}, tags)
    if "--lint" in argv:
        for line in lint(reports, nominals):
            print(line)
        return 0
    if "--stats" in argv:
        for line in stats(reports, tags):
            print(line)
        return 0
    with TARGET.open("w", encoding="utf-8") as f:
        for r in reports:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(reports)} reports to {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
