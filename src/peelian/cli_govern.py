"""CLI commands for governance: `peelian users ...` and `peelian audit ...`.

The CLI runs on the server, so whoever runs it has already signed in to the
machine; `--by` names the Peelian account they act as, the policy checks that
account's role, and the audit log records it (with the machine login as the
client). Registered on the `peelian` app by `peelian.cli` (imported at its end).
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from peelian.cli import app, console, out_console
from peelian.cli_resolve import HubOption, StateOption, _fail, _open_state, eval_app

if TYPE_CHECKING:
    from peelian.govern.policy import Grant
    from peelian.state import State
    from peelian.state.accounts import Account

users_app = typer.Typer(
    help="User accounts, teams, operations and API tokens (administrators).",
    no_args_is_help=True,
)
audit_app = typer.Typer(
    help="The audit log: verify the chain, view and export events, flag persons (auditors).",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")

T = TypeVar("T")
ByOption = Annotated[
    str,
    typer.Option("--by", help="Your Peelian account (its role must allow this; recorded)."),
]


def cli_client() -> str:
    """The client recorded for CLI actions: the machine login that ran them."""
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli"


def authorise_cli(
    state: State, username: str, permission: str, *, purpose: str | None = None
) -> Grant:
    """The policy's decision for a CLI user; a refusal is audited and ends the command."""
    from peelian.govern.policy import PolicyDeniedError, authorise
    from peelian.state.accounts import AuthenticationError

    try:
        return authorise(state.accounts.principal(username), permission, purpose=purpose)
    except (AuthenticationError, PolicyDeniedError) as exc:
        state.append_audit(
            username[:100] or "?",
            permission,
            purpose=purpose[:300] if purpose else None,
            client=cli_client(),
            outcome=f"refused: {exc}"[:500],
        )
        raise _fail(str(exc)) from None


@contextmanager
def _admin(hub: Path, state: str | None, by: str, permission: str) -> Iterator[State]:
    """The state, once `by` may use `permission`; account errors become clear exits."""
    from peelian.state.accounts import AccountError

    with _open_state(hub, state) as opened:
        authorise_cli(opened, by, permission)
        try:
            yield opened
        except (AccountError, ValueError) as exc:
            raise _fail(str(exc)) from None


