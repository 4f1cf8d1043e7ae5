"""Figures for robustness: accuracy against eps per attack, and adversarial examples for images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.plots._figure import figure, plt, png_figure
from audit.robustness import NORM_LABELS, AdversarialExamples, RobustnessCurve, attack_label
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


def _shown(img: np.ndarray) -> np.ndarray:
    """``(c, h, w)`` -> what ``imshow`` takes: the one channel, or ``(h, w, c)`` clipped to [0, 1]."""
    return img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0)).clip(0, 1)


def adversarial_examples(examples: AdversarialExamples | None, classes: Sequence[str]) -> list[Figure]:
    """A PNG grid, one row per example: clean image, adversarial image, their absolute difference (empty: none)."""
    if examples is None:
        return []
    ex = examples
    k = len(ex.rows)
    fig, axes = plt.subplots(k, 3, figsize=(3.3, 1.15 * k), squeeze=False)
    for i in range(k):
        gray = ex.clean.shape[1] == 1
        top = float(ex.difference[i].max())
        for j, (img, title) in enumerate([
            (ex.clean[i], f"clean: {classes[ex.pred_clean[i]]}"), (ex.adversarial[i], f"adversarial: {classes[ex.pred_adv[i]]}"),
            (ex.difference[i], "|difference|"),
        ]):
            ax = axes[i][j]
            ax.imshow(_shown(img), cmap="gray" if (gray or j == 2) else None, vmin=0,
                      vmax=top if j == 2 and top > 0 else 1)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    out = png_figure(fig, title=f"{ex.attack.upper()} examples at eps={ex.eps:g}",
                     alt=f"{k} images: clean, adversarial and their absolute difference, with predicted classes",
                     caption="Predicted class above each image; the difference is scaled to its own maximum.")
    plt.close(fig)
    return [out]
