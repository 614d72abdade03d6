"""County lines: deal-line phones, the lines they make, their controllers, runners and
cuckooed addresses, and where the drugs go (origin -> market).

From the call records in the entity graph (`called` evidence) and the people around
them:

1. **Deal-line phones**: a number in contact with many distinct numbers
   (`LineRules.min_contacts`) that sends bulk texts (`min_bursts` times, at least
   `burst_recipients` different numbers texted within `burst_seconds`).
2. **Lines**: deal-line phones whose contacts overlap (a new handset texting the
   old one's customers) are one line that rotated its handset; the handsets are
   listed in order of use.
3. **Handlers**: numbers the line phones *ring* (voice calls made by the line, not
   to it) on several occasions: buyers ring the line and get bulk texts, whereas the
   line rings its controller and runners. The people recorded with those numbers are
   the line's controllers (adults) and runners (under 18 then).
4. **Runners** also include children named in intelligence reports together with a
   controller of the line (reports about the line name the controller and runner).
5. **Market**: the towns the runners were found in when missing, other than the
   town the controller lives in (the line's hub).
6. **Cuckooed addresses**: the home of an adult named in intelligence with the
   line's runners or controller, who is known to adult social care (a referral) or
   is named with them in more than one report; the flag lists the referrals
   ("unknown visitors at address") and the people newly seen with them.

Every flag carries its evidence as text an analyst can read, and the mention ids
behind it (`evidence` lists) so the server can withhold a flag whose evidence the
reader may not see.

7. **Vehicles**: vehicles read by ANPR on 8+ days in the line's market and on 8+ days
   in its origin town (a camera within 5 km of a town's cell sites is in the town):
   regular runs between the two.

Runs after the network step: it reads the offence counts of `network_nodes`.

Tables: `county_lines`, `county_line_phones`, `county_line_people` (controllers and
runners, `county_line_runners` a view of the runners), `county_line_addresses`,
`county_line_vehicles`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import duckdb

from peelian.analyse.network import MAX_SHARERS, insert_rows
from peelian.hub import TEXT_SOURCE


# Of several records that each say the same thing, the most openly marked: no sharing
# restriction, no compartment, then OFFICIAL before OFFICIAL-SENSITIVE and above.
def _openness(mention: str) -> str:
    """An ORDER key over `sr` (the mention's source row): most openly marked first."""
    return (
        "(len(coalesce(sr.sharing_roles, [])) > 0, sr.compartment IS NOT NULL,"
        f" upper(sr.marking) <> 'OFFICIAL', {mention})"
    )


# Stands, in a flag's records, for the record giving a person's date of birth.
DOB_OF = "@date-of-birth:"
# Each person's date of birth (ISO) and the mentions that give it.
Dobs = dict[str, tuple[str, list[str]]]
# A person's most recorded address: (address entity, town, text, postcode, house number,
# flat).
Home = tuple[str, str | None, str | None, str | None, str | None, str | None]


@dataclass(frozen=True)
class LineRules:
    """Thresholds of the county-lines indicators (configurable)."""

    min_contacts: int = 30  # distinct numbers in contact with a deal-line phone
    burst_seconds: int = 300
    burst_recipients: int = 10  # different numbers texted within burst_seconds
    min_bursts: int = 2
    rotation_shared: int = 10  # contacts two handsets of one line share, at least
    rotation_jaccard: float = 0.2
    handler_calls: int = 3  # voice calls the line makes to a number: a handler
    market_found: int = 3  # times a missing child is found in the line's market town
    named_reports: int = 2  # intelligence reports naming a child with a line's controller
    near_km: float = 5.0  # an ANPR camera this close to a town's cell sites is in the town
    run_days: int = 8  # days a vehicle is read in both the origin and the market town
    run_overlap_days: int = 60  # ...over periods in the two towns overlapping this long
    located_contacts: int = 10  # contacts placed by cell sites before a market is named
    market_share: float = 0.5  # of them in one postcode area, for it to be the market
    adult_age: int = 18


TABLES = """
CREATE OR REPLACE TABLE county_lines (
    line_id VARCHAR NOT NULL, handsets INTEGER NOT NULL, contacts INTEGER NOT NULL,
    bulk_texts INTEGER NOT NULL, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ,
    hub_town VARCHAR, market_town VARCHAR, controllers INTEGER NOT NULL,
    runners INTEGER NOT NULL, cuckooed INTEGER NOT NULL, evidence VARCHAR NOT NULL,
    place_evidence VARCHAR, place_mentions VARCHAR[] NOT NULL
);
CREATE OR REPLACE TABLE county_line_phones (
    line_id VARCHAR NOT NULL, phone_entity VARCHAR NOT NULL, number VARCHAR,
    handset INTEGER NOT NULL, contacts INTEGER NOT NULL, bursts INTEGER NOT NULL,
    first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ, evidence VARCHAR NOT NULL,
    mentions VARCHAR[] NOT NULL
);
CREATE OR REPLACE TABLE county_line_people (
    line_id VARCHAR NOT NULL, entity_id VARCHAR NOT NULL, role VARCHAR NOT NULL,
    evidence VARCHAR NOT NULL, mentions VARCHAR[] NOT NULL
);
CREATE OR REPLACE VIEW county_line_runners AS
SELECT line_id, entity_id, evidence, mentions FROM county_line_people WHERE role = 'runner';
CREATE OR REPLACE TABLE county_line_vehicles (
    line_id VARCHAR NOT NULL, vehicle_entity VARCHAR NOT NULL, vrm VARCHAR,
    market_days INTEGER NOT NULL, origin_days INTEGER NOT NULL, evidence VARCHAR NOT NULL,
    mentions VARCHAR[] NOT NULL
);
CREATE OR REPLACE TABLE county_line_addresses (
    line_id VARCHAR NOT NULL, address_entity VARCHAR, person_entity VARCHAR NOT NULL,
    address VARCHAR, postcode VARCHAR, house_number VARCHAR, flat VARCHAR, town VARCHAR,
    evidence VARCHAR NOT NULL, mentions VARCHAR[] NOT NULL
);
"""


# Small working tables, made once so that each line's questions don't scan the hub:
# who was named with whom in intelligence, who holds which phone (by the most openly
# marked record saying so), where missing people were found, and adult social care
# referrals.
WORKING_TABLES = """
CREATE OR REPLACE TEMP TABLE cl_named AS
SELECT a, b, m_via, happened FROM graph_evidence WHERE relation = 'named_together';
CREATE OR REPLACE TEMP TABLE cl_holders AS
SELECT x.person, x.phone, arg_min(x.m_a, {openness}) AS m_a
FROM (
    SELECT CASE WHEN a_type = 'person' THEN a ELSE b END AS person,
           CASE WHEN a_type = 'person' THEN b ELSE a END AS phone, m_a
    FROM graph_evidence
    WHERE ((a_type = 'person' AND b_type = 'phone') OR (a_type = 'phone' AND b_type = 'person'))
      AND NOT starts_with(relation, 'stated_')
) x
JOIN mentions m ON m.mention_id = x.m_a
JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
GROUP BY x.person, x.phone;
CREATE OR REPLACE TEMP TABLE cl_lived AS
SELECT a AS person, b AS address, m_a FROM graph_evidence WHERE relation = 'lives_at';
CREATE OR REPLACE TEMP TABLE cl_found AS
SELECT em.entity_id, upper(p.town) AS town, f.from_mention,
       coalesce(ev.end, ev.start, ev.occurred) AS found_at, ev.mention_id AS episode
FROM links f
JOIN entity_membership em ON em.mention_id = f.from_mention
JOIN place p ON p.mention_id = f.to_mention
LEFT JOIN links pt ON pt.from_mention = f.from_mention AND pt.type = 'PARTY_TO'
     AND pt.deleted_at IS NULL
LEFT JOIN event ev ON ev.mention_id = pt.to_mention
WHERE f.type = 'FOUND_AT' AND f.deleted_at IS NULL AND p.town IS NOT NULL;
CREATE OR REPLACE TEMP TABLE cl_referrals AS
SELECT em.entity_id, ev.attributes['concern'] AS concern,
       coalesce(ev.occurred, ev.start, ev.recorded)::VARCHAR AS referred, ev.mention_id
FROM links l JOIN entity_membership em ON em.mention_id = l.from_mention
JOIN event ev ON ev.mention_id = l.to_mention
WHERE l.type = 'PARTY_TO' AND l.role = 'subject' AND ev.event_type = 'referral'
  AND l.deleted_at IS NULL AND ev.attributes['partner_agency'] ILIKE '%adult%';
"""
_WORKING = ("cl_named", "cl_holders", "cl_lived", "cl_found", "cl_referrals", "cl_towns", "cl_runs")
# ANPR: the days each vehicle was read, under each plate as read, in each town that has
# cell sites (a camera within near_km of the mean of the town's sites counts as in the
# town). The plate as read, not only the entity: the misread-tolerant key can join two
# real vehicles whose plates differ by a misread, one kept in each town.
RUNS = """
CREATE OR REPLACE TEMP TABLE cl_towns AS
SELECT town, avg(lat) AS lat, avg(lon) AS lon FROM cl_cells
WHERE town IS NOT NULL AND lat IS NOT NULL GROUP BY town;
CREATE OR REPLACE TEMP TABLE cl_runs AS
WITH cameras AS (
    SELECT em.entity_id AS camera, avg(p.lat) AS lat, avg(p.lon) AS lon
    FROM place p JOIN entity_membership em ON em.mention_id = p.mention_id
    WHERE p.kind = 'location' AND p.lat IS NOT NULL AND em.entity_type = 'location'
    GROUP BY 1
),
near AS (
    SELECT c.camera, t.town FROM cameras c, cl_towns t
    WHERE 2 * 6371 * asin(sqrt(
        pow(sin(radians(t.lat - c.lat) / 2), 2)
        + cos(radians(c.lat)) * cos(radians(t.lat)) * pow(sin(radians(t.lon - c.lon) / 2), 2)
    )) <= $km
)
SELECT v.entity_id AS vehicle, vh.vrm, n.town, count(DISTINCT l.start::DATE) AS days,
       min(l.start)::DATE AS first_day, max(l.start)::DATE AS last_day,
       min(l.from_mention) AS mention
FROM links l
JOIN entity_membership c ON c.mention_id = l.to_mention
JOIN near n ON n.camera = c.entity_id
JOIN entity_membership v ON v.mention_id = l.from_mention AND v.entity_type = 'vehicle'
JOIN vehicle vh ON vh.mention_id = l.from_mention
WHERE l.type = 'SEEN_AT' AND l.deleted_at IS NULL AND l.start IS NOT NULL
GROUP BY 1, 2, 3;
"""


def _calls(con: duckdb.DuckDBPyConnection) -> None:
    """`cl_calls(a, b, called_at, sms, cell, m_a, m_b)`: each call or text between two
    phone entities, with the cell serving the calling phone (a); `cl_cells(cell, area,
    town, mention)`: where the cells are, from the operator's cell-site list (locations
    whose reference is a cell id the calls name), with the postcode area of the site."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE cl_calls AS
        SELECT g.a, g.b, g.happened AS called_at,
               coalesce(upper(ev.attributes['call_type']) = 'SMS', false) AS sms,
               ev.attributes['cell_id'] AS cell, g.m_a, g.m_b
        FROM graph_evidence g
        JOIN mentions m ON m.mention_id = g.m_a
        LEFT JOIN mentions me ON me.source = m.source AND me.row_id = m.row_id
             AND me.kind = 'event' AND me.event_type = 'phone_call'
        LEFT JOIN event ev ON ev.mention_id = me.mention_id
        WHERE g.relation = 'called' AND g.a_type = 'phone' AND g.b_type = 'phone'"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE cl_cells AS
        SELECT p.reference AS cell,
               mode(regexp_extract(upper(p.postcode), '^[A-Z]{1,2}')) AS area,
               mode(upper(p.town)) AS town, min(p.mention_id) AS mention,
               avg(p.lat) AS lat, avg(p.lon) AS lon
        FROM place p JOIN mentions m ON m.mention_id = p.mention_id AND m.deleted_at IS NULL
        WHERE p.kind = 'location' AND p.postcode IS NOT NULL
          AND p.reference IN (SELECT DISTINCT cell FROM cl_calls WHERE cell IS NOT NULL)
        GROUP BY p.reference"""
    )


