"""`peelian eval network`: groups, county lines, runners and cuckooed addresses against
the synthetic truth (`truth/ocg_members.parquet`, `truth/county_lines.json`).

Entities are tied to true people through their mentions (`truth/mentions.parquet`,
the same join as `peelian eval resolve`): an entity is the person most of its
mentions are. A true person the hub never recorded can't be found by any analytic,
so recall counts only people with at least one entity ("known to the hub"); the
report also says how many were unknown.

- Organised crime groups: each true group is paired with the reported group holding
  most of its members; member precision is the share of that group's people who are
  members, member recall the share of the known members it holds. Adjusted Rand index
  over the people who are members of a true or a reported group, everyone else in a
  group of their own.
- County lines: a reported line is right when most of its deal phones are deal phones
  of one true line; line recall is the share of true lines so found (lines whose
  phones the call records never show count as missed). A right line's market is right
  when it names the true line's market town (no market named counts as wrong).
- Line vehicles: a flagged vehicle is right when its reads are (mostly) of a true
  line's vehicle, whatever plate it was read under (lines sharing an origin and a
  market share their flags); recall over the true lines' vehicles.
- Runners: children flagged as a line's runners against the true runners.
- Cuckooed addresses: a flag names the home by its occupant (the vulnerable adult) and,
  where the hub holds one, the address; it is right when the occupant is a true victim.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from peelian.hub import has_table
from peelian.resolve.evaluate import TruthError, load_truth


@dataclass
class GroupScore:
    ocg_id: str
    members: int  # true members
    known: int  # of which the hub knows
    matched_group: str | None
    group_size: int
    overlap: int

    @property
    def precision(self) -> float:
        return self.overlap / self.group_size if self.group_size else 0.0

    @property
    def recall(self) -> float:
        return self.overlap / self.known if self.known else 0.0


@dataclass
class Rate:
    found: int
    total: int

    @property
    def value(self) -> float:
        return self.found / self.total if self.total else 0.0


@dataclass
class NetworkEvaluation:
    groups: list[GroupScore]
    reported_groups: int
    ari: float
    line_precision: Rate = field(default_factory=lambda: Rate(0, 0))
    line_recall: Rate = field(default_factory=lambda: Rate(0, 0))
    market_right: Rate = field(default_factory=lambda: Rate(0, 0))
    vehicle_precision: Rate = field(default_factory=lambda: Rate(0, 0))
    vehicle_recall: Rate = field(default_factory=lambda: Rate(0, 0))
    runner_recall: Rate = field(default_factory=lambda: Rate(0, 0))
    runner_precision: Rate = field(default_factory=lambda: Rate(0, 0))
    cuckooed_precision: Rate = field(default_factory=lambda: Rate(0, 0))
    cuckooed_recall: Rate = field(default_factory=lambda: Rate(0, 0))
    site_precision: Rate = field(default_factory=lambda: Rate(0, 0))
    site_recall: Rate = field(default_factory=lambda: Rate(0, 0))
    controller_recall: Rate = field(default_factory=lambda: Rate(0, 0))
    controller_precision: Rate = field(default_factory=lambda: Rate(0, 0))
    worker_precision: Rate = field(default_factory=lambda: Rate(0, 0))
    worker_recall: Rate = field(default_factory=lambda: Rate(0, 0))
    notes: list[str] = field(default_factory=list)

    @property
    def member_precision(self) -> float:
        scored = [g for g in self.groups if g.known]
        return sum(g.precision for g in scored) / len(scored) if scored else 0.0

    @property
    def member_recall(self) -> float:
        scored = [g for g in self.groups if g.known]
        return sum(g.recall for g in scored) / len(scored) if scored else 0.0


def entity_people(
    con: duckdb.DuckDBPyConnection, truth: Path, entity_type: str = "person"
) -> dict[str, str]:
    """Each entity (a person, by default) -> the true one most of its mentions are."""
    load_truth(con, truth, entity_type)
    rows = con.execute(
        """SELECT predicted, arg_max(truth, n) FROM (
               SELECT predicted, truth, count(*) AS n FROM eval_pairs GROUP BY ALL)
           GROUP BY 1"""
    ).fetchall()
    return {str(e): str(p) for e, p in rows}


def _ari(truth_labels: list[str | None], predicted_labels: list[str | None]) -> float:
    import igraph as ig

    def numbered(labels: list[str | None]) -> list[int]:
        codes: dict[str, int] = {}
        out = []
        for k, label in enumerate(labels):
            key = label if label is not None else f"\0{k}"  # unassigned: a group of one
            out.append(codes.setdefault(key, len(codes)))
        return out

    if len(truth_labels) < 2:
        return 0.0
    return float(
        ig.compare_communities(numbered(truth_labels), numbered(predicted_labels), method="ari")
    )


def evaluate_network(con: duckdb.DuckDBPyConnection, truth: Path) -> NetworkEvaluation:
    """Score the hub's network tables against the truth folder."""
    members_file = truth / "ocg_members.parquet"
    if not members_file.exists():
        raise TruthError(f"{truth} holds no ocg_members.parquet (not a synthetic force truth?)")
    person_of = entity_people(con, truth)
    known_people = set(person_of.values())
    true_members = con.execute(
        "SELECT ocg_id, person_id FROM read_parquet($f)", {"f": str(members_file)}
    ).fetchall()
    ocg_of = {str(p): str(o) for o, p in true_members}
    by_ocg: dict[str, set[str]] = defaultdict(set)
    for o, p in true_members:
        by_ocg[str(o)].add(str(p))
    reported: dict[str, set[str]] = defaultdict(set)
    for group_id, entity_id in con.execute(
        "SELECT group_id, entity_id FROM network_group_members WHERE role = 'member'"
    ).fetchall():
        # an entity the truth can't name is a wrong member: counted as someone else
        reported[str(group_id)].add(person_of.get(str(entity_id), f"?{entity_id}"))
    scores = []
    for ocg_id in sorted(by_ocg):
        members = by_ocg[ocg_id]
        known = members & known_people
        best, overlap = None, 0
        for group_id, people in sorted(reported.items()):
            o = len(people & known)
            if o > overlap:
                best, overlap = group_id, o
        scores.append(
            GroupScore(
                ocg_id,
                len(members),
                len(known),
                best,
                len(reported[best]) if best else 0,
                overlap,
            )
        )
    group_of: dict[str, str] = {}
    for group_id, people in reported.items():
        for p in people:
            group_of.setdefault(p, group_id)
    universe = sorted((set(ocg_of) & known_people) | set(group_of))
    ari = _ari([ocg_of.get(p) for p in universe], [group_of.get(p) for p in universe])
    result = NetworkEvaluation(scores, len(reported), ari)
    lines_file = truth / "county_lines.json"
    if lines_file.exists() and has_table(con, "county_lines"):
        _score_lines(
            con, json.loads(lines_file.read_text(encoding="utf-8")), person_of, result, truth
        )
    sites_file = truth / "labour_sites.json"
    if sites_file.exists() and has_table(con, "slavery_sites"):
        _score_sites(con, json.loads(sites_file.read_text(encoding="utf-8")), person_of, result,
                     truth)  # fmt: skip
    return result


