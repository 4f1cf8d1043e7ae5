"""Figures for saliency: an overlay grid (PNG) and deletion/insertion curves (SVG)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.render.figures import figure, plt, png_figure
from audit.saliency._attribute import SaliencyResult
from audit.saliency._faithfulness import FaithfulnessResult
from audit.section import Figure

_LABELS = {
    "saliency": "Saliency",
    "integrated_gradients": "Integrated gradients",
    "smoothgrad": "SmoothGrad",
    "gradcam": "GradCAM",
    "random": "random order",
}


def method_label(name: str) -> str:
    """Human label of a method name."""
    return _LABELS.get(name, name)


def _display_image(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``(c, h, w)`` -> something imshow takes: grayscale for 1 channel, RGB for 3, channel mean otherwise."""
    if img.shape[0] == 3:
        rgb = np.transpose(img, (1, 2, 0))
        lo, hi = rgb.min(), rgb.max()
        return (rgb - lo) / (hi - lo) if hi > lo else np.zeros_like(rgb), None
    return img.mean(axis=0), "gray"


def overlay_grid(
    images: np.ndarray,
    result: SaliencyResult,
    titles: Sequence[str],
    *,
    highlight: Sequence[bool] | None = None,
    cell: float = 0.85,
    dpi: int = 80,
) -> Figure:
    """A grid: one column per image, the image on top and one row per method's map over it.

    Unsigned maps use a sequential colour map scaled per image; signed maps (integrated
    gradients) a diverging one centred at zero (red: evidence for the class, blue: against).
    """
    n = len(images)
    methods = result.methods
    rows = 1 + len(methods)
    with plt.rc_context({"font.size": 7}):
        fig, axes = plt.subplots(rows, n, figsize=(max(2.5, cell * n + 0.9), cell * rows + 0.35), squeeze=False)
        for j in range(n):
            img, cmap = _display_image(images[j])
            for i in range(rows):
                ax = axes[i, j]
                ax.set_xticks([])
                ax.set_yticks([])
                for s in ax.spines.values():
                    s.set_visible(False)
                ax.imshow(img, cmap=cmap, interpolation="nearest")
                if i == 0:
                    bad = highlight is not None and highlight[j]
                    ax.set_title(titles[j], color="#b00020" if bad else "black", fontsize=7)
                    continue
                m = result.maps[methods[i - 1]][j]
                if m.min() < 0:
                    lim = float(np.abs(m).max()) or 1.0
                    ax.imshow(m, cmap="bwr", vmin=-lim, vmax=lim, alpha=0.6, interpolation="nearest")
                else:
                    ax.imshow(m, cmap="inferno", vmin=0, vmax=float(m.max()) or 1.0, alpha=0.6, interpolation="nearest")
            axes[0, 0].set_ylabel("input", rotation=0, ha="right", va="center")
        for i, name in enumerate(methods, start=1):
            axes[i, 0].set_ylabel(method_label(name), rotation=0, ha="right", va="center")
        fig.subplots_adjust(wspace=0.05, hspace=0.05)
        try:
            return png_figure(
                fig,
                title="Saliency overlays",
                alt=f"{n} images, each with its {', '.join(method_label(m) for m in methods)} map overlaid",
                caption="Top row: the images (red title: misclassified). Below: each method's map for the predicted "
                "class over the image; bright = salient (integrated gradients: red for the class, blue against).",
                dpi=dpi,
            )
        finally:
            plt.close(fig)


def curves_figure(faith: FaithfulnessResult) -> Figure:
    """Mean deletion and insertion curves per method, with the random order dashed."""
    c = faith.curves
    methods = list(dict.fromkeys(c["method"]))
    with figure(
        "Deletion and insertion curves",
        "target class probability as the most salient pixels are removed (left) or inserted (right), per method",
        size=(6.4, 2.6),
        caption=f"Mean over images; removed pixels are replaced by {faith.baseline}. A faithful map falls fast on "
        "the left and rises fast on the right; the dashed line is a random order.",
    ) as (fig, out):
        axes = fig.subplots(1, 2, sharey=True)
        for ax, kind in zip(axes, ("deletion", "insertion")):
            for m in methods:
                d = c[(c["method"] == m) & (c["curve"] == kind)]
                style = {"color": "0.45", "linestyle": "--"} if m == "random" else {}
                ax.plot(d["fraction"], d["probability"], label=method_label(m), linewidth=1.4, **style)
            ax.set_xlabel(f"share of pixels {'removed' if kind == 'deletion' else 'inserted'}")
            ax.set_title(kind)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
        axes[0].set_ylabel("target class probability")
        axes[1].legend(fontsize=7, frameon=False, loc="lower right")
    return out[0]
