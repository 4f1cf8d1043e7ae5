"""Saliency check: where in the image each decision comes from, and whether the maps can be trusted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from audit.checks._base import Check
from audit.context import AuditContext
from audit.errors import AuditInputError
from audit.plots.saliency import curves_figure, overlay_grid
from audit.saliency import (
    METHODS,
    BaselineKind,
    FaithfulnessResult,
    SanityResult,
    attribute,
    faithfulness,
    method_label,
    randomization_test,
)
from audit.section import DeferredFigures, Metric, Section
from audit.stats import bootstrap_mean

def select_images(
    y: np.ndarray | None,
    pred: np.ndarray,
    n_classes: int,
    rng: np.random.Generator,
    *,
    max_images: int = 12,
    n_misclassified: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices to show: one correctly classified image per class, some misclassified, filled at random.

    Returns ``(idx, misclassified)``: positions in the data and whether each is misclassified.
    Classes come first; misclassified images get the slots left, at least one when there are
    any. Without labels, one image per predicted class. More classes than slots: a random subset.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1, 2, 2]); pred = np.array([0, 1, 1, 1, 2, 2])
    >>> idx, mis = select_images(y, pred, 3, np.random.default_rng(0), max_images=4, n_misclassified=1)
    >>> len(idx), int(mis.sum()), sorted(y[idx[~mis]].tolist())
    (4, 1, [0, 1, 2])
    """
    n = len(pred)
    labels = pred if y is None else y
    wrong = np.zeros(n, bool) if y is None else y != pred
    mis = np.flatnonzero(wrong)
    classes = np.unique(labels)
    # one image per class comes first; misclassified ones get the slots left (at least one when any exist)
    n_mis = min(n_misclassified, len(mis), max_images, max(max_images - len(classes), 1))
    slots = max_images - n_mis
    if len(classes) > slots:
        classes = np.sort(rng.choice(classes, slots, replace=False))
    chosen: list[int] = []
    for c in classes:
        pool = np.flatnonzero((labels == c) & ~wrong)
        if len(pool) == 0:
            pool = np.flatnonzero(labels == c)
        chosen.append(int(rng.choice(pool)))
    rest = np.setdiff1d(np.flatnonzero(~wrong), chosen)
    extra = min(slots - len(chosen), len(rest))
    if extra > 0:
        chosen += rng.choice(rest, extra, replace=False).tolist()
    if n_mis:
        chosen += rng.choice(np.setdiff1d(mis, chosen), n_mis, replace=False).tolist()
    idx = np.asarray(chosen, dtype=np.int64)
    return idx, wrong[idx]


