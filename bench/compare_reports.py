"""Compare the metrics of two audit.json files (a demo report before and after a change).

    python bench/compare_reports.py reports/before/adult.json reports/adult.json [--tol 1e-9]

Prints every metric whose value or interval differs by more than ``--tol`` (relative), and the metrics only one
file has; exits 1 when anything differs, so a refactor that must not change a number can be checked in one line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys


def _close(a: object, b: object, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--tol", type=float, default=1e-9)
    args = ap.parse_args(argv)
    a = json.load(open(args.before, encoding="utf-8"))["metrics"]
    b = json.load(open(args.after, encoding="utf-8"))["metrics"]
    differ = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"{name}: only in {'after' if name in b else 'before'}")
            differ += 1
            continue
        for k in ("value", "low", "high"):
            if not _close(a[name].get(k), b[name].get(k), args.tol):
                print(f"{name}.{k}: {a[name].get(k)} -> {b[name].get(k)}")
                differ += 1
    print(f"{len(set(a) & set(b))} metrics compared, {differ} difference(s)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
