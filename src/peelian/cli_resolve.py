"""CLI commands for resolve: resolve, refresh, export, eval, explain, decide, review, bench.

Registered on the `peelian` app by `peelian.cli` (imported at its end).
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from peelian.cli import (
    _bench_table,
    _run_ingest,
    app,
    bench_app,
    console,
    out_console,
)

if TYPE_CHECKING:
    from peelian.govern.policy import Principal
    from peelian.hub import Hub
    from peelian.resolve.run import ResolveSummary
    from peelian.state import State

export_app = typer.Typer(help="Write hub results to files.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure a stage against a ground truth.", no_args_is_help=True)
decide_app = typer.Typer(
    help="Analysts' match decisions: same / different / list / revoke.", no_args_is_help=True
)
app.add_typer(export_app, name="export")
app.add_typer(eval_app, name="eval")
app.add_typer(decide_app, name="decide")

HubOption = Annotated[Path, typer.Option("--hub", help="Hub folder.")]
StateOption = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="Operational state database: a file (SQLite) or a URL such as "
        "postgresql+psycopg://user@host/db. Default: $PEELIAN_STATE, else HUB/state.db.",
        show_default=False,
    ),
]


UserOption = Annotated[
    str | None,
    typer.Option("--user", help="Your Peelian account (default: your machine login)."),
]
PurposeOption = Annotated[
    str | None,
    typer.Option(
        "--purpose", help="Why: 'incident REF', 'crime REF' or 'reason CODE: note' (recorded)."
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _state_url(hub: Path, state: str | None) -> str:
    return state or os.environ.get("PEELIAN_STATE") or str(hub / "state.db")


def _open_state(hub: Path, state: str | None) -> State:
    from peelian.state import State, StateError

    try:
        return State.open(_state_url(hub, state))
    except StateError as exc:
        raise _fail(str(exc)) from None


def _open_hub(path: Path, *, read_only: bool = False) -> Hub:
    from peelian.hub import Hub, HubError

    try:
        return Hub(path, read_only=read_only)
    except HubError as exc:
        raise _fail(str(exc)) from None


def _run_resolve(
    hub_path: Path,
    state: str | None,
    model: Path | None,
    threshold: float | None,
    review_from: float | None,
    quiet: bool,
) -> ResolveSummary:
    from peelian.resolve.run import DEFAULT_REVIEW_WEIGHT, DEFAULT_THRESHOLD_WEIGHT, resolve

    if model is not None and not model.is_file():
        raise _fail(f"--model {model}: no such file")
    with _open_state(hub_path, state) as opened_state:
        decisions = opened_state.decisions()
        disposals = opened_state.disposed_records()
    with _open_hub(hub_path) as hub:
        summary = resolve(
            hub,
            decisions=decisions,
            disposals=disposals,
            model_path=model,
            threshold_weight=DEFAULT_THRESHOLD_WEIGHT if threshold is None else threshold,
            review_weight=DEFAULT_REVIEW_WEIGHT if review_from is None else review_from,
            say=(lambda _: None) if quiet else (lambda m: console.print(f"[dim]{m}[/dim]")),
        )
    _resolve_table(summary, hub_path)
    return summary


def _resolve_table(summary: ResolveSummary, hub_path: Path) -> None:
    table = Table(title=f"Resolved {hub_path}")
    table.add_column("entity type")
    table.add_column("entities", justify="right")
    for entity_type, n in summary.entities.items():
        table.add_row(entity_type, f"{n:,}")
    out_console.print(table)
    out_console.print(
        f"run {summary.run_id}; person mentions matched: {summary.person_mentions:,}; "
        f"pairs compared: {summary.pairs_compared:,}; "
        f"history: {', '.join(f'{k} {v:,}' for k, v in sorted(summary.history.items())) or '-'}; "
        f"review queue: {summary.review_items:,}; decisions applied: {summary.decisions_applied}"
    )
    for problem in summary.decision_problems:
        console.print(f"[yellow]warning:[/yellow] {problem}")
    if summary.model_path:
        out_console.print(f"model: {summary.model_path}")


@app.command("resolve")
def resolve_cmd(
    hub: HubOption,
    state: StateOption = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Use this saved model (JSON) instead of training one."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Match weight at which two people are merged (6)."),
    ] = None,
    review_from: Annotated[
        float | None,
        typer.Option(
            "--review-from", help="Pairs from this weight up to the threshold go to review (0)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Match and merge the hub's mentions into entities (people, vehicles, phones, places).

    Entity IDs persist from the previous run where their cluster does; analysts'
    decisions (`peelian decide`) are applied; the trained model is saved in HUB/models.

    Example:

        peelian resolve --hub data/hub
    """
    _run_resolve(hub, state, model, threshold, review_from, quiet)


