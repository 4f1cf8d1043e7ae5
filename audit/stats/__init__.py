"""Shared statistics: resampling, intervals, binned AUC and the headline classification metrics.

Every check that reports an interval gets it from here, so one resampling scheme and one definition
of each interval serve fairness, performance, calibration, robustness, saliency and explanations:

- **resampling** (:func:`resample_counts`, :func:`percentile_interval`): the row bootstrap drawn as
  multinomial cell counts (no loop over resamples), and percentile intervals that ignore NaN
  resamples; :func:`bootstrap_mean` and :func:`bootstrap_shares` resample rows where there are few;
- **intervals of proportions** (:func:`wilson_interval`);
- **ROC AUC** (:func:`group_auc`, :func:`score_bins`, :func:`auc_from_bins`, :func:`bootstrap_auc`,
  :func:`hanley_mcneil_se`): exact per group, and resampled on binned scores;
- **classification metrics** (:func:`classification_metrics`, :func:`metric_intervals`);
- **prediction cells** (:func:`build_cells`, :func:`merge_cells`, :func:`cell_metrics`, :func:`cell_intervals`):
  the counts and sums per (group, label, prediction, score) cell that performance, fairness and calibration
  compute from, which partitions of a Dask DataFrame add up;
- **gaps between groups** (:func:`range_interval`, :func:`bias_corrected`, :func:`permutation_p_value`,
  :func:`apply_test`, :func:`split_counts`, :func:`split_cells`): the bias-corrected estimate, the
  interval that covers a gap of 0, and the permutation test every gated gap (fairness, calibration,
  robustness) reports.

Examples
--------
>>> import numpy as np
>>> from audit.stats import classification_metrics, metric_intervals, wilson_interval
>>> y, proba = np.array([0, 1, 1, 0]), np.array([[.8, .2], [.3, .7], [.6, .4], [.9, .1]])
>>> classification_metrics(y, proba)["accuracy"]
0.75
>>> [round(v, 3) for v in wilson_interval(3, 4)]
[0.301, 0.954]
"""

from __future__ import annotations

from audit.stats._auc import auc_from_bins, bootstrap_auc, group_auc, group_auc_vectorised, hanley_mcneil_se, score_bins
from audit.stats._cells import (
    EXACT_LIMIT,
    GRID_SUB,
    PredictionCells,
    auc_tie_bound,
    bound_text,
    build_cells,
    grid_index,
    merge_cells,
    row_log_loss,
)
from audit.stats._cell_metrics import auc_bins, auc_error_bound, cell_by_period, cell_intervals, cell_metrics
from audit.stats._classification import (
    DENSE_CLASSES,
    INTERVAL_METRICS,
    classification_metrics,
    metric_intervals,
    weighted_metric_intervals,
)
from audit.stats._intervals import interval_bounds, wilson_interval
from audit.stats._proportion_gaps import proportion_gaps
from audit.stats._regression import (
    REGRESSION_METRICS,
    group_regression_metrics,
    regression_intervals,
    regression_metrics,
    weighted_median,
)
from audit.stats._strata import stratified_quotas, stratified_rows
from audit.stats._gaps import (
    AUC_TEST_GROUPS,
    PERMUTATION_SCHEMES,
    GapEvidence,
    apply_test,
    bias_corrected,
    family_confidence,
    permutation_p_value,
    permuted_auc,
    permuted_rates,
    range_interval,
    worst_of,
)
from audit.stats._permutations import split_cells, split_counts
from audit.stats._resample import (
    EXACT_CELL_ROWS,
    TOTAL_SHARE,
    bootstrap_mean,
    bootstrap_shares,
    percentile_interval,
    resample_counts,
    small_weighted_cells,
)

__all__ = [
    "row_log_loss",
    "EXACT_CELL_ROWS",
    "small_weighted_cells",
    "EXACT_LIMIT",
    "GRID_SUB",
    "PredictionCells",
    "auc_bins",
    "auc_error_bound",
    "auc_tie_bound",
    "bound_text",
    "build_cells",
    "cell_by_period",
    "cell_intervals",
    "cell_metrics",
    "grid_index",
    "merge_cells",
    "AUC_TEST_GROUPS",
    "PERMUTATION_SCHEMES",
    "GapEvidence",
    "apply_test",
    "family_confidence",
    "bias_corrected",
    "permutation_p_value",
    "permuted_auc",
    "permuted_rates",
    "range_interval",
    "split_cells",
    "split_counts",
    "worst_of",
    "proportion_gaps",
    "REGRESSION_METRICS",
    "group_regression_metrics",
    "regression_intervals",
    "regression_metrics",
    "weighted_median",
    "stratified_quotas",
    "stratified_rows",
    "DENSE_CLASSES",
    "INTERVAL_METRICS",
    "TOTAL_SHARE",
    "auc_from_bins",
    "bootstrap_auc",
    "bootstrap_mean",
    "bootstrap_shares",
    "classification_metrics",
    "weighted_metric_intervals",
    "group_auc",
    "group_auc_vectorised",
    "hanley_mcneil_se",
    "interval_bounds",
    "metric_intervals",
    "percentile_interval",
    "resample_counts",
    "score_bins",
    "wilson_interval",
]
