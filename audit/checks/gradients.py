"""Gradient-health check for torch models: per-layer gradient norms, vanishing/exploding flags, dead and saturated units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from audit.checks._base import Check
from audit.context import AuditContext
from audit.health import GradientHealthResult, gradient_health
from audit.plots.gradients import gradient_norms
from audit.section import DeferredFigures, Metric, Section


@dataclass
class GradientSection(Section):
    """The gradient-health section; ``result`` holds the full :class:`~audit.health.GradientHealthResult`."""

    result: GradientHealthResult | None = None


class GradientHealthCheck(Check):
    """Do gradients flow? Per-layer gradient norms on a seeded batch, dead ReLUs, saturated sigmoid/tanh units.

    Parameters
    ----------
    batch_size : int
        Rows in the seeded sample the loss is computed on.
    vanishing_ratio, vanishing_norm, exploding_norm : float
        Flag thresholds (see :func:`audit.health.gradient_health`).
    """

    name = "gradients"
    requires = ("gradients", "labels")
    tasks = ("binary", "multiclass", "regression")
    title = "Gradient health"
    metric_patterns = (
        "gradients.first_last_norm_ratio",
        "gradients.max_grad_norm",
        "gradients.min_grad_norm",
        "gradients.dead_relu_fraction",
        "gradients.saturated_fraction",
        "gradients.nonfinite",
        "gradients.vanishing",
        "gradients.exploding",
    )
    metric_docs: ClassVar[dict[str, str]] = {
        "gradients.first_last_norm_ratio": "gradient norm of the first parameterised layer / of the last, on a seeded "
        "batch (512 rows) of the cross-entropy loss (a regressor's: the mean squared error over the batch's target "
        "variance); far below 1 means vanishing gradients",
        "gradients.max_grad_norm": "largest per-layer gradient norm (L2 over the layer's parameters)",
        "gradients.min_grad_norm": "smallest per-layer gradient norm",
        "gradients.dead_relu_fraction": "share of nn.ReLU units never positive on the batch (only produced when the "
        "model has nn.ReLU modules; functional relu is not seen)",
        "gradients.saturated_fraction": "share of hidden nn.Sigmoid outputs < 0.01 or > 0.99 and nn.Tanh outputs with "
        "|out| > 0.99 (only produced when the model has such modules)",
        "gradients.nonfinite": "number of NaN/infinite gradient entries (+1 for a non-finite loss)",
        "gradients.vanishing": "1 when first/last ratio < 1e-3, or the first layer's norm < 1e-7 while the loss "
        "is above 1e-4; else 0",
        "gradients.exploding": "1 when a layer's gradient norm exceeds 1e3 or a gradient is NaN/infinite; else 0",
    }
    default_policy: ClassVar[dict[str, dict]] = {
        "gradients.vanishing": {"max": 0, "severity": "fail"},
        "gradients.exploding": {"max": 0, "severity": "fail"},
        "gradients.nonfinite": {"max": 0, "severity": "fail"},
        "gradients.dead_relu_fraction": {"max": 0.5, "severity": "warn"},
        "gradients.saturated_fraction": {"max": 0.5, "severity": "warn"},
    }

    def __init__(
        self,
        *,
        batch_size: int = 512,
        vanishing_ratio: float = 1e-3,
        vanishing_norm: float = 1e-7,
        exploding_norm: float = 1e3,
    ) -> None:
        self.batch_size = batch_size
        self.vanishing_ratio = vanishing_ratio
        self.vanishing_norm = vanishing_norm
        self.exploding_norm = exploding_norm

    def row_budget(self, ctx: AuditContext, section: Section) -> str | None:
        n = section.result.n_rows if isinstance(section, GradientSection) and section.result is not None else 0
        return (f"a seeded batch of {n:,} of {len(ctx.data):,} rows (batch_size={self.batch_size:,}: one backward pass, "
                "the scale a training step sees)")

    def run(self, ctx: AuditContext) -> Section:
        r = gradient_health(
            ctx.model, ctx.x_tensor, ctx.y, batch_size=self.batch_size, seed=ctx.torch_seed(self.name),
            vanishing_ratio=self.vanishing_ratio, vanishing_norm=self.vanishing_norm, exploding_norm=self.exploding_norm,
        )
        metrics = [
            Metric("gradients.first_last_norm_ratio", r.first_last_norm_ratio, description="first / last layer gradient norm"),
            Metric("gradients.max_grad_norm", r.max_grad_norm, higher_is_better=False),
            Metric("gradients.min_grad_norm", r.min_grad_norm),
            Metric("gradients.nonfinite", float(r.nonfinite), higher_is_better=False),
            Metric("gradients.vanishing", float(r.vanishing), higher_is_better=False),
            Metric("gradients.exploding", float(r.exploding), higher_is_better=False),
        ]
        if np.isfinite(r.dead_relu_fraction):
            metrics.append(Metric("gradients.dead_relu_fraction", r.dead_relu_fraction, higher_is_better=False))
        if np.isfinite(r.saturated_fraction):
            metrics.append(Metric("gradients.saturated_fraction", r.saturated_fraction, higher_is_better=False))
        problems = [p for p, on in (("vanishing", r.vanishing), ("exploding", r.exploding)) if on]
        head = f"Gradients are {' and '.join(problems)}" if problems else "Gradients flow"
        summary = (
            f"{head}: first/last-layer norm ratio {r.first_last_norm_ratio:.3g}, largest layer norm "
            f"{r.max_grad_norm:.3g} over {len(r.layers)} layers (loss {r.loss:.3g} on {r.n_rows} rows)."
        )
        extra = []
        if np.isfinite(r.dead_relu_fraction):
            extra.append(f"{r.dead_relu_fraction:.1%} of ReLU units are dead")
        if np.isfinite(r.saturated_fraction):
            extra.append(f"{r.saturated_fraction:.1%} of sigmoid/tanh outputs are saturated")
        if extra:
            summary += " " + "; ".join(extra) + "."
        tables = {"Gradient norm per layer": r.layers}
        if len(r.activations):
            tables["Activations"] = r.activations.set_index("layer")
        notes = list(r.notes) + ["Computed in eval mode (dropout off, batch norm on running statistics)."]
        if ctx.is_regression:
            notes.append("The loss is the mean squared error of the predicted values divided by the batch's target "
                         "variance (1 - R² on the batch against its own mean): the MSE's gradients, in units that keep "
                         "the vanishing and exploding thresholds meaningful whatever the target's scale.")
        return GradientSection(
            check=self.name, title=self.title, summary=summary, metrics=metrics, tables=tables,
            figures=DeferredFigures(lambda: gradient_norms(r, self.exploding_norm)), notes=notes, result=r,
        )
