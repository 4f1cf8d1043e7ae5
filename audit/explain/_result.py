"""The result type of :func:`audit.explain.shap_values`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd


@dataclass
class ShapResult:
    """SHAP values for some rows, per class, in model-input space and per original column.

    Attributes
    ----------
    values : dict of str to DataFrame
        Class label -> ``rows x model-input features`` attributions (``race=African-American``). A regressor has
        one output, labelled ``"prediction"`` (:data:`audit.explain.REGRESSION_OUTPUT`), its values in the
        target's units.
    values_by_column : dict of str to DataFrame
        Class label -> ``rows x original columns``: the model-input attributions summed over each
        column's encoded features (``race``). Equal to ``values`` when there is no transform.
    base_values : Series
        Class label -> base value, the (weighted) mean model output over the background.
    model_output : DataFrame
        ``rows x classes``: the explained model output on the rows (probabilities or logits).
    data : DataFrame
        The explained rows as given (original columns), for display.
    groups : dict of str to list of str
        Original column -> its model-input features.
    output : {"proba", "logit", "margin", "value"}
        What is explained: each class's predicted probability, the raw score (logit), a tree
        ensemble's raw margin (log-odds per class; exact TreeSHAP lives there; for a regressor with a link
        function, the score the link maps to its prediction), or a regressor's predicted value.
    explainer : str
        Explainer that produced the values: ``"exact"`` (brute force over coalitions),
        ``"tree"`` (the model library's path-dependent TreeSHAP), ``"tree_interventional"`` (shap's
        TreeExplainer against the background), ``"deep"``, ``"gradient"``, ``"permutation"`` or ``"kernel"``.
    additivity_error : float
        Largest ``|sum(values) + base - model_output|`` over rows and classes (0 up to rounding
        for exact, tree and permutation; Deep/Gradient/Kernel values are only roughly additive).
    reference_correlation, reference_error : float
        Pearson correlation and mean absolute difference (relative to the mean ``|exact|``)
        between these values and exact interventional Shapley values on ``reference_rows`` rows
        against the same background. 1 and 0 when ``explainer == "exact"``; NaN when the exact
        reference was not computed (``reference_skipped`` says why).
    reference_rows : int
    n_background : int
        Background rows (or k-means centres) used.
    model_rows : int
        Model rows evaluated to compute the values.
    seconds : float
        Wall time.
    notes : list of str
        Caveats: approximations, fallbacks.
    in_data_columns : bool
        True when ``values_by_column``'s columns are the data's columns; False when a transform's
        outputs could not be traced back to columns, so values are per model input (``x0``, ...)
        and ``data`` holds the model inputs.
    standard_errors : dict of str to DataFrame
        Same layout as ``values``: the standard error of each value. 0 for exact and tree values;
        estimated from independent rounds for ``"permutation"``; NaN for Deep/Gradient/Kernel
        values, which come with no error estimate.
    stopped_by : str
        What ended permutation sampling: ``"target"`` (every row reached the target standard
        error), ``"budget"`` (the model-row budget ran out first) or ``"rounds"`` (the cap on
        rounds); ``""`` for the other explainers.
    output_spread : float
        The scale the permutation sampler's target is relative to: the largest weighted standard
        deviation of the model output over the background (NaN for the other explainers).
    reference_skipped : str
        Why the comparison with exact values was not made (the exact reference cost more than the
        budget, or ``n_reference=0``); ``""`` when it was made or not needed (exact values).

    Examples
    --------
    >>> import torch
    >>> from audit.explain import shap_values
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> res = shap_values(net, torch.randn(5, 3), background=torch.randn(10, 3))
    >>> res.explainer, res.max_standard_error, res.for_class(1).shape
    ('exact', 0.0, (5, 3))
    """

    values: dict[str, pd.DataFrame]
    values_by_column: dict[str, pd.DataFrame]
    base_values: pd.Series
    model_output: pd.DataFrame
    data: pd.DataFrame
    groups: dict[str, list[str]]
    output: Literal["proba", "logit", "margin"]
    explainer: str
    additivity_error: float
    reference_correlation: float = float("nan")
    reference_error: float = float("nan")
    reference_rows: int = 0
    n_background: int = 0
    model_rows: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    in_data_columns: bool = True
    standard_errors: dict[str, pd.DataFrame] = field(default_factory=dict)
    stopped_by: str = ""
    output_spread: float = float("nan")
    reference_skipped: str = ""

    @property
    def max_standard_error(self) -> float:
        """Largest standard error over rows, features and classes (NaN when the explainer gives none)."""
        arrays = [v.to_numpy() for v in self.standard_errors.values()]
        if not arrays or all(np.isnan(a).all() for a in arrays):
            return float("nan")
        return float(max(np.nanmax(a) for a in arrays if not np.isnan(a).all()))

    @property
    def classes(self) -> list[str]:
        """Class labels, in model-output order."""
        return list(self.values)

    @property
    def features(self) -> list[str]:
        """Model-input feature names."""
        return list(next(iter(self.values.values())).columns)

    @property
    def columns(self) -> list[str]:
        """Original column names (the keys of ``groups``)."""
        return list(self.groups)

    def for_class(self, label: Any, *, by_column: bool = False) -> pd.DataFrame:
        """Attributions of class ``label`` (a label or its position), per feature or per original column."""
        table = self.values_by_column if by_column else self.values
        key = str(label)
        if key not in table and isinstance(label, (int, np.integer)) and 0 <= int(label) < len(table):
            key = list(table)[int(label)]
        if key not in table:
            raise KeyError(f"class {label!r} not explained; classes are {list(table)}")
        return table[key]

    def __repr__(self) -> str:
        rows, d = next(iter(self.values.values())).shape
        return (
            f"ShapResult(rows={rows}, features={d}, columns={len(self.groups)}, classes={self.classes}, "
            f"output={self.output!r}, explainer={self.explainer!r}, additivity_error={self.additivity_error:.2g}, "
            f"reference_correlation={self.reference_correlation:.4f})"
        )
