"""The web UI: server-rendered pages over the same reads as the API.

Pages render the dicts reads.py returns (so a page and its API route show the
same data). Signed-in users carry a session cookie; every form carries the
session's CSRF token; the sign-in form a double-submit token of its own. A page
that needs a purpose of access sends the officer to the purpose form first and
back afterwards. No inline script or style (the CSP forbids them): the network
explorer and the map are static scripts that call the JSON API with the cookie.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from peelian.analyse.kpis import LABELS as KPI_LABELS
from peelian.govern.policy import PERMISSIONS, ROLES
from peelian.govern.purpose import REASONS, PurposeError, parse_purpose
from peelian.serve import oversight
from peelian.serve.access import (
    LOGIN_COOKIE,
    PURPOSE_COOKIE,
    SESSION_COOKIE,
    Caller,
    caller_client,
    check_csrf,
    client_of,
    identify,
    purpose_cookie,
    purpose_of,
)
from peelian.serve.problems import Problem
from peelian.serve.reads import Reads
from peelian.state.accounts import SESSION_HOURS, AuthenticationError

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def highlighted(snippet: str) -> Markup:
    """A search snippet (the index's HTML: text escaped, matches in <b>) as markup
    with the matches in <mark>; every text part is unescaped and escaped again, so
    only the index's own tags survive."""
    parts = re.split(r"(</?b>)", snippet)
    return Markup("").join(
        Markup("<mark>" if part == "<b>" else "</mark>")
        if part in ("<b>", "</b>")
        else escape(html.unescape(part))
        for part in parts
    )


TEMPLATES.env.filters["highlighted"] = highlighted
TEMPLATES.env.globals["kpi_labels"] = KPI_LABELS
web_router = APIRouter(include_in_schema=False)

SectionLinks = list[tuple[str, str, str]]  # (href, text, permission)
NAV: SectionLinks = [
    ("/search", "Search", "search"),
    ("/quick", "Quick check", "search"),
    ("/network", "Network", "graph.view"),
    ("/networks/groups", "Groups", "graph.view"),
    ("/networks/county-lines", "County lines", "graph.view"),
    ("/networks/labour-exploitation", "Labour exploitation", "graph.view"),
    ("/map", "Map", "map.view"),
    ("/dashboard", "Dashboard", "dashboard.view"),
    ("/incidents", "Incidents", "map.view"),
    ("/harm", "Harm", "graph.view"),
    ("/vulnerability", "Exploitation", "vulnerability.view"),
    ("/quality", "Data quality", "dashboard.view"),
    ("/review", "Review", "review.view"),
    ("/audit", "Audit", "audit.view"),
    ("/audit/alerts", "Alerts", "alerts.view"),
    ("/admin/users", "Users", "users.manage"),
]


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in or a purpose (never another site)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target[:500]


def render(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    caller: Caller | None = getattr(request.state, "caller", None)
    principal = caller.principal if caller else None
    base = {
        "request": request,
        "me": principal,
        "nav": [(h, t) for h, t, p in NAV if principal is not None and principal.may(p)],
        "csrf": caller.csrf if caller else None,
        "purpose": purpose_of(request),
        "path": request.url.path,
        "may": (lambda p: principal is not None and principal.may(p)),
    }
    return TEMPLATES.TemplateResponse(request, name, {**base, **context}, status_code=status)


def form_date(value: str | None, label: str) -> dt.date | None:
    """A date from a form field (YYYY-MM-DD); None when left empty."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Problem(400, f"{label}: {value[:10]!r} is not a date (YYYY-MM-DD)") from None


def page_error(request: Request, problem: Problem) -> Response:
    """The UI's answer to a problem: sign in, give a purpose, or an error page."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if problem.status == 401:
        response = RedirectResponse(f"/login?next={quote(here)}", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response
    if problem.status == 428 and request.method == "GET":
        return RedirectResponse(f"/purpose?next={quote(here)}", status_code=303)
    return render(
        request, "error.html", {"title": problem.title, "detail": problem.detail},
        status=problem.status,
    )  # fmt: skip


def page_reads(request: Request) -> Iterator[Reads]:
    """The signed-in user's reads (a session cookie only: no tokens in the UI)."""
    app = request.app.state
    if request.headers.get("authorization"):
        raise Problem(400, "the web pages take a signed-in session, not an API token")
    caller = identify(request, app.state_db)
    if caller is None:
        raise Problem(401, "sign in to continue")
    request.state.caller = caller
    request.state.principal = caller.principal
    hub = app.snapshots.current()  # the snapshot this request reads throughout
    request.state.snapshot = hub.snapshot
    reads = Reads(
        hub,
        app.state_db,
        caller.principal,
        client=caller_client(request, caller),
        purpose=purpose_of(request),
    )
    try:
        yield reads
    finally:
        reads.close()


PageReads = Annotated[Reads, Depends(page_reads)]
Csrf = Annotated[str, Form(alias="csrf_token", max_length=100)]


def _csrf(request: Request, given: str) -> None:
    check_csrf(request.state.caller, given)


# -- signing in and out ---------------------------------------------------------


@web_router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return login_page(request, next)


def login_page(request: Request, next: str | None, error: str | None = None) -> Response:
    """The sign-in form, with a message of ours (never one from the query string)."""
    token = secrets.token_urlsafe(24)
    settings = request.app.state.settings
    response = render(
        request,
        "login.html",
        {
            "login_token": token,
            "next": safe_next(next),
            "error": error,
            "oidc": settings.oidc.label if settings.oidc else None,
        },
        status=401 if error else 200,
    )
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict",
        secure=settings.secure_cookies, max_age=1800,
    )  # fmt: skip
    return response


@web_router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1024)],
    login_token: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE)
    if not expected or not secrets.compare_digest(expected, login_token):
        return login_page(request, next, "The sign-in form had expired; please try again.")
    accounts = request.app.state.state_db.accounts
    try:
        principal = accounts.authenticate(username.strip(), password, client=client_of(request))
    except AuthenticationError as exc:
        return login_page(request, next, str(exc).capitalize() + ".")
    return start_session(request, principal.username, safe_next(next))


