"""ANPR reads and call records: how vehicles and phones move and talk.

ANPR: every registered vehicle in the force passes cameras near home now and
then (bulk, vectorised); county-line vehicles run hub -> market along a
corridor of cameras; labour-exploitation vans make the same early trip daily.
Call records exist only for the phones under a communications data request:
deal lines (with their buyers and bulk marketing texts), line controllers and
the groups' shared phones. Each record names the cell serving the calling phone;
the operator's cell-site list (`comms/cell_sites.csv`) says where each cell is, and
a phone is served by cells of the town it is used in (buyers and deal lines in
the line's market, controllers and runners at home).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from peelian.synth.noise import vrm_misread
from peelian.synth.output import CsvSink, ParquetSink
from peelian.synth.rand import np_rng, py_rng
from peelian.synth.world import World, phone_id, vehicle_id

ANPR_SCHEMA = pa.schema(
    [
        ("read_id", pa.string()),
        ("camera_id", pa.string()),
        ("camera_site", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("read_timestamp", pa.timestamp("s")),
        ("vrm", pa.string()),
        ("confidence", pa.float32()),
        ("direction", pa.string()),
    ]
)
CELL_COLUMNS = ("CELL_ID", "SITE_NAME", "SITE_POSTCODE", "TOWN", "LATITUDE", "LONGITUDE")
CALL_COLUMNS = (
    "RECORD_ID",
    "MSISDN_A",
    "MSISDN_B",
    "START_TIME",
    "DURATION_S",
    "EVENT_TYPE",
    "IMEI_A",
    "CELL_ID",
)


class Cameras:
    def __init__(self, world: World, seed: int) -> None:
        rng = py_rng(seed, "cameras")
        geo = world.geo
        self.id: list[str] = []
        self.site: list[str] = []
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.settlement: list[int] = []
        for nb in range(len(geo.nb_code)):
            if nb % 3 == 0 or not geo.in_force(nb):
                s = int(geo.nb_settlement[nb])
                self._add(
                    f"{geo.nb_name[nb]} junction",
                    float(geo.nb_lat[nb]) + rng.uniform(-0.002, 0.002),
                    float(geo.nb_lon[nb]) + rng.uniform(-0.002, 0.002),
                    s,
                )
        # corridors from every town to every market outside the force
        self.corridor: dict[tuple[int, int], list[int]] = {}
        towns = [k for k, s in enumerate(geo.settlements) if s["in_force"]]
        markets = [k for k, s in enumerate(geo.settlements) if not s["in_force"]]
        for h in towns:
            for m in markets:
                a, b = geo.settlements[h], geo.settlements[m]
                cams = []
                for step in range(1, 6):
                    f = step / 6
                    cams.append(
                        self._add(
                            f"A-road corridor {a['name']}-{b['name']} {step}",
                            float(a["lat"]) + f * (float(b["lat"]) - float(a["lat"])),
                            float(a["lon"]) + f * (float(b["lon"]) - float(a["lon"])),
                            -1,
                        )
                    )
                self.corridor[(h, m)] = cams
        self.by_settlement: dict[int, list[int]] = {}
        for c, s in enumerate(self.settlement):
            if s >= 0:
                self.by_settlement.setdefault(s, []).append(c)

    def _add(self, site: str, lat: float, lon: float, settlement: int) -> int:
        self.id.append(f"CAM{len(self.id) + 1:05d}")
        self.site.append(site)
        self.lat.append(round(lat, 6))
        self.lon.append(round(lon, 6))
        self.settlement.append(settlement)
        return len(self.id) - 1


def generate_anpr(world: World, root: Path) -> int:
    """All ANPR reads, month by month, in time order within each month."""
    cfg = world.cfg
    rng = py_rng(cfg.seed, "anpr")
    nrng = np_rng(cfg.seed, "anpr-bulk")
    cams = Cameras(world, cfg.seed)
    pop, geo, st = world.pop, world.geo, world.st
    sink = ParquetSink(root / "anpr" / "anpr_reads.parquet", ANPR_SCHEMA)
    misread_p = cfg.noise("anpr").vrm_misread
    keeper_settlement = (
        st.settlement_of[pop.veh_keeper] if len(pop.veh_keeper) else np.zeros(0, dtype=np.int64)
    )
    local = np.flatnonzero(np.isin(keeper_settlement, list(cams.by_settlement)))
    offsets: list[int] = []
    counts: list[int] = []
    flat: list[int] = []
    n_settle = len(geo.settlements)
    for s in range(n_settle):
        lst = cams.by_settlement.get(s, [])
        offsets.append(len(flat))
        counts.append(len(lst))
        flat.extend(lst)
    offsets_a, counts_a, flat_a = np.array(offsets), np.array(counts), np.array(flat)
    cam_lat, cam_lon = np.array(cams.lat), np.array(cams.lon)
    serial = 0
    start = cfg.start.toordinal()
    month_starts = cfg.month_starts()
    rate = float(cfg.settings["rates"]["anpr_reads_per_vehicle"])
    for k in range(cfg.months):
        first, last = month_starts[k], month_starts[k + 1]
        days = last - first
        n = int(nrng.poisson(rate * len(local) * days / 30.44)) if len(local) else 0
        veh = local[nrng.integers(0, len(local), size=n)] if n else np.zeros(0, dtype=np.int64)
        veh_s = keeper_settlement[veh]
        cam = (
            flat_a[offsets_a[veh_s] + (nrng.random(n) * counts_a[veh_s]).astype(np.int64)]
            if n
            else np.zeros(0, dtype=np.int64)
        )
        seconds = (
            nrng.integers(0, days, size=n) * 86400
            + np.clip(nrng.normal(14.5, 4.5, size=n), 0, 23.99) * 3600
        ).astype(np.int64)
        reads_v = [veh]
        reads_c = [cam]
        reads_t = [seconds]
        # county-line runs: hub -> corridor -> market, and back the next day
        extra_v, extra_c, extra_t = [], [], []
        for line in st.lines:
            if (
                line.vehicle < 0
                or (line.hub_settlement, line.market_settlement) not in cams.corridor
            ):
                continue
            route = cams.corridor[(line.hub_settlement, line.market_settlement)]
            market = cams.by_settlement.get(line.market_settlement, [])
            hub = cams.by_settlement.get(line.hub_settlement, [])
            for week in range(math.ceil(days / 7)):
                for _ in range(rng.randint(1, 2)):
                    t0 = (week * 7 + rng.randrange(7)) * 86400 + rng.randint(9, 20) * 3600
                    if t0 >= days * 86400:
                        continue
                    path = [rng.choice(hub)] + route + ([rng.choice(market)] if market else [])
                    back = list(reversed(path))
                    for j, c in enumerate(path):
                        extra_v.append(line.vehicle)
                        extra_c.append(c)
                        extra_t.append(t0 + j * rng.randint(900, 1500))
                    tb = t0 + rng.randint(20, 30) * 3600
                    for j, c in enumerate(back):
                        extra_v.append(line.vehicle)
                        extra_c.append(c)
                        extra_t.append(tb + j * rng.randint(900, 1500))
        for site in st.labour_sites:
            if site.vehicle < 0:
                continue
            home = cams.by_settlement.get(int(st.settlement_of[site.controller]), [])
            if not home:
                continue
            origin, dest = rng.choice(home), rng.choice(home)
            for d in range(days):
                if rng.random() < 0.85:
                    extra_v += [site.vehicle, site.vehicle]
                    extra_c += [origin, dest]
                    t = d * 86400 + 5 * 3600 + rng.randrange(900)
                    extra_t += [t, t + rng.randint(900, 1800)]
        if extra_v:
            reads_v.append(np.array(extra_v, dtype=np.int64))
            reads_c.append(np.array(extra_c, dtype=np.int64))
            reads_t.append(np.array(extra_t, dtype=np.int64))
        v_all = np.concatenate(reads_v)
        c_all = np.concatenate(reads_c)
        t_all = np.concatenate(reads_t)
        inside = t_all < days * 86400  # a run that ends after the month's end is cut there
        v_all, c_all, t_all = v_all[inside], c_all[inside], t_all[inside]
        order = np.lexsort((v_all, c_all, t_all))
        v_all, c_all, t_all = v_all[order], c_all[order], t_all[order]
        m = len(v_all)
        vrms = [pop.veh_vrm[v] for v in v_all.tolist()]
        noisy = np.flatnonzero(nrng.random(m) < misread_p)
        noise = [""] * m
        for j in noisy.tolist():
            new = vrm_misread(vrms[j], rng)
            if new != vrms[j]:
                vrms[j] = new
                noise[j] = "vrm_misread"
        ids = [f"R{serial + j + 1:010d}" for j in range(m)]
        serial += m
        # misreads score lower on average, but the ranges overlap as cameras' scores do
        misread = np.array([bool(x) for x in noise], dtype=bool)
        conf = np.clip(
            np.where(misread, nrng.normal(0.8, 0.08, m), nrng.normal(0.93, 0.05, m)), 0.4, 0.999
        ).astype(np.float32)
        base = np.datetime64(dt.date.fromordinal(first).isoformat(), "s")
        sink.write_columns(
            {
                "read_id": ids,
                "camera_id": [cams.id[c] for c in c_all.tolist()],
                "camera_site": [cams.site[c] for c in c_all.tolist()],
                "latitude": cam_lat[c_all],
                "longitude": cam_lon[c_all],
                "read_timestamp": base + t_all.astype("timedelta64[s]"),
                "vrm": vrms,
                "confidence": conf,
                "direction": np.where(nrng.random(m) < 0.5, "N", "S").tolist(),
            }
        )
        world.truth.mentions.write_columns(
            {
                "source": ["anpr"] * m,
                "record_id": ids,
                "slot": ["vehicle"] * m,
                "entity_type": ["vehicle"] * m,
                "entity_id": [vehicle_id(v) for v in v_all.tolist()],
                "noise": noise,
            }
        )
        _ = start
    sink.close()
    return serial


class CellSites:
    """The operator's cell-site list: a handful of masts at addresses in each town, and
    the cells each phone is served by (near where the phone is used)."""

    def __init__(self, world: World, seed: int) -> None:
        self.geo = world.geo
        self.rng = py_rng(seed, "cell-sites")
        settlement_of_address = self.geo.nb_settlement[self.geo.addr_nb]
        self._addresses = {
            int(s): np.flatnonzero(settlement_of_address == s)
            for s in range(len(self.geo.settlements))
        }
        self._pool: dict[int, list[str]] = {}
        self._of_phone: dict[int, list[str]] = {}
        self.rows: list[dict[str, Any]] = []

    def _cells_in(self, settlement: int) -> list[str]:
        pool = self._pool.get(settlement)
        if pool is None:
            rng, geo = self.rng, self.geo
            addresses = self._addresses.get(settlement)
            pool = self._pool[settlement] = []
            if addresses is None or len(addresses) == 0:
                return pool
            lac = 1000 + settlement * 97
            for _ in range(rng.randint(6, 12)):
                a = int(addresses[rng.randrange(len(addresses))])
                cell = f"234-15-{lac}-{rng.randrange(10000, 99999)}"
                pool.append(cell)
                self.rows.append(
                    {
                        "CELL_ID": cell,
                        "SITE_NAME": f"{geo.addr_street[a]} mast",
                        "SITE_POSTCODE": geo.addr_postcode[a],
                        "TOWN": geo.addr_town[a],
                        "LATITUDE": f"{float(geo.addr_lat[a]) + rng.uniform(-0.002, 0.002):.6f}",
                        "LONGITUDE": f"{float(geo.addr_lon[a]) + rng.uniform(-0.002, 0.002):.6f}",
                    }
                )
        return pool

    def of_phone(self, phone: int, settlement: int) -> list[str]:
        """The two to four cells serving `phone`, in the town it is used in."""
        cells = self._of_phone.get(phone)
        if cells is None:
            pool = self._cells_in(settlement) or self._cells_in(0)
            cells = self._of_phone[phone] = self.rng.sample(
                pool, min(len(pool), self.rng.randint(2, 4))
            )
        return cells


def generate_calls(world: World, root: Path) -> int:
    """Call detail records for the phones under a communications data request, and the
    cell-site list that places their cells."""
    cfg = world.cfg
    rng = py_rng(cfg.seed, "calls")
    pop, st = world.pop, world.st
    start, end = cfg.start.toordinal(), cfg.end.toordinal()
    sink = CsvSink(root / "comms" / "call_records.csv", CALL_COLUMNS)
    sites = CellSites(world, cfg.seed)
    # where each phone is used: buyers and the deal line in the market, controllers
    # and runners at home, a group's phones in its town, anyone else at home
    used_in: dict[int, int] = {}
    events: list[tuple[int, int, int, int, str]] = []  # (seconds since start, a, b, duration, type)
    span = (end - start) * 86400
    for line in st.lines:
        for dp in line.deal_phones:
            lo, hi = max(start, dp.start), min(end, dp.end)
            if lo >= hi:
                continue
            t0, t1 = (lo - start) * 86400, (hi - start) * 86400
            # buyers ring and text the line
            for buyer in line.buyers:
                if rng.random() < 0.3:
                    continue
                t = t0 + rng.randrange(86400 * 3)
                while t < t1:
                    kind = "SMS" if rng.random() < 0.4 else "VOICE"
                    events.append(
                        (t, buyer, dp.phone, 0 if kind == "SMS" else rng.randint(8, 60), kind)
                    )
                    t += int(rng.expovariate(1 / (86400 * 4)))
            # bulk marketing texts to every buyer in the same minute
            t = t0 + rng.randrange(86400)
            while t < t1:
                for buyer in line.buyers:
                    events.append((t + rng.randrange(60), dp.phone, buyer, 0, "SMS"))
                t += rng.randint(2, 5) * 86400
            # the controller and the runners talk to the line
            controller_phone = pop.phone_index.get(pop.mobile[line.controller], -1)
            contacts = [controller_phone] + [
                pop.phone_index.get(pop.mobile[r], -1) for r, _ in line.runners
            ]
            used_in[dp.phone] = line.market_settlement
            for buyer in line.buyers:
                used_in[buyer] = line.market_settlement
            for c in contacts:
                if c >= 0:
                    used_in.setdefault(c, line.hub_settlement)
            for c in contacts:
                if c < 0:
                    continue
                t = t0 + rng.randrange(86400)
                while t < t1:
                    events.append((t, dp.phone, c, rng.randint(10, 240), "VOICE"))
                    t += int(rng.expovariate(1 / (86400 * 1.5)))
    for ocg in st.ocgs:
        phones = [pop.phone_index[pop.mobile[i]] for i, _ in ocg.members if pop.mobile[i]] + [
            ocg.shared_phone
        ]
        for p in phones:
            used_in.setdefault(p, ocg.settlement)
        if len(phones) < 2:
            continue
        n = int(len(phones) * (end - start) / 3)
        for _ in range(n):
            a, b = rng.sample(phones, 2)
            events.append(
                (
                    rng.randrange(span),
                    a,
                    b,
                    rng.randint(5, 400),
                    "VOICE" if rng.random() < 0.7 else "SMS",
                )
            )
    for site in st.labour_sites:
        used_in.setdefault(site.phone, int(st.settlement_of[site.controller]))
        for w in site.workers[:3]:
            # a worker's own phone, if they kept one (given numbers are the site's phone)
            if pop.mobile[w] and pop.phone_index[pop.mobile[w]] != site.phone:
                events.append(
                    (
                        rng.randrange(span),
                        site.phone,
                        pop.phone_index[pop.mobile[w]],
                        rng.randint(10, 60),
                        "VOICE",
                    )
                )
    events.sort()
    base = dt.datetime.fromordinal(start)
    imei: dict[int, str] = {}
    for k, (t, a, b, dur, kind) in enumerate(events):
        rid = f"CDR{k + 1:09d}"
        when = base + dt.timedelta(seconds=t)
        sink.write(
            {
                "RECORD_ID": rid,
                "MSISDN_A": "44" + pop.phone_number[a][1:],
                "MSISDN_B": "44" + pop.phone_number[b][1:],
                "START_TIME": when.strftime("%Y%m%d%H%M%S"),
                "DURATION_S": str(dur),
                "EVENT_TYPE": kind,
                "IMEI_A": imei.setdefault(a, f"35{rng.randrange(10**13):013d}"),
                "CELL_ID": rng.choice(sites.of_phone(a, _home(world, a, used_in))),
            }
        )
        world.truth.mention("calls", rid, "msisdn_a", "phone", phone_id(a))
        world.truth.mention("calls", rid, "msisdn_b", "phone", phone_id(b))
    sink.close()
    cell_sink = CsvSink(root / "comms" / "cell_sites.csv", CELL_COLUMNS)
    for row in sites.rows:
        cell_sink.write(row)
    cell_sink.close()
    return len(events)


def _home(world: World, phone: int, used_in: dict[int, int]) -> int:
    """The settlement a phone is used in: as the calls above say, else its owner's home."""
    if phone in used_in:
        return used_in[phone]
    owner = world.pop.phone_owner[phone]
    return int(world.st.settlement_of[owner]) if owner >= 0 else 0
