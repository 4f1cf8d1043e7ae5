from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from audit.checks.gradients import GradientHealthCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.errors import AuditInputError
from audit.health import gradient_health
from audit.model import ModelAdapter


def _data(n: int = 256, d: int = 10, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).long().numpy()


def _stack(widths: list[int], act: type[torch.nn.Module], seed: int = 0, scale: float = 1.0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [torch.nn.Linear(a, b), act()]
    layers.append(torch.nn.Linear(widths[-2], widths[-1]))
    net = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
    return net


def test_healthy_mlp_is_not_flagged_and_norms_match_backward():
    x, y = _data()
    net = _stack([10, 32, 32, 2], torch.nn.ReLU)
    r = gradient_health(net, x, y)
    assert not r.vanishing and not r.exploding and r.nonfinite == 0
    # independent reference: plain backward() on a copy, per-layer L2 norms of .grad
    ref = copy.deepcopy(net)
    torch.nn.functional.cross_entropy(ref(x), torch.as_tensor(y)).backward()
    for name in ("0", "2", "4"):
        m = ref.get_submodule(name)
        want = torch.sqrt(m.weight.grad.double().pow(2).sum() + m.bias.grad.double().pow(2).sum()).item()
        assert r.layers.loc[name, "grad_norm"] == pytest.approx(want, rel=1e-5)
    assert r.first_last_norm_ratio == pytest.approx(r.layers.loc["0", "grad_norm"] / r.layers.loc["4", "grad_norm"])
    assert r.max_grad_norm == pytest.approx(r.layers["grad_norm"].max())


def test_model_state_is_restored():
    x, y = _data(64)
    net = _stack([10, 8, 2], torch.nn.ReLU)
    net.train()
    net[0].bias.requires_grad_(False)
    gradient_health(net, x, y)
    assert net.training
    assert [p.requires_grad for p in net.parameters()] == [True, False, True, True]
    assert all(p.grad is None for p in net.parameters())


def test_deep_sigmoid_stack_vanishes():
    x, y = _data(128)
    net = _stack([10] + [16] * 20 + [2], torch.nn.Sigmoid)
    r = gradient_health(net, x, y)
    assert r.vanishing and not r.exploding
    assert r.first_last_norm_ratio < 1e-6
    assert list(r.layers.index)[0] == "0" and len(r.layers) == 21


def test_badly_scaled_init_explodes():
    x, y = _data()
    r = gradient_health(_stack([10, 32, 32, 32, 2], torch.nn.ReLU, scale=50.0), x, y)
    assert r.exploding and r.max_grad_norm > 1e3


def test_badly_scaled_tanh_saturates_against_brute_force():
    x, y = _data()
    net = _stack([10, 32, 32, 2], torch.nn.Tanh, scale=50.0)
    r = gradient_health(net, x, y)
    with torch.no_grad():
        h1 = torch.tanh(net[0](x))
        h2 = torch.tanh(net[2](h1))
    want = float(((h1.abs() > 0.99).sum() + (h2.abs() > 0.99).sum()) / (h1.numel() + h2.numel()))
    assert r.saturated_fraction == pytest.approx(want) and want > 0.5
    assert np.isnan(r.dead_relu_fraction)


def test_huge_negative_bias_kills_relu_units():
    x, y = _data()
    net = _stack([10, 32, 32, 2], torch.nn.ReLU)
    with torch.no_grad():
        net[0].bias[:24] = -100.0  # 24 of the 32 first-layer units can never fire
    r = gradient_health(net, x, y)
    with torch.no_grad():
        h1 = torch.relu(net[0](x))
        h2 = torch.relu(net[2](h1))
    dead = int((h1.max(0).values <= 0).sum() + (h2.max(0).values <= 0).sum())
    assert r.activations["dead_units"].sum() == dead
    assert r.dead_relu_fraction == pytest.approx(dead / 64) and dead >= 24


def test_seeded_sample_and_chunks_are_deterministic():
    x, y = _data(900)
    net = _stack([10, 16, 2], torch.nn.ReLU)
    a = gradient_health(net, x, y, batch_size=300, seed=1)
    b = gradient_health(net, x, y, batch_size=300, seed=1)
    pd.testing.assert_frame_equal(a.layers, b.layers)
    assert a.n_rows == 300
    c = gradient_health(net, x, y, batch_size=300, seed=2)
    assert c.layers["grad_norm"].iloc[0] != a.layers["grad_norm"].iloc[0]


def test_bad_inputs_raise():
    x, y = _data(8)
    with pytest.raises(AuditInputError, match="torch"):
        gradient_health(lambda z: z, x, y)
    with pytest.raises(AuditInputError, match="rows"):
        gradient_health(_stack([10, 2, 2], torch.nn.ReLU), x, y[:4])


def _ctx(net: torch.nn.Module) -> AuditContext:
    x, y = _data(300)
    df = pd.DataFrame(x.numpy(), columns=[f"f{i}" for i in range(10)]).assign(y=y)
    return AuditContext(model=ModelAdapter(net), data=load_data(df, target="y"), seed=0)


def test_check_flags_broken_and_passes_healthy(judge):
    good = GradientHealthCheck().run(_ctx(_stack([10, 32, 32, 2], torch.nn.ReLU)))
    assert judge(GradientHealthCheck, good) == set()
    assert good.figures[0].title == "Gradient norm per layer" and "Gradients flow" in good.summary
    deep = GradientHealthCheck().run(_ctx(_stack([10] + [16] * 20 + [2], torch.nn.Sigmoid)))
    assert "gradients.vanishing" in judge(GradientHealthCheck, deep)
    hot = GradientHealthCheck().run(_ctx(_stack([10, 32, 32, 32, 2], torch.nn.ReLU, scale=50.0)))
    assert "gradients.exploding" in judge(GradientHealthCheck, hot)


def test_check_skips_non_torch(tabular_frame):
    ctx = AuditContext(model=ModelAdapter(lambda X: np.full(len(X), 0.3)), data=load_data(tabular_frame, target="y"))
    assert "torch" in GradientHealthCheck().skip_reason(ctx)


def test_output_sigmoid_is_not_saturation_and_labels_free_data_skips():
    x, y = _data(128)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 1), torch.nn.Sigmoid())  # binary model returning probabilities
    with torch.no_grad():
        net[0].weight.mul_(100)  # output saturates, which is confidence, not a hidden-unit problem
    r = gradient_health(net, x, y)
    assert np.isnan(r.saturated_fraction) and len(r.activations) == 0
    assert r.first_last_norm_ratio == 1.0
    ctx = AuditContext(model=ModelAdapter(net), data=load_data((x.numpy(), None)))
    assert "labels" in GradientHealthCheck().skip_reason(ctx)
