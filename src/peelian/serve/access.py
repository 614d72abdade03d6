"""Who is asking: an API token (`Authorization: Bearer pln_...`) or a session
cookie from signing in to the web UI; CSRF protection for cookie-borne changes;
the purpose of access a reader gave.

- A session cookie is `HttpOnly`, `SameSite=Strict`, `Secure` unless the server
  runs on plain http for localhost (`ServeSettings.secure_cookies`), and carries
  only a random session id; the session (30 minutes idle, 12 hours at most) and
  its CSRF token live in the state database (`state.accounts`).
- Any request that changes something and rides on the cookie must carry the
  session's CSRF token: the form field `csrf_token` or the `X-CSRF-Token` header.
  A bearer token needs none (a browser never sends it by itself).
- The purpose of access is asked per request in the API (`purpose` parameter or
  `X-Purpose` header) and kept for the session in the UI (its own cookie, set
  from the purpose form and shown on every page, so the officer sees what will be
  recorded against each look-up).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import quote, unquote

from fastapi import Request

from peelian.govern.policy import Principal
from peelian.serve.problems import Problem
from peelian.state import State
from peelian.state.accounts import AuthenticationError

SESSION_COOKIE = "peelian_session"
PURPOSE_COOKIE = "peelian_purpose"
LOGIN_COOKIE = "peelian_login"
CSRF_HEADER = "x-csrf-token"
PURPOSE_HEADER = "x-purpose"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """An authenticated request's user, how they signed in, and the CSRF token
    of their session (None for a bearer token)."""

    principal: Principal
    via: str  # "session" or "token"
    csrf: str | None
    session_id: str | None


def client_of(request: Request) -> str:
    """The client address recorded with sign-ins and audit events."""
    return request.client.host if request.client else "unknown"


def caller_client(request: Request, caller: Caller) -> str:
    """The client recorded with an authenticated request's audit events: the address
    and how the caller signed in (`10.0.0.7 via token`, `10.0.0.7 via session`)."""
    return f"{client_of(request)} via {caller.via}"


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "the Authorization header must be 'Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def identify(request: Request, state: State) -> Caller | None:
    """The caller, None when the request carries no credentials; Problem 401 for
    credentials that are bad, expired or revoked (one message per kind, saying
    nothing of which part was wrong)."""
    token = bearer(request)
    if token is not None:
        try:
            principal = state.accounts.token_principal(token)
        except AuthenticationError as exc:
            raise Problem(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
        return Caller(principal, "token", None, None)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        try:
            principal, csrf = state.accounts.session_principal(session_id)
        except AuthenticationError as exc:
            raise Problem(401, str(exc), kind="session-ended") from None
        return Caller(principal, "session", csrf, session_id)
    return None


def purpose_cookie(text: str) -> str:
    """The purpose as a cookie value (percent-encoded: a note may hold any character)."""
    return quote(text, safe="")


def purpose_of(request: Request) -> str | None:
    """The purpose the UI's session gave, if any."""
    value = request.cookies.get(PURPOSE_COOKIE)
    return unquote(value) if value else None


def check_csrf(caller: Caller, given: str | None) -> None:
    """A cookie-borne change must carry its session's CSRF token."""
    if caller.via != "session":
        return
    if not given or caller.csrf is None or not hmac.compare_digest(given, caller.csrf):
        raise Problem(
            403,
            "this form has expired or did not come from Peelian (CSRF check failed); "
            "reload the page and try again",
            kind="csrf",
        )
