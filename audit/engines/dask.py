"""Audits of Dask DataFrames: data larger than memory, on one machine or a cluster.

The model is shipped to the workers once and predicts partition by partition (``map_partitions``).
Only what the count-based checks need comes back: the label, the sensitive columns and the class
probabilities, a few numbers per row. Performance, fairness and calibration then run on those
exactly as on an in-memory frame (their statistics are cell counts: group x label x prediction and
group x score bin), so numbers and bootstrap intervals equal the in-memory ones. Checks that need
the model in the loop or the features (explanations, attacks, data quality, overfitting) run on a
seeded sample stratified on the first sensitive column, stated in each of their sections.

``dask[distributed]`` is an extra (``pip install "audit[dask]"``); nothing here imports it until a
Dask frame is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditInputError, ModelCallError
from audit.stats import stratified_quotas

#: checks computed on every row from the per-partition predictions
FULL_DATA_CHECKS = ("performance", "fairness", "calibration")
SCORE_PREFIX = "__audit_p"


def is_dask_frame(obj: Any) -> bool:
    """True for a ``dask.dataframe.DataFrame`` (without importing dask)."""
    return type(obj).__module__.split(".")[0] == "dask" and hasattr(obj, "map_partitions")


def predict_log(ddf: Any, predict_proba: Callable[..., np.ndarray], *, features: list[str],
                keep: list[str], n_classes: int) -> pd.DataFrame:
    """Class probabilities per partition plus the ``keep`` columns, gathered as one pandas frame.

    A model that raises in a partition is reported with the partition's number.
    """
    score_cols = [f"{SCORE_PREFIX}{j}" for j in range(n_classes)]

    def part(df: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
        number = partition_info.get("number") if partition_info else "?"
        out = df[keep].reset_index(drop=True)
        if len(df) == 0:
            return out.assign(**{c: np.zeros(0) for c in score_cols})
        try:
            p = predict_proba(df[features], what=f"partition {number}")
        except ModelCallError:
            raise  # the adapter's message already names the partition
        except Exception as exc:  # noqa: BLE001 - re-raised with the partition named
            raise ModelCallError(f"the model raised {type(exc).__name__} on partition {number}: {exc}") from exc
        return out.assign(**{c: p[:, j] for j, c in enumerate(score_cols)})

    meta = ddf._meta[keep].assign(**{c: np.zeros(0) for c in score_cols})
    return ddf.map_partitions(part, meta=meta).compute().reset_index(drop=True)


def stratified_sample(ddf: Any, column: str | None, rows: int, seed: int) -> tuple[pd.DataFrame, str]:
    """About ``rows`` rows of ``ddf`` as pandas, stratified on ``column`` (small groups kept whole); and a note."""
    # one pass for the group sizes, which also give the row count
    sizes = ddf[column].astype(str).value_counts().compute() if column is not None else None
    n = int(sizes.sum()) if sizes is not None else int(ddf.shape[0].compute())
    if n <= rows:
        return ddf.compute().reset_index(drop=True), f"all {n:,} rows"
    if sizes is None:
        out = ddf.sample(frac=rows / n, random_state=seed).compute().reset_index(drop=True)
        return out, f"a seeded random sample of {len(out):,} of {n:,} rows"
    quota = stratified_quotas(sizes.to_numpy(), rows)
    frac = dict(zip(sizes.index, quota / sizes.to_numpy()))

    def take(df: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
        number = partition_info.get("number", 0) if partition_info else 0
        rng = np.random.default_rng([seed, number])
        p = df[column].astype(str).map(frac).to_numpy(dtype=np.float64)
        return df[rng.random(len(df)) < p]

    out = ddf.map_partitions(take, meta=ddf._meta).compute().reset_index(drop=True)
    return out, (f"a seeded sample of {len(out):,} of {n:,} rows stratified on {column} (each group about its fair "
                 "share, small groups whole)")


def audit_dask(audit_fn: Callable[..., Any], model: Any, ddf: Any, *, sample_rows: int = 20_000,
               **kwargs: Any) -> Any:
    """Audit a Dask DataFrame: count-based checks on every row, the others on a stratified sample.

    ``audit_fn`` is :func:`audit.audit` and ``checks`` the resolved Check instances (both passed in, so this
    module never imports the orchestrator).
    """
    from audit.backends import StoredPredictions
    from audit.model import ModelAdapter

    t0 = time.perf_counter()
    target = kwargs.get("target")
    if target is None:
        raise AuditInputError("a Dask DataFrame needs target= (the label column)")
    sensitive = kwargs.get("sensitive") or []
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    if any(not isinstance(s, str) for s in sensitive):
        raise AuditInputError("with a Dask DataFrame, sensitive= must name columns (arrays cannot be aligned)")
    columns = [str(c) for c in ddf.columns]
    missing = [c for c in [target, *sensitive] if c not in columns]
    if missing:
        raise AuditInputError(f"column {missing[0]!r} not found in the Dask DataFrame; columns are {columns}")
    adapter = ModelAdapter(model, transform=kwargs.get("transform"), output=kwargs.get("model_output", "auto"),
                           device=kwargs.get("device", "auto"))
    features = kwargs.get("features") or adapter.feature_names_in or [c for c in columns if c != target]
    seed = int(kwargs.get("seed", 0))
    sample, how = stratified_sample(ddf, sensitive[0] if sensitive else None, sample_rows, seed)
    k = adapter.predict_proba(sample[features].iloc[: min(len(sample), 50)]).shape[1]
    time_column = kwargs.get("time_column")
    keep = list(dict.fromkeys([target, *sensitive] + ([time_column] if time_column in columns else [])))
    log = predict_log(ddf, adapter.predict_proba, features=features, keep=keep, n_classes=k)

    wanted = kwargs["checks"]  # Check instances, resolved by the orchestrator
    full = [c for c in wanted if c.name in FULL_DATA_CHECKS]
    rest = [c for c in wanted if c.name not in FULL_DATA_CHECKS]
    common = {k_: v for k_, v in kwargs.items() if k_ not in ("checks", "features", "transform", "model_output",
                                                              "device", "train", "history", "immutable")}
    score_cols = [f"{SCORE_PREFIX}{j}" for j in range(k)]
    classes = adapter.classes
    stored = StoredPredictions(score=score_cols if k > 2 else [score_cols[1]],
                               classes=list(classes) if classes is not None else None)
    parts = []
    if full:
        whole = audit_fn(stored, log, checks=full, **common)
        if "fairness" in whole.sections and whole.sections["fairness"].status == "ok" and sensitive:
            _sample_proxies(whole.sections["fairness"], sample, features, sensitive, seed, how)
        parts.append(whole)
    if rest:
        sampled = audit_fn(model, sample, **{**kwargs, "checks": rest, "features": features})
        for s in sampled.sections.values():
            s.notes = [f"Computed on {how} of the Dask DataFrame."] + list(s.notes)
        parts.append(sampled)
    return _merge(parts, adapter, n_rows=len(log), how=how, seconds=time.perf_counter() - t0)


def _sample_proxies(section: Any, sample: pd.DataFrame, features: list[str], sensitive: list[str], seed: int,
                    how: str) -> None:
    """Proxy detection needs the features, which stay on the workers: it runs on the stratified sample."""
    from audit.fairness import INTERSECTION, proxy_auc
    from audit.section import Metric, metric_parts

    res = proxy_auc(sample[features], sample[sensitive], seed=seed)
    keys = metric_parts([INTERSECTION, *sensitive])
    section.tables["Proxies"] = res.table
    section.tables["Proxy features"] = res.by_feature
    section.notes = [n for n in section.notes if not n.startswith("Proxy detection needs")]
    section.notes.append(f"Proxy detection ran on {how} (it needs the features, which stay on the workers).")
    for col, row in res.table.iterrows():
        lo, hi = row["proxy_auc_low"], row["proxy_auc_high"]
        section.metrics.append(Metric(
            f"fairness.{keys[str(col)]}.proxy_auc", float(row["proxy_auc"]), None if pd.isna(lo) else float(lo),
            None if pd.isna(hi) else float(hi), higher_is_better=False,
            description=f"how well the other features predict {col} (ROC AUC on the sample, 0.5 = not at all)"))


def _merge(parts: list[Any], adapter: Any, *, n_rows: int, how: str, seconds: float) -> Any:
    """One report from the full-data and the sampled audits: sections in registry order, findings re-evaluated."""
    from audit.checks import REGISTRY
    from audit.report import Report

    sections = {}
    for name in REGISTRY:
        for p in parts:
            if name in p.sections:
                sections[name] = p.sections[name]
    first = parts[0]
    metrics = {m.name: m for s in sections.values() for m in s.metrics}
    check_of = {m.name: s.check for s in sections.values() for m in s.metrics}
    skipped = {s.check: s.reason for s in sections.values() if s.status != "ok"}
    ran = {s.check for s in sections.values() if s.status == "ok"}
    findings = first.policy.evaluate(metrics, check_of, baseline=first.baseline, skipped=skipped, ran=ran)
    meta = dict(parts[-1].meta)
    meta.update({"model": adapter.name, "model_kind": adapter.kind, "rows": n_rows, "engine": "dask",
                 "sample": how, "duration_s": round(seconds, 3),
                 "check_durations": {k: round(s.duration_s, 3) for k, s in sections.items()}})
    return Report(sections=sections, findings=findings, policy=first.policy, meta=meta, baseline=first.baseline)