def _read_password(from_stdin: bool, username: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise _fail("give the password on standard input with --password-stdin")
    first = typer.prompt(f"password for {username}", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        raise _fail("the passwords differ")
    return str(first)


def _date(value: str | None, what: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{what} {value!r} is not a date: use YYYY-MM-DD") from None


def _print_account(account: Account) -> None:
    out_console.print(
        f"{account.username}: {account.display_name}, {account.role.replace('_', ' ')}, "
        f"vetting {account.vetting}, teams: {', '.join(account.teams) or 'none'}"
        f"{', DISABLED' if account.disabled else ''}"
        + (
            f"; signs in as {account.oidc_subject} at {account.oidc_issuer}"
            if account.oidc_subject
            else ""
        )
    )


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name, e.g. pc_1234.")],
    hub: HubOption,
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 'PC 1234 Khan'.")],
    role: Annotated[str, typer.Option("--role", help="See `peelian users roles`.")],
    vetting: Annotated[str, typer.Option("--vetting", help="NPPV1, NPPV2, NPPV3, SC or DV.")],
    by: ByOption,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    no_password: Annotated[
        bool,
        typer.Option(
            "--no-password",
            help="No password: a service account used through the CLI or API tokens, or "
            "one an administrator binds to an identity (`users bind-identity`).",
        ),
    ] = False,
    oidc: Annotated[
        bool,
        typer.Option(
            "--oidc",
            help="Signs in through the force's identity provider: no password, and bound "
            "to the identity whose name claim names it at its first sign-in.",
        ),
    ] = False,
    forenames: Annotated[str | None, typer.Option(help="Profile: forenames (HR).")] = None,
    surname: Annotated[str | None, typer.Option(help="Profile: surname (HR).")] = None,
    dob: Annotated[str | None, typer.Option(help="Profile: date of birth, YYYY-MM-DD.")] = None,
    postcode: Annotated[str | None, typer.Option(help="Profile: home postcode.")] = None,
    address: Annotated[str | None, typer.Option(help="Profile: home address.")] = None,
    state: StateOption = None,
) -> None:
    """Add a user account. The profile (name, date of birth, home address) is what
    misuse detection compares their look-ups with.

    The very first account of a hub must be an administrator; `--by` then names it
    (it creates itself).

    Example:

        echo "$PASSWORD" | peelian users add pc_1234 --hub data/hub --name "PC 1234 Khan" \\
            --role response_officer --vetting NPPV2 --by admin --password-stdin
    """
    password = None if no_password or oidc else _read_password(password_stdin, username)
    profile: dict[str, Any] = {
        "forenames": forenames,
        "surname": surname,
        "date_of_birth": _date(dob, "--dob"),
        "home_postcode": postcode,
        "home_address": address,
    }
    from peelian.state.accounts import AccountError

    with _open_state(hub, state) as opened:
        if not opened.accounts.users():
            if role != "administrator" or by != username:
                raise _fail(
                    "this hub has no users yet: the first account must be an administrator "
                    f"adding itself (--role administrator --by {username})"
                )
        else:
            authorise_cli(opened, by, "users.manage")
        try:
            account = opened.accounts.add_user(
                username, name, role, vetting, by=by, password=password, oidc=oidc, **profile
            )
        except AccountError as exc:
            raise _fail(str(exc)) from None
    _print_account(account)


@users_app.command("list")
def users_list(
    hub: HubOption,
    by: ByOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    state: StateOption = None,
) -> None:
    """List the user accounts (never their passwords or profiles).

    Example:

        peelian users list --hub data/hub --by admin
    """
    with _admin(hub, state, by, "users.manage") as opened:
        accounts = opened.accounts.users()
    rows: list[dict[str, Any]] = [
        {
            "username": a.username,
            "name": a.display_name,
            "role": a.role,
            "vetting": a.vetting,
            "teams": list(a.teams),
            "disabled": a.disabled,
            "password": a.has_password,
            "claimable": a.oidc_claimable,
            "identity": (
                {"issuer": a.oidc_issuer, "subject": a.oidc_subject} if a.oidc_subject else None
            ),
            "last_login": a.last_login_at.isoformat() if a.last_login_at else None,
        }
        for a in accounts
    ]
    if as_json:
        out_console.print_json(json.dumps(rows))
        return
    table = Table(
        "username", "name", "role", "vetting", "teams", "status", "signs in with", "last sign-in"
    )
    for row in rows:
        identity = row["identity"]
        table.add_row(
            row["username"],
            row["name"],
            row["role"],
            row["vetting"],
            ", ".join(row["teams"]),
            "disabled" if row["disabled"] else "enabled",
            ", ".join(
                (["password"] if row["password"] else [])
                + ([f"{identity['issuer']} as {identity['subject']}"] if identity else [])
            )
            or ("identity provider (first sign-in)" if row["claimable"] else "tokens only"),
            row["last_login"] or "never",
        )
    out_console.print(table)


def _change(hub: Path, state: str | None, by: str, change: Callable[[State], Account]) -> None:
    with _admin(hub, state, by, "users.manage") as opened:
        account = change(opened)
    _print_account(account)


@users_app.command("disable")
def users_disable(
    username: str,
    hub: HubOption,
    by: ByOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    state: StateOption = None,
) -> None:
    """Disable an account: its sign-in, API tokens and sessions stop at once.

    Example:

        peelian users disable pc_1234 --hub data/hub --by admin --reason "left the force"
    """
    _change(hub, state, by, lambda s: s.accounts.disable(username, by=by, reason=reason))


@users_app.command("enable")
def users_enable(
    username: str,
    hub: HubOption,
    by: ByOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    state: StateOption = None,
) -> None:
    """Enable a disabled account again (and clear a sign-in lock).

    Example:

        peelian users enable pc_1234 --hub data/hub --by admin --reason "back from leave"
    """
    _change(hub, state, by, lambda s: s.accounts.enable(username, by=by, reason=reason))


@users_app.command("set-role")
def users_set_role(
    username: str, role: str, hub: HubOption, by: ByOption, state: StateOption = None
) -> None:
    """Change a user's role (see `peelian users roles`).

    Example:

        peelian users set-role pc_1234 investigator --hub data/hub --by admin
    """
    _change(hub, state, by, lambda s: s.accounts.set_role(username, role, by=by))


@users_app.command("set-vetting")
def users_set_vetting(
    username: str, vetting: str, hub: HubOption, by: ByOption, state: StateOption = None
) -> None:
    """Change a user's vetting level (NPPV1, NPPV2, NPPV3, SC or DV).

    Example:

        peelian users set-vetting pc_1234 NPPV3 --hub data/hub --by admin
    """
    _change(hub, state, by, lambda s: s.accounts.set_vetting(username, vetting, by=by))


@users_app.command("set-password")
def users_set_password(
    username: str,
    hub: HubOption,
    by: ByOption,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    state: StateOption = None,
) -> None:
    """Set a user's password (at least 12 characters; stored as an argon2id hash).

    Example:

        peelian users set-password pc_1234 --hub data/hub --by admin
    """
    password = _read_password(password_stdin, username)
    _change(hub, state, by, lambda s: s.accounts.set_password(username, password, by=by))


@users_app.command("bind-identity")
def users_bind_identity(
    username: str,
    hub: HubOption,
    by: ByOption,
    issuer: Annotated[
        str, typer.Option("--issuer", help="The ID token's `iss`: the provider's issuer URL.")
    ],
    subject: Annotated[
        str, typer.Option("--subject", help="The ID token's `sub` for this person.")
    ],
    state: StateOption = None,
) -> None:
    """Bind an account to one identity at the force's OpenID Connect provider, which
    then signs in as it (and no other identity does). An account with a password,
    or one that has signed in before, is only ever bound this way.

    Example:

        peelian users bind-identity admin --hub data/hub --by admin \\
            --issuer https://idp.force.example --subject f81d4fae-7dec-11d0-a765-00a0c91e6bf6
    """
    _change(hub, state, by, lambda s: s.accounts.bind_identity(username, issuer, subject, by=by))


@users_app.command("unbind-identity")
def users_unbind_identity(
    username: str,
    hub: HubOption,
    by: ByOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    state: StateOption = None,
) -> None:
    """Unbind an account from its provider identity: its sessions end, and only
    `bind-identity` binds it again.

    Example:

        peelian users unbind-identity pc_1234 --hub data/hub --by admin --reason "wrong person"
    """
    _change(hub, state, by, lambda s: s.accounts.unbind_identity(username, by=by, reason=reason))


@users_app.command("add-team")
def users_add_team(
    username: str,
    team: str,
    hub: HubOption,
    by: ByOption,
    create: Annotated[bool, typer.Option("--create", help="Create the team first.")] = False,
    state: StateOption = None,
) -> None:
    """Put a user in a team (they see the records of the team's operations).

    Example:

        peelian users add-team dc_jones "Kestrel team" --hub data/hub --by admin --create
    """

    def change(s: State) -> Account:
        if create:
            s.accounts.add_team(team, by=by)
        return s.accounts.add_member(username, team, by=by)

    _change(hub, state, by, change)


@users_app.command("remove-team")
def users_remove_team(
    username: str, team: str, hub: HubOption, by: ByOption, state: StateOption = None
) -> None:
    """Take a user out of a team.

    Example:

        peelian users remove-team dc_jones "Kestrel team" --hub data/hub --by admin
    """
    _change(hub, state, by, lambda s: s.accounts.remove_member(username, team, by=by))


@users_app.command("add-operation")
def users_add_operation(
    name: Annotated[str, typer.Argument(help="As records name it, e.g. 'OP KESTREL'.")],
    hub: HubOption,
    team: Annotated[str, typer.Option("--team", help="The team briefed into it.")],
    by: ByOption,
    disclose: Annotated[
        bool,
        typer.Option(
            "--disclose",
            help="Tell others who find its records that restricted information exists "
            "and to contact the team (default: they see nothing).",
        ),
    ] = False,
    state: StateOption = None,
) -> None:
    """Add an operation: records marked with it are visible to its team only.

    Example:

        peelian users add-operation "OP KESTREL" --team "Kestrel team" --hub data/hub --by admin
    """
    with _admin(hub, state, by, "users.manage") as opened:
        op = opened.accounts.add_operation(name, team, by=by, disclose=disclose)
    out_console.print(
        f"{op.name}: team {op.team}" + (", discloses its existence" if op.disclose else "")
    )


@users_app.command("operations")
def users_operations(hub: HubOption, by: ByOption, state: StateOption = None) -> None:
    """List the operations (compartments), their teams and members.

    Example:

        peelian users operations --hub data/hub --by admin
    """
    with _admin(hub, state, by, "users.manage") as opened:
        ops, teams = opened.accounts.operations(), opened.accounts.teams()
    table = Table("operation", "team", "members", "discloses")
    for op in ops:
        table.add_row(op.name, op.team, ", ".join(teams.get(op.team, [])), "yes" * op.disclose)
    out_console.print(table)


@users_app.command("roles")
def users_roles() -> None:
    """List the roles and what each may do.

    Example:

        peelian users roles
    """
    from peelian.govern.policy import PERMISSIONS, ROLES, VETTING_CLEARANCE

    table = Table("role", "what for", "may")
    for role in ROLES.values():
        table.add_row(
            role.name, role.description, "; ".join(PERMISSIONS[p] for p in sorted(role.permissions))
        )
    out_console.print(table)
    out_console.print(
        "vetting -> highest marking: "
        + ", ".join(f"{v} -> {m}" for v, m in VETTING_CLEARANCE.items())
    )


@users_app.command("token")
def users_token(
    username: str,
    hub: HubOption,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    by: ByOption,
    days: Annotated[int, typer.Option("--days", help="Days until it expires (1-366).")] = 90,
    state: StateOption = None,
) -> None:
    """Create an API token for a user; it is printed once and only its hash is kept.

    Example:

        peelian users token pc_1234 --name "mobile terminal" --hub data/hub --by admin
    """
    with _admin(hub, state, by, "users.manage") as opened:
        token, info = opened.accounts.create_token(username, name, by=by, days=days)
    console.print(
        f"token #{info.id} for {username} ({name}), expires {info.expires_at:%Y-%m-%d}; "
        "shown once, keep it secret:"
    )
    out_console.print(token)


@users_app.command("revoke-token")
def users_revoke_token(
    token_id: int, hub: HubOption, by: ByOption, state: StateOption = None
) -> None:
    """Revoke an API token by its number.

    Example:

        peelian users revoke-token 3 --hub data/hub --by admin
    """
    with _admin(hub, state, by, "users.manage") as opened:
        info = opened.accounts.revoke_token(token_id, by=by)
    out_console.print(f"token #{info.id} of {info.username} revoked")


# The audit log.


AnchorsOption = Annotated[
    Path | None,
    typer.Option(
        "--anchors",
        help="An anchor file written by `peelian audit anchor`: also find events cut off "
        "the end of the log, or a log rewritten with fresh hashes.",
    ),
]


@audit_app.command("verify")
def audit_verify(
    hub: HubOption, by: ByOption, anchors: AnchorsOption = None, state: StateOption = None
) -> None:
    """Check the audit log's hash chain; exit 1 naming the first altered, missing,
    inserted or reordered event. With --anchors, also that every anchored event is
    still there with the hash it had.

    Examples:

        peelian audit verify --hub data/hub --by auditor1

        peelian audit verify --hub data/hub --by auditor1 --anchors /mnt/worm/audit-anchors.jsonl
    """
    from peelian.state.audit import AnchorError, read_anchors

    with _open_state(hub, state) as opened:
        authorise_cli(opened, by, "audit.verify")
        try:
            anchored = read_anchors(anchors) if anchors is not None else []
        except AnchorError as exc:
            opened.append_audit(
                by, "audit.verify", detail={"anchors": str(anchors)}, client=cli_client(),
                outcome="refused: the anchor file is not sound",
            )  # fmt: skip
            raise _fail(str(exc)) from None
        result = opened.verify_audit(anchored)
        detail: dict[str, Any] = {
            "ok": result.ok,
            "checked": result.checked,
            "first_bad": result.first_bad_seq,
        }
        if anchors is not None:
            detail |= {"anchors": str(anchors), "anchors_checked": result.anchors_checked}
        opened.append_audit(by, "audit.verify", detail=detail, client=cli_client())
    if result.ok:
        n = result.anchors_checked
        also = "" if anchors is None else f"; {n:,} anchor{' holds' if n == 1 else 's hold'}"
        out_console.print(f"audit chain intact: {result.checked:,} events checked{also}")
        return
    console.print(
        f"[red]audit chain broken at event {result.first_bad_seq}:[/red] {result.problem} "
        f"({result.checked:,} events checked)"
    )
    raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(
    hub: HubOption,
    by: ByOption,
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            help="The anchor file (JSON lines, appended to). Keep it where whoever "
            "administers the state database can't rewrite it: append-only storage on "
            "another machine (see docs/governance.md).",
        ),
    ],
    init: Annotated[
        bool,
        typer.Option("--init", help="Start a new anchor file (refused if it exists)."),
    ] = False,
    state: StateOption = None,
) -> None:
    """Verify the audit chain and append its newest hash to an anchor file outside the
    database, so that events cut off the end or a chain rewritten with fresh hashes
    show up in `audit verify --anchors`. Run it on a schedule (e.g. every 5 minutes
    from cron); a chain that does not verify is not anchored (exit 1).

    Example:

        peelian audit anchor --hub data/hub --by auditor1 --to /mnt/worm/audit-anchors.jsonl

    The first run makes the file with --init; later runs refuse a missing file, so an
    unmounted store does not silently start a new chain. A run checks the events
    since the last anchor; `audit verify --anchors` checks them all.
    """
    from peelian.state.audit import AnchorError

    if to.exists() == init:
        raise _fail(
            f"{to} already exists: it is appended to without --init"
            if init
            else f"{to} does not exist: give --init to start a new anchor file (or is the "
            "storage it lives on not mounted?)"
        )
    with _open_state(hub, state) as opened:
        authorise_cli(opened, by, "audit.verify")
        try:
            result, anchor = opened.anchor_audit(to, by=by, client=cli_client())
        except AnchorError as exc:
            opened.append_audit(
                by, "audit.anchor", detail={"to": str(to)}, client=cli_client(),
                outcome="refused: the anchor file is not sound",
            )  # fmt: skip
            raise _fail(str(exc)) from None
    if anchor is None:
        console.print(
            f"[red]not anchored: the audit chain is broken at event {result.first_bad_seq}:"
            f"[/red] {result.problem}"
        )
        raise typer.Exit(1)
    beside = {hub.resolve(), hub.resolve().parent}
    if to.resolve().parent in beside:
        console.print(
            f"note: {to} is beside the hub; whoever can rewrite the state database can "
            "rewrite it too. Keep the anchors on write-once storage or another machine."
        )
    out_console.print(
        f"anchored event {anchor.seq} in {to} line {anchor.line} (the earlier anchors hold; "
        f"{result.checked:,} events since the last one verified)"
    )


