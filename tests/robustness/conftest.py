"""Tiny deterministic models and data for the robustness tests."""

from __future__ import annotations

import pytest
import torch


def _train(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 150) -> torch.nn.Module:
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    for p in net.parameters():
        p.grad = None
    return net.eval()


@pytest.fixture(scope="session")
def blobs() -> tuple[torch.Tensor, torch.Tensor]:
    """120 rows, 4 features in [0, 1], 3 classes (float64)."""
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.75, 0.3, 0.5, 0.4], [0.5, 0.75, 0.4, 0.6]], dtype=torch.float64)
    y = torch.arange(120) % 3
    x = (centers[y] + 0.12 * torch.randn(120, 4, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


@pytest.fixture(scope="session")
def mlp(blobs) -> torch.nn.Module:  # noqa: ANN001
    x, y = blobs
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).double()
    return _train(net, x, y)


@pytest.fixture(scope="session")
def mlp32(blobs) -> torch.nn.Module:  # noqa: ANN001
    x, y = blobs
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    return _train(net, x.float(), y)
