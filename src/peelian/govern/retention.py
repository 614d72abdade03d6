"""Retention (MoPI): which records are due for review or disposal, and disposing of them.

Police information is reviewed, not kept for ever. A retention *schedule*
(`reference/retention.yaml`, or a force's own file) puts every offence in a
group and gives each group its rule: group 1 (certain public protection
matters) is kept until the person is 100 and reviewed every 10 years; group 2
(other sexual, violent or serious offences) is reviewed after a 10-year clear
period; group 3 (all other offences) is disposed of after a 6-year clear
period. The clear period runs from the last time the person came to notice,
so it restarts whenever they do.

`assess(con, as_of, schedule)` works that out for the whole hub in SQL (no
Python per record, so it scales with DuckDB) into the temp table `retention`:

- one row per person entity seen other than at work: its group (the highest,
  i.e. lowest-numbered, group of the offences it is linked to as an offender or
  suspect, or of its warning markers), the last date it came to notice (any
  record about it), its age, the next due date and the action then (`review`,
  `dispose`, or `retain` when no date applies), and the reasons in plain
  English;
- one row per crime record (`SOURCE:RECORD_ID`): its group from its offence;
  an undetected crime follows the schedule's `undetected` rules from the date
  of the crime, a detected one is kept while its offenders' records are.

Children under 10 are below the age of criminal responsibility: a record of
them as a suspect is not counted for their group, and a record made while
they were under 10 turns any automatic disposal into a review.

`review(...)` lists what is due within a horizon. Disposal is a decision kept
in the state database (`State.dispose_records`, audited with a tombstone);
`plan_disposal(...)` says which source records an entity's disposal takes,
keeping those that other people's records still need, and
`apply_disposals(con, records)` removes disposed records from the hub on every
resolve (the ingest then skips them whatever an extract resends).

>>> parse_period("10y"), parse_period("90d").days
(Period(months=120, days=0), 90)
>>> load_schedule().group_of(offence_code="19C")
1
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from peelian.hub import KIND_TABLES, TEXT_SOURCE
from peelian.reference import code_table, read_table

SCHEDULE_FORMAT = "peelian-retention/1"
DEFAULT_SCHEDULE = "retention.yaml"
# The event type the mappings give crime records (docs/mappings.md).
CRIME_EVENT = "crime"
ACTIONS = ("review", "dispose")

# The hub's copy of the disposals kept in the state database: written by
# `apply_disposals` on every resolve, read by the ingest to skip those records.
DISPOSED_RECORDS = """
CREATE TABLE IF NOT EXISTS disposed_records (
    source VARCHAR NOT NULL, record_id VARCHAR NOT NULL
)
"""


class ScheduleError(ValueError):
    """A retention schedule file is unreadable or wrong; the message names the file and key."""


# ------------------------------------------------------------------ periods

_PERIOD = re.compile(r"^\s*(\d+)\s*([ymwd])\s*$", re.IGNORECASE)
_UNIT_WORDS = {"y": "year", "m": "month", "w": "week", "d": "day"}


@dataclass(frozen=True)
class Period:
    """A length of time in whole months (years are 12) or in days (weeks are 7)."""

    months: int = 0
    days: int = 0

    def words(self) -> str:
        """`10-year`, `18-month`, `90-day`: the period as an adjective, for reasons."""
        if self.months:
            if self.months % 12 == 0:
                return f"{self.months // 12}-year"
            return f"{self.months}-month"
        if self.days % 7 == 0 and self.days:
            return f"{self.days // 7}-week"
        return f"{self.days}-day"

    def after(self, day: dt.date) -> dt.date:
        """The day this period after `day` (the end of a month when it is shorter)."""
        if not self.months:
            return day + dt.timedelta(days=self.days)
        month = day.month - 1 + self.months
        year, month = day.year + month // 12, month % 12 + 1
        for last in (31, 30, 29, 28):
            try:
                return dt.date(year, month, min(day.day, last))
            except ValueError:
                continue
        raise AssertionError("unreachable: every month has 28 days")


def parse_period(text: str) -> Period:
    """`10y`, `18m`, `2w` or `90d` as a Period; ValueError otherwise.

    >>> parse_period("6y").words()
    '6-year'
    """
    match = _PERIOD.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"{text!r} is not a period: give a whole number and a unit, "
            "y (years), m (months), w (weeks) or d (days), e.g. 6y, 18m or 90d"
        )
    n, unit = int(match.group(1)), match.group(2).lower()
    if unit == "y":
        return Period(months=12 * n)
    if unit == "m":
        return Period(months=n)
    return Period(days=7 * n if unit == "w" else n)


# ----------------------------------------------------------------- schedule


@dataclass(frozen=True)
class Rule:
    """When a record falls due and what happens then.

    `clear_period`: due that long after the person last came to notice;
    `retain_to_age`: due when the person reaches that age (needs a date of birth);
    `review_every`: reviewed at each such anniversary of their last coming to notice.
    The earliest date applies; `then` is the action at a clear period's or an
    age's end (a periodic review is always a review).
    """

    clear_period: Period | None = None
    retain_to_age: int | None = None
    review_every: Period | None = None
    then: str = "review"


@dataclass(frozen=True)
class Group:
    """A retention group: its rule and the offences, subgroups, crime types and
    warning markers the schedule puts in it."""

    number: int
    name: str
    rule: Rule
    offences: tuple[str, ...] = ()
    subgroups: tuple[str, ...] = ()
    crime_types: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schedule:
    """A validated retention schedule (see `load_schedule` and docs/retention.md)."""

    path: str
    groups: Mapping[int, Group]
    default_group: int
    offender_roles: tuple[str, ...]
    staff_roles: tuple[str, ...]
    child_age: int
    child_then: str
    undetected: Mapping[int, Rule] = field(default_factory=dict)

    def offence_groups(self) -> dict[str, int]:
        """Offence code -> group: the codes each group names, then every other Home
        Office code whose subgroup a group names."""
        found: dict[str, int] = {}
        for group in self.groups.values():
            for code in group.offences:
                found[code] = group.number
        by_subgroup = {s: g.number for g in self.groups.values() for s in g.subgroups}
        for row in read_table("home_office_offence_codes"):
            code = row["offence_code"].strip().upper()
            if code not in found and row["offence_subgroup"] in by_subgroup:
                found[code] = by_subgroup[row["offence_subgroup"]]
        return found

    def group_of(self, *, offence_code: str | None = None, crime_type: str | None = None) -> int:
        """The group of one offence (by code, else by police.uk crime type slug).

        >>> load_schedule().group_of(offence_code="46"), load_schedule().group_of(
        ...     crime_type="robbery")
        (3, 2)
        """
        if offence_code:
            found = self.offence_groups().get(offence_code.strip().upper())
            if found is not None:
                return found
        if crime_type:
            for group in sorted(self.groups.values(), key=lambda g: g.number):
                if crime_type in group.crime_types:
                    return group.number
        return self.default_group

    def undetected_rule(self, group: int) -> Rule:
        """The rule for an undetected crime of `group`: the schedule's, else the group's
        own rule less its age (a crime has no age)."""
        if group in self.undetected:
            return self.undetected[group]
        own = self.groups[group].rule
        return Rule(own.clear_period, None, own.review_every, own.then)


class _Reader:
    """Checks one schedule file, naming the file and key in every error."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, expected: str, got: object) -> ScheduleError:
        return ScheduleError(f"{self.path}: {key}: expected {expected}, got {got!r}")

    def mapping(
        self, value: object, key: str, known: Iterable[str] | None = None
    ) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "a mapping (key: value lines)", value)
        if known is not None:
            unknown = sorted(str(k) for k in value if k not in set(known))
            if unknown:
                raise ScheduleError(
                    f"{self.path}: {key}: unknown key {', '.join(map(repr, unknown))}; "
                    f"the keys are {', '.join(sorted(known))}"
                )
        return value

    def strings(self, value: object, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(key, "a list of names in quotes", value)
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool | float):
                raise self.fail(
                    f"{key}[{i}]", "a code in quotes (YAML reads 4.10 as the number 4.1)", item
                )
            if isinstance(item, int):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{key}[{i}]", "a non-empty name", item)
            out.append(item.strip())
        return tuple(out)

    def whole(self, value: object, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"a whole number from {low} to {high}", value)
        return value

    def period(self, value: object, key: str) -> Period | None:
        if value is None:
            return None
        try:
            return parse_period(str(value))
        except ValueError:
            raise self.fail(key, "a period such as 6y, 18m or 90d", value) from None

    def action(self, value: object, key: str) -> str:
        if value not in ACTIONS:
            raise self.fail(key, " or ".join(ACTIONS), value)
        return str(value)

    def rule(self, value: dict[Any, Any], key: str, *, age: bool) -> Rule:
        clear = self.period(value.get("clear_period"), f"{key}.clear_period")
        review = self.period(value.get("review_every"), f"{key}.review_every")
        to_age = None
        if value.get("retain_to_age") is not None:
            to_age = self.whole(value["retain_to_age"], f"{key}.retain_to_age", 1, 150)
        if clear is None and review is None and to_age is None:
            raise ScheduleError(
                f"{self.path}: {key}: a rule needs clear_period, review_every"
                + (" or retain_to_age" if age else "")
                + " (say when records fall due)"
            )
        if "then" in value:
            then = self.action(value["then"], f"{key}.then")
        elif clear is not None or to_age is not None:
            raise ScheduleError(
                f"{self.path}: {key}.then: missing; say what happens when the "
                f"{'clear period ends' if clear else 'age is reached'}: review or dispose"
            )
        else:
            then = "review"
        return Rule(clear, to_age, review, then)


