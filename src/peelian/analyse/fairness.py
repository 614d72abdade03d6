"""Error rates per protected group, for the vulnerability screen's bias report.

For each characteristic (sex, ethnicity, age band) and group: how many people, how many
were selected (flagged), the selection rate; where the truth is known, the false-positive
rate (flagged among those not exploited), the false-negative rate (not flagged among the
exploited), precision, and calibration (mean predicted probability against the share
truly exploited); and each rate as a ratio to the reference group's, with its 95%
interval (Katz's log method; half a person added to each count when one is zero).

A ratio is judged against the configured bounds (0.8-1.25 by default, the "four-fifths"
rule and its inverse) by its interval, not its point value: **disparity** when the whole
interval lies outside the bounds, **parity** when it lies inside them, and otherwise
**too few to tell**. With rare outcomes (a few dozen false positives among thousands of
children) most ratios are too few to tell, and a point value of 0.3 or 3 alone says
nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np

from peelian.reference import read_table

NOT_RECORDED = "Not recorded"
# Groups this small give rates too noisy to compare; they are shown, not judged.
MIN_GROUP = 30
Z95 = 1.959964
DISPARITY, PARITY, UNCLEAR = "disparity", "parity", "too few to tell"


@functools.cache
def _ethnic_groups() -> dict[str, str]:
    return {str(r["code"]).upper(): str(r["group"]) for r in read_table("ethnicity")}


def ethnic_group(code: str | None) -> str:
    """The 5+1 group (White, Asian, Black, Mixed, Other) of a self-defined 16+1 code."""
    if not code:
        return NOT_RECORDED
    return _ethnic_groups().get(code.strip().upper(), NOT_RECORDED)


def sex_group(sex: str | None) -> str:
    return {"M": "M", "F": "F"}.get((sex or "").strip().upper()[:1], NOT_RECORDED)


def age_band(age: int, bands: Sequence[tuple[int, int]]) -> str:
    for lo, hi in bands:
        if lo <= age <= hi:
            return f"{lo}-{hi}"
    return NOT_RECORDED if age < 0 else "other"


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclasses.dataclass
class GroupRates:
    characteristic: str
    group: str
    people: int
    selected: int
    exploited: int | None = None
    true_positives: int | None = None
    false_positives: int | None = None
    mean_probability: float | None = None
    negative_score: float | None = None  # mean score of those not exploited
    ratios: dict[str, float | None] = dataclasses.field(default_factory=dict)
    intervals: dict[str, tuple[float, float] | None] = dataclasses.field(default_factory=dict)

    @property
    def selection_rate(self) -> float | None:
        return _rate(self.selected, self.people)

    @property
    def fpr(self) -> float | None:
        if self.exploited is None or self.false_positives is None:
            return None
        return _rate(self.false_positives, self.people - self.exploited)

    @property
    def fnr(self) -> float | None:
        if self.exploited is None or self.true_positives is None:
            return None
        return _rate(self.exploited - self.true_positives, self.exploited)

    @property
    def precision(self) -> float | None:
        return None if self.true_positives is None else _rate(self.true_positives, self.selected)

    @property
    def observed_rate(self) -> float | None:
        return None if self.exploited is None else _rate(self.exploited, self.people)

    def rate(self, name: str) -> float | None:
        return {"selection": self.selection_rate, "fpr": self.fpr, "fnr": self.fnr,
                "precision": self.precision}[name]  # fmt: skip

    def counts(self, name: str) -> tuple[int, int] | None:
        """The numerator and denominator of a ratio's rate."""
        if name == "selection":
            return self.selected, self.people
        if self.exploited is None or self.true_positives is None:
            return None
        if name == "fpr":
            return self.false_positives or 0, self.people - self.exploited
        return self.exploited - self.true_positives, self.exploited


