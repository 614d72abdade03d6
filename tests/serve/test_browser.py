"""The web app in a real browser: Debian's Chromium driven by Playwright, against
the app under uvicorn (`live_server`), with the app's own Content Security Policy
in force.

Journeys: an analyst signs in, gives a purpose, finds a person despite a typo
and opens the profile; expands a network; opens the map; decides a match in the
review queue; a safeguarding officer records the meeting's decision on a flagged
child; an auditor sees that search with its purpose in the audit trail; an officer
does a quick check on a 360 px wide phone screen. On every page: no console errors
or uncaught exceptions, no serious or critical axe-core findings, and a full-page
screenshot (into $PEELIAN_SCREENSHOTS, by default
test-output/screenshots).

Chromium is Debian's (/usr/bin/chromium; Playwright downloads no browser). Without
it the module is skipped, unless PEELIAN_REQUIRE_BROWSER is set (as in CI): then
it fails. axe-core comes from frontend/node_modules (`make static`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, expect, sync_playwright
from tests.serve.conftest import PASSWORD, PURPOSE, Served

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE = REPO / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
WAIT_MS = 60_000  # generous: the waits are for behaviour, never a measure of speed
DESKTOP = {"width": 1280, "height": 1000}
PHONE = {"width": 360, "height": 780}
REFERENCE = PURPOSE.partition(" ")[2]  # the purpose is an incident reference

# axe-core's findings as plain data (run in the page; see `Tab.look`)
AXE_RUN = """async () => {
  const result = await axe.run(document);
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + (n.failureSummary || "")),
  }));
}"""
# the network explorer's nodes with their places on the screen
NETWORK_NODES = """() => {
  const el = document.getElementById("network");
  const cy = el._cyreg.cy;
  const box = el.getBoundingClientRect();
  return cy.nodes().map(n => ({
    id: n.id(), focus: !!n.data("focus"),
    x: box.left + n.renderedPosition("x"), y: box.top + n.renderedPosition("y"),
  }));
}"""
# until the browser has drawn twice (so scroll events have reached the page)
NEXT_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
ENTITIES = re.compile(r"^(\d+) entities, (\d+) links")
NO_BROWSER = f"no browser at {CHROMIUM} (apt-get install chromium)"

if not CHROMIUM.exists() and not os.environ.get("PEELIAN_REQUIRE_BROWSER"):
    pytest.skip(NO_BROWSER, allow_module_level=True)


def screenshots_dir() -> Path:
    folder = Path(os.environ.get("PEELIAN_SCREENSHOTS") or REPO / "test-output" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module."""
    if not CHROMIUM.exists():  # and PEELIAN_REQUIRE_BROWSER is set (else skipped above)
        pytest.fail(NO_BROWSER + "; PEELIAN_REQUIRE_BROWSER is set", pytrace=False)
    if not AXE.exists():
        pytest.fail(f"no axe-core at {AXE}: run `make static`", pytrace=False)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """One browser context and its page, for one user in one journey. Every page
    looked at is checked for console errors, uncaught exceptions and accessibility,
    and photographed."""

    page: Page
    base: str
    journey: str
    user: str = "signed-out"
    errors: list[str] = field(default_factory=list)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def look(self, name: str, *, max_width: int | None = None) -> None:
        page = self.page
        page.wait_for_load_state("load")
        shot = screenshots_dir() / f"{self.journey}-{self.user}-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert not self.errors, f"{name} ({page.url}): errors in the browser:\n" + "\n".join(
            self.errors
        )
        # Evaluated through the DevTools protocol, so the page's CSP (script-src
        # 'self', which blocks the inline script add_script_tag would make) stays
        # in force for the app's own scripts.
        if not page.evaluate("typeof axe !== 'undefined'"):
            page.evaluate(AXE.read_text(encoding="utf-8"))
        violations: list[dict[str, Any]] = page.evaluate(AXE_RUN)
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not serious, f"{name} ({page.url}): accessibility violations:\n" + "\n".join(
            f"- {v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"])
            for v in serious
        )
        if max_width is not None:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= max_width, f"{name} ({page.url}) scrolls sideways: {width} px wide"

    def sign_in(self, username: str, *, max_width: int | None = None) -> None:
        page = self.page
        self.user = username
        self.go("/login")
        self.look("login", max_width=max_width)
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".pln-header__who")).to_contain_text(username)
        self.look("start", max_width=max_width)

    def give_purpose(self, *, max_width: int | None = None) -> None:
        page = self.page
        self.go("/purpose")
        self.look("purpose", max_width=max_width)
        page.get_by_label("An incident (command and control log)").check()
        page.get_by_label("Incident or crime reference").fill(REFERENCE)
        page.get_by_role("button", name="Continue").click()
        expect(page.locator(".pln-purpose")).to_contain_text(PURPOSE)

    def api(self, path: str, **params: Any) -> Any:
        """The JSON API with the tab's session (and so its purpose), as the page's
        own scripts call it."""
        answer = self.page.request.get(self.base + path, params=params)
        assert answer.ok, f"{path}: {answer.status} {answer.text()}"
        return answer.json()


