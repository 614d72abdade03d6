"""Running the server in production: liveness and readiness probes, Prometheus metrics
by route template, request ids, JSON logs, and several worker processes."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.serve.conftest import PURPOSE, Served, free_port, own_state

from peelian.index.build import current_name, index_root
from peelian.serve.app import ServeSettings, create_app
from peelian.serve.ops import SANE_REQUEST_ID, log_handler
from peelian.serve.problems import PROBLEM_JSON
from peelian.state import State
from peelian.state.database import create_engine, database_url

ENTITY_ROUTE = "/api/v1/entities/{entity_id}"
RAW_ID = "P31415926"  # an entity id asked for: it must reach neither metrics nor logs
OPS_ROUTES = ("/healthz", "/readyz", "/metrics")


@pytest.fixture(scope="module")
def client(app: Any) -> TestClient:
    return TestClient(app)  # the app of conftest, already started


@pytest.fixture(scope="module")
def analyst(app: Any) -> TestClient:
    """The intelligence analyst with an API token and a purpose of access."""
    token, _ = app.state.state_db.accounts.create_token("analyst1", "ops", by="test-setup")
    api = TestClient(app)
    api.headers.update({"Authorization": f"Bearer {token}"})
    return api


def requests_counted(metrics_text: str, route: str) -> float:
    """The request counter summed over methods and statuses for `route`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        if family.name == "peelian_http_requests"
        for sample in family.samples
        if sample.name == "peelian_http_requests_total" and sample.labels["route"] == route
    )


# -- probes --------------------------------------------------------------------------------


def test_healthz_answers_without_sign_in(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_readyz_is_ready_on_a_served_hub(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "status": "ready",
        "checks": {"hub": "ok", "index": "ok", "state": "ok"},
    }


def test_readyz_says_the_search_index_is_missing(served: Served, tmp_path: Path) -> None:
    # the served hub's file, in a folder with no search index (`peelian index` not run)
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "hub.duckdb").symlink_to(served.hub / "hub.duckdb")
    settings = ServeSettings(hub=hub, state_url=str(tmp_path / "state.db"), secure_cookies=False)
    with TestClient(create_app(settings)) as unindexed:
        answer = unindexed.get("/readyz")
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    problem = answer.json()
    assert problem["status"] == 503
    assert problem["title"] == "Not ready"
    assert problem["checks"] == {
        "hub": "ok",
        "index": "the search index is not loaded",
        "state": "ok",
    }
    assert "search index" in problem["detail"]
    assert str(tmp_path) not in answer.text  # the answer is public: no paths


def test_readyz_says_the_state_database_does_not_answer(app: Any, client: TestClient) -> None:
    # a PostgreSQL state database on a port where nothing listens
    url = f"postgresql://peelian@127.0.0.1:{free_port()}/peelian"
    state_db = app.state.state_db
    app.state.state_db = State(create_engine(database_url(url)))
    try:
        answer = client.get("/readyz")
    finally:
        app.state.state_db = state_db
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    assert answer.json()["checks"] == {
        "hub": "ok",
        "index": "ok",
        "state": "the state database does not answer",
    }
    assert "127.0.0.1" not in answer.text


def test_ops_routes_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert not set(OPS_ROUTES) & set(paths)


# -- metrics -------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_not_path(
    client: TestClient, analyst: TestClient
) -> None:
    before = requests_counted(client.get("/metrics").text, ENTITY_ROUTE)
    asked = analyst.get(f"/api/v1/entities/{RAW_ID}", params={"purpose": PURPOSE})
    assert asked.status_code == 404
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert requests_counted(scraped.text, ENTITY_ROUTE) == before + 1
    assert f'route="{ENTITY_ROUTE}",status="4xx"' in scraped.text
    # neither the id asked for nor the query string (the purpose) reaches the metrics
    assert RAW_ID not in scraped.text
    assert "WM-20240105" not in scraped.text
    assert "purpose=" not in scraped.text
    assert not re.search(r'route="[^"]*\?', scraped.text)  # no query string in any label
    assert "peelian_http_request_duration_seconds_bucket" in scraped.text
    assert "peelian_http_requests_in_flight" in scraped.text
    assert 'peelian_snapshot_info{snapshot="' in scraped.text
    assert "peelian_snapshot_made_timestamp_seconds " in scraped.text
    served = current_name(index_root(analyst.app.state.settings.hub))
    assert f'peelian_snapshot_served{{snapshot="{served}"}} 1.0' in scraped.text


def test_a_request_no_route_answers_is_counted_without_its_path(client: TestClient) -> None:
    client.get("/no/such/P27182818")
    scraped = client.get("/metrics").text
    assert requests_counted(scraped, "unmatched") >= 1
    assert "P27182818" not in scraped


