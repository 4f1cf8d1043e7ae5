"""Simulation of the gap gates: false failures, coverage, bias and power, for models fair by construction.

Two groups, A and B, of ``n_a`` and ``n_b`` rows. Every row has a score ``q ~ U(0.05, 0.95)``; the model
reports ``(1 - q, q)`` and predicts positive above a threshold; the label is ``y ~ Bernoulli(m(q))``.

=================  ======================================================  =================================
scenario           group B                                                 true gaps
=================  ======================================================  =================================
fair               as A: threshold 0.5, ``m(q) = q`` (calibrated)          every gap 0 (ratios 1)
dp_at_threshold    predicted positive above 0.41                           DPD 0.100 (the starter threshold)
dp_gap_0.2         predicted positive above 0.32                           DPD 0.200
ece_at_threshold   ``m(q) = 0.5 + (5/9)(q - 0.5)``: over-confident         ECE gap 0.100 (starter threshold)
ece_gap_0.2        ``m(q) = 0.5 + (1/9)(q - 0.5)``                         ECE gap 0.200
=================  ======================================================  =================================

True values are exact integrals (:func:`truths`): selection rate ``(0.95 - t) / 0.9``; true/false positive
rates from ``int m`` over ``[t, 0.95]``; top-label ECE of group B ``(1 - rho) E|q - 0.5| = (1 - rho) 0.225``,
whatever the binning, because its confidence exceeds its accuracy by ``(1 - rho)|q - 0.5|`` everywhere.

Each replicate runs the code the audit runs (:func:`audit.fairness._assess.disparity_stat` on the
replicate's confusion counts with the bootstrap and permutation draws of the audit, and
:func:`audit.health._calibration_ci.ece_gap_evidence` on its rows), then gates every gap with
:class:`audit.policy.Policy` at the starter thresholds (differences and the ECE gap at most 0.1, ratios at
least 0.8). Reported per scenario, group sizes and gate:

- ``fail`` / ``pass`` / ``inconc``: how often the gate fails, passes, or is inconclusive. In ``fair`` and
  ``*_at_threshold`` every failure is a false failure (the true gap is at most the threshold);
- ``cover``: how often ``[low, high]`` holds the true gap;
- ``p<.05``: how often the permutation test rejects "no gap" (its size in ``fair``, its power otherwise);
- ``bias plug`` / ``bias corr``: mean plug-in and mean gated (bias-corrected) estimate minus the truth.

``tests/test_gap_statistics.py`` runs a small version in ``make test``; this script runs the full grid::

    python bench/gap_simulation.py                       # the BENCHMARKS.md tables (minutes)
    python bench/gap_simulation.py --reps 100 --sizes 30 1000
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.fairness._assess import disparity_stat, log_floors, rate_sizes  # noqa: E402
from audit.fairness._counts import rates  # noqa: E402
from audit.stats._gaps import permuted_rates  # noqa: E402
from audit.health._calibration_ci import ece_gap_evidence  # noqa: E402
from audit.policy import Policy  # noqa: E402
from audit.section import Metric  # noqa: E402
from audit.stats import resample_counts  # noqa: E402

Q_LO, Q_HI = 0.05, 0.95
MEAN_ABS = 0.225  # E|q - 0.5| for q ~ U(0.05, 0.95)


@dataclass(frozen=True)
class Scenario:
    """Group B's prediction threshold and the slope ``rho`` of its true probability ``0.5 + rho (q - 0.5)``."""

    threshold_b: float = 0.5
    rho_b: float = 1.0


SCENARIOS = {
    "fair": Scenario(),
    "dp_at_threshold": Scenario(threshold_b=0.41),
    "dp_gap_0.2": Scenario(threshold_b=0.32),
    "ece_at_threshold": Scenario(rho_b=5 / 9),
    "ece_gap_0.2": Scenario(rho_b=1 / 9),
}

#: gate -> (bound, threshold): the starter policy's bounds, and the same bound for the gaps it does not gate
GATES = {
    "demographic_parity_difference": ("max", 0.1),
    "demographic_parity_ratio": ("min", 0.8),
    "equalized_odds_difference": ("max", 0.1),
    "equalized_odds_ratio": ("min", 0.8),
    "equal_opportunity_difference": ("max", 0.1),
    "ece_gap": ("max", 0.1),
}
_NAMES = {g: f"calibration.g.{g}" if g == "ece_gap" else f"fairness.g.{g}" for g in GATES}
_POLICIES = {g: Policy({_NAMES[g]: {b: t}}) for g, (b, t) in GATES.items()}


def _int_m(a: float, b: float, rho: float) -> float:
    """Integral of ``0.5 + rho (q - 0.5)`` over ``[a, b]``."""
    return 0.5 * (b - a) + rho * ((b * b - a * a) / 2 - 0.5 * (b - a))