@dataclass(frozen=True)
class Located:
    """Where a line's contacts call from: `located` of its contacts have calls through a
    cell whose site is known, `share` of those in postcode `area` (`town`)."""

    located: int
    area: str | None
    town: str | None
    share: float
    mentions: list[str]

    def text(self, contacts: int) -> str:
        if not self.located or self.area is None:
            return ""
        where = f"{self.area} postcode area" + (f" ({self.town.title()})" if self.town else "")
        return (
            f"{self.share:.0%} of the {self.located} of its {contacts} contacts located by "
            f"their calls' cell sites are in the {where}"
        )


def _located(
    con: duckdb.DuckDBPyConnection, groups: dict[str, list[str]]
) -> dict[str, tuple[int, Located]]:
    """For each group of phones (a handset, or a line's handsets): how many distinct
    numbers it is in contact with, and where those contacts are, by the cells of the
    calls they make to it. One pass over the calls for all groups."""
    import pyarrow as pa

    pairs = pa.table(
        {
            "key": [k for k, phones in groups.items() for _ in phones],
            "phone": [p for phones in groups.values() for p in phones],
        }
    )
    con.register("cl_groups", pairs)
    try:
        contacts = dict(
            con.execute(
                """
                WITH ends AS (
                    SELECT g.key, c.a AS other FROM cl_calls c JOIN cl_groups g ON g.phone = c.b
                    UNION ALL
                    SELECT g.key, c.b FROM cl_calls c JOIN cl_groups g ON g.phone = c.a
                )
                SELECT e.key, count(DISTINCT e.other) FROM ends e
                WHERE NOT EXISTS (SELECT 1 FROM cl_groups g WHERE g.key = e.key
                                  AND g.phone = e.other)
                GROUP BY e.key
                """
            ).fetchall()
        )
        rows = con.execute(
            """
            WITH placed AS (
                SELECT g.key, c.a AS contact, x.area, x.town, x.mention
                FROM cl_calls c JOIN cl_groups g ON g.phone = c.b
                JOIN cl_cells x ON x.cell = c.cell
                WHERE NOT EXISTS (SELECT 1 FROM cl_groups h WHERE h.key = g.key
                                  AND h.phone = c.a)
            ),
            per_contact AS (
                SELECT key, contact, mode(area) AS area FROM placed GROUP BY key, contact
            ),
            per_area AS (
                SELECT key, area, count(*) AS n FROM per_contact GROUP BY key, area
            ),
            areas AS (
                SELECT key, area, mode(town) AS town FROM placed GROUP BY key, area
            ),
            sites AS (SELECT key, list(DISTINCT mention) AS mentions FROM placed GROUP BY key)
            SELECT p.key, p.area, p.n, sum(p.n) OVER (PARTITION BY p.key) AS located,
                   a.town, s.mentions
            FROM per_area p JOIN areas a USING (key, area) JOIN sites s USING (key)
            QUALIFY row_number() OVER (PARTITION BY p.key ORDER BY p.n DESC, p.area) = 1
            """
        ).fetchall()
    finally:
        con.unregister("cl_groups")
    where = {
        str(key): Located(int(total), area, town, int(n) / int(total), [str(m) for m in ms])
        for key, area, n, total, town, ms in rows
    }
    return {
        key: (int(contacts.get(key, 0)), where.get(key, Located(0, None, None, 0.0, [])))
        for key in groups
    }


