"""The generated world in one object, and how a person appears in a source."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random
from collections import defaultdict

from peelian.synth.config import SynthConfig
from peelian.synth.geography import Geography
from peelian.synth.noise import Noiser
from peelian.synth.output import Truth
from peelian.synth.population import Population, ascii_fold
from peelian.synth.structures import Structures


@dataclasses.dataclass
class Officers:
    collar: list[str]
    callsign_base: list[str]
    station: list[int]  # settlement index
    team: list[int]  # 0-3: rota team
    rank: list[str]


@dataclasses.dataclass
class PersonMention:
    """One person as one source record shows them (noise applied)."""

    forename: str
    surname: str
    dob: dt.date | None
    sex: str
    address: str
    postcode: str
    phone: str
    address_index: int
    noise: list[str]


@dataclasses.dataclass
class World:
    cfg: SynthConfig
    geo: Geography
    pop: Population
    st: Structures
    officers: Officers
    truth: Truth

    def person(
        self, i: int, day: int, noiser: Noiser, *, fold: bool = False, phone: bool = True
    ) -> PersonMention:
        """Render person `i` as of ordinal `day` through a source's noise.

        `phone=False` for sources that hold no phone number for a person.
        """
        pop, geo = self.pop, self.geo
        noiser.reset()
        forename, surname = noiser.name(pop.forename[i], pop.surname_on(i, day))
        dob = noiser.dob(dt.date.fromordinal(int(pop.dob[i])))
        addr = pop.address_on(i, day)
        line = noiser.address(geo.address_line(addr))
        postcode = geo.addr_postcode[addr] if line or noiser.rng.random() < 0.5 else ""
        number = noiser.phone(pop.mobile[i]) if phone else ""
        if fold:
            forename, surname, line = ascii_fold(forename), ascii_fold(surname), ascii_fold(line)
        return PersonMention(
            forename=forename,
            surname=surname,
            dob=dob,
            sex="MF"[int(pop.sex[i])],
            address=line,
            postcode=postcode,
            phone=number,
            address_index=addr if (line or postcode) else -1,
            noise=list(noiser.applied),
        )

    def record_person(
        self, source: str, record_id: str, slot: str, i: int, m: PersonMention
    ) -> None:
        """Ground truth for a person mention and the address and phone it carries."""
        self.truth.mention(source, record_id, slot, "person", self.pop.person_id(i), m.noise)
        if m.address_index >= 0:
            self.truth.mention(
                source,
                record_id,
                f"{slot}.address",
                "address",
                self.geo.address_id(m.address_index),
            )
        if m.phone:
            self.truth.mention(
                source,
                record_id,
                f"{slot}.phone",
                "phone",
                phone_id(self.pop.phone_index[self.pop.mobile[i]]),
            )

    def age_on(self, i: int, day: int) -> int:
        return self.pop.age_on(i, day)

    @functools.cached_property
    def residents_of(self) -> dict[int, list[int]]:
        """Neighbourhood -> the people living there at the start of the window."""
        table: dict[int, list[int]] = defaultdict(list)
        home_nb = self.geo.addr_nb[self.pop.hh_addr[self.pop.hh]]
        for i, nb in enumerate(home_nb.tolist()):
            table[nb].append(i)
        return dict(table)


def phone_id(index: int) -> str:
    return f"T{index + 1:07d}"


def vehicle_id(index: int) -> str:
    return f"V{index + 1:07d}"


def random_time(day: int, profile: str, rng: random.Random) -> dt.datetime:
    """A time on `day` following a time-of-day profile (day / evening / night)."""
    if profile == "day":
        hour = min(23, max(0, int(rng.gauss(13.5, 3.5))))
    elif profile == "evening":
        hour = int(rng.gauss(20.5, 3.5)) % 24
    else:
        hour = int(rng.gauss(1.0, 4.0)) % 24
    return dt.datetime.fromordinal(day).replace(hour=hour, minute=rng.randrange(60), second=0)


def name_sort(forename: str, surname: str) -> str:
    """'SMITH, John' as many police systems hold names."""
    return f"{surname.upper()}, {forename}"
