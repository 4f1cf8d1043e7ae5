"""attribute() and feature_attributions() against hand-computed gradients of linear and conv models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit.errors import AuditInputError
from audit.model import ModelAdapter
from audit.saliency import METHODS, attribute, feature_attributions, find_last_conv
from audit.transforms import TabularEncoder


def test_saliency_is_abs_weight_of_target_class(linear_image_net, small_images):
    w = linear_image_net[1].weight.detach().numpy()
    res = attribute(linear_image_net, small_images, methods=("saliency",), device="cpu")
    with torch.no_grad():
        pred = linear_image_net(small_images).argmax(1).numpy()
    np.testing.assert_array_equal(res.target, pred)
    expected = np.abs(w[pred]).reshape(-1, 4, 4)
    np.testing.assert_allclose(res.maps["saliency"], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.raw["saliency"][:, 0], expected, rtol=0, atol=1e-6)


def test_integrated_gradients_is_input_times_weight_and_complete(linear_image_net, small_images):
    w = linear_image_net[1].weight.detach().numpy()
    target = np.array([0, 1, 2, 2, 1, 0])
    res = attribute(linear_image_net, small_images, target, methods=("integrated_gradients",), baseline=0.25)
    x = small_images.numpy()[:, 0]
    expected = (x - 0.25) * w[target].reshape(-1, 4, 4)
    np.testing.assert_allclose(res.raw["integrated_gradients"][:, 0], expected, atol=1e-5)
    # completeness: attributions sum to f(x) - f(baseline) for the target logit
    with torch.no_grad():
        fx = linear_image_net(small_images).numpy()[np.arange(6), target]
        fb = linear_image_net(torch.full_like(small_images, 0.25)).numpy()[np.arange(6), target]
    np.testing.assert_allclose(res.maps["integrated_gradients"].reshape(6, -1).sum(1), fx - fb, atol=1e-5)


def test_smoothgrad_of_linear_model_is_abs_weight(linear_image_net, small_images):
    # the gradient of a linear model does not depend on the input, so the noise cannot change it
    w = linear_image_net[1].weight.detach().numpy()
    res = attribute(linear_image_net, small_images, 2, methods=("smoothgrad",), smoothgrad_samples=4)
    np.testing.assert_allclose(res.maps["smoothgrad"], np.broadcast_to(np.abs(w[2]).reshape(4, 4), (6, 4, 4)), atol=1e-6)


def test_smoothgrad_is_the_mean_abs_gradient_at_cpu_drawn_noise(small_images):
    """Reference: captum's Saliency at each noisy copy, with the noise each image's CPU stream gives. The noise is
    drawn on the CPU (then moved to the model's device), so a seed gives the same maps on every device."""
    from captum.attr import Saliency

    from audit.saliency._common import cpu_generator

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(48, 3))
    samples, noise, seed = 5, 0.15, 4
    res = attribute(net, small_images, 1, methods=("smoothgrad",), smoothgrad_samples=samples, smoothgrad_noise=noise,
                    seed=seed, batch_size=4, device="cpu")
    stdev = noise * float(small_images.max() - small_images.min())
    ref = np.zeros((6, 1, 4, 4))
    for i in range(6):
        eps = stdev * torch.randn((samples, 1, 4, 4), generator=cpu_generator(seed, i))
        for s in range(samples):
            g = Saliency(net).attribute((small_images[i : i + 1] + eps[s : s + 1]).requires_grad_(), target=1, abs=True)
            ref[i] += g[0].detach().numpy() / samples
    np.testing.assert_allclose(res.raw["smoothgrad"], ref, rtol=1e-5, atol=1e-7)


