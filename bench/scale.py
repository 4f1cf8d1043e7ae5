"""Benchmark: prediction-log audits of synthetic Parquet logs, pandas in memory against Dask, 1M and 10M rows.

Each run is a fresh subprocess (peak RSS is its own). The log has a score, a label drawn from it
(calibrated by construction), two sensitive columns and a timestamp, written as 10 Parquet parts.
Checks: performance, fairness, calibration (the count-based ones a log can have). Dask runs on a
2-worker LocalCluster (processes), so the client's peak memory is what the audit gathers.

    python bench/scale.py [--rows 1000000 10000000] [--engines pandas dask]

Target (issue 19, this 2-core machine): the 10M-row log audit under 2 minutes and 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


CHECKS = ["performance", "fairness", "calibration"]


def write_log(rows: int, folder: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    per = rows // 10
    for i in range(10):
        score = rng.beta(2, 5, per)
        frame = pd.DataFrame({
            "score": score, "label": (rng.random(per) < score).astype(np.int8),
            "region": pd.Categorical(rng.choice(["north", "south", "east", "west"], per, p=[0.4, 0.3, 0.2, 0.1])),
            "sex": pd.Categorical(rng.choice(["f", "m"], per)),
        })
        frame.to_parquet(folder / f"part-{i}.parquet", index=False)


def child(engine: str, folder: str) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    from audit import StoredPredictions, audit

    files = sorted(Path(folder).glob("part-*.parquet"))
    kw = dict(target="label", sensitive=["region", "sex"], checks=CHECKS, progress=False, seed=0)
    t = time.perf_counter()
    if engine == "pandas":
        import pandas as pd

        data = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        report = audit(StoredPredictions(score="score"), data, **kw)
    else:
        import logging

        import dask.dataframe as dd
        import distributed

        with distributed.Client(distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                         dashboard_address=None, silence_logs=logging.ERROR)):
            t = time.perf_counter()  # the cluster's start-up is not the audit's
            report = audit(StoredPredictions(score="score"), dd.read_parquet([str(f) for f in files]), **kw)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    acc = next(m.value for m in report.sections["performance"].metrics if m.name == "performance.accuracy")
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_mb": peak, "accuracy": acc,
                      "checks": report.meta["check_durations"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--engines", nargs="+", default=["pandas", "dask"], choices=["pandas", "dask"])
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"# {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"{'rows':>11s} {'engine':7s} {'seconds':>8s} {'peak MB':>8s} {'accuracy':>9s}  per check (s)")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            write_log(rows, Path(tmp))
            for engine in args.engines:
                out = subprocess.run([sys.executable, __file__, "--child", engine, tmp], capture_output=True, text=True)
                line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
                if line is None:
                    print(f"{rows:11,d} {engine:7s} failed: {out.stderr.strip().splitlines()[-1:]}", flush=True)
                    continue
                r = json.loads(line)
                checks = ", ".join(f"{k} {v:.1f}" for k, v in r["checks"].items() if v >= 0.05)
                print(f"{rows:11,d} {engine:7s} {r['seconds']:8.1f} {r['peak_mb']:8.0f} {r['accuracy']:9.4f}  {checks}",
                      flush=True)


if __name__ == "__main__":
    main()