def _deal_phones(con: duckdb.DuckDBPyConnection, rules: LineRules) -> list[tuple[Any, ...]]:
    return con.execute(
        f"""
        WITH ends AS (
            SELECT a AS phone, b AS other, called_at FROM cl_calls
            UNION ALL SELECT b, a, called_at FROM cl_calls
        ),
        stats AS (
            SELECT phone, count(DISTINCT other) AS contacts, min(called_at) AS first_seen,
                   max(called_at) AS last_seen
            FROM ends GROUP BY phone
        ),
        bursts AS (
            SELECT a AS phone, count(*) AS bursts FROM (
                SELECT a, epoch(called_at)::BIGINT // {rules.burst_seconds} AS slot
                FROM cl_calls WHERE sms
                GROUP BY ALL HAVING count(DISTINCT b) >= {rules.burst_recipients})
            GROUP BY a
        )
        SELECT s.phone, s.contacts, b.bursts, s.first_seen::VARCHAR, s.last_seen::VARCHAR
        FROM stats s JOIN bursts b USING (phone)
        WHERE s.contacts >= {rules.min_contacts} AND b.bursts >= {rules.min_bursts}
        ORDER BY s.first_seen, s.phone
        """
    ).fetchall()


def _lines(con: duckdb.DuckDBPyConnection, phones: list[str], rules: LineRules) -> list[list[str]]:
    """Deal-line phones grouped into lines by the customers they share (handset rotation)."""
    if not phones:
        return []
    pairs = con.execute(
        f"""
        WITH c AS (
            SELECT DISTINCT phone, other FROM (
                SELECT a AS phone, b AS other FROM cl_calls UNION ALL
                SELECT b, a FROM cl_calls)
            WHERE phone IN (SELECT unnest($phones::VARCHAR[]))
        ),
        n AS (SELECT phone, count(*) AS k FROM c GROUP BY phone)
        SELECT x.phone, y.phone FROM c x JOIN c y ON y.other = x.other AND x.phone < y.phone
        JOIN n nx ON nx.phone = x.phone JOIN n ny ON ny.phone = y.phone
        GROUP BY x.phone, y.phone, nx.k, ny.k
        HAVING count(*) >= {rules.rotation_shared}
           AND count(*) / (nx.k + ny.k - count(*)) >= {rules.rotation_jaccard}
        """,
        {"phones": phones},
    ).fetchall()
    parent = {p: p for p in phones}

    def find(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for x, y in pairs:
        rx, ry = find(str(x)), find(str(y))
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    groups: dict[str, list[str]] = defaultdict(list)
    for p in phones:  # phones are in order of first use
        groups[find(p)].append(p)
    return list(groups.values())


def _age(dob: str | None, on: dt.date) -> int | None:
    if not dob:
        return None
    try:
        born = dt.date.fromisoformat(dob[:10])
    except ValueError:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _aged(dobs: Dobs, person: str, when: str | None) -> tuple[int | None, list[str]]:
    """A person's age on the date `when` (today if none), and the records giving the
    date of birth."""
    dob, mentions = dobs.get(person, (None, []))
    return _age(dob, _date(when) or dt.date.today()), mentions


def _date(value: str | None) -> dt.date | None:
    """The date of an ISO date-time text; None for none or a value that is no date."""
    try:
        return dt.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def find_county_lines(
    con: duckdb.DuckDBPyConnection, rules: LineRules | None = None
) -> dict[str, int]:
    """Write the county-lines tables; counts of lines, phones, people and addresses."""
    rules = rules or LineRules()
    con.execute(TABLES)
    _calls(con)
    con.execute(WORKING_TABLES.replace("{openness}", _openness("x.m_a")))
    for sql in RUNS.strip().split(";\n"):
        con.execute(sql, {"km": rules.near_km} if "$km" in sql else None)
    found = _deal_phones(con, rules)
    stats = {str(p): (int(c), int(b), f, last) for p, c, b, f, last in found}
    lines = _lines(con, list(stats), rules)
    numbers = dict(
        con.execute(
            """SELECT entity_id, arg_max(value, seen) FROM golden_values
            WHERE entity_type = 'phone' AND field = 'number' GROUP BY 1"""
        ).fetchall()
    )
    # each person's date of birth; an age in a flag's words rests on a record giving it
    # (a placeholder here, made the most openly marked such record at the end, for the
    # few people flagged)
    dobs: Dobs = {
        str(e): (str(v), [f"{DOB_OF}{e}"])
        for e, v in con.execute(
            """SELECT entity_id, arg_max(value, chosen::INTEGER * 1000000 + seen)
            FROM golden_values WHERE entity_type = 'person' AND field = 'date_of_birth'
            GROUP BY 1"""
        ).fetchall()
    }
    homes = _homes(con)
    # first pass: each line's controllers and runners, so that no line takes another's
    # runner or controller for a cuckooed adult
    people_of: dict[str, tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]] = {}
    markets: dict[str, tuple[str | None, str | None, str, list[str]]] = {}
    handlers_of: dict[str, dict[str, dict[str, Any]]] = {}
    line_ids = [f"L{number:04d}" for number in range(1, len(lines) + 1)]
    located = _located(con, {**dict(zip(line_ids, lines, strict=True)), **{p: [p] for p in stats}})
    for line_id, handsets in zip(line_ids, lines, strict=True):
        controllers, runners, handlers_of[line_id] = _line_people(
            con, handsets, numbers, dobs, rules
        )
        hub_towns = Counter(homes[c][1] for c in controllers if c in homes)
        hub_towns.pop(None, None)
        hub_town = hub_towns.most_common(1)[0][0] if hub_towns else None
        market, market_text, place_mentions = _market(con, list(runners), hub_town)
        contacts, where = located[line_id]
        if where.located >= rules.located_contacts and where.share >= rules.market_share:
            if where.town and (not hub_town or where.town != hub_town.upper()):
                market = where.town
            market_text = "; ".join(filter(None, [where.text(contacts), market_text]))
            place_mentions += where.mentions
        place_mentions += [
            str(m)
            for (m,) in con.execute(
                "SELECT m_a FROM cl_lived WHERE person IN (SELECT unnest($c::VARCHAR[]))",
                {"c": list(controllers)},
            ).fetchall()
        ]
        people_of[line_id] = (controllers, runners)
        markets[line_id] = (hub_town, market, market_text, sorted(set(place_mentions)))
    _add_market_runners(con, people_of, markets, dobs, homes, rules)
    line_people = {p for c, r in people_of.values() for p in (*c, *r)}
    line_people |= {p for handlers in handlers_of.values() for p in handlers}
    # offences per person, as the network step counted them (everyone named with a
    # line's people is in its graph), rather than a second pass over every link
    offences = {
        str(e): int(n)
        for e, n in con.execute(
            "SELECT entity_id, offences FROM network_nodes WHERE offences > 0"
        ).fetchall()
    }
    phone_rows: list[dict[str, Any]] = []
    people_rows: list[dict[str, Any]] = []
    address_rows: list[dict[str, Any]] = []
    vehicle_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    phone_mentions = _label_mentions(con, list(stats))
    for line_id, handsets in zip(line_ids, lines, strict=True):
        first = min(stats[p][2] for p in handsets)
        last = max(stats[p][3] for p in handsets)
        contacts = located[line_id][0]
        bulk = sum(stats[p][1] for p in handsets)
        for k, p in enumerate(handsets, start=1):
            c, b, f, la = stats[p]
            where = located[p][1]
            placed = where.text(c) if where.located >= rules.located_contacts else ""
            phone_rows.append(
                {
                    "line_id": line_id,
                    "phone_entity": p,
                    "number": numbers.get(p),
                    "handset": k,
                    "contacts": c,
                    "bursts": b,
                    "first_seen": f,
                    "last_seen": la,
                    "evidence": (
                        f"{numbers.get(p, p)} in contact with {c} distinct numbers between "
                        f"{f[:10]} and {la[:10]}; {b} bulk texts to {rules.burst_recipients}+ "
                        f"numbers within {rules.burst_seconds // 60} minutes"
                        + (f"; {placed}" if placed else "")
                        + (f"; handset {k} of {len(handsets)} of the line" if k > 1 else "")
                    ),
                    "mentions": phone_mentions.get(p, []) + (where.mentions if placed else []),
                }
            )
        controllers, runners = people_of[line_id]
        hub_town, market, market_text, place_mentions = markets[line_id]
        for vehicle, vrm, market_days, origin_days, mention in _runs(con, hub_town, market, rules):
            vehicle_rows.append(
                {
                    "line_id": line_id,
                    "vehicle_entity": vehicle,
                    "vrm": vrm,
                    "market_days": market_days,
                    "origin_days": origin_days,
                    "evidence": (
                        f"{vrm or vehicle} read by ANPR in {str(market).title()} (the market) on "
                        f"{market_days} days and in {str(hub_town).title()} (the origin) on "
                        f"{origin_days} days"
                    ),
                    "mentions": [*mention, *place_mentions],
                }
            )
        cuckooed = _cuckooed(
            con,
            list(runners) + list(controllers),
            set(runners) | set(controllers) | line_people,
            dobs,
            offences,
            rules,
        )
        for role, people in (
            ("controller", controllers),
            ("runner", runners),
            ("handler", handlers_of[line_id]),
        ):
            for person, entry in sorted(people.items()):
                people_rows.append(
                    {
                        "line_id": line_id,
                        "entity_id": person,
                        "role": role,
                        "evidence": "; ".join(entry["evidence"]),
                        "mentions": sorted(set(entry["mentions"])),
                    }
                )
        for person, entry in sorted(cuckooed.items()):
            home = homes.get(person)
            address_rows.append(
                {
                    "line_id": line_id,
                    "address_entity": home[0] if home else None,
                    "person_entity": person,
                    "address": home[2] if home else None,
                    "postcode": home[3] if home else None,
                    "house_number": home[4] if home else None,
                    "flat": home[5] if home else None,
                    "town": home[1] if home else None,
                    "evidence": "; ".join(entry["evidence"]),
                    "mentions": sorted(set(entry["mentions"])),
                }
            )
        line_rows.append(
            {
                "line_id": line_id,
                "handsets": len(handsets),
                "contacts": contacts,
                "bulk_texts": bulk,
                "first_seen": first,
                "last_seen": last,
                "hub_town": hub_town,
                "market_town": market,
                "controllers": len(controllers),
                "runners": len(runners),
                "cuckooed": len(cuckooed),
                "evidence": (
                    f"{len(handsets)} handsets in turn, {contacts} distinct contacts, "
                    f"{bulk} bulk texts, {first[:10]} to {last[:10]}"
                ),
                "place_evidence": market_text or None,
                "place_mentions": place_mentions,
            }
        )
    # a home's address, postcode and town rest on the address's records and the record
    # saying the person lives there
    address_mentions = _label_mentions(
        con, sorted({r["address_entity"] for r in address_rows if r["address_entity"]})
    )
    lived = defaultdict(list)
    for person, address, mention in con.execute(
        "SELECT person, address, m_a FROM cl_lived WHERE person IN (SELECT unnest($p::VARCHAR[]))",
        {"p": sorted({r["person_entity"] for r in address_rows})},
    ).fetchall():
        lived[(str(person), str(address))].append(str(mention))
    for row in address_rows:
        if row["address_entity"]:
            row["mentions"] += address_mentions.get(row["address_entity"], [])
            row["mentions"] += lived.get((row["person_entity"], row["address_entity"]), [])
    _dob_records(con, people_rows + address_rows)
    for rows, column in (
        (phone_rows, "mentions"),
        (people_rows, "mentions"),
        (address_rows, "mentions"),
        (vehicle_rows, "mentions"),
        (line_rows, "place_mentions"),
    ):
        for row, cut in zip(rows, _one_per_label(con, [r[column] for r in rows]), strict=True):
            row[column] = cut
    insert_rows(con, "county_lines", line_rows)
    insert_rows(con, "county_line_phones", phone_rows)
    insert_rows(con, "county_line_people", people_rows)
    insert_rows(con, "county_line_addresses", address_rows)
    insert_rows(con, "county_line_vehicles", vehicle_rows)
    for table in ("cl_calls", "cl_cells", *_WORKING):
        con.execute(f"DROP TABLE {table}")
    return {
        "lines": len(line_rows),
        "phones": len(phone_rows),
        "controllers": sum(1 for r in people_rows if r["role"] == "controller"),
        "runners": sum(1 for r in people_rows if r["role"] == "runner"),
        "cuckooed": len(address_rows),
        "vehicles": len(vehicle_rows),
    }


