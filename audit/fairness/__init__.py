"""Group fairness: per-group metrics, disparities, bootstrap intervals and proxy detection.

Metric names and values follow fairlearn (``MetricFrame``, ``demographic_parity_difference``...);
the bootstrap is vectorised over resamples (multinomial confusion counts) and agrees with
``MetricFrame(n_boot=...)`` within sampling noise.

Examples
--------
>>> from audit.fairness import group_metrics
>>> group_metrics([1, 0, 1, 0], [1, 1, 0, 0], ["a", "a", "b", "b"])["selection_rate"].tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from audit.fairness._bias_auc import BIAS_AUC_METRICS, BiasAUCResult, bias_aucs
from audit.fairness._identity_terms import default_identity_terms, identity_groups, swap_terms
from audit.fairness._identity_swaps import SWAP_METRICS, SwapResult, identity_swaps
from audit.fairness._assess import INTERSECTION, FairnessAssessment, assess_fairness, group_label
from audit.fairness._disparities import Disparities, disparities
from audit.fairness._inputs import intersection_labels
from audit.fairness._group_metrics import GROUP_METRIC_COLUMNS, GroupMetrics, evaluate_groups, group_metrics
from audit.fairness._proxies import ProxyResult, proxy_auc
from audit.fairness._regression import RegressionFairness, regression_fairness
from audit.fairness._spread import DISPARITIES
from audit.fairness._text import findings_table

__all__ = [
    "BIAS_AUC_METRICS",
    "BiasAUCResult",
    "bias_aucs",
    "default_identity_terms",
    "identity_groups",
    "swap_terms",
    "SWAP_METRICS",
    "SwapResult",
    "identity_swaps",
    "DISPARITIES",
    "GROUP_METRIC_COLUMNS",
    "INTERSECTION",
    "Disparities",
    "FairnessAssessment",
    "GroupMetrics",
    "ProxyResult",
    "RegressionFairness",
    "assess_fairness",
    "disparities",
    "evaluate_groups",
    "findings_table",
    "group_label",
    "group_metrics",
    "intersection_labels",
    "proxy_auc",
    "regression_fairness",
]
