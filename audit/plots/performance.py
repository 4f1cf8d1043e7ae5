"""Figure for performance: the confusion matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.plots._figure import figure
from audit.section import Figure
from audit.text import short_label


def confusion_matrix(cm: pd.DataFrame, caption: str = "") -> list[Figure]:
    """Counts per (actual, predicted) class as a heat map with the count in each cell.

    ``cm`` is the check's confusion table (rows: actual, columns: predicted), already capped to the
    most frequent classes; ``caption`` says so when it is.
    """
    labels = [short_label(c) for c in cm.index]
    with figure("Confusion matrix", f"confusion matrix of {len(labels)} classes", size=(3.6, 3.0),
                caption=caption) as (fig, out):
        ax = fig.add_subplot()
        ax.imshow(cm.to_numpy(), cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 3 else 0)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        vmax = cm.to_numpy().max()
        for (i, j), v in np.ndenumerate(cm.to_numpy()):
            ax.text(j, i, f"{v:,}", ha="center", va="center", color="white" if v > vmax / 2 else "black")
    return out


def regression_figures(y: np.ndarray, pred: np.ndarray, target: str, caption: str = "") -> list[Figure]:
    """Predicted against actual (with the line of perfect prediction) and residuals against prediction (with 0).

    ``y`` and ``pred`` are the rows to draw (the check samples them); the points are rasterised so a figure
    of thousands of points stays a few kilobytes.
    """
    name = short_label(target)
    with figure("Predicted vs actual and residuals", f"scatter of predicted against actual {name}, and of residuals "
                f"against predicted {name}", size=(7.2, 3.2), caption=caption) as (fig, out):
        left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        alpha = 0.5 if len(y) <= 1000 else 0.25
        left.scatter(y, pred, s=6, lw=0, alpha=alpha, color="C0", rasterized=True)
        ends = [float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))]
        left.plot(ends, ends, color="#444444", lw=1, ls="--", label="prediction = actual")
        left.set_xlabel(f"actual {name}")
        left.set_ylabel(f"predicted {name}")
        left.legend(loc="upper left", frameon=False)
        right.scatter(pred, y - pred, s=6, lw=0, alpha=alpha, color="C1", rasterized=True)
        right.axhline(0, color="#444444", lw=1, ls="--")
        right.set_xlabel(f"predicted {name}")
        right.set_ylabel("residual (actual - predicted)")
    return out
