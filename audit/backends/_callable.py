"""Plain callables ``f(X) -> scores or labels``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from audit.backends._base import ModelBackend
from audit.backends._device import as_numpy
from audit.backends._scores import OutputKind, scores_to_proba


class CallableBackend(ModelBackend):
    """A function returning probabilities, logits, a positive-class score or labels (``model_output`` says which
    when the guess is wrong). Whether it returns labels only is known after its first call."""

    kind = "callable"

    def __init__(self, model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> None:
        super().__init__(model, output=output, device=device)
        self._n_classes: int | None = None

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return callable(model)

    @property
    def name(self) -> str:
        return getattr(self.model, "__name__", "callable")

    @property
    def classes(self) -> np.ndarray | None:
        return None

    @property
    def task(self) -> None:
        """A function cannot say: ``task='regression'`` for one that predicts a number."""
        return None

    def predict_values(self, X: Any) -> np.ndarray:
        return as_numpy(self.model(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        proba, self._has_scores = scores_to_proba(as_numpy(self.model(X)), len(X), self.output, self._n_classes)
        self._n_classes = proba.shape[1]
        return proba
