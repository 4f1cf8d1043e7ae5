"""Weak slices (issue 28): time of ``find_weak_slices`` at 100k and 1M rows, and the large simulation.

Timing: 10 columns (6 numeric, one with 3% missing values; 4 categorical, one with 60 levels of which most
are rare), a 0/1 loss with a planted slice. Each stage is timed: the plan (quantile edges, levels), the
counts (encoding + one bincount per statistic and column pair) and the statistics (Welch, FDR, merging).

Simulation (``tests/slices/test_slices.py`` runs a 40-run version): 6,000 rows, four columns ``a ~ U(0, 1)``,
``b ~ N(0, 1)``, ``color`` (red 10%, four others), ``d`` (three levels); 0/1 errors at rate 0.15, and 0.45 in
the planted slice ``a < 0.2 and color == "red"`` (2% of rows, true difference 0.30), searched as the slices check
searches a binary classifier by default (error rate, log loss, false positive and false negative rates, under one
false-discovery budget; :func:`classifier_losses`). Reported:

- ``false alarm``: share of runs without a planted slice where any slice of any loss is significant (target <= 5%);
- ``power``: share of runs with the planted slice where a significant reported slice has its two columns,
  ``color == "red"`` and ``a < 0.2`` (target >= 90%);
- ``coverage``: share of runs whose 95% interval of the planted slice holds 0.30 (target >= 93%).

    .venv/bin/python bench/slices.py                 # timing (100k, 1M) and 300 simulation runs
    .venv/bin/python bench/slices.py --quick         # 100k only and 40 runs, a smoke test
    .venv/bin/python bench/slices.py --dask          # the check in memory against Dask, 100k and 1M rows
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time

import numpy as np
import pandas as pd

from audit.slices import (
    classification_losses,
    default_losses,
    find_weak_slices,
    plan_pairs,
    plan_slices,
    search_losses,
    slice_counts,
    slices_from_counts,
)


def wide_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols = {f"x{i}": rng.normal(size=n) for i in range(6)}
    cols["x5"][rng.uniform(size=n) < 0.03] = np.nan
    cols["color"] = rng.choice(["red", "green", "blue", "black", "white"], n, p=[0.1, 0.3, 0.2, 0.2, 0.2])
    cols["city"] = rng.choice([f"c{i}" for i in range(60)], n, p=np.r_[[0.3, 0.2, 0.1], np.full(57, 0.4 / 57)])
    cols["kind"] = rng.choice(["k1", "k2", "k3"], n)
    cols["flag"] = rng.uniform(size=n) < 0.3
    frame = pd.DataFrame(cols)
    rate = np.where((frame.x0 < -0.84) & (frame.color == "red"), 0.45, 0.15)
    return frame, (rng.uniform(size=n) < rate).astype(float)


def time_stages(n: int) -> dict:
    frame, loss = wide_frame(n)
    t0 = time.perf_counter()
    result = find_weak_slices(frame, loss)
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    search_losses(frame, classifier_losses(0, loss))
    check = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan = plan_slices(frame)
    plan = type(plan)(plan.columns, shift=float(loss.mean()))
    t1 = time.perf_counter()
    plan = plan_pairs(plan, slice_counts(frame, loss, plan))
    counts = slice_counts(frame, loss, plan)
    t2 = time.perf_counter()
    staged = slices_from_counts(counts, plan)
    t3 = time.perf_counter()
    assert staged.slices.description.tolist() == result.slices.description.tolist()
    return {"rows": n, "columns": frame.shape[1], "candidates": result.n_candidates,
            "significant": result.n_significant, "top slice": result.slices.description.iloc[0],
            "find_weak_slices s": round(total, 2), "check's 4 losses s": round(check, 2), "plan s": round(t1 - t0, 2), "counts s": round(t2 - t1, 2),
            "statistics s": round(t3 - t2, 2)}


def simulate(seed: int, n: int = 6000, planted: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "a": rng.uniform(0, 1, n), "b": rng.normal(size=n),
        "color": rng.choice(["red", "green", "blue", "black", "white"], n, p=[0.1, 0.3, 0.2, 0.2, 0.2]),
        "d": rng.choice(["x", "y", "z"], n)})
    rate = np.full(n, 0.15)
    if planted:
        rate[(frame.a < 0.2) & (frame.color == "red")] = 0.45
    return frame, (rng.uniform(size=n) < rate).astype(float)


def classifier_losses(seed: int, errors: np.ndarray) -> list:
    """The slices check's default losses of a binary classifier wrong where ``errors``: 40% positive labels,
    confidences uniform on [0.55, 0.95] (so the log loss varies too)."""
    rng = np.random.default_rng([seed, 1])
    y = (rng.uniform(size=len(errors)) < 0.4).astype(int)
    pred = np.where(errors > 0, 1 - y, y)
    c = rng.uniform(0.55, 0.95, len(y))
    proba = np.column_stack([np.where(pred == 0, c, 1 - c), np.where(pred == 1, c, 1 - c)])
    return classification_losses(y, proba, default_losses("binary"))


def simulation(runs: int, holdout: bool) -> dict:
    alarms = found = covered = 0
    for seed in range(runs):
        frame, loss = simulate(100_000 + seed, planted=False)
        null = search_losses(frame, classifier_losses(seed, loss), holdout=holdout, seed=seed)
        alarms += sum(r.n_significant for r in null.values()) > 0
        frame, loss = simulate(seed)
        r = search_losses(frame, classifier_losses(seed, loss), holdout=holdout, seed=seed)["error_rate"]
        sig = r.slices[r.slices.significant]
        found += any(set(c) == {"a", "color"} and 'color == "red"' in d and "a < 0.2" in d
                     for c, d in zip(sig["columns"], sig.description))
        if not holdout:  # with holdout only the slices found on the first half are tested on the second
            planted = r.candidates[r.candidates.description == 'a < 0.2 and color == "red"']
            covered += bool(len(planted)) and planted.low.iloc[0] <= 0.30 <= planted.high.iloc[0]
    return {"holdout": holdout, "runs": runs, "false alarm": alarms / runs, "power": found / runs,
            "coverage": covered / runs if not holdout else float("nan")}


def dask_against_memory(n: int, npartitions: int = 10) -> dict:
    """The slices check inside an audit of ``n`` rows, in memory and on a 2-worker LocalCluster (workers preloaded
    with audit), with the same slices: a logistic regression of the wide frame's numbers, planted errors aside."""
    import logging

    import dask.dataframe as dd
    import distributed
    from sklearn.linear_model import LogisticRegression

    from audit import audit

    frame, _ = wide_frame(n)
    rng = np.random.default_rng(1)
    numbers = [f"x{i}" for i in range(5)]
    weak = ((frame.x0 < -0.84) & (frame.color == "red")).to_numpy()
    logit = frame[numbers].sum(axis=1).to_numpy() * np.where(weak, 0.2, 1.0)
    frame["y"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = LogisticRegression().fit(frame[numbers].iloc[:50_000], frame["y"].iloc[:50_000])
    kw = dict(target="y", features=numbers, checks=["slices"], progress=False)
    t0 = time.perf_counter()
    memory = audit(model, frame, **kw)
    t_memory = time.perf_counter() - t0
    folder = tempfile.mkdtemp()  # Parquet parts, as data larger than memory is read (not a graph holding rows)
    for i, part in enumerate(np.array_split(np.arange(n), npartitions)):
        frame.iloc[part].to_parquet(f"{folder}/part-{i:02d}.parquet", index=False)
    with distributed.Client(distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                     dashboard_address=None, silence_logs=logging.ERROR,
                                                     preload=["audit"])):
        t0 = time.perf_counter()
        on_dask = audit(model, dd.read_parquet(f"{folder}/part-*.parquet"), **kw)
        t_dask = time.perf_counter() - t0
    shutil.rmtree(folder)
    a, b = memory.sections["slices"], on_dask.sections["slices"]
    same = all(a.tables[t]["description"].tolist() == b.tables[t]["description"].tolist() for t in a.tables)
    return {"rows": n, "in memory s": round(t_memory, 2), "slices check s": round(a.duration_s, 2),
            "Dask s": round(t_dask, 2), "Dask slices s": round(b.duration_s, 2), "same slices": same,
            "significant": int(memory.metrics["slices.n_significant"].value)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--dask", action="store_true", help="only the check in memory against Dask (100k, 1M rows)")
    args = parser.parse_args()
    if args.dask:
        print(pd.DataFrame([dask_against_memory(n) for n in (100_000, 1_000_000)]).to_string(index=False))
        return
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"pandas {pd.__version__}")
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    print(pd.DataFrame([time_stages(n) for n in sizes]).to_string(index=False))
    runs = 40 if args.quick else args.runs
    t0 = time.perf_counter()
    table = pd.DataFrame([simulation(runs, False), simulation(runs // 3, True)])
    print(table.to_string(index=False))
    print(f"simulation: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
