"""The API and the pages: sign-in, tokens, CSRF, purpose, problem details, the
same data through both, audit of every read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.serve.conftest import PASSWORD, PURPOSE, Served, client_for, csrf_of, own_state

from peelian.serve.app import ServeSettings, create_app
from peelian.state import State


def token_for(served: Served, username: str, days: int = 30) -> str:
    with State.open(served.state_url) as state:
        token, _ = state.accounts.create_token(username, "tests", by="test-setup", days=days)
    return token


def api(app: object, token: str | None, path: str, **params: Any) -> Any:
    client = TestClient(app)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, params=params, headers=headers)


def first_person(app: object, token: str, query: str = "smith") -> str:
    found = api(app, token, "/api/v1/search", q=query, purpose=PURPOSE, limit=20).json()
    return next(h["id"] for h in found["hits"] if h["kind"] == "person")


def test_signing_in_sets_a_strict_http_only_session_and_wrong_passwords_say_little(
    app: object,
) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    assert (
        client.get("/search?q=x", follow_redirects=False)
        .headers["location"]
        .startswith("/login?next=")
    )
    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    bad = client.post(
        "/login",
        data={"username": "pc1", "password": "not the password", "login_token": token},
    )
    assert bad.status_code == 401
    assert "Wrong username or password" in bad.text
    # each form carries a fresh token of its own
    token = re.search(r'name="login_token" value="([^"]+)"', bad.text)[1]  # type: ignore[index]
    unknown = client.post(
        "/login",
        data={"username": "nobody", "password": "not the password", "login_token": token},
    )
    token = re.search(r'name="login_token" value="([^"]+)"', unknown.text)[1]  # type: ignore[index]
    assert unknown.status_code == 401
    assert "Wrong username or password" in unknown.text
    # a sign-in form not from this server (no matching login cookie) is refused
    forged = TestClient(app).post(  # type: ignore[arg-type]
        "/login", data={"username": "pc1", "password": PASSWORD, "login_token": "forged"}
    )
    assert forged.status_code == 401
    assert "expired" in forged.text
    ok = client.post(
        "/login",
        data={"username": "pc1", "password": PASSWORD, "login_token": token, "next": "//evil"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"].lower()
    assert "peelian_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_a_person_read_needs_a_purpose_and_records_it(app: object, served: Served) -> None:
    token = token_for(served, "dc1")
    missing = api(app, token, "/api/v1/search", q="smith")
    assert missing.status_code == 428
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 428
    assert "purpose" in missing.json()["detail"]
    vague = api(app, token, "/api/v1/search", q="smith", purpose="reason training: x")
    assert vague.status_code == 428  # a note under 10 characters
    ok = api(app, token, "/api/v1/search", q="smith", purpose=PURPOSE)
    assert ok.status_code == 200
    assert ok.json()["hits"]
    with State.open(served.state_url) as state:
        last = state.find_audit(actor="dc1", action="search", limit=1)[0]
    assert last.purpose == PURPOSE
    assert last.detail["results"] == [h["id"] for h in ok.json()["hits"]]
    assert last.client == "testclient via token"


def test_bad_expired_and_revoked_tokens_get_one_clear_401(app: object, served: Served) -> None:
    for header in ("Bearer pln_not-a-token", "Basic abc", "Bearer "):
        answer = TestClient(app).get(  # type: ignore[arg-type]
            "/api/v1/me", headers={"Authorization": header}
        )
        assert answer.status_code == 401, header
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] == "Bearer"
    token = token_for(served, "pc1")
    assert api(app, token, "/api/v1/me").json()["role"] == "response_officer"
    with State.open(served.state_url) as state:
        info = state.accounts.tokens("pc1")[-1]
        state.accounts.revoke_token(info.id, by="test-setup")
    assert api(app, token, "/api/v1/me").status_code == 401
    assert api(app, None, "/api/v1/me").status_code == 401


def test_roles_are_refused_what_they_may_not_do_with_403(app: object, served: Served) -> None:
    officer = token_for(served, "pc1")
    auditor = token_for(served, "auditor1")
    assert api(app, officer, "/api/v1/audit").status_code == 403
    assert api(app, officer, "/api/v1/users").status_code == 403
    assert api(app, auditor, "/api/v1/search", q="smith", purpose=PURPOSE).status_code == 403
    assert api(app, auditor, "/api/v1/audit").status_code == 200


def test_changes_riding_on_the_cookie_need_the_csrf_token(app: object) -> None:
    client = client_for(app, "analyst1")
    body = {"kind": "same", "a": "P1", "b": "P2", "reason": "same PNC"}
    refused = client.post("/api/v1/decisions", json=body)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    page = client.get("/review")
    wrong = client.post("/api/v1/decisions", json=body, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    right = client.post(
        "/api/v1/decisions", json=body, headers={"X-CSRF-Token": csrf_of(page.text)}
    )
    assert right.status_code == 404  # past the CSRF check: P1 is no entity
    form = client.post(
        "/review/decide",
        data={"csrf_token": "forged", "kind": "same", "a": "P1", "b": "P2", "reason": "x y z"},
    )
    assert form.status_code == 403


def test_oversized_bodies_wrong_types_and_bad_json_get_problem_details(
    app: object, served: Served
) -> None:
    token = token_for(served, "analyst1")
    client = TestClient(app)  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {token}"}
    big = client.post(
        "/api/v1/decisions", content=b"{" + b" " * 200_000 + b"}",
        headers={**auth, "Content-Type": "application/json"},
    )  # fmt: skip
    assert big.status_code == 413
    assert big.json()["title"] == "Request too large"

    def streamed() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"left": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    for path, kind in (
        ("/api/v1/decisions", "application/json"),
        ("/login", "application/x-www-form-urlencoded"),
    ):
        chunked = client.post(path, content=streamed(), headers={**auth, "Content-Type": kind})
        assert chunked.status_code == 413, (path, chunked.text[:300])
        assert chunked.json()["title"] == "Request too large"
    xml = client.post(
        "/api/v1/decisions", content=b"<a/>", headers={**auth, "Content-Type": "application/xml"}
    )
    assert xml.status_code == 415
    broken = client.post(
        "/api/v1/decisions",
        content=b"{not json",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert broken.json()["errors"]
    extra = client.post(
        "/api/v1/decisions",
        json={"kind": "same", "a": "P1", "b": "P2", "reason": "abc", "sql": "1; DROP TABLE x"},
        headers=auth,
    )
    assert extra.status_code == 422
    assert (
        client.get("/api/v1/search", params={"q": "x", "cursor": "!!"}, headers=auth).status_code
        == 400
    )


def test_the_api_and_the_pages_show_the_same_data(app: object, served: Served) -> None:
    token = token_for(served, "analyst1")
    client = client_for(app, "analyst1")
    found = api(app, token, "/api/v1/search", q="smith", purpose=PURPOSE).json()
    page = client.get("/search", params={"q": "smith"}).text
    assert re.findall(r'href="/entities/([A-Z]\d+)"', page) == [
        h["id"] for h in found["hits"] if h["kind"] != "document"
    ]
    person = first_person(app, token)
    profile = api(app, token, f"/api/v1/entities/{person}", purpose=PURPOSE).json()
    shown = client.get(f"/entities/{person}").text
    for field in profile["fields"]:
        for value in field["values"]:
            assert f">{value['value']}<" in shown.replace("<strong>", "").replace("</strong>", "")


def test_an_entity_nobody_may_see_and_one_that_does_not_exist_look_the_same(
    app: object, served: Served
) -> None:
    import duckdb

    con = duckdb.connect(str(served.hub / "hub.duckdb"), read_only=True)
    hidden = con.execute(
        """SELECT em.entity_id FROM entity_membership em JOIN mentions m USING (mention_id)
           JOIN source_rows s ON s.source = m.source AND s.row_id = m.row_id
           GROUP BY 1 HAVING bool_and(s.compartment IS NOT NULL) LIMIT 1"""
    ).fetchone()
    con.close()
    if hidden is None:
        pytest.skip("the small force has no entity wholly inside an operation")
    token = token_for(served, "analyst1")  # not briefed into any operation
    briefed = token_for(served, "analyst_op")
    seen = api(app, briefed, f"/api/v1/entities/{hidden[0]}", purpose=PURPOSE)
    assert seen.status_code == 200
    unseen = api(app, token, f"/api/v1/entities/{hidden[0]}", purpose=PURPOSE)
    missing = api(app, token, "/api/v1/entities/P99999999", purpose=PURPOSE)
    assert unseen.status_code == missing.status_code == 404
    assert unseen.json()["detail"].replace(hidden[0], "X") == missing.json()["detail"].replace(
        "P99999999", "X"
    )


def test_a_look_up_of_a_hidden_or_missing_entity_is_audited_as_not_found(
    app: object, served: Served
) -> None:
    token = token_for(served, "dc1")
    assert api(app, token, "/api/v1/entities/P99999998", purpose=PURPOSE).status_code == 404
    with State.open(served.state_url) as state:
        last = state.find_audit(actor="dc1", entity="P99999998", limit=1)[0]
    assert last.outcome == "not found"
    assert last.purpose == PURPOSE


def test_the_profile_does_not_say_whether_records_are_withheld(app: object, served: Served) -> None:
    token = token_for(served, "pc1")
    person = first_person(app, token)
    profile = api(app, token, f"/api/v1/entities/{person}", purpose=PURPOSE).json()
    assert "complete" not in profile
    assert "complete" not in api(app, token, f"/api/v1/entities/{person}/history").json()


def test_the_review_pair_page_weighs_a_queued_pair_field_by_field(app: object) -> None:
    client = client_for(app, "analyst1")
    queue = client.get("/api/v1/review", params={"limit": 1}).json()
    if not queue["items"]:
        pytest.skip("the small force's review queue is empty")
    pair = queue["items"][0]
    page = client.get("/review/pair", params={"a": pair["a"], "b": pair["b"]})
    assert page.status_code == 200
    assert "Match probability" in page.text


def test_the_review_queue_lists_each_pair_of_people_once(app: object, served: Served) -> None:
    import duckdb

    client = client_for(app, "analyst1")
    items, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/review", params=params).json()
        items += page["items"]
        cursor = page["next"]
        if not cursor:
            break
    assert len(items) == page["total"]
    people = [tuple(sorted((i["entity_a"] or i["a"], i["entity_b"] or i["b"]))) for i in items]
    assert len(set(people)) == len(people)
    assert sum(i["pairs"] for i in items) == page["record_pairs"]
    # how many people a name fits counts people the reader may not see: no number shown
    assert not any(re.search(r"fits \d+ known", i["reason"]) for i in items)
    assert any("fits more than one known person" in i["reason"] for i in items)
    # no more than the hub's queue (some records are in operations the analyst is not in)
    with duckdb.connect(str(served.hub / "hub.duckdb"), read_only=True) as hub:
        queued = hub.execute(
            "SELECT count(*), count(DISTINCT (least(coalesce(entity_l, mention_l), "
            "coalesce(entity_r, mention_r)), greatest(coalesce(entity_l, mention_l), "
            "coalesce(entity_r, mention_r)))) FROM review_queue"
        ).fetchone()
    assert queued is not None
    assert page["record_pairs"] <= queued[0]
    assert page["total"] <= queued[1]
    assert page["record_pairs"] > page["total"]  # some pairs of people have several
    shown = client.get("/review").text
    assert f"{page['total']:,} uncertain pairs of people" in shown
    assert f"({page['record_pairs']:,} pairs of their records)" in shown


def test_a_purpose_note_may_hold_any_character(app: object) -> None:
    client = client_for(app, "dc1", purpose=None)
    form = client.get("/purpose")
    note = "welfare check on Zoë’s brother 👍"
    answer = client.post(
        "/purpose",
        data={"csrf_token": csrf_of(form.text), "kind": "reason", "reason": "safeguarding",
              "note": note, "next": "/"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303
    assert note in client.get("/").text


def test_the_sign_in_page_shows_only_its_own_messages(app: object) -> None:
    page = TestClient(app).get("/login", params={"error": "Peelian has moved to evil.example"})  # type: ignore[arg-type]
    assert "evil.example" not in page.text


def test_errors_carry_the_security_headers(app: object, served: Served) -> None:
    token = token_for(served, "analyst1")
    big = TestClient(app).post(  # type: ignore[arg-type]
        "/api/v1/decisions", content=b"x" * 100_000,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    assert big.status_code == 413
    assert "default-src 'self'" in big.headers["content-security-policy"]
    assert big.headers["x-content-type-options"] == "nosniff"


def test_a_disabled_account_loses_its_sessions_for_good(app: object, served: Served) -> None:
    with State.open(served.state_url) as state:
        state.accounts.add_user("pc_temp", "pc_temp", "response_officer", "NPPV2",
                                by="test-setup", password=PASSWORD)  # fmt: skip
    client = client_for(app, "pc_temp")
    assert client.get("/api/v1/me").status_code == 200
    with State.open(served.state_url) as state:
        state.accounts.disable("pc_temp", by="test-setup", reason="left the force")
        state.accounts.enable("pc_temp", by="test-setup", reason="came back")
    assert client.get("/api/v1/me").status_code == 401


def test_groups_and_county_lines_come_with_their_reasons_to_an_analyst(
    app: object, served: Served
) -> None:
    token = token_for(served, "analyst1")
    groups = api(app, token, "/api/v1/networks/groups", purpose=PURPOSE)
    assert groups.status_code == 200, groups.text
    items = groups.json()["items"]
    assert items, "the small force has organised crime groups"
    assert all(g["reasons"] and g["people"] for g in items)
    assert {p["role"] for g in items for p in g["people"]} <= {"member", "associate"}
    lines = api(app, token, "/api/v1/networks/county-lines", purpose=PURPOSE).json()
    assert lines["items"]
    assert lines["safeguarding_shown"] is True
    line = lines["items"][0]
    assert line["phones"]
    assert "bulk texts" in line["phones"][0]["evidence"]
    assert any(p["role"] == "runner" for i in lines["items"] for p in i["people"])
    assert all(f["lines"] >= 1 for f in lines["flows"])
    with State.open(served.state_url) as state:
        actions = [e.action for e in state.audit_events() if e.actor == "analyst1"]
    assert "network.groups" in actions
    assert "network.county_lines" in actions


def test_county_lines_withhold_runners_without_the_safeguarding_permission(
    app: object, served: Served
) -> None:
    # an investigator sees lines and controllers, not the children exploited by them
    lines = api(
        app, token_for(served, "dc1"), "/api/v1/networks/county-lines", purpose=PURPOSE
    ).json()
    assert lines["safeguarding_shown"] is False
    assert lines["items"]
    assert all(p["role"] != "runner" for i in lines["items"] for p in i["people"])
    assert all(not i["cuckooed"] for i in lines["items"])


def test_groups_and_lines_resting_on_records_a_reader_may_not_see_are_withheld(
    app: object, served: Served
) -> None:
    # NPPV1 clears OFFICIAL only: the call records (OFFICIAL-SENSITIVE) that every line
    # and every group's phone contact rests on are hidden from this officer, so
    # nothing is shown; a response officer may not explore networks at all
    low = token_for(served, "pc_low")
    assert api(app, low, "/api/v1/networks/groups", purpose=PURPOSE).status_code == 403
    with State.open(served.state_url) as state:
        state.accounts.add_user(
            "dc_low", "dc_low", "investigator", "NPPV1", by="test-setup", password=PASSWORD
        )
    token = token_for(served, "dc_low")
    assert api(app, token, "/api/v1/networks/groups", purpose=PURPOSE).json()["items"] == []
    assert api(app, token, "/api/v1/networks/county-lines", purpose=PURPOSE).json()["items"] == []


def test_the_groups_and_county_lines_pages_show_what_the_api_gives(
    app: object, served: Served
) -> None:
    client = client_for(app, "analyst1")
    groups = api(app, token_for(served, "analyst1"), "/api/v1/networks/groups", purpose=PURPOSE)
    page = client.get("/networks/groups")
    assert page.status_code == 200
    for group in groups.json()["items"]:
        assert f"Group {group['id']}" in page.text
    lines = client.get("/networks/county-lines")
    assert lines.status_code == 200
    assert "handsets in turn" in lines.text
    officer = client_for(app, "pc1")
    assert officer.get("/networks/groups").status_code == 403


def test_the_profile_maps_the_places_of_events_or_says_there_are_none(
    app: object, served: Served
) -> None:
    token = token_for(served, "analyst1")
    client = client_for(app, "analyst1")
    seen = set()
    for query in ("smith", "jones", "07", "ford"):
        found = api(app, token, "/api/v1/search", q=query, purpose=PURPOSE, limit=30).json()
        for hit in found["hits"]:
            if hit["kind"] == "document":
                continue
            timeline = api(
                app, token, f"/api/v1/entities/{hit['id']}/timeline", purpose=PURPOSE
            ).json()
            located = any(item["point"] for item in timeline["items"])
            if located in seen:
                continue
            page = client.get(f"/entities/{hit['id']}").text
            assert ('id="entity-map"' in page) is located
            assert ("None of the events listed has a place you may see." in page) is not located
            seen.add(located)
    assert seen == {True, False}


def test_the_audit_check_walks_the_chain_once_then_what_came_since(
    served: Served, tmp_path: Path
) -> None:
    from peelian.serve import oversight

    state = own_state(served, tmp_path)
    app = create_app(ServeSettings(hub=served.hub, state_url=state.state_url, secure_cookies=False))
    token = token_for(state, "auditor1")
    with TestClient(app) as client:
        oversight._VERIFIED.clear()

        def check() -> dict[str, Any]:
            answer = client.get(
                "/api/v1/audit/verify",
                headers={"Authorization": f"Bearer {token}", "X-Purpose": PURPOSE},
            )
            assert answer.status_code == 200
            return dict(answer.json())

        whole = check()
        assert whole["ok"]
        assert whole["since"] == 0
        assert whole["walked_at"]
        again = check()  # its own check was audited since: only that is walked now
        assert again["ok"]
        assert again["since"] == whole["checked"]
        assert again["checked"] > whole["checked"]
        assert again["walked_at"] == whole["walked_at"]
        # an event checked before, rewritten with a fresh hash: found by the next check
        with sa.create_engine(f"sqlite:///{state.state_url}").begin() as con:
            for trigger in ("audit_events_no_update", "audit_events_no_delete"):
                con.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
            con.execute(
                sa.text("UPDATE audit_events SET hash = :h WHERE seq = :s"),
                {"h": "f" * 64, "s": again["checked"]},
            )
        broken = check()
        assert not broken["ok"]
        assert broken["first_bad_seq"] == again["checked"]
        assert "checked before" in broken["problem"]
        assert check()["since"] == 0  # after a break the whole chain is walked again
