"""A black-box greedy word substitution attack on a text classifier (TextFooler-like).

For each text the model classifies correctly: (1) rank its substitutable words (those with candidates) by how much
the true class's probability drops when the word is deleted (Jin et al.'s word importance; one batched pass over
all texts); (2) in that order, try every candidate for the word and keep the one that lowers the true class's
probability most (a candidate that flips the prediction wins at once), until the prediction flips or the budget
of changed words is spent. Every round sends the candidates of all texts still under attack in one batched pass.

Similarity constraint: a word is only replaced by a synonym from the list (the bundled hand-written list or the
caller's), single words, written in the original word's case; ``min_similarity`` optionally adds a character-level
floor (:class:`difflib.SequenceMatcher` ratio of the lower-cased words). There is no sentence encoder, no
part-of-speech check and no stop-word list: the curated list stands in for TextFooler's counter-fitted embedding
neighbours.

The greedy search never looks at the budget, so the attack at budget ``b`` is the first ``b`` changes of the attack
at the largest budget: one run serves every budget and robust accuracy cannot rise with the budget.

Jin et al., "Is BERT Really Robust? A Strong Baseline for Natural Language Attack on Text Classification and
Entailment", AAAI 2020 (https://arxiv.org/abs/1907.11932).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.robustness._text_common import (
    Predictor,
    PredictProba,
    check_labels,
    check_texts,
    load_synonyms,
    match_case,
    split_words,
    wilson_columns,
    z_value,
)

_DETAILS = ["row", "y", "pred_before", "correct", "n_words", "n_substitutable", "n_changed", "success", "pred_after",
            "p_true_before", "p_true_after", "queries", "words_changed", "adversarial"]


@dataclass
class TextAttackResult:
    """Robust accuracy of a text classifier under greedy word substitution at several budgets.

    Attributes
    ----------
    table : DataFrame
        Indexed by ``budget`` (most words changed per text): ``n`` texts, ``n_attacked`` (originally correct),
        ``n_robust`` (still correct after at most ``budget`` changes), ``robust_accuracy`` = n_robust / n_attacked
        with its Wilson interval ``low``/``high``, ``attack_success_rate`` (1 - robust_accuracy) and
        ``accuracy_under_attack`` (n_robust / n: the usual robust accuracy over all texts).
    clean_accuracy : float
        Share of all texts predicted correctly, with its Wilson interval ``clean_low`` / ``clean_high``.
    details : DataFrame
        One row per text: ``row``, ``y``, ``pred_before``, ``correct``, ``n_words``, ``n_substitutable`` (words with
        candidates), ``n_changed`` (substitutions made), ``success`` (flipped, within the largest budget),
        ``pred_after``, ``p_true_before``, ``p_true_after``, ``queries`` (texts sent to the model for it, the
        original included), ``words_changed`` (``"good->fine, film->movie"``) and the ``adversarial`` text.
    examples : DataFrame
        The successful attacks: ``row``, ``original``, ``adversarial``, ``words_changed``, ``n_changed``,
        ``p_true_before``, ``p_true_after``, ``pred_after``.
    n_calls, n_queries : int
        Calls of ``predict_proba`` and texts passed to it in all.
    constraint : str
        The similarity constraint, in words.
    notes : list of str
    """

    table: pd.DataFrame
    clean_accuracy: float
    clean_low: float
    clean_high: float
    details: pd.DataFrame
    examples: pd.DataFrame
    n_calls: int
    n_queries: int
    constraint: str
    notes: list[str] = field(default_factory=list)

    def robust_accuracy(self, budget: int) -> tuple[float, float, float]:
        """``(robust_accuracy, low, high)`` at ``budget`` words changed."""
        row = self.table.loc[budget]
        return float(row["robust_accuracy"]), float(row["low"]), float(row["high"])

    @property
    def queries(self) -> pd.Series:
        """Queries per attacked text (the originally correct ones)."""
        return self.details.loc[self.details["correct"], "queries"]


@dataclass
class _Attack:
    """One text under attack."""

    row: int
    label: int
    pieces: list[str]
    candidates: dict[int, list[str]]  # piece index -> replacements, case matched
    p_true: float
    queries: int = 1
    order: list[int] = field(default_factory=list)
    next: int = 0
    changed: list[tuple[str, str]] = field(default_factory=list)
    success: bool = False
    done: bool = False
    pred: int = -1


def _candidates(pieces: list[str], table: Mapping[str, Sequence[str]], max_candidates: int,
                min_similarity: float | None, rng: np.random.Generator) -> dict[int, list[str]]:
    """Replacements of each word of ``pieces`` that has any, after the similarity floor and the candidate cap."""
    out: dict[int, list[str]] = {}
    for i in range(1, len(pieces), 2):
        word = pieces[i]
        subs = [s for s in table.get(word.lower(), ()) if s.lower() != word.lower()]
        if min_similarity is not None:
            subs = [s for s in subs if SequenceMatcher(None, word.lower(), s.lower()).ratio() >= min_similarity]
        if len(subs) > max_candidates:  # a seeded subset, in the list's order
            subs = [subs[j] for j in np.sort(rng.choice(len(subs), max_candidates, replace=False))]
        if subs:
            out[i] = list(dict.fromkeys(match_case(word, s) for s in subs))
    return out


def _delete(pieces: list[str], i: int) -> str:
    """The text without word ``i`` and one space beside it."""
    p = list(pieces)
    p[i] = ""
    if p[i + 1].startswith(" "):
        p[i + 1] = p[i + 1][1:]
    elif p[i - 1].endswith(" "):
        p[i - 1] = p[i - 1][:-1]
    return "".join(p)


def _rank(attacks: list[_Attack], model: Predictor, budget_q: int | None) -> None:
    """Order each text's substitutable words by the drop in the true class's probability when deleted."""
    ranked = [a for a in attacks if len(a.candidates) > 1 and (budget_q is None or budget_q - a.queries >= len(a.candidates))]
    for a in attacks:  # left to right where there is nothing to rank or no queries to rank with
        a.order = sorted(a.candidates)
    texts = [_delete(a.pieces, i) for a in ranked for i in a.order]
    p = model(texts)
    start = 0
    for a in ranked:
        k = len(a.order)
        drop = a.p_true - p[start:start + k, a.label]
        start += k
        a.queries += k
        # largest drop first; ties keep text order (stable sort)
        a.order = [a.order[j] for j in np.argsort(-drop, kind="stable")]


def _greedy(attacks: list[_Attack], model: Predictor, max_budget: int, budget_q: int | None) -> None:
    """Substitute words in rank order, all texts' candidates of a round in one batched pass, until each is done."""
    while True:
        batch: list[tuple[_Attack, int, list[str]]] = []
        for a in attacks:
            if a.done:
                continue
            left = None if budget_q is None else budget_q - a.queries
            if a.next >= len(a.order) or len(a.changed) >= max_budget or left == 0:
                a.done = True
                continue
            i = a.order[a.next]
            a.next += 1
            cands = a.candidates[i] if left is None else a.candidates[i][:left]
            batch.append((a, i, cands))
        if not batch:
            return
        texts = ["".join(a.pieces[:i] + [c] + a.pieces[i + 1:]) for a, i, cands in batch for c in cands]
        p = model(texts)
        start = 0
        for a, i, cands in batch:
            pc = p[start:start + len(cands)]
            start += len(cands)
            a.queries += len(cands)
            p_true = pc[:, a.label]
            flips = pc.argmax(axis=1) != a.label
            # a flipping candidate wins (the lowest true-class probability among them); otherwise the candidate that
            # lowers it most, and only if it lowers it at all (no change is spent on a useless word)
            pick = int(np.flatnonzero(flips)[np.argmin(p_true[flips])]) if flips.any() else int(np.argmin(p_true))
            if not flips.any() and p_true[pick] >= a.p_true:
                continue
            a.changed.append((a.pieces[i], cands[pick]))
            a.pieces[i] = cands[pick]
            a.p_true = float(p_true[pick])
            a.pred = int(pc[pick].argmax())
            if flips.any():
                a.success = a.done = True


