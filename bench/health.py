"""Health checks: each measured against a bare reference doing the same job, in the same process.

- calibration: ``audit.health.calibration`` (bincount) vs a bare loop over bins with boolean masks;
- leakage: hashed rows (``data_quality``'s leakage) vs a pandas merge of test onto de-duplicated train;
- data quality: the audit's engine (``data_quality_chunks``, one chunk, exact caps) vs the one-pass
  ``data_quality`` it is tested against; distinct hashes: ``sorted_unique`` vs numpy 2.3+'s ``np.unique``;
- drift: ``feature_drift`` vs bare ``scipy.stats.ks_2samp`` / ``chi2_contingency`` calls per column;
- gradients: ``gradient_health`` (hooks, autograd.grad, restoring state) vs a bare forward + backward.

Each row checks that both sides agree before printing times.

    .venv/bin/python bench/health.py            # full run
    .venv/bin/python bench/health.py --quick    # smaller sizes, a smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
import torch
from scipy import stats

from audit._arrays import sorted_unique
from audit.health import calibration, data_quality, data_quality_chunks, ece_intervals, feature_drift, gradient_health
from audit.health._data_quality import hash_rows, leakage_table


def best_of(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def bare_ece(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    conf, correct = p.max(1), p.argmax(1) == y
    ece = 0.0
    for b in range(n_bins):
        m = (conf > b / n_bins) & (conf <= (b + 1) / n_bins)
        if b == 0:
            m |= conf == 0
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return ece


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(17, 90, n), "hours": rng.integers(1, 99, n), "edu": rng.integers(1, 16, n),
        "gain": rng.choice([0, 0, 0, 2174, 5178], n), "work": rng.choice(["private", "gov", "self"], n),
        "sex": rng.choice(["f", "m"], n), "marital": rng.choice(["single", "married", "divorced"], n),
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rows = []

    for n in ([20_000] if args.quick else [100_000, 1_000_000]):
        rng = np.random.default_rng(0)
        y = rng.integers(0, 10, n)
        p = rng.dirichlet(np.ones(10) * 0.3, n)
        r, t_ours = best_of(lambda: calibration(y, p, n_bins=15))
        e, t_bare = best_of(lambda: bare_ece(y, p, 15))
        assert abs(r.ece - e) < 1e-9
        rows.append(("calibration ECE+MCE+Brier", f"n={n:,}, 10 classes", t_ours, "bare bin loop (ECE only)", t_bare))

    for n in ([20_000] if args.quick else [100_000]):
        rng = np.random.default_rng(1)
        y = rng.integers(0, 10, n)
        p = rng.dirichlet(np.ones(10) * 0.3, n)
        g = pd.DataFrame({"g": rng.choice(["a", "b", "c", "d"], n)})
        b = 50  # the same number of resamples on both sides

        def loop():
            r = np.random.default_rng(0)
            out = []
            for _ in range(b):
                i = r.integers(0, n, n)
                out.append(bare_ece(y[i], p[i], 15))
            return np.quantile(out, [0.025, 0.975])

        ci, t_ours = best_of(lambda: ece_intervals(y, p, sensitive=g, n_boot=b))
        ref, t_bare = best_of(loop, repeat=1)
        half = (ref[1] - ref[0]) / 2
        assert abs(ci.loc["ece", "low"] - ref[0]) < half and abs(ci.loc["ece", "high"] - ref[1]) < half
        rows.append((f"ECE + 1 gap intervals, {b} boots", f"n={n:,}, 10 classes, 4 groups", t_ours,
                     "row bootstrap, ECE only", t_bare))

    for n in ([20_000] if args.quick else [50_000, 500_000]):
        test, train = frame(n, 1), frame(n, 2)
        leak, t_ours = best_of(lambda: leakage_table(hash_rows(test), hash_rows(train)))
        merged, t_bare = best_of(
            lambda: test.merge(train.drop_duplicates(), how="left", on=list(test.columns), indicator=True)["_merge"]
        )
        assert len(leak) == int((merged == "both").sum())
        rows.append(("leakage rows", f"{n:,} x {n:,} rows, 7 cols", t_ours, "pandas merge", t_bare))

    for n in ([20_000] if args.quick else [1_000_000]):
        test, train = frame(n, 5), frame(n // 5, 6)
        kw = dict(categorical=["work", "sex", "marital"], train_frame=train)
        got, t_ours = best_of(lambda: data_quality_chunks([test], exact=True, **kw), repeat=2)
        ref, t_bare = best_of(lambda: data_quality(test, **kw), repeat=2)
        assert got.overview.equals(ref.overview) and got.columns.equals(ref.columns)
        rows.append(("data quality (audit engine)", f"{n:,} + {n // 5:,} train rows, 7 cols", t_ours,
                     "one-pass oracle", t_bare))
        h = hash_rows(test)
        u, t_ours = best_of(lambda: sorted_unique(h))
        ref_u, t_bare = best_of(lambda: np.unique(h))
        assert np.array_equal(u, ref_u)
        rows.append(("distinct row hashes", f"{n:,} uint64", t_ours, "np.unique (hash table)", t_bare))

    n = 20_000 if args.quick else 200_000
    a, b = frame(n, 3), frame(n, 4)
    cat = ["work", "sex", "marital"]
    d, t_ours = best_of(lambda: feature_drift(a, b))

    def bare():
        out = {}
        for c in a.columns:
            if c in cat:
                t = pd.crosstab(np.r_[np.zeros(n), np.ones(n)], np.r_[a[c], b[c]])
                out[c] = stats.chi2_contingency(t.to_numpy(), correction=False)[1]
            else:
                out[c] = stats.ks_2samp(a[c], b[c]).pvalue
        return out

    ref, t_bare = best_of(bare)
    assert all(abs(d.table.loc[c, "p_value"] - v) < 1e-9 for c, v in ref.items())
    rows.append(("feature drift (+PSI)", f"{n:,} vs {n:,} rows, 7 cols", t_ours, "bare scipy tests", t_bare))

    for depth in (3, 20):
        torch.manual_seed(0)
        layers: list[torch.nn.Module] = []
        width = 256
        d_in = 64
        for _ in range(depth):
            layers += [torch.nn.Linear(d_in, width), torch.nn.ReLU()]
            d_in = width
        net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
        x, yy = torch.randn(512, 64), torch.randint(0, 10, (512,))
        g, t_ours = best_of(lambda: gradient_health(net, x, yy, batch_size=512), repeat=10)

        def bare_grad():
            net.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x), yy).backward()
            out = [float(torch.sqrt(m.weight.grad.pow(2).sum() + m.bias.grad.pow(2).sum()))
                   for m in net if isinstance(m, torch.nn.Linear)]
            net.zero_grad(set_to_none=True)
            return out

        ref, t_bare = best_of(bare_grad, repeat=10)
        assert np.allclose(g.layers["grad_norm"].to_numpy(), ref, rtol=1e-4)
        rows.append(("gradient health", f"MLP {depth}x256, 512 rows", t_ours, "bare forward+backward", t_bare))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"{'what':28} {'size':34} {'ours s':>9} {'reference':26} {'ref s':>9} {'ours/ref':>9}")
    for what, size, t1, ref_name, t2 in rows:
        print(f"{what:28} {size:34} {t1:9.4f} {ref_name:26} {t2:9.4f} {t1 / t2:9.2f}")


if __name__ == "__main__":
    main()
