"""``shap_values``: SHAP attributions, exact where affordable, sampled to a target accuracy elsewhere."""

from __future__ import annotations

import dataclasses

import logging
import math
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from audit.errors import AuditInputError
from audit.explain import _shaplib
from audit.explain._exact import exact_cost, exact_shapley
from audit.explain._permutation import TARGET_SE, permutation_shapley
from audit.explain._result import ShapResult
from audit.model import as_adapter
from audit.space import ModelSpace, OutputSpace, build_space, check_output, pick_background

log = logging.getLogger(__name__)

ExplainerName = Literal["auto", "exact", "tree", "deep", "gradient", "permutation", "kernel"]
_EXPLAINERS = ("auto", "exact", "tree", "deep", "gradient", "permutation", "kernel")
#: kept for code that imports it: it no longer forces exact values (with 12 continuous inputs that meant
#: ~10 million model rows for 50 x 50 rows); ``exact_budget`` alone decides, whatever the number of features
EXACT_MAX_FEATURES = 12
#: above this many inputs (images), a torch model that cannot be explained exactly uses shap's GradientExplainer
GRADIENT_MIN_FEATURES = 100
#: result labels whose values carry no sampling error: brute force, path-dependent TreeSHAP, and shap's
#: interventional TreeExplainer (exact for the background it is given)
EXACT_EXPLAINERS = ("exact", "tree", "tree_interventional")
#: the label of a regressor's one output in a :class:`ShapResult` (where a classifier has its classes)
REGRESSION_OUTPUT = "prediction"
NOT_EXACT = (
    "{name} values are an approximation of interventional Shapley values; against exact values on {rows} row(s) "
    "they correlate {corr:.3f} (mean absolute error {err:.1%} of the mean |value|)."
)


