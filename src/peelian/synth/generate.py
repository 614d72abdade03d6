"""`peelian generate`: build the synthetic force and write every source and the truth.

Steps run in a fixed order from one seed, so the same arguments give
byte-identical files. Output is built in a hidden sibling folder and moved
into place only when complete, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from peelian import __version__
from peelian.synth.broken import break_rows
from peelian.synth.config import SynthConfig
from peelian.synth.geography import build_geography
from peelian.synth.incidents import Incidents, build_officers, travel_model
from peelian.synth.intel import Intelligence
from peelian.synth.movement import generate_anpr, generate_calls
from peelian.synth.offending import Offending
from peelian.synth.output import (
    JsonlSink,
    Truth,
    file_digest,
    staged_dir,
    write_json,
    write_parquet,
)
from peelian.synth.population import build_population
from peelian.synth.safeguarding import Safeguarding
from peelian.synth.structures import build_structures
from peelian.synth.world import World, phone_id, vehicle_id

Progress = Callable[[str, float], None]
STEPS = (
    "geography",
    "population",
    "structures",
    "crime and incidents",
    "safeguarding",
    "intelligence",
    "anpr",
    "calls",
    "truth",
    "broken rows",
    "manifest",
)


class GenerateError(ValueError):
    """The arguments can't make a force."""


@dataclasses.dataclass(frozen=True)
class GenerateResult:
    out: Path
    files: dict[str, int]  # relative path -> rows
    people: int


def validate(cfg: SynthConfig) -> None:
    if cfg.people < 100:
        raise GenerateError(
            f"--people must be at least 100 (got {cfg.people}): "
            "a force needs enough people for households, groups and lines"
        )
    if cfg.people > 50_000_000:
        raise GenerateError(
            f"--people {cfg.people} is more than this generator supports (50,000,000)"
        )
    if cfg.months < 1 or cfg.months > 120:
        raise GenerateError(f"--months must be between 1 and 120 (got {cfg.months})")
    if cfg.seed < 0:
        raise GenerateError(f"--seed must be zero or positive (got {cfg.seed})")
    if not 1990 <= cfg.start.year <= 2100:
        raise GenerateError(
            f"--start {cfg.start.isoformat()} is outside the supported years 1990-2100"
        )
    cfg.broken_rows()  # a bad setting fails here, before any work


def generate(
    cfg: SynthConfig, out: Path, *, force: bool = False, progress: Progress | None = None
) -> GenerateResult:
    """Generate the force described by `cfg` into `out` (all or nothing)."""
    validate(cfg)
    report = progress or (lambda step, fraction: None)
    with staged_dir(out, force) as stage:
        files = _generate_into(cfg, stage, report)
    return GenerateResult(out, files, cfg.people)


def _hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The convex hull of (lon, lat) points, anticlockwise (Andrew's monotone chain)."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def write_boundaries(geo: Any, path: Path) -> None:
    """The force's own neighbourhood boundaries as GeoJSON, as a force's GIS team
    would export them (here: the outline of each neighbourhood's addresses, or a
    circle of its radius when it has too few): the web map's offline base layer."""
    import json
    import math

    features = []
    for nb, code in enumerate(geo.nb_code):
        if not geo.settlements[int(geo.nb_settlement[nb])]["in_force"]:
            continue  # another force's area (where county lines run to)
        mask = geo.addr_nb == nb
        ring = _hull(
            [(round(float(lo), 5), round(float(la), 5))
             for la, lo in zip(geo.addr_lat[mask], geo.addr_lon[mask], strict=True)]
        )  # fmt: skip
        if len(ring) < 3:
            lat, lon, r = float(geo.nb_lat[nb]), float(geo.nb_lon[nb]), float(geo.nb_radius_km[nb])
            ring = [
                (round(lon + r / (111.2 * math.cos(math.radians(lat))) * math.cos(a), 5),
                 round(lat + r / 111.2 * math.sin(a), 5))
                for a in (2 * math.pi * k / 24 for k in range(24))
            ]  # fmt: skip
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": code,
                    "name": geo.nb_name[nb],
                    "beat": geo.nb_beat[nb],
                    "ward": geo.nb_ward_name[nb],
                },
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")


