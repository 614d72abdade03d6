"""Measure extraction and linking against annotated reports.

Two gold standards, always reported separately:

- the **hand-written set** (``evalsets/handwritten.jsonl``, 185 reports written for this
  purpose, with ``evalsets/nominals.csv`` as the people the hub knows); see
  ``evalsets/README.md`` for its annotation rules;
- the **generator's reports**: a synthetic force's ``sources/intelligence/
  intel_reports.jsonl`` joined by ``intel_ref`` to ``truth/intel_spans.jsonl``, with the
  force's people (``truth/people.parquet``, their phones, vehicles and addresses) as the
  known people.

Per entity type: precision, recall and F1 on exact spans (same type, same start and
end), and the same on partial overlap (same type, overlapping; each gold span matched at
most once). Linking accuracy: among gold person spans that name a known person and that
the extractor found exactly, the share linked to that person; and how many gold spans of
people the hub does not know were linked to someone (wrongly).

The generator labels map onto ours as in :data:`GENERATOR_LABELS`. Its conventions differ
from the hand-written rules in two mechanical ways, aligned before scoring: a street name
in quotes is annotated with its quotes (ours are outside), and an age is the number alone
(ours includes the unit written with it, so ``34 YEARS OLD``). Labels with no counterpart
(PLACE, VEHICLE, COUNT) are counted and reported, never silently dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from peelian.text.extract import Extractor
from peelian.text.known import KnownPerson
from peelian.text.link import DEFAULT_THRESHOLD, PeopleIndex, link_mentions
from peelian.text.spans import ENTITY_TYPES, Extraction

__all__ = [
    "GENERATOR_LABELS",
    "TARGETS",
    "Document",
    "EvalResult",
    "GoldSpan",
    "TypeScore",
    "evaluate",
    "load_generated",
    "load_handwritten",
    "split_documents",
]

#: Generator span label -> our entity type (None: no counterpart, reported apart).
GENERATOR_LABELS: dict[str, str | None] = {
    "PERSON": "person",
    "STREET_NAME": "person",
    "AGE": "age",
    "DOB": "dob",
    "PHONE": "phone",
    "POSTCODE": "postcode",
    "ADDRESS": "address",
    "VRM": "vrm",
    "VRM_PARTIAL": "vrm",
    "MONEY": "money",
    "WEAPON": "weapon",
    "DRUG": "drug",
    "LINE_NAME": "organisation",
    "PLACE": None,
    "VEHICLE": None,
    "COUNT": None,
}

#: Targets on the hand-written set (issue 10): F1 per type, and linking accuracy.
TARGETS: dict[str, float] = {
    "phone": 0.95,
    "vrm": 0.95,
    "postcode": 0.95,
    "dob": 0.95,
    "person": 0.85,
    "linking": 0.9,
}

_AGE_UNIT_AFTER = re.compile(r"\s?(?:years?\s+old|yrs?|yo|y/o)\b", re.IGNORECASE)
_QUOTES = "'\"“”‘’"


@dataclass(frozen=True)
class GoldSpan:
    """A gold span; ``entity`` is the known person it refers to (persons) or holds (a
    phone, plate or address), ``linkable`` says whether the gold says who that is."""

    type: str
    start: int
    end: int
    text: str
    entity: str | None = None
    linkable: bool = True


@dataclass(frozen=True)
class Document:
    """One annotated report."""

    id: str
    text: str
    spans: tuple[GoldSpan, ...]
    relations: tuple[tuple[str, int, int], ...] = ()
    report_date: dt.date | None = None


@dataclass
class TypeScore:
    """Counts for one entity type; precision/recall/F1 from them."""

    gold: int = 0
    predicted: int = 0
    exact: int = 0
    overlap_gold: int = 0
    overlap_predicted: int = 0

    @staticmethod
    def _prf(tp_p: int, tp_r: int, predicted: int, gold: int) -> tuple[float, float, float]:
        p = tp_p / predicted if predicted else 0.0
        r = tp_r / gold if gold else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f

    @property
    def prf(self) -> tuple[float, float, float]:
        return self._prf(self.exact, self.exact, self.predicted, self.gold)

    @property
    def partial_prf(self) -> tuple[float, float, float]:
        return self._prf(self.overlap_predicted, self.overlap_gold, self.predicted, self.gold)


@dataclass
class EvalResult:
    """The scores of one evaluation set."""

    name: str
    documents: int
    types: dict[str, TypeScore]
    linking_found: int = 0
    linking_correct: int = 0
    linking_gold: int = 0
    unknown_found: int = 0
    unknown_linked: int = 0
    link_outcomes: Counter[str] = field(default_factory=Counter)
    object_links: Counter[str] = field(default_factory=Counter)
    relations: TypeScore = field(default_factory=TypeScore)
    unmapped: Counter[str] = field(default_factory=Counter)
    unmapped_covered: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0
    missing_reports: int = 0
    seconds: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def linking_accuracy(self) -> float:
        return self.linking_correct / self.linking_found if self.linking_found else 0.0

    def targets(self) -> dict[str, tuple[float, float, bool]]:
        """Each target: (achieved, target, met)."""
        out: dict[str, tuple[float, float, bool]] = {}
        for name, target in TARGETS.items():
            value = self.linking_accuracy if name == "linking" else self.types[name].prf[2]
            out[name] = (value, target, value >= target)
        return out


# --- loading --------------------------------------------------------------------------


def _evalsets() -> Path:
    return Path(str(resources.files("peelian.text").joinpath("evalsets")))


def load_handwritten(folder: Path | None = None) -> tuple[list[Document], list[KnownPerson]]:
    """The hand-written set and its known nominals."""
    folder = folder or _evalsets()
    documents = []
    with (folder / "handwritten.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            spans = tuple(
                GoldSpan(e["type"], e["start"], e["end"], e["text"], e["nominal"])
                for e in r["entities"]
            )
            relations = tuple((x["type"], x["head"], x["tail"]) for x in r["relations"])
            documents.append(Document(r["id"], r["text"], spans, relations))
    people = []
    with (folder / "nominals.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            people.append(
                KnownPerson(
                    entity_id=row["nominal_id"],
                    forenames=row["forenames"],
                    surname=row["surname"],
                    aliases=tuple(a for a in row["aliases"].split(";") if a),
                    dob=row["dob"] or None,
                    phones=(row["phone"],) if row["phone"] else (),
                    vrms=(row["vrm"],) if row["vrm"] else (),
                    postcodes=(row["postcode"],) if row["postcode"] else (),
                    addresses=(row["address"],) if row["address"] else (),
                )
            )
    return documents, people


def _align_generated(label: str, start: int, end: int, text: str) -> tuple[int, int]:
    """Move a generator span onto the hand-written conventions (see the module docstring)."""
    if label == "STREET_NAME":
        while end - start > 1 and text[start] in _QUOTES and text[end - 1] in _QUOTES:
            start, end = start + 1, end - 1
    if label == "AGE":
        unit = _AGE_UNIT_AFTER.match(text, end)
        if unit:
            end = unit.end()
    return start, end


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Rows of a JSON-lines file; lines that are not readable JSON objects are counted."""
    rows: list[dict[str, Any]] = []
    bad = 0
    with path.open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                bad += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
    return rows, bad


