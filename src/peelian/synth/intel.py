"""Intelligence reports: graded free text, with every entity span annotated in the truth.

Reports are written the way officers write them (upper case, shorthand,
street names, partial plates) about real structures: OCG members dealing,
county lines and their runners, cuckooed addresses, exploitation, weapons.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from peelian.reference import read_table
from peelian.synth.noise import Noiser, keyboard_typo, phone_format, vrm_misread
from peelian.synth.output import JsonlSink
from peelian.synth.rand import py_rng, round_random
from peelian.synth.world import World, phone_id, vehicle_id

SHORTHAND = (
    ("with", "w/"),
    ("address", "addr"),
    ("vehicle", "veh"),
    ("believed to be", "BTB"),
    ("approximately", "approx"),
    ("years old", "yo"),
    ("known as", "aka"),
    ("at ", "@ "),
    ("person of interest", "POI"),
)


class _Text:
    """Builds report text while recording where each entity sits in it."""

    def __init__(self, upper: bool, shorthand: bool, rng: random.Random) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[dict[str, Any]] = []
        self.relations: list[dict[str, Any]] = []
        self.upper = upper
        self.shorthand = shorthand
        self.rng = rng

    def say(self, text: str) -> _Text:
        if self.shorthand:
            for long, short in SHORTHAND:
                text = text.replace(long, short)
        return self._add(text)

    def _add(self, text: str) -> _Text:
        if self.upper:
            text = text.upper()
        self.parts.append(text)
        self.length += len(text)
        return self

    def entity(self, text: str, label: str, entity_id: str = "") -> int:
        start = self.length
        self._add(text)
        self.spans.append(
            {
                "start": start,
                "end": self.length,
                "label": label,
                "text": self.parts[-1],
                "entity_id": entity_id,
            }
        )
        return len(self.spans) - 1

    def relate(self, subject: int, relation: str, obj: int) -> None:
        self.relations.append({"subject": subject, "relation": relation, "object": obj})

    @property
    def text(self) -> str:
        return "".join(self.parts)


class Intelligence:
    def __init__(self, world: World, root: Path) -> None:
        self.w = world
        self.rng = py_rng(world.cfg.seed, "intel")
        self.noise = Noiser(world.cfg.noise("intelligence"), py_rng(world.cfg.seed, "intel-noise"))
        self.sink = JsonlSink(root / "intelligence" / "intel_reports.jsonl")
        self.serial = 0
        self.drugs = [(r["term"], r["drug"]) for r in read_table("drug_terms")]
        self.weapons = [(r["term"], r["weapon"]) for r in read_table("weapon_terms")]
        self.operations = {k: ocg.operation for k, ocg in enumerate(world.st.ocgs)}
        self.spans: list[dict[str, Any]] = []
        self.vehicles_of = world.pop.vehicles_of

    def generate(self, spans_sink: JsonlSink) -> None:
        w, rng, cfg = self.w, self.rng, self.w.cfg
        start, end = cfg.start.toordinal(), cfg.end.toordinal()
        total = round_random(cfg.expected("intel_reports", int(w.st.in_force.sum())), rng)
        jobs: list[tuple[int, str, Any]] = []
        kinds: list[tuple[str, Any]] = []
        for g, ocg in enumerate(w.st.ocgs):
            kinds.extend(("dealing", (g, i)) for i, _ in ocg.members)
        for k, line in enumerate(w.st.lines):
            kinds.extend([("line", k)] * 6)
            kinds.extend(("cuckoo", (k, c)) for c in range(len(line.cuckooed)) for _ in range(3))
        for ex in w.st.exploitation:
            if ex.kind == "cse":
                kinds.extend([("cse", ex)] * 2)
        for site in w.st.labour_sites:
            kinds.extend([("labour", site)] * 3)
        targeted = min(len(kinds) * 3, total // 2)
        for _ in range(targeted):
            kind, arg = rng.choice(kinds)
            # a report of sexual exploitation comes after it begins (runners are named
            # only once drawn in, in the line reports)
            first = min(max(start, arg.since), end - 1) if kind == "cse" else start
            jobs.append((first + rng.randrange(end - first), kind, arg))
        for _ in range(max(0, total - targeted)):
            jobs.append(
                (
                    start + rng.randrange(end - start),
                    rng.choice(("weapon", "associates", "associates", "relationship")),
                    None,
                )
            )
        jobs.sort(key=lambda j: (j[0], j[1]))
        for day, kind, arg in jobs:
            self._report(day, kind, arg, spans_sink)

    def _name(self, t: _Text, i: int, day: int, label: str = "PERSON") -> int:
        pop = self.w.pop
        self.noise.reset()
        fore, sur = self.noise.name(pop.forename[i], pop.surname_on(i, day))
        if self.rng.random() < 0.2:
            text = f"{sur}, {fore}"
        elif self.rng.random() < 0.1:
            text = f"{fore[0]} {sur}"
        else:
            text = f"{fore} {sur}"
        span = t.entity(text, label, pop.person_id(i))
        t.spans[span]["noise"] = ";".join(self.noise.applied)
        if pop.street_name[i] and self.rng.random() < 0.6:
            t.say(" aka ")
            t.entity(
                f"'{pop.street_name[i]}'" if self.rng.random() < 0.5 else pop.street_name[i],
                "STREET_NAME",
                pop.person_id(i),
            )
        if self.rng.random() < 0.3 and self.noise.p.dob_missing < 1:
            t.say(" (")
            if self.rng.random() < 0.5:
                t.entity(
                    dt.date.fromordinal(int(pop.dob[i])).strftime("%d/%m/%Y"),
                    "DOB",
                    pop.person_id(i),
                )
            else:
                t.entity(str(pop.age_on(i, day)), "AGE", pop.person_id(i))
                t.say(" years old")
            t.say(")")
        return span

    def _vehicle(self, t: _Text, v: int) -> int:
        pop, rng = self.w.pop, self.rng
        t.say("a ")
        t.entity(
            f"{pop.veh_colour[v].lower()} {pop.veh_make[v].title()} {pop.veh_model[v].title()}",
            "VEHICLE",
            vehicle_id(v),
        )
        vrm = pop.veh_vrm[v]
        r = rng.random()
        if r < 0.2:
            t.say(", plate ending ")
            return t.entity(vrm[-3:], "VRM_PARTIAL", vehicle_id(v))
        if r < 0.3:
            t.say(" reg ")
            return t.entity(f"{vrm[:4]} ???", "VRM_PARTIAL", vehicle_id(v))
        t.say(" ")
        shown = vrm_misread(vrm, rng) if rng.random() < self.noise.p.vrm_misread else vrm
        if len(shown) == 7 and rng.random() < 0.5:
            shown = f"{shown[:4]} {shown[4:]}"
        return t.entity(shown, "VRM", vehicle_id(v))

    def _phone(self, t: _Text, index: int) -> int:
        number = self.w.pop.phone_number[index]
        shown = phone_format(number, self.rng) if self.rng.random() < 0.6 else number
        return t.entity(shown, "PHONE", phone_id(index))

    def _address(self, t: _Text, a: int) -> int:
        geo = self.w.geo
        line = geo.address_line(a)
        if self.rng.random() < 0.3:
            line = keyboard_typo(line, self.rng)
        span = t.entity(line, "ADDRESS", geo.address_id(a))
        if self.rng.random() < 0.5:
            t.say(" ")
            t.entity(geo.addr_postcode[a], "POSTCODE", geo.address_id(a))
        return span

    def _report(self, day: int, kind: str, arg: Any, spans_sink: JsonlSink) -> None:
        w, rng = self.w, self.rng
        settings = w.cfg.settings["intelligence"]
        t = _Text(
            rng.random() < float(settings["upper_case_share"]),
            rng.random() < float(settings["shorthand_share"]),
            rng,
        )
        subjects: list[int] = []
        operation = None
        marking = "OFFICIAL-SENSITIVE" if rng.random() < 0.6 else "OFFICIAL"
        if kind == "dealing":
            g, i = arg
            ocg = w.st.ocgs[g]
            operation = self.operations[g] if rng.random() < 0.7 else None
            s = self._name(t, i, day)
            subjects.append(i)
            drug, canonical = rng.choice(self.drugs)
            t.say(" is believed to be dealing ")
            t.entity(drug, "DRUG", canonical)
            a = w.pop.address_on(i, day)
            t.say(" from ")
            self._address(t, a)
            if rng.random() < 0.6 and w.pop.mobile[i]:
                t.say(". Uses ")
                self._phone(t, w.pop.phone_index[w.pop.mobile[i]])
            cars = self.vehicles_of.get(i) or list(ocg.vehicles)
            if cars and rng.random() < 0.6:
                t.say(" and drives ")
                self._vehicle(t, rng.choice(cars))
            leader = ocg.members[0][0]
            if leader != i and rng.random() < 0.5:
                t.say(". Works for ")
                b = self._name(t, leader, day)
                t.relate(s, "works_for", b)
                subjects.append(leader)
            t.say(".")
        elif kind == "line":
            line = w.st.lines[arg]
            operation = self.operations[line.ocg]
            phones = [p for p in line.deal_phones if p.start <= day < p.end] or line.deal_phones[
                -1:
            ]
            t.say("The ")
            brand = t.entity(f"{line.brand}", "LINE_NAME", line.line_id)
            t.say(" line is active again in ")
            t.entity(w.geo.settlements[line.market_settlement]["name"], "PLACE", "")
            t.say(". Deal line ")
            ph = self._phone(t, phones[0].phone)
            t.relate(ph, "deal_line_of", brand)
            t.say(". Run by ")
            c = self._name(t, line.controller, day)
            t.relate(c, "runs_line", brand)
            subjects.append(line.controller)
            active = [r for r, since in line.runners if since <= day]
            if active:
                runner = rng.choice(active)
                t.say(". Youths sent out to deal include ")
                r = self._name(t, runner, day)
                t.relate(r, "runner_for", brand)
                subjects.append(runner)
            drug, canonical = rng.choice(
                [d for d in self.drugs if d[1] in ("heroin", "crack cocaine", "drugs_generic")]
                or self.drugs
            )
            t.say(". Selling ")
            t.entity(drug, "DRUG", canonical)
            t.say(" and travelling by train.")
        elif kind == "cuckoo":
            _, c = arg
            line = w.st.lines[arg[0]]
            victim, addr, since = line.cuckooed[c]
            operation = self.operations[line.ocg] if rng.random() < 0.5 else None
            t.say("Increased footfall at ")
            self._address(t, addr)
            t.say(", home of ")
            v = self._name(t, victim, day)
            subjects.append(victim)
            t.say(
                ", a vulnerable adult. Young males not from the area seen coming and going "
                "at all hours"
            )
            active = [r for r, s in line.runners if s <= day]
            if active and day >= since:
                runner = rng.choice(active)
                t.say("; one is ")
                r = self._name(t, runner, day)
                t.relate(r, "staying_at_home_of", v)
                subjects.append(runner)
            t.say(".")
        elif kind == "cse":
            ex = arg
            t.say("")
            v = self._name(t, ex.person, day)
            subjects.append(ex.person)
            t.say(" seen getting into ")
            cars = self.vehicles_of.get(ex.by) or []
            if cars:
                self._vehicle(t, rng.choice(cars))
            else:
                t.say("a car")
            t.say(" driven by an older male, ")
            p = self._name(t, ex.by, day)
            subjects.append(ex.by)
            t.say(". She says he is her boyfriend.")
            t.relate(p, "boyfriend_of", v)
            marking = "OFFICIAL-SENSITIVE"
        elif kind == "labour":
            site = arg
            a = int(w.pop.hh_addr[site.household])
            t.say("Up to ")
            t.entity(str(len(site.workers) + rng.randint(-1, 3)), "COUNT", "")
            t.say(" adults living at ")
            self._address(t, a)
            t.say(". Collected at 0500 each morning")
            if site.vehicle >= 0:
                t.say(" in ")
                self._vehicle(t, site.vehicle)
            t.say(". ")
            c = self._name(t, site.controller, day)
            subjects.append(site.controller)
            t.say(" is said to keep their bank cards and passports and pay them ")
            t.entity(f"£{rng.choice((20, 25, 30, 40))}", "MONEY", "")
            t.say(" a day. Contact number ")
            ph = self._phone(t, site.phone)
            t.relate(ph, "phone_of", c)
            if site.workers:
                worker = rng.choice(site.workers)
                t.say(". One worker is ")
                wk = self._name(t, worker, day)
                t.relate(c, "controls", wk)
                subjects.append(worker)
            t.say(".")
        else:
            offenders = w.st
            settlement = rng.choice([k for k, s in enumerate(w.geo.settlements) if s["in_force"]])
            i = offenders.pick_offender(settlement, rng)
            s = self._name(t, i, day)
            subjects.append(i)
            if kind == "weapon":
                term, canonical = rng.choice(self.weapons)
                t.say(" has been seen carrying a ")
                t.entity(term, "WEAPON", canonical)
                t.say(" around ")
                t.entity(w.geo.nb_name[int(w.geo.addr_nb[w.pop.address_on(i, day)])], "PLACE", "")
                t.say(".")
            elif kind == "relationship":
                hh = w.pop.hh_members[int(w.pop.hh[i])]
                others = [j for j in hh if j != i]
                if others:
                    j = rng.choice(others)
                    rel = "family_of" if w.pop.surname[i] == w.pop.surname[j] else "lives_with"
                    t.say(" is " + ("related to " if rel == "family_of" else "living with "))
                    o = self._name(t, j, day)
                    t.relate(s, rel, o)
                    subjects.append(j)
                    t.say(".")
                else:
                    t.say(" is living alone and keeping a low profile.")
            else:
                t.say(" is associating with ")
                j = offenders.pick_offender(settlement, rng)
                o = self._name(t, j, day)
                t.relate(s, "associate_of", o)
                subjects.append(j)
                if rng.random() < 0.5:
                    t.say(" and ")
                    k2 = offenders.pick_offender(settlement, rng)
                    o2 = self._name(t, k2, day)
                    t.relate(s, "associate_of", o2)
                    subjects.append(k2)
                t.say(".")
        self._write(day, t, subjects, operation, marking, spans_sink)

    def _write(
        self,
        day: int,
        t: _Text,
        subjects: list[int],
        operation: str | None,
        marking: str,
        spans_sink: JsonlSink,
    ) -> None:
        w, rng = self.w, self.rng
        self.serial += 1
        when = dt.datetime.fromordinal(day).replace(
            hour=rng.randint(7, 23), minute=rng.randrange(60)
        )
        ref = f"INT/{when.year % 100:02d}/{self.serial:06d}"
        legacy = rng.random() < float(
            w.cfg.settings["intelligence"]["legacy_5x5x5_share"]
        ) and day < (w.cfg.start.toordinal() + w.cfg.days // 2)
        if legacy:
            grading = {
                "scheme": "5x5x5",
                "source": rng.choice("ABBCCE"),
                "intelligence": rng.choice("12233"),
                "handling": rng.choice("11234"),
            }
            conditions = None
        else:
            handling = "C" if rng.random() < 0.25 else "P"
            grading = {
                "scheme": "3x5x2",
                "source": rng.choice("11222223"),
                "intelligence": rng.choice("AABBBCCD"),
                "handling": handling,
            }
            conditions = (
                rng.choice(
                    (
                        "Not to be disseminated outside the force without reference "
                        "to the originator",
                        "Do not action without consulting the source handler",
                        "For intelligence purposes only; not for evidential use",
                    )
                )
                if handling == "C"
                else None
            )
        first = subjects[0] if subjects else -1
        subject_rows = [self._subject(i, day) for i in dict.fromkeys(subjects)][:3]
        noises = [subject.pop("_noise") for subject in subject_rows]
        record: dict[str, Any] = {
            "intel_ref": ref,
            "created": when.isoformat(timespec="minutes"),
            "officer": f"{rng.choice(('PC', 'PC', 'DC', 'PS'))} {rng.choice(w.officers.collar)}",
            "grading": grading,
            "handling_conditions": conditions,
            "security_marking": marking,
            "operation": operation,
            "area": w.geo.nb_beat[int(w.geo.addr_nb[w.pop.address_on(first, day)])]
            if first >= 0
            else None,
            "subjects": subject_rows,
            "report_text": t.text,
        }
        self.sink.write(record)
        for k, i in enumerate(list(dict.fromkeys(subjects))[:3]):
            w.truth.mention(
                "intelligence", ref, f"subject[{k}]", "person", w.pop.person_id(i), noises[k]
            )
        spans_sink.write({"intel_ref": ref, "spans": t.spans, "relations": t.relations})

    def _subject(self, i: int, day: int) -> dict[str, Any]:
        m = self.w.person(i, day, self.noise)
        return {
            "surname": m.surname.upper(),
            "forenames": m.forename,
            "dob": m.dob.isoformat() if m.dob else None,
            "_noise": m.noise,
        }

    def close(self) -> None:
        self.sink.close()
