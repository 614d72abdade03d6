"""Serving through a refresh: `peelian refresh` runs while `peelian serve --workers 2`
answers searches; no request fails, and the answers move to the new snapshot."""

from __future__ import annotations

import logging
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from tests.serve.conftest import Served, free_port, own_state
from tests.serve.test_ops import wait_ready

from peelian.hub import HUB_FILE, Hub
from peelian.index.build import (
    SNAPSHOTS_DIR,
    build_index,
    current_name,
    index_root,
    snapshot_database,
)
from peelian.serve.hubs import Snapshots
from peelian.state import State

PEELIAN = [sys.executable, "-c", "from peelian.cli import app; app(prog_name='peelian')"]
# a person the refresh brings: in no snapshot before it, in every one after it
NEWCOMER = ("QUATERMASS", "Zebedee", "02-Feb-1990")
QUERY = "Zebedee Quatermass"


def add_custody_record(force: Path) -> None:
    """One more arrest in the force's custody extract: the newcomer's."""
    surname, forenames, dob = NEWCOMER
    row = (
        f"HM3/99999/24,2024-12-30,10:15,{surname},{forenames},{dob},Male,IC1,W1,"
        '"7 Tern Close, Hastingston, Skelby",HM7 0YY,,,,Shoplifting,61/999999/24,3509,'
        "Charged,,\n"
    )
    with (force / "sources" / "custody" / "custody_records.csv").open("a") as extract:
        extract.write(row)


@pytest.fixture
def serving(
    served: Served, force: Path, tmp_path: Path
) -> Iterator[tuple[str, Path, Path, str, Path]]:
    """A copy of the served hub and of its force, served by two worker processes;
    yields the base URL, the hub, the force, the state database's URL and the log."""
    hub = tmp_path / "hub"
    shutil.copytree(served.hub, hub, ignore=shutil.ignore_patterns("state.db*"))
    own = shutil.copytree(force, tmp_path / "force")
    state = own_state(served, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    command = [
        *PEELIAN, "serve", "--hub", str(hub), "--state", state.state_url, "--port", str(port),
        "--workers", "2", "--no-secure-cookies",
    ]  # fmt: skip
    with log.open("wb") as err:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_ready(base, server, log)
            yield base, hub, own, state.state_url, log
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]


