"""Vehicle keys that survive ANPR and keying misreads.

Cameras and people confuse characters that look alike on a plate (0 and O,
1 and I, 5 and S, 8 and B...). `vrm_misread_key` maps each character to its
look-alike class from the shipped table `vrm_confusions.csv`, so
`AB12CDE`, `A812CDE` and `AB1ZCDE` share a key and can be compared; a
shared key is a candidate for matching, never a match on its own.
"""

from __future__ import annotations

from functools import cache

from peelian.reference import read_table


@cache
def _confusions() -> dict[str, str]:
    table: dict[str, str] = {}
    for row in read_table("vrm_confusions"):
        for char in row["characters"]:
            table[char] = row["key"]
    return table


def vrm_misread_key(vrm: str) -> str:
    """The plate with look-alike characters folded together.

    >>> vrm_misread_key("AB12 CDE"), vrm_misread_key("A812CDE")
    ('A812C0E', 'A812C0E')
    """
    confusions = _confusions()
    return "".join(confusions.get(c, c) for c in vrm.upper() if not c.isspace() and c != "-")
