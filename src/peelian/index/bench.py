"""`peelian bench search`: build time, size and latency at scale; quality against
the synthetic truth, side by side with PostgreSQL pg_trgm.

Scale: N synthetic person entities (names drawn by weight from the reference
forename and surname tables, plus a long tail of rare surnames made from
syllables, as a real force's nominal index has; DOB, postcode, phone, some
with a nickname or a second surname), N/10 vehicles and N/10 free-text
reports. They go through the same `index_document` and `write_index` as a
snapshot does; the time to invent them is measured apart and left out.

Latency is the engine's: parse, query, top 10 collapsed to entities, stored
fields read and matches explained; counts and facets are timed separately.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peelian.index.access import Viewer
from peelian.index.documents import index_document, text_document
from peelian.index.evaluate import nicknames_by_forename, one_typo
from peelian.reference import read_table

SEEN = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
SYLLABLES = [
    "ab",
    "ad",
    "al",
    "an",
    "ar",
    "ash",
    "ay",
    "ba",
    "bel",
    "ber",
    "bo",
    "bra",
    "bro",
    "ca",
    "car",
    "cha",
    "chi",
    "co",
    "cor",
    "da",
    "dal",
    "den",
    "dor",
    "ed",
    "el",
    "en",
    "er",
    "far",
    "fen",
    "fin",
    "ford",
    "ga",
    "gar",
    "gil",
    "gor",
    "ha",
    "hal",
    "ham",
    "har",
    "hen",
    "hol",
    "ing",
    "ja",
    "jen",
    "ka",
    "kel",
    "ken",
    "kin",
    "la",
    "lan",
    "ley",
    "lin",
    "lo",
    "mac",
    "mal",
    "man",
    "mar",
    "mer",
    "mil",
    "mo",
    "mor",
    "na",
    "nel",
    "nor",
    "o",
    "os",
    "pa",
    "pel",
    "per",
    "ra",
    "ran",
    "rid",
    "ro",
    "ros",
    "sa",
    "sel",
    "sha",
    "shaw",
    "son",
    "sta",
    "ston",
    "ta",
    "tal",
    "ter",
    "thor",
    "to",
    "tor",
    "vin",
    "wal",
    "war",
    "well",
    "wen",
    "win",
    "worth",
    "ya",
    "yor",
    "zel",
]
STREETS = ("Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Grove")
REPORT = (
    "{f} {s} has been seen carrying a {w} around {p}",
    "{f} {s} is believed to be dealing {d} from {n} {st} {t}",
    "{f} {s} seen getting into a {c} car {v} driven by an older male",
    "{f} {s} is associating with {f2} {s2} near {p}",
)
WEAPONS = ("knife", "machete", "samurai sword", "zombie knife", "baseball bat", "firearm")
DRUGS = ("crack", "heroin", "cannabis", "cocaine", "spice", "ketamine")
COLOURS = ("black", "white", "silver", "blue", "red", "grey")
PLACES = ("the park", "the station", "the precinct", "the canal", "the retail park")


@dataclass
class Population:
    """Weighted name tables for drawing a synthetic population."""

    forenames: list[str]
    forename_weights: list[float]
    surnames: list[str]
    surname_weights: list[float]
    nicknames: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Population:
        fore: dict[str, float] = {}
        for row in read_table("forenames"):
            fore[row["forename"]] = fore.get(row["forename"], 0) + float(row["weight"])
        sur: dict[str, float] = {}
        for row in read_table("surnames"):
            sur[row["surname"]] = sur.get(row["surname"], 0) + float(row["weight"])
        nick = nicknames_by_forename()
        return cls(list(fore), list(fore.values()), list(sur), list(sur.values()), nick)


def _rare_surname(rnd: random.Random) -> str:
    return "".join(rnd.choice(SYLLABLES) for _ in range(rnd.choice((2, 2, 3)))).title()


def _vrm(rnd: random.Random) -> str:
    letters = "ABCDEFGHJKLMNOPRSTUVWXYZ"
    year = rnd.choice([*range(51, 75), *range(2, 25)])
    return (
        rnd.choice(letters)
        + rnd.choice(letters)
        + f"{year:02d}"
        + "".join(rnd.choice(letters) for _ in range(3))
    )


def _postcode(rnd: random.Random) -> str:
    unit = "".join(rnd.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(2))
    return f"BF{rnd.randint(1, 40)} {rnd.randint(0, 9)}{unit}"


@dataclass(frozen=True)
class BenchPerson:
    entity_id: str
    forename: str
    surname: str
    dob: str
    postcode: str


def synthetic_groups(
    n_people: int, seed: int = 1, sample_every: int = 5_000
) -> Iterator[tuple[dict[str, Any], BenchPerson | None]]:
    """(entity group, the person when sampled for queries) for N people, N/10
    vehicles and N/10 reports, deterministic for a seed."""
    rnd = random.Random(seed)
    pop = Population.load()
    batch = 10_000
    made = 0
    while made < n_people:
        k = min(batch, n_people - made)
        fores = rnd.choices(pop.forenames, pop.forename_weights, k=k)
        surs = rnd.choices(pop.surnames, pop.surname_weights, k=k)
        for i in range(k):
            number = made + i
            forename = fores[i]
            surname = surs[i] if rnd.random() < 0.7 else _rare_surname(rnd)
            dob = dt.date(1930, 1, 1) + dt.timedelta(days=rnd.randrange(32_000))
            postcode = _postcode(rnd)
            forenames = [forename]
            if rnd.random() < 0.15 and forename.lower() in pop.nicknames:
                forenames.append(rnd.choice(pop.nicknames[forename.lower()]))
            surnames = [surname.upper()]
            if rnd.random() < 0.05:
                surnames.append(rnd.choice(pop.surnames).upper())
            entity_id = f"P{number:09d}"
            fields = {
                "forenames": forenames,
                "surname": surnames,
                "date_of_birth": [dob.isoformat()],
                "postcode": [postcode],
                "address": [
                    f"{rnd.randint(1, 200)} {rnd.choice(SYLLABLES).title()} {rnd.choice(STREETS)}"
                ],
                "phone": [f"+4477{rnd.randint(0, 99_999_999):08d}"],
            }
            group = {
                "entity_id": entity_id,
                "entity_type": "person",
                "marking": "OFFICIAL" if rnd.random() < 0.95 else "OFFICIAL-SENSITIVE",
                "compartment": "-",
                "roles": ["*"],
                "fields": fields,
                "mentions": rnd.randint(1, 12),
                "first_seen": SEEN,
                "last_seen": SEEN,
            }
            sampled = number % sample_every == 0
            person = BenchPerson(entity_id, forename, surname, dob.isoformat(), postcode)
            yield group, person if sampled else None
            if number % 10 == 0:
                yield _vehicle(rnd, number), None
                yield _report(rnd, number, forename, surname, pop), None
        made += k


def _vehicle(rnd: random.Random, number: int) -> dict[str, Any]:
    return {
        "entity_id": f"V{number:09d}",
        "entity_type": "vehicle",
        "marking": "OFFICIAL",
        "compartment": "-",
        "roles": ["*"],
        "fields": {"vrm": [_vrm(rnd)], "colour": [rnd.choice(COLOURS).upper()]},
        "mentions": 1,
        "first_seen": SEEN,
        "last_seen": SEEN,
    }


def _report(
    rnd: random.Random, number: int, forename: str, surname: str, pop: Population
) -> dict[str, Any]:
    text = rnd.choice(REPORT).format(
        f=forename,
        s=surname,
        f2=rnd.choice(pop.forenames),
        s2=rnd.choice(pop.surnames),
        w=rnd.choice(WEAPONS),
        d=rnd.choice(DRUGS),
        p=rnd.choice(PLACES),
        n=rnd.randint(1, 200),
        st=rnd.choice(SYLLABLES).title() + " " + rnd.choice(STREETS),
        t="Brackenford",
        c=rnd.choice(COLOURS),
        v=_vrm(rnd),
    )
    return {
        "_text": True,
        "mention_id": f"intelligence:INT/{number}:report",
        "field": "text",
        "text": text,
        "source": "intelligence",
        "record_id": f"INT/{number}",
        "event_type": "intelligence_report",
        "reference": f"INT/{number}",
        "occurred": SEEN,
        "marking": "OFFICIAL-SENSITIVE",
        "compartment": "-",
        "roles": ["*"],
        "seen_at": SEEN,
    }


@dataclass
class ScaleRun:
    documents: int
    build_seconds: float
    generate_seconds: float
    index_bytes: int
    sampled: list[BenchPerson]


def build_scale_index(target: Path, n_people: int, seed: int = 1) -> ScaleRun:
    """Write the synthetic population's index to `target`; time the build alone."""
    from peelian.index.build import write_index

    sampled: list[BenchPerson] = []
    generating = 0.0

    def documents() -> Iterator[dict[str, Any]]:
        nonlocal generating
        source = synthetic_groups(n_people, seed)
        while True:
            started = time.perf_counter()
            try:
                group, person = next(source)
            except StopIteration:
                generating += time.perf_counter() - started
                return
            generating += time.perf_counter() - started
            if person is not None:
                sampled.append(person)
            yield text_document(group) if group.get("_text") else index_document(group)

    started = time.perf_counter()
    counts = write_index(target, documents(), {"bench": True, "people": n_people})
    total = time.perf_counter() - started
    size = sum(f.stat().st_size for f in target.iterdir())
    return ScaleRun(sum(counts.values()), total - generating, generating, size, sampled)


