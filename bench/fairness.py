"""Bootstrap intervals: audit.fairness (vectorised) against fairlearn's MetricFrame(n_boot=...).

Both run on the same data in the same process; the table prints measured wall times and their ratio,
and how far apart the two sets of interval bounds are (in units of our interval half-width).
fairlearn runs only at sizes that keep its part under about two minutes; the large sizes are ours
alone and say so (nothing is extrapolated).

    .venv/bin/python bench/fairness.py            # full run
    .venv/bin/python bench/fairness.py --quick    # smaller sizes, a smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score

from audit.fairness import assess_fairness

FNS = {
    "selection_rate": selection_rate,
    "accuracy": accuracy_score,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "true_negative_rate": true_negative_rate,
    "precision": precision_score,
}
Q = [0.025, 0.975]


def make(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Series]:
    rng = np.random.default_rng(seed)
    race = rng.choice(["African-American", "Caucasian", "Hispanic", "Other"], n, p=[0.5, 0.34, 0.09, 0.07])
    shift = pd.Series(race).map({"African-American": 0.3, "Caucasian": 0.0, "Hispanic": -0.1, "Other": -0.2}).to_numpy()
    y = (rng.random(n) < 0.45).astype(int)
    score = 1 / (1 + np.exp(-(1.4 * y - 0.7 + shift + rng.normal(size=n))))
    return y, (score > 0.5).astype(int), score, pd.Series(race, name="race")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def versus_fairlearn(n: int, n_boot: int) -> dict[str, object]:
    y, p, _, race = make(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf, t_fl = timed(lambda: MetricFrame(metrics=FNS, y_true=y, y_pred=p, sensitive_features=race,
                                             n_boot=n_boot, ci_quantiles=Q, random_state=0))
    ours, t_us = timed(lambda: assess_fairness(y, p, race, n_boot=n_boot, seed=0, min_group_size=0))
    t = ours.groups["race"]
    gaps = []
    for m in FNS:
        half = ((t[f"{m}_high"] - t[f"{m}_low"]) / 2).to_numpy()
        gaps.append(np.abs(mf.by_group_ci[0][m].to_numpy() - t[f"{m}_low"].to_numpy()) / half)
        gaps.append(np.abs(mf.by_group_ci[1][m].to_numpy() - t[f"{m}_high"].to_numpy()) / half)
    return {"rows": n, "resamples": n_boot, "fairlearn_s": t_fl, "audit_s": t_us, "speed-up": t_fl / t_us,
            "max bound gap / half-width": float(np.max(gaps))}


def ours_alone(n: int, n_boot: int, with_auc: bool) -> dict[str, object]:
    y, p, s, race = make(n)
    sex = pd.Series(np.random.default_rng(1).choice(["F", "M"], n), name="sex")
    sens = pd.concat([race, sex], axis=1)
    _, t_us = timed(lambda: assess_fairness(y, p, sens, y_score=s if with_auc else None, n_boot=n_boot, seed=0))
    return {"rows": n, "resamples": n_boot, "sensitive": "race, sex + intersection", "roc_auc": with_auc, "audit_s": t_us}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    peer = [(5_000, 10)] if args.quick else [(10_000, 50), (100_000, 10)]
    rows = [versus_fairlearn(n, b) for n, b in peer]
    df = pd.DataFrame(rows)
    print("\nSame data, same resamples: fairlearn MetricFrame(n_boot) vs audit.fairness.assess_fairness")
    print("(7 group metrics + their differences/ratios, one sensitive column with 4 groups, 95% intervals)")
    print(df.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    big = [(100_000, 1000, False), (1_000_000, 1000, False), (1_000_000, 1000, True)]
    if args.quick:
        big = [(100_000, 1000, False), (100_000, 1000, True)]
    alone = pd.DataFrame([ours_alone(*b) for b in big])
    print("\naudit.fairness alone (every group metric, all disparities, race, sex and their intersection)")
    print(alone.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))


if __name__ == "__main__":
    main()