def _check_settings(budgets: Sequence[int], max_candidates: int, min_similarity: float | None,
                    max_queries_per_text: int | None) -> list[int]:
    try:
        out = sorted({int(b) for b in budgets})
    except (TypeError, ValueError):
        raise AuditInputError(f"budgets must be positive integers (words changed per text); got {budgets!r}") from None
    if not out or out[0] < 1:
        raise AuditInputError(f"budgets must be positive integers (words changed per text); got {budgets!r}")
    if int(max_candidates) < 1:
        raise AuditInputError(f"max_candidates must be at least 1; got {max_candidates}")
    if min_similarity is not None and not 0 <= min_similarity <= 1:
        raise AuditInputError(f"min_similarity is a character-level ratio in [0, 1] (or None); got {min_similarity}")
    if max_queries_per_text is not None and int(max_queries_per_text) < 1:
        raise AuditInputError(f"max_queries_per_text must be at least 1 (or None); got {max_queries_per_text}")
    return out


def word_substitution_attack(
    predict_proba: PredictProba,
    texts: Sequence[str],
    y: Sequence[int] | np.ndarray,
    *,
    budgets: Sequence[int] = (1, 2, 3),
    synonyms: Mapping[str, Sequence[str]] | None = None,
    max_candidates: int = 20,
    min_similarity: float | None = None,
    seed: int = 0,
    batch_size: int = 512,
    max_queries_per_text: int | None = None,
    confidence: float = 0.95,
) -> TextAttackResult:
    """Robust accuracy of a text classifier when up to ``b`` words are replaced by synonyms (greedy, black box).

    Parameters
    ----------
    predict_proba : callable
        A list of n texts -> ``(n, n_classes)`` probabilities.
    texts : list of str
    y : array of int
        True classes as column indices of ``predict_proba``.
    budgets : sequence of int
        Most words changed per text; one attack at the largest serves all (see the module notes).
    synonyms : mapping word -> list of words, optional
        The candidates; the bundled list by default (:func:`load_synonyms`).
    max_candidates : int
        Candidates tried per word; a longer list is cut to a seeded subset.
    min_similarity : float, optional
        Character-level floor on a candidate (SequenceMatcher ratio with the word); None: any listed synonym.
    seed : int
        Seeds the candidate subsets (nothing else is random).
    batch_size : int
        Texts per call of ``predict_proba``; each pass sends the texts of every text under attack together.
    max_queries_per_text : int, optional
        Most texts sent to the model per attacked text, the original included; words are ranked only when the
        ranking fits (else taken left to right) and a round's candidates are cut to what is left.
    confidence : float
        Level of the Wilson intervals.

    Returns
    -------
    TextAttackResult

    Examples
    --------
    A model that reads only the word "good": replacing it with "fine" flips the prediction.

    >>> import numpy as np
    >>> def proba(texts):
    ...     p = np.array([0.9 if "good" in t.lower().split() else 0.2 for t in texts])
    ...     return np.column_stack([1 - p, p])
    >>> r = word_substitution_attack(proba, ["a good film", "a bad film"], [1, 0], budgets=(1,),
    ...                              synonyms={"good": ["fine"], "film": ["movie"]})
    >>> r.details["adversarial"].tolist(), r.robust_accuracy(1)[0]
    (['a fine film', 'a bad film'], 0.5)
    """
    texts = check_texts(texts)
    budgets = _check_settings(budgets, max_candidates, min_similarity, max_queries_per_text)
    z = z_value(confidence)
    table = load_synonyms(synonyms)
    model = Predictor(predict_proba, batch_size)
    p0 = model(texts)
    labels = check_labels(y, len(texts), p0.shape[1])
    pred0 = p0.argmax(axis=1)
    correct = pred0 == labels
    rng = np.random.default_rng(seed)
    attacks = []
    for r in np.flatnonzero(correct):
        pieces = split_words(texts[r])
        attacks.append(_Attack(int(r), int(labels[r]), pieces,
                               _candidates(pieces, table, int(max_candidates), min_similarity, rng),
                               float(p0[r, labels[r]]), pred=int(pred0[r])))
    q = None if max_queries_per_text is None else int(max_queries_per_text)
    _rank(attacks, model, q)
    _greedy(attacks, model, budgets[-1], q)
    details = _details(texts, labels, p0, attacks)
    n, n_att = len(texts), int(correct.sum())
    rows = {}
    for b in budgets:
        robust = n_att - int((details["success"] & (details["n_changed"] <= b)).sum())
        acc, lo, hi = wilson_columns(robust, n_att, z)
        rows[b] = {"n": n, "n_attacked": n_att, "n_robust": robust, "robust_accuracy": acc, "low": lo, "high": hi,
                   "attack_success_rate": 1 - acc if n_att else math.nan, "accuracy_under_attack": robust / n}
    clean, clo, chi = wilson_columns(n_att, n, z)
    notes = [] if n_att else ["No text is classified correctly; there is nothing to attack (robust accuracy NaN)."]
    stuck = int((details["correct"] & (details["n_substitutable"] == 0)).sum())
    if stuck:
        notes.append(f"{stuck} of {n_att} correctly classified texts have no word in the synonym list; they count as "
                     "robust (nothing could be changed).")
    constraint = "only listed synonyms (single words, original case)" + (
        "" if min_similarity is None else f" with character similarity >= {min_similarity:g}")
    ok = details[details["success"]]
    examples = pd.DataFrame({"row": ok["row"], "original": [texts[i] for i in ok["row"]],
                             "adversarial": ok["adversarial"], "words_changed": ok["words_changed"],
                             "n_changed": ok["n_changed"], "p_true_before": ok["p_true_before"],
                             "p_true_after": ok["p_true_after"], "pred_after": ok["pred_after"]}).reset_index(drop=True)
    return TextAttackResult(
        table=pd.DataFrame.from_dict(rows, orient="index").rename_axis("budget"), clean_accuracy=clean,
        clean_low=clo, clean_high=chi, details=details, examples=examples, n_calls=model.calls,
        n_queries=model.texts, constraint=constraint, notes=notes)


