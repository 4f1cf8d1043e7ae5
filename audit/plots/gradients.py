"""Figure for gradient health: the gradient norm of each layer on a log scale."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from audit.health import GradientHealthResult
from audit.plots._figure import figure
from audit.section import Figure


def gradient_norms(r: GradientHealthResult, exploding_norm: float) -> list[Figure]:
    """One bar per layer in forward order; zero, non-finite and exploding norms in red, the threshold dashed."""
    norms = r.layers["grad_norm"].to_numpy(dtype=float)
    names = [str(n) for n in r.layers.index]
    positive = norms[np.isfinite(norms) & (norms > 0)]
    floor = positive.min() / 10 if len(positive) else 1e-12  # a zero norm still gets a visible bar on the log axis
    shown = np.where(np.isfinite(norms) & (norms > 0), norms, floor)
    colors = ["C3" if not np.isfinite(v) or v <= 0 or v > exploding_norm else "C0" for v in norms]
    alt = (
        f"bar chart of gradient norms of {len(names)} layers on a log scale, first layer {norms[0]:.3g}, "
        f"last layer {norms[-1]:.3g}"
    )
    width = min(9.0, 3.0 + 0.25 * len(names))
    with figure("Gradient norm per layer", alt, size=(width, 3.0),
                caption="L2 norm of the loss gradient over each layer's parameters, in forward order (log scale). "
                "Red: zero, non-finite or above the exploding threshold.") as (fig, out):
        ax = fig.add_subplot()
        ax.bar(range(len(names)), shown, color=colors)
        ax.set_yscale("log")
        # plain tick text ("0.001", "1e+04"): the default 10^k labels are mathtext, parsed per label, which
        # made this one-panel figure the slowest of the COMPAS report
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(range(len(names)), names, rotation=90 if len(names) > 8 else 0, fontsize=7)
        ax.axhline(exploding_norm, ls="--", color="C3", lw=0.8)
        ax.set_xlabel("layer (forward order)")
        ax.set_ylabel("gradient norm")
    return out
