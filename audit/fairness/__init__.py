"""Group fairness: per-group metrics, disparities, bootstrap intervals and proxy detection.

Metric names and values follow fairlearn (``MetricFrame``, ``demographic_parity_difference``...);
the bootstrap is vectorised over resamples (multinomial confusion counts) and agrees with
``MetricFrame(n_boot=...)`` within sampling noise.

Text fairness: :func:`identity_groups` marks the texts that mention each identity group (terms from
:func:`default_identity_terms` or your own), :func:`bias_aucs` gives a scorer's subgroup, BPSN and BNSP AUCs per
group (Borkan et al., 2019) and :func:`identity_swaps` the score changes and decision flips when one group's terms
are swapped for another's.

Examples
--------
>>> from audit.fairness import group_metrics
>>> group_metrics([1, 0, 1, 0], [1, 1, 0, 0], ["a", "a", "b", "b"])["selection_rate"].tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from audit.fairness._assess import (
    INTERSECTION,
    FairnessAssessment,
    assess_fairness,
    group_label,
)
from audit.fairness._bias_auc import BIAS_AUC_METRICS, BiasAUCResult, bias_aucs
from audit.fairness._disparities import Disparities, disparities
from audit.fairness._group_metrics import (
    GROUP_METRIC_COLUMNS,
    GroupMetrics,
    evaluate_groups,
    group_metrics,
)
from audit.fairness._identity_swaps import SWAP_METRICS, SwapResult, identity_swaps
from audit.fairness._identity_terms import (
    default_identity_templates,
    default_identity_terms,
    identity_groups,
    swap_terms,
    template_texts,
)
from audit.fairness._inputs import intersection_labels
from audit.fairness._proxies import ProxyResult, proxy_auc
from audit.fairness._regression import RegressionFairness, regression_fairness
from audit.fairness._spread import DISPARITIES
from audit.fairness._text import findings_table

__all__ = [
    "BIAS_AUC_METRICS",
    "DISPARITIES",
    "GROUP_METRIC_COLUMNS",
    "INTERSECTION",
    "SWAP_METRICS",
    "BiasAUCResult",
    "Disparities",
    "FairnessAssessment",
    "GroupMetrics",
    "ProxyResult",
    "RegressionFairness",
    "SwapResult",
    "assess_fairness",
    "bias_aucs",
    "default_identity_templates",
    "default_identity_terms",
    "disparities",
    "evaluate_groups",
    "findings_table",
    "group_label",
    "group_metrics",
    "identity_groups",
    "identity_swaps",
    "intersection_labels",
    "proxy_auc",
    "regression_fairness",
    "swap_terms",
    "template_texts",
]
