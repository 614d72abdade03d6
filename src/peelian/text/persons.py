"""Find person names in report text: known nominals, unknown names, aliases and handles.

Rules, in the order they claim text:

1. **Known people** (the hub's gazetteer): full names in either order, ``SURNAME,
   Forename``, and multi-word aliases, matched on folded words in any case.
2. **Introduced names**: a quoted name after ``aka``, ``known as``, ``called``, ``goes by``
   ...; a quoted alias straight after a name (``Kyle BARRETT "K-Dog"``); a social-media
   handle in quotes or before a colon; a chat speaker label at the start of a line.
3. **Name patterns**: runs of capitalised words with a forename or surname from the
   gazetteers (``Hannah Whitworth``), a capitalised word before a word in capitals
   (``Dritan HOXHA``), surname first (``CAMPBELL, Tyrell``, ``HARTLEY James``), initials
   (``J. SMITH``, ``A.J.``), a nickname inside the name (``Robert "Bobby" FLETCHER``), a
   line break inside a name. In lines written in capitals case says nothing, so a run
   there must start with a known forename.
4. **Cues**: a word after a role, relation or title (``Mum (Abena OSEI)``, ``GIRLFRIEND
   ROXANA``, ``PC 1287 Laura MCKENZIE``) is a name even when no list holds it.
5. **Single words**: a forename alone (``Gemma``), or a known person's surname or alias.
6. **Repeats**: once a name is found, its words elsewhere in the report are that person
   (``BARRETT`` after ``Kyle BARRETT``).

Words that are places, street names (``Harehills Lane``), vehicle models (``Seat Leon``),
family names used for a family (``the Fletcher family``) and common English words are not
names on their own. Titles and ranks stay outside the span, as do ``Snr``/``Jnr``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import jellyfish

from peelian.text.known import KnownNames
from peelian.text.lexicon import Lexicon, lexicon
from peelian.text.spans import Span
from peelian.text.tokens import Token

__all__ = ["PersonFinder"]

_QUOTES = "\"'“”‘’"
_OPEN_QUOTES = "\"'“‘"
_FAMILY_WORDS = {"FAMILY", "FAMILIES", "BROTHERS", "SISTERS", "HOUSEHOLD", "TWINS", "CLAN"}
_FAMILY_WORDS |= {"BOYS", "GIRLS", "KIDS", "LOT", "GANG", "CREW", "FIRM"}
_NON_NAME_ENDINGS = ("ING", "ED", "LY", "TION", "MENT", "NESS", "ABLE", "IBLE", "ISM")
# Words that may follow a name at the end of its phrase.
_AFTER_NAME = {"IS", "WAS", "HAS", "HAD", "AKA", "AND", "WHO", "WITH", "OF", "FROM", "AS"}
_PREPOSITIONS = {"AT", "ON", "IN", "TO", "FOR", "BY", "SAYS", "SAID", "STATES", "TOLD"}
_HANDLE = re.compile(
    r"(?<![\w@./])@?((?=[A-Za-z0-9._]*[A-Za-z])[A-Za-z0-9]+(?:[._][A-Za-z0-9]+)+)(?![\w@]|\.[A-Za-z])"
)
_SPEAKER_LINE = re.compile(
    r"^[ \t]*(?:\[?[0-9]{1,2}[/.][0-9]{1,2}(?:[/.][0-9]{2,4})?[ \t]+)?"
    r"(?:\[?[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?\]?[ \t]+)?"
    r"(?P<name>[^\W\d][\w.'-]*(?: [^\W\d][\w.'-]*)?):[ \t]",
    re.MULTILINE,
)
_EMAIL_OR_URL = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.]+|\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE
)


@dataclass
class _Found:
    start: int  # token index
    end: int  # token index, exclusive
    rule: str


class _State:
    """Which tokens are taken (by earlier finders or by names found so far)."""

    def __init__(self, finder: PersonFinder, tokens: Sequence[Token], claimed: list[bool]) -> None:
        self.finder = finder
        self.tokens = tokens
        self.taken = list(claimed)
        self.person = [False] * len(tokens)
        self.found: list[_Found] = []

    def free(self, a: int, b: int) -> bool:
        return 0 <= a < b <= len(self.taken) and not any(self.taken[a:b])

    def is_person(self, k: int) -> bool:
        return 0 <= k < len(self.person) and self.person[k]

    def take(self, a: int, b: int, rule: str) -> None:
        a, b = self.finder._trim(self.tokens, a, b)
        if not self.free(a, b):
            return
        for k in range(a, b):
            self.taken[k] = True
            self.person[k] = True
        self.found.append(_Found(a, b, rule))


class PersonFinder:
    """Finds person spans; build once per extractor, call :meth:`find` per document."""

    def __init__(self, lexicon: Lexicon, known: KnownNames) -> None:
        self.lex = lexicon
        self.known = known
        self.forenames = lexicon.forenames | frozenset(known.forenames) | frozenset(known.aliases)
        self.formal = lexicon.formal_forenames | frozenset(known.forenames)
        self.surnames = lexicon.surnames | frozenset(known.surnames)
        self._misspellings: set[str] | None = None
        self.titles = lexicon.titles | {
            k for k, (kind, _) in lexicon.cues.items() if kind in ("title", "rank")
        }

    # --- word tests -------------------------------------------------------------------

    def _common(self, key: str) -> bool:
        return key in self.lex.common

    def _forename(self, key: str) -> bool:
        return key in self.forenames

    def _surname(self, key: str) -> bool:
        return key in self.surnames

    def _name_word(self, key: str) -> bool:
        if key in self.forenames or key in self.surnames or key in self.known.aliases:
            return True
        # Mensah-Reid: a double-barrelled name whose parts are names.
        return "-" in key and any(part in self.surnames for part in key.split("-"))

    def _misspelt_name(self, key: str) -> bool:
        """One keystroke from a forename or surname of five letters or more (Oliiver,
        Stockes, Jozeph): typed names count as names."""
        if len(key) < 5 or key in self.lex.common:
            return False
        if self._misspellings is None:
            table: set[str] = set()
            for word in self.forenames | self.surnames:
                if len(word) >= 5 and word.isalpha():
                    table.update(word[:k] + word[k + 1 :] for k in range(len(word)))
                    table.add(word)
            self._misspellings = table
        table = self._misspellings
        return key in table or any(key[:k] + key[k + 1 :] in table for k in range(len(key)))

    def _known_word(self, key: str) -> bool:
        return (
            key in self.known.forenames or key in self.known.surnames or key in self.known.aliases
        )

    def _cue(self, key: str) -> str | None:
        found = self.lex.cues.get(key)
        if found is None and len(key) >= 7:
            found = _fuzzy_cue(key)
        return found[0] if found else None

    def _unknown_ok(self, token: Token) -> bool:
        """A word no list knows that may still be a name: not common, not a cue, not a
        verb or noun by its ending, at least two letters."""
        key = token.key
        if len(key) < 2 or not token.is_word:
            return False
        if self._common(key) or self._cue(key) or key in self.lex.street_types:
            return False
        return self._name_word(key) or not key.endswith(_NON_NAME_ENDINGS)

    # --- context tests ----------------------------------------------------------------

    def _is_street(self, tokens: Sequence[Token], end: int) -> bool:
        """The words before ``end`` are a street name: a street type follows them."""
        if end >= len(tokens):
            return False
        nxt = tokens[end]
        if not nxt.is_word or nxt.key not in self.lex.street_types:
            return False
        # "Kyle Street" is a street; in mixed text "Ashley GREEN" is a person.
        if nxt.shape == "U" and not nxt.caps:
            return False
        return nxt.capitalised or nxt.caps or tokens[end - 1].shape == "L"

    def _is_org(self, tokens: Sequence[Token], end: int) -> bool:
        if end >= len(tokens) or not (tokens[end].capitalised or tokens[end].caps):
            return False
        hit = self.lex.org_words.longest(tokens, end)
        if hit is None:
            return False
        return hit[1] == "strong" or not tokens[end].caps

    def _is_place(self, tokens: Sequence[Token], start: int, end: int) -> bool:
        found = self.lex.places.longest(tokens, start)
        return found is not None and found[0] >= end - start

    def _family_use(self, tokens: Sequence[Token], start: int, end: int) -> bool:
        if end < len(tokens) and tokens[end].key in _FAMILY_WORDS:
            return True
        if end < len(tokens) and tokens[end].kind == "possessive":
            after = end + 1
            if after < len(tokens) and tokens[after].key in _FAMILY_WORDS:
                return True
        return False

    def _vehicle_model(self, tokens: Sequence[Token], start: int, end: int | None = None) -> bool:
        if start > 0 and tokens[start - 1].key in self.lex.vehicle_makes:
            return True
        return any(t.key in self.lex.vehicle_makes for t in tokens[start : end or start + 1])

    def _term_starts(self, tokens: Sequence[Token], start: int) -> bool:
        """A drug or weapon term of several words starts here (``Stanley knife``)."""
        for index in (self.lex.weapons, self.lex.drugs):
            hit = index.longest(tokens, start)
            if hit is not None and hit[0] > 1:
                return True
        return False

    def _operation(self, tokens: Sequence[Token], start: int) -> bool:
        return start > 0 and tokens[start - 1].key in ("OP", "OPERATION", "OPS")

    def _vehicle_words(self, tokens: Sequence[Token], start: int, end: int) -> bool:
        """Every word is a vehicle make or model (Range Rover)."""
        words = [t for t in tokens[start:end] if t.is_word]
        vehicle = self.lex.vehicle_makes | self.lex.vehicle_models
        return len(words) > 1 and all(t.key in vehicle for t in words)

    def _blocked(self, tokens: Sequence[Token], start: int, end: int) -> bool:
        return (
            self._vehicle_words(tokens, start, end)
            or self._is_street(tokens, end)
            or self._term_starts(tokens, start)
            or self._operation(tokens, start)
            or self._is_org(tokens, end)
            or self._family_use(tokens, start, end)
            or self._vehicle_model(tokens, start, end)
            or self._is_place(tokens, start, end)
        )

    # --- the finder -------------------------------------------------------------------

    def find(self, text: str, tokens: Sequence[Token], claimed: list[bool]) -> list[Span]:
        """Person spans in ``text`` over tokens not ``claimed`` by earlier finders."""
        st = _State(self, tokens, claimed)
        for i in range(len(tokens)):
            hit = self.lex.not_persons.longest(tokens, i)
            if hit is not None:
                for k in range(i, i + hit[0]):
                    st.taken[k] = True
        self._known_phrases(tokens, st)
        self._introduced(text, tokens, st)
        self._patterns(tokens, st)
        self._after_cues(tokens, st)
        self._single_words(tokens, st)
        self._repeats(tokens, st)
        spans = []
        for f in sorted(st.found, key=lambda f: f.start):
            start, end = tokens[f.start].start, tokens[f.end - 1].end
            spans.append(Span("person", start, end, text[start:end], rule="person_" + f.rule))
        return spans

    def _trim(self, tokens: Sequence[Token], a: int, b: int) -> tuple[int, int]:
        """Drop titles, ranks and punctuation at the start; Snr/Jnr and punctuation at the end."""
        while a < b and (tokens[a].key in self.titles or tokens[a].kind != "word"):
            if tokens[a].kind in ("word", "alnum") and tokens[a].key not in self.titles:
                break
            if tokens[a].kind == "alnum" and not tokens[a].text.isdigit():
                break
            a += 1
        while b > a and (
            tokens[b - 1].key in self.lex.suffixes or tokens[b - 1].kind in ("punct", "possessive")
        ):
            if (
                tokens[b - 1].text == "."
                and b - 2 >= a
                and len(tokens[b - 2].text) == 1
                and tokens[b - 2].is_word
            ):
                break  # the full stop of an initial: "A.J.", "Geoff H."
            b -= 1
        return a, b

    # 1. the hub's gazetteer -----------------------------------------------------------

    def _known_phrases(self, tokens: Sequence[Token], st: _State) -> None:
        """Known people's names of two words or more; one-word aliases wait for step 5."""
        for i in range(len(tokens)):
            hit = self.known.phrases.longest(tokens, i)
            if hit is None:
                continue
            n, _ = hit
            if n < 2 or not st.free(i, i + n):
                continue
            span = tokens[i : i + n]
            words = [t for t in span if t.is_word]
            if not words:
                continue
            if not (
                any(t.capitalised or t.caps for t in words)
                or all(self._name_word(t.key) for t in words)
            ):
                continue
            if self._not_person(tokens, i):
                continue
            # A pattern may see a longer name here: a middle name, a nickname inside.
            pattern = self._name_at(tokens, i, st)
            end = i + n
            if pattern is not None and pattern[0] > end:
                end = pattern[0]
            st.take(i, end, "known")

    def _not_person(self, tokens: Sequence[Token], i: int) -> bool:
        return self.lex.not_persons.longest(tokens, i) is not None

    def _alias_ok(self, tokens: Sequence[Token], i: int) -> bool:
        token = tokens[i]
        if len(token.key.replace("-", "")) < 2:
            return False
        if self._quoted(tokens, i, i + 1):
            return True
        if len(token.key) < 3 and not (token.shape == "U" and not token.caps):
            return False
        if self._common(token.key):
            return False
        if token.shape == "L":
            before = tokens[i - 1].key if i > 0 else ""
            return before not in {"A", "AN", "THE", "THIS", "THAT", "VERY", "SO", "TOO"}
        return True

    @staticmethod
    def _quoted(tokens: Sequence[Token], a: int, b: int) -> bool:
        before = tokens[a - 1].text if a > 0 else ""
        after = tokens[b].text if b < len(tokens) else ""
        return before in _QUOTES and after in _QUOTES

    # 2. introduced names, handles, chat speakers -------------------------------------

    def _introduced(self, text: str, tokens: Sequence[Token], st: _State) -> None:
        by_start = {t.start: k for k, t in enumerate(tokens)}
        by_end = {t.end: k for k, t in enumerate(tokens)}
        emails = [m.span() for m in _EMAIL_OR_URL.finditer(text)]
        for match in _HANDLE.finditer(text):
            a, b = match.span(1)
            if any(s <= a < e for s, e in emails):
                continue
            if re.fullmatch(r"[0-9._]+|[A-Za-z]\.[A-Za-z](?:\.[A-Za-z])*\.?", match[1]):
                continue  # numbers and dotted initials ("A.J.") are not handles
            before = text[max(0, a - 12) : a]
            after = text[b : b + 2]
            quoted = before[-1:] in _QUOTES and after[:1] in _QUOTES
            labelled = after[:1] == ":" or re.search(
                r"(?:account|handle|@|by|from)\s*\W?$", before, re.I
            )
            if not (quoted or labelled):
                continue
            start_k, end_k = by_start.get(a), by_end.get(b)
            if start_k is not None and end_k is not None:
                st.take(start_k, end_k + 1, "handle")
        for match in _SPEAKER_LINE.finditer(text):
            a, b = match.span("name")
            start_k, end_k = by_start.get(a), by_end.get(b)
            if start_k is None or end_k is None:
                continue
            words = tokens[start_k : end_k + 1]
            keys = [t.key for t in words if t.is_word]
            if not keys or any(self._common(k) or self._cue(k) for k in keys):
                continue
            if len(keys) == 1:
                ok = (
                    self._name_word(keys[0])
                    or self._known_word(keys[0])
                    or (words[0].shape == "L" and len(keys[0]) > 2)
                )
            else:
                ok = all(self._name_word(k) or self._known_word(k) for k in keys)
            if ok:
                st.take(start_k, end_k + 1, "speaker")
        for i in range(len(tokens)):
            naming = self.lex.cue_phrases.longest(tokens, i)
            if naming is None or naming[1][0] != "naming":
                continue
            j = i + naming[0]
            while (j < len(tokens) and tokens[j].text in (",", ":", "-", "(")) or (
                j < len(tokens)
                and tokens[j].key in ("HER", "HIS", "HIM", "HIMSELF", "HERSELF", "THEM")
            ):
                j += 1
            self._take_named(tokens, j, st, "aka")
        # known to RP as "Toby", a man he knows as "Gaz"
        for i, token in enumerate(tokens):
            if token.text not in _OPEN_QUOTES or i == 0 or tokens[i - 1].key != "AS":
                continue
            window = {t.key for t in tokens[max(0, i - 7) : i - 1]}
            if window & {
                "KNOWN",
                "KNOWS",
                "KNOW",
                "KNEW",
                "CALLS",
                "CALLED",
                "REFERRED",
                "INTRODUCES",
                "SAVED",
                "NAMED",
            }:
                self._take_named(tokens, i, st, "aka")
        # A quoted alias straight after a name: Kyle BARRETT "K-Dog", HUSSAIN ("Taz").
        for i, token in enumerate(tokens):
            if token.text not in _OPEN_QUOTES or i == 0:
                continue
            k = i - 1
            if tokens[k].text in ("(", ","):
                k -= 1
            if k >= 0 and st.is_person(k):
                self._take_named(tokens, i, st, "alias")

    def _take_named(self, tokens: Sequence[Token], j: int, st: _State, rule: str) -> None:
        """Take the name that starts at ``tokens[j]``: a quoted run, or a name-shaped run."""
        if j >= len(tokens):
            return
        if tokens[j].text in _OPEN_QUOTES:
            end = j + 1
            while end < len(tokens) and end - j <= 5 and tokens[end].text not in _QUOTES:
                if tokens[end].newline_before:
                    return
                end += 1
            if end >= len(tokens) or end - j > 5 or end == j + 1:
                return
            inner = tokens[j + 1 : end]
            keys = [t.key for t in inner if t.is_word]
            if not any(t.kind in ("word", "alnum") for t in inner):
                return
            if keys and all(self._common(k) or self._cue(k) for k in keys):
                return
            if sum(1 for k in keys if self._common(k)) > 1:
                return
            if sum(c.isalnum() for t in inner for c in t.text) < 2:
                return
            if any(t.kind == "alnum" and t.text.isdigit() for t in inner):
                return
            st.take(j + 1, end, rule)
            return
        end = j
        while end < len(tokens) and end - j < 3 and self._runnable(tokens[end], tokens[j]):
            end += 1
        if end > j and st.free(j, end) and not self._blocked(tokens, j, end):
            st.take(j, end, rule)

    def _runnable(self, token: Token, first: Token) -> bool:
        if not token.is_word or self._common(token.key) or self._cue(token.key):
            return False
        if token is not first and token.newline_before:
            return False
        if token.caps or first.shape == "L":
            return self._unknown_ok(token)
        return token.capitalised and self._unknown_ok(token)

    # 3. name patterns ----------------------------------------------------------------

    def _patterns(self, tokens: Sequence[Token], st: _State) -> None:
        i = 0
        n = len(tokens)
        while i < n:
            got = self._name_at(tokens, i, st)
            if got is None:
                i += 1
                continue
            end, rule = got
            st.take(i, end, rule)
            i = end

    def _name_at(self, tokens: Sequence[Token], i: int, st: _State) -> tuple[int, str] | None:
        t = tokens[i]
        if not st.free(i, i + 1):
            return None
        if self._initial(tokens, i):
            return self._initials_name(tokens, i, st)
        if not t.is_word or len(t.key) < 2:
            return None
        if t.key in self.titles or self._cue(t.key):
            return None
        if self._common(t.key) and not (
            self._short_forename(tokens, i) or self._capitals_before_comma(tokens, i)
        ):
            return None
        # SURNAME, Forename (and SURNAME Forename in mixed text)
        surname_first = self._surname_first(tokens, i, st)
        if surname_first is not None:
            return surname_first
        if t.caps:
            return self._caps_run(tokens, i, st)
        if not t.capitalised:
            return self._lower_pair(tokens, i, st)
        return self._mixed_run(tokens, i, st)

    def _initial(self, tokens: Sequence[Token], i: int) -> bool:
        t = tokens[i]
        if not (t.is_word and len(t.text) == 1 and t.text.isupper()):
            return False
        if t.text in ("I", "A") and not (i + 1 < len(tokens) and tokens[i + 1].text == "."):
            # The pronoun and the article are initials only before a full stop, or before
            # a surname that ends the phrase ("A ALLEN IS", "A BROWN (48)").
            if i + 2 >= len(tokens):
                return False
            surname, after = tokens[i + 1], tokens[i + 2]
            if not (surname.is_word and self._surname(surname.key) and surname.shape in ("T", "U")):
                return False
            if self._common(surname.key):
                return False
            return not after.is_word or after.key in _AFTER_NAME
        return True

    def _initials_name(self, tokens: Sequence[Token], i: int, st: _State) -> tuple[int, str] | None:
        """``J. SMITH``, ``T HUSSAIN``, ``A.J.`` (initials only), ``L PRYC``."""
        k = i
        letters = 0
        while k < len(tokens) and self._initial_or_dot(tokens, k):
            if tokens[k].is_word:
                letters += 1
            k += 1
        if self._surname_after_initials(tokens, k, st):
            end = k + 1
            if (
                end < len(tokens)
                and tokens[end].shape in ("U", "T")
                and self._surname(tokens[end].key)
                and not tokens[end].newline_before
            ):
                end += 1
            return end, "initials"
        # Dotted initials alone: A.J. / T.C.
        if (
            letters >= 2
            and tokens[k - 1].text == "."
            and all(tokens[x].text == "." for x in range(i + 1, k, 2))
        ):
            return k, "initials"
        return None

    def _surname_after_initials(self, tokens: Sequence[Token], k: int, st: _State) -> bool:
        """``tokens[k]`` can be the surname after initials: in capitals, or a listed name."""
        if k >= len(tokens) or not st.free(k, k + 1):
            return False
        nxt = tokens[k]
        if not nxt.is_word or len(nxt.key) < 2 or nxt.newline_before:
            return False
        listed = self._surname(nxt.key) or self._known_word(nxt.key)
        if not (nxt.shape == "U" or (nxt.capitalised and listed)):
            return False
        return (self._unknown_ok(nxt) or self._surname(nxt.key)) and not self._blocked(
            tokens, k, k + 1
        )

    def _initial_or_dot(self, tokens: Sequence[Token], k: int) -> bool:
        t = tokens[k]
        if t.text == "." and k > 0 and tokens[k - 1].is_word and len(tokens[k - 1].text) == 1:
            return True
        return t.is_word and len(t.text) == 1 and t.text.isupper()

    def _surname_first(self, tokens: Sequence[Token], i: int, st: _State) -> tuple[int, str] | None:
        t = tokens[i]
        j = i + 1
        comma = j < len(tokens) and tokens[j].text == ","
        if comma:
            j += 1
        if j >= len(tokens) or not st.free(j, j + 1) or not tokens[j].is_word:
            return None
        f = tokens[j]
        if f.newline_before or self._cue(f.key):
            return None
        if self._common(f.key) and not (self._forename(f.key) and comma and self._surname(t.key)):
            return None
        if not self._forename(f.key):
            # O'NEIL, Shevaun: a surname in capitals, a comma, an unknown forename; or a
            # known surname, a comma, an unknown or misspelt forename (Watson, Jame).
            known_surname = self._surname(t.key) or self._known_word(t.key)
            shaped = (t.shape == "U" and not t.caps and f.shape == "T") or (
                known_surname and f.shape == t.shape and t.shape in ("T", "U")
            )
            if not (comma and shaped and self._unknown_ok(f)):
                return None
            if len(t.key) < 3 or not self._vowelled(t) or self._is_place(tokens, j, j + 1):
                return None
        surname_like = self._surname(t.key) or self._known_word(t.key) or self._unknown_ok(t)
        if not surname_like or self._is_place(tokens, i, i + 1):
            return None
        if comma:
            # CAMPBELL, Tyrell / O'NEILL, MICHAEL / Shaw, Joshua
            if not (t.shape == "U" or t.capitalised) or not f.capitalised:
                return None
        else:
            # HARTLEY James, KOWALCZYK Grzegorz: capitals then a forename in title case.
            if not (t.shape == "U" and f.shape == "T" and not t.caps):
                return None
        end = j + 1
        # A middle name: O'NEILL, Siobhan Mary
        if (
            end < len(tokens)
            and tokens[end].is_word
            and st.free(end, end + 1)
            and self._forename(tokens[end].key)
            and tokens[end].shape == f.shape
            and not tokens[end].newline_before
            and not self._common(tokens[end].key)
        ):
            end += 1
        if self._blocked(tokens, i, end):
            return None
        return end, "surname_first"

    def _caps_run(self, tokens: Sequence[Token], i: int, st: _State) -> tuple[int, str] | None:
        """In a line of capitals: a known forename then surname-like words."""
        t = tokens[i]
        if self._is_place(tokens, i, i + 1):
            return None
        starts_name = (
            (self._forename(t.key) and not self._common(t.key))
            or self._known_word(t.key)
            or self._short_forename(tokens, i)
        )
        if not starts_name:
            # EDWRD WOODS: an unknown word before a surname, in capitals.
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if (
                nxt is not None
                and st.free(i + 1, i + 2)
                and nxt.is_word
                and not nxt.newline_before
                and (self._surname(nxt.key) or nxt.key in self.known.surnames)
                and not self._common(nxt.key)
                and nxt.key not in self.lex.street_types
                and self._unknown_ok(t)
                and self._vowelled(t)
                and len(t.key) >= 3
                and not self._is_place(tokens, i, i + 2)
                and not self._is_street(tokens, i + 2)
                and not self._blocked(tokens, i, i + 2)
            ):
                return i + 2, "caps_name"
            return None
        end = i + 1
        while end < len(tokens) and end - i < 4 and st.free(end, end + 1):
            nxt = tokens[end]
            if nxt.text in _OPEN_QUOTES and end - i == 1:
                # MICHAEL "MIKEY" O'NEILL
                close = self._quoted_nickname(tokens, end)
                if (
                    close is not None
                    and close + 1 < len(tokens)
                    and self._surname_like(tokens[close + 1])
                ):
                    end = close + 2
                    continue
                break
            if not nxt.is_word or (nxt.newline_before and not self._surname(nxt.key)):
                break
            if self._is_place(tokens, end, end + 1):
                break
            listed = self._surname(nxt.key) or self._known_word(nxt.key)
            if self._common(nxt.key) and listed and end == i + 1:
                # TONY BLACK: a surname that is also a word, where the phrase ends.
                after = tokens[end + 1] if end + 1 < len(tokens) else None
                if (
                    after is None
                    or not after.is_word
                    or after.key in _AFTER_NAME
                    or after.key in _PREPOSITIONS
                    or after.key.endswith(("ED", "ES", "ING"))
                ):
                    end += 1
                break
            # After the first surname word only listed names carry on (not BREATH TEST).
            if not self._surname_like(nxt) or (end > i + 1 and not listed):
                break
            end += 1
        while end > i + 1 and self._is_street(tokens, end):
            end -= 1
        if end == i + 1:
            if self._blocked(tokens, i, end) or not st.free(i, end):
                return None
            if t.key not in self.formal and not self._known_word(t.key):
                return None
            return end, "caps_forename"
        if self._blocked(tokens, i, end):
            return None
        return end, "caps_name"

    def _surname_like(self, token: Token) -> bool:
        if not token.is_word or self._cue(token.key):
            return False
        if self._surname(token.key) or self._known_word(token.key):
            return True
        return self._unknown_ok(token)

    def _quoted_nickname(self, tokens: Sequence[Token], q: int) -> int | None:
        """Index of the closing quote of a one- or two-word nickname opening at ``q``."""
        for close in range(q + 2, min(q + 4, len(tokens))):
            if tokens[close].text in _QUOTES:
                inner = tokens[q + 1 : close]
                if all(t.is_word or t.kind == "alnum" for t in inner):
                    return close
                return None
        return None

    def _mixed_run(self, tokens: Sequence[Token], i: int, st: _State) -> tuple[int, str] | None:
        """In mixed-case text: capitalised words, at least one of them a known name word."""
        end = i
        while end < len(tokens) and end - i < 7 and st.free(end, end + 1):
            t = tokens[end]
            if sum(1 for x in tokens[i:end] if x.is_word) >= 4:
                break
            if end > i and t.text in _OPEN_QUOTES:
                close = self._quoted_nickname(tokens, end)
                if (
                    close is not None
                    and close + 1 < len(tokens)
                    and tokens[close + 1].capitalised
                    and not tokens[close + 1].caps
                ):
                    end = close + 1
                    continue
                break
            if not t.is_word or not t.capitalised or t.caps:
                break
            if end > i and t.key in self.lex.street_types and t.shape == "T":
                return None  # a street: Gathorne St, Belle Isle Rd (but Ashley GREEN)
            if end > i and t.newline_before and not (t.shape == "U" or self._surname(t.key)):
                break
            if (
                t.shape == "U"
                and not self._known_word(t.key)
                and (not self._vowelled(t) or len(t.key) < 3)
            ):
                break  # an acronym: NPT, PNC, MO
            if self._cue(t.key) or t.key in self.titles:
                break
            if self._common(t.key) and not (
                end > i and self._surname(t.key) and not t.sentence_start
            ):
                # "Mo Patel": a short forename that is also a word, before a surname.
                nxt = tokens[end + 1] if end + 1 < len(tokens) else None
                if not (
                    end == i
                    and self._forename(t.key)
                    and nxt is not None
                    and nxt.is_word
                    and nxt.capitalised
                    and self._surname(nxt.key)
                    and not self._common(nxt.key)
                ):
                    break
            if end > i and t.sentence_start and not t.newline_before:
                break
            end += 1
        while end > i and self._is_street(tokens, end):
            end -= 1
        while end > i + 1 and (self._is_org(tokens, end) or self._is_place(tokens, end - 1, end)):
            end -= 1
        if end == i:
            return None
        words = [t for t in tokens[i:end] if t.is_word]
        first = words[0]
        if self._blocked(tokens, i, end) or self._not_person(tokens, i):
            return None
        if len(words) == 1:
            return self._single_capitalised(tokens, i, end)
        has_upper = any(w.shape == "U" for w in words[1:])
        first_name = (self._forename(first.key) and not self._common(first.key)) or (
            len(words) == 2
            and self._misspelt_name(first.key)
            and (self._surname(words[1].key) or self._misspelt_name(words[1].key))
        )
        if first.shape == "U" and not has_upper:
            return None
        if first_name or (has_upper and first.shape == "T" and self._unknown_ok(first)):
            return end, "name"
        if (
            all(self._unknown_ok(w) or self._name_word(w.key) for w in words[:-1])
            and (self._name_word(words[-1].key) or self._known_word(words[-1].key))
            and not self._is_place(tokens, i, i + 1)
        ):
            return end, "name"
        return None

    def _capitals_before_comma(self, tokens: Sequence[Token], i: int) -> bool:
        """PRICE, Shannon: a surname that is also a word, in capitals in mixed text."""
        t = tokens[i]
        return (
            t.shape == "U"
            and not t.caps
            and self._surname(t.key)
            and i + 2 < len(tokens)
            and tokens[i + 1].text == ","
            and self._forename(tokens[i + 2].key)
        )

    def _short_forename(self, tokens: Sequence[Token], i: int) -> bool:
        """A forename that is also a word (Mo, Will) right before a surname, or after a
        surname and a comma (Patel, Mo)."""
        t = tokens[i]
        if not self._forename(t.key) or not (t.capitalised or t.caps):
            return False
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt is not None and nxt.is_word and self._surname(nxt.key) and not self._common(nxt.key):
            return nxt.shape in ("T", "U") and not nxt.newline_before
        return False

    @staticmethod
    def _vowelled(token: Token) -> bool:
        return any(c in "AEIOUY" for c in token.key)

    def _single_capitalised(
        self, tokens: Sequence[Token], i: int, end: int
    ) -> tuple[int, str] | None:
        t = tokens[i]
        if self._common(t.key) or len(t.key) < 2:
            return None
        if t.shape == "U" and not t.caps:
            # A word in capitals in mixed text is more often an acronym than a name.
            return (end, "known_word") if self._known_word(t.key) else None
        if t.key in self.formal or self._known_word(t.key):
            return end, "forename"
        return None

    def _lower_pair(self, tokens: Sequence[Token], i: int, st: _State) -> tuple[int, str] | None:
        """Lower-case text: a forename and a surname from the lists (``tyrone palmer``)."""
        t = tokens[i]
        if i + 1 >= len(tokens) or not st.free(i + 1, i + 2):
            return None
        s = tokens[i + 1]
        if not (t.shape == "L" and s.shape == "L" and s.is_word):
            return None
        if self._common(t.key) or self._common(s.key):
            return None
        if self._forename(t.key) and self._surname(s.key):
            return i + 2, "lower_name"
        return None

    # 4. cue words --------------------------------------------------------------------

    def _after_cues(self, tokens: Sequence[Token], st: _State) -> None:
        for i, t in enumerate(tokens):
            kind = self._cue(t.key)
            if kind is None or kind == "naming":
                continue
            if kind == "role" and not (t.caps or t.capitalised or t.shape == "L"):
                continue
            j = i + 1
            # PC 1287 Laura MCKENZIE; Mum (Abena OSEI); his wife, Sharon; RP: name
            if kind == "rank" and j < len(tokens) and tokens[j].kind == "alnum":
                j += 1
            while (
                j < len(tokens)
                and tokens[j].text in ("(", ",", ":", "-")
                and not tokens[j].newline_before
            ):
                j += 1
            if j >= len(tokens) or not st.free(j, j + 1) or tokens[j].newline_before:
                continue
            first = tokens[j]
            if first.text in _OPEN_QUOTES and kind in ("role", "relative", "partner"):
                # mate "Jonno", yard manager "Stevo"
                self._take_named(tokens, j, st, "cue")
                continue
            if (
                kind in ("relative", "partner")
                and first.shape == "L"
                and first.key in self.known.forenames
            ):
                st.take(j, j + 1, "cue")  # his sister keisha
                continue
            if not first.is_word or not (first.capitalised or first.caps):
                continue
            if kind == "role" and not (first.caps or first.capitalised):
                continue
            end = j
            while end < len(tokens) and end - j < 3 and st.free(end, end + 1):
                w = tokens[end]
                if not w.is_word or (end > j and w.newline_before):
                    break
                if w.caps:
                    if not self._unknown_ok(w) or self._is_place(tokens, end, end + 1):
                        break
                elif not (w.capitalised and self._unknown_ok(w)):
                    break
                end += 1
            if end == j or self._blocked(tokens, j, end):
                continue
            # In capitals, a role word before an unknown word is weak evidence: ask for a
            # name-list word or a relative/partner/title cue.
            words = tokens[j:end]
            if first.caps and kind == "role" and not any(self._name_word(w.key) for w in words):
                continue
            st.take(j, end, "cue")

    # 5. single words -----------------------------------------------------------------

    def _single_words(self, tokens: Sequence[Token], st: _State) -> None:
        for i, t in enumerate(tokens):
            if not t.is_word or not st.free(i, i + 1):
                continue
            key = t.key
            if key in self.known.aliases and self._alias_ok(tokens, i):
                if not self._blocked(tokens, i, i + 1):
                    st.take(i, i + 1, "alias_word")
                continue
            if not (t.capitalised or t.caps) or self._common(key) or len(key) < 2:
                continue
            known = key in self.known.surnames or key in self.known.forenames
            if known and not self._blocked(tokens, i, i + 1):
                st.take(i, i + 1, "known_word")

    # 6. repeats ----------------------------------------------------------------------

    def _repeats(self, tokens: Sequence[Token], st: _State) -> None:
        keys: set[str] = set()
        for f in st.found:
            words = [t for t in tokens[f.start : f.end] if t.is_word and len(t.key) > 1]
            if len(words) > 1:
                # A surname that is also a word (BROWN, GRANT) repeats as a name too.
                keys.update(w.key for w in words if not self._common(w.key) or w.shape == "U")
            elif f.rule in ("aka", "alias", "handle", "speaker", "cue"):
                keys.update(w.key for w in words if not self._common(w.key))
        if not keys:
            return
        for i, t in enumerate(tokens):
            if t.is_word and t.key in keys and st.free(i, i + 1):
                if not (t.capitalised or t.caps) and t.key not in self.known.aliases:
                    continue
                if self._common(t.key) and not (
                    t.shape == "U" or (t.shape == "T" and not t.sentence_start)
                ):
                    continue
                if self._blocked(tokens, i, i + 1):
                    continue
                st.take(i, i + 1, "repeat")


@functools.lru_cache(maxsize=1 << 14)
def _fuzzy_cue(key: str) -> tuple[str, str] | None:
    """A cue word misspelt by one keystroke (``GIRLFREIND``)."""
    for cue, value in lexicon().cues.items():
        if (
            len(cue) >= 6
            and abs(len(cue) - len(key)) <= 1
            and jellyfish.damerau_levenshtein_distance(cue, key) == 1
        ):
            return value
    return None