def shap_values(
    model: Any,
    X: Any,
    *,
    background: Any = None,
    explainer: ExplainerName = "auto",
    output: OutputSpace | None = None,
    n_background: int = 100,
    summarize: Literal["sample", "kmeans"] = "sample",
    seed: int = 0,
    device: str | torch.device | None = None,
    class_names: Sequence[Any] | None = None,
    exact_budget: float = 4e6,
    n_reference: int = 5,
    space: ModelSpace | None = None,
    target_se: float = TARGET_SE,
    native_tree: bool = True,
    outputs: Sequence[int] | None = None,
) -> ShapResult:
    """Interventional SHAP values of a model's per-class output (a regressor's predicted value) for the rows of ``X``.

    With ``explainer="auto"`` the values are exact whenever that is affordable: when the coalitions
    to evaluate fit in ``exact_budget`` model rows (whatever the number of features), every
    coalition is evaluated (batched on the model's device; only features where a row and a
    background row differ are enumerated). Otherwise tree
    ensembles use shap's TreeExplainer (interventional), torch models with more than
    ``GRADIENT_MIN_FEATURES`` (100) inputs, such as images, shap's GradientExplainer for
    probabilities and DeepExplainer for logits (the closer of the two to exact values in each case,
    in our measurements), and everything else permutation sampling
    (:func:`audit.explain._permutation.permutation_shapley`: antithetic pairs of orders, in rounds,
    until every row's largest standard error is at most ``target_se`` times the spread of the model
    output or ``exact_budget`` model rows are spent; on tabular MLPs far closer to exact values than
    either gradient-based explainer, see BENCHMARKS.md). ``standard_errors`` on the result holds the
    standard error of every value (0 for exact and tree values). The error of a non-exact explainer
    against exact values is also measured on ``n_reference`` rows when affordable and reported.

    Parameters
    ----------
    model : ModelAdapter | torch.nn.Module | scikit-learn estimator | callable
        A raw model is wrapped in :class:`audit.model.ModelAdapter` (a torch module's
        ``.transform`` attribute is used as its transform).
    X : DataFrame | ndarray | Tensor
        Rows to explain, as the model (or its transform) takes them.
    background : same kind as ``X``, optional
        Data the missing features are drawn from (interventional SHAP). Default: ``X``. Reduced to
        ``n_background`` rows by a seeded sample or a k-means summary (``summarize``).
    explainer : {"auto", "exact", "tree", "deep", "gradient", "permutation", "kernel"}
    output : {"proba", "logit", "value"}, optional
        Explain each class's predicted probability (default for classifiers) or its raw score (torch logits;
        log-probability for models that only give probabilities). A regressor's output is its predicted value
        (``"value"``, its default): one output labelled ``"prediction"``, attributions in the target's units.
    n_background : int
        Background rows (or k-means centres).
    summarize : {"sample", "kmeans"}
    seed : int
        Seeds the background sample and the sampling explainers.
    device : str or torch.device, optional
        Device for a raw torch model (an adapter keeps its own).
    class_names : sequence, optional
        Labels of the model's output columns (default: the model's ``classes_`` or 0..K-1).
    exact_budget : float
        Model-row budget: exact values only when their coalitions fit in it; the permutation
        sampler stops when it is spent (it always runs the 2 rounds a standard error needs, and
        says so when they overrun it); the exact reference rows only when they fit in it too.
    n_reference : int
        Rows on which a non-exact explainer is compared with exact values (0: skip).
    target_se : float
        Permutation sampling stops for a row once its largest standard error is at most this
        fraction of the model output's spread (weighted standard deviation over the background);
        default 0.01. 0 spends the whole budget.
    space : ModelSpace, optional
        A feature space already built for this model and data (the audit builds one and shares it);
        default: built here from ``X`` and ``background``.
    native_tree : bool
        Try the model library's own path-dependent TreeSHAP first (:func:`tree_shap_values`) for
        ``explainer`` "auto" or "tree"; False when the caller already tried it.
    outputs : sequence of int, optional
        The model's output columns (class positions) to explain; default all. Time and memory grow with the
        classes explained, so a model with thousands of classes is explained for a few (the explain check
        caps them at ``max_classes``). Tree models then go through the model-agnostic explainers.

    Returns
    -------
    ShapResult
        ``explainer`` names what ran: ``"tree"`` is the library's path-dependent TreeSHAP only;
        shap's interventional TreeExplainer (the fallback for tree ensembles) is ``"tree_interventional"``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> res = shap_values(net, torch.randn(10, 4), background=torch.randn(20, 4))
    >>> res.explainer, res.additivity_error < 1e-6
    ('exact', True)
    >>> res.for_class(1).shape
    (10, 4)

    Too small a budget for exact values samples them, with a standard error per value:

    >>> res = shap_values(net, torch.randn(3, 4), background=torch.randn(20, 4), exact_budget=500)
    >>> res.explainer, res.stopped_by, bool(res.max_standard_error > 0)
    ('permutation', 'budget', True)

    A regressor's values are in the target's units and add up to its prediction:

    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> X = np.random.default_rng(0).normal(size=(30, 3))
    >>> reg = LinearRegression().fit(X, X @ [1.0, -2.0, 0.5])
    >>> res = shap_values(reg, X[:4], background=X)
    >>> res.output, res.classes, bool(np.allclose(res.for_class(0).sum(axis=1) + res.base_values.iloc[0], reg.predict(X[:4])))
    ('value', ['prediction'], True)
    """
    t0 = time.perf_counter()
    if explainer not in _EXPLAINERS:
        raise AuditInputError(f"explainer must be one of {list(_EXPLAINERS)}, got {explainer!r}")
    if summarize not in ("sample", "kmeans"):
        raise AuditInputError(f"summarize must be 'sample' or 'kmeans', got {summarize!r}")
    if int(n_background) < 1:
        raise AuditInputError(f"n_background must be at least 1, got {n_background}")
    if len(X) == 0:
        raise AuditInputError("X is empty (0 rows); pass at least one row to explain")
    adapter = as_adapter(model, device)
    output = check_output(adapter, output)
    bg_data = X if background is None else background
    if isinstance(X, pd.DataFrame) != isinstance(bg_data, pd.DataFrame):
        raise AuditInputError("background must be the same kind as X (both DataFrames or both arrays/tensors)")
    if isinstance(X, pd.DataFrame) and list(X.columns) != list(bg_data.columns):
        raise AuditInputError(f"background columns {list(bg_data.columns)} differ from X columns {list(X.columns)}")
    if space is None:
        space = build_space(adapter, X, [bg_data], output=output)
    elif space.output != output:
        space = dataclasses.replace(space, output=output)
    if outputs is not None:
        if output == "value":
            raise AuditInputError("outputs picks classes to explain; a regressor has one output (drop outputs=)")
        space, class_names = _select_outputs(space, X, list(outputs), class_names)
    if explainer in ("auto", "tree") and native_tree and outputs is None:
        res, _ = tree_shap_values(adapter, X, class_names=class_names, space=space)
        if res is not None:
            return res
    x = space.encode(X)
    bg, w = pick_background(
        space.encode(bg_data), n=int(n_background), method=summarize, seed=seed,
        numeric=space.codec is None or not space.codec.categorical,
    )
    notes: list[str] = []
    name = _choose(explainer, space, x, bg, exact_budget)
    log.info("shap_values: %s explainer, %d rows, %d features, %d background rows", name, len(x), space.d, len(bg))
    rows0 = space.n_rows
    sampled: dict[str, Any] = {}
    phi, base, fx, name = _run(name, space, x, bg, w, seed, notes, target_se=target_se, budget=exact_budget,
                               sampled=sampled)
    model_rows = space.n_rows - rows0
    ref_corr, ref_err, ref_rows, ref_skipped = (1.0, 0.0, len(x), "") if name == "exact" else _reference(
        space, x, bg, w, phi, seed, n_reference, exact_budget, name, notes
    )
    if summarize == "kmeans" and name in ("deep", "gradient"):  # the permutation sampler weighs them
        notes.append(f"the {name} explainer ignores k-means weights: centres count equally.")
    additivity = float(np.abs(phi.sum(axis=1) + base[None, :] - fx).max())
    est = sampled.get("estimate")
    return _package(space, X, phi, base, fx, class_names, output, name, additivity, ref_corr, ref_err, ref_rows,
                    len(bg), model_rows, time.perf_counter() - t0, notes,
                    standard_errors=None if est is None else est.standard_errors,
                    stopped_by="" if est is None else est.stopped_by,
                    output_spread=float("nan") if est is None else est.spread, reference_skipped=ref_skipped)


