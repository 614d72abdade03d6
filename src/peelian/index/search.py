"""Run a search: one Tantivy query with the viewer's filter inside it.

Ranking is designed, not left to term statistics: each way a value can match
has a fixed score, so an exact name and date of birth always outrank a
nickname, a nickname outranks a sound-alike, and a sound-alike outranks a
spelling two edits away. Free text (narratives, intelligence) is ranked by
a count of matched words and phrases below entity matches (not BM25, whose
index-wide statistics would count hidden records).

| match                          | score |
|--------------------------------|-------|
| identifier, phone, VRM, ref    | 30 / 20 / 20 / 20 |
| forename or surname exactly    | 10    |
| alias or street name           | 9     |
| forename as a nickname's formal form | 8 |
| VRM with look-alike characters | 12    |
| partial plate pattern          | 10    |
| one edit (typo; 3+ letters)    | 6     |
| sounds alike (Metaphone)       | 5     |
| forename initial               | 4     |
| two edits (5+ letters)         | 3     |
| forename then surname as typed | +4    |
| DOB exact / day-month swapped / partial as asked | 12 / 8 / 10 (month), 8 (year) |
| postcode                       | 6     |

Every name word must match (a four-word name may miss one). Results are
collapsed to entities (an entity has one document per security label it is
known under); counts and facets are distinct entities, exact up to
`EXACT_COUNT_LIMIT` matching documents and estimated (HyperLogLog) beyond.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import jellyfish
import tantivy

from peelian.govern.policy import notice
from peelian.index.access import Viewer
from peelian.index.build import OpenIndex
from peelian.index.documents import formals, name_keys
from peelian.index.query import DobQuery, SearchQuery, parse_query
from peelian.resolve.entities import ENTITY_PREFIX
from peelian.standardise import names
from peelian.standardise.vehicles import vrm_misread_key

Q = tantivy.Query
MUST, SHOULD, MUST_NOT = tantivy.Occur.Must, tantivy.Occur.Should, tantivy.Occur.MustNot
EXACT_COUNT_LIMIT = 1_000
MAX_LIMIT = 100
MAX_OFFSET = 1_000
# free text: per matched word, per matched phrase (entity matches score 5-40)
TEXT_WORD = 1.0
TEXT_PHRASE = 2.0
# A quick-path result this good (a name word and the full DOB exactly, or more)
# answers the question; below it the full search runs.
ANSWERED_SCORE = 22.0
_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Matched:
    """Why a result was found: which field, which of its values, and how."""

    field: str
    value: str
    how: str


# At most this many documents (security labels) per entity are read to show a hit whole.
MAX_GROUPS = 50


@dataclass
class Hit:
    entity_id: str
    kind: str
    score: float
    label: str
    matched: list[Matched] = field(default_factory=list)
    show: dict[str, Any] = field(default_factory=dict)
    snippet: str | None = None


@dataclass
class SearchResult:
    query: SearchQuery
    hits: list[Hit]
    total: int | None  # None when counts were not asked for
    total_exact: bool
    facets: dict[str, dict[str, int]]
    offset: int
    limit: int
    took_ms: float
    index: str
    # Restricted information exists that matches (operations set to disclose
    # it): which, and whom to contact; nothing else of those records.
    notices: list[str] = field(default_factory=list)


class SearchError(ValueError):
    """A search that can't run: nothing to look for, or paging out of range."""


