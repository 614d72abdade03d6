"""The live command-and-control feed on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from peelian.state import State

NOW = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)


def _incident(reference: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "reference": reference, "called": NOW - dt.timedelta(minutes=5), "grade": 1,
        "area_type": "URBAN", "opening_code": "RTC", "beat": "B1", "thrive": {"threat": "H"},
        "lat": 54.0, "lon": -2.0, "dispatched": None, "arrived": None, "closed": None,
        "resource": None, "target_minutes": 15.0, "marking": "OFFICIAL", "compartment": None,
    }  # fmt: skip
    row.update(changes)
    return row


def test_updates_replace_and_the_picture_shows_what_is_open(state: State) -> None:
    state.live_update("cad", clock=NOW, incidents=[_incident("A"), _incident("B")])
    later = NOW + dt.timedelta(minutes=10)
    state.live_update("cad", clock=later, incidents=[_incident("A", closed=later)])
    picture = state.live_picture("cad")
    assert picture is not None
    assert picture.clock == later
    assert [i["reference"] for i in picture.incidents] == ["B"]
    assert picture.incidents[0]["thrive"] == {"threat": "H"}
    assert state.live_picture() is not None
    state.live_reset("cad")
    assert state.live_picture("cad") is None


def test_a_feed_clock_does_not_go_back_and_bad_rows_are_refused(state: State) -> None:
    state.live_update("f", clock=NOW)
    with pytest.raises(ValueError, match="can't go back"):
        state.live_update("f", clock=NOW - dt.timedelta(minutes=1))
    with pytest.raises(ValueError, match="no field"):
        state.live_update("f", clock=NOW, incidents=[{"reference": "X", "colour": "red"}])
    with pytest.raises(ValueError, match="needs its resource"):
        state.live_update("f", clock=NOW, resources=[{"status": "AVAILABLE"}])
    picture = state.live_picture("f")
    assert picture is not None
    assert picture.incidents == []  # the refused batches wrote nothing
