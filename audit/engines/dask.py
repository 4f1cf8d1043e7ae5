"""Audits of Dask DataFrames: data larger than memory, on one machine or a cluster.

The model is shipped to the workers once and predicts partition by partition. A binary model's
partitions do not send rows back: each summarises its predictions as prediction cells
(:func:`audit.stats.build_cells`: counts and sums per period x intersection group x label x prediction x
score x confidence), the cells are added up in a tree on the workers (:func:`audit.stats.merge_cells`),
and performance, fairness and calibration run on the one summary the client receives, through the same
code an in-memory audit runs on its rows' cells. Client memory is bounded by the number of cells, not rows.

What is exact and what is approximate
-------------------------------------
- While the log has at most :data:`audit.stats.EXACT_LIMIT` distinct scores and confidences, the cells are
  the exact ones: every number, interval and p-value equals the in-memory audit (up to the order
  floating-point sums are added in; tested to 1e-12).
- Beyond it scores and confidences go on a grid of 3,840 cells (256 inside each of the 15 calibration bins).
  Exact still: accuracy, balanced accuracy, log loss, the confusion matrix, every fairness rate and
  disparity with its interval and p-value, the overall ECE, MCE, Brier score and reliability table, the
  per-group accuracy, confidence and Brier score. ROC AUC (overall, per group, per period) counts positives
  and negatives in one cell as tied: within ``sum_c pos_c neg_c / (2 P N)`` of the exact AUC (the performance
  section states the bound; about 1e-4 at most on 10M rows, observed errors far smaller), and so are its
  interval and the AUC gaps. A group's equal-mass ECE puts each grid cell whole into one bin: within
  ``2 x (rows in cells that span a bin edge) / n_g`` (the calibration section states the largest), the
  ECE gap within twice that; its interval and p-value are those of that binning.
- Multiclass models (and a binary model audited for its first class) fall back to gathering each row's
  label, groups and probabilities on the client (exact, memory linear in rows); the sections say so.

Weak slices read every row too (:mod:`audit.engines._dask_slice_counts`: per-partition counts, the in-memory numbers).

Data quality also reads every row: each partition is summarised on the workers (counts, row hashes,
histograms; :mod:`audit.engines._dask_quality`) and the summaries merged; its notes say what is approximate.

``train=`` (a pandas or Dask frame) gives the performance section its training metrics
(``performance.train.*``, ``performance.train_test_gap.*``) from the model's predictions on every training
row, gathered on the client as a label and class probabilities per row; the sampled checks get a seeded
sample of a Dask ``train``. ``sample_weight=`` is refused with a clear error (the summaries count rows).

Checks that need the model in the loop on rows (explanations, attacks, overfitting) run on a seeded sample
stratified on the first sensitive column, stated in each of their sections. With a distributed client each
of them is one task on the cluster (the model and the sample sent once), so they run side by side on the
workers; their numbers are those of an in-memory audit of the sample (each check seeds itself by name).

``dask[distributed]`` is an extra (``pip install "audit[dask]"``); nothing here imports it until a
Dask frame is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from audit.context import AuditOptions
from audit.data import check_features, string_columns
from audit.engines._dask_cells import _predict, summarise
from audit.engines._dask_regression import REGRESSION_FULL_DATA, regression_full_part
from audit.engines._dask_slice_counts import slices_part
from audit.engines._dask_options import DaskAuditArgs
from audit.errors import AuditInputError
from audit.stats import EXACT_LIMIT, PredictionCells, stratified_quotas

#: checks computed on every row from the per-partition predictions
FULL_DATA_CHECKS = ("performance", "fairness", "calibration")
SCORE_PREFIX = "__audit_p"


def is_dask_frame(obj: Any) -> bool:
    """True for a ``dask.dataframe.DataFrame`` (without importing dask)."""
    return type(obj).__module__.split(".")[0] == "dask" and hasattr(obj, "map_partitions")


def predict_log(ddf: Any, predict_proba: Callable[..., np.ndarray], *, features: list[str],
                keep: list[str], n_classes: int, model: Any = None) -> pd.DataFrame:
    """Class probabilities per partition plus the ``keep`` columns, gathered as one pandas frame.

    A model that raises in a partition is reported with the partition's number; ``model`` (the adapter) judges
    each partition's missing values as in memory (:func:`audit.data.check_features`).
    """
    score_cols = [f"{SCORE_PREFIX}{j}" for j in range(n_classes)]

    def part(df: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
        number = partition_info.get("number") if partition_info else "?"
        out = df[keep].reset_index(drop=True)
        if len(df) == 0:
            return out.assign(**{c: np.zeros(0) for c in score_cols})
        check_features(df[features], f"data (partition {number})", model)  # the in-memory rule, on every row
        p = _predict(predict_proba, df[features], number)
        return out.assign(**{c: p[:, j] for j, c in enumerate(score_cols)})

    meta = ddf._meta[keep].assign(**{c: np.zeros(0) for c in score_cols})
    return ddf.map_partitions(part, meta=meta).compute().reset_index(drop=True)


def checked_rows(ddf: Any, features: list[str], model: Any = None) -> int:
    """The rows of ``ddf``, counted in one pass that applies the in-memory feature rule
    (:func:`audit.data.check_features`) to every partition: for audits whose checks read no partition's features."""

    def part(df: pd.DataFrame, partition_info: dict | None = None) -> pd.Series:
        number = partition_info.get("number") if partition_info else "?"
        check_features(df[features], f"data (partition {number})", model)
        return pd.Series([len(df)])

    return int(ddf.map_partitions(part, meta=pd.Series(dtype=np.int64)).sum().compute())


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


