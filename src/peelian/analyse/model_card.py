"""The model card and assessment every run of the vulnerability screen writes.

Written for an ethics panel, not for engineers: what the screen is for and not for,
the data it read, how each scorer works (every weight), who it selects by sex,
ethnicity and age band, and an assessment against the NPCC data-analytics headings
(complexity and operational effect, ethics, data, efficacy, readiness) and ALGO-CARE.
Error rates need the truth, which a live force only learns from the meeting's
decisions; `peelian eval vulnerability` measures them on the synthetic force.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from peelian.analyse import fairness

if TYPE_CHECKING:
    from peelian.analyse.vulnerability import Hub, Model, Scorers, VulnerabilitySettings


def model_card(
    hub: Hub,
    s: VulnerabilitySettings,
    models: dict[bool, Model | None],
    scored: Scorers,
    child: np.ndarray,
    decisions: dict[str, Any],
) -> str:
    from peelian.analyse.vulnerability import CHILD_INDICATORS, INDICATORS

    as_of = dt.date.fromordinal(hub.end)
    signals = scored.counts.sum(axis=1) > 0
    pool = child & signals
    mitigated = s.list_mitigated
    flagged = pool & (scored.list_points(mitigated) >= s.flag_points)
    model = models[mitigated]
    form = (
        "The list uses the **mitigated** form of both scorers: recorded police contact "
        "is left out of the points, the model's inputs and the reasons; the scores "
        "counting it are kept beside them for comparison."
        if mitigated
        else "The list uses both scorers **as they are**, recorded police contact "
        "included; the mitigated scores are kept beside them for comparison."
    )
    out = [
        f"# Model card: vulnerability and exploitation screen, {as_of.isoformat()}",
        "",
        f"Run {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; data up to "
        f"{as_of.isoformat()}; settings `{s.format}` (look-back {s.lookback_days} days).",
        "",
        "## What it is for",
        "",
        "An **advisory** list of children (aged "
        f"{s.child_min_age}-17) and vulnerable adults whose records show signs of "
        "criminal or sexual exploitation, ranked for a multi-agency meeting. People "
        "decide: each flag carries its reasons and the records behind them, and the "
        "meeting records *at risk*, *not at risk* or *already known*. It is not for "
        "enforcement, for deciding anyone's guilt, or for any decision without a person "
        "reading the records.",
        "",
        "## Data this run read",
        "",
        f"- {len(hub.entities):,} people in the hub; {int(pool.sum()):,} children and "
        f"{int(((scored.ages >= 18) & signals).sum()):,} adults with at least one indicator "
        f"in the last {s.lookback_days} days.",
        f"- {len(hub.recorded):,} people already recorded as exploited (a referral or "
        "intelligence report saying so); these are the model's positive labels.",
        f"- {len(decisions):,} decisions of the meeting, used as labels.",
        "",
        "| indicator | children with it | points | cap | recorded police contact |",
        "|---|---|---|---|---|",
    ]
    for k, name in enumerate(INDICATORS):
        rule = s.rule(name)
        with_it = int((pool & (scored.counts[:, k] > 0)).sum())
        out.append(
            f"| {rule.text} | {with_it:,} | {rule.points} | {rule.cap} | "
            f"{'yes (left out when mitigated)' if rule.proxy else 'no'} |"
        )
    out += [
        "",
        "## The two scorers",
        "",
        f"**Points screen.** Each indicator scores its points per occurrence up to its cap; "
        f"a child with {s.flag_points} points or more is flagged ({int(flagged.sum()):,} "
        f"today). Adults are flagged at {s.adult_flag_points} points on the adult "
        "indicators. The weights are a judgement the force owns (`--vulnerability FILE`).",
        "",
        form,
        "",
    ]
    if model is None:
        out += [
            f"**Trained model: not trained this run.** It needs at least "
            f"{s.model.min_positives} children recorded as exploited (or decided at risk); "
            f"the hub holds {len(hub.recorded)} people recorded as exploited, children and "
            "adults, of whom fewer were children with a date of birth when recorded. The "
            "points screen stands alone.",
            "",
        ]
    else:
        probability = scored.list_probability(mitigated)
        assert probability is not None
        mflag = pool & (probability >= s.flag_probability)
        out += [
            "**Trained model.** Logistic regression on the log counts of the child "
            "indicators, recent missing episodes and age, calibrated with Platt scaling "
            f"over {s.model.folds} folds (scikit-learn). Trained on {model.positives:,} "
            f"positive and {model.negatives:,} negative examples from this hub: children "
            "recorded as exploited, as their records stood the day before; the meeting's "
            "decisions; every other child on a day drawn at random. It flags at a "
            f"probability of {s.flag_probability:.0%} ({int(mflag.sum()):,} today).",
            "",
            "| input | weight (log-odds per unit) |",
            "|---|---|",
            *(
                f"| {_feature(name)} | {w:+.3f} |"
                for name, w in zip(model.features, model.coefficients, strict=True)
            ),
            f"| intercept | {model.intercept:+.3f} |",
            "",
            f"Calibration multiplies these log-odds by {model.scale:.2f} (the reasons shown "
            "with each flag use the calibrated figures).",
            "",
        ]
    out += _selection(hub, s, scored, pool, models)
    names = [n for n in CHILD_INDICATORS if s.rule(n).proxy]
    out += [
        "## Assessment (NPCC data-analytics headings)",
        "",
        "- **Complexity and operational effect.** Counting rules and a one-layer "
        "regression: every score can be recomputed by hand from the reasons shown. The "
        "effect is a ranked agenda for a safeguarding meeting; nobody is arrested, "
        "charged, or refused a service because of a score.",
        "- **Ethics.** Children are the subject; a false flag means a safeguarding "
        "conversation, a missed child means continued harm. Recorded police contact ("
        + ", ".join(s.rule(n).text for n in names)
        + ") rises with how heavily an area is policed; the mitigated scorers leave it "
        "out and the bias report compares both.",
        "- **Data.** Missing-person episodes, partner referrals (shared under their "
        "agreements and shown only to the roles they name), crime, custody, stop and "
        "search, intelligence, call records and the network and county-lines analytics, "
        "resolved into one person each. Errors of matching carry into the scores; each "
        "flag lists its records so a reader can check them.",
        "- **Efficacy.** Measured on the synthetic force by `peelian eval vulnerability` "
        "(AUC, precision among the top 100, recall, days of warning, error rates per "
        "group). A live force measures it from the meeting's decisions over time.",
        "- **Readiness.** Advisory use with a named owner, a periodic review of the "
        "weights and the bias report, and the decisions fed back each run.",
        "",
        "## ALGO-CARE",
        "",
        "| | |",
        "|---|---|",
        "| Advisory | The list orders a meeting's agenda; people decide and record why. |",
        "| Lawful | For safeguarding children and adults at risk (Children Act 2004 s11, "
        "Care Act 2014 s42); partner data used only under its sharing agreement. |",
        "| Granularity | Per person, from dated records; no area-level or demographic input. |",
        "| Ownership | The force's safeguarding lead owns the weights (settings file) and "
        "this card; the code is open. |",
        "| Challengeable | Every flag shows its reasons and records; a decision of *not at "
        "risk* removes it from the agenda until new records arrive. |",
        "| Accuracy | Measured on the synthetic force (see the evaluation report); "
        "calibrated probabilities. |",
        "| Responsible | Bias report per sex, ethnicity and age band; mitigated scorers "
        "without recorded police contact. |",
        "| Explainable | Points are sums of listed weights; the model's weights are "
        "printed above and each flag names its largest contributions. |",
        "",
    ]
    return "\n".join(out)


def _feature(name: str) -> str:
    from peelian.analyse.vulnerability import FEATURE_TEXT

    return FEATURE_TEXT.get(name, name)


def _selection(
    hub: Hub,
    s: VulnerabilitySettings,
    scored: Scorers,
    pool: np.ndarray,
    models: dict[bool, Model | None],
) -> list[str]:
    """Who each scorer selects, by the sex, ethnicity and age band the hub records."""
    idx = np.flatnonzero(pool)
    if not len(idx):
        return ["## Who is selected", "", "No child has an indicator.", ""]
    chars = {
        "sex": [fairness.sex_group(hub.sex[i]) for i in idx],
        "ethnicity": [fairness.ethnic_group(hub.ethnicity[i]) for i in idx],
        "age_band": [fairness.age_band(int(scored.ages[i]), s.fairness.age_bands) for i in idx],
    }
    scorers: dict[str, np.ndarray] = {
        "points screen": scored.points[idx] >= s.flag_points,
        "points screen, mitigated": scored.points_mitigated[idx] >= s.flag_points,
    }
    if scored.probability is not None:
        scorers["trained model"] = scored.probability[idx] >= s.flag_probability
    if scored.probability_mitigated is not None:
        scorers["trained model, mitigated"] = (
            scored.probability_mitigated[idx] >= s.flag_probability
        )
    out = [
        "## Who is selected",
        "",
        "Among children with at least one indicator, by the characteristics the hub records "
        "(error rates need the truth: see `peelian eval vulnerability`).",
        "",
    ]
    for name, flagged in scorers.items():
        for characteristic, groups in chars.items():
            rows = fairness.group_rates(
                characteristic, groups, flagged, s.fairness.reference_groups.get(characteristic, "")
            )
            out += [f"**{name}, by {characteristic.replace('_', ' ')}**", "",
                    fairness.markdown(rows, s.fairness.ratio_bounds), ""]  # fmt: skip
    return out
