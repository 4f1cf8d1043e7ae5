"""Benchmark: exact TreeSHAP through audit.explain.shap_values against the libraries' own calls.

For XGBoost, LightGBM, CatBoost, RandomForest and HistGradientBoosting trained on Adult (categorical
columns as pandas categories where the library takes them, ordinal codes for scikit-learn), on 10,000
and 100,000 rows (Adult resampled with replacement for the larger size), in the same run:

- ``ours``: ``shap_values(model, X)`` (native TreeSHAP through the model backend, results packaged
  as DataFrames per class);
- ``native``: the library's own call (``pred_contribs`` / ``pred_contrib`` / ``ShapValues``; shap's
  TreeExplainer is the native route for scikit-learn);
- ``shap``: ``shap.TreeExplainer(model).shap_values(X)`` (path-dependent), where shap supports the model.

    python bench/tree_shap.py [--sizes 10000 100000] [--trees 50] [--skip RandomForest]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

from audit.backends import backend_for  # noqa: E402
from audit.datasets import load_adult  # noqa: E402
from audit.explain import shap_values  # noqa: E402

FEATURES = ["age", "workclass", "education_num", "marital_status", "occupation", "relationship", "capital_gain",
            "capital_loss", "hours_per_week"]


def adult(size: int) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    d = load_adult("all").frame
    y = (d["income"] == d["income"].max()).astype(int)
    X = d[FEATURES].assign(**{c: d[c].astype("category") for c in FEATURES if d[c].dtype.kind not in "iuf"})
    rows = np.random.default_rng(0).choice(len(d), size=size, replace=size > len(d))
    return X.iloc[:20000], y.iloc[:20000], X.iloc[rows].reset_index(drop=True)


def codes(X: pd.DataFrame) -> pd.DataFrame:
    return X.assign(**{c: X[c].cat.codes for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)})


def models(trees: int):
    import catboost
    import lightgbm
    import xgboost
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    yield "XGBoost", xgboost.XGBClassifier(n_estimators=trees, max_depth=6, enable_categorical=True,
                                           tree_method="hist"), False
    yield "LightGBM", lightgbm.LGBMClassifier(n_estimators=trees, num_leaves=31, verbose=-1), False
    yield "CatBoost", catboost.CatBoostClassifier(iterations=trees, depth=6, verbose=False,
                                                  allow_writing_files=False), False
    yield "RandomForest", RandomForestClassifier(n_estimators=trees, max_depth=10, random_state=0, n_jobs=1), True
    yield "HistGradientBoosting", HistGradientBoostingClassifier(max_iter=trees, random_state=0), True


def native(name: str, model, X: pd.DataFrame):
    """The library's own TreeSHAP call, as a user would make it."""
    if name == "XGBoost":
        import xgboost

        return model.get_booster().predict(xgboost.DMatrix(X, enable_categorical=True), pred_contribs=True)
    if name == "LightGBM":
        return model.predict(X, pred_contrib=True)
    if name == "CatBoost":
        from catboost import Pool

        cat = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        return model.get_feature_importance(Pool(X.astype({c: str for c in cat}), cat_features=cat), type="ShapValues")
    import shap

    return shap.TreeExplainer(model).shap_values(X, check_additivity=False)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--trees", type=int, default=50)
    ap.add_argument("--skip", nargs="*", default=[], help="model names to leave out (RandomForest is slow at 100k)")
    args = ap.parse_args()
    import shap

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"{'model':22s} {'rows':>8s} {'ours s':>8s} {'native s':>9s} {'shap s':>8s} {'ours/native':>11s} "
          f"{'shap/ours':>9s} {'predict s':>9s}")
    trained = {}
    for size in args.sizes:
        Xtr, ytr, X = adult(size)
        for name, model, numeric in models(args.trees):
            if name in args.skip:
                continue
            if name not in trained:
                fit_X = codes(Xtr) if numeric else Xtr
                if name == "CatBoost":
                    fit_X = Xtr.assign(**{c: Xtr[c].astype(str) for c in Xtr.columns
                                          if isinstance(Xtr[c].dtype, pd.CategoricalDtype)})
                    model.fit(fit_X, ytr, cat_features=[c for c in Xtr.columns
                                                        if isinstance(Xtr[c].dtype, pd.CategoricalDtype)])
                else:
                    model.fit(fit_X, ytr)
                trained[name] = model
            model = trained[name]
            Xe = codes(X) if numeric else X
            backend = backend_for(model)
            t_ours = timed(lambda: shap_values(model, Xe))
            t_native = timed(lambda: native(name, model, Xe))
            try:
                Xs = Xe if name in ("XGBoost", "LightGBM") else (
                    Xe.astype({c: str for c in Xe.columns if isinstance(Xe[c].dtype, pd.CategoricalDtype)})
                    if name == "CatBoost" else Xe)
                t_shap = timed(lambda: shap.TreeExplainer(model).shap_values(Xs, check_additivity=False))
            except Exception as exc:  # noqa: BLE001 - shap does not read every model
                t_shap = float("nan")
                print(f"  (shap: {type(exc).__name__}: {str(exc)[:80]})")
            t_pred = timed(lambda: backend.predict_proba(Xe))
            print(f"{name:22s} {size:8d} {t_ours:8.2f} {t_native:9.2f} {t_shap:8.2f} {t_ours / t_native:11.2f} "
                  f"{t_shap / t_ours:9.2f} {t_pred:9.3f}", flush=True)


if __name__ == "__main__":
    main()
