"""Crime records, custody records and stop and search, month by month.

Crimes follow the police.uk mix, seasonality and time of day; a small share
of offenders commits most of them; most victims are hit once but some again
and again. Heavily policed neighbourhoods get more stop and search and more
recorded possession offences for the same underlying behaviour (the bias trap).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

from peelian.reference import read_table
from peelian.standardise.identifiers import cro_check_letter, format_pnc_id
from peelian.synth.noise import Noiser
from peelian.synth.output import CsvSink
from peelian.synth.rand import Weighted, pick, py_rng, round_random
from peelian.synth.world import PersonMention, World, name_sort, random_time, vehicle_id

CRIME_COLUMNS = (
    "CRIME_REF",
    "RECORDED_DATE",
    "COMMITTED_FROM",
    "COMMITTED_TO",
    "HO_CODE",
    "OFFENCE",
    "CRIME_TYPE",
    "OUTCOME",
    "OUTCOME_DATE",
    "LOCATION",
    "LOCATION_POSTCODE",
    "LAT",
    "LON",
    "BEAT",
    "INCIDENT_REF",
    "NOMINAL_ROLE",
    "NOMINAL_TYPE",
    "NOMINAL_NAME",
    "NOMINAL_DOB",
    "NOMINAL_AGE",
    "NOMINAL_SEX",
    "NOMINAL_ETHNICITY",
    "NOMINAL_ADDRESS",
    "NOMINAL_POSTCODE",
    "NOMINAL_PHONE",
    "PNC_ID",
    "VRM",
    "VEHICLE_DESC",
    "MO_TEXT",
    "MARKING",
)
CUSTODY_COLUMNS = (
    "Custody Number",
    "Arrest Date",
    "Arrest Time",
    "Surname",
    "Forenames",
    "Date of Birth",
    "Gender",
    "Officer Defined Ethnicity",
    "Self Defined Ethnicity",
    "Home Address",
    "Postcode",
    "Telephone",
    "PNC ID",
    "CRO Number",
    "Offence",
    "Crime Reference",
    "Arresting Officer",
    "Disposal",
    "Warning Markers",
    "Co-Accused",
)
STOP_SEARCH_COLUMNS = (
    # the police.uk stop-and-search CSV, then the force's own columns
    "Type",
    "Date",
    "Part of a policing operation",
    "Policing operation",
    "Latitude",
    "Longitude",
    "Gender",
    "Age range",
    "Self-defined ethnicity",
    "Officer-defined ethnicity",
    "Legislation",
    "Object of search",
    "Outcome",
    "Outcome linked to object of search",
    "Removal of more than just outer clothing",
    "Search Reference",
    "Subject Surname",
    "Subject Forename",
    "Subject DOB",
    "Subject Postcode",
    "Vehicle VRM",
)
DISPOSALS = (
    ("Charged", 0.35),
    ("Released under investigation", 0.2),
    ("No further action", 0.2),
    ("Bailed", 0.12),
    ("Cautioned", 0.08),
    ("Community resolution", 0.05),
)
WARNINGS = ("WEAPONS", "VIOLENT", "DRUGS", "SELF HARM", "MENTAL HEALTH", "ESCAPER", "SUICIDAL")
MO_PHRASES = {
    "Burglary": (
        "entry gained via rear door, house searched, jewellery and cash taken",
        "IP returned home to find front door forced",
        "insecure window used, laptop and car keys stolen",
    ),
    "Vehicle crime": (
        "window smashed and items taken from the footwell",
        "vehicle taken from driveway overnight, keys not present",
        "catalytic converter removed",
    ),
    "Violence and sexual offences": (
        "IP assaulted outside licensed premises, punched to the face",
        "domestic incident, IP pushed and threatened by partner",
        "IP received threatening messages over several days",
    ),
    "Criminal damage and arson": (
        "windows of address smashed by youths",
        "vehicle tyres slashed overnight",
        "graffiti sprayed on shop shutters",
    ),
    "Shoplifting": (
        "male selected meat and alcohol and left without paying",
        "female concealed cosmetics in bag, detained by security",
    ),
    "Robbery": (
        "IP approached by two males who demanded phone, knife shown",
        "IP pushed to ground and bag snatched",
    ),
    "Drugs": (
        "found in possession of wraps of suspected class A during search",
        "strong smell of cannabis, bag of herbal substance recovered",
    ),
    "Possession of weapons": (
        "lock knife found in waistband during stop",
        "machete recovered from vehicle footwell",
    ),
}
STOP_OBJECTS = (
    ("Controlled drugs", 0.58),
    ("Offensive weapons", 0.18),
    ("Stolen goods", 0.1),
    ("Article for use in theft", 0.09),
    ("Anything to threaten or harm anyone", 0.02),
    ("Firearms", 0.01),
    ("Articles for use in criminal damage", 0.02),
)
LEGISLATION = {
    "Controlled drugs": "Misuse of Drugs Act 1971 (section 23)",
    "Firearms": "Firearms Act 1968 (section 47)",
}
LONDON = ZoneInfo("Europe/London")
MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# (arrest time, custody row, [(slot, person, how the row shows them)])
CustodyRow = tuple[dt.datetime, dict[str, str], list[tuple[str, int, PersonMention]]]


@dataclasses.dataclass
class IncidentRequest:
    """A 999/101 call that the crime generator caused (the incident generator dispatches it)."""

    time: dt.datetime
    nb: int
    lat: float
    lon: float
    location: str
    caller: int  # person or -1
    crime_ref: str
    kind: str
    grade: int
    incident_ref: str = ""


class Offending:
    """Generates crime, custody and stop-and-search rows, keeping identifiers consistent."""

    def __init__(self, world: World, root: Path) -> None:
        self.w = world
        cfg = world.cfg
        self.rng = py_rng(cfg.seed, "offending")
        self.crime_noise = Noiser(cfg.noise("crime"), py_rng(cfg.seed, "offending-noise-crime"))
        self.custody_noise = Noiser(
            cfg.noise("custody"), py_rng(cfg.seed, "offending-noise-custody")
        )
        self.ss_noise = Noiser(cfg.noise("stop_search"), py_rng(cfg.seed, "offending-noise-ss"))
        self.crimes = CsvSink(root / "crime" / "crime_records.csv", CRIME_COLUMNS)
        self.custody = CsvSink(root / "custody" / "custody_records.csv", CUSTODY_COLUMNS)
        self.stops = CsvSink(root / "stop_search" / "stop_search.csv", STOP_SEARCH_COLUMNS)
        types = read_table("crime_types")
        self.types = {r["crime_type"]: r for r in types}
        self.type_pick = Weighted(
            [r["crime_type"] for r in types], [float(r["share"]) for r in types]
        )
        codes = {
            r["offence_code"]: r["offence_description"]
            for r in read_table("home_office_offence_codes")
        }
        by_type: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for r in read_table("crime_offences"):
            by_type[r["crime_type"]].append((r["offence_code"], float(r["weight"])))
        self.offence_pick = {
            t: Weighted([c for c, _ in rows], [w for _, w in rows]) for t, rows in by_type.items()
        }
        self.offence_desc = codes
        self.outcomes = {r["code"]: r for r in read_table("outcomes")}
        self.eth = {r["code"]: r for r in read_table("ethnicity")}
        self.crime_serial = 0
        self.pending: list[dict[str, str]] = []
        self.custody_serial: dict[int, int] = defaultdict(int)
        self.stop_serial = 0
        self.pnc: dict[int, str] = {}
        self.cro: dict[int, str] = {}
        self.pnc_serial: dict[int, int] = defaultdict(lambda: 10_000 + self.rng.randrange(50_000))
        self.cro_serial: dict[int, int] = defaultdict(lambda: 1_000 + self.rng.randrange(90_000))
        self.markers: dict[int, list[str]] = {}
        geo = world.geo
        # where crime happens: busier, more deprived places; heavy policing records more
        self.nb_in_force = [nb for nb in range(len(geo.nb_code)) if geo.in_force(nb)]
        self.nb_pick = Weighted(
            self.nb_in_force,
            [
                float(geo.nb_people[nb]) * (0.4 + geo.nb_deprivation[nb]) ** 2
                for nb in self.nb_in_force
            ],
        )
        self.nb_pick_policed = Weighted(
            self.nb_in_force,
            [
                float(geo.nb_people[nb]) * (0.4 + geo.nb_deprivation[nb]) * geo.nb_policing[nb]
                for nb in self.nb_in_force
            ],
        )
        self.prem_by_nb: dict[int, list[int]] = defaultdict(list)
        for p, a in enumerate(geo.prem_addr.tolist()):
            self.prem_by_nb[int(geo.addr_nb[a])].append(p)
        self.home_nb = geo.addr_nb[world.pop.hh_addr[world.pop.hh]]

    # identifiers -------------------------------------------------------------
    def pnc_id(self, i: int, day: int) -> str:
        if i not in self.pnc:
            year = dt.date.fromordinal(day).year
            if self.w.st.prior_record[i]:
                born = dt.date.fromordinal(int(self.w.pop.dob[i])).year
                year = self.rng.randint(min(year, born + 14), year)
            self.pnc_serial[year] += self.rng.randint(1, 40)
            self.pnc[i] = format_pnc_id(year, self.pnc_serial[year])
            if self.w.st.prior_record[i] and self.rng.random() < 0.7:
                self.cro_number(i, year)
        return self.pnc[i]

    def cro_number(self, i: int, year: int) -> str:
        if i not in self.cro:
            self.cro_serial[year] += self.rng.randint(1, 30)
            serial = self.cro_serial[year] % 1_000_000
            self.cro[i] = f"{serial:06d}/{year % 100:02d}{cro_check_letter(year, serial)}"
        return self.cro[i]

    def warning_markers(self, i: int) -> list[str]:
        if i not in self.markers:
            marks = []
            p = float(self.w.st.propensity[i])
            for m in WARNINGS:
                if self.rng.random() < min(0.5, 0.04 + 0.1 * p) * (
                    1.5 if m in ("VIOLENT", "DRUGS") else 0.6
                ):
                    marks.append(m)
            if i in self.w.st.ocg_of and "WEAPONS" not in marks and self.rng.random() < 0.5:
                marks.append("WEAPONS")
            self.markers[i] = marks
        return self.markers[i]

    def _resident_aged(
        self, nb: int, day: int, low: int, high: int, male_share: float = 0.5
    ) -> int:
        """Someone living in `nb` aged `low`-`high` (-1 if ten tries find nobody)."""
        residents = self.w.residents_of.get(nb, [])
        for _ in range(10 if residents else 0):
            i = self.rng.choice(residents)
            male = self.w.pop.sex[i] == 0
            if low <= self.w.age_on(i, day) <= high and (male or self.rng.random() > male_share):
                return i
        return -1

    # locations -----------------------------------------------------------------
    def _random_address(self, nb: int) -> int:
        return self.w.geo.random_address(nb, self.rng)

    def _location(
        self, crime_type: str, victim: int, nb: int, day: int
    ) -> tuple[str, str, float, float, int, str]:
        """(location text, postcode, lat, lon, neighbourhood, business name) of a crime."""
        geo, rng = self.w.geo, self.rng
        business = ""
        if crime_type in ("Burglary", "Criminal damage and arson", "Vehicle crime") and victim >= 0:
            a = self.w.pop.address_on(victim, day)
            text = geo.address_line(a)
        elif crime_type == "Shoplifting" or (
            crime_type in ("Violence and sexual offences", "Public order", "Robbery")
            and rng.random() < 0.35
        ):
            prem = self.prem_by_nb.get(nb) or [0]
            p = rng.choice(prem)
            a = int(geo.prem_addr[p])
            business = geo.prem_name[p]
            street = f"{geo.addr_number[a]} {geo.addr_street[a]}".strip()
            text = f"{business}, {street}, {geo.addr_town[a]}"
        else:
            a = self._random_address(nb)
            text = f"On or near {geo.addr_street[a]}, {geo.addr_town[a]}"
        return (
            text,
            geo.addr_postcode[a],
            float(geo.addr_lat[a]),
            float(geo.addr_lon[a]),
            int(geo.addr_nb[a]),
            business,
        )

    # one month -------------------------------------------------------------------
    def month(self, first_day: int, last_day: int) -> list[IncidentRequest]:
        """Crimes, arrests and stop-searches from `first_day` to `last_day` (inclusive ordinals)."""
        w, rng, cfg = self.w, self.rng, self.w.cfg
        days = last_day - first_day + 1
        month = dt.date.fromordinal(first_day).month
        in_force_people = int(w.st.in_force.sum())
        base = float(cfg.settings["rates"]["crimes"]) * in_force_people / 1000 * days / 365.25
        requests: list[IncidentRequest] = []
        custody_rows: list[
            tuple[dt.datetime, dict[str, str], list[tuple[str, int, PersonMention]]]
        ] = []
        summer = math.cos((month - 7) / 12 * 2 * math.pi)
        crimes = []
        for _ in range(round_random(base, rng)):
            ctype = self.type_pick.pick(rng)
            seasonal = 1 + float(self.types[ctype]["summer_factor"]) * summer
            if rng.random() > seasonal / 1.3:
                continue
            crimes.append((first_day + rng.randrange(days), ctype))
        crimes.sort()
        for day, ctype in crimes:
            self._crime(day, ctype, requests, custody_rows)
        self._stop_searches(first_day, days, custody_rows)
        custody_rows.sort(key=lambda r: r[0])
        together: dict[tuple[str, dt.datetime], list[str]] = defaultdict(list)
        for when, row, _ in custody_rows:
            station = int(row["_station"])
            self.custody_serial[station] += 1
            area = w.geo.settlements[station]["postcode_area"]
            serial = self.custody_serial[station]
            row["Custody Number"] = f"{area}{station + 1}/{serial:05d}/{when.year % 100:02d}"
            if row["Crime Reference"]:
                together[(row["Crime Reference"], when)].append(row["Custody Number"])
        for when, row, people in custody_rows:
            del row["_station"]
            ref = row["Custody Number"]
            others = together.get((row["Crime Reference"], when), [])
            row["Co-Accused"] = ";".join(r for r in others if r != ref)
            self.custody.write(row)
            for slot, i, mention in people:
                w.record_person("custody", ref, slot, i, mention)
        return requests

    def _crime(
        self, day: int, ctype: str, requests: list[IncidentRequest], custody_rows: list[CustodyRow]
    ) -> None:
        w, rng, geo = self.w, self.rng, self.w.geo
        spec = self.types[ctype]
        self.crime_serial += 1
        when = random_time(day, spec["time_profile"], rng)
        ref = f"{w.cfg.settings['force']['code']}/{self.crime_serial:06d}/{when.year % 100:02d}"
        society = spec["victim"] == "society"
        nb = (self.nb_pick_policed if society else self.nb_pick).pick(rng)
        settlement = int(geo.nb_settlement[nb])
        victim = -1
        if spec["victim"] == "person":
            victim = w.st.pick_victim(settlement, rng)
            if ctype in ("Burglary", "Criminal damage and arson", "Vehicle crime"):
                nb = int(self.home_nb[victim])
        suspects: list[int] = []
        if rng.random() < float(spec["suspect_rate"]):
            if society and rng.random() < 0.3:
                # possession offences: whoever is stopped where police patrol most
                s = self._resident_aged(nb, day, 14, 45)
                suspects.append(s if s >= 0 else w.st.pick_offender(settlement, rng))
            else:
                suspects.append(w.st.pick_offender(settlement, rng))
            lead = suspects[0]
            if rng.random() < float(w.cfg.settings["offending"]["co_offending_rate"]):
                ocg = w.st.ocg_of.get(lead)
                for _ in range(rng.choice((1, 1, 2))):
                    if ocg is not None:
                        mate = rng.choice(w.st.ocgs[ocg[0]].members)[0]
                    else:
                        mate = w.st.pick_offender(settlement, rng)
                    if mate not in suspects:
                        suspects.append(mate)
            # county-line runners are caught alongside older nominals
            for lead_s in list(suspects):
                ocg = w.st.ocg_of.get(lead_s)
                if ocg and ctype in ("Drugs", "Possession of weapons") and rng.random() < 0.4:
                    for line in w.st.lines:
                        if line.ocg == ocg[0]:
                            active = [r for r, since in line.runners if since <= day]
                            if active:
                                suspects.append(rng.choice(active))
                            break
        text, postcode, lat, lon, nb, business = self._location(ctype, victim, nb, day)
        code = self.offence_pick[ctype].pick(rng)
        outcome_code = self._outcome(bool(suspects), day)
        outcome = self.outcomes[outcome_code]
        label = outcome["label"]
        if (
            outcome["variants"]
            and (day - w.cfg.start.toordinal()) < w.cfg.days / 2
            and rng.random() < 0.6
        ):
            label = outcome["variants"].split("|")[0]
        marking = (
            "OFFICIAL-SENSITIVE"
            if code in ("19C", "20A", "1/4.1/4.10/4.2") or rng.random() < 0.05
            else "OFFICIAL"
        )
        mo = rng.choice(MO_PHRASES.get(ctype, ("details as per report",)))
        recorded = when + dt.timedelta(minutes=rng.randint(45, 30 * 60))
        decided = recorded.date() + dt.timedelta(days=rng.randint(1, 120))
        open_case = outcome_code in ("under-investigation", "awaiting-court-outcome")
        common = {
            "CRIME_REF": ref,
            "RECORDED_DATE": _dmy_hm(recorded),
            "COMMITTED_FROM": _dmy_hm(
                when - dt.timedelta(minutes=rng.choice((0, 0, 30, 120, 600)))
            ),
            "COMMITTED_TO": _dmy_hm(when),
            "HO_CODE": code,
            "OFFENCE": self.offence_desc[code],
            "CRIME_TYPE": ctype if rng.random() > 0.02 else ctype.upper(),
            "OUTCOME": label,
            "OUTCOME_DATE": "" if open_case or decided >= w.cfg.end else _dmy(decided),
            "LOCATION": text,
            "LOCATION_POSTCODE": postcode,
            "LAT": f"{lat:.6f}",
            "LON": f"{lon:.6f}",
            "BEAT": geo.nb_beat[nb],
            "MARKING": marking,
        }
        incident_ref = ""
        if rng.random() < 0.6:
            caller = victim if victim >= 0 else -1
            grade = (
                1
                if ctype in ("Robbery", "Violence and sexual offences") and rng.random() < 0.4
                else rng.choice((2, 2, 3, 3))
            )
            req = IncidentRequest(
                when + dt.timedelta(minutes=rng.randint(1, 40)),
                nb,
                lat,
                lon,
                text,
                caller,
                ref,
                ctype,
                grade,
            )
            incident_ref = f"pending:{len(requests)}"
            requests.append(req)
        common["INCIDENT_REF"] = incident_ref
        rows: list[tuple[str, int | str]] = []
        if victim >= 0:
            rows.append(("VICTIM", victim))
        elif business:
            rows.append(("VICTIM", business))
        rows.extend(("SUSPECT", s) for s in suspects)
        if rng.random() < 0.18:
            witness = self._resident_aged(nb, day, 10, 90)
            if witness >= 0:
                rows.append(("WITNESS", witness))
        if not rows:
            rows.append(("", ""))
        arrested = [s for s in suspects if rng.random() < float(spec["arrest_rate"])]
        row_no = 0
        for role, who in rows:
            row_no += 1
            row = dict(common)
            record_id = f"{ref}#{row_no}"
            row["NOMINAL_ROLE"] = role
            if isinstance(who, str):
                row["NOMINAL_TYPE"] = "ORGANISATION" if who else ""
                row["NOMINAL_NAME"] = who.upper()
                row["MO_TEXT"] = mo
                self.pending.append(row)
                continue
            m = self._fill_nominal(row, who, day, role == "SUSPECT")
            row["MO_TEXT"] = mo
            if ctype == "Vehicle crime" and role == "VICTIM" and self.w.pop.vehicles_of.get(who):
                v = rng.choice(self.w.pop.vehicles_of[who])
                row["VRM"] = self.crime_noise.vrm(w.pop.veh_vrm[v])
                row["VEHICLE_DESC"] = (
                    f"{w.pop.veh_colour[v]} {w.pop.veh_make[v]} {w.pop.veh_model[v]}"
                )
                w.truth.mention("crime", record_id, "vehicle", "vehicle", vehicle_id(v))
            self.pending.append(row)
            w.record_person("crime", record_id, "nominal", who, m)
            if rng.random() < self.crime_noise.p.duplicate:
                # the same nominal keyed in twice, as a second row
                row_no += 1
                dup = dict(common)
                dup["NOMINAL_ROLE"] = role
                m = self._fill_nominal(dup, who, day, role == "SUSPECT")
                m.noise.insert(0, "duplicate")
                dup["MO_TEXT"] = mo
                self.pending.append(dup)
                w.record_person("crime", f"{ref}#{row_no}", "nominal", who, m)
        if arrested:
            when_arrest = when + dt.timedelta(hours=rng.randint(1, 24 * 14))
            station = int(geo.nb_settlement[nb])
            for s in arrested:
                custody_rows.append(
                    self._custody_row(s, when_arrest, station, self.offence_desc[code], ref)
                )

    def _fill_nominal(self, row: dict[str, str], i: int, day: int, suspect: bool) -> PersonMention:
        w = self.w
        m = w.person(i, day, self.crime_noise)
        fore = self.crime_noise.case(m.forename)
        row["NOMINAL_TYPE"] = "PERSON"
        row["NOMINAL_NAME"] = name_sort(fore, m.surname)
        row["NOMINAL_DOB"] = _dmy(m.dob) if m.dob else ""
        row["NOMINAL_AGE"] = str(w.age_on(i, day)) if self.rng.random() < 0.8 else ""
        row["NOMINAL_SEX"] = m.sex if self.rng.random() > 0.02 else "U"
        row["NOMINAL_ETHNICITY"] = w.pop.eth_code[i] if self.rng.random() > 0.15 else "NS"
        row["NOMINAL_ADDRESS"] = m.address.upper() if self.rng.random() < 0.5 else m.address
        row["NOMINAL_POSTCODE"] = (
            m.postcode if self.rng.random() > 0.05 else m.postcode.replace(" ", "")
        )
        row["NOMINAL_PHONE"] = m.phone
        row["PNC_ID"] = (
            self.pnc_id(i, day)
            if suspect and (w.st.prior_record[i] or i in self.pnc) and self.rng.random() < 0.8
            else ""
        )
        return m

    def _custody_row(
        self, i: int, when: dt.datetime, station: int, offence: str, crime_ref: str
    ) -> tuple[dt.datetime, dict[str, str], list[tuple[str, int, PersonMention]]]:
        w, rng = self.w, self.rng
        day = when.date().toordinal()
        m = w.person(i, day, self.custody_noise)
        pnc = self.pnc_id(i, day)
        if rng.random() < 0.1:
            pnc = pnc[2:].replace("/", "/", 1)  # short form YY/NNNNNNNC as typed
        eth = self.eth.get(w.pop.eth_code[i], {})
        row = {
            "_station": str(station),
            "Arrest Date": when.strftime("%Y-%m-%d"),
            "Arrest Time": when.strftime("%H:%M"),
            "Surname": m.surname.upper(),
            "Forenames": m.forename,
            "Date of Birth": f"{m.dob.day:02d}-{MONTH_ABBR[m.dob.month - 1]}-{m.dob.year}"
            if m.dob
            else "",
            "Gender": "Male" if m.sex == "M" else "Female",
            "Officer Defined Ethnicity": eth.get("ic_code", "IC9")
            if rng.random() > 0.05
            else "IC9",
            "Self Defined Ethnicity": w.pop.eth_code[i] if rng.random() > 0.1 else "NS",
            "Home Address": m.address,
            "Postcode": m.postcode,
            "Telephone": m.phone,
            "PNC ID": pnc,
            "CRO Number": self.cro.get(i, ""),
            "Offence": offence,
            "Crime Reference": crime_ref,
            "Arresting Officer": rng.choice(w.officers.collar),
            "Disposal": pick(DISPOSALS, rng),
            "Warning Markers": ";".join(self.warning_markers(i)),
            "Co-Accused": "",
        }
        return when, row, [("detained", i, m)]

    def _outcome(self, suspect: bool, day: int) -> str:
        rng = self.rng
        recent = (self.w.cfg.end.toordinal() - day) < 60
        if recent and rng.random() < 0.5:
            return "under-investigation"
        if not suspect:
            return (
                "investigation-complete-no-suspect"
                if rng.random() < 0.85
                else "status-update-unavailable"
            )
        r = rng.random()
        if r < 0.45:
            return "unable-to-prosecute"
        if r < 0.55:
            return "local-resolution"
        return rng.choice(
            (
                "offender-cautioned",
                "offender-imprisoned",
                "community-sentence",
                "suspended-sentence",
                "offender-fined",
                "conditional-discharge",
                "court-result-unavailable",
                "not-in-public-interest",
                "penalty-notice-issued",
                "defendant-found-not-guilty",
                "awaiting-court-outcome",
            )
        )

    def _stop_searches(self, first_day: int, days: int, custody_rows: list[CustodyRow]) -> None:
        w, rng, geo = self.w, self.rng, self.w.geo
        in_force_people = int(w.st.in_force.sum())
        count = round_random(
            float(w.cfg.settings["rates"]["stop_search"]) * in_force_people / 1000 * days / 365.25,
            rng,
        )
        line_runners = [(line, r, since) for line in w.st.lines for r, since in line.runners]
        for _ in range(count):
            day = first_day + rng.randrange(days)
            operation = None
            # runners get stopped in the market towns, often by an operation against the line
            if line_runners and rng.random() < 0.04:
                line, subject, since = rng.choice(line_runners)
                if since > day:
                    continue
                market_nbs = [
                    nb
                    for nb in range(len(geo.nb_code))
                    if int(geo.nb_settlement[nb]) == line.market_settlement
                ]
                nb = rng.choice(market_nbs)
                carrying = 0.6
                if rng.random() < 0.5:
                    operation = w.st.ocgs[line.ocg].operation
            else:
                nb = self.nb_pick_policed.pick(rng)
                subject = self._resident_aged(nb, day, 12, 40, male_share=0.85)
                if subject < 0:
                    continue
                carrying = min(0.6, 0.08 + 0.25 * float(w.st.propensity[subject]))
            when = random_time(day, "evening", rng)
            self.stop_serial += 1
            ref = f"SS{when.year % 100:02d}{self.stop_serial:07d}"
            obj = pick(STOP_OBJECTS, rng)
            found = rng.random() < carrying
            outcome = "A no further action disposal"
            linked = found
            if found:
                outcome = rng.choice(
                    (
                        "Arrest",
                        "Arrest",
                        "Community resolution",
                        "Khat or Cannabis warning",
                        "Summons / charged by post",
                        "Penalty Notice for Disorder",
                    )
                )
            elif rng.random() < 0.03:
                outcome = "Arrest"  # for something else: a warrant, an assault on the officer
            age = w.age_on(subject, day)
            m = w.person(subject, day, self.ss_noise)
            eth = self.eth.get(w.pop.eth_code[subject], {})
            a = self._random_address(nb)
            vehicle = ""
            stype = "Person search"
            cars = self.w.pop.vehicles_of.get(subject)
            if cars and rng.random() < 0.3:
                v = rng.choice(cars)
                vehicle = self.ss_noise.vrm(w.pop.veh_vrm[v])
                stype = "Person and Vehicle search"
                w.truth.mention("stop_search", ref, "vehicle", "vehicle", vehicle_id(v))
            self.stops.write(
                {
                    "Type": stype,
                    "Date": when.replace(tzinfo=LONDON).isoformat(),
                    "Part of a policing operation": str(operation is not None),
                    "Policing operation": operation or "",
                    "Latitude": f"{geo.addr_lat[a]:.6f}",
                    "Longitude": f"{geo.addr_lon[a]:.6f}",
                    "Gender": "Male" if m.sex == "M" else "Female",
                    "Age range": _age_range(age),
                    "Self-defined ethnicity": eth.get("police_uk_label", "")
                    if rng.random() > 0.08
                    else "Other ethnic group - Not stated",
                    "Officer-defined ethnicity": eth.get("officer_defined", ""),
                    "Legislation": LEGISLATION.get(
                        obj, "Police and Criminal Evidence Act 1984 (section 1)"
                    ),
                    "Object of search": obj,
                    "Outcome": outcome,
                    "Outcome linked to object of search": str(linked)
                    if outcome != "A no further action disposal"
                    else "",
                    "Removal of more than just outer clothing": "False",
                    "Search Reference": ref,
                    "Subject Surname": self.ss_noise.case(m.surname),
                    "Subject Forename": m.forename,
                    "Subject DOB": m.dob.isoformat() if m.dob else "",
                    "Subject Postcode": m.postcode,
                    "Vehicle VRM": vehicle,
                }
            )
            w.truth.mention(
                "stop_search", ref, "subject", "person", w.pop.person_id(subject), m.noise
            )
            if outcome == "Arrest":
                offence = (
                    "Possession of controlled drugs"
                    if obj == "Controlled drugs"
                    else "Possession of offensive weapon"
                )
                custody_rows.append(
                    self._custody_row(
                        subject,
                        when + dt.timedelta(minutes=20),
                        int(geo.nb_settlement[nb]),
                        offence,
                        "",
                    )
                )

    def flush(self, requests: list[IncidentRequest]) -> None:
        """Write the month's crime rows once their incidents have numbers."""
        for row in self.pending:
            ref = row.get("INCIDENT_REF", "")
            if ref.startswith("pending:"):
                row["INCIDENT_REF"] = requests[int(ref.split(":")[1])].incident_ref
            self.crimes.write(row)
        self.pending = []

    def close(self) -> None:
        for sink in (self.crimes, self.custody, self.stops):
            sink.close()


def _dmy(day: dt.date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def _dmy_hm(when: dt.datetime) -> str:
    return f"{when.day:02d}/{when.month:02d}/{when.year} {when.hour:02d}:{when.minute:02d}"


def _age_range(age: int) -> str:
    if age < 10:
        return "under 10"
    if age < 18:
        return "10-17"
    if age < 25:
        return "18-24"
    if age < 35:
        return "25-34"
    return "over 34"
