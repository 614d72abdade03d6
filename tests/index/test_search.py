"""Search: finding the right entity despite the spelling, and never showing what
the searcher may not see."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from peelian.cli import app
from peelian.govern.policy import Principal
from peelian.hub import Hub
from peelian.index import build
from peelian.index.access import Viewer
from peelian.index.build import open_current, open_path, write_index
from peelian.index.documents import index_document, text_document
from peelian.index.evaluate import quality_queries, score
from peelian.index.search import Searcher, SearchError
from peelian.state import State

runner = CliRunner()
SEEN = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)

OFFICER = Viewer("pc_1", "OFFICIAL")
ANALYST = Viewer("da_2", "SECRET", frozenset({"OP KESTREL"}), frozenset({"mash_officer"}))


def group(
    entity_id: str, marking: str, fields: dict[str, list[str]], **label: Any
) -> dict[str, Any]:
    kind = {"P": "person", "V": "vehicle", "T": "phone"}[entity_id[0]]
    return {
        "entity_id": entity_id,
        "entity_type": kind,
        "marking": marking,
        "compartment": label.get("compartment", "-"),
        "roles": label.get("roles", ["*"]),
        "fields": fields,
        "mentions": 1,
        "first_seen": SEEN,
        "last_seen": SEEN,
    }


GROUPS = [
    # one person known openly as John Smith, and in an operation's secret report
    # as "Tiny" KRAY with a phone only that report gives
    group(
        "P1",
        "OFFICIAL",
        {
            "forenames": ["John"],
            "surname": ["SMITH"],
            "date_of_birth": ["1990-03-12"],
            "postcode": ["B15 2TT"],
        },
    ),
    group(
        "P1",
        "SECRET",
        {"forenames": ["Tiny", "John"], "surname": ["KRAY"], "phone": ["+447700900123"]},
        compartment="OP KESTREL",
    ),
    group(
        "P2",
        "OFFICIAL",
        {"forenames": ["William"], "surname": ["JONES"], "date_of_birth": ["1985-07-04"]},
    ),
    group(
        "P3",
        "OFFICIAL",
        {"forenames": ["Jon"], "surname": ["SMYTH"], "date_of_birth": ["1990-12-03"]},
    ),
    # a partner's referral only safeguarding roles may see
    group(
        "P4",
        "OFFICIAL-SENSITIVE",
        {"forenames": ["Amy"], "surname": ["CARTWRIGHT"]},
        roles=["mash_officer", "safeguarding_officer"],
    ),
    group("V1", "OFFICIAL", {"vrm": ["AB12CDE"], "make": ["FORD"], "colour": ["BLUE"]}),
]


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    path = tmp_path_factory.mktemp("index") / "build"
    write_index(path, (index_document(g) for g in GROUPS), {"test": True})
    return Searcher(open_path(path))


def ids(searcher: Searcher, text: str, viewer: Viewer) -> list[str]:
    return [h.entity_id for h in searcher.search(text, viewer).hits]


def test_an_exact_name_and_dob_ranks_first_with_why(searcher: Searcher) -> None:
    result = searcher.search("john smith 12/03/1990", OFFICER)
    assert result.hits[0].entity_id == "P1"
    matched = {(m.field, m.how) for m in result.hits[0].matched}
    assert {("forename", "exact"), ("surname", "exact"), ("date of birth", "exact")} <= matched
    # the sound-alike with the day and month swapped is found too, below
    assert [h.entity_id for h in result.hits] == ["P1", "P3"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jhon smith 1990", "P1"),  # transposed letters
        ("smith john", "P1"),  # surname first
        ("smith j 1990", "P1"),  # initial and year of birth
        ("bill jones", "P2"),  # nickname
        ("jones william 04/07/1985", "P2"),
        ("william jnoes 1985-07", "P2"),  # typo and month of birth
        ("AB12CDE", "V1"),
        ("ab12 c?e", "V1"),  # partial plate
        ("A812CDE", "V1"),  # misread 8 for B
        ("B15 2TT", "P1"),
        ("B15", "P1"),
    ],
)
def test_the_person_or_vehicle_is_found_despite_the_spelling(
    searcher: Searcher, text: str, expected: str
) -> None:
    assert ids(searcher, text, OFFICER)[0] == expected


def test_a_record_in_a_compartment_is_invisible_outside_it(searcher: Searcher) -> None:
    # results, counts and facets: nothing of the secret report for the officer
    for text in ("tiny kray", "kray", "07700 900123"):
        result = searcher.search(text, OFFICER)
        assert result.hits == []
        assert result.total == 0
        assert all(not counts for counts in result.facets.values())
    # the person is found by their open name, without the secret name or phone
    hit = searcher.search("john smith", OFFICER).hits[0]
    assert "KRAY" not in json.dumps(hit.show)
    assert "+447700900123" not in json.dumps(hit.show)
    # suggestions come from visible records only
    assert searcher.suggest("KR", OFFICER) == []
    assert searcher.suggest("KR", ANALYST) == [("KRAY", 1)]
    # the briefed analyst finds the same entity by either name, counted once
    assert ids(searcher, "tiny kray", ANALYST) == ["P1"]
    # "john" matches both of P1's documents for the analyst: one result, one count
    result = searcher.search("john", ANALYST)
    assert [h.entity_id for h in result.hits] == ["P1", "P3"]
    assert result.total == 2
    assert result.facets["kind"] == {"person": 2}


def test_a_disclosing_operation_earns_a_notice_and_nothing_else(searcher: Searcher) -> None:
    # made as the policy makes it, from an account outside the disclosing operation
    told = Viewer.of(
        Principal("ds_5", "investigator", "SC", disclosing={"OP KESTREL": "Kestrel team"})
    )
    result = searcher.search("tiny kray", told)
    assert (result.hits, result.total) == ([], 0)
    assert result.notices == [
        "Restricted information exists (held by OP KESTREL); contact Kestrel team."
    ]
    # The notice is for matching records only, never for a marking above the
    # reader's vetting, and not for those briefed (they see the record itself).
    assert searcher.search("william jones", told).notices == []
    low = Viewer("pc_5", "OFFICIAL", disclosing=(("OP KESTREL", "Kestrel team"),))
    assert searcher.search("tiny kray", low).notices == []
    assert searcher.search("tiny kray", ANALYST).notices == []
    assert searcher.search("tiny kray", OFFICER).notices == []


def test_sharing_roles_and_marking_both_have_to_allow_a_record(searcher: Searcher) -> None:
    assert ids(searcher, "amy cartwright", OFFICER) == []  # marking too high
    no_role = Viewer("ds_3", "SECRET")
    assert ids(searcher, "amy cartwright", no_role) == []  # marking fine, no sharing role
    assert ids(searcher, "amy cartwright", ANALYST) == ["P4"]


def test_facets_and_paging_count_entities(searcher: Searcher) -> None:
    result = searcher.search("smith", ANALYST, limit=1)
    assert result.total == 2
    assert result.total_exact
    assert result.facets["kind"] == {"person": 2}
    second = searcher.search("smith", ANALYST, limit=1, offset=1)
    assert {result.hits[0].entity_id, second.hits[0].entity_id} == {"P1", "P3"}


def test_bad_paging_and_empty_queries_are_refused(searcher: Searcher) -> None:
    with pytest.raises(SearchError, match="limit"):
        searcher.search("smith", OFFICER, limit=0)
    with pytest.raises(SearchError, match="offset"):
        searcher.search("smith", OFFICER, offset=10_000)
    with pytest.raises(SearchError, match="nothing to search for"):
        searcher.search("type:person", OFFICER)


def test_hostile_query_text_is_only_ever_a_value(searcher: Searcher) -> None:
    long_words = "a" * 45 + " " + "b" * 45  # longer than the text analyser keeps
    for text in (
        '"; DROP TABLE x; --',
        "smith) OR (1=1",
        "a:b:c \\ * ? [",
        "((((",
        "\x00\x07",
        long_words,
    ):
        try:
            result = searcher.search(text, OFFICER)
        except SearchError:
            continue
        assert "P4" not in [h.entity_id for h in result.hits]


# -- on the small synthetic force -------------------------------------------------


@pytest.fixture(scope="module")
def indexed(resolved: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    hub_path = tmp_path_factory.mktemp("search") / "hub"
    shutil.copytree(resolved, hub_path)
    with Hub(hub_path) as hub:
        build.build_index(hub.con, hub.path)
    return hub_path


def test_people_of_the_force_are_found_from_what_officers_type(indexed: Path, force: Path) -> None:
    everyone = Viewer(
        "all",
        "TOP SECRET",
        frozenset({"OP KESTREL", "OP TIDEWATER"}),
        frozenset({"mash_officer", "safeguarding_officer", "safeguarding_supervisor"}),
    )
    with Hub(indexed, read_only=True) as hub:
        queries = quality_queries(hub.con, force / "truth", per_kind=100)
    searcher = Searcher(open_current(indexed))
    scores = score(
        lambda q: [h.entity_id for h in searcher.search(q.text, everyone, facets=False).hits],
        queries,
    )
    recall = {s.kind: s.recall_at_10 for s in scores}
    assert set(recall) == {"exact", "typo_dob", "nickname", "swapped", "partial_dob"}
    assert recall["exact"] >= 0.97
    assert min(recall.values()) >= 0.9


def test_a_viewer_without_the_operation_never_sees_its_records(indexed: Path) -> None:
    with Hub(indexed, read_only=True) as hub:
        secret_refs = [
            r[0]
            for r in hub.con.execute(
                """SELECT DISTINCT e.reference FROM event e JOIN mentions m USING (mention_id)
                   JOIN source_rows s ON s.source = m.source AND s.row_id = m.row_id
                   WHERE s.compartment IS NOT NULL AND e.reference IS NOT NULL LIMIT 20"""
            ).fetchall()
        ]
    assert secret_refs
    searcher = Searcher(open_current(indexed))
    briefed = Viewer("b", "OFFICIAL-SENSITIVE", frozenset({"OP KESTREL", "OP TIDEWATER"}))
    found_by_briefed = 0
    for ref in secret_refs:
        assert searcher.search(f"ref:{ref}", OFFICER).total == 0
        found_by_briefed += searcher.search(f"ref:{ref}", briefed).total > 0
    assert found_by_briefed == len(secret_refs)


def test_a_result_carries_the_marking_and_handling_conditions_of_its_records(
    indexed: Path,
) -> None:
    with Hub(indexed, read_only=True) as hub:
        rows = hub.con.execute(
            """SELECT DISTINCT e.reference, s.marking, s.handling
               FROM event e JOIN mentions m USING (mention_id)
               JOIN source_rows s ON s.source = m.source AND s.row_id = m.row_id
               WHERE m.source = 'intelligence' AND s.handling IS NOT NULL
                 AND s.compartment IS NULL AND e.reference IS NOT NULL LIMIT 5"""
        ).fetchall()
    assert rows
    searcher = Searcher(open_current(indexed))
    reader = Viewer("a", "SECRET")
    for reference, marking, handling in rows:
        shown = [h.show for h in searcher.search(f"ref:{reference}", reader).hits]
        assert shown, reference
        assert shown[0]["m"] == marking
        assert handling in shown[0]["h"]


def test_a_new_build_replaces_the_current_index_atomically(indexed: Path, tmp_path: Path) -> None:
    hub_path = tmp_path / "hub"
    shutil.copytree(indexed, hub_path)
    root = build.index_root(hub_path)
    first = build.current_name(root)
    with Hub(hub_path) as hub:
        build.build_index(hub.con, hub.path)
        second = build.current_name(root)
        assert second != first

        # an interrupted build leaves the current index as it was, and no debris
        def broken(_con: Any) -> Any:
            yield from ()
            raise RuntimeError("disk full")

        original = build.snapshot_documents
        build.snapshot_documents = broken  # type: ignore[assignment]
        try:
            with pytest.raises(RuntimeError):
                build.build_index(hub.con, hub.path)
        finally:
            build.snapshot_documents = original  # type: ignore[assignment]
        build.build_index(hub.con, hub.path)
    third = build.current_name(root)
    # the current build and the one before it are kept, older ones removed
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted([second, third])
    assert open_current(hub_path).path.name == third


def test_cli_search_prints_json_and_audits_the_search(indexed: Path, tmp_path: Path) -> None:
    hub_path = tmp_path / "hub"
    shutil.copytree(indexed, hub_path)
    add_officer(hub_path)
    with Hub(hub_path, read_only=True) as hub:
        row = hub.con.execute(
            "SELECT value FROM golden_values WHERE field = 'surname' LIMIT 1"
        ).fetchone()
    assert row is not None
    result = runner.invoke(
        app,
        [
            "search",
            "--hub",
            str(hub_path),
            row[0],
            "--json",
            "--user",
            "pc_9",
            "--purpose",
            "reason officer_safety: roadside stop check",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["hits"]
    assert body["total"] >= 1
    with State.open(str(hub_path / "state.db")) as state:
        events = state.audit_events()
    search = [e for e in events if e.action == "search"][-1]
    assert (search.actor, search.purpose) == ("pc_9", "reason officer_safety: roadside stop check")
    assert search.detail is not None
    assert search.detail["query"] == row[0]
    assert state_ok(hub_path)


def add_officer(hub_path: Path) -> None:
    with State.open(str(hub_path / "state.db")) as state:
        state.accounts.add_user("pc_9", "PC 9", "response_officer", "NPPV2", by="admin")


def state_ok(hub_path: Path) -> bool:
    with State.open(str(hub_path / "state.db")) as state:
        return state.verify_audit().ok


def test_cli_search_errors_are_clear_and_refusals_are_audited(
    indexed: Path, tmp_path: Path
) -> None:
    hub_path = tmp_path / "hub"
    shutil.copytree(indexed, hub_path)
    add_officer(hub_path)
    purpose = ["--purpose", "incident WM-20241103-0045"]
    search = ["search", "--hub", str(hub_path), "smith"]
    result = runner.invoke(app, [*search, "--user", "nobody", *purpose])
    assert result.exit_code == 2
    assert "not an enabled user" in result.output
    result = runner.invoke(app, [*search, "--user", "pc_9"])
    assert result.exit_code == 2
    assert "purpose of access is required" in result.output
    result = runner.invoke(app, [*search, "--user", "pc_9", "--purpose", "curious"])
    assert result.exit_code == 2
    assert "starts with 'incident'" in result.output
    result = runner.invoke(
        app, ["search", "--hub", str(hub_path), "x" * 600, "--user", "pc_9", *purpose]
    )
    assert result.exit_code == 2
    assert "500" in result.output
    with State.open(str(hub_path / "state.db")) as state:
        refused = [e for e in state.audit_events() if e.outcome.startswith("refused")]
    assert [e.actor for e in refused] == ["nobody", "pc_9", "pc_9", "pc_9"]
    assert state_ok(hub_path)
    result = runner.invoke(app, ["search", "--hub", str(tmp_path), "smith", *purpose])
    assert result.exit_code == 2
    assert "not a Peelian hub" in result.output


def test_free_text_scores_do_not_depend_on_hidden_records(tmp_path: Path) -> None:
    """BM25 would weigh a word by how many documents hold it, hidden ones too."""

    def report(n: int, text: str, marking: str, compartment: str | None) -> dict[str, Any]:
        return {
            "mention_id": f"intelligence:R{n}:report",
            "field": "text",
            "text": text,
            "source": "intelligence",
            "record_id": f"R{n}",
            "event_type": "report",
            "reference": f"R{n}",
            "occurred": SEEN,
            "marking": marking,
            "compartment": compartment,
            "roles": [],
            "seen_at": SEEN,
        }

    visible = report(1, "samurai sword found in car", "OFFICIAL", None)
    secret = [report(n, "samurai seen", "SECRET", "OP KESTREL") for n in range(2, 5)]
    scores = []
    for extra in ([], secret):
        path = tmp_path / f"idx{len(extra)}"
        write_index(path, [text_document(r) for r in [visible, *extra]], {})
        hits = Searcher(open_path(path)).search("samurai car", OFFICER).hits
        scores.append([(h.entity_id, h.score) for h in hits])
    assert scores[0] == scores[1]


def test_an_index_that_does_not_list_its_labels_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    write_index(path, [index_document(GROUPS[2])], {})
    meta = json.loads((path / build.META).read_text())
    del meta["labels"]
    (path / build.META).write_text(json.dumps(meta))
    with pytest.raises(build.SearchIndexError, match="labels"):
        open_path(path)


def test_a_compartment_matches_whatever_its_case_and_odd_characters(tmp_path: Path) -> None:
    odd = group(
        "P9",
        "OFFICIAL",
        {"forenames": ["Zed"], "surname": ["QUILL"]},
        compartment="Op Kestrel|x",
        roles=["mash_officer, police_only"],
    )
    path = tmp_path / "idx"
    write_index(path, [index_document(odd)], {})
    searcher = Searcher(open_path(path))
    assert ids(searcher, "zed quill", Viewer("a", "OFFICIAL", frozenset({"OP KESTREL|X"}))) == []
    briefed = Viewer(
        "b", "OFFICIAL", frozenset({"OP KESTREL|X"}), frozenset({"mash_officer, police_only"})
    )
    assert ids(searcher, "zed quill", briefed) == ["P9"]
    assert ids(searcher, "zed quill", ANALYST) == []