def ratio_interval(a: int, n: int, b: int, m: int) -> tuple[float, float] | None:
    """95% interval of the ratio of two rates a/n over b/m (Katz's log method; half a
    person added to each count when one numerator is zero); None when both are zero."""
    if n <= 0 or m <= 0 or (a == 0 and b == 0):  # none in either: nothing to compare
        return None
    half = 0.5 if a == 0 or b == 0 else 0.0
    x, y, nx, ny = a + half, b + half, n + half, m + half
    se = math.sqrt(max(1 / x - 1 / nx + 1 / y - 1 / ny, 0.0))
    centre = math.log((x / nx) / (y / ny))
    return math.exp(centre - Z95 * se), math.exp(centre + Z95 * se)


RATIOS = ("selection", "fpr", "fnr")


def group_rates(
    characteristic: str,
    groups: Sequence[str],
    flagged: np.ndarray,
    reference: str,
    truth: np.ndarray | None = None,
    probability: np.ndarray | None = None,
    scores: np.ndarray | None = None,
) -> list[GroupRates]:
    """Rates per group of one characteristic; ratios to the `reference` group. With
    `scores` and the truth, also the mean score of those not exploited (every one of
    them counts, flagged or not: a lean shows there long before false positives are
    many enough to show it), as the ratio `negative_score`."""
    labels = np.array(groups, dtype=object)
    out = []
    for group in sorted(set(groups), key=lambda g: (g == NOT_RECORDED, g)):
        mask = labels == group
        row = GroupRates(characteristic, group, int(mask.sum()), int(flagged[mask].sum()))
        if truth is not None:
            row.exploited = int(truth[mask].sum())
            row.true_positives = int((flagged & truth)[mask].sum())
            row.false_positives = int((flagged & ~truth)[mask].sum())
        if probability is not None:
            row.mean_probability = float(probability[mask].mean()) if mask.any() else None
        if scores is not None and truth is not None and (mask & ~truth).any():
            row.negative_score = float(scores[mask & ~truth].mean())
        out.append(row)
    ref = next((r for r in out if r.group == reference), None)
    if scores is not None and truth is not None and ref is not None:
        labels_ref = (labels == reference) & ~truth
        for row in out:
            if row is ref:
                continue
            m = mean_ratio(scores[(labels == row.group) & ~truth], scores[labels_ref])
            row.ratios["negative_score"] = m.ratio if m else None
            row.intervals["negative_score"] = m.interval if m else None
    for row in out:
        for name in RATIOS:
            mine, theirs = row.rate(name), ref.rate(name) if ref else None
            row.ratios[name] = mine / theirs if (mine is not None and theirs) else None
            counts, ref_counts = row.counts(name), ref.counts(name) if ref else None
            row.intervals[name] = (
                ratio_interval(*counts, *ref_counts)
                if counts and ref_counts and row is not ref
                else None
            )
    return out


def judged(row: GroupRates, name: str) -> bool:
    """Whether a group's ratio is worth judging: a recorded group big enough to give a
    stable rate (for the false-negative rate: enough exploited people in it)."""
    if row.group == NOT_RECORDED:
        return False
    if name == "fnr":
        return (row.exploited or 0) >= 10
    if name == "negative_score":
        return row.people - (row.exploited or 0) >= MIN_GROUP
    return row.people >= MIN_GROUP


def judge(ci: tuple[float, float], bounds: tuple[float, float]) -> str:
    """Disparity when the whole interval lies outside the bounds, parity when inside."""
    lo, hi = bounds
    if ci[1] < lo or ci[0] > hi:
        return DISPARITY
    if lo <= ci[0] and ci[1] <= hi:
        return PARITY
    return UNCLEAR


def verdict(row: GroupRates, name: str, bounds: tuple[float, float]) -> str | None:
    """Disparity, parity or too few to tell, from the ratio's interval; None for the
    reference group and groups not judged."""
    ci = row.intervals.get(name)
    if ci is None or not judged(row, name):
        return None
    return judge(ci, bounds)


@dataclasses.dataclass
class MeanRatio:
    """Two groups' mean scores, their ratio and its 95% interval (delta method on the
    log of the ratio)."""

    ratio: float
    interval: tuple[float, float]


