"""Benchmark: prediction-log audits of synthetic Parquet logs, pandas in memory against Dask, 1M and 10M rows.

Each run is a fresh subprocess (peak RSS is its own). The log has a score, a label drawn from it
(calibrated by construction), two sensitive columns and a timestamp, written as 10 Parquet parts.
Checks: performance, fairness, calibration (the count-based ones a log can have). Dask runs on a
2-worker LocalCluster (processes), so the client's peak memory is what the audit gathers.

    python bench/scale.py [--rows 1000000 10000000] [--engines pandas dask] [--folder DIR]

A Dask run also prints its workers' peak memory and, after the audit, its stages one by one (read, cells,
merge; ``AUDIT_BENCH_STAGES=0`` skips them). ``--folder`` reuses (or writes once) the log there. The workers
import audit as they start (``AUDIT_BENCH_PRELOAD=0``: on their first task, about 6 s each, inside the audit).

Targets: issue 19, the 10M-row log under 2 minutes and 2 GB; issue 29, the 100M-row log under 60 s on 2
workers with the client's peak within 20% of the 10M run's.
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
STAGES = os.environ.get("AUDIT_BENCH_STAGES", "1") == "1"


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

        # workers import audit as they start (dask worker --preload audit): its 6 s import is start-up, not audit
        preload = ["audit"] if os.environ.get("AUDIT_BENCH_PRELOAD", "1") == "1" else []
        with distributed.Client(distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                         dashboard_address=None, silence_logs=logging.ERROR,
                                                         preload=preload)) as client:
            t = time.perf_counter()  # the cluster's start-up is not the audit's
            report = audit(StoredPredictions(score="score"), dd.read_parquet([str(f) for f in files]), **kw)
            seconds = time.perf_counter() - t
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the stages gather anything
            workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            stages = dask_stages([str(f) for f in files]) if STAGES else {}
        acc = next(m.value for m in report.sections["performance"].metrics if m.name == "performance.accuracy")
        print(json.dumps({"engine": engine, "seconds": seconds, "peak_mb": peak, "accuracy": acc,
                          "worker_peak_mb": max(workers.values()), "stages": stages,
                          "checks": report.meta["check_durations"]}))
        return
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    acc = next(m.value for m in report.sections["performance"].metrics if m.name == "performance.accuracy")
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_mb": peak, "accuracy": acc,
                      "checks": report.meta["check_durations"]}))


def dask_stages(files: list[str]) -> dict[str, float]:
    """Where a Dask audit's seconds go, each stage run again on its own after the audit (same cluster): reading
    every partition's columns; reading plus summarising each partition as prediction cells (``cells`` is that
    minus ``read``); merging the partitions' cells (on the client here, in a tree on the workers in the audit)."""
    import dask
    import dask.dataframe as dd

    from audit import StoredPredictions
    from audit.engines._dask_cells import partition_cells
    from audit.model import ModelAdapter
    from audit.stats import merge_cells

    ddf = dd.read_parquet(files)
    t = time.perf_counter()
    ddf.map_partitions(len, meta=(None, "int64")).compute()
    read = time.perf_counter() - t
    adapter = ModelAdapter(StoredPredictions(score="score"))
    parts = [dask.delayed(partition_cells)(p, i, adapter, features=["score"], target="label",
                                           sensitive=["region", "sex"], classes=[0, 1], time_column=None,
                                           period="M", n_bins=15) for i, p in enumerate(ddf.to_delayed())]
    t = time.perf_counter()
    cells = dask.compute(*parts)
    summarised = time.perf_counter() - t
    t = time.perf_counter()
    merge_cells(cells)
    return {"read": read, "cells": summarised - read, "merge": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--engines", nargs="+", default=["pandas", "dask"], choices=["pandas", "dask"])
    ap.add_argument("--folder", help="keep the logs here (log-<rows>/), reused by the next run")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"# {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"{'rows':>11s} {'engine':7s} {'seconds':>8s} {'peak MB':>8s} {'worker MB':>9s} {'accuracy':>9s}  "
          "stages after the run (s)  per check (s)")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(args.folder) / f"log-{rows}" if args.folder else Path(tmp)
            if len(list(folder.glob("part-*.parquet"))) != 10:
                folder.mkdir(parents=True, exist_ok=True)
                write_log(rows, folder)
            for engine in args.engines:
                run_child(rows, engine, folder)


def run_child(rows: int, engine: str, folder: Path) -> None:
    out = subprocess.run([sys.executable, __file__, "--child", engine, str(folder)], capture_output=True, text=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
    if line is None:
        print(f"{rows:11,d} {engine:7s} failed: {out.stderr.strip().splitlines()[-1:]}", flush=True)
        return
    r = json.loads(line)
    checks = ", ".join(f"{k} {v:.1f}" for k, v in r["checks"].items() if v >= 0.05)
    stages = ", ".join(f"{k} {v:.1f}" for k, v in r.get("stages", {}).items()) or "-"
    worker = f"{r['worker_peak_mb']:9.0f}" if "worker_peak_mb" in r else f"{'-':>9s}"
    print(f"{rows:11,d} {engine:7s} {r['seconds']:8.1f} {r['peak_mb']:8.0f} {worker} {r['accuracy']:9.4f}  "
          f"{stages}  {checks}", flush=True)


if __name__ == "__main__":
    main()
