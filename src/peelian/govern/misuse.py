"""Misuse detection: alerts for the auditor, read from the audit log, each with its evidence.

Every search and profile view of personal data writes an audit event (see
`peelian.state.audit`). This module reads those events back and raises an `Alert` when
a user:

- looks up their own record (`self_lookup`);
- looks up a relative: same surname and home address or postcode (`family_lookup`);
- looks up a colleague: another member of staff (`colleague_lookup`);
- looks up a flagged high-profile person (`flagged_person`);
- looks up far more people in a day than others in the same role (`volume_outlier`);
- looks up many people in a short burst outside their own usual hours
  (`out_of_hours_bulk`);
- gives no incident or crime reference far more often than others in the same role
  (`unlinked_lookups`).

An alert is a lead for a person to review, never a finding: each says what was seen
in plain English and carries the audit seqs and the matched facts behind it. The
thresholds are in `MisuseSettings`; docs/misuse.md says why each default was chosen.

What counts as a look-up (see `look_ups`): a profile view of a person entity; and, for
a search, each person in the results that the query itself points at (two or more of
surname, forename, date of birth and postcode match what the hub knows of that person,
read with the search box's own parser). A search that points at no result counts as a
look-up of its first person result only, marked not targeted, and so does one that
points at several namesakes: it counts towards volume, hours and purposes but never,
alone, as looking up oneself, a relative, a colleague or a flagged person. Someone
searching "SMITH" who gets their colleague Jo Smith among twenty results has not looked
up their colleague; opening Jo Smith's profile is.

Everything here is plain functions over plain data, so it runs over any slice of the
log; `person_facts` is the one reader of the hub.

>>> settings = MisuseSettings()
>>> settings.volume_floor
30
"""

from __future__ import annotations

import datetime as dt
import functools
import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from peelian.govern.purpose import PurposeError, parse_purpose
from peelian.index.query import DobQuery, QueryError, parse_query
from peelian.resolve.entities import ENTITY_PREFIX
from peelian.standardise.addresses import parse_address
from peelian.standardise.identifiers import normalise_postcode
from peelian.standardise.names import formal_forenames, normalise_name
from peelian.state.audit import AuditEvent

__all__ = [
    "KINDS",
    "LOCAL_ZONE",
    "Alert",
    "LookUp",
    "MisuseSettings",
    "PersonFacts",
    "StaffProfile",
    "colleague_lookups",
    "detect",
    "family_lookups",
    "flagged_lookups",
    "look_ups",
    "out_of_hours_bulk",
    "person_facts",
    "person_ids",
    "self_lookups",
    "unlinked_lookups",
    "volume_outliers",
]

# Alert kinds, in the order the auditor sees them within a severity.
KINDS = (
    "self_lookup",
    "family_lookup",
    "colleague_lookup",
    "flagged_person",
    "volume_outlier",
    "out_of_hours_bulk",
    "unlinked_lookups",
)
SEVERITIES = ("high", "medium", "low")
# Hours and days are the force's local ones: a 3am search is 3am in London, summer or not.
LOCAL_ZONE = ZoneInfo("Europe/London")
SEARCH_ACTION = "search"
VIEW_ACTION = "entity.view"
ENTITY_TARGET = "entity:"
PERSON_PREFIX = ENTITY_PREFIX["person"]
UNKNOWN_ROLE = "unknown"
# MAD times this estimates the standard deviation of normally distributed values.
MAD_TO_SD = 1.4826
# The identity facts compared, in the order evidence lists them.
FACT_FIELDS = ("surname", "forename", "date_of_birth", "postcode", "address")
# How many purposes an alert quotes (the events themselves are all listed).
QUOTED_PURPOSES = 5


@dataclass(frozen=True)
class StaffProfile:
    """A user of the hub as the force knows them: the identity their own record would
    have. Any personal field may be unknown (None); a detector that needs it then
    skips that user rather than guessing."""

    username: str
    role: str
    forenames: str | None = None
    surname: str | None = None
    date_of_birth: dt.date | None = None
    home_postcode: str | None = None
    home_address: str | None = None
    teams: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PersonFacts:
    """What the hub knows about one person entity, every variant its sources give.

    Names are normalised (`normalise_name`: upper case, ASCII), postcodes normalised
    (`normalise_postcode`, or upper case when not a valid UK postcode) and addresses
    are dwelling keys (`parse_address(...).key`, as written and, when the person has
    a single postcode, with it), so two spellings of one home compare equal. Build
    with `from_values`.
    """

    entity_id: str
    forenames: frozenset[str] = frozenset()
    surnames: frozenset[str] = frozenset()
    dates_of_birth: frozenset[dt.date] = frozenset()
    postcodes: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()

    @classmethod
    def from_values(
        cls,
        entity_id: str,
        *,
        forenames: Iterable[str] = (),
        surnames: Iterable[str] = (),
        dates_of_birth: Iterable[dt.date | str] = (),
        postcodes: Iterable[str] = (),
        addresses: Iterable[str] = (),
    ) -> PersonFacts:
        """Facts from raw values as sources give them; blanks and bad dates are dropped.

        >>> f = PersonFacts.from_values("P1", surnames=["o'brien"], postcodes=["bf10ea"],
        ...                             addresses=["3 Thistle Dr, Brackenford"])
        >>> sorted(f.surnames), sorted(f.postcodes), sorted(f.addresses)
        (["O'BRIEN"], ['BF1 0EA'], ['BF1 0EA||3|THISTLE DRIVE', 'BRACKENFORD||3|THISTLE DRIVE'])
        """
        codes = {code for code in (_postcode(text) for text in postcodes) if code}
        texts = [text for text in addresses if text and text.strip()]
        for text in texts:
            found = parse_address(text).postcode
            if found and normalise_postcode(found):
                codes.add(found)
        # The hub does not say which postcode goes with which address: pair them only
        # when there is one postcode, else compare each address as written.
        paired = codes if len(codes) == 1 else set()
        keys = {key for text in texts for key in _address_keys(text, paired)}
        return cls(
            entity_id=entity_id,
            forenames=_names(forenames),
            surnames=_names(surnames),
            dates_of_birth=frozenset(d for d in map(_date, dates_of_birth) if d is not None),
            postcodes=frozenset(codes),
            addresses=frozenset(keys),
        )


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(name for name in (normalise_name(v) for v in values if v) if name)