_TOP_KEYS = (
    "format",
    "offender_roles",
    "staff_roles",
    "groups",
    "default_group",
    "children",
    "undetected",
)
_GROUP_KEYS = (
    "name",
    "description",
    "clear_period",
    "retain_to_age",
    "review_every",
    "then",
    "offences",
    "subgroups",
    "crime_types",
    "markers",
)


def load_schedule(path: Path | str | None = None) -> Schedule:
    """Read and check a retention schedule: `path`, or Peelian's default.

    Raises ScheduleError naming the file, the key and what was expected.
    """
    if path is None:
        name = f"peelian/reference/{DEFAULT_SCHEDULE}"
        text = resources.files("peelian.reference").joinpath(DEFAULT_SCHEDULE).read_text("utf-8")
    else:
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ScheduleError(f"{name}: can't read the schedule: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScheduleError(f"{name}: not valid YAML: {exc}") from None
    return parse_schedule(data, name)


def parse_schedule(data: object, name: str = "schedule") -> Schedule:
    """Check a schedule already read from YAML (see `load_schedule`)."""
    r = _Reader(name)
    top = r.mapping(data, "the file", _TOP_KEYS)
    if top.get("format") != SCHEDULE_FORMAT:
        raise r.fail("format", repr(SCHEDULE_FORMAT), top.get("format"))
    raw_groups = r.mapping(top.get("groups"), "groups")
    if not raw_groups:
        raise r.fail("groups", "at least one group", raw_groups)
    subgroups = {row["offence_subgroup"] for row in read_table("home_office_offence_codes")}
    crime_types = code_table("police_uk_crime_types").codes
    groups: dict[int, Group] = {}
    seen_codes: dict[str, int] = {}
    for number, spec in raw_groups.items():
        key = f"groups.{number}"
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise r.fail(key, "groups numbered 1, 2, 3... (1 the most serious)", number)
        spec = r.mapping(spec, key, _GROUP_KEYS)
        if not isinstance(spec.get("name"), str) or not spec["name"].strip():
            raise r.fail(f"{key}.name", "the group's name", spec.get("name"))
        codes = tuple(c.upper() for c in r.strings(spec.get("offences"), f"{key}.offences"))
        for code in codes:
            if code in seen_codes:
                raise ScheduleError(
                    f"{name}: {key}.offences: {code!r} is already in group {seen_codes[code]}; "
                    "an offence belongs to one group"
                )
            seen_codes[code] = number
        named_subgroups = r.strings(spec.get("subgroups"), f"{key}.subgroups")
        for sub in named_subgroups:
            if sub not in subgroups:
                raise r.fail(
                    f"{key}.subgroups",
                    "Home Office offence subgroups (home_office_offence_codes.csv), such as "
                    "'Rape offences' or 'Violence with injury'",
                    sub,
                )
        types = r.strings(spec.get("crime_types"), f"{key}.crime_types")
        for slug in types:
            if slug not in crime_types:
                raise r.fail(
                    f"{key}.crime_types",
                    f"police.uk slugs ({', '.join(sorted(crime_types))})",
                    slug,
                )
        groups[number] = Group(
            number=number,
            name=spec["name"].strip(),
            rule=r.rule(spec, key, age=True),
            offences=codes,
            subgroups=named_subgroups,
            crime_types=types,
            markers=tuple(m.upper() for m in r.strings(spec.get("markers"), f"{key}.markers")),
        )
    for kind in ("subgroups", "crime_types", "markers"):
        owners: dict[str, int] = {}
        for group in sorted(groups.values(), key=lambda g: g.number):
            for item in getattr(group, kind):
                if item in owners:
                    raise ScheduleError(
                        f"{name}: groups.{group.number}.{kind}: {item!r} is already in group "
                        f"{owners[item]}; it belongs to one group"
                    )
                owners[item] = group.number
    default = top.get("default_group")
    if default not in groups:
        raise r.fail("default_group", f"one of the groups ({', '.join(map(str, groups))})", default)
    children = r.mapping(
        top.get("children", {"under_age": 10, "then": "review"}), "children", ("under_age", "then")
    )
    undetected: dict[int, Rule] = {}
    for number, spec in r.mapping(top.get("undetected") or {}, "undetected").items():
        key = f"undetected.{number}"
        if number not in groups:
            raise r.fail(key, f"one of the groups ({', '.join(map(str, groups))})", number)
        spec = r.mapping(spec, key, ("clear_period", "review_every", "then"))
        undetected[number] = r.rule(spec, key, age=False)
    roles = r.strings(top.get("offender_roles"), "offender_roles")
    if not roles:
        raise r.fail("offender_roles", "the link roles of offenders and suspects", roles)
    return Schedule(
        path=name,
        groups=dict(sorted(groups.items())),
        default_group=int(default),
        offender_roles=roles,
        staff_roles=r.strings(top.get("staff_roles"), "staff_roles"),
        child_age=r.whole(children.get("under_age"), "children.under_age", 0, 18),
        child_then=r.action(children.get("then"), "children.then"),
        undetected=undetected,
    )


# ----------------------------------------------------------------- assessing


@dataclass(frozen=True)
class RetentionRow:
    """One person entity or crime record: its group, when it is next due and for what.

    `id` is an entity ID (`kind` "person") or `SOURCE:RECORD_ID` ("crime");
    `last_noticed` the last day the person came to notice (for a crime, the day
    of the crime); `action` is `review`, `dispose` or `retain` (no date applies).
    """

    kind: str
    id: str
    group: int
    group_name: str
    last_noticed: dt.date | None
    age: int | None
    due: dt.date | None
    action: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "id": self.id,
            "group": self.group,
            "group_name": self.group_name,
            "last_noticed": None if self.last_noticed is None else self.last_noticed.isoformat(),
            "age": self.age,
            "due": None if self.due is None else self.due.isoformat(),
            "action": self.action,
            "reason": self.reason,
        }


