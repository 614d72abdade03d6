"""The errors real police systems contain, applied on purpose and recorded.

Each function takes a clean value and a `random.Random` and returns the
degraded value. `Noiser` applies a source's `NoiseProfile` to one mention and
lists the kinds of noise it applied, which go into the ground truth.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

from peelian.reference import read_table
from peelian.synth.config import NoiseProfile

KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(KEYBOARD_ROWS):
    for _c, _ch in enumerate(_row):
        near = _row[max(0, _c - 1) : _c] + _row[_c + 1 : _c + 2]
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < len(KEYBOARD_ROWS):
                near += KEYBOARD_ROWS[_other][max(0, _c - 1) : _c + 1]
        _NEIGHBOURS[_ch] = near

OCR_CONFUSIONS = (
    ("rn", "m"),
    ("m", "rn"),
    ("cl", "d"),
    ("l", "1"),
    ("O", "0"),
    ("o", "0"),
    ("S", "5"),
    ("B", "8"),
    ("I", "l"),
    ("e", "c"),
    ("h", "b"),
)
PHONETIC_RULES = (
    ("ph", "f"),
    ("f", "ph"),
    ("ck", "k"),
    ("k", "ck"),
    ("ie", "y"),
    ("y", "ie"),
    ("ou", "ow"),
    ("ll", "l"),
    ("tt", "t"),
    ("nn", "n"),
    ("ss", "s"),
    ("l", "ll"),
    ("t", "tt"),
    ("ae", "ai"),
    ("Mc", "Mac"),
    ("Mac", "Mc"),
    ("ey", "y"),
    ("ei", "ie"),
    ("v", "ph"),
    ("z", "s"),
    ("s", "z"),
    ("th", "t"),
    ("ch", "sh"),
    ("i", "y"),
    ("ee", "ea"),
    ("ea", "ee"),
    ("c", "k"),
)
VRM_MISREADS = {
    "O": "0",
    "0": "O",
    "I": "1",
    "1": "I",
    "B": "8",
    "8": "B",
    "S": "5",
    "5": "S",
    "G": "6",
    "6": "G",
    "Z": "2",
    "2": "Z",
    "D": "0",
    "Q": "O",
    "E": "F",
    "F": "E",
}
ADDRESS_ABBREVIATIONS = {r["suffix"]: r["abbreviation"] for r in read_table("street_suffixes")}


def _nicknames() -> dict[str, list[str]]:
    table: dict[str, list[str]] = defaultdict(list)
    for row in read_table("nicknames"):
        table[row["forename"].lower()].append(row["nickname"])
    return dict(table)


NICKNAMES = _nicknames()


def keyboard_typo(text: str, rng: random.Random) -> str:
    """One substitution, deletion, insertion or transposition, as a typist makes."""
    if len(text) < 2:
        return text
    i = rng.randrange(len(text))
    ch = text[i]
    kind = rng.randrange(4)
    if kind == 0 and ch.lower() in _NEIGHBOURS:
        sub = rng.choice(_NEIGHBOURS[ch.lower()])
        sub = sub.upper() if ch.isupper() else sub
        return text[:i] + sub + text[i + 1 :]
    if kind == 1 and len(text) > 3:
        return text[:i] + text[i + 1 :]
    if kind == 2:
        return text[: i + 1] + ch.lower() + text[i + 1 :]
    if i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:-1]


def ocr_error(text: str, rng: random.Random) -> str:
    """A character confusion of the kind optical character recognition makes."""
    options = [(a, b) for a, b in OCR_CONFUSIONS if a in text]
    if not options:
        return keyboard_typo(text, rng)
    a, b = rng.choice(options)
    at = [k for k in range(len(text)) if text.startswith(a, k)]
    k = rng.choice(at)
    return text[:k] + b + text[k + len(a) :]


def phonetic_variant(text: str, rng: random.Random) -> str:
    """Spelt as heard: Stephen/Steven, Philips/Phillips, Mackenzie/McKenzie."""
    options = [
        (a, b)
        for a, b in PHONETIC_RULES
        if a in text[1:] or (a[0].isupper() and text.startswith(a))
    ]
    if not options:
        return keyboard_typo(text, rng)
    a, b = rng.choice(options)
    at = [k for k in range(len(text)) if text.startswith(a, k) and (k > 0 or a[0].isupper())]
    if not at:
        return keyboard_typo(text, rng)
    k = rng.choice(at)
    return text[:k] + b + text[k + len(a) :]


def nickname(forename: str, rng: random.Random) -> str | None:
    """A diminutive of `forename` (William -> Bill), or None if it has none."""
    options = NICKNAMES.get(forename.lower())
    return rng.choice(options) if options else None


def vrm_misread(vrm: str, rng: random.Random) -> str:
    """One character as a camera or a tired officer misreads it (O/0, I/1, B/8)."""
    at = [k for k, ch in enumerate(vrm) if ch in VRM_MISREADS]
    if not at:
        return vrm
    k = rng.choice(at)
    return vrm[:k] + VRM_MISREADS[vrm[k]] + vrm[k + 1 :]


def swap_day_month(day: dt.date) -> dt.date | None:
    """12/03 <-> 03/12; None when the day can't be a month."""
    if day.day > 12 or day.day == day.month:
        return None
    return (
        day.replace(day=day.month, month=day.day) if _valid(day.year, day.day, day.month) else None
    )


