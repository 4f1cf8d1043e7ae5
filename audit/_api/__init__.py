"""The orchestrator: ``audit(model, data, ...) -> Report``.

Loading and checking the inputs is in :mod:`audit._api._inputs`, the run's progress record (the CLI's time
budget) in :mod:`audit._api._record`; both are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from audit._api._inputs import checked_seed, column_names, load_inputs
from audit._api._record import RunRecord, current_record, recording, set_stage
from audit.baseline import Baseline, load_baseline
from audit.checks import REGISTRY, Check, starter_thresholds
from audit.context import AuditContext, AuditOptions, positive_class_of
from audit.data import AuditData, load_data
from audit.errors import AuditInputError
from audit.findings import Finding
from audit.model import ModelAdapter, OutputKind
from audit.policy import Policy
from audit.report import Report
from audit.section import Section
from audit.stats import PredictionCells
from audit.text import units

__all__ = [
    "REPEAT_ROWS", "REPEAT_TOLERANCE", "RunRecord", "audit", "audit_summary", "metric_patterns", "positive_class_of",
    "recording", "resolve_checks", "run_checks", "set_stage", "starter_policy", "starter_thresholds",
]

log = logging.getLogger(__name__)

_VERSIONED = ("audit", "torch", "numpy", "pandas", "scikit-learn", "fairlearn", "shap", "captum", "lime")
#: rows of data predicted a second time to see whether the model gives the same scores, and the largest
#: difference in a class probability that counts as the same (float32 libraries differ by ~1e-7 between batch
#: sizes; dropout left on or random noise by 1e-2 and more)
REPEAT_ROWS, REPEAT_TOLERANCE = 64, 1e-4


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def resolve_checks(checks: Sequence[str | Check] | None) -> list[Check]:
    """Check names or instances -> instances, in registry order for names; unknown names list the valid ones."""
    if checks is None:
        return [cls() for cls in REGISTRY.values()]
    if isinstance(checks, (str, Check)):
        checks = [checks]
    if not isinstance(checks, (list, tuple)):
        raise AuditInputError(
            f"checks must be None, a check name or a list of names / Check instances, e.g. checks=['performance']; "
            f"got {type(checks).__name__}"
        )
    out: list[Check] = []
    for c in checks:
        if isinstance(c, Check):
            out.append(c)
        elif isinstance(c, str) and c in REGISTRY:
            out.append(REGISTRY[c]())
        else:
            raise AuditInputError(f"checks: unknown check {c!r}; valid checks are {list(REGISTRY)}")
    return out


def metric_patterns() -> list[str]:
    """Every metric-name pattern of every registered check (what a policy may name)."""
    return [p for cls in REGISTRY.values() for p in cls.metric_patterns]


def starter_policy() -> Policy:
    """The policy an audit uses when none is given: :func:`starter_thresholds`, none of them the user's own.

    Examples
    --------
    >>> starter_policy().thresholds["calibration.ece"].describe()
    '<= 0.1'
    """
    return Policy.default(starter_thresholds())


def audit(
    model: Any,
    data: Any,
    *,
    target: str | None = None,
    sensitive: Sequence[Any] | Any | None = None,
    train: Any = None,
    checks: Sequence[str | Check] | None = None,
    policy: Policy | Mapping[str, Any] | str | Path | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    transform: Any = None,
    features: Sequence[str] | None = None,
    modality: Literal["tabular", "image", "text"] | None = None,
    model_output: OutputKind = "auto",
    task: str = "auto",
    tokenizer: Any = None,
    immutable: Sequence[str] = (),
    history: Any = None,
    baseline: str | Path | Mapping[str, float] | None = None,
    name: str | None = None,
    progress: bool = True,
    min_group_size: int = 30,
    positive_class: Any = None,
    positive_is_favorable: bool = True,
    time_column: str | None = None,
    period: str = "M",
    sample_weight: str | Any = None,
) -> Report:
    """Audit a trained model on a data set and return a :class:`~audit.report.Report`.

    Parameters
    ----------
    model : torch.nn.Module | scikit-learn estimator/Pipeline | XGBoost / LightGBM / CatBoost model | ONNX | callable
        Anything a backend in :data:`audit.backends.BACKENDS` accepts: torch modules (eager,
        TorchScript, torch.export), scikit-learn estimators and Pipelines, XGBoost, LightGBM and
        CatBoost classifiers or boosters, an ``onnxruntime.InferenceSession`` or a ``.onnx`` path,
        any object with ``predict_proba`` / ``decision_function`` / ``predict``, or a function.
    data : DataFrame | (X, y) | torch Dataset / DataLoader
        Evaluation data.
    target : str, optional
        Label column when ``data`` is a DataFrame.
    sensitive : list of column names or arrays, optional
        Sensitive attributes for fairness, per-group robustness and calibration.
    train : same kind as ``data``, optional
        Training data: overfitting, drift and leakage checks.
    checks : list of str or Check, optional
        None runs every registered check that applies; see ``audit.checks.REGISTRY``.
    policy : Policy | dict | path to TOML, optional
        Thresholds; None uses the starter policy (:func:`starter_policy`).
    device : {"auto", "cpu", "cuda", ...}
        Where torch work runs; "auto" picks CUDA when present.
    seed : int
        Same inputs and seed give the same numbers.
    transform : callable or fitted transformer, optional
        DataFrame -> model input, for any model: a function, an ``audit.transforms.TabularEncoder``,
        or a fitted object with ``.transform`` (``ColumnTransformer``, ``Pipeline``), whose outputs
        are traced back to their columns through ``get_feature_names_out()``.
    features : list of str, optional
        Columns the model takes (default: the transform's input columns, else the model's recorded
        feature names (``feature_names_in_``, ``feature_names_``, booster or ONNX input names), else
        all but the target).
    modality : {"tabular", "image", "text"}, optional
        Force the modality instead of detecting it. Text is detected when the model reads raw strings (a
        scikit-learn text vectorizer first in its pipeline) or the data is ``(list_of_texts, y)``; the text column
        is the one ``features=`` names, else the string column with the most words. Other columns stay
        available as sensitive attributes; the model is called on a list of strings.
    model_output : {"auto", "logits", "proba", "labels"}
        What the model returns, when "auto" guesses wrong.
    tokenizer : callable, optional
        A text model's tokenizer: called on a list of strings, it gives the model's input (a LongTensor of token ids,
        or a mapping of named tensors such as ``input_ids`` and ``attention_mask``, passed as keyword arguments). A
        Hugging Face tokenizer is asked for padded, truncated torch tensors. Implies ``modality="text"``.
    task : {"auto", "classification", "regression"}
        What the model does. ``"auto"`` takes what the model says (a regressor's type, a booster's objective,
        ``StoredPredictions(prediction=...)``); a function or torch module that predicts a number needs
        ``task="regression"``. Checks that cannot serve the task are skipped with the reason.
    immutable : list of str
        Columns attacks must never change (sensitive columns never change either).
    history : DataFrame or dict, optional
        Per-epoch training history (``train_loss``, ``val_loss``, ...) for the overfitting check.
    baseline : path to a previous ``audit.json`` or dict of metric values, optional
        Enables ``max_increase``/``max_decrease`` thresholds and shows deltas.
    name : str, optional
        What to call the model in the report (default: its class name).
    progress : bool
        Show a progress bar over checks.
    min_group_size, positive_class, positive_is_favorable
        Audit-wide options (:class:`audit.context.AuditOptions`); a check's own setting wins.
    time_column, period : str, optional
        A timestamp column (e.g. a prediction log's scoring time) and a pandas period ("W", "M", "Q"):
        the performance section adds accuracy, ROC AUC and selection-rate gaps per period.
    sample_weight : str or array-like, optional
        Row weights of ``data`` (survey weights such as Adult's ``fnlwgt``, importance weights): a column
        name (then not a feature, like the target) or one value per row. Performance, fairness and
        calibration weigh every row by it; checks that sample rows say in a note that they do not.

    Examples
    --------
    >>> from audit import audit
    >>> from audit.datasets import load_adult
    >>> from sklearn.linear_model import LogisticRegression
    >>> d = load_adult("test")
    >>> X = d.frame[["age", "education_num", "hours_per_week"]]
    >>> clf = LogisticRegression().fit(X, d.frame["income"])
    >>> report = audit(clf, d.frame, target="income", sensitive=["sex"], progress=False)  # doctest: +SKIP
    >>> report.passed  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    seed = checked_seed(seed)
    from audit.engines.dask import audit_dask, is_dask_frame

    # policy, checks and baseline before any work: a bad one fails before a pass over the data (Dask too)
    pol = Policy.coerce(policy, starter=starter_thresholds())
    pol.validate(metric_patterns())
    check_list = resolve_checks(checks)
    base = _load_baseline(baseline)
    if is_dask_frame(data):  # predictions per partition; count-based checks on every row, the rest on a sample
        if tokenizer is not None or modality == "text":
            raise AuditInputError("the Dask engine audits tabular data; audit a text model on a pandas DataFrame")
        return audit_dask(
            audit, model, data, summary_fn=audit_summary, target=target, sensitive=sensitive, train=train,
            checks=check_list,
            policy=pol,
            device=device, seed=seed, transform=transform, features=features, modality=modality,
            model_output=model_output, task=task, immutable=immutable, history=history, baseline=baseline, name=name,
            progress=progress, min_group_size=min_group_size, positive_class=positive_class,
            positive_is_favorable=positive_is_favorable, time_column=time_column, period=period,
            sample_weight=sample_weight,
        )
    torch.manual_seed(seed)

    options = AuditOptions(immutable=column_names(immutable, "immutable"), history=history,
                           min_group_size=min_group_size, positive_class=positive_class,
                           positive_is_favorable=positive_is_favorable, time_column=time_column, period=period)
    adapter, data_, train_ = load_inputs(model, data, train, options, target=target, sensitive=sensitive,
                                         features=features, modality=modality, model_output=model_output, task=task,
                                         transform=transform, device=device, sample_weight=sample_weight,
                                         tokenizer=tokenizer)
    ctx = AuditContext(model=adapter, data=data_, train=train_, seed=seed, progress=progress, options=options)
    repeat = _predict_up_front(ctx)
    report = run_checks(ctx, check_list, pol, base, t0=t0, name=name)
    if repeat is not None:
        rows, diff = repeat
        report.meta["repeatability"] = {"rows": rows, "max_abs_difference": diff, "tolerance": REPEAT_TOLERANCE}
        if diff > REPEAT_TOLERANCE:
            report.findings.append(_repeat_finding(rows, diff, pol))
    return report


def _predict_up_front(ctx: AuditContext) -> tuple[int, float] | None:
    """Predict once before any check, so a broken model or a label mismatch fails here, not in a check; returns
    :meth:`AuditContext.repeat_difference` (the rows predicted twice and the largest difference)."""
    set_stage("predicting on data")
    _ = (ctx.prediction if ctx.is_regression else ctx.proba), ctx.y
    _ = ctx.positive_class  # a class the model lacks fails now, not in a check
    repeat = ctx.repeat_difference(REPEAT_ROWS)
    if ctx.train is not None:
        set_stage("predicting on train")
        _ = (ctx.train_prediction if ctx.is_regression else ctx.train_proba), ctx.train_y
    return repeat


def _repeat_finding(rows: int, diff: float, pol: Policy) -> Finding:
    """A warning: the model gave other scores for the same rows when called again (it blocks under fail_on='warn')."""
    return Finding(
        check="model", metric="model.repeatability", value=diff, threshold=f"max difference <= {REPEAT_TOLERANCE:g}",
        severity="warn", status="warn", passed=pol.fail_on != "warn",
        message=(f"the model returned different scores for the same rows: predicting the first {rows} rows again "
                 f"changed a class probability by up to {diff:.4g} (tolerance {REPEAT_TOLERANCE:g}). The checks call the "
                 "model many times on the same rows, so their numbers mix different draws: put the model in eval mode "
                 "(dropout), fix its random seed, or remove the randomness"),
    )


def audit_summary(model: Any, cells: PredictionCells, frame: Any, *, target: str, sensitive: list[str],
                  checks: list[Check], policy: Any = None, baseline: Any = None, seed: int = 0, name: str | None = None,
                  progress: bool = False, train: Any = None, **options: Any) -> Report:
    """Run count-based ``checks`` on predictions already summarised as ``cells`` (a Dask audit's merged partitions).

    ``model`` is what reads the predictions (a :class:`~audit.StoredPredictions` naming score columns of
    ``frame``, an empty frame with the log's columns: ``data`` of the context holds no rows); ``train`` a
    frame of the training rows' labels and those score columns (``performance.train.*``); ``options`` are
    :class:`AuditOptions` fields.
    """
    t0 = time.perf_counter()
    pol = Policy.coerce(policy, starter=starter_thresholds())
    pol.validate(metric_patterns())
    base = _load_baseline(baseline)
    adapter = ModelAdapter(model)
    frame = frame.iloc[:0]  # the columns only: the rows are in the cells (load_data refuses an empty frame)
    data_ = AuditData(X=frame[adapter.feature_names_in or []], y=frame[target].to_numpy(), sensitive=frame[sensitive],
                      modality="tabular", frame=frame, target=target)
    train_ = None if train is None else load_data(train, target=target, features=adapter.feature_names_in, arg="train")
    ctx = AuditContext(model=adapter, data=data_, train=train_, seed=int(seed), progress=progress,
                       options=AuditOptions(**options), summary=cells)
    _ = ctx.positive_class
    return run_checks(ctx, checks, pol, base, t0=t0, name=name)


def run_checks(ctx: AuditContext, check_list: list[Check], pol: Policy, base: Any, *, t0: float,
               name: str | None = None) -> Report:
    """Run ``check_list`` on ``ctx`` and turn the sections into a report (what :func:`audit` does once the data is
    loaded; the Dask engine calls it with a context of summarised predictions)."""
    sections: dict[str, Section] = {}
    record = current_record()
    if record is not None:
        # a supervisor (the CLI's time budget) can write what finished, the rest as errors saying why
        record.sections = sections
        record.partial = lambda why: _assemble(ctx, _with_unfinished(dict(sections), check_list, why), pol, base,
                                               t0=t0, name=name)
    bar = None
    if ctx.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(check_list), desc="audit", unit="check", leave=False)
    for check in check_list:
        if bar is not None:
            bar.set_postfix_str(check.name)
        set_stage(f"check {check.name!r}")
        sections[check.name] = _run_check(check, ctx)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    set_stage("writing the report")
    return _assemble(ctx, sections, pol, base, t0=t0, name=name)


def _with_unfinished(sections: dict[str, Section], check_list: list[Check], why: str) -> dict[str, Section]:
    """``sections`` plus an error section for every check of ``check_list`` without one (it did not finish)."""
    for check in check_list:
        if check.name not in sections:
            sections[check.name] = Section(check=check.name, title=check.title, status="error",
                                           reason=f"the check did not finish: {why}")
    return sections


def _assemble(ctx: AuditContext, sections: dict[str, Section], pol: Policy, base: Any, *, t0: float,
              name: str | None) -> Report:
    """The report of ``sections``: the policy's findings and the run's metadata."""
    metrics = {m.name: m for s in sections.values() for m in s.metrics}
    check_of = {m.name: s.check for s in sections.values() for m in s.metrics}
    skipped = {s.check: s.reason for s in sections.values() if s.status != "ok"}
    ran = {s.check for s in sections.values() if s.status == "ok"}
    findings = pol.evaluate(metrics, check_of, baseline=base, skipped=skipped, ran=ran)
    meta = _meta(ctx, pol, sections, time.perf_counter() - t0)
    if name:
        meta["model"] = name
    return Report(sections=sections, findings=findings, policy=pol, meta=meta, baseline=base)


def _run_check(check: Check, ctx: AuditContext) -> Section:
    t = time.perf_counter()
    try:
        reason = check.skip_reason(ctx)
        if reason:
            section = Section(check=check.name, title=check.title, status="skipped", reason=reason)
        else:
            section = check.run(ctx)
            budget = check.row_budget(ctx, section) if section.status == "ok" else None
            if budget:
                section.notes.append(f"Row budget: {budget}.")
            unweighted = check.weights_note(ctx) if section.status == "ok" else None
            if unweighted:
                section.notes.append(unweighted)
    except KeyboardInterrupt:  # the user's Ctrl-C ends the run
        raise
    except BaseException as exc:  # noqa: BLE001 - one broken check must not sink the report
        # BaseException: a model that calls sys.exit(0) (SystemExit) inside a check must not end the gate with
        # exit 0 and no report; it is an error section, which fails the verdict. The reason is in the report;
        # the traceback only at DEBUG (audit run --debug), so stderr keeps its one-line contract.
        log.debug("check %s raised", check.name, exc_info=True)
        if isinstance(exc, SystemExit):
            tb = f"SystemExit: the model or the check called sys.exit({exc.code!r})"
        else:
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        section = Section(check=check.name, title=check.title, status="error", reason=f"the check raised {tb}")
    section.duration_s = time.perf_counter() - t
    return section


def _load_baseline(baseline: str | Path | Mapping[str, float] | None) -> Baseline | None:
    """The baseline's metric values, validated (file, structure, numbers) with errors naming the file and key."""
    return load_baseline(baseline)


def _positive_meta(ctx: AuditContext) -> dict[str, str]:
    """The positive class and why it was chosen (the report's first screen states both)."""
    chosen = ctx.positive_class  # validated before any check ran
    if chosen is None:
        return {}
    return {"positive_class": str(chosen[0]), "positive_class_source": chosen[1]}


def _target_meta(ctx: AuditContext) -> dict[str, Any]:
    """A regressor's target in its own units for the first screen: mean, standard deviation and range."""
    if not ctx.is_regression or ctx.y is None:
        return {}
    y = ctx.y
    return {"target_summary": f"mean {units(y.mean())}, standard deviation {units(y.std())}, range {units(y.min())} "
                              f"to {units(y.max())}"}


def _meta(ctx: AuditContext, policy: Policy, sections: dict[str, Section], duration: float) -> dict[str, Any]:
    d = ctx.data
    groups = {c: sorted(map(str, d.sensitive[c].unique())) for c in d.sensitive.columns}
    pol = json.dumps({k: vars(v) for k, v in sorted(policy.thresholds.items())}, sort_keys=True, default=str)
    return {
        "model": ctx.model.name,
        "model_kind": ctx.model.kind,
        "model_output": ctx.model.output,
        "task": ctx.task,
        "rows": len(d),
        "train_rows": None if ctx.train is None else len(ctx.train),
        "modality": d.modality,
        "n_features": len(d.feature_names) if d.modality != "image" else int(np.prod(tuple(d.X.shape[1:]))),
        "target": d.target,
        "classes": [str(c) for c in ctx.classes],
        **_positive_meta(ctx),
        **_target_meta(ctx),
        "sensitive": d.sensitive_names,
        "groups": groups,
        "device": str(ctx.device),
        "seed": ctx.seed,
        "fingerprint": ctx.fingerprint(),
        "policy_hash": hashlib.sha256(pol.encode()).hexdigest()[:12],
        "versions": _versions(),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(duration, 3),
        "check_durations": {k: round(s.duration_s, 3) for k, s in sections.items()},
        "data_notes": list(d.notes),
    }