@app.command("refresh")
def refresh_cmd(
    mappings: Annotated[
        list[Path], typer.Argument(help="Mapping files or folders.", show_default=False)
    ],
    hub: HubOption,
    state: StateOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Ingest the sources, resolve, extract the documents' text (what it names joins the
    entities), analyse (the entity graph, groups, county lines, the vulnerability screen,
    KPIs), then build the search index and switch to it: what runs several times a day.

    Example:

        peelian refresh --hub data/hub data/force/mappings
    """
    from peelian.cli_analyse import _run_analyse
    from peelian.cli_search import _run_index
    from peelian.cli_text import _run_extract

    _run_ingest(hub, mappings, 50_000, quiet)
    _run_resolve(hub, state, None, None, None, quiet)
    _run_extract(hub, quiet)
    _run_analyse(hub, quiet, state=state)
    _run_index(hub, quiet)


@export_app.command("memberships")
def export_memberships(
    hub: HubOption,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    user: UserOption = None,
    purpose: PurposeOption = None,
    state: StateOption = None,
) -> None:
    """Write which entity each source record's mention belongs to, as CSV:
    source, source_record_id, entity_type, entity_id (the records your account may
    see; audited, a purpose is required).

    Example:

        peelian export memberships --hub data/hub --out memberships.csv --user analyst1 \\
            --purpose "reason data_quality: reconcile the custody system"
    """
    from peelian.cli_govern import authorise_cli, cli_client
    from peelian.govern.records import VISIBLE, create_visible_labels

    username = user or getpass.getuser()
    with _open_state(hub, state) as st, _open_hub(hub, read_only=True) as opened:
        grant = authorise_cli(st, username, "export", purpose=purpose)
        try:
            create_visible_labels(opened.con, grant.principal)
            rows = opened.con.execute(
                f"""SELECT m.source, m.row_id, e.entity_type, e.entity_id
                   FROM entity_membership e JOIN mentions m USING (mention_id)
                   WHERE mention_id IN ({VISIBLE})
                   ORDER BY m.source, m.row_id, m.slot, m.element, e.entity_type"""
            ).fetchall()
        except Exception as exc:  # the table is missing before the first resolve
            if "entity_membership" in str(exc):
                raise _fail("the hub has not been resolved yet; run `peelian resolve`") from None
            raise
        st.append_audit(
            username, "export", target="memberships",
            detail={"rows": len(rows), "file": str(out)},
            purpose=grant.purpose_text, client=cli_client(),
        )  # fmt: skip
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["source", "source_record_id", "entity_type", "entity_id"])
            writer.writerows(rows)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _fail(f"can't write {out}: {exc.strerror}") from None
    out_console.print(f"{len(rows):,} memberships written to {out}")


def _scores_row(table: Table, name: str, s: object) -> None:
    from peelian.resolve.evaluate import Scores

    assert isinstance(s, Scores)
    table.add_row(
        name,
        f"{s.mentions:,}",
        f"{s.true_entities:,}",
        f"{s.predicted_entities:,}",
        f"{s.precision:.4f}",
        f"{s.recall:.4f}",
        f"{s.f1:.4f}",
        f"{s.bcubed_precision:.4f}",
        f"{s.bcubed_recall:.4f}",
    )


@eval_app.command("resolve")
def eval_resolve(
    hub: HubOption,
    truth: Annotated[Path, typer.Option("--truth", help="Truth folder (DIR/truth).")],
    entity_type: Annotated[str, typer.Option("--entity-type")] = "person",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pairwise and B-cubed precision/recall of the hub's entities against a truth,
    overall, for the hard cases (twins, father/son, common names, aliases) and per source.

    Example:

        peelian eval resolve --hub demo/hub --truth demo/truth
    """
    from peelian.resolve.evaluate import TruthError, evaluate

    with _open_hub(hub) as opened:
        try:
            result = evaluate(opened.con, truth, entity_type)
        except TruthError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        out_console.print_json(
            json.dumps(
                {
                    "entity_type": result.entity_type,
                    "overall": result.overall.as_dict(),
                    "matched_mentions": result.matched_mentions,
                    "truth_mentions_not_in_hub": result.unmatched_truth,
                    "hard_cases": {k: v.as_dict() for k, v in result.hard_cases.items()},
                    "kept_apart": {
                        c.name: {"pairs": c.pairs, "kept_apart": c.kept_apart, "rate": c.rate}
                        for c in result.kept_apart
                    },
                    "per_source": {k: v.as_dict() for k, v in result.per_source.items()},
                }
            )
        )
        return
    table = Table(title=f"Resolve evaluation: {result.entity_type} ({hub} vs {truth})")
    for name in ("set", "mentions", "true ents", "found ents", "precision", "recall", "F1"):
        table.add_column(name, justify="left" if name == "set" else "right")
    table.add_column("B3 precision", justify="right")
    table.add_column("B3 recall", justify="right")
    _scores_row(table, "overall", result.overall)
    for name, scores in result.hard_cases.items():
        _scores_row(table, f"hard: {name}", scores)
    for name, scores in result.per_source.items():
        _scores_row(table, f"source: {name}", scores)
    out_console.print(table)
    for check in result.kept_apart:
        out_console.print(
            f"{check.name}: {check.kept_apart:,} of {check.pairs:,} pairs kept apart "
            f"({100 * check.rate:.1f}%)"
        )
    if result.unmatched_truth:
        out_console.print(
            f"{result.unmatched_truth:,} truth mentions are not in the hub (quarantined or "
            "not mapped); they are left out of the figures"
        )


