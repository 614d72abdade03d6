"""A load test of a served hub: many officers at once, from a separate process.

`run_load` starts `peelian serve --workers N` on a free loopback port, makes an API
token for a few real accounts (a response officer, an investigator, an intelligence
analyst), and runs the simulated officers in this process, in one asyncio event loop
with httpx's AsyncClient (see `Connections`). Each officer is one signed-in user: it
asks, waits for the answer, thinks (exponential, mean `think` seconds) and asks again,
with its own purpose of access on every request. The officers start evenly over the
ramp, so the load is steady by the time it is measured.

What an officer asks next (`MIX`):

| kind | share | request |
|---|---|---|
| `name+dob` | 30% | quick lookup, the roadside check: `thomas davidson 08/07/1988` |
| `plate` | 15% | quick lookup: `YF73DWY`, one in five a partial plate `YF73D?Y` |
| `search` | 30% | free search: surname and year born, full name, postcode, surname and district |
| `profile` | 25% | `GET /api/v1/entities/ID` of a result of the officer's own last search |

An officer with no results yet makes a name+DOB lookup instead of a profile view.
The names, dates of birth, plates and postcodes are read from the hub's golden
records before the run (read only), so the searches find real people and vehicles.

`run_find_max` instead offers searches alone (the first three kinds, in their shares)
at fixed rates, open loop: each request is sent on schedule whatever the answers
before it, phase after phase at rising rates, until a phase's 95th percentile passes
300 ms or an answer fails.

Latency is from the officer asking to the answer's body read (a wait for one of the
shared connections included); a request not answered in TIMEOUT seconds is given up
and counts at that time. The generator shares the machine with the server: its own
CPU time, and how late its event loop ran, are reported beside the server's so the
reader can judge the figures. docs/operations.md ("Load") has figures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import platform
import random
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.table import Table

TARGET_P95 = 0.300  # seconds: the targets
TARGET_P99 = 1.0

# What an officer asks next, and how often (see the module's docstring).
MIX: dict[str, float] = {"name+dob": 0.30, "plate": 0.15, "search": 0.30, "profile": 0.25}
SEARCH_KINDS = ("name+dob", "plate", "search")  # the kinds that are searches
QUICK_LIMIT = 5  # results a quick lookup asks for (the roadside check shows a few)
PARTIAL_PLATES = 0.2  # share of plate lookups with one character unknown

# Who the officers are: (role, share of the officers, their purpose of access). The
# first enabled account of each role in the state database is used.
OFFICER_ROLES: tuple[tuple[str, float, str], ...] = (
    ("response_officer", 0.60, "incident LOAD-{n:05d}"),
    ("investigator", 0.25, "crime 43/{n:06d}/26"),
    ("intelligence_analyst", 0.15, "reason intelligence: load test, officer {n}"),
)
TOKEN_NAME = "peelian bench load"
TOKEN_BY = "bench-load"  # who the audit log says made and revoked the tokens

# Searches per second offered by --find-max, phase after phase.
FIND_MAX_RATES = (5, 10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500)
LAG_TICK = 0.05  # seconds between the event-loop lag checks
# Connections to the server at most (the officers share them, as behind a reverse
# proxy), and how many each httpx client holds (see Connections).
CONNECTIONS = 512
PER_CLIENT = 16
TIMEOUT = 30.0  # seconds an officer waits for an answer, a wait for a connection included


class LoadError(RuntimeError):
    """The load test could not run: no server, no accounts, nothing to search for."""


# -- the scheduling: plain code over a random.Random -----------------------------------------


def think_time(rng: random.Random, mean: float) -> float:
    """Seconds an officer waits before the next request: exponential, mean `mean`."""
    return rng.expovariate(1 / mean) if mean > 0 else 0.0


def start_times(officers: int, ramp: float) -> list[float]:
    """When each officer makes its first request, seconds after the start: evenly over
    `ramp`, so that the requests arrive at a steady rate from the first."""
    return [ramp * i / officers for i in range(officers)]


def role_of(number: int, officers: int) -> int:
    """The index in OFFICER_ROLES of officer `number` of `officers`: the roles' shares
    taken in turn, so every role has officers once there are a few."""
    point = (number + 0.5) / officers
    total = 0.0
    for index, (_, share, _) in enumerate(OFFICER_ROLES):
        total += share
        if point < total:
            return index
    return len(OFFICER_ROLES) - 1


@dataclass
class Officer:
    """One simulated officer: the account it acts as, its purpose of access, its own
    random draws and the entity ids its last search found."""

    number: int
    username: str
    token: str
    purpose: str
    rng: random.Random
    found: list[str] = field(default_factory=list)

    def next_kind(self) -> str:
        """What it asks next, by MIX; a profile view needs an id found earlier."""
        kind = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "profile" and not self.found:
            return "name+dob"
        return kind

    def next_search(self) -> str:
        """A search kind alone, in the shares MIX gives the searches (for --find-max)."""
        return self.rng.choices(SEARCH_KINDS, weights=[MIX[k] for k in SEARCH_KINDS])[0]


def make_officers(
    count: int, tokens: dict[str, tuple[str, str]], *, seed: int = 0
) -> list[Officer]:
    """`count` officers spread over the roles of OFFICER_ROLES; `tokens` maps a role to
    (username, API token). Officers of a role with no account go to the others."""
    roles = [i for i, (role, _, _) in enumerate(OFFICER_ROLES) if role in tokens]
    if not roles:
        raise LoadError("no account to act as")
    officers = []
    for n in range(count):
        index = role_of(n, count)
        if index not in roles:
            index = roles[n % len(roles)]
        role, _, purpose = OFFICER_ROLES[index]
        username, token = tokens[role]
        officers.append(
            Officer(
                n, username, token, purpose.format(n=n + 1), random.Random(seed * 1_000_003 + n)
            )
        )
    return officers


# -- what the officers type ----------------------------------------------------------------------


@dataclass(frozen=True)
class Queries:
    """What the officers type, read from the hub so the answers are real."""

    names: list[str]  # "thomas davidson 08/07/1988"
    plates: list[str]  # "YF73DWY"
    searches: list[str]  # "davidson 1988", "thomas davidson", "BF9 0JG", "davidson BF9"

    def text(self, kind: str, rng: random.Random) -> str:
        if kind == "name+dob":
            return rng.choice(self.names)
        if kind == "plate":
            plate = rng.choice(self.plates)
            if len(plate) > 3 and rng.random() < PARTIAL_PLATES:
                at = rng.randrange(2, len(plate))
                return plate[:at] + "?" + plate[at + 1 :]
            return plate
        return rng.choice(self.searches)


def queries_from_hub(hub: Path, *, limit: int = 5000, seed: int = 0) -> Queries:
    """Names with dates of birth, plates and free searches of up to `limit` real people
    and vehicles of the hub's golden records (opened read only), in a random order that
    `seed` fixes."""
    from peelian.hub import Hub, HubError

    try:
        with Hub(hub, read_only=True) as opened:
            con = opened.con
            tables = {
                r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
            if "golden_values" not in tables:
                raise LoadError(f"{hub} has no golden records yet: run `peelian refresh` first")
            people = con.execute(
                "SELECT max(value) FILTER (WHERE field = 'forenames'),"
                " max(value) FILTER (WHERE field = 'surname'),"
                " max(value) FILTER (WHERE field = 'date_of_birth'),"
                " max(value) FILTER (WHERE field = 'postcode')"
                " FROM golden_values WHERE chosen AND entity_type = 'person'"
                " AND field IN ('forenames', 'surname', 'date_of_birth', 'postcode')"
                " GROUP BY entity_id HAVING max(value) FILTER (WHERE field = 'surname') IS NOT NULL"
                " ORDER BY hash(entity_id || ?) LIMIT ?",
                [str(seed), limit],
            ).fetchall()
            plates = [
                r[0]
                for r in con.execute(
                    "SELECT value FROM golden_values WHERE chosen AND entity_type = 'vehicle'"
                    " AND field = 'vrm' ORDER BY hash(entity_id || ?) LIMIT ?",
                    [str(seed), limit],
                ).fetchall()
            ]
    except HubError as exc:
        raise LoadError(str(exc)) from None
    names, searches = [], []
    for i, (forenames, surname, dob, postcode) in enumerate(people):
        first = " ".join((forenames or "").split()[:1]).lower()
        surname = surname.lower()
        born = _date(dob)
        if first and born:
            names.append(f"{first} {surname} {born:%d/%m/%Y}")
        # the free searches an officer types when they do not have the full details
        forms = [
            f"{surname} {born.year}" if born else None,
            f"{first} {surname}" if first else None,
            postcode,
            f"{surname} {postcode.split()[0]}" if postcode else None,
        ]
        searches.append(next((f for f in forms[i % 4 :] + forms if f), surname))
    if not names or not plates or not searches:
        raise LoadError(
            f"{hub} has too few people with a date of birth or vehicles with a plate to search"
        )
    return Queries(names, plates, searches)


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


# -- the figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 < q <= 1) of `values`, sorted or not."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Tally:
    """The requests of a run by kind: how long each took (seconds; a request given up
    on counts at the time it was given up, so a timeout weighs in the percentiles) and
    how each ended (an HTTP status, or the name of the failure when no answer came)."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, kind: str, seconds: float | None, outcome: str) -> None:
        if seconds is not None:
            self.seconds.setdefault(kind, []).append(seconds)
        self.outcomes.setdefault(kind, Counter())[outcome] += 1

    def requests(self, kinds: Sequence[str] | None = None) -> int:
        return sum(sum(c.values()) for k, c in self.outcomes.items() if kinds is None or k in kinds)

    def times(self, kinds: Sequence[str] | None = None) -> list[float]:
        return [s for k, v in self.seconds.items() if kinds is None or k in kinds for s in v]

    def answered(self, kinds: Sequence[str] | None = None, *, ok: bool = False) -> int:
        """Requests answered (any HTTP status; with `ok`, 200 only)."""
        return sum(
            n
            for k, c in self.outcomes.items()
            if kinds is None or k in kinds
            for outcome, n in c.items()
            if outcome == "200" or (not ok and outcome.isdigit())
        )

    def errors(self, kinds: Sequence[str] | None = None) -> Counter[str]:
        """Every outcome but 200, by status or failure."""
        found: Counter[str] = Counter()
        for kind, counts in self.outcomes.items():
            if kinds is None or kind in kinds:
                found.update({k: n for k, n in counts.items() if k != "200"})
        return found


