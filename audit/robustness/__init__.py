"""Adversarial robustness: FGSM and PGD attacks, a black-box random search, epsilon sweeps, tabular constraints, per-group results.

Every attack takes ``(model, x, y, eps, ...)`` and returns an :class:`AttackResult`; the sweep
returns a :class:`RobustnessCurve`. A regressor's attacks maximise the squared error against the true
target (:func:`regression_attack`, :func:`regression_curve` for torch regressors,
:func:`regression_random_search_curve` for the others) and return :class:`RegressionAttackResult` /
:class:`RegressionCurve` (robust MAE and RMSE); :func:`regression_group_robustness` breaks them down by group. Attacks run batched on the model's device, leave the model in
eval mode without touching its parameters' gradients, and halve the batch on out-of-memory.
A text classifier (a function from a list of strings to probabilities) is tested for invariance to small edits
(:func:`text_perturbations`: typos, case, punctuation, whitespace, synonyms; flip rates overall and per group)
and attacked by greedy synonym substitution (:func:`word_substitution_attack`: robust accuracy per budget of words).

>>> import torch
>>> from audit.robustness import fgsm, pgd, robustness_curve
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
>>> x, y = torch.rand(64, 4), torch.randint(0, 3, (64,))
>>> r = pgd(net, x, y, eps=0.1, steps=10, bounds=(0, 1), device="cpu")
>>> r.x_adv.shape
torch.Size([64, 4])
>>> curve = robustness_curve(net, x, y, [0.05, 0.1], attack="fgsm", device="cpu")
>>> list(curve.table.columns[:4])
['eps', 'clean_accuracy', 'robust_accuracy', 'attack_success_rate']
"""

from __future__ import annotations

from audit.robustness._attacks import fgsm, perturbation_size, pgd
from audit.robustness._blackbox import random_search, random_search_curve
from audit.robustness._constraints import Constraints, image_constraints, tabular_constraints
from audit.robustness._examples import NORM_LABELS, AdversarialExamples, adversarial_examples, attack_label
from audit.robustness._groups import GroupRobustness, group_robustness
from audit.robustness._regression import regression_attack, regression_curve
from audit.robustness._regression_blackbox import regression_random_search_curve
from audit.robustness._regression_groups import RegressionGroupRobustness, regression_group_robustness, regression_key
from audit.robustness._regression_result import RegressionAttackResult, RegressionCurve
from audit.robustness._result import AttackResult, RobustnessCurve
from audit.robustness._sweep import robustness_curve
from audit.robustness._text_attack import TextAttackResult, word_substitution_attack
from audit.robustness._text_common import load_synonyms, split_words
from audit.robustness._text_edits import PERTURBATIONS, perturb_texts
from audit.robustness._text_perturb import TextPerturbationResult, text_perturbations

__all__ = [
    "NORM_LABELS",
    "PERTURBATIONS",
    "TextAttackResult",
    "TextPerturbationResult",
    "load_synonyms",
    "perturb_texts",
    "split_words",
    "text_perturbations",
    "AdversarialExamples",
    "AttackResult",
    "GroupRobustness",
    "RegressionAttackResult",
    "RegressionCurve",
    "RegressionGroupRobustness",
    "RobustnessCurve",
    "Constraints",
    "adversarial_examples",
    "attack_label",
    "fgsm",
    "group_robustness",
    "image_constraints",
    "perturbation_size",
    "pgd",
    "random_search",
    "random_search_curve",
    "regression_attack",
    "regression_curve",
    "regression_group_robustness",
    "regression_key",
    "regression_random_search_curve",
    "robustness_curve",
    "tabular_constraints",
    "word_substitution_attack",
]
