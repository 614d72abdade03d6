"""A generated matrix over every API route x every test user x probes about
records each kind of security label hides, proving that nothing leaks.

The ground truth comes straight from the hub (DuckDB, read only) and the policy
(`Principal.may_see` of each user's principal): for each user, the live entities
they may see no record of, the mentions they may not see, and distinctive
strings (references, identifiers, names, document texts, operation names) that
only records hidden from them hold. Each probe asks a route about something
hidden by one kind of label the small force has (an operation's compartment,
OFFICIAL-SENSITIVE above NPPV1, partner sharing roles with and without the MASH
officer), something half hidden, something visible and something that does not
exist. For each (route, user, probe):

- the answer is never a 5xx, and every error is a problem details document;
- a role without the route's permission gets 403; a hidden thing gets the same
  answer as a missing thing (404, the same detail but for the id); a visible
  thing gets the route's success;
- the answer names no hidden entity id, no hidden mention id and no hidden
  distinctive string (outside the fields that echo the request: `query`,
  `understood`, `detail`, `instance`, `errors`);
- counts (search totals and facets, dashboard, map, data quality) count nothing
  hidden from the user.

`ROUTES` has one entry per API operation; `test_every_api_route_is_in_the_matrix`
fails for a route without one, so a new route is covered as soon as it exists.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from tests.serve.conftest import PURPOSE, USERS, Served

from peelian.govern.policy import Principal
from peelian.serve.problems import PROBLEM_JSON

USERNAMES = [u[0] for u in USERS]
MISSING_ENTITY = "P99999999"
MISSING_MENTION = "crime:00/999999/99:crime"
MISSING_DECISION = 2**31 - 1
# Fields of an answer that repeat what the request said (the query, the id asked
# for): a hidden string the caller typed may come back there, and only there.
ECHO_FIELDS = frozenset({"query", "understood", "detail", "instance", "errors"})
ENTITY_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Z][0-9]{1,12}(?![0-9])")
JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
PROBLEM_KEYS = ("type", "title", "status", "detail")

# The restriction kind of a source row: what hides it from whom.
KIND_SQL = """CASE
    WHEN s.compartment IS NOT NULL AND trim(s.compartment) <> '' THEN 'compartment'
    WHEN len(coalesce(s.sharing_roles, [])) > 0
         AND list_contains(s.sharing_roles, 'mash_officer') THEN 'partner_mash'
    WHEN len(coalesce(s.sharing_roles, [])) > 0 THEN 'partner'
    WHEN upper(s.marking) <> 'OFFICIAL' THEN 'sensitive'
    ELSE 'open' END"""
HIDING_KINDS = ("compartment", "sensitive", "partner", "partner_mash")
# Person fields whose values make distinctive strings.
STRING_FIELDS = ("surname", "identifier", "phone", "address", "forenames")
# Identifier schemes the search box finds by "scheme:value".
SEARCHABLE_SCHEMES = ("nhs", "pnc", "cro", "ni")


# -- the ground truth -------------------------------------------------------------


@dataclass
class Seen:
    """What one user may and may not see."""

    principal: Principal
    hidden_entities: set[str]
    hidden_mentions: set[str]
    hidden_strings: set[str]
    visible_labels: set[int]
    hidden_matches: set[str]  # fielded search values that find only hidden records


@dataclass
class Truth:
    """The hub's records, their labels, and the probes drawn from them."""

    labels: dict[int, tuple[str | None, str | None, list[str]]]
    label_kind: dict[int, str]
    mention_label: dict[str, int]
    mention_source: dict[str, str]
    entity_labels: dict[str, set[int]]
    entity_mentions: dict[str, list[str]]
    entity_type: dict[str, str]
    row_labels: Counter[tuple[str, int]]  # (source, label) -> live source rows
    event_labels: dict[str, tuple[str, int]]  # event mention -> (type, label)
    string_labels: dict[str, set[int]]  # distinctive string -> labels of records holding it
    # the value of a fielded search (ref:, nhs:...) -> labels of the records it finds
    match_labels: dict[str, set[int]]
    string_kind: dict[str, str]
    entities: dict[str, str]  # probe name -> entity id
    mentions: dict[str, str]  # probe name -> document mention id
    decide_mention: dict[str, str]  # probe name -> a (person) mention id
    refs: dict[str, str]  # probe name -> event reference
    identifiers: dict[str, str]  # probe name -> search query for an identifier
    names: dict[str, str]  # probe name -> a name to search for
    phrases: dict[str, str]  # probe name -> a document text
    operations: list[str]
    users: dict[str, Seen] = field(default_factory=dict)

    def seen(self, principal: Principal) -> Seen:
        visible = {
            n for n, (m, c, r) in self.labels.items() if principal.may_see(m, c, r or [])
        }  # fmt: skip
        hidden_entities = {e for e, ls in self.entity_labels.items() if not ls & visible}
        hidden_mentions = {m for m, lab in self.mention_label.items() if lab not in visible}
        hidden_strings = {s for s, ls in self.string_labels.items() if not ls & visible}
        hidden_matches = {s for s, ls in self.match_labels.items() if not ls & visible}
        return Seen(
            principal, hidden_entities, hidden_mentions, hidden_strings, visible, hidden_matches
        )


