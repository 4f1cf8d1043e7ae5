"""Turning what a model returns (probabilities, margins, logits, labels) into class probabilities."""

from __future__ import annotations

from typing import Literal

import numpy as np

from audit.errors import BAD_OUTPUT_SHAPE, AuditInputError

OutputKind = Literal["auto", "logits", "proba", "labels"]
OUTPUT_KINDS = ("auto", "logits", "proba", "labels")


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

    ``output="auto"`` reads non-negative integers as labels, one column outside [0, 1] as a margin,
    rows that do not sum to 1 as logits; any other value of ``output`` states it.
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
        if output == "logits" or (output == "auto" and (out.min() < 0 or out.max() > 1)):
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
