"""A replayed day in the live feed shows what the hub's records say was open."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest

from peelian.analyse.incidents import open_at
from peelian.analyse.replay import busiest_day, replay_day
from peelian.analyse.settings import load_settings
from peelian.hub import Hub
from peelian.state import State


def test_replay_matches_the_records_at_every_write(resolved: Path, tmp_path: Path) -> None:
    ticks = itertools.count()
    seen: list[dt.datetime] = []
    with Hub(resolved, read_only=True) as hub, State.open(tmp_path / "state.db") as state:
        day = busiest_day(hub.con, load_settings())

        def check(now: dt.datetime) -> None:
            seen.append(now)
            picture = state.live_picture("test")
            assert picture is not None
            assert picture.clock == now
            live = {i["reference"] for i in picture.incidents}
            recorded = {i["reference"] for i in open_at(hub.con, "kpi_incidents", now)}
            assert live == recorded
            on_duty = {r["resource"] for r in picture.resources if r["status"] != "OFF DUTY"}
            logged = {
                r[0]
                for r in hub.con.execute(
                    "SELECT resource FROM kpi_status WHERE logged <= $t "
                    "QUALIFY row_number() OVER (PARTITION BY resource ORDER BY seq DESC) = 1 "
                    "AND status <> 'OFF DUTY'",
                    {"t": now},
                ).fetchall()
            }
            assert on_duty == logged

        summary = replay_day(
            hub.con,
            state,
            day,
            speed=3 * 3600,  # three simulated hours per (fake) second
            feed="test",
            step=1.0,
            clock=lambda: float(next(ticks)),
            sleep=lambda _: None,
            on_write=check,
        )
    assert summary.incidents > 0
    assert len(seen) == 8  # 24 h at 3 h a tick
    assert seen[-1] == summary.clock


def test_replay_refuses_a_day_without_incidents(resolved: Path, tmp_path: Path) -> None:
    with (
        Hub(resolved, read_only=True) as hub,
        State.open(tmp_path / "state.db") as state,
        pytest.raises(LookupError, match="no incidents"),
    ):
        replay_day(hub.con, state, dt.date(1990, 1, 1), sleep=lambda _: None)
