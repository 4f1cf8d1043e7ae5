"""Result types of the attacks on regressors: the predictions before and after, and the errors they make."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from audit.robustness._result import AttackName, Norm


@dataclass
class RegressionAttackResult:
    """Adversarial inputs of a regressor and its predictions before and after one attack at one ``eps``.

    Every attack on a regressor maximises the squared error against the true target inside the eps ball; each row
    keeps the input with the largest squared error it found, the clean input included, so no row's error is
    below its clean error.

    Attributes
    ----------
    attack : {"fgsm", "pgd", "random_search"}
    norm : {"linf", "l2"}
    eps : float
        Radius of the perturbation ball, in units of ``scale`` (raw input units without one).
    x_adv : Tensor
        Adversarial inputs (same shape as ``x``).
    y : ndarray of float
        True target values.
    pred_clean, pred_adv : ndarray of float
        Predicted values on ``x`` and on ``x_adv``, in the target's units.
    perturbation : ndarray of float
        Size of ``x_adv - x`` per row in the attack's norm and in units of ``scale``.
    steps, step_size : int, float
        Gradient steps (1 for FGSM; search rounds for the black-box attack) and their size.
    duration_s : float
    notes : list of str
    """

    attack: AttackName
    norm: Norm
    eps: float
    x_adv: torch.Tensor
    y: np.ndarray
    pred_clean: np.ndarray
    pred_adv: np.ndarray
    perturbation: np.ndarray
    steps: int
    step_size: float
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def clean_mae(self) -> float:
        return float(np.mean(np.abs(self.pred_clean - self.y))) if len(self.y) else math.nan

    @property
    def robust_mae(self) -> float:
        """Mean absolute error on the adversarial inputs."""
        return float(np.mean(np.abs(self.pred_adv - self.y))) if len(self.y) else math.nan

    @property
    def clean_rmse(self) -> float:
        return float(np.sqrt(np.mean((self.pred_clean - self.y) ** 2))) if len(self.y) else math.nan

    @property
    def robust_rmse(self) -> float:
        """Root mean squared error on the adversarial inputs."""
        return float(np.sqrt(np.mean((self.pred_adv - self.y) ** 2))) if len(self.y) else math.nan

    @property
    def n_worse(self) -> int:
        """Rows whose absolute error the attack increased."""
        return int(np.sum(np.abs(self.pred_adv - self.y) > np.abs(self.pred_clean - self.y)))

    def to_frame(self) -> pd.DataFrame:
        """One row per input: target, clean and adversarial prediction, their errors and the perturbation size."""
        return pd.DataFrame({"y": self.y, "pred_clean": self.pred_clean, "pred_adv": self.pred_adv,
                             "error_clean": self.pred_clean - self.y, "error_adv": self.pred_adv - self.y,
                             "perturbation": self.perturbation})

    def summary(self) -> dict[str, float]:
        """Headline numbers as a dict (one row of :attr:`RegressionCurve.table`)."""
        return {"eps": float(self.eps), "clean_mae": self.clean_mae, "robust_mae": self.robust_mae,
                "clean_rmse": self.clean_rmse, "robust_rmse": self.robust_rmse, "n_rows": int(len(self.y)),
                "n_worse": self.n_worse}


@dataclass
class RegressionCurve:
    """Robust error of a regressor against ``eps`` for one attack.

    Attributes
    ----------
    attack : {"fgsm", "pgd", "random_search"}
    norm : {"linf", "l2"}
    table : DataFrame
        One row per ``eps`` (ascending): ``eps``, ``clean_mae``, ``robust_mae``, ``clean_rmse``, ``robust_rmse``,
        ``n_rows``, ``n_worse`` (rows whose error grew) and ``duration_s``.
    results : list of RegressionAttackResult
        Per-row outcomes at each ``eps``; a row keeps the larger of its error at this eps and at the eps before
        (that input lies inside the larger ball too), so the robust error never falls as eps grows.
    """

    attack: AttackName
    norm: Norm
    table: pd.DataFrame
    results: list[RegressionAttackResult]

    @property
    def eps(self) -> list[float]:
        return [r.eps for r in self.results]

    def result(self, eps: float) -> RegressionAttackResult:
        """The result at ``eps`` (KeyError lists the eps values swept)."""
        for r in self.results:
            if math.isclose(r.eps, float(eps), rel_tol=1e-9, abs_tol=1e-12):
                return r
        raise KeyError(f"eps {eps!r} was not swept; swept eps are {self.eps}")


def curve_table(results: list[RegressionAttackResult]) -> pd.DataFrame:
    """The :attr:`RegressionCurve.table` of ``results``."""
    return pd.DataFrame([{**r.summary(), "duration_s": r.duration_s} for r in results])
