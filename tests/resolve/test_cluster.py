"""The constrained clustering: what it joins, what it refuses and why."""

from __future__ import annotations

import datetime as dt

from peelian.resolve.cluster import (
    AMBIGUOUS,
    SHARED_ID,
    Clustering,
    Name,
    Traits,
    cluster,
    dobs_compatible,
    forenames_compatible,
)


def person(
    first: str | None = None,
    dob: dt.date | None = None,
    surname: str = "SMITH",
    ids: dict[str, set[str]] | None = None,
) -> Traits:
    t = Traits()
    if first:
        t.forenames.add((first, first, first[:3], surname))
    if dob:
        t.dobs.add(dob)
    t.ids.update(ids or {})
    return t


def test_dates_of_birth_written_with_a_slip_are_compatible() -> None:
    d = dt.date(1990, 3, 12)
    assert dobs_compatible(d, dt.date(1990, 12, 3))  # day and month swapped
    assert dobs_compatible(d, dt.date(1991, 3, 12))  # year out by one
    assert dobs_compatible(d, dt.date(1990, 3, 13))  # one digit
    assert not dobs_compatible(d, dt.date(1965, 7, 2))  # father and son


def test_forenames_by_nickname_typo_initial_or_swap_are_compatible() -> None:
    assert forenames_compatible(
        ("BILL", "WILLIAM", "BL", "JONES"), ("WILLIAM", "WILLIAM", "WLM", "X")
    )
    assert forenames_compatible(("JONATHAN", "J1", "J", "S"), ("JONATHON", "J2", "K", "S"))
    assert forenames_compatible(("J", None, None, "S"), ("JOHN", "JOHN", "JN", "S"))
    assert forenames_compatible(("SMITH", None, None, "JOHN"), ("JOHN", None, None, "SMITH"))
    assert not forenames_compatible(("AMY", "AMY", "AM", "S"), ("ZOE", "ZOE", "S", "S"))


def test_a_mention_without_a_dob_fitting_father_and_son_alike_joins_neither() -> None:
    father = person("JOHN", dt.date(1965, 7, 2))
    son = person("JOHN", dt.date(1992, 1, 30))
    no_dob = person("JOHN")  # name and address, say
    result = cluster([father, son, no_dob], [(2, 0, 9.0, "model"), (2, 1, 8.0, "model")])
    assert len(set(result.labels)) == 3
    assert [(r.left, r.right, r.reason) for r in result.refusals] == [
        (2, 0, AMBIGUOUS),
        (2, 1, AMBIGUOUS),
    ]


def test_a_mention_without_a_dob_fitting_one_of_father_and_son_far_better_joins_him() -> None:
    father = person("JOHN", dt.date(1965, 7, 2))
    son = person("JOHN", dt.date(1992, 1, 30))
    no_dob = person("JOHN")  # and the son's mobile number, say
    edges: list[tuple[int, int, float | None, str]] = [
        (2, 1, 14.0, "model"),
        (2, 0, 9.0, "model"),
    ]
    result = cluster([father, son, no_dob], edges)
    assert result.labels[2] == result.labels[1] != result.labels[0]
    assert [r.reason for r in result.refusals] == ["different dates of birth"]
    # the same where the two fits are of one person's date of birth, with a slip
    slip = person("JOHN", dt.date(1992, 1, 31))
    result = cluster([slip, son, no_dob], [(2, 0, 9.0, "model"), (2, 1, 8.0, "model")])
    assert len(set(result.labels)) == 1


def test_twins_are_not_chained_through_a_surname_and_dob_only_mention() -> None:
    dob = dt.date(2008, 5, 5)
    twin_a, twin_b, bare = person("AMY", dob), person("ZOE", dob), person(None, dob)
    result = cluster([twin_a, twin_b, bare], [(2, 0, 7.0, "model"), (2, 1, 7.0, "model")])
    assert result.labels[0] != result.labels[1]
    assert result.refusals[0].reason == "different forenames"


def test_different_identifiers_of_one_scheme_are_refused_even_on_a_strong_edge() -> None:
    a = person("JOHN", ids={"pnc": {"2003/0062845E"}})
    b = person("JOHN", ids={"pnc": {"2001/0000001Z"}})
    result = cluster([a, b], [(0, 1, 40.0, "model")], strong_weight=15.0)
    assert result.labels[0] != result.labels[1]
    assert result.refusals[0].reason == "different pnc identifiers"


def test_a_strong_edge_outweighs_a_differing_forename_but_a_decision_does_not() -> None:
    a, b = person("AMY"), person("ZOE")
    assert len(set(cluster([a, b], [(0, 1, 20.0, "model")], strong_weight=15.0).labels)) == 1
    a, b = person("AMY"), person("AMY")
    a.tags.add((7, 0))
    a.forbidden.add((7, 1))
    b.tags.add((7, 1))
    b.forbidden.add((7, 0))
    result = cluster([a, b], [(0, 1, 50.0, "model")], strong_weight=15.0)
    assert result.labels[0] != result.labels[1]
    assert result.refusals[0].reason == "analyst decision: not the same"


