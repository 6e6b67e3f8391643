"""Report figures drawn with matplotlib's object API (no pyplot state) and returned as inline SVG.

Each function takes plain series, so the run report and the comparison report draw the same
figures: a value profile with CIs, Bradley–Terry strengths per system, a per-value delta heatmap.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from judges.stats import Estimate

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the reports
    from matplotlib.figure import Figure

COLORS = ["#2f6db5", "#d1495b", "#3c9d5d", "#e5a030", "#7b52ab", "#4a9bb0", "#8c6d46"]


@dataclass
class Point:
    """One labelled estimate of one series (a run) in a figure."""

    label: str
    estimate: Estimate
    flagged: bool = False


def to_svg(fig: Figure, salt: str) -> str:
    """SVG text without the XML prolog, with ids salted so several figures share a page."""
    import matplotlib as mpl

    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _errors(points: list[Point]) -> tuple[np.ndarray, np.ndarray]:
    values = np.array(
        [p.estimate.value if p.estimate.value is not None else np.nan for p in points]
    )
    low = np.array([p.estimate.low if p.estimate.low is not None else np.nan for p in points])
    high = np.array([p.estimate.high if p.estimate.high is not None else np.nan for p in points])
    err = np.vstack([np.nan_to_num(values - low), np.nan_to_num(high - values)])
    return values, np.clip(err, 0, None)


def interval_chart(
    series: dict[str, list[Point]], xlabel: str, salt: str, xlim: tuple[float, float] | None = None
) -> str:
    """Horizontal point-and-CI chart; one row per label, one colour per series."""
    from matplotlib.figure import Figure

    labels = list(dict.fromkeys(p.label for points in series.values() for p in points))
    height = max(1.6, 0.32 * len(labels) * max(1, len(series) * 0.6) + 0.9)
    fig = Figure(figsize=(7.5, height))
    ax = fig.subplots()
    step = 0.7 / max(1, len(series))
    for k, (name, points) in enumerate(series.items()):
        rows = {p.label: p for p in points}
        mine = [rows[label] for label in labels if label in rows]
        y = np.array([labels.index(p.label) for p in mine]) + (k - (len(series) - 1) / 2) * step
        values, err = _errors(mine)
        color = COLORS[k % len(COLORS)]
        ax.errorbar(values, y, xerr=err, fmt="o", color=color, capsize=3, label=name, ms=5)
        for p, yy, v in zip(mine, y, values, strict=True):
            if p.flagged and math.isfinite(v):
                ax.annotate("?", (v, yy), xytext=(5, 3), textcoords="offset points", fontsize=8)
    groups = [label.split(": ", 1)[0] for label in labels]
    for i in range(1, len(groups)):
        if groups[i] != groups[i - 1]:
            ax.axhline(i - 0.5, color="#c8cdd2", lw=0.8)
    if xlim is None:
        ax.axvline(0, color="#888888", lw=0.8, ls="--")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    if xlim:
        ax.set_xlim(*xlim)
    if len(series) > 1:
        ax.legend(loc="best", fontsize=8)
    return to_svg(fig, salt)


def heatmap(
    rows: list[str], columns: list[str], cells: dict[tuple[str, str], tuple[float, bool]], salt: str
) -> str:
    """A diverging heatmap of deltas; `*` marks cells whose CI excludes zero."""
    from matplotlib.figure import Figure

    grid = np.full((len(rows), len(columns)), np.nan)
    for (r, c), (value, _) in cells.items():
        grid[rows.index(r), columns.index(c)] = value
    bound = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    bound = bound or 1.0
    fig = Figure(figsize=(2.2 + 1.4 * len(columns), 0.9 + 0.3 * len(rows)))
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    for (r, c), (value, marked) in cells.items():
        text = f"{value:+.1f}{'*' if marked else ''}"
        color = "white" if abs(value) > 0.6 * bound else "black"
        ax.text(
            columns.index(c), rows.index(r), text, ha="center", va="center", fontsize=7, color=color
        )
    ax.set_xticks(range(len(columns)), columns, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    fig.colorbar(image, ax=ax, label="change in adherence (points, 0-10 scale)")
    return to_svg(fig, salt)
