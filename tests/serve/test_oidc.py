"""Sign-in through an OpenID Connect provider: a small real provider on a local
port (discovery, authorise, token with a signed ID token, JWKS) stands in for
the force's identity provider."""

from __future__ import annotations

import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient
from tests.serve.conftest import Served, free_port

from peelian.serve.app import create_app
from peelian.serve.oidc import OidcSettings
from peelian.state import State

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt


@dataclass
class Provider:
    base: str
    user: str = "analyst1"  # who signs in at the provider next
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)


def provider_app(provider: Provider, key: Any) -> FastAPI:
    idp = FastAPI()

    @idp.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {
            "issuer": provider.base,
            "authorization_endpoint": f"{provider.base}/authorize",
            "token_endpoint": f"{provider.base}/token",
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
            "iss": provider.base, "aud": grant["client"], "sub": f"sub-{grant['user']}",
            "preferred_username": grant["user"], "iat": now, "exp": now + 300,
            "nonce": grant["nonce"],
        }  # fmt: skip
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key).decode()
        return JSONResponse(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )

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


def sign_in(served: Served, provider: Provider, user: str) -> tuple[Any, TestClient]:
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
    provider.user = user
    back = httpx.get(to_provider.headers["location"], follow_redirects=False)
    callback = urllib.parse.urlsplit(back.headers["location"])
    answer = client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    return answer, client


def test_a_provider_sign_in_starts_a_session_for_the_matching_account(
    served: Served, provider: Provider
) -> None:
    answer, client = sign_in(served, provider, "analyst1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/search"
    assert "peelian_session=" in answer.headers["set-cookie"]
    assert client.get("/api/v1/me").json()["username"] == "analyst1"
    with State.open(served.state_url) as state:
        last = state.find_audit(actor="analyst1", action="login", limit=1)[0]
    assert last.outcome == "ok"
    assert last.detail == {"via": "oidc", "issuer": provider.base}


def test_a_provider_identity_without_an_enabled_account_is_refused(
    served: Served, provider: Provider
) -> None:
    answer, client = sign_in(served, provider, "stranger")
    assert answer.status_code == 401
    assert "no enabled Peelian account" in answer.text
    assert client.get("/api/v1/me").status_code == 401
    with State.open(served.state_url) as state:
        last = state.find_audit(actor="stranger", action="login", limit=1)[0]
    assert last.outcome.startswith("refused")


def test_a_callback_that_did_not_start_here_is_refused(served: Served, provider: Provider) -> None:
    settings = served.settings()
    settings.oidc = OidcSettings(
        f"{provider.base}/.well-known/openid-configuration", "peelian", "s3cret"
    )
    with TestClient(create_app(settings)) as client:
        forged = client.get("/login/oidc/callback?code=code-x&state=made-up")
    assert forged.status_code == 401
    assert "failed" in forged.text
