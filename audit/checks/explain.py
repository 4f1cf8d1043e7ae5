"""Explanations check: global SHAP importance, per-group attributions, sensitive shares, SHAP vs LIME on chosen rows."""

from __future__ import annotations

import dataclasses
import logging
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from audit.checks import _explain_text as text
from audit.checks._base import Check
from audit.checks._explain_parts import (
    REGRESSION_UNITS_NOTE,
    SHAP_LIME_AGREEMENT_MIN,
    disagreement_note,
    explain_tables,
    reference_note,
    regression_extremes,
    relative_additivity,
    typical_rows,
)
from audit.context import AuditContext
from audit.explain import (
    REGRESSION_OUTPUT,
    TARGET_SE,
    ShapResult,
    exact_cost_estimate,
    global_explanation,
    lime_explanations,
    proxy_associations,
    shap_values,
    tree_shap_values,
)
from audit.errors import AuditInputError
from audit.plots.explain import beeswarm, importance_bars, shap_vs_lime
from audit.section import DeferredFigures, Metric, Section, metric_parts
from audit.stats import TOTAL_SHARE, bootstrap_shares

log = logging.getLogger(__name__)


#: models with more classes are explained for this many (the most often predicted), as fairness assesses 20
MAX_CLASSES = 20

_OUTPUT_WORDS = {"proba": "probabilities", "logit": "logits", "margin": "raw margins (log-odds)",
                 "value": "predicted values in the target's units"}
#: a regressor whose trees' raw output is a link function away from its prediction (log for Poisson)
_LINK_WORDS = "raw scores before the objective's link function"