def group_truth(threshold: float, rho: float) -> dict[str, float]:
    """Exact selection, true and false positive rates and top-label ECE of one group."""
    pos_all, pos_sel = _int_m(Q_LO, Q_HI, rho), _int_m(threshold, Q_HI, rho)
    neg_all, neg_sel = (Q_HI - Q_LO) - pos_all, (Q_HI - threshold) - pos_sel
    return {"selection_rate": (Q_HI - threshold) / (Q_HI - Q_LO), "true_positive_rate": pos_sel / pos_all,
            "false_positive_rate": neg_sel / neg_all, "ece": (1 - rho) * MEAN_ABS}


def truths(s: Scenario) -> dict[str, float]:
    """True value of every gate in scenario ``s``.

    >>> {k: round(v, 3) for k, v in truths(SCENARIOS["dp_at_threshold"]).items()}["demographic_parity_difference"]
    0.1
    """
    a, b = group_truth(0.5, 1.0), group_truth(s.threshold_b, s.rho_b)

    def diff(m: str) -> float:
        return abs(a[m] - b[m])

    def ratio(m: str) -> float:
        return min(a[m], b[m]) / max(a[m], b[m])

    return {
        "demographic_parity_difference": diff("selection_rate"),
        "demographic_parity_ratio": ratio("selection_rate"),
        "equalized_odds_difference": max(diff("true_positive_rate"), diff("false_positive_rate")),
        "equalized_odds_ratio": min(ratio("true_positive_rate"), ratio("false_positive_rate")),
        "equal_opportunity_difference": diff("true_positive_rate"),
        "ece_gap": diff("ece"),
    }


def replicate(rng: np.random.Generator, s: Scenario, n_a: int, n_b: int, n_boot: int, confidence: float = 0.95,
              min_bin_count: int = 100) -> dict[str, tuple[float, float, float, float, float]]:
    """One simulated audit: gate -> (plug-in, corrected, low, high, p-value)."""
    n = n_a + n_b
    g = np.repeat([0, 1], [n_a, n_b])
    q = rng.uniform(Q_LO, Q_HI, n)
    rho = np.where(g == 1, s.rho_b, 1.0)
    y = (rng.random(n) < 0.5 + rho * (q - 0.5)).astype(np.int64)
    pred = (q > np.where(g == 1, s.threshold_b, 0.5)).astype(np.int64)
    rows = np.bincount(g * 4 + 2 * y + pred, minlength=8).reshape(2, 4).astype(np.float64)
    boot_rng, perm_rng, ece_rng, ece_perm = (np.random.default_rng(rng.integers(2**63 - 1)) for _ in range(4))
    m_pt = rates(rows)
    m_b = rates(resample_counts(boot_rng, rows, rows, None, n_boot)[0])
    nd = permuted_rates(perm_rng, rows, rows, None, n_boot)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_p = {m: np.where(v[..., 1] > 0, v[..., 0] / np.where(v[..., 1] > 0, v[..., 1], 1.0), np.nan) for m, v in nd.items()}
    eligible, floors, sizes = np.ones(2, bool), log_floors(rows), rate_sizes(rows)
    out = {}
    for d in GATES:
        if d == "ece_gap":
            continue
        ev = disparity_stat(d, m_pt, m_b, m_p, eligible, floors, sizes).evidence(confidence)
        out[d] = (ev.plug_in, ev.corrected, ev.low, ev.high, ev.p_value)
    conf = np.maximum(q, 1 - q)
    correct = (q > 0.5) == (y == 1)
    e = ece_gap_evidence(conf, correct, g, 2, min_group_size=30, n_bins=15, group_binning="equal_mass", min_bin_count=min_bin_count,
                         n_boot=n_boot, n_perm=n_boot, confidence=confidence, rng=ece_rng, perm_rng=ece_perm)
    out["ece_gap"] = (e["value"], e["corrected"], e["low"], e["high"], e["p_value"])
    return out


def status(gate: str, corrected: float, low: float, high: float) -> str:
    """The policy's verdict on one gap (the gate the audit applies)."""
    name = _NAMES[gate]
    m = Metric(name, corrected, low, high, higher_is_better=gate.endswith("ratio"))
    (f,) = _POLICIES[gate].evaluate({name: m}, {name: name.split(".")[0]})
    return f.status