FilterUser = Annotated[str | None, typer.Option("--user", help="Events by this user.")]
FilterEntity = Annotated[
    str | None,
    typer.Option("--entity", help="Events that read this entity: who looked at this person."),
]
FilterAction = Annotated[str | None, typer.Option("--action", help="e.g. search, login.")]
FilterSince = Annotated[str | None, typer.Option("--since", help="From this date (UTC).")]
FilterUntil = Annotated[str | None, typer.Option("--until", help="Before this date (UTC).")]


def _filters(
    user: str | None,
    entity: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
) -> dict[str, Any]:
    start, end = _date(since, "--since"), _date(until, "--until")
    return {
        "actor": user,
        "entity": entity,
        "action": action,
        "since": None if start is None else dt.datetime.combine(start, dt.time(), dt.UTC),
        "until": None if end is None else dt.datetime.combine(end, dt.time(), dt.UTC),
    }


@audit_app.command("show")
def audit_show(
    hub: HubOption,
    by: ByOption,
    user: FilterUser = None,
    entity: FilterEntity = None,
    action: FilterAction = None,
    since: FilterSince = None,
    until: FilterUntil = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest events shown.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    state: StateOption = None,
) -> None:
    """Show audit events by user, by entity ("who looked at this person") or by time,
    newest first. Viewing the log is itself audited.

    Examples:

        peelian audit show --hub data/hub --by auditor1 --user pc_1234 --since 2026-11-01

        peelian audit show --hub data/hub --by auditor1 --entity P-000123
    """
    filters = _filters(user, entity, action, since, until)
    with _open_state(hub, state) as opened:
        authorise_cli(opened, by, "audit.view")
        events = opened.find_audit(**filters, limit=max(1, min(limit, 10_000)))
        _record_view(opened, by, "audit.view", filters, len(events))
    from peelian.serve.oversight import event_json

    rows = [event_json(e) for e in events]
    if as_json:
        out_console.print_json(json.dumps(rows))
        return
    table = Table("seq", "at (UTC)", "user", "action", "target", "purpose", "outcome", "results")
    for row in rows:
        results = (row["detail"] or {}).get("results")
        table.add_row(
            str(row["seq"]),
            row["at"][:19],
            row["user"],
            row["action"],
            row["target"] or "",
            row["purpose"] or "",
            row["outcome"],
            "" if results is None else f"{len(results)}",
        )
    out_console.print(table)


