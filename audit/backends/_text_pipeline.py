"""A Hugging Face ``pipeline("text-classification")``: a callable on a list of strings that answers with labels and
scores, recognised by its attributes (``transformers`` is never imported here)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from audit.backends._base import ModelBackend
from audit.backends._scores import OutputKind
from audit.errors import AuditInputError

#: the pipeline tasks that classify a text
TEXT_TASKS = ("text-classification", "sentiment-analysis")


class TextPipelineBackend(ModelBackend):
    """Class probabilities of a text-classification pipeline: every label's score (``top_k=None``), in the order of
    the model's ``config.id2label``."""

    kind = "text pipeline"
    isolate_input = False
    reads_text = True

    def __init__(self, model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> None:
        super().__init__(model, output=output, device=device)
        id2label = model.model.config.id2label
        self._classes = np.array([id2label[i] for i in sorted(id2label)])

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return (callable(model) and getattr(model, "task", None) in TEXT_TASKS
                and getattr(getattr(getattr(model, "model", None), "config", None), "id2label", None) is not None)

    @property
    def name(self) -> str:
        return f"{type(self.model.model).__name__} pipeline"

    @property
    def classes(self) -> np.ndarray | None:
        return self._classes

    @property
    def task(self) -> str:
        return "classification"

    def predict_proba(self, X: Any) -> np.ndarray:
        texts = list(X)
        out = self.model(texts, top_k=None, truncation=True, batch_size=64)  # one text at a time by default: slow
        order = {str(label): i for i, label in enumerate(self._classes)}
        proba = np.zeros((len(texts), len(order)))
        for row, scores in enumerate(out):
            for item in scores if isinstance(scores, list) else [scores]:
                label = str(item["label"])
                if label not in order:
                    raise AuditInputError(f"the pipeline returned label {label!r}, which is not one of its model's "
                                          f"labels {list(order)}")
                proba[row, order[label]] = float(item["score"])
        return proba
