"""CLI commands for the search index: index, search, bench search.

Registered on the `peelian` app by `peelian.cli` (imported at its end).
"""

from __future__ import annotations

import dataclasses
import getpass
import html
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from peelian.cli import app, console, out_console
from peelian.cli_resolve import HubOption, StateOption, _fail, _open_hub, _open_state

if TYPE_CHECKING:
    from peelian.index.access import Viewer
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
        f"({counts}), {report.bytes / 2**20:,.1f} MB in {report.seconds:,.1f} s; now current"
    )


@app.command("index")
def index_cmd(
    hub: HubOption,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Build the search index of the hub's current snapshot and switch searches to it
    (atomically: a search uses the old index or the new one, never half of one).

    Example:

        peelian index --hub data/hub
    """
    _run_index(hub, quiet)


def _viewer(name: str | None, clearance: str, compartments: list[str], roles: list[str]) -> Viewer:
    from peelian.index.access import AccessError, Viewer

    try:
        return Viewer(
            name or getpass.getuser(),
            clearance,
            frozenset(c.strip().upper() for c in compartments),
            frozenset(r.strip() for r in roles),
        )
    except AccessError as exc:
        raise _fail(str(exc)) from None


@app.command("search")
def search_cmd(
    query: Annotated[str, typer.Argument(help="What to look for.", show_default=False)],
    hub: HubOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Results per page (1-100).")] = 10,
    offset: Annotated[int, typer.Option("--offset", help="Results to skip.")] = 0,
    clearance: Annotated[
        str,
        typer.Option(
            "--clearance",
            help="Highest marking the searcher may see: OFFICIAL, OFFICIAL-SENSITIVE, "
            "SECRET or TOP SECRET.",
        ),
    ] = "OFFICIAL",
    compartment: Annotated[
        list[str] | None,
        typer.Option("--compartment", help="An operation the searcher is briefed into."),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="A sharing role the searcher holds (e.g. mash_officer)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Who is searching (default: your login).")
    ] = None,
    purpose: Annotated[
        str | None, typer.Option("--purpose", help="Why (recorded in the audit log).")
    ] = None,
    state: StateOption = None,
) -> None:
    """Search people, vehicles, phones, places and free text, as the given searcher
    may see them; every search is recorded in the audit log.

    The box takes names (`john smith 12/03/1990`, `smith j 1990`, `SMITH, John`),
    plates (`AB12CDE`, partial `AB12 C?E`), postcodes (`B15 2TT`, `B15`), phones,
    identifiers (`PNC 2003/0062845E`) or free text, and fields and filters:
    `surname:smith dob:1990-03 area:B15 type:person from:2024-01-01 near:52.48,-1.89,2km`.

    Until user accounts arrive the searcher's clearance, compartments and roles are
    given as options; the default sees OFFICIAL records outside any compartment.

    Examples:

        peelian search --hub data/hub "john smith 1990"

        peelian search --hub data/hub "AB12 C?E" --json

        peelian search --hub data/hub "samurai sword" --clearance OFFICIAL-SENSITIVE
    """
    from peelian.index.build import SearchIndexError, open_current
    from peelian.index.query import QueryError
    from peelian.index.search import Searcher, SearchError

    viewer = _viewer(user, clearance, compartment or [], role or [])
    try:
        searcher = Searcher(open_current(hub))
        result = searcher.search(query, viewer, limit=limit, offset=offset)
    except (SearchIndexError, QueryError, SearchError) as exc:
        raise _fail(str(exc)) from None
    with _open_state(hub, state) as st:
        st.append_audit(
            viewer.name,
            "search",
            detail={
                "query": result.query.raw,
                "clearance": viewer.clearance,
                "compartments": sorted(viewer.compartments),
                "roles": sorted(viewer.roles),
                "results": [h.entity_id for h in result.hits],
                "total": result.total,
                "index": result.index,
            },
            purpose=purpose,
            client="cli",
        )
    if as_json:
        out_console.print_json(json.dumps(result_json(result)))
        return
    _print_result(result)


def result_json(result: SearchResult) -> dict[str, object]:
    """The JSON form of a search result (the CLI's --json and, later, the API)."""
    q = {
        k: v
        for k, v in dataclasses.asdict(result.query).items()
        if v not in (None, [], "") and k != "raw"
    }
    for key in ("date_from", "date_to"):
        if key in q:
            q[key] = str(q[key])
    if result.query.dob is not None:
        q["dob"] = result.query.dob.term
    return {
        "query": result.query.raw,
        "understood": q,
        "total": result.total,
        "total_exact": result.total_exact,
        "offset": result.offset,
        "limit": result.limit,
        "took_ms": round(result.took_ms, 2),
        "index": result.index,
        "facets": result.facets,
        "hits": [
            {
                "id": h.entity_id,
                "kind": h.kind,
                "label": h.label,
                "score": h.score,
                "matched": [dataclasses.asdict(m) for m in h.matched],
                **({"snippet": h.snippet} if h.snippet else {}),
                "record": h.show,
            }
            for h in result.hits
        ],
    }


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
        table.add_row(h.entity_id, label, why if h.snippet else escape(why), f"{h.score:.1f}")
    out_console.print(table)


def _terminal_snippet(snippet_html: str) -> str:
    """A highlighted snippet (HTML with <b>) as Rich markup, the text escaped."""
    parts = re.split(r"</?b>", snippet_html)
    return "".join(
        f"[bold]{escape(html.unescape(p))}[/bold]" if i % 2 else escape(html.unescape(p))
        for i, p in enumerate(parts)
    )
