"""What is really going on: who offends, the organised crime groups, county lines and exploitation.

None of this is written to a source directly: it drives which events happen
and is written to the ground truth so every analytic can be measured.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
import random
from collections import defaultdict
from itertools import accumulate
from typing import Any

import numpy as np

from peelian.reference import read_table
from peelian.synth.geography import Geography
from peelian.synth.population import Population
from peelian.synth.rand import np_rng, py_rng

OPERATION_WORDS = (
    "TIDEWATER", "KESTREL", "GRANITE", "SENTINEL", "HALLMARK", "BRAMBLE", "CASCADE", "FALCON",
    "LANTERN", "MERIDIAN", "OCTAVE", "PINNACLE", "QUARRY", "RAVEN", "SPINDLE", "THISTLE",
)  # fmt: skip


@dataclasses.dataclass
class DealPhone:
    phone: int  # index into Population.phone_number
    start: int  # ordinal date in use from
    end: int  # ordinal date in use until (exclusive)


@dataclasses.dataclass
class Ocg:
    ocg_id: str
    name: str
    settlement: int
    members: list[tuple[int, str]]  # (person, role)
    vehicles: list[int]
    shared_phone: int  # a phone index several members use
    operation: str  # the police operation against the group (its compartment)


@dataclasses.dataclass
class CountyLine:
    line_id: str
    brand: str
    ocg: int
    hub_settlement: int
    market_settlement: int
    controller: int
    deal_phones: list[DealPhone]
    runners: list[tuple[int, int]]  # (person, exploited since ordinal)
    cuckooed: list[tuple[int, int, int]]  # (person, address, since ordinal)
    buyers: list[int]  # phone indexes of buyers in the market
    vehicle: int


@dataclasses.dataclass
class LabourSite:
    site_id: str
    household: int
    controller: int
    workers: list[int]
    vehicle: int
    phone: int  # the controller's phone, also given as the workers' contact


@dataclasses.dataclass
class Exploitation:
    person: int
    kind: str  # cce_runner / cse / cuckooed / labour
    since: int  # ordinal date
    by: int  # the exploiter (person) or -1
    link: str  # line, site or '' for the truth tables


@dataclasses.dataclass
class Structures:
    propensity: np.ndarray  # offending weight (0 = does not offend)
    victim_weight: np.ndarray
    prior_record: np.ndarray  # bool: known to police before the window
    ocgs: list[Ocg]
    lines: list[CountyLine]
    labour_sites: list[LabourSite]
    exploitation: list[Exploitation]
    false_leads: list[int]  # children with indicators who are not exploited
    settlement_of: np.ndarray  # person -> settlement index (home at start)
    in_force: np.ndarray  # bool per person
    ocg_of: dict[int, tuple[int, str]]  # person -> (ocg index, role)
    exploited_of: dict[int, Exploitation]
    # sampling tables per settlement (cumulative weights)
    _offenders: dict[int, tuple[list[int], list[float]]] = dataclasses.field(default_factory=dict)
    _victims: dict[int, tuple[list[int], list[float]]] = dataclasses.field(default_factory=dict)

    def pick_offender(self, settlement: int, rng: random.Random) -> int:
        people, cum = self._offenders.get(settlement) or self._offenders[-1]
        return people[bisect.bisect_left(cum, rng.random() * cum[-1])]

    def pick_victim(self, settlement: int, rng: random.Random) -> int:
        people, cum = self._victims.get(settlement) or self._victims[-1]
        return people[bisect.bisect_left(cum, rng.random() * cum[-1])]


def _age_weight(age: np.ndarray, peak: float) -> np.ndarray:
    """The age-crime curve: rises from 10, peaks in the late teens, long tail."""
    w = np.where(
        age < 10, 0.0, np.exp(-((np.log(np.maximum(age, 10) - 8) - math.log(peak - 8)) ** 2) / 0.6)
    )
    return np.where(age > 75, 0.0, w)


def build_structures(
    settings: dict[str, Any],
    geo: Geography,
    pop: Population,
    seed: int,
    start: dt.date,
    end: dt.date,
) -> Structures:
    rng = py_rng(seed, "structures")
    nrng = np_rng(seed, "structures-bulk")
    off_cfg = settings["offending"]
    org = settings["organised_crime"]
    start_ord, end_ord = start.toordinal(), end.toordinal()
    n = pop.n
    age = (start_ord - pop.dob) / 365.25
    home_nb = geo.addr_nb[pop.hh_addr[pop.hh]]
    settlement_of = geo.nb_settlement[home_nb]
    in_force = np.array([bool(s["in_force"]) for s in geo.settlements])[settlement_of]

    base = _age_weight(age, float(off_cfg["youth_peak_age"])) * np.where(pop.sex == 0, 1.0, 0.3)
    base = base * (0.6 + geo.nb_deprivation[home_nb])
    base = np.where(in_force, base, 0.0)
    p_off = base / max(base.mean(), 1e-9) * float(off_cfg["offender_share"])
    is_offender = nrng.random(n) < np.clip(p_off, 0, 0.9)
    propensity = np.where(
        is_offender, nrng.gamma(float(off_cfg["concentration_shape"]), 1.0, size=n) + 0.01, 0.0
    )
    prior = is_offender & (age >= 17) & (nrng.random(n) < 0.55)

    victim_weight = nrng.gamma(float(off_cfg["repeat_victim_shape"]), 1.0, size=n)
    victim_weight *= np.where(age < 5, 0.1, 1.0) * (0.7 + geo.nb_deprivation[home_nb])
    victim_weight = np.where(in_force, victim_weight, 0.0)

    # organised crime groups, based in the towns, recruited from local offenders
    in_force_people = int(in_force.sum())
    n_ocg = max(int(org["min_ocgs"]), round(in_force_people / float(org["people_per_ocg"])))
    urban = [k for k, s in enumerate(geo.settlements) if s["in_force"] and s["urban"]]
    markets_out = [k for k, s in enumerate(geo.settlements) if not s["in_force"]]
    markets_in = [k for k, s in enumerate(geo.settlements) if s["in_force"] and not s["urban"]]
    brands = [r["brand"] for r in read_table("county_line_brands")]
    rng.shuffle(brands)
    street_names = [r["name"] for r in read_table("street_slang")]
    used_members: set[int] = set()
    vehicles_of = pop.vehicles_of
    ocgs: list[Ocg] = []
    ocg_of: dict[int, tuple[int, str]] = {}
    by_settlement: dict[int, list[int]] = defaultdict(list)
    candidates = np.flatnonzero(is_offender & (pop.sex == 0) & (age >= 16) & (age <= 45))
    for i in candidates.tolist():
        by_settlement[int(settlement_of[i])].append(int(i))
    for k in range(n_ocg):
        # the city hosts most groups
        s_idx = (
            urban[0] if (k % 3 != 2 or len(urban) == 1) else urban[1 + (k // 3) % (len(urban) - 1)]
        )
        pool = [i for i in by_settlement[s_idx] if i not in used_members]
        lo, hi = (int(x) for x in org["members"])
        size = min(len(pool), rng.randint(lo, hi))
        if size < 4:
            continue
        pool.sort(key=lambda i: -age[i])
        olders = pool[: max(4, len(pool) // 3)]
        youngers = [i for i in pool if age[i] <= 25]
        leader = rng.choice(olders[: max(1, len(olders) // 2)])
        chosen = [leader]
        lts = [i for i in rng.sample(olders, min(len(olders), 4)) if i != leader][
            : rng.randint(2, 3)
        ]
        chosen += lts
        rest = [i for i in youngers if i not in chosen]
        rng.shuffle(rest)
        chosen += rest[: max(0, size - len(chosen))]
        members = (
            [(chosen[0], "leader")]
            + [(i, "lieutenant") for i in lts]
            + [(i, "street") for i in chosen[1 + len(lts) :]]
        )
        for i, role in members:
            used_members.add(i)
            ocg_of[i] = (len(ocgs), role)
            propensity[i] = max(propensity[i], 0.5) * (3.0 if role == "street" else 2.0)
            prior[i] = prior[i] or role != "street" or rng.random() < 0.6
            if rng.random() < 0.7:
                pop.street_name[i] = rng.choice(street_names)
        # the group's vehicles: those its members keep
        vehicles = [v for i, _ in members for v in vehicles_of.get(i, [])][:3]
        shared = pop.add_phone(_burner(rng, pop), -1)
        ocgs.append(
            Ocg(
                f"OCG{len(ocgs) + 1:03d}",
                f"{geo.nb_name[int(home_nb[leader])]} crew",
                s_idx,
                members,
                vehicles,
                shared,
                f"OP {OPERATION_WORDS[len(ocgs) % len(OPERATION_WORDS)]}",
            )
        )

    # prolific offenders outside groups get street names and aliases too
    top = np.argsort(-propensity)[: max(10, int(is_offender.sum() * 0.05))]
    for i in top.tolist():
        if not pop.street_name[i] and rng.random() < float(
            settings["population"]["street_name_rate"]
        ):
            pop.street_name[i] = rng.choice(street_names)
        if rng.random() < 0.08:
            pop.alias[i] = f"{pop.forename[rng.randrange(n)]} {pop.surname[rng.randrange(n)]}"

    # county lines
    lines: list[CountyLine] = []
    exploitation: list[Exploitation] = []
    exploited_of: dict[int, Exploitation] = {}
    children_by_settlement: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero((age >= 13.5) & (age < 17) & in_force).tolist():
        children_by_settlement[int(settlement_of[i])].append(int(i))
    vulnerable_by_settlement: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero(pop.vulnerable).tolist():
        vulnerable_by_settlement[int(settlement_of[i])].append(int(i))
    span = end_ord - start_ord
    for g, ocg in enumerate(ocgs):
        lo, hi = (int(x) for x in org["lines_per_ocg"])
        n_lines = rng.randint(max(1, lo) if g == 0 else lo, hi)
        for _ in range(n_lines):
            markets = markets_out + markets_in
            market = (
                rng.choice(markets_out)
                if markets_out and rng.random() < 0.65
                else rng.choice(markets or [ocg.settlement])
            )
            controller = next((i for i, r in ocg.members if r == "lieutenant"), ocg.members[0][0])
            line_start = start_ord - rng.randrange(0, 365)
            # the deal line changes handset every few weeks or months
            phones: list[DealPhone] = []
            t = line_start
            rot_lo, rot_hi = (int(x) for x in org["deal_phone_rotation_days"])
            while t < end_ord:
                until = t + rng.randint(rot_lo, rot_hi)
                phones.append(DealPhone(pop.add_phone(_burner(rng, pop), -1), t, until))
                t = until
            runners: list[tuple[int, int]] = []
            pool = [i for i in children_by_settlement[ocg.settlement] if i not in exploited_of]
            lo, hi = (int(x) for x in org["runners_per_line"])
            for child in rng.sample(pool, min(len(pool), rng.randint(lo, hi))):
                since = start_ord + rng.randrange(0, max(1, int(span * 0.7)))
                runners.append((child, since))
                ex = Exploitation(child, "cce_runner", since, controller, f"CL{len(lines) + 1:03d}")
                exploitation.append(ex)
                exploited_of[child] = ex
            cuckooed: list[tuple[int, int, int]] = []
            vpool = [i for i in vulnerable_by_settlement[market] if i not in exploited_of]
            lo, hi = (int(x) for x in org["cuckooed_per_line"])
            for victim in rng.sample(vpool, min(len(vpool), rng.randint(lo, hi))):
                since = start_ord + rng.randrange(0, max(1, int(span * 0.8)))
                cuckooed.append((victim, int(pop.hh_addr[pop.hh[victim]]), since))
                ex = Exploitation(victim, "cuckooed", since, controller, f"CL{len(lines) + 1:03d}")
                exploitation.append(ex)
                exploited_of[victim] = ex
            lo, hi = (int(x) for x in org["buyers_per_line"])
            buyers = [pop.add_phone(_burner(rng, pop), -1) for _ in range(rng.randint(lo, hi))]
            vehicle = ocg.vehicles[0] if ocg.vehicles else -1
            brand = brands[len(lines) % len(brands)]
            lines.append(
                CountyLine(
                    f"CL{len(lines) + 1:03d}",
                    brand,
                    g,
                    ocg.settlement,
                    market,
                    controller,
                    phones,
                    runners,
                    cuckooed,
                    buyers,
                    vehicle,
                )
            )

    # labour exploitation sites: every adult at such a house, one controller elsewhere
    # (not one of the drug groups' people: the workers give the controller's number as
    # theirs, and a group's phone given by a house full of strangers is another story)
    labour_sites: list[LabourSite] = []
    controllers = [
        int(i)
        for i in np.flatnonzero(is_offender & (age >= 25) & (age <= 60) & in_force)
        if int(i) not in ocg_of
    ]
    for h, kind in enumerate(pop.hh_kind):
        if kind != "labour_site" or not controllers:
            continue
        controller = rng.choice(controllers)
        workers = list(pop.hh_members[h])
        since_base = start_ord - rng.randrange(30, 400)
        vans = vehicles_of.get(controller, [])
        phone_idx = pop.phone_index.get(pop.mobile[controller], -1)
        if phone_idx < 0:
            pop.mobile[controller] = _burner(rng, pop)
            phone_idx = pop.add_phone(pop.mobile[controller], controller)
        site = LabourSite(
            f"LS{len(labour_sites) + 1:03d}",
            h,
            controller,
            workers,
            vans[0] if vans else -1,
            phone_idx,
        )
        labour_sites.append(site)
        for w in workers:
            # phones taken away: the controller's number is the one they give as contact,
            # so their records carry it (the modern-slavery indicator's shared phone)
            pop.mobile[w] = pop.mobile[controller]
            ex = Exploitation(
                w, "labour", since_base + rng.randrange(0, 60), controller, site.site_id
            )
            exploitation.append(ex)
            exploited_of[w] = ex

    # child sexual exploitation: girls 13-17 and an older male offender
    n_cse = max(1, round(float(org["cse_victims_per_100k"]) * in_force_people / 100_000))
    girls = [
        int(i)
        for i in np.flatnonzero((age >= 13) & (age < 17) & (pop.sex == 1) & in_force)
        if int(i) not in exploited_of
    ]
    men = [
        int(i)
        for i in np.flatnonzero(is_offender & (pop.sex == 0) & (age >= 20) & (age <= 40) & in_force)
    ]
    for girl in rng.sample(girls, min(n_cse, len(girls))):
        if not men:
            break
        ex = Exploitation(
            girl, "cse", start_ord + rng.randrange(0, max(1, int(span * 0.7))), rng.choice(men), ""
        )
        exploitation.append(ex)
        exploited_of[girl] = ex

    # false leads: children who go missing and are referred, but are not exploited
    n_false = max(1, round(float(org["cce_false_leads_per_100k"]) * in_force_people / 100_000))
    kids = [
        int(i)
        for i in np.flatnonzero((age >= 12) & (age < 17) & in_force)
        if int(i) not in exploited_of
    ]
    false_leads = rng.sample(kids, min(n_false, len(kids)))

    structures = Structures(
        propensity=propensity,
        victim_weight=victim_weight,
        prior_record=prior,
        ocgs=ocgs,
        lines=lines,
        labour_sites=labour_sites,
        exploitation=exploitation,
        false_leads=false_leads,
        settlement_of=settlement_of,
        in_force=in_force,
        ocg_of=ocg_of,
        exploited_of=exploited_of,
    )
    _index(structures, propensity, victim_weight, settlement_of)
    return structures


def _index(
    st: Structures, propensity: np.ndarray, victim_weight: np.ndarray, settlement_of: np.ndarray
) -> None:
    for table, weights in ((st._offenders, propensity), (st._victims, victim_weight)):
        people = np.flatnonzero(weights > 0)
        table[-1] = (people.tolist(), list(accumulate(weights[people].tolist())))
        for s in np.unique(settlement_of[people]):
            sub = people[settlement_of[people] == s]
            table[int(s)] = (sub.tolist(), list(accumulate(weights[sub].tolist())))


def _burner(rng: random.Random, pop: Population) -> str:
    """A fresh pay-as-you-go mobile number nobody else uses."""
    while True:
        num = f"07{rng.choice('45789')}{rng.randrange(10**8):08d}"
        if num not in pop.phone_index:
            return num
