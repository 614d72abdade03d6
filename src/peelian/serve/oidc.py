"""Sign-in through the force's OpenID Connect identity provider (Authlib).

The provider proves who the user is; Peelian still decides what they may do.
The user is the Peelian account bound to their identity at the provider: the
verified ID token's issuer and subject (`iss`, `sub`), which, unlike a name,
the user can't edit and the provider doesn't reuse. The name claim
(`username_claim`, default `preferred_username`) counts only once: at the first
sign-in of an identity no account is bound to, it names the account to bind,
and only an account made for the provider (no password) that has never signed
in is bound that way (`Accounts.identity_principal`). An account with
a password, such as the administrator's, is bound by an administrator
(`Accounts.bind_identity`), never by a claim. A refusal (no ID token, no issuer
or subject, no such account, a disabled one, one bound to another identity,
one with a password, one that was unbound) is audited with its reason, so an
identity provider can't grant access by itself.

The authorisation code flow with a client secret, PKCE (S256), state and nonce;
Authlib checks the ID token's signature, issuer, audience, expiry and nonce.
The flow's state lives in a short-lived signed cookie (`peelian_oidc`,
SameSite=Lax so it survives the provider's redirect back); the Peelian session
that follows is the usual one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from peelian.serve.access import client_of
from peelian.state.accounts import AuthenticationError

OIDC_COOKIE = "peelian_oidc"
log = logging.getLogger("peelian.serve")


@dataclass
class OidcSettings:
    """An identity provider: its discovery URL and this client's credentials."""

    metadata_url: str
    client_id: str
    client_secret: str
    username_claim: str = "preferred_username"
    label: str = "Sign in with your force account"


def oidc_router(settings: OidcSettings) -> APIRouter:
    import httpx
    from authlib.integrations.starlette_client import OAuth, OAuthError
    from authlib.oidc.core import UserInfo
    from joserfc.errors import JoseError  # Authlib's ID token checks raise these

    from peelian.serve.web import login_page, safe_next, start_session

    oauth = OAuth()
    oauth.register(
        "force",
        server_metadata_url=settings.metadata_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )
    client: Any = oauth.create_client("force")
    router = APIRouter(include_in_schema=False)

    @router.get("/login/oidc")
    async def start(request: Request, next: str | None = None) -> Response:
        request.session["next"] = safe_next(next)
        callback = str(request.url_for("oidc_callback"))
        try:
            answer: Response = await client.authorize_redirect(request, callback)
        except Exception:  # the provider is down or its metadata is bad
            log.exception("OIDC: can't start a sign-in with %s", settings.metadata_url)
            return login_page(request, next, "The identity provider can't be reached.")
        return answer

    @router.get("/login/oidc/callback", name="oidc_callback")
    async def callback(request: Request) -> Response:
        target = safe_next(request.session.pop("next", "/"))
        state = request.app.state.state_db
        try:
            token = await client.authorize_access_token(request)
        except (httpx.HTTPError, OAuthError, JoseError, ValueError) as exc:
            # HTTPError: the token endpoint is down or unreachable; JoseError: a bad
            # signature, a wrong audience or nonce, a missing claim... The provider's
            # (or a forger's) words are logged, not written to the audit.
            down = isinstance(exc, httpx.HTTPError)
            log.warning("OIDC sign-in refused: %s", str(exc)[:300])
            state.append_audit(
                "?", "login", client=client_of(request), detail={"via": "oidc"},
                outcome="refused: the identity provider could not be reached" if down
                else "refused: the identity provider's answer was not accepted",
            )  # fmt: skip
            return login_page(
                request,
                target,
                "The identity provider can't be reached."
                if down
                else "Sign-in with the identity provider failed.",
            )
        claims = _verified_claims(token, UserInfo)
        issuer, subject = claims.get("iss"), claims.get("sub")
        # Used as given (no case folding): the claim must name the account exactly.
        username = str(claims.get(settings.username_claim) or "").strip()
        identity = {"via": "oidc", "issuer": _shown(issuer), "subject": _shown(subject)}
        actor = username[:100] or "?"
        try:
            if not claims:
                raise AuthenticationError("the provider's answer had no verified ID token")
            if not (isinstance(issuer, str) and issuer and isinstance(subject, str) and subject):
                raise AuthenticationError("the ID token has no issuer or no subject")
            principal = state.accounts.identity_principal(
                issuer, subject, username, client=client_of(request)
            )
        except AuthenticationError as exc:
            state.append_audit(
                actor, "login", target=f"user:{username[:100]}", client=client_of(request),
                detail=identity, outcome=f"refused: {exc}",
            )  # fmt: skip
            return login_page(
                request,
                target,
                "Your identity provider signed you in, but there is no enabled Peelian "
                "account for that identity; ask an administrator.",
            )
        username = principal.username
        state.append_audit(
            username, "login", target=f"user:{username}", client=client_of(request),
            detail=identity,
        )  # fmt: skip
        return start_session(request, username, target)

    return router


def _verified_claims(token: dict[str, Any], verified: type[dict[str, Any]]) -> dict[str, Any]:
    """The claims of the verified ID token, or {} without one.

    `authorize_access_token` checks the ID token (signature, issuer, audience,
    expiry, nonce) and puts its claims under "userinfo" as a `UserInfo` (`verified`),
    but only when the answer has an ID token and the flow a nonce (scope `openid`
    always has one). Otherwise "userinfo" is whatever the token endpoint's JSON
    said, unchecked and a plain dict: the type tells the two apart.
    """
    claims = token.get("userinfo")
    if "id_token" not in token or not isinstance(claims, verified):
        return {}
    return dict(claims)


def _shown(value: object) -> str | None:
    """A claim for the audit: a string, cut short (the claims are the provider's words)."""
    return value[:300] if isinstance(value, str) else None