_COLUMNS = "kind, id, grp, group_name, last_noticed, age, due, action, reason"
# Work tables of `assess`, dropped when it ends. `retention`, `ret_mentions` (person
# mentions with their day) and `ret_crime_offenders` stay for `plan_disposal`.
_WORK = (
    "ret_codes",
    "ret_names",
    "ret_types",
    "ret_markers",
    "ret_rules",
    "ret_roles",
    "ret_dob",
    "ret_parties",
    "ret_event_links",
    "ret_event_offence",
    "ret_offences",
    "ret_subjects",
    "ret_due",
)


def _temp_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register(f"{name}_arrow", table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    finally:
        con.unregister(f"{name}_arrow")


def _schedule_tables(con: duckdb.DuckDBPyConnection, schedule: Schedule) -> None:
    """The schedule as small temp tables for the SQL to join: reference data (a few
    hundred rows), never the records."""
    groups = schedule.offence_groups()
    codes: dict[str, tuple[int | None, str | None]] = {}
    names: dict[str, tuple[str, str, int | None]] = {}
    for row in read_table("home_office_offence_codes"):
        code = row["offence_code"].strip().upper()
        codes[code] = (groups.get(code), row["offence_description"])
        names.setdefault(
            row["offence_description"].strip().upper(),
            (code, row["offence_description"], groups.get(code)),
        )
    for code, number in groups.items():
        codes.setdefault(code, (number, None))
    _temp_table(
        con,
        "ret_codes",
        pa.table(
            {
                "code": pa.array(list(codes), pa.string()),
                "grp": pa.array([g for g, _ in codes.values()], pa.int32()),
                "description": pa.array([d for _, d in codes.values()], pa.string()),
            }
        ),
    )
    _temp_table(
        con,
        "ret_names",
        pa.table(
            {
                "name": pa.array(list(names), pa.string()),
                "code": pa.array([c for c, _, _ in names.values()], pa.string()),
                "description": pa.array([d for _, d, _ in names.values()], pa.string()),
                "grp": pa.array([g for _, _, g in names.values()], pa.int32()),
            }
        ),
    )
    types = {t: g.number for g in reversed(list(schedule.groups.values())) for t in g.crime_types}
    _temp_table(
        con,
        "ret_types",
        pa.table(
            {
                "crime_type": pa.array(list(types), pa.string()),
                "grp": pa.array(list(types.values()), pa.int32()),
            }
        ),
    )
    markers = {m: g.number for g in schedule.groups.values() for m in g.markers}
    _temp_table(
        con,
        "ret_markers",
        pa.table(
            {
                "marker": pa.array(list(markers), pa.string()),
                "grp": pa.array(list(markers.values()), pa.int32()),
            }
        ),
    )
    roles = [(r, "offender") for r in schedule.offender_roles]
    roles += [(r, "staff") for r in schedule.staff_roles if r not in schedule.offender_roles]
    _temp_table(
        con,
        "ret_roles",
        pa.table(
            {
                "role": pa.array([r for r, _ in roles], pa.string()),
                "kind": pa.array([k for _, k in roles], pa.string()),
            }
        ),
    )
    rules: list[tuple[str, int, str, Rule]] = []
    for group in schedule.groups.values():
        rules.append(("person", group.number, group.name, group.rule))
        rules.append(
            ("undetected", group.number, group.name, schedule.undetected_rule(group.number))
        )

    def months(p: Period | None) -> int:
        return p.months if p else 0

    def days(p: Period | None) -> int:
        return p.days if p else 0

    _temp_table(
        con,
        "ret_rules",
        pa.table(
            {
                "rule_kind": [k for k, _, _, _ in rules],
                "grp": pa.array([g for _, g, _, _ in rules], pa.int32()),
                "group_name": [n for _, _, n, _ in rules],
                "clear_months": pa.array([months(r.clear_period) for *_, r in rules], pa.int32()),
                "clear_days": pa.array([days(r.clear_period) for *_, r in rules], pa.int32()),
                "clear_words": pa.array(
                    [r.clear_period.words() if r.clear_period else None for *_, r in rules],
                    pa.string(),
                ),
                "to_age": pa.array([r.retain_to_age for *_, r in rules], pa.int32()),
                "review_months": pa.array([months(r.review_every) for *_, r in rules], pa.int32()),
                "review_days": pa.array([days(r.review_every) for *_, r in rules], pa.int32()),
                # "10 years", "18 months": every ..., for reasons
                "review_words": pa.array(
                    [
                        r.review_every.words().replace("-", " ") + "s" if r.review_every else None
                        for *_, r in rules
                    ],
                    pa.string(),
                ),
                "then_action": [r.then for *_, r in rules],
            }
        ),
    )


# A record's day: when it happened, else when it was extracted (a record without a
# date counts as recent, which keeps it longer rather than shorter).
_RECORD_DAY = "CAST(timezone('UTC', coalesce({}r.occurred, r.extract_time, r.ingested_at)) AS DATE)"

# Person mentions of person entities with their record's day; those in staff roles apart.
_MENTIONS = f"""
CREATE OR REPLACE TEMP TABLE ret_dob AS
SELECT entity_id, max(TRY_CAST(value AS DATE)) AS dob
FROM golden_values WHERE entity_type = 'person' AND field = 'date_of_birth' AND chosen
GROUP BY entity_id;
CREATE OR REPLACE TEMP TABLE ret_mentions AS
SELECT e.entity_id, e.mention_id, m.source, m.record_id, d.dob,
       {_RECORD_DAY.format("")} AS dated,
       p.warning_markers, s.mention_id IS NOT NULL AS staff,
       coalesce(CASE WHEN d.dob IS NOT NULL
                     THEN {_RECORD_DAY.format("")} < CAST(d.dob + to_years($child_age) AS DATE)
                     ELSE p.age < $child_age END, false) AS child
FROM entity_membership e
JOIN mentions m USING (mention_id)
JOIN source_rows r ON r.source = m.source AND r.row_id = m.row_id AND r.deleted_at IS NULL
LEFT JOIN person p ON p.mention_id = e.mention_id
LEFT JOIN ret_dob d ON d.entity_id = e.entity_id
LEFT JOIN (SELECT DISTINCT l.from_mention AS mention_id FROM links l
           JOIN ret_roles x ON x.role = l.role AND x.kind = 'staff'
           WHERE l.type = 'PARTY_TO' AND l.deleted_at IS NULL) s ON s.mention_id = e.mention_id
WHERE e.entity_type = 'person' AND m.deleted_at IS NULL
  -- a document naming someone is the document's record, not one of theirs
  AND m.source <> '{TEXT_SOURCE}'
"""

# A link's target event: a mention of the same extract, or the event of the record
# it refers to in another source (`refers_to`).
_TARGET = """LEFT JOIN mentions t
       ON l.to_mention IS NULL AND t.kind = 'event' AND t.deleted_at IS NULL
      AND t.source = l.to_ref_source AND t.record_id = l.to_ref_id"""

# The events people are offenders or suspects of, the events those are linked to
# (an arrest and its crime), and the offence each event records.
_OFFENCES = f"""
CREATE OR REPLACE TEMP TABLE ret_parties AS
SELECT DISTINCT rm.entity_id, rm.dated, rm.child, coalesce(l.to_mention, t.mention_id) AS event
FROM ret_mentions rm
JOIN links l ON l.from_mention = rm.mention_id
JOIN ret_roles x ON x.role = l.role AND x.kind = 'offender'
{_TARGET}
WHERE NOT rm.staff AND l.type = 'PARTY_TO' AND l.deleted_at IS NULL;
CREATE OR REPLACE TEMP TABLE ret_event_links AS
SELECT event, event AS offence_event
FROM (SELECT DISTINCT event FROM ret_parties WHERE event IS NOT NULL)
UNION
SELECT l.from_mention, coalesce(l.to_mention, t.mention_id)
FROM links l
{_TARGET}
WHERE l.type = 'LINKED_TO' AND l.deleted_at IS NULL
  AND l.from_mention IN (SELECT event FROM ret_parties)
  AND coalesce(l.to_mention, t.mention_id) IS NOT NULL;
CREATE OR REPLACE TEMP TABLE ret_event_offence AS
SELECT ev.mention_id AS offence_event,
       coalesce(c.code, n.code, nullif(upper(trim(ev.attributes['offence_code'])), '')) AS code,
       coalesce(c.description, n.description, nullif(trim(ev.attributes['offence']), ''))
           AS description,
       nullif(trim(ev.attributes['crime_type']), '') AS crime_type,
       coalesce(c.grp, n.grp, ty.grp) AS grp,
       -- an offence code (or wording) the Home Office table does not know
       c.code IS NULL AND n.code IS NULL AND ty.grp IS NULL
           AND (nullif(trim(ev.attributes['offence_code']), '') IS NOT NULL
                OR nullif(trim(ev.attributes['offence']), '') IS NOT NULL) AS unknown,
       ev.attributes['outcome'] AS outcome
FROM event ev
LEFT JOIN ret_codes c ON c.code = upper(trim(ev.attributes['offence_code']))
LEFT JOIN ret_names n ON n.name = upper(trim(ev.attributes['offence']))
LEFT JOIN ret_types ty ON ty.crime_type = trim(ev.attributes['crime_type'])
WHERE ev.event_type = '{CRIME_EVENT}'
   OR ev.mention_id IN (SELECT offence_event FROM ret_event_links);
CREATE OR REPLACE TEMP TABLE ret_offences AS
SELECT p.entity_id, p.event, p.dated, p.child,
       coalesce(min(o.grp), $default_group) AS grp, coalesce(bool_and(o.unknown), false) AS unknown,
       first(o.code ORDER BY o.grp NULLS LAST, o.code NULLS LAST) AS code,
       first(o.description ORDER BY o.grp NULLS LAST, o.code NULLS LAST) AS description
FROM ret_parties p
LEFT JOIN ret_event_links el ON el.event = p.event
LEFT JOIN ret_event_offence o ON o.offence_event = el.offence_event
GROUP BY ALL
"""

# What an offence reads as in a reason: "8N Assault with injury on 2024-03-01".
_OFFENCE_WORDS = """coalesce({o}.code || ' ' || {o}.description, {o}.description, {o}.code,
                   'an offence of unknown type') || ' on ' || CAST({o}.dated AS VARCHAR)"""

# One row per person (seen other than at work) and per crime record, with its group,
# the day its periods run from, and why it is in that group.
_SUBJECTS = f"""
CREATE OR REPLACE TEMP TABLE ret_subjects AS
WITH seen AS (
    SELECT entity_id, max(dated) AS last_noticed, any_value(dob) AS dob,
           bool_or(child) AS child_record
    FROM ret_mentions WHERE NOT staff GROUP BY entity_id),
offences AS (
    SELECT entity_id,
           min(grp) FILTER (WHERE NOT child) AS grp,
           first({{'code': code, 'description': description, 'dated': dated,
                   'unknown': unknown}} ORDER BY grp, unknown, dated DESC)
               FILTER (WHERE NOT child) AS top,
           count(*) FILTER (WHERE child) AS under_age
    FROM ret_offences GROUP BY entity_id),
markers AS (
    SELECT x.entity_id, min(k.grp) AS grp, first(k.marker ORDER BY k.grp, k.marker) AS marker
    FROM (SELECT entity_id, unnest(warning_markers) AS marker FROM ret_mentions
          WHERE NOT staff) x
    JOIN ret_markers k ON k.marker = upper(trim(x.marker))
    GROUP BY x.entity_id)
SELECT 'person' AS kind, s.entity_id AS id, 'person' AS rule_kind,
       coalesce(least(o.grp, k.grp), $default_group) AS grp,
       s.last_noticed, s.dob, s.child_record,
       'last came to notice ' || CAST(s.last_noticed AS VARCHAR) AS since,
       'clear period' AS period_word, 'then' AS from_words,
       concat_ws('; ',
           CASE WHEN k.grp IS NOT NULL AND k.grp <= coalesce(o.grp, k.grp)
                THEN 'warning marker ' || k.marker
                WHEN o.top IS NOT NULL
                THEN 'offender or suspect in ' || {_OFFENCE_WORDS.format(o="o.top")}
                     || CASE WHEN o.top.unknown
                             THEN ' (not a known offence code: the default group)' ELSE '' END
                ELSE 'not recorded as an offender or suspect' END,
           CASE WHEN o.under_age > 0
                THEN CAST(o.under_age AS VARCHAR) || ' record(s) as a suspect before age '
                     || $child_age || ' not counted (below the age of criminal responsibility)'
           END) AS why
FROM seen s LEFT JOIN offences o USING (entity_id) LEFT JOIN markers k USING (entity_id);
CREATE OR REPLACE TEMP TABLE ret_crime_offenders AS
SELECT DISTINCT el.offence_event AS crime_mention, p.entity_id
FROM ret_parties p JOIN ret_event_links el ON el.event = p.event;
INSERT INTO ret_subjects
WITH crimes AS (
    SELECT m.source, m.record_id, {_RECORD_DAY.format('ev.occurred, ev."end", ev.start, ')}
               AS dated,
           o.code, o.description, coalesce(o.grp, $default_group) AS grp, o.unknown,
           o.outcome IN (SELECT unnest($detected)) AS detected,
           EXISTS (SELECT 1 FROM ret_crime_offenders c WHERE c.crime_mention = m.mention_id)
               AS offenders
    FROM mentions m
    JOIN event ev USING (mention_id)
    JOIN source_rows r ON r.source = m.source AND r.row_id = m.row_id AND r.deleted_at IS NULL
    LEFT JOIN ret_event_offence o ON o.offence_event = m.mention_id
    WHERE m.kind = 'event' AND m.event_type = '{CRIME_EVENT}' AND m.deleted_at IS NULL),
records AS (
    SELECT source, record_id, min(grp) AS grp, max(dated) AS dated,
           first({{'code': code, 'description': description, 'dated': dated,
                   'unknown': unknown}} ORDER BY grp, unknown, dated DESC) AS top,
           bool_or(detected) AS detected, bool_or(offenders) AS offenders
    FROM crimes GROUP BY source, record_id)
SELECT 'crime', source || ':' || record_id,
       CASE WHEN offenders THEN 'follow' WHEN detected THEN 'person' ELSE 'undetected' END,
       grp, dated, NULL, false, NULL, 'period from the crime', 'the crime',
       {_OFFENCE_WORDS.format(o="top")}
       || CASE WHEN top.unknown THEN ' (not a known offence code: the default group)' ELSE '' END
       || CASE WHEN offenders THEN ''
               WHEN detected THEN '; detected, its offender not in the hub'
               ELSE '; undetected' END
FROM records
"""

# The rule of each subject's group applied: the next due day and the action then.
_DUE = """
CREATE OR REPLACE TEMP TABLE ret_due AS
WITH ruled AS (
    SELECT s.*, u.group_name, u.clear_months, u.clear_days, u.clear_words, u.to_age,
           u.review_months, u.review_days, u.review_words, u.then_action,
           CASE WHEN u.review_months > 0
                THEN greatest(1, CAST(ceil(date_diff('month', s.last_noticed, $as_of)
                                          / u.review_months) AS BIGINT))
                WHEN u.review_days > 0
                THEN greatest(1, CAST(ceil(date_diff('day', s.last_noticed, $as_of)
                                          / u.review_days) AS BIGINT))
           END AS k
    FROM ret_subjects s JOIN ret_rules u ON u.rule_kind = s.rule_kind AND u.grp = s.grp),
dates AS (
    SELECT *,
           CASE WHEN clear_months + clear_days > 0
                THEN CAST(last_noticed + to_months(clear_months) + to_days(clear_days) AS DATE)
           END AS clear_due,
           CASE WHEN to_age IS NOT NULL THEN CAST(dob + to_years(to_age) AS DATE) END AS age_due,
           CAST(last_noticed + to_months(CAST(k * review_months AS INTEGER))
                + to_days(CAST(k * review_days AS INTEGER)) AS DATE) AS review_k,
           CAST(last_noticed + to_months(CAST((k + 1) * review_months AS INTEGER))
                + to_days(CAST((k + 1) * review_days AS INTEGER)) AS DATE) AS review_next
    FROM ruled),
due AS (
    SELECT *, least(clear_due, age_due, review_due) AS due
    FROM (SELECT *, CASE WHEN review_k >= $as_of THEN review_k ELSE review_next END
                        AS review_due FROM dates))
SELECT kind, id, rule_kind, grp, group_name, last_noticed, dob,
       CASE WHEN dob IS NOT NULL THEN date_sub('year', dob, $as_of) END AS age,
       due, action,
       'group ' || grp || ' (' || group_name || '): ' || concat_ws('; ', why,
           CASE WHEN due IS NULL AND to_age IS NOT NULL
                THEN 'date of birth unknown: kept until one is known (the age ' || to_age
                     || ' rule needs it)'
                WHEN due IS NULL THEN 'no date applies: kept'
                WHEN due = review_due
                THEN concat_ws('; ', since, 'reviewed every ' || review_words || ' from '
                               || from_words || ': next review ' || CAST(due AS VARCHAR))
                WHEN due = age_due
                THEN concat_ws('; ', since, 'reaches age ' || to_age || ' on '
                               || CAST(due AS VARCHAR) || ': ' || then_action)
                ELSE concat_ws('; ', since, clear_words || ' ' || period_word || ' ends '
                               || CAST(due AS VARCHAR) || ': ' || then_action) END,
           CASE WHEN dob IS NULL AND to_age IS NOT NULL AND due IS NOT NULL
                THEN 'date of birth unknown, so the age ' || to_age || ' rule cannot apply' END,
           CASE WHEN child_record AND action = 'review' AND plain = 'dispose'
                THEN 'a record from before age ' || $child_age
                     || ': reviewed by a person, never disposed of automatically'
                WHEN child_record THEN 'has a record from before age ' || $child_age END
       ) AS reason
FROM (SELECT *,
             CASE WHEN due IS NULL THEN 'retain' WHEN due = review_due THEN 'review'
                  ELSE then_action END AS plain,
             CASE WHEN due IS NULL THEN 'retain' WHEN due = review_due THEN 'review'
                  WHEN child_record AND $child_then = 'review' THEN 'review'
                  ELSE then_action END AS action
      FROM due)
"""

# A crime with known offenders is kept while their records are: due when the last
# of them is, and then what that record's due is for (a review, if any is).
_FOLLOW = """
CREATE OR REPLACE TEMP TABLE retention AS
SELECT kind, id, rule_kind, grp, group_name, last_noticed, age, due, action, reason
FROM ret_due
UNION ALL
SELECT 'crime', s.id, 'follow', s.grp, g.group_name, s.last_noticed, NULL,
       CASE WHEN bool_or(p.due IS NULL) THEN NULL ELSE max(p.due) END,
       CASE WHEN bool_or(p.action = 'retain') THEN 'retain'
            ELSE first(p.action ORDER BY p.due DESC, p.action = 'review' DESC) END,
       'group ' || s.grp || ' (' || g.group_name || '): ' || s.why
       || '; kept while the records of its offenders are ('
       || array_to_string(list_slice(list(p.id ORDER BY p.due DESC NULLS FIRST, p.id), 1, 5),
                          ', ')
       || CASE WHEN count(*) > 5 THEN ' and ' || (count(*) - 5) || ' more' ELSE '' END || ')'
       || CASE WHEN bool_or(p.due IS NULL) THEN ''
               ELSE ': the last is due ' || CAST(max(p.due) AS VARCHAR) END
FROM ret_subjects s
JOIN ret_rules g ON g.rule_kind = 'person' AND g.grp = s.grp
JOIN mentions m ON m.kind = 'event' AND m.event_type = 'crime' AND m.deleted_at IS NULL
 AND m.source || ':' || m.record_id = s.id
JOIN ret_crime_offenders c ON c.crime_mention = m.mention_id
JOIN ret_due p ON p.kind = 'person' AND p.id = c.entity_id
WHERE s.rule_kind = 'follow'
GROUP BY s.id, s.grp, g.group_name, s.last_noticed, s.why
"""


def assess(con: duckdb.DuckDBPyConnection, as_of: dt.date, schedule: Schedule | None = None) -> int:
    """Work out every person's and crime record's retention as of `as_of` into the
    temp table `retention(kind, id, grp, group_name, last_noticed, age, due, action,
    reason)`; returns its row count. Needs a resolved hub (entities)."""
    schedule = schedule or load_schedule()
    detected = [row["code"] for row in read_table("outcomes") if row["detected"] == "true"]
    params: dict[str, object] = {
        "as_of": as_of,
        "child_age": schedule.child_age,
        "child_then": schedule.child_then,
        "default_group": schedule.default_group,
        "detected": detected,
    }
    try:
        _schedule_tables(con, schedule)
        for sql in (_MENTIONS, _OFFENCES, _SUBJECTS, _DUE, _FOLLOW):
            for statement in sql.split(";\n"):
                used = {k: v for k, v in params.items() if f"${k}" in statement}
                con.execute(statement, used)
    finally:
        for table in _WORK:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return int(con.execute("SELECT count(*) FROM retention").fetchall()[0][0])


# ------------------------------------------------------------------- review

DEFAULT_WITHIN = Period(days=90)


@dataclass(frozen=True)
class Review:
    """What falls due for review or disposal by `until` (overdue first)."""

    as_of: dt.date
    until: dt.date
    total: int
    by_action: dict[str, int]
    rows: list[RetentionRow]


def _row(values: Sequence[Any]) -> RetentionRow:
    kind, id_, grp, name, last, age, due, action, reason = values
    return RetentionRow(
        kind, id_, int(grp), name, last, None if age is None else int(age), due, action, reason
    )


def review(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    schedule: Schedule | None = None,
    *,
    within: Period = DEFAULT_WITHIN,
    kinds: Sequence[str] = ("person", "crime"),
    limit: int | None = None,
) -> Review:
    """The people and crime records due for review or disposal by `within` after
    `as_of` (overdue ones included), soonest first; `limit` caps the rows returned,
    not the counts.

    Example:

        with Hub(path, read_only=True) as hub:
            due = review(hub.con, dt.date.today(), load_schedule(), within=parse_period("90d"))
            for row in due.rows:
                print(row.id, row.group, row.due, row.action, row.reason)
    """
    assess(con, as_of, schedule)
    until = within.after(as_of)
    where = "due <= $until AND action IN ('review', 'dispose') AND kind IN (SELECT unnest($kinds))"
    params = {"until": until, "kinds": list(kinds)}
    by_action = {
        str(a): int(n)
        for a, n in con.execute(
            f"SELECT action, count(*) FROM retention WHERE {where} GROUP BY 1", params
        ).fetchall()
    }
    cap = "" if limit is None else f" LIMIT {int(limit)}"
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM retention WHERE {where} ORDER BY due, kind DESC, id{cap}", params
    ).fetchall()
    return Review(as_of, until, sum(by_action.values()), by_action, [_row(r) for r in rows])