class ExplainCheck(Check):
    """SHAP values (exact where affordable) on a sample of rows and LIME on a few chosen rows.

    A regressor is explained through its predicted value (one output, attributions in the target's units): native
    TreeSHAP for tree regressors, exact or permutation SHAP otherwise, LIME in regression mode; its chosen rows are
    the largest error, the highest and lowest prediction and a typical row per group.

    Parameters
    ----------
    n_rows : int
        Rows (seeded sample) whose SHAP values make the global view (models without a native tree
        algorithm).
    max_tree_rows : int
        Tree ensembles (exact TreeSHAP, linear in rows) explain every row up to this many; above it
        a seeded sample that keeps every row of each sensitive group smaller than
        ``small_group_rows``, so per-group attributions cover every group the fairness check does.
    small_group_rows : int
    n_background : int
        Background rows (from ``train`` when given, else from ``data``).
    n_lime_rows : int
        Rows explained by both SHAP and LIME: highest risk, most confidently misclassified, one
        typical row per sensitive group.
    lime_samples : int
        LIME samples per row.
    explainer : {"auto", "exact", "tree", "deep", "gradient", "permutation", "kernel"}
    output : {"proba", "logit"}
        What a classifier's SHAP values explain (a regressor's output is always its predicted value).
    proxy_threshold : float
        Association (Cramer's V / correlation ratio) at which a column counts as a proxy.
    n_bootstrap : int
        Bootstrap resamples of the explained rows for the intervals of the attribution shares.
    max_model_rows : int, optional
        Model rows the SHAP computation may evaluate; ``n_rows`` and ``n_background`` shrink (to
        at least 60 and 25) to fit. Default 3,000,000 for torch models, 400,000 for others. Exact
        values (and the exact reference that checks sampled ones) are computed only within 1.5x this;
        beyond it SHAP values are sampled, stopping at ``target_se`` or when it is spent.
    top : int
        Columns shown in the figures.
    target_se : float
        Sampled SHAP values stop once each row's largest standard error is at most this fraction of
        the model output's spread (default 0.01); the "SHAP computation" table shows what was reached.
    max_classes : int
        A model with more classes is explained for the ``max_classes`` it predicts most often (and the
        classes of the LIME rows), on rows predicted as one of them: time and memory grow with the
        classes explained (a 10,000-class model once took 9 GiB). At least 3; the fairness check caps
        its classes the same way.
    """

    name = "explain"
    requires = ("tabular_or_text", "scores", "model")
    requirement_reasons: ClassVar[dict[str, str]] = {
        "tabular_or_text": "SHAP/LIME tables are for tabular and text data; an image model's pixel attributions are in "
                           "the saliency check",
        "scores": "the model returns hard labels only; SHAP and LIME need scores",
    }
    title = "Explanations (SHAP and LIME)"
    tasks = ("binary", "multiclass", "regression")
    metric_patterns = (
        *text.PATTERNS,
        "explain.sensitive_attribution_share",
        "explain.<column>.attribution_share",
        "explain.<column>.proxy_attribution_share",
        "explain.shap_lime_rank_agreement",
        "explain.additivity_error",
        "explain.relative_additivity_error",
        "explain.shap_exact_correlation",
    )
    metric_docs: ClassVar[dict[str, str]] = {
        **text.DOCS,
        "explain.sensitive_attribution_share": "share of the total mean |SHAP| on sensitive columns the model takes as input",
        "explain.<column>.attribution_share": "share of the total mean |SHAP| on this sensitive column (0 when not an input)",
        "explain.<column>.proxy_attribution_share": "share of the total mean |SHAP| on columns associated with this sensitive column",
        "explain.shap_lime_rank_agreement": "mean Spearman rank correlation of |SHAP| and |LIME| weights over the chosen rows",
        "explain.additivity_error": "largest |sum of SHAP values + base value - model output| over explained rows "
                                    "(classifiers)",
        "explain.relative_additivity_error": "regressors: largest |sum of SHAP values + base value - prediction| over "
                                             "explained rows, over the predictions' standard deviation (unitless)",
        "explain.shap_exact_correlation": "correlation of the SHAP values with exact Shapley values (1 when computed "
                                          "exactly; not computed when the exact reference is over the budget)",
    }
    default_policy: ClassVar[dict[str, dict]] = {
        "explain.sensitive_attribution_share": {"max": 0.1, "severity": "warn"},
        "explain.additivity_error": {"max": 0.01, "severity": "warn"},
        "explain.relative_additivity_error": {"max": 0.01, "severity": "warn"},
        "explain.shap_exact_correlation": {"min": 0.95, "severity": "warn"},
        "explain.shap_lime_rank_agreement": {"min": SHAP_LIME_AGREEMENT_MIN, "severity": "warn"},
    }

    def __init__(
        self,
        *,
        n_rows: int = 300,
        n_background: int = 100,
        n_lime_rows: int = 6,
        lime_samples: int = 1000,
        explainer: str = "auto",
        output: Literal["proba", "logit"] = "proba",
        proxy_threshold: float = 0.2,
        n_bootstrap: int = 200,
        max_model_rows: int | None = None,
        top: int = 10,
        max_tree_rows: int = 4000,
        small_group_rows: int = 300,
        target_se: float = TARGET_SE,
        max_classes: int = MAX_CLASSES,
    ) -> None:
        self.max_classes = max_classes
        self.target_se = target_se
        self.max_tree_rows = max_tree_rows
        self.small_group_rows = small_group_rows
        self.n_rows = n_rows
        self.n_background = n_background
        self.n_lime_rows = n_lime_rows
        self.lime_samples = lime_samples
        self.explainer = explainer
        self.output = output
        self.proxy_threshold = proxy_threshold
        self.n_bootstrap = n_bootstrap
        self.max_model_rows = max_model_rows
        self.top = top

    # ------------------------------------------------------------------ rows
    def _chosen_rows(self, ctx: AuditContext) -> list[tuple[int, str]]:
        if ctx.is_regression:
            risk, chosen = ctx.prediction, regression_extremes(ctx)
        else:
            proba, pred = ctx.proba, ctx.pred
            risk = proba[:, 1] if ctx.is_binary else 1.0 - proba.max(axis=1)
            chosen = [(int(np.argmax(risk)), "highest risk" if ctx.is_binary else "least confident")]
            if ctx.y is not None:
                wrong = np.flatnonzero(pred != ctx.y)
                if len(wrong):
                    i = int(wrong[np.argmax(proba[wrong, pred[wrong]])])
                    chosen.append((i, "misclassified (most confident)"))
        chosen += typical_rows(ctx.data.sensitive, risk)
        out, seen = [], set()
        for i, why in chosen:
            if i not in seen:
                out.append((i, why))
                seen.add(i)
        return out[: self.n_lime_rows]

    # ------------------------------------------------------------------- run
    def specific_skip_reason(self, ctx: AuditContext) -> str | None:
        return text.skip_reason(ctx)

    def run(self, ctx: AuditContext) -> Section:
        if ctx.data.modality == "text":
            return text.text_explain_section(ctx, self._chosen_rows(ctx), self.n_rows, self.lime_samples, self.top)
        X = ctx.data.X
        rng = ctx.rng(self.name)
        seed = int(rng.integers(0, 2**31 - 1))
        source = ctx.train.X if ctx.train is not None else X
        chosen = self._chosen_rows(ctx)
        chosen_pos = [i for i, _ in chosen]
        shap = self._shap(ctx, rng, seed, source, chosen_pos)
        res, sample, notes = shap.res, shap.sample, shap.notes
        sens = ctx.data.sensitive
        assoc = proxy_associations(X, sens, seed=seed) if sens.shape[1] else None
        sub = _subset(res, len(sample))
        glob = global_explanation(sub, sens.iloc[sample], associations=assoc, proxy_threshold=self.proxy_threshold)
        notes += glob.notes
        lime = lime_explanations(ctx.model, X, chosen_pos, num_samples=self.lime_samples,
                                 training_data=source, seed=seed)
        shap_chosen, agree, agreement = _agreement(ctx, res, shap.explain_pos, chosen_pos, lime, notes)
        notes += reference_note(res)
        if ctx.is_regression:
            notes.append(REGRESSION_UNITS_NOTE.format(target=f"{ctx.data.target!r}" if ctx.data.target else "value"))
        metrics = self._metrics(glob, sub, sens.iloc[sample], res, agreement, rng)
        tables = explain_tables(ctx, res, glob, lime, chosen, shap_chosen, agree, X)
        figs = self._figures(glob, sub, res, lime, chosen, shap_chosen, sens, seed)
        summary = _summary(glob, res, len(sample), sens, agreement, len(chosen), notes)
        return Section(check=self.name, title=self.title, summary=summary, metrics=metrics, tables=tables,
                       figures=figs, notes=notes)

    def _shap(self, ctx: AuditContext, rng: np.random.Generator, seed: int, source: pd.DataFrame,
              chosen_pos: list[int]) -> _ShapRun:
        """SHAP values of the explained rows: native TreeSHAP on every row up to a cap where it applies, else a
        seeded sample sized to the model-row budget; plus the notes saying which and how many."""
        X = ctx.data.X
        n = len(X)
        # a torch forward on a batch of coalitions is far cheaper per row than a Python-side model call
        budget = float(self.max_model_rows or (3_000_000 if ctx.model.differentiable else 400_000))
        class_names = [str(c) for c in ctx.classes] or None  # a regressor: its one output, "prediction"
        keep = self._classes_to_explain(ctx, chosen_pos)
        # with classes capped, SHAP rows are rows predicted as a kept class: "each row's predicted class" stays true
        eligible = np.arange(n) if keep is None else np.flatnonzero(np.isin(ctx.pred, keep))
        res, why_not_tree = None, ""
        if ctx.model.backend.tree_ensemble and self.explainer in ("auto", "tree") and keep is None:
            # native TreeSHAP is linear in rows: explain them all, up to a cap that keeps small groups whole. Tried
            # first, so that a model it cannot take (categorical inputs) gets the sized sample below, not every row
            sample = self._tree_rows(ctx, rng)
            explain_pos = _with_chosen(sample, chosen_pos)
            res, why_not_tree = tree_shap_values(ctx.model, X.iloc[explain_pos], class_names=class_names,
                                                 space=ctx.space)
        tree = res is not None
        sized = ""
        if res is None:
            order = eligible[rng.choice(len(eligible), size=min(self.n_rows, len(eligible)), replace=False)]
            n_rows, n_bg, sized = self._fit_budget(ctx, X, order, source, budget, seed)
            sample = np.sort(order[:n_rows])
            explain_pos = _with_chosen(sample, chosen_pos)
            res = shap_values(
                ctx.model, X.iloc[explain_pos], background=source, explainer=self.explainer,
                output="value" if ctx.is_regression else self.output,
                n_background=n_bg, seed=seed, class_names=class_names, exact_budget=1.5 * budget, space=ctx.space,
                target_se=self.target_se, native_tree=False, outputs=None if keep is None else keep.tolist(),
            )
        notes = ([sized] if sized else []) + list(res.notes)
        if why_not_tree:
            notes.insert(0, f"Native TreeSHAP was not used ({why_not_tree}): {res.explainer} SHAP on a seeded sample "
                            "sized to the model-row budget instead of every row.")
        if keep is not None:
            notes.append(
                f"The model has {ctx.n_classes:,} classes: SHAP values are computed for the {len(keep)} it predicts most "
                f"often (cap max_classes={self.max_classes}) and the classes of the LIME rows, on rows predicted as one "
                f"of them ({len(eligible):,} of {n:,} rows); explaining every class would not fit in memory."
            )
        notes.append(self._budget_note(res, len(sample), n, len(chosen_pos), tree=tree, sized=bool(sized),
                                       budget=budget))
        if not res.in_data_columns:
            notes.append(
                f"The transform's {len(res.groups)} outputs could not be traced back to the data's columns (give it "
                "get_feature_names_out(), or use audit.transforms.TabularEncoder / a ColumnTransformer), so SHAP values "
                "are per model input (x0, x1, ...), not per column: attribution shares of sensitive columns and the "
                "SHAP-LIME agreement (LIME works on the data's columns) are not computed."
            )
        return _ShapRun(res=res, sample=sample, explain_pos=explain_pos, notes=notes)

    def _budget_note(self, res, explained: int, n: int, lime_count: int, *, tree: bool, sized: bool,
                     budget: float) -> str:
        """The row budget: rows explained of all, the cap or the sample and background, and the LIME rows."""
        lime_rows = f"; LIME on {lime_count} chosen row(s)" if lime_count else ""
        if tree:
            return f"Row budget: {explained:,} of {n:,} rows explained" + (
                f"{lime_rows}." if explained == n else f" (cap {self.max_tree_rows:,}; every row of sensitive groups "
                f"under {self.small_group_rows} rows kept, the rest a seeded sample){lime_rows}.")
        return (f"Row budget: {explained:,} of {n:,} rows explained (a seeded sample; n_rows={self.n_rows:,}"
                f"{', shrunk to the model-row budget' if sized else ''}) against {res.n_background:,} background rows"
                f"{lime_rows}; SHAP evaluated {res.model_rows:,} model rows (budget {1.5 * budget:,.0f}).")

    def _figures(self, glob, sub, res, lime, chosen, shap_chosen, sens, seed: int) -> DeferredFigures:
        """Importance bars, the beeswarm and SHAP beside LIME per chosen row, drawn when the report is written."""
        sensitive_cols = [c for c in sens.columns if c in glob.importance.index]
        proxy_cols = glob.proxies["feature"].tolist()
        phi_cols = _explained(sub, glob.explained)
        value = "prediction={:.4g}" if _regressor(res) else "p={:.2f}"
        titles = [f"row {i} · {why.replace(' (most confident)', '')} · {value.format(lime.model_prediction.iloc[j])}"
                  for j, (i, why) in enumerate(chosen)]

        def draw() -> list:
            out = importance_bars(glob.importance, sensitive=sensitive_cols, proxies=proxy_cols, top=self.top,
                                  explained=glob.explained)
            out += beeswarm(phi_cols, sub.data, glob.importance.index[: self.top], seed=seed, explained=glob.explained)
            if res.in_data_columns:  # side by side only when both explain the same columns
                out += shap_vs_lime(shap_chosen, lime.weights, titles)
            return out

        return DeferredFigures(draw)

    def row_budget(self, ctx: AuditContext, section: Section) -> str | None:
        return None  # run() states it: rows explained, the cap, and which rows were kept whole

    def _classes_to_explain(self, ctx: AuditContext, chosen: list[int]) -> np.ndarray | None:
        """Class positions to explain when the model has more than ``max_classes`` (None: every class): the most
        often predicted (ties: class order) and each LIME row's predicted class, in class order."""
        if isinstance(self.max_classes, bool) or not isinstance(self.max_classes, (int, np.integer)) or self.max_classes < 3:
            raise AuditInputError(f"max_classes must be an integer of at least 3, got {self.max_classes!r}")
        k = ctx.n_classes
        if k <= self.max_classes:
            return None
        top = np.argsort(-np.bincount(ctx.pred, minlength=k), kind="stable")[: self.max_classes]
        return np.union1d(top, ctx.pred[np.asarray(chosen, dtype=int)]).astype(int)

    def _tree_rows(self, ctx: AuditContext, rng: np.random.Generator) -> np.ndarray:
        """Every row up to ``max_tree_rows``; above it, every row of small sensitive groups plus a seeded sample."""
        n = len(ctx.data.X)
        if n <= self.max_tree_rows:
            return np.arange(n)
        keep = np.zeros(n, dtype=bool)
        for c in ctx.data.sensitive.columns:
            codes, _ = pd.factorize(ctx.data.sensitive[c].astype(str))
            sizes = np.bincount(codes)
            keep |= sizes[codes] < self.small_group_rows
        kept = np.flatnonzero(keep)[: self.max_tree_rows]
        rest = np.flatnonzero(~keep)
        fill = rng.choice(rest, size=min(len(rest), max(0, self.max_tree_rows - len(kept))), replace=False)
        return np.sort(np.concatenate([kept, fill]))

    def _fit_budget(self, ctx: AuditContext, X: pd.DataFrame, order: np.ndarray, source: pd.DataFrame,
                    budget: float, seed: int) -> tuple[int, int, str]:
        """Rows and background size whose exact SHAP cost fits ``budget`` model rows (deterministic)."""
        n_rows, n_bg = len(order), min(self.n_background, len(source))
        probe = X.iloc[np.sort(order[:40])]
        m = min(40, len(source))
        per_pair = exact_cost_estimate(ctx.model, probe, source, n_background=m, seed=seed,
                                       space=ctx.space) / (len(probe) * m)
        if per_pair * n_rows * n_bg <= budget:
            return n_rows, n_bg, ""
        n_bg = max(min(25, n_bg), min(n_bg, int(budget / (per_pair * n_rows))))
        n_rows = max(min(60, n_rows), min(n_rows, int(budget / (per_pair * n_bg))))
        return n_rows, n_bg, (
            f"SHAP sized to the compute budget ({budget:,.0f} model rows, about {per_pair:.0f} per row and background "
            f"pair): {n_rows} rows against {n_bg} background rows instead of {self.n_rows} against {self.n_background}."
        )

    def _metrics(self, glob, sub, sens, res, agreement, rng) -> list[Metric]:
        out = self._all_metrics(glob, sub, sens, res, agreement, rng)
        if not res.in_data_columns:  # shares of columns cannot be read off model inputs that map to no column
            out = [dataclasses.replace(m, value=float("nan"), low=None, high=None)
                   if m.name.endswith("attribution_share") else m for m in out]
        return out

    def _all_metrics(self, glob, sub, sens, res, agreement, rng) -> list[Metric]:
        phi = _explained(sub, glob.explained)
        shares = bootstrap_shares(phi, list(sens.columns), self.n_bootstrap, rng)
        direct = [c for c in sens.columns if c in phi.columns]
        out = []
        lo, hi = (np.nanpercentile(shares[TOTAL_SHARE], [2.5, 97.5]) if direct and self.n_bootstrap else (None, None))
        if len(sens.columns):  # with no sensitive columns the share is not a finding
            out.append(Metric("explain.sensitive_attribution_share", glob.sensitive_share, _f(lo), _f(hi), False,
                              "share of mean |SHAP| on sensitive input columns"))
        parts = metric_parts(sens.columns)  # column names made safe for Markdown / XML / HTML, like every check
        for c in sens.columns:
            c = str(c)
            lo = hi = None
            if c in phi.columns and self.n_bootstrap:
                lo, hi = np.nanpercentile(shares[c], [2.5, 97.5])
            out.append(Metric(f"explain.{parts[c]}.attribution_share", glob.column_share[c], _f(lo), _f(hi), False,
                              f"share of mean |SHAP| on {c}"))
            out.append(Metric(f"explain.{parts[c]}.proxy_attribution_share", glob.proxy_share.get(c, float("nan")),
                              higher_is_better=False, description=f"share of mean |SHAP| on proxies of {c}"))
        out.append(Metric("explain.shap_lime_rank_agreement", agreement, higher_is_better=True,
                          description="mean Spearman correlation of |SHAP| and |LIME| rankings on chosen rows",
                          not_computed="" if res.in_data_columns else (
                              "SHAP values are per model input, which the transform's outputs do not map back to "
                              "columns, and LIME weighs columns, so their rankings cannot be compared")))
        out.append(relative_additivity(res) if _regressor(res) else Metric(
            "explain.additivity_error", res.additivity_error, higher_is_better=False,
            description="max |sum SHAP + base - model output|"))
        # only a check of an approximation: skipped for cost, it must not decide the verdict (Metric.not_computed)
        skipped = res.reference_skipped and not np.isfinite(res.reference_correlation)
        out.append(Metric("explain.shap_exact_correlation", res.reference_correlation, higher_is_better=True,
                          description=f"correlation with exact Shapley values on {res.reference_rows} rows",
                          not_computed=f"{res.reference_skipped}; a larger [checks.explain] max_model_rows lets the "
                                       "audit compute it" if skipped else ""))
        return out