def _first(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> Any:
    row = con.execute(sql, params or {}).fetchone()
    return None if row is None else row[0]


def build_truth(con: duckdb.DuckDBPyConnection) -> Truth:
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE lab AS
        SELECT row_number() OVER (ORDER BY marking, compartment, sharing_roles)::INTEGER AS label,
               marking, compartment, sharing_roles, kind
        FROM (SELECT DISTINCT s.marking, s.compartment, s.sharing_roles, {KIND_SQL} AS kind
              FROM source_rows s)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE lm AS
        SELECT m.mention_id, m.source, m.record_id, m.kind AS mkind, m.event_type,
               em.entity_id, em.entity_type, l.label, l.kind
        FROM mentions m
        JOIN source_rows s ON s.source = m.source AND s.row_id = m.row_id
        JOIN lab l ON l.marking IS NOT DISTINCT FROM s.marking
             AND l.compartment IS NOT DISTINCT FROM s.compartment
             AND l.sharing_roles IS NOT DISTINCT FROM s.sharing_roles
        LEFT JOIN entity_membership em ON em.mention_id = m.mention_id
        WHERE m.deleted_at IS NULL"""
    )
    labels = {
        n: (m, c, list(r or []))
        for n, m, c, r in con.execute(
            "SELECT label, marking, compartment, sharing_roles FROM lab"
        ).fetchall()
    }
    label_kind = dict(con.execute("SELECT label, kind FROM lab").fetchall())
    mention_label: dict[str, int] = {}
    mention_source: dict[str, str] = {}
    entity_labels: dict[str, set[int]] = defaultdict(set)
    entity_mentions: dict[str, list[str]] = defaultdict(list)
    entity_type: dict[str, str] = {}
    for mention, source, entity, etype, label in con.execute(
        "SELECT mention_id, source, entity_id, entity_type, label FROM lm"
    ).fetchall():
        mention_label[mention] = label
        mention_source[mention] = source
        if entity is not None:
            entity_labels[entity].add(label)
            entity_mentions[entity].append(mention)
            entity_type[entity] = etype
    row_labels: Counter[tuple[str, int]] = Counter()
    for source, label, n in con.execute(
        """SELECT s.source, l.label, count(*) FROM source_rows s
           JOIN lab l ON l.marking IS NOT DISTINCT FROM s.marking
            AND l.compartment IS NOT DISTINCT FROM s.compartment
            AND l.sharing_roles IS NOT DISTINCT FROM s.sharing_roles
           WHERE s.deleted_at IS NULL GROUP BY ALL"""
    ).fetchall():
        row_labels[(source, label)] = int(n)
    event_labels = {
        m: (t, lab)
        for m, t, lab in con.execute(
            "SELECT mention_id, event_type, label FROM lm WHERE mkind = 'event'"
        ).fetchall()
    }

    # Probe entities: wholly of one hiding kind, half hidden, visible to all.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE ek AS
        SELECT entity_id, any_value(entity_type) AS entity_type,
               list_sort(list_distinct(list(kind))) AS kinds, count(*) AS n
        FROM lm WHERE entity_id IS NOT NULL GROUP BY 1"""
    )
    entities: dict[str, str] = {}

    def pick(name: str, where: str, entity_type: str = "person") -> None:
        found = _first(
            con,
            f"SELECT entity_id FROM ek WHERE entity_type = $t AND {where} "
            "ORDER BY n DESC, entity_id LIMIT 1",
            {"t": entity_type},
        )
        if found is not None:
            entities[name] = found

    for kind in HIDING_KINDS:
        pick(f"{kind} person", f"kinds = ['{kind}']")
        pick(f"half-{kind} person", f"kinds = list_sort(['open', '{kind}'])")
    pick("partner address", "kinds = ['partner']", "address")
    pick("sensitive phone", "kinds = ['sensitive']", "phone")
    pick("visible person", "kinds = ['open'] AND n >= 3")

    # Probe documents and events: one per hiding kind, and one visible.
    mentions: dict[str, str] = {}
    refs: dict[str, str] = {}
    phrases: dict[str, str] = {}
    for kind in (*HIDING_KINDS, "open"):
        row = con.execute(
            """SELECT lm.mention_id, ev.reference, d.text FROM lm
               JOIN documents d ON d.mention_id = lm.mention_id
               JOIN event ev ON ev.mention_id = lm.mention_id
               WHERE lm.kind = $k AND ev.reference IS NOT NULL AND length(d.text) >= 25
               ORDER BY lm.mention_id LIMIT 1""",
            {"k": kind},
        ).fetchone()
        if row is None:
            continue
        name = "visible" if kind == "open" else kind
        mentions[f"{name} document"] = row[0]
        if kind != "open":
            refs[f"{kind} reference"] = row[1]
            phrases[f"{kind} document text"] = row[2]
    decide_mention = {
        f"{kind} mention": m
        for kind in (*HIDING_KINDS, "open")
        if (
            m := _first(
                con,
                "SELECT mention_id FROM lm WHERE kind = $k AND entity_type = 'person' "
                "ORDER BY mention_id LIMIT 1",
                {"k": kind},
            )
        )
    }

    # Distinctive strings: values of records of one hiding kind.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE gk AS
        SELECT g.entity_id, g.field, g.value, list_sort(list_distinct(list(lm.kind))) AS kinds
        FROM golden_values g, unnest(g.mentions) AS u(mid) JOIN lm ON lm.mention_id = u.mid
        GROUP BY ALL"""
    )
    candidates: dict[str, str] = {}
    identifiers: dict[str, str] = {}
    names: dict[str, str] = {}
    for name, entity in entities.items():
        kind = name.split()[0].removeprefix("half-")
        if kind not in HIDING_KINDS:
            continue
        for fname, value in con.execute(
            """SELECT field, value FROM gk
               WHERE entity_id = $e AND field IN (SELECT unnest($f::VARCHAR[]))
                 AND kinds = [$k] ORDER BY field, value""",
            {"e": entity, "f": list(STRING_FIELDS), "k": kind},
        ).fetchall():
            text = value.split(":", 1)[1] if fname == "identifier" else value
            candidates.setdefault(text, kind)
            if fname == "surname":
                names.setdefault(f"{name} surname", value)
    for name, ref in refs.items():
        candidates.setdefault(ref, name.split()[0])
    for name, text in phrases.items():
        candidates.setdefault(text, name.split()[0])
    operations = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT compartment FROM source_rows WHERE compartment IS NOT NULL "
            "AND trim(compartment) <> '' ORDER BY 1"
        ).fetchall()
    ]
    for op in operations:
        candidates.setdefault(op, "compartment")
    for name, ref in refs.items():
        identifiers.setdefault(name, f"ref:{ref}")
    # A person identifier only records of one hiding kind hold, for each kind.
    for kind in HIDING_KINDS:
        for value in con.execute(
            """SELECT value FROM gk
               WHERE field = 'identifier' AND kinds = [$k]
                 AND split_part(value, ':', 1) IN (SELECT unnest($s::VARCHAR[]))
               ORDER BY entity_id, value LIMIT 2""",
            {"s": list(SEARCHABLE_SCHEMES), "k": kind},
        ).fetchall():
            candidates.setdefault(value[0].split(":", 1)[1], kind)
            identifiers.setdefault(f"{kind} identifier {value[0]}", value[0])

    # What a fielded search finds: events with the reference, people with the identifier.
    match_labels: dict[str, set[int]] = {}
    for query in identifiers.values():
        scheme, value = query.split(":", 1)
        sql = (
            "SELECT DISTINCT lm.label FROM event ev JOIN lm USING (mention_id) "
            "WHERE upper(ev.reference) = upper($q)"
            if scheme == "ref"
            else "SELECT DISTINCT lm.label FROM golden_values g, unnest(g.mentions) AS u(mid) "
            "JOIN lm ON lm.mention_id = u.mid WHERE g.field = 'identifier' AND g.value = $q"
        )
        found = con.execute(sql, {"q": value if scheme == "ref" else query}).fetchall()
        match_labels[value] = {r[0] for r in found}

    # Which labels' records hold each candidate (anywhere: raw row, record and mention
    # ids, document texts, references, golden values), in one pass over the records.
    kept = {
        text: kind
        for text, kind in candidates.items()
        if len(text) >= 6 and not (re.fullmatch(r"[0-9 /:-]+", text) and len(text) < 9)
    }  # shorter strings and bare dates are not distinctive
    con.execute("CREATE OR REPLACE TEMP TABLE cand (c VARCHAR, lc VARCHAR)")
    con.executemany("INSERT INTO cand VALUES (?, lower(?))", [(t, t) for t in kept])
    con.execute(
        """CREATE OR REPLACE TEMP TABLE corpus AS
        SELECT l.label, lower(s.raw || ' ' || s.record_id) AS t FROM source_rows s JOIN lab l
          ON l.marking IS NOT DISTINCT FROM s.marking
         AND l.compartment IS NOT DISTINCT FROM s.compartment
         AND l.sharing_roles IS NOT DISTINCT FROM s.sharing_roles
        UNION ALL SELECT label, lower(mention_id) FROM lm
        UNION ALL SELECT lm.label, lower(d.text) FROM documents d JOIN lm USING (mention_id)
        UNION ALL SELECT lm.label, lower(ev.reference) FROM event ev JOIN lm USING (mention_id)
        UNION ALL SELECT DISTINCT lm.label, lower(g.value)
                  FROM golden_values g, unnest(g.mentions) AS u(mid)
                  JOIN lm ON lm.mention_id = u.mid"""
    )
    string_labels: dict[str, set[int]] = defaultdict(set)
    for text, label in con.execute(
        "SELECT DISTINCT c.c, k.label FROM cand c JOIN corpus k ON contains(k.t, c.lc)"
    ).fetchall():
        string_labels[text].add(label)
    string_kind = {text: kind for text, kind in kept.items() if text in string_labels}
    return Truth(
        labels=labels,
        label_kind=label_kind,
        mention_label=mention_label,
        mention_source=mention_source,
        entity_labels=dict(entity_labels),
        entity_mentions=dict(entity_mentions),
        entity_type=entity_type,
        row_labels=row_labels,
        event_labels=event_labels,
        string_labels=dict(string_labels),
        match_labels=match_labels,
        string_kind=string_kind,
        entities=entities,
        mentions=mentions,
        decide_mention=decide_mention,
        refs=refs,
        identifiers=identifiers,
        names=names,
        phrases=phrases,
        operations=operations,
    )


@pytest.fixture(scope="module")
def truth(app: Any, served: Served) -> Truth:
    con = duckdb.connect(str(served.hub / "hub.duckdb"), read_only=True)
    try:
        out = build_truth(con)
    finally:
        con.close()
    accounts = app.state.state_db.accounts
    for username in USERNAMES:
        out.users[username] = out.seen(accounts.principal(username))
    return out


@pytest.fixture(scope="module")
def tokens(app: Any) -> dict[str, str]:
    accounts = app.state.state_db.accounts
    return {
        u: accounts.create_token(u, "leak matrix", by="test-setup", days=1)[0] for u in USERNAMES
    }


@pytest.fixture(scope="module")
def hidden_decision(app: Any, truth: Truth) -> int:
    """A decision between two records of an operation (made outside the API)."""
    state = app.state.state_db
    a = truth.entities["compartment person"]
    b = truth.decide_mention["compartment mention"]
    return int(
        state.add_decision("different", "person", a, b, by="test-setup", reason="leak matrix").id
    )


# -- the route table -----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of the matrix. `asks` are the entity or mention ids (or the
    decision) it names: if any is hidden from the user or missing, the answer must
    be `baseline`'s (the same request about things that do not exist), ids aside."""

    probe: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: dict[str, Any] | None = None
    asks: tuple[str, ...] = ()
    baseline: Call | None = None
    ok: int = 200
    mutates: bool = False  # never sent when it would succeed
    hidden_only: str | None = None  # a fielded search value (Truth.match_labels)


