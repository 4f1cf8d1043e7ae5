"""Adversarial robustness check: FGSM and PGD accuracy against eps, per sensitive group, within valid inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import torch

from audit._inputs import to_numpy
from audit.checks import _robustness_text as text
from audit.checks._base import Check
from audit.checks._robustness_parts import gap_text, inputs_table
from audit.checks._robustness_regression import REGRESSION_DOCS, REGRESSION_PATTERNS, regression_blackbox, regression_gradient
from audit.context import AuditContext
from audit.errors import AuditInputError
from audit.plots.robustness import accuracy_vs_eps
from audit.plots.robustness import adversarial_examples as draw_examples
from audit.robustness import (
    NORM_LABELS,
    Constraints,
    GroupRobustness,
    RobustnessCurve,
    adversarial_examples,
    attack_label,
    group_robustness,
    image_constraints,
    random_search_curve,
    robustness_curve,
    tabular_constraints,
)
from audit.section import DeferredFigures, Metric, Section, metric_parts
from audit.stats import wilson_interval

IMAGE_EPS = (0.01, 0.03, 0.1)
TABULAR_EPS = (0.05, 0.1, 0.25, 0.5)
_ATTACKS = ("fgsm", "pgd")
_NORMS = ("linf", "l2")
#: models without input gradients (trees, Pipelines, callables) get the score-based black-box attack
_BLACKBOX = "random_search"


def _fmt(eps: float) -> str:
    return f"{eps:g}"


@dataclass
class RobustnessSection(Section):
    """The robustness section plus the typed results behind its tables.

    ``curves`` holds one :class:`~audit.robustness.RobustnessCurve` per attack (with ``x_adv`` per
    eps for the attacked rows ``rows``), ``constraints`` the bounds/mask/scale used, ``groups``
    the per-group breakdown (None without sensitive columns).
    """

    curves: list[RobustnessCurve] = field(default_factory=list)
    constraints: Constraints | None = None
    groups: GroupRobustness | None = None
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class RobustnessCheck(Check):
    """How small input changes flip the model's decisions, for whom, and how that grows with eps.

    A regressor has no decision to flip: the attacks maximise its squared error against the true target, and the
    section reports its robust MAE and RMSE at each eps, per group with the gap between groups (target units).

    Runs an epsilon sweep of FGSM and PGD on (a seeded subsample of) the labelled data, inside the
    valid input range: images stay in [0, 1] and eps is in pixel units; tabular inputs stay in
    each feature's observed range, eps is in each feature's standard deviation, and sensitive,
    immutable (the audit-wide ``immutable`` option) and categorical inputs never change.

    Parameters
    ----------
    eps : sequence of float, optional
        Radii to sweep; default (0.01, 0.03, 0.1) for images, (0.05, 0.1, 0.25, 0.5) for tabular data.
    attacks : sequence of {"fgsm", "pgd"}
    norm : {"linf", "l2"}
    steps : int
        PGD steps.
    step_size : float, optional
        PGD step in eps units; default ``2.5 * eps / steps``.
    random_start : bool
        PGD starts from a seeded random point of the ball (a regressor's PGD starts from the clean input too and
        keeps the worse of the two: :func:`audit.robustness.regression_curve`).
    restarts : int
    max_rows : int
        Rows attacked at most (seeded subsample beyond that).
    min_group_size : int, optional
        Groups smaller than this are left out of the gap; default the audit-wide ``min_group_size`` (30 unless set).
    n_examples : int
        Clean / adversarial / difference triplets shown for images.
    n_boot : int
        Bootstrap resamples and label permutations for the group gap. The gated gap is bias-corrected, its
        interval bounds every pairwise contrast from Wilson bounds per group (so it covers a gap of 0), and
        its description quotes the plug-in max - min and the permutation p-value; the gate fails only when
        the interval lies above the threshold (the gap rule).
    batch_size : int, optional
        Rows per batch (default automatic, halved on out-of-memory).
    queries : int
        Black-box attack only (models without input gradients): model evaluations per row and eps.
    max_rows_blackbox : int
        Black-box attack only: rows attacked at most (it costs ``queries`` model calls per row); a text model's
        word-substitution attack takes a quarter of it.
    """

    name = "robustness"
    requires = ("labels", "model")
    title = "Adversarial robustness"
    tasks = ("binary", "multiclass", "regression")
    metric_patterns: ClassVar[tuple[str, ...]] = tuple(
        p
        for a in _ATTACKS
        for n in _NORMS
        for p in (
            f"robustness.{a}.{n}.accuracy@<eps>",
            f"robustness.{a}.{n}.attack_success_rate@<eps>",
            f"robustness.{a}.{n}.group_gap@<eps>",
            f"robustness.{a}.{n}.<column>.group_gap@<eps>",
        )
    ) + tuple(
        f"robustness.{_BLACKBOX}.linf.{m}@<eps>"
        for m in ("accuracy", "attack_success_rate", "group_gap", "<column>.group_gap")
    ) + REGRESSION_PATTERNS + text.PATTERNS
    metric_docs: ClassVar[dict[str, str]] = {
        "robustness.pgd.linf.accuracy@<eps>": "accuracy left after a PGD attack of size eps (pixels, or feature stds)",
        "robustness.pgd.linf.attack_success_rate@<eps>": "share of correctly classified rows that PGD at eps flips",
        "robustness.pgd.linf.group_gap@<eps>": "largest gap in PGD robust accuracy between sensitive groups",
        "robustness.pgd.linf.<column>.group_gap@<eps>": "gap in PGD robust accuracy between the groups of one column",
        "robustness.fgsm.linf.accuracy@<eps>": "accuracy left after a one-step FGSM attack of size eps",
        "robustness.fgsm.linf.attack_success_rate@<eps>": "share of correctly classified rows that FGSM at eps flips",
        "robustness.random_search.linf.accuracy@<eps>": (
            "accuracy left after the black-box random-search attack at eps (models without input gradients)"
        ),
        "robustness.random_search.linf.group_gap@<eps>": "largest black-box robust-accuracy gap between sensitive groups",
        **REGRESSION_DOCS,
        **text.DOCS,
    }
    default_policy: ClassVar[dict[str, dict]] = {
        # one eps only (0.1 is in both default sweeps), so a report gets one finding, not one per eps
        "robustness.pgd.linf.group_gap@0.1": {"max": 0.1, "severity": "warn"},
        "robustness.random_search.linf.group_gap@0.1": {"max": 0.1, "severity": "warn"},
        **text.POLICY,
    }

    def __init__(
        self,
        *,
        eps: Sequence[float] | None = None,
        attacks: Sequence[Literal["fgsm", "pgd"]] = ("fgsm", "pgd"),
        norm: Literal["linf", "l2"] = "linf",
        steps: int = 20,
        step_size: float | None = None,
        random_start: bool = True,
        restarts: int = 1,
        max_rows: int = 5000,
        min_group_size: int | None = None,
        n_examples: int = 4,
        n_boot: int = 1000,
        batch_size: int | None = None,
        queries: int = 100,
        max_rows_blackbox: int = 2000,
    ) -> None:
        self.eps = eps
        self.attacks = tuple(attacks)
        self.norm = norm
        self.steps = steps
        self.step_size = step_size
        self.random_start = random_start
        self.restarts = restarts
        self.max_rows = max_rows
        self.min_group_size = min_group_size
        self.n_examples = n_examples
        self.n_boot = n_boot
        self.batch_size = batch_size
        self.queries = queries
        self.max_rows_blackbox = max_rows_blackbox

    def specific_skip_reason(self, ctx: AuditContext) -> str | None:
        if ctx.data.modality == "text":
            if ctx.is_regression:
                return "the text edits and the word-substitution attack measure changes of class; this is a regressor"
            return None if ctx.model.has_scores else "the text attack ranks words by class scores; this model returns labels"
        if not ctx.model.differentiable:
            if ctx.data.modality != "tabular":
                return (f"image attacks need a differentiable (torch) model to take input gradients; this is a "
                        f"{ctx.model.kind} model")
            if not ctx.model.has_scores:
                return "the black-box attack needs class probabilities, and this model only returns labels"
        return None

    # ------------------------------------------------------------------ run
    def _constraints(self, ctx: AuditContext, x: torch.Tensor) -> Constraints:
        if ctx.data.modality == "image":
            return image_constraints(x)
        if x.ndim == 2:
            return tabular_constraints(
                x,
                columns=ctx.data.feature_names,
                transform=ctx.model.transform,
                sensitive=ctx.data.sensitive_names,
                immutable=list(ctx.options.immutable),
                categorical=ctx.data.categorical,
            )
        return Constraints(bounds=None, mask=None, scale=None, notes=[
            f"Model inputs have shape {tuple(x.shape[1:])} per row: attacks are unconstrained, in raw input units."
        ])

    def row_budget(self, ctx: AuditContext, section: Section) -> str | None:
        n = len(ctx.data)
        if ctx.data.modality == "text":
            return (f"{min(n, self.max_rows):,} of {n:,} texts edited (cap max_rows={self.max_rows:,}), "
                    f"{min(n, self.max_rows_blackbox // 4):,} attacked (cap max_rows_blackbox / 4: the attack queries "
                    "the model once per candidate word)")
        rows = getattr(section, "rows", None)  # the classification and the regression sections both keep them
        used = len(rows) if rows is not None else n
        cap = self.max_rows if ctx.gradient_input else min(self.max_rows, self.max_rows_blackbox)
        how = "every row" if used == n else "a seeded random sample"
        return (f"{used:,} of {n:,} rows attacked ({how}; cap {cap:,}: every eps of the sweep attacks each row "
                f"{'with gradient steps' if ctx.gradient_input else f'with {self.queries:,} model queries'})")

    def run(self, ctx: AuditContext) -> Section:
        if ctx.data.modality == "text":
            mgs = int(ctx.options.resolve(self.min_group_size, "min_group_size"))
            return text.text_section(ctx, max_rows=self.max_rows, max_attack_rows=self.max_rows_blackbox // 4,
                                     min_group_size=mgs, n_boot=self.n_boot, n_examples=self.n_examples)
        if ctx.is_regression and not ctx.gradient_input:
            return regression_blackbox(self, ctx, *self._blackbox_setup(ctx))
        if not ctx.gradient_input:  # no model gradients, or inputs they cannot move (integer codes, named tensors)
            return self._run_blackbox(ctx)
        bad = [a for a in self.attacks if a not in _ATTACKS]
        if bad or not self.attacks:
            raise AuditInputError(f"RobustnessCheck attacks must be a non-empty subset of {list(_ATTACKS)}, got {list(self.attacks)}")
        image = ctx.data.modality == "image"
        eps = tuple(self.eps) if self.eps is not None else (IMAGE_EPS if image else TABULAR_EPS)
        x_all = ctx.x_tensor
        cons = self._constraints(ctx, x_all)
        notes = list(cons.notes)
        idx = self._sample_rows(ctx, len(x_all), self.max_rows, notes)
        x = x_all[torch.as_tensor(idx, device=x_all.device)]
        unit = "pixel intensity" if image and cons.notes == [] else ("feature standard deviations" if cons.scale is not None else "input units")
        if ctx.is_regression:
            return regression_gradient(self, ctx, x, idx, eps, cons, notes, unit)
        y = ctx.y[idx]
        seed = ctx.torch_seed(self.name)
        curves: list[RobustnessCurve] = []
        for attack in self.attacks:
            curves.append(
                robustness_curve(
                    ctx.model, x, y, eps, attack=attack, norm=self.norm, steps=self.steps, step_size=self.step_size,
                    random_start=self.random_start, restarts=self.restarts, bounds=cons.bounds, mask=cons.mask,
                    scale=cons.scale, seed=seed, batch_size=self.batch_size,
                )
            )
        notes += [n for c in curves for n in c.batch_notes]  # said when out-of-memory back-off shrank a batch
        return self._section(ctx, curves, cons, idx, notes, unit, x if image else None)

    def _run_blackbox(self, ctx: AuditContext) -> RobustnessSection:
        """Score-based random search for models without input gradients, on tabular data in its own units."""
        eps, zn, cons, integer, idx, notes, predict_proba = self._blackbox_setup(ctx)
        notes.insert(len(cons.notes), (
            f"This {ctx.model.kind} model has no input gradients, so FGSM and PGD do not apply: a score-based black-box "
            f"random search (up to {self.queries} model calls per row and eps) searched each eps ball for a change that "
            "flips the decision. Its robust accuracy is an upper bound: a stronger attacker may flip more rows."))
        curve = random_search_curve(
            predict_proba, zn[idx], ctx.y[idx], eps, queries=self.queries, bounds=(to_numpy(cons.bounds[0]), to_numpy(cons.bounds[1])),
            mask=to_numpy(cons.mask), scale=to_numpy(cons.scale), integer=integer, seed=ctx.torch_seed(self.name),
            clean_proba=ctx.proba[idx],  # cached: the data is never re-predicted
        )
        return self._section(ctx, [curve], cons, idx, notes, "feature standard deviations", None)

    def _blackbox_setup(self, ctx: AuditContext) -> tuple:
        """What the black-box search works on: the eps, the encoded rows, the constraints, which features are
        integers, the attacked rows, the notes so far and the model as a function of encoded rows (class
        probabilities, or a regressor's predicted values)."""
        eps = tuple(self.eps) if self.eps is not None else TABULAR_EPS
        X = ctx.data.X
        space = ctx.space  # the same numeric view the explanations use, built once
        z_all = space.encode(X).double()
        if space.codec is not None:
            cons = tabular_constraints(
                z_all, columns=space.names, sensitive=ctx.data.sensitive_names,
                immutable=list(ctx.options.immutable), categorical=space.codec.categorical,
            )
        else:  # model inputs made by a transform: its groups say which inputs belong to which column
            cons = self._constraints(ctx, z_all)
        zn = to_numpy(z_all)
        # a missing cell (NaN) does not make a column fractional
        integer = np.all(np.isnan(zn) | (np.isfinite(zn) & (zn == np.round(zn))), axis=0)
        notes = list(cons.notes)
        if integer[to_numpy(cons.mask) > 0].any():
            notes.append("Integer-valued features stay integers (their change is rounded toward the original value).")
        idx = self._sample_rows(ctx, len(zn), min(self.max_rows, self.max_rows_blackbox), notes)
        codec = space.codec

        def predict(z: np.ndarray) -> np.ndarray:
            if codec is not None:
                rows = codec.decode(z)
                return (ctx.model.predict_values(rows, what="adversarial rows") if ctx.is_regression
                        else ctx.model.predict_proba(rows, what="adversarial rows"))
            out = space.numpy_fn(z)  # z is already model input: the transform is not applied again
            return out[:, 0] if ctx.is_regression else out

        return eps, zn, cons, integer, idx, notes, predict

    def _sample_rows(self, ctx: AuditContext, n: int, cap: int, notes: list[str]) -> np.ndarray:
        """All rows, or a seeded sample of ``cap`` of them (the section's row budget says which)."""
        if n <= cap:
            return np.arange(n)
        return np.sort(ctx.rng(self.name).choice(n, size=cap, replace=False))

    def _section(self, ctx: AuditContext, curves: list[RobustnessCurve], cons: Constraints, idx: np.ndarray,
                 notes: list[str], unit: str, images: torch.Tensor | None) -> RobustnessSection:
        results = [r for c in curves for r in c.results]
        seed = ctx.torch_seed(self.name)
        min_size = int(ctx.options.resolve(self.min_group_size, "min_group_size"))
        sens = ctx.data.sensitive.iloc[idx].reset_index(drop=True)
        groups = group_robustness(results, sens, min_group_size=min_size, n_boot=self.n_boot, seed=seed) if sens.shape[1] else None
        if groups is not None:
            notes.extend(groups.notes)
            notes.append("Group gaps: 'gap' is bias-corrected (2 x plug-in - mean of the bootstrap gaps; the plain "
                         "max - min of noisy group accuracies is biased upward), its interval bounds every pairwise "
                         "contrast at once from Wilson bounds per group, and p_value is a permutation test of 'no gap'. "
                         "A gate on a gap fails only when the interval lies above its threshold.")
        elif ctx.data.sensitive.shape[1] == 0:
            notes.append("No sensitive columns were given: robustness is not broken down by group.")

        metrics = self._metrics(curves, groups)
        curve_table = pd.concat(
            [c.table.assign(attack=c.attack, norm=c.norm) for c in curves], ignore_index=True
        )[["attack", "norm", "eps", "clean_accuracy", "robust_accuracy", "attack_success_rate", "n_rows", "n_fooled",
           "n_attacked", "duration_s"]]
        tables: dict[str, pd.DataFrame] = {"Accuracy vs eps": curve_table}
        if groups is not None:
            tables["Robust accuracy by group"] = groups.table
            tables["Group gaps"] = groups.gaps
        if not cons.features.empty:
            tables["Perturbed inputs"] = inputs_table(cons)
        class_names = [str(c) for c in ctx.classes]

        def draw() -> list:
            figs = accuracy_vs_eps(curves, unit, self.steps)
            if images is not None and self.n_examples > 0:
                figs += draw_examples(adversarial_examples(curves[-1], images, self.n_examples), class_names)
            return figs

        figures = DeferredFigures(draw)
        return RobustnessSection(
            check=self.name, title=self.title, summary=self._summary(curves, groups, unit, len(idx)), metrics=metrics,
            tables=tables, figures=figures, notes=notes, curves=curves, constraints=cons, groups=groups, rows=idx,
        )

    # -------------------------------------------------------------- helpers
    def _metrics(self, curves: list[RobustnessCurve], groups: GroupRobustness | None) -> list[Metric]:
        out: list[Metric] = []
        # sensitive column names made safe for Markdown / XML / HTML, like every check
        parts = metric_parts(groups.gaps["column"].unique()) if groups is not None else {}
        for c in curves:
            for r in c.results:
                base = f"robustness.{r.attack}.{r.norm}"
                e = _fmt(r.eps)
                k = int((~r.success).sum())
                lo, hi = wilson_interval(k, len(r.y))
                out.append(Metric(f"{base}.accuracy@{e}", r.robust_accuracy, lo, hi, higher_is_better=True,
                                  description=f"accuracy under {r.attack.upper()} at eps={e}"))
                n_ok = int(r.clean_correct.sum())
                lo, hi = wilson_interval(int((r.success & r.clean_correct).sum()), n_ok)
                out.append(Metric(f"{base}.attack_success_rate@{e}", r.attack_success_rate, lo, hi, higher_is_better=False,
                                  description="share of correctly classified rows the attack flips"))
                if groups is None:
                    continue
                key = f"{r.attack}.{r.norm}@{e}"
                gap, glo, ghi = groups.max_gap(key)
                worst = groups.overall.loc[key] if key in groups.overall.index else None
                out.append(Metric(f"{base}.group_gap@{e}", gap, glo, ghi, higher_is_better=False,
                                  description=gap_text("largest robust-accuracy gap between sensitive groups", worst,
                                                        self.n_boot, name_column=True)))
                for _, row in groups.gaps[groups.gaps["key"] == key].iterrows():
                    out.append(Metric(f"{base}.{parts[str(row['column'])]}.group_gap@{e}", float(row["gap"]),
                                      None if pd.isna(row["low"]) else float(row["low"]),
                                      None if pd.isna(row["high"]) else float(row["high"]), higher_is_better=False,
                                      description=gap_text(f"robust-accuracy gap between {row['column']} groups", row,
                                                            self.n_boot)))
        return out

    def _summary(self, curves: list[RobustnessCurve], groups: GroupRobustness | None, unit: str, n_rows: int) -> str:
        c = curves[-1]
        mid = c.results[len(c.results) // 2]
        name = attack_label(c.attack, self.steps)
        s = (f"{name} ({NORM_LABELS[c.norm]}) at eps={_fmt(mid.eps)} ({unit}) lowers accuracy from "
             f"{mid.clean_accuracy:.3f} to {mid.robust_accuracy:.3f} on {n_rows:,} rows; at eps={_fmt(c.results[-1].eps)} "
             f"it is {c.results[-1].robust_accuracy:.3f}.")
        if groups is not None:
            key = f"{mid.attack}.{mid.norm}@{_fmt(mid.eps)}"
            g = groups.gaps[(groups.gaps["key"] == key) & groups.gaps["gap"].notna()]
            if not g.empty:
                row = g.loc[g["gap"].idxmax()]
                ci = "" if pd.isna(row["low"]) else f" [{row['low']:.3f}, {row['high']:.3f}]"
                p = "" if pd.isna(row["p_value"]) else f", p = {row['p_value']:.2g} for no gap"
                s += (f" The largest gap between groups is {row['gap']:.3f}{ci} (bias-corrected; {row['column']}: "
                      f"{row['best_group']} vs {row['worst_group']}{p}).")
        return s
