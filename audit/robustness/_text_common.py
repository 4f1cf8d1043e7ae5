"""What the text robustness engines share: checked inputs, words of a text, the synonym list, batched model calls.

A text is split into alternating separators and words (:func:`split_words`): a word is a run of ASCII letters
with an optional apostrophe part (``don't``), everything else (spaces, digits, punctuation) is a separator, so
``"".join(pieces)`` gives the text back exactly and a word can be replaced or deleted without touching the rest.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from statistics import NormalDist

import numpy as np
import pandas as pd

from audit.errors import AuditInputError, ModelCallError
from audit.stats import wilson_interval

PredictProba = Callable[[list[str]], np.ndarray]

_WORD = re.compile(r"([A-Za-z]+(?:'[A-Za-z]+)?)")
_SYNONYMS: dict[str, tuple[str, ...]] | None = None


def split_words(text: str) -> list[str]:
    """``[sep, word, sep, word, ..., sep]``: words at the odd positions, ``"".join`` gives ``text`` back.

    Examples
    --------
    >>> split_words("It's a good film!")
    ['', "It's", ' ', 'a', ' ', 'good', ' ', 'film', '!']
    """
    return _WORD.split(text)


def match_case(word: str, replacement: str) -> str:
    """``replacement`` written in the case pattern of ``word`` (``GOOD`` -> ``FINE``, ``Good`` -> ``Fine``).

    Examples
    --------
    >>> match_case("GOOD", "fine"), match_case("Good", "fine"), match_case("good", "fine")
    ('FINE', 'Fine', 'fine')
    """
    if len(word) > 1 and word.isupper():
        return replacement.upper()
    if word[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def load_synonyms(synonyms: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """The synonym list: ``synonyms`` checked and lower-cased, or the bundled one (``audit/datasets/data/synonyms.json``).

    The bundled list is ours: 360 common English words (adjectives, adverbs, verbs, nouns, a few legal terms)
    with four single-word synonyms each, written by hand, no download. Single words only, so a substitution
    changes exactly one word.

    Examples
    --------
    >>> load_synonyms()["good"]
    ('fine', 'nice', 'great', 'decent')
    >>> load_synonyms({"Film": ["movie"]})
    {'film': ('movie',)}
    """
    global _SYNONYMS
    if synonyms is None:
        if _SYNONYMS is None:
            raw = json.loads(resources.files("audit.datasets").joinpath("data", "synonyms.json").read_text("utf-8"))
            _SYNONYMS = {k: tuple(v) for k, v in raw.items()}
        return dict(_SYNONYMS)
    if not isinstance(synonyms, Mapping):
        raise AuditInputError(f"synonyms must be a mapping word -> list of synonyms; got {type(synonyms).__name__}")
    out: dict[str, tuple[str, ...]] = {}
    for word, subs in synonyms.items():
        if not isinstance(word, str) or isinstance(subs, str) or not all(isinstance(s, str) for s in subs):
            raise AuditInputError(f"synonyms must map a word (str) to a list of words (str); entry {word!r}: {subs!r}")
        key = word.lower()
        out[key] = tuple(dict.fromkeys(s for s in (*out.get(key, ()), *subs) if s and s.lower() != key))
    return out


def check_texts(texts: object, arg: str = "texts") -> list[str]:
    """``texts`` as a list of str, or an :class:`AuditInputError` naming the first entry that is not a string."""
    if isinstance(texts, str):
        raise AuditInputError(f"{arg} is one string; pass a list of texts, e.g. [{texts[:20]!r}]")
    try:
        out = list(texts)  # type: ignore[call-overload]
    except TypeError:
        raise AuditInputError(f"{arg} must be a list of strings; got {type(texts).__name__}") from None
    if not out:
        raise AuditInputError(f"{arg} is empty (0 rows); pass at least one text")
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise AuditInputError(f"{arg}[{i}] is {t!r} ({type(t).__name__}), not a string; fill or drop missing texts "
                                  "(e.g. series.fillna('')) before the check")
    return out


def check_labels(y: object, n: int, n_classes: int) -> np.ndarray:
    """``y`` as class indices (the column of ``predict_proba`` of each row's true class), checked."""
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n:
        raise AuditInputError(f"y has shape {arr.shape}; pass one label per text ({n})")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.all(arr == np.round(arr))):
        raise AuditInputError("y must hold class indices (integers: the column of predict_proba of the true class); map "
                              "labels with np.searchsorted(model.classes_, y)")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n_classes:
        raise AuditInputError(f"y holds class indices from {arr.min()} to {arr.max()} but predict_proba returns "
                              f"{n_classes} columns; pass indices in 0..{n_classes - 1}")
    return arr


