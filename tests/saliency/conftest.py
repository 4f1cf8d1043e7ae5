"""Fixtures for the saliency tests: a hand-checkable linear image model and a quickly trained digits CNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.models.digits import train_digits_cnn


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are tiny: one torch thread is fastest, above all on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def linear_image_net() -> torch.nn.Sequential:
    """Flatten + Linear(16, 3) on 1x4x4 images with fixed, distinct weights."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        net[1].weight.copy_(torch.linspace(-2.0, 2.5, 48).reshape(3, 16)[:, torch.randperm(16)])
        net[1].bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    return net.eval()


@pytest.fixture
def small_images() -> torch.Tensor:
    return torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def digits() -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
    """A digits CNN trained for a few epochs (accuracy ~0.95), with 48 test images and labels."""
    model, X_test, y_test, _, _ = train_digits_cnn(seed=0, epochs=4)
    return model, X_test[:48], y_test[:48]