@dataclass
class LoadResult:
    """What a run of the officers measured, in its window (after the ramp)."""

    officers: int
    think: float
    ramp: float
    window: float  # seconds measured
    workers: int
    connections: int
    accounts: list[str]
    tally: Tally
    asked: int  # requests over the whole run, the ramp's too
    answered: int  # of them, answered (any HTTP status)
    generator_cpu: float  # seconds of CPU this process used over the whole run
    server_cpu: float | None  # the server's processes, over the whole run (Linux)
    loop_lag: list[float]  # how late the event loop woke up, seconds
    wall: float  # seconds of the whole run, ramp included
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    server_exit: int | None = None
    server_pids: list[int] = field(default_factory=list)

    @property
    def met(self) -> dict[str, bool]:
        times = self.tally.times()
        return {
            "p95 <= 300 ms": bool(times) and percentile(times, 0.95) <= TARGET_P95,
            "p99 <= 1 s": bool(times) and percentile(times, 0.99) <= TARGET_P99,
            "zero errors": not self.tally.errors() and self.tally.requests() > 0,
        }


@dataclass
class Phase:
    """One fixed-rate phase of --find-max."""

    rate: float  # searches per second offered
    seconds: float  # how long the sending took (the schedule's length when on time)
    wall: float  # the whole phase, its last answers included
    tally: Tally
    late: list[float]  # how late each request was sent against its schedule, seconds
    generator_cpu: float
    server_cpu: float | None

    @property
    def p95(self) -> float:
        return percentile(self.tally.times(), 0.95)

    @property
    def passed(self) -> bool:
        """p95 under the target, no error, and every request answered."""
        return self.tally.requests() > 0 and not self.tally.errors() and self.p95 <= TARGET_P95


