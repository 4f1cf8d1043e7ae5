"""``text_shap``: a Shapley value per word of a text, a word's absence being its removal from the string.

The game of a text is ``v(S) = f_c(text with only the words in S)``, ``f_c`` the model's probability of the
explained class and the words those of :func:`text_lime` (lime's tokenization; with ``bow=True`` a distinct word
and all its occurrences are one player). Its Shapley values add up to ``f_c(text) - f_c(text without words)``.

With at most :data:`TEXT_EXACT_MAX_WORDS` players every coalition is evaluated (``2^w`` texts) and the values are
exact. Above, each text gets antithetic pairs of random orders of its words (an order and its reverse; Mitchell et
al. 2022, https://jmlr.org/papers/v23/21-0439.html): walking an order from the empty text to the full one credits
each word with the change it causes; the average of a pair is one sample, pairs are independent, and the standard
error of a value is the standard deviation of its pair samples over ``sqrt(pairs)``. Every order's credits add up to
``f_c(text) - f_c(empty)``, so the estimate is additive too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit.explain._text import (
    Model,
    PredictProba,
    TextAttribution,
    Tokens,
    assemble,
    check_positive,
    check_texts,
    class_indices,
    resolve_class,
    tokenize,
    word_rows,
)

#: texts with at most this many players (distinct words with bow=True) get exact Shapley values (2^w evaluations)
TEXT_EXACT_MAX_WORDS = 10
#: default model evaluations per text for the permutation estimator
TEXT_MAX_EVALS = 2000


def text_shap(
    predict_proba: PredictProba,
    texts: Sequence[str],
    *,
    class_index: int | Sequence[int] | None = None,
    max_evals: int = TEXT_MAX_EVALS,
    seed: int = 0,
    batch_size: int = 512,
    bow: bool = True,
) -> TextAttribution:
    """Shapley values of the words of each text for the explained class's probability.

    A text with ``w <= 10`` players (distinct words) is explained exactly from its ``2^w`` coalitions. A longer
    text gets ``m = (max_evals - 2) // (2 (w - 1))`` antithetic pairs of random word orders (each pair costs
    ``2 (w - 1)`` texts, plus the full and the empty text once), and a standard error per value; a text too long for
    two pairs within ``max_evals`` still gets two (``4 (w - 1) + 2`` evaluations) and a note says so. Text ``i``
    draws its orders from ``numpy.random.default_rng([seed, i])``, so its values do not depend on the other texts.
    All texts' coalitions go to the model together, in calls of at most ``batch_size`` texts.

    Parameters
    ----------
    predict_proba : callable
        List of n strings -> ``(n, n_classes)`` probabilities.
    texts : list of str
    class_index : int or list of int, optional
        Class explained, for all texts or one per text; default: each text's predicted class.
    max_evals : int
        Model evaluations per text for the permutation estimator (exact texts take ``2^w <= 1024``).
    seed : int
    batch_size : int
        Texts per model call.
    bow : bool
        True: a word's occurrences are removed together (one player). False: each occurrence is a player,
        replaced by ``UNKWORDZ`` when removed.

    Returns
    -------
    TextAttribution
        ``method="shap"``; ``words.se`` is 0 for exact values; ``rows.estimator`` is ``"exact"`` or
        ``"permutation"``, ``rows.base_value`` the probability of the text without its words.

    Examples
    --------
    >>> import numpy as np
    >>> from audit.explain import text_shap
    >>> f = lambda texts: np.array([[1 - ("good" in t) * 0.8, ("good" in t) * 0.8] for t in texts])
    >>> res = text_shap(f, ["a good film"], class_index=1)
    >>> res.for_row(0).set_index("word")["value"].round(3).to_dict()
    {'a': 0.0, 'good': 0.8, 'film': 0.0}
    """
    t0 = time.perf_counter()
    texts = check_texts(texts)
    max_evals = check_positive("max_evals", max_evals, least=2)
    model = Model(predict_proba, batch_size)
    wanted = class_indices(class_index, len(texts))
    toks = [tokenize(t, bow=bow) for t in texts]
    parts, rows, notes = [], [], []
    for group in model.groups([_cost(tok.n_features, max_evals) for tok in toks]):
        plans = {i: _plan(toks[i], max_evals, np.random.default_rng([seed, i])) for i in group}
        outputs = model.run([toks[i].keeping(plans[i][0]) for i in group])
        for i, y in zip(group, outputs):
            label = resolve_class(wanted[i], y[-1])  # the last coalition is the full text
            info, part, note = _explain_one(i, toks[i], y[:, label], plans[i][1], max_evals)
            info["class_index"] = label
            rows.append(info)
            parts += [part] if part is not None else []
            notes += [note] if note else []
    words, table = assemble(parts, rows)
    return TextAttribution(
        words=words, rows=table, method="shap", n_model_calls=model.calls, n_model_texts=model.texts,
        settings={"max_evals": max_evals, "seed": seed, "bow": bow, "batch_size": model.batch_size,
                  "exact_max_words": TEXT_EXACT_MAX_WORDS},
        notes=notes, seconds=time.perf_counter() - t0,
    )


def _cost(w: int, max_evals: int) -> int:
    """Model evaluations for a text with ``w`` players (as :func:`_plan` draws them)."""
    if w <= TEXT_EXACT_MAX_WORDS:
        return 2 ** w
    return 2 + 2 * (w - 1) * max(2, (max_evals - 2) // (2 * (w - 1)))


def _explain_one(i: int, tok: Tokens, v: np.ndarray, orders: np.ndarray | None,
                 max_evals: int) -> tuple[dict[str, Any], pd.DataFrame | None, str]:
    """Text ``i``'s line of ``rows``, its word lines and a note, from its coalitions' values ``v``."""
    w = tok.n_features
    info: dict[str, Any] = {"row": i, "prediction": float(v[-1]), "base_value": float(v[0]),
                            "n_words": len(tok.word_pieces), "n_features": w, "n_evals": len(v),
                            "score": np.nan, "local_prediction": np.nan}
    if w == 0:
        info.update(estimator="none", additivity_error=np.nan)
        return info, None, f"text {i} has no words to remove; it has no attributions"
    note = ""
    if orders is None:
        phi, se, est = _exact(v, w), np.zeros(w), "exact"
    else:
        phi, se, est = (*_from_orders(v, orders), "permutation")
        if len(v) > max_evals:
            note = (f"text {i}: {w} words need {len(v)} evaluations for two antithetic pairs, more than "
                    f"max_evals={max_evals}")
    info.update(estimator=est, additivity_error=float(abs(phi.sum() - (v[-1] - v[0]))))
    return info, word_rows(i, tok, phi, se, np.ones(w, dtype=bool)), note


def _plan(tok: Tokens, max_evals: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """The coalitions to evaluate for a text, the empty one first and the full one last, and the orders walked
    (None for exact enumeration: coalition ``m`` holds player ``j`` when bit ``j`` of ``m`` is set)."""
    w = tok.n_features
    if w <= TEXT_EXACT_MAX_WORDS:
        codes = np.arange(2 ** w)
        return (codes[:, None] >> np.arange(w)[None, :]) & 1 == 1, None
    pairs = (_cost(w, max_evals) - 2) // (2 * (w - 1))
    forward = np.array([rng.permutation(w) for _ in range(pairs)])
    orders = np.concatenate([forward, forward[:, ::-1]])
    # prefix k of an order holds its first k players; k = 1 .. w-1 (the empty and full texts are shared)
    rank = np.empty_like(orders)
    rank[np.arange(len(orders))[:, None], orders] = np.arange(w)[None, :]
    masks = rank[:, None, :] < np.arange(1, w)[None, :, None]
    masks = masks.reshape(-1, w)
    return np.concatenate([np.zeros((1, w), bool), masks, np.ones((1, w), bool)]), orders


def _exact(v: np.ndarray, w: int) -> np.ndarray:
    """Shapley values from the values ``v`` of all ``2^w`` coalitions (indexed by bit mask)."""
    codes = np.arange(2 ** w)
    size = np.array([bin(c).count("1") for c in codes])
    weight = np.array([math.factorial(s) * math.factorial(w - s - 1) / math.factorial(w) if s < w else 0.0
                       for s in range(w + 1)])
    phi = np.zeros(w)
    for j in range(w):
        without = codes[(codes >> j) & 1 == 0]
        phi[j] = np.sum(weight[size[without]] * (v[without | (1 << j)] - v[without]))
    return phi


def _from_orders(v: np.ndarray, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values and standard errors from the walks of ``orders`` (forward half, then the reversed half)."""
    n_orders, w = orders.shape
    walk = np.empty((n_orders, w + 1))
    walk[:, 0], walk[:, w] = v[0], v[-1]
    walk[:, 1:w] = v[1:-1].reshape(n_orders, w - 1)
    credit = np.empty((n_orders, w))
    credit[np.arange(n_orders)[:, None], orders] = np.diff(walk, axis=1)
    half = n_orders // 2
    pair = (credit[:half] + credit[half:]) / 2
    return pair.mean(axis=0), pair.std(axis=0, ddof=1) / np.sqrt(half)
