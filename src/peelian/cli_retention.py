"""CLI commands for retention (MoPI): `peelian retention review` and `dispose`.

A thin layer over `peelian.govern.retention` (the schedule and the rules) and
`State.dispose_records` (the decision and its audit tombstone). Both commands
run as a Peelian account whose role the policy checks (`retention.review`,
`retention.dispose`) and are audited. Importing this module registers
`retention_app` on the `peelian` app.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from peelian.cli import app, console, out_console
from peelian.cli_resolve import HubOption, StateOption, _fail, _open_hub, _open_state

if TYPE_CHECKING:
    from peelian.govern.policy import Principal
    from peelian.govern.retention import Review, Schedule

retention_app = typer.Typer(
    help="Retention (MoPI): records due for review or disposal, and disposing of them.",
    no_args_is_help=True,
)
app.add_typer(retention_app, name="retention")

AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Assess as of this day (YYYY-MM-DD). Default: today."),
]
ScheduleOption = Annotated[
    Path | None,
    typer.Option(
        "--schedule",
        help="The force's retention schedule (YAML). Default: Peelian's "
        "(peelian/reference/retention.yaml; see docs/retention.md).",
        dir_okay=False,
    ),
]


def _visible_rows(con: Any, principal: Principal, due: Review) -> tuple[Review, int]:
    """The review cut down to rows all of whose records `principal` may see, and how
    many rows were withheld (only that count is shown of them)."""
    from peelian.govern.records import visible_mentions

    mentions: dict[str, list[str]] = {}
    for row in due.rows:
        if row.kind == "person":
            sql = "SELECT mention_id FROM entity_membership WHERE entity_id = $id"
            params = {"id": row.id}
        else:
            source, _, record = row.id.partition(":")
            sql = "SELECT mention_id FROM mentions WHERE source = $s AND record_id = $r"
            params = {"s": source, "r": record}
        mentions[row.id] = [m for (m,) in con.execute(sql, params).fetchall()]
    seen = visible_mentions(con, principal, [m for ms in mentions.values() for m in ms])
    rows = [r for r in due.rows if mentions[r.id] and set(mentions[r.id]) <= seen]
    withheld = len(due.rows) - len(rows)
    return dataclasses.replace(due, rows=rows), withheld


def _as_of(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"--as-of {value!r} is not a date; use YYYY-MM-DD, e.g. 2025-04-01") from None


def _schedule(path: Path | None) -> Schedule:
    from peelian.govern.retention import ScheduleError, load_schedule

    try:
        return load_schedule(path)
    except ScheduleError as exc:
        raise _fail(str(exc)) from None


@retention_app.command("review")
def review_cmd(
    hub: HubOption,
    as_of: AsOfOption = None,
    within: Annotated[
        str,
        typer.Option("--within", help="Horizon: due by this long after --as-of (90d, 6m, 1y)."),
    ] = "90d",
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only `person` or only `crime` records.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows to show.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (every row due).")] = False,
    schedule: ScheduleOption = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="Your Peelian account (default: your machine login)."),
    ] = None,
    state: StateOption = None,
) -> None:
    """People and crime records due for review or disposal under the retention
    schedule, overdue first, with the group, the day they last came to notice, the
    due day, the action and why. Audited.

    Examples:

        peelian retention review --hub data/hub --user supervisor1

        peelian retention review --hub data/hub --as-of 2030-01-01 --within 1y --json
    """
    from peelian.cli_govern import authorise_cli, cli_client
    from peelian.govern.retention import parse_period, review

    day = _as_of(as_of)
    try:
        horizon = parse_period(within)
    except ValueError as exc:
        raise _fail(f"--within: {exc}") from None
    if kind not in (None, "person", "crime"):
        raise _fail(f"--kind is `person` or `crime`, not {kind!r}")
    rules = _schedule(schedule)
    username = user or getpass.getuser()
    _open_hub(hub, read_only=True).close()  # a clear error for a folder that is no hub
    with _open_state(hub, state) as st:
        grant = authorise_cli(st, username, "retention.review")
        with _open_hub(hub, read_only=True) as opened:
            try:
                due = review(
                    opened.con,
                    day,
                    rules,
                    within=horizon,
                    kinds=(kind,) if kind else ("person", "crime"),
                    limit=None if as_json else limit,
                )
            except Exception as exc:  # the entity tables are missing before the first resolve
                if "entity_membership" in str(exc) or "golden_values" in str(exc):
                    raise _fail(
                        "the hub has not been resolved yet; run `peelian resolve`"
                    ) from None
                raise
            due, withheld = _visible_rows(opened.con, grant.principal, due)
        st.append_audit(
            username,
            "retention.review",
            detail={
                "as_of": day.isoformat(),
                "within": within,
                "schedule": rules.path,
                "total": due.total,
                "shown": [row.id for row in due.rows],
            },
            client=cli_client(),
        )
    if as_json:
        out_console.print_json(
            json.dumps(
                {
                    "as_of": due.as_of.isoformat(),
                    "until": due.until.isoformat(),
                    "schedule": rules.path,
                    "total": due.total,
                    "by_action": due.by_action,
                    "withheld": withheld,
                    "rows": [row.as_dict() for row in due.rows],
                }
            )
        )
        return
    counts = ", ".join(f"{action} {n:,}" for action, n in sorted(due.by_action.items()))
    table = Table(
        title=f"Due by {due.until} (as of {due.as_of}): {due.total:,} "
        f"({counts or 'none'}); first {len(due.rows)}"
    )
    for name in ("id", "group", "last came to notice", "due", "action", "reason"):
        table.add_column(name)
    for row in due.rows:
        table.add_row(
            row.id,
            str(row.group),
            str(row.last_noticed or "-"),
            str(row.due or "-"),
            f"[red]{row.action}[/red]" if row.action == "dispose" else row.action,
            row.reason,
        )
    out_console.print(table)
    if withheld:
        out_console.print(
            f"{withheld:,} more due hold records you may not see (marking, operation or "
            "partner restriction): a reviewer cleared for them must review those"
        )
    if due.total:
        out_console.print(
            "dispose with `peelian retention dispose --hub HUB --entity ID --by USER "
            '--reason "..."`; a review that keeps a record is not recorded yet'
        )


def _record(value: str) -> tuple[str, str]:
    source, sep, record_id = value.partition(":")
    if not sep or not source.strip() or not record_id.strip():
        raise _fail(f"--record {value!r}: give SOURCE:RECORD_ID, e.g. crime:61/000123/18")
    return source.strip(), record_id.strip()


@retention_app.command("dispose")
def dispose_cmd(
    hub: HubOption,
    by: Annotated[
        str,
        typer.Option("--by", help="Your Peelian account (its role must allow disposal)."),
    ],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="Why (kept with the disposal; e.g. the review reference). No personal data.",
        ),
    ],
    entity: Annotated[
        str | None,
        typer.Option("--entity", help="Dispose of every source record of this entity."),
    ] = None,
    record: Annotated[
        list[str] | None,
        typer.Option("--record", help="A source record, SOURCE:RECORD_ID (repeatable)."),
    ] = None,
    include_held: Annotated[
        bool,
        typer.Option(
            "--include-held",
            help="Also dispose of records other people's records still need "
            "(by default they are kept back and listed).",
        ),
    ] = False,
    as_of: AsOfOption = None,
    schedule: ScheduleOption = None,
    state: StateOption = None,
) -> None:
    """Dispose of a person's records, or named source records, under the retention
    schedule. The decision is kept in the state database with an audit tombstone;
    the next `peelian refresh` removes the records from the hub, the search index
    and derived results, and later ingests skip them if a source resends them.

    A record that someone else's record still needs (a crime with another
    suspect whose record is kept, an undetected crime not yet due) is kept back
    unless --include-held.

    Examples:

        peelian retention dispose --hub data/hub --entity P00000042 --by admin1 \\
            --reason "MoPI review 2025/014: group 3, six years clear"

        peelian retention dispose --hub data/hub --record crime:61/000123/18 \\
            --record custody:HM3/00077/18 --by admin1 --reason "deletion request DR/2025/9"
    """
    from peelian.cli_govern import authorise_cli
    from peelian.govern.retention import plan_disposal

    records = [_record(r) for r in record or []]
    if (entity is None) == (not records):
        raise _fail("give --entity ID or one or more --record SOURCE:ID (not both)")
    day = _as_of(as_of)
    rules = _schedule(schedule)
    _open_hub(hub, read_only=True).close()  # a clear error for a folder that is no hub
    with _open_state(hub, state) as st:
        authorise_cli(st, by, "retention.dispose")
        with _open_hub(hub, read_only=True) as opened:
            try:
                plan = plan_disposal(
                    opened.con,
                    day,
                    rules,
                    entity_id=entity,
                    records=records,
                    include_held=include_held,
                )
            except (LookupError, ValueError) as exc:
                raise _fail(str(exc).strip("'\"")) from None
        for held in plan.held:
            kept = "disposed of anyway" if include_held else "kept"
            console.print(f"[yellow]{kept}:[/yellow] {held.source}:{held.record_id} ({held.why})")
        if not plan.records:
            raise _fail(
                f"nothing disposed of: all {len({(h.source, h.record_id) for h in plan.held})} "
                "record(s) are still needed by the records listed above "
                "(--include-held disposes of them anyway)",
                code=1,
            )
        note = None
        if plan.assessment is not None:
            a = plan.assessment
            note = {"group": a.group, "action": a.action, "due": a.due and a.due.isoformat()}
            if not (a.action == "dispose" and a.due is not None and a.due <= day):
                console.print(
                    f"[yellow]note:[/yellow] the schedule does not have {entity} due for "
                    f"disposal ({a.action}"
                    + (f" due {a.due}" if a.due else "")
                    + "); disposed of as decided"
                )
        try:
            made = st.dispose_records(
                plan.records, by=by, reason=reason, entity_id=entity, retention=note
            )
        except ValueError as exc:
            raise _fail(str(exc)) from None
    out_console.print(
        f"{len(made):,} source record(s) disposed of (audit event #{made[0].audit_seq}); "
        "the next `peelian refresh` removes them from the hub, the search index and "
        "derived results"
    )
    if plan.held and not include_held:
        out_console.print(
            f"{len({(h.source, h.record_id) for h in plan.held}):,} record(s) kept back: "
            "other records still need them"
        )
