"""Result types of the attacks (:class:`AttackResult`) and of the epsilon sweep (:class:`RobustnessCurve`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch

Norm = Literal["linf", "l2"]
AttackName = Literal["fgsm", "pgd", "random_search"]


@dataclass
class AttackResult:
    """Adversarial inputs and per-row outcomes of one attack at one ``eps``.

    Attributes
    ----------
    attack : {"fgsm", "pgd", "random_search"}
    norm : {"linf", "l2"}
    eps : float
        Radius of the perturbation ball, in units of ``scale`` (raw input units without one).
    x_adv : Tensor
        Adversarial inputs, same shape, dtype and device as the input ``x`` (CPU for array input).
        Rows the model already misclassifies are left as they are (they need no perturbation),
        and with ``early_stop`` each row keeps the first iterate that fooled the model.
    y : ndarray of int
        True labels (class indices).
    pred_clean, pred_adv : ndarray of int
        The model's predictions on ``x`` and on ``x_adv``.
    clean_correct : ndarray of bool
        ``pred_clean == y``.
    success : ndarray of bool
        ``pred_adv != y``: the row is misclassified after the attack (trivially true for rows
        already misclassified; :attr:`attack_success_rate` only counts clean-correct rows).
    perturbation : ndarray of float
        Size of ``x_adv - x`` per row in the attack's norm and in units of ``scale``
        (at most ``eps`` up to float rounding).
    steps, step_size : int, float
        Gradient steps taken (1 for FGSM) and their size.
    batch_size : int
        Rows per batch that finally fit in memory (after any halving on out-of-memory).
    requested_batch_size : int
        Rows per batch the attack started with (chosen from the device's memory, or given);
        larger than ``batch_size`` when the batch was halved (see :attr:`batch_note`).
    duration_s : float
        Wall time of the attack.
    """

    attack: AttackName
    norm: Norm
    eps: float
    x_adv: torch.Tensor
    y: np.ndarray
    pred_clean: np.ndarray
    pred_adv: np.ndarray
    clean_correct: np.ndarray
    success: np.ndarray
    perturbation: np.ndarray
    steps: int
    step_size: float
    batch_size: int
    duration_s: float = 0.0
    requested_batch_size: int = 0

    @property
    def batch_note(self) -> str | None:
        """What out-of-memory back-off did to the batch, or None when the first batch size fit."""
        if self.requested_batch_size > self.batch_size:
            return (f"{self.attack} at eps={self.eps:g}: out of memory at {self.requested_batch_size:,} rows per batch; "
                    f"halved to {self.batch_size:,} and finished")
        return None
    notes: list[str] = field(default_factory=list)

    @property
    def clean_accuracy(self) -> float:
        """Share of rows the model classifies correctly before the attack."""
        return float(np.mean(self.clean_correct)) if len(self.y) else math.nan

    @property
    def robust_accuracy(self) -> float:
        """Share of rows still classified correctly after the attack: ``mean(pred_adv == y)``."""
        return float(np.mean(~self.success)) if len(self.y) else math.nan

    @property
    def attack_success_rate(self) -> float:
        """Share of the clean-correct rows that the attack fooled (NaN when no row is clean-correct)."""
        k = int(self.clean_correct.sum())
        return float(np.sum(self.success & self.clean_correct) / k) if k else math.nan

    def to_frame(self) -> pd.DataFrame:
        """One row per input: label, clean and adversarial prediction, outcome and perturbation size."""
        return pd.DataFrame(
            {
                "y": self.y,
                "pred_clean": self.pred_clean,
                "pred_adv": self.pred_adv,
                "clean_correct": self.clean_correct,
                "success": self.success,
                "perturbation": self.perturbation,
            }
        )

    def summary(self) -> dict[str, float]:
        """Headline numbers as a dict (one row of :attr:`RobustnessCurve.table`)."""
        return {
            "eps": float(self.eps),
            "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": self.robust_accuracy,
            "attack_success_rate": self.attack_success_rate,
            "n_rows": int(len(self.y)),
            "n_fooled": int(np.sum(self.success & self.clean_correct)),
        }


@dataclass
class RobustnessCurve:
    """Robust accuracy against ``eps`` for one attack, from :func:`audit.robustness.robustness_curve`.

    Attributes
    ----------
    attack : {"fgsm", "pgd"}
    norm : {"linf", "l2"}
    table : DataFrame
        One row per ``eps`` (ascending): ``eps``, ``clean_accuracy``, ``robust_accuracy``,
        ``attack_success_rate``, ``n_rows``, ``n_fooled`` (clean-correct rows fooled at this eps or a
        smaller one), ``n_attacked`` (rows attacked at this eps: those still standing) and ``duration_s``.
    results : list of AttackResult
        Per-row outcomes at each ``eps`` (same order as ``table``); a row fooled at a smaller eps
        keeps that adversarial input, which also lies inside every larger ball.
    """

    attack: AttackName
    norm: Norm
    table: pd.DataFrame
    results: list[AttackResult]

    @property
    def eps(self) -> list[float]:
        return [r.eps for r in self.results]

    @property
    def batch_notes(self) -> list[str]:
        """One line per eps whose batch was halved on out-of-memory (empty when every batch fit)."""
        return [n for n in (r.batch_note for r in self.results) if n]

    def result(self, eps: float) -> AttackResult:
        """The :class:`AttackResult` at ``eps`` (KeyError lists the eps values swept)."""
        for r in self.results:
            if math.isclose(r.eps, float(eps), rel_tol=1e-9, abs_tol=1e-12):
                return r
        raise KeyError(f"eps {eps!r} was not swept; swept eps are {self.eps}")