def audit_dask(audit_fn: Callable[..., Any], model: Any, ddf: Any, *, summary_fn: Callable[..., Any],
               sample_rows: int = 20_000, **kwargs: Any) -> Any:
    """Audit a Dask DataFrame: count-based checks on every row, the others on a stratified sample.

    ``audit_fn`` is :func:`audit.audit`, ``summary_fn`` ``audit._api.audit_summary`` (the checks on summarised
    predictions) and ``checks`` the resolved Check instances (all passed in, so this module never imports the
    orchestrator). ``kwargs`` are the other arguments of ``audit()`` (:class:`DaskAuditArgs`).
    """
    from audit.model import ModelAdapter

    t0 = time.perf_counter()
    args = DaskAuditArgs(**kwargs)
    ddf, labels, columns, sensitive = _validated_frame(ddf, args)
    adapter = ModelAdapter(model, transform=args.transform, output=args.model_output, device=args.device,
                           task=args.task)
    regression = adapter.task == "regression"
    if labels and adapter.feature_names_in is None:  # the model still gets its own column labels, as in memory
        adapter.use_column_labels(labels)
    features = args.features or adapter.feature_names_in or [c for c in columns if c != args.target]
    seed = int(args.seed)
    on_all_rows = REGRESSION_FULL_DATA if regression else FULL_DATA_CHECKS
    full = [c for c in args.checks if c.name in on_all_rows]
    rest = [c for c in args.checks if c.name not in on_all_rows]
    n_rows = None if full else checked_rows(ddf, features, adapter)  # else the full-data pass checks each partition
    drawn: dict[str, Any] = {}

    def sample_of() -> tuple[pd.DataFrame, str]:  # two passes over the data: drawn only when a check reads it
        if not drawn:
            drawn["sample"] = stratified_sample(ddf, sensitive[0] if sensitive else None, sample_rows, seed)
            check_features(drawn["sample"][0][features], "data (the sample)", adapter)  # before the model sees it
        return drawn["sample"]

    head = ddf.head(50, npartitions=1).reset_index(drop=True)  # a few rows: the model's output shape
    head = head if len(head) else sample_of()[0].iloc[:50]  # an empty first partition
    check_features(head[features], "data (the first rows)", adapter)
    parts = []
    if full and regression:
        whole, n_rows = regression_full_part(audit_fn, ddf, adapter, args, full, features=features, sensitive=sensitive,
                                             columns=columns, predict_log=predict_log, score_prefix=SCORE_PREFIX)
        parts.append(whole)
    elif full:
        k = adapter.predict_proba(head[features]).shape[1]
        whole, n_rows = _full_data_part(audit_fn, summary_fn, ddf, adapter, args, full, features=features,
                                        sensitive=sensitive, columns=columns, n_classes=k)
        # a prediction log's columns are scores, not features: no proxies, as in memory
        if ("fairness" in whole.sections and whole.sections["fairness"].status == "ok" and sensitive
                and adapter.backend.calls_model):
            _sample_proxies(whole.sections["fairness"], *sample_of(), features, sensitive, seed)
        parts.append(whole)
    quality = next((c for c in rest if c.name == "data_quality"), None)
    if quality is not None and _whole_data_quality(quality, ddf, args, args.target, sensitive, features, parts,
                                                   regression=regression):
        rest = [c for c in rest if c is not quality]
    slices = next((c for c in rest if c.name == "slices"), None)
    whole_slices = slices and slices_part(slices, ddf, adapter, args, sample=head, features=features,
                                          time_column=args.time_column)
    if whole_slices is not None:  # else (holdout) the check runs on the sample, which its section says
        parts.append(whole_slices)
        rest = [c for c in rest if c is not slices]
    if rest:
        parts.append(_sampled_part(audit_fn, model, *sample_of(), args, rest, features=features, labels=labels,
                                   sample_rows=sample_rows))
    if n_rows is None:
        n_rows = int(ddf.shape[0].compute())
    how = drawn["sample"][1] if drawn else "no sample (every check read every row)"
    return _merge(parts, adapter, n_rows=n_rows, how=how, seconds=time.perf_counter() - t0)