def load_generated(
    truth: Path,
) -> tuple[list[Document], list[KnownPerson], Counter[str], int, int]:
    """The generator's annotated intelligence reports of the force whose ``truth`` folder
    is given, and its people as known people.

    Returns ``(documents, people, unmapped label counts, unreadable report lines, span
    rows whose report is missing)``. Raises ``FileNotFoundError`` naming the missing file.
    """
    import pyarrow.parquet as pq

    reports_path = truth.parent / "sources" / "intelligence" / "intel_reports.jsonl"
    spans_path = truth / "intel_spans.jsonl"
    for path in (reports_path, spans_path, truth / "people.parquet"):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: --truth must be the truth folder of a force made by "
                "`peelian generate` (with sources/ beside it)"
            )
    reports, unreadable = _read_jsonl(reports_path)
    by_ref = {str(r.get("intel_ref")): r for r in reports if isinstance(r.get("report_text"), str)}
    annotated, _ = _read_jsonl(spans_path)
    owners = _owners(truth / "phones.parquet", "phone_id", "owner_id", pq)
    keepers = _owners(truth / "vehicles.parquet", "vehicle_id", "keeper_id", pq)
    unmapped: Counter[str] = Counter()
    documents: list[Document] = []
    missing = 0
    for row in annotated:
        report = by_ref.get(str(row.get("intel_ref")))
        if report is None:
            missing += 1
            continue
        text = report["report_text"]
        spans: list[GoldSpan] = []
        index_of: dict[int, int] = {}
        for k, s in enumerate(row.get("spans", [])):
            kind = GENERATOR_LABELS.get(s["label"])
            if kind is None:
                unmapped[s["label"]] += 1
                continue
            start, end = _align_generated(s["label"], s["start"], s["end"], text)
            entity = s.get("entity_id") or None
            linkable = kind in ("person", "phone", "vrm")
            if kind == "phone":
                entity = owners.get(entity or "")  # the phone's owner
            elif kind == "vrm":
                entity = keepers.get(entity or "")  # the vehicle's keeper
            elif kind != "person":
                entity = None  # an address has several residents: not scored
            index_of[k] = len(spans)
            spans.append(GoldSpan(kind, start, end, text[start:end], entity, linkable))
        relations = tuple(
            (x["relation"], index_of[x["subject"]], index_of[x["object"]])
            for x in row.get("relations", [])
            if x["subject"] in index_of and x["object"] in index_of
        )
        created = str(report.get("created") or "")[:10]
        try:
            day = dt.date.fromisoformat(created)
        except ValueError:
            day = None
        documents.append(Document(str(row["intel_ref"]), text, tuple(spans), relations, day))
    people = _generated_people(truth, pq)
    return documents, people, unmapped, unreadable, missing


