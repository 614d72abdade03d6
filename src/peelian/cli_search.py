"""CLI commands for the search index: index, search, bench search.

Registered on the `peelian` app by `peelian.cli` (imported at its end).
"""

from __future__ import annotations

import getpass
import html
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from peelian.cli import app, bench_app, console, out_console
from peelian.cli_resolve import HubOption, StateOption, _fail, _open_hub, _open_state
from peelian.hub import HUB_FILE

if TYPE_CHECKING:
    from peelian.index.search import SearchResult


def _run_index(hub_path: Path, quiet: bool) -> None:
    from peelian.index.build import SearchIndexError, build_index

    with _open_hub(hub_path) as hub:
        try:
            if quiet:
                report = build_index(hub.con, hub.path)
            else:
                with console.status("building the search index") as status:
                    report = build_index(
                        hub.con,
                        hub.path,
                        progress=lambda n: status.update(
                            f"building the search index: {n:,} documents"
                        ),
                    )
        except SearchIndexError as exc:
            raise _fail(str(exc)) from None
    if quiet:
        return
    counts = ", ".join(f"{kind} {n:,}" for kind, n in sorted(report.documents.items()))
    out_console.print(
        f"search index {report.path.name}: {sum(report.documents.values()):,} documents "
        f"({counts}), {report.bytes / 2**20:,.1f} MB in {report.seconds:,.1f} s; "
        "snapshot made and now current"
    )


