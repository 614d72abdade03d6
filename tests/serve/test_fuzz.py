"""Hostile input for every API operation and the main pages: no crash, errors as
problem details, nothing echoed back where a browser would run it.

- Schemathesis reads the OpenAPI document from the app and fuzzes each operation
  (valid and invalid data, a few dozen examples each, deterministic), as an
  intelligence analyst with a purpose of access.
- A table of hostile strings (SQL injection, script, template syntax, a null
  byte, very long text, odd unicode, path tricks) goes into every string
  parameter of every operation, one at a time, the others kept valid.
- The same strings go into the search, quick check, entity, document and audit
  pages of a signed-in session: no 5xx, and the script never comes back
  unescaped in the HTML.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.serve.conftest import PURPOSE, Served, client_for

from peelian.serve.app import create_app
from peelian.serve.problems import PROBLEM_JSON

FUZZ_USER = "analyst1"  # may search, read, explore, review and decide; no oversight
SCRIPT = "<script>alert(1)</script>"
HOSTILE = {
    "sql": "' OR 1=1 --",
    "sql-union": "x' UNION SELECT username, password_hash FROM users --",
    "script": SCRIPT,
    "attribute": '"><img src=x onerror=alert(1)>',
    "template": "{{7*7}}${7*7}<%= 7*7 %>",
    "null byte": "a\x00b",
    "long": "A" * 20_000,
    "unicode": "Zoë Ødegård 北京 🙂 \u202eevil\u200b \ufffd",
    "path": "../../../../etc/passwd",
    "percent": "%00%27%3Cscript%3E",
    "format": "%s%s%n{0}{}",
    "json": '{"$ne": null}',
    "newline": "line\r\nX-Injected: 1",
    "query syntax": 'surname:"unclosed dob:99/99/9999 near:999,999,-1km type:',
    "entity-like": "P00000001' --",
}
PROBLEM_KEYS = ("type", "title", "status", "detail")
DOWNLOADS = ("text/csv", "image/svg+xml", "image/png")


def check_answer(response: Any, where: str) -> None:
    """No server error; errors as problem details; JSON only (never HTML a
    browser would render) and no sniffing."""
    status = response.status_code
    assert status < 500, f"{where}: {status} {response.text[:500]}"
    kind = header(response, "content-type")
    assert header(response, "x-content-type-options") == "nosniff", where
    if status >= 400:
        assert kind.startswith(PROBLEM_JSON), (
            f"{where}: {status} as {kind!r}: {response.text[:300]}"
        )
        body = json.loads(response.text)
        missing = [k for k in PROBLEM_KEYS if k not in body]
        assert not missing, f"{where}: problem details without {missing}: {body}"
        assert body["status"] == status, f"{where}: {body}"
    elif kind.split(";")[0] in DOWNLOADS:
        # a table or chart to save (CSV, SVG, PNG), never shown in the page
        disposition = header(response, "content-disposition")
        assert disposition.startswith("attachment;"), f"{where}: {kind} shown inline"
    elif status != 204:
        assert kind.startswith("application/json"), f"{where}: {status} as {kind!r}"
        json.loads(response.text)


def header(response: Any, name: str) -> str:
    """A response header (Schemathesis's responses hold a list per header)."""
    value = response.headers.get(name, "")
    return str(value[0] if isinstance(value, list) and value else value)


def token_of(state_db: Any, username: str) -> str:
    token, _ = state_db.accounts.create_token(username, "fuzz", by="test-setup", days=1)
    return str(token)


# -- Schemathesis over the OpenAPI document -------------------------------------------


@pytest.fixture(scope="module")
def fuzz_app(served: Served) -> Iterator[Any]:
    """An app of its own for Schemathesis, whose ASGI client runs the lifespan (opening
    the hub and the state) on the first request and keeps it for the process; it is
    shut down when the module is done."""
    application = create_app(served.settings())
    yield application
    try:
        from schemathesis.python import asgi

        asgi.shutdown_lifespans()
    except (ImportError, AttributeError):  # pragma: no cover - another Schemathesis
        pass


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    # the number of examples and their order are Hypothesis's settings in the test
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def fuzz_headers(fuzz_app: Any, api_schema: Any) -> dict[str, str]:
    # loading the schema started the lifespan: the app has its state
    token = token_of(fuzz_app.state.state_db, FUZZ_USER)
    return {"Authorization": f"Bearer {token}", "X-Purpose": PURPOSE}


def api_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the OpenAPI document, known without a hub
    (the app is made, not started), so that each is a test of its own.

    Schemathesis's own `schema.parametrize()` needs the schema at import time, and
    `schemathesis.pytest.from_fixture` (4.32) breaks on pytest 9 (`node._nodeid`):
    the cases come from each operation's Hypothesis strategy instead.
    """
    from pathlib import Path

    from peelian.serve.app import ServeSettings

    doc = create_app(ServeSettings(hub=Path("unused"), state_url="sqlite://")).openapi()
    return [(m.upper(), path) for path, item in doc["paths"].items() for m in item]


@pytest.mark.parametrize(("method", "path"), api_operations(), ids=lambda v: str(v))
def test_every_operation_survives_generated_input(
    method: str, path: str, api_schema: Any, fuzz_headers: dict[str, str]
) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def fuzz(case: Any) -> None:
        response = case.call(headers=fuzz_headers)
        where = f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300}"
        check_answer(response, where)
        # the token is good for every case: a 401 would mean the fuzzing went no deeper
        assert response.status_code != 401, f"{where}: {response.text[:300]}"

    fuzz()


# -- hostile strings in every string parameter -------------------------------------------

# A valid value for each parameter (by name), so that each request carries one
# hostile string and is otherwise fine.
VALID: dict[str, Any] = {
    "q": "smith",
    "entity_id": "P00000001",
    "ids": ["P00000001"],
    "from": "P00000001",
    "to": "P00000002",
    "mention": "crime:61/000001/24:crime",
    "username": "pc_low",
    "decision_id": 1,
    "depth": 1,
    "limit": 5,
    "kind": "same",
    "a": "P00000001",
    "b": "P00000002",
    "reason": "checked against PNC",
    "change": "enable",
    "value": "",
    "name": "Fuzz",
    "role": "no_such_role",
    "vetting": "SC",
    "fmt": "csv",
    "decision": "at_risk",
    "note": "checked at the strategy meeting",
}


def _is_string(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "string" or schema.get("items", {}).get("type") == "string":
        return True
    return any(_is_string(s) for s in schema.get("anyOf", []))


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def hostile_requests(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, Any]]:
    """(method, path, where, hostile) for each string parameter and body field of
    each operation: yields (method, path template, 'in:name', None) once per slot."""
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                if _is_string(p.get("schema", {})):
                    yield method.upper(), path, f"{p['in']}:{p['name']}", p
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                props = _resolve(doc, body["schema"]).get("properties", {})
                for name, prop in props.items():
                    if _is_string(prop) or "enum" in prop:
                        yield method.upper(), path, f"body:{name}", prop


def build_request(
    doc: dict[str, Any], method: str, path: str, slot: str, value: str
) -> tuple[str, list[tuple[str, Any]], dict[str, Any] | None]:
    """The URL, query and body of `method path` with `value` in `slot`, the other
    required parameters valid."""
    op = doc["paths"][path][method.lower()]
    where, _, name = slot.partition(":")
    url = path
    query: list[tuple[str, Any]] = []
    for p in op.get("parameters", []):
        is_slot = where == p["in"] and name == p["name"]
        if p["in"] == "path":
            given = value if is_slot else VALID[p["name"]]
            url = url.replace("{" + p["name"] + "}", quote(str(given), safe=""))
        elif p["in"] == "query" and (is_slot or p.get("required")):
            given = value if is_slot else VALID[p["name"]]
            for v in given if isinstance(given, list) and not is_slot else [given]:
                query.append((p["name"], v))
    body = None
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        schema = _resolve(doc, content["schema"])
        body = {k: VALID[k] for k in schema.get("required", [])}
        if where == "body":
            body[name] = value
    return url, query, body


@pytest.fixture(scope="module")
def analyst(app: Any) -> TestClient:
    client = TestClient(app)  # type: ignore[arg-type]
    token = token_of(app.state.state_db, FUZZ_USER)
    client.headers.update({"Authorization": f"Bearer {token}", "X-Purpose": PURPOSE})
    return client


@pytest.mark.parametrize("payload", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_strings_in_every_string_parameter(payload: str, analyst: TestClient) -> None:
    value = HOSTILE[payload]
    doc = analyst.get("/api/v1/openapi.json").json()
    slots = list(hostile_requests(doc))
    assert len(slots) >= 25, f"too few string parameters found: {slots}"
    failures = []
    for method, path, slot, _ in slots:
        url, query, body = build_request(doc, method, path, slot, value)
        where = f"{method} {url} {slot}={payload}"
        try:
            response = analyst.request(method, url, params=query, json=body)
            check_answer(response, where)
        except AssertionError as exc:
            failures.append(str(exc)[:600])
    # the purpose header too (no null byte or newline: HTTP forbids them in headers)
    if not any(c in value for c in "\x00\r\n"):
        purpose = value.encode()  # headers are bytes: UTF-8, as a browser sends them
        response = analyst.get(
            "/api/v1/search", params={"q": "smith"}, headers={"X-Purpose": purpose}
        )
        try:
            check_answer(response, f"X-Purpose={payload}")
        except AssertionError as exc:
            failures.append(str(exc)[:600])
    assert not failures, "\n".join(failures)


# -- the pages -------------------------------------------------------------------------------


def pages(value: str) -> list[tuple[str, str, dict[str, str]]]:
    """(user, path, params) of the pages that take a string from the URL."""
    return [
        (FUZZ_USER, "/search", {"q": value}),
        (FUZZ_USER, "/quick", {"q": value}),
        (FUZZ_USER, "/entities/" + quote(value, safe=""), {}),
        (FUZZ_USER, "/documents", {"mention": value}),
        (FUZZ_USER, "/review/pair", {"a": value, "b": value}),
        (FUZZ_USER, "/network", {"ids": value}),
        ("auditor1", "/audit", {"user": value, "entity": value, "action": value}),
    ]


@pytest.fixture(scope="module")
def sessions(app: Any) -> dict[str, TestClient]:
    return {u: client_for(app, u) for u in (FUZZ_USER, "auditor1")}


@pytest.mark.parametrize("payload", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_strings_in_the_pages(payload: str, sessions: dict[str, TestClient]) -> None:
    value = HOSTILE[payload]
    failures = []
    for user, path, params in pages(value):
        where = f"GET {path[:80]} {list(params)} as {user} with {payload}"
        response = sessions[user].get(path, params=params, follow_redirects=False)
        if response.status_code >= 500:
            failures.append(f"{where}: {response.status_code} {response.text[:300]}")
            continue
        if SCRIPT in response.text or "<img src=x onerror" in response.text:
            failures.append(f"{where}: the payload came back unescaped")
        if response.status_code in (301, 302, 303, 307, 308):
            target = response.headers.get("location", "")
            if not target.startswith("/") or target.startswith("//"):
                failures.append(f"{where}: redirects off the site to {target!r}")
    assert not failures, "\n".join(failures)
