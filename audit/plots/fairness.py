"""Figures for the fairness section: group bars with intervals, disparity bars, intersection heat map."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.fairness import FairnessAssessment, group_label
from audit.plots._figure import figure
from audit.section import Figure
from audit.text import short_label

#: group metrics drawn per sensitive column
BAR_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate")
#: disparities drawn as bars (differences share one axis)
BAR_DISPARITIES = ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference")
#: metrics of an intersection heat map, one panel each (only the first when a table lists the intersection)
HEAT_METRICS = ("selection_rate", "false_positive_rate")
#: groups drawn per sensitive column at most, the largest by rows (every group stays in the tables and
#: audit.json): 5,000 bars took minutes to lay out and made a 15 MB report
MAX_GROUPS_DRAWN = 30
#: levels of each feature drawn in an intersection heat map at most (the largest by rows)
MAX_HEAT_LEVELS = 15


def largest_groups(table: pd.DataFrame, k: int = MAX_GROUPS_DRAWN) -> tuple[pd.DataFrame, str]:
    """The ``k`` groups with the most rows, in table order, and a sentence saying so (empty when all fit).

    Examples
    --------
    >>> t = pd.DataFrame({"count": [5, 50, 20, 1]}, index=list("abcd"))
    >>> shown, note = largest_groups(t, 2)
    >>> list(shown.index), note
    (['b', 'c'], ' The 2 largest of 4 groups are drawn (cap 2); the table lists every group.')
    """
    if len(table) <= k:
        return table, ""
    keep = np.sort(np.argsort(-table["count"].to_numpy(dtype=float), kind="stable")[:k])
    return table.iloc[keep], f" The {k} largest of {len(table):,} groups are drawn (cap {k}); the table lists every group."


def _tables_named(names: list[str]) -> str:
    """``the table 'A'`` or ``the tables 'A', 'B'``: where a caption sends the reader for the values."""
    return ("the table " if len(names) == 1 else "the tables ") + ", ".join(f"'{n}'" for n in names)


def _err(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    lo = np.nan_to_num(values - low, nan=0.0).clip(0)
    hi = np.nan_to_num(high - values, nan=0.0).clip(0)
    return np.vstack([lo, hi])


def group_bars(tables: dict[str, pd.DataFrame], confidence: float, metrics: tuple[str, ...] = BAR_METRICS, *,
               rates: bool = True, interval: str = "bootstrap") -> list[Figure]:
    """One figure for every sensitive column: a panel per metric in ``metrics`` (:data:`BAR_METRICS`), a bar per group
    with its interval, the columns' groups stacked one under the other; small groups grey. At most
    :data:`MAX_GROUPS_DRAWN` groups (the largest) per column, labels shortened. ``rates``: the metrics are rates
    (axes from 0 to 1); a regressor's metrics (mean prediction, MAE) are in the target's units. ``interval`` names
    the intervals in the caption.

    This was one three-panel figure per column: the panels of a column repeated the axes and ticks of the
    others, so one set of panels now holds them all (the values are in the 'Groups by <column>' tables).
    """
    shown, capped = [], ""
    for feature, table in tables.items():
        t, note = largest_groups(table)
        shown.append((feature, t))
        capped += f" {short_label(feature)}:{note}" if note else ""
    labels = [f"{short_label(f)}: {short_label(group_label(v))}" for f, t in shown for v in t.index]
    small = np.concatenate([t["small"].to_numpy(dtype=bool) for _, t in shown])
    ends = np.cumsum([len(t) for _, t in shown])[:-1] - 0.5  # separators between the columns' groups
    names = ", ".join(short_label(f) for f in tables)
    h = max(1.6, 0.28 * len(labels) + 0.9)
    pct = f"{confidence:.0%}"
    said = [m.replace("_", " ") for m in metrics]
    words = said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]
    with figure(
        f"Group metrics by {names}",
        f"bars of {words} for each group of {names} with {pct} intervals",
        size=(7.2, h),
        caption=f"Bars: value per group; lines: {pct} {interval} interval; grey: fewer rows than the minimum group size. "
        f"The values are in {_tables_named(['Groups by ' + str(f) for f in tables])}.{capped}",
    ) as (fig, out):
        axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
        pos = np.arange(len(labels))
        colors = np.where(small, "#bbbbbb", "#4c78a8")
        for ax, m in zip(axes, metrics):
            v = np.concatenate([t[m].to_numpy(dtype=float) for _, t in shown])
            low = np.concatenate([t[f"{m}_low"].to_numpy(dtype=float) for _, t in shown])
            high = np.concatenate([t[f"{m}_high"].to_numpy(dtype=float) for _, t in shown])
            ax.barh(pos, np.nan_to_num(v), color=colors, xerr=_err(v, low, high), error_kw={"elinewidth": 1, "capsize": 2})
            for y in ends:
                ax.axhline(y, color="#999999", lw=0.6)
            ax.set_title(m.replace("_", " "), fontsize=9)
            if rates:
                ax.set_xlim(0, 1)
        axes[0].set_yticks(pos, labels)
        axes[0].invert_yaxis()  # shared: inverting each panel would flip it back and forth
    return out


def disparity_bars(assessment: FairnessAssessment, features: list[str], threshold: float | None = 0.1) -> list[Figure]:
    """Horizontal bars of each difference-type disparity per feature, with intervals and a reference line."""
    d = assessment.disparities
    feats = list(features)
    pct = f"{assessment.confidence:.0%}"
    with figure(
        "Disparities between groups",
        f"bars of demographic parity, equalized odds and equal opportunity differences per sensitive feature with {pct} intervals",
        size=(7.2, max(1.8, 0.55 * len(feats) * len(BAR_DISPARITIES) / 2 + 1.0)),
        caption=(f"Lines: {pct} bootstrap interval." + (f" Dashed line: the starter threshold {threshold:g}." if threshold else "")),
    ) as (fig, out):
        ax = fig.add_subplot()
        width = 0.8 / len(BAR_DISPARITIES)
        base = np.arange(len(feats))
        for j, name in enumerate(BAR_DISPARITIES):
            rows = d.xs(name, level=1).reindex(feats)
            v = rows["value"].to_numpy(float)
            ax.barh(base + j * width, np.nan_to_num(v), height=width, label=name.replace("_", " "),
                    xerr=_err(v, rows["low"].to_numpy(float), rows["high"].to_numpy(float)), error_kw={"elinewidth": 1, "capsize": 2})
        if threshold:
            ax.axvline(threshold, color="#c00", linestyle="--", linewidth=1)
        ax.set_yticks(base + width * (len(BAR_DISPARITIES) - 1) / 2, [short_label(f) for f in feats])
        ax.invert_yaxis()
        ax.set_xlabel("difference between groups (max - min)")
        ax.legend(fontsize=7, loc="lower right", frameon=False)
    return out


def heat_map(table: pd.DataFrame, metrics: tuple[str, ...] = HEAT_METRICS, *, in_table: str = "") -> list[Figure]:
    """Heat map of ``metrics`` over a two-feature intersection table (rows: first feature, columns: second).

    ``in_table`` names the section's table that already lists this intersection (with two sensitive columns,
    'Intersection'): then only the first metric gets a panel, the caption sends the reader to the table for
    the others, and a panel of numbers that repeats the table is not drawn. With three or more columns the
    pair is drawn only here, so every metric keeps its panel.
    """
    if in_table:
        metrics = metrics[:1]
    if not isinstance(table.index, pd.MultiIndex) or table.index.nlevels != 2:
        return []
    a, b = table.index.names
    rows_l = list(dict.fromkeys(table.index.get_level_values(0)))
    cols_l = list(dict.fromkeys(table.index.get_level_values(1)))
    capped = ""
    if len(rows_l) > MAX_HEAT_LEVELS or len(cols_l) > MAX_HEAT_LEVELS:
        # the levels with the most rows; the intersection table keeps every combination
        n_rows, n_cols = len(rows_l), len(cols_l)
        by_row = table["count"].groupby(level=0).sum().reindex(rows_l)
        by_col = table["count"].groupby(level=1).sum().reindex(cols_l)
        rows_l = [r for r in rows_l if r in set(by_row.sort_values(ascending=False, kind="stable").index[:MAX_HEAT_LEVELS])]
        cols_l = [c for c in cols_l if c in set(by_col.sort_values(ascending=False, kind="stable").index[:MAX_HEAT_LEVELS])]
        capped = (f" The {len(rows_l)} of {n_rows:,} {short_label(a)} and {len(cols_l)} of {n_cols:,} {short_label(b)} levels "
                  f"with the most rows are drawn (cap {MAX_HEAT_LEVELS}); the table lists every combination.")
    with figure(
        f"{short_label(a)} x {short_label(b)}",
        f"heat map of {' and '.join(m.replace('_', ' ') for m in metrics)} for each combination of {short_label(a)} and {short_label(b)}",
        size=(3.3 * len(metrics) + 0.6, max(1.8, 0.32 * len(rows_l) + 1.2)),
        caption="Cell: value (rows in the group); * marks groups under the minimum size; blank: no rows." + capped
        + (f" Every other metric of each combination is in {_tables_named([in_table])}." if in_table else ""),
    ) as (fig, out):
        axes = np.atleast_1d(fig.subplots(1, len(metrics)))
        for ax, m in zip(axes, metrics):
            grid = table[m].unstack(1).reindex(index=rows_l, columns=cols_l)
            counts = table["count"].unstack(1).reindex(index=rows_l, columns=cols_l)
            small = table["small"].unstack(1).reindex(index=rows_l, columns=cols_l)
            ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
            for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
                if np.isnan(counts.iat[i, j]):
                    continue
                star = "*" if bool(small.iat[i, j]) else ""
                txt = "n/a" if np.isnan(v) else f"{v:.2f}{star}"
                ax.text(j, i, f"{txt}\n({int(counts.iat[i, j])})", ha="center", va="center", fontsize=7,
                        color="white" if not np.isnan(v) and v < 0.6 else "black")
            ax.set_xticks(range(len(cols_l)), [short_label(c) for c in cols_l], rotation=30 if len(cols_l) > 3 else 0)
            ax.set_yticks(range(len(rows_l)), [short_label(r) for r in rows_l])
            ax.set_title(m.replace("_", " "), fontsize=9)
            ax.spines[:].set_visible(False)
    return out
