"""Train a small torch MLP on COMPAS (race is not a feature) and audit it.

    python examples/compas_torch.py --out reports/compas.html
"""

from __future__ import annotations

import argparse
from pathlib import Path
import time

from audit import audit
from audit.models.compas import train_compas_mlp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="reports/compas.html")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    trained = train_compas_mlp(seed=args.seed)
    print(f"trained COMPAS MLP in {time.perf_counter() - t0:.1f}s")
    report = audit(
        trained.model,
        trained.test,
        target=trained.target,
        sensitive=["race", "sex"],
        train=trained.train,
        history=trained.history,                    # per-epoch losses: the overfitting section plots them
        transform=trained.transform,
        features=list(trained.transform.columns_),  # race is only a sensitive column, not a feature
        seed=args.seed,
        name="COMPAS recidivism MLP",
    )
    path = report.save_html(args.out)
    report.to_json(Path(args.out).with_suffix(".json"))  # the numbers, for diffs between versions
    print(report)
    for f in report.findings:
        if not f.passed:
            print(f"  FAIL {f.message}")
    print(f"wrote {path} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
