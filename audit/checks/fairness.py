"""Fairness check: group metrics, disparities with bootstrap intervals, intersections and proxies.

What is computed
----------------
- Binary models: the positive class is the second class (``ctx.classes[1]``), or
  ``positive_class`` (an audit-wide option) when set (any model: that class against the rest).
- Multiclass models without ``positive_class``: one-vs-rest for every class; each gated metric is
  the worst class (largest difference, smallest ratio) with that class's interval, and the tables
  carry a ``class`` level.
- Per sensitive column and for the intersection of all of them (``fairness.intersection.*`` when
  there are two or more columns): fairlearn's disparities and, for every group metric, the
  difference (max - min) and ratio (min / max) over groups with at least ``min_group_size`` rows.
- Top-level ``fairness.<disparity>`` = the worst over the single sensitive columns (not the
  intersection, whose small cells make it noisy; gate it with ``fairness.intersection.<disparity>``),
  with the interval of that worst-over-columns statistic from the same resamples.
- Every gated disparity and gap is the bias-corrected estimate (``corrected`` in the tables; the
  plug-in value, fairlearn's number, is the table's ``value`` and is quoted in the description), with
  an interval that bounds every pairwise contrast at once and a permutation p-value for "no gap"
  (:mod:`audit.stats._gaps`). The policy fails a gap only when the interval's lower end is
  above the threshold (:func:`audit.policy.gap_rule`).
- Regressors: per-group mean prediction, MAE, RMSE, R^2 and mean residual, their gaps under the same gap rule,
  the worst group's loss and distributional parity of predictions (KS), per column, for the intersection and
  worst over columns (:mod:`audit.checks._fairness_regression`, which says which numbers have starter thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from audit.checks import _fairness_regression as regression
from audit.checks._base import Check
from audit.context import AuditContext
from audit.errors import AuditInputError
from audit.fairness import (
    DISPARITIES,
    INTERSECTION,
    FairnessAssessment,
    ProxyResult,
    RegressionFairness,
    assess_fairness,
    findings_table,
    proxy_auc,
)
from audit.plots.fairness import disparity_bars, group_bars, heat_map
from audit.section import DeferredFigures, Metric, Section, metric_part, metric_parts
from audit.stats import GapEvidence, family_confidence, worst_of
from audit.text import short_label

#: multiclass models: one-vs-rest assessments for at most this many classes (the most frequent)
MAX_CLASSES = 20
GAP_METRICS = ("selection_rate", "accuracy", "true_positive_rate", "false_positive_rate", "false_negative_rate",
               "true_negative_rate", "precision", "roc_auc")


@dataclass
class FairnessSection(Section):
    """The fairness section plus typed results (one :class:`FairnessAssessment` per positive class; a regressor's
    :class:`RegressionFairness` per sensitive column, and for their intersection)."""

    assessments: dict[str, FairnessAssessment] | None = None
    proxies: ProxyResult | None = None
    regression: RegressionFairness | None = None
    regression_intersection: RegressionFairness | None = None


def metric_key(name: str) -> str:
    """A sensitive column name as one dotted part of a metric name (``"home zip"`` -> ``"home_zip"``);
    :func:`audit.section.metric_part`, which every check uses."""
    return metric_part(name)


def _keys(names: list[str]) -> dict[str, str]:
    """Metric-name part of each view and sensitive column; ``intersection`` first, so a column whose name
    reads the same (``"intersection!"``) becomes ``intersection_2`` and never takes the intersection's name."""
    return metric_parts([INTERSECTION, *names])


def _patterns() -> tuple[str, ...]:
    top = tuple(f"fairness.{d}" for d in DISPARITIES)
    per = tuple(f"fairness.<column>.{d}" for d in DISPARITIES)
    gaps = tuple(f"fairness.<column>.{m}_{k}" for m in GAP_METRICS for k in ("difference", "ratio"))
    return top + per + gaps + ("fairness.<column>.proxy_auc",) + regression.PATTERNS


