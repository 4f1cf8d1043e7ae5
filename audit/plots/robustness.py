"""Figures for robustness: accuracy (a regressor: RMSE) against eps per attack, and adversarial examples for images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.plots._figure import figure, plt, png_figure
from audit.robustness import NORM_LABELS, AdversarialExamples, RegressionCurve, RobustnessCurve, attack_label
from audit.section import Figure


def accuracy_vs_eps(curves: Sequence[RobustnessCurve], unit: str, steps: int) -> list[Figure]:
    """One line per attack: clean accuracy at eps 0, then robust accuracy at each eps (``unit`` on the axis)."""
    names = ", ".join(attack_label(c.attack, steps) for c in curves)
    with figure("Accuracy vs eps", f"line chart of accuracy against attack size eps for {names}",
                size=(4.6, 2.8)) as (fig, out):
        ax = fig.add_subplot()
        for c, marker in zip(curves, "os^"):
            t = c.table
            xs = [0.0] + t["eps"].tolist()
            ys = [float(t["clean_accuracy"].iloc[0])] + t["robust_accuracy"].tolist()
            ax.plot(xs, ys, marker=marker, label=f"{attack_label(c.attack, steps)} ({NORM_LABELS[c.norm]})")
        ax.set_xlabel(f"eps ({unit})")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.02)
        ax.legend(frameon=False)
    return out


def error_vs_eps(curves: Sequence[RegressionCurve], unit: str, steps: int) -> list[Figure]:
    """A regressor's RMSE against eps, one line per attack: the clean RMSE at eps 0, then the robust RMSE."""
    names = ", ".join(attack_label(c.attack, steps) for c in curves)
    with figure("RMSE vs eps", f"line chart of the root mean squared error against attack size eps for {names}",
                size=(4.6, 2.8), caption="RMSE in the target's units; each attack maximises the squared error.") as (fig, out):
        ax = fig.add_subplot()
        for c, marker in zip(curves, "os^"):
            t = c.table
            xs = [0.0] + t["eps"].tolist()
            ys = [float(t["clean_rmse"].iloc[0])] + t["robust_rmse"].tolist()
            ax.plot(xs, ys, marker=marker, label=f"{attack_label(c.attack, steps)} ({NORM_LABELS[c.norm]})")
        ax.set_xlabel(f"eps ({unit})")
        ax.set_ylabel("RMSE")
        ax.set_ylim(bottom=0)
        ax.legend(frameon=False)
    return out


def _rgb(img: np.ndarray, top: float = 1.0) -> np.ndarray:
    """``(c, h, w)`` -> ``(h, w, 3)`` in [0, 1], divided by ``top``: gray for one channel, RGB for three."""
    a = np.transpose(img, (1, 2, 0)) if img.shape[0] == 3 else np.repeat(img.mean(axis=0)[:, :, None], 3, axis=2)
    return np.clip(a / top, 0.0, 1.0)


def adversarial_examples(examples: AdversarialExamples | None, classes: Sequence[str]) -> list[Figure]:
    """A PNG grid, one row per example: clean image, adversarial image, their absolute difference (empty: none).

    The grid is one image drawn with a single ``imshow`` (as the saliency overlays are): one axes per cell
    made this the slowest figure of the digits report, for cells that have no axis to show.
    """
    if examples is None:
        return []
    ex = examples
    k = len(ex.rows)
    _, h, w = ex.clean.shape[1:]
    pad_x, pad_y = max(1, round(0.15 * w)), max(2, round(0.35 * h))  # room for each cell's title
    mosaic = np.ones((k * (h + pad_y), 3 * w + 2 * pad_x, 3))
    titles = []
    for i in range(k):
        top = float(ex.difference[i].max())
        cells = [(ex.clean[i], 1.0, f"clean: {classes[ex.pred_clean[i]]}"),
                 (ex.adversarial[i], 1.0, f"adversarial: {classes[ex.pred_adv[i]]}"),
                 (ex.difference[i], top if top > 0 else 1.0, "|difference|")]
        y0 = i * (h + pad_y) + pad_y
        for j, (img, scale, title) in enumerate(cells):
            x0 = j * (w + pad_x)
            mosaic[y0 : y0 + h, x0 : x0 + w] = _rgb(img, scale)
            titles.append((x0 + w / 2, y0 - 0.5, title))
    fig = plt.figure(figsize=(3.3, 1.15 * k))
    try:
        ax = fig.add_subplot()
        ax.imshow(mosaic, interpolation="nearest")
        ax.set_axis_off()
        for x, y, title in titles:
            ax.text(x, y, title, ha="center", va="bottom", fontsize=7)
        return [png_figure(fig, title=f"{ex.attack.upper()} examples at eps={ex.eps:g}",
                           alt=f"{k} images: clean, adversarial and their absolute difference, with predicted classes",
                           caption="Predicted class above each image; the difference is scaled to its own maximum.")]
    finally:
        plt.close(fig)
