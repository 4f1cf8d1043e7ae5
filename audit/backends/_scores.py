"""Turning what a model returns (probabilities, margins, logits, labels) into class probabilities."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.errors import (
    BAD_OUTPUT_SHAPE,
    DUPLICATE_CLASSES,
    NAN_OUTPUT,
    NOT_PROBABILITIES,
    ONE_COLUMN,
    WRONG_WIDTH,
    AuditInputError,
)

OutputKind = Literal["auto", "logits", "proba", "labels"]
OUTPUT_KINDS = ("auto", "logits", "proba", "labels")
#: how far a probability may lie outside [0, 1], and a row's sum from 1, and still be read as a probability:
#: float32 libraries (XGBoost, ONNX, torch) sum to 1 only within about 1e-7 per class
PROBA_ATOL = 1e-4


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def binary(p: np.ndarray) -> np.ndarray:
    """Positive-class probabilities ``(n,)`` -> ``(n, 2)`` with the positive class last."""
    return np.column_stack([1.0 - p, p])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def one_hot(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Hard labels as 0/1 probabilities over ``classes``; a label outside ``classes`` is an error."""
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    try:
        idx = np.fromiter((lookup[v] for v in labels.tolist()), dtype=np.int64, count=len(labels))
    except KeyError as exc:
        raise AuditInputError(
            f"model predicted label {exc.args[0]!r}, which is not one of its classes {classes.tolist()}"
        ) from None
    return np.eye(len(classes))[idx]


def scores_to_proba(out: np.ndarray, n: int, output: OutputKind, n_classes: int | None = None) -> tuple[np.ndarray, bool]:
    """``(proba, has_scores)`` from an array a model returned for ``n`` rows.

    ``output="auto"`` reads non-negative integers as labels and one column in [0, 1] as the positive class's
    probability; one column outside [0, 1], or rows that do not sum to 1, are an error asking for
    ``output="logits"`` (the scale cannot be read from the numbers); any other value of ``output`` states it.
    """
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim == 1:
        if out.shape[0] != n:
            raise AuditInputError(BAD_OUTPUT_SHAPE.format(shape=out.shape, n=n))
        if output == "labels" or (
            output == "auto" and np.isfinite(out).all() and np.all(np.mod(out, 1) == 0) and out.min() >= 0
        ):
            k = max(int(out.max()) + 1 if out.size else 2, 2, n_classes or 0)
            return np.eye(k)[out.astype(int)], False
        out = out.astype(np.float64)
        if output == "auto" and out.size and (out.min() < 0 or out.max() > 1):
            # a silent sigmoid once turned scores of 200-800 into 1.0 for every row (ROC AUC 0.500 where the scores'
            # own was 0.817): the scale cannot be read from the numbers, so the user says what they are
            raise AuditInputError(
                f"model returned one score per row outside [0, 1] (from {out.min():.4g} to {out.max():.4g}), which is "
                "not a probability of the positive class; pass model_output='logits' if the scores are log-odds "
                "(a sigmoid is applied), or return probabilities in [0, 1]; pass task='regression' if the model "
                "predicts a number (a regressor)"
            )
        if output == "logits":
            return binary(sigmoid(out)), True
        return binary(out), True
    if out.ndim == 2:
        out = out.astype(np.float64)
        if output == "logits":
            return softmax(out), True
        sums = out.sum(axis=1)
        if output == "auto" and (not np.allclose(sums, 1.0, atol=1e-4) or (out < -1e-9).any()):
            # guessing "logits" here once turned an ECE of 0.026 into 0.281: the user says what these are
            raise AuditInputError(
                f"model returned {out.shape[1]} scores per row that are not probabilities (row sums "
                f"{sums.min():.3g}-{sums.max():.3g}, minimum {out.min():.3g}); pass model_output='logits' if they "
                "are logits (softmax is applied), or return probabilities that sum to 1"
            )
        return out, True
    raise AuditInputError(BAD_OUTPUT_SHAPE.format(shape=out.shape, n=n))


def check_proba(proba: Any, n: int, *, model: str, classes: np.ndarray | None, fix: str) -> np.ndarray:
    """What a backend returned for ``n`` rows as validated ``(n, k)`` float64 probabilities, or a clear error.

    Every backend's output passes here once (in :meth:`audit.model.ModelAdapter.predict_proba`): the shape is
    ``(n, k)`` with ``k >= 2`` and, when the model records its classes, one column per class and no class twice;
    every value is finite and in [0, 1] and every row sums to 1, each within :data:`PROBA_ATOL`. Values within the
    tolerance are clipped to [0, 1] and the rows renormalised, so sums are 1 to float64 precision. ``model`` names the
    model in the error and ``fix`` says what to do about scores that are not probabilities.

    Examples
    --------
    >>> check_proba(np.array([[0.25, 0.75]], dtype=np.float32), 1, model="m", classes=None, fix="").tolist()
    [[0.25, 0.75]]
    >>> check_proba(np.array([[0.5, 0.2]]), 1, model="m", classes=None, fix="pass model_output='logits'")
    Traceback (most recent call last):
    ...
    audit.errors.AuditInputError: m returned 2 scores per row that are not probabilities for 1 of 1 rows (row sums 0.7 to 0.7, values 0.2 to 0.5; probabilities lie in [0, 1] and sum to 1 within 0.0001); pass model_output='logits'
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != n:
        raise AuditInputError(BAD_OUTPUT_SHAPE.format(shape=proba.shape, n=n))
    k = proba.shape[1]
    if classes is not None:
        index = pd.Index(list(np.asarray(classes).tolist()))
        if index.has_duplicates:
            raise AuditInputError(DUPLICATE_CLASSES.format(model=model, dups=index[index.duplicated()].unique().tolist(),
                                                           classes=index.tolist()))
        if len(classes) != k:
            raise AuditInputError(WRONG_WIDTH.format(model=model, k=k, c=len(classes), classes=np.asarray(classes).tolist()))
    if k < 2:
        raise AuditInputError(ONE_COLUMN.format(model=model))
    if proba.size == 0:
        return proba
    # four passes over what may be millions of explanation rows: min, max, row sums, the division
    lo, hi = proba.min(), proba.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = ~np.isfinite(proba).all(axis=1)
        raise AuditInputError(NAN_OUTPUT.format(count=int(bad.sum()), n=n))
    sums = proba.sum(axis=1)
    if lo < -PROBA_ATOL or hi > 1.0 + PROBA_ATOL or np.abs(sums - 1.0).max() > PROBA_ATOL:
        off = (np.abs(sums - 1.0) > PROBA_ATOL) | (proba < -PROBA_ATOL).any(axis=1) | (proba > 1.0 + PROBA_ATOL).any(axis=1)
        raise AuditInputError(NOT_PROBABILITIES.format(
            model=model, k=k, count=int(off.sum()), n=n, lo=sums.min(), hi=sums.max(), vmin=lo, vmax=hi,
            atol=PROBA_ATOL, fix=fix))
    if lo < 0.0 or hi > 1.0:
        proba = np.clip(proba, 0.0, 1.0)
        sums = proba.sum(axis=1)
    return proba / sums[:, None]