def _owners(path: Path, key: str, owner: str, pq: Any) -> dict[str, str]:
    """Entity id (phone, vehicle) to the person who holds it, from a truth table."""
    if not path.is_file():
        return {}
    return {
        row[key]: row[owner]
        for row in pq.read_table(path, columns=[key, owner]).to_pylist()
        if row[owner]
    }


def _generated_people(truth: Path, pq: Any) -> list[KnownPerson]:
    people = pq.read_table(truth / "people.parquet").to_pylist()
    phones: dict[str, list[str]] = defaultdict(list)
    if (truth / "phones.parquet").is_file():
        for row in pq.read_table(truth / "phones.parquet").to_pylist():
            if row.get("owner_id"):
                phones[row["owner_id"]].append(row["number"])
    vrms: dict[str, list[str]] = defaultdict(list)
    if (truth / "vehicles.parquet").is_file():
        for row in pq.read_table(truth / "vehicles.parquet").to_pylist():
            if row.get("keeper_id"):
                vrms[row["keeper_id"]].append(row["vrm"])
    addresses: dict[str, tuple[str, str]] = {}
    if (truth / "addresses.parquet").is_file():
        for row in pq.read_table(truth / "addresses.parquet").to_pylist():
            line = ", ".join(
                x
                for x in (
                    f"Flat {row['flat']}" if row.get("flat") else "",
                    row.get("house_name") or "",
                    " ".join(x for x in (row.get("number") or "", row.get("street") or "") if x),
                    row.get("locality") or "",
                    row.get("town") or "",
                )
                if x
            )
            addresses[row["address_id"]] = (line, row.get("postcode") or "")
    known = []
    for p in people:
        aliases = [a for a in (p.get("street_name"), p.get("alias")) if a]
        if p.get("birth_surname") and p["birth_surname"] != p["surname"]:
            aliases.append(f"{p['forename']} {p['birth_surname']}")
        homes = [
            addresses[a]
            for a in (p.get("address_id"), p.get("moved_to_address_id"))
            if a in addresses
        ]
        forenames = " ".join(x for x in (p["forename"], p.get("middle_names") or "") if x)
        dob = p.get("date_of_birth")
        known.append(
            KnownPerson(
                entity_id=p["person_id"],
                forenames=forenames,
                surname=p["surname"],
                aliases=tuple(aliases),
                dob=dob.isoformat() if dob else None,
                phones=(
                    *([p["mobile"]] if p.get("mobile") else []),
                    *phones.get(p["person_id"], []),
                ),
                vrms=tuple(vrms.get(p["person_id"], [])),
                postcodes=tuple(pc for _, pc in homes if pc),
                addresses=tuple(line for line, _ in homes if line),
            )
        )
    return known


