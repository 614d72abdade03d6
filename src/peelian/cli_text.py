"""CLI commands for intelligence text: extract, eval nlp, bench nlp.

Registered on the `peelian` app by `peelian.cli` (imported at its end). These commands
print scores and rates only, never the text of a report.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from peelian.cli import _bench_table, app, bench_app, out_console
from peelian.cli_resolve import HubOption, _fail, _open_hub, eval_app

if TYPE_CHECKING:
    from peelian.text.evaluate import EvalResult
    from peelian.text.extract import Extractor
    from peelian.text.known import KnownPerson
    from peelian.text.link import PeopleIndex

ThresholdOption = Annotated[
    float,
    typer.Option("--threshold", min=0.0, max=1.0, help="Link confidence needed to link a mention."),
]


def _run_extract(hub_path: Path, quiet: bool) -> None:
    from peelian.hub import HubError, has_table
    from peelian.text.hub import extract_hub

    with _open_hub(hub_path) as hub:
        if not has_table(hub.con, "entity_membership"):
            raise _fail(f"{hub_path}: the hub has no entities yet; run `peelian resolve` first")
        hub.con.execute("BEGIN TRANSACTION")
        try:
            summary = extract_hub(hub.con)
            hub.con.execute("COMMIT")
        except HubError as exc:
            hub.con.execute("ROLLBACK")
            raise _fail(f"{hub_path}: {exc}") from exc
        except BaseException:
            hub.con.execute("ROLLBACK")
            raise
    if not quiet:
        table = Table(title=f"Extracted {hub_path}")
        table.add_column("result")
        table.add_column("count", justify="right")
        for name, value in (
            ("documents", summary.documents),
            ("known people (the gazetteer)", summary.known_people),
            ("extracted mentions", summary.mentions),
            ("linked to an entity", summary.linked),
            ("stated relations", summary.relations),
        ):
            table.add_row(name, f"{value:,}")
        if summary.hub is not None:
            for entity_type, n in sorted(summary.hub.attached.items()):
                name = entity_type if " " in entity_type else f"joined to {entity_type} entities"
                table.add_row(name, f"{n:,}")
            table.add_row(
                "stated relations and names linked to their document", f"{summary.hub.links:,}"
            )
        table.add_row("documents per second", f"{summary.per_second:,.0f}")
        out_console.print(table)


@app.command("extract")
def extract_cmd(
    hub: HubOption,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
) -> None:
    """Extract people, ages, dates of birth, phones, plates, postcodes, addresses, weapons,
    drugs, money, dates and organisations from every document in the hub (intelligence
    reports, crime narratives, call logs, referrals), link the people, phones, plates and
    addresses to the resolved entities, and keep the relations the text states. Every
    extracted fact carries the marking of its document. Needs a resolved hub.

    Prints counts only; a person's "mentioned in" documents are read through the access
    policy on their profile.

    Example:

        peelian extract --hub data/hub
    """
    _run_extract(hub, quiet)


@eval_app.command("extract")
def eval_extract(
    hub: HubOption,
    truth: Annotated[Path, typer.Option("--truth", help="The force's truth folder.")],
) -> None:
    """Score the hub's extracted person names (`peelian extract`) in the intelligence
    reports against a synthetic force's annotated reports: of the names of people the hub
    knows, how many were found and linked to the right entity. Target: 0.9.

    Example:

        peelian eval extract --hub data/hub --truth data/force/truth
    """
    from peelian.hub import has_table
    from peelian.text.hub import evaluate_links

    with _open_hub(hub, read_only=True) as opened:
        if not has_table(opened.con, "text_mentions"):
            raise _fail(f"{hub} has no extracted text; run `peelian extract --hub {hub}`")
        try:
            score = evaluate_links(opened.con, truth)
        except FileNotFoundError as exc:
            raise _fail(str(exc)) from exc
    table = Table(title=f"Names in intelligence reports linked in {hub} against {truth}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("names of people the hub knows", f"{score.gold:,}")
    table.add_row("found (exact span)", f"{score.found:,}")
    table.add_row("linked to the right entity", f"{score.right:,}")
    table.add_row("linked to another entity", f"{score.wrong:,}")
    table.add_row("not linked", f"{score.unlinked:,}")
    table.add_row("  of the right ones, through the report's own subjects", f"{score.by_record:,}")
    met = "met" if score.accuracy >= 0.9 else "NOT MET"
    table.add_row("linking accuracy", f"{score.accuracy:.3f} (>= 0.9 {met})")
    table.add_row("precision of the links made", f"{score.precision:.3f}")
    out_console.print(table)


def _type_table(result: EvalResult, title: str) -> Table:
    table = Table(title=title)
    for column in ("type", "gold", "found", "precision", "recall", "F1", "partial F1", "target"):
        table.add_column(column, justify="left" if column in ("type", "target") else "right")
    from peelian.text.evaluate import TARGETS

    for kind, score in result.types.items():
        p, r, f = score.prf
        _, _, pf = score.partial_prf
        target = ""
        if kind in TARGETS and result.name == "hand-written":
            target = f">= {TARGETS[kind]} " + ("met" if f >= TARGETS[kind] else "NOT MET")
        table.add_row(
            kind,
            f"{score.gold:,}",
            f"{score.predicted:,}",
            f"{p:.3f}",
            f"{r:.3f}",
            f"{f:.3f}",
            f"{pf:.3f}",
            target,
        )
    return table


def _linking_table(result: EvalResult, title: str, *, target: bool) -> Table:
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    from peelian.text.evaluate import TARGETS

    accuracy = result.linking_accuracy
    mark = ""
    if target:
        goal = TARGETS["linking"]
        mark = f"  (>= {goal} " + ("met)" if accuracy >= goal else "NOT MET)")
    table.add_row(
        "linking accuracy (gold known-person spans found exactly)",
        f"{accuracy:.3f} ({result.linking_correct:,}/{result.linking_found:,}){mark}",
    )
    table.add_row("gold spans of known people", f"{result.linking_gold:,}")
    for outcome, n in sorted(result.link_outcomes.items()):
        table.add_row(f"  {outcome}", f"{n:,}")
    if result.unknown_found:
        table.add_row(
            "gold spans of unknown people wrongly linked",
            f"{result.unknown_linked:,} of {result.unknown_found:,} found",
        )
    for key, n in sorted(result.object_links.items()):
        table.add_row(f"phone/vrm/address links: {key}", f"{n:,}")
    p, r, f = result.relations.prf
    table.add_row(
        "stated relations (exact head and tail)",
        f"P {p:.3f}  R {r:.3f}  F1 {f:.3f} ({result.relations.gold:,} gold)",
    )
    table.add_row("reports", f"{result.documents:,}")
    table.add_row("seconds (extract + link + score)", f"{result.seconds:,.1f}")
    return table


@eval_app.command("nlp")
def eval_nlp(
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="A generated force's truth folder: also score the generator's annotated "
            "intelligence reports (a second, separate set).",
        ),
    ] = None,
    held_out_from: Annotated[
        str | None,
        typer.Option(
            "--held-out-from",
            help="Also score the hand-written reports before and from this id separately "
            "(e.g. HW0121: the rules were written looking at the reports before it).",
        ),
    ] = None,
    threshold: ThresholdOption = 0.5,
) -> None:
    """Score entity extraction (precision, recall, F1 per type; exact spans and partial
    overlap) and person linking on the hand-written evaluation set, and, with --truth,
    on a synthetic force's annotated intelligence reports. The two sets are reported
    separately; targets apply to the hand-written set.

    Example:

        peelian eval nlp --truth data/force/truth
    """
    from peelian.text.evaluate import (
        GENERATOR_LABELS,
        coverage_of_unmapped,
        evaluate,
        load_generated,
        load_handwritten,
        split_documents,
    )
    from peelian.text.extract import Extractor
    from peelian.text.link import PeopleIndex

    documents, people = load_handwritten()
    extractor = Extractor(people)
    index = PeopleIndex(people)
    result = evaluate(
        "hand-written", documents, people, threshold=threshold, extractor=extractor, index=index
    )
    out_console.print(_type_table(result, f"Hand-written set: {len(documents)} reports, entities"))
    out_console.print(_linking_table(result, "Hand-written set: linking", target=True))
    if held_out_from:
        before, after = split_documents(documents, held_out_from)
        split = Table(title=f"Hand-written set split at {held_out_from}: F1 (exact)")
        split.add_column("type")
        split.add_column(f"before ({len(before)})", justify="right")
        split.add_column(f"from ({len(after)})", justify="right")
        parts = [
            evaluate(name, docs, people, threshold=threshold, extractor=extractor, index=index)
            for name, docs in (("before", before), ("from", after))
        ]
        for kind in result.types:
            split.add_row(kind, *(f"{p.types[kind].prf[2]:.3f}" for p in parts))
        split.add_row("linking accuracy", *(f"{p.linking_accuracy:.3f}" for p in parts))
        out_console.print(split)
    met = result.targets()
    summary = ", ".join(
        f"{name} {value:.3f} {'met' if ok else 'NOT MET'}" for name, (value, _, ok) in met.items()
    )
    out_console.print(f"targets (hand-written set): {summary}")
    if truth is None:
        return
    if not truth.is_dir():
        raise _fail(f"--truth {truth}: no such folder")
    try:
        generated, gen_people, unmapped, unreadable, missing = load_generated(truth)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    types = sorted({v for v in GENERATOR_LABELS.values() if v})
    gen_extractor = Extractor(gen_people)
    gen_result = evaluate(
        "generated",
        generated,
        gen_people,
        types=types,
        threshold=threshold,
        extractor=gen_extractor,
    )
    out_console.print(
        _type_table(
            gen_result, f"Generator's reports ({truth}): {len(generated):,} reports, entities"
        )
    )
    out_console.print(
        _linking_table(
            gen_result,
            f"Generator's reports: linking ({len(gen_people):,} known people)",
            target=False,
        )
    )
    mapping = Table(title="Generator labels")
    mapping.add_column("label")
    mapping.add_column("scored as")
    mapping.add_column("spans", justify="right")
    mapping.add_column("overlapped by some extracted span", justify="right")
    covered = coverage_of_unmapped(truth, gen_extractor)
    for label, scored in GENERATOR_LABELS.items():
        if scored is None:
            mapping.add_row(
                label, "no counterpart (not scored)", f"{unmapped[label]:,}", f"{covered[label]:,}"
            )
        else:
            mapping.add_row(label, scored, "", "")
    out_console.print(mapping)
    if unreadable or missing:
        out_console.print(
            f"note: {unreadable:,} unreadable report lines (the generator's broken rows) and "
            f"{missing:,} annotated reports without a readable report were skipped"
        )


# --- bench --------------------------------------------------------------------------

_WORKER: tuple[Extractor, PeopleIndex | None] | None = None
_PEOPLE: list[KnownPerson] = []


def _start_worker(with_people: bool) -> None:
    """Build the extractor (and the people index) once per process."""
    global _WORKER
    from peelian.text.extract import Extractor
    from peelian.text.link import PeopleIndex

    _WORKER = (Extractor(_PEOPLE), PeopleIndex(_PEOPLE) if with_people else None)


def _work(texts: Sequence[str]) -> int:
    from peelian.text.link import link_mentions

    assert _WORKER is not None
    extractor, index = _WORKER
    spans = 0
    for text in texts:
        extraction = extractor.extract(text)
        if index is not None:
            link_mentions(extraction, index)
        spans += len(extraction.spans)
    return spans


def _run(texts: list[str], workers: int, link: bool) -> tuple[float, int]:
    """Seconds to process ``texts`` (after each process has built its extractor)."""
    chunks = [texts[k : k + 50] for k in range(0, len(texts), 50)]
    if workers <= 1:
        _start_worker(link)
        began = time.perf_counter()
        spans = sum(_work(chunk) for chunk in chunks)
        return time.perf_counter() - began, spans
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_start_worker, initargs=(link,)) as pool:
        pool.map(_work, [[]] * workers, chunksize=1)  # every worker is ready
        began = time.perf_counter()
        spans = sum(pool.map(_work, chunks))
        return time.perf_counter() - began, spans


@bench_app.command("nlp")
def bench_nlp(
    reports: Annotated[
        int, typer.Option("--reports", min=1, help="Reports to process (the eval texts, repeated).")
    ] = 2_000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Processes for the parallel run.")
    ] = 2,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="Use a generated force's intelligence reports and its people (truth folder) "
            "instead of the hand-written set and its 120 nominals.",
        ),
    ] = None,
) -> None:
    """Time extraction, and extraction with linking, over the hand-written evaluation
    texts (or, with --truth, a generated force's intelligence reports and its people)
    repeated to --reports reports: in one process and in --workers processes. Prints
    reports/second and peak memory. Target: 200 reports/s on 2 cores.

    Example:

        peelian bench nlp --reports 2000 --workers 2
    """
    from peelian.text.evaluate import load_generated, load_handwritten

    global _PEOPLE
    if truth is None:
        documents, people = load_handwritten()
    else:
        try:
            documents, people, *_ = load_generated(truth)
        except FileNotFoundError as exc:
            raise _fail(str(exc)) from exc
    _PEOPLE = people
    base = [d.text for d in documents]
    texts = (base * (reports // len(base) + 1))[:reports]
    table = _bench_table("peelian bench nlp")
    load = os.getloadavg()[0]
    table.add_row("load average when started (1 min)", f"{load:.2f}")
    table.add_row("reports", f"{len(texts):,} ({len(base)} distinct)")
    table.add_row("known people", f"{len(people):,}")
    table.add_row(
        "words per report (mean)", f"{sum(len(t.split()) for t in base) / len(base):,.0f}"
    )
    for link in (False, True):
        label = "extract + link" if link else "extract"
        for n in sorted({1, workers}):
            elapsed, spans = _run(texts, n, link)
            table.add_row(
                f"{label}, {n} process{'es' if n > 1 else ''}: reports/s",
                f"{len(texts) / elapsed:,.0f} ({elapsed:,.1f} s, {spans:,} spans)",
            )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    table.add_row("load average when finished (1 min)", f"{os.getloadavg()[0]:.2f}")
    table.add_row("peak memory, main process (MB)", f"{own:,.0f}")
    table.add_row("peak memory, largest worker (MB)", f"{children:,.0f}")
    target = 200
    out_console.print(table)
    out_console.print(
        f"target: {target} reports/s on 2 cores (extract + link, {workers} processes above); "
        "other work on the machine (see the load average) slows the parallel run"
    )
