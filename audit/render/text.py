"""Make user-controlled text (model, column and group names, messages that quote them) safe for the
plain-text outputs a CI job reads: Markdown (summary.md, a pull-request comment) and JUnit XML.
(:func:`plain` and :func:`short_label` live in :mod:`audit.text`, for every layer; they are re-exported here.)

The HTML report escapes with Jinja and a strict CSP; these renderers have no such net, so every value
they write goes through :func:`plain` (no control characters, one line, bounded length) and then
:func:`md_text` / :func:`md_code` or ElementTree's own XML escaping.
"""

from __future__ import annotations

import re

from audit.text import LABEL_LIMIT, TEXT_LIMIT, plain, short_label

__all__ = ["LABEL_LIMIT", "TEXT_LIMIT", "md_code", "md_text", "plain", "short_label"]

# characters with a Markdown meaning inline (emphasis, code, links, images, HTML, entities, tables,
# strikethrough, emoji and GFM autolinks via ':' and '@'); a backslash makes each literal (CommonMark
# allows escaping any ASCII punctuation) and the rendered text is unchanged
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~&:@])")
_WWW = re.compile(r"(?i)(?<=www)\.")  # GFM autolinks "www.host" without a scheme
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.@+\-]+$")


def md_text(text: object, limit: int | None = TEXT_LIMIT) -> str:
    """User text as literal Markdown: inline markup escaped, one line, no control characters.

    No image, link, autolink, HTML, code span or table cell boundary can come out of it.

    Examples
    --------
    >>> md_text("`|![i](http://host/x.png)")
    '\\\\`\\\\|\\\\!\\\\[i\\\\]\\\\(http\\\\://host/x.png\\\\)'
    """
    return _WWW.sub(r"\\.", _MD_SPECIAL.sub(r"\\\1", plain(text, limit))).strip()


def md_code(name: object) -> str:
    """A metric name as inline code when it only holds name characters, else as escaped text (a backtick
    or pipe inside a code span would end it or split the table)."""
    s = plain(name)
    return f"`{s}`" if _SAFE_NAME.match(s) else md_text(s)