def _date(value: dt.date | str) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _postcode(text: str | None) -> str | None:
    """A normalised UK postcode, or the text upper case when it is not one."""
    if text is None or not text.strip():
        return None
    return normalise_postcode(text) or " ".join(text.upper().split())


def _address_keys(text: str | None, postcodes: Iterable[str]) -> set[str]:
    """Dwelling keys of an address: as written, and with each postcode given for it (the
    text's own postcode wins), so "3 Thistle Dr, Brackenford" and the same house with
    its postcode share a key."""
    if text is None or not text.strip():
        return set()
    keys = {parse_address(text).key, *(parse_address(text, code).key for code in postcodes)}
    return {key for key in keys if key}


def person_ids(events: Iterable[AuditEvent]) -> set[str]:
    """The person entity ids the look-ups in `events` name: what to pass to
    `person_facts` before `detect`."""
    ids: set[str] = set()
    for event in events:
        if event.action == VIEW_ACTION and event.target:
            ids.add(event.target.removeprefix(ENTITY_TARGET))
        elif event.action == SEARCH_ACTION and isinstance(event.detail, dict):
            results = event.detail.get("results")
            if isinstance(results, list):
                ids.update(r for r in results if isinstance(r, str))
    return {i for i in ids if i.startswith(PERSON_PREFIX)}


# Golden-record fields read for each person, and the PersonFacts argument each feeds.
_GOLDEN_FIELDS = {
    "forenames": "forenames",
    "surname": "surnames",
    "date_of_birth": "dates_of_birth",
    "postcode": "postcodes",
    "address": "addresses",
}


def person_facts(
    con: duckdb.DuckDBPyConnection, entity_ids: Iterable[str]
) -> dict[str, PersonFacts]:
    """The facts the hub holds for each person entity in `entity_ids`.

    Reads every candidate value (chosen or not) of the person's golden record from
    `golden_values` (see `peelian.resolve.entities`): a misspelt or older address still
    identifies the person. Ids that are not person entities, or not in the hub, are left
    out of the answer.
    """
    wanted = sorted({e for e in entity_ids if e.startswith(PERSON_PREFIX)})
    if not wanted:
        return {}
    rows = con.execute(
        """SELECT entity_id, field, value FROM golden_values
           WHERE entity_type = 'person' AND field IN (SELECT unnest($fields))
             AND entity_id IN (SELECT unnest($ids))""",
        {"fields": list(_GOLDEN_FIELDS), "ids": wanted},
    ).fetchall()
    values: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for entity_id, name, value in rows:
        values[entity_id][_GOLDEN_FIELDS[name]].append(value)
    return {
        entity_id: PersonFacts.from_values(entity_id, **fields)
        for entity_id, fields in sorted(values.items())
    }


@dataclass(frozen=True)
class MisuseSettings:
    """Thresholds of the detectors. The defaults are set on the synthetic trail
    (`peelian.govern.misuse_trail`) and explained in docs/misuse.md.

    volume_k, volume_floor, volume_min_spread, volume_own_ratio: a user-day is an
    outlier when its count of distinct persons is at least the peer median plus
    `volume_k` spreads, at least `volume_floor`, and at least `volume_own_ratio` times
    the user's own median day (see `volume_outliers`). The spread is the MAD scaled to
    a standard deviation, but no less than `volume_min_spread` of the median.

    bulk_window_minutes, bulk_min_persons: a burst is at least `bulk_min_persons`
    distinct persons within `bulk_window_minutes`, every look-up outside usual hours.
    usual_hour_min_days, usual_hour_margin, min_history_days: an hour is usual for a
    user when they looked someone up within `usual_hour_margin` hours of it on at least
    `usual_hour_min_days` other days; users with fewer than `min_history_days` other
    active days are not judged.

    unlinked_k, unlinked_min_spread, unlinked_floor, unlinked_min_share,
    unlinked_prior_lookups, min_lookups_for_share, unknown_ref_floor: a user's share of
    look-ups without a linked reference (shrunk towards the peer median by
    `unlinked_prior_lookups` look-ups) is far above peers when it is at least the peer
    median plus `unlinked_k` spreads (spread at least `unlinked_min_spread`), at least
    `unlinked_min_share`, from at least `unlinked_floor` unlinked look-ups. Users with
    fewer than `min_lookups_for_share` look-ups are not judged by share, nor used as
    peers. `unknown_ref_floor` different references that match nothing, being at least
    `unknown_ref_min_share` of the references the user cited, alert alone.

    min_peers: a role with fewer users than this is compared with all users instead.
    colleague_exempt_roles: roles whose work is looking into colleagues (professional
    standards) raise no colleague alerts.
    """

    volume_k: float = 8.0
    volume_floor: int = 30
    volume_min_spread: float = 0.25
    volume_own_ratio: float = 4.0
    bulk_window_minutes: int = 60
    bulk_min_persons: int = 15
    usual_hour_min_days: int = 3
    usual_hour_margin: int = 1
    min_history_days: int = 5
    unlinked_k: float = 3.5
    unlinked_min_spread: float = 0.04
    unlinked_floor: int = 10
    unlinked_min_share: float = 0.15
    unlinked_prior_lookups: int = 50
    min_lookups_for_share: int = 20
    unknown_ref_floor: int = 5
    unknown_ref_min_share: float = 0.06
    min_peers: int = 5
    colleague_exempt_roles: frozenset[str] = frozenset({"professional_standards"})


