"""Global view of SHAP values: importance ranking, per-group attributions, sensitive-column and proxy shares."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats.contingency import association

from audit._inputs import missing_as_label
from audit.errors import LENGTH_MISMATCH, AuditInputError
from audit.explain._result import ShapResult

log = logging.getLogger(__name__)


@dataclass
class GlobalExplanation:
    """What a set of SHAP values says about the model as a whole.

    Attributes
    ----------
    importance : DataFrame
        Index: original column; ``mean_abs`` (mean |SHAP|), ``share`` (of the total mean |SHAP|),
        ``mean`` (signed mean), ``rank`` (1 = most important); sorted by ``mean_abs``.
    importance_inputs : DataFrame
        The same per model-input feature (``race=African-American``).
    by_group : dict of str to DataFrame
        Sensitive column -> ``columns x groups`` mean |SHAP| within each group (NaN for groups
        smaller than ``min_group_size``): does the model lean on different columns for different groups?
    by_group_signed : dict of str to DataFrame
        Sensitive column -> ``columns x groups`` mean signed SHAP.
    group_sizes : dict of str to Series
    column_share : dict of str to float
        Sensitive column -> its share of the total attribution (0 when it is not a model input).
    sensitive_share : float
        Share of the total attribution on sensitive columns that are model inputs.
    proxies : DataFrame
        ``sensitive, feature, association, share``: model columns associated with a sensitive
        column at or above ``proxy_threshold`` (Cramer's V, correlation ratio or |Pearson r|).
    proxy_share : dict of str to float
        Sensitive column -> share of the total attribution on its proxies (itself excluded).
    explained : str
        Which output the attributions are for (``"class 1"``, ``"predicted class"``, or a regressor's
        ``"predicted value"``).
    notes : list of str
    """

    importance: pd.DataFrame
    importance_inputs: pd.DataFrame
    by_group: dict[str, pd.DataFrame]
    by_group_signed: dict[str, pd.DataFrame]
    group_sizes: dict[str, pd.Series]
    column_share: dict[str, float]
    sensitive_share: float
    proxies: pd.DataFrame
    proxy_share: dict[str, float]
    explained: str
    notes: list[str] = field(default_factory=list)


def _is_cat(s: pd.Series, max_levels: int = 10) -> bool:
    return (not pd.api.types.is_numeric_dtype(s)) or pd.api.types.is_bool_dtype(s) or s.nunique() <= max_levels


def _eta(num: pd.Series, cat: pd.Series) -> float:
    """Correlation ratio: sqrt(between-group / total variance) of ``num`` across the levels of ``cat``, over the rows
    where ``num`` is observed (a missing category is a level of its own)."""
    y = pd.to_numeric(num, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    seen = ~np.isnan(y)
    y, cat = y[seen], missing_as_label(cat)[seen]
    if len(y) == 0:
        return float("nan")
    total = ((y - y.mean()) ** 2).sum()
    if total == 0:
        return float("nan")
    g = pd.DataFrame({"y": y, "g": cat.astype(str).to_numpy()}).groupby("g")["y"].agg(["mean", "size"])
    between = (g["size"] * (g["mean"] - y.mean()) ** 2).sum()
    return float(np.sqrt(between / total))


def proxy_associations(X: pd.DataFrame, sensitive: pd.DataFrame, *, max_rows: int = 20000, seed: int = 0) -> pd.DataFrame:
    """Association of every column of ``X`` with every sensitive column, in [0, 1].

    Cramer's V between two categorical columns, the correlation ratio (eta) between a numeric and
    a categorical one, |Pearson r| between two numeric ones. A numeric column with at most 10
    distinct values counts as categorical.

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0] * 5, "b": ["x", "y"] * 10})
    >>> s = pd.DataFrame({"g": ["p", "p", "q", "q"] * 5})
    >>> a = proxy_associations(X, s)
    >>> float(a.loc["a", "g"]), float(a.loc["b", "g"])  # a determines g; b is independent of it
    (1.0, 0.0)
    """
    if len(X) != len(sensitive):
        raise AuditInputError(LENGTH_MISMATCH.format(arg="sensitive", got=len(sensitive), expected=len(X)))
    if len(X) > max_rows:
        idx = np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))
        X, sensitive = X.iloc[idx], sensitive.iloc[idx]
    X = X.reset_index(drop=True)
    sensitive = sensitive.reset_index(drop=True)
    out = pd.DataFrame(index=pd.Index([str(c) for c in X.columns], name="feature"),
                       columns=[str(c) for c in sensitive.columns], dtype=float)
    for s in sensitive.columns:
        sv = sensitive[s]
        s_cat = _is_cat(sv)
        for c in X.columns:
            xv = X[c]
            x_cat = _is_cat(xv)
            if x_cat and s_cat:
                table = pd.crosstab(missing_as_label(xv).astype(str), missing_as_label(sv).astype(str)).to_numpy()
                v = float(association(table, method="cramer")) if min(table.shape) > 1 else float("nan")
            elif s_cat:
                v = _eta(xv, sv)
            elif x_cat:
                v = _eta(sv, xv)
            else:
                a, b = xv.to_numpy(dtype=np.float64, na_value=np.nan), sv.to_numpy(dtype=np.float64, na_value=np.nan)
                seen = ~(np.isnan(a) | np.isnan(b))  # pairs where both are observed
                a, b = a[seen], b[seen]
                v = float(abs(np.corrcoef(a, b)[0, 1])) if len(a) > 1 and a.std() > 0 and b.std() > 0 else float("nan")
            out.loc[str(c), str(s)] = v
    return out


def _explained_matrix(result: ShapResult, label: Any, by_column: bool) -> tuple[pd.DataFrame, str]:
    if label is not None:
        return result.for_class(label, by_column=by_column), f"class {label}"
    classes = result.classes
    if len(classes) == 1:  # a regressor: its one output, the predicted value
        return result.for_class(classes[0], by_column=by_column), "predicted value"
    if len(classes) == 2:
        return result.for_class(classes[1], by_column=by_column), f"class {classes[1]}"
    pred = result.model_output.to_numpy().argmax(axis=1)
    tables = [result.for_class(c, by_column=by_column).to_numpy() for c in classes]
    stacked = np.stack(tables, axis=2)[np.arange(len(pred)), :, pred]
    ref = result.for_class(classes[0], by_column=by_column)
    return pd.DataFrame(stacked, index=ref.index, columns=ref.columns), "predicted class"


def _importance(phi: pd.DataFrame) -> pd.DataFrame:
    mean_abs = phi.abs().mean()
    total = float(mean_abs.sum())
    out = pd.DataFrame({
        "mean_abs": mean_abs,
        "share": mean_abs / total if total > 0 else np.nan,
        "mean": phi.mean(),
    })
    out = out.sort_values("mean_abs", ascending=False, kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    out.index.name = "feature"
    return out


def global_explanation(
    result: ShapResult,
    sensitive: pd.DataFrame | None = None,
    *,
    label: Any = None,
    associations: pd.DataFrame | None = None,
    proxy_threshold: float = 0.3,
    min_group_size: int = 10,
) -> GlobalExplanation:
    """Rank columns by mean |SHAP|, compare groups, and measure the attribution on sensitive columns and proxies.

    Parameters
    ----------
    result : ShapResult
        SHAP values for a sample of rows (original-column attributions are used).
    sensitive : DataFrame, optional
        Sensitive attributes aligned with the rows of ``result`` (one column each).
    label : class label, optional
        Class whose attributions are used; default the positive class for binary models, the one output of a
        regressor (its predicted value), else each row's predicted class.
    associations : DataFrame, optional
        ``feature x sensitive`` associations from :func:`proxy_associations` on more data;
        default: computed on ``result.data`` and ``sensitive``.
    proxy_threshold : float
        A column is a proxy of a sensitive column at this association or above.
    min_group_size : int
        Groups with fewer explained rows get NaN in ``by_group``.

    Returns
    -------
    GlobalExplanation

    Examples
    --------
    >>> import torch, pandas as pd
    >>> from audit.explain import shap_values
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 5, "b": [1.0, 0.0] * 10})
    >>> net = torch.nn.Linear(2, 2)
    >>> g = global_explanation(shap_values(net, X), pd.DataFrame({"b": X["b"].astype(int)}))
    >>> list(g.importance.columns)
    ['mean_abs', 'share', 'mean', 'rank']
    """
    notes: list[str] = []
    phi, explained = _explained_matrix(result, label, by_column=True)
    phi_in, _ = _explained_matrix(result, label, by_column=False)
    imp = _importance(phi)
    total = float(imp["mean_abs"].sum())
    if total == 0:
        notes.append("every attribution is 0 (constant model output): shares are undefined.")
    sens = sensitive if sensitive is not None else pd.DataFrame(index=phi.index)
    if len(sens) != len(phi):
        raise AuditInputError(LENGTH_MISMATCH.format(arg="sensitive", got=len(sens), expected=len(phi)))
    sens = sens.set_axis(phi.index, axis=0)
    by_group, by_signed, sizes = {}, {}, {}
    for s in sens.columns:
        g = sens[s].astype(str)
        size = g.value_counts().sort_index()
        mean_abs = phi.abs().groupby(g).mean().T
        mean = phi.groupby(g).mean().T
        small = size[size < min_group_size].index.tolist()
        if small:
            mean_abs[small] = np.nan
            mean[small] = np.nan
            notes.append(f"{s}: group(s) {small} have fewer than {min_group_size} explained rows; their attributions are NaN.")
        by_group[str(s)], by_signed[str(s)], sizes[str(s)] = mean_abs, mean, size
    share = imp["share"]
    column_share = {str(s): (float(share[s]) if s in share.index else 0.0) for s in sens.columns}
    direct = [s for s in sens.columns if s in share.index]
    sensitive_share = float(share[direct].sum()) if total > 0 else float("nan")
    if total == 0:
        column_share = {k: float("nan") for k in column_share}
    if associations is None and len(sens.columns) and isinstance(result.data, pd.DataFrame):
        feats = [c for c in result.columns if c in result.data.columns]
        associations = proxy_associations(result.data[feats], sens)
    rows = []
    proxy_share: dict[str, float] = {}
    for s in sens.columns:
        s = str(s)
        acc = 0.0
        if associations is not None and s in associations.columns:
            for f, a in associations[s].items():
                if f != s and f in share.index and np.isfinite(a) and a >= proxy_threshold:
                    rows.append({"sensitive": s, "feature": f, "association": float(a), "share": float(share[f])})
                    acc += float(share[f])
        proxy_share[s] = acc if total > 0 else float("nan")
    proxies = pd.DataFrame(rows, columns=["sensitive", "feature", "association", "share"])
    return GlobalExplanation(
        importance=imp,
        importance_inputs=_importance(phi_in),
        by_group=by_group,
        by_group_signed=by_signed,
        group_sizes=sizes,
        column_share=column_share,
        sensitive_share=sensitive_share,
        proxies=proxies.sort_values(["sensitive", "association"], ascending=[True, False]).reset_index(drop=True),
        proxy_share=proxy_share,
        explained=explained,
        notes=notes,
    )