class Searcher:
    """Searches one open index build for any number of viewers."""

    def __init__(self, opened: OpenIndex) -> None:
        self.opened = opened
        self.schema = opened.schema
        self.index = opened.index
        self.labels: dict[str, dict[str, Any]] = opened.meta["labels"]

    # -- the query -------------------------------------------------------------
    def build_query(
        self,
        query: SearchQuery,
        viewer: Viewer,
        *,
        fast: bool = False,
        only_labels: list[str] | None = None,
    ) -> tantivy.Query | None:
        """The Tantivy query: what to look for, and the viewer's filter as a must.

        `fast` asks for the quick form of a person search (see `_leader`): None
        when the query has no such form. `only_labels` replaces the viewer's filter
        with "only under these labels" (for restricted-information notices)."""
        if fast:
            leader = self._leader(query)
            if leader is None:
                return None
            person = self._person(query, fuzzy=False)
            assert person is not None
            people = Q.boolean_query([(MUST, leader), (MUST, person)])
            parts = [p for p in (people, self._entity_keys(query)) if p is not None]
            names_phrase = self._texts(query, phrase_only=True)
            if names_phrase is not None:
                parts.append(names_phrase)
        else:
            parts = [
                p
                for p in (
                    self._person(query),
                    self._entity_keys(query),
                    self._words(query),
                    self._texts(query),
                )
                if p is not None
            ]
        if not parts:
            raise SearchError("nothing to search for: type a name, DOB, plate, postcode, ...")
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = [
            (MUST, parts[0] if len(parts) == 1 else Q.boolean_query([(SHOULD, p) for p in parts])),
            *(
                self._access(viewer)
                if only_labels is None
                else [(MUST, Q.term_set_query(self.schema, "label", only_labels))]
            ),
        ]
        for condition in self._filters(query):
            clauses.append((MUST, Q.const_score_query(condition, 0.0)))
        return Q.boolean_query(clauses)

    def _access(self, viewer: Viewer) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """The viewer's filter: no document under a label they may not see. The
        index lists every label it holds, so excluding the hidden ones is exact."""
        hidden = viewer.hidden_labels(self.labels)
        if hidden is None:
            return [(MUST, Q.empty_query())]
        if not hidden:
            return []
        return [(MUST_NOT, Q.term_set_query(self.schema, "label", hidden))]

    def _term(self, field_name: str, value: str, score: float) -> tantivy.Query:
        return Q.const_score_query(Q.term_query(self.schema, field_name, value), score)

    def _terms(self, field_name: str, values: list[str], score: float) -> tantivy.Query:
        return Q.const_score_query(Q.term_set_query(self.schema, field_name, values), score)

    def _fuzzy(self, field_name: str, value: str, distance: int, score: float) -> tantivy.Query:
        fuzzy = Q.fuzzy_term_query(self.schema, field_name, value, distance=distance)
        return Q.const_score_query(fuzzy, score)

    def _name_token(
        self, token: str, forename: bool, surname: bool, fuzzy: bool = True
    ) -> tantivy.Query:
        alts = []
        key = _phonetic(token)
        if forename:
            alts.append(self._term("forename", token, 10))
            formal = list(formals(token))
            if formal:
                alts.append(self._terms("fcanon", formal, 8))
            if key:
                alts.append(self._term("fph", key, 5))
            if len(token) == 1 and token.isalpha():
                alts.append(
                    Q.const_score_query(Q.regex_query(self.schema, "forename", token + ".*"), 4)
                )
        if surname:
            alts.append(self._term("surname", token, 10))
            if key:
                alts.append(self._term("sph", key, 5))
        alts.append(self._term("alias", token, 9))
        for name_field, wanted in (("forename", forename), ("surname", surname)):
            wanted = wanted and fuzzy
            if wanted and len(token) >= 3:
                alts.append(self._fuzzy(name_field, token, 1, 6))
            if wanted and len(token) >= 5:
                alts.append(self._fuzzy(name_field, token, 2, 3))
        return Q.disjunction_max_query(alts)

    def _leader(self, q: SearchQuery) -> tantivy.Query | None:
        """What a person result must share with a name-and-DOB query when the name
        is typed right or the DOB is: the forename-surname pair (either order, any
        formal form of the forename) or the full DOB (or it day-month swapped).
        These are rare terms, so the search starts from few documents instead of
        every Smith; fuzzy spellings are then only scored, never looked up. A
        query without such a pair or DOB, or too few results, takes the full path."""
        firsts = q.forenames or q.names[:1]
        lasts = q.surnames or q.names[-1:]
        alts: list[tantivy.Query] = []
        if firsts and lasts and (q.forenames or len(q.names) >= 2):
            first, last = firsts[0], lasts[-1]
            pairs = [f"{first} {last}", f"{last} {first}"]
            alts.append(Q.term_set_query(self.schema, "fullname", pairs))
            canon = [f"{c} {last}" for c in formals(first)]
            canon += [f"{c} {first}" for c in formals(last)]
            alts.append(Q.term_set_query(self.schema, "fullcanon", canon))
        if q.dob is not None and q.dob.day is not None and q.person_names:
            dobs = [q.dob.term, *([q.dob.swapped] if q.dob.swapped else [])]
            alts.append(Q.term_set_query(self.schema, "dob", dobs))
        if not alts:
            return None
        return Q.const_score_query(Q.boolean_query([(SHOULD, a) for a in alts]), 0.0)

    def _person(self, q: SearchQuery, *, fuzzy: bool = True) -> tantivy.Query | None:
        tokens = [
            *((t, True, True) for t in q.names),
            *((t, True, False) for t in q.forenames),
            *((t, False, True) for t in q.surnames),
        ]
        should: list[tantivy.Query] = []
        firsts = q.forenames or q.names[:1]
        lasts = q.surnames or q.names[-1:]
        if firsts and lasts and (q.forenames or len(q.names) >= 2):
            should.append(self._term("fullname", f"{firsts[0]} {lasts[-1]}", 4))
        if q.dob is not None:
            should.append(self._dob(q.dob))
        if not tokens:
            return None if q.dob is None else Q.boolean_query([(MUST, should[-1])])
        must = [self._name_token(t, fore, sur, fuzzy) for t, fore, sur in tokens]
        clauses = [(SHOULD, s) for s in should]
        if not fuzzy:  # behind a leader: names only score, so a typo'd word still passes
            return Q.boolean_query([*clauses, *((SHOULD, m) for m in must)])
        if len(must) <= 3:
            clauses += [(MUST, m) for m in must]
            return Q.boolean_query(clauses)
        names_q = Q.boolean_query([(SHOULD, m) for m in must], len(must) - 1)
        return Q.boolean_query([(MUST, names_q), *clauses])

    def _dob(self, dob: DobQuery) -> tantivy.Query:
        if dob.day is not None:
            alts = [self._term("dob", dob.term, 12), self._term("dob", dob.term[:7], 3)]
            alts.append(self._term("dob", dob.term[:4], 2))
            if dob.swapped:
                alts.append(self._term("dob", dob.swapped, 8))
            return Q.disjunction_max_query(alts)
        return self._term("dob", dob.term, 10 if dob.month else 8)

    def _entity_keys(self, q: SearchQuery) -> tantivy.Query | None:
        """Identifiers, phones, plates, postcodes, references: exact keys of any kind."""
        alts: list[tantivy.Query] = []
        for ident in q.identifiers:
            alts.append(self._terms("ident", [ident, ident.split(":", 1)[-1]], 30))
        for phone in q.phones:
            alts.append(self._term("phone", phone, 20))
        for vrm in q.vrms:
            alts.append(self._term("vrm", vrm, 20))
            alts.append(self._term("vrmkey", vrm_misread_key(vrm), 12))
            alts.append(self._fuzzy("vrm", vrm, 1, 6))
        for guess in q.plate_guesses:
            alts.append(self._term("vrmkey", vrm_misread_key(guess), 12))
            alts.append(self._fuzzy("vrm", guess, 1, 6))
            if len(guess) >= 3:
                alts.append(Q.const_score_query(Q.regex_query(self.schema, "vrm", guess + ".*"), 5))
        for pattern in q.plate_patterns:
            alts.append(Q.const_score_query(Q.regex_query(self.schema, "vrm", pattern), 10))
        for ref in q.refs:
            alts.append(self._term("ref", ref, 20))
        if q.postcodes:
            # with a name, a postcode only ranks people; alone, it finds what is there
            alts.append(self._terms("postcode", q.postcodes, 6))
        if not alts:
            return None
        return Q.boolean_query([(SHOULD, a) for a in alts])

    def _words(self, q: SearchQuery) -> tantivy.Query | None:
        terms = _analysed(_PLAIN, q.text)
        if not terms:
            return None
        return Q.boolean_query([(SHOULD, self._term("words", t, 2.0)) for t in terms])

    def _texts(self, q: SearchQuery, *, phrase_only: bool = False) -> tantivy.Query | None:
        """Free text, scored by how many of the words (and phrases) a text holds.

        Not BM25: its weights come from statistics over the whole index, hidden
        documents included, so scores and order would tell a viewer how many
        records they may not see hold a word."""
        words = _analysed(_ENGLISH, q.text)
        phrases = [_analysed(_ENGLISH, [p]) for p in q.phrases]
        if 2 <= len(words) <= 4 and not phrases:
            phrases.append(words)  # the words together, as a name is written
        alts = [] if phrase_only else [self._term("text", w, TEXT_WORD) for w in words]
        for tokens in phrases:
            if len(tokens) == 1:
                alts.append(self._term("text", tokens[0], TEXT_WORD))
            elif tokens:
                phrase = Q.phrase_query(self.schema, "text", list[str | tuple[int, str]](tokens))
                alts.append(Q.const_score_query(phrase, TEXT_PHRASE))
        if not alts:
            return None
        return Q.boolean_query([(SHOULD, a) for a in alts])

    def _filters(self, q: SearchQuery) -> list[tantivy.Query]:
        out = []
        if q.kinds:
            out.append(Q.term_set_query(self.schema, "kind", q.kinds))
        if q.areas:
            out.append(Q.term_set_query(self.schema, "postcode", q.areas))
        integer = tantivy.FieldType.Integer
        if q.date_from is not None:
            day = q.date_from.year * 10_000 + q.date_from.month * 100 + q.date_from.day
            out.append(Q.range_query(self.schema, "seen_last", integer, lower_bound=day))
        if q.date_to is not None:
            day = q.date_to.year * 10_000 + q.date_to.month * 100 + q.date_to.day
            out.append(Q.range_query(self.schema, "seen_first", integer, upper_bound=day))
        if q.near is not None:
            dlat = q.near.km / 111.32
            dlon = q.near.km / (111.32 * max(0.01, math.cos(math.radians(q.near.lat))))
            fl = tantivy.FieldType.Float
            out.append(Q.range_query(self.schema, "lat", fl, q.near.lat - dlat, q.near.lat + dlat))
            out.append(Q.range_query(self.schema, "lon", fl, q.near.lon - dlon, q.near.lon + dlon))
        return out

    # -- running it ------------------------------------------------------------
    def search(
        self,
        query: SearchQuery | str,
        viewer: Viewer,
        *,
        limit: int = 10,
        offset: int = 0,
        counts: bool = True,
        facets: bool = True,
        explain: bool = True,
    ) -> SearchResult:
        """The entities (and texts) `viewer` may see that match, best first.

        `counts` adds the number of matching entities, `facets` their counts by
        kind and postcode district (both cost more than the results themselves
        on a large index); `explain` says why each result matched."""
        started = time.perf_counter()
        q = parse_query(query) if isinstance(query, str) else query
        if not 1 <= limit <= MAX_LIMIT:
            raise SearchError(f"limit must be between 1 and {MAX_LIMIT} (got {limit})")
        if not 0 <= offset <= MAX_OFFSET:
            raise SearchError(f"offset must be between 0 and {MAX_OFFSET} (got {offset})")
        searcher = self.index.searcher()
        wanted = offset + limit
        counted = counts or facets
        # the quick path only when no counts are asked for: counts and pages must
        # come from the same query
        quick = None if counted else self.build_query(q, viewer, fast=True)
        order: list[str] = []
        best: dict[str, tuple[float, tantivy.Document]] = {}
        matching = 0
        used = quick
        if quick is not None:
            order, best, _ = self._collapsed(searcher, quick, wanted, count=False)
        if not (len(order) >= wanted or (order and best[order[0]][0] >= ANSWERED_SCORE)):
            # no quick form, or nothing convincing: the full search
            used = self.build_query(q, viewer)
            assert used is not None
            order, best, matching = self._collapsed(searcher, used, wanted, count=counted)
        assert used is not None
        snippets: list[tantivy.SnippetGenerator] = []  # made once, if a text is shown
        hits = [
            self._hit(best[e], q, searcher, used, snippets, explain) for e in order[offset:wanted]
        ]
        self._whole_warnings(searcher, hits, viewer)
        if q.near is not None:
            hits = [h for h in hits if _within(h.show, q)]
        total: int | None = None
        exact, facet_counts = False, dict[str, dict[str, int]]()
        if counted:
            total, exact, facet_counts = self._counts(searcher, used, matching, facets)
        notices = self._notices(searcher, q, viewer) if offset == 0 else []
        return SearchResult(
            q,
            hits,
            total,
            exact,
            facet_counts,
            offset,
            limit,
            (time.perf_counter() - started) * 1000,
            self.opened.path.name,
            notices,
        )

    def _notices(self, searcher: tantivy.Searcher, q: SearchQuery, viewer: Viewer) -> list[str]:
        """For each operation set to disclose, whether the query matches records
        the viewer may not see only for want of that operation: a notice naming the
        team to contact, and no count, id or value of those records."""
        teams = dict(viewer.disclosing)
        out = []
        for operation, labels in sorted(viewer.disclosed_labels(self.labels).items()):
            tq = self.build_query(q, viewer, only_labels=labels)
            if tq is not None and searcher.search(tq, 1).hits:
                out.append(notice(operation, teams[operation]))
        return out

    def _collapsed(
        self, searcher: tantivy.Searcher, tq: tantivy.Query, wanted: int, *, count: bool
    ) -> tuple[list[str], dict[str, tuple[float, tantivy.Document]], int]:
        """The best `wanted` entities of a query, each once, at its best document;
        and, with `count`, how many documents match."""
        fetch = wanted * 2 + 10
        while True:
            found = searcher.search(tq, fetch, count=count)
            best: dict[str, tuple[float, tantivy.Document]] = {}
            order: list[str] = []
            for score, address in found.hits:
                doc = searcher.doc(address)
                entity_id = doc["id"][0]
                if entity_id not in best:
                    best[entity_id] = (score, doc)
                    order.append(entity_id)
            if len(order) >= wanted or len(found.hits) < fetch:
                # the stubs don't declare SearchResult.count; it is set when count=True
                return order, best, int(getattr(found, "count", 0) or 0)
            fetch *= 4

    def _hit(
        self,
        best: tuple[float, tantivy.Document],
        q: SearchQuery,
        searcher: tantivy.Searcher,
        tq: tantivy.Query,
        snippets: list[tantivy.SnippetGenerator],
        explain: bool,
    ) -> Hit:
        score, doc = best
        show = json.loads(doc["show"][0])
        entity_id = doc["id"][0]
        kind = "document" if entity_id.startswith("doc:") else _kind_of(entity_id)
        hit = Hit(entity_id, kind, round(score, 3), show.get("l", entity_id), show=show)
        if kind == "document":
            if not snippets:
                generator = tantivy.SnippetGenerator.create(searcher, tq, self.schema, "text")
                generator.set_max_num_chars(200)
                snippets.append(generator)
            snippet = snippets[0].snippet_from_doc(doc)
            hit.snippet = snippet.to_html() or doc["text"][0][:200]
        elif explain:
            hit.matched = matched_fields(q, show)
        return hit

    def _whole_warnings(self, searcher: tantivy.Searcher, hits: list[Hit], viewer: Viewer) -> None:
        """A hit shows its best document, one label's values; its warning markers and
        handling conditions are those of every document of the entity the viewer may
        see (a roadside check must not miss a marker because a report under another
        label matched the name better)."""
        entities = [h for h in hits if h.kind != "document"]
        if not entities:
            return
        tq = Q.boolean_query(
            [
                (MUST, Q.term_set_query(self.schema, "id", [h.entity_id for h in entities])),
                *self._access(viewer),
            ]
        )
        found = searcher.search(tq, MAX_GROUPS * len(entities))
        merged: dict[str, dict[str, list[str]]] = {}
        for _, address in found.hits:
            doc = searcher.doc(address)
            show = json.loads(doc["show"][0])
            into = merged.setdefault(doc["id"][0], {"w": [], "h": []})
            for key in ("w", "h"):
                into[key].extend(v for v in show.get(key, []) if v not in into[key])
        for hit in entities:
            for key, values in merged.get(hit.entity_id, {}).items():
                if values:
                    hit.show[key] = sorted(values)

    def _counts(
        self, searcher: tantivy.Searcher, tq: tantivy.Query, documents: int, facets: bool
    ) -> tuple[int, bool, dict[str, dict[str, int]]]:
        exact = documents <= EXACT_COUNT_LIMIT
        if exact:
            ids = {"terms": {"field": "id", "size": EXACT_COUNT_LIMIT}}
            aggs: dict[str, Any] = {"all": ids}
            if facets:
                aggs["kind"] = {"terms": {"field": "kind", "size": 10}, "aggs": {"ids": ids}}
                aggs["area"] = {"terms": {"field": "area", "size": 20}, "aggs": {"ids": ids}}
            result = searcher.aggregate(tq, aggs)
            total = len(result["all"]["buckets"])
            counts = {
                name: {b["key"]: len(b["ids"]["buckets"]) for b in result[name]["buckets"]}
                for name in ("kind", "area")
                if name in result
            }
            return total, True, counts
        total = int(searcher.cardinality(tq, "id"))
        if not facets:
            return total, False, {}
        card = {"n": {"cardinality": {"field": "id"}}}
        result = searcher.aggregate(
            tq,
            {
                "kind": {"terms": {"field": "kind", "size": 10}, "aggs": card},
                "area": {"terms": {"field": "area", "size": 20}, "aggs": card},
            },
        )
        counts = {
            name: {b["key"]: int(b["n"]["value"]) for b in result[name]["buckets"]}
            for name in ("kind", "area")
        }
        return total, False, counts

    def suggest(self, prefix: str, viewer: Viewer, *, limit: int = 10) -> list[tuple[str, int]]:
        """Surnames starting with `prefix` among the records `viewer` may see."""
        tokens = names.name_tokens(prefix)
        if not tokens:
            return []
        searcher = self.index.searcher()
        visible = Q.boolean_query([(MUST, Q.all_query()), *self._access(viewer)])
        found = searcher.terms_with_prefix("surname", tokens[0], filter_query=visible, limit=limit)
        return [(term, count) for term, count in found if count > 0]


