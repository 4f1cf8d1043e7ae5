"""Train a scikit-learn gradient-boosting Pipeline on Adult and audit it.

    python examples/adult_sklearn.py --out reports/adult.html
"""

from __future__ import annotations

import argparse
from pathlib import Path
import time

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from audit import audit
from audit.datasets import load_adult


def train_adult_model(seed: int = 0):
    """A HistGradientBoosting Pipeline on Adult's original train file; returns (model, train, test, data)."""
    d = load_adult("train")
    test = load_adult("test").frame
    train = d.frame
    pre = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), d.categorical)],
        remainder="passthrough",
    )
    cat_mask = [True] * len(d.categorical) + [False] * (len(d.features) - len(d.categorical))
    model = Pipeline(
        [("pre", pre), ("gbm", HistGradientBoostingClassifier(max_iter=150, categorical_features=cat_mask, random_state=seed))]
    )
    model.fit(train[d.features], train[d.target])
    return model, train, test, d


def load_model():
    """Factory for ``audit run examples/adult.toml``: the trained Pipeline."""
    return train_adult_model(0)[0]


def load_test(rows: int = 8000, seed: int = 0):
    """Factory for ``audit run``: a seeded sample of Adult's test file (the rows the demo audits)."""
    return load_adult("test").frame.sample(n=rows, random_state=seed).reset_index(drop=True)


def load_train(rows: int = 8000, seed: int = 0):
    """Factory for ``audit run``: a seeded sample of Adult's training file."""
    return load_adult("train").frame.sample(n=rows, random_state=seed).reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="reports/adult.html")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", type=int, default=8000, help="test rows audited (seeded sample)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    model, train, test, d = train_adult_model(args.seed)
    test = test.sample(n=min(args.rows, len(test)), random_state=args.seed).reset_index(drop=True)
    train = train.sample(n=min(args.rows, len(train)), random_state=args.seed).reset_index(drop=True)
    print(f"trained Adult model in {time.perf_counter() - t0:.1f}s")
    report = audit(model, test, target=d.target, sensitive=d.sensitive, train=train, features=d.features, seed=args.seed,
                   name="Adult income gradient boosting")
    path = report.save_html(args.out)
    report.to_json(Path(args.out).with_suffix(".json"))  # the numbers, for diffs between versions
    print(report)
    print(f"wrote {path} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
