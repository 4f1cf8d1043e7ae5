"""Performance check: accuracy, balanced accuracy, ROC AUC, log loss, confusion matrix; train vs test gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from audit.checks._base import Check
from audit.context import AuditContext
from audit.metrics import interval_bounds, metric_intervals
from audit.render.figures import figure
from audit.section import Metric, Section


def classification_metrics(y: np.ndarray, proba: np.ndarray, *, has_scores: bool = True) -> dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC (one-vs-rest for multiclass) and log loss.

    ``y`` holds class indices (columns of ``proba``). ROC AUC and log loss are NaN when the model
    returns hard labels only (no scores) or when ``y`` has a single class.

    Examples
    --------
    >>> import numpy as np
    >>> m = classification_metrics(np.array([0, 1, 1]), np.array([[.9, .1], [.2, .8], [.6, .4]]))
    >>> round(m["accuracy"], 3)
    0.667
    """
    pred = proba.argmax(axis=1)
    k = proba.shape[1]
    out = {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)),
        "roc_auc": float("nan"),
        "log_loss": float("nan"),
    }
    if has_scores and len(np.unique(y)) > 1:
        if k == 2:
            out["roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
        elif len(np.unique(y)) == k:
            out["roc_auc"] = float(skm.roc_auc_score(y, proba, multi_class="ovr"))
        out["log_loss"] = float(skm.log_loss(y, np.clip(proba, 1e-15, 1), labels=np.arange(k)))
    return out


_HIGHER = {"accuracy": True, "balanced_accuracy": True, "roc_auc": True, "log_loss": False}


class PerformanceCheck(Check):
    """Predictive performance on ``data`` with 95% intervals and, when ``train`` is given, on train with the gap.

    Parameters
    ----------
    n_boot : int
        Bootstrap resamples for the intervals of the test metrics (0: no intervals).
    confidence : float
        Interval level.
    """

    name = "performance"
    requires = ("labels",)
    title = "Performance"
    metric_patterns = (
        "performance.accuracy",
        "performance.balanced_accuracy",
        "performance.roc_auc",
        "performance.log_loss",
        "performance.train.accuracy",
        "performance.train.balanced_accuracy",
        "performance.train.roc_auc",
        "performance.train.log_loss",
        "performance.train_test_gap.accuracy",
        "performance.train_test_gap.balanced_accuracy",
        "performance.train_test_gap.roc_auc",
        "performance.train_test_gap.log_loss",
    )
    metric_docs = {
        "performance.accuracy": "share of correct predictions on the evaluation data",
        "performance.balanced_accuracy": "mean recall over classes (robust to class imbalance)",
        "performance.roc_auc": "ROC AUC (one-vs-rest macro for multiclass); undefined for label-only models",
        "performance.log_loss": "cross-entropy of the predicted probabilities (lower is better)",
        "performance.train.accuracy": "accuracy on the training data (when train= is given)",
        "performance.train.balanced_accuracy": "balanced accuracy on the training data",
        "performance.train.roc_auc": "ROC AUC on the training data",
        "performance.train.log_loss": "log loss on the training data",
        "performance.train_test_gap.accuracy": "train accuracy minus test accuracy (overfitting)",
        "performance.train_test_gap.balanced_accuracy": "train minus test balanced accuracy",
        "performance.train_test_gap.roc_auc": "train minus test ROC AUC",
        "performance.train_test_gap.log_loss": "train minus test log loss (negative when the model overfits)",
    }

    def __init__(self, *, n_boot: int = 1000, confidence: float = 0.95) -> None:
        self.n_boot = n_boot
        self.confidence = confidence

    def run(self, ctx: AuditContext) -> Section:
        y, proba = ctx.y, ctx.proba
        test = classification_metrics(y, proba, has_scores=ctx.model.has_scores)
        ci = metric_intervals(y, proba, n_boot=self.n_boot, confidence=self.confidence, seed=ctx.torch_seed(self.name),
                              has_scores=ctx.model.has_scores)
        bounds = {k: interval_bounds(ci, k, v) for k, v in test.items()}
        metrics = [Metric(f"performance.{k}", v, *bounds[k], higher_is_better=_HIGHER[k]) for k, v in test.items()]
        table = pd.DataFrame({"test": test})
        pct = f"{self.confidence:.0%}"
        table[f"test {pct} CI"] = ["" if bounds[k][0] is None else f"{bounds[k][0]:.3f} – {bounds[k][1]:.3f}" for k in table.index]
        labels = [str(c) for c in ctx.classes]
        cm = pd.DataFrame(
            skm.confusion_matrix(y, ctx.pred, labels=np.arange(ctx.n_classes)),
            index=pd.Index(labels, name="actual"),
            columns=pd.Index(labels, name="predicted"),
        )
        notes: list[str] = []
        if not ctx.model.has_scores:
            notes.append("The model returns hard labels only: ROC AUC and log loss are undefined.")
        lo, hi = bounds["accuracy"]
        acc_ci = "" if lo is None else f" ({pct} CI {lo:.3f}–{hi:.3f})"
        summary = f"Accuracy {test['accuracy']:.3f}{acc_ci}, balanced accuracy {test['balanced_accuracy']:.3f}"
        if not np.isnan(test["roc_auc"]):
            summary += f", ROC AUC {test['roc_auc']:.3f}"
        summary += f" on {len(y):,} rows."
        if ctx.train is not None and ctx.train_y is not None:
            train = classification_metrics(ctx.train_y, ctx.train_proba, has_scores=ctx.model.has_scores)
            table["train"] = pd.Series(train)
            table["train - test"] = table["train"] - table["test"]
            for k, v in train.items():
                metrics.append(Metric(f"performance.train.{k}", v, higher_is_better=_HIGHER[k]))
                metrics.append(
                    Metric(
                        f"performance.train_test_gap.{k}",
                        v - test[k],
                        higher_is_better=None,
                        description="train minus test; a large gap suggests overfitting",
                    )
                )
            summary += f" Train accuracy {train['accuracy']:.3f} (gap {train['accuracy'] - test['accuracy']:+.3f})."
        table.index.name = "metric"
        with figure("Confusion matrix", f"confusion matrix of {len(labels)} classes", size=(3.6, 3.0)) as (fig, figs):
            ax = fig.add_subplot()
            ax.imshow(cm.to_numpy(), cmap="Blues")
            ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 3 else 0)
            ax.set_yticks(range(len(labels)), labels)
            ax.set_xlabel("predicted")
            ax.set_ylabel("actual")
            vmax = cm.to_numpy().max()
            for (i, j), v in np.ndenumerate(cm.to_numpy()):
                ax.text(j, i, f"{v:,}", ha="center", va="center", color="white" if v > vmax / 2 else "black")
        return Section(
            check=self.name,
            title=self.title,
            summary=summary,
            metrics=metrics,
            tables={"Metrics": table, "Confusion matrix": cm},
            figures=figs,
            notes=notes,
        )
