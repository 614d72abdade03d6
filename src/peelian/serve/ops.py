"""What a platform team needs to run the server: probes, metrics, request ids, logs.

- `/healthz` (liveness: the process answers), `/readyz` (readiness: the hub is open,
  the search index loaded, the state database answers; otherwise 503 as problem
  details naming the part that is not ready) and `/metrics` (Prometheus text). They
  need no sign-in, read no personal data (so are not audited) and are not in the
  OpenAPI document.
- `RequestContext`, the outermost layer of the app: each request gets an id (the
  caller's `X-Request-ID` when it is a sane token, else a new one), returned in the
  response and carried by every log record written while the request runs; it
  counts and times the request for the metrics and writes one log line for it.
- Metrics and log lines name the route *template* (`/api/v1/entities/{entity_id}`),
  never the path as asked, nor its query string: no personal data reaches them.
- With several worker processes (`peelian serve --workers N`) the metrics use
  prometheus-client's multiprocess mode: each worker writes its values to files in
  `PROMETHEUS_MULTIPROC_DIR`, and `/metrics`, whichever worker answers, adds them up.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peelian.serve.problems import PROBLEM_JSON, Problem

log = logging.getLogger("peelian.serve")
request_log = logging.getLogger("peelian.request")

REQUEST_ID_HEADER = "X-Request-ID"
SNAPSHOT_HEADER = "X-Peelian-Snapshot"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route of a request no route answers (a 404): never its path
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

# The id of the request being answered, for log records (see RequestIdFilter).
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "peelian_request_id", default=None
)


def request_id_from(given: str | None) -> str:
    """The caller's request id when it is a sane token (up to 64 of A-Z a-z 0-9 . _ -),
    else a new one: a hostile header never reaches a log line or another system.

    >>> request_id_from("lb-7f3a.2")
    'lb-7f3a.2'
    >>> request_id_from("a b") != "a b"
    True
    """
    if given and SANE_REQUEST_ID.fullmatch(given):
        return given
    return secrets.token_hex(16)


# -- metrics -------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    """The folder of the workers' metric files, when several processes serve."""
    return os.environ.get(MULTIPROC_ENV) or None


METRIC_FILE = re.compile(r"(counter|gauge|histogram|summary)_.+\.db")


def prepare_multiprocess_dir(folder: Path) -> None:
    """Empty `folder` of prometheus-client's metric files (a previous server's counts
    would add up with this one's), creating it if need be. ValueError if it holds
    anything else: prometheus-client reads every `*.db` there, and a shared folder
    (the hub's, say) must never be emptied."""
    folder.mkdir(parents=True, exist_ok=True)
    files = list(folder.iterdir())
    others = sorted(f.name for f in files if not METRIC_FILE.fullmatch(f.name))
    if others:
        raise ValueError(
            f"{MULTIPROC_ENV}={folder} holds other files ({', '.join(others[:3])}): "
            "give the metrics a folder of their own"
        )
    for old in files:
        old.unlink()


class SnapshotCollector(Collector):
    """The hub's current snapshot, read at each scrape: its name and when it was made.
    A worker answers from it after its first request since, once it has loaded it;
    `peelian_snapshot_served` says which each worker answers from."""

    def __init__(self, hub: Path) -> None:
        self.hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from peelian.index.build import current_name, index_root, snapshot_database

        name = current_name(index_root(self.hub))
        info = GaugeMetricFamily(
            "peelian_snapshot_info",
            "The hub's current snapshot (value 1; empty before the first index build).",
            labels=["snapshot"],
        )
        info.add_metric([name or ""], 1)
        yield info
        if name is None:
            return
        try:
            made = snapshot_database(self.hub, name).stat().st_mtime
        except OSError:
            return
        yield GaugeMetricFamily(
            "peelian_snapshot_made_timestamp_seconds",
            "When the current snapshot's copy of the hub database was made (Unix time).",
            value=made,
        )


class Metrics:
    """The server's metrics: requests by method, route template and status class,
    their duration, and the requests in flight.

    One process: the values live in this object's registry. Several worker processes
    (`PROMETHEUS_MULTIPROC_DIR` set): each writes them to its own files and a scrape
    adds up every worker's.
    """

    def __init__(self, hub: Path) -> None:
        self.folder = multiprocess_dir()
        # the values are kept in files in multiprocess mode, so not registered here
        own = None if self.folder else CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            "peelian_http_requests",
            "HTTP requests answered, by method, route template and status class.",
            labels,
            registry=own,
        )
        self.duration = Histogram(
            "peelian_http_request_duration_seconds",
            "Time to answer HTTP requests, by method, route template and status class.",
            labels,
            registry=own,
        )
        self.in_flight = Gauge(
            "peelian_http_requests_in_flight",
            "HTTP requests being answered (all workers).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.served = Gauge(
            "peelian_snapshot_served",
            "The snapshot this worker last answered from (1; 0 for the ones before it).",
            ("snapshot",),
            registry=own,
            multiprocess_mode="liveall",  # one series per live worker (label pid)
        )
        self._serving: str | None = None
        self.snapshot = SnapshotCollector(hub)
        if own is not None:
            own.register(self.snapshot)
        self._own = own

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method if method in METHODS else "other", route, f"{status // 100}xx")
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)

    def serving(self, snapshot: str) -> None:
        """A request was answered from `snapshot`."""
        if snapshot != self._serving:
            if self._serving is not None:
                self.served.labels(self._serving).set(0)
            self.served.labels(snapshot).set(1)
            self._serving = snapshot

    def exposition(self) -> bytes:
        """The metrics in Prometheus text format (every worker's, in multiprocess mode)."""
        if self._own is not None:
            return generate_latest(self._own)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.folder)  # type: ignore[no-untyped-call]
        registry.register(self.snapshot)
        return generate_latest(registry)

    def process_exit(self) -> None:
        """A worker stops: its in-flight gauge no longer counts (its counts stay)."""
        if self.folder:
            multiprocess.mark_process_dead(os.getpid(), self.folder)  # type: ignore[no-untyped-call]


