"""Benchmark: inside one default audit of Adult, time spent explaining against time spent predicting.

Issue 15's criterion: "an XGBoost or LightGBM audit of Adult spends less time explaining than predicting
twice". For each boosting library and row count, one default audit (every check, default settings, HTML
not written) of Adult test rows, in the same process:

- ``explain s``: the explain check's seconds (native TreeSHAP of every audited row up to 4,000, LIME on
  the chosen rows, attribution shares and their intervals);
- ``predicting s``: seconds inside the model's own ``predict_proba`` over the whole audit (the cached
  predictions, calibration, the black-box attack's queries, LIME's perturbed rows), counted by wrapping
  the estimator backend's call;
- ``one pass s``: one bare ``predict_proba`` over the audited rows.

``explain / predicting`` below 0.5 means the audit predicts more than twice as long as it explains. Against
one bare pass (``explain / one pass``) no exact TreeSHAP can come close: it visits every path of every
tree per row, 60-100x a prediction (``bench/tree_shap.py``).

    python bench/explain_vs_predict.py [--rows 1500 4000] [--trees 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1500, 4000])
    ap.add_argument("--trees", type=int, default=100)
    args = ap.parse_args()

    import lightgbm as lgb
    import xgboost as xgb

    import audit.backends._estimators as est
    from audit import audit
    from audit.datasets import load_adult

    d = load_adult("all")
    df = d.frame.copy()
    for c in d.categorical:
        df[c] = df[c].astype("category")
    train, rest = df.iloc[:20000], df.iloc[20000:].reset_index(drop=True)
    spent = {"s": 0.0, "rows": 0}
    call = est.EstimatorBackend.predict_proba

    def counted(self, X):  # every model call of the audit goes through the estimator backend
        t = time.perf_counter()
        out = call(self, X)
        spent["s"] += time.perf_counter() - t
        spent["rows"] += len(X)
        return out

    est.EstimatorBackend.predict_proba = counted
    models = {
        "XGBoost": xgb.XGBClassifier(n_estimators=args.trees, enable_categorical=True, tree_method="hist", n_jobs=2),
        "LightGBM": lgb.LGBMClassifier(n_estimators=args.trees, verbose=-1, n_jobs=2),
    }
    print(f"# {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.trees} trees")
    print("| model | rows | audit s | explain s | predicting s (calls' rows) | one pass s | explain / predicting | "
          "explain / one pass |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, model in models.items():
        model.fit(train[d.features], train[d.target])
        for n in args.rows:
            test = rest.iloc[:n]
            t = time.perf_counter()
            model.predict_proba(test[d.features])
            one = time.perf_counter() - t
            spent.update(s=0.0, rows=0)
            t = time.perf_counter()
            rep = audit(model, test, target=d.target, sensitive=d.sensitive, features=d.features, progress=False)
            total = time.perf_counter() - t
            ex = rep.sections["explain"].duration_s
            print(f"| {name} | {n:,} | {total:.2f} | {ex:.2f} | {spent['s']:.2f} ({spent['rows']:,}) | {one:.3f} | "
                  f"{ex / spent['s']:.2f} | {ex / one:.0f} |", flush=True)


if __name__ == "__main__":
    main()
