"""The FastAPI application: `create_app(ServeSettings(...))`, or `app_from_env()` in each
worker process of `peelian serve --workers N`.

Middleware, outermost first: the request context (a request id, metrics and a log
line per request, see ops.py; outside even the handler of unexpected errors, so a
500 carries its request id too); security headers on every answer (a strict
Content-Security-Policy: scripts, styles and images from this server only);
a body size limit (413, counted as the body streams, whatever Content-Length
says); JSON only for API changes (415). Errors become problem details for the
API and an error page for the UI; an unexpected error is logged with an id
and answered with that id only.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, get_args, get_type_hints

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peelian.govern.policy import PolicyDeniedError
from peelian.serve.oidc import OIDC_COOKIE, OidcSettings
from peelian.serve.ops import (
    Metrics,
    RequestContext,
    configure_logging,
    ops_router,
    route_template,
)
from peelian.serve.problems import PROBLEM_JSON, Problem

log = logging.getLogger("peelian.serve")

STATIC = Path(__file__).parent / "static"
API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@dataclass
class ServeSettings:
    hub: Path
    state_url: str
    secure_cookies: bool = True
    max_body_bytes: int = MAX_BODY_BYTES
    boundaries: Path | None = None
    oidc: OidcSettings | None = None
    kpi_settings: Path | None = None  # harm, KPI and response settings (reference/kpis.yaml)
    # signs the OIDC flow's state cookie; one per server start, the same in every worker
    # (a sign-in may come back to another worker); None: a fresh one for this app
    flow_key: str | None = None


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, before the route reads
    them: by Content-Length when given, and by counting what arrives."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                too_big = True
            if too_big:
                await _send_problem(scope, send, Problem(413, self._says()))
                return
        seen, started, over, answered = 0, False, False, False

        async def counted() -> Message:
            # A body streamed without Content-Length: once it passes the limit, answer
            # 413 here (an error raised into the route's body parsing would become its
            # 400) unless the route has begun its answer, and tell the route the client
            # has gone.
            nonlocal seen, over, answered
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    if not started:
                        await _send_problem(scope, send, Problem(413, self._says()))
                        answered = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the 413 is the answer: whatever the route says after it is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, guarded)

    def _says(self) -> str:
        return f"the request body is larger than {self.limit // 1024} KB"


async def _send_problem(scope: Scope, send: Send, problem: Problem) -> None:
    response = problem_response(problem, scope.get("path"))
    await response({"type": "http", **scope}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    return secured(
        JSONResponse(
            problem.body(instance),
            status_code=problem.status,
            media_type=PROBLEM_JSON,
            headers=problem.headers,
        )
    )


def secured(response: Response, *, static: bool = False) -> Response:
    """The security headers every answer carries (errors too)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if not static:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


class PeelianAPI(FastAPI):
    """FastAPI with the request context (ops.py) outside every other layer."""

    def __init__(self, *, metrics: Metrics, **kwargs: Any) -> None:
        self.metrics = metrics
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContext(super().build_middleware_stack(), self.metrics)


