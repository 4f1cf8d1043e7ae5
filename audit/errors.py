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
TOO_LARGE = ("{arg} has values beyond +-{limit:.3g} (float32's range, in which scikit-learn trees, XGBoost, LightGBM "
             "and torch compute: beyond it values become infinite there) in numeric column(s) {columns} (largest "
             "magnitude {value:.3g}); rescale them (log or standard units) or drop them before auditing")
ONE_CLASS = "target {name!r} has a single class ({value!r}); an audit needs at least two classes"
BAD_OUTPUT_SHAPE = "model returned shape {shape} for {n} rows; expected ({n},) scores or ({n}, n_classes) scores"
NAN_OUTPUT = "model returned NaN or infinite scores for {count} of {n} rows"
NOT_PROBABILITIES = (
    "{model} returned {k} scores per row that are not probabilities for {count} of {n} rows (row sums {lo:.4g} to "
    "{hi:.4g}, values {vmin:.4g} to {vmax:.4g}; probabilities lie in [0, 1] and sum to 1 within {atol:g}); {fix}"
)
#: the fix for :data:`NOT_PROBABILITIES` when the model can be called with ``model_output``
LOGITS_FIX = ("pass model_output='logits' if they are unnormalised scores (softmax is applied), or make the model "
              "return probabilities")
WRONG_WIDTH = ("{model} returned {k} probability columns but records {c} classes {classes}; its predict_proba must "
               "return one column per class, in the order of classes_")
ONE_COLUMN = ("{model} returned a single probability column; an audit needs a classifier with at least two classes "
              "(a binary model returns one column per class, or one positive-class score)")
DUPLICATE_CLASSES = ("{model} lists class(es) {dups} more than once in its classes {classes}; each class must appear "
                     "once, one probability column each")
MODEL_RAISED = "model raised {exc_type} while predicting on {what}: {exc}"
NOT_UNICODE = ("{what} holds text that is not valid Unicode ({value!r} has a lone surrogate, the trace of bytes decoded "
               "with the wrong codec or errors='surrogateescape'); read the data again with its encoding, e.g. "
               "pd.read_csv(path, encoding='latin-1')")
