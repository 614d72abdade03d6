"""999/101 incidents (command and control) and officers' status updates.

Officers work a four-team rota of early, late and night shifts from stations
in the towns. Calls are dispatched in time order to the nearest available
officer on shift; when none is free the call waits, which is how response
targets get breached in the data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import math
from pathlib import Path
from typing import Any

from peelian.synth.geography import KM_PER_DEG_LAT
from peelian.synth.noise import Noiser
from peelian.synth.offending import IncidentRequest
from peelian.synth.output import CsvSink
from peelian.synth.rand import pick, py_rng, round_random
from peelian.synth.world import Officers, World

INCIDENT_COLUMNS = (
    "INCIDENT_NO",
    "CALL_DATETIME",
    "CALL_SOURCE",
    "GRADE",
    "OPENING_CODE",
    "CLOSING_CODE",
    "THREAT",
    "HARM",
    "RISK",
    "INVESTIGATION",
    "VULNERABILITY",
    "ENGAGEMENT",
    "LOCATION_TEXT",
    "LATITUDE",
    "LONGITUDE",
    "BEAT",
    "AREA_TYPE",
    "CALLER_NAME",
    "CALLER_PHONE",
    "FIRST_DISPATCH",
    "FIRST_ARRIVAL",
    "RESOURCE",
    "CLOSED_DATETIME",
    "CRIME_REF",
    "LOG",
)
STATUS_COLUMNS = ("callsign", "collar_no", "status_time", "status", "lat", "lon", "incident_no")
NON_CRIME = (
    ("ASB - NUISANCE", 0.22, (3, 4)),
    ("CONCERN FOR SAFETY", 0.16, (1, 2)),
    ("SUSPICIOUS CIRCUMSTANCES", 0.1, (2, 3)),
    ("ROAD TRAFFIC COLLISION", 0.08, (1, 2)),
    ("DOMESTIC INCIDENT", 0.1, (1, 2)),
    ("MISSING PERSON", 0.05, (2, 2)),
    ("ALARM ACTIVATION", 0.06, (3, 4)),
    ("HIGHWAY DISRUPTION", 0.05, (2, 3)),
    ("PUBLIC SAFETY", 0.08, (2, 3)),
    ("ABANDONED CALL", 0.06, (3, 4)),
    ("ADMIN / LOST PROPERTY", 0.04, (4, 4)),
)
SHIFTS = ((7, 10), (14, 10), (22, 9))  # start hour, hours
CLOSING = {
    1: "ATTENDED - RESOLVED",
    2: "ATTENDED - NO FURTHER ACTION",
    3: "ATTENDED - ADVICE GIVEN",
    4: "NO ATTENDANCE - ADVICE BY PHONE",
}
# The true travel model: straight-line km x CIRCUITY at the incident's area-type speed
# (blue lights), plus TURNOUT_MINUTES; written to truth/travel_model.json so that an
# evaluation can time any officer's journey the way the world did.
SPEED_KMH = {True: 32.0, False: 55.0}  # urban / rural
CIRCUITY = 1.35
TURNOUT_MINUTES = 2.0


def true_travel_minutes(km: float, urban: bool) -> float:
    return km * CIRCUITY / SPEED_KMH[urban] * 60 + TURNOUT_MINUTES


def travel_model() -> dict[str, object]:
    return {
        "circuity": CIRCUITY,
        "speed_kmh": {"URBAN": SPEED_KMH[True], "RURAL": SPEED_KMH[False]},
        "turnout_minutes": TURNOUT_MINUTES,
        "distance": "straight line between WGS84 points, equirectangular (synth/incidents.py _km)",
    }


def build_officers(
    world_settings: dict[str, Any],
    geo_settlements: list[dict[str, Any]],
    in_force_people: int,
    seed: int,
) -> Officers:
    rng = py_rng(seed, "officers")
    count = max(
        16, round(float(world_settings["rates"]["officers_per_1000"]) * in_force_people / 1000)
    )
    stations = [k for k, s in enumerate(geo_settlements) if s["in_force"]]
    weights = [float(geo_settlements[k]["share"]) for k in stations]
    collar: list[str] = []
    callsign: list[str] = []
    station: list[int] = []
    team: list[int] = []
    rank: list[str] = []
    used: set[int] = set()
    for k in range(count):
        s = (
            stations[k % len(stations)]
            if k < len(stations) * 4
            else rng.choices(stations, weights)[0]
        )
        n = rng.randint(1000, 9999)
        while n in used:
            n = rng.randint(1000, 9999)
        used.add(n)
        collar.append(str(n))
        callsign.append(f"{geo_settlements[s]['postcode_area']}{s + 1}{k % 40:02d}")
        station.append(s)
        team.append(k % 4)
        rank.append("PS" if rng.random() < 0.12 else "PC")
    return Officers(collar, callsign, station, team, rank)


@dataclasses.dataclass
class _OfficerState:
    free_at: dt.datetime
    lat: float
    lon: float


class Incidents:
    def __init__(self, world: World, root: Path) -> None:
        self.w = world
        self.rng = py_rng(world.cfg.seed, "incidents")
        self.noise = Noiser(world.cfg.noise("incidents"), py_rng(world.cfg.seed, "incidents-noise"))
        self.incidents = CsvSink(root / "command_control" / "incidents.csv", INCIDENT_COLUMNS)
        self.status = CsvSink(root / "command_control" / "officer_status.csv", STATUS_COLUMNS)
        self.serial: dict[dt.date, int] = {}
        geo = world.geo
        self.by_station_team: dict[tuple[int, int], list[int]] = {}
        for k, (station, team) in enumerate(
            zip(world.officers.station, world.officers.team, strict=True)
        ):
            self.by_station_team.setdefault((station, team), []).append(k)
        self.state: list[_OfficerState] = []
        for s in world.officers.station:
            st = geo.settlements[s]
            self.state.append(_OfficerState(dt.datetime.min, float(st["lat"]), float(st["lon"])))
        self.in_force_nbs = [nb for nb in range(len(geo.nb_code)) if geo.in_force(nb)]
        self.nb_weights = [
            float(geo.nb_people[nb]) * (0.5 + geo.nb_deprivation[nb]) for nb in self.in_force_nbs
        ]

    def on_shift(self, officer: int, when: dt.datetime) -> bool:
        return team_on_shift(self.w.officers.team[officer], when)

    def month(
        self, first_day: int, last_day: int, requests: list[IncidentRequest]
    ) -> dict[str, str]:
        """Write the month's incidents; returns crime_ref -> incident number."""
        w, rng, geo = self.w, self.rng, self.w.geo
        days = last_day - first_day + 1
        in_force_people = int(w.st.in_force.sum())
        expected = (
            float(w.cfg.settings["rates"]["incidents"]) * in_force_people / 1000 * days / 365.25
        )
        calls = list(requests)
        for _ in range(max(0, round_random(expected - len(requests), rng))):
            nb = rng.choices(self.in_force_nbs, self.nb_weights)[0]
            a = geo.random_address(nb, rng)
            day = first_day + rng.randrange(days)
            when = dt.datetime.fromordinal(day) + dt.timedelta(
                minutes=int(rng.triangular(0, 1440, 1140))
            )
            kind = pick(tuple((k, p) for k, p, _ in NON_CRIME), rng)
            lo, hi = next(g for k, _, g in NON_CRIME if k == kind)
            caller = rng.choice(w.residents_of[nb]) if rng.random() < 0.85 else -1
            calls.append(
                IncidentRequest(
                    when,
                    nb,
                    float(geo.addr_lat[a]),
                    float(geo.addr_lon[a]),
                    geo.address_line(a),
                    caller,
                    "",
                    kind,
                    rng.randint(lo, hi),
                )
            )
        calls.sort(key=lambda c: (c.time, c.crime_ref, c.location))
        links: dict[str, str] = {}
        status_rows: list[tuple[dt.datetime, int, dict[str, str]]] = []
        for call in calls:
            call_day = call.time.date()
            self.serial[call_day] = self.serial.get(call_day, 0) + 1
            number = (
                f"{w.cfg.settings['force']['short']}-{call_day:%Y%m%d}-{self.serial[call_day]:04d}"
            )
            call.incident_ref = number
            if call.crime_ref:
                links[call.crime_ref] = number
            urban = geo.is_urban(call.nb)
            dispatch = arrival = closed = None
            resource = ""
            if call.grade <= 3:
                officer, dispatch, arrival = self._dispatch(call, urban)
                resource = w.officers.callsign_base[officer]
                on_scene = dt.timedelta(minutes=rng.randint(20, 150))
                closed = arrival + on_scene
                self.state[officer] = _OfficerState(closed, call.lat, call.lon)
                for t, status in (
                    (dispatch, "DEPLOYED"),
                    (arrival, "AT SCENE"),
                    (closed, "AVAILABLE"),
                ):
                    status_rows.append(
                        (
                            t,
                            officer,
                            {
                                "status": status,
                                "lat": f"{call.lat:.5f}",
                                "lon": f"{call.lon:.5f}",
                                "incident_no": number,
                            },
                        )
                    )
            else:
                closed = call.time + dt.timedelta(minutes=rng.randint(10, 90))
            thrive = self._thrive(call.grade)
            row = {
                "INCIDENT_NO": number,
                "CALL_DATETIME": call.time.strftime("%Y-%m-%d %H:%M:%S"),
                "CALL_SOURCE": "999"
                if call.grade <= 2 or rng.random() < 0.2
                else rng.choice(("101", "101", "ONLINE", "FRONT COUNTER")),
                "GRADE": str(call.grade),
                "OPENING_CODE": call.kind.upper(),
                "CLOSING_CODE": CLOSING[call.grade] if not call.crime_ref else "CRIME RECORDED",
                **thrive,
                "LOCATION_TEXT": self.noise.case(call.location),
                "LATITUDE": f"{call.lat:.5f}",
                "LONGITUDE": f"{call.lon:.5f}",
                "BEAT": geo.nb_beat[call.nb],
                "AREA_TYPE": "URBAN" if urban else "RURAL",
                "FIRST_DISPATCH": dispatch.strftime("%Y-%m-%d %H:%M:%S") if dispatch else "",
                "FIRST_ARRIVAL": arrival.strftime("%Y-%m-%d %H:%M:%S") if arrival else "",
                "RESOURCE": resource,
                "CLOSED_DATETIME": closed.strftime("%Y-%m-%d %H:%M:%S"),
                "CRIME_REF": call.crime_ref,
                "LOG": f"{call.kind.lower()} reported at {call.location.split(',')[0]}",
            }
            if call.caller >= 0:
                m = w.person(call.caller, call_day.toordinal(), self.noise)
                row["CALLER_NAME"] = self.noise.case(f"{m.forename} {m.surname}")
                row["CALLER_PHONE"] = m.phone or w.pop.hh_landline[int(w.pop.hh[call.caller])]
                w.truth.mention(
                    "incidents", number, "caller", "person", w.pop.person_id(call.caller), m.noise
                )
            self.incidents.write(row)
        # shift starts and ends bracket the deployments
        for k in range(len(w.officers.collar)):
            for day in range(first_day, last_day + 1):
                for start_h, hours in SHIFTS:
                    start = dt.datetime.fromordinal(day).replace(hour=start_h)
                    if self.on_shift(k, start + dt.timedelta(minutes=1)) and not self.on_shift(
                        k, start - dt.timedelta(minutes=1)
                    ):
                        st = geo.settlements[w.officers.station[k]]
                        status_rows.append(
                            (
                                start,
                                k,
                                {
                                    "status": "ON DUTY",
                                    "lat": f"{st['lat']:.5f}",
                                    "lon": f"{st['lon']:.5f}",
                                    "incident_no": "",
                                },
                            )
                        )
                        status_rows.append(
                            (
                                start + dt.timedelta(hours=hours),
                                k,
                                {
                                    "status": "OFF DUTY",
                                    "lat": f"{st['lat']:.5f}",
                                    "lon": f"{st['lon']:.5f}",
                                    "incident_no": "",
                                },
                            )
                        )
        status_rows.sort(key=lambda r: (r[0], r[1]))
        for t, k, data in status_rows:
            self.status.write(
                {
                    "callsign": w.officers.callsign_base[k],
                    "collar_no": w.officers.collar[k],
                    "status_time": t.strftime("%Y-%m-%dT%H:%M:%S"),
                    **data,
                }
            )
        return links

    def _dispatch(self, call: IncidentRequest, urban: bool) -> tuple[int, dt.datetime, dt.datetime]:
        """The officer who gets there first: on shift, free soonest, nearest."""
        rng = self.rng
        triage = dt.timedelta(minutes=rng.randint(1, 4) if call.grade == 1 else rng.randint(3, 25))
        if call.grade == 3:
            triage = dt.timedelta(minutes=rng.randint(60, 60 * 30))
        ready = call.time + triage
        station = int(self.w.geo.nb_settlement[call.nb])
        if not self.w.geo.settlements[station]["in_force"]:
            station = self.w.officers.station[0]
        pool = [
            k
            for team in range(4)
            if team_on_shift(team, ready)
            for k in self.by_station_team.get((station, team), [])
        ]
        if len(pool) > 15:
            pool = rng.sample(pool, 15)
        candidates = []
        for k in pool:
            state = self.state[k]
            began = shift_start(self.w.officers.team[k], ready)
            if began is not None and state.free_at < began:
                # a new shift starts at the station (as its ON DUTY update says)
                st = self.w.geo.settlements[self.w.officers.station[k]]
                state = _OfficerState(state.free_at, float(st["lat"]), float(st["lon"]))
            km = _km(state.lat, state.lon, call.lat, call.lon)
            free = max(ready, state.free_at)
            travel = dt.timedelta(minutes=true_travel_minutes(km, urban))
            candidates.append((free + travel, free, k))
        if not candidates:
            k = min(range(len(self.state)), key=lambda j: self.state[j].free_at)
            candidates = [(ready + dt.timedelta(minutes=45), ready, k)]
        best = heapq.nsmallest(1, candidates)[0]
        arrival, dispatch, k = best
        return k, dispatch, arrival

    def _thrive(self, grade: int) -> dict[str, str]:
        rng = self.rng
        level = {1: ("H", "H", "M"), 2: ("M", "H", "L"), 3: ("L", "M", "L"), 4: ("L", "L", "L")}[
            grade
        ]
        return {
            "THREAT": level[0] if rng.random() > 0.15 else rng.choice("HML"),
            "HARM": level[1] if rng.random() > 0.15 else rng.choice("HML"),
            "RISK": level[2] if rng.random() > 0.15 else rng.choice("HML"),
            "INVESTIGATION": rng.choice(("Y", "N")) if grade < 4 else "N",
            "VULNERABILITY": "Y" if rng.random() < (0.35 if grade <= 2 else 0.1) else "N",
            "ENGAGEMENT": "ATTEND"
            if grade <= 2
            else ("TELEPHONE" if grade == 4 else rng.choice(("ATTEND", "APPOINTMENT"))),
        }

    def close(self) -> None:
        self.incidents.close()
        self.status.close()


def team_on_shift(team: int, when: dt.datetime) -> bool:
    """Four teams on a ten-day rota: 2 earlies, 2 lates, 2 nights, 4 rest days."""
    return shift_start(team, when) is not None


def shift_start(team: int, when: dt.datetime) -> dt.datetime | None:
    """When the team's shift that covers `when` began (None: the team is off duty)."""
    for back in (0, 1):
        day = when.date() - dt.timedelta(days=back)
        cycle = (day.toordinal() + team * 2 + (team // 2)) % 10
        if cycle >= 6:
            continue
        start_h, hours = SHIFTS[cycle // 2]
        start = dt.datetime.combine(day, dt.time(start_h))
        if start <= when < start + dt.timedelta(hours=hours):
            return start
    return None


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat2 - lat1) * KM_PER_DEG_LAT
    dx = (lon2 - lon1) * KM_PER_DEG_LAT * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)