def _select_outputs(space: ModelSpace, X: Any, outputs: list[int], class_names: Sequence[Any] | None,
                    ) -> tuple[ModelSpace, list[Any]]:
    """The space restricted to output columns ``outputs``, and their labels."""
    k = space.adapter.n_classes
    if k is None:
        space.adapter.predict_proba(X[:1] if not isinstance(X, pd.DataFrame) else X.iloc[:1], what="X")
        k = space.adapter.n_classes
    bad = [j for j in outputs if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 0 <= j < k]
    if bad or not outputs or len(set(outputs)) != len(outputs):
        raise AuditInputError(f"outputs must be distinct class positions 0..{k - 1}, got {outputs[:10]}")
    labels = list(class_names) if class_names is not None else (
        list(space.adapter.classes) if space.adapter.classes is not None else list(range(k)))
    if len(labels) != k:
        raise AuditInputError(f"class_names has {len(labels)} labels but the model has {k} outputs")
    return dataclasses.replace(space, columns=tuple(int(j) for j in outputs)), [labels[j] for j in outputs]


def exact_cost_estimate(
    model: Any,
    X: Any,
    background: Any = None,
    *,
    n_background: int = 100,
    seed: int = 0,
    device: str | torch.device | None = None,
    space: ModelSpace | None = None,
) -> float:
    """Model rows an exact computation of ``shap_values(model, X, background=...)`` would evaluate.

    Counts ``2**k`` per (row, background row) pair, ``k`` being the number of model-input features
    where the two differ. Cheap (no model calls beyond encoding); use it to size rows and background.

    Examples
    --------
    >>> import torch
    >>> exact_cost_estimate(torch.nn.Linear(3, 2), torch.ones(2, 3), torch.zeros(4, 3))
    64.0
    """
    adapter = as_adapter(model, device)
    bg_data = X if background is None else background
    space = space if space is not None else build_space(adapter, X, [bg_data])
    bg, _ = pick_background(space.encode(bg_data), n=int(n_background), method="sample", seed=seed, numeric=True)
    return exact_cost(space.encode(X), bg)


