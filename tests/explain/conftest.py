"""Independent brute-force Shapley reference and tiny models shared by the explain tests (as fixtures)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch


def brute_force_shapley(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Interventional Shapley values by the textbook formula: every coalition, every background row.

    phi_j(x) = sum_{S subset N \\ {j}} |S|! (d-|S|-1)! / d! * (v(S u {j}) - v(S)),
    v(S) = mean_b f(x_S, b_rest). Returns (n, d, K).
    """
    n, d = x.shape
    out = None
    for i in range(n):
        cache: dict[tuple[int, ...], np.ndarray] = {}

        def v(S: tuple[int, ...]) -> np.ndarray:
            key = tuple(sorted(S))
            if key not in cache:
                z = bg.copy()
                z[:, list(key)] = x[i, list(key)]
                cache[key] = np.asarray(f(z), dtype=np.float64).mean(axis=0)
            return cache[key]

        for j in range(d):
            others = [q for q in range(d) if q != j]
            total = 0.0
            for r in range(d):
                w = math.factorial(r) * math.factorial(d - r - 1) / math.factorial(d)
                for S in itertools.combinations(others, r):
                    total = total + w * (v(S + (j,)) - v(S))
            if out is None:
                out = np.zeros((n, d, len(total)))
            out[i, j] = total
    assert out is not None
    return out


@pytest.fixture
def brute_force() -> Callable[..., np.ndarray]:
    """The textbook Shapley computation below, for tests to compare against."""
    return brute_force_shapley


@pytest.fixture
def small_mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    net.eval()
    return net


@pytest.fixture
def mixed_data() -> tuple[np.ndarray, np.ndarray]:
    """Rows to explain and background with some shared (discrete) values, so null players occur."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    bg = rng.normal(size=(8, 5)).astype(np.float32)
    x[:, 3] = rng.integers(0, 2, 6)
    bg[:, 3] = rng.integers(0, 2, 8)
    x[:, 4] = bg[0, 4]
    bg[::2, 4] = bg[0, 4]
    return x, bg