@dataclass(frozen=True)
class LookUp:
    """One person looked up in one audit event.

    `via` is "view" or "search"; `targeted` is false for the first result of a search
    that did not point at anyone; `matched` names the facts the query matched;
    `linked` is true when the purpose gives an incident or crime reference (a known one,
    when the references are known).
    """

    seq: int
    at: dt.datetime
    username: str
    entity_id: str
    via: str
    targeted: bool
    linked: bool
    purpose: str | None
    matched: tuple[str, ...] = ()

    @property
    def local(self) -> dt.datetime:
        """The time in the force's zone."""
        return self.at.astimezone(LOCAL_ZONE)


@dataclass(frozen=True)
class Alert:
    """A lead for the auditor: what was seen, by whom, from when, and the evidence.

    `severity` is high, medium or low; `score` orders alerts of one kind (for
    statistical kinds, spreads above the peer median; for the others, the number of
    events); `seqs` are the audit events behind it; `facts` the figures and matched
    fields, JSON-ready.
    """

    kind: str
    username: str
    at: dt.datetime
    severity: str
    score: float
    summary: str
    seqs: tuple[int, ...]
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The alert as plain JSON-ready values."""
        return {
            "kind": self.kind,
            "username": self.username,
            "at": self.at.isoformat(),
            "severity": self.severity,
            "score": round(self.score, 3),
            "summary": self.summary,
            "seqs": list(self.seqs),
            "facts": self.facts,
        }


def detect(
    events: Iterable[AuditEvent],
    staff: Mapping[str, StaffProfile],
    persons: Mapping[str, PersonFacts],
    flagged: Collection[str],
    known_refs: Collection[str] | None = None,
    settings: MisuseSettings = MisuseSettings(),
) -> list[Alert]:
    """Every alert over `events`, most severe first.

    `staff` maps usernames to profiles (users missing from it are judged against all
    peers, and can't be matched as themselves); `persons` holds the facts of the person
    entities the events name (see `person_facts`); `flagged` the high-profile entity
    ids; `known_refs`, when given, the incident and crime references that exist, so a
    made-up reference counts as none.
    """
    looks = look_ups(events, persons, known_refs)
    alerts = [
        *self_lookups(looks, staff, persons),
        *family_lookups(looks, staff, persons),
        *colleague_lookups(looks, staff, persons, settings),
        *flagged_lookups(looks, flagged),
        *volume_outliers(looks, staff, settings),
        *out_of_hours_bulk(looks, settings),
        *unlinked_lookups(looks, staff, settings),
    ]
    return sorted(alerts, key=_alert_order)


def _alert_order(alert: Alert) -> tuple[int, int, float, dt.datetime, str]:
    return (
        SEVERITIES.index(alert.severity),
        KINDS.index(alert.kind),
        -alert.score,
        alert.at,
        alert.username,
    )


# Look-ups ------------------------------------------------------------------------


def look_ups(
    events: Iterable[AuditEvent],
    persons: Mapping[str, PersonFacts],
    known_refs: Collection[str] | None = None,
) -> list[LookUp]:
    """The person look-ups in `events`, in log order; other actions and refused
    requests are skipped (a refused request showed nobody)."""
    refs = None if known_refs is None else frozenset(r.upper() for r in known_refs)
    found: list[LookUp] = []
    for event in events:
        if event.outcome != "ok":
            continue
        if event.action == VIEW_ACTION:
            target = event.target or ""
            entity_id = target.removeprefix(ENTITY_TARGET)
            if target.startswith(ENTITY_TARGET) and entity_id.startswith(PERSON_PREFIX):
                found.append(_look_up(event, entity_id, "view", True, (), refs))
        elif event.action == SEARCH_ACTION and isinstance(event.detail, dict):
            found.extend(_search_look_ups(event, event.detail, persons, refs))
    return found


def _look_up(
    event: AuditEvent,
    entity_id: str,
    via: str,
    targeted: bool,
    matched: tuple[str, ...],
    refs: frozenset[str] | None,
) -> LookUp:
    return LookUp(
        seq=event.seq,
        at=event.created_at,
        username=event.actor,
        entity_id=entity_id,
        via=via,
        targeted=targeted,
        linked=_linked(event.purpose, refs),
        purpose=event.purpose,
        matched=matched,
    )


def _search_look_ups(
    event: AuditEvent,
    detail: Mapping[str, Any],
    persons: Mapping[str, PersonFacts],
    refs: frozenset[str] | None,
) -> list[LookUp]:
    results = detail.get("results")
    if not isinstance(results, list):
        return []
    people = [r for r in results if isinstance(r, str) and r.startswith(PERSON_PREFIX)]
    if not people:
        return []
    text = detail.get("query")
    query = None
    if isinstance(text, str) and text:
        query = _query_keys(text, event.created_at.astimezone(LOCAL_ZONE).date())
    hits: list[tuple[str, tuple[str, ...]]] = []
    if query is not None:
        for entity_id in dict.fromkeys(people):
            facts = persons.get(entity_id)
            matched = _query_matches(query, _keys(facts)) if facts else ()
            if len(matched) >= 2:
                hits.append((entity_id, matched))
    # The one person the query names best (say, the namesake with the typed date of
    # birth, not those with no date on record) is whom it was for.
    hits.sort(key=lambda hit: -len(hit[1]))
    if len(hits) == 1 or (hits and len(hits[0][1]) > len(hits[1][1])):
        entity_id, matched = hits[0]
        return [_look_up(event, entity_id, "search", True, matched, refs)]
    # no one, or several namesakes named as well: the user has not yet picked anyone out
    first = hits[0][0] if hits else people[0]
    return [_look_up(event, first, "search", False, (), refs)]


@functools.lru_cache(maxsize=4096)
def _linked(purpose: str | None, refs: frozenset[str] | None) -> bool:
    """True when the purpose gives an incident or crime reference (one in `refs`, when
    given). A missing or unreadable purpose links nothing."""
    try:
        parsed = parse_purpose(purpose)
    except PurposeError:
        return False
    return parsed.linked and (refs is None or parsed.reference in refs)


@dataclass(frozen=True)
class _QueryKeys:
    """What a search asked for, as compared with a person: the name words (each with
    its formal forenames), the date of birth and the postcodes."""

    forms: Mapping[str, frozenset[str]]
    dob: DobQuery | None
    postcodes: frozenset[str]


@functools.lru_cache(maxsize=8192)
def _query_keys(text: str, today: dt.date) -> _QueryKeys | None:
    """The query as the search box read it (None if it could not be read)."""
    try:
        query = parse_query(text, today=today)
    except QueryError:
        return None
    words = {*query.names, *query.forenames, *query.surnames}
    return _QueryKeys(
        forms={w: _forename_forms([w]) for w in words},
        dob=query.dob,
        postcodes=frozenset(query.postcodes),
    )


@dataclass(frozen=True)
class _Keys:
    """A person's or profile's facts in the forms compared: surname words, forename
    words with their formal forms (BILL is WILLIAM), dates, postcodes, dwelling keys."""

    surnames: frozenset[str]
    forenames: frozenset[str]
    dates: frozenset[dt.date]
    postcodes: frozenset[str]
    addresses: frozenset[str]


def _words(names: Iterable[str]) -> frozenset[str]:
    return frozenset(w for name in names for w in name.replace("-", " ").split())


def _forename_forms(names: Iterable[str]) -> frozenset[str]:
    """Each forename word and every formal forename it may stand for (EMMY is Emily or
    Emma), so a nickname on one side and the formal name on the other still meet."""
    words = _words(names) | frozenset(names)
    return frozenset().union(*(_word_forms(w) for w in words))


@functools.lru_cache(maxsize=65536)
def _word_forms(word: str) -> frozenset[str]:
    return frozenset((word, *formal_forenames(word)))


@functools.lru_cache(maxsize=65536)
def _keys(facts: PersonFacts) -> _Keys:
    return _Keys(
        surnames=_words(facts.surnames),
        forenames=_forename_forms(facts.forenames),
        dates=facts.dates_of_birth,
        postcodes=facts.postcodes,
        addresses=facts.addresses,
    )


def _query_matches(query: _QueryKeys, person: _Keys) -> tuple[str, ...]:
    """Which of the person's facts the query names: the evidence that a search was for
    this person rather than someone who merely came up. A full date of birth that is
    not theirs (nor theirs with day and month swapped, which the search also tries)
    means the search was for someone else: nothing matches."""
    dob = query.dob
    dob_matched = False
    if dob is not None and person.dates:
        if dob.day is not None:
            terms = {dob.term, dob.swapped}
            dob_matched = any(d.isoformat() in terms for d in person.dates)
            if not dob_matched:
                return ()
        else:
            dob_matched = any(
                d.year == dob.year and (dob.month is None or d.month == dob.month)
                for d in person.dates
            )
    matched = []
    surname_words = query.forms.keys() & person.surnames
    if surname_words:
        matched.append("surname")
    if any(forms & person.forenames for w, forms in query.forms.items() if w not in surname_words):
        matched.append("forename")
    if dob_matched:
        matched.append("date_of_birth")
    if query.postcodes & person.postcodes:
        matched.append("postcode")
    return tuple(matched)


# Identity: self, family, colleagues ---------------------------------------------


@functools.lru_cache(maxsize=4096)
def _profile_keys(profile: StaffProfile) -> _Keys:
    postcode = _postcode(profile.home_postcode)
    surname = normalise_name(profile.surname) if profile.surname else ""
    forenames = normalise_name(profile.forenames) if profile.forenames else ""
    return _Keys(
        surnames=_words([surname]) if surname else frozenset(),
        forenames=_forename_forms([forenames]) if forenames else frozenset(),
        dates=frozenset([profile.date_of_birth]) if profile.date_of_birth else frozenset(),
        postcodes=frozenset([postcode]) if postcode else frozenset(),
        addresses=frozenset(_address_keys(profile.home_address, [postcode] if postcode else [])),
    )


def _matched(profile: _Keys, person: _Keys) -> tuple[str, ...]:
    """The identity facts a profile and a person share, in FACT_FIELDS order."""
    pairs = (
        (profile.surnames, person.surnames),
        (profile.forenames, person.forenames),
        (profile.dates, person.dates),
        (profile.postcodes, person.postcodes),
        (profile.addresses, person.addresses),
    )
    return tuple(name for name, (a, b) in zip(FACT_FIELDS, pairs, strict=True) if a & b)


def _same_person(profile: _Keys, person: _Keys, matched: Sequence[str]) -> bool:
    """The profile's own record: the surname agrees, and
    - forename and date of birth agree; or
    - forename and home (`_same_home`) agree and no date of birth contradicts (one side
      does not know it); or
    - date of birth and home agree (a forename the nickname table does not link: a twin
      is the rare exception).
    """
    if "surname" not in matched:
        return False
    dob = "date_of_birth" in matched
    home = _same_home(profile, person, matched)
    if "forename" in matched:
        unknown_dob = not profile.dates or not person.dates
        return dob or (unknown_dob and home)
    return dob and home


def _same_home(profile: _Keys, person: _Keys, matched: Sequence[str]) -> bool:
    """The same dwelling; or the same postcode when a dwelling can't be compared (one
    side has no address). A postcode alone is a street: a neighbour of the same surname
    is not family."""
    if "address" in matched:
        return True
    return "postcode" in matched and (not profile.addresses or not person.addresses)


def _profile_matches(
    looks: Sequence[LookUp],
    staff: Mapping[str, StaffProfile],
    persons: Mapping[str, PersonFacts],
    keep: Callable[[_Keys, _Keys, tuple[str, ...]], bool],
) -> dict[tuple[str, str], tuple[list[LookUp], tuple[str, ...]]]:
    """Targeted look-ups grouped by (user, entity) where `keep(user's profile keys,
    person's keys, facts matched)` holds, with the facts matched."""
    found: dict[tuple[str, str], tuple[list[LookUp], tuple[str, ...]]] = {}
    for look in looks:
        profile, facts = staff.get(look.username), persons.get(look.entity_id)
        if not look.targeted or profile is None or facts is None:
            continue
        mine, theirs = _profile_keys(profile), _keys(facts)
        matched = _matched(mine, theirs)
        if keep(mine, theirs, matched):
            group, _ = found.get((look.username, look.entity_id), ([], matched))
            group.append(look)
            found[look.username, look.entity_id] = (group, matched)
    return found


def self_lookups(
    looks: Sequence[LookUp],
    staff: Mapping[str, StaffProfile],
    persons: Mapping[str, PersonFacts],
) -> list[Alert]:
    """Users looking up their own record: forename and surname match their profile, and
    the date of birth too (or, when either side lacks one, the home)."""
    found = _profile_matches(looks, staff, persons, _same_person)
    return [
        _identity_alert(
            "self_lookup",
            group,
            "high",
            f"looked up their own record {entity_id}",
            {"entity_id": entity_id, "matched": list(matched)},
        )
        for (_, entity_id), (group, matched) in sorted(found.items())
    ]


def family_lookups(
    looks: Sequence[LookUp],
    staff: Mapping[str, StaffProfile],
    persons: Mapping[str, PersonFacts],
) -> list[Alert]:
    """Users looking up someone who shares their surname and home (see `_same_home`)
    but is not themselves: a likely relative."""

    def relative(mine: _Keys, theirs: _Keys, matched: tuple[str, ...]) -> bool:
        return (
            "surname" in matched
            and _same_home(mine, theirs, matched)
            and not _same_person(mine, theirs, matched)
        )

    found = _profile_matches(looks, staff, persons, relative)
    alerts = []
    for (_, entity_id), (group, matched) in sorted(found.items()):
        shared = " and ".join(_FACT_WORDS[m] for m in matched if m != "forename")
        alerts.append(
            _identity_alert(
                "family_lookup",
                group,
                "high",
                f"looked up {entity_id}, who shares their {shared}",
                {"entity_id": entity_id, "matched": list(matched)},
            )
        )
    return alerts


_FACT_WORDS = {
    "surname": "surname",
    "forename": "forename",
    "date_of_birth": "date of birth",
    "postcode": "home postcode",
    "address": "home address",
}


def colleague_lookups(
    looks: Sequence[LookUp],
    staff: Mapping[str, StaffProfile],
    persons: Mapping[str, PersonFacts],
    settings: MisuseSettings = MisuseSettings(),
) -> list[Alert]:
    """Users looking up another member of staff: the person matches a colleague's
    profile on surname and date of birth, or on forename, surname and home with no
    contradicting date of birth. Users in `colleague_exempt_roles` are not checked."""
    by_surname: dict[str, list[StaffProfile]] = defaultdict(list)
    for profile in staff.values():
        for word in _profile_keys(profile).surnames:
            by_surname[word].append(profile)
    groups: dict[tuple[str, str, str], list[LookUp]] = defaultdict(list)
    matches: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for look in looks:
        facts = persons.get(look.entity_id)
        user = staff.get(look.username)
        if not look.targeted or facts is None:
            continue
        if user is not None and user.role in settings.colleague_exempt_roles:
            continue
        theirs = _keys(facts)
        candidates = {p.username: p for w in theirs.surnames for p in by_surname.get(w, [])}
        for username, colleague in sorted(candidates.items()):
            if username == look.username:
                continue
            keys = _profile_keys(colleague)
            matched = _matched(keys, theirs)
            if ("surname" in matched and "date_of_birth" in matched) or (
                _same_person(keys, theirs, matched)
            ):
                groups[look.username, username, look.entity_id].append(look)
                matches[look.username, username, look.entity_id] = matched
    alerts = []
    for (user_name, colleague_name, entity_id), group in sorted(groups.items()):
        colleague = staff[colleague_name]
        linked = all(look.linked for look in group)
        alerts.append(
            _identity_alert(
                "colleague_lookup",
                group,
                "medium" if linked else "high",
                f"looked up {entity_id}, who matches colleague {colleague_name} "
                f"({colleague.role.replace('_', ' ')})",
                {
                    "entity_id": entity_id,
                    "colleague": colleague_name,
                    "colleague_role": colleague.role,
                    "matched": list(matches[user_name, colleague_name, entity_id]),
                },
            )
        )
    return alerts


def flagged_lookups(looks: Sequence[LookUp], flagged: Collection[str]) -> list[Alert]:
    """Every look-up of a flagged high-profile person: a view of their profile, or a
    search that points at them. Coming up among the results of a broad search ("SMITH")
    is not a look-up. High severity unless every look-up gave a linked reference."""
    wanted = frozenset(flagged)
    groups: dict[tuple[str, str], list[LookUp]] = defaultdict(list)
    for look in looks:
        if look.targeted and look.entity_id in wanted:
            groups[look.username, look.entity_id].append(look)
    alerts = []
    for (_, entity_id), group in sorted(groups.items()):
        linked = all(look.linked for look in group)
        alerts.append(
            _identity_alert(
                "flagged_person",
                group,
                "medium" if linked else "high",
                f"looked up flagged person {entity_id}",
                {"entity_id": entity_id},
            )
        )
    return alerts


def _identity_alert(
    kind: str, group: Sequence[LookUp], severity: str, what: str, facts: dict[str, Any]
) -> Alert:
    """One alert for a user's look-ups of one person, quoting the purposes given."""
    first = min(group, key=lambda look: (look.at, look.seq))
    seqs = tuple(sorted({look.seq for look in group}))
    purposes = sorted({look.purpose or "(none)" for look in group})
    unlinked = sum(1 for look in group if not look.linked)
    events = "1 event" if len(seqs) == 1 else f"{len(seqs)} events"
    summary = (
        f"{first.username} {what}: {events}, first {_when(first.at)}; "
        f"purpose given: {'; '.join(purposes[:QUOTED_PURPOSES])}"
    )
    return Alert(
        kind=kind,
        username=first.username,
        at=first.at,
        severity=severity,
        score=float(len(seqs)),
        summary=summary,
        seqs=seqs,
        facts={
            **facts,
            "events": len(seqs),
            "unlinked": unlinked,
            "via": sorted({look.via for look in group}),
            "purposes": purposes[:QUOTED_PURPOSES],
        },
    )