@dataclass(frozen=True)
class Route:
    permission: str | None
    calls: Callable[[Truth, int], list[Call]]
    oversight: bool = False  # the audit log: shows what others did, by design
    shows_operations: bool = False  # operation names are the administrator's to see
    # route-specific checks of a 200 answer: (call, body, seen, truth) -> failures
    counts: Callable[[Call, Any, Seen, Truth], list[str]] | None = None


def _missing(call: Call, replace_ids: dict[str, str]) -> Call:
    """`call` with the ids in `replace_ids` swapped for ids that do not exist."""

    def swap(text: str) -> str:
        return replace_ids.get(text, text)

    body = None
    if call.body is not None:
        body = {k: swap(v) if isinstance(v, str) else v for k, v in call.body.items()}
    path = call.path
    for old, new in replace_ids.items():
        path = path.replace(old, new)
    return replace(
        call,
        probe=call.probe + " (missing)",
        path=path,
        params=tuple((k, swap(v)) for k, v in call.params),
        body=body,
        asks=tuple(swap(a) for a in call.asks),
        baseline=None,
    )


def entity_calls(
    suffix: str, params: tuple[tuple[str, str], ...] = ()
) -> Callable[..., list[Call]]:
    def calls(t: Truth, _decision: int) -> list[Call]:
        out = []
        for name, eid in [*t.entities.items(), ("missing", MISSING_ENTITY)]:
            call = Call(name, "GET", f"/api/v1/entities/{eid}{suffix}", params, asks=(eid,))
            if eid != MISSING_ENTITY:
                call = replace(call, baseline=_missing(call, {eid: MISSING_ENTITY}))
            out.append(call)
        return out

    return calls