_phonetic = functools.lru_cache(maxsize=200_000)(names.phonetic_key)


def _tokens(value: str) -> tuple[str, ...]:
    return name_keys(value)[0]


# The analysers of the `words` and `text` fields (Tantivy's "default" and "en_stem").
_PLAIN = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .build()
)
_ENGLISH = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.stemmer("english"))
    .build()
)


def _analysed(analyser: tantivy.TextAnalyzer, texts: list[str]) -> list[str]:
    return list(dict.fromkeys(t for text in texts for t in analyser.analyze(text)))


_KIND_BY_PREFIX = {prefix: kind for kind, prefix in ENTITY_PREFIX.items()}


def _kind_of(entity_id: str) -> str:
    return _KIND_BY_PREFIX.get(entity_id[:1], "entity")


def _within(show: dict[str, Any], q: SearchQuery) -> bool:
    """Exact distance check after the bounding box of the query (places only)."""
    assert q.near is not None
    point = show.get("g")
    if not point:
        return True
    lat1, lon1, lat2, lon2 = map(math.radians, (q.near.lat, q.near.lon, point[0], point[1]))
    a = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 6371.0 * 2 * math.asin(math.sqrt(a)) <= q.near.km


def _name_how(token: str, value_tokens: list[str], forename: bool) -> str | None:
    """How one typed name word matches one recorded name (None: it doesn't)."""
    if token in value_tokens:
        return "exact"
    if forename and value_tokens:
        if set(formals(token)) & set(formals(value_tokens[0])):
            return f"nickname: {token} for {value_tokens[0]}"
        if len(token) == 1 and any(v.startswith(token) for v in value_tokens):
            return "initial"
    key = _phonetic(token)
    if key and any(_phonetic(v) == key for v in value_tokens):
        return "sounds alike"
    for v in value_tokens:
        edits = jellyfish.damerau_levenshtein_distance(token, v)
        if edits <= (1 if len(token) < 5 else 2) and len(token) >= 3:
            return f"spelling: {edits} edit{'s' if edits > 1 else ''}"
    return None


