"""Deletion/insertion curves against a brute-force pixel-by-pixel loop, and on a trained CNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from audit.errors import AuditInputError
from audit.saliency import attribute, faithfulness, gaussian_blur


def _brute_curves(net, x, maps, target, ks, base):
    """Remove/insert the top-k pixels of each image one model call at a time."""
    n, _, h, w = x.shape
    dele = np.zeros((n, len(ks)))
    ins = np.zeros((n, len(ks)))
    for i in range(n):
        order = np.argsort(-maps[i].reshape(-1), kind="stable")
        for s, k in enumerate(ks):
            top = order[:k]
            d = x[i].clone().reshape(x.shape[1], -1)
            b = base[i].clone().reshape(x.shape[1], -1)
            d[:, top] = base[i].reshape(x.shape[1], -1)[:, top]
            b[:, top] = x[i].reshape(x.shape[1], -1)[:, top]
            with torch.no_grad():
                dele[i, s] = torch.softmax(net(d.reshape(1, -1, h, w)).double(), 1)[0, target[i]].item()
                ins[i, s] = torch.softmax(net(b.reshape(1, -1, h, w)).double(), 1)[0, target[i]].item()
    return dele, ins


@pytest.mark.parametrize("baseline", ["zeros", 0.3])
def test_curves_and_auc_match_brute_force(linear_image_net, small_images, baseline):
    rng = np.random.default_rng(0)
    maps = {"a": rng.random((6, 4, 4)), "b": -small_images.numpy()[:, 0]}  # no ties
    target = np.array([0, 1, 2, 0, 1, 2])
    res = faithfulness(linear_image_net, small_images, maps, target, steps=8, baseline=baseline, batch_size=2)
    ks = np.arange(0, 17, 2)
    base = torch.zeros_like(small_images) if baseline == "zeros" else torch.full_like(small_images, 0.3)
    for name in maps:
        dele, ins = _brute_curves(linear_image_net, small_images, maps[name], target, ks, base)
        curve = res.curves[(res.curves.method == name) & (res.curves.curve == "deletion")]
        np.testing.assert_allclose(curve["fraction"], ks / 16)
        np.testing.assert_allclose(curve["probability"], dele.mean(0), atol=1e-6)
        # trapezoid rule by hand over fractions 0, 1/8, ..., 1
        auc_del = ((dele[:, 1:] + dele[:, :-1]) / 2 * (1 / 8)).sum(1).mean()
        auc_ins = ((ins[:, 1:] + ins[:, :-1]) / 2 * (1 / 8)).sum(1).mean()
        assert res.auc.loc[name, "deletion_auc"] == pytest.approx(auc_del, abs=1e-6)
        assert res.auc.loc[name, "insertion_auc"] == pytest.approx(auc_ins, abs=1e-6)
    assert list(res.auc.index) == ["a", "b", "random"]
    assert res.auc.loc["a", "deletion_gain"] == pytest.approx(res.auc.loc["random", "deletion_auc"] - res.auc.loc["a", "deletion_auc"])


def test_random_order_is_seeded(linear_image_net, small_images):
    maps = {"a": small_images.numpy()[:, 0]}
    r1 = faithfulness(linear_image_net, small_images, maps, steps=16, seed=1)
    r2 = faithfulness(linear_image_net, small_images, maps, steps=16, seed=1)
    r3 = faithfulness(linear_image_net, small_images, maps, steps=16, seed=2)
    assert r1.auc.equals(r2.auc)
    assert r1.auc.loc["random", "deletion_auc"] != r3.auc.loc["random", "deletion_auc"]
    assert r1.auc.loc["a", "deletion_auc"] == pytest.approx(r3.auc.loc["a", "deletion_auc"])  # no ties: seed-free


def test_end_points_are_image_and_baseline(linear_image_net, small_images):
    res = faithfulness(linear_image_net, small_images, {"a": small_images.numpy()[:, 0]}, 1, steps=4)
    with torch.no_grad():
        p_x = torch.softmax(linear_image_net(small_images).double(), 1)[:, 1].mean().item()
        p_0 = torch.softmax(linear_image_net(torch.zeros_like(small_images)).double(), 1)[:, 1].mean().item()
    for m in ("a", "random"):
        c = res.curves[res.curves.method == m]
        dele, ins = c[c.curve == "deletion"].probability.to_numpy(), c[c.curve == "insertion"].probability.to_numpy()
        assert dele[0] == pytest.approx(p_x) and dele[-1] == pytest.approx(p_0)
        assert ins[0] == pytest.approx(p_0) and ins[-1] == pytest.approx(p_x)


@pytest.mark.parametrize("sigma", [1.0, 1.5])
def test_gaussian_blur_matches_scipy(sigma):
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    ours = gaussian_blur(x, sigma).numpy()
    ref = gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=3.0)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_bad_maps_raise(linear_image_net, small_images):
    with pytest.raises(AuditInputError, match="expected"):
        faithfulness(linear_image_net, small_images, {"a": np.zeros((6, 3, 3))})
    with pytest.raises(AuditInputError, match="reserved"):
        faithfulness(linear_image_net, small_images, {"random": np.zeros((6, 4, 4))})
    with pytest.raises(AuditInputError, match="baseline"):
        faithfulness(linear_image_net, small_images, {"a": np.zeros((6, 4, 4))}, baseline="mean")


def test_real_methods_beat_random_on_trained_cnn(digits):
    model, X, _ = digits
    maps = attribute(model, X, methods=("saliency", "integrated_gradients"), ig_steps=16)
    res = faithfulness(model, X, maps, steps=16, seed=0)
    for m in ("saliency", "integrated_gradients"):
        assert res.auc.loc[m, "deletion_auc"] < res.auc.loc["random", "deletion_auc"] - 0.1
        assert res.auc.loc[m, "insertion_auc"] > res.auc.loc["random", "insertion_auc"] + 0.05
    # the target defaults to the maps' (predicted) class
    assert (res.per_image.groupby("method").size() == len(X)).all()