def _line_people(
    con: duckdb.DuckDBPyConnection,
    handsets: list[str],
    numbers: dict[str, str],
    dobs: Dobs,
    rules: LineRules,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The line's controllers, runners and handlers of unknown age, each with evidence
    and mentions: the people on the numbers the line rings (adults control, children
    run), and children named in intelligence with a controller (their age when first
    named with them)."""
    controllers: dict[str, dict[str, Any]] = {}
    runners: dict[str, dict[str, Any]] = {}
    handlers: dict[str, dict[str, Any]] = {}
    for person, phone, calls, when, calls_seen, holders in _handlers(con, handsets, rules):
        age, born = _aged(dobs, person, when)
        text = f"rung {calls} times by the line from {numbers.get(phone, phone)}"
        # the line rings its controller and its runners: the adult is the controller, the
        # child a runner; someone whose age no record gives is neither, said so
        adult = age is not None and age >= rules.adult_age
        target = handlers if age is None else controllers if adult else runners
        entry = target.setdefault(person, {"evidence": [], "mentions": []})
        entry["evidence"].append(
            text + (f" (aged {age} then)" if age is not None else " (age unknown)")
        )
        entry["mentions"] += [*calls_seen, *holders, *born]
    for person, reports, when, seen in _named_with(con, list(controllers)):
        age, born = _aged(dobs, person, when)
        if person in controllers or age is None or age >= rules.adult_age:
            continue
        if reports < rules.named_reports and person not in runners:
            continue  # one report is hearsay; a child the line rings needs no more
        entry = runners.setdefault(person, {"evidence": [], "mentions": []})
        entry["evidence"].append(
            f"a child (aged {age}) named with the line's controller in {reports} "
            "intelligence reports"
        )
        entry["mentions"] += [*seen, *born]
    return controllers, runners, handlers


def _label_mentions(con: duckdb.DuckDBPyConnection, entities: list[str]) -> dict[str, list[str]]:
    """One of each entity's records per security label: a reader who may see these may
    see every record a flag on the entity rests on (what documents name, the `text`
    source, is no record of the person's and no flag rests on it)."""
    out: dict[str, list[str]] = defaultdict(list)
    for entity_id, mention in con.execute(
        """SELECT em.entity_id, min(m.mention_id)
        FROM entity_membership em JOIN mentions m ON m.mention_id = em.mention_id
        JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
        WHERE em.entity_id IN (SELECT unnest($e::VARCHAR[])) AND m.deleted_at IS NULL
          AND m.source <> $text
        GROUP BY em.entity_id, sr.marking, sr.compartment, sr.sharing_roles ORDER BY 1, 2""",
        {"e": entities, "text": TEXT_SOURCE},
    ).fetchall():
        out[str(entity_id)].append(str(mention))
    return out


def _handlers(
    con: duckdb.DuckDBPyConnection, handsets: list[str], rules: LineRules
) -> list[tuple[str, str, int, str | None, list[str], list[str]]]:
    """(person, their phone, voice calls from the line, first call, the calls' mentions,
    the records giving the person that phone) for the numbers the line rings by voice
    at least `handler_calls` times; a number given by more than MAX_SHARERS people (a
    switchboard, a placeholder) names nobody."""
    rows = con.execute(
        f"""
        WITH rung AS (
            SELECT b AS phone, count(*) AS calls, min(called_at)::VARCHAR AS first,
                   list(DISTINCT m_b) AS mentions
            FROM cl_calls
            WHERE a IN (SELECT unnest($h::VARCHAR[])) AND NOT sms
              AND b NOT IN (SELECT unnest($h::VARCHAR[]))
            GROUP BY b HAVING count(*) >= {rules.handler_calls}
        )
        SELECT h.person, r.phone, r.calls, r.first, r.mentions, [h.m_a]
        FROM rung r JOIN cl_holders h ON h.phone = r.phone
        WHERE r.phone IN (SELECT phone FROM cl_holders GROUP BY phone
                          HAVING count(DISTINCT person) <= {MAX_SHARERS})
        ORDER BY 1, 2
        """,
        {"h": handsets},
    ).fetchall()
    return [
        (str(p), str(ph), int(n), w, [str(x) for x in ms], [str(x) for x in hs])
        for p, ph, n, w, ms, hs in rows
    ]


def _named_with(
    con: duckdb.DuckDBPyConnection, people: list[str]
) -> list[tuple[str, int, str | None, list[str]]]:
    """People named in intelligence reports with any of `people`: (person, reports, first
    report date, the report mentions)."""
    if not people:
        return []
    rows = con.execute(
        """
        WITH ev AS (
            SELECT CASE WHEN a IN (SELECT unnest($p::VARCHAR[])) THEN b ELSE a END AS other,
                   m_via, happened
            FROM cl_named
            WHERE a IN (SELECT unnest($p::VARCHAR[])) OR b IN (SELECT unnest($p::VARCHAR[]))
        )
        SELECT other, count(DISTINCT m_via), min(happened)::VARCHAR, list(DISTINCT m_via)
        FROM ev WHERE other NOT IN (SELECT unnest($p::VARCHAR[])) GROUP BY other ORDER BY 1
        """,
        {"p": people},
    ).fetchall()
    return [(str(o), int(n), w, [str(m) for m in ms]) for o, n, w, ms in rows]


def _homes(con: duckdb.DuckDBPyConnection) -> dict[str, Home]:
    """Each person's most recorded address: (address entity, town, text, postcode, house
    number, flat)."""
    rows = con.execute(
        """
        WITH lived AS (
            SELECT CASE WHEN a_type = 'person' THEN a ELSE b END AS person,
                   CASE WHEN a_type = 'person' THEN b ELSE a END AS address,
                   evidence, last_seen
            FROM graph_edges WHERE relation = 'lives_at'
        ),
        best AS (
            SELECT person, arg_max(address, evidence * 1e12 + epoch(coalesce(last_seen,
                   TIMESTAMPTZ '1970-01-01'))) AS address
            FROM lived GROUP BY person
        ),
        places AS (
            SELECT em.entity_id AS address, mode(p.town) AS town, mode(p.text) AS text,
                   mode(p.postcode) AS postcode, mode(p.house_number) AS house_number,
                   mode(p.flat) AS flat
            FROM entity_membership em JOIN place p ON p.mention_id = em.mention_id
            WHERE em.entity_type = 'address' AND em.entity_id IN (SELECT address FROM best)
            GROUP BY 1
        )
        SELECT b.person, b.address, pl.town, pl.text, pl.postcode, pl.house_number, pl.flat
        FROM best b LEFT JOIN places pl USING (address)
        """
    ).fetchall()
    return {str(r[0]): (str(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows}


def _market(
    con: duckdb.DuckDBPyConnection, runners: list[str], hub_town: str | None
) -> tuple[str | None, str, list[str]]:
    """The town the runners were found in when missing, away from the hub town; the
    text saying so, and the records it rests on (one per security label)."""
    if not runners:
        return None, "", []
    rows = con.execute(
        """
        SELECT town, count(DISTINCT from_mention), list(DISTINCT from_mention)
        FROM cl_found WHERE entity_id IN (SELECT unnest($r::VARCHAR[]))
        GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        {"r": runners},
    ).fetchall()
    total = sum(int(n) for _, n, _m in rows)
    away = [(str(t), int(n)) for t, n, _m in rows if not hub_town or str(t) != hub_town.upper()]
    if not away:
        return None, "", []
    town, n = away[0]
    mentions = [str(m) for *_, ms in rows for m in ms]
    return (
        town,
        f"runners found in {town.title()} {n} of {total} times they were found after going "
        "missing" + (f", {hub_town.title()} being the controllers' home" if hub_town else ""),
        mentions,
    )


def _dob_records(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Replace each date-of-birth placeholder in the rows' mentions with the most openly
    marked record that gives the person's chosen date of birth (one query for all)."""
    people = sorted(
        {m.removeprefix(DOB_OF) for r in rows for m in r["mentions"] if m.startswith(DOB_OF)}
    )
    if not people:
        return
    record = dict(
        con.execute(
            f"""WITH chosen AS (
                SELECT entity_id, arg_max(mentions, chosen::INTEGER * 1000000 + seen) AS ms
                FROM golden_values
                WHERE entity_type = 'person' AND field = 'date_of_birth'
                  AND entity_id IN (SELECT unnest($p::VARCHAR[]))
                GROUP BY 1
            )
            SELECT x.entity_id, arg_min(x.mention_id, {_openness("x.mention_id")})
            FROM (SELECT entity_id, unnest(ms) AS mention_id FROM chosen) x
            JOIN mentions m ON m.mention_id = x.mention_id
            JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
            GROUP BY x.entity_id""",
            {"p": people},
        ).fetchall()
    )
    for r in rows:
        r["mentions"] = [
            str(record.get(m.removeprefix(DOB_OF), m)) if m.startswith(DOB_OF) else m
            for m in r["mentions"]
        ]


def _one_per_label(con: duckdb.DuckDBPyConnection, lists: list[list[str]]) -> list[list[str]]:
    """Each list of mentions cut to one mention per security label (what a reader must be
    able to see), in one query for all lists. A mention no longer in the hub is kept,
    so the server, finding no label for it, withholds the row (fails closed)."""
    ids = sorted({m for mentions in lists for m in mentions})
    label = dict(
        con.execute(
            """SELECT m.mention_id, concat_ws('|', sr.marking, coalesce(sr.compartment, ''),
                      array_to_string(coalesce(sr.sharing_roles, []), ','))
            FROM mentions m JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
            WHERE m.mention_id IN (SELECT unnest($ids::VARCHAR[]))""",
            {"ids": ids},
        ).fetchall()
    )
    out = []
    for mentions in lists:
        best: dict[str, str] = {}
        for m in mentions:
            key = label.get(m, f"?{m}")
            if key not in best or m < best[key]:
                best[key] = m
        out.append(sorted(best.values()))
    return out


def _add_market_runners(
    con: duckdb.DuckDBPyConnection,
    people_of: dict[str, tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]],
    markets: dict[str, tuple[str | None, str | None, str, list[str]]],
    dobs: Dobs,
    homes: dict[str, Home],
    rules: LineRules,
) -> None:
    """Children found again and again in a line's market town, away from home, after
    going missing are its runners. Where several lines supply one town, a child goes to
    the lines whose people they are linked to (named, arrested, living with...), else to
    each line into the town, saying so."""
    into: dict[str, list[str]] = defaultdict(list)
    for line_id, (_hub, market, _text, _m) in markets.items():
        if market:
            into[market].append(line_id)
    for market, line_ids in sorted(into.items()):
        found = _found_in(con, market, rules)
        children = []
        for person, times, first_found, mention in found:
            age, born = _aged(dobs, person, first_found)
            if age is not None and age >= rules.adult_age:
                continue
            home_town = homes[person][1] if person in homes else None
            if home_town and home_town.upper() == market:
                continue  # found in their own town: not far from home
            if any(person in people_of[line][0] for line in line_ids):
                continue  # a controller of a line into the town
            children.append((person, times, age, [*mention, *born]))
        tied = _ties(con, [c[0] for c in children]) if len(line_ids) > 1 else {}
        for person, times, age, mention in children:
            lines_here = [
                line
                for line in line_ids
                if tied.get(person, set()) & (set(people_of[line][0]) | set(people_of[line][1]))
            ] or line_ids
            share = (
                f" (more than one line supplies {market.title()}; not linked to any line's people)"
                if len(lines_here) > 1
                else ""
            )
            for line in lines_here:
                entry = people_of[line][1].setdefault(person, {"evidence": [], "mentions": []})
                entry["evidence"].append(
                    f"found in {market.title()}, the line's market, {times} times after going "
                    "missing" + (f" (aged {age} the first time)" if age is not None else "") + share
                )
                entry["mentions"] += mention


def _ties(con: duckdb.DuckDBPyConnection, people: list[str]) -> dict[str, set[str]]:
    """The people each of `people` is directly related to (any person-person relation)."""
    ties: dict[str, set[str]] = defaultdict(set)
    for a, b in con.execute(
        """SELECT a, b FROM graph_edges WHERE a_type = 'person' AND b_type = 'person'
        AND (a IN (SELECT unnest($p::VARCHAR[])) OR b IN (SELECT unnest($p::VARCHAR[])))""",
        {"p": people},
    ).fetchall():
        ties[str(a)].add(str(b))
        ties[str(b)].add(str(a))
    return ties


def _runs(
    con: duckdb.DuckDBPyConnection, origin: str | None, market: str | None, rules: LineRules
) -> list[tuple[str, str | None, int, int, list[str]]]:
    """Vehicles read under one plate on `run_days` or more days both in the line's origin
    and in its market, over periods overlapping by `run_overlap_days` (runs back and
    forth, not a move of house): (vehicle, VRM, market days, origin days, a read in the
    market)."""
    if not origin or not market or origin.upper() == market.upper():
        return []
    rows = con.execute(
        """
        SELECT m.vehicle, m.vrm, m.days, o.days, [m.mention, o.mention]
        FROM cl_runs m
        JOIN cl_runs o ON o.vehicle = m.vehicle AND o.vrm = m.vrm AND o.town = $origin
        WHERE m.town = $market AND m.days >= $days AND o.days >= $days
          -- back and forth over the same months, not a keeper who moved house
          AND date_diff('day', greatest(m.first_day, o.first_day),
                        least(m.last_day, o.last_day)) >= $overlap
        ORDER BY m.days DESC, m.vehicle
        """,
        {
            "origin": origin.upper(),
            "market": market.upper(),
            "days": rules.run_days,
            "overlap": rules.run_overlap_days,
        },
    ).fetchall()
    return [(str(v), r, int(md), int(od), [str(m) for m in ms]) for v, r, md, od, ms in rows]


def _found_in(
    con: duckdb.DuckDBPyConnection, town: str, rules: LineRules
) -> list[tuple[str, int, str | None, list[str]]]:
    """People found in `town` at least `market_found` times after going missing: (person,
    times, first found, the found records and missing episodes)."""
    rows = con.execute(
        """
        SELECT entity_id, count(DISTINCT from_mention), min(found_at)::VARCHAR,
               list(DISTINCT from_mention) || list(DISTINCT episode)
                   FILTER (WHERE episode IS NOT NULL)
        FROM cl_found WHERE town = $town
        GROUP BY 1 HAVING count(DISTINCT from_mention) >= $times ORDER BY 1
        """,
        {"town": town.upper(), "times": rules.market_found},
    ).fetchall()
    return [(str(p), int(n), w, [str(m) for m in ms]) for p, n, w, ms in rows]


def _cuckooed(
    con: duckdb.DuckDBPyConnection,
    line_people: list[str],
    exclude: set[str],
    dobs: Dobs,
    offences: dict[str, int],
    rules: LineRules,
) -> dict[str, dict[str, Any]]:
    """Adults named with the line's people who are known to adult social care, or who are
    named with them repeatedly and are not offenders themselves: their homes are likely
    cuckooed. People in `exclude` (the lines' controllers and runners) are not."""
    found: dict[str, dict[str, Any]] = {}
    named = _named_with(con, line_people)
    if not named:
        return found
    candidates = [p for p, *_ in named]
    referrals: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for person, concern, when, mention in con.execute(
        """
        SELECT entity_id, concern, referred, mention_id FROM cl_referrals
        WHERE entity_id IN (SELECT unnest($c::VARCHAR[]))
        """,
        {"c": candidates},
    ).fetchall():
        referrals[str(person)].append((str(concern), str(when)[:10], str(mention)))
    for person, reports, when, seen in named:
        age, born = _aged(dobs, person, when)
        if person in exclude or (age is not None and age < rules.adult_age):
            continue
        refs = referrals.get(person, [])
        # without a referral, repeated reports about an adult who is not an offender
        if not refs and (reports < 2 or offences.get(person, 0) > 0):
            continue
        evidence = [
            f"named with the line's runners or controller in {reports} intelligence reports"
        ]
        evidence += [f"adult social care referral {d}: {c}" for c, d, _ in refs]
        found[person] = {
            "evidence": evidence,
            "mentions": [*seen, *born, *(m for *_, m in refs)],
        }
    return found