def search_calls(t: Truth, _decision: int) -> list[Call]:
    out = [Call("visible name", "GET", "/api/v1/search", (("q", "smith"), ("limit", "100")))]
    for name, query in t.identifiers.items():
        value = query.split(":", 1)[-1]
        out.append(
            Call(name, "GET", "/api/v1/search", (("q", query), ("limit", "100")),
                 hidden_only=value)
        )  # fmt: skip
    for name, query in [*t.names.items(), *t.phrases.items()]:
        out.append(Call(name, "GET", "/api/v1/search", (("q", query), ("limit", "100"))))
    for op in t.operations:
        out.append(Call(f"operation {op}", "GET", "/api/v1/search", (("q", op),)))
    return out


def neighbourhood_calls(t: Truth, _decision: int) -> list[Call]:
    out = []
    visible = t.entities["visible person"]
    for name, eid in t.entities.items():
        params = (("ids", eid), ("depth", "2"))
        call = Call(name, "GET", "/api/v1/graph/neighbourhood", params, asks=(eid,))
        out.append(replace(call, baseline=_missing(call, {eid: MISSING_ENTITY})))
        if name != "visible person":
            params = (("ids", visible), ("ids", eid))
            call = Call(f"visible + {name}", "GET", "/api/v1/graph/neighbourhood", params,
                        asks=(visible, eid))  # fmt: skip
            out.append(replace(call, baseline=_missing(call, {eid: MISSING_ENTITY})))
    return out


def path_calls(t: Truth, _decision: int) -> list[Call]:
    out = []
    visible = t.entities["visible person"]
    for name, eid in t.entities.items():
        if name == "visible person":
            continue
        for a, b, probe in (
            (visible, eid, f"visible to {name}"),
            (eid, visible, f"{name} to visible"),
        ):
            call = Call(probe, "GET", "/api/v1/graph/path", (("from", a), ("to", b)), asks=(a, b))
            out.append(replace(call, baseline=_missing(call, {eid: MISSING_ENTITY})))
    return out


def document_calls(t: Truth, _decision: int) -> list[Call]:
    out = []
    for name, mid in [*t.mentions.items(), *t.decide_mention.items()]:
        call = Call(name, "GET", "/api/v1/documents", (("mention", mid),), asks=(mid,))
        if name.endswith("mention"):  # a person's mention: no document, not found for all
            call = replace(call, ok=404)
        out.append(replace(call, baseline=_missing(call, {mid: MISSING_MENTION})))
    return out


def decide_calls(t: Truth, _decision: int) -> list[Call]:
    out = []
    visible = t.entities["visible person"]
    visible_mention = t.decide_mention["open mention"]
    hidden = [(n, e) for n, e in t.entities.items() if not n.startswith(("visible", "half-"))]
    hidden += [(n, m) for n, m in t.decide_mention.items() if n != "open mention"]
    for name, ref in hidden:
        other = visible_mention if ":" in ref else visible
        missing = MISSING_MENTION if ":" in ref else MISSING_ENTITY
        for a, b, probe in (
            (other, ref, f"visible and {name}"),
            (ref, other, f"{name} and visible"),
        ):
            body = {"kind": "same", "a": a, "b": b, "reason": "leak matrix probe",
                    "entity_type": t.entity_type.get(ref, "person")}  # fmt: skip
            call = Call(probe, "POST", "/api/v1/decisions", body=body, asks=(a, b), ok=201,
                        mutates=True)  # fmt: skip
            out.append(replace(call, baseline=_missing(call, {ref: missing})))
    return out


