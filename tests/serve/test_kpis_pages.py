"""The KPI, harm and incident routes and pages, as officers and analysts use them."""

from __future__ import annotations

from tests.serve.conftest import client_for


def test_kpi_tables_csv_and_charts(app: object) -> None:
    client = client_for(app, "analyst1")
    body = client.get("/api/v1/kpis").json()
    assert {"by_area", "trends_area", "response", "hotspots"} <= set(body["tables"])
    csv = client.get("/api/v1/kpis/by_type.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("crime_type,crimes")
    svg = client.get("/api/v1/kpis/by_month.svg")
    assert svg.status_code == 200
    assert b"<svg" in svg.content
    png = client.get("/api/v1/kpis/response.png")
    assert png.status_code == 200
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/api/v1/kpis/trends_area.png").status_code == 404
    assert client.get("/api/v1/kpis/nothing.csv").status_code == 422
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Per 1,000 residents" in page.text


def test_harm_ranking_and_profile_context(app: object) -> None:
    client = client_for(app, "analyst1")
    ranking = client.get("/api/v1/harm").json()
    assert ranking["items"]
    top = ranking["items"][0]
    assert top["listed"]
    assert top["harm_cchi"] > 0
    profile = client.get(f"/api/v1/entities/{top['entity_id']}").json()
    assert profile["harm"]["offences"] == top["offences"]
    assert client.get("/harm").status_code == 200


def test_open_incidents_rank_resources(app: object) -> None:
    # a grade 1 call a minute after it came in, before anyone was sent
    con = app.state.snapshots.current().cursor()  # type: ignore[attr-defined]
    try:
        reference, at = con.execute(
            """SELECT reference, called + INTERVAL 1 MINUTE FROM kpi_incidents
               WHERE grade = 1 AND marking = 'OFFICIAL' AND compartment IS NULL
                 AND dispatched > called + INTERVAL 2 MINUTE AND lat IS NOT NULL
               ORDER BY called LIMIT 1"""
        ).fetchall()[0]
    finally:
        con.close()
    client = client_for(app, "pc1")
    body = client.get("/api/v1/incidents/open", params={"at": at.isoformat()}).json()
    assert body["open"] == len(body["items"])
    item = next(i for i in body["items"] if i["reference"] == reference)
    assert item["state"] == "waiting"
    assert item["thrive"]
    etas = [r["eta_minutes"] for r in item["resources"]]
    assert etas
    assert etas == sorted(etas)
    page = client.get("/incidents", params={"at": "2024-06-01T18:00"})
    assert page.status_code == 200
    assert client.get("/incidents", params={"at": "yesterday"}).status_code == 400


def test_the_live_view_follows_a_feed(app: object, served: object) -> None:
    import datetime as dt

    from peelian.state import State

    clock = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC)
    incident = {
        "reference": "LIVE-1", "called": clock - dt.timedelta(minutes=25), "grade": 1,
        "area_type": "URBAN", "opening_code": "CONCERN FOR SAFETY", "beat": "B1",
        "thrive": {"threat": "H"}, "lat": 54.0, "lon": -2.2, "dispatched": None,
        "arrived": None, "closed": None, "resource": None, "target_minutes": 15.0,
        "marking": "OFFICIAL", "compartment": None,
    }  # fmt: skip
    secret = {**incident, "reference": "LIVE-SECRET", "compartment": "OP NOBODY"}
    units = [
        {"resource": "1001", "callsign": "AA1", "status": "AVAILABLE", "lat": 54.0,
         "lon": -2.21, "incident": None, "since": clock, "marking": "OFFICIAL"},
        {"resource": "1002", "callsign": "AA2", "status": "AVAILABLE", "lat": 54.05,
         "lon": -2.2, "incident": None, "since": clock, "marking": "OFFICIAL"},
        {"resource": "1003", "callsign": "AA3", "status": "AT SCENE", "lat": 54.0,
         "lon": -2.2, "incident": "X", "since": clock, "marking": "OFFICIAL"},
        {"resource": "1004", "callsign": "COVERT1", "status": "AVAILABLE", "lat": 54.0,
         "lon": -2.2, "incident": None, "since": clock, "marking": "OFFICIAL",
         "compartment": "OP NOBODY"},
    ]  # fmt: skip
    with State.open(served.state_url) as state:  # type: ignore[attr-defined]
        state.live_update("desk", clock=clock, incidents=[incident, secret], resources=units)
    try:
        client = client_for(app, "pc1")
        body = client.get("/api/v1/incidents/open").json()
        assert body["live"] is True
        assert [i["reference"] for i in body["items"]] == ["LIVE-1"]
        item = body["items"][0]
        assert item["overdue"] is True
        assert [r["callsign"] for r in item["resources"]] == ["AA1", "AA2"]
        page = client.get("/incidents")
        assert 'http-equiv="refresh"' in page.text
        assert "LIVE-SECRET" not in page.text
        assert "COVERT1" not in page.text
        # a feed no longer written to is history: the hub's records are shown instead
        with State.open(served.state_url) as state:  # type: ignore[attr-defined]
            state.live_update(
                "desk", clock=clock, now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
            )
        stale = client.get("/api/v1/incidents/open").json()
        assert stale["live"] is False
        assert stale["feed_stopped"]
    finally:
        with State.open(served.state_url) as state:  # type: ignore[attr-defined]
            state.live_reset("desk")