def matched_fields(q: SearchQuery, show: dict[str, Any]) -> list[Matched]:
    """Which recorded values a result matched the query on, and how.

    Uses only what the result's own document holds, so it never shows a value
    from a record the viewer may not see.
    """
    out: list[Matched] = []
    slots = [("forename", "f", True), ("surname", "s", False), ("alias", "k", False)]
    slots.append(("street name", "n", False))
    wanted = [
        *((t, None) for t in q.names),
        *((t, "forename") for t in q.forenames),
        *((t, "surname") for t in q.surnames),
    ]
    for token, only in wanted:
        for label, key, forename in slots:
            if only is not None and label != only:
                continue
            found = None
            for value in show.get(key, []):
                how = _name_how(token, list(_tokens(value)), forename)
                if how is not None:
                    found = Matched(label, value, how)
                    break
            if found is not None:
                out.append(found)
                break
    if q.dob is not None:
        for value in show.get("d", []):
            if value == q.dob.term:
                out.append(Matched("date of birth", value, "exact"))
            elif value == q.dob.swapped:
                out.append(Matched("date of birth", value, "day and month swapped"))
            elif value.startswith(q.dob.term):
                out.append(Matched("date of birth", value, "in the period asked"))
            elif q.dob.day is not None and value[:7] == q.dob.term[:7]:
                out.append(Matched("date of birth", value, "same month and year"))
            else:
                continue
            break
    for key, label, wanted_values in (
        ("t", "phone", q.phones),
        ("p", "postcode", q.postcodes),
        ("v", "VRM", q.vrms),
    ):
        for value in show.get(key, []):
            compact = value.replace(" ", "")
            if any(compact == w.replace(" ", "") for w in wanted_values):
                out.append(Matched(label, value, "exact"))
            elif label == "postcode" and any(value.startswith(w) for w in wanted_values):
                out.append(Matched(label, value, "in the district or sector"))
            elif label == "VRM" and any(
                vrm_misread_key(value) == vrm_misread_key(w) for w in wanted_values
            ):
                out.append(Matched(label, value, "look-alike characters"))
    for value in show.get("v", []):
        if any(re.fullmatch(p, value) for p in q.plate_patterns):
            out.append(Matched("VRM", value, "partial plate"))
        elif any(vrm_misread_key(value) == vrm_misread_key(g) for g in q.plate_guesses):
            out.append(Matched("VRM", value, "look-alike characters"))
        elif any(value.startswith(g) for g in q.plate_guesses):
            out.append(Matched("VRM", value, "start of the plate"))
    words = {w.lower() for t in q.text for w in _WORD.findall(t)}
    for value in show.get("a", []):
        if words and words <= {w.lower() for w in _WORD.findall(value)}:
            out.append(Matched("address", value, "all words"))
            break
    for value in show.get("i", []):
        upper = value.upper()
        if any(upper == i or upper.split(":", 1)[-1] == i.split(":", 1)[-1] for i in q.identifiers):
            out.append(Matched("identifier", value, "exact"))
    return out
