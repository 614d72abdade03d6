"""Sign-in through an OpenID Connect provider: a small real provider on a local
port (discovery, authorise, token with a signed ID token, JWKS) stands in for
the force's identity provider. An account is bound to the ID token's issuer and
subject; the name claim binds only an account made for the provider, once."""

from __future__ import annotations

import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient
from tests.serve.conftest import Served, free_port, own_state

from peelian.serve.app import create_app
from peelian.serve.oidc import OidcSettings
from peelian.state import AuditEvent, State
from peelian.state.accounts import Account

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt


@dataclass
class Provider:
    base: str
    user: str = "analyst1"  # who signs in at the provider next (the name claim)
    sub: str | None = None  # their subject (None: f"sub-{user}")
    drop: tuple[str, ...] = ()  # claims left out of the ID token
    signed: bool = True  # False: the claims come as plain JSON, with no ID token
    token_endpoint: str | None = None  # where discovery says the token endpoint is
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)


def provider_app(provider: Provider, key: Any) -> FastAPI:
    idp = FastAPI()

    @idp.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {
            "issuer": provider.base,
            "authorization_endpoint": f"{provider.base}/authorize",
            "token_endpoint": provider.token_endpoint or f"{provider.base}/token",
            "jwks_uri": f"{provider.base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    @idp.get("/authorize")
    def authorize(request: Request) -> RedirectResponse:
        q = request.query_params
        code = f"code-{len(provider.codes)}"
        provider.codes[code] = {"nonce": q.get("nonce"), "user": provider.user,
                                "sub": provider.sub or f"sub-{provider.user}",
                                "drop": provider.drop, "signed": provider.signed,
                                "client": q["client_id"]}  # fmt: skip
        back = f"{q['redirect_uri']}?code={code}&state={urllib.parse.quote(q['state'])}"
        return RedirectResponse(back, status_code=302)

    @idp.post("/token")
    def token(code: str = Form(...)) -> JSONResponse:
        grant = provider.codes.pop(code, None)
        if grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {
            "iss": provider.base, "aud": grant["client"], "sub": grant["sub"],
            "preferred_username": grant["user"], "iat": now, "exp": now + 300,
            "nonce": grant["nonce"],
        }  # fmt: skip
        for name in grant["drop"]:
            del claims[name]
        answer: dict[str, Any] = {"access_token": "at", "token_type": "Bearer", "expires_in": 300}
        if grant["signed"]:
            answer["id_token"] = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key).decode()
        else:
            answer["userinfo"] = claims
        return JSONResponse(answer)

    @idp.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [{**key.as_dict(is_private=False), "kid": "k1", "alg": "RS256"}]}

    return idp


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    import uvicorn

    port = free_port()
    found = Provider(f"http://127.0.0.1:{port}")
    key = JsonWebKey.generate_key("RSA", 2048, is_private=True)
    server = uvicorn.Server(
        uvicorn.Config(provider_app(found, key), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield found
    server.should_exit = True
    thread.join(timeout=10)


def sign_in(
    served: Served,
    provider: Provider,
    user: str,
    *,
    sub: str | None = None,
    drop: tuple[str, ...] = (),
    signed: bool = True,
) -> tuple[Any, TestClient]:
    """Sign in at the provider as `user` (the name claim) with subject `sub`
    (default f"sub-{user}"), and come back to Peelian with the code."""
    settings = served.settings()
    settings.oidc = OidcSettings(
        f"{provider.base}/.well-known/openid-configuration", "peelian", "s3cret"
    )
    client = TestClient(create_app(settings))
    client.__enter__()
    assert "Sign in with your force account" in client.get("/login").text
    to_provider = client.get("/login/oidc", params={"next": "/search"}, follow_redirects=False)
    assert to_provider.status_code == 302
    assert "code_challenge=" in to_provider.headers["location"]  # PKCE
    provider.user, provider.sub, provider.drop, provider.signed = user, sub, drop, signed
    back = httpx.get(to_provider.headers["location"], follow_redirects=False)
    callback = urllib.parse.urlsplit(back.headers["location"])
    answer = client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    return answer, client


@pytest.fixture
def hub(served: Served, tmp_path: Path) -> Served:
    """The served hub with a state database of its own (the same accounts, each with
    a password) and `pc_oidc`, an account made for the provider (no password)."""
    mine = own_state(served, tmp_path)
    with State.open(mine.state_url) as state:
        state.accounts.add_user(
            "pc_oidc", "PC OIDC", "response_officer", "NPPV2", by="admin1", oidc=True
        )
    return mine


def account(served: Served, username: str) -> Account:
    with State.open(served.state_url) as state:
        return state.accounts.user(username)


def last_event(served: Served, **filters: Any) -> AuditEvent:
    with State.open(served.state_url) as state:
        return state.find_audit(limit=1, **filters)[0]


def assert_refused(answer: Any, client: TestClient) -> None:
    assert answer.status_code == 401
    assert "no enabled Peelian account for that identity" in answer.text
    assert "peelian_session=" not in answer.headers.get("set-cookie", "")
    assert client.get("/api/v1/me").status_code == 401


def test_the_first_sign_in_binds_an_account_made_for_the_provider(
    hub: Served, provider: Provider
) -> None:
    answer, client = sign_in(hub, provider, "pc_oidc")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/search"
    assert "peelian_session=" in answer.headers["set-cookie"]
    assert client.get("/api/v1/me").json()["username"] == "pc_oidc"
    bound = account(hub, "pc_oidc")
    assert (bound.oidc_issuer, bound.oidc_subject) == (provider.base, "sub-pc_oidc")
    assert bound.last_login_at is not None
    binding = last_event(hub, action="user.bind_identity")
    assert (binding.actor, binding.target) == ("pc_oidc", "user:pc_oidc")
    assert binding.detail == {
        "issuer": provider.base,
        "subject": "sub-pc_oidc",
        "reason": "first sign-in",
    }
    login = last_event(hub, actor="pc_oidc", action="login")
    assert login.outcome == "ok"
    assert login.detail == {"via": "oidc", "issuer": provider.base, "subject": "sub-pc_oidc"}


def test_a_bound_identity_signs_in_again_whatever_its_name_claim_says(
    hub: Served, provider: Provider
) -> None:
    sign_in(hub, provider, "pc_oidc")
    answer, client = sign_in(hub, provider, "renamed.at.the.provider", sub="sub-pc_oidc")
    assert answer.status_code == 303
    assert client.get("/api/v1/me").json()["username"] == "pc_oidc"
    with State.open(hub.state_url) as state:
        bindings = state.find_audit(action="user.bind_identity")
    assert len(bindings) == 1  # bound once, on the first sign-in


def test_another_identity_claiming_a_bound_account_is_refused_and_audited(
    hub: Served, provider: Provider
) -> None:
    sign_in(hub, provider, "pc_oidc")
    answer, client = sign_in(hub, provider, "pc_oidc", sub="sub-impostor")
    assert_refused(answer, client)
    refused = last_event(hub, actor="pc_oidc", action="login")
    assert refused.outcome == "refused: the account 'pc_oidc' is bound to another identity"
    assert refused.detail == {"via": "oidc", "issuer": provider.base, "subject": "sub-impostor"}
    assert "eyJ" not in str(refused)  # never the token itself
    assert account(hub, "pc_oidc").oidc_subject == "sub-pc_oidc"


def test_a_password_account_is_bound_by_an_administrator_never_by_a_name_claim(
    hub: Served, provider: Provider
) -> None:
    answer, client = sign_in(hub, provider, "admin1")
    assert_refused(answer, client)
    refused = last_event(hub, actor="admin1", action="login")
    assert refused.outcome.startswith("refused: the account 'admin1' was not made to be claimed")
    assert account(hub, "admin1").oidc_subject is None

    with State.open(hub.state_url) as state:
        state.accounts.bind_identity("admin1", provider.base, "idp-7f3a", by="admin1")
    answer, client = sign_in(hub, provider, "a.n.other", sub="idp-7f3a")
    assert answer.status_code == 303
    assert client.get("/api/v1/me").json()["username"] == "admin1"
    login = last_event(hub, actor="admin1", action="login")
    assert login.detail == {"via": "oidc", "issuer": provider.base, "subject": "idp-7f3a"}


def test_a_disabled_bound_account_is_refused(hub: Served, provider: Provider) -> None:
    sign_in(hub, provider, "pc_oidc")
    with State.open(hub.state_url) as state:
        state.accounts.disable("pc_oidc", by="admin1", reason="left the force")
    answer, client = sign_in(hub, provider, "pc_oidc")
    assert_refused(answer, client)
    refused = last_event(hub, actor="pc_oidc", action="login")
    assert refused.outcome == "refused: the account 'pc_oidc' bound to this identity is disabled"


def test_unbinding_ends_the_identitys_sign_in_and_its_sessions(
    hub: Served, provider: Provider
) -> None:
    _, signed_in = sign_in(hub, provider, "pc_oidc")
    assert signed_in.get("/api/v1/me").status_code == 200
    with State.open(hub.state_url) as state:
        state.accounts.unbind_identity("pc_oidc", by="admin1", reason="wrong person bound")
    assert signed_in.get("/api/v1/me").status_code == 401
    answer, client = sign_in(hub, provider, "pc_oidc")
    assert_refused(answer, client)  # signed in before: bound again by an administrator only
    refused = last_event(hub, actor="pc_oidc", action="login")
    assert refused.outcome.startswith("refused: the account 'pc_oidc' was not made to be claimed")
    answer, client = sign_in(hub, provider, "renamed", sub="sub-pc_oidc")
    assert_refused(answer, client)
    refused = last_event(hub, actor="renamed", action="login")
    assert refused.outcome == (
        "refused: no account is bound to this identity, and there is no account 'renamed'"
    )


def test_a_provider_identity_without_an_account_is_refused(hub: Served, provider: Provider) -> None:
    answer, client = sign_in(hub, provider, "stranger")
    assert_refused(answer, client)
    refused = last_event(hub, actor="stranger", action="login")
    assert refused.outcome.startswith("refused: no account is bound to this identity")


def test_an_id_token_without_a_subject_is_refused(hub: Served, provider: Provider) -> None:
    answer, client = sign_in(hub, provider, "pc_oidc", drop=("sub",))
    assert answer.status_code == 401
    assert "failed" in answer.text
    assert client.get("/api/v1/me").status_code == 401
    refused = last_event(hub, action="login")
    assert refused.outcome == "refused: the identity provider's answer was not accepted"
    assert account(hub, "pc_oidc").oidc_subject is None


def test_claims_without_a_signed_id_token_are_not_trusted(hub: Served, provider: Provider) -> None:
    sign_in(hub, provider, "pc_oidc")
    # The token endpoint's JSON names the bound identity, but nothing signed it.
    answer, client = sign_in(hub, provider, "pc_oidc", signed=False)
    assert_refused(answer, client)
    refused = last_event(hub, action="login")
    assert refused.outcome == "refused: the provider's answer had no verified ID token"


def test_an_unreachable_token_endpoint_is_a_clear_refusal(hub: Served, provider: Provider) -> None:
    provider.token_endpoint = f"http://127.0.0.1:{free_port()}/token"  # nothing listens
    try:
        answer, client = sign_in(hub, provider, "pc_oidc")
    finally:
        provider.token_endpoint = None
    assert answer.status_code == 401
    assert "The identity provider can&#39;t be reached" in answer.text
    assert client.get("/api/v1/me").status_code == 401
    refused = last_event(hub, action="login")
    assert refused.outcome == "refused: the identity provider could not be reached"


def test_a_callback_that_did_not_start_here_is_refused(served: Served, provider: Provider) -> None:
    settings = served.settings()
    settings.oidc = OidcSettings(
        f"{provider.base}/.well-known/openid-configuration", "peelian", "s3cret"
    )
    with TestClient(create_app(settings)) as client:
        forged = client.get("/login/oidc/callback?code=code-x&state=made-up")
    assert forged.status_code == 401
    assert "failed" in forged.text
