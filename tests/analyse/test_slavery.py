"""Modern slavery indicators (analyse/slavery.py) on a small force with many labour
sites, scored against its truth, and served through the access policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient
from tests.conftest import refresh_stages, small_config
from tests.serve.conftest import PURPOSE, Served, _add_accounts, client_for
from tests.serve.test_api import api, token_for

from peelian.analyse.evaluate import evaluate_network
from peelian.analyse.slavery import CONTROL
from peelian.serve.app import create_app
from peelian.synth.config import load_settings
from peelian.synth.generate import generate


@pytest.fixture(scope="module")
def labour(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6,000-person force with about six labour sites (the default rate gives none at
    this size), taken through `refresh`'s stages."""
    settings = load_settings()
    settings["organised_crime"]["labour_sites_per_100k"] = 100
    folder = tmp_path_factory.mktemp("labour")
    generate(small_config(settings=settings, seed=5), folder / "force")
    refresh_stages(folder / "force", folder / "hub")
    return folder


def test_labour_sites_and_their_controllers_are_found(labour: Path) -> None:
    con = duckdb.connect(str(labour / "hub" / "hub.duckdb"), read_only=True)
    try:
        result = evaluate_network(con, labour / "force" / "truth")
        sites = con.execute("SELECT evidence, mentions FROM slavery_sites").fetchall()
        controllers = con.execute(
            "SELECT evidence FROM slavery_people WHERE role = 'controller'"
        ).fetchall()
    finally:
        con.close()
    assert result.site_recall.total >= 3
    # measured on this force: sites 3/3 right, 3/6 found; controllers 3/3, 3/6; workers
    # 12/12 right, 12/28 found (a 12-month force: fewer records give the shared number)
    assert result.site_precision.value >= 0.8
    assert result.site_recall.value >= 0.5
    assert result.controller_precision.value >= 0.8
    assert result.controller_recall.value >= 0.5
    assert result.worker_precision.value >= 0.8
    assert result.worker_recall.value >= 0.3
    for evidence, mentions in sites:
        assert re.search(r"phone \+44\d+ given as their own by \d+ adults", evidence)
        assert mentions
    assert all("control others" in e for (e,) in controllers)


def test_what_counts_as_saying_someone_controls_others() -> None:
    said = [
        "Mark KOWALSKI is said to keep their bank cards and passports and pay them £20 a day.",
        'the man who "sorted her visa" takes all her wages and keeps her passport',
        "He collects them from the house at 5am.",
        "DAVIES controls the workers at the car wash.",
    ]
    not_said = [
        "Mark KOWALSKI was seen at the car wash.",
        "She keeps a diary.",
        "Lost passport reported at the front desk.",
    ]
    assert all(CONTROL.search(s) for s in said)
    assert not any(CONTROL.search(s) for s in not_said)


@pytest.fixture(scope="module")
def app(labour: Path) -> Iterator[tuple[object, Served]]:
    served = Served(labour / "hub", str(labour / "state.db"), Path("/nonexistent"))
    _add_accounts(served.state_url, [])
    application = create_app(served.settings())
    with TestClient(application):
        yield application, served


def test_sites_are_served_with_victims_for_safeguarding_roles_only(
    app: tuple[object, Served],
) -> None:
    application, served = app
    path = "/api/v1/networks/labour-exploitation"
    analyst = api(application, token_for(served, "analyst1"), path, purpose=PURPOSE).json()
    assert analyst["items"]
    assert analyst["safeguarding_shown"] is True
    roles = {p["role"] for i in analyst["items"] for p in i["people"]}
    assert roles == {"controller", "worker"}
    # an investigator explores networks but may not view exploitation flags: the
    # controllers, never the people held
    investigator = api(application, token_for(served, "dc1"), path, purpose=PURPOSE).json()
    assert investigator["safeguarding_shown"] is False
    assert [i["id"] for i in investigator["items"]] == [i["id"] for i in analyst["items"]]
    assert all(p["role"] == "controller" for i in investigator["items"] for p in i["people"])
    assert any(i["people"] for i in investigator["items"])
    officer = api(application, token_for(served, "pc1"), path, purpose=PURPOSE)
    assert officer.status_code == 403
    no_purpose = api(application, token_for(served, "analyst1"), path)
    assert no_purpose.status_code == 428
    page = TestClient(application)  # type: ignore[arg-type]
    assert page.get("/networks/labour-exploitation", follow_redirects=False).status_code in (
        302,
        303,
        401,
    )
    # the page shows what the API gives the same reader
    shown = client_for(application, "analyst1").get("/networks/labour-exploitation")
    assert shown.status_code == 200
    for item in analyst["items"]:
        assert f"Site {item['id']}" in shown.text
    assert "Possible controllers" in shown.text
    assert "Adults giving the number" in shown.text
    withheld = client_for(application, "dc1").get("/networks/labour-exploitation").text
    assert "Possible controllers" in withheld
    assert "Adults giving the number" not in withheld
