"""Train a small CNN on scikit-learn's 8x8 digits and audit it (saliency maps, faithfulness, sanity).

    python examples/digits_cnn.py --out reports/digits.html
"""

from __future__ import annotations

import argparse
from pathlib import Path
import time

import torch

from audit import audit
from audit.models.digits import train_digits_cnn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="reports/digits.html")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()

    t0 = time.perf_counter()
    model, X_test, y_test, X_train, y_train = train_digits_cnn(seed=args.seed, epochs=args.epochs)
    with torch.no_grad():
        acc = float((model(torch.as_tensor(X_test)).argmax(1).numpy() == y_test).mean())
    print(f"trained digits CNN in {time.perf_counter() - t0:.1f}s: test accuracy {acc:.3f} on {len(y_test)} images")
    report = audit(model, (X_test, y_test), train=(X_train, y_train), seed=args.seed, name="Digits CNN (8x8)")
    path = report.save_html(args.out)
    report.to_json(Path(args.out).with_suffix(".json"))  # the numbers, for diffs between versions
    print(report)
    for f in report.findings:
        if f.status != "pass":
            print(f"  {f.status.upper()} {f.message}")
    print(f"wrote {path} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
