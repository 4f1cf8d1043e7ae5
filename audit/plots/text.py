"""Figure for text attributions: the chosen texts with each word shaded by its attribution."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.plots._figure import figure
from audit.section import Figure
from audit.text import plain

#: characters per drawn line, and lines per text at most (the rest ends in "…")
LINE_CHARS = 90
MAX_LINES = 3


def _lines(text: str) -> list[tuple[int, str]]:
    """``text`` cut into lines of at most :data:`LINE_CHARS` characters at spaces: (start offset, line)."""
    out, start = [], 0
    while start < len(text) and len(out) < MAX_LINES:
        end = min(start + LINE_CHARS, len(text))
        if end < len(text) and " " in text[start:end]:
            end = start + text[start:end].rindex(" ") + 1
        out.append((start, text[start:end]))
        start = end
    return out


def text_highlights(texts: list[str], words: pd.DataFrame, titles: list[str], caption: str = "") -> list[Figure]:
    """Each text on its own lines in a monospace font, every attributed word on a red (raises the explained class's
    score) or blue (lowers it) box whose strength is the attribution over the largest absolute one in that text.

    ``words`` has ``row`` (index into ``texts``), ``start``, ``end`` (character offsets) and ``value``. Text is drawn
    as text (matplotlib escapes it in the SVG) and control characters are dropped.
    """
    layout = [_lines(plain(t, limit=None).replace("\n", " ")) for t in texts]
    height = sum(len(lines) + 1 for lines in layout) * 0.22 + 0.3
    with figure("Word attributions", f"{len(texts)} texts with each word shaded by its attribution",
                size=(7.6, max(height, 1.0)), caption=caption) as (fig, out):
        ax = fig.add_subplot()
        ax.set_axis_off()
        total = sum(len(lines) + 1 for lines in layout)
        ax.set_xlim(0, LINE_CHARS)
        ax.set_ylim(total, 0)
        y = 0.0
        for i, lines in enumerate(layout):
            ax.text(0, y + 0.5, titles[i], fontsize=7, color="#555555", va="center")
            y += 1
            mine = words[words["row"] == i]
            scale = float(np.abs(mine["value"]).max()) if len(mine) else 0.0
            for start, line in lines:
                _draw_line(ax, line, start, mine, scale, y)
                y += 1
    return out


def _draw_line(ax, line: str, start: int, words: pd.DataFrame, scale: float, y: float) -> None:
    """One line: every attributed word as its own text on a box the renderer fits to it, the rest as plain text,
    each at its character offset (so a font a little wider or narrower than assumed never shifts a box off
    its word)."""
    inside = words[(words["start"] >= start) & (words["end"] <= start + len(line))].sort_values("start")
    cursor = 0
    for _, w in inside.iterrows():
        a, b = int(w["start"]) - start, int(w["end"]) - start
        if a > cursor:
            _put(ax, line[cursor:a], cursor, y)
        strength = 0.0 if scale == 0 else min(abs(float(w["value"])) / scale, 1.0)
        rgb = (0.85, 0.2, 0.2) if w["value"] > 0 else (0.2, 0.35, 0.85)
        _put(ax, line[a:b], a, y, box=(*rgb, 0.6 * strength))
        cursor = b
    if cursor < len(line):
        _put(ax, line[cursor:], cursor, y)


def _put(ax, text: str, offset: int, y: float, box: tuple[float, float, float, float] | None = None) -> None:
    # monospace 8 pt is 4.8 pt a character; the 7.45 in axis holds 90 units of 5.96 pt: 0.81 units a character
    bbox = None if box is None else {"boxstyle": "square,pad=0.1", "facecolor": box, "edgecolor": "none"}
    ax.text(offset * 0.81, y + 0.5, text, fontsize=8, family="monospace", va="center", bbox=bbox)
