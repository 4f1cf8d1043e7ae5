"""The black-box random search against white-box PGD, ART's HopSkipJump, and a bare loop of its model calls.

    python bench/blackbox.py [--repeat 3] [--art-rows 200]

Two models: the COMPAS 64-64 MLP of bench/robustness.py (so the black-box attack can be compared with PGD,
which sees gradients) and the Adult HistGradientBoosting Pipeline of examples/adult_sklearn.py (a model PGD
cannot attack). eps is in per-feature standard deviations, inputs stay in their observed range, nothing is
frozen (HopSkipJump has no mask). Every contender runs in this one process, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from robustness import compas_mlp  # noqa: E402  (bench/robustness.py)

from audit.model import ModelAdapter  # noqa: E402
from audit.robustness import random_search_curve, robustness_curve  # noqa: E402

EPS = [0.05, 0.1, 0.25, 0.5]


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def floor_of(predict, x: np.ndarray, sizes: list[int]) -> None:
    """The same model calls the attack made (same row counts, in order), on arbitrary rows: its floor."""
    for m in sizes:
        reps = -(-m // len(x))
        predict(np.concatenate([x] * reps)[:m] if reps > 1 else x[:m])


def recording(predict, sizes: list[int]):
    def f(z):
        sizes.append(len(z))
        return predict(z)
    return f


def hopskipjump_accuracy(predict, z: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray, k: int) -> tuple[float, list[float]]:
    """ART's HopSkipJump (L-inf, decision-based) on standardised inputs; robust accuracy at each eps from the
    L-inf distance of the adversarial it found (rows it fails on count as robust)."""
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork

    clf = BlackBoxClassifierNeuralNetwork(predict, input_shape=(z.shape[1],), nb_classes=k, clip_values=(lo.min(), hi.max()))
    att = HopSkipJump(clf, targeted=False, norm=np.inf, max_iter=20, max_eval=500, init_eval=50, verbose=False)
    t = time.perf_counter()
    adv = att.generate(z, y=np.eye(k)[y])
    dt = time.perf_counter() - t
    adv = np.clip(adv, lo, hi)
    pred_clean = predict(z).argmax(1)
    pred_adv = predict(adv).argmax(1)
    dist = np.abs(adv - z).max(axis=1)
    accs = []
    for e in EPS:
        fooled = (pred_clean != y) | ((pred_adv != y) & (dist <= e + 1e-9))
        accs.append(float(np.mean(~fooled)))
    return dt, accs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--art-rows", type=int, default=200, help="rows for HopSkipJump (0: skip ART)")
    ap.add_argument("--rows", type=int, default=2000, help="rows attacked (the check's default cap)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 torch thread; eps in feature stds: {EPS}")
    print(f"{'model / attack':<58} {'rows':>6} {'seconds':>8} {'/ floor':>8}  robust accuracy at eps")

    # --- COMPAS MLP: black box vs PGD (white box) --------------------------------------------------
    net, x, y = compas_mlp(torch.device("cpu"))
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(x), size=min(args.rows, len(x)), replace=False))
    x, y = x[idx], y[idx]
    adapter = ModelAdapter(net)
    xn, yn = x.double().numpy(), y.numpy()
    std = xn.std(0)
    std[std == 0] = 1.0
    lo, hi = xn.min(0), xn.max(0)
    predict = adapter.predict_proba
    sizes: list[int] = []
    t_rs, c_rs = best_of(lambda: random_search_curve(recording(predict, sizes), xn, yn, EPS, bounds=(lo, hi), scale=std), args.repeat)
    one_run = sizes[: len(sizes) // args.repeat]
    t_floor, _ = best_of(lambda: floor_of(predict, xn, one_run), args.repeat)
    t_pgd, c_pgd = best_of(lambda: robustness_curve(adapter, x, y, EPS, steps=20, bounds=(torch.as_tensor(lo).float(), torch.as_tensor(hi).float()),
                                                    scale=torch.as_tensor(std).float()), args.repeat)
    fmt = lambda c: "  ".join(f"{v:.3f}" for v in c.table["robust_accuracy"])  # noqa: E731
    print(f"{'COMPAS MLP: random_search (100 queries/row/eps)':<58} {len(xn):>6} {t_rs:8.3f} {t_rs / t_floor:8.2f}  {fmt(c_rs)}")
    print(f"{'COMPAS MLP: bare loop of the same predict_proba calls':<58} {len(xn):>6} {t_floor:8.3f} {1.0:8.2f}")
    print(f"{'COMPAS MLP: PGD-20 sweep (white box, for reference)':<58} {len(xn):>6} {t_pgd:8.3f} {t_pgd / t_floor:8.2f}  {fmt(c_pgd)}")
    if args.art_rows:
        z = ((xn - xn.mean(0)) / std)[: args.art_rows]
        mu = xn.mean(0)
        pz = lambda v: predict(v * std + mu)  # noqa: E731
        zl, zh = (lo - mu) / std, (hi - mu) / std
        sub = random_search_curve(pz, z, yn[: args.art_rows], EPS, bounds=(zl, zh))
        dt, accs = hopskipjump_accuracy(pz, z, yn[: args.art_rows], zl, zh, 2)
        t_sub, _ = best_of(lambda: random_search_curve(pz, z, yn[: args.art_rows], EPS, bounds=(zl, zh)), 1)
        print(f"{'COMPAS MLP: random_search, same rows as ART':<58} {len(z):>6} {t_sub:8.3f} {'':>8}  {fmt(sub)}")
        print(f"{'COMPAS MLP: ART HopSkipJump L-inf (20 iter, 500 evals)':<58} {len(z):>6} {dt:8.3f} {'':>8}  "
              + "  ".join(f"{a:.3f}" for a in accs))

    # --- Adult HistGradientBoosting Pipeline: no gradients ------------------------------------------
    from adult_sklearn import train_adult_model

    from audit.space import FrameCodec

    model, _, test, d = train_adult_model(0)
    test = test.sample(n=min(args.rows, len(test)), random_state=0).reset_index(drop=True)
    X = test[d.features]
    codec = FrameCodec.fit([X], d.categorical)
    zn = codec.encode(X)
    ya = np.searchsorted(model.classes_, test[d.target].to_numpy())
    mask = np.array([0.0 if c in codec.levels else 1.0 for c in codec.columns])
    integer = np.all(zn == np.round(zn), axis=0)
    sd = zn.std(0)
    sd[sd == 0] = 1.0
    pa = lambda v: model.predict_proba(codec.decode(v))  # noqa: E731
    sizes = []
    t_rs, c_rs = best_of(lambda: random_search_curve(recording(pa, sizes), zn, ya, EPS, bounds=(zn.min(0), zn.max(0)),
                                                     mask=mask, scale=sd, integer=integer), args.repeat)
    one_run = sizes[: len(sizes) // args.repeat]
    t_floor, _ = best_of(lambda: floor_of(pa, zn, one_run), args.repeat)
    print(f"{'Adult HGB Pipeline: random_search (numeric columns only)':<58} {len(zn):>6} {t_rs:8.3f} {t_rs / t_floor:8.2f}  {fmt(c_rs)}")
    print(f"{'Adult HGB Pipeline: bare loop of the same predict_proba calls':<58} {len(zn):>6} {t_floor:8.3f} {1.0:8.2f}")


if __name__ == "__main__":
    main()
