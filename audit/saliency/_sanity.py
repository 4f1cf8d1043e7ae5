"""Model-randomisation sanity check (Adebayo et al. 2018): do the maps depend on the learned weights?"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from audit.errors import AuditInputError
from audit.model import ModelAdapter
from audit.saliency._attribute import METHODS, MethodSpec, SaliencyResult, attribute
from audit.saliency._common import as_adapter, as_images, resolve_targets


@dataclass
class SanityResult:
    """How much each method's maps change when the top layers get random weights.

    Attributes
    ----------
    correlations : DataFrame
        Index ``method``; one column per cascade stage (``"randomised: fc2"``,
        ``"randomised: fc2, fc1"``, ...) with the mean Spearman rank correlation between original
        and randomised maps (of absolute values when ``absolute``), then ``rank_corr`` (the last
        stage), the other measure at the last stage (``rank_corr_signed`` or ``rank_corr_abs``)
        and ``flagged`` (``rank_corr`` above ``threshold``: the maps barely depend on the weights).
    per_image : DataFrame
        ``image, method, stage, rank_corr_abs, rank_corr_signed`` (NaN where a map is constant).
    layers : list of str
        The re-initialised layers, top first.
    threshold : float
    randomized : SaliencyResult
        The maps of the fully randomised model (last stage).
    notes : list of str
    """

    correlations: pd.DataFrame
    per_image: pd.DataFrame
    layers: list[str]
    threshold: float
    randomized: SaliencyResult
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> list[str]:
        """Methods whose maps barely change under randomisation."""
        return [m for m, f in self.correlations["flagged"].items() if f]


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation between ``a[i]`` and ``b[i]`` (flattened) for each i; NaN when one is constant.

    Examples
    --------
    >>> import numpy as np
    >>> rank_correlation(np.array([[1, 2, 3], [1, 1, 1]]), np.array([[10, 30, 20], [1, 2, 3]]))
    array([0.5, nan])
    """
    fa = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    fb = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    ra = rankdata(fa, axis=1)
    rb = rankdata(fb, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    num = (ra * rb).sum(axis=1)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    return np.divide(num, den, out=np.full(len(fa), np.nan), where=den > 0)


def _mean(corr: np.ndarray) -> float:
    return float(np.nanmean(corr)) if np.isfinite(corr).any() else float("nan")


def randomizable_layers(module: torch.nn.Module) -> list[str]:
    """Names of the submodules that own parameters directly, in registration (roughly forward) order."""
    return [name for name, m in module.named_modules() if name and any(True for _ in m.parameters(recurse=False))]


def _reinit(layer: torch.nn.Module, seed: int) -> None:
    """Random weights for ``layer``: its own ``reset_parameters`` when it has one, else normal with each
    parameter's std.

    The numbers are drawn on the CPU from a generator seeded with ``seed`` and copied to the layer's
    device: drawn on CUDA (as ``reset_parameters`` does for a layer living there) they differ from the
    CPU's for the same seed, and the sanity check would give other correlations on a GPU machine.
    """
    params = list(layer.parameters(recurse=False))
    on_cpu = all(p.device.type == "cpu" for p in params)
    if on_cpu:
        work = layer
    else:
        with warnings.catch_warnings():  # moving a TorchScript copy reads .grad of non-leaf tensors: harmless
            warnings.filterwarnings("ignore", message="The .grad attribute of a Tensor that is not a leaf")
            work = copy.deepcopy(layer).cpu()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.random.default_generator.manual_seed(int(seed))  # what reset_parameters and normal_ draw from here
        if hasattr(work, "reset_parameters"):
            work.reset_parameters()
        else:
            for p in work.parameters(recurse=False):
                p.normal_(0.0, float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 0.01)
        if not on_cpu:  # back to the device, in place: the model copy keeps its parameter objects
            for p, q in zip(params, work.parameters(recurse=False)):
                p.copy_(q)
            for b, c in zip(layer.buffers(recurse=False), work.buffers(recurse=False)):  # e.g. BatchNorm's statistics
                b.copy_(c)


def randomization_test(
    model: Any,
    images: Any,
    target: Any = None,
    *,
    methods: Sequence[MethodSpec] = METHODS,
    layers: int | Sequence[str] = 2,
    threshold: float = 0.5,
    absolute: bool = True,
    original: SaliencyResult | None = None,
    layer: str | torch.nn.Module | None = None,
    attribute_options: Mapping[str, Any] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> SanityResult:
    """Re-initialise the top layers of a copy of the model, cascading down, and compare the maps.

    A map that explains the model must change when the learned weights are replaced by random
    ones; a map that stays the same (high rank correlation) reflects the input or the
    architecture, not what the model learned. Adebayo et al. 2018, "Sanity Checks for Saliency
    Maps", https://arxiv.org/abs/1810.03292. The model itself is never modified.

    Parameters
    ----------
    model : torch.nn.Module or audit.ModelAdapter
    images : array or tensor (n, c, h, w)
    target : None, int or n ints
        Class explained; None takes ``original.target`` or the original model's prediction.
        The randomised model explains the same classes.
    methods : sequence of str or (name, function)
        As in :func:`attribute`.
    layers : int or list of str
        How many parameterised layers to re-initialise from the top (one more per stage), or
        their names, top first.
    threshold : float
        A method is flagged when its rank correlation at the last stage exceeds this.
    absolute : bool
        Compare absolute values of the maps (a sign flip alone does not count as a change).
    original : SaliencyResult, optional
        Maps already computed on the original model for ``images`` (saves one pass).
    layer : str or torch.nn.Module, optional
        GradCAM layer of ``model`` (default: the last Conv2d); the copy uses the layer of the same name.
    attribute_options : dict, optional
        Extra keyword arguments for :func:`attribute` (``ig_steps``, ``smoothgrad_samples``, ...).
    seed : int
        Seeds the random weights and SmoothGrad noise.
    batch_size : int
    device : str or torch.device, optional

    Returns
    -------
    SanityResult

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> res = randomization_test(net, torch.rand(4, 1, 4, 4), methods=["saliency"], layers=1)
    >>> res.layers
    ['3']
    """
    adapter = as_adapter(model, device)
    dev = adapter.device
    x = as_images(images)
    opts = dict(attribute_options or {})
    common = {"methods": methods, "layer": layer, "batch_size": batch_size, "seed": seed, **opts}
    if original is None:
        original = attribute(adapter, x, target, **common)
    elif len(original.target) != x.shape[0]:
        raise AuditInputError(f"original has maps for {len(original.target)} images but images has {x.shape[0]}")
    targets = original.target if target is None else resolve_targets(adapter, x, target, batch_size)
    if original.layer is not None:
        common["layer"] = original.layer  # by name: the same layer of the randomised copy
    candidates = randomizable_layers(adapter.module)
    if isinstance(layers, int):
        if layers < 1:
            raise AuditInputError(f"layers must be >= 1 or a list of layer names, got {layers}")
        names = candidates[::-1][:layers]
    else:
        names = [str(s) for s in layers]
        unknown = [s for s in names if s not in candidates]
        if unknown:
            raise AuditInputError(f"layers: {unknown} are not parameterised layers of the model; they are {candidates}")
    if not names:
        raise AuditInputError("the model has no parameterised layers to randomise")

    clone = copy.deepcopy(adapter.module)
    rand_adapter = ModelAdapter(clone, transform=adapter.transform, output=adapter.output, device=dev)
    rows: list[pd.DataFrame] = []
    table: dict[str, dict[str, float]] = {}
    randomized: SaliencyResult | None = None
    stage_labels: list[str] = []
    other = "rank_corr_signed" if absolute else "rank_corr_abs"
    for k, name in enumerate(names):
        _reinit(dict(clone.named_modules())[name], seed + 7919 * (k + 1))  # not get_submodule(): TorchScript lacks it
        label = "randomised: " + ", ".join(names[: k + 1])
        stage_labels.append(label)
        randomized = attribute(rand_adapter, x, targets, **common)
        for m in randomized.methods:
            a, b = original.maps[m], randomized.maps[m]
            c_abs, c_signed = rank_correlation(np.abs(a), np.abs(b)), rank_correlation(a, b)
            corr = c_abs if absolute else c_signed
            rows.append(
                pd.DataFrame(
                    {"image": np.arange(len(corr)), "method": m, "stage": label, "rank_corr_abs": c_abs, "rank_corr_signed": c_signed}
                )
            )
            entry = table.setdefault(m, {})
            entry[label] = _mean(corr)
            entry[other] = _mean(c_signed if absolute else c_abs)
    assert randomized is not None
    corr_df = pd.DataFrame.from_dict(table, orient="index").rename_axis("method")
    corr_df["rank_corr"] = corr_df[stage_labels[-1]]
    corr_df = corr_df[[*stage_labels, "rank_corr", other]]
    corr_df["flagged"] = corr_df["rank_corr"] > threshold
    per_image = pd.concat(rows, ignore_index=True)
    notes = []
    n_nan = int(per_image["rank_corr_abs" if absolute else "rank_corr_signed"].isna().sum())
    if n_nan:
        notes.append(f"{n_nan} map pair(s) had a constant map; their rank correlation is undefined and left out of the means.")
    return SanityResult(correlations=corr_df, per_image=per_image, layers=names, threshold=threshold, randomized=randomized, notes=notes)
