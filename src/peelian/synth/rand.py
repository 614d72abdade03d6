"""Deterministic random streams, one per named part of the generator.

Each part draws from its own stream derived from the seed and the part's
name, so adding draws to one part never changes what another part makes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from itertools import accumulate
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


def _derive(seed: int, name: str) -> int:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def py_rng(seed: int, name: str) -> random.Random:
    """A `random.Random` for scalar draws (fast one at a time)."""
    return random.Random(_derive(seed, name))


def np_rng(seed: int, name: str) -> np.random.Generator:
    """A NumPy generator for bulk draws."""
    return np.random.default_rng(_derive(seed, name))


class Weighted(Generic[T]):
    """Fast repeated weighted choice from a fixed table."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if len(items) != len(weights) or not items:
            raise ValueError("Weighted needs as many weights as items, and at least one")
        self.items = list(items)
        self.cum = list(accumulate(float(w) for w in weights))

    def pick(self, rng: random.Random) -> T:
        return rng.choices(self.items, cum_weights=self.cum, k=1)[0]

    def sample(self, rng: random.Random, k: int) -> list[T]:
        return rng.choices(self.items, cum_weights=self.cum, k=k)


def round_random(x: float, rng: random.Random) -> int:
    """`x` rounded up with probability equal to its fraction, so counts add up on average."""
    whole = int(x)
    return whole + (1 if rng.random() < x - whole else 0)


def pick(options: Sequence[tuple[str, float]], rng: random.Random) -> str:
    """One value from a short (value, weight) table, with a single draw."""
    r = rng.random() * sum(p for _, p in options)
    for value, p in options:
        r -= p
        if r <= 0:
            return value
    return options[-1][0]