def test_forced_joins_come_first_and_are_never_refused() -> None:
    a, b = person("AMY", dt.date(2000, 1, 1)), person("ZOE", dt.date(1950, 6, 6))
    result = cluster([a, b], [], [(0, 1, "decision #1")])
    assert result.labels[0] == result.labels[1]
    assert result.spanning == [(0, 1, float("inf"), "decision #1")]


# ---------------------------------------------------------------- bare names


def bare_case(
    rows: list[tuple[str, str, dt.date | None, bool]],
    edges: list[tuple[int, int, float | None, str]] | None = None,
    attachable: list[bool] | None = None,
) -> Clustering:
    """rows: (forename, surname, dob, rich); canonical forms: BILL -> WILLIAM."""
    canon = {"BILL": "WILLIAM", "WILL": "WILLIAM"}
    names = [Name(f, canon.get(f, f), f[:2], s, s[:3]) for f, s, _, _ in rows]
    traits = [person(None, dob, s) for _, s, dob, _ in rows]
    for t, n in zip(traits, names, strict=True):
        t.forenames.add(n.forename)
    rich = [r for _, _, _, r in rows]
    return cluster(
        traits,
        edges or [],
        names=names,
        rich=rich,
        attachable=attachable if attachable is not None else [True] * len(rows),
    )


def test_a_bare_name_joins_the_one_known_person_who_bears_it() -> None:
    dob = dt.date(1990, 3, 12)
    result = bare_case(
        [
            ("WILLIAM", "HARGREAVES", dob, True),
            ("BILL", "HARGREAVES", None, False),  # nickname
            ("WILLIAM", "HARGREAVSE", None, False),  # typo
            ("HARGREAVES", "WILLIAM", None, False),  # swapped
            ("W", "HARGREAVES", None, False),  # an initial is never enough
            ("AMY", "HARGREAVES", None, False),  # another forename
        ]
    )
    labels = result.labels
    assert labels[0] == labels[1] == labels[2] == labels[3]
    assert len({labels[0], labels[4], labels[5]}) == 3
    assert result.refusals == []  # AMY fits nobody known, and so is no one's namesake
    assert {via for *_, via in result.spanning} == {"name"}


def test_a_bare_name_fitting_two_people_stays_apart_unless_one_is_far_better_known() -> None:
    one, two = dt.date(1965, 7, 2), dt.date(1992, 1, 30)
    result = bare_case(
        [
            ("JOHN", "SMITH", one, True),
            ("JOHN", "SMITH", two, True),
            ("JOHN", "SMITH", None, False),
        ]
    )
    assert len(set(result.labels)) == 3
    assert sorted((r.left, r.right, r.reason) for r in result.refusals) == [
        (2, 0, "the name alone fits 2 known people"),
        (2, 1, "the name alone fits 2 known people"),
    ]

    # the father is seen ten times (joined by the model), the son once
    rows = [("JOHN", "SMITH", one, True)] * 10 + [("JOHN", "SMITH", two, True)]
    edges: list[tuple[int, int, float | None, str]] = [(0, i, 20.0, "model") for i in range(1, 10)]
    result = bare_case([*rows, ("JOHN", "SMITH", None, False)], edges)
    assert result.labels[11] == result.labels[0] != result.labels[10]
    assert result.spanning[-1][3] == "name: the best-known of its bearers"


def company_case(
    rows: list[tuple[str, str, dt.date | None, bool, str]],
    edges: list[tuple[int, int, float | None, str]] | None = None,
) -> Clustering:
    """rows: (forename, surname, dob, rich, record); nameless rows have forename ''."""
    names = [Name(f, f, f[:2], s, s[:3]) if f else None for f, s, _, _, _ in rows]
    traits = [person(f or None, dob, s) for f, s, dob, _, _ in rows]
    return cluster(
        traits,
        edges or [],
        names=names,
        rich=[r for *_, r, _ in rows],
        attachable=[True] * len(rows),
        records=[rec for *_, rec in rows],
    )


