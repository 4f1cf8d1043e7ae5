"""Identity terms in text: which texts mention which identity group, and swapping one group's terms for another's.

Terms come as ``family -> group -> list of terms`` (``{"gender": {"female": ["woman", "she"], "male": ["man",
"he"]}}``). A text mentions a group when it holds one of the group's terms as a whole word, case-insensitive; a
space or hyphen inside a term matches either (``"african american"`` finds ``"African-American"``). The default
list, :func:`default_identity_terms`, is ``audit/datasets/data/identity_terms.json`` (ours, editable).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from importlib import resources

import pandas as pd

from audit.errors import AuditInputError

BAD_TERMS = ("terms must map family -> group -> list of non-empty strings, e.g. "
             "{{'gender': {{'female': ['woman', 'she'], 'male': ['man', 'he']}}}}; {problem}")
DUPLICATE_GROUP = ("group name {group!r} appears in families {families}; group names must be unique across "
                   "families (they name the columns), rename one")
BAD_TEXTS = "texts must be a list of strings (one per row); {problem}"

Terms = dict[str, dict[str, list[str]]]


def default_identity_terms() -> Terms:
    """The bundled identity terms: 17 groups in six families (gender, religion, race_ethnicity, nationality,
    sexual_orientation, age), a few terms each, aligned by position within a family for swaps.

    Examples
    --------
    >>> terms = default_identity_terms()
    >>> sorted(terms)
    ['age', 'gender', 'nationality', 'race_ethnicity', 'religion', 'sexual_orientation']
    >>> terms["gender"]["female"][:3]
    ['woman', 'women', 'she']
    """
    path = resources.files("audit.datasets").joinpath("data", "identity_terms.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    return check_terms({k: v for k, v in raw.items() if not k.startswith("_")})


def check_terms(terms: object) -> Terms:
    """``terms`` validated and copied (terms stripped); raises :class:`AuditInputError` saying what is wrong."""
    if not isinstance(terms, Mapping) or not terms:
        raise AuditInputError(BAD_TERMS.format(problem=f"got {type(terms).__name__} {terms!r:.60}"))
    out: Terms = {}
    seen: dict[str, list[str]] = {}
    for family, groups in terms.items():
        if not isinstance(groups, Mapping) or not groups:
            raise AuditInputError(BAD_TERMS.format(problem=f"family {family!r} maps to {groups!r:.60}, not a dict "
                                                           "of groups"))
        out[str(family)] = {}
        for group, words in groups.items():
            if isinstance(words, str) or not isinstance(words, Sequence) or not words or not all(
                    isinstance(w, str) and w.strip() for w in words):
                raise AuditInputError(BAD_TERMS.format(problem=f"group {family}/{group} has terms {words!r:.60}"))
            out[str(family)][str(group)] = [w.strip() for w in words]
            seen.setdefault(str(group), []).append(str(family))
    for group, families in seen.items():
        if len(families) > 1:
            raise AuditInputError(DUPLICATE_GROUP.format(group=group, families=families))
    return out


def check_texts(texts: object) -> list[str]:
    """``texts`` as a list of str; raises :class:`AuditInputError` for anything else."""
    if isinstance(texts, str):
        raise AuditInputError(BAD_TEXTS.format(problem="got a single string; wrap it in a list"))
    if isinstance(texts, pd.Series):
        texts = texts.tolist()
    try:
        out = list(texts)  # type: ignore[call-overload]
    except TypeError:
        raise AuditInputError(BAD_TEXTS.format(problem=f"got {type(texts).__name__}")) from None
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise AuditInputError(BAD_TEXTS.format(problem=f"row {bad[0]} is {type(out[bad[0]]).__name__} "
                                                       f"{out[bad[0]]!r:.40} ({len(bad)} such rows); fill missing "
                                                       "texts with '' first"))
    return out


def _term_regex(term: str) -> str:
    # a space or hyphen inside a term matches any run of spaces/hyphens; the ends must not touch a word character
    return r"[\s\-]+".join(re.escape(part) for part in re.split(r"[\s\-]+", term))


def group_pattern(words: Sequence[str]) -> re.Pattern[str]:
    """One case-insensitive whole-word pattern for a group's terms, longest first (so ``"asian american"``
    wins over ``"asian"``); group ``i + 1`` of a match is the ``i``-th term of the ordered list :func:`ordered`
    returns."""
    alternatives = "|".join(f"({_term_regex(w)})" for w in ordered(words))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def ordered(words: Sequence[str]) -> list[str]:
    """The terms longest first (stable), the order :func:`group_pattern` tries them."""
    return sorted(words, key=len, reverse=True)


def identity_groups(texts, terms: Mapping | None = None) -> pd.DataFrame:
    """A boolean column per identity group: the texts that hold any of its terms as a whole word (any case).

    Parameters
    ----------
    texts : list of str
    terms : dict, optional
        ``family -> group -> list of terms``; :func:`default_identity_terms` when None. Group names must be
        unique across families (they name the columns); ``frame.attrs["families"]`` maps each group to its family.

    Returns
    -------
    DataFrame
        One row per text, one bool column per group (a text can be in several groups, or in none).

    Examples
    --------
    >>> terms = {"gender": {"female": ["woman", "she"], "male": ["man", "he"]}}
    >>> identity_groups(["She said so.", "A woman's view", "the shepherd", "He and she"], terms).to_dict("list")
    {'female': [True, True, False, True], 'male': [False, False, False, True]}
    """
    rows = check_texts(texts)
    spec = default_identity_terms() if terms is None else check_terms(terms)
    series = pd.Series(rows, dtype=object)
    columns: dict[str, object] = {}
    families: dict[str, str] = {}
    for family, groups in spec.items():
        for group, words in groups.items():
            pattern = group_pattern(words)
            columns[group] = series.map(lambda t, p=pattern: p.search(t) is not None).astype(bool).to_numpy()
            families[group] = family
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))
    frame.attrs["families"] = families
    return frame


def counterpart(i: int, to_words: Sequence[str]) -> str:
    """The term that replaces a group's ``i``-th term (in its own list order): the other group's
    ``(i mod len)``-th term.

    Examples
    --------
    >>> counterpart(3, ["straight", "heterosexual"])
    'heterosexual'
    """
    return to_words[i % len(to_words)]


def _match_case(found: str, word: str) -> str:
    if len(found) > 1 and found.isupper():
        return word.upper()
    return word[:1].upper() + word[1:] if found[:1].isupper() else word


def swap_terms(text: str, from_words: Sequence[str], to_words: Sequence[str],
               pattern: re.Pattern[str] | None = None) -> str:
    """``text`` with every whole-word occurrence of a ``from_words`` term replaced by its counterpart in
    ``to_words`` (the term at the same position, :func:`counterpart`), keeping the case of its first letter
    (and all capitals).

    Examples
    --------
    >>> swap_terms("She told her Mother. SHE left.", ["she", "her", "mother"], ["he", "his", "father"])
    'He told his Father. HE left.'
    """
    pattern = group_pattern(from_words) if pattern is None else pattern
    order = ordered(from_words)
    position = {w: from_words.index(w) for w in order}

    def repl(m: re.Match[str]) -> str:
        term = order[m.lastindex - 1]  # type: ignore[operator]
        return _match_case(m.group(0), counterpart(position[term], to_words))

    return pattern.sub(repl, text)


def default_identity_templates() -> list[str]:
    """The bundled neutral templates for the swap test, each with one ``{term}`` slot.

    >>> default_identity_templates()[:2]
    ['{term}', 'the {term}']
    """
    path = resources.files("audit.datasets").joinpath("data", "identity_templates.json")
    return list(json.loads(path.read_text(encoding="utf-8"))["templates"])


def template_texts(terms: Terms | None = None, templates: list[str] | None = None) -> list[str]:
    """Texts from ``templates`` with ``{term}`` filled by every term of each family's first group: the swap test
    (:func:`identity_swaps`) then rewrites them into every other group of the family, so a model is probed on
    sentences that differ only in the identity term, whatever its own data mentions.

    Examples
    --------
    >>> template_texts({"gender": {"female": ["she"], "male": ["he"]}}, ["{term} left", "{term}"])
    ['she left', 'she']
    """
    terms = check_terms(terms) if terms is not None else default_identity_terms()
    templates = default_identity_templates() if templates is None else list(templates)
    bad = [t for t in templates if not isinstance(t, str) or "{term}" not in t]
    if bad:
        raise AuditInputError(f"every identity template needs one '{{term}}' slot; these do not: {bad[:3]}")
    out = []
    for groups in terms.values():
        first = next(iter(groups.values()))
        out += [t.replace("{term}", term) for term in first for t in templates]
    return list(dict.fromkeys(out))