@app.command("explain")
def explain_cmd(
    hub: HubOption,
    first: Annotated[str, typer.Argument(help="A person mention id, or an entity id.")],
    second: Annotated[
        str | None, typer.Argument(help="A second person mention id: explain the pair.")
    ] = None,
    user: UserOption = None,
    purpose: PurposeOption = None,
    state: StateOption = None,
) -> None:
    """Why two mentions were (not) merged, field by field; or how an entity was built,
    as much of it as your account may see (audited; a purpose is required).

    Examples:

        peelian explain --hub data/hub P00000042 --user analyst1 --purpose "crime 43/000123/24"

        peelian explain --hub data/hub "crime:61/000001/24#1:nominal" \\
            "custody:HM3/00001/24:detained" --user analyst1 \\
            --purpose "reason data_quality: merge check"
    """
    from peelian.cli_govern import authorise_cli, cli_client
    from peelian.govern.records import visible_explanation, visible_mentions
    from peelian.resolve.explain import ExplainError, explain_entity, explain_pair

    username = user or getpass.getuser()
    with _open_state(hub, state) as st, _open_hub(hub) as opened:
        grant = authorise_cli(st, username, "entity.explain", purpose=purpose)
        recorded = grant.purpose_text
        target = f"entity:{first}" if second is None else None
        asked = {"asked": [first] if second is None else [first, second]}
        try:
            if second is None:
                # An entity that is missing, retired or wholly hidden gets one answer,
                # so the message tells nothing of what the user may not see.
                try:
                    found = visible_explanation(
                        opened.con, grant.principal, explain_entity(opened.con, first)
                    )
                except ExplainError:
                    found = None
                if found is None:
                    raise ExplainError(f"{first}: no such entity in this hub")
                entity = found
            else:
                if len(visible_mentions(opened.con, grant.principal, [first, second])) < 2:
                    raise ExplainError(f"{first} or {second}: no such person mention in this hub")
                pair = explain_pair(opened.con, first, second)
        except ExplainError as exc:
            st.append_audit(
                username, "entity.explain", target=target, detail=asked, purpose=recorded,
                client=cli_client(), outcome=f"refused: {exc}"[:500],
            )  # fmt: skip
            raise _fail(str(exc)) from None
        shown = sorted({f for f, *_ in entity.golden}) if second is None else ["pair weights"]
        st.append_audit(
            username, "entity.explain", target=target, detail={**asked, "fields": shown},
            purpose=recorded, client=cli_client(),
        )  # fmt: skip
    if second is None:
        out_console.print(f"[bold]{entity.entity_id}[/bold] {entity.entity_type}: {entity.label}")
        golden = Table(title="golden record (chosen values first; every value with its sources)")
        for name in ("field", "value", "chosen", "sources", "mentions"):
            golden.add_column(name)
        for field, value, chosen, sources, mentions in entity.golden:
            golden.add_row(
                field, value, "yes" if chosen else "", ", ".join(sources), str(len(mentions))
            )
        out_console.print(golden)
        edges = Table(title=f"how its {len(entity.mentions)} mentions were joined")
        for name in ("mention", "joined to", "weight", "by"):
            edges.add_column(name)
        for a, b, weight, via in entity.edges:
            edges.add_row(a, b, "-" if weight is None else f"{weight:.1f}", via)
        out_console.print(edges)
        for run, event, related in entity.history:
            out_console.print(f"history {run}: {event} {', '.join(related)}")
        return
    table = Table(title=f"{pair.left}  vs  {pair.right}")
    for name in ("comparison", "left", "right", "level", "weight"):
        table.add_column(name, justify="right" if name == "weight" else "left")
    table.add_row("prior", "", "", "two random mentions", f"{pair.prior_weight:+.2f}")
    for f in pair.fields:
        table.add_row(f.comparison, f.left, f.right, f.level, f"{f.weight:+.2f}")
    table.add_row(
        "[bold]total[/bold]",
        "",
        "",
        f"probability {pair.match_probability:.4f}",
        f"[bold]{pair.match_weight:+.2f}[/bold]",
    )
    out_console.print(table)
    out_console.print(
        f"threshold {pair.threshold_weight:+.1f}; entities {pair.entity_left} / "
        f"{pair.entity_right}: {pair.verdict}"
    )