_DISPARITY_DOCS = {
    "demographic_parity_difference": "max - min selection rate over groups",
    "demographic_parity_ratio": "min / max selection rate over groups (four-fifths rule: >= 0.8)",
    "equalized_odds_difference": "larger of the true- and false-positive-rate differences over groups",
    "equalized_odds_ratio": "smaller of the true- and false-positive-rate ratios over groups",
    "equal_opportunity_difference": "max - min true positive rate over groups",
    "equal_opportunity_ratio": "min / max true positive rate over groups",
}


def _gap_words(doc: str, plug_in: float, p_value: float, n_perm: int) -> str:
    """A gap's description: what it is, that it is bias-corrected, its plug-in value and its test.

    >>> _gap_words("max - min selection rate over groups", 0.0831, 0.012, 1000)
    'max - min selection rate over groups; bias-corrected (plug-in, as fairlearn: 0.0831); permutation test of no gap: p = 0.012 (1,000 permutations)'
    """
    if np.isnan(plug_in):
        return doc
    text = f"{doc}; bias-corrected (plug-in, as fairlearn: {plug_in:.4g})"
    if not np.isnan(p_value):
        text += f"; permutation test of no gap: p = {p_value:.2g} ({n_perm:,} permutations)"
    return text


def _who(row: pd.Series, label: str, n_classes: int, column: str | None = None) -> str:
    """Which groups and values decide a disparity, and which column when the metric's name does not say it
    (``column``: the worst-over-columns metrics), as a finding quotes it.

    >>> row = pd.Series({"metric": "selection_rate", "best_group": "Male", "best_value": 0.25, "worst_group": "Female",
    ...                  "worst_value": 0.08})
    >>> _who(row, "1", 1, column="sex")
    'sex, selection rate 0.25 for Male vs 0.08 for Female'
    """
    if row.get("best_group") is None or pd.isna(row.get("best_value")):
        return ""
    text = (f"{row['metric'].replace('_', ' ')} {row['best_value']:.2f} for {short_label(row['best_group'])} vs "
            f"{row['worst_value']:.2f} for {short_label(row['worst_group'])}")
    if column is not None:
        text = f"{short_label(column)}, {text}"
    return text + (f" (class {short_label(label)})" if n_classes > 1 else "")


def add_proxies(res: ProxyResult, names: list[str], *, tables: dict[str, pd.DataFrame], metrics: list[Metric],
                notes: list[str], on: str = "") -> None:
    """Add one :func:`~audit.fairness.proxy_auc` result to a fairness section's parts, in place: its tables
    (``Proxies``, ``Proxy features``), one ``fairness.<column>.proxy_auc`` metric per sensitive column and its notes.

    The fairness check and the Dask engine (which runs proxy detection on its sample) both report proxies
    through this one function. ``names`` are the sensitive columns (their metric-name parts come from
    :func:`_keys`); ``on`` says where the AUC was computed (``" on the sample"``), empty for every row.
    """
    tables["Proxies"] = res.table
    tables["Proxy features"] = res.by_feature
    keys = _keys(names)
    for col, row in res.table.iterrows():
        lo, hi = row.get("proxy_auc_low"), row.get("proxy_auc_high")
        metrics.append(Metric(f"fairness.{keys[str(col)]}.proxy_auc", float(row["proxy_auc"]),
                              None if lo is None or pd.isna(lo) else float(lo),
                              None if hi is None or pd.isna(hi) else float(hi), higher_is_better=False,
                              description=f"how well the other features predict {col} (ROC AUC{on}, 0.5 = not at all; "
                                          f"{int(row['rows']):,} rows)"))
    notes.extend(res.notes)
    for col, row in res.table.iterrows():
        if row["is_model_feature"]:
            notes.append(f"{col} is itself a model feature: the model sees it directly (proxy AUC uses the other features).")


