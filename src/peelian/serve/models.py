"""The API's answers as Pydantic models: the contract the OpenAPI document shows.

Each mirrors the dict a reads.py / oversight.py function returns; FastAPI
validates every answer against its model, so a field can't appear in an answer
without appearing here first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class Me(BaseModel):
    username: str
    role: str
    vetting: str
    clearance: str
    teams: list[str]
    operations: list[str]
    permissions: list[str]


class Matched(BaseModel):
    field: str
    value: str
    how: str


class Hit(BaseModel):
    id: str = Field(description="Entity id, or doc:<mention id>:<field> for a text")
    kind: str
    label: str
    score: float
    matched: list[Matched]
    snippet: str | None = Field(None, description="HTML-escaped text, matches in <b>")
    marking: str | None
    handling: list[str]
    warnings: list[str]
    record: dict[str, Any] = Field(description="What the index shows of the result")


class SearchOut(BaseModel):
    query: str
    understood: dict[str, Any]
    total: int | None
    total_exact: bool
    offset: int
    limit: int
    took_ms: float
    index: str
    facets: dict[str, dict[str, int]]
    restricted: list[str] = Field(description="Notices that restricted information exists")
    hits: list[Hit]
    next: str | None = None


class GoldenValue(BaseModel):
    value: str
    chosen: bool
    sources: list[str]
    mentions: int
    last_seen: str | None


class GoldenField(BaseModel):
    field: str
    values: list[GoldenValue]


class Profile(BaseModel):
    id: str
    type: str
    label: str
    warnings: list[str]
    marking: str | None
    handling: list[str]
    sources: list[str]
    mentions: int = Field(description="Records of the entity the reader may see")
    first_seen: str | None
    last_seen: str | None
    fields: list[GoldenField]
    harm: PersonHarm | None = Field(
        None, description="Harm and RFG from the offences the reader may see (people only)"
    )
    mentioned_in: MentionedIn | None = Field(
        None, description="Documents the reader may see whose text names the entity"
    )


class MentionedItem(BaseModel):
    document: str
    source: str | None
    date: str | None
    as_written: list[str]
    confidence: float
    sentence: str | None = Field(description="Null for roles that may not read documents")


class MentionedIn(BaseModel):
    total: int
    readable: bool
    items: list[MentionedItem]


class Offence(BaseModel):
    reference: str | None
    date: str | None
    crime_type: str | None
    subgroup: str | None
    offence: str | None
    role: str | None
    cchi: float
    ons: float


class PersonHarm(BaseModel):
    offences: int
    harm_cchi: float
    harm_ons: float
    rfg: float
    recency: float
    frequency: int
    gravity: float
    index: str
    as_of: str
    band: str
    gravest: Offence
    listed: list[Offence]


class KpiTable(BaseModel):
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str]


class Kpis(BaseModel):
    months: int
    trend_months: int
    tables: dict[str, KpiTable]


class HarmItem(BaseModel):
    rank: int
    entity_id: str
    label: str
    offences: int
    harm_cchi: float
    harm_ons: float
    latest: str | None
    rfg: float
    recency: float
    frequency: int
    gravity: float
    listed: list[Offence]


class HarmRanking(BaseModel):
    title: str
    notes: list[str]
    items: list[HarmItem]
    next: str | None = Field(None, description="cursor of the next page")


class VulnerabilityDecision(BaseModel):
    id: int | None = None
    entity_id: str | None = None
    decision: str
    note: str
    by: str
    decided_at: dt.datetime


class VulnerabilityRecord(BaseModel):
    happened: dt.datetime
    indicator: str
    detail: str
    mentions: list[str]


class VulnerabilityItem(BaseModel):
    entity_id: str
    label: str
    age: int | None
    points: int = Field(description="the list's points (mitigated when `mitigated`)")
    probability: float | None = Field(None, description="calibrated (trained model)")
    mitigated: bool = Field(
        description="points, probability and reasons leave out recorded police contact"
    )
    points_mitigated: int
    probability_mitigated: float | None
    points_as_is: int = Field(description="points counting recorded police contact")
    probability_as_is: float | None
    reasons: list[str] = Field(description="the points screen's reasons, largest first")
    model_reasons: list[str] = Field(description="the trained model's largest contributions")
    first_flagged: dt.date | None = Field(
        None, description="first week this scorer would have flagged them"
    )
    recorded: dt.date | None = Field(None, description="first recorded as exploited, if ever")
    decision: VulnerabilityDecision | None
    new_records_since_decision: bool
    records: list[VulnerabilityRecord] = Field(
        description="what the flag rests on, newest first: each indicator's record and any "
        "record saying they were recorded as exploited (indicator 'recorded')"
    )


class VulnerabilityList(BaseModel):
    as_of: dt.date | None
    model_trained: bool
    population: str
    scorer: str
    decided: bool
    agenda: int = Field(description="people flagged and not yet decided on")
    decided_count: int
    items: list[VulnerabilityItem]
    next: str | None = Field(None, description="cursor of the next page")


class Resource(BaseModel):
    resource: str
    callsign: str
    status: str
    km: float
    eta_minutes: float
    lat: float
    lon: float


class OpenIncident(BaseModel):
    incident_id: str
    reference: str | None
    called: str | None
    grade: int | None
    area_type: str | None
    opening_code: str | None
    beat: str | None
    thrive: dict[str, str | None]
    state: str
    resource: str | None
    lat: float | None
    lon: float | None
    minutes_since_call: float | None
    target_minutes: float | None
    overdue: bool
    resources: list[Resource]


class Incidents(BaseModel):
    at: str
    source: str = Field(description="'hub' (records at `at`) or 'live feed NAME'")
    live: bool
    feed_stopped: str | None = Field(
        None, description="When a feed that is no longer written to was last updated"
    )
    open: int
    by_grade: dict[str, int]
    items: list[OpenIncident]


class Mention(BaseModel):
    mention_id: str
    source: str
    record_id: str
    marking: str
    handling: str | None
    compartment: str | None


class Mentions(BaseModel):
    items: list[Mention]
    total: int
    next: str | None


class HistoryItem(BaseModel):
    run: str
    at: str | None
    event: str
    related: list[str]


class History(BaseModel):
    items: list[HistoryItem]


class Join(BaseModel):
    a: str
    b: str
    weight: float | None
    by: str


class ExplainedMention(BaseModel):
    mention_id: str
    source: str


class ExplainedHistory(BaseModel):
    run: str
    event: str
    related: list[str]


class Explanation(BaseModel):
    id: str
    mentions: list[ExplainedMention]
    joins: list[Join]
    history: list[ExplainedHistory]


class TimelineItem(BaseModel):
    event_id: str
    type: str
    role: str | None
    reference: str | None
    at: str | None
    beat: str | None
    summary: str | None
    marking: str
    handling: str | None
    point: list[float] | None
    text: str | None = None


class Timeline(BaseModel):
    items: list[TimelineItem]
    total: int
    by_type: dict[str, int]


class Linked(BaseModel):
    id: str
    type: str
    label: str
    relations: dict[str, int]
    count: int
    last: str | None


class Links(BaseModel):
    items: list[Linked]


class Node(BaseModel):
    id: str
    type: str
    label: str
    records: int
    harm: float = Field(0.0, description="Harm of the offences the reader may see (people)")
    community: int
    focus: bool


class Edge(BaseModel):
    source: str
    target: str
    relations: dict[str, int]
    weight: int


class Network(BaseModel):
    nodes: list[Node]
    edges: list[Edge]
    truncated: bool


class GroupPerson(BaseModel):
    id: str
    label: str
    role: str = Field(description="member (in contact by phone or vehicle) or associate")
    rank: int
    score: float
    offences: int
    broker: bool = Field(description="in, or linked to, two or more groups")
    reasons: str


class Group(BaseModel):
    id: str
    members: int
    associates: int
    offenders: int
    contact_pairs: int
    score: float
    reasons: str
    people: list[GroupPerson]


class Groups(BaseModel):
    items: list[Group]


class LinePhone(BaseModel):
    id: str
    number: str | None
    handset: int
    evidence: str


class LinePerson(BaseModel):
    id: str
    label: str
    role: str = Field(
        description="controller (adult), runner (child) or handler (rung by the line; age unknown)"
    )
    evidence: str


class LineVehicle(BaseModel):
    id: str
    vrm: str | None
    evidence: str


class CuckooedHome(BaseModel):
    person: str
    label: str
    address: str | None
    town: str | None
    evidence: str


class CountyLine(BaseModel):
    id: str
    handsets: int
    contacts: int
    bulk_texts: int
    first_seen: str | None
    last_seen: str | None
    origin: str | None = Field(description="the town the controllers live in (the hub)")
    market: str | None = Field(description="the town the line supplies")
    evidence: str
    phones: list[LinePhone]
    people: list[LinePerson]
    vehicles: list[LineVehicle]
    cuckooed: list[CuckooedHome]


class Flow(BaseModel):
    origin: str
    market: str
    lines: int


class CountyLines(BaseModel):
    items: list[CountyLine]
    flows: list[Flow] = Field(description="lines from each origin town to each market town")
    safeguarding_shown: bool = Field(
        description="whether runners and cuckooed homes are included (vulnerability.view)"
    )


class LabourPerson(BaseModel):
    id: str
    label: str
    role: str = Field(description="controller, or worker (shown to vulnerability.view only)")
    evidence: str


class LabourSite(BaseModel):
    id: str
    phone: str = Field(description="the phone entity the adults give as their own")
    number: str | None
    address_id: str | None = Field(description="the address most of them are recorded at")
    address: str | None
    workers: int
    surnames: int
    adults_at_address: int
    reports: int = Field(description="intelligence reports saying someone controls them")
    evidence: str
    people: list[LabourPerson]


class LabourSites(BaseModel):
    items: list[LabourSite]
    safeguarding_shown: bool = Field(
        description="whether the workers (victims) are included (vulnerability.view)"
    )


class Step(BaseModel):
    id: str
    type: str
    label: str
    via: str | None


class Path(BaseModel):
    found: bool
    hops: int
    steps: list[Step]


class Text(BaseModel):
    field: str
    text: str


class Document(BaseModel):
    mention_id: str
    source: str
    record_id: str
    type: str | None
    reference: str | None
    at: str | None
    marking: str
    handling: str | None
    texts: list[Text]


class Point(BaseModel):
    event_id: str
    type: str
    reference: str | None
    at: str | None
    lat: float
    lon: float
    marking: str


class Hotspot(BaseModel):
    cell: str = Field(description="H3 cell id")
    lat: float
    lon: float
    count: int
    boundary: list[list[float]] = Field(description="The hexagon's corners, [lon, lat], closed")


class Events(BaseModel):
    points: list[Point]
    hotspots: list[Hotspot]
    by_type: dict[str, int]
    total: int


class Dashboard(BaseModel):
    events_by_month: dict[str, dict[str, int]]
    records_by_source: dict[str, int]
    entities_by_type: dict[str, int]
    crimes_by_type: dict[str, int]


class Reason(BaseModel):
    reason: str
    rows: int


class FieldQuality(BaseModel):
    kind: str
    field: str
    mentions: int
    present: int
    flagged: int


class SourceQuality(BaseModel):
    source: str
    read: int
    accepted: int
    quarantined: int
    last_run: str | None
    quarantine_reasons: list[Reason]
    fields: list[FieldQuality]


class Quality(BaseModel):
    sources: list[SourceQuality]


class Pair(BaseModel):
    a: str
    b: str
    entity_a: str | None
    entity_b: str | None
    weight: float | None
    probability: float | None
    reason: str
    impact: int
    source_a: str
    source_b: str
    pairs: int = Field(description="Pairs of records behind this pair of people")


class ReviewQueue(BaseModel):
    items: list[Pair]
    total: int = Field(description="Pairs of people (entities) to review")
    record_pairs: int = Field(description="Pairs of records behind them")
    next: str | None


class Decision(BaseModel):
    id: int
    kind: str
    entity_type: str
    a: str
    b: str
    by: str
    reason: str
    created_at: str | None
    revoked: bool


class Decisions(BaseModel):
    items: list[Decision]


class AuditEvent(BaseModel):
    seq: int
    at: str
    user: str
    action: str
    target: str | None
    purpose: str | None
    client: str | None
    outcome: str
    detail: dict[str, Any] | None


class AuditLog(BaseModel):
    items: list[AuditEvent]
    next: str | None


class Verification(BaseModel):
    ok: bool
    checked: int = Field(description="Events found sound (up to the last, when ok)")
    since: int = Field(
        description="Events up to this one were checked before by this server; those after "
        "it now (0: the whole chain now)"
    )
    walked_at: str | None = Field(description="When this server last walked the whole chain")
    first_bad_seq: int | None
    problem: str | None


class Alerts(BaseModel):
    total: int
    items: list[dict[str, Any]] = Field(description="Each alert with its evidence")


class Account(BaseModel):
    username: str
    name: str
    role: str
    vetting: str
    teams: list[str]
    disabled: bool
    last_login_at: str | None
    locked: bool


class OperationOut(BaseModel):
    name: str
    team: str
    disclose: bool
    closed: bool


class Users(BaseModel):
    items: list[Account]
    teams: dict[str, list[str]]
    operations: list[OperationOut]


class ProblemOut(BaseModel):
    """An error (RFC 9457 problem details, application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