def _visible_refs(hub: Path, principal: Principal, refs: list[str]) -> set[str]:
    """Of decision sides (mention IDs, stable across refreshes, or entity IDs), those
    that exist and that `principal` may see whole: a mention they may see, or an
    entity all of whose mentions they may see (a decision moves all of them)."""
    import duckdb

    from peelian.govern.records import visible_mentions

    wanted = list(dict.fromkeys(refs))
    with _open_hub(hub, read_only=True) as opened:
        con = opened.con
        try:
            rows = con.execute(
                "SELECT mention_id, mention_id FROM mentions WHERE mention_id IN "
                "(SELECT unnest($r::VARCHAR[])) UNION ALL "
                "SELECT entity_id, mention_id FROM entity_membership WHERE entity_id IN "
                "(SELECT unnest($r::VARCHAR[]))",
                {"r": wanted},
            ).fetchall()
        except duckdb.CatalogException:  # not resolved yet: no entities
            rows = con.execute(
                "SELECT mention_id, mention_id FROM mentions WHERE mention_id IN "
                "(SELECT unnest($r::VARCHAR[]))",
                {"r": wanted},
            ).fetchall()
        mentions: dict[str, set[str]] = {}
        for ref, mention in rows:
            mentions.setdefault(ref, set()).add(mention)
        # one pass of the policy over every mention named
        seen = visible_mentions(con, principal, {m for ms in mentions.values() for m in ms})
    out = {ref for ref, ms in mentions.items() if ms <= seen}
    return out