@dataclasses.dataclass
class _ShapRun:
    """The SHAP values of a run, the sampled rows (positions), the rows explained (sample then the chosen rows
    outside it) and the notes on how they were computed."""

    res: ShapResult
    sample: np.ndarray
    explain_pos: np.ndarray
    notes: list[str]


def _agreement(ctx: AuditContext, res, explain_pos: np.ndarray, chosen_pos: list[int], lime,
               notes: list[str]) -> tuple[pd.DataFrame, list[float], float]:
    """SHAP values of the chosen rows (for the class LIME explained), the Spearman rank agreement of |SHAP| and
    |LIME| per row and its mean; notes on undefined and low agreement are appended to ``notes``."""
    class_names = [str(c) for c in ctx.classes] or res.classes  # a regressor: its one output
    pos_to_label = dict(zip(explain_pos.tolist(), res.data.index))
    shap_chosen = pd.DataFrame([
        res.for_class(class_names[int(c)], by_column=True).loc[pos_to_label[i]] for i, c in zip(chosen_pos, lime.explained_class)
    ])
    agree = [_spearman(shap_chosen.iloc[j].abs(), lime.weights.iloc[j].abs()) if res.in_data_columns else float("nan")
             for j in range(len(chosen_pos))]
    finite = [a for a in agree if np.isfinite(a)]
    agreement = float(np.mean(finite)) if finite else float("nan")
    if len(finite) < len(agree) and res.in_data_columns:
        notes.append("SHAP-LIME rank agreement is undefined for rows where one method gives all columns equal weight.")
    if np.isfinite(agreement) and agreement < SHAP_LIME_AGREEMENT_MIN:
        notes.append(disagreement_note(agreement, res, lime.score))
    return shap_chosen, agree, agreement


