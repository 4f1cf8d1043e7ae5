"""Explanations: SHAP values (exact where affordable), LIME, a global view with sensitive-column shares, and word
attributions for text models (``text_lime``, ``text_shap``, ``top_words``).

>>> from audit.explain import shap_values, lime_explanations, global_explanation  # doctest: +SKIP
>>> res = shap_values(model, X, background=X_train)  # doctest: +SKIP
>>> res.for_class(1, by_column=True).abs().mean().sort_values()  # doctest: +SKIP
"""

from __future__ import annotations

from audit.explain._exact import exact_shapley
from audit.explain._permutation import TARGET_SE
from audit.explain._global import GlobalExplanation, global_explanation, proxy_associations
from audit.explain._lime import LimeResult, grid_segmentation, lime_explanations
from audit.explain._result import ShapResult
from audit.explain._text import TextAttribution, top_words
from audit.explain._text_lime import text_lime
from audit.explain._text_shap import TEXT_EXACT_MAX_WORDS, TEXT_MAX_EVALS, text_shap
from audit.explain._shap import (
    EXACT_EXPLAINERS,
    EXACT_MAX_FEATURES,
    REGRESSION_OUTPUT,
    exact_cost_estimate,
    shap_values,
    tree_shap_values,
)

__all__ = [
    "EXACT_EXPLAINERS",
    "EXACT_MAX_FEATURES",
    "GlobalExplanation",
    "LimeResult",
    "REGRESSION_OUTPUT",
    "ShapResult",
    "TARGET_SE",
    "TEXT_EXACT_MAX_WORDS",
    "TEXT_MAX_EVALS",
    "TextAttribution",
    "exact_cost_estimate",
    "exact_shapley",
    "global_explanation",
    "grid_segmentation",
    "lime_explanations",
    "proxy_associations",
    "shap_values",
    "text_lime",
    "text_shap",
    "top_words",
    "tree_shap_values",
]