def _decide(
    kind: str, hub: Path, state: str | None, a: str, b: str, by: str, reason: str, entity_type: str
) -> None:
    """Record a decision once the policy allows `by` to decide and to see both sides
    (a side that is missing or hidden gets the same answer). An entity stands for
    all its mentions as of each run; if a later run retires the ID, for the entities
    that took its mentions (see resolve)."""
    from peelian.cli_govern import authorise_cli, cli_client

    with _open_state(hub, state) as opened:
        grant = authorise_cli(opened, by, "decision.make")
        seen = _visible_refs(hub, grant.principal, [a, b])
        for ref in (a, b):
            if ref not in seen:
                raise _fail(f"{ref}: no such mention or entity in {hub}")
        try:
            decision = opened.add_decision(
                kind,  # type: ignore[arg-type]
                entity_type,
                a,
                b,
                by=by,
                reason=reason,
                client=cli_client(),
            )
        except ValueError as exc:
            raise _fail(str(exc)) from None
    out_console.print(
        f"decision #{decision.id}: {decision.a} and {decision.b} are "
        f"{'the same' if kind == 'same' else 'not the same'} {entity_type}; "
        "applied from the next `peelian resolve`"
    )


ByOption = Annotated[
    str, typer.Option("--by", help="Your Peelian account (its role must allow decisions).")
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept with the decision).")]
TypeOption = Annotated[str, typer.Option("--entity-type")]


@decide_app.command("same")
def decide_same(
    a: Annotated[str, typer.Argument(help="Mention or entity id.")],
    b: Annotated[str, typer.Argument(help="Mention or entity id.")],
    hub: HubOption,
    by: ByOption,
    reason: ReasonOption,
    state: StateOption = None,
    entity_type: TypeOption = "person",
) -> None:
    """Record that A and B are one real person (a link), applied on every refresh.

    Example:

        peelian decide same P00000012 P00000345 --hub data/hub --by analyst1 --reason "same PNC"
    """
    _decide("same", hub, state, a, b, by, reason, entity_type)


@decide_app.command("different")
def decide_different(
    a: Annotated[str, typer.Argument(help="Mention or entity id.")],
    b: Annotated[str, typer.Argument(help="Mention or entity id.")],
    hub: HubOption,
    by: ByOption,
    reason: ReasonOption,
    state: StateOption = None,
    entity_type: TypeOption = "person",
) -> None:
    """Record that A and B are different people (an unlink), applied on every refresh.

    Example:

        peelian decide different "crime:61/000001/24#1:nominal" P00000012 --hub data/hub
            --by analyst1 --reason "twin brother, different DOB on custody record"
    """
    _decide("different", hub, state, a, b, by, reason, entity_type)


@decide_app.command("list")
def decide_list(hub: HubOption, user: UserOption = None, state: StateOption = None) -> None:
    """List the active decisions.

    Example:

        peelian decide list --hub data/hub --user analyst1
    """
    from peelian.cli_govern import authorise_cli

    with _open_state(hub, state) as opened:
        grant = authorise_cli(opened, user or getpass.getuser(), "review.view")
        every = opened.decisions()
    # only decisions about records the user may see, both sides
    seen = _visible_refs(hub, grant.principal, [r for d in every for r in (d.a, d.b)])
    decisions = [d for d in every if d.a in seen and d.b in seen]
    table = Table(title=f"{len(decisions)} active decision(s)")
    for name in ("#", "kind", "type", "a", "b", "by", "when", "reason"):
        table.add_column(name)
    for d in decisions:
        table.add_row(
            str(d.id),
            d.kind,
            d.entity_type,
            d.a,
            d.b,
            d.by,
            f"{d.created_at:%Y-%m-%d %H:%M}",
            d.reason,
        )
    out_console.print(table)


@decide_app.command("revoke")
def decide_revoke(
    decision_id: Annotated[int, typer.Argument(help="Decision number.")],
    hub: HubOption,
    by: ByOption,
    reason: ReasonOption,
    state: StateOption = None,
) -> None:
    """Revoke a decision (it is kept, marked revoked, and audited).

    Example:

        peelian decide revoke 3 --hub data/hub --by supervisor1 --reason "entered in error"
    """
    from peelian.cli_govern import authorise_cli, cli_client

    with _open_state(hub, state) as opened:
        grant = authorise_cli(opened, by, "decision.make")
        found = [d for d in opened.decisions(active_only=False) if d.id == decision_id]
        if not found or _visible_refs(hub, grant.principal, [found[0].a, found[0].b]) != {
            found[0].a,
            found[0].b,
        }:
            raise _fail(f"there is no match decision #{decision_id}")
        try:
            opened.revoke_decision(decision_id, by=by, reason=reason, client=cli_client())
        except (LookupError, ValueError) as exc:
            raise _fail(str(exc).strip("'\"")) from None
    out_console.print(f"decision #{decision_id} revoked; applied from the next resolve")