def _summary(glob, res, explained: int, sens: pd.DataFrame, agreement: float, n_chosen: int, notes: list[str]) -> str:
    """The section's summary: what the model leans on, the sensitive share and the SHAP-LIME agreement (without
    sensitive columns a note saying so is appended to ``notes``)."""
    top3 = ", ".join(glob.importance.index[:3])
    regressor = _regressor(res)
    whose = "predictions lean" if regressor else f"{glob.explained} output leans"
    words = _LINK_WORDS if regressor and res.output == "margin" else _OUTPUT_WORDS.get(res.output, res.output)
    summary = f"The model's {whose} most on {top3} ({res.explainer} SHAP on {explained} rows, {words} explained)."
    if sens.shape[1]:
        summary += f" Sensitive input columns carry {glob.sensitive_share:.1%} of the attribution"
        proxies = set(glob.proxies["feature"])
        if proxies:
            summary += f", their proxies ({', '.join(sorted(proxies))}) {float(glob.importance.loc[sorted(proxies), 'share'].sum()):.1%}"
        summary += "."
    else:
        notes.append("No sensitive columns were given: attribution shares on sensitive columns are not computed.")
    if res.in_data_columns:
        summary += f" SHAP and LIME rankings agree with mean Spearman {agreement:.2f} on {n_chosen} chosen rows"
        summary += (f" (below {SHAP_LIME_AGREEMENT_MIN}: one of the two is unreliable there, see the notes)."
                    if agreement < SHAP_LIME_AGREEMENT_MIN else ".")
    return summary


