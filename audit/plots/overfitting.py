"""Figure for overfitting: the per-epoch training history (losses, and accuracies when recorded)."""

from __future__ import annotations

import numpy as np

from audit.health import OverfittingResult
from audit.plots._figure import figure
from audit.section import Figure


def history_curves(r: OverfittingResult) -> list[Figure]:
    """Training and validation loss per epoch (the best epoch dashed) and up to four accuracy columns; empty
    without a history."""
    h = r.history
    if h is None:
        return []
    acc_cols = [c for c in h.columns if "acc" in c.lower()][:4]
    panels = 2 if acc_cols else 1
    alt = f"training history over {len(h)} epochs: " + ", ".join(c for c in ("train_loss", "val_loss") if c in h.columns)
    if r.best_epoch is not None:
        alt += f"; lowest validation loss at epoch {r.best_epoch}"
    with figure("Training history", alt, size=(3.2 * panels + 0.4, 2.8),
                caption="Validation loss rising while training loss falls is the classic sign of overfitting.") as (fig, out):
        axes = np.atleast_1d(fig.subplots(1, panels))
        ax = axes[0]
        epochs = np.asarray(h.index, dtype=float)
        for c, color in (("train_loss", "C0"), ("val_loss", "C1")):
            if c in h.columns:
                ax.plot(epochs, h[c].to_numpy(dtype=float), color=color, lw=1.2, label=c)
        if r.best_epoch is not None:
            ax.axvline(float(r.best_epoch), ls="--", color="grey", lw=0.8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(frameon=False, fontsize=7)
        if acc_cols:
            for i, c in enumerate(acc_cols):
                axes[1].plot(epochs, h[c].to_numpy(dtype=float), lw=1.2, label=c, color=f"C{i}")
            axes[1].set_xlabel("epoch")
            axes[1].set_ylabel("accuracy")
            axes[1].legend(frameon=False, fontsize=7)
    return out