@app.command("review")
def review_cmd(
    hub: HubOption,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    user: UserOption = None,
    state: StateOption = None,
) -> None:
    """The review queue: uncertain or refused person pairs, biggest impact first
    (the pairs whose both mentions your account may see).

    Example:

        peelian review --hub data/hub --limit 50 --user analyst1
    """
    from peelian.cli_govern import authorise_cli, cli_client
    from peelian.govern.records import VISIBLE, create_visible_labels

    username = user or getpass.getuser()
    with _open_state(hub, state) as st, _open_hub(hub, read_only=True) as opened:
        grant = authorise_cli(st, username, "review.view")
        try:
            create_visible_labels(opened.con, grant.principal)
            queue = f"FROM review_queue WHERE mention_l IN ({VISIBLE}) AND mention_r IN ({VISIBLE})"
            rows = opened.con.execute(
                "SELECT mention_l, mention_r, entity_l, entity_r, match_weight, reason, impact "
                + queue
                + " ORDER BY impact DESC, match_weight DESC NULLS LAST LIMIT $n",
                {"n": limit},
            ).fetchall()
            total = opened.con.execute("SELECT count(*) " + queue).fetchone()
        except Exception as exc:
            if "review_queue" in str(exc):
                raise _fail("the hub has not been resolved yet; run `peelian resolve`") from None
            raise
        st.append_audit(
            username, "review.view", detail={"pairs": [[r[0], r[1]] for r in rows]},
            client=cli_client(),
        )  # fmt: skip
    table = Table(title=f"review queue: {total[0] if total else 0:,} pairs, first {len(rows)}")
    for name in ("mention", "mention", "entities", "weight", "reason", "impact"):
        table.add_column(name)
    for a, b, ea, eb, w, reason, impact in rows:
        table.add_row(a, b, f"{ea} / {eb}", "-" if w is None else f"{w:.1f}", reason, str(impact))
    out_console.print(table)
    out_console.print("decide with `peelian decide same|different A B --by USER --reason TEXT`")


@bench_app.command("resolve")
def bench_resolve(
    people: Annotated[int, typer.Option("--people", help="Residents of the force.")] = 200_000,
    force_dir: Annotated[
        Path | None,
        typer.Option("--force-dir", help="Use this generated force instead of a new one."),
    ] = None,
    hub_dir: Annotated[
        Path | None,
        typer.Option("--hub", help="Resolve this ingested hub (its truth: --force-dir)."),
    ] = None,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Also run plain Splink.")
    ] = True,
) -> None:
    """Time resolve (per phase, pairs compared, peak memory) and score it against the
    truth; side by side with Splink's standard person model on the same mentions.

    Example:

        peelian bench resolve --people 200000
    """
    import shutil
    import tempfile

    from peelian.resolve.bench import run_bench

    work = Path(tempfile.mkdtemp(prefix="peelian-bench-"))
    try:
        from peelian.cli import _run_generate

        force = force_dir or work / "force"
        if force_dir is None:
            _run_generate(people, 1, force, "2024-01-01", 24, None, False, True)
        hub = hub_dir or work / "hub"
        if hub_dir is None:
            _run_ingest(hub, [force / "mappings"], 50_000, True)
        began = time.perf_counter()
        figures = run_bench(hub, force / "truth", baseline=baseline)
        elapsed = time.perf_counter() - began
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = _bench_table("peelian bench resolve")
    for name, value in figures:
        table.add_row(name, value)
    table.add_row("wall time, resolve and baseline (s)", f"{elapsed:,.1f}")
    out_console.print(table)