class _ConvNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential()
        self.features.add_module("conv1", torch.nn.Conv2d(1, 3, 3, padding=1))
        self.features.add_module("act", torch.nn.ReLU())
        self.features.add_module("conv2", torch.nn.Conv2d(3, 2, 3, padding=1))
        self.head = torch.nn.Linear(2 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def test_gradcam_layer_autodetected_and_matches_hand_computation(small_images):
    torch.manual_seed(3)
    net = _ConvNet().eval()
    assert find_last_conv(net) == "features.conv2"
    res = attribute(net, small_images, 1, methods=("gradcam",))
    assert res.layer == "features.conv2"
    # GradCAM by hand: A = conv2 activations, alpha_k = mean over pixels of d logit_1 / d A_k = mean of the
    # head weights of channel k; cam = relu(sum_k alpha_k A_k); the layer keeps the 4x4 size.
    with torch.no_grad():
        A = net.features(small_images)
        alpha = net.head.weight[1].reshape(2, 4, 4).mean(dim=(1, 2))
        cam = torch.relu((alpha[None, :, None, None] * A).sum(1)).numpy()
    np.testing.assert_allclose(res.maps["gradcam"], cam, atol=1e-5)
    named = attribute(net, small_images, 1, methods=("gradcam",), layer="features.conv1")
    assert named.layer == "features.conv1"
    assert not np.allclose(named.maps["gradcam"], res.maps["gradcam"])
    by_module = attribute(net, small_images, 1, methods=("gradcam",), layer=net.features.conv1)
    np.testing.assert_allclose(by_module.maps["gradcam"], named.maps["gradcam"])
    with pytest.raises(AuditInputError, match="features.conv1"):
        attribute(net, small_images, methods=("gradcam",), layer="features.nope")


def test_shapes_rgb_and_channel_reduction():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 4, 5))
    x = torch.rand(7, 3, 5, 6)
    res = attribute(net, x, device="cpu", batch_size=3, ig_steps=8, smoothgrad_samples=3)
    assert res.methods == list(METHODS)
    for m in METHODS:
        assert res.maps[m].shape == (7, 5, 6)
    for m in ("saliency", "integrated_gradients", "smoothgrad"):
        assert res.raw[m].shape == (7, 3, 5, 6)
    assert res.raw["gradcam"].shape == (7, 1, 5, 6)
    np.testing.assert_allclose(res.maps["saliency"], np.abs(res.raw["saliency"]).max(axis=1))
    np.testing.assert_allclose(res.maps["integrated_gradients"], res.raw["integrated_gradients"].sum(axis=1), atol=1e-6)
    assert (res.maps["gradcam"] >= 0).all()


def test_three_dim_images_and_model_without_conv(linear_image_net, small_images):
    res = attribute(linear_image_net, small_images[:, 0].numpy())
    assert "gradcam" not in res.maps and res.layer is None
    assert any("GradCAM" in n for n in res.notes)
    assert res.maps["saliency"].shape == (6, 4, 4)


def test_same_maps_for_any_batch_size_and_seeded_noise(small_images):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(64, 3))
    a = attribute(net, small_images, seed=5, batch_size=64)
    b = attribute(net, small_images, seed=5, batch_size=2)
    for m in METHODS:
        np.testing.assert_allclose(a.maps[m], b.maps[m], atol=1e-6)
    c = attribute(net, small_images, seed=6, methods=("smoothgrad",))
    assert not np.allclose(a.maps["smoothgrad"], c.maps["smoothgrad"])


def test_binary_single_output_model_through_adapter(small_images):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))
    w = net[1].weight.detach().numpy()[0]
    adapter = ModelAdapter(net, device="cpu")
    pos = attribute(adapter, small_images, 1, methods=("saliency",))
    neg = attribute(adapter, small_images, 0, methods=("saliency",))
    # logits become [0, z]: the positive class has gradient w, the negative class none
    np.testing.assert_allclose(pos.maps["saliency"], np.broadcast_to(np.abs(w).reshape(4, 4), (6, 4, 4)), atol=1e-6)
    np.testing.assert_array_equal(neg.maps["saliency"], 0)