def _validated_frame(ddf: Any, args: DaskAuditArgs) -> tuple[Any, dict[str, Any], list[str], list[str]]:
    """The arguments a Dask audit cannot take refused, before any pass over the data; the frame with string
    column names, the original labels of renamed columns, the column names and the sensitive columns."""
    if args.target is None:
        raise AuditInputError("a Dask DataFrame needs target= (the label column)")
    if args.sample_weight is not None:
        # prediction cells count rows; weighted cells would need weighted resampling in every check built on them
        raise AuditInputError("sample_weight= is not supported for a Dask DataFrame yet (the per-partition summaries "
                              "count rows); audit a pandas DataFrame (or a weighted sample of the data) to weigh rows")
    sensitive = args.sensitive_names
    if any(not isinstance(s, str) for s in sensitive):
        raise AuditInputError("with a Dask DataFrame, sensitive= must name columns (arrays cannot be aligned)")
    _, labels = string_columns(ddf._meta, "the Dask DataFrame")  # integer names (pd.DataFrame(X)) as strings
    if labels:
        ddf = ddf.rename(columns={v: k for k, v in labels.items()})
    columns = [str(c) for c in ddf.columns]
    missing = [c for c in [args.target, *sensitive] if c not in columns]
    if missing:
        raise AuditInputError(f"column {missing[0]!r} not found in the Dask DataFrame; columns are {columns}")
    return ddf, labels, columns, sensitive


