"""Adversarial examples to show: clean input, adversarial input and where they differ, for a few rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audit.robustness._result import RobustnessCurve

#: what each attack is called in tables, summaries and figures (PGD also says its steps)
_ATTACK_LABELS = {"fgsm": "FGSM", "random_search": "Black-box random search"}
#: what each norm is called in summaries and figures
NORM_LABELS = {"linf": "L-inf", "l2": "L2"}


def attack_label(attack: str, steps: int) -> str:
    """Display name of an attack: ``"PGD-20"``, ``"FGSM"``, ``"Black-box random search"``.

    Examples
    --------
    >>> attack_label("pgd", 20), attack_label("fgsm", 20), attack_label("custom", 1)
    ('PGD-20', 'FGSM', 'custom')
    """
    return f"PGD-{steps}" if attack == "pgd" else _ATTACK_LABELS.get(attack, attack)


@dataclass
class AdversarialExamples:
    """A few rows one attack fooled at its smallest fooling eps, as arrays for display.

    Attributes
    ----------
    attack : str
    eps : float
    rows : ndarray of int
        Positions of the rows in the attacked data.
    clean, adversarial : ndarray, shape (k, c, h, w), float32
        The inputs and their adversarial versions.
    difference : ndarray, shape (k, 1, h, w), float32
        Largest absolute change over channels, per pixel.
    pred_clean, pred_adv : ndarray of int
        Predicted class indices before and after the attack.
    """

    attack: str
    eps: float
    rows: np.ndarray
    clean: np.ndarray
    adversarial: np.ndarray
    difference: np.ndarray
    pred_clean: np.ndarray
    pred_adv: np.ndarray


def adversarial_examples(curve: RobustnessCurve, x: torch.Tensor, k: int) -> AdversarialExamples | None:
    """The first ``k`` clean-correct rows the attack fooled at the smallest eps that fooled any (None: none).

    Examples
    --------
    >>> from audit.robustness import robustness_curve
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    >>> x, y = torch.rand(32, 1, 4, 4), torch.randint(0, 2, (32,))
    >>> ex = adversarial_examples(robustness_curve(net, x, y, [0.5], attack="fgsm", device="cpu"), x, 2)
    >>> ex is None or (ex.clean.shape[1:], ex.difference.shape[1:]) == ((1, 4, 4), (1, 4, 4))
    True
    """
    for r in curve.results:  # smallest eps that fools some clean-correct rows
        rows = np.flatnonzero(r.success & r.clean_correct)[:k]
        if len(rows):
            break
    else:
        return None
    clean, adv, diff = [], [], []
    for row in rows:
        c, a = x[row], r.x_adv[row].to(x.device)
        clean.append(c.detach().cpu().float().numpy())
        adv.append(a.detach().cpu().float().numpy())
        diff.append((a - c).abs().amax(dim=0, keepdim=True).detach().cpu().float().numpy())
    return AdversarialExamples(attack=curve.attack, eps=r.eps, rows=rows, clean=np.stack(clean),
                               adversarial=np.stack(adv), difference=np.stack(diff),
                               pred_clean=r.pred_clean[rows], pred_adv=r.pred_adv[rows])