@pytest.mark.slow
def test_searches_go_on_through_a_refresh_and_switch_to_its_snapshot(
    serving: tuple[str, Path, Path, str, Path],
) -> None:
    base, hub, force, state_url, log = serving
    with State.open(state_url) as state:
        token, _ = state.accounts.create_token("analyst1", "refresh test", by="test-setup")
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "incident WM-20240105-0001"}
    before = current_name(index_root(hub))
    answers: list[tuple[int, str | None, bool]] = []  # status, snapshot, newcomer found
    failures: list[str] = []
    stop = threading.Event()

    def search() -> None:
        # a connection of its own for each request, so that either worker may take it
        with httpx.Client(
            base_url=base, headers={**headers, "Connection": "close"}, timeout=60
        ) as client:
            while not stop.is_set():
                try:
                    answer = client.get("/api/v1/search", params={"q": QUERY, "limit": 5})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                found = answer.status_code == 200 and any(
                    "QUATERMASS" in hit["label"].upper() for hit in answer.json()["hits"]
                )
                answers.append(
                    (answer.status_code, answer.headers.get("x-peelian-snapshot"), found)
                )
                time.sleep(0.02)

    searchers = [threading.Thread(target=search) for _ in range(3)]
    for thread in searchers:
        thread.start()
    try:
        add_custody_record(force)
        refresh = subprocess.run(
            [*PEELIAN, "refresh", str(force / "mappings"), "--hub", str(hub), "--state",
             state_url, "--quiet"],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert refresh.returncode == 0, refresh.stderr[-3000:]
        after = current_name(index_root(hub))
        assert after not in (None, before)
        # each worker switches on a request once it has loaded the new snapshot
        deadline = time.monotonic() + 300
        while switched_workers(log) < 2:
            assert time.monotonic() < deadline, "both workers did not switch in time"
            time.sleep(0.5)
        settled = len(answers)
        while len(answers) < settled + 30:
            assert time.monotonic() < deadline, "no answers after the switch"
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in searchers:
            thread.join(timeout=120)
    assert not failures, failures[:5]
    statuses = {status for status, _, _ in answers}
    assert statuses == {200}, [a for a in answers if a[0] != 200][:5]
    by_snapshot = {snapshot for _, snapshot, _ in answers}
    assert by_snapshot == {before, after}
    # the old snapshot never had the newcomer, the new one always has
    assert not any(found for _, snapshot, found in answers if snapshot == before)
    assert all(found for _, snapshot, found in answers if snapshot == after)
    assert sum(snapshot == before for _, snapshot, _ in answers) > 0
    assert {snapshot for _, snapshot, _ in answers[settled:]} == {after}
    # the refresh wrote the working database, never a snapshot a server had open
    assert snapshot_database(hub, before).exists()  # kept for rollback
    assert sorted(p.name for p in (hub / SNAPSHOTS_DIR).iterdir()) == sorted([before, after])


def switched_workers(log: Path) -> int:
    """How many worker processes have logged a switch of snapshot."""
    said = re.findall(r"worker (\d+) switched to snapshot", log.read_text(errors="replace"))
    return len(set(said))


# -- in one process ---------------------------------------------------------------------------


@pytest.fixture
def indexed(served: Served, tmp_path: Path) -> Path:
    hub = tmp_path / "hub"
    shutil.copytree(served.hub, hub, ignore=shutil.ignore_patterns("state.db*"))
    return hub


def test_a_snapshot_is_a_frozen_copy_the_stages_never_write(indexed: Path) -> None:
    name = current_name(index_root(indexed))
    assert name is not None
    frozen = snapshot_database(indexed, name)
    with Hub(indexed) as hub:
        hub.con.execute("CREATE TABLE written_after AS SELECT 1 AS x")
        # a reader of the snapshot is not in the writer's way, and does not see its work
        with duckdb.connect(str(frozen), read_only=True) as reader:
            tables = reader.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        assert ("written_after",) not in tables
        report = build_index(hub.con, hub.path)
    newer = current_name(index_root(indexed))
    assert newer == report.path.name != name
    with duckdb.connect(str(snapshot_database(indexed, newer)), read_only=True) as reader:
        assert reader.execute("SELECT x FROM written_after").fetchall() == [(1,)]
    # while a server process still has the first one open, builds keep it
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(frozen)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"open\n"
        with Hub(indexed) as hub:
            third = build_index(hub.con, hub.path).path.name
        assert frozen.exists()
    finally:
        holder.communicate(b"done\n", timeout=60)
    # once it is closed, the next build removes it, index and database alike
    with Hub(indexed) as hub:
        build_index(hub.con, hub.path)
    kept = {p.name for p in (indexed / SNAPSHOTS_DIR).iterdir()}
    assert kept == {p.name for p in index_root(indexed).iterdir() if p.is_dir()}
    assert name not in kept
    assert newer not in kept
    assert third in kept
    assert (indexed / HUB_FILE).exists()


# a process that holds a snapshot's database open (as a worker does) until told to stop
HOLD = """
import sys, duckdb
con = duckdb.connect()
con.execute("ATTACH $p AS hub (READ_ONLY)", {"p": sys.argv[1]})
print("open", flush=True)
sys.stdin.readline()
"""


def test_the_server_switches_only_once_the_new_snapshot_opens(
    indexed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    snapshots = Snapshots(indexed, check_every=0.0, retry_after=3600)
    try:
        first = snapshots.current()
        assert first.snapshot == current_name(index_root(indexed))
        # a build whose database copy is unreadable: logged, the old snapshot served on
        broken = "20991231T000000-broken00"
        shutil.copytree(index_root(indexed) / str(first.snapshot), index_root(indexed) / broken)
        snapshot_database(indexed, broken).parent.mkdir(parents=True)
        snapshot_database(indexed, broken).write_bytes(b"not a database")
        (index_root(indexed) / "CURRENT").write_text(broken + "\n")
        with caplog.at_level(logging.ERROR, logger="peelian.serve.hubs"):
            wait_for(lambda: snapshots.current() is first and "could not be opened" in caplog.text)
        assert snapshots.current() is first
        assert snapshots.switches == 0
        # a good build: switched to, and the request that held the old one still reads it
        with Hub(indexed) as hub:
            report = build_index(hub.con, hub.path)
        wait_for(lambda: snapshots.current() is not first)
        assert snapshots.current().snapshot == report.path.name
        assert snapshots.switches == 1
        cursor = first.cursor()
        assert cursor.execute("SELECT count(*) FROM entities").fetchone() != (0,)
        cursor.close()
    finally:
        snapshots.close()


def wait_for(condition: object, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("not within the time allowed")


def test_a_replica_serves_from_the_snapshots_alone(served: Served, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from peelian.serve.app import ServeSettings, create_app

    # what the refresh host copies to a replica: the snapshots and CURRENT, no working
    # database (docs/operations.md, "Several machines")
    replica = tmp_path / "replica"
    for part in ("index", SNAPSHOTS_DIR):
        shutil.copytree(served.hub / part, replica / part)
    assert not (replica / HUB_FILE).exists()
    state = own_state(served, tmp_path)
    with State.open(state.state_url) as st:
        token, _ = st.accounts.create_token("analyst1", "replica test", by="test-setup")
    settings = ServeSettings(hub=replica, state_url=state.state_url, secure_cookies=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "incident WM-20240105-0001"}
        found = client.get("/api/v1/search", params={"q": "smith"}, headers=headers)
        assert found.status_code == 200
        person = next(h["id"] for h in found.json()["hits"] if h["kind"] == "person")
        profile = client.get(f"/api/v1/entities/{person}", headers=headers)
        assert profile.status_code == 200
        assert profile.headers["x-peelian-snapshot"] == current_name(index_root(replica))
