"""The force area: settlements, neighbourhoods, beats, wards, streets, postcodes, addresses.

A synthetic geography laid over a fictional part of northern England. Areas
are LSOA-sized neighbourhoods grouped into beats and wards; each address has a
real-format postcode and a point. Some neighbourhoods are policed more heavily
than others (the bias trap): that changes what is recorded, not what happens.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
from typing import Any

import numpy as np

from peelian.reference import read_table
from peelian.synth.rand import Weighted, np_rng, py_rng

# Inward-code letters never use C, I, K, M, O or V.
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
LOCALITY_ENDINGS = ("field", "ley", "ton", "bury", "side", "gate", "wood", "moor", "dale", "holme")
BACKGROUNDS = (
    "white_british",
    "irish",
    "other_white",
    "east_european",
    "south_asian",
    "black_african",
    "black_caribbean",
    "chinese",
    "arab",
    "mixed",
)
KM_PER_DEG_LAT = 111.2


@dataclasses.dataclass
class Geography:
    settlements: list[dict[str, Any]]
    # neighbourhoods (index = neighbourhood number)
    nb_code: list[str]
    nb_name: list[str]
    nb_settlement: np.ndarray
    nb_lat: np.ndarray
    nb_lon: np.ndarray
    nb_radius_km: np.ndarray
    nb_deprivation: np.ndarray
    nb_policing: np.ndarray  # recording multiplier (1.0 normal, >1 heavily policed)
    nb_mix: np.ndarray  # neighbourhoods x BACKGROUNDS probabilities
    nb_beat: list[str]
    nb_ward_code: list[str]
    nb_ward_name: list[str]
    nb_people: np.ndarray  # planned residents
    # addresses (index = address number)
    addr_flat: list[str]
    addr_number: list[str]
    addr_house_name: list[str]
    addr_street: list[str]
    addr_locality: list[str]
    addr_town: list[str]
    addr_postcode: list[str]
    addr_uprn: np.ndarray
    addr_lat: np.ndarray
    addr_lon: np.ndarray
    addr_nb: np.ndarray
    # business premises (shops, pubs...) used as crime locations
    prem_name: list[str]
    prem_kind: list[str]
    prem_addr: np.ndarray

    @property
    def n_addresses(self) -> int:
        return len(self.addr_street)

    def address_id(self, i: int) -> str:
        return f"A{i + 1:08d}"

    def address_line(self, i: int) -> str:
        """The full address as one line, e.g. 'Flat 2, 14 Mill Road, Eastfield, Brackenford'."""
        parts = []
        first = self.addr_house_name[i] or ""
        if self.addr_flat[i]:
            parts.append(f"Flat {self.addr_flat[i]}")
        street = f"{self.addr_number[i]} {self.addr_street[i]}".strip()
        if first:
            parts.append(first)
        parts.append(street)
        if self.addr_locality[i] and self.addr_locality[i] != self.addr_town[i]:
            parts.append(self.addr_locality[i])
        parts.append(self.addr_town[i])
        return ", ".join(parts)

    @functools.cached_property
    def _nb_bounds(self) -> list[int]:
        """Addresses are stored neighbourhood by neighbourhood: where each one starts."""
        bounds: list[int] = np.searchsorted(self.addr_nb, np.arange(len(self.nb_code) + 1)).tolist()
        return bounds

    def addresses_in(self, nb: int) -> range:
        """The address numbers in neighbourhood `nb`."""
        return range(self._nb_bounds[nb], self._nb_bounds[nb + 1])

    def random_address(self, nb: int, rng: random.Random) -> int:
        addresses = self.addresses_in(nb)
        return addresses[rng.randrange(len(addresses))]

    def in_force(self, nb: int) -> bool:
        return bool(self.settlements[int(self.nb_settlement[nb])]["in_force"])

    def is_urban(self, nb: int) -> bool:
        return bool(self.settlements[int(self.nb_settlement[nb])]["urban"])

    def settlement_name(self, nb: int) -> str:
        return str(self.settlements[int(self.nb_settlement[nb])]["name"])


def _offset(lat: float, lon: float, dist_km: float, bearing: float) -> tuple[float, float]:
    dlat = dist_km * math.cos(bearing) / KM_PER_DEG_LAT
    dlon = dist_km * math.sin(bearing) / (KM_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def build_geography(settings: dict[str, Any], people: int, seed: int) -> Geography:
    """Lay out neighbourhoods and addresses for `people` residents."""
    rng = py_rng(seed, "geography")
    nrng = np_rng(seed, "geography")
    geo_cfg = settings["geography"]
    settlements = [dict(s) for s in settings["settlements"]]
    total_share = sum(float(s["share"]) for s in settlements)

    stems = [r["stem"] for r in read_table("street_names")]
    suffixes = read_table("street_suffixes")
    suffix_pick = Weighted([r["suffix"] for r in suffixes], [float(r["weight"]) for r in suffixes])
    premises = read_table("premises")
    premises_pick = Weighted(
        [(r["name"], r["kind"]) for r in premises], [float(r["weight"]) for r in premises]
    )

    per_nb = int(geo_cfg["people_per_neighbourhood"])
    nb_code: list[str] = []
    nb_name: list[str] = []
    nb_settlement: list[int] = []
    nb_lat: list[float] = []
    nb_lon: list[float] = []
    nb_radius: list[float] = []
    nb_dep: list[float] = []
    nb_mix: list[list[float]] = []
    nb_people: list[int] = []
    nb_district: list[str] = []
    nb_beat: list[str] = []
    nb_ward_code: list[str] = []
    nb_ward_name: list[str] = []

    for s_idx, s in enumerate(settlements):
        residents = max(1, round(people * float(s["share"]) / total_share))
        count = max(1, round(residents / per_nb))
        base_mix = np.array([float(s["mix"].get(b, 0.0)) for b in BACKGROUNDS])
        base_mix = base_mix / base_mix.sum()
        weights = nrng.gamma(4.0, 1.0, size=count)
        sizes = np.maximum(1, np.round(residents * weights / weights.sum())).astype(int)
        n_districts = int(s["districts"])
        used_localities: set[str] = set()
        beat_no = 0
        ward_no = 0
        ward_name = ""
        for k in range(count):
            dist = float(s["radius_km"]) * math.sqrt(rng.random())
            lat, lon = _offset(float(s["lat"]), float(s["lon"]), dist, rng.uniform(0, 2 * math.pi))
            # deprivation: higher near the centre of towns, with local variation
            centrality = 1.0 - dist / max(float(s["radius_km"]), 0.1)
            dep = float(
                np.clip(
                    float(s["deprivation"]) + 0.25 * (centrality - 0.5) + rng.gauss(0, 0.15),
                    0.02,
                    0.98,
                )
            )
            # minority groups concentrate in the more central, deprived areas
            tilt = np.ones(len(BACKGROUNDS))
            tilt[1:] = math.exp(2.2 * (dep - 0.5) + 0.8 * (centrality - 0.5))
            mix = base_mix * tilt * nrng.gamma(8.0, 1.0, size=len(BACKGROUNDS)) / 8.0
            mix = mix / mix.sum()
            locality = ""
            while not locality or locality in used_localities:
                locality = rng.choice(stems) + rng.choice(LOCALITY_ENDINGS)
                if len(used_localities) > 500:
                    locality = f"{locality} {k}"
            used_localities.add(locality)
            if k % int(geo_cfg["neighbourhoods_per_beat"]) == 0:
                beat_no += 1
                if beat_no % int(geo_cfg["beats_per_ward"]) == 1:
                    ward_no += 1
                    ward_name = f"{locality} and {s['name']}" if rng.random() < 0.3 else locality
            nb_code.append(f"X01{len(nb_code) + 1:06d}")
            nb_name.append(f"{s['name']} {len(nb_code):03d}")
            nb_settlement.append(s_idx)
            nb_lat.append(lat)
            nb_lon.append(lon)
            nb_radius.append(max(0.25, float(s["radius_km"]) / math.sqrt(count) * 0.6))
            nb_dep.append(dep)
            nb_mix.append(mix.tolist())
            nb_people.append(int(sizes[k]))
            nb_district.append(
                f"{s['postcode_area']}"
                f"{1 + (k * n_districts) // count + _district_base(settlements, s_idx)}"
            )
            nb_beat.append(f"{s['postcode_area']}{s_idx + 1}B{beat_no:02d}")
            nb_ward_code.append(f"X05{s_idx + 1:02d}{ward_no:04d}")
            nb_ward_name.append(ward_name)
            # neighbourhood name = its locality
            nb_name[-1] = locality

    dep_arr = np.array(nb_dep)
    mix_arr = np.array(nb_mix)
    minority = 1.0 - mix_arr[:, 0]
    # The bias trap: the most deprived, most diverse in-force neighbourhoods are
    # policed more heavily (more is recorded there; nothing more happens).
    heavy = geo_cfg["heavy_policing"]
    policing = np.ones(len(nb_code))
    in_force = np.array([bool(settlements[i]["in_force"]) for i in nb_settlement])
    score = np.where(in_force, dep_arr + minority, -1.0)
    n_heavy = round(float(heavy["share_of_neighbourhoods"]) * int(in_force.sum()))
    if n_heavy > 0:
        policing[np.argsort(-score, kind="stable")[:n_heavy]] = float(heavy["recording_multiplier"])

    # addresses
    flats_share = float(geo_cfg["flats_share"])
    per_pc = int(geo_cfg["addresses_per_postcode"])
    addr_flat: list[str] = []
    addr_number: list[str] = []
    addr_house_name: list[str] = []
    addr_street: list[str] = []
    addr_locality: list[str] = []
    addr_town: list[str] = []
    addr_postcode: list[str] = []
    addr_lat: list[float] = []
    addr_lon: list[float] = []
    addr_nb: list[int] = []
    used_streets: dict[int, set[str]] = {}
    used_units: dict[str, int] = {}
    house_names = (
        "Rose Cottage",
        "The Old Barn",
        "Ivy House",
        "Brookside",
        "Hill Farm",
        "The Willows",
        "Orchard House",
        "Moorview",
        "The Lodge",
        "Fern Bank",
    )
    for nb in range(len(nb_code)):
        s = settlements[nb_settlement[nb]]
        town = str(s["name"])
        rural = not bool(s["urban"])
        n_addr = max(2, math.ceil(nb_people[nb] / 2.3 * 1.06))
        streets_here = used_streets.setdefault(nb_settlement[nb], set())
        district = nb_district[nb]
        made = 0
        while made < n_addr:
            name = ""
            for _ in range(20):
                name = f"{rng.choice(stems)} {suffix_pick.pick(rng)}"
                if name not in streets_here:
                    break
            streets_here.add(name)
            s_lat, s_lon = _offset(
                nb_lat[nb],
                nb_lon[nb],
                nb_radius[nb] * math.sqrt(rng.random()),
                rng.uniform(0, 2 * math.pi),
            )
            length = min(n_addr - made, rng.randint(12, 70))
            is_block = rng.random() < flats_share * (0.3 if rural else 1.0)
            number = 1
            pc_left = 0
            postcode = ""
            for j in range(length):
                if pc_left == 0:
                    postcode = _next_postcode(district, used_units, rng)
                    pc_left = per_pc
                pc_left -= 1
                if is_block:
                    flat = str(j % 12 + 1)
                    house_no = str(1 + 2 * (j // 12))
                else:
                    flat = ""
                    house_no = str(number)
                    number += rng.choice((1, 2, 2, 2))
                house_name = ""
                if rural and rng.random() < 0.15:
                    house_name, house_no = rng.choice(house_names), ""
                a_lat, a_lon = _offset(
                    s_lat, s_lon, rng.uniform(0, 0.35), rng.uniform(0, 2 * math.pi)
                )
                addr_flat.append(flat)
                addr_number.append(house_no)
                addr_house_name.append(house_name)
                addr_street.append(name)
                addr_locality.append(nb_name[nb])
                addr_town.append(town)
                addr_postcode.append(postcode)
                addr_lat.append(round(a_lat, 6))
                addr_lon.append(round(a_lon, 6))
                addr_nb.append(nb)
            made += length

    n_addr_total = len(addr_street)
    uprn_start = 100_000_000_000 + rng.randrange(0, 900_000_000_000 - 10 * n_addr_total)
    uprn = uprn_start + np.cumsum(nrng.integers(1, 10, size=n_addr_total))

    # business premises: one per ~400 residents, in the busier neighbourhoods
    prem_name: list[str] = []
    prem_kind: list[str] = []
    prem_addr: list[int] = []
    addr_nb_arr = np.array(addr_nb, dtype=np.int64)
    nb_first = np.searchsorted(addr_nb_arr, np.arange(len(nb_code)))
    nb_count = np.bincount(addr_nb_arr, minlength=len(nb_code))
    for nb in range(len(nb_code)):
        n_prem = max(1, round(nb_people[nb] / 400 * (0.6 + nb_dep[nb])))
        for _ in range(n_prem):
            name, kind = premises_pick.pick(rng)
            prem_name.append(name)
            prem_kind.append(kind)
            prem_addr.append(int(nb_first[nb] + rng.randrange(int(nb_count[nb]))))

    return Geography(
        settlements=settlements,
        nb_code=nb_code,
        nb_name=nb_name,
        nb_settlement=np.array(nb_settlement, dtype=np.int64),
        nb_lat=np.array(nb_lat),
        nb_lon=np.array(nb_lon),
        nb_radius_km=np.array(nb_radius),
        nb_deprivation=dep_arr,
        nb_policing=policing,
        nb_mix=mix_arr,
        nb_beat=nb_beat,
        nb_ward_code=nb_ward_code,
        nb_ward_name=nb_ward_name,
        nb_people=np.array(nb_people, dtype=np.int64),
        addr_flat=addr_flat,
        addr_number=addr_number,
        addr_house_name=addr_house_name,
        addr_street=addr_street,
        addr_locality=addr_locality,
        addr_town=addr_town,
        addr_postcode=addr_postcode,
        addr_uprn=uprn,
        addr_lat=np.array(addr_lat),
        addr_lon=np.array(addr_lon),
        addr_nb=addr_nb_arr,
        prem_name=prem_name,
        prem_kind=prem_kind,
        prem_addr=np.array(prem_addr, dtype=np.int64),
    )


def _district_base(settlements: list[dict[str, Any]], s_idx: int) -> int:
    """Settlements sharing a postcode area take consecutive district numbers."""
    area = settlements[s_idx]["postcode_area"]
    return sum(int(s["districts"]) for s in settlements[:s_idx] if s["postcode_area"] == area)


def _next_postcode(district: str, used: dict[str, int], rng: Any) -> str:
    """A fresh unit postcode in `district`: sector digit + two inward letters."""
    n = used.get(district, 0)
    used[district] = n + 1
    letters = len(INWARD_LETTERS) ** 2
    sector = (n // letters) % 10
    unit = n % letters
    # shuffle units within a sector so neighbouring postcodes are not alphabetical
    unit = (unit * 151 + 7) % letters
    first, second = divmod(unit, len(INWARD_LETTERS))
    return f"{district} {sector}{INWARD_LETTERS[first]}{INWARD_LETTERS[second]}"
