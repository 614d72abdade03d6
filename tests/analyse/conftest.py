"""Fixtures shared by the analyse tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="module")
def con(resolved: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The analysed small force, read only."""
    connection = duckdb.connect(str(resolved / "hub.duckdb"), read_only=True)
    yield connection
    connection.close()