class SaliencyCheck(Check):
    """Saliency maps (captum) for image models, their faithfulness and a model-randomisation sanity check.

    Parameters
    ----------
    methods : sequence of str
        Any of :data:`audit.saliency.METHODS`.
    max_images : int
        Images in the overlay grid: one correctly classified per class, then misclassified ones.
    n_misclassified : int
        Misclassified images in the grid (when there are any).
    n_eval : int
        Images the faithfulness and sanity numbers are computed on (the grid's plus a seeded
        random sample of the rest).
    steps : int
        Points on each deletion/insertion curve.
    baseline : {"zeros", "blur"} or float
        What deleted pixels become.
    randomize_layers : int
        Top parameterised layers re-initialised, cascading, for the sanity check.
    threshold : float
        Rank correlation above which a method is flagged in the sanity table.
    layer : str, optional
        GradCAM layer (default: the last Conv2d).
    batch_size : int
        Images per attribution batch (halved on out-of-memory).
    """

    name = "saliency"
    requires = ("images", "gradients")
    requirement_reasons: ClassVar[dict[str, str]] = {
        "images": "saliency maps need image data; other models get their attributions from the explanation check",
    }
    title = "Saliency maps"
    task_reasons: ClassVar[dict[str, str]] = {
        "regression": "saliency maps explain an image classifier's class score; this model is a regressor (its "
                      "tabular attributions are in the explanations section)"}
    metric_patterns: ClassVar[tuple[str, ...]] = (
        *(f"saliency.{m}.{k}" for m in (*METHODS, "random") for k in ("deletion_auc", "insertion_auc")),
        *(f"saliency.{m}.{k}" for m in METHODS for k in ("deletion_gain", "insertion_gain", "randomization_rank_corr")),
    )
    metric_docs: ClassVar[dict[str, str]] = {
        "saliency.<method>.deletion_auc": "area under the target-probability curve as the most salient pixels are "
        "removed first (lower = more faithful); <method> 'random' is a random pixel order",
        "saliency.<method>.insertion_auc": "area under the target-probability curve as the most salient pixels are "
        "inserted first into a blank image (higher = more faithful)",
        "saliency.<method>.deletion_gain": "random order's deletion AUC minus the method's (> 0: better than random)",
        "saliency.<method>.insertion_gain": "the method's insertion AUC minus the random order's (> 0: better than random)",
        "saliency.<method>.randomization_rank_corr": "Spearman rank correlation between maps of the model and of a "
        "copy with its top layers re-initialised (high = the map ignores what the model learned)",
    }
    default_policy: ClassVar[dict[str, dict]] = {
        "saliency.*.randomization_rank_corr": {"max": 0.5, "severity": "warn"},
        "saliency.*.deletion_gain": {"min": 0.0, "severity": "warn"},
    }

    def __init__(
        self,
        *,
        methods: Sequence[str] = METHODS,
        max_images: int = 14,
        n_misclassified: int = 3,
        n_eval: int = 64,
        steps: int = 16,
        baseline: BaselineKind = "zeros",
        randomize_layers: int = 2,
        threshold: float = 0.5,
        layer: str | None = None,
        batch_size: int = 64,
    ) -> None:
        self.methods = tuple(methods)
        self.max_images = max_images
        self.n_misclassified = n_misclassified
        self.n_eval = n_eval
        self.steps = steps
        self.baseline = baseline
        self.randomize_layers = randomize_layers
        self.threshold = threshold
        self.layer = layer
        self.batch_size = batch_size

    def row_budget(self, ctx: AuditContext, section: Section) -> str | None:
        return None  # run() states it, with the images it drew

    def run(self, ctx: AuditContext) -> Section:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise AuditInputError(f"SaliencyCheck(methods=...): unknown {bad}; valid methods are {list(METHODS)}")
        rng = ctx.rng(self.name)
        seed = ctx.torch_seed(self.name)
        shown, mis = select_images(
            ctx.y, ctx.pred, ctx.n_classes, rng, max_images=self.max_images, n_misclassified=self.n_misclassified
        )
        others = np.setdiff1d(np.arange(len(ctx.pred)), shown)
        n_more = max(0, min(self.n_eval - len(shown), len(others)))
        idx = np.concatenate([shown, np.sort(rng.choice(others, n_more, replace=False))]).astype(np.int64)
        x = ctx.x_tensor[idx]
        target = ctx.pred[idx].astype(np.int64)
        opts = {"methods": self.methods, "layer": self.layer, "batch_size": self.batch_size, "seed": seed}
        maps = attribute(ctx.model, x, target, **opts)
        faith = faithfulness(ctx.model, x, maps, steps=self.steps, baseline=self.baseline, seed=seed)
        sanity = randomization_test(
            ctx.model, x, layers=self.randomize_layers, threshold=self.threshold, original=maps, **opts
        )

        metrics = self._metrics(faith, sanity, rng)
        names = maps.methods
        faith_table = faith.auc.rename(index=method_label)
        sanity_table = sanity.correlations.copy()
        sanity_table["flagged"] = sanity_table["flagged"].map({True: "yes", False: "no"})
        sanity_table = sanity_table.rename(index=method_label)

        classes = [str(c) for c in ctx.classes]
        titles = [
            f"y={classes[ctx.y[i]]} pred={classes[ctx.pred[i]]}" if ctx.y is not None else f"pred={classes[ctx.pred[i]]}"
            for i in shown
        ]
        k = len(shown)
        grid_maps = type(maps)(
            maps={m: v[:k] for m, v in maps.maps.items()}, raw={}, target=maps.target[:k], layer=maps.layer
        )
        images = x[:k].detach().cpu().numpy()
        figures = DeferredFigures(lambda: [overlay_grid(images, grid_maps, titles, highlight=mis.tolist()),
                                           curves_figure(faith)])

        notes = list(maps.notes) + list(sanity.notes)
        notes.append(f"Row budget: {len(idx):,} of {len(ctx.pred):,} images (n_eval={self.n_eval}: {k} shown, misclassified "
                     "ones first, the rest a seeded sample; each costs a forward and backward pass per method, deletion "
                     "step and randomised layer).")
        if maps.layer is not None:
            notes.append(f"GradCAM uses layer {maps.layer!r} (the last Conv2d unless layer= names another).")
        if "integrated_gradients" in sanity.flagged:
            notes.append(
                "Integrated gradients with a zero baseline multiplies by the input, so its absolute map follows the "
                "image itself (Adebayo et al. 2018 saw the same); its signed maps do change (see rank_corr_signed)."
            )
        best = faith.auc.drop(index="random")["deletion_auc"].idxmin()
        summary = (
            f"Maps by {len(names)} method(s) for the predicted class of {len(idx)} images ({k} shown). "
            f"Most faithful: {method_label(best)} (deletion AUC {faith.auc.loc[best, 'deletion_auc']:.3f} vs "
            f"{faith.auc.loc['random', 'deletion_auc']:.3f} for a random order)."
        )
        flagged = sanity.flagged
        if flagged:
            summary += (
                f" With the top {len(sanity.layers)} layer(s) randomised, the maps of "
                f"{', '.join(method_label(m) for m in flagged)} barely change (rank correlation > {self.threshold:g}): "
                "they follow the image more than what the model learned."
            )
        else:
            summary += f" Every method's maps change when the top {len(sanity.layers)} layer(s) are randomised."
        return Section(
            check=self.name,
            title=self.title,
            summary=summary,
            metrics=metrics,
            tables={
                "Faithfulness (deletion / insertion AUC)": faith_table,
                "Sanity: rank correlation with a randomised model": sanity_table,
            },
            figures=figures,
            notes=notes,
        )

    def _metrics(self, faith: FaithfulnessResult, sanity: SanityResult, rng: np.random.Generator) -> list[Metric]:
        per = faith.per_image
        wide_del = per.pivot(index="image", columns="method", values="deletion_auc")
        wide_ins = per.pivot(index="image", columns="method", values="insertion_auc")
        out: list[Metric] = []
        for m in faith.auc.index:
            for kind, wide, hib in (("deletion_auc", wide_del, False), ("insertion_auc", wide_ins, True)):
                v, lo, hi = bootstrap_mean(wide[m].to_numpy(), rng)
                out.append(Metric(f"saliency.{m}.{kind}", v, lo, hi, higher_is_better=hib))
            if m == "random":
                continue
            for kind, diff in (
                ("deletion_gain", wide_del["random"] - wide_del[m]),
                ("insertion_gain", wide_ins[m] - wide_ins["random"]),
            ):
                v, lo, hi = bootstrap_mean(diff.to_numpy(), rng)
                out.append(Metric(f"saliency.{m}.{kind}", v, lo, hi, higher_is_better=True, description="vs a random pixel order"))
        pi = sanity.per_image
        last = pi[pi["stage"] == pi["stage"].iloc[-1]]
        for m in sanity.correlations.index:
            v, lo, hi = bootstrap_mean(last.loc[last["method"] == m, "rank_corr_abs"].to_numpy(), rng)
            out.append(
                Metric(
                    f"saliency.{m}.randomization_rank_corr", v, lo, hi, higher_is_better=False,
                    description=f"top {len(sanity.layers)} layer(s) re-initialised",
                )
            )
        return out