def _choose(explainer: str, space: ModelSpace, x: torch.Tensor, bg: torch.Tensor, budget: float) -> str:
    if explainer != "auto":
        if explainer in ("deep", "gradient") and space.kind != "torch":
            raise AuditInputError(f"explainer={explainer!r} needs a torch model; use 'permutation' or 'kernel'")
        if explainer == "tree" and not space.adapter.backend.tree_ensemble:
            raise AuditInputError("explainer='tree' needs a tree ensemble (scikit-learn, XGBoost, LightGBM, CatBoost)")
        return explainer
    if exact_cost(x, bg) <= budget:  # the budget decides at any width: 12 continuous inputs can cost 1e7 rows
        return "exact"
    numeric = space.codec is None or not space.codec.categorical
    if space.output in ("proba", "value") and numeric and space.adapter.backend.tree_ensemble:
        return "tree"
    # measured (BENCHMARKS.md): on tabular MLPs the permutation explainer is far closer to exact values than
    # either gradient explainer; on probabilities Gradient (corr ~0.94) beats Deep (0.41-0.86: shap treats the
    # softmax elementwise), on logits Deep (0.96) beats Gradient. The gradient explainers are kept for
    # high-dimensional inputs (images), where sampling coalitions gets costly.
    if space.kind == "torch" and space.d > GRADIENT_MIN_FEATURES:
        return "gradient" if space.output == "proba" else "deep"  # logits and a regressor's value: no softmax
    return "permutation"


TREE_NOTE = (
    "Tree ensemble explained exactly by {lib}'s own TreeSHAP on every explained row (path-dependent: features "
    "outside a coalition follow the training data's split proportions, no background sample), in the model's raw "
    "output: {what}. Values add up to that output; it is what the trees compute, where TreeSHAP is exact "
    "(probabilities are a nonlinear function of it, where no polynomial algorithm is exact)."
)


def tree_shap_values(
    model: Any,
    X: Any,
    *,
    class_names: Sequence[Any] | None = None,
    space: ModelSpace | None = None,
    device: str | torch.device | None = None,
) -> tuple[ShapResult | None, str]:
    """Exact path-dependent TreeSHAP from the model library's own implementation, for every row of ``X``.

    Returns ``(result, "")``, or ``(None, why)`` when the model has no native TreeSHAP for these rows
    (not a tree model, non-numeric columns scikit-learn's trees cannot take, the library raised), so a
    caller can size a model-agnostic explainer to its budget before running one. Costs no model
    rows beyond the library's own prediction on at most 1,000 rows (the additivity check).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, X[:, 0] > 0)
    >>> res, why = tree_shap_values(tree, X[:5])
    >>> res.explainer, res.output, res.additivity_error < 1e-12
    ('tree', 'proba', True)
    """
    t0 = time.perf_counter()
    adapter = as_adapter(model, device)
    backend = adapter.backend
    if not backend.tree_ensemble:
        return None, f"{adapter.name} is not a tree model with a native TreeSHAP"
    if space is None:
        space = build_space(adapter, X, [])
    try:
        out = backend.tree_shap(adapter.model_input(X))
    except Exception as exc:  # noqa: BLE001 - an odd tree model: the generic explainers still work
        log.warning("native TreeSHAP failed (%s); using the model-agnostic explainers", _short(exc))
        return None, f"the native TreeSHAP raised {_short(exc)}"
    if out is None:
        return None, f"{backend.tree_shap_source}'s TreeSHAP does not take this model's non-numeric columns"
    phi, base, raw, kind = out
    if phi.shape[1] != space.d:
        return None, f"the native TreeSHAP gave {phi.shape[1]} features where the model takes {space.d}"
    what = _TREE_OUTPUTS[(kind, adapter.task == "regression")]
    notes = [TREE_NOTE.format(lib=backend.tree_shap_source, what=what)]
    fx = phi.sum(axis=1) + base[None, :]  # the raw output; checked against the library's own on a subset
    additivity = float(np.abs(fx[: len(raw)] - raw).max())
    return _package(space, X, phi, base, fx, class_names, kind, "tree", additivity, 1.0, 0.0, len(X), 0, len(X),
                    time.perf_counter() - t0, notes), ""


