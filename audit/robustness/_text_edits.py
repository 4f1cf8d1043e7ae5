"""Small label-preserving edits of a text (CheckList's invariance tests): a typo, the case, punctuation, whitespace, a synonym.

Each edit takes one text and a numpy Generator and returns one perturbed copy, or ``None`` when the text has
nothing that edit can change (no word of four letters for a typo, no listed word for a synonym, no letter for
case, nothing but whitespace for punctuation and whitespace), so such texts are counted as not applicable
rather than as unchanged. Every edit returns a text different from its input.

Ribeiro et al., "Beyond Accuracy: Behavioral Testing of NLP Models with CheckList", ACL 2020
(https://aclanthology.org/2020.acl-main.442).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from audit.errors import AuditInputError
from audit.robustness._text_common import (
    check_texts,
    load_synonyms,
    match_case,
    split_words,
)

#: trailing marks the punctuation edit removes (all of a trailing run) or adds (one of the first three)
PUNCTUATION = ".!?,;:"
_ADDED = (".", "!", "?")


def typo(text: str, rng: np.random.Generator, synonyms: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """Swap two adjacent different letters inside one word of at least four letters (first and last letter kept).

    Examples
    --------
    >>> typo("a good film", np.random.default_rng(0))
    'a good flim'
    >>> typo("a bad day", np.random.default_rng(0)) is None   # no word of four letters
    True
    """
    pieces = split_words(text)
    words = []
    for i in range(1, len(pieces), 2):
        w = pieces[i]
        # inner pairs only (the first and last letters stay, which keeps the word readable); equal letters swap to
        # the same word, and an apostrophe is not a letter
        pos = [j for j in range(1, len(w) - 2) if w[j] != w[j + 1] and w[j].isalpha() and w[j + 1].isalpha()]
        if len(w) >= 4 and pos:
            words.append((i, pos))
    if not words:
        return None
    i, pos = words[int(rng.integers(len(words)))]
    j = pos[int(rng.integers(len(pos)))]
    w = pieces[i]
    pieces[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return "".join(pieces)


def case(text: str, rng: np.random.Generator, synonyms: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """The whole text lower-cased or upper-cased (one drawn at random among those that change it).

    Examples
    --------
    >>> case("Good film", np.random.default_rng(0)), case("good film", np.random.default_rng(0))
    ('GOOD FILM', 'GOOD FILM')
    >>> case("42 !", np.random.default_rng(0)) is None
    True
    """
    options = [t for t in (text.lower(), text.upper()) if t != text]
    if not options:
        return None
    return options[int(rng.integers(len(options)))]


def punctuation(text: str, rng: np.random.Generator, synonyms: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """Remove the trailing run of punctuation (``.!?,;:``), or add one of ``. ! ?`` where there is none.

    Examples
    --------
    >>> punctuation("good film!!", np.random.default_rng(0)), punctuation("good film ", np.random.default_rng(0))
    ('good film', 'good film? ')
    """
    stripped = text.rstrip()
    if not stripped:
        return None
    trail = text[len(stripped):]  # trailing whitespace stays where it was
    if stripped[-1] in PUNCTUATION:
        return stripped.rstrip(PUNCTUATION) + trail
    return stripped + _ADDED[int(rng.integers(len(_ADDED)))] + trail


def whitespace(text: str, rng: np.random.Generator, synonyms: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """Double one space, or add a leading or a trailing space (one of the three drawn at random).

    Examples
    --------
    >>> [whitespace("good film", np.random.default_rng(s)) for s in (0, 1, 11)]
    ['good film ', ' good film', 'good  film']
    """
    if not text.strip():
        return None
    spaces = [m.start() for m in re.finditer(" ", text)]
    option = int(rng.integers(3)) if spaces else 1 + int(rng.integers(2))
    if option == 0:
        at = spaces[int(rng.integers(len(spaces)))]
        return text[:at] + " " + text[at:]
    return " " + text if option == 1 else text + " "


def synonym(text: str, rng: np.random.Generator, synonyms: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """Replace one word found in the synonym list with one of its synonyms (in the word's case).

    Examples
    --------
    >>> synonym("A good film", np.random.default_rng(0), {"good": ["fine"]})
    'A fine film'
    >>> synonym("A good film", np.random.default_rng(0), {"bad": ["poor"]}) is None
    True
    """
    table = load_synonyms() if synonyms is None else synonyms
    pieces = split_words(text)
    found = [i for i in range(1, len(pieces), 2) if table.get(pieces[i].lower())]
    if not found:
        return None
    i = found[int(rng.integers(len(found)))]
    subs = table[pieces[i].lower()]
    pieces[i] = match_case(pieces[i], subs[int(rng.integers(len(subs)))])
    return "".join(pieces)


Edit = Callable[[str, np.random.Generator, "Mapping[str, Sequence[str]] | None"], "str | None"]
#: the edits by name, and a fixed stream number per edit: each edit draws from its own Generator seeded with
#: ``(seed, stream)``, so choosing other kinds never changes one kind's perturbed texts
PERTURBATIONS: dict[str, tuple[Edit, int]] = {
    "typo": (typo, 1),
    "case": (case, 2),
    "punctuation": (punctuation, 3),
    "whitespace": (whitespace, 4),
    "synonym": (synonym, 5),
}


def perturb_texts(texts: Sequence[str], kind: str, *, seed: int = 0,
                  synonyms: Mapping[str, Sequence[str]] | None = None) -> list[str | None]:
    """One seeded perturbed copy of each text by edit ``kind`` (``None`` where the edit does not apply).

    Parameters
    ----------
    texts : list of str
    kind : {"typo", "case", "punctuation", "whitespace", "synonym"}
    seed : int
        Same seed, same texts: the edit's Generator is ``default_rng((seed, stream))`` with a fixed stream per kind.
    synonyms : mapping word -> list of words, optional
        For ``"synonym"``; the bundled list (:func:`load_synonyms`) by default.

    Examples
    --------
    >>> perturb_texts(["a good film", "ok"], "typo")
    ['a good flim', None]
    """
    if kind not in PERTURBATIONS:
        raise AuditInputError(f"unknown perturbation kind {kind!r}; choose from {sorted(PERTURBATIONS)}")
    edit, stream = PERTURBATIONS[kind]
    table = load_synonyms(synonyms) if kind == "synonym" else None
    rng = np.random.default_rng((int(seed), stream))
    return [edit(t, rng, table) for t in check_texts(texts)]