def revoke_calls(t: Truth, decision: int) -> list[Call]:
    body = {"reason": "leak matrix probe"}
    missing = Call("missing decision", "POST", f"/api/v1/decisions/{MISSING_DECISION}/revoke",
                   body=body, asks=(f"decision:{MISSING_DECISION}",))  # fmt: skip
    hidden = Call(
        "decision about an operation's records",
        "POST",
        f"/api/v1/decisions/{decision}/revoke",
        body=body,
        asks=(t.entities["compartment person"], t.decide_mention["compartment mention"]),
        baseline=missing,
        mutates=True,
    )
    return [hidden, replace(missing, ok=404)]


def vulnerability_decide_calls(t: Truth, _decision: int) -> list[Call]:
    out = []
    for name, ref in t.entities.items():
        body = {"decision": "at_risk", "note": "leak matrix probe"}
        path = f"/api/v1/vulnerability/{ref}/decision"
        call = Call(f"decide on {name}", "POST", path, body=body, asks=(ref,), ok=201,
                    mutates=True)  # fmt: skip
        out.append(replace(call, baseline=_missing(call, {ref: MISSING_ENTITY})))
    return out


def gets(path: str, *calls: tuple[str, tuple[tuple[str, str], ...]]) -> Callable[..., list[Call]]:
    return lambda t, d: [Call(name, "GET", path, params) for name, params in calls or [("", ())]]


def audit_calls(t: Truth, _decision: int) -> list[Call]:
    return [
        Call("all", "GET", "/api/v1/audit", (("limit", "100"),)),
        Call(
            "hidden entity", "GET", "/api/v1/audit", (("entity", t.entities["compartment person"]),)
        ),
        Call("by user", "GET", "/api/v1/audit", (("user", "analyst_op"), ("limit", "5"))),
    ]


def users_calls(t: Truth, _decision: int) -> list[Call]:
    return [Call("list", "GET", "/api/v1/users")]


def add_user_calls(t: Truth, _decision: int) -> list[Call]:
    body = {"username": "leak_probe", "name": "Leak Probe", "role": "no_such_role",
            "vetting": "SC", "password": "a long enough password"}  # fmt: skip
    return [Call("unknown role", "POST", "/api/v1/users", body=body, ok=400)]


def change_user_calls(t: Truth, _decision: int) -> list[Call]:
    return [
        Call("no such user", "POST", "/api/v1/users/nobody_here",
             body={"change": "enable", "value": ""}, ok=404),
        Call("bad vetting", "POST", "/api/v1/users/pc_low",
             body={"change": "vetting", "value": "NOT_A_LEVEL"}, ok=400),
    ]  # fmt: skip


def visible_mentions_of(call: Call, seen: Seen, truth: Truth) -> list[str]:
    entity = call.asks[0]
    return [m for m in truth.entity_mentions.get(entity, []) if m not in seen.hidden_mentions]


def profile_counts(call: Call, body: Any, seen: Seen, truth: Truth) -> list[str]:
    """A profile counts and lists the sources of the records the user may see only."""
    shown = visible_mentions_of(call, seen, truth)
    sources = sorted({truth.mention_source[m] for m in shown})
    out = []
    if body["mentions"] != len(shown):
        out.append(f"profile counts {body['mentions']} records; the user may see {len(shown)}")
    if body["sources"] != sources:
        out.append(f"profile names sources {body['sources']}; the user may see {sources}")
    if "complete" in body:
        out.append("the profile says whether the reader sees every record")
    return out


def mention_counts(call: Call, body: Any, seen: Seen, truth: Truth) -> list[str]:
    """The records an entity is built from are those the user may see (a page of them)."""
    shown = set(visible_mentions_of(call, seen, truth))
    listed = [i["mention_id"] for i in body["items"]]
    out = []
    if body["total"] != len(shown):
        out.append(f"counts {body['total']} records; the user may see {len(shown)}")
    if not set(listed) <= shown or len(listed) != min(len(shown), 100):
        out.append(f"lists {sorted(set(listed) - shown)[:5]} (of {len(listed)}) not theirs")
    return out


