"""Speed of audit.robustness PGD against the floor (a bare loop of the same forward+backward passes) and ART.

    python bench/robustness.py [--device cpu|cuda] [--repeat 5]

Model: a 64-64 MLP on all 6,172 COMPAS rows (TabularEncoder inputs), trained briefly. Runs are
interleaved (each contender once per round, ``--repeat`` rounds after a warm-up) in this one process; the
ratios use the best time of each, which is the least disturbed by other load on a shared machine.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from audit.datasets import load_compas
from audit.model import ModelAdapter
from audit.robustness import pgd, robustness_curve
from audit.transforms import TabularEncoder

EPS = 0.1
STEPS = 20


def compas_mlp(device: torch.device, seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    d = load_compas()
    cols = [c for c in d.features if c != "race"]
    enc = TabularEncoder(columns=cols).fit(d.frame)
    x = enc(d.frame)
    y = torch.as_tensor(d.frame[d.target].to_numpy().copy(), dtype=torch.long)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(100):  # full batch, a second or two: good enough to attack
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    for p in net.parameters():
        p.grad = None
    return net.to(device), x.to(device), y.to(device)


def timed_all(fns: dict[str, Callable[[], object]], repeat: int, device: torch.device) -> dict[str, tuple[float, float]]:
    """Best and median seconds of each callable; runs are interleaved so every contender sees the same load."""

    def once(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    for fn in fns.values():
        once(fn)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            times[k].append(once(fn))
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--no-art", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    net, x, y = compas_mlp(dev)
    n = len(x)
    a = 2.5 * EPS / STEPS
    adapter = ModelAdapter(net, device=dev)
    for p in net.parameters():
        p.requires_grad_(False)

    def floor() -> None:  # the same forward+backward passes, nothing else
        xa = x.clone()
        for _ in range(STEPS):
            xa.requires_grad_(True)
            (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(net(xa), y, reduction="sum"), xa)
            xa = xa.detach()

    def bare_pgd() -> None:  # floor plus the sign step and projection
        xa = x.clone()
        for _ in range(STEPS):
            xa.requires_grad_(True)
            (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(net(xa), y, reduction="sum"), xa)
            xa = torch.min(torch.max(xa.detach() + a * g.sign(), x - EPS), x + EPS)

    fns: dict[str, Callable[[], object]] = {
        "floor: 20 x (forward + backward to input)": floor,
        "bare PGD-20 loop (floor + sign step + projection)": bare_pgd,
    }
    kw = dict(steps=STEPS)  # automatic batch size: all rows fit in one batch here
    fns["audit pgd, no random start, no early stop"] = lambda: pgd(adapter, x, y, EPS, random_start=False, early_stop=False, **kw)
    fns["audit pgd, random start, no early stop"] = lambda: pgd(adapter, x, y, EPS, early_stop=False, **kw)
    fns["audit pgd (default: random start, early stop)"] = lambda: pgd(adapter, x, y, EPS, **kw)
    if not args.no_art:
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import PyTorchClassifier

        clf = PyTorchClassifier(net, loss=torch.nn.CrossEntropyLoss(), input_shape=(x.shape[1],), nb_classes=2,
                                device_type="gpu" if dev.type == "cuda" else "cpu")
        art = ProjectedGradientDescent(clf, norm=np.inf, eps=EPS, eps_step=a, max_iter=STEPS, num_random_init=0,
                                       batch_size=n, verbose=False)
        xn, yn = x.cpu().numpy(), y.cpu().numpy()
        fns["ART ProjectedGradientDescent (batch = all rows)"] = lambda: art.generate(xn, y=yn)
    eps_list = [0.05, 0.1, 0.25, 0.5]
    fns[f"audit robustness_curve, PGD-20 at {len(eps_list)} eps"] = lambda: robustness_curve(adapter, x, y, eps_list, steps=STEPS)
    fns[f"{len(eps_list)} separate audit pgd calls"] = lambda: [pgd(adapter, x, y, e, steps=STEPS) for e in eps_list]
    fns[f"{len(eps_list)} separate audit pgd calls, no early stop"] = lambda: [
        pgd(adapter, x, y, e, steps=STEPS, early_stop=False) for e in eps_list
    ]
    res = timed_all(fns, args.repeat, dev)
    rows = [(k, v[0], v[1]) for k, v in res.items()]
    sweep, separate, naive = rows[-3][1], rows[-2][1], rows[-1][1]
    base = rows[0][1]
    bare = rows[1][1]
    print(f"COMPAS MLP 64-64, {n:,} rows x {x.shape[1]} inputs, PGD-{STEPS} L-inf eps={EPS}, device={dev}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"{'run':<52} {'best s':>8} {'median s':>9} {'/ floor':>8} {'/ bare':>8}")
    for name, t, med in rows:
        print(f"{name:<52} {t:8.3f} {med:9.3f} {t / base:8.2f} {t / bare:8.2f}")
    print(f"sweep / separate calls: {sweep / separate:.2f}; sweep / separate calls without early stop: {sweep / naive:.2f}")
    r = pgd(adapter, x, y, EPS, steps=STEPS)
    print(f"clean accuracy {r.clean_accuracy:.3f}, PGD robust accuracy {r.robust_accuracy:.3f}")


if __name__ == "__main__":
    main()