def _when(at: dt.datetime) -> str:
    """A time as the auditor reads it: "Mon 4 Mar 2024 14:02" in London time."""
    local = at.astimezone(LOCAL_ZONE)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M}"


# Behaviour: volume, hours, purposes -----------------------------------------------


@dataclass(frozen=True)
class _Spread:
    """Where peers sit: their median and a robust spread (MAD as a standard deviation,
    never below the floors given: peers with near-identical values would otherwise make
    every small excess an outlier)."""

    median: float
    spread: float

    @classmethod
    def of(cls, values: Sequence[float], floor: float, relative_floor: float = 0.0) -> _Spread:
        """The spread is at least `floor`, and at least `relative_floor` of the median."""
        median = statistics.median(values)
        mad = statistics.median(abs(v - median) for v in values)
        return cls(median, max(MAD_TO_SD * mad, floor, relative_floor * median))


def _role(staff: Mapping[str, StaffProfile], username: str) -> str:
    profile = staff.get(username)
    return profile.role if profile is not None else UNKNOWN_ROLE


def _peer_groups(
    values: Mapping[str, Sequence[float]],
    staff: Mapping[str, StaffProfile],
    min_peers: int,
) -> dict[str, str]:
    """Each user's peer group: their role, or "all" when the role has too few users."""
    roles = {user: _role(staff, user) for user in values}
    sizes: dict[str, int] = defaultdict(int)
    for role in roles.values():
        sizes[role] += 1
    return {user: role if sizes[role] >= min_peers else "all" for user, role in roles.items()}


