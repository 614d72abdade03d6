"""A synthetic audit trail with planted misuse, and how well the detectors find it.

`generate_trail(seed, days, users)` builds a force's staff (response officers on
rotating shifts and fixed nights, investigators, analysts, safeguarding officers and
supervisors mostly in office hours), a population of people in households (staff and
their families among them), and the audit events of their normal work: searches and
profile views tied mostly to incidents and crimes, with reasons where the role gives
them (safeguarding checks, intelligence work). Into it go planted misuse cases of
every alert kind, with the truth (`PlantedCase`), and look-alike legitimate cases
(`LookAlike`) that a careless detector would flag: a night-shift officer working a big
incident at 3am, a staff member checking an unrelated SMITH across town, a namesake of
a colleague, analysts who are simply busy, safeguarding officers who rarely have an
incident number. The same seed always gives the same trail.

`evaluate(seed, days, users)` runs `peelian.govern.misuse.detect` over it and scores
the alerts per kind (see `score_alerts` for the matching rule):

    peelian eval misuse --seed 1 --days 30 --users 300
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peelian.govern.misuse import (
    KINDS,
    LOCAL_ZONE,
    Alert,
    MisuseSettings,
    PersonFacts,
    StaffProfile,
    detect,
)
from peelian.reference import read_table
from peelian.state.audit import GENESIS_HASH, AuditEvent, canonical_json, event_hash
from peelian.synth.rand import Weighted, np_rng, py_rng

__all__ = [
    "KindScore",
    "LookAlike",
    "MisuseEvaluation",
    "PlantedCase",
    "Trail",
    "evaluate",
    "generate_trail",
    "score_alerts",
]

DEFAULT_START = dt.date(2024, 3, 4)  # a Monday; 30 days from it cross the clocks going forward


@dataclass(frozen=True)
class _RoleHabits:
    """How a role works: its share of staff, shift patterns, distinct people looked up
    per shift (mean) and the purposes it gives ("incident", "crime" or a reason code)."""

    prefix: str
    share: float
    shifts: tuple[tuple[str, float], ...]
    persons_per_shift: float
    purposes: tuple[tuple[str, float], ...]


# Behaviour of the synthetic staff: invented to be plausible, not measured.
ROLES: dict[str, _RoleHabits] = {
    "response_officer": _RoleHabits(
        "pc",
        0.45,
        (("rotating", 0.75), ("nights", 0.25)),
        8.0,
        (
            ("incident", 0.90),
            ("crime", 0.05),
            ("officer_safety", 0.025),
            ("safeguarding", 0.015),
            ("missing_person", 0.01),
        ),
    ),
    "investigator": _RoleHabits(
        "dc",
        0.20,
        (("office", 0.85), ("rotating", 0.15)),
        12.0,
        (("crime", 0.70), ("incident", 0.20), ("investigation", 0.08), ("disclosure", 0.02)),
    ),
    "intelligence_analyst": _RoleHabits(
        "ia",
        0.10,
        (("office", 1.0),),
        28.0,
        (("intelligence", 0.55), ("crime", 0.30), ("incident", 0.15)),
    ),
    "safeguarding_officer": _RoleHabits(
        "sg",
        0.10,
        (("office", 1.0),),
        10.0,
        (("safeguarding", 0.45), ("incident", 0.35), ("crime", 0.20)),
    ),
    "supervisor": _RoleHabits(
        "ps",
        0.15,
        (("rotating", 0.7), ("office", 0.3)),
        5.0,
        (("incident", 0.85), ("crime", 0.05), ("officer_safety", 0.05), ("data_quality", 0.05)),
    ),
}
# Shift cycles, one letter a day: E early 07-15, L late 15-23, N night 22-07, O off.
CYCLES = {"rotating": "EELLNNOOOO", "nights": "NNNNOOOO"}
SHIFT_HOURS = {"E": (7, 8), "L": (15, 8), "N": (22, 9)}
NOTES = {
    "officer_safety": "vehicle stop on the ring road, checking the driver",
    "safeguarding": "welfare check on a child named in a referral",
    "missing_person": "enquiries for a missing teenager, no log yet",
    "investigation": "enquiry before a crime number is issued",
    "disclosure": "court disclosure request from the CPS",
    "intelligence": "intelligence development on a local network",
    "data_quality": "merging duplicate records for the same nominal",
}
MISUSE_NOTES = (
    "reason safeguarding: welfare check following a call",
    "reason intelligence: general enquiries on associates",
    "reason investigation: background research for a job",
)
TOWNS = (
    ("Brackenford", "BF"),
    ("Marsden Fold", "MF"),
    ("Colchesterholme", "CH"),
    ("Miltonbury", "MB"),
    ("Ashby Vale", "AV"),
)
STREET_TYPES = ("Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Grove")
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
HOUSEHOLD_SIZES = ((1, 0.3), (2, 0.3), (3, 0.2), (4, 0.15), (5, 0.05))
PERSONS_PER_USER = 30
# Share of references typed wrongly (so they match no incident or crime).
REFERENCE_TYPOS = 0.01
# Share of people whose hub record has only a misspelt surname.
SURNAME_MISSPELT = 0.04
# How long after the first event of a person the view follows, in seconds.
VIEW_DELAY = (20, 240)


@dataclass(frozen=True)
class PlantedCase:
    """One planted misuse: its kind, who, and the audit seqs that make it up. `also`
    names other kinds that would be right to raise on it (a 2am trawl of forty people
    is also a volume outlier); alerts of those kinds that match it are not false."""

    kind: str
    username: str
    seqs: frozenset[int]
    note: str
    also: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LookAlike:
    """Legitimate work that resembles misuse: no `guards` alert should cover `seqs`."""

    guards: str
    username: str
    seqs: frozenset[int]
    note: str


@dataclass(frozen=True)
class Trail:
    """A synthetic audit trail with everything `detect` needs and the truth."""

    seed: int
    start: dt.date
    days: int
    events: tuple[AuditEvent, ...]
    staff: dict[str, StaffProfile]
    persons: dict[str, PersonFacts]
    flagged: frozenset[str]
    known_refs: frozenset[str]
    planted: tuple[PlantedCase, ...]
    lookalikes: tuple[LookAlike, ...]


@dataclass
class _Person:
    """A synthetic person as the world has them (the hub sees `PersonFacts`)."""

    entity_id: str
    forename: str
    surname: str
    dob: dt.date
    address: str
    postcode: str
    household: int
    adult: bool
    in_hub: bool = True
    facts: PersonFacts | None = None


@dataclass
class _User:
    username: str
    role: str
    pattern: str
    phase: int
    office_start: int
    rate: float
    reason_bias: float
    person: _Person


@dataclass
class _Draft:
    """An audit event before its seq is known."""

    key: int
    at: dt.datetime
    actor: str
    action: str
    target: str | None = None
    detail: dict[str, Any] | None = None
    purpose: str | None = None
    outcome: str = "ok"


@dataclass
class _Shift:
    start: dt.datetime  # local, aware
    hours: int

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(hours=self.hours)


@dataclass
class _Builder:
    """Builds the trail: people, staff, then drafts of events, then the chain."""

    seed: int
    start: dt.date
    days: int
    n_users: int
    cases_per_kind: int
    rng: random.Random = field(init=False)
    nrng: np.random.Generator = field(init=False)
    people: list[_Person] = field(default_factory=list)
    users: list[_User] = field(default_factory=list)
    drafts: list[_Draft] = field(default_factory=list)
    known_refs: set[str] = field(default_factory=set)
    flagged: list[_Person] = field(default_factory=list)
    subjects: list[_Person] = field(default_factory=list)
    by_surname: dict[str, list[_Person]] = field(default_factory=lambda: defaultdict(list))
    planted: list[tuple[str, str, list[int], str, frozenset[str]]] = field(default_factory=list)
    lookalikes: list[tuple[str, str, list[int], str]] = field(default_factory=list)
    shift_cache: dict[str, list[_Shift]] = field(default_factory=dict)
    profiles: dict[str, StaffProfile] = field(default_factory=dict)
    nicknames: dict[str, list[str]] = field(default_factory=dict)
    households: dict[int, list[_Person]] = field(default_factory=lambda: defaultdict(list))
    staff_ids: set[str] = field(default_factory=set)
    ref_counter: int = 0
    vehicle_counter: int = 0

    def __post_init__(self) -> None:
        self.rng = py_rng(self.seed, "misuse-trail")
        self.nrng = np_rng(self.seed, "misuse-trail")
        for row in read_table("nicknames"):
            self.nicknames.setdefault(row["forename"].upper(), []).append(row["nickname"])

    # population ------------------------------------------------------------------

    def build_people(self) -> None:
        surnames = read_table("surnames")
        forenames = read_table("forenames")
        pick_surname = Weighted(
            [r["surname"] for r in surnames], [float(r["weight"]) for r in surnames]
        )
        pick_forename = Weighted(
            [r["forename"] for r in forenames], [float(r["weight"]) for r in forenames]
        )
        stems = [r["stem"] for r in read_table("street_names")]
        target = self.n_users * PERSONS_PER_USER
        household = 0
        postcode_fill = 8
        postcode = ""
        town, area = TOWNS[0]
        street = ""
        house = 0
        while len(self.people) < target:
            if postcode_fill >= 8:
                town, area = self.rng.choice(TOWNS)
                postcode = (
                    f"{area}{self.rng.randint(1, 9)} {self.rng.randint(0, 9)}"
                    f"{self.rng.choice(INWARD_LETTERS)}{self.rng.choice(INWARD_LETTERS)}"
                )
                street = f"{self.rng.choice(stems)} {self.rng.choice(STREET_TYPES)}"
                house = self.rng.randint(1, 40)
                postcode_fill = 0
            postcode_fill += 1
            house += self.rng.randint(1, 4)
            address = f"{house} {street}, {town}"
            household += 1
            surname = pick_surname.pick(self.rng)
            size = _pick_int(HOUSEHOLD_SIZES, self.rng)
            for member in range(size):
                adult = member < 2 or self.rng.random() < 0.2
                if adult:
                    born = dt.date(1950, 1, 1) + dt.timedelta(days=self.rng.randint(0, 54 * 365))
                else:
                    born = dt.date(2005, 1, 1) + dt.timedelta(days=self.rng.randint(0, 15 * 365))
                # a partner sometimes keeps their own surname
                own = member == 1 and self.rng.random() < 0.15
                person = _Person(
                    entity_id=f"P{len(self.people) + 1:08d}",
                    forename=pick_forename.pick(self.rng),
                    surname=pick_surname.pick(self.rng) if own else surname,
                    dob=born,
                    address=address,
                    postcode=postcode,
                    household=household,
                    adult=adult,
                )
                self.people.append(person)
                self.by_surname[person.surname].append(person)
                self.households[household].append(person)

    def build_staff(self) -> None:
        adults = [p for p in self.people if p.adult and 1960 <= p.dob.year <= 2002]
        chosen = self.rng.sample(adults, self.n_users)
        roles = list(ROLES)
        weights = [ROLES[r].share for r in roles]
        counters: dict[str, int] = defaultdict(int)
        for person in chosen:
            role = self.rng.choices(roles, weights)[0]
            habits = ROLES[role]
            counters[role] += 1
            pattern = _pick(habits.shifts, self.rng)
            rate = habits.persons_per_shift * float(self.nrng.lognormal(0.0, 0.2))
            self.users.append(
                _User(
                    username=f"{habits.prefix}{counters[role]:04d}",
                    role=role,
                    pattern=pattern,
                    phase=self.rng.randrange(10),
                    office_start=self.rng.choice((7, 8, 8, 9, 9, 10)),
                    rate=rate,
                    reason_bias=float(self.nrng.lognormal(0.0, 0.4)),
                    person=person,
                )
            )
            # many staff have a record of their own (victim, witness, vetting)
            person.in_hub = self.rng.random() < 0.65
        self.profiles = {u.username: self.profile(u) for u in self.users}
        self.staff_ids = {u.person.entity_id for u in self.users}
        staff_households = {u.person.household for u in self.users}
        others = [p for p in self.people if p.household not in staff_households]
        n_flagged = max(4, self.n_users // 40)
        self.flagged = self.rng.sample(others, n_flagged)
        flagged_ids = {p.entity_id for p in self.flagged}
        self.subjects = [p for p in others if p.entity_id not in flagged_ids]

    def profile(self, user: _User) -> StaffProfile:
        person = user.person
        return StaffProfile(
            username=user.username,
            role=user.role,
            forenames=person.forename,
            surname=person.surname.upper() if self.rng.random() < 0.5 else person.surname,
            date_of_birth=None if self.rng.random() < 0.08 else person.dob,
            home_postcode=person.postcode,
            home_address=None if self.rng.random() < 0.08 else person.address,
            teams=frozenset({f"{user.role.split('_')[0]}-{self.rng.choice('NSEW')}"}),
        )

    def facts(self, person: _Person) -> PersonFacts:
        """What the hub holds: the person's details as sources give them, with gaps, an
        older address, a nickname, and now and then only a misspelt surname (a record
        that no longer matches its owner's profile)."""
        if person.facts is None:
            addresses = [person.address]
            postcodes = [person.postcode]
            if self.rng.random() < 0.2:
                older = self.rng.choice(self.people)
                addresses.append(older.address)
                postcodes.append(older.postcode)
            forenames = [person.forename]
            nicknames = self.nicknames.get(person.forename.upper())
            if nicknames and self.rng.random() < 0.15:
                forenames = [self.rng.choice(nicknames)]
            surname = person.surname
            if self.rng.random() < SURNAME_MISSPELT:
                surname = _misspelt(surname, self.rng)
            person.facts = PersonFacts.from_values(
                person.entity_id,
                forenames=forenames,
                surnames=[surname],
                dates_of_birth=[] if self.rng.random() < 0.12 else [person.dob],
                postcodes=postcodes,
                addresses=addresses,
            )
        return person.facts

    # shifts and references ---------------------------------------------------------

    def shifts(self, user: _User) -> list[_Shift]:
        if user.username in self.shift_cache:
            return self.shift_cache[user.username]
        found = []
        for offset in range(self.days):
            day = self.start + dt.timedelta(days=offset)
            if user.pattern == "office":
                if day.weekday() >= 5 or self.rng.random() < 0.08:
                    continue
                start = _local(day, user.office_start, self.rng.randint(-20, 30))
                found.append(_Shift(start, 9))
                continue
            cycle = CYCLES[user.pattern]
            letter = cycle[(offset + user.phase) % len(cycle)]
            if letter == "O":
                continue
            hour, length = SHIFT_HOURS[letter]
            found.append(_Shift(_local(day, hour, self.rng.randint(-10, 10)), length))
        self.shift_cache[user.username] = found
        return found

    def new_ref(self, kind: str, day: dt.date) -> str:
        self.ref_counter += 1
        if kind == "crime":
            ref = f"43/{self.ref_counter:06d}/{day:%y}"
        else:
            ref = f"WM-{day:%Y%m%d}-{self.ref_counter:04d}"
        self.known_refs.add(ref)
        return ref

    def purpose(self, user: _User, day: dt.date) -> str:
        """A purpose as the role gives it; a user's reason_bias tilts them towards or
        away from reasons."""
        options = [
            (code, weight * (1.0 if code in ("incident", "crime") else user.reason_bias))
            for code, weight in ROLES[user.role].purposes
        ]
        code = _pick(options, self.rng)
        if code in ("incident", "crime"):
            ref = self.new_ref(code, day)
            if self.rng.random() < REFERENCE_TYPOS:
                ref = _typo(ref, self.rng)
            return f"{code} {ref}"
        return f"reason {code}: {NOTES[code]}"

    # events --------------------------------------------------------------------------

    def add(self, at: dt.datetime, actor: str, action: str, **columns: Any) -> int:
        key = len(self.drafts)
        self.drafts.append(_Draft(key, at.astimezone(dt.UTC), actor, action, **columns))
        return key

    def query_for(self, person: _Person) -> tuple[str, list[str]]:
        """A search an officer would type for `person`, and the person results it
        returns (the person and some others of the same surname)."""
        style = _pick(
            (("full", 0.35), ("comma", 0.2), ("postcode", 0.15), ("surname", 0.1), ("dob", 0.2)),
            self.rng,
        )
        forename, surname = person.forename, person.surname
        if self.rng.random() < 0.5:
            forename, surname = forename.lower(), surname.lower()
        text = {
            "full": f"{forename} {surname} {person.dob:%d/%m/%Y}",
            "comma": f"{surname.upper()}, {forename}",
            "postcode": f"{forename} {surname} {person.postcode}",
            "surname": surname,
            "dob": f"{surname} {person.dob:%Y-%m-%d}",
        }[style]
        namesakes = [p.entity_id for p in self.by_surname[person.surname] if p is not person]
        others = self.rng.sample(namesakes, min(len(namesakes), self.rng.randint(0, 4)))
        results = [person.entity_id, *others]
        if style == "surname":
            self.rng.shuffle(results)
        return text, results

    def look_up(
        self,
        user: _User,
        at: dt.datetime,
        person: _Person,
        purpose: str | None,
        *,
        view_chance: float = 0.75,
    ) -> list[int]:
        """A search for `person` and, usually, a view of their profile (sometimes a
        view alone, reached from an incident's linked records)."""
        self.facts(person)
        keys = []
        if self.rng.random() < 0.85:
            text, results = self.query_for(person)
            keys.append(
                self.add(
                    at,
                    user.username,
                    "search",
                    detail={"query": text, "results": results, "total": len(results)},
                    purpose=purpose,
                )
            )
            if self.rng.random() >= view_chance:
                return keys
            at = at + dt.timedelta(seconds=self.rng.randint(*VIEW_DELAY))
        keys.append(
            self.add(
                at,
                user.username,
                "entity.view",
                target=f"entity:{person.entity_id}",
                purpose=purpose,
            )
        )
        return keys

    def vehicle_search(self, user: _User, at: dt.datetime, purpose: str) -> None:
        self.vehicle_counter += 1
        plate = (
            f"{self.rng.choice(string.ascii_uppercase)}{self.rng.choice(string.ascii_uppercase)}"
            f"{self.rng.randint(10, 74)} {''.join(self.rng.choices(string.ascii_uppercase, k=3))}"
        )
        self.add(
            at,
            user.username,
            "search",
            detail={"query": plate, "results": [f"V{self.vehicle_counter:08d}"], "total": 1},
            purpose=purpose,
        )

    def normal_work(self) -> None:
        busy = {
            u.username
            for u in self.users
            if u.role == "intelligence_analyst" and self.rng.random() < 0.2
        }
        for user in self.users:
            multiplier = 1.9 if user.username in busy else 1.0
            keys: list[int] = []
            for shift in self.shifts(user):
                self.add(shift.start, user.username, "login", detail={"method": "password"})
                lam = user.rate * multiplier * float(self.nrng.gamma(10.0, 0.1))
                remaining = int(self.nrng.poisson(lam))
                while remaining > 0:
                    size = min(remaining, self.rng.choice((1, 1, 1, 2, 2, 3, 4)))
                    remaining -= size
                    at = shift.start + dt.timedelta(
                        minutes=self.rng.uniform(5, shift.hours * 60 - 20)
                    )
                    purpose = self.purpose(user, at.date())
                    for person in self.rng.sample(self.subjects, size):
                        keys += self.look_up(user, at, person, purpose)
                        at += dt.timedelta(minutes=self.rng.uniform(1, 6))
                    if self.rng.random() < 0.05:
                        self.vehicle_search(user, at, purpose)
                    if self.rng.random() < 0.01:
                        self.add(
                            at,
                            user.username,
                            "search",
                            detail={"query": "x" * 3},
                            purpose=None,
                            outcome="refused: a purpose of access is required",
                        )
            if user.username in busy:
                self.lookalikes.append(
                    ("volume_outlier", user.username, keys, "a busy analyst, every day")
                )
            if user.role == "safeguarding_officer":
                self.lookalikes.append(
                    (
                        "unlinked_lookups",
                        user.username,
                        keys,
                        "a safeguarding officer: reasons are the job",
                    )
                )

    # planted misuse --------------------------------------------------------------

    def misuse_purpose(self, user: _User, day: dt.date) -> str | None:
        """What a misuser types: often a real reference as cover, else a reason."""
        roll = self.rng.random()
        if roll < 0.5:
            return f"incident {self.new_ref('incident', day)}"
        if roll < 0.85:
            return self.rng.choice(MISUSE_NOTES)
        return None

    def plant(
        self, kind: str, user: _User, keys: list[int], note: str, also: Iterable[str] = ()
    ) -> None:
        self.planted.append((kind, user.username, keys, note, frozenset(also)))

    def identity_misuse(self, kind: str, user: _User, subject: _Person, note: str) -> None:
        shifts = self.shifts(user)
        keys: list[int] = []
        unlinked = False
        for shift in self.rng.sample(shifts, min(len(shifts), self.rng.randint(1, 3))):
            at = shift.start + dt.timedelta(minutes=self.rng.uniform(30, shift.hours * 60 - 30))
            purpose = self.misuse_purpose(user, at.date())
            unlinked |= purpose is None or not purpose.startswith("incident")
            # a misuser wants the details: they open the profile
            keys += self.look_up(user, at, subject, purpose, view_chance=1.0)
        self.plant(kind, user, keys, note, ["unlinked_lookups"] if unlinked else [])

    def plant_all(self) -> None:
        taken: set[str] = set()
        n = self.cases_per_kind

        def free(users: Iterable[_User]) -> list[_User]:
            return [u for u in users if u.username not in taken and self.shifts(u)]

        def claim(candidates: list[_User], k: int) -> list[_User]:
            chosen = self.rng.sample(candidates, min(k, len(candidates)))
            taken.update(u.username for u in chosen)
            return chosen

        for user in claim(free(u for u in self.users if u.person.in_hub), n):
            self.identity_misuse("self_lookup", user, user.person, "looks up their own record")
        with_family = [u for u in free(self.users) if any(self.family_of(u))]
        for user in claim(with_family, n):
            relative = self.rng.choice(self.family_of(user))
            self.identity_misuse(
                "family_lookup", user, relative, f"looks up relative {relative.entity_id}"
            )
        for user in claim(free(self.users), n):
            colleague = self.rng.choice(
                [
                    u
                    for u in self.users
                    if u is not user
                    and u.person.in_hub
                    and u.person.household != user.person.household
                ]
            )
            self.identity_misuse(
                "colleague_lookup",
                user,
                colleague.person,
                f"looks up colleague {colleague.username}",
            )
        for user in claim(free(self.users), n):
            celebrity = self.rng.choice(self.flagged)
            self.identity_misuse(
                "flagged_person", user, celebrity, f"looks up flagged {celebrity.entity_id}"
            )
        shift_workers = free(
            u for u in self.users if u.role in ("response_officer", "investigator", "supervisor")
        )
        for user in claim(shift_workers, n):
            self.volume_misuse(user)
        office = free(u for u in self.users if u.pattern == "office")
        for user in claim(office, n):
            self.night_trawl(user)
        for user in claim(
            free(u for u in self.users if u.role in ("response_officer", "investigator")), n
        ):
            self.unlinked_misuse(user)
        self.plant_lookalikes(taken)

    def family_of(self, user: _User) -> list[_Person]:
        """The user's household of their surname, staff left out."""
        return [
            p
            for p in self.households[user.person.household]
            if p is not user.person
            and p.surname == user.person.surname
            and p.entity_id not in self.staff_ids
        ]

    def volume_misuse(self, user: _User) -> None:
        shift = self.rng.choice(self.shifts(user))
        purpose = f"incident {self.new_ref('incident', shift.start.date())}"
        keys: list[int] = []
        count = self.rng.randint(25, 100)
        for person in self.rng.sample(self.subjects, count):
            at = shift.start + dt.timedelta(minutes=self.rng.uniform(10, shift.hours * 60 - 10))
            keys += self.look_up(user, at, person, purpose, view_chance=0.4)
        self.plant(
            "volume_outlier",
            user,
            keys,
            f"trawls {count} people in one shift",
            ["out_of_hours_bulk"],
        )

    def night_trawl(self, user: _User) -> None:
        day = self.start + dt.timedelta(days=self.rng.randrange(1, self.days))
        at = _local(day, self.rng.choice((0, 1, 2, 3)), self.rng.randint(0, 50))
        count = self.rng.randint(10, 35)
        span = self.rng.uniform(25, 55)
        keys: list[int] = []
        unlinked = False
        for i, person in enumerate(self.rng.sample(self.subjects, count)):
            purpose = self.misuse_purpose(user, day)
            unlinked |= purpose is None or not purpose.startswith("incident")
            when = at + dt.timedelta(minutes=span * i / count)
            keys += self.look_up(user, when, person, purpose, view_chance=0.3)
        also = ["volume_outlier", "unlinked_lookups"] if unlinked else ["volume_outlier"]
        self.plant("out_of_hours_bulk", user, keys, f"{count} people at night", also)

    def unlinked_misuse(self, user: _User) -> None:
        shifts = self.shifts(user)
        keys: list[int] = []
        for shift in self.rng.sample(shifts, min(len(shifts), self.rng.randint(5, 14))):
            for _ in range(self.rng.randint(2, 6)):
                at = shift.start + dt.timedelta(minutes=self.rng.uniform(10, shift.hours * 60 - 10))
                roll = self.rng.random()
                if roll < 0.6:
                    purpose: str | None = self.rng.choice(MISUSE_NOTES)
                elif roll < 0.85:
                    # a made-up incident number: well formed, but no such incident
                    purpose = f"incident WM-{at:%Y%m%d}-9{self.rng.randint(0, 999):03d}"
                else:
                    purpose = None
                keys += self.look_up(user, at, self.rng.choice(self.subjects), purpose)
        self.plant("unlinked_lookups", user, keys, "habitual look-ups with no reference")

    def neighbour(self, user: _User) -> _Person:
        """A new household of the user's surname a few doors along their street."""
        number, rest = user.person.address.split(" ", 1)
        person = _Person(
            entity_id=f"P{len(self.people) + 1:08d}",
            forename=self.rng.choice(self.people).forename,
            surname=user.person.surname,
            dob=user.person.dob + dt.timedelta(days=self.rng.randint(-9000, 9000)),
            address=f"{int(number) + self.rng.choice((1, 2, 3, 5))} {rest}",
            postcode=user.person.postcode,
            household=-1,
            adult=True,
        )
        self.people.append(person)
        return person

    def plant_lookalikes(self, taken: set[str]) -> None:
        n = self.cases_per_kind
        nights = [u for u in self.users if u.pattern == "nights" and u.username not in taken]
        for user in self.rng.sample(nights, min(n, len(nights))):
            night = self.rng.choice(self.shifts(user))
            at = night.start + dt.timedelta(hours=self.rng.uniform(3, 5))
            purpose = f"incident {self.new_ref('incident', at.date())}"
            count = self.rng.randint(16, 22)
            span = self.rng.uniform(35, 55)
            keys: list[int] = []
            for i, person in enumerate(self.rng.sample(self.subjects, count)):
                keys += self.look_up(
                    user, at + dt.timedelta(minutes=span * i / count), person, purpose
                )
            self.lookalikes.append(
                (
                    "out_of_hours_bulk",
                    user.username,
                    keys,
                    f"night shift: {count} people at a major incident",
                )
            )
        # a staff member checks someone of their surname who lives elsewhere, or a
        # neighbour of their surname a few doors down (same postcode, another house)
        common = sorted(
            (u for u in self.users if u.username not in taken and self.shifts(u)),
            key=lambda u: (-len(self.by_surname[u.person.surname]), u.username),
        )
        for i, user in enumerate(common[:n]):
            if i % 2 and self.profiles[user.username].home_address is not None:
                person = self.neighbour(user)
                where = "a neighbour"
            else:
                elsewhere = [
                    p
                    for p in self.by_surname[user.person.surname]
                    if p.postcode != user.person.postcode and p.entity_id not in self.staff_ids
                ]
                if not elsewhere:
                    continue
                person = self.rng.choice(elsewhere)
                where = "another home"
            shift = self.rng.choice(self.shifts(user))
            at = shift.start + dt.timedelta(hours=1)
            keys = self.look_up(user, at, person, f"incident {self.new_ref('incident', at.date())}")
            self.lookalikes.append(
                ("family_lookup", user.username, keys, f"same surname, {where}: {person.entity_id}")
            )
        # someone looks up a namesake of a colleague: same names, another date of birth
        in_hub = [u for u in self.users if u.person.in_hub]
        for colleague in self.rng.sample(in_hub, min(n, len(in_hub))):
            user = self.rng.choice(
                [u for u in self.users if u.username not in taken and u is not colleague]
            )
            template = colleague.person
            namesake = _Person(
                entity_id=f"P{len(self.people) + 1:08d}",
                forename=template.forename,
                surname=template.surname,
                dob=template.dob + dt.timedelta(days=self.rng.randint(400, 4000)),
                address=self.rng.choice(self.subjects).address,
                postcode=self.rng.choice(self.subjects).postcode,
                household=-1,
                adult=True,
            )
            self.people.append(namesake)
            shift = self.rng.choice(self.shifts(user))
            at = shift.start + dt.timedelta(hours=2)
            purpose = f"incident {self.new_ref('incident', at.date())}"
            self.facts(namesake)
            self.facts(template)
            search = self.add(
                at,
                user.username,
                "search",
                detail={
                    "query": f"{template.forename} {template.surname}",
                    "results": [namesake.entity_id, template.entity_id],
                    "total": 2,
                },
                purpose=purpose,
            )
            view = self.add(
                at + dt.timedelta(minutes=1),
                user.username,
                "entity.view",
                target=f"entity:{namesake.entity_id}",
                purpose=purpose,
            )
            self.lookalikes.append(
                (
                    "colleague_lookup",
                    user.username,
                    [search, view],
                    f"namesake of colleague {colleague.username}",
                )
            )

    # the chain -------------------------------------------------------------------

    def events(self) -> tuple[tuple[AuditEvent, ...], dict[int, int]]:
        """The drafts in time order as a hash chain; and each draft's seq."""
        ordered = sorted(self.drafts, key=lambda d: (d.at, d.key))
        events = []
        seq_of = {}
        prev = GENESIS_HASH
        for seq, draft in enumerate(ordered, start=1):
            columns: dict[str, Any] = {
                "seq": seq,
                "created_at": draft.at,
                "actor": draft.actor,
                "action": draft.action,
                "target": draft.target,
                "detail": draft.detail,
                "purpose": draft.purpose,
                "client": "web",
                "outcome": draft.outcome,
                "prev_hash": prev,
            }
            digest = event_hash(
                {
                    **columns,
                    "detail": None if draft.detail is None else canonical_json(draft.detail),
                }
            )
            events.append(AuditEvent(**columns, hash=digest))
            seq_of[draft.key] = seq
            prev = digest
        return tuple(events), seq_of


def _typo(ref: str, rng: random.Random) -> str:
    """The reference with one digit mistyped."""
    places = [i for i, c in enumerate(ref) if c.isdigit()]
    i = rng.choice(places[-4:])
    digit = str((int(ref[i]) + rng.randint(1, 9)) % 10)
    return ref[:i] + digit + ref[i + 1 :]


def _misspelt(name: str, rng: random.Random) -> str:
    """The name with one letter after the first changed."""
    i = rng.randrange(1, len(name)) if len(name) > 1 else 0
    letter = rng.choice([c for c in string.ascii_lowercase if c != name[i].lower()])
    return name[:i] + letter + name[i + 1 :]


def _local(day: dt.date, hour: int, minutes: int = 0) -> dt.datetime:
    """A wall-clock time in the force's zone, `minutes` after `hour` on `day`."""
    base = dt.datetime.combine(day, dt.time(hour), tzinfo=LOCAL_ZONE)
    return base + dt.timedelta(minutes=minutes)


def _pick(options: Sequence[tuple[str, float]], rng: random.Random) -> str:
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


def _pick_int(options: Sequence[tuple[int, float]], rng: random.Random) -> int:
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


def generate_trail(
    seed: int = 1,
    days: int = 30,
    users: int = 300,
    *,
    start: dt.date = DEFAULT_START,
    cases_per_kind: int | None = None,
) -> Trail:
    """A synthetic audit trail over `days` days from `start` for `users` staff, with
    `cases_per_kind` planted misuse cases of each kind (default: one per 60 users, at
    least 2). Deterministic for a seed."""
    if days < 7 or users < 30:
        raise ValueError("a misuse trail needs at least 7 days and 30 users (peers to compare)")
    builder = _Builder(seed, start, days, users, cases_per_kind or max(2, users // 60))
    builder.build_people()
    builder.build_staff()
    builder.normal_work()
    builder.plant_all()
    staff = builder.profiles
    persons = {p.entity_id: builder.facts(p) for p in builder.people if p.in_hub}
    events, seq_of = builder.events()

    def seqs(keys: Iterable[int]) -> frozenset[int]:
        return frozenset(seq_of[k] for k in keys)

    return Trail(
        seed=seed,
        start=start,
        days=days,
        events=events,
        staff=staff,
        persons=persons,
        flagged=frozenset(p.entity_id for p in builder.flagged),
        known_refs=frozenset(builder.known_refs),
        planted=tuple(
            PlantedCase(kind, user, seqs(keys), note, also)
            for kind, user, keys, note, also in builder.planted
        ),
        lookalikes=tuple(
            LookAlike(kind, user, seqs(keys), note) for kind, user, keys, note in builder.lookalikes
        ),
    )


# Evaluation -------------------------------------------------------------------------


@dataclass(frozen=True)
class KindScore:
    """How one alert kind did. `tp` and `fp` count alerts (right and wrong), `fn` the
    planted cases of the kind no alert of the kind found."""

    kind: str
    planted: int
    alerts: int
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float | None:
        return self.tp / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return (self.planted - self.fn) / self.planted if self.planted else None


@dataclass(frozen=True)
class MisuseEvaluation:
    """Precision and recall of every alert kind on one synthetic trail."""

    seed: int
    days: int
    users: int
    events: int
    scores: tuple[KindScore, ...]
    alerts: tuple[Alert, ...]

    @property
    def overall(self) -> KindScore:
        return KindScore(
            "all",
            sum(s.planted for s in self.scores),
            sum(s.alerts for s in self.scores),
            sum(s.tp for s in self.scores),
            sum(s.fp for s in self.scores),
            sum(s.fn for s in self.scores),
        )

    def rows(self) -> list[tuple[str, int, int, int, int, int, float | None, float | None]]:
        """(kind, planted, alerts, tp, fp, fn, precision, recall) per kind, then "all"."""
        return [
            (s.kind, s.planted, s.alerts, s.tp, s.fp, s.fn, s.precision, s.recall)
            for s in (*self.scores, self.overall)
        ]

    def table(self) -> str:
        """The rows as a plain-text table, with the trail's size."""
        head = ("kind", "planted", "alerts", "tp", "fp", "fn", "precision", "recall")
        lines = [
            f"misuse detection on a synthetic trail: seed {self.seed}, {self.days} days, "
            f"{self.users} users, {self.events} audit events",
            f"{head[0]:<20}" + "".join(f"{h:>10}" for h in head[1:]),
        ]
        for row in self.rows():
            kind, *counts, precision, recall = row
            lines.append(
                f"{kind:<20}"
                + "".join(f"{c:>10}" for c in counts)
                + f"{_ratio(precision):>10}{_ratio(recall):>10}"
            )
        return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _matches(alert: Alert, case: PlantedCase) -> bool:
    return alert.username == case.username and not case.seqs.isdisjoint(alert.seqs)


def score_alerts(trail: Trail, alerts: Sequence[Alert]) -> tuple[KindScore, ...]:
    """Score alerts against the planted truth, per kind.

    An alert is right (tp) when it names the user of a planted case whose events it
    overlaps (at least one audit seq in common), and that case is of the alert's kind
    or lists the kind in `also`; otherwise it is a false alarm (fp). A planted case is
    found when a right alert of its own kind matches it; one missed is a fn. So recall
    counts cases and precision counts alerts, and a trawl at 2am that is also a volume
    outlier costs nothing in precision.
    """
    scores = []
    for kind in KINDS:
        mine = [a for a in alerts if a.kind == kind]
        cases = [c for c in trail.planted if c.kind == kind]
        relevant = [c for c in trail.planted if c.kind == kind or kind in c.also]
        tp = sum(1 for a in mine if any(_matches(a, c) for c in relevant))
        fn = sum(1 for c in cases if not any(_matches(a, c) for a in mine))
        scores.append(KindScore(kind, len(cases), len(mine), tp, len(mine) - tp, fn))
    return tuple(scores)


def evaluate(
    seed: int = 1,
    days: int = 30,
    users: int = 300,
    settings: MisuseSettings | None = None,
) -> MisuseEvaluation:
    """Generate a trail, run every detector over it and score the alerts.

    >>> result = evaluate(seed=1, days=14, users=60)
    >>> [row[0] for row in result.rows()][-1]
    'all'
    """
    trail = generate_trail(seed, days, users)
    alerts = detect(
        trail.events,
        trail.staff,
        trail.persons,
        trail.flagged,
        trail.known_refs,
        settings or MisuseSettings(),
    )
    return MisuseEvaluation(
        seed=seed,
        days=days,
        users=users,
        events=len(trail.events),
        scores=score_alerts(trail, alerts),
        alerts=tuple(alerts),
    )
