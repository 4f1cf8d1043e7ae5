"""Matplotlib helpers: turn a figure into an inline :class:`audit.section.Figure` (SVG text)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from audit.section import Figure  # noqa: E402

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
            out.append(to_figure(fig, title=title, alt=alt, caption=caption))
        finally:
            plt.close(fig)


def to_figure(fig: plt.Figure, *, title: str, alt: str, caption: str = "") -> Figure:
    """Render a matplotlib figure to an inline SVG :class:`Figure` (no XML prolog, no metadata)."""
    buf = io.StringIO()
    with plt.rc_context(_RC):
        fig.tight_layout()
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
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return Figure(title=title, alt=alt, png_base64=base64.b64encode(buf.getvalue()).decode(), caption=caption)
