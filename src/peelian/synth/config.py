"""Settings for the synthetic force: defaults shipped as YAML, overridable."""

from __future__ import annotations

import dataclasses
import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

NOISE_KINDS = (
    "typo",
    "ocr",
    "phonetic",
    "nickname",
    "name_swap",
    "dob_swap",
    "dob_year",
    "dob_missing",
    "address_variant",
    "address_missing",
    "phone_format",
    "phone_missing",
    "vrm_misread",
    "duplicate",
    "case",
)


class ConfigError(ValueError):
    """A setting is missing or has the wrong shape."""


@dataclasses.dataclass(frozen=True)
class NoiseProfile:
    """Probability of each kind of error in one source's mentions."""

    typo: float = 0.0
    ocr: float = 0.0
    phonetic: float = 0.0
    nickname: float = 0.0
    name_swap: float = 0.0
    dob_swap: float = 0.0
    dob_year: float = 0.0
    dob_missing: float = 0.0
    address_variant: float = 0.0
    address_missing: float = 0.0
    phone_format: float = 0.0
    phone_missing: float = 0.0
    vrm_misread: float = 0.0
    duplicate: float = 0.0
    case: float = 0.0


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """What `peelian generate` was asked for, plus the settings it used."""

    people: int
    seed: int
    start: dt.date
    months: int
    settings: dict[str, Any]

    @property
    def end(self) -> dt.date:
        """First day after the generated window."""
        year = self.start.year + (self.start.month - 1 + self.months) // 12
        month = (self.start.month - 1 + self.months) % 12 + 1
        return dt.date(year, month, 1)

    def month_starts(self) -> list[int]:
        """Ordinal first days of each month in the window, plus the day after it."""
        return [
            dt.date(
                self.start.year + (self.start.month - 1 + k) // 12,
                (self.start.month - 1 + k) % 12 + 1,
                1,
            ).toordinal()
            for k in range(self.months + 1)
        ]

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def years(self) -> float:
        return self.days / 365.25

    def noise(self, source: str) -> NoiseProfile:
        """The noise profile of `source` (falls back to `default`)."""
        table = self.settings["noise"]
        values = table.get(source, table["default"])
        unknown = set(values) - set(NOISE_KINDS)
        if unknown:
            raise ConfigError(
                f"noise.{source}: unknown kinds {sorted(unknown)}; known: {NOISE_KINDS}"
            )
        return NoiseProfile(**{k: float(v) for k, v in values.items()})

    def broken_rows(self) -> tuple[float, int]:
        """The share of rows to break on purpose, and the least per text source."""
        setting = self.settings["broken_rows"]
        rate, least = setting.get("rate"), setting.get("min_per_source")
        if not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ConfigError(f"broken_rows.rate must be a number from 0 to 1 (got {rate!r})")
        if not isinstance(least, int) or least < 0:
            raise ConfigError(
                f"broken_rows.min_per_source must be a whole number, 0 or more (got {least!r})"
            )
        return float(rate), least

    def expected(self, rate_name: str, population: int | None = None) -> float:
        """Expected count over the window for a per-1,000-per-year rate."""
        rate = float(self.settings["rates"][rate_name])
        return rate * (population if population is not None else self.people) / 1000 * self.years


def default_settings() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("defaults.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _merge(base: dict[str, Any], override: dict[str, Any], where: str) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"{where}{key}: unknown setting (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict) and isinstance(value, dict) and key != "settlements":
            merged[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            merged[key] = value
    return merged


def load_settings(path: Path | None = None) -> dict[str, Any]:
    """Defaults, with the settings in `path` (YAML) laid over them."""
    settings = default_settings()
    if path is None:
        return settings
    try:
        override = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read settings: {exc}") from exc
    if not isinstance(override, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return _merge(settings, override, f"{path}: ")
