"""Renderers: each turns a Report into one format and computes nothing.

Importing this package registers every renderer with :mod:`audit.formats`, where the report's output
methods (``save_html``, ``to_json``, ``to_junit``, ``to_markdown``, ``_repr_html_``) find them; the
value types never import a renderer.
"""

from __future__ import annotations

from audit.formats import register
from audit.render.html import render_html, render_summary_html
from audit.render.json import render_json, report_to_dict, section_to_dict
from audit.render.junit import render_junit
from audit.render.markdown import render_markdown

register("html", render_html)
register("html_summary", render_summary_html)
register("json", render_json)
register("json_dict", report_to_dict)
register("json_section", section_to_dict)
register("junit", render_junit)
register("markdown", render_markdown)

__all__ = ["render_html", "render_json", "render_junit", "render_markdown", "render_summary_html", "report_to_dict",
           "section_to_dict"]
