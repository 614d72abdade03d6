"""Accounts on SQLite and PostgreSQL: users, teams, operations, sign-in with
throttling, API tokens, sessions and flagged persons; every change audited."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from peelian.index.access import Viewer
from peelian.state import State
from peelian.state.accounts import (
    LOCK_MINUTES,
    MAX_FAILURES,
    SESSION_IDLE_MINUTES,
    TOUCH_SECONDS,
    AccountError,
    Accounts,
    AuthenticationError,
)
from peelian.state.tables import api_tokens, sessions, users

PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(state: State, clock: Clock) -> Accounts:
    return Accounts(state._write, state._read, clock)


def test_a_user_is_added_listed_and_changed_and_each_change_is_audited(
    state: State, accounts: Accounts
) -> None:
    added = accounts.add_user(
        "pc_1234", "PC 1234 Khan", "response_officer", "nppv2", by="admin", password=PASSWORD
    )
    assert (added.role, added.vetting, added.has_password, added.disabled) == (
        "response_officer",
        "NPPV2",
        True,
        False,
    )
    accounts.set_role("pc_1234", "investigator", by="admin")
    accounts.set_vetting("pc_1234", "SC", by="admin")
    accounts.set_profile("pc_1234", by="admin", surname="KHAN", home_postcode="B15 2TT")
    accounts.add_team("Op Kestrel team", by="admin")
    shown = accounts.add_member("pc_1234", "Op Kestrel team", by="admin")
    assert (shown.role, shown.vetting, shown.surname, shown.teams) == (
        "investigator",
        "SC",
        "KHAN",
        ("Op Kestrel team",),
    )
    assert [u.username for u in accounts.users()] == ["pc_1234"]
    actions = [e.action for e in state.audit_events()]
    assert actions == [
        "user.add",
        "user.set_role",
        "user.set_vetting",
        "user.set_profile",
        "team.add",
        "team.member.add",
    ]
    # Neither the password nor the profile's values reach the audit log.
    text = " ".join(str(e.detail) for e in state.audit_events())
    assert "horse" not in text
    assert "B15" not in text
    assert "KHAN" not in text
    assert state.verify_audit().ok
    with state.engine.connect() as con:
        stored = con.execute(sa.select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.add_user("Bad Name", "x", "investigator", "SC", by="a"), "username"),
        (lambda a: a.add_user("pc_9", "x", "constable", "SC", by="a"), "unknown role"),
        (lambda a: a.add_user("pc_9", "x", "investigator", "TS", by="a"), "vetting"),
        (lambda a: a.add_user("pc_9", "x", "investigator", "SC", by="a", password="short"), "12"),
        (
            lambda a: a.add_user(
                "pc_9", "x", "investigator", "SC", by="a", password="pc_9pc_9pc_9!"
            ),
            "username",
        ),
        (lambda a: a.set_role("nobody", "investigator", by="a"), "no user"),
        (lambda a: a.add_member("pc_1", "no such team", by="a"), "no team"),
        (lambda a: a.add_user("pc_1", "again", "investigator", "SC", by="a"), "already"),
        (lambda a: a.add_user("pc_2", "line\nbreak", "investigator", "SC", by="a"), "printable"),
    ],
)
def test_bad_account_requests_are_refused_clearly(
    accounts: Accounts, change: object, message: str
) -> None:
    accounts.add_user("pc_1", "PC 1", "investigator", "SC", by="admin")
    with pytest.raises(AccountError, match=message):
        change(accounts)  # type: ignore[operator]


def test_sign_in_checks_the_password_and_throttles_failures(
    state: State, accounts: Accounts, clock: Clock
) -> None:
    accounts.add_user("pc_1", "PC 1", "investigator", "SC", by="admin", password=PASSWORD)
    principal = accounts.authenticate("pc_1", PASSWORD, client="10.0.0.1")
    assert (principal.username, principal.clearance) == ("pc_1", "SECRET")
    # An unknown user and a wrong password get the same answer.
    with pytest.raises(AuthenticationError) as unknown:
        accounts.authenticate("nobody", PASSWORD, client="10.0.0.1")
    with pytest.raises(AuthenticationError) as wrong:
        accounts.authenticate("pc_1", "not the password", client="10.0.0.1")
    assert str(unknown.value) == str(wrong.value) == "wrong username or password"
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(AuthenticationError):
            accounts.authenticate("pc_1", "guess guess guess", client="10.0.0.2")
    # Locked now, even with the right password, until the lock runs out.
    with pytest.raises(AuthenticationError, match="too many failed sign-ins"):
        accounts.authenticate("pc_1", PASSWORD, client="10.0.0.3")
    clock.advance(minutes=LOCK_MINUTES + 1)
    assert accounts.authenticate("pc_1", PASSWORD).username == "pc_1"
    assert accounts.user("pc_1").locked_until is None
    outcomes = [e.outcome for e in state.audit_events() if e.action == "login"]
    assert outcomes[0] == "ok"
    assert outcomes[-1] == "ok"
    assert sum(o.startswith("refused") for o in outcomes) == MAX_FAILURES + 2
    # A disabled user can't sign in, and their principal is refused.
    accounts.disable("pc_1", by="admin", reason="left the force")
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        accounts.authenticate("pc_1", PASSWORD)
    with pytest.raises(AuthenticationError, match="not an enabled user"):
        accounts.principal("pc_1")
    assert state.verify_audit().ok


def test_api_tokens_are_stored_hashed_and_stop_on_expiry_revocation_or_disable(
    state: State, accounts: Accounts, clock: Clock
) -> None:
    accounts.add_user("pc_1", "PC 1", "response_officer", "NPPV2", by="admin")
    token, _info = accounts.create_token("pc_1", "mobile terminal", by="admin", days=1)
    assert accounts.token_principal(token).username == "pc_1"
    with state.engine.connect() as con:
        assert token not in str(con.execute(sa.select(api_tokens)).all())
    for forged in ("", "pln_" + "A" * 43, token[:-1] + "x", "Bearer " + token, "x" * 10_000):
        with pytest.raises(AuthenticationError):
            accounts.token_principal(forged)
    clock.advance(days=1, seconds=1)
    with pytest.raises(AuthenticationError, match="expired"):
        accounts.token_principal(token)
    second, info2 = accounts.create_token("pc_1", "laptop", by="admin")
    accounts.revoke_token(info2.id, by="admin")
    with pytest.raises(AuthenticationError):
        accounts.token_principal(second)
    third, _ = accounts.create_token("pc_1", "spare", by="admin")
    accounts.disable("pc_1", by="admin", reason="suspended")
    with pytest.raises(AuthenticationError, match=r"^not a valid API token$"):
        accounts.token_principal(third)
    with pytest.raises(AccountError, match="days"):
        accounts.create_token("pc_1", "forever", by="admin", days=10_000)


def test_last_use_is_written_at_most_once_a_minute(
    state: State, accounts: Accounts, clock: Clock
) -> None:
    accounts.add_user("pc_1", "PC 1", "response_officer", "NPPV2", by="admin")
    token, info = accounts.create_token("pc_1", "mobile terminal", by="admin")
    session_id, _ = accounts.create_session("pc_1")

    def written() -> tuple[dt.datetime, dt.datetime]:
        with state.engine.connect() as con:
            used = con.execute(
                sa.select(api_tokens.c.last_used_at).where(api_tokens.c.id == info.id)
            ).scalar_one()
            seen = con.execute(sa.select(sessions.c.last_seen_at)).scalar_one()
        return used, seen

    started = clock.now
    accounts.token_principal(token)
    assert written()[0] == started  # the first use is written
    clock.advance(seconds=TOUCH_SECONDS - 1)
    accounts.token_principal(token)
    accounts.session_principal(session_id)
    assert written() == (started, started)  # within the minute: read, not written
    clock.advance(seconds=1)
    accounts.token_principal(token)
    accounts.session_principal(session_id)
    assert written() == (clock.now, clock.now)
    # a session used every 59 s never goes idle, though most uses are not written
    for _ in range(2 * SESSION_IDLE_MINUTES):
        clock.advance(seconds=TOUCH_SECONDS - 1)
        accounts.session_principal(session_id)
    # and one left alone ends by the idle limit (counted from the last sight written)
    clock.advance(minutes=SESSION_IDLE_MINUTES)
    with pytest.raises(AuthenticationError, match="ended"):
        accounts.session_principal(session_id)


def test_parallel_guesses_cannot_outrun_the_lock(state: State, accounts: Accounts) -> None:
    accounts.add_user("pc_1", "PC 1", "investigator", "SC", by="admin", password=PASSWORD)

    def guess(n: int) -> str:
        try:
            accounts.authenticate("pc_1", f"wrong guess number {n}", client=f"10.0.1.{n}")
        except AuthenticationError as exc:
            return str(exc)
        return "signed in"

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(guess, range(24)))
    checked = [a for a in answers if a == "wrong username or password"]
    assert len(checked) <= MAX_FAILURES
    assert all(a.startswith("too many") for a in answers if a not in checked)
    assert state.verify_audit().ok


def test_an_administrator_unlocks_and_a_new_password_ends_sessions(
    accounts: Accounts,
) -> None:
    accounts.add_user("pc_1", "PC 1", "investigator", "SC", by="admin", password=PASSWORD)
    session_id, _ = accounts.create_session("pc_1")
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthenticationError):
            accounts.authenticate("pc_1", "guess guess guess")
    with pytest.raises(AuthenticationError, match="too many"):
        accounts.authenticate("pc_1", PASSWORD)
    accounts.enable("pc_1", by="admin", reason="confirmed by phone with the officer")
    assert accounts.authenticate("pc_1", PASSWORD).username == "pc_1"
    accounts.set_password("pc_1", "a different long passphrase", by="admin")
    with pytest.raises(AuthenticationError, match="ended"):
        accounts.session_principal(session_id)


def test_sessions_end_when_idle_when_ended_and_hold_a_csrf_token(
    state: State, accounts: Accounts, clock: Clock
) -> None:
    accounts.add_user("pc_1", "PC 1", "response_officer", "NPPV2", by="admin")
    session_id, csrf = accounts.create_session("pc_1", client="10.0.0.1")
    principal, same_csrf = accounts.session_principal(session_id)
    assert principal.username == "pc_1"
    assert same_csrf == csrf
    with state.engine.connect() as con:
        assert session_id not in str(con.execute(sa.select(sessions)).all())
    clock.advance(minutes=SESSION_IDLE_MINUTES - 1)
    accounts.session_principal(session_id)  # seen: the idle clock restarts
    clock.advance(minutes=SESSION_IDLE_MINUTES + 1)
    with pytest.raises(AuthenticationError, match="ended"):
        accounts.session_principal(session_id)
    again, _ = accounts.create_session("pc_1")
    accounts.end_session(again)
    with pytest.raises(AuthenticationError):
        accounts.session_principal(again)


def test_a_principal_is_briefed_into_its_teams_operations_and_told_of_disclosing_ones(
    accounts: Accounts,
) -> None:
    for name in ("Kestrel team", "Tidewater team"):
        accounts.add_team(name, by="admin")
    accounts.add_operation("Op Kestrel", "Kestrel team", by="admin")
    accounts.add_operation("Op Tidewater", "Tidewater team", by="admin", disclose=True)
    accounts.add_user("dc_1", "DC 1", "investigator", "SC", by="admin")
    accounts.add_member("dc_1", "Kestrel team", by="admin")
    principal = accounts.principal("dc_1")
    assert principal.operations == {"OP KESTREL"}
    assert dict(principal.disclosing) == {"OP TIDEWATER": "Tidewater team"}
    assert principal.may_see("SECRET", "op kestrel", [])
    assert not principal.may_see("OFFICIAL", "OP TIDEWATER", [])
    viewer = Viewer.of(principal)
    assert viewer.disclosed_labels(
        {"L1": {"marking": "OFFICIAL", "compartment": "OP TIDEWATER", "roles": []}}
    ) == {"OP TIDEWATER": ["L1"]}
    with pytest.raises(AccountError, match="already"):
        accounts.add_operation("OP KESTREL", "Kestrel team", by="admin")


def test_flagged_persons_are_listed_once_and_removal_is_kept(
    state: State, accounts: Accounts
) -> None:
    accounts.flag_person("P-000001", reason="public figure", by="auditor1")
    with pytest.raises(AccountError, match="already flagged"):
        accounts.flag_person("P-000001", reason="again", by="auditor1")
    assert [f.entity_id for f in accounts.flagged()] == ["P-000001"]
    accounts.unflag_person("P-000001", by="auditor1", reason="no longer in office")
    assert accounts.flagged() == []
    accounts.flag_person("P-000001", reason="back in office", by="auditor1")
    assert [e.action for e in state.audit_events()] == ["flag.add", "flag.remove", "flag.add"]


ISSUER = "https://idp.force.example"


def test_an_administrator_binds_an_account_to_one_identity_and_unbinds_it(
    state: State, accounts: Accounts
) -> None:
    accounts.add_user("admin", "Admin", "administrator", "SC", by="admin", password=PASSWORD)
    accounts.add_user("pc_1", "PC 1", "response_officer", "NPPV2", by="admin")
    assert (accounts.user("admin").oidc_issuer, accounts.user("admin").oidc_subject) == (None, None)
    bound = accounts.bind_identity("admin", ISSUER, "f81d4fae", by="admin")
    assert (bound.oidc_issuer, bound.oidc_subject) == (ISSUER, "f81d4fae")
    event = state.audit_events()[-1]
    assert (event.actor, event.action, event.target) == (
        "admin",
        "user.bind_identity",
        "user:admin",
    )
    assert event.detail == {"issuer": ISSUER, "subject": "f81d4fae"}

    # One account per identity, one identity per account.
    with pytest.raises(AccountError, match="already bound to 'admin'; unbind it there first"):
        accounts.bind_identity("pc_1", ISSUER, "f81d4fae", by="admin")
    with pytest.raises(AccountError, match="already bound to the identity 'f81d4fae'"):
        accounts.bind_identity("admin", ISSUER, "another", by="admin")
    # The same subject at another issuer is another identity.
    assert accounts.bind_identity("pc_1", "https://other.example", "f81d4fae", by="admin")

    session_id, _ = accounts.create_session("admin")
    unbound = accounts.unbind_identity("admin", by="admin", reason="moved to another force")
    assert (unbound.oidc_issuer, unbound.oidc_subject) == (None, None)
    with pytest.raises(AuthenticationError, match="ended"):
        accounts.session_principal(session_id)
    event = state.audit_events()[-1]
    assert (event.action, event.target) == ("user.unbind_identity", "user:admin")
    assert event.detail == {
        "issuer": ISSUER,
        "subject": "f81d4fae",
        "reason": "moved to another force",
    }
    with pytest.raises(AccountError, match="not bound"):
        accounts.unbind_identity("admin", by="admin", reason="again")
    # Free again: the identity can be bound to another account.
    accounts.unbind_identity("pc_1", by="admin", reason="test")
    assert accounts.bind_identity("pc_1", ISSUER, "f81d4fae", by="admin").oidc_subject
    assert state.verify_audit().ok


@pytest.mark.parametrize(
    ("issuer", "subject", "message"),
    [
        ("", "f81d4fae", "an issuer"),
        (ISSUER, "", "a subject"),
        (ISSUER, " f81d4fae", "a subject"),
        (ISSUER + "\n", "f81d4fae", "an issuer"),
        (ISSUER, "x" * 256, "a subject must be 1-255"),
        ("https://" + "x" * 500, "f81d4fae", "an issuer must be 1-500"),
    ],
)
def test_a_bad_identity_is_refused_clearly(
    accounts: Accounts, issuer: str, subject: str, message: str
) -> None:
    accounts.add_user("pc_1", "PC 1", "response_officer", "NPPV2", by="admin")
    with pytest.raises(AccountError, match=message):
        accounts.bind_identity("pc_1", issuer, subject, by="admin")
    with pytest.raises(AuthenticationError, match="no usable issuer and subject"):
        accounts.identity_principal(issuer, subject, "pc_1")
    assert accounts.user("pc_1").oidc_subject is None


def test_the_database_holds_an_identity_on_one_account_only(state: State) -> None:
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    row = {"display_name": "x", "role": "investigator", "vetting": "SC", "created_at": now}
    with state.engine.begin() as con:
        # Any number of accounts have no identity.
        con.execute(sa.insert(users), [{**row, "username": "a"}, {**row, "username": "b"}])
        con.execute(
            sa.insert(users).values(
                **row, username="c", oidc_issuer=ISSUER, oidc_subject="f81d4fae"
            )
        )
    with pytest.raises(sa.exc.IntegrityError), state.engine.begin() as con:
        con.execute(
            sa.insert(users).values(
                **row, username="d", oidc_issuer=ISSUER, oidc_subject="f81d4fae"
            )
        )


def test_the_first_sign_in_binds_an_account_made_for_the_provider_and_no_other(
    state: State, accounts: Accounts, clock: Clock
) -> None:
    accounts.add_user("pc_1", "PC 1", "response_officer", "NPPV2", by="admin", oidc=True)
    assert accounts.user("pc_1").oidc_claimable
    principal = accounts.identity_principal(ISSUER, "sub-1", "pc_1", client="10.0.0.7")
    assert principal.username == "pc_1"
    account = accounts.user("pc_1")
    assert (account.oidc_issuer, account.oidc_subject) == (ISSUER, "sub-1")
    assert not account.oidc_claimable
    assert account.last_login_at == clock.now
    event = state.audit_events()[-1]
    assert (event.actor, event.action, event.target, event.client) == (
        "pc_1",
        "user.bind_identity",
        "user:pc_1",
        "10.0.0.7",
    )
    assert event.detail == {"issuer": ISSUER, "subject": "sub-1", "reason": "first sign-in"}
    # From now on the identity is the key; the name claim no longer counts.
    assert accounts.identity_principal(ISSUER, "sub-1", "someone.else").username == "pc_1"
    assert accounts.identity_principal(ISSUER, "sub-1", "").username == "pc_1"
    assert [e.action for e in state.audit_events()].count("user.bind_identity") == 1

    with pytest.raises(AuthenticationError, match="'pc_1' is bound to another identity"):
        accounts.identity_principal(ISSUER, "sub-2", "pc_1")
    with pytest.raises(AuthenticationError, match="'pc_1' is bound to another identity"):
        accounts.identity_principal("https://other.example", "sub-1", "pc_1")
    accounts.disable("pc_1", by="admin", reason="suspended")
    with pytest.raises(AuthenticationError, match="'pc_1' bound to this identity is disabled"):
        accounts.identity_principal(ISSUER, "sub-1", "pc_1")
    assert state.verify_audit().ok


def test_a_name_claim_never_binds_a_password_account_a_bound_one_or_a_disabled_one(
    state: State, accounts: Accounts
) -> None:
    accounts.add_user("admin", "Admin", "administrator", "SC", by="admin", password=PASSWORD)
    accounts.add_user("pc_off", "PC Off", "response_officer", "NPPV2", by="admin", oidc=True)
    accounts.disable("pc_off", by="admin", reason="left")
    # no password, used through the CLI or an API token: not the provider's to claim
    accounts.add_user("etl_svc", "ETL", "administrator", "SC", by="admin")
    before = len(state.audit_events())
    for name in ("admin", "etl_svc"):
        with pytest.raises(AuthenticationError, match=f"'{name}' was not made to be claimed"):
            accounts.identity_principal(ISSUER, "sub-9", name)
    with pytest.raises(AuthenticationError, match="'pc_off' is disabled"):
        accounts.identity_principal(ISSUER, "sub-9", "pc_off")
    with pytest.raises(AuthenticationError, match="there is no account 'nobody'"):
        accounts.identity_principal(ISSUER, "sub-9", "nobody")
    with pytest.raises(AuthenticationError, match="there is no account ''"):
        accounts.identity_principal(ISSUER, "sub-9", "")
    # Names are compared exactly: no case folding.
    accounts.add_user("pc_1", "PC 1", "response_officer", "NPPV2", by="admin", oidc=True)
    with pytest.raises(AuthenticationError, match="there is no account 'PC_1'"):
        accounts.identity_principal(ISSUER, "sub-9", "PC_1")
    assert accounts.user("admin").oidc_subject is None
    assert accounts.user("pc_off").oidc_subject is None
    assert len(state.audit_events()) == before + 1  # only pc_1's user.add: refusals bind nothing

    # Once an administrator binds it, the password account signs in with its identity.
    accounts.bind_identity("admin", ISSUER, "sub-9", by="admin")
    assert accounts.identity_principal(ISSUER, "sub-9", "whatever").username == "admin"


def test_an_account_unbound_after_signing_in_is_bound_again_by_an_administrator_only(
    accounts: Accounts,
) -> None:
    with pytest.raises(AccountError, match="has no password"):
        accounts.add_user(
            "pc_2", "PC 2", "investigator", "SC", by="a", password=PASSWORD, oidc=True
        )
    accounts.add_user("pc_1", "PC 1", "response_officer", "NPPV2", by="admin", oidc=True)
    accounts.identity_principal(ISSUER, "sub-1", "pc_1")
    accounts.unbind_identity("pc_1", by="admin", reason="bound to the wrong person")
    # Whoever was bound wrongly can't bind it again by signing in with the same name.
    for subject in ("sub-1", "sub-2"):
        with pytest.raises(AuthenticationError, match="'pc_1' was not made to be claimed"):
            accounts.identity_principal(ISSUER, subject, "pc_1")
    assert accounts.user("pc_1").oidc_subject is None
    accounts.bind_identity("pc_1", ISSUER, "sub-2", by="admin")
    assert accounts.identity_principal(ISSUER, "sub-2", "pc_1").username == "pc_1"
