"""Which inputs an attack may change, by how much, and within which range.

Tabular data: each model-input feature is clipped to its observed range, ``eps`` is measured in
its standard deviation, and features of sensitive, immutable or categorical (one-hot) columns are
frozen so adversarial rows stay valid rows. Images: pixels stay in [0, 1] when the data is there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch

from audit._inputs import to_numpy
from audit.errors import AuditInputError

#: why a feature is frozen, in the order reasons are looked up
REASONS = ("sensitive", "immutable", "categorical", "binary", "constant")


@dataclass
class Constraints:
    """Bounds, mask and eps units for attacking one data set in model-input space.

    Attributes
    ----------
    bounds : (Tensor, Tensor) or None
        Per-feature (or scalar) low and high values attacks clip to.
    mask : Tensor or None
        Per-feature 1 (may change) / 0 (frozen); None: every feature may change.
    scale : Tensor or None
        Per-feature unit of ``eps`` (standard deviation for tabular data); None: raw units.
    features : DataFrame
        Tabular only: one row per model-input feature with its source ``column``, ``perturbed``,
        ``reason`` it is frozen (empty when perturbed), ``low``, ``high`` and ``std``.
    mapping : {"encoder", "columns", "positional", "none", "image"}
        How data columns were matched to model inputs.
    notes : list of str
    """

    bounds: tuple[torch.Tensor, torch.Tensor] | None
    mask: torch.Tensor | None
    scale: torch.Tensor | None
    features: pd.DataFrame = field(default_factory=pd.DataFrame)
    mapping: str = "none"
    notes: list[str] = field(default_factory=list)

    @property
    def frozen_columns(self) -> dict[str, str]:
        """Data column -> why it is never perturbed (every model input of that column is frozen)."""
        if self.features.empty:
            return {}
        out: dict[str, str] = {}
        for col, g in self.features.groupby("column", sort=False):
            if not g["perturbed"].any():
                out[str(col)] = ", ".join(sorted({r for r in g["reason"] if r}))
        return out


def _names_out(transform: Any) -> list[str] | None:
    names = getattr(transform, "feature_names_out", None)
    if names is None and callable(getattr(transform, "get_feature_names_out", None)):
        try:
            names = transform.get_feature_names_out()
        except Exception:  # noqa: BLE001 - an unfitted or odd transform simply has no names
            names = None
    return None if names is None else [str(n) for n in names]


def _map_features(
    d: int, transform: Any, columns: Sequence[str]
) -> tuple[list[str | None], dict[str, list[int]], str, list[str]]:
    """Model-input feature -> data column, categorical blocks, how it was mapped, notes."""
    groups = getattr(transform, "groups", None)
    if isinstance(groups, Mapping) and sum(len(v) for v in groups.values()) == d:
        owner: list[str | None] = [None] * d
        for col, idx in groups.items():
            for i in idx:
                owner[int(i)] = str(col)
        cat = {str(k): [int(i) for i in v] for k, v in (getattr(transform, "categorical_groups", None) or {}).items()}
        return owner, cat, "encoder", []
    cols = [str(c) for c in columns]
    if transform is None and len(cols) == d:
        return list(cols), {}, "columns", []
    if transform is not None and len(cols) == d:
        names = _names_out(transform)
        if names == cols:
            return list(cols), {}, "columns", []
        return list(cols), {}, "positional", [
            f"The model's transform is not an audit.transforms.TabularEncoder; its {d} outputs were matched to the "
            "data columns by position to keep sensitive, immutable and categorical columns fixed."
        ]
    return [None] * d, {}, "none", [
        f"The model input has {d} features but the data has {len(cols)} columns and the transform does not say "
        "which input comes from which column (use audit.transforms.TabularEncoder or a fitted ColumnTransformer): every input may be perturbed, "
        "including ones derived from sensitive, immutable or categorical columns."
    ]


def _nan_stats(xd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-feature min, max and (population) std over the observed cells, ignoring NaN; a feature with no
    observed cell gets 0, 0, 0 (constant: frozen)."""
    seen = ~torch.isnan(xd)
    n = seen.sum(dim=0).clamp_min(1).double()
    lo = torch.where(seen, xd, torch.full_like(xd, torch.inf)).min(dim=0).values
    hi = torch.where(seen, xd, torch.full_like(xd, -torch.inf)).max(dim=0).values
    filled = torch.where(seen, xd, torch.zeros_like(xd))
    mean = filled.sum(dim=0) / n
    var = (torch.where(seen, xd - mean, torch.zeros_like(xd)) ** 2).sum(dim=0) / n
    empty = ~seen.any(dim=0)
    zero = torch.zeros_like(mean)
    return torch.where(empty, zero, lo), torch.where(empty, zero, hi), torch.where(empty, zero, var.sqrt())


