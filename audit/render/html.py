"""HTML renderer: one self-contained file, no network, every value escaped.

Figures are embedded as ``<img src="data:...">`` (SVG or PNG): an SVG inside an ``<img>`` cannot
run script, so even a hostile group name drawn into a chart stays inert. A Content-Security-Policy
meta tag forbids every network request; the one inline script (table sorting) is allowed by hash.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, Undefined, select_autoescape
from markupsafe import Markup

from audit.render.text import plain
from audit.text import scrub

if TYPE_CHECKING:
    from audit.report import Report
    from audit.section import Figure

MAX_ROWS_OPEN = 15  # longer tables render collapsed
MAX_ROWS = 500  # longer tables are truncated, with a note (the JSON output has them all)
#: longest text in one table cell or header (a group label, a finding); audit.json has the full value
CELL_LIMIT = 200
#: longest text any other value of the page may show (a model name, a note quoting a group, a reason)
TEXT_LIMIT = 2000


def _finalize(value: Any) -> Any:
    """Applied by Jinja to every ``{{ value }}`` before escaping: user text goes through
    :func:`audit.text.plain`, the one cleaning function of every output (one line, no control or bidi
    characters, surrogates as U+FFFD, at most :data:`TEXT_LIMIT` characters), so no name can reorder the
    title a reviewer reads, and one 1 MB group value cannot make a 45 MB page. Numbers, ``None``, figure
    data URIs and pre-escaped markup pass untouched."""
    if value is None or isinstance(value, (Markup, bool, int, float, np.number, Undefined)):
        return value
    if isinstance(value, str) and value.startswith("data:image/"):
        return value
    return plain(value, TEXT_LIMIT)


_env = Environment(
    loader=PackageLoader("audit", "render/templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_finalize,
)

SORT_SCRIPT = (
    "document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){"
    "var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),"
    "d=th.dataset.dir==='asc'?'desc':'asc';th.dataset.dir=d;var r=Array.prototype.slice.call(b.rows);"
    "r.sort(function(x,y){var a=x.cells[i].dataset.v||x.cells[i].textContent,c=y.cells[i].dataset.v||y.cells[i].textContent,"
    "n=parseFloat(a),m=parseFloat(c),o=(!isNaN(n)&&!isNaN(m))?n-m:a.localeCompare(c);return d==='asc'?o:-o;});"
    "r.forEach(function(e){b.appendChild(e);});});});"
)
SORT_HASH = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{SORT_HASH}'; base-uri 'none'; form-action 'none'"
)


def fmt(v: Any) -> str:
    """Numbers to 4 significant digits; NaN/None as 'undefined'; everything else as text."""
    if v is None or v is pd.NA:
        return "undefined"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "undefined"
        if math.isinf(f):
            return "∞" if f > 0 else "-∞"
        if f != 0 and (abs(f) >= 1e5 or abs(f) < 1e-3):
            return f"{f:.3g}"
        return f"{f:.4g}"
    return str(v)


def _sort_key(v: Any) -> str:
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
        f = float(v)
        return "" if math.isnan(f) else repr(f)
    return ""


def table_view(name: str, df: pd.DataFrame) -> dict[str, Any]:
    """Escaping happens in the template; this only shapes the frame into header and cell strings."""
    shown = df.iloc[:MAX_ROWS]
    index_names = [("" if n is None else str(n)) for n in shown.index.names]
    has_index = not isinstance(shown.index, pd.RangeIndex)
    header = [plain(h, CELL_LIMIT) for h in (index_names if has_index else []) + [
        " / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in shown.columns
    ]]
    rows = []
    for idx, row in zip(shown.index, shown.itertuples(index=False, name=None)):
        cells = []
        if has_index:
            keys = idx if isinstance(idx, tuple) else (idx,)
            cells += [{"text": plain(fmt(k), CELL_LIMIT), "v": _sort_key(k), "head": True} for k in keys]
        for v in row:
            text = fmt(v)
            cells.append({"text": plain(text, CELL_LIMIT), "v": _sort_key(v), "num": _sort_key(v) != "",
                          "nan": text == "undefined"})
        rows.append(cells)
    return {
        "name": name,
        "header": header,
        "rows": rows,
        "collapsed": len(df) > MAX_ROWS_OPEN,
        "truncated": max(0, len(df) - MAX_ROWS),
        "n": len(df),
    }


def anchor(check: str) -> str:
    """The in-page id of a check's section."""
    return "sec-" + "".join(ch if ch.isalnum() else "-" for ch in check)


def figure_src(f: Figure) -> str:
    if f.svg is not None:
        # scrub: a surrogate in a label that reached the SVG would make encode() raise and sink the report
        return "data:image/svg+xml;base64," + base64.b64encode(scrub(f.svg).encode("utf-8")).decode()
    return "data:image/png;base64," + (f.png_base64 or "")


def _context(report: Report) -> dict[str, Any]:
    sections = []
    for s in report.sections.values():
        sections.append(
            {
                "s": s,
                "anchor": anchor(s.check),
                "tables": [table_view(k, v) for k, v in s.tables.items()],
                "figures": [{"f": f, "src": figure_src(f)} for f in s.figures],
                "findings": [f for f in report.findings if f.check == s.check],
            }
        )
    order = {"fail": 0, "warn": 1, "inconclusive": 2, "error": 3, "pass": 4, "info": 5}
    findings = sorted(report.findings, key=lambda f: (f.passed, order.get(f.status, 9), f.metric))
    return {
        "r": report,
        "verdict": report.verdict,
        "meta": report.meta,
        "sections": sections,
        "findings": findings,
        "blocking": [f for f in findings if not f.passed],
        # each gap rule once, numbered: the gate tables point to it instead of repeating it on every row
        "rules": list(dict.fromkeys(f.rule for f in findings if f.rule)),
        "warnings": [f for f in findings if f.passed and f.status in ("warn", "inconclusive")],
        "fmt": fmt,
        "anchor": anchor,
        "csp": CSP,
        "sort_script": SORT_SCRIPT,
    }


def render_html(report: Report) -> str:
    """The whole report as one HTML document."""
    return _env.get_template("report.html.j2").render(**_context(report))


def render_summary_html(report: Report) -> str:
    """A light fragment for notebooks: verdict, failed gates and the section list (no figures)."""
    return _env.get_template("summary.html.j2").render(**_context(report))
