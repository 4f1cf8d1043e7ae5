"""Benchmark: whole audits, seconds per check and peak memory, against the bare model calls they need.

Workloads (each in a fresh subprocess, so peak resident memory is the audit's own):

- ``compas``: the bundled COMPAS torch MLP (`audit.models.compas.train_compas_mlp`), default audit;
- ``adult``: the scikit-learn HistGradientBoosting Pipeline of `examples/adult_sklearn.py` on 8,000 rows;
- ``digits``: the bundled digits CNN on its test images (saliency included);
- ``synthetic-100k`` / ``synthetic-1m``: 15 numeric columns plus two sensitive columns, a
  HistGradientBoosting classifier, 100,000 / 1,000,000 rows;
- ``german-amount``: the regressor of `examples/german_credit_amount.py` (German credit's amount);
- ``regression-1m``: the synthetic 1,000,000 rows with a numeric target and a HistGradientBoosting regressor.

Each row prints the audit's seconds (total and per check, training excluded), peak RSS, and the
seconds of one bare ``predict_proba`` over the same rows (the unavoidable cost), as a ratio. With
``--save-html`` the total includes writing the report, and the row adds the number of figures, the
seconds drawing them took (checks only keep the numbers; figures are drawn when the HTML is written)
and the report's size; ``bench/figures.py`` splits the drawing per figure. To measure an older
checkout with this script, put it first on the path: ``PYTHONPATH=/tmp/old python bench/audits.py``.
Targets (issue 18, this 2-core machine): COMPAS under 4 s; 1,000,000 rows under 60 s and 3 GB.

    python bench/audits.py [--workloads compas adult digits synthetic-100k synthetic-1m] [--save-html] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


WORKLOADS = ("compas", "adult", "digits", "synthetic-100k", "synthetic-1m", "german-amount", "regression-1m")


def _synthetic(n: int, regression: bool = False):
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, 15)), columns=[f"x{i}" for i in range(15)])
    group = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1])
    sex = rng.choice(["f", "m"], size=n)
    logit = X["x0"] - 0.5 * X["x1"] + 0.3 * X["x2"] * X["x3"] + 0.4 * (group == "b")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    if regression:  # a number: the same signal in units, with noise
        y = 100.0 + 20.0 * logit + rng.normal(scale=10.0, size=n)
    frame = X.assign(group=group, sex=sex, y=y)
    fit = frame.sample(n=min(n, 50_000), random_state=1)
    est = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    model = est(max_iter=50, random_state=0).fit(fit[list(X.columns)], fit["y"])
    return model, frame, dict(target="y", sensitive=["group", "sex"], features=list(X.columns))


def _workload(name: str):
    """(model, data, audit kwargs, predict-once callable) for one workload; training happens here, untimed."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    if name == "compas":
        from audit.models.compas import train_compas_mlp

        t = train_compas_mlp()
        kw = dict(target="two_year_recid", sensitive=["race", "sex"], train=t.train, transform=t.transform,
                  features=t.transform.columns_)
        return t.model, t.test, kw
    if name == "adult":
        from adult_sklearn import train_adult_model

        model, train, test, d = train_adult_model(0)
        test = test.sample(n=8000, random_state=0).reset_index(drop=True)
        train = train.sample(n=8000, random_state=0).reset_index(drop=True)
        return model, test, dict(target=d.target, sensitive=["sex", "race"], train=train, features=d.features)
    if name == "digits":
        import torch

        from audit.models.digits import train_digits_cnn

        cnn, X_test, y_test, _, _ = train_digits_cnn(epochs=3)
        return cnn, (torch.as_tensor(X_test), torch.as_tensor(y_test)), {}
    if name.startswith("synthetic-"):
        n = {"synthetic-100k": 100_000, "synthetic-1m": 1_000_000}[name]
        return _synthetic(n)
    if name == "regression-1m":
        return _synthetic(1_000_000, regression=True)
    if name == "german-amount":
        from german_credit_amount import TARGET, train_amount_model

        model, train, test, features, sensitive = train_amount_model(0)
        return model, test, dict(target=TARGET, sensitive=sensitive, train=train, features=features)
    raise SystemExit(f"unknown workload {name!r}; choose from {WORKLOADS}")


def _child(name: str, save_html: bool, device: str) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    from audit import audit
    from audit.model import ModelAdapter

    model, data, kw = _workload(name)
    X = data[0] if isinstance(data, tuple) else data[kw.get("features") or [c for c in data.columns
                                                                               if c != kw.get("target")]]
    adapter = ModelAdapter(model, transform=kw.get("transform"), device=device)
    t = time.perf_counter()
    adapter.predict_values(X) if adapter.task == "regression" else adapter.predict_proba(X)
    predict_s = time.perf_counter() - t
    t = time.perf_counter()
    report = audit(model, data, progress=False, seed=0, device=device, **kw)
    draw_s = html_kb = float("nan")
    if save_html:
        t_draw = time.perf_counter()
        n_figures = sum(len(s.figures) for s in report.sections.values())  # reading the figures draws them
        draw_s = time.perf_counter() - t_draw
        path = report.save_html(f"/tmp/bench-audit-{name}.html")
        html_kb = os.path.getsize(path) / 1024
    total = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"workload": name, "total_s": total, "predict_s": predict_s, "peak_mb": peak_mb,
                      "draw_s": draw_s, "figures": n_figures if save_html else 0, "html_kb": html_kb,
                      "checks": report.meta["check_durations"], "verdict": report.verdict}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    ap.add_argument("--save-html", action="store_true", help="also write the HTML report (timed)")
    ap.add_argument("--device", default="auto", help="where torch models run: auto, cpu, cuda")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.save_html, args.device)
        return
    print(f"# {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    html = "  figures draw s  HTML KiB" if args.save_html else ""
    print(f"{'workload':16s} {'audit s':>8s} {'predict s':>9s} {'ratio':>7s} {'peak MB':>8s}{html}  per check (s)")
    for name in args.workloads:
        cmd = [sys.executable, __file__, "--child", name, "--device", args.device] + (
            ["--save-html"] if args.save_html else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
        if line is None:
            print(f"{name:16s} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(line)
        checks = ", ".join(f"{k} {v:.2f}" for k, v in r["checks"].items() if v >= 0.005)
        drawn = f"  {r['figures']:7d} {r['draw_s']:6.2f} {r['html_kb']:9.0f}" if args.save_html else ""
        print(f"{name:16s} {r['total_s']:8.2f} {r['predict_s']:9.3f} {r['total_s'] / r['predict_s']:7.0f} "
              f"{r['peak_mb']:8.0f}{drawn}  {checks}", flush=True)


if __name__ == "__main__":
    main()
