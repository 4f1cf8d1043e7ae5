"""Feature drift between a reference (train) and a current (test) sample: one two-sample test per feature.

Numeric features: the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``); the effect
size is the KS statistic ``D`` (largest gap between the two empirical CDFs, 0-1). Categorical
features: Pearson's chi-square test of the 2 x k table of category counts
(``scipy.stats.chi2_contingency``, no continuity correction); the effect size is Cramér's V
(``sqrt(chi2 / n)`` for two samples, 0-1). Every feature also gets the population stability index
(PSI) over reference deciles (numeric) or categories. A feature is flagged as drifted when its
p-value is below ``alpha`` *and* its effect size is at least ``min_effect``: with thousands of rows
a test finds drift too small to matter, so significance alone is not enough.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from audit._inputs import missing_as_label
from audit.errors import AuditInputError

DRIFT_COLUMNS = ["kind", "test", "statistic", "p_value", "effect", "psi", "reference_mean", "current_mean", "drifted"]
_PSI_EPS = 1e-4


@dataclass
class DriftResult:
    """Per-feature drift between two samples.

    Attributes
    ----------
    table : DataFrame
        Index ``feature``; columns ``kind`` (numeric/categorical), ``test`` (ks/chi2),
        ``statistic`` (KS D or chi-square), ``p_value``, ``effect`` (KS D or Cramér's V),
        ``psi``, ``reference_mean`` / ``current_mean`` (numeric only), ``drifted``.
        Sorted by effect, largest first.
    alpha : float
    min_effect : float
    notes : list of str
    """

    table: pd.DataFrame
    alpha: float
    min_effect: float
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        """Names of the drifted features."""
        return [str(f) for f in self.table.index[self.table["drifted"].astype(bool)]]


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    r = np.clip(ref_share, _PSI_EPS, None)
    c = np.clip(cur_share, _PSI_EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _numeric(ref: np.ndarray, cur: np.ndarray) -> dict[str, float | str]:
    with warnings.catch_warnings():  # ties make scipy fall back from the exact to the asymptotic p-value
        warnings.filterwarnings("ignore", message=".*Exact calculation unsuccessful.*", category=RuntimeWarning)
        res = stats.ks_2samp(ref, cur)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    return {
        "kind": "numeric", "test": "ks", "statistic": float(res.statistic), "p_value": float(res.pvalue),
        "effect": float(res.statistic), "psi": _psi(r, c),
        "reference_mean": float(ref.mean()), "current_mean": float(cur.mean()),
    }


def _categorical(ref: pd.Series, cur: pd.Series) -> dict[str, float | str]:
    r = missing_as_label(ref).astype(str).value_counts()
    c = missing_as_label(cur).astype(str).value_counts()
    cats = sorted(set(r.index) | set(c.index))
    table = np.vstack([r.reindex(cats, fill_value=0).to_numpy(), c.reindex(cats, fill_value=0).to_numpy()]).astype(float)
    out: dict[str, float | str] = {"kind": "categorical", "test": "chi2", "reference_mean": np.nan, "current_mean": np.nan}
    if len(cats) < 2:
        out.update(statistic=0.0, p_value=1.0, effect=0.0, psi=0.0)
        return out
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    out.update(
        statistic=float(chi2), p_value=float(p), effect=float(np.sqrt(chi2 / table.sum())),
        psi=_psi(table[0] / table[0].sum(), table[1] / table[1].sum()),
    )
    return out


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    alpha: float = 0.01,
    min_effect: float = 0.1,
) -> DriftResult:
    """Two-sample drift test per feature between ``reference`` (e.g. train) and ``current`` (e.g. test).

    Parameters
    ----------
    reference, current : DataFrame
        The two samples; both must hold ``columns``.
    columns : list of str, optional
        Features to test (default: the columns both frames share, in ``current``'s order).
    categorical : list of str, optional
        Columns to treat as categorical (default: non-numeric and boolean columns).
    alpha : float
        Significance level a drifted feature's p-value must be below.
    min_effect : float
        Smallest effect size (KS D or Cramér's V) that counts as drift.

    Returns
    -------
    DriftResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["u", "v"], 500)})
    >>> b = pd.DataFrame({"x": rng.normal(1.0, size=500), "c": rng.choice(["u", "v"], 500)})
    >>> feature_drift(a, b).drifted
    ['x']
    """
    if not 0 < alpha < 1:
        raise AuditInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if columns is None:
        columns = [c for c in current.columns if c in reference.columns]
    missing = [c for c in columns if c not in reference.columns or c not in current.columns]
    if missing:
        raise AuditInputError(f"columns {missing} are not in both frames; drift needs the same columns in train and data")
    if categorical is None:
        categorical = [
            c for c in columns
            if not pd.api.types.is_numeric_dtype(current[c]) or pd.api.types.is_bool_dtype(current[c])
        ]
    cat = set(categorical)
    rows: dict[str, dict[str, float | str]] = {}
    notes: list[str] = []
    for col in columns:
        r, c = reference[col], current[col]
        if col in cat:
            rows[str(col)] = _categorical(r, c)
            continue
        rv = pd.to_numeric(r, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        cv = pd.to_numeric(c, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        rv, cv = rv[np.isfinite(rv)], cv[np.isfinite(cv)]
        if len(rv) == 0 or len(cv) == 0:
            notes.append(f"{col}: no finite values in one sample; drift is undefined (NaN).")
            rows[str(col)] = {"kind": "numeric", "test": "ks", "statistic": np.nan, "p_value": np.nan, "effect": np.nan,
                              "psi": np.nan, "reference_mean": np.nan, "current_mean": np.nan}
            continue
        rows[str(col)] = _numeric(rv, cv)
    table = pd.DataFrame.from_dict(rows, orient="index")
    if len(table) == 0:
        table = pd.DataFrame(columns=DRIFT_COLUMNS)
    table["drifted"] = (table["p_value"] < alpha) & (table["effect"] >= min_effect)
    table = table[DRIFT_COLUMNS].sort_values("effect", ascending=False, kind="stable")
    table.index.name = "feature"
    return DriftResult(table=table, alpha=float(alpha), min_effect=float(min_effect), notes=notes)