def test_map_hotspots_are_hexagons_counting_every_event(app: object) -> None:
    client = client_for(app, "analyst1")
    body = client.get("/api/v1/events", params={"types": "crime", "limit": 10}).json()
    assert body["hotspots"]
    for h in body["hotspots"]:
        assert len(h["boundary"]) == 7  # six corners, closed
        assert h["boundary"][0] == h["boundary"][-1]
    if len(body["hotspots"]) < 400:
        assert sum(h["count"] for h in body["hotspots"]) == body["total"]


def test_network_nodes_carry_harm(app: object) -> None:
    client = client_for(app, "analyst1")
    top = client.get("/api/v1/harm", params={"limit": 1}).json()["items"][0]
    graph = client.get("/api/v1/graph/neighbourhood", params={"ids": top["entity_id"]}).json()
    node = next(n for n in graph["nodes"] if n["id"] == top["entity_id"])
    assert node["harm"] == top["harm_cchi"]


def test_a_profile_lists_the_documents_that_name_the_person(app: object) -> None:
    # documents link a person by their name, phone, plate or address: count them all
    con = app.state.snapshots.current().cursor()  # type: ignore[attr-defined]
    try:
        rows = con.execute(
            """SELECT t.entity_id, count(DISTINCT t.document) AS n FROM text_mentions t
               JOIN mentions m ON m.mention_id = t.document
               JOIN source_rows sr ON sr.source = m.source AND sr.row_id = m.row_id
               JOIN entities e ON e.entity_id = t.entity_id AND e.entity_type = 'person'
               GROUP BY 1 HAVING bool_and(sr.compartment IS NULL AND sr.marking = 'OFFICIAL'
                   AND len(coalesce(sr.sharing_roles, [])) = 0)
               ORDER BY n DESC, 1 LIMIT 1"""
        ).fetchall()
    finally:
        con.close()
    assert rows, "some person is named in OFFICIAL documents"
    entity_id, documents = rows[0]
    analyst = client_for(app, "analyst1").get(f"/api/v1/entities/{entity_id}").json()
    named = analyst["mentioned_in"]
    assert named["total"] == documents
    assert named["readable"] is True
    assert all(item["sentence"] for item in named["items"])
    officer = client_for(app, "pc1").get(f"/api/v1/entities/{entity_id}").json()
    assert officer["mentioned_in"]["readable"] is False
    assert all(item["sentence"] is None for item in officer["mentioned_in"]["items"])
    page = client_for(app, "analyst1").get(f"/entities/{entity_id}")
    assert "Mentioned in" in page.text
