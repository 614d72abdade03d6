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
    assert "per 1000" in page.text


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
    client = client_for(app, "pc1")
    body = client.get("/api/v1/incidents/open", params={"at": "2024-06-01T18:00:00+00:00"}).json()
    assert body["open"] == len(body["items"])
    waiting = [i for i in body["items"] if i["resources"]]
    for item in waiting:
        etas = [r["eta_minutes"] for r in item["resources"]]
        assert etas == sorted(etas)
    page = client.get("/incidents", params={"at": "2024-06-01T18:00"})
    assert page.status_code == 200
    assert client.get("/incidents", params={"at": "yesterday"}).status_code == 400