def write_population(geo: Any, path: Path) -> None:
    """Residents per beat of the force (the policing area crimes are recorded in), as a
    force would take them from the ONS mid-year estimates: the denominators of crime
    rates (`peelian kpis --population`)."""
    import csv

    residents: dict[str, int] = {}
    names: dict[str, str] = {}
    for nb, beat in enumerate(geo.nb_beat):
        settlement = geo.settlements[int(geo.nb_settlement[nb])]
        if not settlement["in_force"]:
            continue
        residents[beat] = residents.get(beat, 0) + int(geo.nb_people[nb])
        names.setdefault(beat, f"{settlement['name']} beat {beat[-2:]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["area", "name", "residents"])
        for beat in sorted(residents):
            writer.writerow([beat, names[beat], residents[beat]])


def _generate_into(cfg: SynthConfig, root: Path, report: Progress) -> dict[str, int]:
    settings = cfg.settings
    sources = root / "sources"
    truth_dir = root / "truth"
    report("geography", 0.0)
    geo = build_geography(settings, cfg.people, cfg.seed)
    write_boundaries(geo, sources / "geography" / "neighbourhoods.geojson")
    write_population(geo, sources / "geography" / "population.csv")
    report("population", 0.0)
    pop = build_population(settings, geo, cfg.seed, cfg.start, cfg.end)
    report("structures", 0.0)
    st = build_structures(settings, geo, pop, cfg.seed, cfg.start, cfg.end)
    officers = build_officers(settings, geo.settlements, int(st.in_force.sum()), cfg.seed)
    truth = Truth(truth_dir)
    world = World(cfg, geo, pop, st, officers, truth)

    offending = Offending(world, sources)
    incidents = Incidents(world, sources)
    month_starts = cfg.month_starts()
    for k in range(cfg.months):
        report("crime and incidents", k / cfg.months)
        first, last = month_starts[k], month_starts[k + 1] - 1
        requests = offending.month(first, last)
        incidents.month(first, last, requests)
        offending.flush(requests)
    offending.close()
    incidents.close()

    report("safeguarding", 0.0)
    safeguarding = Safeguarding(world, sources)
    safeguarding.generate()
    safeguarding.close()

    report("intelligence", 0.0)
    spans = JsonlSink(truth_dir / "intel_spans.jsonl")
    intel = Intelligence(world, sources)
    intel.generate(spans)
    intel.close()
    spans.close()

    report("anpr", 0.0)
    generate_anpr(world, sources)
    report("calls", 0.0)
    generate_calls(world, sources)
    truth.close()

    report("truth", 0.0)
    _write_truth(world, offending, truth_dir)
    _copy_mappings(root / "mappings")

    report("broken rows", 0.0)
    broken = break_rows(root, cfg.seed, *cfg.broken_rows())

    report("manifest", 0.0)
    files = _manifest(cfg, root, broken)
    report("manifest", 1.0)
    return files


def _write_truth(w: World, offending: Offending, truth_dir: Path) -> None:
    pop, geo, st = w.pop, w.geo, w.st
    n = pop.n
    exploited = st.exploited_of
    ocg_of = st.ocg_of
    write_parquet(
        truth_dir / "people.parquet",
        {
            "person_id": [pop.person_id(i) for i in range(n)],
            "forename": pop.forename,
            "middle_names": pop.middle,
            "surname": pop.surname,
            "birth_surname": pop.birth_surname,
            "surname_changed_on": [
                dt.date.fromordinal(int(d)) if d else None for d in pop.surname_changed
            ],
            "sex": ["MF"[int(s)] for s in pop.sex],
            "date_of_birth": [dt.date.fromordinal(int(d)) for d in pop.dob],
            "ethnicity_code": pop.eth_code,
            "household_id": [f"H{int(h) + 1:08d}" for h in pop.hh],
            "address_id": [geo.address_id(int(pop.hh_addr[int(h)])) for h in pop.hh],
            "moved_to_address_id": [
                geo.address_id(int(pop.hh_addr_after[int(h)]))
                if pop.hh_addr_after[int(h)] >= 0
                else None
                for h in pop.hh
            ],
            "moved_on": [
                dt.date.fromordinal(int(pop.hh_moved[int(h)])) if pop.hh_moved[int(h)] else None
                for h in pop.hh
            ],
            "mother_id": [pop.person_id(int(m)) if m >= 0 else None for m in pop.mother],
            "father_id": [pop.person_id(int(f)) if f >= 0 else None for f in pop.father],
            "twin_id": [pop.person_id(int(t)) if t >= 0 else None for t in pop.twin_of],
            "junior_of_id": [pop.person_id(int(j)) if j >= 0 else None for j in pop.junior_of],
            "mobile": pop.mobile,
            "email": pop.email,
            "ni_number": pop.ni,
            "nhs_number": pop.nhs,
            "pnc_id": [offending.pnc.get(i) for i in range(n)],
            "cro_number": [offending.cro.get(i) for i in range(n)],
            "street_name": pop.street_name,
            "alias": pop.alias,
            "vulnerable_adult": pop.vulnerable.tolist(),
            "offending_propensity": np.round(st.propensity, 6),
            "prior_record": st.prior_record.tolist(),
            "in_force": st.in_force.tolist(),
            "ocg_id": [st.ocgs[ocg_of[i][0]].ocg_id if i in ocg_of else None for i in range(n)],
            "ocg_role": [ocg_of[i][1] if i in ocg_of else None for i in range(n)],
            "exploitation": [exploited[i].kind if i in exploited else None for i in range(n)],
            "exploited_since": [
                dt.date.fromordinal(exploited[i].since) if i in exploited else None
                for i in range(n)
            ],
            "false_lead": np.isin(np.arange(n), np.array(st.false_leads, dtype=np.int64)).tolist(),
            "warning_markers": [";".join(offending.markers.get(i, [])) for i in range(n)],
        },
    )
    write_parquet(
        truth_dir / "addresses.parquet",
        {
            "address_id": [geo.address_id(a) for a in range(geo.n_addresses)],
            "uprn": geo.addr_uprn,
            "flat": geo.addr_flat,
            "number": geo.addr_number,
            "house_name": geo.addr_house_name,
            "street": geo.addr_street,
            "locality": geo.addr_locality,
            "town": geo.addr_town,
            "postcode": geo.addr_postcode,
            "latitude": geo.addr_lat,
            "longitude": geo.addr_lon,
            "neighbourhood_code": [geo.nb_code[int(nb)] for nb in geo.addr_nb],
        },
    )
    (truth_dir / "travel_model.json").write_text(
        json.dumps(travel_model(), indent=2) + "\n", encoding="utf-8"
    )
    write_parquet(
        truth_dir / "areas.parquet",
        {
            "neighbourhood_code": geo.nb_code,
            "neighbourhood_name": geo.nb_name,
            "settlement": [geo.settlements[int(s)]["name"] for s in geo.nb_settlement],
            "in_force": [bool(geo.settlements[int(s)]["in_force"]) for s in geo.nb_settlement],
            "urban": [bool(geo.settlements[int(s)]["urban"]) for s in geo.nb_settlement],
            "beat": geo.nb_beat,
            "ward_code": geo.nb_ward_code,
            "ward_name": geo.nb_ward_name,
            "centre_latitude": np.round(geo.nb_lat, 6),
            "centre_longitude": np.round(geo.nb_lon, 6),
            "radius_km": np.round(geo.nb_radius_km, 3),
            "residents": geo.nb_people,
            "deprivation": np.round(geo.nb_deprivation, 4),
            "policing_multiplier": geo.nb_policing,
        },
    )
    write_parquet(
        truth_dir / "vehicles.parquet",
        {
            "vehicle_id": [vehicle_id(v) for v in range(len(pop.veh_vrm))],
            "vrm": pop.veh_vrm,
            "make": pop.veh_make,
            "model": pop.veh_model,
            "colour": pop.veh_colour,
            "keeper_id": [pop.person_id(int(k)) for k in pop.veh_keeper],
        },
    )
    write_parquet(
        truth_dir / "phones.parquet",
        {
            "phone_id": [phone_id(p) for p in range(len(pop.phone_number))],
            "number": pop.phone_number,
            "owner_id": [pop.person_id(o) if o >= 0 else None for o in pop.phone_owner],
        },
    )
    members: list[dict[str, Any]] = []
    for ocg in st.ocgs:
        for i, role in ocg.members:
            members.append(
                {
                    "ocg_id": ocg.ocg_id,
                    "ocg_name": ocg.name,
                    "person_id": pop.person_id(i),
                    "role": role,
                }
            )
    write_parquet(
        truth_dir / "ocg_members.parquet",
        {k: [m[k] for m in members] for k in ("ocg_id", "ocg_name", "person_id", "role")},
    )
    write_json(
        truth_dir / "county_lines.json",
        [
            {
                "line_id": line.line_id,
                "brand": line.brand,
                "ocg_id": st.ocgs[line.ocg].ocg_id,
                "hub": geo.settlements[line.hub_settlement]["name"],
                "market": geo.settlements[line.market_settlement]["name"],
                "controller_id": pop.person_id(line.controller),
                "deal_phones": [
                    {
                        "phone_id": phone_id(p.phone),
                        "number": pop.phone_number[p.phone],
                        "from": dt.date.fromordinal(p.start).isoformat(),
                        "until": dt.date.fromordinal(p.end).isoformat(),
                    }
                    for p in line.deal_phones
                ],
                "runners": [
                    {"person_id": pop.person_id(r), "since": dt.date.fromordinal(s).isoformat()}
                    for r, s in line.runners
                ],
                "cuckooed": [
                    {
                        "person_id": pop.person_id(p),
                        "address_id": geo.address_id(a),
                        "since": dt.date.fromordinal(s).isoformat(),
                    }
                    for p, a, s in line.cuckooed
                ],
                "buyer_phone_ids": [phone_id(b) for b in line.buyers],
                "vehicle_id": vehicle_id(line.vehicle) if line.vehicle >= 0 else None,
            }
            for line in st.lines
        ],
    )
    write_parquet(
        truth_dir / "exploitation.parquet",
        {
            "person_id": [pop.person_id(e.person) for e in st.exploitation],
            "kind": [e.kind for e in st.exploitation],
            "since": [dt.date.fromordinal(e.since) for e in st.exploitation],
            "exploiter_id": [pop.person_id(e.by) if e.by >= 0 else None for e in st.exploitation],
            "link": [e.link for e in st.exploitation],
        },
    )
    write_json(
        truth_dir / "labour_sites.json",
        [
            {
                "site_id": s.site_id,
                "address_id": geo.address_id(int(pop.hh_addr[s.household])),
                "controller_id": pop.person_id(s.controller),
                "worker_ids": [pop.person_id(x) for x in s.workers],
                "vehicle_id": vehicle_id(s.vehicle) if s.vehicle >= 0 else None,
                "phone_id": phone_id(s.phone),
            }
            for s in st.labour_sites
        ],
    )
    o = w.officers
    write_parquet(
        truth_dir / "officers.parquet",
        {
            "collar_no": o.collar,
            "callsign": o.callsign_base,
            "station": [geo.settlements[s]["name"] for s in o.station],
            "team": o.team,
            "rank": o.rank,
        },
    )


def _copy_mappings(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    folder = resources.files("peelian.synth").joinpath("mappings")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            (target / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")


def _manifest(cfg: SynthConfig, root: Path, broken: dict[str, int]) -> dict[str, int]:
    import pyarrow.parquet as pq

    files: dict[str, Any] = {}
    rows: dict[str, int] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".parquet":
            count = pq.ParquetFile(str(path)).metadata.num_rows
        elif path.suffix in (".csv", ".jsonl"):
            with open(path, "rb") as f:
                count = sum(1 for _ in f) - (1 if path.suffix == ".csv" else 0)
        else:
            count = 0
        rows[rel] = count
        files[rel] = {"rows": count, "sha256": file_digest(path), "bytes": path.stat().st_size}
        if rel in broken:  # of `rows`, how many lines were broken on purpose
            files[rel]["broken_rows"] = broken[rel]
    write_json(
        root / "manifest.json",
        {
            "generator": f"peelian {__version__}",
            "people": cfg.people,
            "seed": cfg.seed,
            "start": cfg.start.isoformat(),
            "months": cfg.months,
            "force": cfg.settings["force"]["name"],
            "files": files,
        },
    )
    return rows
