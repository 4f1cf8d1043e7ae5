"""Bootstrap draws of the confusion matrix: accuracy, balanced accuracy and class counts per resample.

Shared by the row path (:func:`audit.stats.metric_intervals`) and the cell path (:func:`audit.stats.cell_intervals`),
which give it the same non-empty cells and so get the same draws.
"""

from __future__ import annotations

import warnings

import numpy as np

from audit.stats._resample import resample_counts

#: metrics :func:`audit.stats.metric_intervals` returns, in order
INTERVAL_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss")


def confusion_draws(rng: np.random.Generator, cell_ids: np.ndarray, cell_rows: np.ndarray, k: int,
                    n_boot: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bootstrap accuracy, balanced accuracy and (binary) numbers of positives and negatives, ``(n_boot,)`` each.

    ``cell_ids`` (``label * k + prediction``, ascending) and ``cell_rows`` are the non-empty cells of the
    confusion matrix: rows (:func:`metric_intervals`) and prediction cells (:func:`audit.stats.cell_intervals`)
    give the same cells, hence the same draws.
    """
    n = float(np.sum(cell_rows))
    # Only the observed (label, prediction) cells are drawn: a dense k x k table per resample took 745 GiB
    # for 10,000 classes. numpy's multinomial spends no randomness on an empty cell, so drawing the
    # non-empty cells in row-major order (plus one empty cell at the end when the table ends in one, which
    # then takes the same remainder the last cell did) gives exactly the draws of the dense table.
    label, predicted = cell_ids // k, cell_ids % k
    if cell_ids[-1] != k * k - 1:
        # the dense table ends in an empty cell (label k-1, prediction k-1), which takes whatever the last
        # binomial leaves: keep it, so the stream and every count match the dense draw
        cell_rows = np.r_[cell_rows, 0]
        label, predicted = np.r_[label, k - 1], np.r_[predicted, k - 1]
    counts = cell_rows.astype(np.float64)
    on_diag = np.flatnonzero(label == predicted)
    present = np.unique(label[counts > 0])  # classes with rows, in order (the recall of others is not defined)
    in_present = np.isin(label, present)
    starts = np.searchsorted(label[in_present], present)  # cells are in row-major order: labels ascend
    diag_slot = np.searchsorted(present, label[on_diag])
    diag_ok = in_present[on_diag]
    acc_b, rec_b = np.empty(n_boot), np.empty(n_boot)
    n_pos, n_neg = np.empty(n_boot), np.empty(n_boot)
    chunk = max(1, int(2e7 // len(counts)))  # resamples in chunks bound the memory; the stream is the same
    for first in range(0, n_boot, chunk):
        b = min(chunk, n_boot - first)
        draws = resample_counts(rng, counts[None, :], counts[None, :], None, b)[0][:, 0, :]
        acc_b[first : first + b] = draws[:, on_diag].sum(axis=1) / n
        support = np.add.reduceat(draws[:, in_present], starts, axis=1)
        diag = np.zeros_like(support)
        diag[:, diag_slot[diag_ok]] = draws[:, on_diag[diag_ok]]
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(support > 0, diag / np.where(support > 0, support, 1.0), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # column-major like the former recall[:, present] copy, so the sum over classes adds in the same order
            rec_b[first : first + b] = np.nanmean(np.asfortranarray(recall), axis=1)
        if k == 2:
            n_pos[first : first + b] = draws[:, label == 1].sum(axis=1)
            n_neg[first : first + b] = draws[:, label == 0].sum(axis=1)
    return acc_b, rec_b, n_pos, n_neg
