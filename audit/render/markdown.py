"""Markdown renderer: a short summary for a pull-request comment or a CI step summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit.report import Report

_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "inconclusive": "❔", "error": "💥", "info": "ℹ️"}


def _cell(text: object) -> str:
    """Escape what would break a Markdown table cell or inject markup."""
    s = str(text)
    for ch in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


def _fmt(v: float | None) -> str:
    return "undefined" if v is None or v != v else f"{v:.4g}"


def render_markdown(report: Report) -> str:
    verdict = report.verdict
    lines = [f"## {_ICON.get(verdict, '')} Model audit: **{verdict.upper()}**", ""]
    meta = report.meta
    lines.append(
        f"{_cell(meta.get('model', '?'))} on {meta.get('rows', '?'):,} rows · seed {meta.get('seed')} · "
        f"device {meta.get('device')} · audit {meta.get('versions', {}).get('audit', '?')}"
        if isinstance(meta.get("rows"), int)
        else f"{_cell(meta.get('model', '?'))}"
    )
    lines.append("")
    gated = sorted(report.findings, key=lambda f: (f.passed, f.status == "pass", f.metric))
    if gated:
        has_base = any(f.baseline is not None for f in gated)
        head = "| | metric | value | 95% CI | threshold |" + (" baseline | Δ |" if has_base else "")
        lines += [head, "|---|---|---|---|---|" + ("---|---|" if has_base else "")]
        for f in gated:
            ci = f"{_fmt(f.low)} – {_fmt(f.high)}" if f.low is not None and f.high is not None else ""
            row = f"| {_ICON.get(f.status, '')} | `{f.metric}` | {_fmt(f.value)} | {ci} | {_cell(f.threshold)} |"
            if has_base:
                delta = "" if f.baseline is None or f.value is None else f"{f.value - f.baseline:+.4g}"
                row += f" {_fmt(f.baseline)} | {delta} |"
            lines.append(row)
    else:
        lines.append("No gates were set: the policy names no metric this audit produced.")
    skipped = [s for s in report.sections.values() if s.status != "ok"]
    if skipped:
        lines += ["", "<details><summary>Skipped or failed checks</summary>", ""]
        lines += [f"- **{_cell(s.check)}** ({s.status}): {_cell(s.reason)}" for s in skipped]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
