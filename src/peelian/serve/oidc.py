"""Sign-in through the force's OpenID Connect identity provider (Authlib).

The provider proves who the user is; Peelian still decides what they may do:
the claim named by `username_claim` (default `preferred_username`) must name an
enabled Peelian account, whose role, vetting and teams an administrator set.
An unknown or disabled account is refused (and the refusal audited), so an
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
    from authlib.integrations.starlette_client import OAuth, OAuthError

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
        except (OAuthError, ValueError) as exc:
            # the provider's (or a forger's) words are logged, not written to the audit
            log.warning("OIDC sign-in refused: %s", str(exc)[:300])
            state.append_audit(
                "?", "login", client=client_of(request), detail={"via": "oidc"},
                outcome="refused: the identity provider's answer was not accepted",
            )  # fmt: skip
            return login_page(request, target, "Sign-in with the identity provider failed.")
        claims = dict(token.get("userinfo") or {})
        # Used as given (no case folding): the claim must name the account exactly.
        username = str(claims.get(settings.username_claim) or "").strip()
        try:
            state.accounts.principal(username)
        except AuthenticationError:
            state.append_audit(
                username[:100] or "?", "login", target=f"user:{username[:100]}",
                client=client_of(request), detail={"via": "oidc", "issuer": claims.get("iss")},
                outcome="refused: no enabled Peelian account for this identity",
            )  # fmt: skip
            return login_page(
                request,
                target,
                "Your identity provider signed you in, but there is no enabled Peelian "
                "account for you; ask an administrator.",
            )
        state.append_audit(
            username, "login", target=f"user:{username}", client=client_of(request),
            detail={"via": "oidc", "issuer": claims.get("iss")},
        )  # fmt: skip
        return start_session(request, username, target)

    return router
