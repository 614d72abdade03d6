"""Fixtures for the web app and API: the small force resolved and indexed, one
account per role (and vetting/operation variants), a TestClient per user, and a
real uvicorn server on a free port for the browser tests."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from peelian.serve.app import ServeSettings, create_app
from peelian.state import State

PASSWORD = "correct horse battery staple"
PURPOSE = "incident WM-20240105-0001"
# (username, role, vetting, teams): one account per role, plus vetting and
# compartment variants of the analyst so that every label is seen by someone
# and hidden from someone.
USERS = (
    ("admin1", "administrator", "SC", ()),
    ("pc1", "response_officer", "NPPV2", ()),
    ("pc_low", "response_officer", "NPPV1", ()),
    ("dc1", "investigator", "NPPV3", ()),
    ("analyst1", "intelligence_analyst", "SC", ()),
    ("analyst_op", "intelligence_analyst", "SC", ("OPS",)),
    ("sg1", "safeguarding_officer", "NPPV3", ()),
    ("sgsup1", "safeguarding_supervisor", "NPPV3", ()),
    ("mash1", "mash_officer", "NPPV2", ()),
    ("sgt1", "supervisor", "NPPV3", ()),
    ("auditor1", "auditor", "SC", ()),
)


@dataclass
class Served:
    hub: Path
    state_url: str
    boundaries: Path

    def settings(self) -> ServeSettings:
        return ServeSettings(
            hub=self.hub,
            state_url=self.state_url,
            secure_cookies=False,
            boundaries=self.boundaries,
        )


@pytest.fixture(scope="session")
def served(resolved: Path, force: Path, tmp_path_factory: pytest.TempPathFactory) -> Served:
    """The small force, indexed, with an account per role; the analyst_op account
    is briefed into every operation of the force."""
    from peelian.hub import Hub
    from peelian.index import build
    from peelian.text.hub import extract_hub

    hub_path = tmp_path_factory.mktemp("serve") / "hub"
    shutil.copytree(resolved, hub_path)
    with Hub(hub_path) as hub:
        extract_hub(hub.con)  # the documents' text, for the profile's "mentioned in"
        build.build_index(hub.con, hub.path)
        operations = [
            r[0]
            for r in hub.con.execute(
                "SELECT DISTINCT upper(trim(compartment)) FROM source_rows "
                "WHERE compartment IS NOT NULL AND trim(compartment) <> '' ORDER BY 1"
            ).fetchall()
        ]
    state_url = str(hub_path / "state.db")
    _add_accounts(state_url, operations)
    return Served(hub_path, state_url, force / "sources" / "geography" / "neighbourhoods.geojson")


def _add_accounts(state_url: str, operations: list[str]) -> None:
    with State.open(state_url) as state:
        accounts = state.accounts
        accounts.add_team("OPS", by="test-setup")
        for op in operations:
            accounts.add_operation(op, "OPS", by="test-setup")
        for username, role, vetting, teams in USERS:
            accounts.add_user(username, username, role, vetting, by="test-setup", password=PASSWORD)
            for team in teams:
                accounts.add_member(username, team, by="test-setup")


def own_state(served: Served, folder: Path) -> Served:
    """The served hub with a state database of its own (the same accounts, no decisions
    or audit yet), for tests whose data other modules' decisions would change."""
    with State.open(served.state_url) as state:
        operations = sorted(o.name for o in state.accounts.operations())
    state_url = str(folder / "state.db")
    _add_accounts(state_url, operations)
    return Served(served.hub, state_url, served.boundaries)


@pytest.fixture(scope="session")
def app(served: Served) -> Iterator[object]:
    application = create_app(served.settings())
    with TestClient(application):  # runs the lifespan: opens the hub and the state
        yield application


def client_for(app: object, username: str | None, *, purpose: str | None = PURPOSE) -> TestClient:
    """A client signed in as `username` through the login form (None: signed out),
    with `purpose` given through the purpose form."""
    client = TestClient(app)  # type: ignore[arg-type]
    client.__enter__()
    if username is None:
        return client
    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token, page.text
    answer = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "login_token": token[1], "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    if purpose:
        kind, _, ref = purpose.partition(" ")
        form = client.get("/purpose")
        client.post(
            "/purpose",
            data={"csrf_token": csrf_of(form.text), "kind": kind, "reference": ref, "next": "/"},
            follow_redirects=False,
        )
    return client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(served: Served) -> Iterator[str]:
    """The app under a real uvicorn server on a free localhost port."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        create_app(served.settings()), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
