"""Saliency maps for image models, how faithful they are, and whether they depend on the model.

>>> from audit.saliency import attribute, faithfulness, randomization_test
>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 3))
>>> x = torch.rand(6, 1, 4, 4)
>>> maps = attribute(net, x)
>>> faith = faithfulness(net, x, maps, steps=8)
>>> sanity = randomization_test(net, x, original=maps, layers=1)
>>> list(faith.auc.columns)
['deletion_auc', 'insertion_auc', 'deletion_gain', 'insertion_gain']
"""

from __future__ import annotations

from audit.saliency._attribute import METHODS, AttributionFn, SaliencyResult, attribute, method_label
from audit.saliency._common import find_last_conv
from audit.saliency._embedding import TokenAttribution, embedding_integrated_gradients, embedding_layer
from audit.saliency._faithfulness import BaselineKind, FaithfulnessResult, faithfulness, gaussian_blur, pixel_order
from audit.saliency._sanity import SanityResult, randomizable_layers, randomization_test, rank_correlation
from audit.saliency._tabular import feature_attributions

__all__ = [
    "METHODS",
    "AttributionFn",
    "BaselineKind",
    "FaithfulnessResult",
    "SaliencyResult",
    "SanityResult",
    "TokenAttribution",
    "attribute",
    "embedding_integrated_gradients",
    "embedding_layer",
    "faithfulness",
    "feature_attributions",
    "find_last_conv",
    "gaussian_blur",
    "method_label",
    "pixel_order",
    "randomizable_layers",
    "randomization_test",
    "rank_correlation",
]
