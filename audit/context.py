"""AuditContext: the model, the data and everything computed once and shared by checks."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from audit.data import AuditData
from audit.errors import AuditInputError
from audit.model import ModelAdapter


@dataclass
class AuditContext:
    """Shared state for one audit run.

    Predictions on ``data`` (and ``train``) are computed on first use and cached, so no check
    re-runs the model on the full data for something another check already has.

    Attributes
    ----------
    model : ModelAdapter
    data : AuditData
        The evaluation data.
    train : AuditData or None
        Optional training data (overfitting, drift, leakage checks).
    seed : int
        Base seed; :meth:`rng` derives an independent, reproducible stream per check.
    options : dict
        Audit-wide options: ``immutable`` (columns attacks must not change), ``min_group_size``,
        ``positive_class`` and similar.
    """

    model: ModelAdapter
    data: AuditData
    train: AuditData | None = None
    seed: int = 0
    progress: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.model.device

    # --------------------------------------------------------------- seeding
    def rng(self, salt: str) -> np.random.Generator:
        """A numpy generator seeded from ``seed`` and ``salt`` (a check's name): independent of check order."""
        return np.random.default_rng([self.seed, zlib.crc32(salt.encode())])

    def torch_seed(self, salt: str) -> int:
        """A torch seed derived like :meth:`rng`; use with ``torch.Generator().manual_seed``."""
        return int(self.rng(salt).integers(0, 2**31 - 1))

    # ----------------------------------------------------------- predictions
    @cached_property
    def proba(self) -> np.ndarray:
        """Class probabilities on ``data``, ``(n, n_classes)``; computed once."""
        return self.model.predict_proba(self.data.X, what="data")

    @cached_property
    def train_proba(self) -> np.ndarray | None:
        """Class probabilities on ``train`` or None; computed once."""
        if self.train is None:
            return None
        return self.model.predict_proba(self.train.X, what="train")

    @cached_property
    def classes(self) -> np.ndarray:
        """Class values, in the order of ``proba`` columns."""
        if self.model.classes is not None:
            return self.model.classes
        k = self.proba.shape[1]
        if self.data.y is not None:
            uniq = np.unique(self.data.y)
            if len(uniq) == k and not np.issubdtype(uniq.dtype, np.number):
                return uniq
        return np.arange(k)

    @property
    def n_classes(self) -> int:
        return int(self.proba.shape[1])

    @property
    def is_binary(self) -> bool:
        return self.n_classes == 2

    def _encode(self, y: np.ndarray | None, what: str) -> np.ndarray | None:
        if y is None:
            return None
        classes = self.classes
        lookup = {c: i for i, c in enumerate(classes.tolist())}
        try:
            return np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=len(y))
        except KeyError as exc:
            raise AuditInputError(
                f"{what} labels contain {exc.args[0]!r}, which is not one of the model's classes {classes.tolist()}; "
                "encode labels like the model's output columns"
            ) from None

    @cached_property
    def y(self) -> np.ndarray | None:
        """Labels of ``data`` as class indices (columns of ``proba``), or None without labels."""
        return self._encode(self.data.y, "data")

    @cached_property
    def train_y(self) -> np.ndarray | None:
        return None if self.train is None else self._encode(self.train.y, "train")

    @cached_property
    def pred(self) -> np.ndarray:
        """Predicted class index on ``data``."""
        return self.proba.argmax(axis=1)

    @cached_property
    def train_pred(self) -> np.ndarray | None:
        return None if self.train_proba is None else self.train_proba.argmax(axis=1)

    @cached_property
    def x_tensor(self) -> torch.Tensor:
        """Model-input tensor of ``data`` on the device (torch models only); computed once."""
        return self.model.to_tensor(self.data.X)

    def fingerprint(self) -> str:
        """Short hash of the data and seed, shown in the report to identify a run."""
        h = hashlib.sha256(str(self.seed).encode())
        X = self.data.X
        if isinstance(X, torch.Tensor):
            h.update(X.numpy().tobytes()[:10_000_000])
        else:
            h.update(str(X.shape).encode())
            h.update(np.ascontiguousarray(X.head(2000).to_numpy(dtype=str)).tobytes())
        return h.hexdigest()[:12]
