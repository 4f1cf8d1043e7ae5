"""What the explain section shows besides its metrics: its tables, one function each (:func:`explain_tables`
assembles them), and the notes that say how far to trust the SHAP values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.context import AuditContext
from audit.explain import EXACT_EXPLAINERS, ShapResult
from audit.plots.explain import ROWS_TABLE
from audit.section import Metric

#: mean SHAP-LIME Spearman rank agreement below which the report warns (a note, and a warn finding in the
#: starter policy): at 0.5 the two rankings share only about a quarter of their variance
SHAP_LIME_AGREEMENT_MIN = 0.5
#: a LIME surrogate fit this poor (R^2 below it) is named in the disagreement note
LIME_POOR_FIT = 0.5

_SHAP_NAMES = {"mean_abs": "mean |SHAP|", "mean": "mean SHAP"}


def explain_tables(ctx: AuditContext, res: ShapResult, glob: Any, lime: Any, chosen: list[tuple[int, str]],
                   shap_chosen: pd.DataFrame, agree: list[float], X: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The explain section's tables: global importance (with each column's role), per model input, by group,
    proxies, the chosen rows, their top columns under SHAP and LIME, and how SHAP was computed."""
    tables = {"Global importance": _importance(glob, list(ctx.data.sensitive.columns))}
    if any(len(v) > 1 for v in res.groups.values()):
        tables["Importance per model input"] = glob.importance_inputs.rename(columns=_SHAP_NAMES)
    for s, t in glob.by_group.items():
        sizes = glob.group_sizes[s]
        tables[f"Mean |SHAP| by {s}"] = t.rename(columns={g: f"{g} (n={sizes[g]})" for g in t.columns})
    if len(glob.proxies):
        tables["Proxies of sensitive columns"] = glob.proxies
    tables["Explained rows"] = (_regression_rows if ctx.is_regression else _explained_rows)(ctx, lime, chosen, agree)
    tables[ROWS_TABLE] = _top_columns(lime, chosen, shap_chosen, X)
    tables["SHAP computation"] = _computation(res)
    return tables


def _importance(glob: Any, sens_cols: list[Any]) -> pd.DataFrame:
    """Mean |SHAP| and mean SHAP per column, with its role: sensitive, a proxy of which sensitive column, or none."""
    proxy_of = glob.proxies.groupby("feature")["sensitive"].agg(", ".join) if len(glob.proxies) else pd.Series()
    imp = glob.importance.rename(columns=_SHAP_NAMES)
    imp["role"] = [
        "sensitive" if c in sens_cols else (f"proxy of {proxy_of[c]}" if c in proxy_of.index else "")
        for c in imp.index
    ]
    return imp


def _explained_rows(ctx: AuditContext, lime: Any, chosen: list[tuple[int, str]], agree: list[float]) -> pd.DataFrame:
    """One line per chosen row: why it was chosen, the class explained, label, prediction and the agreement."""
    y = ctx.y
    rows = []
    for j, (i, why) in enumerate(chosen):
        rows.append({
            "row": i, "reason": why, "explained class": str(ctx.classes[int(lime.explained_class.iloc[j])]),
            "probability": float(lime.model_prediction.iloc[j]),
            "label": str(ctx.classes[y[i]]) if y is not None else "",
            "predicted": str(ctx.classes[ctx.pred[i]]), "SHAP-LIME spearman": agree[j],
            "LIME R^2": float(lime.score.iloc[j]),
        })
    return pd.DataFrame(rows).set_index("row")


def _top_columns(lime: Any, chosen: list[tuple[int, str]], shap_chosen: pd.DataFrame, X: pd.DataFrame) -> pd.DataFrame:
    """Each chosen row's five columns of largest |SHAP|, with the value, the SHAP value and LIME's weight."""
    long = []
    for j, (i, _) in enumerate(chosen):
        s = shap_chosen.iloc[j]
        for c in s.abs().sort_values(ascending=False).index[:5]:
            in_data = c in X.columns  # False for model inputs a transform made that map to no column
            long.append({"row": i, "column": c, "value": str(X.iloc[i][c]) if in_data else "", "SHAP": float(s[c]),
                         "LIME": float(lime.weights.iloc[j][c]) if in_data else float("nan"),
                         "LIME condition": str(lime.descriptions.iloc[j][c]) if in_data else ""})
    return pd.DataFrame(long).set_index(["row", "column"])


def _computation(res: ShapResult) -> pd.DataFrame:
    """How the SHAP values were computed: explainer, rows, model rows, additivity, errors, exact check, time."""
    return pd.DataFrame({"value": {
        "explainer": res.explainer, "rows explained": len(res.model_output),
        "output explained": "value (the prediction, in target units)" if res.output == "value" else res.output,
        "background rows": res.n_background, "model rows evaluated": res.model_rows,
        "additivity error": f"{res.additivity_error:.2e}",
        "largest standard error": _largest_se(res),
        "correlation with exact values": (f"not computed: {res.reference_skipped}" if res.reference_skipped
                                          else f"{res.reference_correlation:.4f} ({res.reference_rows} rows)"),
        "seconds": round(res.seconds, 3),
    }})


def _largest_se(res: ShapResult) -> str:
    """The "SHAP computation" table's cell: the largest standard error of any value, and what bounded it."""
    se = res.max_standard_error
    if res.explainer in EXACT_EXPLAINERS:
        return "0 (exact values)"
    if not np.isfinite(se):
        return f"not estimated ({res.explainer} gives no error estimate)"
    stop = {"target": "target reached", "budget": "model-row budget spent", "rounds": "round cap reached"}
    rel = f"{se / res.output_spread:.2%} of the output spread {res.output_spread:.3g}; " if res.output_spread > 0 else ""
    return f"{se:.3g} ({rel}stopped: {stop.get(res.stopped_by, res.stopped_by)})"