#: what a native TreeSHAP explains, by (its output kind, whether the model is a regressor)
_TREE_OUTPUTS = {
    ("margin", False): "log-odds (margin) per class",
    ("proba", False): "the trees' (averaged) class probabilities",
    ("value", True): "the predicted value, in the target's units",
    ("margin", True): "the raw score that the objective's link function maps to the prediction (log of the "
                      "predicted value for Poisson, Gamma and Tweedie objectives), not the prediction itself",
}


def _short(exc: Exception) -> str:
    text = str(exc).split(". ")[0].strip()
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _run(name: str, space: ModelSpace, x: torch.Tensor, bg: torch.Tensor, w: torch.Tensor, seed: int,
         notes: list[str], *, target_se: float = TARGET_SE, budget: float = math.inf,
         sampled: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Values from explainer ``name``, falling back (tree -> permutation, deep -> gradient -> permutation) when
    shap cannot handle the model; returns the name of the explainer that produced them.

    The permutation sampler's :class:`PermutationEstimate` (standard errors, what stopped it) goes into
    ``sampled["estimate"]``."""
    rows0 = space.n_rows
    if name == "exact":
        return (*exact_shapley(space, x, bg, w), name)
    fx = space(x).numpy()
    base = (w[:, None] * space(bg)).sum(dim=0).numpy()
    xn, bn = x.detach().cpu().double().numpy(), bg.detach().cpu().double().numpy()
    if name == "tree":
        try:
            phi = _shaplib.tree(space, xn, bn)
            if phi.shape[2] == fx.shape[1] and np.abs(phi.sum(axis=1) + base - fx).max() < 1e-4:
                # not the path-dependent TreeSHAP "tree" names: exact for the interventional game on the background
                return phi, base, fx, "tree_interventional"
            notes.append(f"TreeExplainer output did not match the model's "
                         f"{'predictions' if space.output == 'value' else 'probabilities'}; used permutation instead.")
        except Exception as exc:  # noqa: BLE001 - shap raises many types for unsupported trees
            notes.append(f"TreeExplainer failed ({_short(exc)}); used permutation instead.")
        name = "permutation"
    if name == "deep":
        try:
            return _shaplib.deep(space, x, bg), base, fx, name
        except Exception as exc:  # noqa: BLE001 - unsupported layers or in-place ops: fall back to expected gradients
            notes.append(f"DeepExplainer failed ({_short(exc)}); used GradientExplainer instead.")
            name = "gradient"
    if name == "gradient":
        try:
            return _shaplib.gradient(space, x, bg, seed=seed), base, fx, name
        except Exception as exc:  # noqa: BLE001 - e.g. a module that is not differentiable end to end
            notes.append(f"GradientExplainer failed ({_short(exc)}); used permutation sampling instead.")
            name = "permutation"
    if name == "permutation":
        # the budget covers every model row of this call, including those a failed explainer used above
        left = max(budget - (space.n_rows - rows0), 1.0)
        est = permutation_shapley(space, x, bg, w, seed=seed, target_se=target_se, max_model_rows=left)
        if sampled is not None:
            sampled["estimate"] = est
        notes.append(est.describe()[0].upper() + est.describe()[1:])
        return est.values, est.base, est.fx, name
    return _shaplib.kernel(space, xn, bn, w.numpy(), seed=seed), base, fx, name


def _reference(space: ModelSpace, x: torch.Tensor, bg: torch.Tensor, w: torch.Tensor, phi: np.ndarray, seed: int,
               n_ref: int, budget: float, name: str, notes: list[str]) -> tuple[float, float, int, str]:
    """Compare ``phi`` with exact values on a seeded sample of rows, when exact values are affordable there.

    Returns correlation, relative error, rows compared, and why the comparison was skipped ("" when it ran).
    """
    if n_ref <= 0:
        return float("nan"), float("nan"), 0, "n_reference=0 asked for no comparison with exact values"
    idx = np.sort(np.random.default_rng(seed + 1).choice(len(x), size=min(n_ref, len(x)), replace=False))
    xi = x[torch.as_tensor(idx, device=x.device)]
    cost = exact_cost(xi, bg)
    if cost > budget:
        why = (f"exact values for {len(idx)} reference row(s) would need {cost:.3g} model rows, over the budget of "
               f"{budget:.3g}")
        notes.append(f"{name} values are an approximation; {why}, so only the additivity error"
                     + (" and the standard errors are" if name == "permutation" else " is") + " reported.")
        return float("nan"), float("nan"), 0, why
    ref, _, _ = exact_shapley(space, xi, bg, w)
    got = phi[idx]
    corr = float(np.corrcoef(got.ravel(), ref.ravel())[0, 1]) if ref.std() > 0 and got.std() > 0 else float("nan")
    scale = float(np.abs(ref).mean())
    err = float(np.abs(got - ref).mean() / scale) if scale > 0 else float("nan")
    notes.append(NOT_EXACT.format(name=name, rows=len(idx), corr=corr, err=err))
    return corr, err, len(idx), ""


def _package(space: ModelSpace, X: Any, phi: np.ndarray, base: np.ndarray, fx: np.ndarray,
             class_names: Sequence[Any] | None, output: OutputSpace, name: str, additivity: float,
             ref_corr: float, ref_err: float, ref_rows: int, n_bg: int, model_rows: int, seconds: float,
             notes: list[str], *, standard_errors: np.ndarray | None = None, stopped_by: str = "",
             output_spread: float = float("nan"), reference_skipped: str = "") -> ShapResult:
    K = fx.shape[1]
    labels = list(class_names) if class_names is not None else (
        [REGRESSION_OUTPUT] if space.adapter.task == "regression" and K == 1 else
        list(space.adapter.classes) if space.adapter.classes is not None and len(space.adapter.classes) == K
        else list(range(K))
    )
    if len(labels) != K:
        raise AuditInputError(f"class_names has {len(labels)} labels but the model has {K} outputs")
    keys = [str(c) for c in labels]
    index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(fx))
    values = {k: pd.DataFrame(phi[:, :, j], index=index, columns=space.names) for j, k in enumerate(keys)}
    if standard_errors is None:  # exact and tree values carry no sampling error; Deep/Gradient/Kernel report none
        standard_errors = np.full(phi.shape, 0.0 if name in EXACT_EXPLAINERS else np.nan)
    ses = {k: pd.DataFrame(standard_errors[:, :, j], index=index, columns=space.names) for j, k in enumerate(keys)}
    by_col = {
        k: pd.DataFrame({c: v.iloc[:, idx].sum(axis=1) for c, idx in space.groups.items()}, index=index)
        for k, v in values.items()
    }
    if isinstance(X, pd.DataFrame) and space.in_data_columns:
        data = X.copy()
    else:
        data = pd.DataFrame(space.encode(X).cpu().numpy(), index=index, columns=space.names)
    return ShapResult(
        values=values,
        values_by_column=by_col,
        base_values=pd.Series(base, index=keys, name="base_value"),
        model_output=pd.DataFrame(fx, index=index, columns=keys),
        data=data,
        groups={c: [space.names[i] for i in idx] for c, idx in space.groups.items()},
        output=output,
        explainer=name,
        additivity_error=additivity,
        reference_correlation=ref_corr,
        reference_error=ref_err,
        reference_rows=ref_rows,
        n_background=n_bg,
        model_rows=model_rows,
        seconds=seconds,
        notes=notes,
        in_data_columns=space.in_data_columns,
        standard_errors=ses,
        stopped_by=stopped_by,
        output_spread=output_spread,
        reference_skipped=reference_skipped,
    )
