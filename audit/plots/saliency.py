"""Figures for saliency: an overlay grid (PNG) and deletion/insertion curves (SVG)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.plots._figure import figure, plt, png_figure
from audit.saliency import FaithfulnessResult, SaliencyResult, method_label
from audit.section import Figure

def _gray_rgb(img: np.ndarray) -> np.ndarray:
    """``(c, h, w)`` -> ``(h, w, 3)`` in [0, 1]: RGB for 3 channels, the channel mean in gray otherwise."""
    a = np.transpose(img, (1, 2, 0)) if img.shape[0] == 3 else np.repeat(img.mean(axis=0)[:, :, None], 3, axis=2)
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a, dtype=np.float64)


def _overlay(base: np.ndarray, m: np.ndarray, alpha: float) -> np.ndarray:
    """Blend a map over an RGB image: diverging colours for signed maps, sequential for unsigned."""
    if m.min() < 0:
        lim = float(np.abs(m).max()) or 1.0
        colour = plt.get_cmap("bwr")((m / lim + 1) / 2)[..., :3]
    else:
        top = float(m.max()) or 1.0
        colour = plt.get_cmap("inferno")(m / top)[..., :3]
    return (1 - alpha) * base + alpha * colour


def overlay_grid(
    images: np.ndarray,
    result: SaliencyResult,
    titles: Sequence[str],
    *,
    highlight: Sequence[bool] | None = None,
    cell: float = 0.85,
    alpha: float = 0.6,
    dpi: int = 80,
) -> Figure:
    """A grid: one column per image, the image on top and one row per method's map over it.

    Unsigned maps use a sequential colour map scaled per image; signed maps (integrated
    gradients) a diverging one centred at zero (red: evidence for the class, blue: against).
    The grid is composed as one array and drawn with a single ``imshow`` (fast for many cells).
    """
    n, _, h, w = images.shape
    methods = result.methods
    rows = 1 + len(methods)
    pad = max(1, round(0.15 * max(h, w)))
    mosaic = np.ones((rows * (h + pad) - pad, n * (w + pad) - pad, 3))
    for j in range(n):
        base = _gray_rgb(images[j])
        x0 = j * (w + pad)
        mosaic[:h, x0 : x0 + w] = base
        for i, name in enumerate(methods, start=1):
            y0 = i * (h + pad)
            mosaic[y0 : y0 + h, x0 : x0 + w] = _overlay(base, result.maps[name][j], alpha)
    with plt.rc_context({"font.size": 7}):
        fig = plt.figure(figsize=(cell * n + 1.3, cell * rows + 0.3))
        try:
            ax = fig.add_subplot()  # png_figure's tight_layout makes room for the labels around it
            ax.imshow(np.clip(mosaic, 0.0, 1.0), interpolation="nearest")
            ax.set_axis_off()
            for j, t in enumerate(titles):
                bad = highlight is not None and highlight[j]
                ax.text(j * (w + pad) + w / 2, -pad, t, ha="center", va="bottom", color="#b00020" if bad else "black")
            for i, label in enumerate(["input", *(method_label(m) for m in methods)]):
                ax.text(-pad, i * (h + pad) + h / 2, label, ha="right", va="center")
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