def _full_data_part(audit_fn: Callable[..., Any], summary_fn: Callable[..., Any], ddf: Any, adapter: Any,
                    args: DaskAuditArgs, full: list[Any], *, features: list[str], sensitive: list[str],
                    columns: list[str], n_classes: int) -> tuple[Any, int]:
    """The full-data checks on every row: from prediction cells (a binary model's second class), else from each
    row's predictions gathered on the client. Returns the report part and the rows it read."""
    from audit.backends import StoredPredictions

    target, k, classes = args.target, n_classes, adapter.classes
    time_column = args.time_column if args.time_column in columns else None  # else the section says it is not one
    score_cols = [f"{SCORE_PREFIX}{j}" for j in range(k)]
    stored = StoredPredictions(score=score_cols if k > 2 else [score_cols[1]],
                               classes=list(classes) if classes is not None else None)
    # the training rows' predictions, as a log the stored-predictions reader takes: performance.train.* as in memory
    train_log = None if args.train is None else _train_log(args.train, adapter, features=features, target=target,
                                                           n_classes=k)
    if _summarisable(k, classes, args.positive_class):
        n_bins = next((int(c.n_bins) for c in full if c.name == "calibration"), 15)
        needed = list(dict.fromkeys([*features, target, *sensitive] + ([time_column] if time_column else [])))
        cells = summarise(ddf[needed], adapter, features=features, target=target, sensitive=sensitive,  # read no more
                          classes=list(classes) if classes is not None else [0, 1], time_column=time_column,
                          period=args.period or AuditOptions.period, n_bins=n_bins, exact_limit=EXACT_LIMIT)
        n_rows = cells.n
        frame = ddf._meta[[target, *sensitive]].assign(**{c: np.zeros(0) for c in score_cols})
        whole = summary_fn(stored, cells, frame, target=target, sensitive=sensitive, checks=full,
                           policy=args.policy, baseline=args.baseline, seed=int(args.seed), name=args.name,
                           min_group_size=args.min_group_size or AuditOptions.min_group_size,
                           positive_class=args.positive_class, positive_is_favorable=args.positive_is_favorable,
                           time_column=args.time_column, period=args.period or AuditOptions.period, train=train_log)
        _note_cells(whole, cells)
        whole.meta["groups"] = {c: sorted(map(str, lv)) for c, lv in zip(cells.names, cells.levels)}  # data has no rows
    else:  # multiclass (or the first class of a binary model): the rows' predictions come back
        keep = list(dict.fromkeys([target, *sensitive] + ([time_column] if time_column else [])))
        log = predict_log(ddf, adapter.predict_proba, features=features, keep=keep, n_classes=k, model=adapter)
        n_rows = len(log)
        whole = audit_fn(stored, log, checks=full, train=train_log, **args.for_log())
        for s in whole.sections.values():
            s.notes.append(f"Computed on all {n_rows:,} rows, gathered on the client: prediction cells summarise "
                           "binary models for their second class only, so memory grows with the rows here.")
    if train_log is not None and "performance" in whole.sections:
        whole.sections["performance"].notes.append(
            f"Training metrics (performance.train.*): the model's predictions on all {len(train_log):,} training rows, "
            "gathered on the client as a label and its class probabilities per row.")
    return whole, n_rows


def _sampled_part(audit_fn: Callable[..., Any], model: Any, sample: pd.DataFrame, how: str, args: DaskAuditArgs,
                  checks: list[Any], *, features: list[str], labels: dict[str, Any], sample_rows: int) -> Any:
    """The checks that need the model on rows, as an in-memory audit of the stratified sample; each section that
    computed something says so."""
    sampled_kwargs = {**args.given(), "features": features}
    if is_dask_frame(args.train):  # the sampled checks (overfitting, drift) take a seeded sample of the training rows
        sampled_kwargs["train"] = stratified_sample(args.train, None, sample_rows, int(args.seed))[0]
    # the sample under the data's own column labels: the in-memory audit turns them into strings as it did here
    sampled, where = _run_sampled(audit_fn, model, sample.rename(columns=labels) if labels else sample,
                                  sampled_kwargs, checks)
    for s in sampled.sections.values():
        if s.status == "ok":  # a skipped check computed nothing: its reason is the whole story
            s.notes = [f"Computed on {how} of the Dask DataFrame{where}."] + list(s.notes)
    return sampled


def _train_log(train: Any, adapter: Any, *, features: list[str], target: str, n_classes: int) -> pd.DataFrame:
    """The label and the model's class probabilities on every training row (a pandas or Dask frame), as a frame
    with the score columns :class:`~audit.StoredPredictions` reads: what ``performance.train.*`` needs."""
    if not isinstance(train, pd.DataFrame) and not is_dask_frame(train):
        raise AuditInputError(f"with a Dask DataFrame, train= must be a pandas or Dask DataFrame with the target column "
                              f"{target!r}; got {type(train).__name__}")
    columns = [str(c) for c in train.columns]
    missing = [c for c in [target, *features] if c not in columns]
    if missing:
        raise AuditInputError(f"column {missing[0]!r} not found in train; its columns are {columns[:20]}")
    if is_dask_frame(train):
        return predict_log(train, adapter.predict_proba, features=features, keep=[target], n_classes=n_classes,
                           model=adapter)
    p = _predict(adapter.predict_proba, train[features], "train")
    return train[[target]].reset_index(drop=True).assign(**{f"{SCORE_PREFIX}{j}": p[:, j] for j in range(n_classes)})