EVENT_TYPES = ("intelligence_report", "referral", "missing_episode", "crime", "incident")

ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/v1/me"): Route(None, gets("/api/v1/me")),
    ("GET", "/api/v1/search"): Route("search", search_calls),
    ("GET", "/api/v1/entities/{entity_id}"): Route(
        "entity.view", entity_calls(""), counts=profile_counts
    ),
    ("GET", "/api/v1/entities/{entity_id}/mentions"): Route(
        "entity.view", entity_calls("/mentions", (("limit", "100"),)), counts=mention_counts
    ),
    ("GET", "/api/v1/entities/{entity_id}/history"): Route("entity.view", entity_calls("/history")),
    ("GET", "/api/v1/entities/{entity_id}/explanation"): Route(
        "entity.explain", entity_calls("/explanation")
    ),
    ("GET", "/api/v1/entities/{entity_id}/timeline"): Route(
        "entity.view", entity_calls("/timeline")
    ),
    ("GET", "/api/v1/entities/{entity_id}/links"): Route("entity.view", entity_calls("/links")),
    ("GET", "/api/v1/graph/neighbourhood"): Route("graph.view", neighbourhood_calls),
    ("GET", "/api/v1/graph/path"): Route("graph.view", path_calls),
    ("GET", "/api/v1/networks/groups"): Route("graph.view", gets("/api/v1/networks/groups")),
    ("GET", "/api/v1/networks/county-lines"): Route(
        "graph.view", gets("/api/v1/networks/county-lines")
    ),
    ("GET", "/api/v1/networks/labour-exploitation"): Route(
        "graph.view", gets("/api/v1/networks/labour-exploitation")
    ),
    ("GET", "/api/v1/documents"): Route("document.view", document_calls),
    ("GET", "/api/v1/events"): Route(
        "map.view",
        gets(
            "/api/v1/events",
            ("all", ()),
            ("types", (*(("types", t) for t in EVENT_TYPES), ("limit", "5000"))),
        ),
    ),
    ("GET", "/api/v1/dashboard"): Route("dashboard.view", gets("/api/v1/dashboard")),
    ("GET", "/api/v1/quality"): Route("dashboard.view", gets("/api/v1/quality")),
    ("GET", "/api/v1/kpis"): Route("dashboard.view", gets("/api/v1/kpis")),
    ("GET", "/api/v1/kpis/{name}.{fmt}"): Route(
        "dashboard.view", gets("/api/v1/kpis/by_area.csv", ("months", (("months", "24"),)))
    ),
    ("GET", "/api/v1/harm"): Route(
        "graph.view", gets("/api/v1/harm", ("all", (("limit", "100"),)))
    ),
    ("GET", "/api/v1/incidents/open"): Route("map.view", gets("/api/v1/incidents/open")),
    ("GET", "/api/v1/vulnerability"): Route(
        "vulnerability.view",
        gets(
            "/api/v1/vulnerability",
            ("children", (("limit", "100"),)),
            ("model", (("scorer", "model"), ("limit", "100"))),
            ("adults", (("population", "adult"), ("limit", "100"))),
            ("decided", (("decided", "true"),)),
        ),
    ),
    ("POST", "/api/v1/vulnerability/{entity_id}/decision"): Route(
        "vulnerability.decide", vulnerability_decide_calls
    ),
    ("GET", "/api/v1/review"): Route(
        "review.view", gets("/api/v1/review", ("all", (("limit", "100"),)))
    ),
    ("GET", "/api/v1/decisions"): Route("review.view", gets("/api/v1/decisions")),
    ("POST", "/api/v1/decisions"): Route("decision.make", decide_calls),
    ("POST", "/api/v1/decisions/{decision_id}/revoke"): Route("decision.make", revoke_calls),
    ("GET", "/api/v1/audit"): Route("audit.view", audit_calls, oversight=True),
    ("GET", "/api/v1/audit/verify"): Route(
        "audit.verify", gets("/api/v1/audit/verify"), oversight=True
    ),
    ("GET", "/api/v1/audit/alerts"): Route(
        "alerts.view", gets("/api/v1/audit/alerts"), oversight=True
    ),
    ("GET", "/api/v1/users"): Route("users.manage", users_calls, shows_operations=True),
    ("POST", "/api/v1/users"): Route("users.manage", add_user_calls),
    ("POST", "/api/v1/users/{username}"): Route("users.manage", change_user_calls),
}


# -- asking and checking ---------------------------------------------------------------


def send(client: TestClient, token: str, call: Call) -> Any:
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": PURPOSE}
    if call.method == "GET":
        return client.get(call.path, params=list(call.params), headers=headers)
    return client.request(
        call.method, call.path, params=list(call.params), json=call.body, headers=headers
    )


def outside_echo(response: Any) -> str:
    """The answer's text without the fields that repeat the request."""
    try:
        body = response.json()
    except ValueError:
        return str(response.text)
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ECHO_FIELDS}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def mention_tokens(text: str) -> Iterator[str]:
    """Every run of ':'-separated parts of `text` (and of its words) long enough to
    be a mention id ("source:record:slot"), e.g. inside "doc:<mention>:text"."""
    for piece in {text, *text.split()}:
        parts = piece.split(":")
        if len(parts) < 3 or len(parts) > 40:
            continue
        for i in range(len(parts)):
            for j in range(i + 3, len(parts) + 1):
                yield ":".join(parts[i:j])