def _regressor(res: ShapResult) -> bool:
    """True for a regressor's values: one output, its prediction (a classifier has a column per class)."""
    return res.classes == [REGRESSION_OUTPUT]


def _with_chosen(sample: np.ndarray, chosen: list[int]) -> np.ndarray:
    """The sampled rows, then the chosen (LIME) rows not among them: the rows SHAP explains."""
    seen = set(sample.tolist())
    return np.concatenate([sample, np.asarray([i for i in chosen if i not in seen], dtype=int)])


def _f(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _spearman(a: pd.Series, b: pd.Series) -> float:
    b = b.reindex(a.index).fillna(0.0)
    if a.nunique() < 2 or b.nunique() < 2:
        return float("nan")
    return float(spearmanr(a.to_numpy(), b.to_numpy()).statistic)


def _subset(res, n: int):
    """The first ``n`` rows of a ShapResult (the random sample; chosen extra rows come after)."""
    from dataclasses import replace

    return replace(
        res,
        values={k: v.iloc[:n] for k, v in res.values.items()},
        values_by_column={k: v.iloc[:n] for k, v in res.values_by_column.items()},
        standard_errors={k: v.iloc[:n] for k, v in res.standard_errors.items()},
        model_output=res.model_output.iloc[:n],
        data=res.data.iloc[:n],
    )


def _explained(res, explained: str) -> pd.DataFrame:
    """Per-column attributions of what the global view explains (class k or each row's predicted class)."""
    if explained.startswith("class "):
        return res.for_class(explained[len("class "):], by_column=True)
    pred = res.model_output.to_numpy().argmax(axis=1)
    stack = np.stack([res.for_class(c, by_column=True).to_numpy() for c in res.classes], axis=2)
    ref = res.for_class(res.classes[0], by_column=True)
    return pd.DataFrame(stack[np.arange(len(pred)), :, pred], index=ref.index, columns=ref.columns)