def reference_note(res: ShapResult) -> list[str]:
    """Why ``explain.shap_exact_correlation`` is missing, when it is (none when it was computed)."""
    if not (res.reference_skipped and not np.isfinite(res.reference_correlation)):
        return []
    se = res.max_standard_error
    return [
        f"explain.shap_exact_correlation was not computed: {res.reference_skipped}. It only checks "
        "approximate values against exact ones, so a starter-policy gate on it does not apply"
        + (f"; the standard errors bound the sampling error instead (largest {se:.3g})." if np.isfinite(se)
           else ".")
    ]


def disagreement_note(agreement: float, res: ShapResult, lime_r2: pd.Series) -> str:
    """What a low SHAP-LIME rank agreement means for the reader, given how the SHAP values were computed."""
    poor = int((lime_r2 < LIME_POOR_FIT).sum())
    text = (
        f"SHAP and LIME rank the columns differently on the chosen rows (mean Spearman {agreement:.2f}, below "
        f"{SHAP_LIME_AGREEMENT_MIN}): at least one of the two explanations is unreliable for these rows. LIME fits a "
        f"local linear surrogate, which misleads where the model is strongly nonlinear or its features interact "
        f"({poor} of {len(lime_r2)} rows have LIME R^2 below {LIME_POOR_FIT}; see 'Explained rows'). "
    )
    if res.explainer in EXACT_EXPLAINERS:
        how = {"exact": "every coalition evaluated", "tree": "TreeSHAP"}.get(res.explainer, "interventional TreeSHAP")
        return text + (f"The SHAP values here are exact ({how}), so the disagreement comes from LIME: trust the SHAP "
                       "values, and read LIME weights only for rows with a high LIME R^2.")
    if res.explainer == "permutation" and np.isfinite(res.max_standard_error):
        return text + (f"The SHAP values here are sampled (largest standard error {res.max_standard_error:.3g}, see "
                       "'SHAP computation'); where that is small next to the values, trust them over LIME.")
    return text + (f"The SHAP values here are a {res.explainer} approximation with no error estimate: recompute them with "
                   "explainer='exact' or 'permutation' before trusting either ranking.")


# ------------------------------------------------------------------ regressors
#: the note every regression section gets: what the numbers are in
REGRESSION_UNITS_NOTE = (
    "The model is a regressor: its output is the predicted {target}, so SHAP values, base values and LIME weights "
    "are in the target's units (a SHAP value of 2 moves the prediction by 2). Attribution shares, the SHAP-LIME rank "
    "agreement and explain.relative_additivity_error (the additivity error over the predictions' standard "
    "deviation) are unitless."
)


def typical_rows(sensitive: pd.DataFrame, score: np.ndarray) -> list[tuple[int, str]]:
    """One typical row per sensitive group (the row whose ``score`` is nearest the group's median), round robin over
    the columns, largest groups first."""
    per_col = []
    for s in sensitive.columns:
        g = sensitive[s].astype(str).to_numpy()
        items = []
        for level in pd.Series(g).value_counts().index.tolist():
            idx = np.flatnonzero(g == level)
            med = np.median(score[idx])
            items.append((int(idx[np.argmin(np.abs(score[idx] - med))]), f"typical {s}={level}"))
        per_col.append(items)
    out = []
    for k in range(max((len(items) for items in per_col), default=0)):
        out += [items[k] for items in per_col if k < len(items)]
    return out


def regression_extremes(ctx: AuditContext) -> list[tuple[int, str]]:
    """A regressor's first rows to explain: its largest error (with a target), its highest and lowest prediction."""
    pred = ctx.prediction
    chosen = []
    if ctx.y is not None:
        chosen.append((int(np.argmax(np.abs(ctx.y - pred))), "largest error"))
    return chosen + [(int(np.argmax(pred)), "highest prediction"), (int(np.argmin(pred)), "lowest prediction")]


def _regression_rows(ctx: AuditContext, lime: Any, chosen: list[tuple[int, str]], agree: list[float]) -> pd.DataFrame:
    """One line per chosen row of a regressor: why it was chosen, its prediction, target, error and the agreement."""
    y = ctx.y
    rows = []
    for j, (i, why) in enumerate(chosen):
        rows.append({
            "row": i, "reason": why, "prediction": float(ctx.prediction[i]),
            "target": float(y[i]) if y is not None else float("nan"),
            "error": float(ctx.prediction[i] - y[i]) if y is not None else float("nan"),
            "SHAP-LIME spearman": agree[j], "LIME R^2": float(lime.score.iloc[j]),
        })
    return pd.DataFrame(rows).set_index("row")


def relative_additivity(res: ShapResult) -> Metric:
    """``explain.relative_additivity_error`` of a regressor: the largest additivity error (target units) over the
    standard deviation of the explained output on the explained rows; NaN when that output is constant."""
    spread = float(np.std(res.model_output.to_numpy()))
    value = res.additivity_error / spread if spread > 0 else float("nan")
    return Metric("explain.relative_additivity_error", value, higher_is_better=False,
                  description=f"max |sum SHAP + base - prediction| ({res.additivity_error:.3g} in target units) over "
                              f"the predictions' standard deviation ({spread:.4g})")
