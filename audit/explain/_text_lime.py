"""``text_lime``: LIME for text by word removal, equal to ``lime.lime_text.LimeTextExplainer``, with batched calls.

LIME: Ribeiro, Singh & Guestrin 2016, "Why Should I Trust You?", https://arxiv.org/abs/1602.04938.

lime's own explainer calls the model once per text; this one draws each text's samples from the same
``RandomState`` stream as lime (``randint`` for the number of removed words, then one ``choice`` per sample),
sends the samples of many texts to the model together, and fits the same weighted ridge surrogate, so the weights
equal lime's for the same ``random_state`` (up to the model's own batch-to-batch rounding).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances
from sklearn.utils import check_random_state

from audit.errors import AuditInputError
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
    row_seed,
    tokenize,
    word_rows,
)

#: lime's default kernel width for text (``LimeTextExplainer(kernel_width=25)``)
KERNEL_WIDTH = 25.0
FeatureSelection = Literal["auto", "none", "forward_selection", "highest_weights"]


def text_lime(
    predict_proba: PredictProba,
    texts: Sequence[str],
    *,
    class_index: int | Sequence[int] | None = None,
    num_features: int = 10,
    num_samples: int = 1000,
    seed: int = 0,
    batch_size: int = 512,
    bow: bool = True,
    feature_selection: FeatureSelection = "auto",
) -> TextAttribution:
    """LIME word weights for each text: the weighted ridge surrogate of the class probability on word presence.

    For each text, ``num_samples - 1`` copies with random words removed (a uniform number of distinct words, then
    which ones) plus the text itself go to the model; each sample is weighted by ``sqrt(exp(-d^2 / 25^2))`` with
    ``d`` 100 times the cosine distance of its word-presence vector to all-ones; ``feature_selection`` picks
    ``num_features`` words (lime's ``"auto"``: forward selection for up to 6, else the largest ridge weights), and
    ``Ridge(alpha=1)`` fitted on them gives the weights. All of this is lime's ``LimeTextExplainer`` with its
    defaults: the text at position ``i`` gets lime's ``random_state=zlib.crc32(f"{seed}:{i}".encode())``, so
    ``LimeTextExplainer(random_state=that, bow=bow).explain_instance(texts[i], predict_proba, labels=(c,),
    num_features=num_features, num_samples=num_samples)`` has the same weights. The samples of many texts go to
    the model together, in calls of at most ``batch_size`` texts.

    Parameters
    ----------
    predict_proba : callable
        List of n strings -> ``(n, n_classes)`` probabilities.
    texts : list of str
    class_index : int or list of int, optional
        Class explained, for all texts or one per text; default: each text's predicted class.
    num_features : int
        Words in each surrogate (the others get weight 0 and ``selected`` False).
    num_samples : int
        Samples per text, the text itself included.
    seed : int
    batch_size : int
        Texts per model call.
    bow : bool
        True: a word's occurrences are removed together and share one weight. False: each occurrence is its own
        feature, replaced by ``UNKWORDZ`` when removed (for models that read word order).
    feature_selection : {"auto", "none", "forward_selection", "highest_weights"}
        lime's feature selection; ``"none"`` weights every word.

    Returns
    -------
    TextAttribution
        ``method="lime"``; ``rows`` has the surrogate's ``base_value`` (intercept), ``score`` and
        ``local_prediction``.

    Examples
    --------
    >>> import numpy as np
    >>> from audit.explain import text_lime
    >>> f = lambda texts: np.array([[1 - ("good" in t) * 0.8, ("good" in t) * 0.8] for t in texts])
    >>> res = text_lime(f, ["a good film", "a good day"], class_index=1, num_samples=200)
    >>> res.for_row(0).sort_values("value")["word"].iloc[-1]
    'good'
    """
    t0 = time.perf_counter()
    texts = check_texts(texts)
    num_features = check_positive("num_features", num_features)
    num_samples = check_positive("num_samples", num_samples, least=2)
    if feature_selection not in ("auto", "none", "forward_selection", "highest_weights"):
        raise AuditInputError(f"feature_selection must be 'auto', 'none', 'forward_selection' or 'highest_weights', "
                              f"got {feature_selection!r}")
    model = Model(predict_proba, batch_size)
    wanted = class_indices(class_index, len(texts))
    toks = [tokenize(t, bow=bow) for t in texts]
    parts, rows, notes = [], [], []
    for group in model.groups([num_samples if tok.n_features else 1 for tok in toks]):
        samples = {i: _samples(toks[i], num_samples, row_seed(seed, i)) for i in group}
        outputs = model.run([[toks[i].text] + toks[i].keeping(samples[i][1:]) if toks[i].n_features
                             else [toks[i].text] for i in group])
        for i, y in zip(group, outputs):
            tok = toks[i]
            label = resolve_class(wanted[i], y[0])
            info: dict[str, Any] = {"row": i, "class_index": label, "prediction": float(y[0, label]),
                                    "n_words": len(tok.word_pieces), "n_features": tok.n_features,
                                    "estimator": "lime" if tok.n_features else "none", "n_evals": len(y),
                                    "additivity_error": np.nan}
            if not tok.n_features:
                info.update(base_value=np.nan, score=np.nan, local_prediction=np.nan)
                notes.append(f"text {i} has no words to remove; it has no attributions")
            else:
                coef, used, fit = _fit(samples[i], y[:, label], num_features, feature_selection)
                selected = np.zeros(tok.n_features, dtype=bool)
                selected[used] = True
                parts.append(word_rows(i, tok, coef, np.full(tok.n_features, np.nan), selected))
                info.update(fit)
            rows.append(info)
    words, table = assemble(parts, rows)
    return TextAttribution(
        words=words, rows=table, method="lime", n_model_calls=model.calls, n_model_texts=model.texts,
        settings={"num_features": num_features, "num_samples": num_samples, "seed": seed, "bow": bow,
                  "batch_size": model.batch_size, "feature_selection": feature_selection,
                  "kernel_width": KERNEL_WIDTH},
        notes=notes, seconds=time.perf_counter() - t0,
    )


def _samples(tok: Tokens, num_samples: int, random_state: int) -> np.ndarray:
    """lime's neighbourhood of a text: row 0 all ones, then rows with ``randint(1, d + 1)`` words off.

    The draws are lime's, call for call (``LimeTextExplainer.__data_labels_distances``), on the same stream.
    """
    d = tok.n_features
    data = np.ones((num_samples, d))
    if d == 0:
        return data
    rs = check_random_state(random_state)
    sizes = rs.randint(1, d + 1, num_samples - 1)
    for i, size in enumerate(sizes, start=1):
        # lime's rs.choice(range(d), size, replace=False), which is rs.permutation(d)[:size] without choice's
        # argument checks (they took half the time)
        data[i, rs.permutation(d)[:size]] = 0
    return data


def _fit(data: np.ndarray, y: np.ndarray, num_features: int,
         method: FeatureSelection) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """lime's ``LimeBase.explain_instance_with_data``: kernel weights, feature selection, ``Ridge(alpha=1)``."""
    distances = pairwise_distances(sp.csr_matrix(data), sp.csr_matrix(data)[0], metric="cosine").ravel() * 100
    weights = np.sqrt(np.exp(-(distances ** 2) / KERNEL_WIDTH ** 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Ridge(alpha=0) in forward selection warns; lime fits it all the same
        used = _select(data, y, weights, num_features, method)
        ridge = Ridge(alpha=1, fit_intercept=True).fit(data[:, used], y, sample_weight=weights)
        score = ridge.score(data[:, used], y, sample_weight=weights)
    coef = np.zeros(data.shape[1])
    coef[used] = ridge.coef_
    local = float(ridge.predict(data[0, used].reshape(1, -1))[0])
    return coef, used, {"base_value": float(ridge.intercept_), "score": float(score), "local_prediction": local}


def _select(data: np.ndarray, y: np.ndarray, weights: np.ndarray, k: int, method: FeatureSelection) -> np.ndarray:
    """lime's ``LimeBase.feature_selection`` for dense data (``lasso_path`` left out)."""
    if method == "auto":
        method = "forward_selection" if k <= 6 else "highest_weights"
    if method == "none":
        return np.arange(data.shape[1])
    if method == "highest_weights":
        coef = Ridge(alpha=0.01, fit_intercept=True).fit(data, y, sample_weight=weights).coef_
        ranked = sorted(zip(range(data.shape[1]), coef * data[0]), key=lambda x: np.abs(x[1]), reverse=True)
        return np.array([j for j, _ in ranked[:k]])
    used: list[int] = []
    clf = Ridge(alpha=0, fit_intercept=True)
    for _ in range(min(k, data.shape[1])):
        best, best_score = 0, -100000000.0  # lime's starting score and default feature
        for j in range(data.shape[1]):
            if j in used:
                continue
            cols = used + [j]
            score = clf.fit(data[:, cols], y, sample_weight=weights).score(data[:, cols], y, sample_weight=weights)
            if score > best_score:
                best, best_score = j, score
        used.append(best)
    return np.array(used)
