"""Retention (MoPI): the schedule and its checks, the rules (groups, clear periods,
age 100, children under 10, crime records), the review list, disposal with its
audit tombstone (SQLite and PostgreSQL), and a disposed record gone from the hub
after a refresh while a resending extract keeps it out."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import tantivy
import yaml
from typer.testing import CliRunner

import peelian.cli_retention  # noqa: F401  (registers `peelian retention`)
from peelian.cli import app
from peelian.govern.retention import (
    DisposalPlan,
    Period,
    RetentionRow,
    ScheduleError,
    assess,
    load_schedule,
    parse_period,
    parse_schedule,
    plan_disposal,
    review,
)
from peelian.hub import Hub
from peelian.index.build import open_current
from peelian.ingest import ingest_mapping
from peelian.resolve.entities import TABLES as ENTITY_TABLES
from peelian.sources.mapping import load_mappings
from peelian.state import State
from tests.state.conftest import postgres_server, state, state_url  # noqa: F401

DAY = dt.date(2024, 1, 1)
runner = CliRunner()


# ------------------------------------------------------------------ a tiny hub


class TinyHub:
    """A hub written row by row: records, people on them and crimes, so that each
    rule can be tested on exactly the facts it needs."""

    def __init__(self, path: Path) -> None:
        self.hub = Hub(path, create=True)
        self.con = self.hub.con
        self.con.execute(ENTITY_TABLES)
        self.n = 0

    def close(self) -> None:
        self.hub.close()

    def record(self, source: str, record_id: str, day: dt.date | None) -> None:
        occurred = None if day is None else dt.datetime.combine(day, dt.time(12), dt.UTC)
        self.con.execute(
            """INSERT INTO source_rows (source, record_id, row_id, raw, content_hash, marking,
                                        occurred, extract_time, ingested_at, run_id)
               SELECT $s, $r, $r, '{}', 'h', 'OFFICIAL', $o, $o, $o, 'run'
               WHERE NOT EXISTS (SELECT 1 FROM source_rows WHERE source = $s AND record_id = $r)""",
            {"s": source, "r": record_id, "o": occurred},
        )

    def _mention(self, source: str, record_id: str, slot: str, kind: str) -> str:
        self.n += 1
        mention = f"{source}:{record_id}:{slot}{self.n}"
        self.con.execute(
            "INSERT INTO mentions (mention_id, source, record_id, row_id, slot, kind, event_type,"
            " run_id) VALUES ($m, $s, $r, $r, $slot, $k, $e, 'run')",
            {
                "m": mention,
                "s": source,
                "r": record_id,
                "slot": slot,
                "k": kind,
                "e": slot if kind == "event" else None,
            },
        )
        return mention

    def event(
        self,
        source: str,
        record_id: str,
        day: dt.date,
        *,
        event_type: str = "crime",
        **attributes: str,
    ) -> str:
        """An event (a crime by default) with attributes such as offence_code."""
        self.record(source, record_id, day)
        mention = self._mention(source, record_id, event_type, "event")
        self.con.execute(
            "INSERT INTO event (mention_id, event_type, occurred, attributes)"
            " VALUES ($m, $t, $o, map($k, $v))",
            {
                "m": mention,
                "t": event_type,
                "o": dt.datetime.combine(day, dt.time(12), dt.UTC),
                "k": list(attributes),
                "v": list(attributes.values()),
            },
        )
        return mention

    def person(
        self,
        entity: str,
        source: str,
        record_id: str,
        day: dt.date,
        *,
        role: str | None = None,
        event: str | None = None,
        refers_to: tuple[str, str] | None = None,
        dob: dt.date | None = None,
        age: int | None = None,
        markers: list[str] | None = None,
    ) -> str:
        """A mention of person `entity` on a record, party to `event` in `role`."""
        self.record(source, record_id, day)
        mention = self._mention(source, record_id, "nominal", "person")
        self.con.execute(
            "INSERT INTO person (mention_id, date_of_birth, age, warning_markers)"
            " VALUES ($m, $dob, $age, $markers)",
            {"m": mention, "dob": dob, "age": age, "markers": markers},
        )
        self.con.execute(
            "INSERT INTO entity_membership VALUES ($m, 'person', $e)", {"m": mention, "e": entity}
        )
        if dob is not None:
            self.con.execute(
                "DELETE FROM golden_values WHERE entity_id = $e AND field = 'date_of_birth'",
                {"e": entity},
            )
            self.con.execute(
                "INSERT INTO golden_values VALUES ($e, 'person', 'date_of_birth', $v, true,"
                " [$m], [$s], 50, 1, NULL)",
                {"e": entity, "v": dob.isoformat(), "m": mention, "s": source},
            )
        if role is not None:
            self.link(mention, "PARTY_TO", role=role, to=event, refers_to=refers_to)
        return mention

    def link(
        self,
        from_mention: str,
        kind: str,
        *,
        role: str | None = None,
        to: str | None = None,
        refers_to: tuple[str, str] | None = None,
    ) -> None:
        source, record_id = from_mention.split(":")[:2]
        self.n += 1
        self.con.execute(
            "INSERT INTO links (link_id, source, record_id, row_id, type, from_mention, to_mention,"
            " to_ref_source, to_ref_id, role, run_id)"
            " VALUES ($id, $s, $r, $r, $t, $f, $to, $rs, $ri, $role, 'run')",
            {
                "id": f"link{self.n}",
                "s": source,
                "r": record_id,
                "t": kind,
                "f": from_mention,
                "to": to,
                "rs": refers_to[0] if refers_to else None,
                "ri": refers_to[1] if refers_to else None,
                "role": role,
            },
        )

    def crime(
        self,
        record_id: str,
        day: dt.date,
        code: str | None = None,
        suspect: str | None = None,
        **attributes: str,
    ) -> str:
        """A crime record with an offence code and, optionally, a suspect entity on it."""
        if code is not None:
            attributes["offence_code"] = code
        event = self.event("crime", record_id, day, **attributes)
        if suspect is not None:
            self.person(suspect, "crime", record_id, day, role="suspect", event=event)
        return event


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[TinyHub]:
    made = TinyHub(tmp_path / "hub")
    yield made
    made.close()


def rows(tiny: TinyHub, as_of: dt.date, schedule: Any = None) -> dict[str, RetentionRow]:
    """Every assessed row (any due day), by id."""
    assess(tiny.con, as_of, schedule)
    got = tiny.con.execute(
        "SELECT kind, id, grp, group_name, last_noticed, age, due, action, reason FROM retention"
    ).fetchall()
    return {r[1]: RetentionRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in got}


def default_data() -> dict[str, Any]:
    text = resources.files("peelian.reference").joinpath("retention.yaml").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def schedule_with(change: Any) -> Any:
    data = copy.deepcopy(default_data())
    change(data)
    return parse_schedule(data, "force.yaml")


# ------------------------------------------------------------------ schedule


def test_the_default_schedule_puts_offences_in_groups_by_code_subgroup_and_crime_type() -> None:
    schedule = load_schedule()
    assert sorted(schedule.groups) == [1, 2, 3]
    assert schedule.group_of(offence_code="19C") == 1  # rape: subgroup in group 1
    assert schedule.group_of(offence_code="5d") == 1  # named in group 1 over its subgroup
    assert schedule.group_of(offence_code="8N") == 2  # violence with injury
    assert schedule.group_of(offence_code="46") == 3  # shoplifting: the default group
    assert schedule.group_of(offence_code="ZZ9") == 3  # a code nobody knows
    assert schedule.group_of(crime_type="robbery") == 2
    assert schedule.group_of(crime_type="shoplifting") == 3
    assert schedule.groups[1].rule.retain_to_age == 100
    assert schedule.groups[3].rule.clear_period == Period(months=72)


def test_a_force_points_at_its_own_schedule_file(tmp_path: Path) -> None:
    data = default_data()
    data["groups"][3]["clear_period"] = "5y"
    own = tmp_path / "force-retention.yaml"
    own.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_schedule(own).groups[3].rule.clear_period == Period(months=60)
    with pytest.raises(ScheduleError, match=r"missing\.yaml: can't read the schedule"):
        load_schedule(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [1, 2\n", encoding="utf-8")
    with pytest.raises(ScheduleError, match=r"bad\.yaml: not valid YAML"):
        load_schedule(bad)


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key) if key.isdigit() else key]
        node[int(last) if last.isdigit() else last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("format", "v2"), r"format: expected 'peelian-retention/1', got 'v2'"),
        (_set("groups.3.clear_perod", "6y"), r"groups\.3: unknown key 'clear_perod'"),
        (_set("groups.3.clear_period", "6 years"), r"groups\.3\.clear_period: expected a period"),
        (_set("groups.2.offences", [4.10]), r"groups\.2\.offences\[0\]: expected a code in quotes"),
        (_set("groups.2.offences", ["19C", "2"]), r"'2' is already in group 1"),
        (_set("groups.2.subgroups", ["Violence"]), r"groups\.2\.subgroups: expected Home Office"),
        (_set("groups.2.crime_types", ["violence"]), r"groups\.2\.crime_types: expected police"),
        (_set("groups.2.markers", ["PDP"]), r"'PDP' is already in group 1"),
        (_set("groups.3.then", "delete"), r"groups\.3\.then: expected review or dispose"),
        (_set("groups.3", {"name": "x", "then": "dispose"}), r"groups\.3: a rule needs"),
        (_set("groups.2", {"name": "x", "clear_period": "1y"}), r"groups\.2\.then: missing"),
        (_set("groups.1.retain_to_age", 1000), r"retain_to_age: expected a whole number"),
        (_set("default_group", 4), r"default_group: expected one of the groups \(1, 2, 3\)"),
        (_set("undetected.4", {"review_every": "1y"}), r"undetected\.4: expected one of"),
        (_set("undetected.1.retain_to_age", 100), r"undetected\.1: unknown key"),
        (_set("children.under_age", "ten"), r"children\.under_age: expected a whole number"),
        (_set("offender_roles", []), r"offender_roles: expected the link roles"),
    ],
)
def test_schedule_errors_name_the_file_the_key_and_what_was_expected(
    change: Any, message: str
) -> None:
    with pytest.raises(ScheduleError, match=r"^force\.yaml: .*" + message):
        schedule_with(change)


def test_periods() -> None:
    assert parse_period("10y") == Period(months=120)
    assert parse_period(" 18M ") == Period(months=18)
    assert parse_period("2w") == Period(days=14)
    assert parse_period("90d").words() == "90-day"
    assert Period(months=1).after(dt.date(2024, 1, 31)) == dt.date(2024, 2, 29)
    assert Period(months=12).after(dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)
    for bad in ("10", "y", "0d", "1.5y", "ten years"):
        with pytest.raises(ValueError, match="is not a period"):
            parse_period(bad)


# ------------------------------------------------------------------ the rules


def test_the_highest_group_of_a_persons_offences_wins(tiny: TinyHub) -> None:
    tiny.crime("C1", dt.date(2015, 3, 1), "46", suspect="P1")  # shoplifting: group 3
    tiny.crime("C2", dt.date(2014, 6, 1), "8N", suspect="P1")  # assault with injury: group 2
    tiny.crime("C3", dt.date(2016, 1, 1), "49", suspect="P2")  # other theft: group 3
    got = rows(tiny, DAY)
    assert (got["P1"].group, got["P1"].action, got["P1"].due) == (2, "review", dt.date(2025, 3, 1))
    assert "8N Assault with injury on 2014-06-01" in got["P1"].reason
    assert (got["P2"].group, got["P2"].action, got["P2"].due) == (3, "dispose", dt.date(2022, 1, 1))
    tiny.crime("C4", dt.date(2015, 1, 1), "19C", suspect="P1")  # rape: group 1
    assert rows(tiny, DAY)["P1"].group == 1


def test_a_victim_or_witness_only_takes_the_default_group(tiny: TinyHub) -> None:
    crime = tiny.crime("C1", dt.date(2015, 3, 1), "8N")
    tiny.person("P1", "crime", "C1", dt.date(2015, 3, 1), role="victim", event=crime)
    row = rows(tiny, DAY)["P1"]
    assert (row.group, row.action, row.due) == (3, "dispose", dt.date(2021, 3, 1))
    assert "not recorded as an offender or suspect" in row.reason


def test_the_clear_period_restarts_when_the_person_comes_to_notice_again(tiny: TinyHub) -> None:
    tiny.crime("C1", dt.date(2010, 1, 1), "46", suspect="P1")
    assert rows(tiny, DAY)["P1"].due == dt.date(2016, 1, 1)
    # any later record about them restarts it: here a call they made
    call = tiny.event("incidents", "I9", dt.date(2014, 6, 1), event_type="incident")
    tiny.person("P1", "incidents", "I9", dt.date(2014, 6, 1), role="reporter", event=call)
    row = rows(tiny, DAY)["P1"]
    assert (row.last_noticed, row.due, row.action) == (
        dt.date(2014, 6, 1),
        dt.date(2020, 6, 1),
        "dispose",
    )
    assert "last came to notice 2014-06-01; 6-year clear period ends 2020-06-01" in row.reason


def test_records_of_people_at_work_are_not_coming_to_notice(tiny: TinyHub) -> None:
    tiny.crime("C1", dt.date(2010, 1, 1), "46", suspect="P1")
    arrest = tiny.event("custody", "K1", dt.date(2023, 5, 1), event_type="arrest")
    tiny.person("P1", "custody", "K1", dt.date(2023, 5, 1), role="arresting_officer", event=arrest)
    tiny.person("P9", "custody", "K1", dt.date(2023, 5, 1), role="arresting_officer", event=arrest)
    got = rows(tiny, DAY)
    assert got["P1"].last_noticed == dt.date(2010, 1, 1)
    assert "P9" not in got  # an officer who only appears at work is not reviewed


def test_group_1_is_kept_to_age_100_and_reviewed_every_10_years(tiny: TinyHub) -> None:
    tiny.crime("C1", dt.date(2000, 1, 1), "19C", suspect="P1")
    tiny.person("P1", "crime", "C1", dt.date(2000, 1, 1), dob=dt.date(1930, 5, 1))
    row = rows(tiny, dt.date(2024, 1, 1))["P1"]
    assert (row.group, row.age, row.due, row.action) == (1, 93, dt.date(2030, 1, 1), "review")
    assert "reviewed every 10 years from then: next review 2030-01-01" in row.reason
    # after that review day the next is 2040, but the 100th birthday comes first
    row = rows(tiny, dt.date(2030, 2, 1))["P1"]
    assert (row.due, row.action) == (dt.date(2030, 5, 1), "review")
    assert "reaches age 100 on 2030-05-01: review" in row.reason
    disposing = schedule_with(_set("groups.1.then", "dispose"))
    assert rows(tiny, dt.date(2030, 2, 1), disposing)["P1"].action == "dispose"


def test_group_1_without_a_date_of_birth_is_only_reviewed(tiny: TinyHub) -> None:
    tiny.crime("C1", dt.date(2000, 1, 1), "19C", suspect="P1")
    row = rows(tiny, dt.date(2024, 1, 1))["P1"]
    assert (row.age, row.due, row.action) == (None, dt.date(2030, 1, 1), "review")
    assert "date of birth unknown, so the age 100 rule cannot apply" in row.reason
    only_age = schedule_with(_set("groups.1.review_every", None))
    row = rows(tiny, dt.date(2024, 1, 1), only_age)["P1"]
    assert (row.due, row.action) == (None, "retain")
    assert "date of birth unknown: kept until one is known" in row.reason


def test_a_child_under_10_is_not_counted_as_an_offender_and_never_disposed_of_automatically(
    tiny: TinyHub,
) -> None:
    # suspect of an assault at 8: below the age of criminal responsibility
    tiny.crime("C1", dt.date(2018, 6, 1), "8N", suspect="P1")
    tiny.person("P1", "crime", "C1", dt.date(2018, 6, 1), dob=dt.date(2010, 1, 1))
    row = rows(tiny, dt.date(2030, 1, 1))["P1"]
    assert (row.group, row.due, row.action) == (3, dt.date(2024, 6, 1), "review")
    assert "1 record(s) as a suspect before age 10 not counted" in row.reason
    assert "never disposed of automatically" in row.reason
    # without a date of birth, the age the record gives decides
    crime = tiny.crime("C2", dt.date(2019, 1, 1), "8N")
    tiny.person("P2", "crime", "C2", dt.date(2019, 1, 1), role="suspect", event=crime, age=9)
    assert rows(tiny, dt.date(2030, 1, 1))["P2"].action == "review"
    # at 12 the same offence counts
    tiny.crime("C3", dt.date(2022, 3, 1), "8N", suspect="P1")
    assert rows(tiny, dt.date(2030, 1, 1))["P1"].group == 2


def test_a_warning_marker_of_a_potentially_dangerous_person_means_group_1(
    tiny: TinyHub,
) -> None:
    tiny.crime("C1", dt.date(2015, 3, 1), "46", suspect="P1")
    tiny.person("P1", "custody", "K1", dt.date(2015, 4, 1), markers=["violent", " pdp "])
    row = rows(tiny, DAY)["P1"]
    assert row.group == 1
    assert "warning marker PDP" in row.reason


def test_an_arrest_takes_its_offence_from_its_crime_or_its_wording(tiny: TinyHub) -> None:
    tiny.crime("C9", dt.date(2020, 1, 1), "5D")  # GBH with intent: group 1
    arrest = tiny.event("custody", "K1", dt.date(2020, 1, 2), event_type="arrest")
    tiny.link(arrest, "LINKED_TO", refers_to=("crime", "C9"))
    tiny.person("P1", "custody", "K1", dt.date(2020, 1, 2), role="arrested", event=arrest)
    worded = tiny.event(
        "custody", "K2", dt.date(2020, 1, 3), event_type="arrest", offence="Assault with injury"
    )
    tiny.person("P2", "custody", "K2", dt.date(2020, 1, 3), role="arrested", event=worded)
    got = rows(tiny, DAY)
    assert got["P1"].group == 1
    assert "5D Assault with intent to cause serious harm" in got["P1"].reason
    assert got["P2"].group == 2
    # the crime is detected through the arrest, and kept while P1's record is
    assert got["crime:C9"].due == got["P1"].due
    assert "kept while the records of its offenders are (P1)" in got["crime:C9"].reason


def test_an_undetected_crime_follows_its_seriousness_from_the_day_of_the_crime(
    tiny: TinyHub,
) -> None:
    tiny.crime("C1", dt.date(2015, 3, 1), "46", outcome="investigation-complete-no-suspect")
    tiny.crime("C2", dt.date(2015, 3, 1), "8N")
    tiny.crime("C3", dt.date(2015, 3, 1), "19C")
    tiny.crime("C4", dt.date(2015, 3, 1), "46", outcome="offender-cautioned")  # detected
    got = rows(tiny, DAY)
    assert (got["crime:C1"].action, got["crime:C1"].due) == ("dispose", dt.date(2021, 3, 1))
    assert "undetected; 6-year period from the crime ends 2021-03-01" in got["crime:C1"].reason
    assert (got["crime:C2"].action, got["crime:C2"].due) == ("review", dt.date(2025, 3, 1))
    assert (got["crime:C3"].action, got["crime:C3"].due) == ("review", dt.date(2025, 3, 1))
    assert "detected, its offender not in the hub" in got["crime:C4"].reason
    assert got["crime:C4"].due == dt.date(2021, 3, 1)


def test_review_lists_what_is_due_within_the_horizon_overdue_first(tiny: TinyHub) -> None:
    tiny.crime("C1", dt.date(2017, 2, 1), "46", suspect="P1")  # dispose 2023-02-01: overdue
    tiny.crime("C2", dt.date(2018, 2, 1), "46", suspect="P2")  # dispose 2024-02-01: in 31 days
    tiny.crime("C3", dt.date(2020, 1, 1), "46", suspect="P3")  # dispose 2026: not yet
    tiny.crime("C4", dt.date(2014, 1, 15), "8N", suspect="P4")  # review 2024-01-15
    due = review(tiny.con, DAY, within=parse_period("90d"))
    assert [r.id for r in due.rows] == ["P1", "crime:C1", "P4", "crime:C4", "P2", "crime:C2"]
    assert (due.total, due.by_action) == (6, {"dispose": 4, "review": 2})
    assert due.until == dt.date(2024, 3, 31)
    people = review(tiny.con, DAY, within=parse_period("90d"), kinds=("person",), limit=2)
    assert ([r.id for r in people.rows], people.total) == (["P1", "P4"], 3)
    assert review(tiny.con, DAY, within=parse_period("3w")).total == 4


# ------------------------------------------------------------------ disposal


def test_disposing_of_an_entity_keeps_back_records_others_still_need(tiny: TinyHub) -> None:
    tiny.crime("C1", dt.date(2010, 1, 1), "46", suspect="P1")  # P1 alone
    shared = tiny.crime("C2", dt.date(2010, 2, 1), "46", suspect="P1")
    tiny.person("P2", "crime", "C2", dt.date(2010, 2, 1), role="suspect", event=shared)
    tiny.crime("C3", dt.date(2023, 6, 1), "8N", suspect="P2")  # P2 came to notice again
    plan = plan_disposal(tiny.con, DAY, entity_id="P1")
    assert isinstance(plan, DisposalPlan)
    assert plan.records == (("crime", "C1"),)
    assert [(h.record_id, h.holder) for h in plan.held] == [("C2", "P2")]
    assert plan.held[0].why == "P2: review due 2033-06-01"
    assert plan.assessment is not None
    assert plan.assessment.action == "dispose"
    everything = plan_disposal(tiny.con, DAY, entity_id="P1", include_held=True)
    assert everything.records == (("crime", "C1"), ("crime", "C2"))
    # an undetected crime keeps its record until its own time
    undetected = tiny.crime("C5", dt.date(2020, 1, 1), "8N")
    tiny.person("P3", "crime", "C5", dt.date(2020, 1, 1), role="victim", event=undetected)
    held = plan_disposal(tiny.con, dt.date(2027, 1, 1), entity_id="P3")
    assert (held.records, [h.holder for h in held.held]) == ((), ["crime:C5"])
    named = plan_disposal(tiny.con, DAY, records=[("crime", "C1")])
    assert named.records == (("crime", "C1"),)
    assert named.entity_id is None
    with pytest.raises(LookupError, match="P404 is not an entity"):
        plan_disposal(tiny.con, DAY, entity_id="P404")
    with pytest.raises(LookupError, match="no such record in this hub: crime:C404"):
        plan_disposal(tiny.con, DAY, records=[("crime", "C404")])


def test_a_disposal_is_recorded_with_a_tombstone_and_the_chain_stays_valid(
    state: State,  # noqa: F811
) -> None:
    state.append_audit("pc1", "entity.view", target="entity:P1")
    made = state.dispose_records(
        [("crime", "C2"), ("crime", "C1"), ("crime", "C1")],
        by="admin1",
        reason="MoPI review 2025/014 for Mr Smith",
        entity_id="P1",
        retention={"group": 3, "action": "dispose", "due": "2016-01-01"},
    )
    assert [(d.source, d.record_id, d.entity_id, d.by) for d in made] == [
        ("crime", "C1", "P1", "admin1"),
        ("crime", "C2", "P1", "admin1"),
    ]
    assert made[0].disposed_at.tzinfo is not None
    tombstone = state.audit_events()[-1]
    assert (tombstone.seq, tombstone.actor, tombstone.action, tombstone.target) == (
        2,
        "admin1",
        "retention.dispose",
        "entity:P1",
    )
    assert {d.audit_seq for d in made} == {tombstone.seq}
    assert tombstone.detail == {
        "entity": "P1",
        "records": [["crime", "C1"], ["crime", "C2"]],
        "count": 2,
        "retention": {"group": 3, "action": "dispose", "due": "2016-01-01"},
        "reason_sha256": hashlib.sha256(b"MoPI review 2025/014 for Mr Smith").hexdigest(),
    }
    assert "Smith" not in str(tombstone.detail)  # the reason's words stay out of the chain
    assert state.verify_audit().ok
    assert state.disposed_records() == [("crime", "C1"), ("crime", "C2")]
    assert [d.id for d in state.disposals(entity_id="P1")] == [d.id for d in made]
    assert state.disposals(entity_id="P2") == []


def test_a_disposal_is_refused_twice_and_without_a_reason(state: State) -> None:  # noqa: F811
    state.dispose_records([("custody", "K1")], by="admin1", reason="deletion request DR/9")
    with pytest.raises(ValueError, match=r"already disposed of, e\.g\. custody:K1 by admin1"):
        state.dispose_records([("custody", "K1"), ("custody", "K2")], by="a", reason="again")
    with pytest.raises(ValueError, match="non-empty reason"):
        state.dispose_records([("custody", "K3")], by="admin1", reason=" ")
    with pytest.raises(ValueError, match="at least one record"):
        state.dispose_records([], by="admin1", reason="r")
    with pytest.raises(ValueError, match="non-empty record id"):
        state.dispose_records([("custody", "")], by="admin1", reason="r")
    assert state.disposed_records() == [("custody", "K1")]
    assert [e.action for e in state.audit_events()] == ["retention.dispose"]
    assert state.verify_audit().ok


def test_the_retention_commands_check_the_account_and_their_options(
    tiny: TinyHub, tmp_path: Path
) -> None:
    tiny.crime("C1", dt.date(2010, 1, 1), "46", suspect="P1")
    tiny.close()
    hub = str(tmp_path / "hub")
    for user, role in (("admin", "administrator"), ("pc_1", "response_officer")):
        _cli(
            "users", "add", user, "--name", user, "--role", role, "--vetting", "SC",
            "--by", "admin", "--no-password", "--hub", hub,
        )  # fmt: skip
    out = _cli("retention", "review", "--hub", hub, "--user", "admin", "--as-of", "2024-01-01")
    assert "P1" in out
    assert "crime:C1" in out
    assert "dispose" in out
    failures = [
        (["review", "--user", "pc_1"], "may not review records due for retention review"),
        (["review", "--user", "admin", "--as-of", "01/01/2024"], "is not a date"),
        (["review", "--user", "admin", "--within", "3 months"], "--within: '3 months' is not"),
        (["review", "--user", "admin", "--kind", "vehicle"], "--kind is `person` or `crime`"),
        (["dispose", "--by", "admin", "--reason", "r"], "give --entity ID or one or more"),
        (["dispose", "--by", "admin", "--reason", "r", "--record", "C1"], "give SOURCE:RECORD_ID"),
        (["dispose", "--by", "admin", "--reason", "r", "--entity", "P9"], "P9 is not an entity"),
        (["dispose", "--by", "pc_1", "--reason", "r", "--entity", "P1"], "may not dispose"),
    ]
    for args, message in failures:
        result = runner.invoke(app, ["retention", *args, "--hub", hub])
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
    out = _cli(
        "retention", "dispose", "--hub", hub, "--record", "crime:C1", "--by", "admin",
        "--reason", "review 7",
    )  # fmt: skip
    assert "1 source record(s) disposed of" in out
    result = runner.invoke(
        app, ["retention", "dispose", "--hub", hub, "--record", "crime:C1", "--by", "admin",
              "--reason", "again"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "already disposed of" in result.output
    with State.open(tmp_path / "hub" / "state.db") as st:
        actions = [(e.actor, e.action, e.outcome[:7]) for e in st.audit_events()]
        assert ("admin", "retention.review", "ok") in actions
        assert ("pc_1", "retention.review", "refused") in actions
        assert ("admin", "retention.dispose", "ok") in actions
        assert st.verify_audit().ok


# ------------------------------------------------------------------ end to end


def _cli(*args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def _rows_of(hub: Hub, records: list[tuple[str, str]]) -> dict[str, int]:
    hub.con.execute("CREATE OR REPLACE TEMP TABLE wanted (source VARCHAR, record_id VARCHAR)")
    hub.con.executemany("INSERT INTO wanted VALUES (?, ?)", records)
    counts = {}
    for table in ("source_rows", "mentions", "links"):
        counts[table] = hub.con.execute(
            f"SELECT count(*) FROM {table} t SEMI JOIN wanted w"
            " ON w.source = t.source AND w.record_id = t.record_id"
        ).fetchall()[0][0]
    counts["golden_values"] = hub.con.execute(
        "SELECT count(*) FROM golden_values g, unnest(g.mentions) AS u(m)"
        " JOIN mentions x ON x.mention_id = u.m SEMI JOIN wanted w"
        " ON w.source = x.source AND w.record_id = x.record_id"
    ).fetchall()[0][0]
    return counts


@pytest.mark.slow
def test_a_disposed_entity_is_gone_from_the_hub_after_a_refresh_and_stays_out(
    resolved: Path, force: Path, tmp_path: Path
) -> None:
    hub_path = tmp_path / "hub"
    shutil.copytree(resolved, hub_path)
    _cli(
        "users", "add", "admin", "--name", "Admin", "--role", "administrator", "--vetting", "SC",
        "--by", "admin", "--password-stdin", "--hub", str(hub_path),
        stdin="a long enough passphrase\n",
    )  # fmt: skip
    with Hub(hub_path, read_only=True) as hub:
        # a suspect of a crime; --include-held below takes every record they are on
        entity = hub.con.execute(
            """SELECT min(e.entity_id) FROM entity_membership e
               JOIN links l ON l.from_mention = e.mention_id AND l.role = 'suspect'"""
        ).fetchall()[0][0]
        # the person's records (a document naming them is another's record)
        records = [
            (str(s), str(r))
            for s, r in hub.con.execute(
                """SELECT DISTINCT m.source, m.record_id FROM entity_membership e
                   JOIN mentions m USING (mention_id)
                   WHERE e.entity_id = $e AND m.source <> 'text' ORDER BY 1, 2""",
                {"e": entity},
            ).fetchall()
        ]
        before = _rows_of(hub, records)
    assert before["source_rows"] > 0
    assert before["golden_values"] > 0

    out = _cli(
        "retention", "review", "--hub", str(hub_path), "--user", "admin", "--as-of", "2040-01-01",
        "--json",
    )  # fmt: skip
    assert '"action": "dispose"' in out
    out = _cli(
        "retention", "dispose", "--hub", str(hub_path), "--entity", entity, "--by", "admin",
        "--reason", "test review 1", "--as-of", "2040-01-01", "--include-held",
    )  # fmt: skip
    assert f"{len(records)} source record(s) disposed of" in out
    with State.open(hub_path / "state.db") as st:
        assert st.disposed_records() == records
        assert st.audit_events()[-1].action == "retention.dispose"
        assert st.verify_audit().ok

    _cli("refresh", "--hub", str(hub_path), str(force / "mappings"), "--quiet")
    with Hub(hub_path, read_only=True) as hub:
        assert _rows_of(hub, records) == dict.fromkeys(before, 0)
        assert (
            hub.con.execute(
                "SELECT count(*) FROM entity_membership WHERE entity_id = $e", {"e": entity}
            ).fetchall()[0][0]
            == 0
        )
        retired = hub.con.execute(
            "SELECT event FROM entity_history WHERE entity_id = $e ORDER BY recorded_at DESC",
            {"e": entity},
        ).fetchall()[0][0]
        assert retired == "retired"
    # nor is anything of them in the search index the refresh built
    index = open_current(hub_path)
    searcher = index.index.searcher()
    everything = searcher.search(tantivy.Query.all_query(), searcher.num_docs)
    ids = {searcher.doc(address)["id"][0] for _, address in everything.hits}
    disposed = tuple(f"doc:{s}:{r}{end}" for s, r in records for end in (":", "#"))
    assert entity not in ids
    assert not [i for i in ids if i.startswith(disposed)]
    assert len(ids) > 1000

    # the sources resend the records in full extracts: they stay out, counted as disposed
    with Hub(hub_path) as hub:
        sources = {s for s, _ in records}
        for mapping in load_mappings([force / "mappings"]):
            if mapping.name in sources:
                summary = ingest_mapping(hub, mapping)
                assert summary.rows_disposed >= 1
                assert summary.rows_new == 0
        assert _rows_of(hub, records) == dict.fromkeys(before, 0)