def bench_queries(people: list[BenchPerson], seed: int = 3) -> dict[str, list[str]]:
    """Person, partial-plate and free-text queries for the latency runs."""
    rnd = random.Random(seed)
    out: dict[str, list[str]] = {
        "person": [],
        "person typo": [],
        "partial plate": [],
        "free text": [],
    }
    for p in people:
        y, m, d = p.dob.split("-")
        out["person"].append(f"{p.forename} {p.surname} {d}/{m}/{y}")
        out["person typo"].append(f"{p.forename} {one_typo(p.surname, rnd)} {y}")
        plate = _vrm(rnd)
        hidden = rnd.randrange(2, 7)
        out["partial plate"].append(plate[:hidden] + "?" + plate[hidden + 1 :])
        out["free text"].append(
            rnd.choice(
                (f"{rnd.choice(WEAPONS)} {rnd.choice(PLACES)}", f"dealing {rnd.choice(DRUGS)}")
            )
        )
    return out


def latency(run: Callable[[str], object], queries: list[str]) -> tuple[float, float, float]:
    """p50, p95 and max in ms of `run(query)` over the queries (after a warm-up)."""
    for q in queries[:20]:
        run(q)
    times = []
    for q in queries:
        started = time.perf_counter()
        run(q)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return (
        statistics.median(times),
        times[min(len(times) - 1, int(len(times) * 0.95))],
        times[-1],
    )


BENCH_VIEWER = Viewer("bench", "OFFICIAL-SENSITIVE")