def simulate(scenario: str, n_a: int, n_b: int, reps: int, n_boot: int = 200, seed: int = 0,
             min_bin_count: int = 100) -> dict[str, dict[str, float]]:
    """Rates and biases over ``reps`` replicates for every gate (same seed, same numbers).

    >>> r = simulate("fair", 100, 100, reps=5, n_boot=50)
    >>> sorted(r["demographic_parity_difference"])
    ['bias_corrected', 'bias_plug_in', 'cover', 'fail', 'inconclusive', 'pass', 'reject', 'truth']
    """
    s = SCENARIOS[scenario]
    truth = truths(s)
    ss = np.random.SeedSequence([seed, list(SCENARIOS).index(scenario), n_a, n_b])
    rng = np.random.default_rng(ss)
    acc: dict[str, list[tuple]] = {g: [] for g in GATES}
    for _ in range(reps):
        for gate, (plug, corr, lo, hi, p) in replicate(rng, s, n_a, n_b, n_boot, min_bin_count=min_bin_count).items():
            t = truth[gate]
            tol = 1e-9
            acc[gate].append((plug - t, corr - t, lo - tol <= t <= hi + tol, status(gate, corr, lo, hi), p < 0.05))
    out = {}
    for gate, rows in acc.items():
        st = [r[3] for r in rows]
        out[gate] = {
            "truth": truth[gate],
            "bias_plug_in": float(np.mean([r[0] for r in rows])),
            "bias_corrected": float(np.mean([r[1] for r in rows])),
            "cover": float(np.mean([r[2] for r in rows])),
            "fail": st.count("fail") / reps,
            "pass": st.count("pass") / reps,
            "inconclusive": st.count("inconclusive") / reps,
            "reject": float(np.mean([r[4] for r in rows])),
        }
    return out


_SHORT = {"demographic_parity_difference": "DP diff", "demographic_parity_ratio": "DP ratio",
          "equalized_odds_difference": "EO diff", "equalized_odds_ratio": "EO ratio",
          "equal_opportunity_difference": "EOpp diff", "ece_gap": "ECE gap"}


def timing(n: int = 100_000, n_boot: int = 1000, repeat: int = 3) -> list[tuple[str, float, float]]:
    """Seconds (best of ``repeat``) for the audit's gap work without and with the permutation test.

    Fairness: race (4 groups) x sex, with the intersection, ``n_boot`` resamples; calibration: the ECE
    intervals of both columns.
    """
    from audit.fairness import assess_fairness
    from audit.health import ece_intervals

    rng = np.random.default_rng(0)
    race = rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05])
    sex = rng.choice(["F", "M"], n)
    q = rng.uniform(Q_LO, Q_HI, n)
    y = (rng.random(n) < q).astype(int)
    pred = (q > 0.5).astype(int)
    sens = {"race": race, "sex": sex}
    import pandas as pd

    frame = pd.DataFrame(sens)
    proba = np.column_stack([1 - q, q])

    def best(fn) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    return [
        ("assess_fairness (race, sex, intersection)",
         best(lambda: assess_fairness(y, pred, frame, n_boot=n_boot, n_perm=0)),
         best(lambda: assess_fairness(y, pred, frame, n_boot=n_boot))),
        ("ece_intervals (race, sex)",
         best(lambda: ece_intervals(y, proba, sensitive=sens, n_boot=n_boot, n_perm=0)),
         best(lambda: ece_intervals(y, proba, sensitive=sens, n_boot=n_boot))),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--boot", type=int, default=500, help="bootstrap resamples and permutations per replicate")
    ap.add_argument("--sizes", type=int, nargs="+", default=[30, 100, 300, 1000, 3000, 10000], help="rows per group")
    ap.add_argument("--unequal", action="store_true", help="also group A of 10,000 rows against group B of 30")
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    ap.add_argument("--min-bin-count", type=int, default=100, help="rows per equal-mass ECE bin at least (the audit's default)")
    ap.add_argument("--timing", action="store_true", help="only time the gap work with and without the permutation test")
    args = ap.parse_args()
    if args.timing:
        print("| rows | work | without test (s) | with test (s) |\n|---|---|---|---|")
        for n in (10_000, 100_000):
            for what, without, with_test in timing(n, args.boot):
                print(f"| {n:,} | {what} | {without:.2f} | {with_test:.2f} |")
        return
    designs = [(n, n) for n in args.sizes] + ([(10_000, 30)] if args.unequal else [])
    print(f"{args.reps} replicates, {args.boot} resamples and permutations each; {platform.processor() or platform.machine()}, "
          f"{platform.python_version()}")
    for scen in args.scenarios:
        t0 = time.perf_counter()
        tr = truths(SCENARIOS[scen])
        print(f"\n#### {scen}: true gaps " + ", ".join(f"{_SHORT[g]} {tr[g]:.3f}" for g in GATES))
        print("\n| rows per group | gate | fail | pass | inconc. | cover | p<.05 | bias plug-in | bias corrected |")
        print("|---|---|---|---|---|---|---|---|---|")
        for n_a, n_b in designs:
            res = simulate(scen, n_a, n_b, args.reps, args.boot, min_bin_count=args.min_bin_count)
            size = f"{n_a:,}" if n_a == n_b else f"{n_a:,} / {n_b:,}"
            for gate, r in res.items():
                print(f"| {size} | {_SHORT[gate]} | {r['fail']:.3f} | {r['pass']:.3f} | {r['inconclusive']:.3f} | {r['cover']:.3f} "
                      f"| {r['reject']:.3f} | {r['bias_plug_in']:+.4f} | {r['bias_corrected']:+.4f} |")
            sys.stdout.flush()
        print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