@app.command("index")
def index_cmd(
    hub: HubOption,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Make the hub's next snapshot (the search index, and a copy of the database it
    indexed) and switch to it atomically: a search or a running server uses the old
    snapshot or the new one, never half of one.

    Example:

        peelian index --hub data/hub
    """
    _run_index(hub, quiet)


@app.command("search")
def search_cmd(
    query: Annotated[str, typer.Argument(help="What to look for.", show_default=False)],
    hub: HubOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Results per page (1-100).")] = 10,
    offset: Annotated[int, typer.Option("--offset", help="Results to skip.")] = 0,
    user: Annotated[
        str | None,
        typer.Option("--user", help="Your Peelian account (default: your machine login)."),
    ] = None,
    purpose: Annotated[
        str | None,
        typer.Option(
            "--purpose",
            help="Why: 'incident REF', 'crime REF' or 'reason CODE: note' (recorded).",
        ),
    ] = None,
    state: StateOption = None,
) -> None:
    """Search people, vehicles, phones, places and free text, as the given searcher
    may see them; every search is recorded in the audit log.

    The box takes names (`john smith 12/03/1990`, `smith j 1990`, `SMITH, John`),
    plates (`AB12CDE`, partial `AB12 C?E`), postcodes (`B15 2TT`, `B15`), phones,
    identifiers (`PNC 2003/0062845E`) or free text, and fields and filters:
    `surname:smith dob:1990-03 area:B15 type:person from:2024-01-01 near:52.48,-1.89,2km`.

    The search runs as your account (`--user`): the access policy decides from its
    role, vetting, teams and operations what you see, and a purpose of access is
    required (an incident or crime reference, or a reason with a note).

    Examples:

        peelian search --hub data/hub "john smith 1990" --user pc_1234 \
            --purpose "incident WM-20241103-0045"

        peelian search --hub data/hub "AB12 C?E" --json --user pc_1234 \
            --purpose "reason officer_safety: roadside stop"
    """
    from peelian.cli_govern import authorise_cli, cli_client
    from peelian.index.access import Viewer
    from peelian.index.build import SearchIndexError, open_current
    from peelian.index.query import QueryError
    from peelian.index.search import Searcher, SearchError

    username = user or getpass.getuser()
    if not (hub / HUB_FILE).exists():  # not opened: a refresh may be writing it
        raise _fail(f"{hub} is not a Peelian hub (no {HUB_FILE}); run `peelian demo` first")
    with _open_state(hub, state) as st:
        grant = authorise_cli(st, username, "search", purpose=purpose)
        viewer = Viewer.of(grant.principal)
        recorded = grant.purpose_text
        try:
            searcher = Searcher(open_current(hub))
            result = searcher.search(query, viewer, limit=limit, offset=offset)
        except (SearchIndexError, QueryError, SearchError) as exc:
            # A refused search is still an attempt on record.
            st.append_audit(
                username,
                "search",
                detail={"query": query[:1000]},
                purpose=recorded,
                client=cli_client(),
                outcome=f"refused: {exc}"[:500],
            )
            raise _fail(str(exc)) from None
        from peelian.serve.reads import search_audit

        st.append_audit(
            username, "search", detail=search_audit(result), purpose=recorded,
            client=cli_client(),
        )  # fmt: skip
    if as_json:
        from peelian.serve.reads import search_json

        out_console.print_json(json.dumps(search_json(result)))
        return
    _print_result(result)


def _print_result(result: SearchResult) -> None:
    q = result.query
    for problem in q.problems:
        console.print(f"[yellow]note:[/yellow] {problem}")
    about = "" if result.total_exact else "about "
    shown = f"{result.offset + 1}-{result.offset + len(result.hits)}" if result.hits else "none"
    facets = "; ".join(
        f"{name}: " + ", ".join(f"{k} {n:,}" for k, n in counts.items())
        for name, counts in result.facets.items()
        if counts
    )
    out_console.print(
        f"{about}{result.total:,} results ({shown} shown) in {result.took_ms:,.1f} ms"
        + (f"  [{facets}]" if facets else "")
    )
    for text in result.notices:
        out_console.print(f"[bold yellow]{escape(text)}[/bold yellow]")
    if not result.hits:
        return
    table = Table(show_lines=False)
    table.add_column("id")
    table.add_column("result")
    table.add_column("why")
    table.add_column("score", justify="right")
    for h in result.hits:
        if h.snippet:
            why = _terminal_snippet(h.snippet)
        else:
            why = "; ".join(f"{m.field} {m.value} ({m.how})" for m in h.matched)
        markers = h.show.get("w")
        label = escape(h.label)
        if markers:
            label += f"\n[red]warning: {escape(', '.join(markers))}[/red]"
        if h.show.get("m", "OFFICIAL") != "OFFICIAL":
            label += f"\n[magenta]{escape(h.show['m'])}[/magenta]"
        for condition in h.show.get("h", []):
            label += f"\n[yellow]handling: {escape(condition)}[/yellow]"
        table.add_row(h.entity_id, label, why if h.snippet else escape(why), f"{h.score:.1f}")
    out_console.print(table)


def _terminal_snippet(snippet_html: str) -> str:
    """A highlighted snippet (HTML with <b>) as Rich markup, the text escaped."""
    parts = re.split(r"</?b>", snippet_html)
    return "".join(
        f"[bold]{escape(html.unescape(p))}[/bold]" if i % 2 else escape(html.unescape(p))
        for i, p in enumerate(parts)
    )


@bench_app.command("search")
def bench_search(
    entities: Annotated[
        int, typer.Option("--entities", help="Synthetic person entities for build and latency.")
    ] = 10_000_000,
    hub: Annotated[
        Path | None,
        typer.Option("--hub", help="A resolved, indexed synthetic force for the quality runs."),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="That force's truth folder.")
    ] = None,
    per_kind: Annotated[int, typer.Option("--per-kind", help="Quality queries per kind.")] = 500,
    pg_url: Annotated[
        str | None,
        typer.Option(
            "--pg-url",
            help="PostgreSQL for the pg_trgm baseline (default $PEELIAN_TEST_POSTGRES_URL, "
            "else the local test database); --no-pg to skip.",
        ),
    ] = None,
    pg: Annotated[bool, typer.Option("--pg/--no-pg", help="Run the pg_trgm baseline.")] = True,
    work: Annotated[
        Path | None, typer.Option("--work", help="Folder for the scale index (kept).")
    ] = None,
) -> None:
    """Build an index of N synthetic people (time, size), time person, partial-plate
    and free-text searches on it; with --hub/--truth, score recall@10 and MRR per kind
    of query against the truth, side by side with PostgreSQL pg_trgm on the same
    records and queries.

    Example:

        peelian bench search --entities 1000000 --hub demo/hub --truth demo/truth
    """
    import os
    import shutil
    import tempfile

    from peelian.cli import _bench_table
    from peelian.index.bench import BENCH_VIEWER, bench_queries, build_scale_index, latency
    from peelian.index.build import open_path
    from peelian.index.search import Searcher

    table = _bench_table("peelian bench search")
    target_root = work or Path(tempfile.mkdtemp(prefix="peelian-bench-search-"))
    target = target_root / "scale-index"
    shutil.rmtree(target, ignore_errors=True)
    try:
        if entities > 0:
            with console.status(f"indexing {entities:,} synthetic people"):
                run = build_scale_index(target, entities)
            table.add_row("scale: person entities", f"{entities:,}")
            table.add_row("scale: documents (people, vehicles, reports)", f"{run.documents:,}")
            table.add_row("scale: index build (s)", f"{run.build_seconds:,.1f}")
            table.add_row(
                "scale: inventing the records (s, not in build)", f"{run.generate_seconds:,.1f}"
            )
            table.add_row("scale: index size (MB)", f"{run.index_bytes / 2**20:,.0f}")
            searcher = Searcher(open_path(target))
            for kind, queries in bench_queries(run.sampled).items():
                top = latency(
                    lambda q: searcher.search(q, BENCH_VIEWER, counts=False, facets=False), queries
                )
                counted = latency(lambda q: searcher.search(q, BENCH_VIEWER), queries)
                table.add_row(
                    f"scale: {kind} ({len(queries)} queries) p50 / p95 / max ms",
                    f"{top[0]:.2f} / {top[1]:.2f} / {top[2]:.2f}",
                )
                table.add_row(
                    "  with counts and facets p50 / p95 ms", f"{counted[0]:.2f} / {counted[1]:.2f}"
                )
        if hub is not None and truth is not None:
            url = pg_url or os.environ.get(
                "PEELIAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
            )
            for row in _quality_rows(hub, truth, per_kind, url if pg else None):
                table.add_row(*row)
    finally:
        if work is None:
            shutil.rmtree(target_root, ignore_errors=True)
    out_console.print(table)


def _quality_rows(
    hub_path: Path, truth: Path, per_kind: int, pg_url: str | None
) -> list[tuple[str, str]]:
    """Recall@10 / MRR / latency per kind, Peelian and (optionally) pg_trgm."""
    import datetime as dt

    import pyarrow as pa

    from peelian.govern.policy import MARKING_RANK
    from peelian.index import pgtrgm
    from peelian.index.access import Viewer
    from peelian.index.build import open_current
    from peelian.index.evaluate import QualityQuery, quality_queries, score
    from peelian.index.query import parse_query
    from peelian.index.search import Searcher

    with _open_hub(hub_path, read_only=True) as opened:
        queries = quality_queries(opened.con, truth, per_kind)
        people = opened.con.sql(
            """SELECT f.entity_id, upper(split_part(f.value, ' ', 1) || ' ' || s.value) AS name,
                      TRY_CAST(d.value AS DATE) AS dob
               FROM golden_values f JOIN golden_values s USING (entity_id)
               LEFT JOIN golden_values d ON d.entity_id = f.entity_id
                    AND d.field = 'date_of_birth'
               WHERE f.field = 'forenames' AND s.field = 'surname'"""
        ).to_arrow_table()
    searcher = Searcher(open_current(hub_path))
    # the quality runs see every record: access is tested elsewhere, not scored here
    everyone = Viewer(
        "bench",
        list(MARKING_RANK)[-1],
        frozenset(
            label["compartment"] for label in searcher.labels.values() if label["compartment"]
        ),
        frozenset(r for label in searcher.labels.values() for r in label["roles"]),
    )
    rows: list[tuple[str, str]] = [("quality: queries", f"{len(queries):,} ({per_kind} per kind)")]
    ours = score(
        lambda q: [
            h.entity_id for h in searcher.search(q.text, everyone, counts=False, facets=False).hits
        ],
        queries,
    )
    theirs = None
    if pg_url is not None:
        load = pgtrgm.load_people(pg_url, pa.table(people))
        rows.append(
            (
                "pg_trgm: rows loaded / load + index (s)",
                f"{load.rows:,} / {load.seconds_load + load.seconds_index:.1f}",
            )
        )
        with pgtrgm.connect(pg_url) as conn:

            def run_pg(q: QualityQuery) -> list[str]:
                parsed = parse_query(q.text)
                name = " ".join([*parsed.forenames, *parsed.names, *parsed.surnames])
                dob = parsed.dob
                full = (
                    dt.date(dob.year, dob.month, dob.day)
                    if dob is not None and dob.month and dob.day
                    else None
                )
                year = dob.year if dob is not None and full is None else None
                return pgtrgm.search_people(conn, name, full, year)

            theirs = {s.kind: s for s in score(run_pg, queries)}
    for s in ours:
        line = f"{s.recall_at_10:.3f} / {s.mrr:.3f} / {s.p50_ms:.1f} / {s.p95_ms:.1f}"
        if theirs is not None:
            t = theirs[s.kind]
            line += (
                f"   pg_trgm {t.recall_at_10:.3f} / {t.mrr:.3f} / {t.p50_ms:.1f} / {t.p95_ms:.1f}"
            )
        rows.append((f"quality: {s.kind} recall@10 / MRR / p50 / p95 ms", line))
    return rows