@dataclass
class FindMaxResult:
    phases: list[Phase]
    phase_seconds: float
    workers: int
    connections: int
    accounts: list[str]
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    server_exit: int | None = None
    server_pids: list[int] = field(default_factory=list)

    @property
    def best(self) -> Phase | None:
        """The highest rate whose phase passed, all lower ones having passed too."""
        best = None
        for phase in self.phases:
            if not phase.passed:
                break
            best = phase
        return best


# -- the server ----------------------------------------------------------------------------------


@dataclass
class Server:
    """`peelian serve` running as a child process."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path
    pids: set[int] = field(default_factory=set)  # every server process seen
    exit_code: int | None = None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cpu_seconds(self) -> float | None:
        """CPU seconds the server's processes have used so far (None off Linux)."""
        tree = process_tree(self.process.pid)
        if tree is None:
            return None
        self.pids.update(tree)
        return sum(tree.values())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    hub: Path, *, state_url: str, workers: int, port: int = 0, ready_seconds: float = 900
) -> Iterator[Server]:
    """`peelian serve --workers N` on 127.0.0.1:`port` (0: a free one), ready (its
    /readyz passes) when this yields; stopped at the end: SIGTERM, then SIGKILL to its
    process group after 60 seconds."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="peelian-load-") as folder:
        log = Path(folder) / "serve.log"
        command = [
            sys.executable, "-c", "from peelian.cli import app; app(prog_name='peelian')",
            "serve", "--hub", str(hub), "--state", state_url, "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--no-secure-cookies",
        ]  # fmt: skip
        with log.open("wb") as err:
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
        server = Server(f"http://127.0.0.1:{port}", process, log)
        try:
            _wait_ready(server, ready_seconds)
            yield server
        finally:
            server.cpu_seconds()  # the worker pids, for the check that they are gone
            _stop(server)


def _wait_ready(server: Server, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise LoadError(f"the server stopped before it was ready:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base}/readyz", timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise LoadError(f"the server was not ready in {seconds:.0f} s:\n{server.log_tail()}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)  # uvicorn stops each worker
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)  # the group it was started in
            server.process.wait(timeout=30)
    server.exit_code = server.process.returncode


def process_tree(pid: int) -> dict[int, float] | None:
    """CPU seconds (user + system) of process `pid` and each of its live descendants,
    from /proc; None where there is no /proc (not Linux)."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (name) "
        number = int(stat.parent.name)
        parent[number] = int(fields[1])
        cpu[number] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    tree: dict[int, float] = {}
    todo = [pid]
    while todo:
        at = todo.pop()
        if at in cpu and at not in tree:
            tree[at] = cpu[at]
            todo.extend(child for child, up in parent.items() if up == at)
    return tree


