"""Settings for harm, crime KPIs and incident response (`reference/kpis.yaml`).

Every number a commander might argue with (which harm index orders the lists,
the RFG window and half life, response targets per grade and area type, the
travel-time estimate) is configuration, read and checked here. A force's own
copy is passed as `--settings FILE`; a wrong file fails with its name, the key
and what was expected.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SETTINGS_FORMAT = "peelian-kpis/1"
DEFAULT_SETTINGS = "kpis.yaml"
AREA_TYPES = ("URBAN", "RURAL")
_M = TypeVar("_M", bound=BaseModel)
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-/]+$")


class SettingsError(ValueError):
    """The settings file can't be read or doesn't say what it must."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HarmSettings(_Strict):
    index: Literal["cchi", "ons"] = "cchi"


class RfgSettings(_Strict):
    window_days: int = Field(730, gt=0)
    half_life_days: float = Field(180, gt=0)
    gravity: Literal["max", "mean"] = "max"


class TrendSettings(_Strict):
    alpha: float = Field(0.05, gt=0, lt=1)
    false_discovery_rate: bool = True
    min_count: int = Field(5, ge=0)


class HotspotSettings(_Strict):
    h3_resolution: int = Field(8, ge=0, le=15)
    top: int = Field(400, gt=0)


class ResponseTarget(_Strict):
    grade: int = Field(ge=1, le=5)
    area_type: Literal["URBAN", "RURAL"]
    minutes: float = Field(gt=0)


class TravelSettings(_Strict):
    circuity: float = Field(1.3, ge=1)
    speed_kmh: dict[Literal["URBAN", "RURAL"], float]
    turnout_minutes: float = Field(2, ge=0)

    @model_validator(mode="after")
    def _speeds(self) -> TravelSettings:
        missing = [t for t in AREA_TYPES if t not in self.speed_kmh]
        if missing:
            raise ValueError(f"speed_kmh needs a speed for {', '.join(missing)}")
        if any(v <= 0 for v in self.speed_kmh.values()):
            raise ValueError("speed_kmh: every speed must be above 0")
        return self

    def minutes(self, km: float, area_type: str) -> float:
        """Estimated minutes to cover `km` straight-line km in `area_type`."""
        speed = float(self.speed_kmh.get(area_type.upper(), self.speed_kmh["URBAN"]))  # type: ignore[call-overload]
        return float(self.turnout_minutes + km * self.circuity / speed * 60)


class Settings(_Strict):
    format: Literal["peelian-kpis/1"]
    timezone: str = "Europe/London"
    harm: HarmSettings
    rfg: RfgSettings
    trends: TrendSettings
    hotspots: HotspotSettings
    response_targets: tuple[ResponseTarget, ...]
    travel: TravelSettings

    @model_validator(mode="after")
    def _zone(self) -> Settings:
        try:
            if not _ZONE_NAME.match(self.timezone):
                raise ValueError(self.timezone)
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone: {self.timezone!r} is not a time zone (such as Europe/London)"
            ) from None
        return self

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def set_zone(self, con: Any) -> None:
        """Count months, days and hours on `con` (DuckDB) in the force's time zone (a
        checked zone name: letters, digits, _ + - /, so it can't break out of the quotes)."""
        con.execute(f"SET TimeZone = '{self.timezone}'")

    @model_validator(mode="after")
    def _targets_once(self) -> Settings:
        seen: set[tuple[int, str]] = set()
        for t in self.response_targets:
            if (t.grade, t.area_type) in seen:
                raise ValueError(f"response_targets: grade {t.grade} {t.area_type} given twice")
            seen.add((t.grade, t.area_type))
        return self

    def target(self, grade: int, area_type: str) -> float | None:
        for t in self.response_targets:
            if t.grade == grade and t.area_type == area_type:
                return t.minutes
        return None


def load_settings(path: Path | str | None = None) -> Settings:
    """Read and check `path`, or Peelian's default settings."""
    if path is None:
        return _default()
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{name}: can't read the settings: {exc.strerror}") from None
    return parse_settings(text, name)


@functools.cache
def _default() -> Settings:
    text = resources.files("peelian.reference").joinpath(DEFAULT_SETTINGS).read_text("utf-8")
    return parse_settings(text, f"peelian/reference/{DEFAULT_SETTINGS}")


def parse_settings(text: str, name: str = "settings") -> Settings:
    return parse_yaml_model(text, name, SETTINGS_FORMAT, Settings)


def parse_yaml_model(text: str, name: str, fmt: str, model: type[_M]) -> _M:
    """Read a YAML settings file of format `fmt` into `model`; any problem is a
    SettingsError naming the file, the key and what was expected."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{name}: expected a mapping with format: {fmt}")
    if data.get("format") != fmt:
        raise SettingsError(f"{name}: format: expected {fmt!r}, found {data.get('format')!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'the file'}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"{name}: {problems}") from None
