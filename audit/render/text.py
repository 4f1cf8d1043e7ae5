"""Make user-controlled text (model, column and group names, messages that quote them) safe for the
plain-text outputs a CI job reads: Markdown (summary.md, a pull-request comment) and JUnit XML.

The HTML report escapes with Jinja and a strict CSP; these renderers have no such net, so every value
they write goes through :func:`plain` (no control characters, one line, bounded length) and then
:func:`md_text` / :func:`md_code` or ElementTree's own XML escaping.
"""

from __future__ import annotations

import re

#: longest user value written into one Markdown cell or JUnit attribute (the rest becomes "…")
TEXT_LIMIT = 300
#: longest group, class or column label shown in a figure, an HTML table cell or a message that lists
#: groups; the full value stays in audit.json (up to ``audit.render.json.JSON_TEXT_LIMIT``)
LABEL_LIMIT = 60

# line breaks of every kind (CR alone starts a new Markdown line in many renderers): one space
_BREAKS = re.compile("[\r\n\t\v\f\x85\u2028\u2029]+")
# C0/C1 control characters (invalid in XML 1.0, or terminal escapes such as ESC), bidirectional
# overrides that reorder what a reviewer sees, the BOM, XML non-characters and lone surrogates
_DROP = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                   "\ufeff\ufffe\uffff\ud800-\udfff]")
# characters with a Markdown meaning inline (emphasis, code, links, images, HTML, entities, tables,
# strikethrough, emoji and GFM autolinks via ':' and '@'); a backslash makes each literal (CommonMark
# allows escaping any ASCII punctuation) and the rendered text is unchanged
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~&:@])")
_WWW = re.compile(r"(?i)(?<=www)\.")  # GFM autolinks "www.host" without a scheme
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.@+\-]+$")


def plain(text: object, limit: int | None = TEXT_LIMIT) -> str:
    """One line of text with no control or bidi characters, at most ``limit`` characters.

    Examples
    --------
    >>> plain("model\\r\\n<b>v2\\x1b[31m"), plain("x" * 10, limit=5)
    ('model <b>v2[31m', 'xxxx…')
    """
    s = _DROP.sub("", _BREAKS.sub(" ", str(text)))
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


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


def short_label(value: object, limit: int = LABEL_LIMIT) -> str:
    """A label for display: one line, no control characters, at most ``limit`` characters.

    Examples
    --------
    >>> short_label("x" * 1_000_000) == "x" * 59 + "…", short_label("a\\nb")
    (True, 'a b')
    """
    return plain(value, limit)
