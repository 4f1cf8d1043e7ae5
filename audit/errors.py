"""Exceptions and message templates that tests assert on."""

from __future__ import annotations


class AuditInputError(ValueError):
    """The model, data or configuration cannot be audited as given (CLI exit code 2)."""


class ModelCallError(RuntimeError):
    """The model raised while being called by the audit; the message says which call."""


UNKNOWN_COLUMN = "{arg} column {name!r} not found in {where}; columns are {columns}"
LENGTH_MISMATCH = "{arg} has {got} rows but data has {expected}; pass values aligned with data rows"
EMPTY_DATA = "{arg} is empty (0 rows); pass at least one row"
NON_FINITE = ("{arg} has infinite values in numeric column(s) {columns}; replace them (with NaN where the model takes "
              "missing values) or drop those rows")
MISSING_REFUSED = (
    "{arg} has missing values in column(s) {columns} ({rows} of {n} rows) and the model cannot take them: {reason}. "
    "Impute them as part of the model (make_pipeline(SimpleImputer(), model) fitted on the training data, or an imputing "
    "transform=), use a model that takes missing values (HistGradientBoostingClassifier, XGBoost, LightGBM), or drop "
    "those rows"
)
ONE_CLASS = "target {name!r} has a single class ({value!r}); an audit needs at least two classes"
BAD_OUTPUT_SHAPE = "model returned shape {shape} for {n} rows; expected ({n},) scores or ({n}, n_classes) scores"
NAN_OUTPUT = "model returned NaN or infinite scores for {count} of {n} rows"
MODEL_RAISED = "model raised {exc_type} while predicting on {what}: {exc}"
NOT_UNICODE = ("{what} holds text that is not valid Unicode ({value!r} has a lone surrogate, the trace of bytes decoded "
               "with the wrong codec or errors='surrogateescape'); read the data again with its encoding, e.g. "
               "pd.read_csv(path, encoding='latin-1')")