# -- request ids and logs ---------------------------------------------------------------------


def test_a_sane_request_id_is_echoed(client: TestClient) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2_X"})
    assert answer.headers["x-request-id"] == "lb-7f3a.2_X"


@pytest.mark.parametrize(
    "hostile",
    ["A" * 500, "two words", "<script>alert(1)</script>", "tab\there", "x" * 65, "a/../b"],
    ids=["long", "space", "script", "tab", "65 chars", "slash"],
)
def test_a_hostile_request_id_is_replaced(client: TestClient, hostile: str) -> None:
    answer = client.get("/api/v1/search", headers={"X-Request-ID": hostile})
    given = answer.headers.get_list("x-request-id")
    assert len(given) == 1
    assert given[0] != hostile
    assert SANE_REQUEST_ID.fullmatch(given[0])


def test_each_request_gets_its_own_id(client: TestClient) -> None:
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What Peelian logs meanwhile, as `peelian serve --log-format json` writes it."""
    stream = io.StringIO()
    handler = log_handler("json", stream)
    logger = logging.getLogger("peelian")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_the_json_log_line_of_a_request(analyst: TestClient, json_log: io.StringIO) -> None:
    answer = analyst.get(
        f"/api/v1/entities/{RAW_ID}",
        params={"purpose": PURPOSE},
        headers={"X-Request-ID": "ops-test-1"},
    )
    assert answer.status_code == 404
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    mine = [r for r in lines if r["logger"] == "peelian.request"]
    assert len(mine) == 1, lines
    line = mine[0]
    assert line["request_id"] == "ops-test-1"
    assert line["route"] == ENTITY_ROUTE
    assert (line["method"], line["status"], line["level"]) == ("GET", 404, "INFO")
    assert line["username"] == "analyst1"
    # the snapshot that answered, in the log line and the response
    assert line["snapshot"] == answer.headers["x-peelian-snapshot"]
    assert line["snapshot"] == current_name(index_root(analyst.app.state.settings.hub))
    assert line["client"]
    assert isinstance(line["duration_ms"], float)
    assert line["time"].endswith("+00:00")
    # never the path as asked, its query string, or the token
    text = json_log.getvalue()
    for secret in (RAW_ID, "?", "purpose", "WM-20240105", "Bearer", "pln_"):
        assert secret not in text, secret


def test_an_unexpected_error_carries_its_request_id(tmp_path: Path, json_log: io.StringIO) -> None:
    # an app whose lifespan never ran has no state database: any API read fails
    broken = create_app(ServeSettings(hub=tmp_path, state_url="sqlite://"))
    answer = TestClient(broken, raise_server_exceptions=False).get(
        "/api/v1/me", headers={"X-Request-ID": "ops-test-500"}
    )
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "ops-test-500"
    records = [json.loads(line) for line in json_log.getvalue().splitlines()]
    error = next(r for r in records if r["level"] == "ERROR")
    assert error["request_id"] == "ops-test-500"
    assert "Traceback" in error["exception"]
    request = next(r for r in records if r["logger"] == "peelian.request")
    assert (request["request_id"], request["status"]) == ("ops-test-500", 500)


def test_worker_settings_pass_through_the_environment_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from peelian.serve.app import SETTINGS_ENV, settings_from_env, settings_to_env
    from peelian.serve.oidc import OidcSettings

    oidc = OidcSettings("https://idp.example/.well-known/openid-configuration", "peelian", "s3cr3t")
    settings = ServeSettings(
        hub=tmp_path / "hub", state_url="postgresql://peelian@db/peelian",
        boundaries=tmp_path / "areas.geojson", oidc=oidc, flow_key="k" * 43,
    )  # fmt: skip
    given = settings_to_env(settings, log_format="json")
    assert "s3cr3t" not in given
    monkeypatch.setenv(SETTINGS_ENV, given)
    monkeypatch.setenv("PEELIAN_OIDC_CLIENT_SECRET", "s3cr3t")
    assert settings_from_env() == (settings, "json")


# -- several workers ---------------------------------------------------------------------------


def wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server stopped: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the server was not ready in time: {log.read_text()[-2000:]}")


def pids_counting(folder: Path) -> set[str]:
    """The worker processes that have counted a request (each writes its own file)."""
    return {f.stem.rsplit("_", 1)[1] for f in folder.glob("counter_*.db")}


@pytest.mark.slow
def test_a_metrics_folder_holding_other_files_is_refused_not_emptied(tmp_path: Path) -> None:
    from peelian.serve.ops import prepare_multiprocess_dir

    (tmp_path / "counter_7.db").write_bytes(b"old")
    prepare_multiprocess_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "counter_7.db").write_bytes(b"old")
    (tmp_path / "state.db").write_bytes(b"accounts, decisions, the audit log")
    with pytest.raises(ValueError, match=r"holds other files \(state.db\)"):
        prepare_multiprocess_dir(tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["counter_7.db", "state.db"]


def test_metrics_add_up_across_worker_processes(served: Served, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = own_state(served, tmp_path)
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"a previous server's")  # must be cleared at start
    log = tmp_path / "serve.log"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    command = [
        sys.executable, "-c", "from peelian.cli import app; app(prog_name='peelian')",
        "serve", "--hub", str(served.hub), "--state", state.state_url, "--port", str(port),
        "--workers", "2", "--log-format", "json", "--no-secure-cookies",
    ]  # fmt: skip
    with log.open("wb") as err:
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_ready(base, server, log)
            sent = 0

            def ask(_: int) -> int:
                url = f"{base}/api/v1/entities/{RAW_ID}?purpose=incident+WM-1"
                # a connection of its own each time, so that either worker may take it
                return httpx.get(url, headers={"Connection": "close"}, timeout=30).status_code

            with ThreadPoolExecutor(8) as pool:
                # until both workers have counted some (the kernel shares out connections)
                while len(pids_counting(folder)) < 2 and sent < 800:
                    assert set(pool.map(ask, range(40))) == {401}
                    sent += 40
            assert len(pids_counting(folder)) == 2, f"one worker took all {sent} requests"
            scraped = httpx.get(f"{base}/metrics", timeout=30).text
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=60)
    assert code == 0, log.read_text()[-2000:]
    assert requests_counted(scraped, ENTITY_ROUTE) == sent
    assert RAW_ID not in scraped
    # one JSON object per line on standard error, a line per request, no query strings
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    lines = [r for r in records if r["logger"] == "peelian.request"]
    assert sum(r["route"] == ENTITY_ROUTE for r in lines) == sent
    assert all(r["request_id"] and r["status"] for r in lines)
    assert "purpose" not in log.read_text()
    assert RAW_ID not in log.read_text()


# -- behind a reverse proxy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "audited"),
    [
        ([], "203.0.113.7"),  # the default: a proxy on this machine (loopback) is believed
        (["--forwarded-allow-ips", "10.9.9.9"], "127.0.0.1"),  # anyone else's header is not
    ],
)
def test_the_audited_client_is_the_one_a_trusted_proxy_names(
    served: Served, tmp_path: Path, proxies: list[str], audited: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = own_state(served, tmp_path)
    with State.open(state.state_url) as st:
        token, _ = st.accounts.create_token("analyst1", "proxy test", by="test-setup")
    log = tmp_path / "serve.log"
    command = [
        sys.executable, "-c", "from peelian.cli import app; app(prog_name='peelian')",
        "serve", "--hub", str(served.hub), "--state", state.state_url, "--port", str(port),
        "--no-secure-cookies", *proxies,
    ]  # fmt: skip
    with log.open("wb") as err:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_ready(base, server, log)
            asked = httpx.get(
                f"{base}/api/v1/entities/{RAW_ID}",
                params={"purpose": PURPOSE},
                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.7"},
                timeout=30,
            )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    assert asked.status_code == 404
    with State.open(state.state_url) as st:
        events = st.find_audit(actor="analyst1", action="entity.view")
    assert [e.client for e in events] == [f"{audited} via token"]


def test_a_proxy_list_that_would_trust_anyone_is_refused(served: Served) -> None:
    from typer.testing import CliRunner

    from peelian.cli import app as cli

    for given in ("*", "10.0.0.0/8,proxy.example"):
        result = CliRunner().invoke(
            cli, ["serve", "--hub", str(served.hub), "--forwarded-allow-ips", given]
        )
        assert result.exit_code != 0
        assert "--forwarded-allow-ips takes IP addresses or networks" in result.output


def test_a_proxy_network_given_loosely_is_trusted_as_meant() -> None:
    from uvicorn.middleware.proxy_headers import _TrustedHosts

    import peelian.cli  # noqa: F401  (the CLI modules are loaded through it)
    from peelian.cli_serve import _proxies

    proxies = _proxies("10.0.4.1/24, ::1")
    assert proxies == ["10.0.4.0/24", "::1"]
    trusted = _TrustedHosts(proxies)  # as uvicorn reads --forwarded-allow-ips
    assert "10.0.4.7" in trusted
    assert "10.0.5.7" not in trusted
