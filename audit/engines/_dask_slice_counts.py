"""Weak slices of a Dask DataFrame on every row: the plan from the features, per-partition counts, one merge.

The slice plan (levels and quantile edges) is made from the whole frame's features before the model runs
(:func:`audit.engines._dask_slices.dask_slice_plan`, equal to the in-memory plan). Each partition then predicts,
computes every loss of its rows and counts them for every single level and every pair of levels
(:func:`audit.slices.all_pairs`); the counts are added up on the workers, and the client, holding one table per
loss (its size set by the plan, not the rows), chooses the pairs as the in-memory search does and runs the same
statistics (:func:`audit.slices.slices_from_counts`). So the slices, their intervals and p-values are those of an
in-memory audit of the same rows, up to the order floating-point sums are added in.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from audit.context import positive_class_of
from audit.data import check_features
from audit.engines._dask_cells import label_codes
from audit.errors import AuditInputError
from audit.slices import (
    SlicePlan,
    all_pairs,
    budget_note,
    check_losses,
    classification_losses,
    count_codes,
    counts_for_plan,
    encode,
    merge_counts,
    regression_losses,
    slices_from_counts,
    with_pairs,
)

#: more column pairs than this and each partition would spend longer counting pairs than predicting
MAX_COLUMN_PAIRS = 300


def _losses(adapter: Any, X: pd.DataFrame, target: pd.Series, spec: dict[str, Any], what: str) -> list[Any]:
    """The losses ``spec`` names of these rows, as the in-memory slices check computes them."""
    if spec["task"] == "regression":
        y = pd.to_numeric(target, errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(y).all():
            raise AuditInputError(f"{what}: target {target.name!r} has missing or non-numeric values; a regression "
                                  "audit needs the true value of every row")
        return regression_losses(y, adapter.predict_values(X, what=what), spec["losses"])
    y = label_codes(target, spec["classes"], what)
    return classification_losses(y, adapter.predict_proba(X, what=what), spec["losses"], positive=spec["positive"],
                                 favorable=spec["favorable"])


def partition_slice_counts(df: pd.DataFrame, number: int, adapter: Any, plans: dict[str, SlicePlan],
                           spec: dict[str, Any]) -> tuple[int, dict[str, pd.DataFrame]] | None:
    """One partition's rows and counts table per loss (``plans``: the loss's plan, pairs included); None when
    empty."""
    if len(df) == 0:
        return None
    features = spec["features"]
    check_features(df[features], f"data (partition {number})", adapter)
    losses = _losses(adapter, df[features], df[spec["target"]], spec, f"partition {number}")
    codes = encode(df, next(iter(plans.values())))
    return len(df), {loss.name: count_codes(codes if loss.rows is None else [c[loss.rows] for c in codes],
                                            loss.values, plans[loss.name]) for loss in losses}


def _merge_two(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None:
        return a if b is None else b
    return a[0] + b[0], {k: merge_counts(a[1][k], b[1][k]) for k in a[1]}


def dask_counts(ddf: Any, adapter: Any, plans: dict[str, SlicePlan],
                spec: dict[str, Any]) -> tuple[int, dict[str, pd.DataFrame]]:
    """Every partition's counts, added up pairwise on the workers: the client receives the rows and one table per
    loss."""
    import dask

    model = dask.delayed(adapter, pure=True)
    level = [dask.delayed(partition_slice_counts, pure=True)(part, i, model, plans, spec)
             for i, part in enumerate(ddf.to_delayed())]
    while len(level) > 1:
        level = [dask.delayed(_merge_two, pure=True)(*level[i:i + 2]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    counts = level[0].compute()
    if counts is None:
        raise AuditInputError("the Dask DataFrame has no rows")
    return counts


def dask_slices(check: Any, ddf: Any, adapter: Any, *, columns: list[str], sample: pd.DataFrame, features: list[str],
                target: str, min_rows: int, positive_class: Any = None,
                favorable: bool = True) -> tuple[dict[str, Any], int, int]:
    """The slices check's results on every row of ``ddf`` (per loss, as :func:`audit.slices.search_losses`) over
    ``columns``, the number of columns searched and the rows. ``sample`` (pandas rows of ``ddf``) only sets each
    loss's shift, which keeps sums of squares precise; it does not change any number."""
    from audit.engines._dask_slices import dask_slice_plan

    plan = dask_slice_plan(ddf, list(columns), max_bins=check.max_bins, min_support=check.min_support)
    spec = _spec(check, adapter, sample, features, target, positive_class, favorable)
    shifts = {loss.name: float(loss.values.mean()) if len(loss.values) else 0.0
              for loss in _losses(adapter, sample[features], sample[target], spec, "the sample")}
    n = len(plan.columns)
    wide = all_pairs(plan) if n * (n - 1) // 2 <= MAX_COLUMN_PAIRS else plan
    rows, counts = dask_counts(ddf, adapter, {k: replace(wide, shift=s) for k, s in shifts.items()}, spec)
    if wide is plan:  # too many column pairs to count them all: a second pass counts the chosen ones
        chosen = {k: with_pairs(replace(plan, shift=shifts[k]), counts[k], max_candidates=check.max_candidates,
                                min_rows=min_rows)[0] for k in counts}
        rows, counts = dask_counts(ddf, adapter, chosen, spec)
    k = len(counts)
    results = {}
    for name in spec["losses"]:
        pairs_plan, notes = with_pairs(replace(plan, shift=shifts[name]), counts[name],
                                       max_candidates=check.max_candidates, min_rows=min_rows)
        table = counts_for_plan(counts[name], pairs_plan) if wide is not plan else counts[name]
        r = slices_from_counts(table, pairs_plan, min_rows=min_rows, alpha=check.alpha / k, top=check.top)
        r.notes[1:1] = notes
        if wide is plan:
            r.notes.append(f"{n * (n - 1) // 2} column pairs (over {MAX_COLUMN_PAIRS}): the rows were counted in two "
                           "passes (single levels, then the pairs chosen from them), the model predicting each "
                           "partition twice")
        if k > 1:
            r.notes.insert(1, budget_note(check.alpha, k))
        results[name] = r
    return results, len(plan.columns), rows


