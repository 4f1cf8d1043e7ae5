"""Benchmark: the seconds each figure of the bundled reports takes to draw, apart from the audit.

Runs the audits of ``bench/audits.py``'s COMPAS, Adult and digits workloads (COMPAS with its training
history, as ``examples/compas_torch.py`` does, so the overfitting figure is drawn too), then draws each
section's figures on their own and prints seconds per figure, per section and per report, with the
size of the HTML report. ``--profile`` adds the top functions of a cProfile of all the drawing.

Run it against an older checkout by putting that checkout first on the path (``git worktree add
/tmp/old <commit>``, then ``PYTHONPATH=/tmp/old python bench/figures.py``): the per-figure clock only
needs ``audit.plots._figure.Figure``, which every version since the plots package has.

    python bench/figures.py [--workloads compas adult digits] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
import warnings

import audits  # bench/audits.py, beside this script: its workloads

WORKLOADS = ("compas", "adult", "digits")
#: CPU seconds of this process by default: on the shared 2-core machine wall time swung 2x with other jobs'
#: load, while drawing is single-threaded work whose CPU time hardly moves (``--wall`` for wall time)
_clock = time.process_time


def _report(name: str):
    from audit import audit

    if name == "compas":  # with the training history, so the overfitting figure is drawn as in the demo
        from audit.models.compas import train_compas_mlp

        t = train_compas_mlp(seed=0)
        return audit(t.model, t.test, target=t.target, sensitive=["race", "sex"], train=t.train, history=t.history,
                     transform=t.transform, features=list(t.transform.columns_), seed=0, progress=False)
    model, data, kw = audits._workload(name)
    return audit(model, data, progress=False, seed=0, **kw)


def _draw_timed(report) -> list[tuple[str, str, float]]:
    """(section, figure title, seconds) for every figure; a figure's seconds run from the end of the previous one
    (or the start of its section), so work shared by a section's figures counts toward its first."""
    import audit.plots._figure as fig_mod

    made: list[tuple[str, float]] = []
    real = fig_mod.Figure

    def clocked(*a, **k):
        f = real(*a, **k)
        made.append((f.title, _clock()))
        return f

    rows = []
    fig_mod.Figure = clocked
    try:
        for s in report.sections.values():
            draw = getattr(s.figures, "_draw", None)
            if draw is None:
                continue
            made.clear()
            start = _clock()
            list(type(s.figures)(draw))  # a fresh DeferredFigures: the path the HTML renderer takes
            for title, end in made:
                rows.append((s.check, title, end - start))
                start = end
    finally:
        fig_mod.Figure = real
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    ap.add_argument("--repeat", type=int, default=3, help="draws per report; the fastest is kept (first draw is cold)")
    ap.add_argument("--profile", action="store_true", help="print the top cumulative functions of the drawing")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--wall", action="store_true", help="wall-clock seconds instead of this process's CPU seconds")
    args = ap.parse_args()
    global _clock
    if args.wall:
        _clock = time.perf_counter
    warnings.filterwarnings("ignore")
    import audit

    print(f"# audit from {os.path.dirname(audit.__file__)}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"{'wall' if args.wall else 'CPU'} seconds")
    for name in args.workloads:
        report = _report(name)
        runs = []
        for i in range(args.repeat):
            rows = _draw_timed(report)
            runs.append(rows)
            if i == 0 and args.profile:
                prof = cProfile.Profile()
                prof.enable()
                _draw_timed(report)
                prof.disable()
        best = [min((r[k] for r in runs), key=lambda x: x[2]) for k in range(len(runs[0]))]
        cold = sum(r[2] for r in runs[0])
        with tempfile.TemporaryDirectory() as d:
            path = report.save_html(os.path.join(d, "r.html"))
            size = os.path.getsize(path)
        print(f"\n## {name}: {len(best)} figures, draw {sum(r[2] for r in best):.3f} s (first draw {cold:.3f} s), "
              f"HTML {size / 1024:.0f} KiB")
        for check, title, sec in best:
            print(f"  {check:14s} {sec:7.3f}  {title}")
        if args.profile:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(args.top)
            print(buf.getvalue())


if __name__ == "__main__":
    main()
