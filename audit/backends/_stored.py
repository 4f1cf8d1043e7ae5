"""Stored predictions: audit a prediction log (scores or labels already computed) with no model to call.

``StoredPredictions(score="p")`` stands in for the model: its "predictions" are columns of the data
it is given, so performance, fairness, calibration and data quality run as for a live model, with
the same metric names and gates. Checks that must call the model on new rows (explanations,
attacks, saliency, gradients) are skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit.backends._base import ModelBackend
from audit.backends._scores import OutputKind, binary, one_hot
from audit.errors import AuditInputError


class StoredPredictions:
    """Predictions read from columns of the audited data instead of a model.

    Parameters
    ----------
    score : str or list of str, optional
        The positive-class probability column (binary), or one probability column per class, in
        the order of ``classes``.
    pred : str, optional
        The predicted-label column; used alone (hard labels: no calibration) or to check ``score``.
    prediction : str, optional
        A regression log's predicted-value column (one number per row): the audit is a regression audit.
    interval : (str, str), optional
        With ``prediction=``: the columns of the model's own lower and upper prediction bounds; the uncertainty
        check then measures their coverage per group (at the nominal level ``UncertaintyCheck(level=)`` states)
        instead of calibrating conformal intervals.
    classes : list, optional
        Class values in column order. Default: ``[0, 1]`` for one score column, else the sorted
        values seen in ``pred`` and the target.

    Examples
    --------
    >>> import pandas as pd
    >>> from audit import audit
    >>> log = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.1] * 10, "y": [1, 0, 0, 0] * 10, "g": ["a", "b"] * 20})
    >>> r = audit(StoredPredictions(score="p"), log, target="y", sensitive=["g"], checks=["performance"],
    ...           progress=False)
    >>> round(r.sections["performance"].metrics[0].value, 2)
    0.75
    """

    def __init__(self, score: str | Sequence[str] | None = None, *, pred: str | None = None,
                 classes: Sequence[Any] | None = None, prediction: str | None = None,
                 interval: Sequence[str] | None = None) -> None:
        if score is None and pred is None and prediction is None:
            raise AuditInputError("StoredPredictions needs score= (probability column(s)), pred= (label column) or "
                                  "prediction= (a regression log's predicted values)")
        if prediction is not None and (score is not None or pred is not None or classes is not None):
            raise AuditInputError("StoredPredictions: prediction= (a regression log) goes alone, without score=, "
                                  "pred= or classes=")
        self.score = [score] if isinstance(score, str) else (list(score) if score is not None else [])
        bad = [c for c in self.score if not isinstance(c, str)]
        if bad or any(c is not None and not isinstance(c, str) for c in (pred, prediction)):
            raise AuditInputError("StoredPredictions: score=, pred= and prediction= name columns (strings)")
        self.pred = pred
        self.prediction = prediction
        self.interval = None if interval is None else tuple(interval)
        if self.interval is not None and (prediction is None or len(self.interval) != 2
                                          or not all(isinstance(c, str) for c in self.interval)):
            raise AuditInputError("StoredPredictions: interval= names two columns, the lower and upper bounds, "
                                  "with prediction= (a regression log)")
        self.classes_ = np.asarray(classes) if classes is not None else (np.array([0, 1]) if len(self.score) == 1 else None)

    @property
    def columns(self) -> list[str]:
        if self.prediction is not None:
            return [self.prediction, *(self.interval or ())]
        return self.score if self.score else [self.pred]  # type: ignore[list-item]

    def __repr__(self) -> str:
        if self.prediction is not None:
            bounds = "" if self.interval is None else f", interval={self.interval!r}"
            return f"StoredPredictions(prediction={self.prediction!r}{bounds})"
        return f"StoredPredictions(score={self.score or None}, pred={self.pred!r})"


class StoredPredictionsBackend(ModelBackend):
    """The backend of :class:`StoredPredictions`: reads the score (or label) columns of the frame it is given."""

    kind = "stored predictions"
    isolate_input = False
    calls_model = False

    def __init__(self, model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> None:
        super().__init__(model, output=output, device=device)
        self._has_scores = bool(model.score)

    @classmethod
    def accepts(cls, model: Any) -> bool:
        # by name as well as by class: a module imported twice (doctests) must still be recognised
        return isinstance(model, StoredPredictions) or (type(model).__name__ == "StoredPredictions"
                                                        and hasattr(model, "columns") and hasattr(model, "score"))

    @property
    def name(self) -> str:
        return "stored predictions"

    @property
    def accepts_missing(self) -> bool | None:
        """True: no model reads the features (missing score cells are refused by :meth:`predict_proba`)."""
        return True

    @property
    def feature_names(self) -> list[str] | None:
        return self.model.columns

    @property
    def classes(self) -> np.ndarray | None:
        return self.model.classes_

    @property
    def task(self) -> str:
        return "regression" if getattr(self.model, "prediction", None) is not None else "classification"

    def predict_values(self, X: Any) -> np.ndarray:
        col = self.model.prediction
        if not isinstance(X, pd.DataFrame):
            raise AuditInputError("stored predictions are read from a DataFrame's columns; pass the log as a DataFrame")
        if col not in X.columns:
            raise AuditInputError(f"stored prediction column {col!r} not found; columns are {list(map(str, X.columns))}")
        values = pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return values

    @property
    def has_intervals(self) -> bool:
        return getattr(self.model, "interval", None) is not None

    def predict_interval(self, X: Any) -> np.ndarray:
        cols = list(self.model.interval or ())
        missing = [c for c in cols if not isinstance(X, pd.DataFrame) or c not in X.columns]
        if not cols or missing:
            raise AuditInputError(f"stored interval column(s) {missing or cols} not found; columns are "
                                  f"{list(map(str, getattr(X, 'columns', [])))}")
        return np.column_stack([pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                                for c in cols])

    @property
    def output_fix(self) -> str:
        return ("the score columns must hold each class's probability, summing to 1 in every row (for a binary log, "
                "name the positive class's column alone: StoredPredictions(score='p'))")

    def predict_proba(self, X: Any) -> np.ndarray:
        if not isinstance(X, pd.DataFrame):
            raise AuditInputError("stored predictions are read from a DataFrame's columns; pass the log as a DataFrame")
        m = self.model
        missing = [c for c in m.columns if c not in X.columns]
        if missing:
            raise AuditInputError(f"stored prediction column(s) {missing} not found; columns are {list(map(str, X.columns))}")
        if m.score:
            p = X[m.score].to_numpy(dtype=np.float64)
            if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
                raise AuditInputError(f"stored scores {m.score} must be probabilities in [0, 1] without missing values")
            return binary(p[:, 0]) if p.shape[1] == 1 else p
        labels = X[m.pred].to_numpy()
        if m.classes_ is None:
            raise AuditInputError("StoredPredictions(pred=...) needs classes=[...] (the class values, in a fixed order)")
        return one_hot(labels, m.classes_)