# --- scoring --------------------------------------------------------------------------


def _overlaps(a: Any, b: Any) -> bool:
    return bool(a.start < b.end and b.start < a.end)


def evaluate(
    name: str,
    documents: Sequence[Document],
    people: Iterable[KnownPerson],
    *,
    types: Iterable[str] = ENTITY_TYPES,
    threshold: float = DEFAULT_THRESHOLD,
    keep_errors: bool = False,
    extractor: Extractor | None = None,
    index: PeopleIndex | None = None,
) -> EvalResult:
    """Extract and link every document and score against its gold spans."""
    people = list(people)
    extractor = extractor or Extractor(people)
    index = index or PeopleIndex(people)
    wanted = tuple(types)
    result = EvalResult(name, len(documents), {t: TypeScore() for t in wanted})
    began = time.perf_counter()
    for doc in documents:
        extraction = extractor.extract(doc.text, report_date=doc.report_date)
        links = {
            link.span: link
            for link in link_mentions(
                extraction, index, report_date=doc.report_date, threshold=threshold
            )
        }
        _score_document(result, doc, extraction, links, wanted, keep_errors)
    result.seconds = time.perf_counter() - began
    return result


def _score_document(
    result: EvalResult,
    doc: Document,
    extraction: Extraction,
    links: dict[int, Any],
    wanted: tuple[str, ...],
    keep_errors: bool,
) -> None:
    predicted = [(i, s) for i, s in enumerate(extraction.spans) if s.type in wanted]
    for kind in wanted:
        gold = [g for g in doc.spans if g.type == kind]
        pred = [s for _, s in predicted if s.type == kind]
        score = result.types[kind]
        score.gold += len(gold)
        score.predicted += len(pred)
        gold_keys = {(g.start, g.end) for g in gold}
        pred_keys = {(s.start, s.end) for s in pred}
        score.exact += len(gold_keys & pred_keys)
        used: set[int] = set()
        for s in pred:
            match = next((k for k, g in enumerate(gold) if k not in used and _overlaps(s, g)), None)
            if match is not None:
                used.add(match)
                score.overlap_predicted += 1
        score.overlap_gold += len(used)
        if keep_errors:
            for g in gold:
                if (g.start, g.end) not in pred_keys:
                    result.errors.append(
                        {
                            "doc": doc.id,
                            "kind": "missed",
                            "type": kind,
                            "text": g.text,
                            "start": g.start,
                        }
                    )
            for s in pred:
                if (s.start, s.end) not in gold_keys:
                    result.errors.append(
                        {
                            "doc": doc.id,
                            "kind": "spurious",
                            "type": kind,
                            "text": s.text,
                            "start": s.start,
                            "rule": s.rule,
                        }
                    )
    by_offsets = {(s.start, s.end, s.type): i for i, s in enumerate(extraction.spans)}
    for g in doc.spans:
        i = by_offsets.get((g.start, g.end, g.type))
        if g.type == "person":
            if g.entity:
                result.linking_gold += 1
            if i is None:
                continue
            link = links.get(i)
            got = link.entity_id if link else None
            if g.entity:
                result.linking_found += 1
                result.link_outcomes[_outcome(link, g.entity)] += 1
                if got == g.entity:
                    result.linking_correct += 1
                elif keep_errors:
                    result.errors.append(
                        {
                            "doc": doc.id,
                            "kind": "link",
                            "type": "person",
                            "text": g.text,
                            "start": g.start,
                            "gold": g.entity,
                            "got": got,
                            "conf": link.confidence if link else None,
                            "cands": link.candidates[:3] if link else (),
                        }
                    )
            else:
                result.unknown_found += 1
                if got is not None:
                    result.unknown_linked += 1
                    if keep_errors:
                        result.errors.append(
                            {
                                "doc": doc.id,
                                "kind": "link_unknown",
                                "type": "person",
                                "text": g.text,
                                "start": g.start,
                                "got": got,
                                "conf": link.confidence if link else None,
                            }
                        )
        elif g.type in ("phone", "vrm", "address") and i is not None and g.linkable:
            link = links.get(i)
            got = link.entity_id if link else None
            outcome = "right" if got == g.entity else "wrong"
            result.object_links[f"{g.type} {outcome}"] += 1
    # Relations: exact head and tail spans (symmetric relations in either order).
    gold_rel: set[_Ends] = set()
    for name, head, tail in doc.relations:
        gh, gt = doc.spans[head], doc.spans[tail]
        gold_rel.add((name, (gh.start, gh.end), (gt.start, gt.end)))
    pred_rel: set[_Ends] = set()
    for rel in extraction.relations:
        ph, pt = extraction.spans[rel.head], extraction.spans[rel.tail]
        pred_rel.add((rel.type, (ph.start, ph.end), (pt.start, pt.end)))
    symmetric = {"partner_of", "family_of", "associate_of"}
    hits = 0
    for name, h_span, t_span in pred_rel:
        if (name, h_span, t_span) in gold_rel or (
            name in symmetric and (name, t_span, h_span) in gold_rel
        ):
            hits += 1
    result.relations.gold += len(gold_rel)
    result.relations.predicted += len(pred_rel)
    result.relations.exact += hits
    result.relations.overlap_gold += hits
    result.relations.overlap_predicted += hits