def test_custom_method_is_called_with_forward_and_target(linear_image_net, small_images):
    seen = {}

    def grad_times_input(forward, x, target):
        seen["target"] = target.clone()
        out = forward(x).gather(1, target[:, None]).sum()
        return torch.autograd.grad(out, x)[0] * x

    res = attribute(linear_image_net, small_images, 1, methods=["saliency", ("gxi", grad_times_input)])
    w = linear_image_net[1].weight.detach().numpy()[1].reshape(4, 4)
    np.testing.assert_allclose(res.maps["gxi"], small_images.numpy()[:, 0] * w, atol=1e-6)
    assert seen["target"].tolist() == [1] * 6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"images": np.zeros((3, 16))}, "shape"),
        ({"target": 3}, r"\[0, 3\)"),
        ({"target": [0, 1]}, "length 6"),
        ({"methods": ("lime",)}, "unknown method"),
        ({"device": "cuda:7"}, "device"),
    ],
)
def test_bad_input_raises(linear_image_net, small_images, kwargs, match):
    if torch.cuda.is_available() and "device" in kwargs:
        pytest.skip("CUDA present")
    args = {"images": small_images, **kwargs}
    with pytest.raises(AuditInputError, match=match):
        attribute(linear_image_net, **args)


def test_non_torch_model_is_rejected(small_images):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(AuditInputError, match="differentiable torch model"):
        attribute(LogisticRegression(), small_images)


def test_feature_attributions_linear_tabular_with_encoder(tabular_frame):
    enc = TabularEncoder(columns=["x1", "x2", "g"]).fit(tabular_frame)
    d = len(enc.feature_names_out)
    torch.manual_seed(0)
    net = torch.nn.Linear(d, 2)
    adapter = ModelAdapter(net, transform=enc)
    df = feature_attributions(adapter, tabular_frame.head(20), 1, baseline=0.5)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(enc.feature_names_out)
    x = np.asarray(enc(tabular_frame.head(20)), dtype=np.float32)
    expected = (x - 0.5) * net.weight.detach().numpy()[1]
    np.testing.assert_allclose(df.to_numpy(), expected, atol=1e-5)
    with pytest.raises(AuditInputError, match="baseline"):
        feature_attributions(adapter, tabular_frame.head(5), baseline=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0][: d + 1])


def test_torchscript_model_gets_the_same_maps_and_a_note_for_gradcam(small_images):
    """TorchScript modules refuse Python hooks: gradient methods give the module's own maps, GradCAM is left
    out with a note (not an error), and the Conv2d is still recognised by its original type name."""
    torch.manual_seed(0)
    net = _ConvNet().eval()
    scripted = torch.jit.script(net)
    assert find_last_conv(scripted) == "features.conv2"
    methods = ("saliency", "integrated_gradients", "gradcam")
    ref = attribute(net, small_images, 1, methods=methods)
    got = attribute(scripted, small_images, 1, methods=methods)
    assert got.methods == ["saliency", "integrated_gradients"] and "gradcam" in ref.methods
    assert any("take no Python hooks" in n for n in got.notes)
    for m in got.methods:
        np.testing.assert_allclose(got.maps[m], ref.maps[m], atol=1e-6)
    with pytest.raises(AuditInputError, match="gradcam cannot run: the model's layers take no Python hooks"):
        attribute(scripted, small_images, 1, methods=("gradcam",))


def test_out_of_memory_halving_is_said_in_the_result(linear_image_net, small_images):
    class OOM(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            if len(x) > 2:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.net(x)

    res = attribute(OOM(linear_image_net), small_images, methods=("saliency",), batch_size=8)
    ref = attribute(linear_image_net, small_images, methods=("saliency",), batch_size=2)
    assert (res.requested_batch_size, res.batch_size) == (8, 2)
    assert "Out of memory at 8 images per batch: halved to 2 and finished." in res.notes
    np.testing.assert_allclose(res.maps["saliency"], ref.maps["saliency"], rtol=1e-6, atol=1e-7)
