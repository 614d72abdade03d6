"""Opening the state database: the URL, the engine, locking and migrations.

SQLite is the default (one file, WAL mode so readers never wait for the
writer, foreign keys on); PostgreSQL serves a multi-user deployment. Every
write transaction takes one lock first, `BEGIN IMMEDIATE` on SQLite and a
transaction-scoped advisory lock on PostgreSQL, so that audit appends from
several processes form one gapless chain. State writes are small and rare
next to reads, so one lock costs little and keeps the reasoning simple.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from peelian.state import audit, decisions
from peelian.state.accounts import Accounts
from peelian.state.audit import AuditEvent, AuditVerification
from peelian.state.decisions import Decision, DecisionKind
from peelian.state.disposals import Disposal, RecordKeys, RetentionNote
from peelian.state.live import LivePicture
from peelian.state.safeguarding import VulnerabilityDecision
from peelian.state.tables import audit_events

MIGRATIONS = Path(__file__).parent / "migrations"
# One advisory lock key for all state writes on PostgreSQL ("PEELIAN" in ASCII, then 1).
WRITE_LOCK_KEY = 0x5045454C49414E01
# Seconds a SQLite writer waits for another to commit before giving up.
SQLITE_BUSY_TIMEOUT = 30
POSTGRES_CONNECT_TIMEOUT = 10
# Execution option that marks a connection's transactions as writes.
_WRITE = "peelian_state_write"


class StateError(Exception):
    """The state database can't be opened (bad URL, unreachable, not migratable)."""


