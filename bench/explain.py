"""Benchmark: audit.explain.shap_values' auto path vs shap's explainers on the same rows and background.

Error is measured against exact interventional Shapley values on the same background; on the
12-input COMPAS model those exact values are cross-checked against shap's KernelExplainer with
every coalition enumerated (nsamples = 2**12, which shap solves exactly).

    python bench/explain.py [--rows 50] [--background 50] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
warnings.filterwarnings("ignore")

from audit.datasets import load_compas  # noqa: E402
from audit.explain import shap_values  # noqa: E402
from audit.explain._shaplib import seeded_numpy  # noqa: E402
from audit.space import build_space, pick_background  # noqa: E402
from audit.model import ModelAdapter  # noqa: E402
from audit.models.compas import mlp, split_frame  # noqa: E402
from audit.transforms import TabularEncoder  # noqa: E402


def train_mlp(columns: list[str], seed: int = 0):
    d = load_compas()
    train, test = split_frame(d.frame, seed=seed)
    enc = TabularEncoder(columns=columns).fit(train)
    torch.manual_seed(seed)
    net = mlp(len(enc.feature_names_out), (64, 64))
    x = enc(train)
    y = torch.as_tensor(train[d.target].to_numpy().copy())
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(60):
        for b in range(0, len(x), 512):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[b : b + 512]), y[b : b + 512]).backward()
            opt.step()
    net.eval()
    return ModelAdapter(net, transform=enc), train[columns], test[columns]


def stack(res) -> np.ndarray:
    return np.stack([res.values[c].to_numpy() for c in res.classes], axis=2)


def timed(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def compare(title: str, model, X, bg, methods: list[str], repeat: int, n_bg: int, output: str = "proba") -> None:
    kw = dict(background=bg, n_background=n_bg, seed=0, n_reference=0, output=output)
    t_auto, auto = timed(lambda: shap_values(model, X, **kw), repeat)
    exact = auto if auto.explainer == "exact" else shap_values(model, X, explainer="exact", **kw)
    ref = stack(exact)
    print(f"\n### {title}: {len(X)} rows, {len(exact.features)} model inputs, {n_bg} background rows, {output} explained")
    print(f"auto picked: {auto.explainer}")
    print("| method | seconds | time / auto | corr vs exact | mean abs err / mean abs exact | max additivity error |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = [("auto (" + auto.explainer + ")", t_auto, auto)]
    for m in methods:
        if m == "permutation (first call, numba compile)":
            t, r = timed(lambda: shap_values(model, X, explainer="permutation", **kw), 1)
        else:
            t, r = timed(lambda m=m: shap_values(model, X, explainer=m, **kw), repeat)
        rows.append((m, t, r))
    for name, t, r in rows:
        v = stack(r)
        corr = np.corrcoef(v.ravel(), ref.ravel())[0, 1]
        err = np.abs(v - ref).mean() / np.abs(ref).mean()
        print(f"| {name} | {t:.3f} | {t / t_auto:.1f}x | {corr:.4f} | {err:.2%} | {r.additivity_error:.1e} |")


def kernel_full_enumeration(model: ModelAdapter, X, bg, n_bg: int) -> None:
    """Cross-check: our exact values vs shap's KernelExplainer enumerating all 2**d coalitions."""
    import shap

    space = build_space(model, X, [bg])
    x = space.encode(X).double().numpy()
    b, _ = pick_background(space.encode(bg), n=n_bg, method="sample", seed=0, numeric=True)
    t = time.perf_counter()
    with seeded_numpy(0):
        k = np.asarray(shap.KernelExplainer(space.numpy_fn, b.double().numpy()).shap_values(
            x, nsamples=2**space.d, l1_reg=False, silent=True))
    tk = time.perf_counter() - t
    t = time.perf_counter()
    ours = shap_values(model, X, background=bg, n_background=n_bg, explainer="exact")
    to = time.perf_counter() - t
    diff = np.abs(stack(ours) - k).max()
    print(f"\nexact cross-check on {len(X)} rows: KernelExplainer with all {2**space.d} coalitions {tk:.2f}s, "
          f"our exact {to:.3f}s ({tk / to:.0f}x faster), max |difference| {diff:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--background", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, torch {torch.__version__}"
          f" ({torch.get_num_threads()} threads)")
    from audit.models.compas import COMPAS_MODEL_FEATURES

    model, train, test = train_mlp(COMPAS_MODEL_FEATURES)
    X = test.iloc[: args.rows]
    methods = ["deep", "gradient", "kernel", "permutation (first call, numba compile)", "permutation"]
    compare("COMPAS 64-64 MLP, TabularEncoder", model, X, train, methods, args.repeat, args.background)
    kernel_full_enumeration(model, test.iloc[:5], train, args.background)
    compare("COMPAS 64-64 MLP, TabularEncoder", model, X, train, ["deep", "gradient"], args.repeat, args.background,
            output="logit")

    from audit.datasets import COMPAS_FEATURES

    model18, train18, test18 = train_mlp(COMPAS_FEATURES)
    compare("COMPAS 64-64 MLP with race (as in the issue)", model18, test18.iloc[: args.rows], train18,
            ["deep", "gradient", "kernel", "permutation"], args.repeat, args.background)

    from threadpoolctl import threadpool_limits

    from adult_sklearn import train_adult_model

    gbm, tr, te, d = train_adult_model()
    # one OpenMP thread for HistGradientBoosting: on a busy 2-core machine its per-call thread sync dominates
    with threadpool_limits(1, user_api="openmp"):
        compare("Adult HistGradientBoosting Pipeline (black box, string columns)", ModelAdapter(gbm),
                te[d.features].iloc[: max(10, args.rows // 5)], tr[d.features], ["kernel", "permutation"], 1, 25)


if __name__ == "__main__":
    main()
