"""Fairness in text: the bias AUCs of Borkan et al. (2019) for identity groups, and counterfactual identity-term swaps.

Groups are the levels of the sensitive columns (``race=African-American``) and the identity groups whose terms a
text mentions (:func:`audit.fairness.identity_groups`, terms editable through ``terms=``). For each, on a binary
classifier's positive-class score: the subgroup AUC (within the group), BPSN (background positives, subgroup
negatives: low when the group's negatives score high) and BNSP (background negatives, subgroup positives: low when
the group's positives score low), with bootstrap intervals and their power means (p = -5) over groups
(:func:`audit.fairness.bias_aucs`). The swap test replaces each mentioned identity term by its counterpart in the
same family's other groups and measures the change in score and in decision (:func:`audit.fairness.identity_swaps`);
a model that reads "she" differently from "he" changes its answer where nothing else changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd

from audit.checks._base import Check
from audit.context import AuditContext
from audit.fairness import (
    BIAS_AUC_METRICS,
    bias_aucs,
    default_identity_terms,
    identity_groups,
    identity_swaps,
    template_texts,
)
from audit.section import Metric, Section, metric_parts


class TextFairnessCheck(Check):
    """Bias AUCs per identity group and identity-term swaps for a text classifier.

    Parameters
    ----------
    terms : mapping, optional
        Identity terms: ``{family: {group: [terms]}}``; default the bundled list (``default_identity_terms()``).
    templates : list of str, optional
        Neutral sentences with a ``{term}`` slot for the template swap test; default the bundled ones
        (``default_identity_templates()``); ``[]`` turns it off.
    max_swap_texts : int
        Texts mentioning an identity term that the swap test rewrites at most (a seeded sample beyond).
    n_boot : int
        Bootstrap resamples of the AUCs' and score changes' intervals.
    min_group_size : int, optional
        Groups with fewer rows are shown but left out of the power means; default the audit-wide one.
    """

    name = "text_fairness"
    title = "Fairness in text (identity terms)"
    requires = ("labels", "scores", "model", "text")
    tasks = ("binary",)
    task_reasons: ClassVar[dict[str, str]] = {
        "multiclass": "bias AUCs and swap decisions read one positive-class score; this is a multiclass model (the "
                      "fairness check covers its groups one class at a time)",
        "regression": "bias AUCs and swap decisions read a class score; this is a regressor",
    }
    metric_patterns: ClassVar[tuple[str, ...]] = (
        *(f"text_fairness.<group>.{m}" for m in BIAS_AUC_METRICS),
        *(f"text_fairness.power_mean_{m}" for m in BIAS_AUC_METRICS),
        *(f"text_fairness.min_{m}" for m in BIAS_AUC_METRICS),
        "text_fairness.swap.<family>.max_flip_rate",
        "text_fairness.swap.<family>.max_abs_score_change",
        "text_fairness.template_swap.<family>.max_flip_rate",
        "text_fairness.template_swap.<family>.max_abs_score_change",
    )
    metric_docs: ClassVar[dict[str, str]] = {
        "text_fairness.<group>.subgroup_auc": "ROC AUC within an identity group (a sensitive level or texts mentioning "
        "the group's terms); binary classifiers",
        "text_fairness.<group>.bpsn_auc": "AUC of background positives against the group's negatives: low when the "
        "group's negatives score high (false alarms tied to the identity)",
        "text_fairness.<group>.bnsp_auc": "AUC of background negatives against the group's positives: low when the "
        "group's positives score low",
        **{f"text_fairness.power_mean_{m}": f"generalised mean (p = -5) of the {m.replace('_', ' ')} over groups with "
           "min_group_size rows (Borkan et al. 2019)" for m in BIAS_AUC_METRICS},
        **{f"text_fairness.min_{m}": f"lowest {m.replace('_', ' ')} over groups with min_group_size rows (its "
           "group's own interval)" for m in BIAS_AUC_METRICS},
        "text_fairness.swap.<family>.max_flip_rate": "largest share of texts whose decision changes when an identity "
        "term is replaced by another of the same family (e.g. gender), over the family's group pairs; Wilson interval",
        "text_fairness.swap.<family>.max_abs_score_change": "largest mean |change in the positive-class score| under "
        "those swaps, over the family's group pairs; bootstrap interval",
        "text_fairness.template_swap.<family>.max_flip_rate": "the same on neutral template sentences that differ only "
        "in the identity term ('the {term} was arrested'; templates= to edit), whatever the audited texts mention",
        "text_fairness.template_swap.<family>.max_abs_score_change": "largest mean |score change| between template "
        "sentences that differ only in the identity term, over the family's group pairs",
    }
    default_policy: ClassVar[dict[str, dict[str, Any]]] = {
        "text_fairness.swap.*.max_flip_rate": {"max": 0.05, "severity": "warn"},
    }

    def __init__(self, *, terms: Mapping[str, Any] | None = None, templates: list[str] | None = None,
                 max_swap_texts: int = 2000, n_boot: int = 1000, min_group_size: int | None = None) -> None:
        self.terms = terms
        self.templates = templates
        self.max_swap_texts = max_swap_texts
        self.n_boot = n_boot
        self.min_group_size = min_group_size

    def row_budget(self, ctx: AuditContext, section: Section) -> str | None:
        return (f"all {ctx.n_rows:,} texts for the AUCs (counting); the swap test rewrites at most "
                f"{self.max_swap_texts:,} texts that mention an identity term (max_swap_texts)")

    def run(self, ctx: AuditContext) -> Section:
        column = ctx.data.X.columns[0]
        texts = ctx.data.X[column].astype(str).tolist()
        terms = self.terms if self.terms is not None else default_identity_terms()
        mgs = int(ctx.options.resolve(self.min_group_size, "min_group_size"))
        seed = ctx.torch_seed(self.name)
        metrics: list[Metric] = []
        tables: dict[str, pd.DataFrame] = {}
        notes: list[str] = []
        summary = []
        positive = list(ctx.classes).index(ctx.positive_class[0])
        groups = self._groups(ctx, texts, terms)
        auc = bias_aucs((ctx.y == positive).astype(int), ctx.proba[:, positive], groups, n_boot=self.n_boot, seed=seed,
                        min_group_size=mgs)
        metrics += self._auc_metrics(auc)
        tables["Bias AUCs per group"] = auc.aucs.reset_index()
        tables["Bias AUCs: overall and over groups"] = auc.summary
        notes += auc.notes
        low = auc.summary.loc["min_bpsn_auc"]
        if not pd.isna(low["value"]):
            summary.append(f"Lowest BPSN AUC {low['value']:.3f} ({low['group']}) against "
                           f"{auc.summary.loc['overall_auc', 'value']:.3f} overall, over {int(low['n_groups'])} groups.")
        def predict(batch: list[str]):
            return ctx.model.predict_proba(pd.DataFrame({column: list(batch)}), what="swapped texts")

        swaps = identity_swaps(predict, texts, terms, positive_class=positive, n_boot=self.n_boot,
                               seed=seed, max_texts=self.max_swap_texts)
        metrics += self._swap_metrics(swaps)
        if len(swaps.pairs):
            tables["Identity-term swaps"] = swaps.pairs.reset_index()
            tables["Swaps: largest per family"] = swaps.families
            flips = swaps.variants[swaps.variants["flip"]].head(10)
            if len(flips):
                tables["Swaps that change the decision (examples)"] = flips[["family", "from_group", "to_group", "text",
                                                                            "swapped", "score", "swapped_score"]]
            worst = swaps.families["max_flip_rate"].astype(float).idxmax()
            rate = swaps.families.loc[worst, "max_flip_rate"]
            summary.append(f"Swapping identity terms changes the decision for up to {rate:.1%} of texts ({worst}: {swaps.families.loc[worst, 'flip_from']} -> "
                           f"{swaps.families.loc[worst, 'flip_to']}), over {swaps.n_texts:,} texts that mention a term.")
        else:
            summary.append("No text mentions an identity term of the list: no swap test.")
        notes += swaps.notes
        if self.templates is None or len(self.templates):
            probe = template_texts(terms, self.templates)
            tswaps = identity_swaps(predict, probe, terms, positive_class=positive, n_boot=self.n_boot, seed=seed)
            metrics += self._swap_metrics(tswaps, "template_swap")
            tables["Template swaps: largest per family"] = tswaps.families
            notes.append(f"Template swaps: {len(probe):,} neutral sentences ('the {{term}} was arrested', ...) filled "
                         "with each family's first group's terms, rewritten into every other group of the family.")
        return Section(check=self.name, title=self.title, summary=" ".join(summary), metrics=metrics, tables=tables,
                       notes=notes)

    @staticmethod
    def _groups(ctx: AuditContext, texts: list[str], terms: Mapping[str, Any]) -> pd.DataFrame:
        """Boolean group columns: each sensitive column's levels, then the identity groups some text mentions."""
        cols = {}
        for c in ctx.data.sensitive.columns:
            values = ctx.data.sensitive[c].astype(str).to_numpy()
            for level in sorted(set(values)):
                cols[f"{c}={level}"] = values == level
        found = identity_groups(texts, terms)
        for g in found.columns:
            if found[g].any() and g not in cols:
                cols[str(g)] = found[g].to_numpy()
        return pd.DataFrame(cols)

    @staticmethod
    def _auc_metrics(auc) -> list[Metric]:
        out = []
        parts = metric_parts(auc.groups.index.astype(str))
        for (group, m), row in auc.aucs.iterrows():
            if not pd.isna(row["auc"]):
                low, high = (None, None) if pd.isna(row["low"]) else (float(row["low"]), float(row["high"]))
                out.append(Metric(f"text_fairness.{parts[str(group)]}.{m}", float(row["auc"]), low, high))
        for m, row in auc.summary.iterrows():
            if m != "overall_auc" and not pd.isna(row["value"]):
                low, high = (None, None) if pd.isna(row["low"]) else (float(row["low"]), float(row["high"]))
                out.append(Metric(f"text_fairness.{m}", float(row["value"]), low, high))
        return out

    @staticmethod
    def _swap_metrics(swaps, kind: str = "swap") -> list[Metric]:
        out = []
        for fam, row in swaps.families.iterrows():
            if not pd.isna(row["max_flip_rate"]):
                out.append(Metric(f"text_fairness.{kind}.{fam}.max_flip_rate", float(row["max_flip_rate"]),
                                  *_bounds(row, "flip"), higher_is_better=False,
                                  description=f"{row['flip_from']} -> {row['flip_to']}"))
            if not pd.isna(row["max_abs_score_change"]):
                out.append(Metric(f"text_fairness.{kind}.{fam}.max_abs_score_change", float(row["max_abs_score_change"]),
                                  *_bounds(row, "abs_change"), higher_is_better=False,
                                  description=f"{row['abs_from']} -> {row['abs_to']}"))
        return out


def _bounds(row: pd.Series, prefix: str) -> tuple[float | None, float | None]:
    lo, hi = row.get(f"{prefix}_low"), row.get(f"{prefix}_high")
    return (None, None) if lo is None or pd.isna(lo) else (float(lo), float(hi))
