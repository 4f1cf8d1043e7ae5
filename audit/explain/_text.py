"""Shared parts of the text attribution engine: lime's word tokenization, batched model calls, the result type.

A text is cut into words exactly as ``lime.lime_text.IndexedString`` cuts it (``re.split`` on ``\\W+``, the
separators kept), so attributions from :func:`text_lime` and :func:`text_shap` name the same words as lime, and
removing a word means what it means in lime: all its occurrences are dropped from the string (``bow=True``), or
one occurrence is replaced by ``UNKWORDZ`` (``bow=False``, for models that read word order).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError, ModelCallError

PredictProba = Callable[[list[str]], np.ndarray]

#: lime's default ``split_expression``: words are the runs between non-word characters
SPLIT_EXPRESSION = r"\W+"
#: lime's replacement for a removed word when ``bow=False``
MASK_STRING = "UNKWORDZ"
#: texts gathered before one round of batched model calls (bounds memory; a multiple of batch_size)
GROUP_TEXTS = 65_536

TEXTS_NOT_LIST = "texts must be a list of strings, got {kind}; wrap one text in a list: [text]"
TEXTS_EMPTY = "texts is empty; pass at least one text"
TEXT_NOT_STR = "texts[{i}] is {kind}, not a string; pass str values (convert or drop missing texts first)"
BAD_PROBA = ("predict_proba returned {got} for a list of {n} texts; it must return an ({n}, n_classes) array of "
             "probabilities, one row per text")
CLASS_RANGE = "class_index must be class positions 0..{k_1} (one for all texts or one per text), got {got}"

_SPLITTER = re.compile(r"(%s)|$" % SPLIT_EXPRESSION)


@dataclass
class Tokens:
    """One text cut into lime's pieces (words and the separators between them) and features.

    A *feature* is what is removed together: a distinct word (``bow=True``) or one occurrence (``bow=False``).
    """

    text: str
    pieces: np.ndarray  # object array of the pieces, words and separators, whose concatenation is ``text``
    starts: np.ndarray  # character offset of each piece
    word_pieces: np.ndarray  # piece index of each word occurrence, in reading order
    word_feature: np.ndarray  # feature of each word occurrence
    features: list[str]  # the word of each feature
    bow: bool

    @property
    def n_features(self) -> int:
        return len(self.features)

    def keeping(self, keep: np.ndarray) -> list[str]:
        """The text with only the features where ``keep`` (``(m, n_features)`` bool) is true, per row of ``keep``."""
        keep = np.asarray(keep, dtype=bool)
        keep = keep[None, :] if keep.ndim == 1 else keep
        piece_keep = np.ones((len(keep), len(self.pieces)), dtype=bool)
        piece_keep[:, self.word_pieces] = keep[:, self.word_feature]
        if self.bow:
            return ["".join(self.pieces[row]) for row in piece_keep]
        out = []
        for row in piece_keep:
            p = self.pieces.copy()
            p[~row] = MASK_STRING
            out.append("".join(p))
        return out


def tokenize(text: str, bow: bool = True) -> Tokens:
    """Cut ``text`` as lime's ``IndexedString(text, split_expression=r'\\W+', bow=bow)`` does."""
    pieces = [s for s in _SPLITTER.split(text) if s]
    lengths = [len(p) for p in pieces]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if pieces else np.zeros(0, np.int64)
    vocab: dict[str, int] = {}
    features: list[str] = []
    word_pieces, word_feature = [], []
    for i, piece in enumerate(pieces):
        if _SPLITTER.match(piece):  # a run of separators
            continue
        if bow:
            if piece not in vocab:
                vocab[piece] = len(features)
                features.append(piece)
            word_feature.append(vocab[piece])
        else:
            word_feature.append(len(features))
            features.append(piece)
        word_pieces.append(i)
    arr = np.empty(len(pieces), dtype=object)
    arr[:] = pieces
    return Tokens(text, arr, starts, np.asarray(word_pieces, dtype=np.int64),
                  np.asarray(word_feature, dtype=np.int64), features, bow)


def check_texts(texts: Any) -> list[str]:
    """``texts`` as a list of str, or an :class:`AuditInputError` naming what is wrong."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, (Sequence, np.ndarray, pd.Series, pd.Index)):
        raise AuditInputError(TEXTS_NOT_LIST.format(kind=type(texts).__name__))
    out = list(texts)
    if not out:
        raise AuditInputError(TEXTS_EMPTY)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise AuditInputError(TEXT_NOT_STR.format(i=i, kind=type(t).__name__))
    return out


def check_positive(name: str, value: Any, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise AuditInputError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def row_seed(seed: int, row: int) -> int:
    """lime's ``random_state`` for the text at position ``row``: ``zlib.crc32(f"{seed}:{row}")`` (as in
    :func:`audit.explain.lime_explanations`), so a text's explanation does not depend on the other texts."""
    return int(zlib.crc32(f"{seed}:{row}".encode()))