# -- accounts and tokens ---------------------------------------------------------------------------


@contextmanager
def officer_tokens(state_url: str) -> Iterator[dict[str, tuple[str, str]]]:
    """An API token for the first enabled account of each role in OFFICER_ROLES, as
    role -> (username, token); the tokens are revoked at the end."""
    from peelian.state import State

    wanted = [role for role, _, _ in OFFICER_ROLES]
    with State.open(state_url) as state:
        accounts = sorted(
            (a for a in state.accounts.users() if a.role in wanted and not a.disabled),
            key=lambda a: a.username,
        )
        chosen: dict[str, str] = {}
        for account in accounts:
            chosen.setdefault(account.role, account.username)
        if not chosen:
            raise LoadError(
                "the state database has no enabled response officer, investigator or "
                "intelligence analyst account to act as: add one with `peelian users add`"
            )
        tokens, ids = {}, []
        for role, username in chosen.items():
            token, info = state.accounts.create_token(username, TOKEN_NAME, by=TOKEN_BY, days=1)
            tokens[role] = (username, token)
            ids.append(info.id)
    try:
        yield tokens
    finally:
        with State.open(state_url) as state:
            for token_id in ids:
                state.accounts.revoke_token(token_id, by=TOKEN_BY)


# -- the run ---------------------------------------------------------------------------------------


