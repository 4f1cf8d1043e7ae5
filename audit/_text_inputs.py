"""Text as a modality: which column holds the text, and whether a model takes raw strings.

A text audit keeps the data as a one-column frame of strings (``AuditData.X``), so rows, labels, sensitive
columns and metadata travel as for tabular data; the model is handed that column as a list of strings
(:meth:`audit.model.ModelAdapter.model_input`). The modality is ``modality="text"``, or detected when the model
says it reads raw text (a scikit-learn text vectorizer first in its pipeline) or the data is a list of strings.
Descriptive categorical columns ("existing credits paid back duly") contain spaces too, so the data alone never
makes a frame text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError

#: the column name a list of strings gets
TEXT_COLUMN = "text"


def reads_raw_text(model: Any) -> bool:
    """True for a model whose first step turns raw strings into features: a scikit-learn text vectorizer
    (``CountVectorizer``, ``TfidfVectorizer``, ``HashingVectorizer``: anything with ``build_analyzer``) alone or
    first in a ``Pipeline``.

    Examples
    --------
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> reads_raw_text(make_pipeline(TfidfVectorizer(), LogisticRegression())), reads_raw_text(LogisticRegression())
    (True, False)
    """
    steps = getattr(model, "steps", None)
    first = steps[0][1] if isinstance(steps, list) and steps else model
    return callable(getattr(first, "build_analyzer", None))


def is_text_array(values: Any) -> bool:
    """True for a 1-D list, array or Series of strings (a list of texts given as data)."""
    if isinstance(values, (pd.DataFrame, np.ndarray)) and getattr(values, "ndim", 1) != 1:
        return False
    if not isinstance(values, (list, tuple, np.ndarray, pd.Series)) or not len(values):
        return False
    return all(isinstance(v, str) for v in list(values[:50]))


def text_column(data: Any, features: Sequence[str] | None, exclude: Sequence[str]) -> str:
    """The column of ``data`` holding the text: the one ``features`` names, else the string column (not the target,
    a sensitive or a weight column) with the most words per row; an error naming ``features=`` otherwise."""
    if features is not None:
        if len(features) != 1:
            raise AuditInputError(f"a text audit reads one text column; features= names {len(features)} "
                                  f"({list(features)[:5]}): pass features=['<text column>']")
        return str(features[0])
    if not isinstance(data, pd.DataFrame):
        raise AuditInputError("a text audit needs a DataFrame with a text column, or a list of strings with labels "
                              "((texts, y))")
    words = {}
    for c in data.columns:
        if str(c) in exclude or pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            continue
        sample = data[c].dropna().head(1000)
        if len(sample) and all(isinstance(v, str) for v in sample):
            words[str(c)] = float(sample.str.split().str.len().mean())
    if not words:
        raise AuditInputError(f"no text column found in data (string columns other than the target and sensitive "
                              f"columns); columns are {list(map(str, data.columns))[:20]}: pass features=['<text column>']")
    return max(words, key=words.get)


def as_texts(X: pd.DataFrame) -> list[str]:
    """A one-column text frame as the list of strings a text model takes (missing texts as "")."""
    col = X.iloc[:, 0]
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in col.tolist()]


def tokenize(tokenizer: Any, texts: list[str]) -> Any:
    """``texts`` through a text model's tokenizer: a Hugging Face tokenizer is asked for padded, truncated torch
    tensors (a mapping: ``input_ids``, ``attention_mask``, ...); any other callable gets the list as it is.

    Examples
    --------
    >>> tokenize(lambda t: [len(s) for s in t], ["ab", "c"])
    [2, 1]
    """
    if callable(getattr(tokenizer, "batch_encode_plus", None)) or callable(getattr(tokenizer, "convert_tokens_to_ids", None)):
        return dict(tokenizer(texts, padding=True, truncation=True, return_tensors="pt"))
    return tokenizer(texts)
