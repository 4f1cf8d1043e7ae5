"""Markdown renderer: a short summary for a pull-request comment or a CI step summary.

Every value a user controls (model name, device, metric names built from columns, thresholds and
reasons that quote them) goes through :mod:`audit.render.text`: one line, no control characters,
inline markup escaped, so no name can close a code span, split the table, or render an image or link.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from audit.render.text import md_code, md_text

if TYPE_CHECKING:
    from audit.report import Report

_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "inconclusive": "❔", "error": "💥", "info": "ℹ️"}


def _fmt(v: float | None) -> str:
    return "undefined" if v is None or v != v else f"{v:.4g}"


def render_markdown(report: Report) -> str:
    verdict = report.verdict
    lines = [f"## {_ICON.get(verdict, '')} Model audit: **{verdict.upper()}**", ""]
    meta = report.meta
    model = md_text(meta.get("model", "?")) or "?"
    if isinstance(meta.get("rows"), int):
        lines.append(f"{model} on {meta['rows']:,} rows · seed {md_text(meta.get('seed'))} · "
                     f"device {md_text(meta.get('device'))} · audit {md_text(meta.get('versions', {}).get('audit', '?'))}")
    else:
        lines.append(model)
    lines.append("")
    gated = sorted(report.findings, key=lambda f: (f.passed, f.status == "pass", f.metric))
    if gated:
        has_base = any(f.baseline is not None for f in gated)
        head = "| | metric | value | 95% CI | threshold |" + (" baseline | Δ |" if has_base else "")
        lines += [head, "|---|---|---|---|---|" + ("---|---|" if has_base else "")]
        for f in gated:
            ci = f"{_fmt(f.low)} – {_fmt(f.high)}" if f.low is not None and f.high is not None else ""
            row = f"| {_ICON.get(f.status, '')} | {md_code(f.metric)} | {_fmt(f.value)} | {ci} | {md_text(f.threshold)} |"
            if has_base:
                ok = f.baseline is not None and f.value is not None and math.isfinite(f.value - f.baseline)
                delta = f"{f.value - f.baseline:+.4g}" if ok else ""
                row += f" {_fmt(f.baseline)} | {delta} |"
            lines.append(row)
    else:
        lines.append("No gates were set: the policy names no metric this audit produced.")
    skipped = [s for s in report.sections.values() if s.status != "ok"]
    if skipped:
        lines += ["", "<details><summary>Skipped or failed checks</summary>", ""]
        lines += [f"- **{md_text(s.check)}** ({md_text(s.status)}): {md_text(s.reason)}" for s in skipped]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
