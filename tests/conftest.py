"""Shared fixtures: a small synthetic force, generated once per test session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from peelian.synth.config import SynthConfig, load_settings
from peelian.synth.generate import generate

SMALL_FORCE = {"people": 6000, "seed": 11, "start": dt.date(2024, 1, 1), "months": 12}


def small_config(**changes: object) -> SynthConfig:
    args = {"settings": load_settings(), **SMALL_FORCE, **changes}
    return SynthConfig(**args)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def force(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6,000-person force over 12 months (about two seconds to build)."""
    out = tmp_path_factory.mktemp("force") / "force"
    generate(small_config(), out)
    return out


@pytest.fixture(scope="session")
def resolved(force: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small force ingested, resolved, extracted and analysed once (as `peelian
    refresh` leaves a hub, but for the index); tests that change it use a copy."""
    hub_path = tmp_path_factory.mktemp("resolve") / "hub"
    refresh_stages(force, hub_path)
    return hub_path


def refresh_stages(force: Path, hub_path: Path) -> None:
    """Ingest a generated force's sources into a new hub at `hub_path`, resolve, extract
    and analyse (as `peelian refresh` does, but for the index)."""
    from peelian.analyse import analyse
    from peelian.hub import Hub
    from peelian.ingest import ingest_mapping
    from peelian.resolve.run import resolve
    from peelian.sources.mapping import load_mappings
    from peelian.text.hub import extract_hub

    with Hub(hub_path, create=True) as hub:
        for mapping in load_mappings([force / "mappings"]):
            ingest_mapping(hub, mapping)
        resolve(hub)
        hub.con.execute("BEGIN")
        extract_hub(hub.con)
        hub.con.execute("COMMIT")
        analyse(hub.con)


def add_accounts(state_url: str | Path, *accounts: tuple[str, str, str]) -> None:
    """Create user accounts (username, role, vetting) in a state database, as tests'
    CLI users (no passwords: the CLI acts as an account, it does not sign in)."""
    from peelian.state import State

    with State.open(state_url) as state:
        for username, role, vetting in accounts:
            state.accounts.add_user(username, username, role, vetting, by="test-setup")
