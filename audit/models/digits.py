"""A small torch CNN trained on scikit-learn's 8x8 digits in a few seconds on a CPU."""

from __future__ import annotations

import numpy as np
import torch

from audit.datasets import load_digits


def digits_cnn(n_classes: int = 10) -> torch.nn.Sequential:
    """Two 3x3 conv layers (8x8 feature maps, so GradCAM keeps full resolution), a max-pool and two dense layers."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, n_classes),
    )


def split_digits(*, test_size: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded stratified split of the bundled digits into ``(X_train, y_train, X_test, y_test)``."""
    from sklearn.model_selection import train_test_split

    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    return X_train, y_train, X_test, y_test


def train_digits_cnn(
    seed: int = 0, epochs: int = 15, *, batch_size: int = 64, lr: float = 3e-3, num_threads: int | None = 1
) -> tuple[torch.nn.Module, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train :func:`digits_cnn` on 70% of the digits; deterministic for a seed.

    ``num_threads`` caps torch's CPU threads while training (restored after): this model is so
    small that one thread is fastest, and much faster on a busy machine. None leaves it alone.

    Returns
    -------
    model, X_test, y_test, X_train, y_train
        The trained module in eval mode (returns logits) and float32 images ``(n, 1, 8, 8)`` in
        [0, 1] with int labels.

    Examples
    --------
    >>> model, X_test, y_test, X_train, y_train = train_digits_cnn(epochs=2)
    >>> model(torch.as_tensor(X_test[:3])).shape
    torch.Size([3, 10])
    """
    X_train, y_train, X_test, y_test = split_digits(seed=seed)
    torch.manual_seed(seed)
    net = digits_cnn()
    x = torch.as_tensor(X_train)
    y = torch.as_tensor(y_train)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        net.train()
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=gen)
            for b in range(0, len(x), batch_size):
                i = perm[b : b + batch_size]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(x[i]), y[i])
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    net.eval()
    return net, X_test, y_test, X_train, y_train


def load_model() -> torch.nn.Module:
    """Factory for ``audit run``: the digits CNN trained with the default seed."""
    return train_digits_cnn()[0]