def start_session(request: Request, username: str, target: str) -> Response:
    settings = request.app.state.settings
    earlier = request.cookies.get(SESSION_COOKIE)
    if earlier:  # signing in again in this browser ends the session it had
        request.app.state.state_db.accounts.end_session(earlier)
    session_id, _ = request.app.state.state_db.accounts.create_session(
        username, client=client_of(request)
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, samesite="strict",
        secure=settings.secure_cookies, max_age=SESSION_HOURS * 3600,
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE)
    response.delete_cookie(PURPOSE_COOKIE)
    return response


@web_router.post("/logout")
def logout(request: Request, reads: PageReads, csrf_token: Csrf) -> Response:
    _csrf(request, csrf_token)
    caller: Caller = request.state.caller
    if caller.session_id:
        reads.state.accounts.end_session(caller.session_id)
    reads.state.append_audit(reads.principal.username, "logout", client=reads.client)
    response = RedirectResponse("/login", status_code=303)
    for cookie in (SESSION_COOKIE, PURPOSE_COOKIE):
        response.delete_cookie(cookie)
    return response


# -- purpose of access ----------------------------------------------------------


@web_router.get("/purpose")
def purpose_page(reads: PageReads, request: Request, next: str | None = None) -> Response:
    return render(
        request, "purpose.html", {"next": safe_next(next), "reasons": REASONS, "error": None}
    )


@web_router.post("/purpose")
def set_purpose(
    request: Request,
    reads: PageReads,
    csrf_token: Csrf,
    kind: Annotated[str, Form(max_length=20)],
    reference: Annotated[str, Form(max_length=60)] = "",
    reason: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=250)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    _csrf(request, csrf_token)
    text = f"{kind} {reference}" if kind in ("incident", "crime") else f"reason {reason}: {note}"
    try:
        purpose = parse_purpose(text)
    except PurposeError as exc:
        return render(
            request, "purpose.html",
            {"next": safe_next(next), "reasons": REASONS, "error": str(exc)}, status=422,
        )  # fmt: skip
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        PURPOSE_COOKIE, purpose_cookie(purpose.text), httponly=True, samesite="strict",
        secure=request.app.state.settings.secure_cookies,
    )  # fmt: skip
    return response


# -- pages ----------------------------------------------------------------------


@web_router.get("/")
def home(request: Request, reads: PageReads) -> Response:
    p = reads.principal
    return render(
        request,
        "home.html",
        {"role": ROLES[p.role], "permissions": [PERMISSIONS[x] for x in sorted(p.permissions)]},
    )


@web_router.get("/search")
def search_page(
    request: Request,
    reads: PageReads,
    q: Annotated[str, Query(max_length=500)] = "",
    page: Annotated[int, Query(ge=1, le=100)] = 1,
) -> Response:
    result = None
    if q.strip():
        result = reads.search(q, limit=10, offset=(page - 1) * 10)
    return render(request, "search.html", {"q": q, "result": result, "page": page})