def assessment(con: duckdb.DuckDBPyConnection, kind: str, id_: str) -> RetentionRow | None:
    """One row of the last `assess` on this connection, or None."""
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM retention WHERE kind = $kind AND id = $id",
        {"kind": kind, "id": id_},
    ).fetchall()
    return _row(rows[0]) if rows else None


# ----------------------------------------------------------------- disposal


@dataclass(frozen=True)
class Held:
    """A source record kept back from a disposal: another person's record, or the
    crime's own retention, still needs it."""

    source: str
    record_id: str
    holder: str
    why: str


@dataclass(frozen=True)
class DisposalPlan:
    """The source records a disposal takes, and those it keeps back (`held`)."""

    entity_id: str | None
    assessment: RetentionRow | None
    records: tuple[tuple[str, str], ...]
    held: tuple[Held, ...]


# Who else needs each planned record: people on it (other than at work) whose own
# record is not due for disposal, offenders elsewhere whose group the crime set
# (an arrest linked to it), and an undetected crime's own rule.
_HOLDERS = """
WITH needs AS (
    SELECT DISTINCT p.source, p.record_id, r.id AS holder, r.action, r.due
    FROM ret_plan p
    JOIN ret_mentions rm
      ON rm.source = p.source AND rm.record_id = p.record_id AND NOT rm.staff
    JOIN retention r ON r.kind = 'person' AND r.id = rm.entity_id
    WHERE rm.entity_id IS DISTINCT FROM $self
    UNION
    SELECT p.source, p.record_id, r.id, r.action, r.due
    FROM ret_plan p
    JOIN mentions m
      ON m.source = p.source AND m.record_id = p.record_id AND m.kind = 'event'
     AND m.event_type = 'crime' AND m.deleted_at IS NULL
    JOIN ret_crime_offenders c ON c.crime_mention = m.mention_id
    JOIN retention r ON r.kind = 'person' AND r.id = c.entity_id
    WHERE c.entity_id IS DISTINCT FROM $self
    UNION
    SELECT p.source, p.record_id, r.id, r.action, r.due
    FROM ret_plan p
    JOIN retention r ON r.kind = 'crime' AND r.id = p.source || ':' || p.record_id
    WHERE r.rule_kind <> 'follow')
SELECT source, record_id, holder, action, due FROM needs
WHERE NOT (action = 'dispose' AND due <= $as_of)
ORDER BY source, record_id, holder
"""