def tabular_constraints(
    x: torch.Tensor,
    *,
    columns: Sequence[str] = (),
    transform: Any = None,
    sensitive: Sequence[str] = (),
    immutable: Sequence[str] = (),
    categorical: Sequence[str] = (),
    freeze_binary: bool = True,
) -> Constraints:
    """Bounds, mask and per-feature std for attacking tabular model inputs ``x`` (rows x features).

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Model inputs (after the transform), on any device: bounds and standard deviations are
        observed here (on the CPU, in float64).
    columns : list of str
        The data's feature columns (before the transform).
    transform : object, optional
        The model's transform. With ``groups`` (and ``categorical_groups``), as
        :class:`audit.transforms.TabularEncoder` has, inputs are mapped to their columns exactly;
        without a transform (or with one of the same width) columns map to inputs one to one.
    sensitive, immutable : list of str
        Columns never perturbed.
    categorical : list of str
        Categorical columns (left untouched; one-hot blocks of the encoder are too).
    freeze_binary : bool
        Also freeze inputs that only take two values (0/1 indicators): perturbing them makes invalid rows.

    Returns
    -------
    Constraints
        ``bounds``, ``mask`` and ``scale`` are CPU tensors of ``x``'s dtype.

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.transforms import TabularEncoder
    >>> df = pd.DataFrame({"age": [20.0, 30.0, 50.0], "sex": ["F", "M", "F"], "priors": [0.0, 2.0, 5.0]})
    >>> enc = TabularEncoder().fit(df)
    >>> c = tabular_constraints(enc(df), columns=list(df.columns), transform=enc, sensitive=["sex"])
    >>> c.mask.tolist()
    [1.0, 0.0, 0.0, 1.0]
    >>> c.frozen_columns
    {'sex': 'sensitive, categorical'}
    """
    if x.ndim != 2:
        raise AuditInputError(f"tabular_constraints needs model inputs of shape (rows, features), got {tuple(x.shape)}")
    # Statistics on the CPU in float64: the inputs may live on CUDA or MPS (which has no float64), and the
    # feature table is numpy. The returned bounds/mask/scale are CPU tensors; the attacks move them to the
    # model's device.
    xd = x.detach().cpu().double()
    d = x.shape[1]
    lo, hi, std = _nan_stats(xd)  # missing cells (NaN) stay fixed under attack and take no part in the ranges
    owner, cat_groups, mapping, notes = _map_features(d, transform, columns)
    reasons: list[set[str]] = [set() for _ in range(d)]
    for i, col in enumerate(owner):
        if col is None:
            continue
        if col in {str(s) for s in sensitive}:
            reasons[i].add("sensitive")
        if col in {str(s) for s in immutable}:
            reasons[i].add("immutable")
        if col in {str(s) for s in categorical}:
            reasons[i].add("categorical")
    for idx in cat_groups.values():
        for i in idx:
            reasons[i].add("categorical")
    if freeze_binary:
        for i in range(d):
            if not reasons[i] and torch.unique(xd[:, i][~torch.isnan(xd[:, i])]).numel() == 2:
                reasons[i].add("binary")
    for i in range(d):
        if float(std[i]) == 0.0:
            reasons[i].add("constant")
    mask = torch.tensor([0.0 if r else 1.0 for r in reasons], dtype=torch.float64)
    if mapping != "none":
        for c in sensitive:
            if str(c) not in owner:
                notes.append(f"Sensitive column {c!r} is not a model input, so attacks cannot change it.")
    features = pd.DataFrame(
        {
            "feature": [str(n) for n in (_names_out(transform) or [])][:d] or [f"x{i}" if o is None else o for i, o in enumerate(owner)],
            "column": [o if o is not None else "" for o in owner],
            "perturbed": to_numpy(mask) == 1.0,
            "reason": [", ".join(r for r in REASONS if r in rs) for rs in reasons],
            "low": to_numpy(lo),
            "high": to_numpy(hi),
            "std": to_numpy(std),
        }
    )
    if len(features["feature"]) != d:  # pragma: no cover - names of the wrong length fall back to indices
        features["feature"] = [f"x{i}" for i in range(d)]
    n_bin = sum("binary" in r for r in reasons)
    if n_bin:
        notes.append(f"{n_bin} input(s) take only two values (0/1 indicators) and are left unchanged so rows stay valid.")
    dt = x.dtype
    return Constraints(
        bounds=(lo.to(dt), hi.to(dt)), mask=mask.to(dt), scale=std.to(dt), features=features, mapping=mapping, notes=notes
    )


def image_constraints(x: torch.Tensor) -> Constraints:
    """Pixels clip to [0, 1] when every input lies there, else to the observed range (with a note).

    Examples
    --------
    >>> import torch
    >>> image_constraints(torch.rand(2, 1, 4, 4)).bounds
    (tensor(0.), tensor(1.))
    """
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0 and hi <= 1.0:
        return Constraints(bounds=(torch.tensor(0.0), torch.tensor(1.0)), mask=None, scale=None, mapping="image")
    note = (
        f"Image inputs lie in [{lo:.3g}, {hi:.3g}], not [0, 1]: attacks clip to that observed range and eps is in "
        "the model's input units, not pixels."
    )
    return Constraints(bounds=(torch.tensor(lo), torch.tensor(hi)), mask=None, scale=None, mapping="image", notes=[note])