def check_groups(groups: pd.DataFrame | None, n: int) -> pd.DataFrame | None:
    """``groups`` as a frame of ``n`` rows (a Series becomes one column), or an :class:`AuditInputError`."""
    if groups is None:
        return None
    if isinstance(groups, pd.Series):
        groups = groups.to_frame(name=str(groups.name) if groups.name is not None else "group")
    if not isinstance(groups, pd.DataFrame):
        raise AuditInputError(f"groups must be a DataFrame with one column per sensitive attribute; got "
                              f"{type(groups).__name__}")
    if len(groups) != n:
        raise AuditInputError(f"groups has {len(groups)} rows but texts has {n}; pass one row per text")
    return groups.reset_index(drop=True)


def z_value(confidence: float) -> float:
    """The two-sided normal critical value of ``confidence`` (1.96 at 0.95), checked."""
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


class Predictor:
    """``predict_proba`` called in batches of ``batch_size`` texts, its output checked, calls and texts counted."""

    def __init__(self, predict_proba: PredictProba, batch_size: int) -> None:
        if not callable(predict_proba):
            raise AuditInputError(f"predict_proba must be callable (list of texts -> (n, n_classes) probabilities); got "
                                  f"{type(predict_proba).__name__}")
        if int(batch_size) < 1:
            raise AuditInputError(f"batch_size must be at least 1; got {batch_size}")
        self.fn, self.batch_size = predict_proba, int(batch_size)
        self.calls = 0
        self.texts = 0
        self.n_classes: int | None = None

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Probabilities of ``texts``, shape ``(len(texts), n_classes)``."""
        parts = []
        for a in range(0, len(texts), self.batch_size):
            chunk = texts[a:a + self.batch_size]
            try:
                p = self.fn(chunk)
            except Exception as exc:
                raise ModelCallError(f"predict_proba raised {type(exc).__name__} on a batch of {len(chunk)} texts: "
                                     f"{exc}") from exc
            parts.append(self._check(np.asarray(p, dtype=np.float64), len(chunk)))
            self.calls += 1
            self.texts += len(chunk)
        if not parts:
            return np.zeros((0, self.n_classes or 2))
        return np.concatenate(parts)

    def _check(self, p: np.ndarray, n: int) -> np.ndarray:
        if p.ndim == 1 and len(p) == n:  # one positive-class score per text
            p = np.column_stack([1 - p, p])
        if p.ndim != 2 or p.shape[0] != n or p.shape[1] < 2:
            raise ModelCallError(f"predict_proba returned shape {p.shape} for {n} texts; expected ({n}, n_classes)")
        if not np.isfinite(p).all():
            raise ModelCallError(f"predict_proba returned NaN or infinite values for {n} texts")
        if self.n_classes is None:
            self.n_classes = p.shape[1]
        elif p.shape[1] != self.n_classes:
            raise ModelCallError(f"predict_proba returned {p.shape[1]} columns, earlier {self.n_classes}")
        return p


def wilson_columns(k: int, n: int, z: float) -> tuple[float, float, float]:
    """``(k / n, low, high)`` with Wilson's interval, NaN for ``n = 0``."""
    lo, hi = wilson_interval(k, n, z)
    return (k / n if n else math.nan), lo, hi