def _details(texts: list[str], labels: np.ndarray, p0: np.ndarray, attacks: list[_Attack]) -> pd.DataFrame:
    """One row per text: the outcome of its attack (or of its original prediction when it was not attacked)."""
    pred0 = p0.argmax(axis=1)
    rows = []
    by_row = {a.row: a for a in attacks}
    for r, text in enumerate(texts):
        base = {"row": r, "y": int(labels[r]), "pred_before": int(pred0[r]), "p_true_before": float(p0[r, labels[r]]),
                "n_words": len(split_words(text)) // 2}
        a = by_row.get(r)
        if a is None:
            rows.append({**base, "correct": False, "n_substitutable": 0, "n_changed": 0, "success": False,
                         "pred_after": int(pred0[r]), "p_true_after": base["p_true_before"], "queries": 1,
                         "words_changed": "", "adversarial": text})
            continue
        rows.append({**base, "correct": True, "n_substitutable": len(a.candidates), "n_changed": len(a.changed),
                     "success": a.success, "pred_after": a.pred, "p_true_after": a.p_true, "queries": a.queries,
                     "words_changed": ", ".join(f"{o}->{s}" for o, s in a.changed), "adversarial": "".join(a.pieces)})
    return pd.DataFrame(rows, columns=_DETAILS)
