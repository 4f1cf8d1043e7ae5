"""The model and the data of an in-memory audit, wrapped, loaded and checked against each other before any
prediction: every mismatch is an :class:`~audit.errors.AuditInputError` naming the argument and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from audit._api._record import set_stage
from audit._text_inputs import is_text_array, reads_raw_text, text_column
from audit.context import AuditOptions
from audit.data import AuditData, load_data
from audit.errors import AuditInputError
from audit.model import ModelAdapter, OutputKind


def checked_seed(seed: Any) -> int:
    """``seed`` as an int; anything but a non-negative integer is refused (a bool too)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AuditInputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def load_inputs(model: Any, data: Any, train: Any, options: AuditOptions, *, target: str | None, sensitive: Any,
                features: Sequence[str] | None, modality: Literal["tabular", "image", "text"] | None, model_output: OutputKind,
                transform: Any, device: str | torch.device, sample_weight: Any,
                task: str = "auto", tokenizer: Any = None) -> tuple[ModelAdapter, AuditData, AuditData | None]:
    """The wrapped model, the loaded data and training data (None without ``train``), checked against each other:
    the model's columns and width, the target apart from the sensitive columns, the same columns in train and
    data, and ``options.immutable`` naming data columns."""
    if transform is None and isinstance(model, torch.nn.Module) and callable(getattr(model, "transform", None)):
        transform = model.transform  # a module that carries its own DataFrame encoder
    set_stage("wrapping the model")
    adapter = ModelAdapter(model, transform=transform, output=model_output, device=device, task=task, tokenizer=tokenizer)
    if modality is None and tokenizer is not None:
        modality = "text"
    reads_text = reads_raw_text(adapter.model) or getattr(adapter.backend, "reads_text", False)
    if modality is None and (reads_text or is_text_array(_first(data))):
        modality = "text"  # the model reads raw strings, or the data is a list of them
    if modality == "text" and not is_text_array(_first(data)):
        exclude = [str(target), *(sensitive if isinstance(sensitive, (list, tuple)) else [sensitive]),
                   *([sample_weight] if isinstance(sample_weight, str) else [])]
        feats = [text_column(data, column_names(features, "features") if features is not None else None,
                             [str(e) for e in exclude if isinstance(e, str)])]
    else:
        feats = column_names(features, "features") if features is not None else _model_columns(adapter, data, target)
    data_ = load_data(data, target=target, sensitive=sensitive, features=feats, modality=modality, arg="data",
                      sample_weight=sample_weight, model=adapter)
    if target is not None and target in data_.sensitive.columns:
        raise AuditInputError(f"column {target!r} is both the target and a sensitive column; the label cannot be a "
                              "group attribute: pick a different sensitive column")
    _check_width(adapter, data_, features)
    train_: AuditData | None = None
    if train is not None:
        train_ = load_data(
            train, target=target, sensitive=_sensitive_for_train(sensitive, train), features=feats,
            modality=data_.modality, arg="train", model=adapter,
        )
    labels = {**(train_.column_labels if train_ is not None else {}), **data_.column_labels}
    if labels and adapter.feature_names_in is None:  # a model that recorded string names takes the strings
        adapter.use_column_labels(labels)
    if train_ is not None:
        if data_.modality == "tabular" and list(train_.X.columns) != list(data_.X.columns):
            raise AuditInputError(
                f"train has feature columns {list(train_.X.columns)} but data has {list(data_.X.columns)}; "
                "pass train and data with the same columns"
            )
    _check_immutable(list(options.immutable), data_)
    adapter.text_input = data_.modality == "text"
    return adapter, data_, train_


def _first(data: Any) -> Any:
    """The features part of an ``(X, y)`` pair; ``data`` itself otherwise."""
    return data[0] if isinstance(data, tuple) and len(data) == 2 else data


def _check_immutable(immutable: list[str], data: AuditData) -> None:
    """Every column attacks must not change is a column of tabular data."""
    if data.modality == "tabular":
        unknown = [c for c in immutable if c not in data.X.columns]
        if unknown:
            raise AuditInputError(f"immutable column {unknown[0]!r} not found in data; columns are {list(data.X.columns)}")


def _sensitive_for_train(sensitive: Any, train: Any) -> Any:
    """Train data gets the same sensitive columns when they were given by name."""
    if sensitive is None:
        return None
    items = [sensitive] if isinstance(sensitive, str) else list(sensitive) if isinstance(sensitive, (list, tuple)) else []
    names = [s for s in items if isinstance(s, str)]
    if hasattr(train, "columns"):
        return [n for n in names if n in train.columns] or None
    return None


def column_names(value: Any, arg: str) -> list[str]:
    """A list of column names; a bare string or a non-sequence is refused (it would split into characters)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not hasattr(value, "__iter__"):
        raise AuditInputError(f"{arg} must be a list of column names, e.g. {arg}=[{value!r}]; got {type(value).__name__}")
    out = list(value)
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise AuditInputError(f"{arg} must hold column names (strings); got {bad[0]!r}")
    return out


def _model_columns(adapter: ModelAdapter, data: Any, target: str | None) -> list[str] | None:
    """The data columns the model takes, from the transform or the model's own record; checked against the data."""
    names = adapter.feature_names_in
    if names is None or not hasattr(data, "columns"):
        return names
    columns = [str(c) for c in data.columns]
    missing = [c for c in names if c not in columns]
    if missing:
        source = "its transform takes" if adapter.transform is not None else "the model was fitted on"
        raise AuditInputError(
            f"data lacks column(s) {missing[:5]} that {source} ({len(names)} columns: {names[:8]}"
            f"{'...' if len(names) > 8 else ''}); data columns are {columns[:20]}. Rename the data's columns to match, "
            "or pass features=[...] naming the data columns the model takes, in order"
        )
    if target is not None and target in names:
        raise AuditInputError(f"target column {target!r} is one of the model's input features {names}; check target=")
    return names


def _check_width(adapter: ModelAdapter, data: AuditData, features: Any) -> None:
    """A model that records how many inputs it takes must get that many columns (before any prediction)."""
    if data.modality != "tabular" or adapter.transform is not None:
        return
    n = adapter.backend.n_features
    got = len(data.feature_names)
    if n is not None and n != got:
        how = "features=" if features is not None else "all columns but the target"
        raise AuditInputError(
            f"the model takes {n} input features but data gives {got} ({how}: {data.feature_names[:12]}"
            f"{'...' if got > 12 else ''}); pass features=[...] naming the {n} columns the model takes, in order"
        )
