"""Matplotlib helpers: turn a figure into an inline :class:`audit.section.Figure` (SVG text, or PNG for image grids).

Every figure of the report is drawn through :func:`figure` (or :func:`png_figure`), so all share one style,
bounded label text (:func:`tidy_text`) and deterministic bytes (same inputs, same SVG).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from audit.section import Figure  # noqa: E402
from audit.text import plain  # noqa: E402

#: longest line of text drawn in a figure (tick labels, legends, titles): longer lines end in "…"
FIGURE_TEXT_LIMIT = 80

# Plain fonts, no embedded glyph paths: keeps SVGs small and the report text searchable.
_RC = {
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "audit",  # deterministic element ids: same inputs, same bytes
}


@contextmanager
def figure(title: str, alt: str, *, size: tuple[float, float] = (6.0, 3.2), caption: str = "") -> Iterator[tuple[plt.Figure, list[Figure]]]:
    """Context manager yielding ``(fig, out)``; on exit the figure is rendered to SVG and appended to ``out``.

    The style is entered once for drawing and rendering together (it used to be entered twice).

    Examples
    --------
    >>> with figure("Scores", "histogram of scores") as (fig, out):
    ...     _ = fig.add_subplot().hist([0.1, 0.5, 0.9])
    >>> out[0].svg.startswith("<svg")
    True
    """
    out: list[Figure] = []
    with plt.rc_context(_RC):
        fig = plt.figure(figsize=size)
        try:
            yield fig, out
            out.append(_svg_figure(fig, title=title, alt=alt, caption=caption))
        finally:
            plt.close(fig)


def _lay_out(fig: plt.Figure) -> None:
    """Shorten the figure's text, then place its axes once with ``tight_layout``.

    ``tight_layout`` leaves a placeholder layout engine on the figure, and with any engine set ``savefig``
    draws the whole figure twice (a dry draw to find a renderer, then the real one): a third of each
    figure's time. Dropping the engine keeps the margins tight_layout computed and draws once, with the
    same bytes.
    """
    tidy_text(fig)
    fig.tight_layout()
    fig.set_layout_engine(None)


def tidy_text(fig: plt.Figure, limit: int = FIGURE_TEXT_LIMIT) -> None:
    """Shorten every line of text in ``fig`` to ``limit`` characters and drop control characters, whatever
    check drew it: a 1 MB group name in a tick label made a 45 MB report (and a glyph warning per
    control character). Multi-line texts keep their lines.

    Tick labels given as a list (``set_yticks(pos, labels)``) live in the axis' formatter (a
    ``FuncFormatter`` over a dict, or a ``FixedFormatter``), which writes them back into the tick texts at
    every draw: its output is shortened too, or a 1 MB column name came back in the SVG and took most of a
    minute to lay out. Figures still shorten their labels with :func:`audit.text.short_label` before
    drawing; this is the net under them.
    """
    import matplotlib.text
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    def tidy(text: str) -> str:
        return "\n".join(plain(line, limit) for line in text.split("\n"))

    def tidied(func):  # type: ignore[no-untyped-def]
        return lambda x, pos=None: tidy(str(func(x, pos)))

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for fmt in {id(f): f for f in (axis.get_major_formatter(), axis.get_minor_formatter())}.values():
                if isinstance(fmt, FixedFormatter):
                    fmt.seq = [tidy(str(s)) for s in fmt.seq]
                elif isinstance(fmt, FuncFormatter) and not getattr(fmt.func, "_audit_tidy", False):
                    fmt.func = tidied(fmt.func)
                    fmt.func._audit_tidy = True  # type: ignore[attr-defined]  # tidy_text may run twice on a figure
    for t in fig.findobj(matplotlib.text.Text):
        text = t.get_text()
        tidied = tidy(text)
        if tidied != text:
            t.set_text(tidied)


def to_figure(fig: plt.Figure, *, title: str, alt: str, caption: str = "") -> Figure:
    """Render a matplotlib figure to an inline SVG :class:`Figure` (no XML prolog, no metadata)."""
    with plt.rc_context(_RC):
        return _svg_figure(fig, title=title, alt=alt, caption=caption)


def _svg_figure(fig: plt.Figure, *, title: str, alt: str, caption: str) -> Figure:
    buf = io.StringIO()
    _lay_out(fig)
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    return Figure(title=title, alt=alt, svg=svg, caption=caption)


def png_figure(fig: plt.Figure, *, title: str, alt: str, caption: str = "", dpi: int = 80) -> Figure:
    """Render to a base64 PNG instead: for image grids, where SVG would be far larger."""
    import base64

    buf = io.BytesIO()
    with plt.rc_context(_RC):
        _lay_out(fig)
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return Figure(title=title, alt=alt, png_base64=base64.b64encode(buf.getvalue()).decode(), caption=caption)
