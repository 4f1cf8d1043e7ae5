"""Model-randomisation sanity check: flags maps that ignore the model, leaves the model untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from audit.errors import AuditInputError
from audit.saliency import attribute, randomizable_layers, randomization_test, rank_correlation


def test_rank_correlation_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=(5, 3, 3)).astype(float)  # many ties
    b = a + rng.normal(scale=1.0, size=a.shape)
    ours = rank_correlation(a, b)
    ref = [spearmanr(a[i].ravel(), b[i].ravel()).statistic for i in range(5)]
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    assert np.isnan(rank_correlation(np.ones((1, 4)), np.arange(4.0)[None]))[0]


def _input_method(forward, x, target):
    return x


def _edge_method(forward, x, target):
    """Sobel gradient magnitude of the image: an edge detector that never looks at the model."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=x.device)
    g = torch.nn.functional.conv2d(x.sum(1, keepdim=True), torch.stack([kx, kx.T])[:, None], padding=1)
    return g.pow(2).sum(1).sqrt()


def test_flags_methods_that_ignore_the_model_not_saliency(digits):
    model, X, _ = digits
    before = [p.detach().clone() for p in model.parameters()]
    res = randomization_test(
        model, X[:24], methods=["saliency", ("input", _input_method), ("edges", _edge_method)], layers=2, threshold=0.5
    )
    corr = res.correlations["rank_corr"]
    assert corr["input"] == pytest.approx(1.0) and corr["edges"] == pytest.approx(1.0)
    assert corr["saliency"] < 0.5
    assert res.flagged == ["input", "edges"]
    assert res.layers == ["8", "6"]  # the two Linear layers, top first
    # the model passed in is not modified
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)
    # per-image values are the rank correlations of the maps, recomputed here with scipy
    orig = attribute(model, X[:24], methods=("saliency",))
    last = res.per_image[(res.per_image.method == "saliency") & (res.per_image.stage == "randomised: 8, 6")]
    ref = [spearmanr(orig.maps["saliency"][i].ravel(), res.randomized.maps["saliency"][i].ravel()).statistic for i in range(24)]
    np.testing.assert_allclose(last["rank_corr_abs"], ref, atol=1e-9)
    np.testing.assert_array_equal(res.randomized.target, orig.target)


def test_cascade_stages_layers_and_seed(small_images):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    )
    assert randomizable_layers(net) == ["1", "3", "5"]
    res = randomization_test(net, small_images, methods=("saliency",), layers=3, seed=1)
    assert res.layers == ["5", "3", "1"]
    assert list(res.correlations.columns) == [
        "randomised: 5", "randomised: 5, 3", "randomised: 5, 3, 1", "rank_corr", "rank_corr_signed", "flagged",
    ]
    again = randomization_test(net, small_images, methods=("saliency",), layers=3, seed=1)
    assert res.correlations.equals(again.correlations)
    named = randomization_test(net, small_images, methods=("saliency",), layers=["3"])
    assert named.layers == ["3"]
    with pytest.raises(AuditInputError, match="parameterised layers"):
        randomization_test(net, small_images, methods=("saliency",), layers=["7"])


def test_reuses_original_maps(digits):
    model, X, _ = digits
    orig = attribute(model, X[:8], methods=("gradcam",))
    res = randomization_test(model, X[:8], methods=("gradcam",), original=orig, layers=1)
    assert res.randomized.layer == orig.layer == "2"
    with pytest.raises(AuditInputError, match="8 images"):
        randomization_test(model, X[:5], methods=("gradcam",), original=orig)


def test_gradcam_layer_given_as_module_maps_to_the_copy(digits):
    model, X, _ = digits
    res = randomization_test(model, X[:6], methods=("gradcam",), layer=model[0], layers=1)
    assert res.randomized.layer == "0"
    named = randomization_test(model, X[:6], methods=("gradcam",), layer="0", layers=1)
    assert res.correlations.equals(named.correlations)
