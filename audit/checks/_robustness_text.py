"""The robustness check's text branch: edits that should not change the answer (typos, case, punctuation,
whitespace, synonyms) with their flip rates per group, and a greedy word-substitution attack at word budgets
(:func:`audit.robustness.text_perturbations`, :func:`audit.robustness.word_substitution_attack`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.context import AuditContext
from audit.robustness import PERTURBATIONS, text_perturbations, word_substitution_attack
from audit.section import Metric, Section, metric_parts

#: words changed at most per text by the attack
BUDGETS = (1, 2, 3)
PATTERNS = (
    "robustness.text.<kind>.flip_rate",
    "robustness.text.<kind>.worst_flip_rate_gap",
    "robustness.text.<kind>.<column>.flip_rate_gap",
    "robustness.word_substitution.robust_accuracy@<budget>",
    "robustness.word_substitution.clean_accuracy",
)
DOCS = {
    "robustness.text.<kind>.flip_rate": "text models: share of texts whose predicted class changes under an edit that "
    f"should not change it (kind: one of {', '.join(PERTURBATIONS)}), over the texts the edit applies to; Wilson "
    "interval",
    "robustness.text.<kind>.worst_flip_rate_gap": "text models: largest gap in that flip rate between the groups of a "
    "sensitive column, worst over the columns (gap rule: bias-corrected, interval, permutation p-value)",
    "robustness.text.<kind>.<column>.flip_rate_gap": "text models: the flip-rate gap between one column's groups",
    "robustness.word_substitution.robust_accuracy@<budget>": "text models: share of correctly classified texts still "
    "correct after a greedy attack that replaces at most <budget> words by listed synonyms",
    "robustness.word_substitution.clean_accuracy": "text models: accuracy on the attacked texts before the attack",
}
POLICY = {
    "robustness.text.*.flip_rate": {"max": 0.1, "severity": "warn"},
    "robustness.text.*.worst_flip_rate_gap": {"max": 0.1, "severity": "warn"},
}


def _rows(ctx: AuditContext, cap: int, salt: str) -> np.ndarray:
    n = ctx.n_rows
    return np.arange(n) if n <= cap else np.sort(ctx.rng(salt).choice(n, cap, replace=False))


def text_section(ctx: AuditContext, *, max_rows: int, max_attack_rows: int, min_group_size: int, n_boot: int,
                 n_examples: int) -> Section:
    """The robustness section of a text classifier (see the module's docstring)."""
    column = ctx.data.X.columns[0]

    def predict(texts: list[str]) -> np.ndarray:
        return ctx.model.predict_proba(pd.DataFrame({column: list(texts)}), what="edited texts")

    texts = ctx.data.X[column].astype(str).tolist()
    rows = _rows(ctx, max_rows, "robustness.text")
    groups = ctx.data.sensitive.iloc[rows].reset_index(drop=True) if ctx.data.sensitive.shape[1] else None
    seed = ctx.torch_seed("robustness")
    pert = text_perturbations(predict, [texts[i] for i in rows], ctx.y[rows], groups, seed=seed,
                              min_group_size=min_group_size, n_boot=n_boot)
    attack_rows = _rows(ctx, max_attack_rows, "robustness.attack")
    attack = word_substitution_attack(predict, [texts[i] for i in attack_rows], ctx.y[attack_rows], budgets=BUDGETS,
                                      seed=seed)
    metrics = _perturbation_metrics(pert) + _attack_metrics(attack)
    tables = {"Edits that should not change the answer": pert.table,
              "Flip rates by group": pert.groups,
              "Flip-rate gaps between groups": pert.gaps,
              "Word-substitution attack": attack.table,
              "Flipped by an edit (examples)": pert.examples.head(n_examples * len(PERTURBATIONS)),
              "Flipped by the attack (examples)": attack.examples.head(n_examples)}
    tables = {k: v for k, v in tables.items() if v is not None and len(v)}
    worst = pert.table["flip_rate"].astype(float).idxmax() if pert.table["flip_rate"].notna().any() else None
    summary = "" if worst is None else (
        f"Edits that should not change the answer flip up to {pert.table.loc[worst, 'flip_rate']:.1%} of predictions "
        f"({worst}, {int(pert.table.loc[worst, 'n_applicable']):,} texts). ")
    b = max(BUDGETS)
    summary += (f"Replacing at most {b} words by listed synonyms leaves {attack.table.loc[b, 'robust_accuracy']:.1%} of "
                f"{int(attack.table.loc[b, 'n_attacked']):,} correctly classified texts correct (clean accuracy "
                f"{attack.clean_accuracy:.1%}).")
    notes = [f"Edits: one seeded copy of each text per kind ({', '.join(PERTURBATIONS)}); a text the edit cannot change "
             "(no word of four letters for a typo, no listed synonym) is not applicable and left out of its rate. Flip: "
             "the predicted class changes. Gaps between groups follow the gap rule.",
             f"Attack: {attack.constraint}", *pert.notes, *attack.notes,
             f"Model calls: {pert.n_calls + attack.n_calls:,} batches, {pert.n_queries + attack.n_queries:,} texts."]
    return Section(check="robustness", title="Adversarial robustness", summary=summary, metrics=metrics,
                   tables=tables, notes=notes)


def _interval(row: pd.Series) -> tuple[float | None, float | None]:
    lo, hi = row.get("low"), row.get("high")
    return (None, None) if lo is None or pd.isna(lo) else (float(lo), float(hi))


def _perturbation_metrics(pert) -> list[Metric]:
    out = []
    for kind, row in pert.table.iterrows():
        if pd.isna(row["flip_rate"]):
            continue
        out.append(Metric(f"robustness.text.{kind}.flip_rate", float(row["flip_rate"]), *_interval(row),
                          higher_is_better=False,
                          description=f"{int(row['n_flipped'])} of {int(row['n_applicable'])} texts change class"))
    if len(pert.gaps):
        parts = metric_parts(pert.gaps["column"].astype(str).unique())
        for _, g in pert.gaps.iterrows():
            if pd.isna(g["gap"]):
                continue
            out.append(Metric(f"robustness.text.{g['kind']}.{parts[str(g['column'])]}.flip_rate_gap", float(g["gap"]),
                              *_interval(g), higher_is_better=False,
                              description=f"{g['worst_group']} flips most, {g['best_group']} least"))
    for kind, w in pert.overall.iterrows():
        if not pd.isna(w.get("gap")):
            out.append(Metric(f"robustness.text.{kind}.worst_flip_rate_gap", float(w["gap"]), *_interval(w),
                              higher_is_better=False, description=f"worst over the columns: {w.get('column')}"))
    return out


def _attack_metrics(attack) -> list[Metric]:
    out = [Metric("robustness.word_substitution.clean_accuracy", float(attack.clean_accuracy),
                  float(attack.clean_low), float(attack.clean_high))]
    for budget, row in attack.table.iterrows():
        if not pd.isna(row["robust_accuracy"]):
            out.append(Metric(f"robustness.word_substitution.robust_accuracy@{budget}", float(row["robust_accuracy"]),
                              *_interval(row), description=f"at most {budget} words replaced"))
    return out
