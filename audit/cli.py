"""Command line: ``audit run CONFIG``, ``audit checks``, ``audit demo``.

Exit codes: 0 every gate passed, 1 a gate failed, 2 the audit could not run (bad config,
unloadable model, invalid data), with a one-line reason on stderr (``--debug`` for a traceback).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import traceback
from pathlib import Path

EXIT_PASS, EXIT_FAIL, EXIT_CANNOT_RUN = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="audit", description="Audit a trained model before it ships.")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the audit a config file describes and gate on its policy")
    run.add_argument("config", help="path to audit.toml")
    run.add_argument("--out", default="audit-out", help="folder for report.html, audit.json, junit.xml, summary.md")
    run.add_argument("--fail-on", choices=("fail", "warn"), default=None, help="'warn' makes warnings fail the gate too")
    run.add_argument("--checks", default=None, help="comma-separated checks to run (default: the config's, else all)")
    run.add_argument("--baseline", default=None, help="audit.json of a previous run: gate on regressions, show deltas")
    run.add_argument("--seed", type=int, default=None, help="override the config's seed")
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary on stdout")
    run.add_argument("--debug", action="store_true", help="show tracebacks")
    sub.add_parser("checks", help="list checks and the metric names a policy can use")
    demo = sub.add_parser("demo", help="audit the bundled COMPAS model and write an HTML report")
    demo.add_argument("--out", default="reports/compas.html")
    return ap


def _cmd_checks() -> int:
    from audit.checks import REGISTRY
    from audit.policy import Policy

    defaults = Policy.default().thresholds
    for cls in REGISTRY.values():
        print(f"{cls.name}: {cls.title}")
        for pat in cls.metric_patterns:
            doc = cls.metric_docs.get(pat, "")
            th = defaults.get(pat)
            extra = f"  [default: {th.describe()}, {th.severity}]" if th else ""
            print(f"    {pat}{'  - ' + doc if doc else ''}{extra}")
    return EXIT_PASS


def _cmd_run(args: argparse.Namespace) -> int:
    from audit import audit
    from audit.config import build_audit_kwargs, read_config
    from audit.policy import Policy

    cfg = read_config(args.config)
    checks = [c.strip() for c in args.checks.split(",") if c.strip()] if args.checks else None
    kwargs = build_audit_kwargs(cfg, checks=checks)
    if args.seed is not None:
        kwargs["seed"] = args.seed
    if args.baseline is not None:
        if not Path(args.baseline).is_file():
            from audit.errors import AuditInputError

            raise AuditInputError(f"--baseline {args.baseline!r} not found; pass the audit.json of a previous run")
        kwargs["baseline"] = args.baseline
    policy = Policy.coerce(kwargs.pop("policy"))
    if args.fail_on is not None:
        policy.fail_on = args.fail_on
    report = audit(**kwargs, policy=policy, progress=not args.quiet)
    report.meta["config"] = str(cfg.path)
    report.meta["config_hash"] = hashlib.sha256(cfg.path.read_bytes()).hexdigest()[:12]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    html = report.save_html(out / "report.html")
    report.to_json(out / "audit.json")
    report.to_junit(out / "junit.xml")
    md = report.to_markdown()
    (out / "summary.md").write_text(md)
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as fh:
            fh.write(md)
    if not args.quiet:
        print(md)
        print(f"report: {html}")
    return EXIT_PASS if report.passed else EXIT_FAIL


def _cmd_demo(args: argparse.Namespace) -> int:
    from audit import audit
    from audit.models.compas import train_compas_mlp

    t = train_compas_mlp()
    report = audit(t.model, t.test, target=t.target, sensitive=t.sensitive, train=t.train, transform=t.transform)
    print(f"{report.verdict.upper()}: wrote {report.save_html(args.out)}")
    return EXIT_PASS


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``audit`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "debug", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "checks":
            return _cmd_checks()
        if args.command == "demo":
            return _cmd_demo(args)
        return _cmd_run(args)
    except KeyboardInterrupt:
        print("audit: interrupted", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except Exception as exc:  # noqa: BLE001 - any failure to run is exit 2 with a one-line reason
        if getattr(args, "debug", False):
            traceback.print_exc()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if len(str(exc).splitlines()) > 1:
            reason += " " + " ".join(line.strip() for line in str(exc).splitlines()[1:6])
        print(f"audit: error: {type(exc).__name__}: {reason}", file=sys.stderr)
        return EXIT_CANNOT_RUN


if __name__ == "__main__":
    sys.exit(main())
