"""CLI commands for the web app and API: serve, bench web.

Registered on the `peelian` app by `peelian.cli` (imported at its end).
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from peelian.cli import app, bench_app, out_console
from peelian.cli_bench import (
    LoadConnections,
    LoadMinutes,
    LoadPort,
    LoadRamp,
    LoadThink,
    LoadUsers,
    LoadWorkers,
    PhaseSeconds,
    Rates,
    find_max_rates,
)
from peelian.cli_resolve import HubOption, StateOption, _fail, _state_url

if TYPE_CHECKING:
    from peelian.serve.app import ServeSettings


def serve_settings(
    hub: Path,
    state: str | None,
    *,
    boundaries: Path | None,
    secure_cookies: bool,
    oidc_metadata: str | None = None,
    kpi_settings: Path | None = None,
) -> ServeSettings:
    from peelian.serve.app import ServeSettings
    from peelian.serve.oidc import OidcSettings

    oidc = None
    if oidc_metadata:
        client_id = os.environ.get("PEELIAN_OIDC_CLIENT_ID")
        secret = os.environ.get("PEELIAN_OIDC_CLIENT_SECRET")
        if not client_id or not secret:
            raise _fail(
                "--oidc-metadata needs PEELIAN_OIDC_CLIENT_ID and PEELIAN_OIDC_CLIENT_SECRET "
                "in the environment (the secret is never given on the command line)"
            )
        claim = os.environ.get("PEELIAN_OIDC_USERNAME_CLAIM", "preferred_username")
        oidc = OidcSettings(oidc_metadata, client_id, secret, username_claim=claim)
    return ServeSettings(
        hub=hub,
        state_url=_state_url(hub, state),
        secure_cookies=secure_cookies,
        boundaries=boundaries,
        oidc=oidc,
        kpi_settings=kpi_settings,
    )


@app.command("serve")
def serve_cmd(
    hub: HubOption,
    state: StateOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    boundaries: Annotated[
        Path | None,
        typer.Option("--boundaries", help="GeoJSON of the force's areas (the map's base layer)."),
    ] = None,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies/--no-secure-cookies",
            help="Mark cookies Secure (browsers keep them on https and on localhost).",
        ),
    ] = True,
    oidc_metadata: Annotated[
        str | None,
        typer.Option(
            "--oidc-metadata",
            help="OpenID Connect discovery URL of the force's identity provider; the client "
            "id and secret come from PEELIAN_OIDC_CLIENT_ID and PEELIAN_OIDC_CLIENT_SECRET.",
        ),
    ] = None,
    kpi_settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="Harm, KPI and response settings (YAML, as `peelian analyse --settings`).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes. Each opens the hub read-only and keeps its own "
            "in-memory tables derived from it (memory grows with each).",
        ),
    ] = 1,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            help="Logs on standard error: text (for people) or json (one object per line, "
            "for a log collector). One line per request, with its X-Request-ID.",
        ),
    ] = "text",
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            "--forwarded-allow-ips",
            help="Addresses or networks of the reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed (comma-separated, e.g. 10.0.4.0/24). The client "
            "address they give is the one audited and throttled; from anyone else the "
            "headers are ignored.",
        ),
    ] = "127.0.0.1,::1",
) -> None:
    """Serve the web UI and the JSON API (/api/v1, OpenAPI at /api/v1/openapi.json),
    with /healthz, /readyz and /metrics for the platform (docs/operations.md).
    It answers from the hub's current snapshot; `peelian refresh` may run meanwhile,
    and each worker switches to the snapshot it makes once it has loaded it.

    Example:

        peelian serve --hub data/hub --port 8000 --boundaries data/areas.geojson

        peelian serve --hub data/hub --host 0.0.0.0 --workers 4 --log-format json
    """
    import uvicorn

    from peelian.hub import HUB_FILE
    from peelian.index.build import current_name, index_root
    from peelian.serve.ops import LOG_FORMATS, configure_logging

    if not (hub / HUB_FILE).exists() and current_name(index_root(hub)) is None:
        raise _fail(
            f"{hub} is not a Peelian hub (no {HUB_FILE} and no snapshot); run `peelian demo` first"
        )
    if log_format not in LOG_FORMATS:
        raise _fail(f"--log-format is one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if kpi_settings is not None:
        from peelian.cli_analyse import _settings

        _settings(kpi_settings)  # a wrong file fails here, not at the first request
    proxies = _proxies(forwarded_allow_ips)
    settings = serve_settings(
        hub, state, boundaries=boundaries, secure_cookies=secure_cookies,
        oidc_metadata=oidc_metadata, kpi_settings=kpi_settings,
    )  # fmt: skip
    configure_logging(log_format)
    # uvicorn's own access log would write paths with their query strings: the app
    # writes a line per request itself (ops.RequestContext), and uvicorn's records go
    # through the handler configured above (log_config=None)
    if workers == 1:
        from peelian.serve.app import create_app
        from peelian.serve.ops import MULTIPROC_ENV, prepare_multiprocess_dir

        if os.environ.get(MULTIPROC_ENV):  # honoured by one process too: made and emptied
            try:
                prepare_multiprocess_dir(Path(os.environ[MULTIPROC_ENV]))
            except (ValueError, OSError) as exc:
                raise _fail(str(exc)) from None
        application = create_app(settings)
        out_console.print(f"Peelian is serving {hub} on http://{host}:{port}/ (Ctrl-C stops it)")
        uvicorn.run(
            application, host=host, port=port, log_level="warning", log_config=None,
            access_log=False, proxy_headers=True, forwarded_allow_ips=proxies,
        )  # fmt: skip
        return
    from peelian.serve.app import SETTINGS_ENV, settings_to_env
    from peelian.serve.ops import MULTIPROC_ENV
    from peelian.state import State, StateError

    try:  # migrated once here, not by each worker at once; a bad URL fails here
        State.open(settings.state_url).close()
    except StateError as exc:
        raise _fail(str(exc)) from None
    # each worker makes the app from these (peelian.serve.app:app_from_env), with one
    # key for the OIDC flow's cookie, as a sign-in may come back to another worker
    settings.flow_key = secrets.token_urlsafe(32)
    os.environ[SETTINGS_ENV] = settings_to_env(settings, log_format=log_format)
    with _metrics_folder() as folder:
        os.environ[MULTIPROC_ENV] = str(folder)  # the workers write their metrics there
        out_console.print(
            f"Peelian is serving {hub} on http://{host}:{port}/ with {workers} workers "
            "(Ctrl-C stops it)"
        )
        uvicorn.run(
            "peelian.serve.app:app_from_env", factory=True, workers=workers,
            host=host, port=port, log_level="warning", log_config=None, access_log=False,
            proxy_headers=True, forwarded_allow_ips=proxies,
        )  # fmt: skip


def _proxies(given: str) -> list[str]:
    """The --forwarded-allow-ips list, each an IP address or network: never `*`, which
    would let any client name the address its reads are audited under."""
    import ipaddress

    proxies = []
    for proxy in (p.strip() for p in given.split(",") if p.strip()):
        try:
            network = ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise _fail(
                f"--forwarded-allow-ips takes IP addresses or networks such as 10.0.4.0/24, "
                f"not {proxy!r}"
            ) from None
        # uvicorn reads networks strictly: 10.0.4.1/24 is given to it as 10.0.4.0/24
        proxies.append(str(network) if "/" in proxy else proxy)
    return proxies


@contextmanager
def _metrics_folder() -> Iterator[Path]:
    """The folder of the workers' metric files: PROMETHEUS_MULTIPROC_DIR when set
    (emptied at start: a previous server's counts would add up with these), else a new
    temporary folder, removed at the end."""
    from peelian.serve.ops import MULTIPROC_ENV, prepare_multiprocess_dir

    given = os.environ.get(MULTIPROC_ENV)
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="peelian-metrics-"))
    try:
        prepare_multiprocess_dir(folder)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    try:
        yield folder
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


@bench_app.command("web")
def bench_web(
    hub: HubOption,
    state: StateOption = None,
    repeat: Annotated[int, typer.Option("--repeat", help="Renders of each page.")] = 20,
    users: Annotated[
        list[str] | None,
        typer.Option(
            "--user",
            help="Accounts the pages render for (each page for the first "
            "that may see it; default: the demo's analyst, safeguarding officer, auditor and "
            "admin).",
        ),
    ] = None,
    query: Annotated[str, typer.Option("--query", help="Search the pages start from.")] = (
        "smith 1990"
    ),
) -> None:
    """Time each page of the web UI (server side, in process, one request at a time)
    on a hub: median, 95th percentile and worst render times.

    Example:

        peelian bench web --hub demo/hub --user analyst_demo --user auditor_demo
    """
    from fastapi.testclient import TestClient

    accounts = users or ["analyst_demo", "safeguard_demo", "auditor_demo", "admin"]
    from peelian.serve.app import create_app

    application = create_app(serve_settings(hub, state, boundaries=None, secure_cookies=False))
    with TestClient(application) as client:
        st = client.app.state.state_db  # type: ignore[attr-defined]
        sessions = {u: st.accounts.create_session(u, client="bench")[0] for u in accounts}
        client.cookies.set("peelian_purpose", "reason training: page render benchmark")
        client.cookies.set("peelian_session", sessions[accounts[0]])
        found = client.get("/api/v1/search", params={"q": query, "limit": 1}).json()
        hits = found.get("hits") or []
        if not hits:
            raise _fail(f"{query!r} finds nothing for {accounts[0]}; give --query")
        entity = hits[0]["id"]
        pages = {
            "home": "/",
            "search": f"/search?q={query}",
            "quick check": f"/quick?q={query}",
            "entity profile": f"/entities/{entity}",
            "quick profile": f"/entities/{entity}?quick=1",
            "network page": f"/network?ids={entity}",
            "network data (depth 1)": f"/api/v1/graph/neighbourhood?ids={entity}",
            "map page": "/map",
            "map data": "/api/v1/events?types=crime&types=incident&limit=1500",
            "groups": "/networks/groups",
            "county lines": "/networks/county-lines",
            "labour exploitation": "/networks/labour-exploitation",
            "dashboard": "/dashboard",
            "harm ranking": "/harm",
            "incidents": "/incidents",
            "exploitation screen": "/vulnerability",
            "data quality": "/quality",
            "review queue": "/review",
            "audit log": "/audit",
            "misuse alerts": "/audit/alerts",
            "users": "/admin/users",
        }
        table = Table(title=f"web pages on {hub} ({repeat} renders each, warm)")
        for name in ("page", "as", "median ms", "p95 ms", "max ms"):
            table.add_column(name, justify="left" if name in ("page", "as") else "right")
        for name, url in pages.items():
            for user in accounts:  # the first account whose role may see the page
                client.cookies.set("peelian_session", sessions[user])
                if client.get(url).status_code == 200:  # also the warm-up
                    break
            else:
                table.add_row(name, "nobody given may see it", "", "", "")
                continue
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
            table.add_row(
                name, user, f"{statistics.median(times):.1f}", f"{p95:.1f}", f"{times[-1]:.1f}"
            )
        for session_id in sessions.values():
            st.accounts.end_session(session_id)
    out_console.print(table)


@bench_app.command("load")
def bench_load(
    hub: HubOption,
    state: StateOption = None,
    users: LoadUsers = 8000,
    think: LoadThink = 30.0,
    minutes: LoadMinutes = 5.0,
    workers: LoadWorkers = 2,
    ramp: LoadRamp = None,
    port: LoadPort = 0,
    find_max: Annotated[
        bool,
        typer.Option(
            "--find-max",
            help="Instead: searches alone at rising fixed rates (open loop) until p95 passes "
            "300 ms or an answer fails; prints the highest rate that held.",
        ),
    ] = False,
    phase_seconds: PhaseSeconds = 20.0,
    rates: Rates = None,
    connections: LoadConnections = 512,
) -> None:
    """Load-test a hub as served: start `peelian serve --workers N` on loopback and run
    simulated officers against its API from this process (one asyncio event loop), each
    with its own think time and purpose of access; print latency by kind, throughput,
    errors and whether p95 <= 300 ms, p99 <= 1 s and zero errors were met. The mix is
    in peelian/serve/load.py and docs/operations.md ("Load").

    Example:

        peelian bench load --hub demo/hub --users 8000 --think 30 --minutes 5

        peelian bench load --hub demo/hub --find-max --phase-seconds 20
    """
    from peelian.serve.load import (
        LoadError,
        find_max_tables,
        result_tables,
        run_find_max,
        run_load,
    )

    if not (hub / "hub.duckdb").exists():
        raise _fail(f"{hub} is not a Peelian hub (no hub.duckdb); run `peelian demo` first")
    steps = find_max_rates(rates)
    state_url = _state_url(hub, state)
    started = time.strftime("%Y-%m-%d %H:%M")
    try:
        if find_max:
            tables = find_max_tables(
                run_find_max(
                    hub, state_url=state_url, workers=workers, rates=steps,
                    phase_seconds=phase_seconds, port=port, connections=connections,
                )
            )  # fmt: skip
        else:
            tables = result_tables(
                run_load(
                    hub, state_url=state_url, users=users, think=think, seconds=minutes * 60,
                    workers=workers, ramp=ramp, port=port, connections=connections,
                )
            )  # fmt: skip
    except LoadError as exc:
        raise _fail(str(exc)) from None
    for table in tables:
        out_console.print(table)
    if find_max:
        listed = ",".join(f"{r:g}" for r in steps)
        command = f"--find-max --phase-seconds {phase_seconds:g} --rates {listed}"
        command += f" --connections {connections}"
    else:
        command = f"--users {users} --think {think:g} --minutes {minutes:g}" + (
            f" --ramp {ramp:g}" if ramp is not None else ""
        )
        command += f" --connections {connections}"
    out_console.print(
        f"{started}: peelian bench load --hub {hub} --workers {workers} {command}", highlight=False
    )
