"""User text made fit to show: one line, no control characters, bounded in length.

Model, column and group names come from the user and can be anything (a 1 MB group value, an escape
sequence, a bidirectional override). Every layer that shows such a value goes through these helpers:
checks and domain packages when they quote a group in a message, figures for their labels, renderers
for their cells. Escaping for one format (Markdown, XML, HTML) is the renderers' job
(:mod:`audit.render.text`); this module only shortens and cleans.
"""

from __future__ import annotations

import re

#: longest user value written into one Markdown cell or JUnit attribute (the rest becomes "…")
TEXT_LIMIT = 300
#: longest group, class or column label shown in a figure, an HTML table cell or a message that lists
#: groups; the full value stays in audit.json (up to :data:`JSON_TEXT_LIMIT`)
LABEL_LIMIT = 60
#: strings (group and column names, messages) are kept in full up to this many characters in audit.json; a
#: longer one keeps its start and ends in "… (N characters)": one 1 MB group value, repeated in tables and
#: notes, made a 40 MB audit.json
JSON_TEXT_LIMIT = 2000

# line breaks of every kind (CR alone starts a new Markdown line in many renderers): one space
_BREAKS = re.compile("[\r\n\t\v\f\x85\u2028\u2029]+")
# C0/C1 control characters (invalid in XML 1.0, or terminal escapes such as ESC), bidirectional
# marks, embeddings, overrides and isolates that reorder what a reviewer sees, the BOM and XML non-characters
_DROP = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                   "\ufeff\ufffe\uffff]")
# surrogate code points: a str holds one when it was decoded with "surrogateescape" (a file name, a CSV read
# with the wrong codec) or built from a "\ud800" escape. No UTF-8 encoder accepts it, so writing it crashed
# save_html; each becomes U+FFFD, the replacement character, which shows that something was lost.
_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(text: object) -> str:
    """``text`` as a string UTF-8 can encode: each surrogate code point becomes U+FFFD; nothing else changes.

    For outputs that keep the text whole (audit.json, where line breaks are escaped); every shown value
    goes through :func:`plain`, which does this too.

    Examples
    --------
    >>> scrub("caf\\udce9 ok\\n") == "caf\\ufffd ok\\n"
    True
    """
    s = str(text)
    return _SURROGATE.sub("\ufffd", s) if _SURROGATE.search(s) else s


def has_surrogate(text: str) -> bool:
    """True when ``text`` holds a surrogate code point, which no UTF-8 output can write.

    >>> has_surrogate("caf\\udce9"), has_surrogate("café")
    (True, False)
    """
    return _SURROGATE.search(text) is not None


def plain(text: object, limit: int | None = TEXT_LIMIT) -> str:
    """One line of text with no control or bidi characters, at most ``limit`` characters.

    Line breaks become spaces; C0/C1 controls, bidi marks, embeddings, overrides and isolates
    (U+200E/F, U+202A-E, U+2066-9, U+061C) and the BOM are dropped; surrogates become U+FFFD
    (:func:`scrub`). This is the one cleaning function of every output that shows user text.

    Examples
    --------
    >>> plain("model\\r\\n<b>v2\\x1b[31m"), plain("x" * 10, limit=5)
    ('model <b>v2[31m', 'xxxx…')
    >>> plain("\\u202egnp.exe\\udc80") == "gnp.exe\\ufffd"
    True
    """
    s = scrub(_DROP.sub("", _BREAKS.sub(" ", str(text))))
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def short_label(value: object, limit: int = LABEL_LIMIT) -> str:
    """A label for display: one line, no control characters, at most ``limit`` characters.

    Examples
    --------
    >>> short_label("x" * 1_000_000) == "x" * 59 + "…", short_label("a\\nb")
    (True, 'a b')
    """
    return plain(value, limit)


def clip(text: str, limit: int = JSON_TEXT_LIMIT) -> str:
    """``text`` unchanged up to ``limit`` characters, else its start and its length (what audit.json keeps).

    Examples
    --------
    >>> clip("abc"), clip("x" * 5000, limit=25)
    ('abc', 'xxxxxx… (5000 characters)')
    """
    if len(text) <= limit:
        return text
    tail = f"… ({len(text)} characters)"
    return text[: max(0, limit - len(tail))] + tail


def units(value: float, digits: int = 4) -> str:
    """A number in a target's units for a sentence: ``digits`` significant digits with thousands separators,
    whole numbers from ``10 ** (digits - 1)`` up (never ``1.594e+04``), "undefined" for NaN.

    Examples
    --------
    >>> units(15945.2), units(271.067), units(0.47665), units(float("nan"))
    ('15,945', '271.1', '0.4767', 'undefined')
    """
    import math

    if not math.isfinite(value):
        return "undefined"
    if value != 0 and abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.{digits - 1}e}"