def _score_sites(
    con: duckdb.DuckDBPyConnection,
    sites: list[dict[str, Any]],
    person_of: dict[str, str],
    result: NetworkEvaluation,
    truth: Path,
) -> None:
    """Labour-exploitation sites against `labour_sites.json`: a flagged site is right
    when its phone is a true site's phone, its address a true site's address, or its
    people that site's controller or two of its workers; controllers and workers by
    person, over the true ones the hub knows (an entity the truth can't name counts as
    wrong)."""
    phone_of = entity_people(con, truth, "phone")
    address_of = entity_people(con, truth, "address")
    flagged = con.execute(
        "SELECT site_id, phone_entity, address_entity FROM slavery_sites"
    ).fetchall()
    people: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for site_id, entity_id, role in con.execute(
        "SELECT site_id, entity_id, role FROM slavery_people"
    ).fetchall():
        people[str(site_id)][str(role)].add(person_of.get(str(entity_id), f"?{entity_id}"))
    found: set[str] = set()
    right = 0
    for site_id, phone, address in flagged:
        them = people[str(site_id)]
        hits = {
            s["site_id"]
            for s in sites
            if s["phone_id"] == phone_of.get(str(phone))
            or (address is not None and s["address_id"] == address_of.get(str(address)))
            or s["controller_id"] in them["controller"]
            or len(set(s["worker_ids"]) & them["worker"]) >= 2
        }
        right += bool(hits)
        found |= hits
    result.site_precision = Rate(right, len(flagged))
    result.site_recall = Rate(len(found), len(sites))
    known = set(person_of.values())
    for role, true_people, precision_attr, recall_attr in (
        (
            "controller",
            {s["controller_id"] for s in sites},
            "controller_precision",
            "controller_recall",
        ),
        (
            "worker",
            {w for s in sites for w in s["worker_ids"]},
            "worker_precision",
            "worker_recall",
        ),
    ):
        named = [
            person_of.get(str(e), f"?{e}")
            for (e,) in con.execute(
                "SELECT DISTINCT entity_id FROM slavery_people WHERE role = $r", {"r": role}
            ).fetchall()
        ]
        setattr(result, precision_attr, Rate(sum(p in true_people for p in named), len(named)))
        in_hub = true_people & known
        setattr(result, recall_attr, Rate(len(in_hub & set(named)), len(in_hub)))