class Model:
    """``predict_proba`` called on batches of at most ``batch_size`` texts, its outputs checked and counted."""

    group_texts = GROUP_TEXTS

    def __init__(self, predict_proba: PredictProba, batch_size: int) -> None:
        if not callable(predict_proba):
            raise AuditInputError(f"predict_proba must be a callable taking a list of strings, got "
                                  f"{type(predict_proba).__name__}")
        self.fn = predict_proba
        self.batch_size = check_positive("batch_size", batch_size)
        self.calls = 0
        self.texts = 0
        self.n_classes: int | None = None

    def __call__(self, strings: list[str]) -> np.ndarray:
        out = []
        for lo in range(0, len(strings), self.batch_size):
            chunk = strings[lo:lo + self.batch_size]
            try:
                raw = self.fn(chunk)
            except (AuditInputError, ModelCallError):
                raise
            except Exception as exc:  # the model's own failure, named as such
                raise ModelCallError(f"predict_proba raised {type(exc).__name__} on a batch of {len(chunk)} "
                                     f"texts: {exc}") from exc
            self.calls += 1
            self.texts += len(chunk)
            out.append(self._checked(raw, len(chunk)))
        return np.concatenate(out) if out else np.zeros((0, self.n_classes or 0))

    def _checked(self, raw: Any, n: int) -> np.ndarray:
        try:
            p = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise AuditInputError(BAD_PROBA.format(got=f"{type(raw).__name__} ({exc})", n=n)) from exc
        if p.ndim != 2 or p.shape[0] != n or p.shape[1] < 1:
            raise AuditInputError(BAD_PROBA.format(got=f"shape {p.shape}", n=n))
        if self.n_classes is not None and p.shape[1] != self.n_classes:
            raise AuditInputError(BAD_PROBA.format(got=f"{p.shape[1]} columns after {self.n_classes} earlier", n=n))
        if not np.isfinite(p).all():
            raise AuditInputError(BAD_PROBA.format(got=f"NaN or infinite values in {int((~np.isfinite(p)).sum())} "
                                                       "cells", n=n))
        self.n_classes = p.shape[1]
        return p

    def groups(self, sizes: Sequence[int]) -> Iterator[range]:
        """Consecutive texts whose ``sizes`` (evaluations each) add up to at most a memory-bounded group (at least
        one text each), so their queries are built, sent together, and dropped before the next group's."""
        cap = self.batch_size * max(1, self.group_texts // self.batch_size)
        i = 0
        while i < len(sizes):
            j, total = i, 0
            while j < len(sizes) and (j == i or total + sizes[j] <= cap):
                total += sizes[j]
                j += 1
            yield range(i, j)
            i = j

    def run(self, queries: list[list[str]]) -> list[np.ndarray]:
        """Outputs for each list of strings in ``queries``, all sent together in calls of ``batch_size``."""
        y = self([s for q in queries for s in q])
        bounds = np.cumsum([0] + [len(q) for q in queries])
        return [y[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def class_indices(class_index: Any, n: int) -> list[int | None]:
    """One class per text (``None``: the predicted class, decided once the outputs are known)."""
    if class_index is None:
        return [None] * n
    if np.isscalar(class_index):
        vals = [class_index] * n
    else:
        vals = list(class_index)
    if len(vals) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in vals):
        raise AuditInputError(f"class_index must be None, one class position or one per text ({n}), got "
                              f"{class_index!r}")
    return [int(v) for v in vals]


def resolve_class(wanted: int | None, own: np.ndarray) -> int:
    """The explained class for a text whose own output is ``own``: ``wanted``, or the predicted class."""
    if wanted is None:
        return int(np.argmax(own))
    if wanted >= len(own):
        raise AuditInputError(CLASS_RANGE.format(k_1=len(own) - 1, got=wanted))
    return wanted


def word_rows(row: int, tok: Tokens, value: np.ndarray, se: np.ndarray, selected: np.ndarray) -> pd.DataFrame:
    """The long table of one text: a line per word occurrence carrying its feature's value."""
    starts = tok.starts[tok.word_pieces] if len(tok.word_pieces) else np.zeros(0, np.int64)
    words = [str(tok.pieces[i]) for i in tok.word_pieces]
    return pd.DataFrame({
        "row": np.full(len(words), row, dtype=np.int64),
        "feature": tok.word_feature,
        "position": np.arange(len(words), dtype=np.int64),
        "word": pd.array(words, dtype=object),
        "start": starts,
        "end": starts + np.array([len(w) for w in words], dtype=np.int64),
        "value": np.asarray(value, dtype=np.float64)[tok.word_feature],
        "se": np.asarray(se, dtype=np.float64)[tok.word_feature],
        "selected": np.asarray(selected, dtype=bool)[tok.word_feature],
    })


WORD_COLUMNS = ["row", "feature", "position", "word", "start", "end", "value", "se", "selected"]
ROW_COLUMNS = ["class_index", "prediction", "base_value", "n_words", "n_features", "estimator", "n_evals",
               "additivity_error", "score", "local_prediction"]


@dataclass
class TextAttribution:
    """Word attributions for some texts, one explained class per text.

    Attributes
    ----------
    words : DataFrame
        One line per word occurrence: ``row`` (position of the text in ``texts``), ``feature`` (the attributed unit
        within the text: a distinct word when ``bow=True``, so repeated words share one feature and one value; one
        occurrence when ``bow=False``), ``position`` (the word's index among the text's words), ``word``, ``start``
        and ``end`` (character offsets: ``text[start:end] == word``, for highlighting), ``value`` (the attribution
        of the feature to the explained class's probability), ``se`` (its standard error: 0 for exact Shapley values,
        NaN for LIME) and ``selected`` (False for LIME features left out of the surrogate, whose value is 0).
    rows : DataFrame
        One line per text: ``class_index`` (explained class), ``prediction`` (the model's probability of that class
        on the text), ``base_value`` (Shapley: the probability with every word removed; LIME: the surrogate's
        intercept), ``n_words``, ``n_features``, ``estimator`` (``"lime"``, ``"exact"``, ``"permutation"``, or
        ``"none"`` for a text without words), ``n_evals`` (texts sent to the model for it), ``additivity_error``
        (Shapley: ``|sum(values) - (prediction - base_value)|``), and LIME's ``score`` (weighted R^2) and
        ``local_prediction``.
    method : {"lime", "shap"}
    n_model_calls : int
        Calls of ``predict_proba`` (each on at most ``batch_size`` texts).
    n_model_texts : int
        Texts sent to ``predict_proba`` in all.
    settings : dict
        The settings used (``num_samples``, ``max_evals``, ``seed``, ...).
    notes : list of str
    seconds : float
    """

    words: pd.DataFrame
    rows: pd.DataFrame
    method: str
    n_model_calls: int = 0
    n_model_texts: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def base_value(self) -> pd.Series:
        return self.rows["base_value"]

    @property
    def prediction(self) -> pd.Series:
        return self.rows["prediction"]

    @property
    def class_index(self) -> pd.Series:
        return self.rows["class_index"]

    def for_row(self, row: int) -> pd.DataFrame:
        """The word lines of text ``row``."""
        return self.words[self.words["row"] == row].reset_index(drop=True)

    def __repr__(self) -> str:
        return (f"TextAttribution(method={self.method!r}, texts={len(self.rows)}, words={len(self.words)}, "
                f"n_model_calls={self.n_model_calls}, n_model_texts={self.n_model_texts})")


def assemble(parts: list[pd.DataFrame], rows: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    words = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=WORD_COLUMNS)
    table = pd.DataFrame(rows).set_index("row")
    return words[WORD_COLUMNS], table[ROW_COLUMNS]


def top_words(attr: TextAttribution, *, k: int = 20, by_class: bool = True, lowercase: bool = False) -> pd.DataFrame:
    """The words with the largest mean absolute attribution over the explained texts.

    Each (text, feature) counts once (a word repeated in a text under ``bow=True`` is one feature with one value);
    LIME features left out of a text's surrogate (``selected`` False) are not counted.

    Parameters
    ----------
    attr : TextAttribution
    k : int
        Words kept per class (or in all with ``by_class=False``).
    by_class : bool
        One ranking per explained class (column ``class_index``), or one over every text.
    lowercase : bool
        Pool ``The`` and ``the``.

    Returns
    -------
    DataFrame
        ``[class_index,] word, count`` (attributions averaged), ``n_texts``, ``mean_abs``, ``mean``, sorted by
        ``mean_abs`` descending within each class.

    Examples
    --------
    >>> import numpy as np
    >>> from audit.explain import text_shap, top_words
    >>> f = lambda texts: np.array([[1 - ("good" in t) * 0.8, ("good" in t) * 0.8] for t in texts])
    >>> top_words(text_shap(f, ["good film", "a good day"], class_index=1), k=1)["word"].tolist()
    ['good']
    """
    k = check_positive("k", k)
    w = attr.words[attr.words["selected"]].drop_duplicates(["row", "feature"])
    w = w.assign(class_index=attr.rows["class_index"].reindex(w["row"]).to_numpy(),
                 word=w["word"].str.lower() if lowercase else w["word"], abs=w["value"].abs())
    keys = ["class_index", "word"] if by_class else ["word"]
    g = w.groupby(keys, sort=False).agg(count=("value", "size"), n_texts=("row", "nunique"),
                                        mean_abs=("abs", "mean"), mean=("value", "mean")).reset_index()
    g = g.sort_values((["class_index"] if by_class else []) + ["mean_abs", "word"],
                      ascending=([True] if by_class else []) + [False, True], kind="stable")
    g = g.groupby("class_index", sort=False).head(k) if by_class else g.head(k)
    return g.reset_index(drop=True)
