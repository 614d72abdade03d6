"""Accounts: users, teams, operations, sign-in, API tokens, UI sessions and
flagged persons.

    accounts = state.accounts
    accounts.add_user("pc_1234", "PC 1234 Khan", "response_officer", "NPPV2", by="admin",
                      password="...")
    accounts.authenticate("pc_1234", "...", client="10.0.0.7") -> Principal
    token, info = accounts.create_token("pc_1234", "mobile data terminal", by="admin")
    accounts.token_principal(token) -> Principal
    session_id, csrf = accounts.create_session("pc_1234", client="10.0.0.7")
    accounts.session_principal(session_id) -> (Principal, csrf)
    accounts.bind_identity("pc_1234", "https://idp.force.example", "f81d4fae", by="admin")
    accounts.identity_principal("https://idp.force.example", "f81d4fae", "pc_1234") -> Principal

Passwords are kept as argon2id hashes; API tokens and session ids as SHA-256
digests (they are long random strings, so a fast hash is enough and a stolen
table gives nothing to replay). Sign-in is throttled per username (a lock
after `MAX_FAILURES` failures in a row, for `LOCK_MINUTES`) and per client
address; an unknown username and a wrong password give the same answer in
about the same time. Every change and every sign-in writes an audit event in
the same transaction.

Sign-in through the force's OpenID Connect provider finds the account by the
ID token's issuer and subject (`iss`, `sub`): a stable identity, where a name
claim can be edited or reused. An administrator binds an account to an
identity (`bind_identity`); an account made to be claimed through the provider
(`add_user(oidc=True)`, `peelian users add --oidc`) is bound on its first
sign-in to the identity whose name claim names it. No other account is ever
bound that way (one with a password, a service account used through the CLI or
API tokens, one made before bindings existed, one bound or unbound before), so
nobody at the provider can take over an account by a name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from peelian.govern.policy import Principal, check_role, clearance_for
from peelian.state import audit
from peelian.state.tables import (
    api_tokens,
    flagged_persons,
    login_attempts,
    operations,
    sessions,
    team_members,
    teams,
    users,
)

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
# Consecutive failures for one username before it is locked, and for how long.
MAX_FAILURES = 5
LOCK_MINUTES = 15
# Failures from one client address (any usernames) within the window before it is refused.
MAX_CLIENT_FAILURES = 30
TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 366
# A UI session ends after this long idle, and after SESSION_HOURS whatever happens.
SESSION_IDLE_MINUTES = 30
# A token's last use and a session's last sight are written at most this often, so
# that a request reads the state database without taking its write lock. Idle time
# counts from the last sight written, up to a minute before the last request: an idle
# session ends 29 to 30 minutes after its last request, never later.
TOUCH_SECONDS = 60
SESSION_HOURS = 12
TOKEN_PREFIX = "pln_"
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,99}")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_HASHER = PasswordHasher()  # argon2id with the library's current recommended costs
# Verified against when the username is unknown, so timing doesn't tell which failed.
_DUMMY_HASH = _HASHER.hash("not a real password: a constant for timing")
SIGN_IN_REFUSED = "wrong username or password"
# OpenID Connect: an issuer is a URL; a subject is at most 255 ASCII characters (Core 1.0, 2).
MAX_ISSUER_CHARS = 500
MAX_SUBJECT_CHARS = 255
# Printable, and no space at either end: an identity is compared exactly, never trimmed.
_IDENTITY = re.compile(r"[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?")


class AccountError(ValueError):
    """A bad account request (unknown user, bad name, weak password...)."""


class AuthenticationError(Exception):
    """Sign-in refused, or a token or session not valid; the message is safe to show."""


@dataclass(frozen=True)
class Account:
    """A user account as administrators see it (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    vetting: str
    disabled: bool
    teams: tuple[str, ...]
    has_password: bool
    forenames: str | None
    surname: str | None
    date_of_birth: dt.date | None
    home_postcode: str | None
    home_address: str | None
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    locked_until: dt.datetime | None
    # The OpenID Connect identity (issuer, subject) it signs in with; None until bound.
    oidc_issuer: str | None
    oidc_subject: str | None
    # made to be bound by a name claim on its first sign-in, and not bound yet
    oidc_claimable: bool = False


@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


@dataclass(frozen=True)
class Operation:
    id: int
    name: str
    team: str
    disclose: bool
    created_at: dt.datetime
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class FlaggedPerson:
    entity_id: str
    reason: str
    flagged_by: str
    flagged_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def digest(secret: str) -> str:
    """The SHA-256 hex of a token or session id, as stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise AccountError(
            f"username {username!r} must be 2-100 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return username


def _check_name(what: str, value: str) -> str:
    value = value.strip() if isinstance(value, str) else value
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise AccountError(f"{what} must be 1-200 printable characters (got {value!r})")
    return value


def check_password(password: str, username: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"a password may have at most {MAX_PASSWORD_CHARS} characters")
    if username.lower() in password.lower():
        raise AccountError("a password must not contain the username")


class Accounts:
    """Account operations on a state database (`State.accounts`)."""

    def __init__(
        self,
        write: Callable[[], AbstractContextManager[sa.Connection]],
        read: Callable[[], AbstractContextManager[sa.Connection]],
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._write = write
        self._read = read
        self._clock = clock

    # Users.

    def add_user(
        self,
        username: str,
        display_name: str,
        role: str,
        vetting: str,
        *,
        by: str,
        password: str | None = None,
        oidc: bool = False,
        forenames: str | None = None,
        surname: str | None = None,
        date_of_birth: dt.date | None = None,
        home_postcode: str | None = None,
        home_address: str | None = None,
    ) -> Account:
        """Create an account. Without a password the user signs in through the
        force's identity provider (or gets one set later)."""
        check_username(username)
        display_name = _check_name("a display name", display_name)
        _role_and_vetting(role, vetting)
        if password is not None:
            check_password(password, username)
            if oidc:
                raise AccountError(
                    "an account made for the identity provider has no password "
                    "(bind a password account with `peelian users bind-identity`)"
                )
        now = self._clock()
        with self._write() as con:
            if _user_row(con, username) is not None:
                raise AccountError(f"there is already a user {username!r}")
            con.execute(
                sa.insert(users).values(
                    username=username,
                    display_name=display_name,
                    role=role,
                    vetting=vetting.upper(),
                    password_hash=None if password is None else _HASHER.hash(password),
                    password_changed_at=None if password is None else now,
                    oidc_claimable=oidc,
                    forenames=forenames,
                    surname=surname,
                    date_of_birth=date_of_birth,
                    home_postcode=home_postcode,
                    home_address=home_address,
                    created_at=now,
                )
            )
            audit.append(
                con,
                by,
                "user.add",
                target=f"user:{username}",
                detail={
                    "role": role,
                    "vetting": vetting.upper(),
                    "password": password is not None,
                    "identity_provider": oidc,
                },
            )
            return _account(con, username)

    def users(self) -> list[Account]:
        with self._read() as con:
            names = con.execute(sa.select(users.c.username).order_by(users.c.username)).scalars()
            return [_account(con, name) for name in names]

    def user(self, username: str) -> Account:
        """The account; AccountError if there is none."""
        with self._read() as con:
            return _account(con, username)

    def set_role(self, username: str, role: str, *, by: str) -> Account:
        check_role(role)
        return self._update(username, "user.set_role", {"role": role}, by)

    def set_vetting(self, username: str, vetting: str, *, by: str) -> Account:
        clearance_for(vetting)
        return self._update(username, "user.set_vetting", {"vetting": vetting.upper()}, by)

    def disable(self, username: str, *, by: str, reason: str) -> Account:
        """Disable an account: sign-in and its tokens stop working, and its sessions
        end (enabling it again does not bring them back; its tokens do come back)."""
        reason = _check_name("a reason", reason)
        return self._update(
            username, "user.disable", {"disabled": True}, by, reason=reason, end_sessions=True
        )

    def enable(self, username: str, *, by: str, reason: str) -> Account:
        reason = _check_name("a reason", reason)
        values = {"disabled": False, "failed_logins": 0, "locked_until": None}
        return self._update(username, "user.enable", values, by, reason=reason)

    def set_password(self, username: str, password: str, *, by: str) -> Account:
        """A new password; it ends the user's UI sessions (API tokens are separate
        credentials: revoke them with `revoke_token` if they may be compromised too)."""
        check_password(password, username)
        values = {
            "password_hash": _HASHER.hash(password),
            "password_changed_at": self._clock(),
            "failed_logins": 0,
            "locked_until": None,
        }
        return self._update(username, "user.set_password", values, by, end_sessions=True)

    def set_profile(self, username: str, *, by: str, **profile: Any) -> Account:
        """Set the staff profile misuse detection compares look-ups with."""
        allowed = {"forenames", "surname", "date_of_birth", "home_postcode", "home_address"}
        unknown = set(profile) - allowed
        if unknown:
            raise AccountError(
                f"unknown profile fields {sorted(unknown)}; known: {sorted(allowed)}"
            )
        return self._update(username, "user.set_profile", profile, by, shown=sorted(profile))

    def _update(
        self,
        username: str,
        action: str,
        values: dict[str, Any],
        by: str,
        *,
        reason: str | None = None,
        shown: list[str] | None = None,
        end_sessions: bool = False,
    ) -> Account:
        with self._write() as con:
            user_id = _require_user(con, username).id
            con.execute(sa.update(users).where(users.c.id == user_id).values(**values))
            if end_sessions:
                _end_sessions(con, user_id, self._clock())
            # The audit event says what changed, but never a password hash or profile values.
            if shown is not None:
                detail: dict[str, Any] = {"fields": shown}
            else:
                detail = {
                    k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                    for k, v in values.items()
                    if k not in ("password_hash", "password_changed_at")
                }
            if reason is not None:
                detail["reason"] = reason
            audit.append(con, by, action, target=f"user:{username}", detail=detail)
            return _account(con, username)

    # Teams and operations.

    def add_team(self, name: str, *, by: str) -> None:
        name = _check_name("a team name", name)
        with self._write() as con:
            if con.execute(sa.select(teams.c.id).where(teams.c.name == name)).first():
                raise AccountError(f"there is already a team {name!r}")
            con.execute(sa.insert(teams).values(name=name, created_at=self._clock()))
            audit.append(con, by, "team.add", target=f"team:{name}")

    def teams(self) -> dict[str, list[str]]:
        """Each team and its members' usernames."""
        with self._read() as con:
            rows = con.execute(
                sa.select(teams.c.name, users.c.username)
                .select_from(teams.outerjoin(team_members).outerjoin(users))
                .order_by(teams.c.name, users.c.username)
            )
            out: dict[str, list[str]] = {}
            for team, member in rows:
                out.setdefault(team, [])
                if member is not None:
                    out[team].append(member)
            return out

    def add_member(self, username: str, team: str, *, by: str) -> Account:
        with self._write() as con:
            user_id = _require_user(con, username).id
            team_id = _require_team(con, team)
            exists = con.execute(
                sa.select(team_members.c.user_id).where(
                    team_members.c.team_id == team_id, team_members.c.user_id == user_id
                )
            ).first()
            if exists:
                raise AccountError(f"{username} is already in {team!r}")
            con.execute(
                sa.insert(team_members).values(
                    team_id=team_id, user_id=user_id, added_at=self._clock()
                )
            )
            audit.append(
                con, by, "team.member.add", target=f"user:{username}", detail={"team": team}
            )
            return _account(con, username)

    def remove_member(self, username: str, team: str, *, by: str) -> Account:
        with self._write() as con:
            user_id = _require_user(con, username).id
            team_id = _require_team(con, team)
            gone = con.execute(
                sa.delete(team_members).where(
                    team_members.c.team_id == team_id, team_members.c.user_id == user_id
                )
            ).rowcount
            if not gone:
                raise AccountError(f"{username} is not in {team!r}")
            audit.append(
                con, by, "team.member.remove", target=f"user:{username}", detail={"team": team}
            )
            return _account(con, username)

    def add_operation(self, name: str, team: str, *, by: str, disclose: bool = False) -> Operation:
        """An operation (a compartment): records marked with it are seen by `team` only.
        With `disclose`, others who find its records are told whom to contact."""
        name = _check_name("an operation name", name).upper()
        with self._write() as con:
            team_id = _require_team(con, team)
            if con.execute(sa.select(operations.c.id).where(operations.c.name == name)).first():
                raise AccountError(f"there is already an operation {name!r}")
            con.execute(
                sa.insert(operations).values(
                    name=name, team_id=team_id, disclose=disclose, created_at=self._clock()
                )
            )
            audit.append(
                con,
                by,
                "operation.add",
                target=f"operation:{name}",
                detail={"team": team, "disclose": disclose},
            )
            return next(o for o in _operations(con) if o.name == name)

    def operations(self) -> list[Operation]:
        with self._read() as con:
            return _operations(con)

    # Who a user is, to the policy.

    def principal(self, username: str) -> Principal:
        """The policy's view of an enabled user; AuthenticationError otherwise."""
        with self._read() as con:
            return _principal(con, username)

    def authenticate(self, username: str, password: str, *, client: str | None = None) -> Principal:
        """Check a password and return the user; AuthenticationError (one message for
        an unknown user and a wrong password) when refused. Audited either way.

        The attempt is counted as a failure before the password is checked (and
        undone on success), so guesses made in parallel can't outrun the lock; the
        slow argon2 check itself runs outside the write lock.
        """
        now = self._clock()
        name = username[:100]
        target = f"user:{name}"
        with self._write() as con:
            row = _user_row(con, username)
            refusal = self._throttled(con, name, row, client, now)
            attempt = con.execute(
                sa.insert(login_attempts)
                .values(username=name, client=client, at=now, ok=False)
                .returning(login_attempts.c.id)
            ).scalar_one()
            if refusal is None and row is not None:
                _count_failure(con, row.id, now)
            if refusal is not None:
                audit.append(
                    con, name or "?", "login", target=target, client=client,
                    outcome=f"refused: {refusal}",
                )  # fmt: skip
        if refusal is not None:
            raise AuthenticationError(refusal)
        stored = row.password_hash if row is not None else None
        ok = _verify(stored or _DUMMY_HASH, password) and stored is not None
        ok = ok and row is not None and not row.disabled
        with self._write() as con:
            if not ok:
                audit.append(
                    con, name or "?", "login", target=target, client=client,
                    outcome=f"refused: {SIGN_IN_REFUSED}",
                )  # fmt: skip
            else:
                assert row is not None
                values: dict[str, Any] = {
                    "failed_logins": 0,
                    "locked_until": None,
                    "last_login_at": now,
                }
                if _HASHER.check_needs_rehash(row.password_hash):
                    values["password_hash"] = _HASHER.hash(password)
                con.execute(sa.update(users).where(users.c.id == row.id).values(**values))
                con.execute(
                    sa.update(login_attempts).where(login_attempts.c.id == attempt).values(ok=True)
                )
                audit.append(con, username, "login", target=target, client=client)
                principal = _principal(con, username)
        if not ok:
            # Raised after the commit: the failure, the lock and the audit event stay.
            raise AuthenticationError(SIGN_IN_REFUSED)
        return principal

    def _throttled(
        self,
        con: sa.Connection,
        username: str,
        row: sa.Row[Any] | None,
        client: str | None,
        now: dt.datetime,
    ) -> str | None:
        """Why sign-in is refused before the password is even checked, if it is.

        An account locks after MAX_FAILURES failures in a row (a success, `enable`
        or a new password resets it); a username that is no account is throttled
        the same way by its recent failures, so locks reveal nothing.
        """
        since = now - dt.timedelta(minutes=LOCK_MINUTES)
        recent = sa.select(sa.func.count()).where(
            login_attempts.c.at >= since, ~login_attempts.c.ok
        )
        wait = f"try again in {LOCK_MINUTES} minutes"
        if row is not None:
            locked = row.locked_until is not None and row.locked_until > now
        else:
            by_name = con.execute(recent.where(login_attempts.c.username == username))
            locked = by_name.scalar_one() >= MAX_FAILURES
        if locked:
            return f"too many failed sign-ins for this username; {wait}"
        if client is not None:
            by_client = con.execute(recent.where(login_attempts.c.client == client)).scalar_one()
            if by_client >= MAX_CLIENT_FAILURES:
                return f"too many failed sign-ins from this address; {wait}"
        return None

    # Sign-in through the force's OpenID Connect identity provider.

    def bind_identity(self, username: str, issuer: str, subject: str, *, by: str) -> Account:
        """Bind an account to an identity at the provider (its ID tokens' `iss` and
        `sub`): that identity then signs in as this account, whatever its name claim
        says. One account per identity and one identity per account (unbind first).

        Example (the subject as the provider's directory shows it):

            accounts.bind_identity("admin", "https://idp.force.example", "f81d4fae", by="admin")
        """
        issuer, subject = check_identity(issuer, subject)
        with self._write() as con:
            row = _require_user(con, username)
            holder = _identity_holder(con, issuer, subject)
            if holder is not None:
                raise AccountError(
                    f"the identity {subject!r} at {issuer} is already bound to "
                    f"{holder.username!r}"
                    + ("" if holder.username == username else "; unbind it there first")
                )
            if row.oidc_subject is not None:
                raise AccountError(
                    f"{username!r} is already bound to the identity {row.oidc_subject!r} at "
                    f"{row.oidc_issuer}; unbind it first (`peelian users unbind-identity`)"
                )
            _bind(con, row.id, issuer, subject)
            audit.append(
                con, by, "user.bind_identity", target=f"user:{username}",
                detail={"issuer": issuer, "subject": subject},
            )  # fmt: skip
            return _account(con, username)

    def unbind_identity(self, username: str, *, by: str, reason: str) -> Account:
        """Unbind an account from its identity at the provider. Its UI sessions end
        (they may have been started by that identity); a password still works. It
        is bound again by `bind_identity` only: a name claim binds only an account
        made to be claimed that has never been bound."""
        reason = _check_name("a reason", reason)
        with self._write() as con:
            row = _require_user(con, username)
            if row.oidc_subject is None:
                raise AccountError(f"{username!r} is not bound to an identity")
            con.execute(
                sa.update(users)
                .where(users.c.id == row.id)
                .values(oidc_issuer=None, oidc_subject=None, oidc_claimable=False)
            )
            _end_sessions(con, row.id, self._clock())
            audit.append(
                con, by, "user.unbind_identity", target=f"user:{username}",
                detail={"issuer": row.oidc_issuer, "subject": row.oidc_subject, "reason": reason},
            )  # fmt: skip
            return _account(con, username)

    def identity_principal(
        self, issuer: str, subject: str, claimed_username: str, *, client: str | None = None
    ) -> Principal:
        """The enabled user bound to an identity at the provider (the `iss` and `sub`
        of a verified ID token); AuthenticationError, its message the reason for the
        audit, when there is none.

        When no account is bound to the identity, the account named exactly by
        `claimed_username` (the token's name claim) is bound to it, on its first
        sign-in only: if it was made for the provider (no password), is bound to no
        identity and has never signed in. That binding is audited as the user's own
        `user.bind_identity`.
        """
        try:
            issuer, subject = check_identity(issuer, subject)
        except AccountError:
            raise AuthenticationError("the ID token has no usable issuer and subject") from None
        now = self._clock()
        with self._write() as con:
            row = _identity_holder(con, issuer, subject)
            if row is None:
                row = _bind_on_first_sign_in(con, issuer, subject, claimed_username, client)
            elif row.disabled:
                raise AuthenticationError(
                    f"the account {row.username!r} bound to this identity is disabled"
                )
            con.execute(sa.update(users).where(users.c.id == row.id).values(last_login_at=now))
            return _principal(con, row.username)

    # API tokens.

    def create_token(
        self, username: str, name: str, *, by: str, days: int = TOKEN_DAYS
    ) -> tuple[str, TokenInfo]:
        """A new API token for `username`: the token text (shown once, never stored)
        and its record."""
        name = _check_name("a token name", name)
        if not 1 <= days <= MAX_TOKEN_DAYS:
            raise AccountError(f"a token lasts 1 to {MAX_TOKEN_DAYS} days, not {days}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        with self._write() as con:
            user = _require_user(con, username)
            token_id = con.execute(
                sa.insert(api_tokens)
                .values(
                    user_id=user.id,
                    name=name,
                    token_hash=digest(token),
                    created_at=now,
                    expires_at=now + dt.timedelta(days=days),
                )
                .returning(api_tokens.c.id)
            ).scalar_one()
            audit.append(
                con,
                by,
                "token.create",
                target=f"user:{username}",
                detail={"token_id": token_id, "name": name, "days": days},
            )
            return token, _tokens(con, api_tokens.c.id == token_id)[0]

    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        with self._read() as con:
            where = sa.true() if username is None else users.c.username == username
            return _tokens(con, where)

    def revoke_token(self, token_id: int, *, by: str) -> TokenInfo:
        with self._write() as con:
            found = _tokens(con, api_tokens.c.id == token_id)
            if not found:
                raise AccountError(f"there is no API token #{token_id}")
            if found[0].revoked_at is None:
                con.execute(
                    sa.update(api_tokens)
                    .where(api_tokens.c.id == token_id)
                    .values(revoked_at=self._clock())
                )
            audit.append(
                con,
                by,
                "token.revoke",
                target=f"user:{found[0].username}",
                detail={"token_id": token_id},
            )
            return _tokens(con, api_tokens.c.id == token_id)[0]

    def token_principal(self, token: str) -> Principal:
        """The user an API token belongs to; AuthenticationError if it is unknown,
        expired, revoked or its user is disabled. Its last use is written at most
        every `TOUCH_SECONDS` (a read per request, a write a minute)."""
        now = self._clock()
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise AuthenticationError("not a valid API token")
        with self._read() as con:
            row = con.execute(
                sa.select(api_tokens, users.c.username)
                .join(users)
                .where(api_tokens.c.token_hash == digest(token))
            ).first()
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise AuthenticationError("not a valid API token (unknown, expired or revoked)")
            try:
                principal = _principal(con, row.username)
            except AuthenticationError:  # disabled: say no more than for any bad token
                raise AuthenticationError("not a valid API token") from None
        self._touch(api_tokens.c.last_used_at, api_tokens.c.id == row.id, row.last_used_at, now)
        return principal

    def _touch(
        self,
        column: sa.Column[Any],
        where: sa.ColumnElement[bool],
        last: dt.datetime | None,
        now: dt.datetime,
    ) -> None:
        """Write `now` into a last-use column if what it holds is `TOUCH_SECONDS` old
        (never moving it back: a concurrent request may have written a later time)."""
        if last is not None and last + dt.timedelta(seconds=TOUCH_SECONDS) > now:
            return
        with self._write() as con:
            con.execute(
                sa.update(column.table)
                .where(where, sa.or_(column.is_(None), column < now))
                .values({column.name: now})
            )

    # UI sessions.

    def create_session(self, username: str, *, client: str | None = None) -> tuple[str, str]:
        """Start a session after sign-in: (session id for the cookie, CSRF token)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self._clock()
        with self._write() as con:
            user = _require_user(con, username)
            con.execute(
                sa.insert(sessions).values(
                    id_hash=digest(session_id),
                    user_id=user.id,
                    csrf_token=csrf,
                    client=client,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + dt.timedelta(hours=SESSION_HOURS),
                )
            )
        return session_id, csrf

    def session_principal(self, session_id: str) -> tuple[Principal, str]:
        """The user and CSRF token of a live session (and mark it seen, at most every
        `TOUCH_SECONDS`); AuthenticationError when it is unknown, idle too long,
        expired or ended."""
        now = self._clock()
        if not isinstance(session_id, str) or not 0 < len(session_id) <= 200:
            raise AuthenticationError("your session has ended; sign in again")
        with self._read() as con:
            row = con.execute(
                sa.select(sessions, users.c.username)
                .join(users)
                .where(sessions.c.id_hash == digest(session_id))
            ).first()
            idle = dt.timedelta(minutes=SESSION_IDLE_MINUTES)
            if (
                row is None
                or row.revoked_at is not None
                or row.expires_at <= now
                or row.last_seen_at + idle <= now
            ):
                raise AuthenticationError("your session has ended; sign in again")
            try:
                principal = _principal(con, row.username)
            except AuthenticationError:  # disabled since: the session has ended
                raise AuthenticationError("your session has ended; sign in again") from None
        self._touch(
            sessions.c.last_seen_at, sessions.c.id_hash == row.id_hash, row.last_seen_at, now
        )
        return principal, row.csrf_token

    def end_session(self, session_id: str) -> None:
        with self._write() as con:
            con.execute(
                sa.update(sessions)
                .where(sessions.c.id_hash == digest(session_id), sessions.c.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )

    # Flagged high-profile persons.

    def flag_person(self, entity_id: str, *, reason: str, by: str) -> FlaggedPerson:
        reason = _check_name("a reason", reason)
        entity_id = _check_name("an entity id", entity_id)
        with self._write() as con:
            if entity_id in {f.entity_id for f in _flagged(con)}:
                raise AccountError(f"{entity_id} is already flagged")
            con.execute(
                sa.insert(flagged_persons).values(
                    entity_id=entity_id, reason=reason, flagged_by=by, flagged_at=self._clock()
                )
            )
            audit.append(
                con, by, "flag.add", target=f"entity:{entity_id}", detail={"reason": reason}
            )
            return next(f for f in _flagged(con) if f.entity_id == entity_id)

    def unflag_person(self, entity_id: str, *, by: str, reason: str) -> None:
        with self._write() as con:
            done = con.execute(
                sa.update(flagged_persons)
                .where(
                    flagged_persons.c.entity_id == entity_id, flagged_persons.c.removed_at.is_(None)
                )
                .values(removed_at=self._clock())
            ).rowcount
            if not done:
                raise AccountError(f"{entity_id} is not flagged")
            audit.append(
                con, by, "flag.remove", target=f"entity:{entity_id}", detail={"reason": reason}
            )

    def flagged(self) -> list[FlaggedPerson]:
        with self._read() as con:
            return _flagged(con)


def _role_and_vetting(role: str, vetting: str) -> None:
    try:
        check_role(role)
        clearance_for(vetting)
    except ValueError as exc:
        raise AccountError(str(exc)) from None


def check_identity(issuer: str, subject: str) -> tuple[str, str]:
    """An identity at the OpenID Connect provider, as its ID tokens give it (`iss`,
    `sub`); AccountError if either is empty, too long, or has control characters
    or a space at either end (identities are compared exactly, never trimmed)."""
    for what, value, most in (
        ("an issuer", issuer, MAX_ISSUER_CHARS),
        ("a subject", subject, MAX_SUBJECT_CHARS),
    ):
        if not isinstance(value, str) or len(value) > most or not _IDENTITY.fullmatch(value):
            shown = repr(value)[:80]
            raise AccountError(
                f"{what} must be 1-{most} printable characters without a space at either end "
                f"(got {shown})"
            )
    return issuer, subject


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _count_failure(con: sa.Connection, user_id: int, now: dt.datetime) -> None:
    """One more failure in a row (counted in SQL, so concurrent failures all count);
    the account locks at MAX_FAILURES."""
    con.execute(
        sa.update(users)
        .where(users.c.id == user_id)
        .values(failed_logins=users.c.failed_logins + 1)
    )
    failures = con.execute(sa.select(users.c.failed_logins).where(users.c.id == user_id))
    if failures.scalar_one() >= MAX_FAILURES:
        con.execute(
            sa.update(users)
            .where(users.c.id == user_id)
            .values(locked_until=now + dt.timedelta(minutes=LOCK_MINUTES))
        )


def _end_sessions(con: sa.Connection, user_id: int, now: dt.datetime) -> None:
    con.execute(
        sa.update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _user_row(con: sa.Connection, username: str) -> sa.Row[Any] | None:
    return con.execute(sa.select(users).where(users.c.username == username)).first()


def _require_user(con: sa.Connection, username: str) -> sa.Row[Any]:
    row = _user_row(con, username)
    if row is None:
        raise AccountError(f"there is no user {username!r}")
    return row


def _identity_holder(con: sa.Connection, issuer: str, subject: str) -> sa.Row[Any] | None:
    """The account bound to an identity, if any."""
    return con.execute(
        sa.select(users).where(users.c.oidc_issuer == issuer, users.c.oidc_subject == subject)
    ).first()


def _bind(con: sa.Connection, user_id: int, issuer: str, subject: str) -> None:
    con.execute(
        sa.update(users)
        .where(users.c.id == user_id)
        .values(oidc_issuer=issuer, oidc_subject=subject, oidc_claimable=False)
    )


def _bind_on_first_sign_in(
    con: sa.Connection, issuer: str, subject: str, claimed: str, client: str | None
) -> sa.Row[Any]:
    """Bind the account the name claim names to an identity no account holds, if it
    was made to be claimed through the provider (`add_user(oidc=True)`) and has not
    been bound since (binding, and unbinding, clear the mark: an account an
    administrator unbound is bound again by an administrator only);
    AuthenticationError otherwise."""
    name = claimed if isinstance(claimed, str) else ""
    row = _user_row(con, name) if 0 < len(name) <= 100 else None
    if row is None:
        raise AuthenticationError(
            f"no account is bound to this identity, and there is no account {name[:100]!r}"
        )
    if row.disabled:
        raise AuthenticationError(f"the account {name!r} is disabled")
    if row.oidc_subject is not None:
        raise AuthenticationError(f"the account {name!r} is bound to another identity")
    if not row.oidc_claimable:
        # made with a password, or for the CLI or API tokens only, or bound before
        raise AuthenticationError(
            f"the account {name!r} was not made to be claimed through the identity "
            "provider; an administrator must bind it to this identity"
        )
    _bind(con, row.id, issuer, subject)
    audit.append(
        con, name, "user.bind_identity", target=f"user:{name}", client=client,
        detail={"issuer": issuer, "subject": subject, "reason": "first sign-in"},
    )  # fmt: skip
    return row


def _require_team(con: sa.Connection, team: str) -> int:
    team_id = con.execute(sa.select(teams.c.id).where(teams.c.name == team)).scalar()
    if team_id is None:
        raise AccountError(
            f"there is no team {team!r} "
            "(create it with `peelian users add-team USER TEAM --create`)"
        )
    return int(team_id)


def _team_names(con: sa.Connection, user_id: int) -> tuple[str, ...]:
    return tuple(
        con.execute(
            sa.select(teams.c.name)
            .join(team_members)
            .where(team_members.c.user_id == user_id)
            .order_by(teams.c.name)
        ).scalars()
    )


def _account(con: sa.Connection, username: str) -> Account:
    row = _require_user(con, username)
    return Account(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        vetting=row.vetting,
        disabled=row.disabled,
        teams=_team_names(con, row.id),
        has_password=row.password_hash is not None,
        forenames=row.forenames,
        surname=row.surname,
        date_of_birth=row.date_of_birth,
        home_postcode=row.home_postcode,
        home_address=row.home_address,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        locked_until=row.locked_until,
        oidc_issuer=row.oidc_issuer,
        oidc_subject=row.oidc_subject,
        oidc_claimable=bool(row.oidc_claimable),
    )


def _operations(con: sa.Connection) -> list[Operation]:
    rows = con.execute(
        sa.select(operations, teams.c.name.label("team"))
        .join(teams, operations.c.team_id == teams.c.id)
        .order_by(operations.c.name)
    )
    return [
        Operation(r.id, r.name, r.team, bool(r.disclose), r.created_at, r.closed_at) for r in rows
    ]


def _principal(con: sa.Connection, username: str) -> Principal:
    row = _user_row(con, username)
    if row is None or row.disabled:
        raise AuthenticationError(f"{username!r} is not an enabled user")
    mine = set(_team_names(con, row.id))
    briefed, disclosing = set(), {}
    for op in _operations(con):
        if op.team in mine:
            briefed.add(op.name)
        elif op.disclose:
            disclosing[op.name] = op.team
    return Principal(
        row.username,
        row.role,
        row.vetting,
        frozenset(mine),
        frozenset(briefed),
        disclosing,
    )


def _tokens(con: sa.Connection, where: sa.ColumnElement[bool]) -> list[TokenInfo]:
    rows = con.execute(
        sa.select(api_tokens, users.c.username).join(users).where(where).order_by(api_tokens.c.id)
    )
    return [
        TokenInfo(
            r.id, r.username, r.name, r.created_at, r.expires_at, r.revoked_at, r.last_used_at
        )
        for r in rows
    ]


def _flagged(con: sa.Connection) -> list[FlaggedPerson]:
    rows = con.execute(
        sa.select(flagged_persons)
        .where(flagged_persons.c.removed_at.is_(None))
        .order_by(flagged_persons.c.entity_id)
    )
    return [FlaggedPerson(r.entity_id, r.reason, r.flagged_by, r.flagged_at) for r in rows]
