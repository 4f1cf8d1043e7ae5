"""The model layer: one backend per model kind behind one protocol, and the one device rule.

Backends are tried in registry order; the first whose ``accepts`` is true wraps the model:

=====================  =================================================================
backend                models
=====================  =================================================================
``TorchBackend``       ``torch.nn.Module``: eager, TorchScript, ``torch.export`` programs
``OnnxBackend``        ``onnxruntime.InferenceSession`` or a path ending in ``.onnx``
``XGBoostBackend``     ``xgboost.XGBClassifier`` or ``xgboost.Booster``
``LightGBMBackend``    ``lightgbm.LGBMClassifier`` or ``lightgbm.Booster``
``CatBoostBackend``    ``catboost.CatBoostClassifier``
``SklearnBackend``     scikit-learn estimators and Pipelines
``TextPipelineBackend`` a Hugging Face ``pipeline("text-classification")`` (every label's score)
``DuckBackend``        any object with ``predict_proba`` / ``decision_function`` / ``predict``
``CallableBackend``    any function ``X -> scores or labels``
``StoredPredictions``  no model: score / label columns of a prediction log
=====================  =================================================================

Each backend names the model files it loads (``file_formats``: suffixes, loader, whether loading runs
code); :func:`load_model_file` picks one by suffix and loads a format that is code only with
``trust_code=True``.

Nothing outside this package tests a model's kind: checks ask the adapter what it can do
(``differentiable``, ``has_scores``, ``feature_names``) and what it does (``task``: each backend reads it
from the model where the model says, ``task=`` decides where it cannot).
"""

from audit.backends._base import (
    BACKENDS,
    TASKS,
    ModelBackend,
    ModelFile,
    ModelFileError,
    backend_for,
    is_regressor,
    library_of,
    Task,
    register_backend,
)
from audit.backends._boosting import CatBoostBackend, LightGBMBackend, XGBoostBackend
from audit.backends._callable import CallableBackend
from audit.backends._device import as_numpy, module_device, numeric_values, resolve_device
from audit.backends._estimators import SKOPS_TRUSTED, DuckBackend, EstimatorBackend, SklearnBackend
from audit.backends._files import load_model_file, model_file_format, model_suffixes
from audit.backends._onnx import OnnxBackend, load_onnx
from audit.backends._scores import OUTPUT_KINDS, OutputKind, check_proba, scores_to_proba
from audit.backends._stored import StoredPredictions, StoredPredictionsBackend
from audit.backends._text_pipeline import TextPipelineBackend
from audit.backends._torch import TorchBackend, input_dtype, last_leaf, n_rows, rows, set_training, try_forward_hook

for _cls in (StoredPredictionsBackend, TorchBackend, OnnxBackend, XGBoostBackend, LightGBMBackend, CatBoostBackend, SklearnBackend,
             TextPipelineBackend, DuckBackend, CallableBackend):
    register_backend(_cls)

__all__ = [
    "BACKENDS",
    "OUTPUT_KINDS",
    "SKOPS_TRUSTED",
    "CallableBackend",
    "CatBoostBackend",
    "DuckBackend",
    "EstimatorBackend",
    "LightGBMBackend",
    "ModelBackend",
    "ModelFile",
    "ModelFileError",
    "OnnxBackend",
    "OutputKind",
    "SklearnBackend",
    "TASKS",
    "Task",
    "StoredPredictions",
    "StoredPredictionsBackend",
    "TextPipelineBackend",
    "TorchBackend",
    "n_rows",
    "rows",
    "XGBoostBackend",
    "as_numpy",
    "backend_for",
    "check_proba",
    "input_dtype",
    "is_regressor",
    "last_leaf",
    "library_of",
    "load_model_file",
    "load_onnx",
    "model_file_format",
    "model_suffixes",
    "module_device",
    "numeric_values",
    "register_backend",
    "resolve_device",
    "scores_to_proba",
    "set_training",
    "try_forward_hook",
]