def _whole_data_quality(check: Any, ddf: Any, args: DaskAuditArgs, target: str, sensitive: list[str],
                        features: list[str], parts: list[Any], *, regression: bool = False) -> bool:
    """Data quality of every row, partition by partition and merged on the workers, as a report part of its own;
    False (the check then runs on the sample) when the training data is not a pandas frame."""
    from audit.engines._dask_quality import dask_data_quality
    from audit.report import Report

    train = args.train
    if train is not None and not isinstance(train, pd.DataFrame):
        return False
    t0 = time.perf_counter()
    options = AuditOptions(min_group_size=args.min_group_size)
    result = dask_data_quality(ddf, target=target, sensitive=sensitive, features=[f for f in features if f != target],
                               train_frame=train, regression=regression, **check.settings(options))
    section = check.section(result, None)
    rows = int(result.overview.loc["data", "rows"])
    train_rows = f" and all {len(train):,} training rows" if train is not None else ""
    section.notes = [f"Computed on all {rows:,} rows of the Dask DataFrame: each partition summarised on the workers "
                     "(counts, row hashes, histograms) and the summaries merged; what is approximate is noted below."
                     ] + list(section.notes) + [f"Row budget: all {rows:,} rows{train_rows} (no cap: hashing and "
                                                "counting per partition)."]
    section.duration_s = time.perf_counter() - t0
    from audit.checks import starter_thresholds
    from audit.policy import Policy

    policy = Policy.coerce(args.policy, starter=starter_thresholds())
    parts.append(Report(sections={check.name: section}, findings=[], policy=policy, meta={}, baseline=None))
    return True


def _run_sampled(audit_fn: Callable[..., Any], model: Any, sample: pd.DataFrame, kwargs: dict[str, Any],
                 checks: list[Any]) -> tuple[Any, str]:
    """The checks that need the model on rows, on the sample: with a distributed client, one task per check on the
    cluster's workers (the model and the sample sent once), else in this process. Returns the report and a phrase
    saying where they ran."""
    client = _client()
    if client is None or len(checks) < 2:
        return audit_fn(model, sample, **{**kwargs, "checks": checks}), ""
    model_f, sample_f = client.scatter([model, sample], broadcast=False)
    futures = [client.submit(_one_check, audit_fn, model_f, sample_f, kwargs, c, pure=False) for c in checks]
    reports = client.gather(futures)
    merged = reports[0]
    for r in reports[1:]:
        merged.sections.update(r.sections)
    return merged, f" (one task per check on the cluster's {len(client.scheduler_info().get('workers', {}))} workers)"


def _one_check(audit_fn: Callable[..., Any], model: Any, sample: pd.DataFrame, kwargs: dict[str, Any],
               check: Any) -> Any:
    """One check's audit on a worker; its figures stay deferred (drawn where the HTML is written)."""
    return audit_fn(model, sample, **{**kwargs, "checks": [check], "progress": False})


def _client() -> Any:
    """The current distributed client, or None (a threads or processes scheduler, or no distributed)."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


def _summarisable(k: int, classes: Any, positive_class: Any) -> bool:
    """Prediction cells hold a binary model's second class as the positive one: any other task needs the rows."""
    if k != 2:
        return False
    if positive_class is None:
        return True
    second = classes[1] if classes is not None else 1
    return positive_class == second or str(positive_class) == str(second)


