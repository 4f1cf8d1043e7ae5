"""Invariance of a text classifier to small label-preserving edits, overall and per group (CheckList's INV tests).

Each kind of edit (:mod:`audit.robustness._text_edits`) makes one seeded perturbed copy of each text; the model
should predict the same class for both. A flip is a change of the predicted class (argmax). The flip rate is
counted over the texts the edit applies to, with a Wilson interval; the gap between groups follows the gap rule
of every gap (:func:`audit.stats.proportion_gaps`: bias-corrected, an interval that covers 0, a permutation test).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit._inputs import missing_as_label
from audit.errors import AuditInputError
from audit.robustness._text_common import (
    Predictor,
    PredictProba,
    check_groups,
    check_labels,
    check_texts,
    load_synonyms,
    wilson_columns,
    z_value,
)
from audit.robustness._text_edits import PERTURBATIONS, perturb_texts
from audit.stats import proportion_gaps

#: flipped examples kept per kind in :attr:`TextPerturbationResult.examples` (largest probability change first)
EXAMPLES_PER_KIND = 10
_TABLE = ["n", "n_applicable", "n_flipped", "flip_rate", "low", "high", "mean_abs_change", "accuracy_before",
          "accuracy_after", "accuracy_change"]
_GAPS = ["kind", "column", "gap", "plug_in", "low", "high", "p_value", "best_group", "worst_group", "n_groups"]


@dataclass
class TextPerturbationResult:
    """Flip rates of a text classifier under small edits.

    Attributes
    ----------
    table : DataFrame
        Indexed by ``kind``: ``n`` texts, ``n_applicable`` (texts the edit could change), ``n_flipped``,
        ``flip_rate`` (= n_flipped / n_applicable) with its Wilson interval ``low``/``high``, ``mean_abs_change``
        (mean over applicable texts of ``|p'(c) - p(c)|``, ``c`` the class predicted on the original text) and, when
        ``y`` is given, ``accuracy_before`` / ``accuracy_after`` on the applicable texts and ``accuracy_change``
        (after - before; NaN without ``y``).
    groups : DataFrame
        One row per (``kind``, ``column``, ``group``): ``n_applicable``, ``n_flipped``, ``flip_rate``, ``low``, ``high``.
    gaps : DataFrame
        One row per (``kind``, ``column``): the gap in flip rate between groups with at least ``min_group_size``
        applicable texts (``gap`` bias-corrected and gated, ``plug_in`` max - min, ``low``/``high``, ``p_value``),
        ``best_group`` (lowest flip rate), ``worst_group`` (highest) and ``n_groups``.
    overall : DataFrame
        Indexed by ``kind``: the worst column and its gap at the Bonferroni level for the columns
        (:func:`audit.stats.worst_of`).
    details : DataFrame
        One row per (``row``, ``kind``): ``applicable``, the ``perturbed`` text (None where not applicable),
        ``pred_before``, ``pred_after``, ``flipped``, ``change`` (signed change of the originally predicted class's
        probability).
    examples : DataFrame
        Up to 10 flipped texts per kind: ``kind``, ``row``, ``original``, ``perturbed``, ``pred_before``,
        ``pred_after``, ``change``.
    n_calls, n_queries : int
        Calls of ``predict_proba`` and texts passed to it.
    notes : list of str
    """

    table: pd.DataFrame
    groups: pd.DataFrame
    gaps: pd.DataFrame
    overall: pd.DataFrame
    details: pd.DataFrame
    examples: pd.DataFrame
    n_calls: int
    n_queries: int
    notes: list[str] = field(default_factory=list)

    def flip_rate(self, kind: str) -> tuple[float, float, float]:
        """``(flip_rate, low, high)`` of edit ``kind`` (NaN when no text could be edited)."""
        row = self.table.loc[kind]
        return float(row["flip_rate"]), float(row["low"]), float(row["high"])

    def max_gap(self, kind: str) -> tuple[float, float | None, float | None]:
        """Largest gap in flip rate over group columns for ``kind`` (bias-corrected) with its interval."""
        if self.overall.empty or kind not in self.overall.index or pd.isna(self.overall.loc[kind, "gap"]):
            return math.nan, None, None
        row = self.overall.loc[kind]
        lo, hi = row["low"], row["high"]
        return float(row["gap"]), None if pd.isna(lo) else float(lo), None if pd.isna(hi) else float(hi)


def _kind_row(n: int, ok: np.ndarray, before: np.ndarray, p_before: np.ndarray, after: np.ndarray | None,
              p_after: np.ndarray | None, y: np.ndarray | None, z: float) -> dict[str, float]:
    """The table row of one kind from the original predictions and those of its applicable rows."""
    m = int(ok.sum())
    flipped = (after != before[ok]) if after is not None else np.zeros(0, bool)
    rate, lo, hi = wilson_columns(int(flipped.sum()), m, z)
    row: dict[str, float] = {"n": n, "n_applicable": m, "n_flipped": int(flipped.sum()), "flip_rate": rate,
                             "low": lo, "high": hi, "accuracy_before": math.nan, "accuracy_after": math.nan,
                             "accuracy_change": math.nan}
    c = before[ok]
    own = p_before[ok, c] if m else np.zeros(0)
    row["mean_abs_change"] = float(np.abs(p_after[np.arange(m), c] - own).mean()) if m else math.nan
    if y is not None and m:
        row["accuracy_before"] = float((c == y[ok]).mean())
        row["accuracy_after"] = float((after == y[ok]).mean())
        row["accuracy_change"] = row["accuracy_after"] - row["accuracy_before"]
    return row


def _group_rows(kind: str, flipped: np.ndarray, coded: list[tuple[str, np.ndarray, pd.Index]], z: float,
                min_group_size: int, n_boot: int, rng: np.random.Generator, confidence: float,
                notes: list[str]) -> tuple[list[dict], list[dict], dict]:
    """Per-group flip rates of one kind (over its applicable rows) and the gaps between groups."""
    rows: list[dict] = []
    for col, codes, levels in coded:
        k = np.bincount(codes, weights=flipped, minlength=len(levels))
        n = np.bincount(codes, minlength=len(levels))
        for g, level in enumerate(levels):
            rate, lo, hi = wilson_columns(int(k[g]), int(n[g]), z)
            rows.append({"kind": kind, "column": col, "group": str(level), "n_applicable": int(n[g]),
                         "n_flipped": int(k[g]), "flip_rate": rate, "low": lo, "high": hi})
        if (n >= min_group_size).sum() < 2:
            notes.append(f"{kind}, {col}: fewer than two groups with {min_group_size}+ applicable texts; the gap is "
                         "undefined (NaN).")
    # the gap rule works on a share of "good" rows: the unchanged share, whose max - min is the flip rate's, and
    # whose best group (most unchanged) is the one with the lowest flip rate
    per_col, worst = proportion_gaps(~flipped, [c for _, c, _ in coded], [lv for _, _, lv in coded],
                                     [c for c, _, _ in coded], min_group_size=min_group_size, n_boot=n_boot, rng=rng,
                                     confidence=confidence)
    gaps = [{"kind": kind, "column": c, **g} for (c, _, _), g in zip(coded, per_col)]
    return rows, gaps, {"kind": kind, **worst}


def text_perturbations(
    predict_proba: PredictProba,
    texts: Sequence[str],
    y: Sequence[int] | np.ndarray | None = None,
    groups: pd.DataFrame | None = None,
    *,
    kinds: Sequence[str] = ("typo", "case", "punctuation", "whitespace", "synonym"),
    seed: int = 0,
    batch_size: int = 512,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    min_group_size: int = 30,
    n_boot: int = 1000,
    confidence: float = 0.95,
) -> TextPerturbationResult:
    """How often a text classifier's prediction changes under small edits that should not change it.

    Parameters
    ----------
    predict_proba : callable
        A list of n texts -> ``(n, n_classes)`` probabilities (a 1-D array is read as the positive class's).
    texts : list of str
    y : array of int, optional
        True classes as column indices of ``predict_proba``; adds accuracy before and after each edit.
    groups : DataFrame, optional
        One column per sensitive attribute, one row per text: flip rate per group and the gap between groups.
    kinds : sequence of {"typo", "case", "punctuation", "whitespace", "synonym"}
    seed : int
        Seeds the edits (one Generator per kind, :func:`perturb_texts`) and the gap's resamples.
    batch_size : int
        Texts per call of ``predict_proba``; the perturbed texts of all kinds are predicted together.
    synonyms : mapping word -> list of words, optional
        For ``"synonym"``; the bundled list by default (:func:`load_synonyms`).
    min_group_size : int
        Groups with fewer applicable texts are shown but left out of the gap.
    n_boot : int
        Resamples (and permutations) for the gap's interval and p-value (0: none).
    confidence : float
        Level of the Wilson intervals and of the gap's interval.

    Returns
    -------
    TextPerturbationResult

    Examples
    --------
    A model that reads only whether "bad" occurs, case-sensitively:

    >>> import numpy as np
    >>> def proba(texts):
    ...     p = np.array([0.9 if "bad" in t else 0.1 for t in texts])
    ...     return np.column_stack([1 - p, p])
    >>> r = text_perturbations(proba, ["a bad film", "a good film", "ok"], kinds=("case", "typo"))
    >>> r.table["n_applicable"].to_dict(), r.table["n_flipped"].to_dict()   # "A BAD FILM" flips
    ({'case': 3, 'typo': 2}, {'case': 1, 'typo': 0})
    """
    texts = check_texts(texts)
    kinds = list(dict.fromkeys(kinds))
    unknown = [k for k in kinds if k not in PERTURBATIONS]
    if not kinds or unknown:
        raise AuditInputError(f"kinds {unknown or kinds!r}: choose one or more of {sorted(PERTURBATIONS)}")
    z = z_value(confidence)
    n = len(texts)
    frame = check_groups(groups, n)
    table = load_synonyms(synonyms) if "synonym" in kinds else None
    model = Predictor(predict_proba, batch_size)
    p_before = model(texts)
    before = p_before.argmax(axis=1)
    labels = None if y is None else check_labels(y, n, p_before.shape[1])
    edited = {k: perturb_texts(texts, k, seed=seed, synonyms=table) for k in kinds}
    masks = {k: np.array([t is not None for t in edited[k]], dtype=bool) for k in kinds}
    # every kind's perturbed texts in one batched pass, so calls are shared across kinds
    flat = [t for k in kinds for t in edited[k] if t is not None]
    p_flat = model(flat)
    rng = np.random.default_rng(seed)
    rows, group_rows, gaps, overall, details, notes = {}, [], [], [], [], []
    coded = [] if frame is None else [(str(c), *pd.factorize(missing_as_label(frame[c]).astype(str), sort=True))
                                      for c in frame.columns]
    start = 0
    for k in kinds:
        ok = masks[k]
        p_after = p_flat[start:start + int(ok.sum())]
        start += int(ok.sum())
        after = p_after.argmax(axis=1)
        rows[k] = _kind_row(n, ok, before, p_before, after, p_after, labels, z)
        if not ok.any():
            notes.append(f"{k}: no text could be edited this way; its flip rate is undefined (NaN).")
        pred_after = np.full(n, -1)
        pred_after[ok] = after
        change = np.full(n, math.nan)
        change[ok] = p_after[np.arange(len(after)), before[ok]] - p_before[ok, before[ok]]
        details.append(pd.DataFrame({"row": np.arange(n), "kind": k, "applicable": ok, "perturbed": edited[k],
                                     "pred_before": before, "pred_after": pred_after,
                                     "flipped": ok & (pred_after != before), "change": change}))
        if coded:
            sub = [(c, codes[ok], lv) for c, codes, lv in coded]
            g, gp, w = _group_rows(k, after != before[ok], sub, z, min_group_size, n_boot, rng, confidence, notes)
            group_rows += g
            gaps += gp
            overall.append(w)
    detail = pd.concat(details, ignore_index=True)
    return TextPerturbationResult(
        table=pd.DataFrame.from_dict(rows, orient="index", columns=_TABLE).rename_axis("kind"),
        groups=pd.DataFrame(group_rows, columns=["kind", "column", "group", "n_applicable", "n_flipped", "flip_rate",
                                                 "low", "high"]),
        gaps=pd.DataFrame(gaps, columns=_GAPS),
        overall=pd.DataFrame(overall, columns=["kind", "column", "gap", "plug_in", "low", "high", "p_value",
                                               "best_group", "worst_group"]).set_index("kind"),
        details=detail, examples=_examples(detail, texts), n_calls=model.calls, n_queries=model.texts, notes=notes)


def _examples(detail: pd.DataFrame, texts: list[str]) -> pd.DataFrame:
    """The flipped texts with the largest probability change, up to :data:`EXAMPLES_PER_KIND` per kind."""
    flipped = detail[detail["flipped"]].assign(size=lambda d: d["change"].abs())
    top = (flipped.sort_values(["kind", "size", "row"], ascending=[True, False, True], kind="stable")
           .groupby("kind", sort=False).head(EXAMPLES_PER_KIND))
    out = top.assign(original=[texts[i] for i in top["row"]])
    return out[["kind", "row", "original", "perturbed", "pred_before", "pred_after", "change"]].reset_index(drop=True)
