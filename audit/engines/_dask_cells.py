"""Per-partition prediction cells of a Dask audit: each partition predicts and summarises its rows, the summaries
are added up in a tree on the workers, and the client receives one (:func:`summarise`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from audit.data import check_features
from audit.errors import AuditInputError, ModelCallError
from audit.stats import EXACT_LIMIT, PredictionCells, build_cells, merge_cells

#: rows summarised at a time: past about a million rows the per-row arrays outgrow the caches and a summary
#: costs three times as much per row (bench/scale.py)
CHUNK_ROWS = 1_000_000


def _predict(predict_proba: Callable[..., np.ndarray], X: pd.DataFrame, number: Any) -> np.ndarray:
    """The model's probabilities on one partition; an error names the partition."""
    try:
        return predict_proba(X, what=f"partition {number}")
    except ModelCallError:
        raise  # the adapter's message already names the partition
    except Exception as exc:  # noqa: BLE001 - re-raised with the partition named
        raise ModelCallError(f"the model raised {type(exc).__name__} on partition {number}: {exc}") from exc

def label_codes(labels: pd.Series, classes: list[Any], where: str) -> np.ndarray:
    """The labels as indices of the model's classes; a label not among them is an error naming ``where``."""
    y = pd.Index(classes).get_indexer(labels)
    if (y < 0).any():
        bad = labels.to_numpy()[y < 0][0]
        raise AuditInputError(f"{where}: label {bad!r} in {str(labels.name)!r} is not one of the model's classes "
                              f"{list(classes)}; encode labels like the model's output columns")
    return y


def partition_cells(df: pd.DataFrame, number: int, adapter: Any, *, features: list[str], target: str,
                    sensitive: list[str], classes: list[Any], time_column: str | None, period: str,
                    n_bins: int, exact_limit: int = EXACT_LIMIT,
                    chunk_rows: int = CHUNK_ROWS) -> PredictionCells | None:
    """One partition's predictions as prediction cells (exact while its scores are few enough); None when empty.

    A large partition is summarised ``chunk_rows`` at a time and the chunks' cells merged (the same cells up to
    the order sums are added in): a 10M-row partition costs ten 1M-row summaries, not one at a third the speed.
    """
    if len(df) == 0:
        return None
    if len(df) > chunk_rows:
        chunks = [partition_cells(df.iloc[i:i + chunk_rows], number, adapter, features=features, target=target,
                                  sensitive=sensitive, classes=classes, time_column=time_column, period=period,
                                  n_bins=n_bins, exact_limit=exact_limit, chunk_rows=chunk_rows)
                  for i in range(0, len(df), chunk_rows)]
        return merge_cells(chunks, exact_limit=exact_limit)
    check_features(df[features], f"data (partition {number})", adapter)  # the in-memory rule, on every row
    p = _predict(adapter.predict_proba, df[features], number)
    y = label_codes(df[target], classes, f"partition {number}")
    periods = None
    if time_column is not None:
        periods = pd.to_datetime(df[time_column], errors="coerce").dt.to_period(period).reset_index(drop=True)
    return build_cells(y, p, df[sensitive].reset_index(drop=True), periods=periods, n_bins=n_bins,
                       exact_limit=exact_limit, has_scores=adapter.has_scores)

def _merge_two(a: PredictionCells | None, b: PredictionCells | None, exact_limit: int) -> PredictionCells | None:
    return a if b is None else b if a is None else merge_cells([a, b], exact_limit=exact_limit)

def summarise(ddf: Any, adapter: Any, **kwargs: Any) -> PredictionCells:
    """Prediction cells of every row of ``ddf``: one summary per partition, added up pairwise on the workers, so
    the client receives one summary (its size bounded by the cells, whatever the rows). ``kwargs`` as
    :func:`partition_cells`."""
    import dask

    model = dask.delayed(adapter, pure=True)  # one key: the model travels to each worker once
    level = [dask.delayed(partition_cells, pure=True)(part, i, model, **kwargs) for i, part in enumerate(ddf.to_delayed())]
    while len(level) > 1:
        level = [dask.delayed(_merge_two, pure=True)(*level[i:i + 2], kwargs.get("exact_limit", EXACT_LIMIT))
                 if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    cells = level[0].compute()
    if cells is None:
        raise AuditInputError("the Dask DataFrame has no rows")
    return cells
