"""Figures for calibration: the reliability diagram with its confidence histogram, and one diagram per group."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.health import CalibrationResult
from audit.plots._figure import figure
from audit.section import Figure
from audit.text import short_label

#: groups drawn per sensitive column at most (the largest that meet the minimum group size)
MAX_GROUPS_PLOTTED = 6


def _diagram(ax, table: pd.DataFrame, label: str, color: str | None = None, marker: str = "o") -> None:
    full = table[table["count"] > 0]
    ax.plot(full["confidence"], full["accuracy"], marker=marker, ms=3.5, lw=1.2, label=label, color=color)


def reliability(r: CalibrationResult, min_group_size: int) -> list[Figure]:
    """The reliability diagram and, for up to three sensitive columns, one diagram per group."""
    figs: list[Figure] = []
    what = "top-label confidence"
    alt = (
        f"reliability diagram with {r.n_bins} equal-width bins: observed accuracy against mean {what}; "
        f"ECE {r.ece:.3f}, MCE {r.mce:.3f}"
    )
    with figure("Reliability diagram", alt, size=(6.0, 3.0),
                caption="Points on the diagonal are calibrated; below it the model is over-confident.") as (fig, out):
        ax, hx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
        _diagram(ax, r.reliability, "model", color="C0")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"mean {what}")
        ax.set_ylabel("accuracy")
        ax.set_title(f"ECE {r.ece:.3f}")
        t = r.reliability
        hx.bar((t["lower"] + t["upper"]) / 2, t["count"] / max(t["count"].sum(), 1), width=1 / r.n_bins, color="C0", alpha=0.7)
        hx.set_xlim(0, 1)
        hx.set_xlabel(what)
        hx.set_ylabel("share of rows")
    figs += out
    cols = list(r.gaps.index)[:3]
    if cols:
        alt = f"reliability diagrams per group of {', '.join(map(short_label, cols))}"
        with figure("Reliability per group", alt, size=(3.0 * len(cols) + 0.4, 3.0),
                    caption=f"Groups with fewer than {min_group_size} rows are not drawn.") as (fig, out):
            axes = np.atleast_1d(fig.subplots(1, len(cols)))
            for ax, col in zip(axes, cols):
                ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
                bg = r.by_group.loc[col]
                big = bg[~bg["small"].astype(bool)].sort_values("n", ascending=False).head(MAX_GROUPS_PLOTTED)
                rel = r.group_reliability[r.group_reliability["column"] == col]
                for i, g in enumerate(big.index):
                    _diagram(ax, rel[rel["group"] == g], f"{short_label(g)} (ECE {big.loc[g, 'ece']:.3f})", color=f"C{i}")
                ax.set_xlim(0, 1)
                ax.set_ylim(0, 1)
                ax.set_xlabel("mean confidence")
                ax.set_title(short_label(col))
                ax.legend(fontsize=7, frameon=False, loc="upper left")
            axes[0].set_ylabel("accuracy")
        figs += out
    return figs
