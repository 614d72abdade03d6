"""The JSON API under /api/v1: thin routes over reads.py and oversight.py.

Every route takes its caller from `caller_reads` (a token or a session; CSRF for
cookie-borne changes; the purpose from `purpose` or `X-Purpose`), so every
route goes through the policy and the audit writer. Lists page with opaque
cursors (`next` in the answer, `cursor` in the next request).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from peelian.serve import models, oversight
from peelian.serve.access import (
    CSRF_HEADER,
    PURPOSE_HEADER,
    SAFE_METHODS,
    caller_client,
    check_csrf,
    identify,
    purpose_of,
)
from peelian.serve.problems import Problem
from peelian.serve.reads import Reads

router = APIRouter(
    prefix="/api/v1",
    responses={
        code: {"model": models.ProblemOut, "description": what}
        for code, what in (
            (400, "Bad request"),
            (401, "Sign-in or a valid API token required"),
            (403, "Not allowed by the access policy"),
            (404, "Not found (or not visible to you: the same answer)"),
            (413, "Request body too large"),
            (415, "Not application/json"),
            (422, "Invalid parameters or body"),
            (428, "Purpose of access required"),
        )
    },
)

EntityId = Annotated[
    str, Path(pattern=r"^[A-Z][0-9]{1,12}$", max_length=13, description="e.g. P00000042")
]
Purpose = Annotated[
    str | None,
    Query(
        max_length=300,
        description="Why: 'incident REF', 'crime REF' or 'reason CODE: note' "
        "(or the X-Purpose header); required for reads of personal data.",
    ),
]
Cursor = Annotated[str | None, Query(max_length=64, description="`next` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=100)]


def encode_cursor(position: int | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("p") or not text[1:].isdigit():
            raise ValueError
        return int(text[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(400, "not a cursor this API gave out", kind="bad-cursor") from None


def caller_reads(request: Request, purpose: Purpose = None) -> Iterator[Reads]:
    """The request's Reads: authenticated (401 otherwise), CSRF-checked for a
    cookie-borne change, with the purpose given."""
    app = request.app.state
    caller = identify(request, app.state_db)
    if caller is None:
        raise Problem(
            401,
            "sign in, or send an API token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = caller.principal
    if request.method not in SAFE_METHODS:
        check_csrf(caller, request.headers.get(CSRF_HEADER))
    given = purpose or request.headers.get(PURPOSE_HEADER)
    if given is None and caller.via == "session":  # the UI's scripts: the session's purpose
        given = purpose_of(request)
    hub = app.snapshots.current()  # the snapshot this request reads throughout
    request.state.snapshot = hub.snapshot
    reads = Reads(
        hub,
        app.state_db,
        caller.principal,
        client=caller_client(request, caller),
        purpose=given,
    )
    try:
        yield reads
    finally:
        reads.close()


R = Annotated[Reads, Depends(caller_reads)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DecisionIn(Strict):
    kind: Literal["same", "different"]
    a: str = Field(min_length=1, max_length=300)
    b: str = Field(min_length=1, max_length=300)
    reason: str = Field(min_length=3, max_length=1000)
    entity_type: Literal["person", "vehicle", "phone", "address", "location", "organisation"] = (
        "person"
    )


class RevokeIn(Strict):
    reason: str = Field(min_length=3, max_length=1000)


class VulnerabilityDecisionIn(Strict):
    decision: Literal["at_risk", "not_at_risk", "already_known"]
    note: str = Field(min_length=3, max_length=2000, description="why, as minuted")


class UserIn(Strict):
    username: str = Field(min_length=2, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=50)
    vetting: str = Field(min_length=1, max_length=10)
    password: str | None = Field(default=None, min_length=12, max_length=1024)


class UserChangeIn(Strict):
    change: Literal["role", "vetting", "disable", "enable", "add-team", "remove-team"]
    value: str = Field(default="", max_length=200)


@router.get("/me", summary="Who you are to the policy", response_model=models.Me)
def me(reads: R) -> Any:
    p = reads.principal
    return {
        "username": p.username,
        "role": p.role,
        "vetting": p.vetting,
        "clearance": p.clearance,
        "teams": sorted(p.teams),
        "operations": sorted(p.operations),
        "permissions": sorted(p.permissions),
    }


@router.get(
    "/search",
    summary="Search people, vehicles, phones, places and reports",
    response_model=models.SearchOut,
)
def search(
    reads: R,
    q: Annotated[str, Query(min_length=1, max_length=500, description="What to look for")],
    limit: Limit = 10,
    cursor: Cursor = None,
) -> Any:
    offset = decode_cursor(cursor)
    out = reads.search(q, limit=limit, offset=offset)
    total = out["total"] or 0
    out["next"] = encode_cursor(offset + limit) if offset + limit < min(total, 1000) else None
    return out


@router.get(
    "/entities/{entity_id}", summary="An entity's golden record", response_model=models.Profile
)
def entity(reads: R, entity_id: EntityId) -> Any:
    return reads.profile(entity_id)


@router.get(
    "/entities/{entity_id}/mentions",
    summary="The records an entity is built from",
    response_model=models.Mentions,
)
def entity_mentions(reads: R, entity_id: EntityId, cursor: Cursor = None, limit: Limit = 50) -> Any:
    out = reads.mentions(entity_id, offset=decode_cursor(cursor), limit=limit)
    out["next"] = encode_cursor(out["next"])
    return out


@router.get(
    "/entities/{entity_id}/history",
    summary="Merges and splits of an entity",
    response_model=models.History,
)
def entity_history(reads: R, entity_id: EntityId) -> Any:
    return reads.history(entity_id)


@router.get(
    "/entities/{entity_id}/explanation",
    summary="Why these records were merged",
    response_model=models.Explanation,
)
def entity_explanation(reads: R, entity_id: EntityId) -> Any:
    return reads.explanation(entity_id)


@router.get(
    "/entities/{entity_id}/timeline",
    summary="Events an entity takes part in",
    response_model=models.Timeline,
)
def entity_timeline(reads: R, entity_id: EntityId) -> Any:
    return reads.timeline(entity_id)


@router.get(
    "/entities/{entity_id}/links",
    summary="Linked people, objects and places",
    response_model=models.Links,
)
def entity_links(reads: R, entity_id: EntityId) -> Any:
    return reads.links(entity_id)


@router.get(
    "/graph/neighbourhood", summary="The network around entities", response_model=models.Network
)
def graph_neighbourhood(
    reads: R,
    ids: Annotated[list[str], Query(min_length=1, max_length=20)],
    depth: Annotated[int, Query(ge=1, le=2)] = 1,
) -> Any:
    from peelian.serve.reads import check_entity_id

    return reads.network([check_entity_id(i) for i in ids], depth=depth)


@router.get(
    "/graph/path",
    summary="The shortest chain of links between two entities",
    response_model=models.Path,
)
def graph_path(
    reads: R,
    start: Annotated[str, Query(alias="from", pattern=r"^[A-Z][0-9]{1,12}$", max_length=13)],
    end: Annotated[str, Query(alias="to", pattern=r"^[A-Z][0-9]{1,12}$", max_length=13)],
) -> Any:
    return reads.path(start, end)


@router.get(
    "/networks/groups",
    summary="Likely organised crime groups, with ranked members and reasons",
    response_model=models.Groups,
)
def network_groups(reads: R) -> Any:
    return reads.groups()


@router.get(
    "/networks/county-lines",
    summary="County lines: handsets, controllers, runners, cuckooed homes, origin-market flows",
    response_model=models.CountyLines,
)
def network_county_lines(reads: R) -> Any:
    return reads.county_lines()


@router.get(
    "/networks/labour-exploitation",
    summary="Possible labour-exploitation sites: shared contact phones, where, who controls",
    response_model=models.LabourSites,
)
def network_labour_sites(reads: R) -> Any:
    return reads.labour_sites()


@router.get(
    "/documents",
    summary="An intelligence report or narrative in full",
    response_model=models.Document,
)
def document(reads: R, mention: Annotated[str, Query(min_length=1, max_length=300)]) -> Any:
    return reads.document(mention)


@router.get(
    "/events",
    summary="Events with a place, and hotspots, for the map",
    response_model=models.Events,
)
def events(
    reads: R,
    types: Annotated[list[str] | None, Query(max_length=20)] = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    bbox: Annotated[
        str | None,
        Query(
            pattern=r"^-?\d{1,3}(\.\d+)?(,-?\d{1,3}(\.\d+)?){3}$",
            max_length=100,
            description="south,west,north,east",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 2000,
) -> Any:
    box = None
    if bbox:
        s, w, n, e = (float(v) for v in bbox.split(","))
        box = (s, w, n, e)
    return reads.events(types=types, since=since, until=until, bbox=box, limit=limit)


@router.get(
    "/dashboard", summary="Counts by month, type and source", response_model=models.Dashboard
)
def dashboard(reads: R) -> Any:
    return reads.dashboard()


KpiMonths = Annotated[int, Query(ge=1, le=36, description="Months the tables cover")]
TrendMonths = Annotated[int, Query(ge=1, le=12, description="Months each trend compares")]
KPI_NAMES = Literal[
    "counts", "by_area", "by_type", "by_month", "by_outcome", "trends_area",
    "trends_crime_type", "hotspots", "response", "breaches",
]  # fmt: skip


@router.get("/kpis", summary="Crime and response KPI tables", response_model=models.Kpis)
def kpis(reads: R, months: KpiMonths = 12, trend_months: TrendMonths = 1) -> Any:
    return reads.kpis(months=months, trend_months=trend_months)


@router.get(
    "/kpis/{name}.{fmt}",
    summary="One KPI table as CSV, or its chart as SVG or PNG",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "image/svg+xml": {}, "image/png": {}}}},
)
def kpi_file(
    reads: R,
    name: Annotated[KPI_NAMES, Path()],
    fmt: Annotated[Literal["csv", "svg", "png"], Path()],
    months: KpiMonths = 12,
    trend_months: TrendMonths = 1,
) -> Response:
    from peelian.analyse.charts import CHARTS, render_chart

    if fmt != "csv" and name not in CHARTS:
        raise Problem(404, f"{name} has no chart; its table is /api/v1/kpis/{name}.csv")
    table = reads.kpi_table(name, months=months, trend_months=trend_months)
    if fmt == "csv":
        body: str | bytes = table.to_csv()
        media = "text/csv; charset=utf-8"
    else:
        body, media = render_chart(table, fmt)
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


@router.get(
    "/harm", summary="Offenders ranked by harm, with RFG", response_model=models.HarmRanking
)
def harm(
    reads: R,
    cursor: Cursor = None,
    limit: Limit = 50,
    area: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9 _-]+$")] = None,
) -> Any:
    out = reads.harm(limit=limit, offset=decode_cursor(cursor), area=area)
    out["next"] = encode_cursor(out["next"])
    return out


@router.get(
    "/incidents/open",
    summary="Open incidents by grade with THRIVE and the nearest available resources",
    response_model=models.Incidents,
)
def incidents_open(
    reads: R,
    at: Annotated[
        dt.datetime | None,
        Query(description="The moment to show (ISO 8601; without an offset, force local time)"),
    ] = None,
) -> Any:
    return reads.incidents(at=at)


@router.get("/quality", summary="Data quality per source", response_model=models.Quality)
def quality(reads: R) -> Any:
    return reads.quality()


@router.get("/review", summary="The match review queue", response_model=models.ReviewQueue)
def review(reads: R, cursor: Cursor = None, limit: Limit = 20) -> Any:
    out = reads.review_queue(offset=decode_cursor(cursor), limit=limit)
    out["next"] = encode_cursor(out["next"])
    return out


@router.get("/decisions", summary="Active match decisions", response_model=models.Decisions)
def decisions(reads: R) -> Any:
    return reads.decisions()


@router.post(
    "/decisions", status_code=201, summary="Link or unlink records", response_model=models.Decision
)
def decide(reads: R, body: DecisionIn) -> Any:
    return reads.decide(body.kind, body.a, body.b, reason=body.reason, entity_type=body.entity_type)


@router.post(
    "/decisions/{decision_id}/revoke", summary="Revoke a decision", response_model=models.Decision
)
def revoke(reads: R, decision_id: Annotated[int, Path(ge=1, le=2**31)], body: RevokeIn) -> Any:
    return reads.revoke(decision_id, reason=body.reason)


@router.get(
    "/vulnerability",
    summary="The advisory list of children and adults at risk of exploitation",
    response_model=models.VulnerabilityList,
)
def vulnerability(
    reads: R,
    population: Literal["child", "adult"] = "child",
    scorer: Literal["points", "model"] = "points",
    decided: Annotated[
        bool, Query(description="people the meeting has decided on, instead of the agenda")
    ] = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Any:
    out = reads.vulnerability(
        population=population, scorer=scorer, decided=decided, limit=limit,
        offset=decode_cursor(cursor),
    )  # fmt: skip
    out["next"] = encode_cursor(out["next"])
    return out


@router.post(
    "/vulnerability/{entity_id}/decision",
    status_code=201,
    summary="Record the meeting's decision on a flagged person",
    response_model=models.VulnerabilityDecision,
)
def vulnerability_decide(reads: R, entity_id: EntityId, body: VulnerabilityDecisionIn) -> Any:
    return reads.decide_vulnerability(entity_id, body.decision, note=body.note)


@router.get("/audit", summary="The audit log (auditors)", response_model=models.AuditLog)
def audit_log(
    reads: R,
    user: Annotated[str | None, Query(max_length=100)] = None,
    entity: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=50)] = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Any:
    before = decode_cursor(cursor) or None
    out = oversight.audit_log(
        reads, user=user, entity=entity, action=action, since=since, until=until,
        before=before, limit=limit,
    )  # fmt: skip
    out["next"] = encode_cursor(out["next"])
    return out


@router.get(
    "/audit/verify",
    summary="Check the audit chain (auditors, administrators)",
    response_model=models.Verification,
)
def audit_verify(reads: R) -> Any:
    return oversight.audit_verify(reads)


@router.get("/audit/alerts", summary="Misuse alerts (auditors)", response_model=models.Alerts)
def audit_alerts(
    reads: R, since: dt.date | None = None, until: dt.date | None = None, limit: Limit = 100
) -> Any:
    return oversight.alerts(reads, since=since, until=until, limit=limit)


@router.get(
    "/users",
    summary="User accounts, teams and operations (administrators)",
    response_model=models.Users,
)
def users(reads: R) -> Any:
    return oversight.users(reads)


@router.post(
    "/users", status_code=201, summary="Add a user (administrators)", response_model=models.Account
)
def add_user(reads: R, body: UserIn) -> Any:
    return oversight.add_user(
        reads, body.username, body.name, body.role, body.vetting, body.password
    )


@router.post(
    "/users/{username}", summary="Change a user (administrators)", response_model=models.Account
)
def change_user(
    reads: R,
    username: Annotated[str, Path(min_length=2, max_length=100)],
    body: UserChangeIn,
) -> Any:
    return oversight.change_user(reads, username, body.change, body.value)