def create_app(settings: ServeSettings) -> FastAPI:
    from peelian.serve.api import router
    from peelian.serve.hubs import Snapshots
    from peelian.serve.web import page_error, web_router
    from peelian.state import State

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import igraph  # noqa: F401  (loaded at start, not by the first network request)

        app.state.snapshots = Snapshots(settings.hub, kpi_settings=settings.kpi_settings)
        app.state.state_db = State.open(settings.state_url)
        app.state.settings = settings
        try:
            yield
        finally:
            app.state.snapshots.close()
            app.state.state_db.close()
            metrics.process_exit()

    metrics = Metrics(settings.hub)
    app = PeelianAPI(
        metrics=metrics,
        title="Peelian API",
        version="1",
        summary="An open police data hub: search, entities, networks, review and audit.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        # FastAPI's docs pages load their scripts from a CDN: not served (the
        # OpenAPI document is; any OpenAPI viewer reads it)
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(ops_router(metrics))  # /healthz, /readyz, /metrics
    if settings.oidc is not None:
        from starlette.middleware.sessions import SessionMiddleware

        from peelian.serve.oidc import oidc_router

        app.include_router(oidc_router(settings.oidc))
        # the OIDC flow's state and nonce, for the ten minutes a sign-in may take
        app.add_middleware(
            SessionMiddleware,
            secret_key=settings.flow_key or secrets.token_urlsafe(32),
            session_cookie=OIDC_COOKIE,
            max_age=600,
            same_site="lax",
            https_only=settings.secure_cookies,
        )
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    async def answer(request: Request, problem: Problem) -> Response:
        if is_api(request):
            return problem_response(problem, request.url.path)
        return secured(page_error(request, problem))

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Response:
        return await answer(request, exc)

    @app.exception_handler(PolicyDeniedError)
    async def on_denied(request: Request, exc: PolicyDeniedError) -> Response:
        from peelian.govern.policy import PERSONAL_DATA

        # The role allows it, so what is missing is a (good) purpose: ask for one.
        principal = getattr(request.state, "principal", None)
        wants_purpose = (
            exc.permission in PERSONAL_DATA
            and principal is not None
            and principal.may(exc.permission)
        )
        status = 428 if wants_purpose else 403
        return await answer(request, Problem(status, str(exc), kind="policy"))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "where": ".".join(str(p) for p in e.get("loc", ())),
                "problem": str(e.get("msg", ""))[:200],
            }
            for e in exc.errors()[:20]
        ]
        detail = "; ".join(f"{e['where']}: {e['problem']}" for e in errors)
        return await answer(request, Problem(422, detail, extra={"errors": errors}))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404:
            detail = f"{request.url.path[:200]}: no such page"
        return await answer(request, Problem(exc.status_code, detail))

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> Response:
        ref = secrets.token_hex(4)
        # the route's template, not the path: an entity id in a log is personal data
        log.exception("error %s on %s %s", ref, request.method, route_template(request.scope))
        return await answer(
            request, Problem(500, f"something went wrong on our side (reference {ref})")
        )

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        if (
            is_api(request)
            and request.method in ("POST", "PUT", "PATCH")
            and request.headers.get("content-type", "").split(";")[0].strip().lower()
            != "application/json"
        ):
            response: Response = problem_response(
                Problem(415, "send the request body as application/json"), request.url.path
            )
        else:
            response = await call_next(request)
        return secured(response, static=request.url.path.startswith("/static/"))

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


# The settings of `peelian serve --workers N`, for each worker's `app_from_env`.
SETTINGS_ENV = "PEELIAN_SERVE_SETTINGS"
# The identity provider's client secret stays where the operator put it.
OIDC_SECRET_ENV = "PEELIAN_OIDC_CLIENT_SECRET"


def settings_to_env(settings: ServeSettings, *, log_format: str = "text") -> str:
    """`settings` (and the log format) as the JSON `app_from_env` reads from
    PEELIAN_SERVE_SETTINGS; without the OIDC client secret, which each worker reads
    from PEELIAN_OIDC_CLIENT_SECRET as the command did."""
    values = asdict(settings)
    if values["oidc"] is not None:
        values["oidc"].pop("client_secret")
    return json.dumps({"settings": values, "log_format": log_format}, default=str)


def settings_from_env() -> tuple[ServeSettings, str]:
    """The settings and log format `settings_to_env` wrote to PEELIAN_SERVE_SETTINGS."""
    given = os.environ.get(SETTINGS_ENV)
    if not given:
        raise RuntimeError(f"{SETTINGS_ENV} is not set: start the server with `peelian serve`")
    data = json.loads(given)
    values = data["settings"]
    types = get_type_hints(ServeSettings)
    for name, value in values.items():
        if value is not None and Path in (types[name], *get_args(types[name])):
            values[name] = Path(value)
    if values.get("oidc") is not None:
        values["oidc"] = OidcSettings(
            client_secret=os.environ.get(OIDC_SECRET_ENV, ""), **values["oidc"]
        )
    return ServeSettings(**values), str(data.get("log_format", "text"))


def app_from_env() -> FastAPI:
    """The app of one worker process of `peelian serve --workers N` (uvicorn's factory,
    `peelian.serve.app:app_from_env`): the settings the command put in
    PEELIAN_SERVE_SETTINGS, logging as the command was asked."""
    settings, log_format = settings_from_env()
    configure_logging(log_format)
    return create_app(settings)