def _missing_tables(con: duckdb.DuckDBPyConnection, *names: str) -> list[str]:
    have = {
        str(n)
        for (n,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
        ).fetchall()
    }
    return [n for n in names if n not in have]


def plan_disposal(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    schedule: Schedule | None = None,
    *,
    entity_id: str | None = None,
    records: Sequence[tuple[str, str]] = (),
    include_held: bool = False,
) -> DisposalPlan:
    """Which source records disposing of `entity_id` (all its mentions' records) or of
    `records` takes.

    A record that another person's record still needs (they are on it and their
    own record is not due for disposal), or an undetected crime not yet due, is
    kept back and listed in `held`, unless `include_held`. Raises LookupError for
    an entity or record the hub does not hold.
    """
    if (entity_id is None) == (not records):
        raise ValueError("dispose of an entity or of records, not both and not neither")
    missing = _missing_tables(con, "entity_membership", "mentions")
    if missing:
        raise LookupError("the hub has not been resolved yet; run `peelian resolve`")
    assess(con, as_of, schedule)
    if entity_id is not None:
        found = con.execute(
            """SELECT DISTINCT m.source, m.record_id FROM entity_membership e
               JOIN mentions m USING (mention_id)
               WHERE e.entity_id = $id AND m.deleted_at IS NULL AND m.source <> $text
               ORDER BY 1, 2""",
            {"id": entity_id, "text": TEXT_SOURCE},
        ).fetchall()
        if not found:
            raise LookupError(f"{entity_id} is not an entity in this hub")
        keys = [(str(s), str(r)) for s, r in found]
    else:
        keys = sorted(set(records))
        _temp_table(
            con,
            "ret_plan",
            pa.table({"source": [s for s, _ in keys], "record_id": [r for _, r in keys]}),
        )
        known = {
            (str(s), str(r))
            for s, r in con.execute(
                """SELECT DISTINCT p.source, p.record_id FROM ret_plan p
                   SEMI JOIN source_rows r
                     ON r.source = p.source AND r.record_id = p.record_id
                    AND r.deleted_at IS NULL"""
            ).fetchall()
        }
        unknown = [f"{s}:{r}" for s, r in keys if (s, r) not in known]
        if unknown:
            raise LookupError(f"no such record in this hub: {', '.join(unknown[:10])}")
    _temp_table(
        con,
        "ret_plan",
        pa.table({"source": [s for s, _ in keys], "record_id": [r for _, r in keys]}),
    )
    held_rows = con.execute(_HOLDERS, {"self": entity_id, "as_of": as_of}).fetchall()
    con.execute("DROP TABLE IF EXISTS ret_plan")
    held = tuple(
        Held(
            str(source),
            str(record),
            str(holder),
            f"{holder}: retained (no date applies)"
            if due is None
            else f"{holder}: {action} due {due.isoformat()}",
        )
        for source, record, holder, action, due in held_rows
    )
    kept = set() if include_held else {(h.source, h.record_id) for h in held}
    return DisposalPlan(
        entity_id=entity_id,
        assessment=None if entity_id is None else assessment(con, "person", entity_id),
        records=tuple(k for k in keys if k not in kept),
        held=held,
    )


