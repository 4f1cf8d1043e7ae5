"""ONNX models through onnxruntime: an ``InferenceSession`` or a path to a ``.onnx`` file.

Two input layouts are understood: one numeric matrix input ``(n, d)`` (the data's feature columns
in order), or one input per column (skl2onnx's layout for pipelines with string columns), whose
names are then the model's feature names. The output used is the first float tensor of shape
``(n, k)`` or ``(n,)`` (probabilities, or a margin), a ZipMap sequence of dicts, or, failing those,
the label output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit.backends._base import ModelBackend, ModelFile, library_of
from audit.backends._device import as_numpy
from audit.backends._scores import OutputKind, one_hot, scores_to_proba
from audit.errors import AuditInputError

_NUMPY_OF = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
    "tensor(int32)": np.int32, "tensor(string)": object, "tensor(bool)": bool,
}


def load_onnx(path: str | Path) -> Any:
    """An onnxruntime CPU session for ``path``; a clear error without the ``onnx`` extra."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise AuditInputError(
            f"model {str(path)!r} is an ONNX file but onnxruntime is not installed; pip install 'audit[onnx]'"
        ) from exc
    if not Path(path).is_file():
        raise AuditInputError(f"model file {str(path)!r} not found")
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise AuditInputError(f"model file {str(path)!r} is not a valid ONNX model: {exc}") from exc


def _load_onnx_file(path: Path, *, trusted_types: frozenset[str] = frozenset()) -> Any:
    """:func:`load_onnx` as a :class:`ModelFile` loader: a graph of the runtime's own operators, no code."""
    return load_onnx(path)


class OnnxBackend(ModelBackend):
    """An ONNX classifier run by onnxruntime (on CPU: its output is the same on any machine)."""

    kind = "onnx"
    isolate_input = False
    file_formats = (ModelFile((".onnx",), _load_onnx_file, runs_code=False),)

    def __init__(self, model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> None:
        if isinstance(model, (str, Path)):
            model = load_onnx(model)
        super().__init__(model, output=output, device=device)
        self.inputs = model.get_inputs()
        outputs = model.get_outputs()
        self.score_output = next((o.name for o in outputs if o.type in ("tensor(float)", "tensor(double)")), None)
        self.zipmap_output = next((o.name for o in outputs if o.type.startswith("seq(map")), None)
        self.label_output = next((o.name for o in outputs if o.name not in (self.score_output, self.zipmap_output)), None)
        if output == "labels" or (self.score_output is None and self.zipmap_output is None):
            if self.label_output is None:
                raise AuditInputError("the ONNX model has no output the audit can read (scores or labels)")
            self._has_scores = False
        self.per_column = len(self.inputs) > 1
        self._classes: np.ndarray | None = None

    @classmethod
    def accepts(cls, model: Any) -> bool:
        if isinstance(model, (str, Path)):
            return str(model).lower().endswith(".onnx")
        return library_of(model) == "onnxruntime" and hasattr(model, "get_inputs")

    @property
    def name(self) -> str:
        try:
            meta = self.model.get_modelmeta()
            return meta.graph_name or "ONNX model"
        except Exception:  # noqa: BLE001
            return "ONNX model"

    @property
    def feature_names(self) -> list[str] | None:
        return [i.name for i in self.inputs] if self.per_column else None

    @property
    def n_features(self) -> int | None:
        if self.per_column:
            return len(self.inputs)
        shape = self.inputs[0].shape
        return int(shape[1]) if len(shape) == 2 and isinstance(shape[1], int) else None

    @property
    def classes(self) -> np.ndarray | None:
        return self._classes

    def _feed(self, X: Any) -> dict[str, np.ndarray]:
        if self.per_column:
            if not isinstance(X, pd.DataFrame):
                raise AuditInputError(
                    f"this ONNX model takes one input per column ({[i.name for i in self.inputs]}); pass a DataFrame"
                )
            feed = {}
            for i in self.inputs:
                col = X[i.name].to_numpy()
                dt = _NUMPY_OF.get(i.type, np.float32)
                feed[i.name] = (col.astype(str) if dt is object else col.astype(dt)).reshape(-1, 1)
            return feed
        first = self.inputs[0]
        if isinstance(X, list):  # a text audit's list of strings, shaped as the graph's string input
            arr = np.array(X, dtype=object)
            return {first.name: arr.reshape(-1, 1) if len(first.shape or []) == 2 else arr}
        arr = X.to_numpy(dtype=np.float64) if isinstance(X, pd.DataFrame) else as_numpy(X)
        return {first.name: arr.astype(_NUMPY_OF.get(first.type, np.float32))}

    @property
    def reads_text(self) -> bool:
        """A graph whose one input is a string tensor (a converted text pipeline: Tokenizer, TfIdfVectorizer)."""
        return len(self.inputs) == 1 and self.inputs[0].type == "tensor(string)"

    @property
    def task(self) -> str | None:
        """From the graph's outputs: a label output or a per-class score map, or scores of a fixed width of 2 or
        more, classify; one float column could be a probability, a logit or a value, so ``task=`` decides."""
        if self.label_output is not None or self.zipmap_output is not None:
            return "classification"
        shape = next((o.shape for o in self.model.get_outputs() if o.name == self.score_output), None)
        if shape is not None and len(shape) == 2 and isinstance(shape[1], int) and shape[1] >= 2:
            return "classification"
        return None

    def predict_values(self, X: Any) -> np.ndarray:
        if self.score_output is None:
            raise AuditInputError("the ONNX model has no float output to read predicted values from")
        return np.asarray(self.model.run([self.score_output], self._feed(X))[0])

    def predict_proba(self, X: Any) -> np.ndarray:
        names = [self.score_output or self.zipmap_output] if self._has_scores else [self.label_output]
        outs = self.model.run(names, self._feed(X))
        if not self._has_scores:
            labels = np.asarray(outs[0]).reshape(-1)
            if self._classes is None:
                self._classes = np.unique(labels)
            return one_hot(labels, self._classes)
        scores = outs[0]
        if names[0] == self.zipmap_output:  # a list of {class: probability} dicts
            keys = list(scores[0].keys()) if len(scores) else []
            self._classes = np.asarray(keys)
            return np.asarray([[row[k] for k in keys] for row in scores], dtype=np.float64)
        proba, _ = scores_to_proba(np.asarray(scores), len(X), self.output)
        return proba
