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