def purge_disposed(con: duckdb.DuckDBPyConnection) -> int:
    """Delete every hub row of the records in `disposed_records` (source rows,
    mentions and their fields, documents, flags, links); returns the source rows
    removed. Entities and golden values are rebuilt from what is left by resolve.
    Runs inside the caller's transaction."""
    removed = con.execute(
        """SELECT count(*) FROM source_rows r
           SEMI JOIN disposed_records d ON d.source = r.source AND d.record_id = r.record_id"""
    ).fetchall()[0][0]
    mentions = con.execute(
        """SELECT count(*) FROM mentions m
           SEMI JOIN disposed_records d ON d.source = m.source AND d.record_id = m.record_id"""
    ).fetchall()[0][0]
    if not removed and not mentions:
        return 0
    con.execute(
        """CREATE OR REPLACE TEMP TABLE ret_gone AS
           SELECT mention_id FROM mentions m
           SEMI JOIN disposed_records d ON d.source = m.source AND d.record_id = m.record_id"""
    )
    for table in (*KIND_TABLES, "documents", "field_flags"):
        con.execute(f"DELETE FROM {table} WHERE mention_id IN (SELECT mention_id FROM ret_gone)")
    for table in ("mentions", "links", "source_rows"):
        con.execute(
            f"""DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM disposed_records d
                WHERE d.source = t.source AND d.record_id = t.record_id)"""
        )
    con.execute("DROP TABLE ret_gone")
    return int(removed)


def apply_disposals(con: duckdb.DuckDBPyConnection, records: Iterable[tuple[str, str]]) -> int:
    """Make the hub's `disposed_records` exactly `records` (every disposal in the
    state database) and remove those records' rows from the hub, in one
    transaction; returns the source rows removed now (0 once a record is gone).

    Resolve calls this on every run, before matching, so entities, golden values,
    the index and every analytic built after it no longer hold the records; the
    ingest reads `disposed_records` to skip them when an extract resends them.
    """
    keys = sorted(set(records))
    table = pa.table(
        {
            "source": pa.array([s for s, _ in keys], pa.string()),
            "record_id": pa.array([r for _, r in keys], pa.string()),
        }
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(DISPOSED_RECORDS)
        con.execute("DELETE FROM disposed_records")
        con.register("disposed_arrow", table)
        try:
            con.execute("INSERT INTO disposed_records SELECT source, record_id FROM disposed_arrow")
        finally:
            con.unregister("disposed_arrow")
        removed = purge_disposed(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return removed
