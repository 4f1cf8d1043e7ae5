"""Counterfactual identity-term swaps: does a text classifier's score move when "she" becomes "he"?

For every family of identity terms (gender, religion, ...) and every ordered pair of its groups ``(A, B)``, each
text that mentions ``A`` (a term of ``A`` as a whole word, any case) is rewritten with every such term replaced by
its counterpart in ``B`` (the pairing rule: ``A``'s ``i``-th term becomes ``B``'s ``(i mod len(B))``-th term; the
case of the first letter is kept, and all capitals). The model scores the originals and the variants, and per
``(family, from_group, to_group)`` we report the mean score change (variant minus original) with a bootstrap
percentile interval over texts, the mean absolute change (likewise), and the decision flip rate (the decision is
``score > threshold``, as scikit-learn's ``predict`` decides at 0.5; a flip is a change of decision) with a Wilson
interval. Per family, the largest mean absolute change and the largest flip rate over its pairs are the gaps a
gate reads (Garg et al., 2019, "Counterfactual Fairness in Text Classification through Robustness",
https://arxiv.org/abs/1809.10610, call the absolute change the counterfactual token fairness gap).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from audit._batching import run_batched
from audit.errors import AuditInputError
from audit.fairness._identity_terms import (
    check_terms,
    check_texts,
    default_identity_terms,
    group_pattern,
    swap_terms,
)
from audit.stats import percentile_interval, wilson_interval

#: the gaps per family a gate reads
SWAP_METRICS = ("max_abs_score_change", "max_flip_rate")
#: at most this many resampled values drawn at once (texts x resamples)
BOOT_BLOCK = 2_000_000
BAD_OUTPUT = ("predict_proba returned {got} for {n} texts; it must return ({n}, n_classes) probabilities (or ({n},) "
              "scores) that are finite")
BAD_CLASS = "positive_class={k} is not a column of predict_proba's output ({width} columns); pass a column index"
_PAIR_COLUMNS = ["n_texts", "mean_change", "change_low", "change_high", "mean_abs_change", "abs_change_low",
                 "abs_change_high", "flips", "flip_rate", "flip_low", "flip_high"]
_FAMILY_COLUMNS = ["max_abs_score_change", "abs_change_low", "abs_change_high", "abs_from", "abs_to",
                   "max_flip_rate", "flip_low", "flip_high", "flip_from", "flip_to", "n_texts", "n_pairs"]


@dataclass
class SwapResult:
    """Score changes and decision flips when identity terms are swapped between groups.

    Attributes
    ----------
    pairs : DataFrame
        Index ``(family, from_group, to_group)``: ``n_texts`` (texts mentioning ``from_group``), ``mean_change``
        with ``change_low`` / ``change_high``, ``mean_abs_change`` with ``abs_change_low`` / ``abs_change_high``
        (bootstrap percentile intervals over texts), ``flips``, ``flip_rate`` with ``flip_low`` / ``flip_high``
        (Wilson).
    families : DataFrame
        Index ``family``: ``max_abs_score_change`` (the largest ``mean_abs_change`` over the family's pairs, with
        its interval and pair in ``abs_from`` / ``abs_to``), ``max_flip_rate`` (likewise, ``flip_from`` /
        ``flip_to``), ``n_texts`` (texts mentioning any of the family's groups), ``n_pairs``.
    variants : DataFrame
        One row per swapped text: ``family``, ``from_group``, ``to_group``, ``row`` (position in ``texts``),
        ``text``, ``swapped``, ``score``, ``swapped_score``, ``change``, ``flip``.
    notes : list of str
    n_texts : int
        Texts that mention any group (after ``max_texts``).
    n_calls, n_queries : int
        Calls to ``predict_proba`` and distinct texts it scored.
    threshold, confidence : float
    positive_class, n_boot : int
    """

    pairs: pd.DataFrame
    families: pd.DataFrame
    variants: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    n_texts: int = 0
    n_calls: int = 0
    n_queries: int = 0
    threshold: float = 0.5
    confidence: float = 0.95
    positive_class: int = 1
    n_boot: int = 0


def _scores(predict_proba: Callable, queries: list[str], positive_class: int, batch_size: int) -> tuple[np.ndarray, int]:
    """The positive-class score of every query, ``batch_size`` texts per call; and the number of calls."""

    def call(a: int, b: int) -> np.ndarray:
        out = np.asarray(predict_proba(queries[a:b]), dtype=np.float64)
        n = b - a
        if out.ndim not in (1, 2) or out.shape[0] != n or not np.isfinite(out).all():
            raise AuditInputError(BAD_OUTPUT.format(got=f"shape {out.shape}" if np.isfinite(out).all()
                                                    else "non-finite values", n=n))
        if out.ndim == 1:
            return out
        if not -out.shape[1] <= positive_class < out.shape[1]:
            raise AuditInputError(BAD_CLASS.format(k=positive_class, width=out.shape[1]))
        return out[:, positive_class]

    parts, _ = run_batched(call, len(queries), batch_size)
    return (np.concatenate(parts) if parts else np.empty(0)), len(parts)


def _boot_means(values: np.ndarray, n_boot: int, rng: np.random.Generator, confidence: float) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` over ``n_boot`` resamples of its rows."""
    n = len(values)
    if not n_boot or not n:
        return math.nan, math.nan
    step = max(1, BOOT_BLOCK // n)
    means = np.concatenate([values[rng.integers(0, n, (min(step, n_boot - s), n))].mean(axis=1)
                            for s in range(0, n_boot, step)])
    lo, hi = percentile_interval(means, confidence)
    return float(lo), float(hi)


def _pair_row(change: np.ndarray, flip: np.ndarray, n_boot: int, rng: np.random.Generator,
              confidence: float, z: float) -> dict[str, float]:
    k, n = int(flip.sum()), len(flip)
    lo, hi = _boot_means(change, n_boot, rng, confidence)
    alo, ahi = _boot_means(np.abs(change), n_boot, rng, confidence)
    flo, fhi = wilson_interval(k, n, z)
    return {"n_texts": n, "mean_change": float(change.mean()), "change_low": lo, "change_high": hi,
            "mean_abs_change": float(np.abs(change).mean()), "abs_change_low": alo, "abs_change_high": ahi,
            "flips": k, "flip_rate": k / n, "flip_low": flo, "flip_high": fhi}


def _families(pairs: pd.DataFrame, reach: dict[str, int], spec: Mapping) -> pd.DataFrame:
    rows = {}
    for family in spec:
        if family not in pairs.index.get_level_values(0):
            continue
        p = pairs.loc[family]
        a, f = p["mean_abs_change"].idxmax(), p["flip_rate"].idxmax()
        rows[family] = {"max_abs_score_change": p.loc[a, "mean_abs_change"], "abs_change_low": p.loc[a, "abs_change_low"],
                        "abs_change_high": p.loc[a, "abs_change_high"], "abs_from": a[0], "abs_to": a[1],
                        "max_flip_rate": p.loc[f, "flip_rate"], "flip_low": p.loc[f, "flip_low"],
                        "flip_high": p.loc[f, "flip_high"], "flip_from": f[0], "flip_to": f[1],
                        "n_texts": reach[family], "n_pairs": len(p)}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=_FAMILY_COLUMNS)
    out.index.name = "family"
    return out


def _plan(rows: list[str], spec: Mapping, max_texts: int | None, rng: np.random.Generator,
          notes: list[str]) -> tuple[list[tuple[str, str, str, int, str]], dict[str, int], int]:
    """Every (family, from, to, row, swapped text) to score, the texts each family reaches, and the texts used."""
    found = {(f, g): np.array([group_pattern(w).search(t) is not None for t in rows], dtype=bool)
             for f, groups in spec.items() for g, w in groups.items()}
    any_group = np.zeros(len(rows), dtype=bool)
    for m in found.values():
        any_group |= m
    used = np.flatnonzero(any_group)
    if max_texts is not None and len(used) > max_texts:
        notes.append(f"{len(used):,} texts mention an identity group; swaps on a seeded sample of {max_texts:,}.")
        used = np.sort(rng.choice(used, int(max_texts), replace=False))
    keep = np.zeros(len(rows), dtype=bool)
    keep[used] = True
    plan, reach = [], {}
    for family, groups in spec.items():
        if len(groups) < 2:
            notes.append(f"{family}: a single group ({next(iter(groups))}); nothing to swap it with.")
            continue
        reach[family] = int((np.any([found[(family, g)] for g in groups], axis=0) & keep).sum())
        for a, words in groups.items():
            pattern = group_pattern(words)
            for b, to_words in groups.items():
                if b != a:
                    plan += [(family, a, b, int(i), swap_terms(rows[i], words, to_words, pattern))
                             for i in np.flatnonzero(found[(family, a)] & keep)]
    return plan, reach, len(used)


def identity_swaps(predict_proba: Callable[[list[str]], np.ndarray], texts, terms: Mapping | None = None, *,
                   positive_class: int = 1, threshold: float = 0.5, n_boot: int = 1000, confidence: float = 0.95,
                   seed: int = 0, batch_size: int = 512, max_texts: int | None = None) -> SwapResult:
    """Score changes and decision flips of a text classifier when identity terms are swapped between groups.

    Parameters
    ----------
    predict_proba : callable
        ``list[str] -> (n, n_classes)`` probabilities (or ``(n,)`` scores), called with at most ``batch_size``
        texts at a time; every distinct text (original or swapped) is scored once.
    texts : list of str
    terms : dict, optional
        ``family -> group -> list of terms`` (:func:`audit.fairness.default_identity_terms` when None).
    positive_class : int
        The column of ``predict_proba``'s output that is the score.
    threshold : float
        The decision is ``score > threshold``.
    n_boot, confidence, seed
        Bootstrap resamples of the texts for the mean (absolute) change's interval, its level (also the Wilson
        interval's), and the seed (of the bootstrap and of the ``max_texts`` sample).
    batch_size : int
    max_texts : int, optional
        Swap at most this many of the texts that mention a group (a seeded sample).

    Examples
    --------
    A model that scores texts with "she" 0.3 higher: every female -> male swap of a "she" text moves it by -0.3.

    >>> def model(batch):
    ...     p = np.array([0.6 if "she" in t.lower().split() else 0.3 for t in batch])
    ...     return np.c_[1 - p, p]
    >>> terms = {"gender": {"female": ["she", "her"], "male": ["he", "his"]}}
    >>> r = identity_swaps(model, ["She left.", "he left", "her cat"], terms, n_boot=100)
    >>> row = r.pairs.loc[("gender", "female", "male")]
    >>> int(row["n_texts"]), round(float(row["mean_change"]), 6), int(row["flips"])
    (2, -0.15, 1)
    >>> fam = r.families.loc["gender"]
    >>> float(fam["max_flip_rate"]), fam["flip_from"], fam["flip_to"], r.n_queries
    (1.0, 'male', 'female', 6)
    """
    rows = check_texts(texts)
    spec = default_identity_terms() if terms is None else check_terms(terms)
    if not 0 < confidence < 1:
        raise AuditInputError(f"confidence must be in (0, 1), got {confidence!r}")
    if int(batch_size) < 1 or int(n_boot) < 0 or (max_texts is not None and int(max_texts) < 1):
        raise AuditInputError(f"batch_size and max_texts must be >= 1 and n_boot >= 0, got {batch_size!r}, "
                              f"{max_texts!r} and {n_boot!r}")
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    plan, reach, n_used = _plan(rows, spec, max_texts, rng, notes)
    originals = sorted({i for *_, i, _ in plan})
    queries = list(dict.fromkeys([rows[i] for i in originals] + [s for *_, s in plan]))  # distinct, in first order
    scored, n_calls = _scores(predict_proba, queries, int(positive_class), int(batch_size))
    score_of = dict(zip(queries, scored))
    variants = pd.DataFrame(plan, columns=["family", "from_group", "to_group", "row", "swapped"])
    variants.insert(4, "text", [rows[i] for i in variants["row"]])
    variants["score"] = [score_of[t] for t in variants["text"]]
    variants["swapped_score"] = [score_of[t] for t in variants["swapped"]]
    variants["change"] = variants["swapped_score"] - variants["score"]
    variants["flip"] = (variants["score"] > threshold) != (variants["swapped_score"] > threshold)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    pair_rows = {key: _pair_row(g["change"].to_numpy(), g["flip"].to_numpy(), int(n_boot), rng, confidence, z)
                 for key, g in variants.groupby(["family", "from_group", "to_group"], sort=False)}
    pairs = pd.DataFrame.from_dict(pair_rows, orient="index", columns=_PAIR_COLUMNS)
    pairs = pairs.astype({"n_texts": np.int64, "flips": np.int64})
    pairs.index = pd.MultiIndex.from_arrays([[k[j] for k in pair_rows] for j in range(3)],
                                            names=["family", "from_group", "to_group"])
    if not len(variants):
        notes.append("no text mentions an identity group of the terms; nothing was swapped.")
    return SwapResult(pairs=pairs, families=_families(pairs, reach, spec), variants=variants, notes=notes,
                      n_texts=n_used, n_calls=n_calls, n_queries=len(queries), threshold=float(threshold),
                      confidence=confidence, positive_class=int(positive_class), n_boot=int(n_boot))