def volume_outliers(
    looks: Sequence[LookUp],
    staff: Mapping[str, StaffProfile],
    settings: MisuseSettings = MisuseSettings(),
) -> list[Alert]:
    """User-days with far more distinct persons looked up than peers in the same role
    look up on their working days (median and MAD, with an absolute floor), and far
    more than the user's own usual day.

    The second test spares the analyst who is always busier than most and has a heavy
    day: a day must also reach `volume_own_ratio` times the user's median over their
    other days. A user whose usual day is itself above the peer threshold (a habitual
    trawler) is judged against the peers alone, so they alert every such day.
    """
    daily: dict[str, dict[dt.date, list[LookUp]]] = defaultdict(lambda: defaultdict(list))
    for look in looks:
        daily[look.username][look.local.date()].append(look)
    counts = {
        user: {day: len({look.entity_id for look in day_looks}) for day, day_looks in days.items()}
        for user, days in daily.items()
    }
    per_user = {user: list(days.values()) for user, days in counts.items()}
    groups = _peer_groups(per_user, staff, settings.min_peers)
    pools: dict[str, list[float]] = defaultdict(list)
    for user, values in per_user.items():
        pools[groups[user]].extend(values)
        pools["all"].extend(values)
    spreads = {
        name: _Spread.of(values, 1.0, settings.volume_min_spread)
        for name, values in pools.items()
        if values
    }
    alerts = []
    for user, days in sorted(counts.items()):
        peers = spreads[groups[user]]
        peer_threshold = max(settings.volume_floor, peers.median + settings.volume_k * peers.spread)
        for day, count in sorted(days.items()):
            if count < peer_threshold:
                continue
            others = [n for other, n in days.items() if other != day]
            own = statistics.median(others) if len(others) >= settings.min_history_days else 0
            threshold = peer_threshold
            if own < peer_threshold:
                threshold = max(threshold, settings.volume_own_ratio * own)
            if count < threshold:
                continue
            alerts.append(
                _volume_alert(
                    user,
                    day,
                    daily[user][day],
                    count,
                    own,
                    threshold,
                    peers,
                    groups[user],
                    staff,
                    settings,
                )
            )
    return alerts