def _record_view(state: State, by: str, action: str, filters: dict[str, Any], count: int) -> None:
    shown = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in filters.items()}
    state.append_audit(
        by,
        action,
        detail={"filters": {k: v for k, v in shown.items() if v is not None}, "events": count},
        client=cli_client(),
    )


@audit_app.command("export")
def audit_export(
    hub: HubOption,
    by: ByOption,
    out: Annotated[Path, typer.Option("--out", help="File to write (.csv or .jsonl).")],
    user: FilterUser = None,
    entity: FilterEntity = None,
    action: FilterAction = None,
    since: FilterSince = None,
    until: FilterUntil = None,
    state: StateOption = None,
) -> None:
    """Export audit events (oldest first, with their hashes) to CSV or JSON lines.

    Example:

        peelian audit export --hub data/hub --by auditor1 --since 2026-11-01 --out nov.csv
    """
    if out.suffix not in (".csv", ".jsonl"):
        raise _fail(f"{out}: the export is written as .csv or .jsonl")
    filters = _filters(user, entity, action, since, until)
    partial = out.with_name(out.name + ".partial")
    from peelian.serve.oversight import event_json

    with _open_state(hub, state) as opened:
        authorise_cli(opened, by, "audit.export")
        count = 0
        try:
            with partial.open("w", newline="", encoding="utf-8") as handle:
                writer = None
                for event in opened.iter_audit(**filters):
                    row = event_json(event) | {"prev_hash": event.prev_hash, "hash": event.hash}
                    if out.suffix == ".jsonl":
                        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    else:
                        if writer is None:
                            writer = csv.DictWriter(handle, fieldnames=list(row))
                            writer.writeheader()
                        writer.writerow(row | {"detail": json.dumps(row["detail"])})
                    count += 1
            partial.replace(out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise _fail(f"can't write {out}: {exc}") from None
        _record_view(opened, by, "audit.export", filters, count)
    out_console.print(f"{count:,} audit events written to {out}")


@audit_app.command("flag")
def audit_flag(
    entity: Annotated[str, typer.Argument(help="The person's entity id.")],
    hub: HubOption,
    by: ByOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. public figure).")],
    state: StateOption = None,
) -> None:
    """Flag a high-profile person: every look-up of them raises a misuse alert.

    Example:

        peelian audit flag P-000123 --reason "public figure" --hub data/hub --by auditor1
    """
    with _admin(hub, state, by, "flag.manage") as opened:
        opened.accounts.flag_person(entity, reason=reason, by=by)
    out_console.print(f"{entity} flagged")


