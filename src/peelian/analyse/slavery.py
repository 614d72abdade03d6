"""Modern slavery indicators from the entity graph: possible labour-exploitation sites,
the people held there and the people who control them.

People held for their labour live many to a house, are not family, have had their phones
taken and give their controller's number as their contact; the controller lives
elsewhere. Houses in multiple occupation, hostels and large families each look like one
of these, not all of them. So the screen starts from the phone:

- **a shared contact phone**: one number given in records as their own by at least
  `min_sharers` adults (by date of birth, or of unknown age) with at least `min_surnames`
  different surnames (a family's landline has one or two), and no more than
  `max_sharers` (a switchboard);
- **where they live**: the address at which most of them are recorded, if two or more
  are, with how many unrelated adults are recorded there;
- **who controls them**: people that intelligence reports naming the phone or that
  address say control others (keep their passports or bank cards, take their wages, pay
  them, collect them: `CONTROL`), who are not recorded living there. What a report says
  is read from the sentence naming the person (`peelian extract`).

A shared phone with two or more of its adults recorded at one address, or with a
controller, is a **possible labour-exploitation site**; its other adults are the
**workers** (victims: the server shows them only to roles that may view vulnerability
flags), its controllers a lead, and a controller linked to several sites says so. Every
flag keeps its reasons in words and the mentions it rests on: the server shows a site
only to a reader who may see every one of them.

Only records' own links count as the phone and the address (`has_phone`, `lives_at`);
documents only say who controls. Tables: `slavery_sites`, `slavery_people`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import duckdb

from peelian.analyse.county_lines import _age as age_on
from peelian.hub import TEXT_SOURCE


@dataclass(frozen=True)
class SlaveryRules:
    """When a phone or address is flagged (configurable)."""

    min_sharers: int = 3  # adults giving one number as their own
    min_surnames: int = 3  # different surnames among them
    max_sharers: int = 40  # more: a switchboard or a hostel's office, not a controller
    adult_age: int = 18


TABLES = """
CREATE OR REPLACE TABLE slavery_sites (
    site_id VARCHAR NOT NULL, phone_entity VARCHAR NOT NULL, number VARCHAR,
    address_entity VARCHAR, address VARCHAR, workers INTEGER NOT NULL,
    surnames INTEGER NOT NULL, adults_at_address INTEGER NOT NULL,
    reports INTEGER NOT NULL, controllers INTEGER NOT NULL, evidence VARCHAR NOT NULL,
    mentions VARCHAR[] NOT NULL
);
CREATE OR REPLACE TABLE slavery_people (
    site_id VARCHAR NOT NULL, entity_id VARCHAR NOT NULL, role VARCHAR NOT NULL,
    evidence VARCHAR NOT NULL, mentions VARCHAR[] NOT NULL
);
"""

# people and the phone numbers their records give as theirs (records only)
_GIVEN = f"""
SELECT e.b AS phone, e.a AS person, list(DISTINCT e.m_a) || list(DISTINCT e.m_b) AS mentions
FROM graph_evidence e
JOIN mentions m ON m.mention_id = e.m_a AND m.source <> '{TEXT_SOURCE}'
WHERE e.relation = 'has_phone' AND e.a_type = 'person' AND e.b_type = 'phone'
  AND e.b IN (
      SELECT b FROM graph_edges
      WHERE relation = 'has_phone' AND a_type = 'person' AND b_type = 'phone'
      GROUP BY b HAVING count(DISTINCT a) >= $min_sharers)
GROUP BY ALL
"""

# where people are recorded living (records only)
_HOMES = f"""
SELECT e.a AS person, e.b AS address, max(e.happened) AS seen,
       list(DISTINCT e.m_a) || list(DISTINCT e.m_b) AS mentions
FROM graph_evidence e
JOIN mentions m ON m.mention_id = e.m_a AND m.source <> '{TEXT_SOURCE}'
WHERE e.relation = 'lives_at' AND e.a_type = 'person' AND e.b_type = 'address'
  AND (e.a IN (SELECT unnest($people::VARCHAR[]))
       OR e.b IN (SELECT b FROM graph_evidence
                  WHERE relation = 'lives_at' AND a IN (SELECT unnest($people::VARCHAR[]))))
GROUP BY ALL
"""

# intelligence reports whose text names one of the phones or addresses (linked by
# `peelian extract`), with the people they name, each with the sentence naming them
_REPORTS = f"""
WITH named AS (
    SELECT e.entity_id AS thing, m.record_id AS document, m.mention_id
    FROM mentions m JOIN entity_membership e USING (mention_id)
    JOIN event ev ON ev.mention_id = m.record_id AND ev.event_type = 'intelligence_report'
    WHERE m.source = '{TEXT_SOURCE}'
      AND e.entity_id IN (SELECT unnest($things::VARCHAR[]))
),
people AS (
    SELECT m.record_id AS document, e.entity_id AS person, m.mention_id, t.sentence
    FROM mentions m JOIN entity_membership e USING (mention_id)
    JOIN text_mentions t ON t.document = m.record_id AND t.span = m.element
    WHERE m.source = '{TEXT_SOURCE}' AND e.entity_type = 'person'
      AND m.record_id IN (SELECT document FROM named)
)
SELECT n.thing, p.person, n.document, list(DISTINCT p.sentence),
       list(DISTINCT n.mention_id) || list(DISTINCT p.mention_id) AS mentions
