"""Missing-person episodes and partner safeguarding referrals.

Exploited children go missing again and again after they are drawn in and
are found far from home, in a county-line market; schools and social care
refer concerns around the same time. Many other children show some of the
same signs without being exploited (the false leads every screen must face).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from peelian.standardise.identifiers import upn_check_letter
from peelian.synth.noise import Noiser
from peelian.synth.output import CsvSink
from peelian.synth.population import ascii_fold
from peelian.synth.rand import py_rng, round_random
from peelian.synth.world import World

MISSING_COLUMNS = (
    "Case Ref",
    "Name",
    "DOB",
    "Age",
    "Sex",
    "Home Address",
    "Home Postcode",
    "Reported Missing",
    "Found Date",
    "Found Location",
    "Found Postcode",
    "Risk Level",
    "Return Interview",
    "Looked After Child",
    "Notes",
)
REFERRAL_COLUMNS = (
    "ReferralID",
    "PartnerAgency",
    "PartnerPersonRef",
    "FirstName",
    "LastName",
    "DateOfBirth",
    "Gender",
    "Address",
    "Postcode",
    "ReferralDate",
    "Concern",
    "ConcernDetail",
    "SharingRestriction",
    "Marking",
)
EXPLOITATION_CONCERNS = (
    "Child criminal exploitation concern",
    "Going missing from home",
    "Unexplained money or new phone",
    "New older associates",
    "Persistent absence from school",
    "School exclusion",
    "Substance misuse",
)
CSE_CONCERNS = (
    "Child sexual exploitation concern",
    "Going missing from home",
    "Older boyfriend",
    "Gifts from unknown adults",
    "Self-harm",
)
BACKGROUND_CONCERNS = (
    "Persistent absence from school",
    "School exclusion",
    "Domestic abuse in household",
    "Neglect",
    "Parental substance misuse",
    "Mental health",
    "Self-harm",
    "Going missing from home",
)
ADULT_CONCERNS = (
    "Self-neglect",
    "Financial abuse concern",
    "Unknown visitors at address",
    "Mental health crisis",
    "Substance misuse",
)
AGENCIES = {
    "school": ("Education - School", "EDUCATION: SAFEGUARDING LEADS AND POLICE SAFEGUARDING ONLY"),
    "csc": ("Children's Social Care", "MASH PARTNERS ONLY"),
    "health": ("Health - NHS Trust", "HEALTH DATA: POLICE SAFEGUARDING ONLY"),
    "asc": ("Adult Social Care", "MASH PARTNERS ONLY"),
}


class Safeguarding:
    def __init__(self, world: World, root: Path) -> None:
        self.w = world
        self.rng = py_rng(world.cfg.seed, "safeguarding")
        self.missing_noise = Noiser(
            world.cfg.noise("missing"), py_rng(world.cfg.seed, "missing-noise")
        )
        self.ref_noise = Noiser(
            world.cfg.noise("referrals"), py_rng(world.cfg.seed, "referral-noise")
        )
        self.missing = CsvSink(root / "missing" / "missing_episodes.csv", MISSING_COLUMNS)
        # the partner system is an old Windows product: semicolons and cp1252
        self.referrals = CsvSink(
            root / "partners" / "safeguarding_referrals.csv",
            REFERRAL_COLUMNS,
            delimiter=";",
            encoding="cp1252",
        )
        self.case = 0
        self.ref = 0
        self.upn: dict[int, str] = {}
        self.csc: dict[int, str] = {}

    def generate(self) -> None:
        w, rng = self.w, self.rng
        cfg = w.cfg
        start, end = cfg.start.toordinal(), cfg.end.toordinal()
        pop, st = w.pop, w.st
        age = (start - pop.dob) / 365.25
        events: list[tuple[int, str, int, dict[str, object]]] = []
        # exploited children: repeated missing episodes after they are drawn in
        for ex in st.exploitation:
            if ex.kind not in ("cce_runner", "cse"):
                continue
            market = None
            if ex.kind == "cce_runner":
                line = next(line for line in st.lines if line.line_id == ex.link)
                market = line.market_settlement
            t = max(start, ex.since - rng.randint(0, 30))
            while t < end:
                events.append((t, "missing", ex.person, {"market": market}))
                t += rng.randint(10, 50)
            for _ in range(rng.randint(1, 4)):
                day = ex.since + rng.randint(-120, 200)
                if start <= day < end:
                    concerns = EXPLOITATION_CONCERNS if ex.kind == "cce_runner" else CSE_CONCERNS
                    events.append(
                        (
                            day,
                            "referral",
                            ex.person,
                            {
                                "concern": rng.choice(concerns[:4]),
                                "agency": rng.choice(("school", "csc", "csc", "health")),
                            },
                        )
                    )
        # false leads: the same surface signs, no exploitation
        for child in st.false_leads:
            t = start + rng.randrange(end - start)
            for _ in range(rng.randint(1, 5)):
                if t >= end:
                    break
                events.append((t, "missing", child, {"market": None}))
                t += rng.randint(15, 120)
            for _ in range(rng.randint(0, 3)):
                events.append(
                    (
                        start + rng.randrange(end - start),
                        "referral",
                        child,
                        {
                            "concern": rng.choice(BACKGROUND_CONCERNS + EXPLOITATION_CONCERNS[3:]),
                            "agency": rng.choice(("school", "csc", "health")),
                        },
                    )
                )
        # everyone else: background rates
        in_force = np.flatnonzero(st.in_force)
        children = in_force[(age[in_force] >= 8) & (age[in_force] < 18)]
        adults = in_force[age[in_force] >= 18]
        n_child_missing = round_random(
            cfg.expected("missing_episodes_child", len(in_force)) * 0.6, rng
        )
        n_adult_missing = round_random(cfg.expected("missing_episodes_adult", len(in_force)), rng)
        chronic = rng.sample(children.tolist(), min(len(children), max(1, n_child_missing // 6)))
        for _ in range(n_child_missing):
            child = (
                rng.choice(chronic) if rng.random() < 0.5 else int(rng.choice(children.tolist()))
            )
            events.append((start + rng.randrange(end - start), "missing", child, {"market": None}))
        for _ in range(n_adult_missing):
            events.append(
                (
                    start + rng.randrange(end - start),
                    "missing",
                    int(adults[rng.randrange(len(adults))]),
                    {"market": None},
                )
            )
        n_ref = round_random(cfg.expected("referrals", len(in_force)), rng)
        vulnerable = np.flatnonzero(pop.vulnerable & st.in_force).tolist()
        for _ in range(n_ref):
            day = start + rng.randrange(end - start)
            if rng.random() < 0.8 or not vulnerable:
                child = int(children[rng.randrange(len(children))])
                events.append(
                    (
                        day,
                        "referral",
                        child,
                        {
                            "concern": rng.choice(BACKGROUND_CONCERNS),
                            "agency": rng.choice(("school", "school", "csc", "health")),
                        },
                    )
                )
            else:
                events.append(
                    (
                        day,
                        "referral",
                        rng.choice(vulnerable),
                        {"concern": rng.choice(ADULT_CONCERNS), "agency": "asc"},
                    )
                )
        # cuckooed adults: social care hears about unknown visitors
        for ex in st.exploitation:
            if ex.kind == "cuckooed" and rng.random() < 0.6:
                day = ex.since + rng.randint(10, 120)
                if day < end:
                    events.append(
                        (
                            day,
                            "referral",
                            ex.person,
                            {"concern": "Unknown visitors at address", "agency": "asc"},
                        )
                    )
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        for day, kind, person, extra in events:
            if kind == "missing":
                self._missing(day, person, extra.get("market"))  # type: ignore[arg-type]
            else:
                self._referral(day, person, str(extra["concern"]), str(extra["agency"]))

    def _missing(self, day: int, person: int, market: int | None) -> None:
        w, rng, geo = self.w, self.rng, self.w.geo
        self.case += 1
        when = dt.datetime.fromordinal(day).replace(
            hour=rng.choice((16, 18, 20, 22, 23, 1)), minute=rng.randrange(60)
        )
        ref = f"MIS-{when.year}-{self.case:06d}"
        m = w.person(person, day, self.missing_noise, phone=False)
        age = w.age_on(person, day)
        found = when + dt.timedelta(hours=rng.randint(3, 96))
        if market is not None:
            nbs = np.flatnonzero(geo.nb_settlement == market)
            nb = int(nbs[rng.randrange(len(nbs))])
        else:
            nb = int(geo.addr_nb[w.pop.address_on(person, day)])
        a = geo.random_address(nb, rng)
        found_text = (
            f"{geo.addr_street[a]}, {geo.addr_town[a]}" if rng.random() < 0.85 else geo.addr_town[a]
        )
        risk = (
            "High"
            if market is not None and rng.random() < 0.5
            else rng.choice(("Medium", "Medium", "Low", "No apparent risk"))
        )
        row = {
            "Age": str(age),
            "Reported Missing": when.strftime("%d/%m/%Y %H:%M"),
            "Found Date": found.strftime("%d/%m/%Y %H:%M")
            if found.date().toordinal() < w.cfg.end.toordinal()
            else "",
            "Found Location": found_text,
            "Found Postcode": geo.addr_postcode[a] if rng.random() < 0.6 else "",
            "Risk Level": risk,
            "Return Interview": rng.choice(("Y", "N", "Declined")) if age < 18 else "",
            "Looked After Child": "Y"
            if age < 18 and rng.random() < 0.15
            else ("N" if age < 18 else ""),
            "Notes": "Found in company of older males"
            if market is not None and rng.random() < 0.4
            else "",
        }
        # the same episode is sometimes reported twice, by two people, as two cases
        for copy in range(2 if self.missing_noise.hit("duplicate") else 1):
            if copy:
                self.case += 1
                ref = f"MIS-{when.year}-{self.case:06d}"
                m = w.person(person, day, self.missing_noise, phone=False)
                m.noise.insert(0, "duplicate")
            row.update(
                {
                    "Case Ref": ref,
                    "Name": f"{m.forename} {m.surname.upper()}",
                    "DOB": m.dob.strftime("%d.%m.%Y") if m.dob else "",
                    "Sex": "Male" if m.sex == "M" else "Female",
                    "Home Address": m.address,
                    "Home Postcode": m.postcode,
                }
            )
            self.missing.write(row)
            w.record_person("missing", ref, "missing_person", person, m)

    def _referral(self, day: int, person: int, concern: str, agency: str) -> None:
        w, rng = self.w, self.rng
        self.ref += 1
        ref = f"R{self.ref:07d}"
        m = w.person(person, day, self.ref_noise, fold=True, phone=False)
        name, restriction = AGENCIES[agency]
        if agency == "school":
            pid = self.upn.setdefault(person, _upn(rng))
        elif agency == "health":
            pid = w.pop.nhs[person]
            pid = f"{pid[:3]} {pid[3:6]} {pid[6:]}"
        else:
            pid = self.csc.setdefault(
                person, f"{'CSC' if agency == 'csc' else 'ASC'}-{rng.randrange(10**6):06d}"
            )
        row = {
            "PartnerAgency": name,
            "PartnerPersonRef": pid,
            "ReferralDate": dt.date.fromordinal(day).isoformat(),
            "Concern": concern,
            "ConcernDetail": ascii_fold(_detail(concern, rng)),
            "SharingRestriction": restriction,
            "Marking": "OFFICIAL-SENSITIVE",
        }
        # a concern raised at two meetings is sometimes keyed in twice
        for copy in range(2 if self.ref_noise.hit("duplicate") else 1):
            if copy:
                self.ref += 1
                ref = f"R{self.ref:07d}"
                m = w.person(person, day, self.ref_noise, fold=True, phone=False)
                m.noise.insert(0, "duplicate")
            dob = m.dob
            row.update(
                {
                    "ReferralID": ref,
                    "FirstName": m.forename,
                    "LastName": m.surname,
                    # the partner system was built abroad: month first
                    "DateOfBirth": f"{dob.month:02d}/{dob.day:02d}/{dob.year}" if dob else "",
                    "Gender": {"M": "Male", "F": "Female"}[m.sex],
                    "Address": m.address,
                    "Postcode": m.postcode,
                }
            )
            self.referrals.write(row)
            w.record_person("referrals", ref, "subject", person, m)

    def close(self) -> None:
        self.missing.close()
        self.referrals.close()


def _upn(rng) -> str:  # type: ignore[no-untyped-def]
    """A Unique Pupil Number: check letter + LA number + establishment + serial."""
    digits = f"{rng.choice((380, 381, 382, 383, 384))}{rng.randrange(10**9):09d}"
    return f"{upn_check_letter(digits)}{digits}"


def _detail(concern: str, rng) -> str:  # type: ignore[no-untyped-def]
    extras = (
        "Staff report the young person has been seen with older males in a car after school.",
        "Parent reports new clothes and a second phone they cannot explain.",
        "Attendance has dropped below 60% this term.",
        "Mother is worried; says they stay out overnight and won't say where.",
        "Concern raised at MASH meeting; for information.",
        "No immediate risk identified; family engaging with early help.",
    )
    return f"{concern}. {rng.choice(extras)}"