def leaks(
    text: str, seen: Seen, *, skip_strings: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """(what, value) of each hidden entity id, mention id and distinctive string
    that `text` holds (a few of each)."""
    found = sorted(set(ENTITY_TOKEN.findall(text)) & seen.hidden_entities)
    out = [("entity", e) for e in found[:5]]
    mentions: set[str] = set()
    for literal in JSON_STRING.findall(text):
        value = json.loads(f'"{literal}"')
        if ":" in value:
            mentions.update(t for t in mention_tokens(value) if t in seen.hidden_mentions)
    out += [("mention", m) for m in sorted(mentions)[:5]]
    lowered = text.lower()
    for s in sorted(seen.hidden_strings - skip_strings):
        escaped = json.dumps(s, ensure_ascii=False)[1:-1].lower()
        if s.lower() in lowered or escaped in lowered:
            out.append(("string", s))
    return out


def normalised(response: Any, ids: tuple[str, ...]) -> tuple[int, str]:
    """Status and body with the ids asked about replaced: for comparing a hidden
    thing's answer with a missing thing's."""
    text = response.text
    for i in sorted(ids, key=len, reverse=True):
        text = text.replace(i, "<ID>")
        text = text.replace(json.dumps(i)[1:-1], "<ID>")
    text = re.sub(r"decision #\d+|/decisions/\d+/", "<DECISION>", text)
    return response.status_code, text


def is_hidden(ref: str, seen: Seen, truth: Truth) -> bool:
    if ref.startswith("decision:"):
        return True  # the missing decision
    if ENTITY_TOKEN.fullmatch(ref):
        return ref in seen.hidden_entities or ref not in truth.entity_labels
    return ref in seen.hidden_mentions or ref not in truth.mention_label


def check_problem(response: Any, where: str) -> None:
    assert response.headers["content-type"].startswith(PROBLEM_JSON), (
        f"{where}: error without problem details: {response.headers['content-type']}"
    )
    body = response.json()
    missing = [k for k in PROBLEM_KEYS if k not in body]
    assert not missing, f"{where}: problem details without {missing}: {body}"
    assert body["status"] == response.status_code, f"{where}: {body}"


def typed_strings(truth: Truth) -> set[str]:
    """The distinctive strings the matrix types into searches (so the audit log holds
    them)."""
    queries = [v.lower() for call in search_calls(truth, 0) for k, v in call.params if k == "q"]
    return {s for s in truth.string_labels if any(s.lower() in q for q in queries)}


# -- the matrix ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(app: Any) -> TestClient:
    return TestClient(app)  # type: ignore[arg-type]


@pytest.mark.parametrize("username", USERNAMES)
@pytest.mark.parametrize("route_key", list(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_nothing_leaks(
    route_key: tuple[str, str],
    username: str,
    app: Any,
    client: TestClient,
    truth: Truth,
    tokens: dict[str, str],
    hidden_decision: int,
) -> None:
    route = ROUTES[route_key]
    seen = truth.users[username]
    principal = seen.principal
    allowed = route.permission is None or principal.may(route.permission)
    state = app.state.state_db
    failures: list[str] = []
    sent = 0
    for call in route.calls(truth, hidden_decision):
        where = f"{call.method} {call.path} {list(call.params)} as {username} [{call.probe}]"
        hidden = any(is_hidden(a, seen, truth) for a in call.asks)
        expected = 403 if not allowed else (404 if hidden else call.ok)
        if call.mutates and expected == call.ok:
            continue  # would change the state: the user may see every record it names
        before = len(state.decisions(active_only=False))
        response = send(client, tokens[username], call)
        sent += 1
        status = response.status_code
        if status >= 500:
            failures.append(f"{where}: {status} {response.text[:300]}")
            continue
        if status >= 400:
            try:
                check_problem(response, where)
            except AssertionError as exc:
                failures.append(str(exc))
        if status != expected:
            failures.append(f"{where}: expected {expected}, got {status}: {response.text[:300]}")
        if call.method == "POST" and call.path.startswith("/api/v1/decisions") and status >= 400:
            after = len(state.decisions(active_only=False))
            if after != before:
                failures.append(f"{where}: refused ({status}) but a decision was stored")
        if hidden and call.baseline is not None:
            missing = send(client, tokens[username], call.baseline)
            ids = (*call.asks, *call.baseline.asks)
            if normalised(response, ids) != normalised(missing, ids):
                failures.append(
                    f"{where}: a hidden thing is answered unlike a missing one: "
                    f"{status} {response.text[:200]} vs {missing.status_code} {missing.text[:200]}"
                )
        skip = frozenset(truth.operations) if route.shows_operations else frozenset()
        found = leaks(outside_echo(response), seen, skip_strings=skip)
        if route.oversight and status == 200:
            # The audit log shows what users did: the ids they saw and what they typed,
            # by design; but no record's content that nobody typed.
            typed = typed_strings(truth)
            found = [(w, v) for w, v in found if w == "string" and v not in typed]
        if found:
            failures.append(f"{where}: leaks {found}")
        if route.counts is not None and status == 200:
            failures += [f"{where}: {f}" for f in route.counts(call, response.json(), seen, truth)]
        if call.hidden_only and status == 200 and call.hidden_only in seen.hidden_matches:
            body = response.json()
            facets = {k: v for k, v in body["facets"].items() if v}
            if body["total"] or body["hits"] or facets or body["restricted"]:
                failures.append(
                    f"{where}: a search only hidden records match found "
                    f"total={body['total']} facets={facets} restricted={body['restricted']}"
                )
    assert sent, f"{route_key} as {username}: no request sent"
    assert not failures, "\n".join(failures)


# -- counts ---------------------------------------------------------------------------------


def _get(client: TestClient, token: str, path: str, **params: Any) -> Any:
    answer = client.get(
        path, params=params, headers={"Authorization": f"Bearer {token}", "X-Purpose": PURPOSE}
    )
    assert answer.status_code == 200, f"{path} {params}: {answer.status_code} {answer.text[:300]}"
    return answer.json()


@pytest.mark.parametrize("username", [u for u, *_ in USERS])
def test_counts_count_only_what_the_user_may_see(
    username: str, client: TestClient, truth: Truth, tokens: dict[str, str]
) -> None:
    seen = truth.users[username]
    if not seen.principal.may("dashboard.view"):
        pytest.skip(f"{username} has no dashboards")
    token = tokens[username]
    dash = _get(client, token, "/api/v1/dashboard")
    by_source: Counter[str] = Counter()
    for mention, label in truth.mention_label.items():
        if label in seen.visible_labels:
            by_source[truth.mention_source[mention]] += 1
    assert dash["records_by_source"] == dict(by_source), username
    by_type: Counter[str] = Counter(
        truth.entity_type[e]
        for e, labels in truth.entity_labels.items()
        if labels & seen.visible_labels
    )
    assert dash["entities_by_type"] == dict(by_type), username
    visible_events: Counter[str] = Counter(
        t for t, label in truth.event_labels.values() if label in seen.visible_labels
    )
    for etype, months in dash["events_by_month"].items():
        assert sum(months.values()) <= visible_events[etype], (username, etype)
    assert sum(dash["crimes_by_type"].values()) <= visible_events["crime"], username

    points = _get(client, token, "/api/v1/events", limit=5000)
    for etype, n in points["by_type"].items():
        assert n <= visible_events[etype], f"map counts {n} {etype} events; {username} sees fewer"

    visible_rows: Counter[str] = Counter()
    for (source, label), n in truth.row_labels.items():
        if label in seen.visible_labels:
            visible_rows[source] += n
    quality = _get(client, token, "/api/v1/quality")
    over = {
        s["source"]: (s["accepted"], visible_rows[s["source"]])
        for s in quality["sources"]
        if s["accepted"] > visible_rows[s["source"]]
    }
    assert not over, (
        f"/api/v1/quality counts records {username} may not see: "
        f"source -> (accepted shown, rows they may see) {over}"
    )


# -- the matrix covers every route and every kind of label ------------------------------------


def api_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every API operation of `app`, however routers nest."""
    try:  # FastAPI 0.16x keeps included routers as such: walk their routes
        from fastapi.routing import iter_route_contexts

        routes = [(c.original_route, c.path) for c in iter_route_contexts(app.routes)]
    except ImportError:
        routes = [(r, getattr(r, "path", None)) for r in app.routes]
    return {
        (method, path)
        for route, path in routes
        if isinstance(route, APIRoute) and path and path.startswith("/api/v1")
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_every_api_route_is_in_the_matrix(app: Any) -> None:
    present = api_routes(app)
    assert len(present) >= 20, f"the API's routes were not found: {present}"
    missing = sorted(present - set(ROUTES))
    assert not missing, f"API routes without probes in test_leaks.ROUTES: {missing}"
    stale = sorted(set(ROUTES) - present)
    assert not stale, f"test_leaks.ROUTES names routes that no longer exist: {stale}"


def test_the_probes_cover_every_kind_of_label_in_the_force(truth: Truth) -> None:
    kinds = set(truth.label_kind.values()) - {"open"}
    assert kinds == set(HIDING_KINDS), f"the small force's label kinds changed: {kinds}"
    viewers = [s for s in truth.users.values() if s.principal.may("entity.view")]
    for kind in kinds:
        entity = truth.entities.get(f"{kind} person")
        assert entity, f"no person wholly of kind {kind}"
        hidden_from = [s.principal.username for s in viewers if entity in s.hidden_entities]
        seen_by = [s.principal.username for s in viewers if entity not in s.hidden_entities]
        assert hidden_from, f"the {kind} person {entity} is hidden from nobody"
        assert seen_by, f"the {kind} person {entity} is seen by nobody"
        assert f"{kind} document" in truth.mentions, f"no document of kind {kind}"
        strings = [s for s, k in truth.string_kind.items() if k == kind]
        assert any(set(strings) & s.hidden_strings for s in truth.users.values()), (
            f"no distinctive string of kind {kind} is hidden from anyone"
        )
    # every test user who reads records is kept from some of them
    for s in viewers:
        assert s.hidden_entities, s.principal.username


@pytest.mark.parametrize("kind", HIDING_KINDS)
def test_the_leak_check_sees_what_a_briefed_user_is_shown(
    kind: str, client: TestClient, truth: Truth, tokens: dict[str, str]
) -> None:
    """The matrix's check is not blind: what a user who may see a record of this kind
    is shown of it (the person, the document) counts as a leak for one who may not."""
    entity = truth.entities[f"{kind} person"]
    document = truth.mentions[f"{kind} document"]
    viewers = [s for s in truth.users.values() if s.principal.may("entity.view")]
    readers = [s for s in viewers if s.principal.may("document.view")]
    briefed = next(s for s in readers if entity not in s.hidden_entities)
    outsider = next(s for s in viewers if entity in s.hidden_entities)
    token = tokens[briefed.principal.username]
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": PURPOSE}
    asks = ((f"/api/v1/entities/{entity}", {}), ("/api/v1/documents", {"mention": document}))
    for path, params in asks:
        shown = client.get(path, params=params, headers=headers)
        assert shown.status_code == 200, (path, shown.text[:300])
        found = leaks(outside_echo(shown), outsider)
        assert found, (
            f"{path} {params} as {briefed.principal.username}: "
            f"nothing of it counted as hidden from {outsider.principal.username}"
        )


def test_searches_only_hidden_records_match_find_them_for_who_may_see(
    client: TestClient, truth: Truth, tokens: dict[str, str]
) -> None:
    """The hidden-only searches of the matrix are not empty for everyone: someone who
    may see the record finds it (so a total of 0 for the others means something)."""
    searchers = [s for s in truth.users.values() if s.principal.may("search")]
    checked = 0
    for name, query in truth.identifiers.items():
        value = query.split(":", 1)[-1]
        hidden_from = [s for s in searchers if value in s.hidden_matches]
        seers = [s for s in searchers if value not in s.hidden_matches]
        if not hidden_from or not seers:
            continue
        totals = {
            s.principal.username: _get(
                client, tokens[s.principal.username], "/api/v1/search", q=query
            )["total"]
            for s in seers
        }
        assert all(totals.values()), f"{name} {query!r}: not found by who may see it: {totals}"
        checked += 1
    assert checked >= 3, f"too few hidden-only searches: {truth.identifiers}"
