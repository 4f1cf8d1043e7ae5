"""Compact figures for explanations: importance bars, a beeswarm summary, SHAP vs LIME per row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audit.plots._figure import figure
from audit.section import Figure
from audit.text import short_label

_SENS, _PROXY, _OTHER = "#c0392b", "#e59866", "#2e86c1"


def importance_bars(importance: pd.DataFrame, *, sensitive: Sequence[str] = (), proxies: Sequence[str] = (),
                    top: int = 12, explained: str = "") -> list[Figure]:
    """Horizontal bars of mean |SHAP| per column; sensitive columns and proxies highlighted."""
    imp = importance.head(top).iloc[::-1]
    colors = [_SENS if c in sensitive else _PROXY if c in proxies else _OTHER for c in imp.index]
    alt = "mean absolute SHAP value per column: " + ", ".join(
        f"{short_label(c)} {v:.3g}" for c, v in importance["mean_abs"].head(top).items()
    )
    with figure("Global importance (mean |SHAP|)", alt, size=(5.2, 0.28 * len(imp) + 0.9),
                caption=f"Mean |SHAP| of {explained}; red: sensitive column, orange: proxy of one.") as (fig, out):
        ax = fig.add_subplot()
        ax.barh(range(len(imp)), imp["mean_abs"].to_numpy(), color=colors)
        # labels shortened before drawing: a 1 MB column name as a tick label took 48 s to lay out and
        # filled the SVG (matplotlib redraws tick text from the labels given here, after any later tidy-up)
        ax.set_yticks(range(len(imp)), [short_label(c) for c in imp.index])
        ax.set_xlabel("mean |SHAP value|")
    return out


def beeswarm(phi: pd.DataFrame, data: pd.DataFrame, order: Sequence[str], *, max_points: int = 150,
             seed: int = 0, explained: str = "") -> list[Figure]:
    """A beeswarm-style summary: one dot per row and column, coloured by the column's value (rasterised dots)."""
    rng = np.random.default_rng(seed)
    cols = list(order)[::-1]
    rows = phi.index
    if len(rows) > max_points:
        rows = rows[np.sort(rng.choice(len(rows), max_points, replace=False))]
    alt = f"SHAP value of {len(rows)} rows for the {len(cols)} most important columns, coloured by feature value"
    with figure("SHAP summary (beeswarm)", alt, size=(5.6, 0.32 * len(cols) + 1.0),
                caption=f"Each dot is one row's SHAP value for {explained}; colour: low (blue) to high (red) "
                "value of a numeric column, grey for categorical columns.") as (fig, out):
        ax = fig.add_subplot()
        for y, c in enumerate(cols):
            v = phi.loc[rows, c].to_numpy()
            jitter = _swarm_offsets(v, rng)
            col = data.loc[rows, c] if c in data.columns else None
            if col is not None and pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                color = col.rank(pct=True).to_numpy()
                ax.scatter(v, y + jitter, c=color, cmap="coolwarm", vmin=0, vmax=1, s=7, lw=0, rasterized=True)
            else:
                ax.scatter(v, y + jitter, color="#888888", s=7, lw=0, rasterized=True)
        ax.axvline(0, color="#555555", lw=0.6)
        ax.set_yticks(range(len(cols)), [short_label(c) for c in cols])
        ax.set_xlabel("SHAP value")
    return out


def _swarm_offsets(v: np.ndarray, rng: np.random.Generator, width: float = 0.38) -> np.ndarray:
    """Vertical offsets that grow with the local density of values (a cheap beeswarm)."""
    if len(v) == 0 or np.ptp(v) == 0:
        return rng.uniform(-width, width, len(v)) * 0.5
    bins = np.linspace(v.min(), v.max(), 30)
    which = np.clip(np.digitize(v, bins) - 1, 0, len(bins) - 1)
    dens = np.bincount(which, minlength=len(bins)).astype(float)
    return rng.uniform(-1, 1, len(v)) * width * np.sqrt(dens[which] / dens.max())


#: the table of the explain section that holds every chosen row's SHAP and LIME values
ROWS_TABLE = "SHAP and LIME per chosen row (top 5 columns)"


def shap_vs_lime(shap_rows: pd.DataFrame, lime_rows: pd.DataFrame, titles: Sequence[str], *, top: int = 5) -> list[Figure]:
    """One panel for all explained rows: each row's top columns as points, SHAP (x) against LIME (y), each method
    scaled to its largest |value| in the row, so points on the diagonal are columns both methods weigh alike.

    This used to be one panel of paired bars per row (six for COMPAS, a fifth of the report's drawing time):
    the bars repeated the values of the table :data:`ROWS_TABLE`, so only the comparison is drawn now.
    """
    n = len(shap_rows)
    alt = (f"scatter of SHAP against LIME weights, each scaled to its row's largest absolute value, for the top {top} "
           f"columns of {n} chosen rows ({', '.join(titles)}); the values are in the table '{ROWS_TABLE}'")
    with figure("Chosen rows: SHAP vs LIME", alt, size=(7.2, 3.0),
                caption=f"One point per chosen row and column (its {top} largest |SHAP| columns), each method scaled to its "
                "largest |value| in the row: points near the dashed diagonal are columns SHAP and LIME weigh alike. "
                f"The table '{ROWS_TABLE}' lists the values; 'Explained rows' the rank agreement.") as (fig, out):
        # the legend gets its own cell (an axes without axis, so no ticks to lay out): a legend anchored
        # outside the scatter was cut off by the figure's edge
        ax, key = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
        key.set_axis_off()
        ax.plot([-1.05, 1.05], [-1.05, 1.05], ls="--", color="#888888", lw=0.8)
        ax.axhline(0, color="#cccccc", lw=0.6)
        ax.axvline(0, color="#cccccc", lw=0.6)
        for i in range(n):
            s, l_ = shap_rows.iloc[i], lime_rows.iloc[i]
            cols = s.abs().sort_values(ascending=False).index[:top]
            sv = s[cols] / max(float(s.abs().max()), 1e-12)
            lv = l_.reindex(cols).fillna(0.0) / max(float(l_.abs().max()), 1e-12)
            ax.scatter(sv.to_numpy(), lv.to_numpy(), s=16, color=f"C{i % 10}", label=short_label(titles[i]))
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("SHAP (scaled)")
        ax.set_ylabel("LIME (scaled)")
        key.legend(*ax.get_legend_handles_labels(), fontsize=7, frameon=False, loc="center left")
    return out