_Ends = tuple[str, tuple[int, int], tuple[int, int]]


def _outcome(link: Any, gold: str) -> str:
    """Why a gold person mention was or was not linked to its known person."""
    if link is None:
        return "not linked: no candidate"
    if link.entity_id == gold:
        return "linked right"
    if link.entity_id is not None:
        return "linked to someone else"
    ids = [pid for pid, _ in link.candidates]
    top = link.candidates[0][1] if link.candidates else 0.0
    if sum(1 for _, c in link.candidates if abs(c - top) < 1e-9) > 1:
        return "not linked: several known people fit equally"
    if gold not in ids:
        return "not linked: the person was not a candidate"
    return "not linked: evidence below the threshold"


def split_documents(
    documents: Sequence[Document], held_out_from: str
) -> tuple[list[Document], list[Document]]:
    """Documents before and from a report id (ids compare as text: ``HW0121``)."""
    before = [d for d in documents if d.id < held_out_from]
    after = [d for d in documents if d.id >= held_out_from]
    return before, after


def coverage_of_unmapped(truth: Path, extractor: Extractor) -> Counter[str]:
    """For each generator label with no counterpart, how many of its spans some extracted
    span overlaps (what the extractor makes of places, vehicles and counts)."""
    reports_path = truth.parent / "sources" / "intelligence" / "intel_reports.jsonl"
    reports, _ = _read_jsonl(reports_path)
    by_ref = {str(r.get("intel_ref")): r for r in reports if isinstance(r.get("report_text"), str)}
    annotated, _ = _read_jsonl(truth / "intel_spans.jsonl")
    covered: Counter[str] = Counter()
    for row in annotated:
        report = by_ref.get(str(row.get("intel_ref")))
        if report is None:
            continue
        spans = [s for s in row.get("spans", []) if GENERATOR_LABELS.get(s["label"]) is None]
        if not spans:
            continue
        extraction = extractor.extract(report["report_text"])
        for s in spans:
            if any(e.start < s["end"] and s["start"] < e.end for e in extraction.spans):
                covered[s["label"]] += 1
    return covered