def test_a_bare_name_fitting_two_people_goes_to_the_one_seen_with_its_co_subject() -> None:
    older, younger, dean = dt.date(1965, 7, 2), dt.date(1992, 1, 30), dt.date(1991, 5, 5)
    rows: list[tuple[str, str, dt.date | None, bool, str]] = [
        ("JOHN", "SMITH", older, True, "crime|1"),
        ("JOHN", "SMITH", younger, True, "crime|2"),
        ("DEAN", "WOOD", dean, True, "crime|2"),  # arrested with the younger John Smith
        ("", "", None, True, "intelligence|9"),  # the report's author: no name
        ("JOHN", "SMITH", None, False, "intelligence|9"),
        ("DEAN", "WOOD", None, False, "intelligence|9"),
    ]
    result = company_case(rows)
    labels = result.labels
    assert labels[4] == labels[1] != labels[0]
    assert labels[5] == labels[2]
    vias = {(a, b): via for a, b, _, via in result.spanning}
    assert vias[(4, 1)] == "name: and someone named with it before"
    assert result.refusals == []

    # Named with nobody either John Smith has been named with: stays apart, for review.
    alone = [*rows[:2], ("DEAN", "WOOD", dean, True, "crime|3"), *rows[3:]]
    result = company_case(alone)
    assert len({result.labels[0], result.labels[1], result.labels[4]}) == 3
    assert {r.reason for r in result.refusals} == {"the name alone fits 2 known people"}

    # Seen with both: the company does not decide.
    both = [*rows, ("DEAN", "WOOD", dean, True, "crime|1")]
    result = company_case(both, edges=[(2, 6, 20.0, "model")])
    assert result.labels[4] not in (result.labels[0], result.labels[1])


def test_names_judged_by_company_do_not_depend_on_the_order_they_come_in() -> None:
    older, younger = dt.date(1965, 7, 2), dt.date(1992, 1, 30)
    known: list[tuple[str, str, dt.date | None, bool, str]] = [
        ("JOHN", "SMITH", older, True, "crime|1"),
        ("JOHN", "SMITH", younger, True, "crime|2"),
        ("DEAN", "WOOD", dt.date(1991, 5, 5), True, "crime|1"),  # with the older only
        ("PAT", "KAY", dt.date(1980, 3, 3), True, "crime|1"),  # with both
        ("PAT", "KAY", dt.date(1980, 3, 3), True, "crime|2"),
    ]
    first = [
        ("JOHN", "SMITH", None, False, "intel|9"),
        ("DEAN", "WOOD", None, False, "intel|9"),
        ("JOHN", "SMITH", None, False, "intel|10"),  # the same subject, by a linked record
    ]
    second = [("JOHN", "SMITH", None, False, "intel|11"), ("PAT", "KAY", None, False, "intel|11")]
    for rows in ([*known, *first, *second], [*known, *second, *first]):
        at = {rec: i for i, (f, *_, rec) in enumerate(rows) if f == "JOHN"}
        edges: list[tuple[int, int, float | None, str]] = [
            (3, 4, 20.0, "model"),
            (at["intel|9"], at["intel|10"], None, "linked record"),
        ]
        result = company_case(rows, edges=edges)
        by_record = {rec: result.labels[i] for i, (f, *_, rec) in enumerate(rows) if f == "JOHN"}
        assert by_record["intel|9"] == result.labels[0]  # named with Dean: the older
        # named with Pat, who was with both: neither, whatever was joined before it
        assert by_record["intel|11"] not in (result.labels[0], result.labels[1])


def test_bare_names_nobody_is_known_by_join_each_other_only_when_the_source_allows() -> None:
    rows: list[tuple[str, str, dt.date | None, bool]] = [
        ("ISABEL", "CARTWRIGHT", None, False),
        ("ISABEL", "CARTWRIGHT", None, False),
        ("ISABEL", "CARTWRIGHTT", None, False),
        ("ISABEL", "CARTWRIGHT", None, False),
    ]
    result = bare_case(rows, attachable=[True, True, True, False])
    assert result.labels[0] == result.labels[1] == result.labels[2] != result.labels[3]


def test_a_bare_name_never_overrides_an_analysts_not_the_same() -> None:
    known = person("JOHN", dt.date(1965, 7, 2), "SMITH")
    bare = person("JOHN", None, "SMITH")
    known.tags.add((1, 0))
    bare.forbidden.add((1, 0))
    result = cluster(
        [known, bare],
        [],
        names=[Name("JOHN", "JOHN", "JN", "SMITH", "SM0")] * 2,
        rich=[True, False],
        attachable=[True, True],
    )
    assert result.labels[0] != result.labels[1]
    assert result.refusals[0].reason == "analyst decision: not the same"


def test_an_identifier_in_common_outweighs_one_slip_but_not_two() -> None:
    pnc = {"pnc": {"2003/0062845E"}}

    def pair(a: str, b: str, dob_b: dt.date) -> list[Traits | None]:
        dob = dt.date(1907, 11, 24)
        return [person(a, dob, ids=dict(pnc)), person(b, dob_b, ids=dict(pnc))]

    result = cluster(pair("ASHLEE", "ELIZA", dt.date(1907, 11, 24)), [(0, 1, 9.0, SHARED_ID)])
    assert result.labels[0] == result.labels[1]
    result = cluster(pair("JAMES", "MALAKAI", dt.date(1914, 4, 10)), [(0, 1, 9.0, SHARED_ID)])
    assert result.labels[0] != result.labels[1]
    assert result.refusals[0].reason == "different dates of birth"
    # without the identifier in common, the one slip is refused
    result = cluster(pair("ASHLEE", "ELIZA", dt.date(1907, 11, 24)), [(0, 1, 9.0, "model")])
    assert result.labels[0] != result.labels[1]
