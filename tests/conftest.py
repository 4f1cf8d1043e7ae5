"""Shared small fixtures: tiny synthetic data and models so the suite stays fast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch


@pytest.fixture
def tabular_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    g = rng.choice(["a", "b"], size=n)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n) + (g == "a") * 0.5
    y = (x1 + 0.5 * x2 + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "g": g, "y": y})


@pytest.fixture
def linear_net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[-1.0, -0.5], [1.0, 0.5]]))
        net.bias.zero_()
    return net