class Connections:
    """The officers' way to the server: a few httpx clients of at most PER_CLIENT
    connections each, officer n using client n mod their number. httpcore's pool does
    work that grows with the square of its connections at every request, so a single
    client of thousands of connections stalls the event loop under load; and a client's
    requests are capped at its connections here, so that none queues inside the pool.
    A request that waits for a connection waits as the officer would: in its latency."""

    def __init__(self, base: str, total: int, timeout: float) -> None:
        per_client = max(1, min(PER_CLIENT, total))
        count = math.ceil(total / per_client)
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        tls = ssl.create_default_context()  # plain http; made once, not once per client
        self.clients = [
            httpx.AsyncClient(
                base_url=base, timeout=httpx.Timeout(timeout), limits=limits, verify=tls
            )
            for _ in range(count)
        ]
        self.slots = [asyncio.Semaphore(per_client) for _ in range(count)]
        self.total = per_client * count

    async def get(
        self, number: int, url: str, params: dict[str, str], headers: dict[str, str]
    ) -> httpx.Response:
        at = number % len(self.clients)
        async with self.slots[at]:
            return await self.clients[at].get(url, params=params, headers=headers)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


async def ask(
    connections: Connections, officer: Officer, kind: str, queries: Queries, timeout: float
) -> tuple[float | None, str]:
    """One request of `kind` as `officer`: (seconds from asked to the body read, or to
    giving up after `timeout`; None for another failure, such as a refused connection;
    the status, or the failure's name)."""
    headers = {"Authorization": f"Bearer {officer.token}", "X-Purpose": officer.purpose}
    if kind == "profile":
        url, params = f"/api/v1/entities/{officer.rng.choice(officer.found)}", {}
    else:
        text = queries.text(kind, officer.rng)
        limit = QUICK_LIMIT if kind in ("name+dob", "plate") else 10
        url, params = "/api/v1/search", {"q": text, "limit": str(limit)}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            answer = await connections.get(officer.number, url, params, headers)
    except TimeoutError:
        return time.perf_counter() - started, "Timeout"
    except httpx.TimeoutException as exc:
        return time.perf_counter() - started, type(exc).__name__
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    seconds = time.perf_counter() - started
    if kind != "profile" and answer.status_code == 200:
        ids = [h["id"] for h in answer.json().get("hits", []) if not h["id"].startswith("doc:")]
        officer.found = ids or officer.found  # nothing new: the earlier results stay
    return seconds, str(answer.status_code)