@pytest.fixture
def open_tab(browser: Browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """open_tab(viewport, **context options): a fresh signed-out tab (its own
    browser context) that records console errors and uncaught exceptions. Each
    journey ends with a look at each of its tabs, which checks them."""
    journey = request.node.name.removeprefix("test_").split("_", 1)[0]
    tabs: list[Tab] = []

    def open_one(viewport: dict[str, int] = DESKTOP, **options: Any) -> Tab:
        context = browser.new_context(viewport=viewport, locale="en-GB", **options)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        tab = Tab(page, live_server, journey)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                where = message.location.get("url", "")
                tab.errors.append(f"console: {message.text} ({where})")

        def on_error(error: Error) -> None:
            tab.errors.append(f"uncaught: {error.message}\n{error.stack or ''}")

        page.on("console", on_console)
        page.on("pageerror", on_error)
        tabs.append(tab)
        return tab

    expect.set_options(timeout=WAIT_MS)
    failed = request.session.testsfailed
    yield open_one
    for tab in tabs:
        if request.session.testsfailed > failed:  # the page as the test left it
            shot = screenshots_dir() / f"{tab.journey}-{tab.user}-failed.png"
            tab.page.screenshot(path=str(shot), full_page=True)
        tab.page.context.close()


def common_surnames(served: Served, limit: int = 10) -> list[str]:
    """The hub's commonest person surnames of six letters or more."""
    con = duckdb.connect(str(served.hub / "hub.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """SELECT value FROM golden_values
               WHERE entity_type = 'person' AND field = 'surname' AND chosen
                 AND regexp_full_match(value, '[A-Z]{6,}')
               GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT $n""",
            {"n": limit},
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def people_with_markers(served: Served, limit: int = 40) -> list[tuple[str, str, str, str]]:
    """(entity, forenames, surname, date of birth) of people with a warning marker."""
    con = duckdb.connect(str(served.hub / "hub.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """SELECT entity_id,
                      any_value(value) FILTER (field = 'forenames'),
                      any_value(value) FILTER (field = 'surname'),
                      any_value(value) FILTER (field = 'date_of_birth')
               FROM golden_values
               WHERE entity_type = 'person' AND chosen
               GROUP BY 1
               HAVING count(*) FILTER (field = 'date_of_birth') > 0
                  AND count(*) FILTER (field = 'forenames') > 0
                  AND count(*) FILTER (field = 'surname') > 0
                  AND entity_id IN (SELECT entity_id FROM golden_values
                                    WHERE field = 'warning_marker')
               ORDER BY 1 LIMIT $n""",
            {"n": limit},
        ).fetchall()
    finally:
        con.close()
    return [(str(e), str(f), str(s), str(d)) for e, f, s, d in rows]


def misspelt(word: str) -> str:
    """The word with one letter in its middle changed (an edit distance of one)."""
    i = len(word) // 2
    return word[:i] + ("e" if word[i].lower() != "e" else "a") + word[i + 1 :]


def person_hit(tab: Tab, surname: str) -> dict[str, Any]:
    """The first person the tab's user finds by `surname`, with forenames."""
    found = tab.api("/api/v1/search", q=surname.lower(), limit=20)
    for hit in found["hits"]:
        record = hit["record"]
        if hit["kind"] == "person" and surname in record.get("s", []) and record.get("f"):
            return dict(hit)
    raise AssertionError(f"{tab.user} finds no person called {surname}")


# -- the journeys ------------------------------------------------------------------


def test_1_an_analyst_finds_a_person_despite_a_typo_and_opens_the_profile(
    open_tab: Any, served: Served
) -> None:
    tab: Tab = open_tab()
    page = tab.page
    tab.sign_in("analyst1")
    tab.give_purpose()
    surname = common_surnames(served)[0]
    person = person_hit(tab, surname)
    forename = person["record"]["f"][0].split()[0]
    typed = f"{forename} {misspelt(surname)}".lower()
    assert surname.lower() not in typed

    tab.go("/")
    page.get_by_label("Search people, vehicles, phones, places and reports").fill(typed)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search\?q="))
    expect(page.locator("#result-count")).to_contain_text(re.compile(r"\d+ results?"))
    result = page.locator(".pln-result").filter(
        has=page.locator(f'a[href="/entities/{person["id"]}"]')
    )
    expect(result).to_have_count(1)
    expect(result).to_contain_text(surname)
    tab.look("search")

    result.get_by_role("link", name=person["label"]).click()
    expect(page).to_have_url(re.compile(f"/entities/{person['id']}$"))
    profile = tab.api(f"/api/v1/entities/{person['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(profile["label"])
    # the label is the chosen golden name, as one source wrote it (SMITH or Smith)
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        re.compile(re.escape(surname), re.IGNORECASE)
    )
    expect(page.locator(".pln-golden")).to_contain_text(
        re.compile(re.escape(surname), re.IGNORECASE)
    )
    # a map of the places of their events, or a sentence when none has one
    timeline = tab.api(f"/api/v1/entities/{person['id']}/timeline")
    if any(item["point"] for item in timeline["items"]):
        expect(page.locator("#entity-map.leaflet-container")).to_be_visible()
    else:
        expect(page.locator("#entity-map")).to_have_count(0)
        expect(
            page.get_by_text("None of the events listed has a place you may see.")
        ).to_be_visible()
    # the merge explanation is there exactly when records were joined (not for one)
    explained = page.request.get(f"{tab.base}/api/v1/entities/{person['id']}/explanation")
    assert explained.ok, explained.text()
    why = page.locator("details").filter(has_text="Why these records were merged")
    if explained.json()["joins"]:
        why.locator("summary").click()
        expect(why.locator("table")).to_be_visible()
        expect(why.locator("tbody tr")).to_have_count(len(explained.json()["joins"]))
    else:
        expect(why).to_have_count(0)
    tab.look("profile")


def test_2_an_analyst_expands_a_network(open_tab: Any, served: Served) -> None:
    tab: Tab = open_tab()
    page = tab.page
    tab.sign_in("analyst1")
    tab.give_purpose()
    linked = None
    for surname in common_surnames(served):
        found = tab.api("/api/v1/search", q=surname.lower(), limit=20)
        for hit in found["hits"]:
            if hit["kind"] == "person" and tab.api(f"/api/v1/entities/{hit['id']}/links")["items"]:
                linked = hit["id"]
                break
        if linked:
            break
    assert linked, "no person with links among the commonest surnames"

    tab.go(f"/network?ids={linked}")
    status = page.locator("#network-status")
    expect(status).to_have_text(ENTITIES)
    before = int(ENTITIES.match(status.inner_text())[1])  # type: ignore[index]
    assert before >= 2  # the person and at least one link
    expect(page.locator("#network canvas").first).to_be_visible()
    tab.look("network")

    page.locator("#network").scroll_into_view_if_needed()
    page.evaluate(NEXT_FRAMES)  # Cytoscape maps clicks by where it saw the canvas last
    nodes = page.evaluate(NETWORK_NODES)
    assert len(nodes) == before
    # a neighbour of the person, the one furthest from the others (none on top of it)
    neighbour = max(
        (n for n in nodes if n["id"] != linked),
        key=lambda n: min(
            (n["x"] - m["x"]) ** 2 + (n["y"] - m["y"]) ** 2 for m in nodes if m is not n
        ),
    )
    page.mouse.click(neighbour["x"], neighbour["y"])
    expect(page.locator("#network-selected")).to_contain_text(f"{neighbour['id']})")
    expand = page.get_by_role("button", name="Expand selected")
    expect(expand).to_be_enabled()
    with page.expect_response(lambda r: "/api/v1/graph/neighbourhood" in r.url) as answer:
        expand.click()
    assert answer.value.ok
    expect(status).to_have_text(ENTITIES)
    after = int(ENTITIES.match(status.inner_text())[1])  # type: ignore[index]
    assert after >= max(before, 2)
    ids = {n["id"] for n in page.evaluate(NETWORK_NODES)}
    assert {linked, neighbour["id"]} <= ids
    tab.look("network-expanded")


def test_3_an_analyst_opens_the_map(open_tab: Any) -> None:
    tab: Tab = open_tab()
    page = tab.page
    tab.sign_in("analyst1")
    tab.give_purpose()
    tab.go("/map")
    status = page.locator("#map-status")
    expect(status).not_to_have_text("Loading…")
    text = status.inner_text()
    assert re.match(r"^[1-9]\d* events \(.+\); \d+ latest shown as dots, \d+ hotspots\.$", text), (
        text
    )
    assert "error" not in text.lower()
    assert "could not" not in text
    expect(page.locator("#map.leaflet-container")).to_be_visible()
    assert page.locator("#map path.leaflet-interactive").count() > 0  # boundaries, dots
    tab.look("map")


def test_3b_an_analyst_reads_the_groups_and_county_lines(open_tab: Any) -> None:
    tab: Tab = open_tab()
    page = tab.page
    tab.sign_in("analyst1")
    tab.give_purpose()
    page.get_by_role("link", name="Groups", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Likely organised crime groups")
    first = page.locator("section h2").first
    expect(first).to_contain_text("members")
    assert page.locator("table tbody tr").count() > 0
    tab.look("groups")
    page.get_by_role("link", name="Show the members on the network").first.click()
    expect(page.locator("#network-status")).to_contain_text("links")
    assert "error" not in page.locator("#network-status").inner_text().lower()
    tab.look("group-network")
    tab.go("/networks/county-lines")
    expect(page.get_by_role("heading", level=1)).to_have_text("County lines")
    expect(page.locator("section").first).to_contain_text("handsets in turn")
    expect(page.locator("body")).to_contain_text("runner")
    tab.look("county-lines")
    page.get_by_role("link", name="Labour exploitation", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Possible labour exploitation")
    tab.look("labour-exploitation")


def test_3c_an_analyst_reads_the_dashboard_and_the_harm_ranking(open_tab: Any) -> None:
    tab: Tab = open_tab()
    page = tab.page
    tab.sign_in("analyst1")
    tab.give_purpose()
    page.get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.locator("caption").first).to_contain_text("Crimes by area")
    expect(page.locator("body")).to_contain_text("no significant change")
    tab.look("dashboard")
    page.get_by_role("link", name="Harm", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Offenders by harm")
    assert page.locator("table tbody tr").count() > 0
    tab.look("harm")
    page.locator("table tbody tr a").first.click()
    expect(page.locator(".pln-harm")).to_contain_text("Cambridge Crime Harm Index")
    tab.look("profile-harm")


def test_3d_an_officer_watches_open_incidents_on_a_phone(open_tab: Any) -> None:
    tab: Tab = open_tab(PHONE)
    page = tab.page
    tab.sign_in("pc1", max_width=360)
    tab.give_purpose()
    tab.go("/incidents?at=2024-06-01T18:00")
    expect(page.get_by_role("heading", level=1)).to_have_text("Open incidents")
    expect(page.locator("body")).to_contain_text("open (")
    tab.look("incidents", max_width=360)


def test_3e_a_safeguarding_officer_records_the_meetings_decision(open_tab: Any) -> None:
    tab: Tab = open_tab()
    page = tab.page
    tab.sign_in("sg1")
    tab.give_purpose()
    page.get_by_role("link", name="Exploitation", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Children at risk of exploitation")
    expect(page.locator(".govuk-warning-text")).to_contain_text("Advisory")
    card = page.locator(".pln-flag").first
    expect(card).to_contain_text("points")
    assert card.locator("li").count() > 0, "each flag lists its reasons"
    card.locator("summary").click()  # the records behind the flag, dated
    expect(card.locator(".govuk-details__text li").first).to_be_visible()
    tab.look("vulnerability")

    person = card.locator('input[name="entity_id"]').input_value()
    card.get_by_label("Meeting's note").fill("Known to the MASH; plan agreed (browser test)")
    card.get_by_role("button", name="At risk", exact=True).click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("recorded")
    assert page.locator(f'.pln-flag input[name="entity_id"][value="{person}"]').count() == 0
    tab.look("vulnerability-decided")

    page.get_by_role("link", name="Decided").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Children at risk of exploitation: decided"
    )
    decided = page.locator(".pln-flag").filter(
        has=page.locator(f'input[name="entity_id"][value="{person}"]')
    )
    expect(decided).to_contain_text("at risk by sg1")
    tab.look("vulnerability-decided-list")


def test_4_an_analyst_decides_a_match_in_the_review_queue(open_tab: Any) -> None:
    tab: Tab = open_tab()
    page = tab.page
    tab.sign_in("analyst1")
    tab.give_purpose()
    tab.go("/review")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    tab.look("review")

    row = page.locator(".govuk-table__body .govuk-table__row").first
    pair = (
        row.locator('input[name="a"]').input_value(),
        row.locator('input[name="b"]').input_value(),
    )
    reason = "Same date of birth and address in both records (browser test)"
    row.get_by_label("Reason").fill(reason)
    row.get_by_role("button", name="Same person").click()
    expect(page).to_have_url(re.compile(r"/review\?page=1&done=\d+$"))
    done = int(page.url.rsplit("=", 1)[1])
    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text(f"Decision #{done} recorded")
    tab.look("review-decided")

    decisions = tab.api("/api/v1/decisions")["items"]
    decision = next(d for d in decisions if d["id"] == done)
    assert (decision["kind"], decision["by"], decision["reason"]) == ("same", "analyst1", reason)
    assert {decision["a"], decision["b"]} == set(pair)


def test_5_the_auditor_sees_the_analysts_search_with_its_purpose(
    open_tab: Any, served: Served
) -> None:
    analyst: Tab = open_tab()
    analyst.sign_in("analyst1")
    analyst.give_purpose()
    query = common_surnames(served)[1].lower()
    analyst.go(f"/search?q={query}")
    expect(analyst.page.locator("#result-count")).to_contain_text(re.compile(r"\d+ results?"))
    analyst.look("search")

    auditor: Tab = open_tab()
    page = auditor.page
    auditor.sign_in("auditor1")
    auditor.go("/audit")
    expect(page.locator("#chain-status")).to_contain_text("Hash chain intact")
    auditor.look("audit")

    rows = page.locator(".pln-audit .govuk-table__body .govuk-table__row")
    ours = rows.filter(has_text=f"“{query}”").filter(has_text="analyst1")
    expect(ours.first).to_be_visible()  # the newest 50 events, newest first

    # the user's name in a row shows that user's events alone
    ours.first.get_by_role("link", name="analyst1").click()
    expect(page).to_have_url(re.compile(r"/audit\?user=analyst1$"))
    users = rows.locator("td:nth-child(3)")
    expect(users.first).to_have_text("analyst1")
    assert set(users.all_inner_texts()) == {"analyst1"}
    cells = rows.filter(has_text=f"“{query}”").first.locator("td")
    expect(cells.nth(3)).to_have_text("search")
    expect(cells.nth(4)).to_contain_text("results")
    expect(cells.nth(5)).to_have_text(PURPOSE)
    expect(cells.nth(7)).to_have_text("ok")
    expect(page.locator("#chain-status")).to_contain_text("Hash chain intact")
    auditor.look("audit-analyst1")


def test_5b_the_auditor_filters_the_audit_log_with_the_form(open_tab: Any) -> None:
    auditor: Tab = open_tab()
    page = auditor.page
    auditor.sign_in("auditor1")
    auditor.go("/audit")
    page.get_by_label("User", exact=True).fill("analyst1")
    page.get_by_label("Action", exact=True).fill("search")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Filter").click()
    answer = navigation.value
    assert answer is not None
    assert answer.status == 200, page.locator("main").inner_text()
    auditor.look("audit-filter-form")


def test_6_an_officer_checks_a_name_and_date_of_birth_on_a_phone(
    open_tab: Any, served: Served
) -> None:
    tab: Tab = open_tab(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = tab.page
    narrow = PHONE["width"]
    tab.sign_in("pc1", max_width=narrow)
    tab.give_purpose(max_width=narrow)
    typed, hit = "", None
    for entity, forenames, surname, dob in people_with_markers(served):
        year, month, day = dob.split("-")
        query = f"{forenames.split()[0]} {surname} {day}/{month}/{year}"
        found = tab.api("/api/v1/search", q=query, limit=5)["hits"]
        hit = next((h for h in found if h["id"] == entity), None)
        if hit is not None:
            typed = query
            break
    assert hit, "the officer finds none of the people with warning markers"
    profile = tab.api(f"/api/v1/entities/{hit['id']}")

    tab.go("/quick")
    tab.look("quick", max_width=narrow)
    page.get_by_label("Quick check").fill(typed)
    page.get_by_role("button", name="Check").tap()
    expect(page).to_have_url(re.compile(r"/quick\?q="))
    link = page.locator(f'a.pln-quick__link[href="/entities/{hit["id"]}?quick=1"]')
    expect(link).to_be_visible()
    expect(link).to_contain_text(hit["label"])
    for marker in profile["warnings"]:
        expect(link.locator(".pln-quick__warn")).to_contain_text(marker)
    tab.look("quick-results", max_width=narrow)

    link.tap()
    expect(page).to_have_url(re.compile(rf"/entities/{hit['id']}\?quick=1$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(profile["label"])
    essentials = page.locator(".govuk-summary-list")
    expect(essentials).to_contain_text("date of birth")
    expect(essentials).to_contain_text(dob)
    assert profile["warnings"], "a person with warning markers"
    warnings = page.locator(".govuk-warning-text")
    for marker in profile["warnings"]:
        expect(warnings).to_contain_text(marker)
    expect(page.get_by_role("link", name="Full profile")).to_be_visible()
    tab.look("quick-person", max_width=narrow)
