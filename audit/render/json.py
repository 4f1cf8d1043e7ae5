"""JSON renderer: stable metric names, NaN as null, DataFrames as records, strings clipped (:func:`audit.text.clip`)
and made encodable (:func:`audit.text.scrub`: a surrogate becomes U+FFFD, never a lone ``\\udXXX`` escape that
strict JSON parsers reject)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from audit.text import JSON_TEXT_LIMIT, clip, scrub

__all__ = ["JSON_TEXT_LIMIT", "clip", "dumps", "frame_to_records", "render_json", "report_to_dict", "section_to_dict"]

if TYPE_CHECKING:
    from audit.report import Report
    from audit.section import Section


def _text(v: object) -> str:
    """A string as audit.json keeps it: whole up to :data:`JSON_TEXT_LIMIT` characters, surrogates as U+FFFD."""
    return clip(scrub(v))


def _clean(v: Any) -> Any:
    if isinstance(v, str):
        return _text(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, dict):
        return {_text(str(k)): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def frame_to_records(df: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as ``{"index": [...], "columns": [...], "data": [[...]]}`` with NaN -> null."""
    idx = [[_text(str(j)) for j in i] if isinstance(i, tuple) else _text(str(i)) for i in df.index]
    cols = [_text(" / ".join(map(str, c)) if isinstance(c, tuple) else str(c)) for c in df.columns]
    data = [[_clean(x) for x in row] for row in df.astype(object).itertuples(index=False, name=None)]
    return {"index_names": [None if n is None else _text(str(n)) for n in df.index.names], "index": idx, "columns": cols,
            "data": data}


def section_to_dict(s: Section) -> dict[str, Any]:
    return {
        "check": s.check,
        "title": s.title,
        "status": s.status,
        "reason": _text(s.reason),
        "summary": _text(s.summary),
        "duration_s": round(s.duration_s, 4),
        "metrics": {m.name: _clean({"value": m.value, "low": m.low, "high": m.high}) for m in s.metrics},
        "notes": [_text(n) for n in s.notes],
        "tables": {_text(name): frame_to_records(df) for name, df in s.tables.items()},
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    metrics = {}
    for s in report.sections.values():
        for m in s.metrics:
            metrics[m.name] = _clean(
                {"value": m.value, "low": m.low, "high": m.high, "check": s.check, "higher_is_better": m.higher_is_better}
            )
    return {
        "schema": "audit.report/1",
        "verdict": report.verdict,
        "passed": report.passed,
        "meta": _clean(report.meta),
        "metrics": metrics,
        "findings": [_clean(f.to_dict()) for f in report.findings],
        "sections": {k: section_to_dict(s) for k, s in report.sections.items()},
    }


def dumps(data: dict[str, Any], *, indent: int = 2) -> str:
    return json.dumps(data, indent=indent, allow_nan=False, default=_text)


def render_json(report: Report, *, indent: int = 2) -> str:
    """The report as JSON text (what ``audit.json`` holds): :func:`report_to_dict`, NaN as null."""
    return dumps(report_to_dict(report), indent=indent)