@audit_app.command("unflag")
def audit_unflag(
    entity: str,
    hub: HubOption,
    by: ByOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    state: StateOption = None,
) -> None:
    """Remove a person's flag (the flag's history is kept).

    Example:

        peelian audit unflag P-000123 --reason "left office" --hub data/hub --by auditor1
    """
    with _admin(hub, state, by, "flag.manage") as opened:
        opened.accounts.unflag_person(entity, by=by, reason=reason)
    out_console.print(f"{entity} no longer flagged")


# The demo force's accounts: one per kind of user, briefed into the force's operations.
DEMO_USERS = (
    ("admin", "Demo administrator", "administrator", "SC"),
    ("pc_demo", "PC 4021 Demo (response)", "response_officer", "NPPV2"),
    ("dc_demo", "DC 3310 Demo (investigator)", "investigator", "NPPV3"),
    ("analyst_demo", "Demo intelligence analyst", "intelligence_analyst", "SC"),
    ("sgt_demo", "PS 1190 Demo (supervisor)", "supervisor", "NPPV3"),
    ("safeguard_demo", "DC 2208 Demo (safeguarding)", "safeguarding_officer", "NPPV3"),
    ("sgsup_demo", "DS 1702 Demo (safeguarding supervisor)", "safeguarding_supervisor", "NPPV3"),
    ("mash_demo", "Demo MASH officer", "mash_officer", "NPPV2"),
    ("auditor_demo", "Demo auditor (professional standards)", "auditor", "SC"),
)


