"""Torch modules shap's gradient explainers cannot handle: values still come back, the model is left intact."""

from __future__ import annotations

import numpy as np
import torch

from audit.explain import shap_values
from audit.robustness import fgsm


class ReusedInplaceNet(torch.nn.Module):
    """A Linear used twice, LayerNorm, GELU, torch.where and an in-place ReLU on the output: DeepExplainer's
    hooks raise on the in-place op."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.inp = torch.nn.Linear(d, 8)
        self.shared = torch.nn.Linear(8, 8)
        self.norm = torch.nn.LayerNorm(8)
        self.act = torch.nn.GELU()
        self.out = torch.nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.inp(x))
        h = h + self.act(self.shared(h))
        h = self.norm(self.shared(h))
        h = torch.where(h > 0, h, 0.1 * h)
        return self.out(h).relu_() * 1.0


def _hook_count(net: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in net.modules())


def test_deep_failure_falls_back_and_leaves_no_hooks(brute_force):
    torch.manual_seed(0)
    net = ReusedInplaceNet(6).eval()
    rng = np.random.default_rng(0)
    x, bg = rng.normal(size=(5, 6)).astype(np.float32), rng.normal(size=(12, 6)).astype(np.float32)
    assert _hook_count(net) == 0

    res = shap_values(net, torch.as_tensor(x), background=torch.as_tensor(bg), n_background=12, explainer="deep")
    assert res.explainer == "gradient", res.notes
    assert any("DeepExplainer failed (RuntimeError" in n for n in res.notes)
    assert _hook_count(net) == 0 and not hasattr(net.inp, "x") and not hasattr(net.inp, "y")

    # The model still trains and attacks normally after the failed explainer.
    xt = torch.as_tensor(x)
    adv = fgsm(net, xt, net(xt).argmax(1), eps=0.1)
    assert adv.x_adv.shape == xt.shape and torch.isfinite(adv.x_adv).all()

    # The default path needs no hooks at all and is exact on this unusual module.
    auto = shap_values(net, torch.as_tensor(x), background=torch.as_tensor(bg), n_background=12)
    ref = brute_force(lambda z: torch.softmax(net(torch.as_tensor(z, dtype=torch.float32)), 1).double().detach().numpy(),
                      x.astype(np.float64), bg.astype(np.float64))
    got = np.stack([auto.values[c].to_numpy() for c in auto.classes], axis=2)
    assert auto.explainer == "exact"
    np.testing.assert_allclose(got, ref, atol=1e-5)
    # The fallback's error against those exact values was measured and reported, not hidden.
    assert 0.0 < res.reference_error < 10 and -1 <= res.reference_correlation <= 1