def _valid(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def shift_year(day: dt.date, rng: random.Random) -> dt.date:
    delta = rng.choice((-1, 1))
    try:
        return day.replace(year=day.year + delta)
    except ValueError:  # 29 February
        return day.replace(year=day.year + delta, day=28)


def address_variant(address: str, rng: random.Random) -> str:
    """Abbreviated, shortened or re-ordered the way different systems write it."""
    kind = rng.randrange(5)
    parts = [p.strip() for p in address.split(",")]
    if kind == 0:
        for full, short in ADDRESS_ABBREVIATIONS.items():
            if f" {full}" in address:
                return address.replace(f" {full}", f" {short}", 1)
    if kind == 1 and len(parts) > 2:
        return ", ".join(parts[:-1])  # town left off
    if kind == 2 and parts[0].startswith("Flat ") and len(parts) > 1:
        flat = parts[0][5:]
        return ", ".join([f"{flat}/{parts[1]}", *parts[2:]])
    if kind == 3 and len(parts) > 2:
        return ", ".join([parts[0], *parts[2:]])  # locality left off (or the street, for flats)
    return address.replace(",", "")


def phone_format(national: str, rng: random.Random) -> str:
    """The same UK number as different people write it."""
    digits = national[1:]
    kind = rng.randrange(6)
    if kind == 0:
        return f"{national[:5]} {national[5:]}"
    if kind == 1:
        return f"+44 {digits[:4]} {digits[4:]}"
    if kind == 2:
        return f"44{digits}"
    if kind == 3:
        return f"({national[:5]}) {national[5:8]} {national[8:]}"
    if kind == 4:
        return f"0044{digits}"
    return f"{national[:5]}-{national[5:8]}-{national[8:]}"


class Noiser:
    """Applies one source's noise profile, remembering what it did."""

    def __init__(self, profile: NoiseProfile, rng: random.Random) -> None:
        self.p = profile
        self.rng = rng
        self.applied: list[str] = []

    def reset(self) -> None:
        self.applied = []

    def hit(self, kind: str) -> bool:
        probability: float = getattr(self.p, kind)
        return probability > 0 and self.rng.random() < probability

    def name(self, forename: str, surname: str) -> tuple[str, str]:
        if self.hit("nickname"):
            nick = nickname(forename, self.rng)
            if nick:
                forename = nick
                self.applied.append("nickname")
        for kind, fn in (
            ("typo", keyboard_typo),
            ("ocr", ocr_error),
            ("phonetic", phonetic_variant),
        ):
            if self.hit(kind):
                if self.rng.random() < 0.5:
                    new = fn(surname, self.rng)
                    changed = new != surname
                    surname = new
                else:
                    new = fn(forename, self.rng)
                    changed = new != forename
                    forename = new
                if changed:
                    self.applied.append(kind)
        if self.hit("name_swap"):
            forename, surname = surname, forename
            self.applied.append("name_swap")
        return forename, surname

    def dob(self, day: dt.date) -> dt.date | None:
        if self.hit("dob_missing"):
            self.applied.append("dob_missing")
            return None
        if self.hit("dob_swap"):
            swapped = swap_day_month(day)
            if swapped is not None:
                self.applied.append("dob_swap")
                day = swapped
        if self.hit("dob_year"):
            self.applied.append("dob_year")
            day = shift_year(day, self.rng)
        return day

    def address(self, address: str) -> str:
        if self.hit("address_missing"):
            self.applied.append("address_missing")
            return ""
        if self.hit("address_variant"):
            new = address_variant(address, self.rng)
            if new != address:
                self.applied.append("address_variant")
                return new
        return address

    def phone(self, national: str) -> str:
        if not national:
            return ""
        if self.hit("phone_missing"):
            self.applied.append("phone_missing")
            return ""
        if self.hit("phone_format"):
            self.applied.append("phone_format")
            return phone_format(national, self.rng)
        return national

    def vrm(self, vrm: str) -> str:
        if self.hit("vrm_misread"):
            new = vrm_misread(vrm, self.rng)
            if new != vrm:
                self.applied.append("vrm_misread")
                return new
        return vrm

    def case(self, text: str) -> str:
        """Upper case, as many police systems store names."""
        if self.hit("case"):
            return text.upper()
        return text
