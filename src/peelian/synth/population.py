"""People, households, phones, vehicles and identifiers of the synthetic force.

Everyone who lives in the force area (and a few thousand in the county-line
markets outside it), whether or not the police ever meet them. Columns are
NumPy arrays or lists indexed by person number; ids are made from the index.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import random
import unicodedata
from collections import defaultdict
from typing import Any

import numpy as np

from peelian.reference import read_table
from peelian.standardise.identifiers import nhs_check_digit, vrm_age_identifier
from peelian.synth.geography import BACKGROUNDS, Geography
from peelian.synth.rand import Weighted, np_rng, py_rng

NAME_BACKGROUNDS = tuple(b for b in BACKGROUNDS if b != "mixed")
ADULT_AGE_BANDS = ((18, 30, 0.20), (30, 45, 0.26), (45, 65, 0.32), (65, 96, 0.22))
ETHNIC_CODES: dict[str, tuple[tuple[str, float], ...]] = {
    "white_british": (("W1", 0.985), ("W3", 0.005), ("NS", 0.01)),
    "irish": (("W2", 0.9), ("W3", 0.1)),
    "other_white": (("W9", 0.9), ("O9", 0.1)),
    "east_european": (("W9", 1.0),),
    "south_asian": (("A2", 0.45), ("A1", 0.27), ("A3", 0.15), ("A9", 0.13)),
    "black_african": (("B2", 0.9), ("B9", 0.1)),
    "black_caribbean": (("B1", 0.9), ("B9", 0.1)),
    "chinese": (("A4", 1.0),),
    "arab": (("O1", 1.0),),
    "mixed": (("M1", 0.4), ("M3", 0.3), ("M2", 0.15), ("M9", 0.15)),
}
MIXED_NAME_BACKGROUND = {
    "M1": "black_caribbean",
    "M2": "black_african",
    "M3": "south_asian",
    "M9": "other_white",
}
EMAIL_DOMAINS = (
    "gmail.com",
    "hotmail.co.uk",
    "outlook.com",
    "yahoo.co.uk",
    "icloud.com",
    "live.co.uk",
)
# DVLA memory tags: the first letter of a current-style plate is the region.
LOCAL_PLATE_REGIONS = "PMY"


def ascii_fold(text: str) -> str:
    """'Łukasz Wiśniewski' -> 'Lukasz Wisniewski' (for emails and old systems)."""
    text = text.replace("ł", "l").replace("Ł", "L").replace("ø", "o").replace("Ø", "O")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@dataclasses.dataclass
class Population:
    # people
    forename: list[str]
    middle: list[str]
    surname: list[str]
    birth_surname: list[str]  # differs from surname for people whose name changed
    surname_changed: np.ndarray  # ordinal date of the change; 0 = before any record
    sex: np.ndarray  # 0 male, 1 female
    dob: np.ndarray  # ordinal dates
    eth_code: list[str]
    hh: np.ndarray
    mother: np.ndarray  # person index or -1
    father: np.ndarray
    twin_of: np.ndarray  # person index or -1
    junior_of: np.ndarray  # son named after the father at the same address, or -1
    mobile: list[str]  # national format 07..., '' for none
    email: list[str]
    ni: list[str]
    nhs: list[str]
    vulnerable: np.ndarray  # bool: vulnerable adult (cuckooing target)
    street_name: list[str]  # filled for some offenders
    alias: list[str]  # "Forename Surname" alias, for some offenders
    # households
    hh_addr: np.ndarray
    hh_addr_after: np.ndarray  # address after a move, or -1
    hh_moved: np.ndarray  # ordinal date of the move, or 0
    hh_landline: list[str]
    hh_kind: list[str]  # family / single / sharers / hmo / labour_site
    # vehicles
    veh_vrm: list[str]
    veh_make: list[str]
    veh_model: list[str]
    veh_colour: list[str]
    veh_keeper: np.ndarray
    # phones: every number any entity uses (mobiles, landlines, deal lines)
    phone_number: list[str]
    phone_owner: list[int]  # person index, or -1 (deal lines, landlines)
    phone_index: dict[str, int]
    # derived indexes
    hh_members: list[list[int]]

    @property
    def n(self) -> int:
        return len(self.forename)

    def person_id(self, i: int) -> str:
        return f"P{i + 1:08d}"

    def address_on(self, i: int, day: int) -> int:
        """The address person `i` lives at on ordinal `day`."""
        h = int(self.hh[i])
        if self.hh_moved[h] and day >= self.hh_moved[h]:
            return int(self.hh_addr_after[h])
        return int(self.hh_addr[h])

    def surname_on(self, i: int, day: int) -> str:
        changed = int(self.surname_changed[i])
        if changed and day < changed:
            return self.birth_surname[i]
        return self.surname[i]

    def age_on(self, i: int, day: int) -> int:
        born = dt.date.fromordinal(int(self.dob[i]))
        on = dt.date.fromordinal(day)
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    @functools.cached_property
    def vehicles_of(self) -> dict[int, list[int]]:
        """Person -> the vehicles they keep."""
        table: dict[int, list[int]] = defaultdict(list)
        for v, keeper in enumerate(self.veh_keeper.tolist()):
            table[keeper].append(v)
        return dict(table)

    def add_phone(self, number: str, owner: int) -> int:
        idx = len(self.phone_number)
        self.phone_number.append(number)
        self.phone_owner.append(owner)
        self.phone_index[number] = idx
        return idx


class _NamePools:
    """Weighted forename and surname pools by sex, background and birth decade."""

    def __init__(self) -> None:
        self.forenames: dict[tuple[str, str, str], tuple[list[str], np.ndarray]] = {}
        grouped: dict[tuple[str, str, str], list[tuple[str, float]]] = defaultdict(list)
        for row in read_table("forenames"):
            grouped[(row["sex"], row["background"], row["cohort"])].append(
                (row["forename"], float(row["weight"]))
            )
        for key, rows in grouped.items():
            weights = np.array([w for _, w in rows])
            self.forenames[key] = ([n for n, _ in rows], weights / weights.sum())
        sgroup: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for row in read_table("surnames"):
            sgroup[row["background"]].append((row["surname"], float(row["weight"])))
        self.surnames = {
            bg: Weighted([n for n, _ in rows], [w for _, w in rows]) for bg, rows in sgroup.items()
        }

    def forename_key(self, sex: str, background: str, decade: int) -> tuple[str, str, str]:
        decade = min(max(decade, 1930), 2020)
        for key in ((sex, background, str(decade)), (sex, background, "all")):
            if key in self.forenames:
                return key
        cohorts = sorted(
            int(k[2]) for k in self.forenames if k[:2] == (sex, background) and k[2] != "all"
        )
        if cohorts:
            nearest = min(cohorts, key=lambda c: abs(c - decade))
            return (sex, background, str(nearest))
        return self.forename_key(sex, "white_british", decade)

    def surname(self, background: str, rng: random.Random) -> str:
        pool = self.surnames.get(background) or self.surnames["white_british"]
        return pool.pick(rng)


def _adult_age(rng: random.Random) -> int:
    r = rng.random()
    acc = 0.0
    for lo, hi, share in ADULT_AGE_BANDS:
        acc += share
        if r <= acc:
            return rng.randrange(lo, hi)
    return rng.randrange(18, 90)


def build_population(
    settings: dict[str, Any], geo: Geography, seed: int, start: dt.date, end: dt.date
) -> Population:
    """Households at addresses, people with names, dates of birth, phones, vehicles, ids."""
    rng = py_rng(seed, "population")
    pop_cfg = settings["population"]
    pools = _NamePools()
    start_ord = start.toordinal()
    end_ord = end.toordinal()

    size_pick = Weighted(
        [int(k) for k in pop_cfg["household_size"]],
        [float(v) for v in pop_cfg["household_size"].values()],
    )
    eth_pick = {
        bg: Weighted([c for c, _ in codes], [w for _, w in codes])
        for bg, codes in ETHNIC_CODES.items()
    }

    sex: list[int] = []
    age: list[float] = []
    name_bg: list[str] = []
    eth: list[str] = []
    surname: list[str] = []
    birth_surname: list[str] = []
    hh_of: list[int] = []
    mother: list[int] = []
    father: list[int] = []
    twin_of: list[int] = []
    junior_of: list[int] = []
    hh_addr: list[int] = []
    hh_kind: list[str] = []

    def add(
        hh: int, s: int, a: float, bg: str, code: str, sur: str, birth_sur: str | None = None
    ) -> int:
        idx = len(sex)
        sex.append(s)
        age.append(a)
        name_bg.append(bg)
        eth.append(code)
        surname.append(sur)
        birth_surname.append(birth_sur or sur)
        hh_of.append(hh)
        mother.append(-1)
        father.append(-1)
        twin_of.append(-1)
        junior_of.append(-1)
        return idx

    def person_background(nb_mix: np.ndarray) -> tuple[str, str]:
        bg = BACKGROUNDS[_pick_index(nb_mix, rng)]
        code = eth_pick[bg].pick(rng)
        nbg = MIXED_NAME_BACKGROUND.get(code, "white_british") if bg == "mixed" else bg
        if rng.random() < float(pop_cfg["mixed_household_rate"]) and bg == "white_british":
            nbg = "white_british"
        return nbg, code

    spare_addresses: list[int] = []
    special: dict[int, list[str]] = defaultdict(list)
    n_inforce = int(
        sum(int(geo.nb_people[nb]) for nb in range(len(geo.nb_code)) if geo.in_force(nb))
    )
    org = settings["organised_crime"]
    for kind, per_100k in (
        ("hmo", pop_cfg["hmo_per_100k"]),
        ("labour_site", org["labour_sites_per_100k"]),
    ):
        count = max(1, round(float(per_100k) * n_inforce / 100_000))
        for _ in range(count):
            nb = rng.randrange(len(geo.nb_code))
            while not geo.in_force(nb):
                nb = rng.randrange(len(geo.nb_code))
            special[nb].append(kind)

    for nb in range(len(geo.nb_code)):
        mix = geo.nb_mix[nb]
        first, last = geo.addresses_in(nb).start, geo.addresses_in(nb).stop
        next_addr = first
        target = int(geo.nb_people[nb])
        placed = 0
        kinds = list(special.get(nb, []))
        while placed < target and next_addr < last:
            hh = len(hh_addr)
            hh_addr.append(next_addr)
            next_addr += 1
            if kinds:
                kind = kinds.pop()
                lo, hi = (4, 8) if kind == "hmo" else tuple(org["labour_site_adults"])
                n = rng.randint(int(lo), int(hi))
                hh_kind.append(kind)
                for _ in range(n):
                    if kind == "labour_site":
                        bg = rng.choice(
                            (
                                "east_european",
                                "east_european",
                                "east_european",
                                "other_white",
                                "south_asian",
                            )
                        )
                        code = eth_pick[bg].pick(rng)
                        s = 0 if rng.random() < 0.75 else 1
                        a = rng.uniform(19, 52)
                    else:
                        bg, code = person_background(mix)
                        s = rng.randrange(2)
                        a = rng.uniform(18, 34)
                    add(hh, s, a, bg, code, pools.surname(bg, rng))
                placed += n
                continue
            size = size_pick.pick(rng)
            bg, code = person_background(mix)
            sur = pools.surname(bg, rng)
            if size == 1:
                hh_kind.append("single")
                add(hh, rng.randrange(2), _adult_age(rng) + rng.random(), bg, code, sur)
                placed += 1
                continue
            r = rng.random()
            if size == 2 and r < 0.12:
                hh_kind.append("sharers")
                for _ in range(2):
                    bg2, code2 = person_background(mix)
                    add(
                        hh,
                        rng.randrange(2),
                        rng.uniform(19, 40),
                        bg2,
                        code2,
                        pools.surname(bg2, rng),
                    )
                placed += 2
                continue
            hh_kind.append("family")
            lone = (size == 2 and r < 0.35) or (size > 2 and r < 0.17)
            a1 = float(_adult_age(rng)) + rng.random()
            if size > 2:
                a1 = rng.uniform(24, 55)
            if lone:
                s1 = 1 if rng.random() < 0.86 else 0
                p1 = add(hh, s1, a1, bg, code, sur)
                parents = [p1]
            else:
                a2 = max(18.0, a1 + rng.gauss(-1.5, 3.5))
                father_i = add(hh, 0, a1, bg, code, sur)
                wife_sur = sur
                wife_birth = pools.surname(bg, rng)
                if rng.random() < 0.12:
                    wife_sur = wife_birth  # kept her own name
                mother_i = add(hh, 1, a2, bg, code, wife_sur, wife_birth)
                parents = [father_i, mother_i]
            children = size - len(parents)
            if size > 3 and rng.random() < 0.12 and children > 0:
                # a grandparent lives with the family
                add(hh, rng.randrange(2), min(95.0, a1 + rng.uniform(22, 32)), bg, code, sur)
                children -= 1
            oldest_parent = max(age[p] for p in parents)
            youngest_parent = min(age[p] for p in parents)
            child_sur = sur
            if len(parents) == 2 and rng.random() < float(pop_cfg["double_barrelled_rate"]):
                child_sur = (
                    f"{birth_surname[parents[1]]}-{sur}"
                    if birth_surname[parents[1]] != sur
                    else sur
                )
            prev = -1
            for c in range(children):
                if prev >= 0 and rng.random() < float(pop_cfg["twins_rate"]) * 3:
                    ca = age[prev]
                else:
                    ca = rng.uniform(0, min(18.0, max(0.5, youngest_parent - 17)))
                    if oldest_parent - ca > 46:
                        ca = max(0.0, oldest_parent - rng.uniform(20, 40))
                child = add(hh, rng.randrange(2), ca, bg, code, child_sur)
                if prev >= 0 and age[prev] == ca:
                    twin_of[child] = prev
                    twin_of[prev] = child
                for p in parents:
                    if sex[p] == 1:
                        mother[child] = p
                    else:
                        father[child] = p
                prev = child
                _ = c
            placed += size
        spare_addresses.extend(range(next_addr, last))

    n = len(sex)
    nrng = np_rng(seed, "population-bulk")
    sex_arr = np.array(sex, dtype=np.int8)
    age_arr = np.array(age)
    ref = start_ord
    dob = (ref - np.floor(age_arr * 365.25)).astype(np.int64) - nrng.integers(0, 365, size=n)
    # twins share a date of birth
    twins = np.array(twin_of)
    both = np.flatnonzero(twins >= 0)
    dob[both] = np.minimum(dob[both], dob[twins[both]])
    birth_year = np.array([dt.date.fromordinal(int(d)).year for d in dob])
    decade = (birth_year // 10) * 10

    # forenames by sex, background and birth decade (vectorised per group)
    forename = [""] * n
    middle = [""] * n
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i in range(n):
        groups[pools.forename_key("MF"[sex[i]], name_bg[i], int(decade[i]))].append(i)
    for key in sorted(groups):
        idx = groups[key]
        names, probs = pools.forenames[key]
        chosen = nrng.choice(len(names), size=len(idx), p=probs)
        mids = nrng.choice(len(names), size=len(idx), p=probs)
        has_mid = nrng.random(len(idx)) < float(pop_cfg["middle_name_rate"])
        for j, i in enumerate(idx):
            forename[i] = names[chosen[j]]
            if has_mid[j] and names[mids[j]] != names[chosen[j]]:
                middle[i] = names[mids[j]]
    # twins get different names; some sons are named after their father
    for i in both.tolist():
        t = int(twins[i])
        if i < t and forename[i] == forename[t]:
            forename[t] = forename[t] + "a" if sex[t] else forename[t] + "o"
    junior_rate = float(pop_cfg["junior_senior_rate"])
    for i in range(n):
        f = father[i]
        if (
            f >= 0
            and sex[i] == 0
            and twin_of[i] < 0
            and surname[i] == surname[f]
            and rng.random() < junior_rate
        ):
            forename[i] = forename[f]
            junior_of[i] = f

    # surname changes: wives' names changed before records began, a few during the window
    changed = np.zeros(n, dtype=np.int64)
    change_rate = float(pop_cfg["surname_change_rate"])
    for i in range(n):
        if birth_surname[i] != surname[i] and rng.random() < change_rate * 4:
            changed[i] = rng.randrange(start_ord, end_ord)
        elif (
            birth_surname[i] == surname[i]
            and age[i] >= 20
            and sex[i] == 1
            and rng.random() < change_rate / 3
        ):
            # divorced and reverted, or married later: a change inside the window
            new = pools.surname(name_bg[i], rng)
            if new != surname[i]:
                surname[i] = new
                changed[i] = rng.randrange(start_ord, end_ord)
    for i in range(n):
        if not changed[i]:
            birth_surname[i] = (
                surname[i]
                if birth_surname[i] != surname[i] and rng.random() < 0.5
                else birth_surname[i]
            )

    # phones
    used_numbers: set[str] = set()
    phone_number: list[str] = []
    phone_owner: list[int] = []
    phone_index: dict[str, int] = {}

    def new_mobile() -> str:
        while True:
            num = f"07{rng.choice('345789')}{rng.randrange(10**8):08d}"
            if num not in used_numbers:
                used_numbers.add(num)
                return num

    mobile = [""] * n
    age_now = (start_ord - dob) / 365.25
    for i in range(n):
        rate = (
            float(pop_cfg["mobile_rate_adult"])
            if age_now[i] >= 18
            else (float(pop_cfg["mobile_rate_child"]) if age_now[i] >= 11 else 0.0)
        )
        if rng.random() < rate:
            mobile[i] = new_mobile()
            phone_index[mobile[i]] = len(phone_number)
            phone_number.append(mobile[i])
            phone_owner.append(i)
    n_hh = len(hh_addr)
    hh_members: list[list[int]] = [[] for _ in range(n_hh)]
    for i, h in enumerate(hh_of):
        hh_members[h].append(i)
    hh_landline = [""] * n_hh
    area_codes = {
        s["name"]: f"01{(abs(hash_text(s['name'])) % 900) + 100:03d}" for s in geo.settlements
    }
    for h in range(n_hh):
        if hh_kind[h] in ("family", "single") and rng.random() < float(pop_cfg["landline_rate"]):
            town = geo.addr_town[hh_addr[h]]
            num = f"{area_codes[town]}{rng.randrange(200000, 999999)}"
            if num not in used_numbers:
                used_numbers.add(num)
                hh_landline[h] = num
                phone_index[num] = len(phone_number)
                phone_number.append(num)
                phone_owner.append(-1)

    # emails
    email = [""] * n
    for i in range(n):
        if age_now[i] >= 14 and rng.random() < float(pop_cfg["email_rate"]):
            local = (
                ascii_fold(f"{forename[i]}.{surname[i]}").lower().replace(" ", "").replace("'", "")
            )
            if rng.random() < 0.6:
                local += str(rng.randrange(1, 99))
            email[i] = f"{local}@{rng.choice(EMAIL_DOMAINS)}"

    # identifiers: NHS numbers for all, NI numbers from 16
    nhs = [""] * n
    used_nhs: set[str] = set()
    for i in range(n):
        while True:
            first9 = f"{rng.choice('4679')}{rng.randrange(10**8):08d}"
            check = nhs_check_digit(first9)
            if check is not None and first9 not in used_nhs:
                used_nhs.add(first9)
                nhs[i] = f"{first9}{check}"
                break
    ni = [""] * n
    used_ni: set[str] = set()
    first_letters = "ABCEGHJKLMNOPRSTWXYZ"
    second_letters = "ABCEGHJKLMNPRSTWXYZ"
    banned = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
    for i in range(n):
        if age_now[i] >= 16:
            while True:
                prefix = rng.choice(first_letters) + rng.choice(second_letters)
                if prefix in banned:
                    continue
                value = f"{prefix}{rng.randrange(10**6):06d}{rng.choice('ABCD')}"
                if value not in used_ni:
                    used_ni.add(value)
                    ni[i] = value
                    break

    # vulnerable adults: mental ill health, addiction, learning disability
    vulnerable = np.zeros(n, dtype=bool)
    for i in range(n):
        if (
            age_now[i] >= 25
            and hh_kind[hh_of[i]] in ("single", "family")
            and rng.random()
            < float(pop_cfg["vulnerable_adult_rate"])
            * (2.5 if hh_kind[hh_of[i]] == "single" else 0.5)
        ):
            vulnerable[i] = True

    # vehicles: kept by an adult of the household
    makes = read_table("vehicles")
    make_pick = Weighted(
        [(r["make"], r["model"]) for r in makes], [float(r["weight"]) for r in makes]
    )
    colours = read_table("vehicle_colours")
    colour_pick = Weighted([r["colour"] for r in colours], [float(r["weight"]) for r in colours])
    veh_vrm: list[str] = []
    veh_make: list[str] = []
    veh_model: list[str] = []
    veh_colour: list[str] = []
    veh_keeper: list[int] = []
    used_vrm: set[str] = set()
    mean_veh = float(pop_cfg["vehicles_per_household"])
    for h in range(n_hh):
        adults = [i for i in hh_members[h] if age_now[i] >= 18]
        if not adults or hh_kind[h] == "labour_site":
            continue
        count = _poisson(mean_veh * min(1.6, len(adults) / 1.6), rng)
        for _ in range(min(count, 3)):
            vrm = _new_vrm(rng, start, used_vrm)
            make, model = make_pick.pick(rng)
            veh_vrm.append(vrm)
            veh_make.append(make)
            veh_model.append(model)
            veh_colour.append(colour_pick.pick(rng))
            veh_keeper.append(rng.choice(adults))

    # households that move during the window go to a spare address
    hh_after = np.full(n_hh, -1, dtype=np.int64)
    hh_moved = np.zeros(n_hh, dtype=np.int64)
    rng.shuffle(spare_addresses)
    move_rate = float(pop_cfg["moved_in_window_rate"])
    for h in range(n_hh):
        if (
            spare_addresses
            and hh_kind[h] in ("family", "single", "sharers")
            and rng.random() < move_rate
        ):
            hh_after[h] = spare_addresses.pop()
            hh_moved[h] = (
                rng.randrange(start_ord + 30, end_ord - 30)
                if end_ord - start_ord > 90
                else start_ord
            )

    return Population(
        forename=forename,
        middle=middle,
        surname=surname,
        birth_surname=birth_surname,
        surname_changed=changed,
        sex=sex_arr,
        dob=dob,
        eth_code=eth,
        hh=np.array(hh_of, dtype=np.int64),
        mother=np.array(mother, dtype=np.int64),
        father=np.array(father, dtype=np.int64),
        twin_of=twins.astype(np.int64),
        junior_of=np.array(junior_of, dtype=np.int64),
        mobile=mobile,
        email=email,
        ni=ni,
        nhs=nhs,
        vulnerable=vulnerable,
        street_name=[""] * n,
        alias=[""] * n,
        hh_addr=np.array(hh_addr, dtype=np.int64),
        hh_addr_after=hh_after,
        hh_moved=hh_moved,
        hh_landline=hh_landline,
        hh_kind=hh_kind,
        veh_vrm=veh_vrm,
        veh_make=veh_make,
        veh_model=veh_model,
        veh_colour=veh_colour,
        veh_keeper=np.array(veh_keeper, dtype=np.int64),
        phone_number=phone_number,
        phone_owner=phone_owner,
        phone_index=phone_index,
        hh_members=hh_members,
    )


def hash_text(text: str) -> int:
    """A stable (not per-process salted) hash of a short text."""
    value = 0
    for ch in text:
        value = (value * 131 + ord(ch)) % 1_000_003
    return value


def _pick_index(probs: np.ndarray, rng: random.Random) -> int:
    r = rng.random()
    acc = 0.0
    for k, p in enumerate(probs):
        acc += float(p)
        if r < acc:
            return k
    return len(probs) - 1


def _poisson(mean: float, rng: random.Random) -> int:
    limit = math.exp(-mean)
    k, p = 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


PLATE_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXY"  # no I, Q, Z
AGE_LETTERS_PREFIX = "ABCDEFGHJKLMNPRSTVWXY"  # 1983-2001 year letters (no I, O, Q, U, Z)


def _new_vrm(rng: random.Random, start: dt.date, used: set[str]) -> str:
    """A unique, valid VRM in the style its registration year implies."""
    while True:
        r = rng.random()
        if r < 0.86:
            # current style: registered Sept 2001 onwards, mostly in the last 12 years
            year = max(2002, start.year - int(rng.expovariate(1 / 6.0)))
            month = rng.choice((3, 9))
            if year == start.year and month > start.month:
                month = 3
            if dt.date(year, month, 1) > start:
                year, month = start.year - 1, 9
            tag = vrm_age_identifier(year, month)
            first = (
                rng.choice(LOCAL_PLATE_REGIONS)
                if rng.random() < 0.7
                else rng.choice("ABCDEFGHKLMNOPRSTVWXY")
            )
            second = rng.choice("ABCDEFGHJKLMNOPRSTUVWXY")
            tail = "".join(rng.choice(PLATE_LETTERS) for _ in range(3))
            vrm = f"{first}{second}{tag}{tail}"
        elif r < 0.95:
            # prefix style, 1983-2001
            tail = "".join(rng.choice(PLATE_LETTERS) for _ in range(3))
            vrm = f"{rng.choice(AGE_LETTERS_PREFIX)}{rng.randint(1, 999)}{tail}"
        elif r < 0.97:
            head = "".join(rng.choice(PLATE_LETTERS) for _ in range(3))
            vrm = f"{head}{rng.randint(1, 999)}{rng.choice(AGE_LETTERS_PREFIX)}"
        elif r < 0.995:
            # dateless (cherished) plates
            letters = "".join(rng.choice(PLATE_LETTERS) for _ in range(rng.randint(1, 3)))
            digits = str(rng.randint(1, 9999))
            vrm = f"{letters}{digits}" if rng.random() < 0.5 else f"{digits}{letters}"
        else:
            vrm = f"Q{rng.randint(1, 999)}{''.join(rng.choice(PLATE_LETTERS) for _ in range(3))}"
        if vrm not in used:
            used.add(vrm)
            return vrm