def demo_accounts(hub_path: Path, state: str | None = None) -> Path:
    """Create the demo's accounts (in `state`, by default the hub's state database) with
    fresh random passwords, brief the analyst into every operation in the hub's
    records, and write the sign-ins to a file only the owner can read. Returns that
    file."""
    import secrets

    from peelian.hub import Hub

    with Hub(hub_path, read_only=True) as hub:
        operations = [
            row[0]
            for row in hub.con.execute(
                "SELECT DISTINCT upper(trim(compartment)) FROM source_rows "
                "WHERE compartment IS NOT NULL AND trim(compartment) <> '' ORDER BY 1"
            ).fetchall()
        ]
    lines = []
    with _open_state(hub_path, state) as opened:
        accounts = opened.accounts
        if accounts.users():
            raise _fail(f"{hub_path} already has user accounts; the demo makes a new hub")
        for username, name, role, vetting in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            accounts.add_user(username, name, role, vetting, by="admin", password=password)
            lines.append(f"{username:<14} {password:<18} {role.replace('_', ' ')}, {vetting}")
        for operation in operations:
            team = f"{operation.title()} team"
            accounts.add_team(team, by="admin")
            accounts.add_member("analyst_demo", team, by="admin")
            accounts.add_operation(operation, team, by="admin")
    target = hub_path.parent / "demo-accounts.txt"
    target.touch(mode=0o600)
    target.write_text(
        "Peelian demo accounts (made by `peelian demo`; random passwords, new each run)\n"
        + "\n".join(lines)
        + "\n"
        + (f"analyst_demo is briefed into {', '.join(operations)}\n" if operations else ""),
        encoding="utf-8",
    )
    return target