def _volume_alert(
    user: str,
    day: dt.date,
    day_looks: Sequence[LookUp],
    count: int,
    own: float,
    threshold: float,
    peers: _Spread,
    group: str,
    staff: Mapping[str, StaffProfile],
    settings: MisuseSettings,
) -> Alert:
    score = (count - peers.median) / peers.spread
    first = min(day_looks, key=lambda look: (look.at, look.seq))
    return Alert(
        kind="volume_outlier",
        username=user,
        at=first.at,
        severity="high" if score >= 2 * settings.volume_k else "medium",
        score=score,
        summary=(
            f"{user} looked up {count} different people on {day:%a} {day.day} {day:%b %Y}; "
            f"others in the role ({group.replace('_', ' ')}) look up a median of "
            f"{peers.median:g} a working day, and {user} {own:g} (alert from {threshold:.0f})"
        ),
        seqs=tuple(sorted({look.seq for look in day_looks})),
        facts={
            "date": day.isoformat(),
            "persons": count,
            "role": _role(staff, user),
            "peer_group": group,
            "peer_median": peers.median,
            "peer_spread": round(peers.spread, 3),
            "own_median": own,
            "threshold": round(threshold, 3),
        },
    )


def out_of_hours_bulk(
    looks: Sequence[LookUp], settings: MisuseSettings = MisuseSettings()
) -> list[Alert]:
    """Bursts of many distinct persons looked up in a short window, every look-up at an
    hour this user does not usually work.

    Usual hours are learnt from the user's own history on other days (an hour, give or
    take `usual_hour_margin`, on `usual_hour_min_days` other days), so a night-shift
    officer at 3am is normal and a day worker at 3am is not; the day judged is left out
    so that a burst can't make its own hour usual.
    """
    by_user: dict[str, list[LookUp]] = defaultdict(list)
    for look in looks:
        by_user[look.username].append(look)
    alerts = []
    for user, mine in sorted(by_user.items()):
        mine.sort(key=lambda look: (look.at, look.seq))
        habits = _Habits(mine, settings)
        odd = [look for look in mine if habits.out_of_hours(look.local)]
        for burst, peak in _bursts(odd, settings):
            alerts.append(_burst_alert(user, burst, peak, habits, settings))
    return alerts