def database_url(url: str | Path) -> sa.URL:
    """The SQLAlchemy URL for `url`: a SQLite or PostgreSQL URL, or a file path (SQLite).

    >>> database_url("state.db").drivername
    'sqlite'
    >>> database_url("postgresql://peelian@db/peelian").drivername
    'postgresql+psycopg'
    """
    if isinstance(url, Path) or "://" not in url:
        return sa.URL.create("sqlite", database=str(Path(url).expanduser().absolute()))
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StateError(f"{url!r} is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        # Peelian ships psycopg 3; SQLAlchemy's bare default would be psycopg2.
        return parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise StateError(
            f"the state database must be SQLite or PostgreSQL, not {backend} "
            f"({parsed.render_as_string()}); e.g. sqlite:///data/state.db or "
            "postgresql+psycopg://peelian@dbhost/peelian"
        )
    return parsed


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_begin); the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_begin(con: sa.Connection) -> None:
    # IMMEDIATE takes the write lock at BEGIN, so a writer reads the last audit row
    # already holding it; reads stay DEFERRED and never wait for a writer (WAL).
    mode = "IMMEDIATE" if con.get_execution_options().get(_WRITE) else "DEFERRED"
    con.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: sa.URL) -> sa.Engine:
    """An engine for the state database, with the SQLite settings above."""
    if url.get_backend_name() == "postgresql":
        return sa.create_engine(
            url, pool_pre_ping=True, connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT}
        )
    if url.database not in (None, "", ":memory:"):
        folder = Path(url.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"can't create {folder} for the state database: {exc}") from None
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def alembic_config(
    url: str | Path | None = None, connection: sa.Connection | None = None
) -> Config:
    """Alembic's configuration, built in code: the scripts ship inside the package.

    Give a `connection` to migrate through it, or a `url` for Alembic commands
    such as `revision --autogenerate` (see migrations/env.py).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    if url is not None:
        config.attributes["url"] = database_url(url)
    return config


class State:
    """The operational state database (use `State.open`, and as a context manager).

    Example:

        with State.open("data/state.db") as state:
            state.add_decision("same", "person", "crime:C1:suspect", "custody:K7:detainee",
                               by="analyst1", reason="same PNC id on both")
            assert state.verify_audit().ok
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{_WRITE: True})
        self._audit = audit.GroupCommit(self._write)

    @classmethod
    def open(cls, url: str | Path) -> State:
        """Connect to the state database and migrate it to the latest schema.

        `url` is a `sqlite:///path` or `postgresql+psycopg://user@host/db` URL, or a
        plain file path meaning SQLite (its folder is created if missing).
        """
        parsed = database_url(url)
        state = cls(create_engine(parsed))
        shown = parsed.render_as_string(hide_password=True)
        try:
            with state._write() as con:
                command.upgrade(alembic_config(connection=con), "head")
        except sa.exc.DBAPIError as exc:
            state.close()
            raise StateError(f"can't open the state database {shown}: {exc.orig}") from None
        except CommandError as exc:
            # Typically a database migrated by a newer Peelian than this one.
            state.close()
            raise StateError(
                f"can't migrate the state database {shown}: {exc} (was it made by a newer "
                "Peelian? Upgrade this one to open it)"
            ) from None
        except Exception:
            state.close()
            raise
        return state

    @property
    def accounts(self) -> Accounts:
        """Users, teams, operations, sign-in, tokens, sessions, flagged persons."""
        return Accounts(self._write, self._read)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> State:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A write transaction holding the state write lock (see the module docstring)."""
        with self._writer.begin() as con:
            if self.dialect == "postgresql":
                con.execute(sa.select(sa.func.pg_advisory_xact_lock(WRITE_LOCK_KEY)))
            yield con

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as con:
            yield con

    # Match decisions (see decisions.py).

    def add_decision(
        self,
        kind: DecisionKind,
        entity_type: str,
        a: str,
        b: str,
        *,
        by: str,
        reason: str,
        client: str | None = None,
    ) -> Decision:
        """Record that records `a` and `b` are the same, or different, with the reason
        (audited with the `client` it came from).

        A newer decision on the same pair supersedes the active one. Raises
        ValueError for an empty reason, or when `a` and `b` are the same record.
        """
        with self._write() as con:
            return decisions.add(con, kind, entity_type, a, b, by=by, reason=reason, client=client)

    def revoke_decision(
        self, decision_id: int, *, by: str, reason: str, client: str | None = None
    ) -> Decision:
        """Revoke an active decision (it is kept, marked revoked). LookupError if unknown."""
        with self._write() as con:
            return decisions.revoke(con, decision_id, by=by, reason=reason, client=client)

    def decisions(self, entity_type: str | None = None, active_only: bool = True) -> list[Decision]:
        """Decisions oldest first, for one entity type or all; active ones unless told."""
        with self._read() as con:
            return decisions.find(con, entity_type, active_only=active_only)

    # The audit log (see audit.py).

    def append_audit(
        self,
        actor: str,
        action: str,
        *,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        purpose: str | None = None,
        client: str | None = None,
        outcome: str = "ok",
    ) -> AuditEvent:
        """Append an event to the audit chain: the one audit writer.

        Example:

            state.append_audit("pc1234", "entity.view", target="entity:P-81F2",
                               purpose="stop check", client="10.0.0.7")
        """
        prepared = audit.prepare(
            actor, action, target=target, detail=detail, purpose=purpose, client=client,
            outcome=outcome,
        )  # fmt: skip
        return self._audit.append(prepared)

    def audit_events(self, *, after: int = 0, limit: int | None = None) -> list[AuditEvent]:
        """Audit events with seq greater than `after`, oldest first."""
        with self._read() as con:
            return audit.events(con, after=after, limit=limit)

    def find_audit(self, *, limit: int = 100, **filters: Any) -> list[AuditEvent]:
        """The newest `limit` events matching `audit.matching`'s filters, newest first."""
        with self._read() as con:
            query = audit.matching(**filters).order_by(audit_events.c.seq.desc())
            return [audit.from_row(row) for row in con.execute(query.limit(limit))]

    def iter_audit(self, **filters: Any) -> Iterator[AuditEvent]:
        """Every event matching `audit.matching`'s filters, oldest first, streamed."""
        with self._read() as con:
            rows = con.execute(
                audit.matching(**filters).order_by(audit_events.c.seq),
                execution_options={"yield_per": audit.VERIFY_BATCH},
            )
            for row in rows:
                yield audit.from_row(row)

    def verify_audit(
        self, anchors: Sequence[audit.Anchor] = (), *, after: tuple[int, str] | None = None
    ) -> AuditVerification:
        """Check the whole audit chain; names the first edited, missing or moved row.
        With `anchors` (`audit.read_anchors`), also that every anchored event is still
        there with its anchored hash: rows cut off the end or a rewritten chain. With
        `after` (a seq and hash checked before), only that the event is still there
        with that hash and the events since continue the chain."""
        with self._read() as con:
            if after is not None:
                held = con.execute(
                    sa.select(audit_events.c.hash).where(audit_events.c.seq == after[0])
                ).scalar()
                if held != after[1]:
                    said = "is gone" if held is None else "no longer has the hash it had"
                    return AuditVerification(
                        False, 0, after[0], f"event {after[0]}, checked before, {said}"
                    )
            result = audit.verify(con, after=after)
            if not result.ok or not anchors:
                return result
            broken = audit.check_anchors(con, anchors)
        if broken is not None:
            return AuditVerification(False, result.checked, broken[0], broken[1])
        return dataclasses.replace(result, anchors_checked=len(anchors))

    def anchor_audit(
        self, path: Path, *, by: str, client: str | None = None
    ) -> tuple[AuditVerification, audit.Anchor | None]:
        """With the anchor file locked (overlapping runs take turns): check that its
        anchors still hold and that the chain is sound from the last of them on; if
        so, append an `audit.anchor` event and anchor it in `path` (after it is
        committed, so an anchor never names an event that isn't there). The events
        before the last anchor are checked by `verify_audit`, not here, so that a
        run costs the events since the last one. AnchorError for a bad file."""
        with audit.AnchorFile(path) as file:
            with self._read() as con:
                broken = audit.check_anchors(con, file.anchors)
                last = file.anchors[-1] if file.anchors else None
                result = (
                    AuditVerification(False, 0, broken[0], broken[1])
                    if broken is not None
                    else audit.verify(con, after=(last.seq, last.hash) if last else None)
                )
            if not result.ok:
                self.append_audit(
                    by, "audit.anchor",
                    detail={"to": str(path), "first_bad": result.first_bad_seq},
                    client=client, outcome="refused: the audit chain does not verify",
                )  # fmt: skip
                return result, None
            event = self.append_audit(
                by, "audit.anchor", detail={"to": str(path), "checked": result.checked},
                client=client,
            )  # fmt: skip
            return result, file.append(event)

    # Retention disposals (see disposals.py).

    def dispose_records(
        self,
        records: RecordKeys,
        *,
        by: str,
        reason: str,
        entity_id: str | None = None,
        retention: RetentionNote | None = None,
    ) -> list[Disposal]:
        """Dispose of source records (source, record id) under the retention schedule,
        with an audit tombstone; removed from the hub at the next refresh.

        Example:

            state.dispose_records([("crime", "61/000123/18")], by="admin1",
                                  reason="MoPI review 2025/14: group 3, 6 years clear")
        """
        from peelian.state import disposals

        with self._write() as con:
            return disposals.dispose(
                con, records, by=by, reason=reason, entity_id=entity_id, retention=retention
            )

    def disposals(self, *, entity_id: str | None = None) -> list[Disposal]:
        """Disposals oldest first (of one entity when given)."""
        from peelian.state import disposals

        with self._read() as con:
            return disposals.find(con, entity_id=entity_id)

    # The live command-and-control picture (see live.py).

    def live_update(
        self,
        feed: str,
        *,
        clock: dt.datetime,
        incidents: Iterable[Mapping[str, Any]] = (),
        resources: Iterable[Mapping[str, Any]] = (),
        speed: float = 1.0,
        description: str | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        """Apply a batch of incident and resource updates and move the feed's clock
        (`now`: when the update is written, default the wall clock)."""
        from peelian.state import live

        with self._write() as con:
            live.update(con, feed, clock=clock, incidents=incidents, resources=resources,
                        speed=speed, description=description, now=now)  # fmt: skip

    def live_picture(self, feed: str | None = None) -> LivePicture | None:
        """A feed's open incidents and resources (the latest-updated feed by default)."""
        from peelian.state import live

        with self._read() as con:
            return live.picture(con, feed)

    def live_reset(self, feed: str) -> None:
        from peelian.state import live

        with self._write() as con:
            live.reset(con, feed)

    # The vulnerability meeting's decisions (see safeguarding.py).

    def add_vulnerability_decision(
        self, entity_id: str, decision: str, *, by: str, note: str
    ) -> VulnerabilityDecision:
        """Record the meeting's decision on a person (at_risk, not_at_risk,
        already_known) with a note; audited. ValueError for a bad decision or note."""
        from peelian.state import safeguarding

        with self._write() as con:
            return safeguarding.add(con, entity_id, decision, by=by, note=note)

    def vulnerability_decisions(self, entity_id: str | None = None) -> list[VulnerabilityDecision]:
        """The standing decision per person; or every decision on `entity_id`, newest first."""
        from peelian.state import safeguarding

        with self._read() as con:
            return safeguarding.latest(con, entity_id)

    def disposed_records(self) -> list[tuple[str, str]]:
        """Every disposed (source, record id): what each refresh keeps out of the hub."""
        from peelian.state import disposals

        with self._read() as con:
            return disposals.disposed_keys(con)