def _note_cells(report: Any, cells: PredictionCells) -> None:
    """Say in each full-data section how the rows were summarised and, on grid cells, what is approximate."""
    from audit.stats import auc_error_bound, bound_text

    how = (f"Computed on all {cells.n:,} rows from per-partition prediction cells ({len(cells.count):,} cells) "
           "added up exactly")
    if cells.exact:
        how += " (one cell per distinct score: the in-memory numbers)."
    else:
        how += (f"; scores and confidences on a grid of {cells.n_cells:,} cells on [0, 1], so ROC AUC counts "
                "positives and negatives in one cell as tied")
    for name, section in report.sections.items():
        note = how
        if not cells.exact and name == "performance":
            note += f": the ROC AUC is within {bound_text(auc_error_bound(cells))} of the exact one."
        elif not cells.exact and name == "fairness":
            note += f": each group's ROC AUC is within {bound_text(_group_auc_bound(cells))} of the exact one."
        elif not cells.exact:
            note += "."
        section.notes = [note, *section.notes]


def _group_auc_bound(cells: PredictionCells) -> float:
    """The largest tie bound of a group's ROC AUC over the groups of every sensitive column and the intersection."""
    from audit.stats import auc_tie_bound

    plain = cells.without_periods()
    keys, cell = np.unique(plain.score, return_inverse=True)
    views = [plain.view([c])[0] for c in plain.names] + [np.arange(plain.n_groups)]
    worst = 0.0
    for member in views:
        V = int(member.max()) + 1
        at = member[plain.group] * len(keys) + cell.reshape(-1)
        pos = np.bincount(at, weights=plain.count * (plain.label == 1), minlength=V * len(keys)).reshape(V, -1)
        neg = np.bincount(at, weights=plain.count * (plain.label != 1), minlength=V * len(keys)).reshape(V, -1)
        worst = max(worst, float(np.nanmax(auc_tie_bound(pos, neg), initial=0.0)))
    return worst


def _sample_proxies(section: Any, sample: pd.DataFrame, how: str, features: list[str], sensitive: list[str],
                    seed: int) -> None:
    """Proxy detection needs the features, which stay on the workers: it runs on the stratified sample and is
    reported as the fairness check reports it (:func:`audit.checks.fairness.add_proxies`)."""
    from audit.checks.fairness import add_proxies
    from audit.fairness import proxy_auc

    res = proxy_auc(sample[features], sample[sensitive], seed=seed)
    section.notes = [n for n in section.notes if not n.startswith("Proxy detection needs")]
    section.notes.append(f"Proxy detection ran on {how} (it needs the features, which stay on the workers).")
    add_proxies(res, [str(c) for c in sensitive], tables=section.tables, metrics=section.metrics, notes=section.notes,
                on=" on the sample")


def _merge(parts: list[Any], adapter: Any, *, n_rows: int, how: str, seconds: float) -> Any:
    """One report from the full-data and the sampled audits: sections in registry order, findings re-evaluated."""
    from audit.checks import REGISTRY
    from audit.report import Report

    sections = {}
    for name in REGISTRY:
        for p in parts:
            if name in p.sections:
                sections[name] = p.sections[name]
    first = next((p for p in parts if p.meta), parts[0])  # a whole audit's part: its policy and baseline
    metrics = {m.name: m for s in sections.values() for m in s.metrics}
    check_of = {m.name: s.check for s in sections.values() for m in s.metrics}
    skipped = {s.check: s.reason for s in sections.values() if s.status != "ok"}
    ran = {s.check for s in sections.values() if s.status == "ok"}
    findings = first.policy.evaluate(metrics, check_of, baseline=first.baseline, skipped=skipped, ran=ran)
    # a sampled audit that saw the model score the same rows differently says so once (audit._api._repeat_finding)
    findings += [f for p in parts for f in p.findings if f.metric == "model.repeatability"][:1]
    meta = dict(next((p.meta for p in reversed(parts) if p.meta), {}))
    meta.update({"model": adapter.name, "model_kind": adapter.kind, "rows": n_rows, "engine": "dask",
                 "sample": how, "duration_s": round(seconds, 3),
                 "check_durations": {k: round(s.duration_s, 3) for k, s in sections.items()}})
    return Report(sections=sections, findings=findings, policy=first.policy, meta=meta, baseline=first.baseline)