class _Habits:
    """A user's working hours: for each local hour, the days they looked people up."""

    def __init__(self, looks: Sequence[LookUp], settings: MisuseSettings) -> None:
        self.settings = settings
        self.days_at: dict[int, set[dt.date]] = defaultdict(set)
        self.days: set[dt.date] = set()
        for look in looks:
            local = look.local
            self.days_at[local.hour].add(local.date())
            self.days.add(local.date())
        self._cache: dict[tuple[int, dt.date], bool] = {}

    def judged(self, day: dt.date) -> bool:
        """Enough history on other days to say what is usual."""
        return len(self.days - {day}) >= self.settings.min_history_days

    def usual(self, hour: int, day: dt.date) -> bool:
        """Whether `hour` is a usual hour, judged from days other than `day`."""
        key = (hour, day)
        if key not in self._cache:
            margin = self.settings.usual_hour_margin
            days: set[dt.date] = set()
            for near in range(hour - margin, hour + margin + 1):
                days |= self.days_at.get(near % 24, set())
            days.discard(day)
            self._cache[key] = len(days) >= self.settings.usual_hour_min_days
        return self._cache[key]

    def out_of_hours(self, local: dt.datetime) -> bool:
        day = local.date()
        return self.judged(day) and not self.usual(local.hour, day)

    def usual_hours(self, day: dt.date) -> list[int]:
        return [hour for hour in range(24) if self.usual(hour, day)]


def _bursts(odd: Sequence[LookUp], settings: MisuseSettings) -> list[tuple[list[LookUp], int]]:
    """Runs of out-of-hours look-ups where some window holds enough distinct persons;
    each with the most distinct persons any one window holds."""
    window = dt.timedelta(minutes=settings.bulk_window_minutes)
    in_burst = [False] * len(odd)
    peaks = [0] * len(odd)
    counts: dict[str, int] = defaultdict(int)
    start = 0
    for end, look in enumerate(odd):
        counts[look.entity_id] += 1
        while odd[end].at - odd[start].at > window:
            gone = odd[start].entity_id
            counts[gone] -= 1
            if not counts[gone]:
                del counts[gone]
            start += 1
        if len(counts) >= settings.bulk_min_persons:
            for i in range(start, end + 1):
                in_burst[i] = True
                peaks[i] = max(peaks[i], len(counts))
    bursts: list[tuple[list[LookUp], int]] = []
    current: list[LookUp] = []
    peak = 0
    for i, look in enumerate(odd):
        if in_burst[i] and current and look.at - current[-1].at <= window:
            current.append(look)
            peak = max(peak, peaks[i])
        elif in_burst[i]:
            if current:
                bursts.append((current, peak))
            current, peak = [look], peaks[i]
    if current:
        bursts.append((current, peak))
    return bursts


def _burst_alert(
    user: str,
    burst: Sequence[LookUp],
    peak: int,
    habits: _Habits,
    settings: MisuseSettings,
) -> Alert:
    first, last = burst[0], burst[-1]
    persons = len({look.entity_id for look in burst})
    usual = _hour_ranges(habits.usual_hours(first.local.date()))
    score = peak / settings.bulk_min_persons
    minutes = max(1, round((last.at - first.at).total_seconds() / 60))
    return Alert(
        kind="out_of_hours_bulk",
        username=user,
        at=first.at,
        severity="high" if score >= 2 else "medium",
        score=score,
        summary=(
            f"{user} looked up {persons} different people in {minutes} minutes from "
            f"{_when(first.at)}, outside their usual hours ({usual or 'none learnt'})"
        ),
        seqs=tuple(sorted({look.seq for look in burst})),
        facts={
            "persons": persons,
            "peak_in_window": peak,
            "window_minutes": settings.bulk_window_minutes,
            "start": first.local.isoformat(),
            "end": last.local.isoformat(),
            "usual_hours": usual,
            "unlinked": sum(1 for look in burst if not look.linked),
        },
    )


def _hour_ranges(hours: Sequence[int]) -> str:
    """Usual hours as clock ranges, wrapping midnight: "22:00-07:00"."""
    if not hours:
        return ""
    if len(hours) == 24:
        return "any hour"
    chosen = set(hours)
    # start at an hour whose previous hour is not usual, so a night range stays whole
    starts = [h for h in range(24) if h in chosen and (h - 1) % 24 not in chosen]
    ranges = []
    for start in starts:
        end = start
        while (end + 1) % 24 in chosen:
            end = (end + 1) % 24
        ranges.append(f"{start:02d}:00-{(end + 1) % 24:02d}:00")
    return ", ".join(ranges)