@web_router.get("/quick")
def quick_page(
    request: Request, reads: PageReads, q: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    result = reads.search(q, limit=5) if q.strip() else None
    return render(request, "quick.html", {"q": q, "result": result})


@web_router.get("/entities/{entity_id}")
def entity_page(
    request: Request, reads: PageReads, entity_id: str, quick: bool = False
) -> Response:
    profile = reads.profile(entity_id)
    timeline = reads.timeline(entity_id, limit=50 if quick else 200)
    # the roadside page shows the essentials only: no links, no merge detail
    links = {"items": []} if quick else reads.links(entity_id)
    explains = not quick and reads.principal.may("entity.explain")
    explanation = reads.explanation(entity_id) if explains else None
    points = [
        {"lat": t["point"][0], "lon": t["point"][1], "label": f"{t['type']} {t['at'] or ''}"}
        for t in timeline["items"]
        if t["point"]
    ]
    return render(
        request,
        "quick_entity.html" if quick else "entity.html",
        {
            "e": profile,
            "timeline": timeline,
            "links": links["items"],
            "explanation": explanation,
            "points_json": json.dumps(points[:200]),
            "has_points": bool(points),
        },
    )


@web_router.get("/documents")
def document_page(
    request: Request, reads: PageReads, mention: Annotated[str, Query(max_length=300)]
) -> Response:
    return render(request, "document.html", {"d": reads.document(mention)})


@web_router.get("/network")
def network_page(
    request: Request,
    reads: PageReads,
    ids: Annotated[list[str] | None, Query(max_length=20)] = None,
    depth: Annotated[int, Query(ge=1, le=2)] = 1,
) -> Response:
    reads.grant("graph.view")
    return render(request, "network.html", {"ids": ids or [], "depth": depth})


@web_router.get("/networks/groups")
def groups_page(request: Request, reads: PageReads) -> Response:
    return render(request, "groups.html", {"d": reads.groups()})


@web_router.get("/networks/county-lines")
def county_lines_page(request: Request, reads: PageReads) -> Response:
    return render(request, "county_lines.html", {"d": reads.county_lines()})


@web_router.get("/networks/labour-exploitation")
def labour_sites_page(request: Request, reads: PageReads) -> Response:
    return render(request, "labour_sites.html", {"d": reads.labour_sites()})


@web_router.get("/map")
def map_page(request: Request, reads: PageReads) -> Response:
    reads.grant("map.view")
    return render(request, "map.html", {})


@web_router.get("/map/boundaries.geojson")
def boundaries(request: Request, reads: PageReads) -> Response:
    """The force's own area boundaries: the map's offline base layer."""
    reads.grant("map.view")
    path = request.app.state.settings.boundaries
    if path is None or not Path(path).exists():
        return Response(
            '{"type": "FeatureCollection", "features": []}', media_type="application/geo+json"
        )
    return FileResponse(path, media_type="application/geo+json")


@web_router.get("/dashboard")
def dashboard_page(request: Request, reads: PageReads) -> Response:
    try:
        data = reads.dashboard()
    except Problem as exc:
        if exc.status != 503:
            raise
        # a hub not resolved (data.police.uk files through `peelian kpis`): KPIs only
        data = {"events_by_month": {}, "records_by_source": {}, "entities_by_type": {},
                "crimes_by_type": {}}  # fmt: skip
    months = sorted({m for series in data["events_by_month"].values() for m in series})
    try:
        k = reads.kpis()
    except Problem as exc:
        if exc.status != 503:
            raise
        k = None
    return render(request, "dashboard.html", {"d": data, "months": months[-12:], "k": k})


@web_router.get("/harm")
def harm_page(
    request: Request, reads: PageReads,
    cursor: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:  # fmt: skip
    data = reads.harm(limit=50, offset=cursor)
    return render(request, "harm.html", {"d": data})


@web_router.get("/vulnerability")
def vulnerability_page(
    request: Request,
    reads: PageReads,
    population: Annotated[Literal["child", "adult"], Query()] = "child",
    scorer: Annotated[Literal["points", "model"], Query()] = "points",
    decided: bool = False,
    cursor: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    if population == "adult":
        scorer = "points"
    data = reads.vulnerability(
        population=population, scorer=scorer, decided=decided, limit=25, offset=cursor
    )
    can_decide = reads.principal.may("vulnerability.decide")
    return render(
        request, "vulnerability.html", {"d": data, "done": done, "can_decide": can_decide}
    )


@web_router.post("/vulnerability/decide")
def vulnerability_decide(
    request: Request,
    reads: PageReads,
    csrf_token: Csrf,
    entity_id: Annotated[str, Form(pattern=r"^[A-Z][0-9]{1,12}$", max_length=13)],
    decision: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(min_length=3, max_length=2000)],
    back: Annotated[str, Form(max_length=500)] = "/vulnerability",
) -> Response:
    _csrf(request, csrf_token)
    made = reads.decide_vulnerability(entity_id, decision, note=note)
    target = safe_next(back)
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}done={made['entity_id']}", status_code=303)


@web_router.get("/incidents")
def incidents_page(
    request: Request, reads: PageReads, at: Annotated[str | None, Query(max_length=40)] = None
) -> Response:
    when = None
    if at:
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            raise Problem(400, "at must be a date and time such as 2025-06-01T18:00") from None
    return render(request, "incidents.html", {"d": reads.incidents(at=when)})


@web_router.get("/quality")
def quality_page(request: Request, reads: PageReads) -> Response:
    return render(request, "quality.html", {"d": reads.quality()})


@web_router.get("/review")
def review_page(
    request: Request,
    reads: PageReads,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    done: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    queue = reads.review_queue(offset=(page - 1) * 20, limit=20)
    return render(request, "review.html", {"queue": queue, "page": page, "done": done})


@web_router.get("/review/pair")
def review_pair(
    request: Request,
    reads: PageReads,
    a: Annotated[str, Query(max_length=300)],
    b: Annotated[str, Query(max_length=300)],
) -> Response:
    return render(request, "pair.html", {"p": reads.pair(a, b)})


@web_router.post("/review/decide")
def review_decide(
    request: Request,
    reads: PageReads,
    csrf_token: Csrf,
    kind: Annotated[str, Form(max_length=20)],
    a: Annotated[str, Form(max_length=300)],
    b: Annotated[str, Form(max_length=300)],
    reason: Annotated[str, Form(min_length=3, max_length=1000)],
    back: Annotated[str, Form(max_length=500)] = "/review",
) -> Response:
    _csrf(request, csrf_token)
    decision = reads.decide(kind, a, b, reason=reason, entity_type="person")
    target = safe_next(back)
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}done={decision['id']}", status_code=303)


@web_router.get("/audit")
def audit_page(
    request: Request,
    reads: PageReads,
    user: Annotated[str | None, Query(max_length=100)] = None,
    entity: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=50)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    # the filter form sends every field, empty ones as ""
    user, entity, action = user or None, entity or None, action or None
    since_day, until_day = form_date(since, "From"), form_date(until, "To")
    log = oversight.audit_log(
        reads, user=user, entity=entity, action=action, since=since_day, until=until_day,
        before=before, limit=50,
    )  # fmt: skip
    filters = {
        "user": user, "entity": entity, "action": action, "since": since_day, "until": until_day,
    }  # fmt: skip
    verify = oversight.audit_verify(reads) if reads.principal.may("audit.verify") else None
    return render(request, "audit.html", {"log": log, "f": filters, "verify": verify})


@web_router.get("/audit/alerts")
def alerts_page(request: Request, reads: PageReads) -> Response:
    return render(request, "alerts.html", {"alerts": oversight.alerts(reads)})


@web_router.get("/admin/users")
def users_form(request: Request, reads: PageReads) -> Response:
    return users_page(request, reads)


def users_page(request: Request, reads: Reads, error: str | None = None) -> Response:
    return render(
        request,
        "users.html",
        {"u": oversight.users(reads), "roles": ROLES, "error": error,
         "vetting": ["NPPV1", "NPPV2", "NPPV3", "SC", "DV"]},
    )  # fmt: skip


@web_router.post("/admin/users")
def users_add(
    request: Request,
    reads: PageReads,
    csrf_token: Csrf,
    username: Annotated[str, Form(max_length=100)],
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=50)],
    vetting: Annotated[str, Form(max_length=10)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    _csrf(request, csrf_token)
    try:
        oversight.add_user(reads, username, name, role, vetting, password)
    except Problem as exc:
        return users_page(request, reads, exc.detail)
    return RedirectResponse("/admin/users", status_code=303)


@web_router.post("/admin/users/{username}")
def users_change(
    request: Request,
    reads: PageReads,
    username: str,
    csrf_token: Csrf,
    change: Annotated[str, Form(max_length=20)],
    value: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _csrf(request, csrf_token)
    try:
        oversight.change_user(reads, username, change, value)
    except Problem as exc:
        return users_page(request, reads, exc.detail)
    return RedirectResponse("/admin/users", status_code=303)