# -- the request context ----------------------------------------------------------------


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`/api/v1/entities/{entity_id}`,
    `/static/{path}`), or `unmatched`: never the path as asked."""
    template = getattr(scope.get("route"), "path_format", None)
    endpoint = scope.get("endpoint")
    if template is None and endpoint is not None:
        # routes that are not FastAPI's own (the OpenAPI document, static files)
        app = scope.get("app")
        for route in getattr(app, "routes", ()):
            if endpoint is getattr(route, "endpoint", None) or endpoint is getattr(
                route, "app", None
            ):
                template = getattr(route, "path_format", None)
                break
    return template if isinstance(template, str) else UNMATCHED


class RequestContext:
    """The outermost layer: a request id for each request (in the response's
    `X-Request-ID` and in every log record meanwhile), the request metrics, and one
    log line per request (method, route template, status, duration, client, user, the
    snapshot read; never the query string, body, cookies or tokens). A response that
    read the hub names its snapshot in `X-Peelian-Snapshot`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.lower().encode())
        request_id = request_id_from(given.decode("latin-1") if given else None)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id  # request.state.request_id
        status = 500  # unless an answer starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != REQUEST_ID_HEADER.lower().encode()
                ]
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                if state.get("snapshot"):
                    headers.append((SNAPSHOT_HEADER.lower().encode(), state["snapshot"].encode()))
                message = {**message, "headers": headers}
            await send(message)

        token = current_request_id.set(request_id)
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe(scope["method"], route, status, seconds)
            if state.get("snapshot"):
                self.metrics.serving(state["snapshot"])
            principal = state.get("principal")
            client = scope.get("client")
            request_log.log(
                logging.DEBUG if route in OPS_PATHS else logging.INFO,
                "%s %s %d %.1f ms",
                scope["method"],
                route,
                status,
                seconds * 1000,
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "client": client[0] if client else None,
                    "username": getattr(principal, "username", None),
                    "snapshot": state.get("snapshot"),
                },
            )
            current_request_id.reset(token)


# -- logs --------------------------------------------------------------------------------

# The fields of a request's log line (RequestContext), written by the JSON formatter.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "client", "username", "snapshot")


class RequestIdFilter(logging.Filter):
    """Give each record the id of the request being answered (`-` outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, request id,
    the request fields when it is a request's line, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id.get(),
        }
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class _ServeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The server's log handler (one per process: configuring again replaces it)."""


def log_handler(log_format: str, stream: Any = None) -> logging.Handler:
    """A handler writing `text` (human-readable) or `json` (one object per line)
    records, each with its request id, to `stream` (standard error)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"the log format is one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = _ServeHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    return handler


def configure_logging(log_format: str) -> None:
    """Send this process's log records to standard error in `log_format`: Peelian's
    from INFO (a line per request), other libraries' (uvicorn's) from WARNING."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ServeHandler)]:
        root.removeHandler(old)
    root.addHandler(log_handler(log_format))
    root.setLevel(logging.WARNING)
    logging.getLogger("peelian").setLevel(logging.INFO)


# -- the routes ------------------------------------------------------------------------------


def readiness(app_state: Any) -> dict[str, str]:
    """Each part the server needs, `ok` or what is wrong with it (in words that name no
    path or host: the answer is public; the log has the details)."""
    import sqlalchemy as sa

    checks: dict[str, str] = {}
    snapshots = getattr(app_state, "snapshots", None)
    hub = None if snapshots is None else snapshots.current()
    try:
        if hub is None:
            raise RuntimeError("the hub was not opened")
        cursor = hub.cursor()
        try:
            cursor.execute("SELECT 1").fetchone()
        finally:
            cursor.close()
        checks["hub"] = "ok"
    except Exception as exc:
        log.warning("not ready: the hub: %s", exc)
        checks["hub"] = "the hub is not open"
    try:
        if hub is None:
            raise RuntimeError("the hub was not opened")
        hub.searcher()  # opens the current build if it is not open yet
        checks["index"] = "ok"
    except Exception as exc:
        log.warning("not ready: the search index: %s", exc)
        checks["index"] = "the search index is not loaded"
    try:
        with app_state.state_db.engine.connect() as con:
            con.execute(sa.text("SELECT 1"))
        checks["state"] = "ok"
    except Exception as exc:
        log.warning("not ready: the state database: %s", str(exc)[:300])
        checks["state"] = "the state database does not answer"
    return checks


def ops_router(metrics: Metrics) -> APIRouter:
    """`/healthz`, `/readyz` and `/metrics`: no sign-in, no personal data, no audit."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz(request: Request) -> Response:
        checks = readiness(request.app.state)
        failing = [part for part, said in checks.items() if said != "ok"]
        if not failing:
            return JSONResponse({"status": "ready", "checks": checks})
        problem = Problem(
            503,
            "not ready: " + "; ".join(checks[part] for part in failing),
            kind="not-ready",
            extra={"checks": checks},
        )
        return JSONResponse(
            problem.body(request.url.path), status_code=503, media_type=PROBLEM_JSON
        )

    @router.get("/metrics")
    def metrics_text() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
