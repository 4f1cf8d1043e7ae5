"""Output formats: where a :class:`~audit.report.Report` or :class:`~audit.section.Section` finds the
function that turns it into HTML, JSON, JUnit XML or Markdown.

Value types sit below the renderers and import none of them, not even lazily: the render package
registers its functions here when it is imported (``import audit`` does), and ``report.save_html``,
``report.to_json`` and the other output methods look them up by format name. Adding a format is one
function in ``audit/render/`` and one :func:`register` line in ``audit/render/__init__.py``.

Examples
--------
>>> register("shout", lambda text: text.upper())
>>> render("shout", "pass")
'PASS'
>>> del RENDERERS["shout"]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: format name -> renderer; filled by :mod:`audit.render`
RENDERERS: dict[str, Callable[..., Any]] = {}

NO_RENDERER = "no renderer is registered for format {fmt!r}; import audit.render (importing audit does) to register them"


def register(fmt: str, renderer: Callable[..., Any]) -> None:
    """Make ``renderer(obj, **options)`` the function that writes format ``fmt``."""
    RENDERERS[fmt] = renderer


def render(fmt: str, obj: Any, **options: Any) -> Any:
    """``obj`` in format ``fmt`` through the registered renderer; LookupError when none is registered."""
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise LookupError(NO_RENDERER.format(fmt=fmt)) from None
    return renderer(obj, **options)