def _score_lines(
    con: duckdb.DuckDBPyConnection,
    lines: list[dict[str, Any]],
    person_of: dict[str, str],
    result: NetworkEvaluation,
    truth: Path,
) -> None:
    from peelian.standardise.contact import parse_phone

    line_of_number: dict[str, str] = {}
    for line in lines:
        for p in line["deal_phones"]:
            number = parse_phone(p["number"]).e164
            if number:
                line_of_number[number] = line["line_id"]
    found: set[str] = set()
    right = 0
    reported = con.execute(
        "SELECT line_id, list(number) FROM county_line_phones GROUP BY 1 ORDER BY 1"
    ).fetchall()
    true_line_of: dict[str, str] = {}
    for line_id, numbers in reported:
        votes = Counter(line_of_number.get(str(n)) for n in numbers)
        best, n = votes.most_common(1)[0]
        if best is not None and n * 2 > len(numbers):
            right += 1
            found.add(best)
            true_line_of[str(line_id)] = best
    result.line_precision = Rate(right, len(reported))
    result.line_recall = Rate(len(found), len(lines))
    true_market = {line["line_id"]: str(line["market"]).upper() for line in lines}
    markets = dict(con.execute("SELECT line_id, market_town FROM county_lines").fetchall())
    named = [line for line in true_line_of if markets.get(line)]
    result.market_right = Rate(
        sum(1 for line in named if str(markets[line]).upper() == true_market[true_line_of[line]]),
        len(true_line_of),
    )

    # vehicles: a flagged vehicle is right when it is the vehicle of a true line the
    # reported line was matched to
    # vehicles: a flagged vehicle is right when it is a true line's vehicle (lines that
    # share an origin and a market share the flags: which line's runs they are, the
    # records can't say)
    vehicle_of = entity_people(con, truth, "vehicle")
    line_vehicles = {str(line["vehicle_id"]) for line in lines if line.get("vehicle_id")}
    flagged_vehicles = {
        vehicle_of.get(str(e), f"?{e}")
        for (e,) in con.execute(
            "SELECT DISTINCT vehicle_entity FROM county_line_vehicles"
        ).fetchall()
    }
    result.vehicle_precision = Rate(len(flagged_vehicles & line_vehicles), len(flagged_vehicles))
    result.vehicle_recall = Rate(len(flagged_vehicles & line_vehicles), len(line_vehicles))

    runners = {r["person_id"] for line in lines for r in line["runners"]}
    flagged = {
        person_of.get(str(e), f"?{e}")
        for (e,) in con.execute("SELECT entity_id FROM county_line_runners").fetchall()
    }
    known_runners = runners & set(person_of.values())
    result.runner_recall = Rate(len(flagged & known_runners), len(known_runners))
    result.runner_precision = Rate(len(flagged & runners), len(flagged))
    if len(known_runners) < len(runners):
        result.notes.append(
            f"{len(runners) - len(known_runners)} of {len(runners)} runners never appear "
            "in the hub's records and are left out of runner recall"
        )

    # a cuckooed home is named by its occupant (the vulnerable adult) and, where the hub
    # holds it, the address: a flag is right when its occupant is a true victim
    victims = {c["person_id"] for line in lines for c in line["cuckooed"]}
    flagged_victims: set[str] = set()
    without_address = 0
    for person, address in con.execute(
        "SELECT DISTINCT person_entity, address FROM county_line_addresses"
    ).fetchall():
        flagged_victims.add(person_of.get(str(person), f"?{person}"))
        without_address += address is None
    known_victims = victims & set(person_of.values())
    result.cuckooed_precision = Rate(len(flagged_victims & victims), len(flagged_victims))
    result.cuckooed_recall = Rate(len(flagged_victims & known_victims), len(known_victims))
    if without_address:
        result.notes.append(
            f"{without_address} cuckooed flags name the occupant but no recorded address"
        )
    if len(known_victims) < len(victims):
        result.notes.append(
            f"{len(victims) - len(known_victims)} of {len(victims)} cuckooed occupants never "
            "appear in the hub's records"
        )
