"""A Dask audit of a regressor: the full-data checks on every row's prediction, gathered as a regression log.

Each partition predicts on the workers (the in-memory feature rule applied to every row); the client receives
one prediction and the target, sensitive and time columns per row, and audits that log in memory through
``StoredPredictions(prediction=...)``: every number, intervals included, is the in-memory audit's to the last
bit, at 8 bytes per row per column on the client. Summarising partitions by exact moments (and a Poisson
bootstrap for intervals) would keep the client's memory flat; that engine is not built yet, and each section
says how its rows were gathered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

#: the full-data checks of a regression audit (calibration does not serve regressors)
REGRESSION_FULL_DATA = ("performance", "fairness", "uncertainty")


def _values(adapter: Any) -> Callable[..., np.ndarray]:
    """The adapter's predicted values as the one-column score array :func:`audit.engines.dask.predict_log` stores."""

    def predict(X: Any, *, what: str) -> np.ndarray:
        return adapter.predict_values(X, what=what)[:, None]

    return predict


def regression_full_part(audit_fn: Callable[..., Any], ddf: Any, adapter: Any, args: Any, full: list[Any], *,
                         features: list[str], sensitive: list[str], columns: list[str],
                         predict_log: Callable[..., pd.DataFrame], score_prefix: str) -> tuple[Any, int]:
    """The full-data checks of a regression audit on every row; returns the report part and the rows it read.

    ``predict_log`` and ``score_prefix`` are the engine's (passed in: this module does not import it).
    """
    from audit.backends import StoredPredictions

    target = args.target
    time_column = args.time_column if args.time_column in columns else None
    keep = list(dict.fromkeys([target, *sensitive] + ([time_column] if time_column else [])))
    column = f"{score_prefix}0"
    log = predict_log(ddf, _values(adapter), features=features, keep=keep, n_classes=1, model=adapter)
    train_log = None
    if args.train is not None:
        train_log = _train_values(args.train, adapter, features=features, target=target, column=column,
                                  predict_log=predict_log)
    whole = audit_fn(StoredPredictions(prediction=column), log, checks=full, train=train_log, **args.for_log())
    for s in whole.sections.values():
        s.notes.append(f"Computed on all {len(log):,} rows: each partition predicted on the workers and the predictions "
                       "were gathered on the client with the target and group columns (8 bytes per value), so every "
                       "number equals the in-memory audit's; client memory grows with the rows.")
    return whole, len(log)


def _train_values(train: Any, adapter: Any, *, features: list[str], target: str, column: str,
                  predict_log: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """The target and the model's prediction on every training row (pandas or Dask), as a regression log."""
    from audit.errors import AuditInputError

    if not isinstance(train, pd.DataFrame) and not hasattr(train, "map_partitions"):
        raise AuditInputError(f"with a Dask DataFrame, train= must be a pandas or Dask DataFrame with the target column "
                              f"{target!r}; got {type(train).__name__}")
    missing = [c for c in [target, *features] if c not in [str(c) for c in train.columns]]
    if missing:
        raise AuditInputError(f"column {missing[0]!r} not found in train; its columns are {list(train.columns)[:20]}")
    if not isinstance(train, pd.DataFrame):
        return predict_log(train, _values(adapter), features=features, keep=[target], n_classes=1, model=adapter)
    values = adapter.predict_values(train[features], what="train")
    return train[[target]].reset_index(drop=True).assign(**{column: values})