async def _watch_loop(lags: list[float], stop: asyncio.Event) -> None:
    """How late the event loop wakes up: a busy generator measures late answers."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asked = loop.time()
        await asyncio.sleep(LAG_TICK)
        lags.append(max(0.0, loop.time() - asked - LAG_TICK))


async def _officers(
    base: str,
    officers: list[Officer],
    queries: Queries,
    *,
    think: float,
    ramp: float,
    seconds: float,
    connections: int,
    timeout: float,
) -> tuple[Tally, list[float], Counter[str]]:
    loop = asyncio.get_running_loop()
    tally = Tally()
    lags: list[float] = []
    stop = asyncio.Event()
    start = loop.time()
    measure_from, stop_at = start + ramp, start + ramp + seconds
    way = Connections(base, min(connections, len(officers)), timeout)
    counts: Counter[str] = Counter()  # every request and answer, the ramp's too

    async def officer_loop(officer: Officer, first: float) -> None:
        await asyncio.sleep(first)
        while (now := loop.time()) < stop_at:
            kind = officer.next_kind()
            took, outcome = await ask(way, officer, kind, queries, timeout)
            counts["asked"] += 1
            counts["answered"] += outcome.isdigit()
            if now >= measure_from:
                tally.add(kind, took, outcome)
            pause = think_time(officer.rng, think)
            await asyncio.sleep(min(pause, max(0.0, stop_at - loop.time())))

    watcher = asyncio.create_task(_watch_loop(lags, stop))
    try:
        starts = start_times(len(officers), ramp)
        await asyncio.gather(*(officer_loop(o, t) for o, t in zip(officers, starts, strict=True)))
    finally:
        stop.set()
        await watcher
        await way.aclose()
    return tally, lags, counts


def run_load(
    hub: Path,
    *,
    state_url: str,
    users: int = 8000,
    think: float = 30.0,
    seconds: float = 300.0,
    workers: int = 2,
    ramp: float | None = None,
    port: int = 0,
    connections: int = CONNECTIONS,
    timeout: float = TIMEOUT,
    seed: int = 0,
) -> LoadResult:
    """Serve `hub` with `workers` processes and run `users` officers against it for
    `seconds` after a ramp of `ramp` seconds (default: one think time), through at
    most `connections` connections; a request not answered in `timeout` seconds is a
    failure.

    Example:

        result = run_load(Path("demo/hub"), state_url="demo/hub/state.db", users=500,
                          think=5, seconds=60)
        for table in result_tables(result):
            rich.print(table)
    """
    ramp = think if ramp is None else ramp
    queries = queries_from_hub(hub, seed=seed)
    load_before = _load_average()
    with officer_tokens(state_url) as tokens:
        officers = make_officers(users, tokens, seed=seed)
        with serving(hub, state_url=state_url, workers=workers, port=port) as server:
            server_cpu = server.cpu_seconds()
            cpu, wall = time.process_time(), time.perf_counter()
            tally, lags, counts = asyncio.run(
                _officers(
                    server.base, officers, queries, think=think, ramp=ramp,
                    seconds=seconds, connections=connections, timeout=timeout,
                )
            )  # fmt: skip
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            server_after = server.cpu_seconds()
            load_after = _load_average()
    return LoadResult(
        officers=users, think=think, ramp=ramp, window=seconds, workers=workers,
        connections=min(connections, users), accounts=sorted({u for u, _ in tokens.values()}),
        tally=tally, asked=counts["asked"], answered=counts["answered"], generator_cpu=cpu,
        server_cpu=_used(server_cpu, server_after),
        loop_lag=lags, wall=wall, load_before=load_before, load_after=load_after,
        server_exit=server.exit_code, server_pids=sorted(server.pids),
    )  # fmt: skip


async def _phase(
    way: Connections,
    officers: list[Officer],
    queries: Queries,
    rate: float,
    seconds: float,
    timeout: float,
) -> tuple[Tally, list[float], float, float]:
    """Searches at `rate` per second for `seconds`, open loop; (tally, lateness of
    each send, seconds the sending took, seconds until the last answer)."""
    loop = asyncio.get_running_loop()
    tally = Tally()
    late: list[float] = []
    tasks = []

    async def one(officer: Officer) -> None:
        kind = officer.next_search()
        took, outcome = await ask(way, officer, kind, queries, timeout)
        tally.add(kind, took, outcome)

    start = loop.time()
    for i in range(max(1, round(rate * seconds))):
        due = start + i / rate
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
        late.append(max(0.0, loop.time() - due))
        tasks.append(asyncio.create_task(one(officers[i % len(officers)])))
    sending = loop.time() - start
    await asyncio.gather(*tasks)
    return tally, late, sending, loop.time() - start


def run_find_max(
    hub: Path,
    *,
    state_url: str,
    workers: int = 2,
    rates: Sequence[float] = FIND_MAX_RATES,
    phase_seconds: float = 20.0,
    port: int = 0,
    connections: int = CONNECTIONS,
    timeout: float = TIMEOUT,
    seed: int = 0,
) -> FindMaxResult:
    """Serve `hub` and offer searches at each of `rates` per second in turn, for
    `phase_seconds` each, until a phase fails (p95 over 300 ms, or an error)."""
    queries = queries_from_hub(hub, seed=seed)
    load_before = _load_average()
    phases: list[Phase] = []
    with officer_tokens(state_url) as tokens:
        officers = make_officers(connections, tokens, seed=seed)
        with serving(hub, state_url=state_url, workers=workers, port=port) as server:

            async def phases_in_turn() -> None:
                way = Connections(server.base, connections, timeout)
                try:
                    for rate in rates:
                        server_cpu, cpu = server.cpu_seconds(), time.process_time()
                        tally, late, sending, wall = await _phase(
                            way, officers, queries, rate, phase_seconds, timeout
                        )
                        server_after = server.cpu_seconds()
                        phases.append(
                            Phase(
                                rate, sending, wall, tally, late, time.process_time() - cpu,
                                _used(server_cpu, server_after),
                            )
                        )  # fmt: skip
                        if not phases[-1].passed:
                            return
                        await asyncio.sleep(1)  # the last answers' work done
                finally:
                    await way.aclose()

            asyncio.run(phases_in_turn())
            load_after = _load_average()
    return FindMaxResult(
        phases, phase_seconds, workers, connections, sorted({u for u, _ in tokens.values()}),
        load_before=load_before, load_after=load_after, server_exit=server.exit_code,
        server_pids=sorted(server.pids),
    )  # fmt: skip


def _used(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def _load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


# -- the tables ------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def _stopped(code: int | None) -> str:
    """How the server ended (a negative code: the signal that ended it)."""
    if code is None:
        return "still running"
    if code < 0:
        return f"stopped by {signal.Signals(-code).name}"
    return f"stopped, exit code {code}"


def _errors(errors: Counter[str]) -> str:
    return ", ".join(f"{k}: {n}" for k, n in errors.most_common()) or "0"


def machine(before: tuple[float, ...] | None, after: tuple[float, ...] | None) -> str:
    load = (
        f"; load average (1 min) {before[0]:.2f} before, {after[0]:.2f} after"
        if before and after
        else ""
    )
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}{load}"


def result_tables(result: LoadResult) -> list[Table]:
    """The figures of a run: by kind, then the run as a whole."""
    tally, window = result.tally, result.window
    kinds = Table(
        title=f"{result.officers:,} officers, think {result.think:g} s, {window:g} s measured "
        f"after a {result.ramp:g} s ramp",
        caption="latency: from asked to the answer's body read; a request given up on "
        f"(Timeout, after {TIMEOUT:g} s) counts at the time it was given up",
    )
    for name in ("kind", "requests", "share", "answered/s", "p50 ms", "p95 ms", "p99 ms",
                 "max ms", "errors"):  # fmt: skip
        kinds.add_column(name, justify="left" if name in ("kind", "errors") else "right")
    total = tally.requests()
    for label, only in [(k, (k,)) for k in MIX] + [("searches", SEARCH_KINDS), ("all", None)]:
        count, times = tally.requests(only), tally.times(only)
        kinds.add_row(
            label, f"{count:,}", f"{count / total:.0%}" if total else "-",
            f"{tally.answered(only) / window:.1f}", _ms(percentile(times, 0.5)),
            _ms(percentile(times, 0.95)), _ms(percentile(times, 0.99)),
            _ms(max(times, default=math.nan)), _errors(tally.errors(only)),
        )  # fmt: skip
    run = Table(title="the run", show_header=False)
    run.add_column("what")
    run.add_column("figure")
    offered = result.officers / result.think if result.think > 0 else math.inf
    answered = max(result.answered, 1)
    server_cpu = (
        "-"
        if result.server_cpu is None
        else f"{result.server_cpu:.1f} s ({result.server_cpu / result.wall:.0%} of one core; "
        f"{1000 * result.server_cpu / answered:.1f} ms an answer)"
    )
    rows = [
        (
            "officers",
            f"{result.officers:,} as {', '.join(result.accounts)}, "
            f"sharing {result.connections} connections",
        ),
        (
            "duration",
            f"{window:g} s measured (+ {result.ramp:g} s ramp); in all {result.wall:.0f} s, "
            f"{result.asked:,} requests, {result.answered:,} answered",
        ),
        (
            "throughput",
            f"{tally.answered() / window:.1f} answers/s ({tally.answered(ok=True) / window:.1f} "
            f"OK), {tally.answered(SEARCH_KINDS, ok=True) / window:.1f} searches/s OK; "
            f"{total / window:.1f} requests/s asked ({offered:.1f} if answered at once)",
        ),
        ("errors", _errors(tally.errors())),
        ("server", f"{result.workers} workers; CPU {server_cpu}; {_stopped(result.server_exit)}"),
        (
            "generator CPU",
            f"{result.generator_cpu:.1f} s ({result.generator_cpu / result.wall:.0%} of one core; "
            f"{1000 * result.generator_cpu / max(result.asked, 1):.1f} ms a request); "
            "one process, one event loop",
        ),
        (
            "generator loop lag",
            f"p99 {_ms(percentile(result.loop_lag, 0.99))} ms, "
            f"max {_ms(max(result.loop_lag, default=math.nan))} ms",
        ),
        ("machine", machine(result.load_before, result.load_after)),
    ]
    times = tally.times()
    figures = {
        "p95 <= 300 ms": _ms(percentile(times, 0.95)) + " ms",
        "p99 <= 1 s": _ms(percentile(times, 0.99)) + " ms",
        "zero errors": f"{sum(tally.errors().values())} errors",
    }
    for target, ok in result.met.items():
        rows.append((target, f"{'met' if ok else 'NOT met'} ({figures[target]})"))
    for row in rows:
        run.add_row(*row)
    return [kinds, run]


def find_max_tables(result: FindMaxResult) -> list[Table]:
    """The phases of --find-max, then the highest rate that held."""
    table = Table(
        title=f"searches at fixed rates, open loop, {result.phase_seconds:g} s each",
        caption="late: how far behind its schedule the generator sent a request; CPU: share "
        "of one core over the phase",
    )
    for name in ("offered /s", "sent /s", "answered", "p50 ms", "p95 ms", "p99 ms", "errors",
                 "late p95 ms", "generator CPU", "server CPU", "held"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("errors", "held") else "right")
    for phase in result.phases:
        times = phase.tally.times()
        wall = phase.wall or 1.0
        table.add_row(
            f"{phase.rate:g}", f"{phase.tally.requests() / (phase.seconds or 1.0):.1f}",
            f"{phase.tally.answered():,}", _ms(percentile(times, 0.5)), _ms(phase.p95),
            _ms(percentile(times, 0.99)), _errors(phase.tally.errors()),
            _ms(percentile(phase.late, 0.95)), f"{phase.generator_cpu / wall:.0%}",
            "-" if phase.server_cpu is None else f"{phase.server_cpu / wall:.0%}",
            "yes" if phase.passed else "no",
        )  # fmt: skip
    summary = Table(title="the most searches per second", show_header=False)
    summary.add_column("what")
    summary.add_column("figure")
    best = result.best
    summary.add_row(
        "highest rate with p95 <= 300 ms and no errors",
        f"{best.rate:g} searches/s" if best else "none: the lowest rate already failed",
    )
    if result.phases and result.phases[-1].passed:
        summary.add_row("note", "every rate held: the limit is higher than the last rate tried")
    summary.add_row(
        "server",
        f"{result.workers} workers, {_stopped(result.server_exit)}; "
        f"{result.connections} connections; accounts {', '.join(result.accounts)}",
    )
    summary.add_row("machine", machine(result.load_before, result.load_after))
    return [table, summary]
