"""A small torch MLP trained on COMPAS in a couple of seconds on a CPU (no leakage columns, no race)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from audit.datasets import load_compas
from audit.transforms import TabularEncoder

#: the model sees these columns; race is left out on purpose so the audit can show its proxies
COMPAS_MODEL_FEATURES = [
    "sex", "age", "age_cat", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count", "c_charge_degree",
]


@dataclass
class TrainedTabular:
    """A trained model with its encoder and the train/test frames it was fit and held out on."""

    model: torch.nn.Module
    transform: TabularEncoder
    train: pd.DataFrame
    test: pd.DataFrame
    target: str
    sensitive: list[str]
    #: per-epoch ``train_loss``/``val_loss``/``train_accuracy``/``val_accuracy``; "val" is the held-out test
    #: split, watched only (nothing is selected or stopped on it), for ``audit(..., history=...)``
    history: pd.DataFrame | None = None


def split_frame(frame: pd.DataFrame, *, test_size: float = 0.3, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded random split into (train, test)."""
    idx = np.random.default_rng(seed).permutation(len(frame))
    n_test = int(round(len(frame) * test_size))
    return frame.iloc[idx[n_test:]].reset_index(drop=True), frame.iloc[idx[:n_test]].reset_index(drop=True)


def mlp(n_in: int, hidden: tuple[int, ...] = (64, 64), n_out: int = 2) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for h in hidden:
        layers += [torch.nn.Linear(n_in, h), torch.nn.ReLU()]
        n_in = h
    layers.append(torch.nn.Linear(n_in, n_out))
    return torch.nn.Sequential(*layers)


def train_compas_mlp(*, seed: int = 0, epochs: int = 40, hidden: tuple[int, ...] = (64, 64)) -> TrainedTabular:
    """Train a 2-class MLP on COMPAS ``two_year_recid``; deterministic for a seed.

    Examples
    --------
    >>> t = train_compas_mlp(epochs=5)
    >>> t.model(t.transform(t.test)).shape[1]
    2
    """
    d = load_compas()
    train, test = split_frame(d.frame, seed=seed)
    enc = TabularEncoder(columns=COMPAS_MODEL_FEATURES).fit(train)
    torch.manual_seed(seed)
    net = mlp(len(enc.feature_names_out), hidden)
    x = enc(train)
    y = torch.as_tensor(train[d.target].to_numpy().copy(), dtype=torch.long)
    xv = enc(test)
    yv = torch.as_tensor(test[d.target].to_numpy().copy(), dtype=torch.long)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: one thread is faster than contending for two
    try:
        history = _fit(net, opt, x, y, epochs, gen, xv, yv)
    finally:
        torch.set_num_threads(threads)
    net.eval()
    return TrainedTabular(model=net, transform=enc, train=train, test=test, target=d.target, sensitive=["race", "sex"],
                          history=history)


def _fit(net, opt, x, y, epochs, gen, xv, yv) -> pd.DataFrame:
    rows = []
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        for b in range(0, len(x), 512):
            i = perm[b : b + 512]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[i]), y[i])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            out, out_v = net(x), net(xv)
            rows.append({
                "train_loss": float(torch.nn.functional.cross_entropy(out, y)),
                "val_loss": float(torch.nn.functional.cross_entropy(out_v, yv)),
                "train_accuracy": float((out.argmax(1) == y).double().mean()),
                "val_accuracy": float((out_v.argmax(1) == yv).double().mean()),
            })
    return pd.DataFrame(rows, index=pd.RangeIndex(1, epochs + 1, name="epoch"))


def load_model() -> torch.nn.Module:
    """Factory for ``audit run``: the COMPAS MLP with its encoder folded in (takes a DataFrame)."""
    t = train_compas_mlp()
    return DataFrameModule(t.model, t.transform)


class DataFrameModule(torch.nn.Module):
    """A torch module plus its encoder; ``audit`` reads ``.transform`` to feed it DataFrames."""

    def __init__(self, net: torch.nn.Module, transform: TabularEncoder) -> None:
        super().__init__()
        self.net = net
        self.transform = transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