class FairnessCheck(Check):
    """Per-group metrics, disparities with bootstrap intervals, intersections and proxy detection.

    Parameters
    ----------
    n_boot : int
        Bootstrap resamples for every interval (vectorised; 1,000 takes well under a second here).
    confidence : float
        Interval coverage.
    min_group_size : int, optional
        Groups with fewer rows are flagged and left out of gated metrics; default
        the audit-wide ``min_group_size`` (30 unless set).
    include_small_groups : bool
        Keep small groups in the gated metrics.
    proxies : bool
        Run proxy detection (how well the features predict each sensitive column).
    positive_is_favorable : bool, optional
        Whether the positive class benefits the person (decides the "best" selection rate);
        default the audit-wide ``positive_is_favorable`` (True unless set).
    """

    name = "fairness"
    requires = ("labels", "sensitive")
    tasks = ("binary", "multiclass", "regression")
    title = "Fairness"
    uses_weights = True
    metric_patterns: ClassVar[tuple[str, ...]] = _patterns()
    metric_docs: ClassVar[dict[str, str]] = {
        **{f"fairness.{d}": f"{doc}; worst over the sensitive columns. Like every gap: bias-corrected, with an interval that "
           "covers a gap of 0 and a permutation p-value for 'no gap' (plug-in value, as fairlearn, in the tables)"
           for d, doc in _DISPARITY_DOCS.items()},
        **{f"fairness.<column>.{d}": f"{doc}, for one sensitive column (or 'intersection')" for d, doc in _DISPARITY_DOCS.items()},
        **{f"fairness.<column>.{m}_difference": f"max - min {m.replace('_', ' ')} over the column's groups" for m in GAP_METRICS},
        **{f"fairness.<column>.{m}_ratio": f"min / max {m.replace('_', ' ')} over the column's groups" for m in GAP_METRICS},
        "fairness.<column>.proxy_auc": "cross-validated ROC AUC of predicting the column from the other features (0.5: no proxy)",
        **regression.DOCS,
    }
    default_policy: ClassVar[dict[str, dict[str, Any]]] = {
        "fairness.demographic_parity_difference": {"max": 0.1, "severity": "fail"},
        "fairness.equalized_odds_difference": {"max": 0.1, "severity": "fail"},
        "fairness.demographic_parity_ratio": {"min": 0.8, "severity": "warn"},
        "fairness.*.proxy_auc": {"max": 0.8, "severity": "warn"},
        **regression.POLICY,
    }

    def __init__(
        self,
        *,
        n_boot: int = 1000,
        confidence: float = 0.95,
        min_group_size: int | None = None,
        include_small_groups: bool = False,
        proxies: bool = True,
        positive_is_favorable: bool | None = None,
    ) -> None:
        self.n_boot = n_boot
        self.confidence = confidence
        self.min_group_size = min_group_size
        self.include_small_groups = include_small_groups
        self.proxies = proxies
        self.positive_is_favorable = positive_is_favorable

    # ------------------------------------------------------------------ helpers
    def _tasks(self, ctx: AuditContext) -> list[tuple[str, int]]:
        classes = list(ctx.classes)
        if ctx.options.positive_class is not None:  # the audit-wide rule (audit.context.positive_class_of)
            i = classes.index(ctx.positive_class[0])
            return [(str(classes[i]), i)]
        if ctx.n_classes == 2:
            return [(str(classes[1]), 1)]
        if ctx.n_classes > MAX_CLASSES:  # the most frequent classes (ties: class order), in class order
            keep = np.sort(np.argsort(-np.bincount(ctx.y, minlength=ctx.n_classes), kind="stable")[:MAX_CLASSES])
            return [(str(classes[i]), int(i)) for i in keep]
        return [(str(c), i) for i, c in enumerate(classes)]

    def _views(self, names: list[str]) -> dict[str, tuple[str, ...]]:
        views = {n: (n,) for n in names}
        if len(names) > 1:
            views[INTERSECTION] = tuple(names)
        if len(names) > 2:
            views[f"{names[0]} x {names[1]}"] = (names[0], names[1])  # for the heat map only
        return views

    # ---------------------------------------------------------------------- run
    def run(self, ctx: AuditContext) -> Section:
        sens = ctx.data.sensitive.copy()
        names = [str(c) for c in sens.columns]
        if INTERSECTION in names:
            raise AuditInputError(f"a sensitive column is named {INTERSECTION!r}, which is reserved; rename it")
        min_size = int(ctx.options.resolve(self.min_group_size, "min_group_size"))
        if ctx.is_regression:
            return self._run_regression(ctx, names, min_size)
        favorable = bool(ctx.options.resolve(self.positive_is_favorable, "positive_is_favorable"))
        tasks = self._tasks(ctx)
        views = self._views(names)
        gated = [v for v in views if v in names or v == INTERSECTION]
        rng = ctx.rng(self.name)
        results: dict[str, FairnessAssessment] = {}
        settings = dict(n_boot=self.n_boot, confidence=self.confidence, min_group_size=min_size,
                        include_small_groups=self.include_small_groups, positive_is_favorable=favorable, views=views,
                        family=len(tasks))
        for label, k in tasks:
            seed = int(rng.integers(2**31 - 1))
            # the cells' positive class: count from them (exact; merged on Dask). Cells count rows: weighted rows
            # go through the rows, where every rate, interval and test weighs them (fairlearn's sample_params)
            if ctx.is_binary and k == 1 and ctx.weights is None:
                results[label] = assess_fairness(None, None, None, cells=ctx.cells(), seed=seed, **settings)
                continue
            score = ctx.proba[:, k] if ctx.model.has_scores else None
            results[label] = assess_fairness((ctx.y == k).astype(np.int8), (ctx.pred == k).astype(np.int8), sens,
                                             y_score=score, seed=seed, sample_weight=ctx.weights, **settings)
        metrics = self._metrics(results, gated)
        multiclass = len(tasks) > 1
        pick = self._figure_class(results)
        res = results[pick]
        notes = self._notes(ctx, tasks, results, multiclass, [v for v in views if v not in gated], favorable)
        findings = pd.concat([findings_table(r, gated).assign(**{"class": c}) for c, r in results.items()], ignore_index=True)
        if not multiclass:
            findings = findings.drop(columns=["class"])
        tables: dict[str, pd.DataFrame] = {}
        tables["Findings"] = findings
        tables["Disparities"] = self._stack({c: r.disparities.loc[gated] for c, r in results.items()}, multiclass)
        for v in gated:
            title = "Intersection" if v == INTERSECTION else f"Groups by {v}"
            tables[title] = self._stack({c: r.groups[v] for c, r in results.items()}, multiclass)
        tables["Metric gaps"] = self._stack({c: r.gaps.loc[gated] for c, r in results.items()}, multiclass)
        def draw() -> list:
            figs = [*disparity_bars(res, gated)]
            figs += group_bars({n: res.groups[n] for n in names}, self.confidence)
            pair = next((v for v in views if len(views[v]) == 2), None)
            if pair is not None:  # with two columns the pair is the gated intersection, which has its table
                figs += heat_map(res.groups[pair], in_table="Intersection" if pair == INTERSECTION else "")
            return figs

        figures = DeferredFigures(draw)
        proxies = self._proxies(ctx, names, rng, notes)
        if proxies is not None:
            add_proxies(proxies, names, tables=tables, metrics=metrics, notes=notes)
        summary = self._summary(ctx, results, findings, gated, multiclass)
        return FairnessSection(
            check=self.name, title=self.title, summary=summary, metrics=metrics, tables=tables, figures=figures,
            notes=notes, assessments=results, proxies=proxies,
        )

    def _run_regression(self, ctx: AuditContext, names: list[str], min_size: int) -> Section:
        """A regressor's section (:func:`audit.checks._fairness_regression.regression_parts`) plus proxy detection,
        which does not depend on the task."""
        rng = ctx.rng(self.name)
        parts = regression.regression_parts(ctx, names, n_boot=self.n_boot, confidence=self.confidence,
                                            min_group_size=min_size, rng=rng)
        if self.include_small_groups:
            parts.notes.append("include_small_groups applies to classifiers; a regressor's gaps compare groups with "
                               "min_group_size rows (lower min_group_size to include smaller ones).")
        proxies = self._proxies(ctx, names, rng, parts.notes)
        if proxies is not None:
            add_proxies(proxies, names, tables=parts.tables, metrics=parts.metrics, notes=parts.notes)
        return FairnessSection(check=self.name, title=self.title, summary=parts.summary, metrics=parts.metrics,
                               tables=parts.tables, figures=parts.figures, notes=parts.notes, proxies=proxies,
                               regression=parts.result, regression_intersection=parts.intersection)

    @staticmethod
    def _stack(frames: dict[str, pd.DataFrame], multiclass: bool) -> pd.DataFrame:
        if not multiclass:
            return next(iter(frames.values()))
        return pd.concat(frames, names=["class"])

    @staticmethod
    def _figure_class(results: dict[str, FairnessAssessment]) -> str:
        """The class the figures show: the only one, or the one with the largest equalized odds difference."""
        vals = {c: r.overall.loc["equalized_odds_difference", "value"] for c, r in results.items()}
        finite = {c: v for c, v in vals.items() if not np.isnan(v)}
        return max(finite, key=finite.get) if finite else next(iter(results))

    def _metrics(self, results: dict[str, FairnessAssessment], gated: list[str]) -> list[Metric]:
        out: list[Metric] = []

        # (corrected, low, high, plug-in, p-value) of one gap for one class; a multiclass gate takes the worst class
        # (audit.stats.worst_of: each class's intervals were computed at the Bonferroni level for the classes)
        Row = tuple[float, float, float, float, float]
        n_perm = next(iter(results.values())).n_perm

        def gap(name: str, rows: list[Row], kind: str, doc: str, who: list[str] | None = None) -> Metric:
            pick, ev = worst_of([GapEvidence(float(r[3]), float(r[0]), float(r[1]), float(r[2]), float(r[4]))
                                 for r in rows], kind)
            if pick >= 0 and who is not None and who[pick]:
                doc = f"{doc}: {who[pick]}"
            return Metric(name, ev.corrected, ev.low, ev.high, higher_is_better=kind == "ratio",
                          description=_gap_words(doc, ev.plug_in, ev.p_value, n_perm))

        classes = list(results)
        cols = ["corrected", "low", "high", "value", "p_value"]
        for d, (kind, _) in DISPARITIES.items():
            out.append(gap(f"fairness.{d}", [tuple(r.overall.loc[d, cols]) for r in results.values()], kind,
                           _DISPARITY_DOCS[d] + "; worst over sensitive columns",
                           [_who(r.overall.loc[d], c, len(classes), column=r.overall.loc[d, "feature"]) for c, r in results.items()]))
        keys = _keys([v for v in gated if v != INTERSECTION])
        for view in gated:
            key = keys[view]
            for d, (kind, _) in DISPARITIES.items():
                out.append(gap(f"fairness.{key}.{d}", [tuple(r.disparities.loc[(view, d), cols]) for r in results.values()],
                               kind, f"{_DISPARITY_DOCS[d]} ({view})",
                               [_who(r.disparities.loc[(view, d)], c, len(classes)) for c, r in results.items()]))
            for m in GAP_METRICS:
                for kind in ("difference", "ratio"):
                    rows = [tuple(r.gaps.loc[(view, m), [f"{kind}_corrected", f"{kind}_low", f"{kind}_high", kind, f"{kind}_p_value"]])
                            for r in results.values() if (view, m) in r.gaps.index]
                    if not rows:
                        continue
                    out.append(gap(f"fairness.{key}.{m}_{kind}", rows, kind,
                                   f"{'max - min' if kind == 'difference' else 'min / max'} {m.replace('_', ' ')} over {view} groups"))
        return [Metric(m.name, float(m.value), None if np.isnan(m.low) else float(m.low),
                       None if np.isnan(m.high) else float(m.high), m.higher_is_better, m.description) for m in out]

    def _proxies(self, ctx: AuditContext, names: list[str], rng: np.random.Generator, notes: list[str]) -> ProxyResult | None:
        if not self.proxies:
            return None
        X = ctx.data.X
        if not ctx.model.backend.calls_model:  # a prediction log's columns are scores, not features
            notes.append("Proxy detection needs the model's features; a prediction log has only its scores, so it "
                         "was skipped.")
            return None
        if not isinstance(X, pd.DataFrame) or X.shape[1] == 0:
            notes.append("Proxy detection needs tabular features; skipped.")
            return None
        return proxy_auc(X, ctx.data.sensitive, seed=int(rng.integers(2**31 - 1)))

    def _notes(self, ctx: AuditContext, tasks: list[tuple[str, int]], results: dict[str, FairnessAssessment],
               multiclass: bool, hidden: list[str], favorable: bool) -> list[str]:
        notes = []
        if multiclass:
            notes.append(f"{ctx.n_classes} classes: one-vs-rest per class; each gated metric is the worst of the "
                         f"{len(tasks)} classes assessed, with every class's gap interval at the Bonferroni level "
                         f"{family_confidence(self.confidence, len(tasks)):.4g} so the worst keeps {self.confidence:.0%} "
                         "(its lower end is the largest of the classes' lower ends). Figures show the class with the "
                         "largest equalized odds difference.")
            if len(tasks) < ctx.n_classes:
                notes.append(f"Only the {len(tasks)} most frequent of {ctx.n_classes:,} classes are assessed (cap "
                             f"{MAX_CLASSES}): one assessment per class would not finish; pass positive_class= to "
                             "assess one particular class.")
        else:
            fav = "favourable" if favorable else "unfavourable"
            notes.append(f"Positive class: {tasks[0][0]!r} (selection rate = share predicted {tasks[0][0]!r}), "
                         f"treated as {fav} for the person when naming the best group (positive_is_favorable).")
        if not ctx.model.has_scores:
            notes.append("The model returns hard labels only: ROC AUC per group is not computed.")
        if ctx.weights is not None:
            notes.append("Weighted by sample_weight: every group rate, disparity and interval weighs rows (as fairlearn's "
                         "MetricFrame with sample_params); group sizes (min_group_size, 'count') are rows.")
        r = next(iter(results.values()))
        notes.append(f"Intervals: {r.confidence:.0%} percentile bootstrap, {r.n_boot:,} resamples (multinomial resampling of "
                     "per-group confusion counts, equivalent to resampling rows). Top-level metrics are the worst over the "
                     f"{int(r.overall['columns'].iloc[0])} sensitive column(s): each "
                     f"column's gap at the Bonferroni level {float(r.overall['column_confidence'].iloc[0]):.4g}, the worst "
                     "column's estimate, and the largest of the columns' bounds, so the worst-over-columns gate never passes "
                     "what the gate on one column (at that level) fails; the intersection is gated separately as "
                     "fairness.intersection.*.")
        if r.n_boot or r.n_perm:
            notes.append(f"Gaps between groups (disparities, differences, ratios): the gated value is bias-corrected (2 x plug-in "
                         "- mean of the resampled gaps; the plug-in, fairlearn's number, is the tables' 'value'); the interval "
                         f"bounds every pairwise contrast at once ({r.confidence:.0%} jointly, unlike a percentile interval of "
                         "max - min, which excludes 0 for equal groups); p_value is a permutation test of 'no gap' "
                         f"({r.n_perm:,} permutations of the group labels, within actual positives / negatives for error rates "
                         f"and within predicted positives for precision). When p >= {1 - r.confidence:.2g} the interval reaches "
                         "no gap (difference 0, ratio 1).")
        seen: set[str] = set()
        for res in results.values():
            for n in res.notes:
                if n not in seen and not any(n.startswith(f"{h}: ") for h in hidden):
                    seen.add(n)
                    notes.append(n)
        return notes

    def _summary(self, ctx: AuditContext, results: dict[str, FairnessAssessment], findings: pd.DataFrame,
                 gated: list[str], multiclass: bool) -> str:
        r = next(iter(results.values()))
        cols = ", ".join(v for v in gated if v != INTERSECTION)
        parts = []
        for d in ("demographic_parity_difference", "equalized_odds_difference"):
            o = r.overall.loc[d] if not multiclass else None
            if o is not None and not np.isnan(o["value"]):
                ci = "" if np.isnan(o["low"]) else f" [{o['low']:.2f}, {o['high']:.2f}]"
                pv = "" if np.isnan(o["p_value"]) else f", p = {o['p_value']:.2g}"
                parts.append(f"{d.replace('_', ' ')} {o['corrected']:.2f}{ci} ({o['feature']}{pv})")
        s = f"Fairness across {cols} on {ctx.n_rows:,} rows"
        s += (": largest " + " and ".join(parts) + ".") if parts else "."
        single = findings[findings["feature"] != INTERSECTION] if len(findings) else findings
        if len(single):
            top = single.iloc[0]["finding"]
            s += " " + top[0].upper() + top[1:] + "."
        return s