def _spec(check: Any, adapter: Any, sample: pd.DataFrame, features: list[str], target: str, positive_class: Any,
          favorable: bool) -> dict[str, Any]:
    """What each partition needs to compute the losses: picklable, small."""
    if adapter.task == "regression":
        return {"task": "regression", "losses": check_losses(check.losses, "regression"), "features": features,
                "target": target}
    if adapter.classes is not None:
        classes = list(adapter.classes)
    else:  # the model's output columns are the classes 0 .. k-1, as the full-data pass reads them
        classes = list(range(adapter.predict_proba(sample[features].iloc[:50], what="the sample").shape[1]))
    task = "binary" if len(classes) == 2 else "multiclass"
    chosen = positive_class_of(classes, positive_class)  # the in-memory rule (and its error)
    positive = classes.index(chosen[0]) if chosen is not None else 1
    return {"task": task, "losses": check_losses(check.losses, task), "features": features, "target": target,
            "classes": classes, "positive": positive, "favorable": favorable}



def slices_part(check: Any, ddf: Any, adapter: Any, args: Any, *, sample: pd.DataFrame, features: list[str],
                time_column: str | None) -> Any | None:
    """The slices section on every row of ``ddf`` as a report part of its own; None (the check then runs on the
    sample, which says so) with ``holdout`` (its split is a permutation of all rows) or no column to slice by."""
    import time

    from audit.checks import starter_thresholds
    from audit.checks.slices import slices_section, stored_output_columns
    from audit.context import AuditOptions
    from audit.policy import Policy
    from audit.report import Report

    if check.slice_columns is not None:
        raise AuditInputError("SlicesCheck(slice_columns=) is a pandas frame aligned with in-memory rows; with a Dask "
                              "DataFrame add those columns to the Dask DataFrame itself and name them in columns=")
    skip = {args.target, time_column, *stored_output_columns(adapter)}
    columns = check.columns if check.columns is not None else [c for c in ddf.columns if c not in skip]
    if check.holdout or not len(columns):
        return None
    t0 = time.perf_counter()
    min_rows = args.min_group_size or AuditOptions.min_group_size
    results, n_columns, rows = dask_slices(check, ddf, adapter, columns=columns, sample=sample, features=features,
                                           target=args.target, min_rows=min_rows, positive_class=args.positive_class,
                                           favorable=args.positive_is_favorable)
    section = slices_section(results, n_columns=n_columns, min_rows=min_rows)
    section.notes.insert(0, f"Computed on all {rows:,} rows of the Dask DataFrame: the slice plan from every row's "
                            "features, then each partition predicted and counted its slices, and the counts were added "
                            "up on the workers (the in-memory numbers, up to the order sums are added in).")
    section.duration_s = time.perf_counter() - t0
    policy = Policy.coerce(args.policy, starter=starter_thresholds())
    return Report(sections={check.name: section}, findings=[], policy=policy, meta={}, baseline=None)