def unlinked_lookups(
    looks: Sequence[LookUp],
    staff: Mapping[str, StaffProfile],
    settings: MisuseSettings = MisuseSettings(),
) -> list[Alert]:
    """Users who give no linked incident or crime reference far more often than others
    in their role, or who cite references that don't exist.

    Share test: the share of a user's look-up events without a linked reference,
    against the shares of others in the role (a safeguarding unit gives reasons more
    often than response officers do: each is compared with its own peers). The share
    is shrunk towards the peers' median by `unlinked_prior_lookups` look-ups, so a
    quiet user's few reasons weigh less than a busy user's many; and at least
    `unlinked_floor` unlinked look-ups are needed, so a single unlinked safeguarding
    check never alerts. Reference test (only when the known references were given): at
    least `unknown_ref_floor` different references that match no incident or crime, and
    at least `unknown_ref_min_share` of all the references the user cited, which a typo
    now and then does not reach.
    """
    events: dict[str, dict[int, LookUp]] = defaultdict(dict)
    for look in looks:
        events[look.username].setdefault(look.seq, look)
    raw: dict[str, float] = {
        user: sum(1 for look in mine.values() if not look.linked) / len(mine)
        for user, mine in events.items()
        if len(mine) >= settings.min_lookups_for_share
    }
    groups = _peer_groups({user: [share] for user, share in raw.items()}, staff, settings.min_peers)
    pools: dict[str, list[float]] = defaultdict(list)
    for user, value in raw.items():
        pools[groups[user]].append(value)
        pools["all"].append(value)
    spreads = {
        name: _Spread.of(values, settings.unlinked_min_spread)
        for name, values in pools.items()
        if values
    }
    alerts = []
    for user, mine in sorted(events.items()):
        unlinked = sorted(
            (look for look in mine.values() if not look.linked),
            key=lambda look: (look.at, look.seq),
        )
        if not unlinked:
            continue
        # an unlinked look-up that cites a reference cites one that matched nothing known
        made_up = sorted({r for look in unlinked if (r := _reference(look.purpose))})
        cited = {r for look in mine.values() if (r := _reference(look.purpose))}
        peers = spreads.get(groups.get(user, "all")) if user in raw else None
        share: float | None = None
        score: float | None = None
        threshold: float | None = None
        if peers is not None:
            prior = settings.unlinked_prior_lookups
            share = (len(unlinked) + prior * peers.median) / (len(mine) + prior)
            score = (share - peers.median) / peers.spread
            threshold = max(
                settings.unlinked_min_share, peers.median + settings.unlinked_k * peers.spread
            )
        by_share = (
            share is not None
            and threshold is not None
            and share >= threshold
            and len(unlinked) >= settings.unlinked_floor
        )
        by_reference = len(made_up) >= settings.unknown_ref_floor and len(made_up) >= (
            settings.unknown_ref_min_share * len(cited)
        )
        if by_share or by_reference:
            alerts.append(
                _unlinked_alert(
                    user,
                    unlinked,
                    len(mine),
                    made_up,
                    peers,
                    share,
                    score,
                    threshold,
                    groups.get(user, "all"),
                    staff,
                    settings,
                )
            )
    return alerts


def _unlinked_alert(
    user: str,
    unlinked: Sequence[LookUp],
    total: int,
    made_up: Sequence[str],
    peers: _Spread | None,
    share: float | None,
    score: float | None,
    threshold: float | None,
    group: str,
    staff: Mapping[str, StaffProfile],
    settings: MisuseSettings,
) -> Alert:
    reasons: dict[str, int] = defaultdict(int)
    for look in unlinked:
        reasons[_purpose_kind(look.purpose)] += 1
    parts = [
        f"{user} gave no linked incident or crime reference for {len(unlinked)} of "
        f"{total} look-ups ({len(unlinked) / total:.0%})"
    ]
    if peers is not None and threshold is not None:
        parts.append(
            f"others in the role ({group.replace('_', ' ')}) a median of {peers.median:.0%}, "
            f"alert from {threshold:.0%}"
        )
    if made_up:
        parts.append(f"{len(made_up)} references cited match no incident or crime")
    strong = (score is not None and score >= 2 * settings.unlinked_k) or (
        len(made_up) >= 2 * settings.unknown_ref_floor
    )
    return Alert(
        kind="unlinked_lookups",
        username=user,
        at=unlinked[0].at,
        severity="high" if strong else "medium",
        score=max(score or 0.0, float(len(made_up))),
        summary="; ".join(parts),
        seqs=tuple(look.seq for look in unlinked),
        facts={
            "unlinked": len(unlinked),
            "lookups": total,
            "share": None if share is None else round(share, 4),
            "role": _role(staff, user),
            "peer_group": group,
            "peer_median": None if peers is None else round(peers.median, 4),
            "threshold": None if threshold is None else round(threshold, 4),
            "unknown_references": list(made_up[:QUOTED_PURPOSES]),
            "purposes": dict(sorted(reasons.items())),
        },
    )


@functools.lru_cache(maxsize=4096)
def _reference(purpose: str | None) -> str | None:
    """The incident or crime reference a purpose cites, if any."""
    try:
        parsed = parse_purpose(purpose)
    except PurposeError:
        return None
    return parsed.reference if parsed.linked else None


@functools.lru_cache(maxsize=4096)
def _purpose_kind(purpose: str | None) -> str:
    """How an unlinked purpose falls short: a reason's code, an unknown reference, or
    none given / unreadable."""
    try:
        parsed = parse_purpose(purpose)
    except PurposeError:
        return "missing or unreadable"
    if parsed.linked:
        return f"unknown {parsed.kind} reference"
    return f"reason {parsed.reason}"