@audit_app.command("alerts")
def audit_alerts(
    hub: HubOption,
    by: ByOption,
    since: FilterSince = None,
    until: FilterUntil = None,
    limit: Annotated[int, typer.Option("--limit", help="Alerts shown, most severe first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    state: StateOption = None,
) -> None:
    """Misuse alerts over the audit log, each with its evidence: look-ups of oneself,
    family or a colleague, of a flagged person, volume far above peers, bulk
    look-ups out of the user's hours, and look-ups without a linked incident
    (docs/misuse.md). Leads for an auditor to check, not findings.

    Example:

        peelian audit alerts --hub data/hub --by auditor1 --since 2026-11-01
    """
    from peelian.hub import Hub
    from peelian.serve.oversight import find_alerts

    filters = _filters(None, None, None, since, until)
    with _open_state(hub, state) as opened:
        authorise_cli(opened, by, "alerts.view")
        events = list(opened.iter_audit(**filters))
        with Hub(hub, read_only=True) as opened_hub:
            alerts = find_alerts(opened, opened_hub.con, events)
        _record_view(opened, by, "alerts.view", filters, len(events))
    shown = alerts[: max(1, limit)]
    if as_json:
        out_console.print_json(json.dumps([a.as_dict() for a in shown]))
        return
    out_console.print(f"{len(alerts):,} alerts over {len(events):,} audit events")
    table = Table("severity", "kind", "user", "from (UTC)", "what", "events")
    for alert in shown:
        table.add_row(
            alert.severity,
            alert.kind,
            alert.username,
            f"{alert.at:%Y-%m-%d %H:%M}",
            alert.summary,
            ", ".join(map(str, alert.seqs[:8])) + (" ..." if len(alert.seqs) > 8 else ""),
        )
    out_console.print(table)


@eval_app.command("misuse")
def eval_misuse(
    seed: Annotated[list[int] | None, typer.Option("--seed", help="Trail seed(s).")] = None,
    days: Annotated[int, typer.Option("--days", help="Days of audit trail.")] = 30,
    users: Annotated[int, typer.Option("--users", help="Staff in the trail.")] = 300,
) -> None:
    """Precision and recall of misuse detection on a synthetic audit trail with
    planted misuse and legitimate look-alikes (night shifts, busy analysts, common
    surnames at other addresses).

    Example:

        peelian eval misuse --seed 1 --seed 2 --days 30 --users 300
    """
    from peelian.govern.misuse_trail import evaluate

    for one in seed or [1]:
        out_console.print(evaluate(one, days, users).table(), highlight=False)
        out_console.print()