def mean_ratio(scores: np.ndarray, reference: np.ndarray) -> MeanRatio | None:
    """The mean of `scores` over the mean of `reference`; None when either is empty or
    has a mean of zero."""
    if len(scores) < 2 or len(reference) < 2:
        return None
    a, b = float(scores.mean()), float(reference.mean())
    if a <= 0 or b <= 0:
        return None
    se = math.sqrt(
        float(scores.var(ddof=1)) / (len(scores) * a * a)
        + float(reference.var(ddof=1)) / (len(reference) * b * b)
    )
    ratio = a / b
    return MeanRatio(ratio, (ratio * math.exp(-Z95 * se), ratio * math.exp(Z95 * se)))


def worst_ratio(
    rows: list[GroupRates], name: str, bounds: tuple[float, float] = (0.8, 1.25)
) -> GroupRates | None:
    """The judged group whose ratio is furthest from 1 (on a log scale), disparities
    first."""
    known = [r for r in rows if verdict(r, name, bounds)]
    if not known:
        return None

    def distance(r: GroupRates) -> float:
        x = r.ratios.get(name)
        if x is None:  # none in the reference group: the middle of the interval
            lo, hi = r.intervals[name] or (1.0, 1.0)
            x = math.sqrt(lo * hi)
        return abs(math.log(max(x, 1e-9)))

    return max(known, key=lambda r: (verdict(r, name, bounds) == DISPARITY, distance(r)))


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


MARKS = {DISPARITY: " ⚠", PARITY: " ✓", UNCLEAR: " ?"}


def ratio_text(row: GroupRates | None, name: str, bounds: tuple[float, float]) -> str:
    """'2.00 ? (0.95-4.21)': a ratio, its verdict's mark and its 95% interval."""
    if row is None:
        return "–"
    x, ci = row.ratios.get(name), row.intervals.get(name)
    if x is None and ci is None:
        return "–"
    mark = MARKS.get(verdict(row, name, bounds) or "", "")
    # none at all in the group, or none in the reference group (no ratio): the interval
    # (half a person added to each count) is the information
    point = "–" if x is None else "none" if x == 0 else f"{x:.2f}"
    return f"{point}{mark}" + (f" ({ci[0]:.2f}-{ci[1]:.2f})" if ci else "")


LEGEND = (
    "Ratios to the reference group with their 95% intervals: ⚠ a disparity (the whole "
    "interval outside {lo}-{hi}), ✓ parity (the whole interval inside), ? too few to tell; "
    "no mark: the reference group, or a group too small to judge; none: nobody in the "
    "group (its interval still shows how large a ratio so small a group allows)."
)


def markdown(rows: list[GroupRates], bounds: tuple[float, float]) -> str:
    """One table: a row per group, with rates and ratios to the reference group."""
    truth = any(r.exploited is not None for r in rows)
    prob = any(r.mean_probability is not None for r in rows)
    negative = any(r.negative_score is not None for r in rows)
    head = ["group", "people", "flagged", "selection rate", "ratio"]
    if truth:
        head += ["exploited", "false-positive rate", "ratio", "false-negative rate", "ratio",
                 "precision"]  # fmt: skip
    if prob:
        head += ["mean predicted", "observed"] if truth else ["mean predicted"]
    if negative:
        head += ["mean score, not exploited", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r.group,
            f"{r.people:,}",
            f"{r.selected:,}",
            _pct(r.selection_rate),
            ratio_text(r, "selection", bounds),
        ]
        if truth:
            cells += [
                f"{r.exploited:,}",
                _pct(r.fpr),
                ratio_text(r, "fpr", bounds),
                _pct(r.fnr),
                ratio_text(r, "fnr", bounds),
                _pct(r.precision),
            ]
        if prob:
            cells.append(_pct(r.mean_probability))
            if truth:
                cells.append(_pct(r.observed_rate))
        if negative:
            x = r.negative_score
            cells += [
                "–" if x is None else f"{x:.3g}",
                ratio_text(r, "negative_score", bounds) if "negative_score" in r.ratios else "–",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
