"""Figures for data quality: label balance, and the drift effect size per feature."""

from __future__ import annotations

import numpy as np

from audit.health import DataQualityResult
from audit.plots._figure import figure
from audit.section import Figure
from audit.text import short_label

#: features drawn in the drift figure at most (the most drifted first)
MAX_DRIFT_BARS = 20
#: classes drawn in the label-balance figure at most (the most frequent): 10,000 bars took seconds and 2 MB
MAX_CLASS_BARS = 30


def label_balance(r: DataQualityResult) -> list[Figure]:
    """Share of each class in the data (and in train when given); empty without labels."""
    if not len(r.labels):
        return []
    alt = "label balance: share of each class in " + ("data and train" if "train_share" in r.labels else "data")
    labels, capped = r.labels, ""
    if len(labels) > MAX_CLASS_BARS:  # the most frequent classes; the table lists every class
        share = labels["share" if "share" in labels else "train_share"].to_numpy(dtype=float)
        keep = np.sort(np.argsort(-share, kind="stable")[:MAX_CLASS_BARS])
        capped = (f"The {MAX_CLASS_BARS} most frequent of {len(labels):,} classes are drawn (cap {MAX_CLASS_BARS}); "
                  "the table lists every class.")
        labels = labels.iloc[keep]
    with figure("Label balance", alt, size=(4.2, 2.6), caption=capped) as (fig, out):
        ax = fig.add_subplot()
        x = np.arange(len(labels))
        cols = [c for c in ("share", "train_share") if c in labels]
        w = 0.8 / len(cols)
        for i, c in enumerate(cols):
            ax.bar(x + (i - (len(cols) - 1) / 2) * w, labels[c], width=w, label="data" if c == "share" else "train")
        ax.set_xticks(x, [short_label(i) for i in labels.index], rotation=45 if len(x) > 6 else 0)
        ax.set_ylabel("share of rows")
        ax.legend(frameon=False, fontsize=7)
    return out


def feature_drift(r: DataQualityResult) -> list[Figure]:
    """Drift effect size per feature between train and data, drifted ones in red; empty without drift results."""
    if not len(r.drift):
        return []
    d = r.drift.head(MAX_DRIFT_BARS).iloc[::-1]
    alt = (
        f"horizontal bars of the drift effect size of {len(d)} features between train and data; "
        f"{int(r.drift['drifted'].sum())} flagged as drifted"
    )
    with figure("Feature drift (train vs data)", alt, size=(5.0, 0.6 + 0.22 * len(d)),
                caption="Effect size: KS statistic (numeric) or Cramér's V (categorical); dashed line: the drift threshold. "
                "Red: flagged as drifted.") as (fig, out):
        ax = fig.add_subplot()
        colors = ["C3" if f else "C0" for f in d["drifted"].astype(bool)]
        ax.barh(range(len(d)), d["effect"].to_numpy(dtype=float), color=colors)
        ax.set_yticks(range(len(d)), [short_label(i) for i in d.index], fontsize=7)
        ax.axvline(r.drift_min_effect, ls="--", color="C3", lw=0.8)
        ax.set_xlim(0, max(1.15 * r.drift_min_effect, 1.05 * float(np.nanmax(d["effect"].to_numpy(dtype=float)))))
        ax.set_xlabel("effect size")
    return out
