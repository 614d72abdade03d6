"""Crime KPIs, harm and incident tables against independent pandas computations on the
generator's own CSV files, and the dispatch recommendation against the true travel model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from peelian.analyse import build_kpis, harm, incidents, kpis
from peelian.analyse.settings import SettingsError, load_settings, parse_settings
from peelian.hub import Hub
from peelian.reference import code_table

SETTINGS = load_settings()


@pytest.fixture(scope="module")
def kpi_hub(resolved: Path, force: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    hub_path = tmp_path_factory.mktemp("kpis") / "hub"
    shutil.copytree(resolved, hub_path)
    with Hub(hub_path) as hub:
        build_kpis(hub.con, SETTINGS, force / "sources" / "geography" / "population.csv")
    return hub_path


def _crimes_by_pandas(force: Path) -> pd.DataFrame:
    """One row per crime reference from the raw CSV, leaving out crimes with a row the
    generator broke on purpose (those are quarantined, in part or whole)."""
    raw = pd.read_csv(
        force / "sources" / "crime" / "crime_records.csv",
        dtype=str,
        keep_default_na=False,
        encoding_errors="replace",
    )
    broken = pq.read_table(force / "truth" / "broken_rows.parquet").to_pandas()
    assert not broken.empty
    raw = raw[raw["CRIME_REF"].str.match(r"^\d+/\d{6}/\d{2}$")]
    crimes = raw.groupby("CRIME_REF", sort=False).first().reset_index()
    types = code_table("police_uk_crime_types")
    outcomes = code_table("police_uk_outcomes")
    crimes["crime_type"] = crimes["CRIME_TYPE"].map(types.lookup)
    crimes["outcome"] = crimes["OUTCOME"].map(lambda v: outcomes.lookup(v) if v else None)
    recorded = pd.to_datetime(crimes["RECORDED_DATE"], format="%d/%m/%Y %H:%M", errors="coerce")
    crimes["month"] = recorded.dt.strftime("%Y-%m")
    return crimes.rename(columns={"BEAT": "area"})


def test_counts_equal_a_pandas_count_of_the_crime_file(kpi_hub: Path, force: Path) -> None:
    expected = _crimes_by_pandas(force)
    with Hub(kpi_hub, read_only=True) as hub:
        table = kpis.counts(hub.con, "kpi_crimes")
        refs = {r[0] for r in hub.con.execute("SELECT reference FROM kpi_crimes").fetchall()}
    # the hub holds the well-formed crimes; a crime whose every row was broken is quarantined
    assert refs <= set(expected["CRIME_REF"])
    assert len(refs) >= 0.97 * len(expected)
    expected = expected[expected["CRIME_REF"].isin(refs)]
    got = pd.DataFrame(table.rows, columns=table.columns)
    by = ["area", "crime_type", "month"]
    mine = got.groupby(by)["crimes"].sum().sort_index()
    theirs = expected.groupby(by).size().sort_index()
    pd.testing.assert_series_equal(mine, theirs, check_names=False, check_dtype=False)
    outcome_mine = got.groupby("outcome", dropna=False)["crimes"].sum()
    outcome_theirs = expected.groupby("outcome", dropna=False).size()
    assert outcome_mine.to_dict() == outcome_theirs.to_dict()


def test_area_rates_and_solved_rates_match_pandas(kpi_hub: Path, force: Path) -> None:
    population = pd.read_csv(force / "sources" / "geography" / "population.csv")
    detected = {
        r["code"] for r in __import__("peelian.reference", fromlist=["read_table"]).read_table(
            "outcomes") if r["detected"] == "true"
    }  # fmt: skip
    with Hub(kpi_hub, read_only=True) as hub:
        as_of = kpis.latest_month(hub.con, "kpi_crimes")
        assert as_of is not None
        start, end = kpis.period(as_of, 12)
        table = kpis.by_area(hub.con, "kpi_crimes", start, end)
        refs = {r[0] for r in hub.con.execute("SELECT reference FROM kpi_crimes").fetchall()}
    crimes = _crimes_by_pandas(force)
    crimes = crimes[crimes["CRIME_REF"].isin(refs)]
    window = crimes[(crimes["month"] >= f"{start:%Y-%m}") & (crimes["month"] < f"{end:%Y-%m}")]
    got = {r["area"]: r for r in table.as_dicts()}
    for area, group in window.groupby("area"):
        row = got[area]
        assert row["crimes"] == len(group)
        assert row["detected"] == int(group["outcome"].isin(detected).sum())
        residents = population.set_index("area")["residents"].get(area)
        if residents:
            assert row["per_1000"] == round(1000 * len(group) / residents, 2)


def test_latest_month_is_the_last_complete_one(kpi_hub: Path) -> None:
    with Hub(kpi_hub, read_only=True) as hub:
        as_of = kpis.latest_month(hub.con, "kpi_crimes")
        last = hub.con.execute("SELECT max(recorded)::DATE FROM kpi_crimes").fetchall()[0][0]
    assert as_of is not None
    assert as_of <= last.replace(day=1)


def test_trends_only_call_significant_changes() -> None:
    assert kpis._poisson_p(50, 50) == pytest.approx(1.0)
    assert kpis._poisson_p(80, 40) < 0.001
    assert kpis._verdict(80, 40, 0.0004, 0.05) == "significant rise"
    assert kpis._verdict(44, 40, 0.7, 0.05) == "no significant change"
    assert kpis._verdict(2, 1, None, 0.05) == "too few to test"
    q = kpis._adjust([0.01, 0.04, None, 0.03], True)
    assert q[2] is None
    assert all(
        v is not None and v >= p for v, p in zip(q, [0.01, 0.04, 0, 0.03], strict=False) if v
    )


def test_harm_counts_each_offence_once_with_its_weights(kpi_hub: Path) -> None:
    with Hub(kpi_hub, read_only=True) as hub:
        table, behind = harm.ranking(hub.con, "harm_offences", SETTINGS, limit=20)
        dup = hub.con.execute(
            "SELECT count(*) - count(DISTINCT (entity_id, crime_id)) FROM harm_offences"
        ).fetchall()[0][0]
        assert dup == 0
        for row in table.rows:
            person = harm.person_harm(hub.con, "harm_offences", SETTINGS, row[1])
            assert person is not None
            assert person["offences"] == row[2]
            assert person["harm_cchi"] == pytest.approx(row[3])
    totals = [r[3] for r in table.rows]
    assert totals == sorted(totals, reverse=True)
    assert totals[0] > 0
    assert all(behind[r[1]] for r in table.rows)


def test_rfg_decays_with_time_and_counts_the_window() -> None:
    import datetime as dt

    when = dt.date(2025, 1, 1)
    recent = harm.rfg([(dt.date(2024, 12, 1), 10.0), (dt.date(2024, 6, 1), 365.0)], SETTINGS, when)
    older = harm.rfg([(dt.date(2024, 1, 1), 10.0), (dt.date(2023, 6, 1), 365.0)], SETTINGS, when)
    assert recent[2] == 2
    assert recent[3] == 365.0
    assert recent[0] > older[0] > 0
    assert harm.rfg([(dt.date(2015, 1, 1), 365.0)], SETTINGS, when)[0] == 0


def test_response_kpis_match_pandas(kpi_hub: Path, force: Path) -> None:
    raw = pd.read_csv(
        force / "sources" / "command_control" / "incidents.csv",
        dtype=str,
        keep_default_na=False,
        encoding_errors="replace",
    )
    with Hub(kpi_hub, read_only=True) as hub:
        refs = {r[0] for r in hub.con.execute("SELECT reference FROM kpi_incidents").fetchall()}
        rows = hub.con.execute(
            "SELECT reference, response_minutes, breached FROM kpi_incidents"
        ).fetchall()
    raw = raw[raw["INCIDENT_NO"].isin(refs) & (raw["FIRST_ARRIVAL"] != "")]
    called = pd.to_datetime(raw["CALL_DATETIME"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    arrived = pd.to_datetime(raw["FIRST_ARRIVAL"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    minutes = ((arrived - called).dt.total_seconds() / 60).round(2)
    expected = dict(zip(raw["INCIDENT_NO"], minutes, strict=True))
    got = {r[0]: r[1] for r in rows if r[0] in expected}
    assert len(got) > 100
    assert all(got[k] == pytest.approx(v) for k, v in expected.items() if pd.notna(v))
    targets = {(t.grade, t.area_type): t.minutes for t in SETTINGS.response_targets}
    for ref, grade, area, m in zip(
        raw["INCIDENT_NO"], raw["GRADE"], raw["AREA_TYPE"], minutes, strict=True
    ):
        breached = next(r[2] for r in rows if r[0] == ref)
        target = targets.get((int(grade), area))
        assert breached == (None if target is None else bool(m > target))


def test_recommended_resources_arrive_no_later_in_most_grade_one_incidents(
    kpi_hub: Path, force: Path
) -> None:
    with Hub(kpi_hub, read_only=True) as hub:
        result = incidents.evaluate_dispatch(hub.con, SETTINGS, force / "truth")
    assert result.compared > 50
    assert result.share_no_later >= 0.8


def test_settings_errors_name_the_key() -> None:
    with pytest.raises(SettingsError, match="format"):
        parse_settings("format: other\n", "x.yaml")
    text = (Path(kpis.__file__).parents[1] / "reference" / "kpis.yaml").read_text()
    with pytest.raises(SettingsError, match=r"rfg\.half_life_days"):
        parse_settings(text.replace("half_life_days: 180", "half_life_days: -1"), "x.yaml")
    with pytest.raises(SettingsError, match="not a time zone"):
        parse_settings(text.replace("timezone: Europe/London", "timezone: Mars/Olympus"))
    with pytest.raises(SettingsError, match="not a time zone"):
        parse_settings(text.replace("timezone: Europe/London", 'timezone: "x\'; DROP"'))
    with pytest.raises(SettingsError, match="given twice"):
        parse_settings(text.replace("{grade: 1, area_type: RURAL", "{grade: 1, area_type: URBAN"))


def test_a_bad_population_file_is_refused(kpi_hub: Path, tmp_path: Path) -> None:
    bad = tmp_path / "pop.csv"
    bad.write_text("area,name,residents\nA1,One,lots\n")
    with Hub(kpi_hub) as hub, pytest.raises(kpis.PopulationError, match="line 2"):
        kpis.load_population(hub.con, bad)


def test_a_period_before_the_records_is_not_compared(kpi_hub: Path) -> None:
    with Hub(kpi_hub, read_only=True) as hub:
        first_month = hub.con.execute("SELECT min(month) FROM kpi_crimes").fetchall()[0][0]
        as_of = kpis.latest_month(hub.con, "kpi_crimes")
        assert as_of is not None
        table = kpis.trends(hub.con, "kpi_crimes", SETTINGS, as_of=as_of, months=1)
    rows = table.as_dicts()
    if kpis._shift(as_of, -12) < first_month:  # the 12-month test force
        assert {r["vs_last_year"] for r in rows} == {"no records for that period"}
        assert all(r["last_year"] is None for r in rows)
    assert all(r["vs_previous"] != "no records for that period" for r in rows)


def test_the_fleet_at_a_moment_is_what_replaying_the_status_log_leaves(kpi_hub: Path) -> None:
    import numpy as np

    with Hub(kpi_hub, read_only=True) as hub:
        con = hub.con
        first, last = con.execute("SELECT min(logged), max(logged) FROM kpi_status").fetchone()
        for step in range(6):
            when = first + (last - first) * step / 5
            fleet = incidents.fleet_at(con, "kpi_status", when)
            # the replay, row by row, as dispatch evaluation does it
            log = incidents._status_log(con, "kpi_status", when)
            names = sorted({r[1] for r in log})
            index = {n: k for k, n in enumerate(names)}
            replayed = incidents.Fleet.empty(names, [""] * len(names))
            for at, res, callsign, status, lat, lon, _ in log:
                replayed.callsigns[index[res]] = callsign or ""
                replayed.apply(index[res], status, lat, lon, at)
            assert fleet.names == replayed.names
            assert fleet.callsigns == replayed.callsigns
            assert fleet.status == replayed.status
            assert fleet.since == replayed.since
            assert np.array_equal(fleet.lat, replayed.lat, equal_nan=True)
            assert np.array_equal(fleet.lon, replayed.lon, equal_nan=True)
            assert step == 0 or len(fleet.names) > 0