FROM named n JOIN people p USING (document)
GROUP BY ALL
"""

# What a report says of someone who controls others: keeps their passports or bank
# cards, takes their wages, pays them a pittance, collects them, controls or runs them.
CONTROL = re.compile(
    r"\b(?:keeps?|kept|holds?|held|takes?|took|has|have|confiscat\w*)\b[^.;]{0,40}?"
    r"\b(?:passports?|bank\s*cards?|cards|id|documents|wages|pay|money|phones?)\b"
    r"|\bpays?\s+(?:them|her|him)\b|\bcollects?\s+(?:them|her|him)\b"
    r"|\b(?:controls?|controlling|in\s+charge\s+of|runs?\s+the\s+(?:house|workers))\b",
    re.IGNORECASE,
)

_PEOPLE = """
SELECT entity_id,
       any_value(value) FILTER (WHERE field = 'surname' AND chosen),
       any_value(value) FILTER (WHERE field = 'date_of_birth' AND chosen)
FROM golden_values
WHERE entity_type = 'person' AND entity_id IN (SELECT unnest($people::VARCHAR[]))
GROUP BY 1
"""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def find_sites(con: duckdb.DuckDBPyConnection, rules: SlaveryRules | None = None) -> dict[str, int]:
    """Write `slavery_sites` and `slavery_people`; counts of what was found. Runs in the
    caller's transaction, after the graph."""
    rules = rules or SlaveryRules()
    con.execute(TABLES)
    given: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for phone, person, mentions in con.execute(
        _GIVEN, {"min_sharers": rules.min_sharers}
    ).fetchall():
        given[str(phone)][str(person)] = list(mentions)
    people = sorted({p for sharers in given.values() for p in sharers})
    if not people:
        return {"sites": 0, "workers": 0, "controllers": 0}
    facts = {
        str(e): (str(s).upper() if s else None, d)
        for e, s, d in con.execute(_PEOPLE, {"people": people}).fetchall()
    }
    today = dt.date.today()

    def adult(person: str) -> bool:
        dob = facts.get(person, (None, None))[1]
        age = age_on(str(dob) if dob else None, today)
        return age is None or age >= rules.adult_age

    homes: dict[str, dict[str, list[str]]] = defaultdict(dict)  # person -> address -> why
    residents: dict[str, set[str]] = defaultdict(set)  # address -> people recorded there
    for person, address, _seen, mentions in con.execute(_HOMES, {"people": people}).fetchall():
        homes[str(person)][str(address)] = list(mentions)
        residents[str(address)].add(str(person))

    shared: list[tuple[str, set[str], set[str], str | None, int]] = []
    for phone, sharers in sorted(given.items()):
        adults = {p for p in sharers if adult(p)}
        surnames = {str(facts[p][0]) for p in adults if p in facts and facts[p][0]}
        if not rules.min_sharers <= len(adults) <= rules.max_sharers:
            continue
        if len(surnames) < rules.min_surnames:
            continue
        # the address most of them are recorded at
        at = Counter(a for p in adults for a in homes.get(p, {}))
        address, together = at.most_common(1)[0] if at else (None, 0)
        shared.append((phone, adults, surnames, address if together >= 2 else None, together))
    if not shared:
        return {"sites": 0, "workers": 0, "controllers": 0}
    things = sorted({c[0] for c in shared} | {c[3] for c in shared if c[3]})
    # thing -> person -> (reports saying they control others, the mentions)
    reports: dict[str, dict[str, tuple[set[str], list[str]]]] = defaultdict(dict)
    for thing, person, document, sentences, mentions in con.execute(
        _REPORTS, {"things": things}
    ).fetchall():
        if not any(CONTROL.search(str(x)) for x in sentences):
            continue
        docs, ms = reports[str(thing)].get(str(person), (set(), []))
        reports[str(thing)][str(person)] = (docs | {str(document)}, ms + list(mentions))
    labels = dict(
        con.execute(
            "SELECT entity_id, label FROM entities WHERE entity_id IN (SELECT unnest($e))",
            {"e": things},
        ).fetchall()
    )

    candidates = []
    for phone, adults, surnames, address, together in shared:
        # controllers: people an intelligence report naming the phone or the address
        # says control others (keep their passports, take their wages...), who are not
        # recorded living there
        named: dict[str, tuple[set[str], list[str]]] = {}
        for thing in (phone, address):
            for person, (docs, ms) in reports.get(thing or "", {}).items():
                before = named.get(person, (set(), []))
                named[person] = (before[0] | docs, before[1] + ms)
        at_site = {p for p in adults if address is not None and address in homes.get(p, {})}
        named = {p: v for p, v in named.items() if p not in at_site}
        # who gives the number and is recorded living elsewhere (a reason, not a role)
        elsewhere = {p for p in adults - at_site if homes.get(p) and address not in homes[p]}
        if not named and together < 2:
            continue  # a shared number and nothing more: not enough
        workers = adults - set(named)
        candidates.append((phone, adults, surnames, address, workers, elsewhere, named))

    # a controller named in many reports may be several entities of one name (a bare
    # name in a report is kept apart from namesakes): the reasons count names too
    names = {
        str(e): str(n)
        for e, n in con.execute(
            """SELECT entity_id, upper(concat_ws(' ',
                      any_value(value) FILTER (WHERE field = 'forenames' AND chosen),
                      any_value(value) FILTER (WHERE field = 'surname' AND chosen)))
               FROM golden_values
               WHERE entity_type = 'person' AND entity_id IN (SELECT unnest($p::VARCHAR[]))
               GROUP BY entity_id""",
            {"p": sorted({p for c in candidates for p in c[6]})},
        ).fetchall()
    }
    sites: list[tuple[Any, ...]] = []
    rows: list[tuple[str, str, str, str, list[str]]] = []
    controlled: dict[str, list[str]] = defaultdict(list)  # controller -> sites
    for k, (phone, adults, surnames, address, workers, elsewhere, named) in enumerate(
        candidates, 1
    ):
        site_id = f"MS{k:03d}"
        number = labels.get(phone, phone)
        place = labels.get(address) if address else None
        mentions = [m for p in adults for m in given[phone][p]]
        reasons = [
            f"phone {number} given as their own by {_plural(len(adults), 'adult')} with "
            f"{_plural(len(surnames), 'different surname')}"
        ]
        at_address = {p for p in residents.get(address or "", set()) if adult(p)}
        if address:
            unrelated = {str(facts[p][0]) for p in at_address if p in facts and facts[p][0]}
            here = {p for p in adults if address in homes.get(p, {})}
            reasons.append(
                f"{len(here)} of them recorded living at {place}, where "
                f"{_plural(len(at_address), 'adult')} with "
                f"{_plural(len(unrelated), 'different surname')} are recorded"
            )
            mentions += [m for p in here for m in homes[p][address]]
        if elsewhere:
            reasons.append(f"{len(elsewhere)} of them recorded living at other addresses")
            mentions += [m for p in elsewhere for ms in homes[p].values() for m in ms]
        n_reports = len({d for docs, _ in named.values() for d in docs})
        if named:
            distinct = len({names.get(p, p) for p in named})
            who = (
                "1 person living elsewhere controls"
                if distinct == 1
                else (f"{distinct} people living elsewhere control")
            )
            reasons.append(
                f"{_plural(n_reports, 'intelligence report')} naming the phone or the address "
                f"{'says' if n_reports == 1 else 'say'} that {who} others"
                + (
                    f" (recorded as {len(named)} separate people of "
                    f"{'that name' if distinct == 1 else 'those names'})"
                    if distinct < len(named)
                    else ""
                )
            )
            mentions += [m for _, ms in named.values() for m in ms]
        controllers: dict[str, tuple[list[str], list[str]]] = {
            person: (
                [
                    f"{_plural(len(docs), 'intelligence report')} naming the phone or the "
                    f"address {'says' if len(docs) == 1 else 'say'} they control others "
                    "(passports, wages, collecting them)"
                ],
                ms,
            )
            for person, (docs, ms) in named.items()
        }
        for person in controllers:
            controlled[person].append(site_id)
        for person in sorted(workers):
            home = homes.get(person, {}).get(address or "")
            rows.append(
                (
                    site_id,
                    person,
                    "worker",
                    f"gives {number} as their own phone"
                    + (f"; recorded living at {place}" if home else ""),
                    sorted(set(given[phone][person] + (home or []))),
                )
            )
        sites.append(
            (
                site_id,
                phone,
                number,
                address,
                place,
                len(workers),
                len(surnames),
                len(at_address),
                n_reports,
                len(controllers),
                "; ".join(reasons),
                sorted(set(mentions)),
                controllers,
            )
        )
    for site in sites:
        site_id, controllers = site[0], site[-1]
        for person, (why, ms) in sorted(controllers.items()):
            also = [s for s in controlled[person] if s != site_id]
            if also:
                why = [*why, f"also linked to {', '.join(also)}"]
            rows.append((site_id, person, "controller", "; ".join(why), sorted(set(ms))))
    con.executemany(
        "INSERT INTO slavery_sites VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [s[:-1] for s in sites],
    )
    if rows:
        con.executemany("INSERT INTO slavery_people VALUES (?, ?, ?, ?, ?)", rows)
    return {
        "sites": len(sites),
        "workers": sum(1 for r in rows if r[2] == "worker"),
        "controllers": len(controlled),
    }
