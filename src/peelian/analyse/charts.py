"""Charts of the KPI tables as SVG or PNG (matplotlib, drawn on the server, no fonts or
scripts fetched): what a commander pastes into a briefing. Each chart is drawn from
the same `Table` the page shows and the CSV holds, so the three always agree."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from peelian.analyse.kpis import Table

_LOCK = threading.Lock()  # pyplot's state is global; one chart at a time
BLUE = "#1d70b8"
RED = "#d4351c"


def _bars(labels: list[str], values: list[float], title: str, xlabel: str) -> Figure:
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(labels) + 1)))
    ax.barh(labels[::-1], values[::-1], color=BLUE)
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_xlabel(xlabel)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def _by_month(t: Table) -> Figure:
    rows = t.as_dicts()
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot([r["month"] for r in rows], [r["crimes"] for r in rows], color=BLUE, marker="o",
            markersize=3, label="crimes")  # fmt: skip
    ax.plot([r["month"] for r in rows], [r["detected"] for r in rows], color=RED, marker="o",
            markersize=3, label="detected")  # fmt: skip
    ax.set_title(t.title, loc="left", fontsize=11)
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def _by_type(t: Table) -> Figure:
    rows = t.as_dicts()
    return _bars([str(r["crime_type"]) for r in rows], [r["crimes"] for r in rows], t.title,
                 "crimes")  # fmt: skip


def _by_area(t: Table) -> Figure:
    rows = [r for r in t.as_dicts() if r["per_1000"] is not None]
    return _bars([str(r["area"]) for r in rows], [r["per_1000"] for r in rows], t.title,
                 "crimes per 1,000 residents")  # fmt: skip


def _response(t: Table) -> Figure:
    rows = [r for r in t.as_dicts() if r["within_target_pct"] is not None]
    return _bars([f"grade {r['grade']} {str(r['area_type']).lower()}" for r in rows],
                 [r["within_target_pct"] for r in rows], t.title,
                 "% attended within target")  # fmt: skip


def _outcomes(t: Table) -> Figure:
    rows = t.as_dicts()[:15]
    return _bars([str(r["outcome"]) for r in rows], [r["crimes"] for r in rows], t.title,
                 "crimes")  # fmt: skip


CHARTS: dict[str, Callable[[Table], Figure]] = {
    "by_month": _by_month,
    "by_type": _by_type,
    "by_area": _by_area,
    "by_outcome": _outcomes,
    "response": _response,
}
MEDIA = {"svg": "image/svg+xml", "png": "image/png"}


def render_chart(table: Table, fmt: str) -> tuple[bytes, str]:
    """The chart of `table` as (bytes, media type)."""
    if fmt not in MEDIA:
        raise ValueError(f"charts are svg or png, not {fmt!r}")
    draw = CHARTS[table.name]
    out = io.BytesIO()
    with _LOCK:
        fig = draw(table)
        try:
            kwargs: dict[str, Any] = {"format": fmt}
            if fmt == "svg":
                kwargs["metadata"] = {"Date": None}  # the same table gives the same file
            else:
                kwargs["dpi"] = 120
            fig.savefig(out, **kwargs)
        finally:
            plt.close(fig)
    return out.getvalue(), MEDIA[fmt]
