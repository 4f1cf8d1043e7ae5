"""Train a scikit-learn gradient-boosting regressor for the credit amount on German credit and audit it.

A regression audit: the model predicts a number (Deutsche Mark), so the report reads in the target's units
(MAE, RMSE, R², per-group errors and their gaps, conformal interval coverage per group).

    python examples/german_credit_amount.py --out reports/german_amount.html
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from audit import audit
from audit.datasets import load_german

TARGET = "credit_amount"


def train_amount_model(seed: int = 0):
    """A HistGradientBoosting regressor of the credit amount on German credit's other application fields.

    Returns ``(model, train, test, features, sensitive)``: a seeded 70/30 split; ``sex`` and ``age_group`` are
    the sensitive columns (``status_sex`` encodes sex with marital status, so it is left out of the features).
    """
    d = load_german()
    frame = d.frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cut = int(0.7 * len(frame))
    train, test = frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)
    drop = {TARGET, d.target, "status_sex", *d.sensitive}
    features = [c for c in frame.columns if c not in drop]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in features if c not in categorical]
    pre = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical)],
        remainder="passthrough",
    )
    cat_mask = [True] * len(categorical) + [False] * len(numeric)
    model = Pipeline([("pre", pre), ("gbm", HistGradientBoostingRegressor(
        max_iter=200, learning_rate=0.05, categorical_features=cat_mask, random_state=seed))])
    model.fit(train[categorical + numeric], train[TARGET])
    return model, train, test, categorical + numeric, list(d.sensitive)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="reports/german_amount.html")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    model, train, test, features, sensitive = train_amount_model(args.seed)
    print(f"trained the credit-amount regressor in {time.perf_counter() - t0:.1f}s")
    report = audit(model, test, target=TARGET, sensitive=sensitive, train=train, features=features, seed=args.seed,
                   name="German credit amount gradient boosting (regression)")
    path = report.save_html(args.out)
    report.to_json(Path(args.out).with_suffix(".json"))  # the numbers, for diffs between versions
    print(report)
    print(f"wrote {path} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
