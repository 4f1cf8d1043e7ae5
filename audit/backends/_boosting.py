"""Gradient-boosting libraries: XGBoost, LightGBM and CatBoost, through their scikit-learn wrappers or raw boosters.

None of these libraries is imported here: a backend recognises a model by the package that defines
its class, so the core works without them installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from audit.backends._base import ModelBackend, ModelFile, library_of
from audit.backends._estimators import EstimatorBackend
from audit.backends._scores import OutputKind, scores_to_proba
from audit.errors import AuditInputError


def _real_names(names: Any, generated: str) -> list[str] | None:
    """Recorded feature names, or None when the library made them up (the model was fitted on an array)."""
    if names is None:
        return None
    names = [str(n) for n in names]
    if names and all(re.fullmatch(generated, n) for n in names):
        return None
    return names


#: objectives that classify (XGBoost's ``binary:*`` / ``multi:*``, LightGBM's ``binary``, ``multiclass*``,
#: ``cross_entropy``); ranking objectives are neither task; every other objective predicts a number
_CLASSIFYING = ("binary", "multi", "multiclass", "cross_entropy", "xentropy")
_RANKING = ("rank", "lambdarank")


def _objective_task(objective: str, model: Any) -> str:
    """"classification" or "regression" from a booster's objective; a ranking objective is an error."""
    if objective.startswith(_RANKING):
        raise AuditInputError(
            f"{type(model).__name__} has the ranking objective {objective!r}: its scores order items within a query "
            "and are neither class probabilities nor predicted values, so no audit task fits it"
        )
    return "classification" if objective.startswith(_CLASSIFYING) else "regression"


def load_xgboost(path: Path, *, trusted_types: frozenset[str] = frozenset()) -> Any:
    """An ``xgboost.Booster`` from XGBoost's model formats (``.ubj``, ``.json``): trees and parameters, no code."""
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(str(path))
    return booster


def load_lightgbm(path: Path, *, trusted_types: frozenset[str] = frozenset()) -> Any:
    """A ``lightgbm.Booster`` from LightGBM's text model format (``.txt``)."""
    import lightgbm

    return lightgbm.Booster(model_file=str(path))


def load_catboost(path: Path, *, trusted_types: frozenset[str] = frozenset()) -> Any:
    """A ``catboost.CatBoostClassifier`` from CatBoost's model format (``.cbm``)."""
    import catboost

    return catboost.CatBoostClassifier().load_model(str(path))


class _BoosterBackend(EstimatorBackend):
    """A boosting library's scikit-learn wrapper (an estimator), or its raw ``Booster``, whose objective says
    whether it classifies (a Booster has no ``predict_proba`` and no ``_estimator_type``)."""

    def __init__(self, model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> None:
        self.raw = type(model).__name__ == "Booster"
        if not self.raw:
            super().__init__(model, output=output, device=device)
            return
        ModelBackend.__init__(self, model, output=output, device=device)
        self.objective = self._objective(model)
        self._task = _objective_task(self.objective, model)

    @staticmethod
    def _objective(booster: Any) -> str:
        raise NotImplementedError

    @property
    def task(self) -> str | None:
        """A booster's objective says (``reg:squarederror``, ``regression``, ``poisson`` ...); a wrapper's class."""
        return self._task if self.raw else super().task

    @property
    def accepts_missing(self) -> bool | None:
        """XGBoost and LightGBM learn a default direction for missing values at every split."""
        return True

    @property
    def tree_ensemble(self) -> bool:
        return True


class XGBoostBackend(_BoosterBackend):
    """``xgboost.XGBClassifier`` / ``XGBRegressor`` (scikit-learn API) or a raw ``xgboost.Booster`` (its objective
    says whether it classifies or predicts a number)."""

    kind = "xgboost"
    tree_shap_source = "XGBoost"
    file_formats = (ModelFile((".ubj", ".json"), load_xgboost, runs_code=False),)

    def __init__(self, model: Any, *, output: OutputKind = "auto", device: torch.device | None = None) -> None:
        super().__init__(model, output=output, device=device)
        if self.raw:
            self._has_scores = self.objective != "multi:softmax"

    @staticmethod
    def _objective(booster: Any) -> str:
        return json.loads(booster.save_config())["learner"]["objective"]["name"]

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return library_of(model) == "xgboost" and (type(model).__name__ == "Booster" or hasattr(model, "predict"))

    @property
    def booster(self) -> Any:
        return self.model if self.raw else self.model.get_booster()

    @property
    def feature_names(self) -> list[str] | None:
        try:
            names = self.booster.feature_names
        except Exception:  # noqa: BLE001 - an unfitted wrapper has no booster
            names = None
        return _real_names(names, r"f\d+")

    @property
    def n_features(self) -> int | None:
        try:
            return int(self.booster.num_features())
        except Exception:  # noqa: BLE001
            return None

    def tree_shap(self, X: Any) -> Any:
        from audit.backends._treeshap import xgboost_tree_shap

        return xgboost_tree_shap(self.model, X, 0 if self.task == "regression" else self._n_classes())

    def _n_classes(self) -> int:
        if self.classes is not None:
            return len(self.classes)
        if not self.raw:
            return 2
        return int(json.loads(self.model.save_config())["learner"]["learner_model_param"].get("num_class", "0")) or 2

    def predict_values(self, X: Any) -> np.ndarray:
        if not self.raw:
            return super().predict_values(X)
        import xgboost as xgb

        return np.asarray(self.model.predict(xgb.DMatrix(X, enable_categorical=True)), dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        if not self.raw:
            return super().predict_proba(X)
        import xgboost as xgb

        dm = xgb.DMatrix(X, enable_categorical=True)
        margin = self.output == "logits" or self.objective == "binary:logitraw"
        out = np.asarray(self.model.predict(dm, output_margin=margin), dtype=np.float64)
        proba, _ = scores_to_proba(out, len(X), "labels" if self.objective == "multi:softmax" else
                                   ("logits" if margin else "proba"))
        return proba


class LightGBMBackend(_BoosterBackend):
    """``lightgbm.LGBMClassifier`` / ``LGBMRegressor`` or a raw ``lightgbm.Booster`` (classification or regression
    objective)."""

    kind = "lightgbm"
    tree_shap_source = "LightGBM"
    file_formats = (ModelFile((".txt",), load_lightgbm, runs_code=False),)

    @staticmethod
    def _objective(booster: Any) -> str:
        return str(booster.dump_model(num_iteration=1).get("objective", "")).split(" ")[0]

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return library_of(model) == "lightgbm" and (type(model).__name__ == "Booster" or hasattr(model, "predict"))

    @property
    def feature_names(self) -> list[str] | None:
        names = self.model.feature_name() if self.raw else getattr(self.model, "feature_name_", None)
        return _real_names(names, r"Column_\d+")

    @property
    def n_features(self) -> int | None:
        if self.raw:
            return int(self.model.num_feature())
        n = getattr(self.model, "n_features_", None)
        return int(n) if n is not None else None

    def tree_shap(self, X: Any) -> Any:
        from audit.backends._treeshap import lightgbm_tree_shap

        if self.task == "regression":
            return lightgbm_tree_shap(self.model, X, 0)
        k = len(self.classes) if self.classes is not None else max(2, int(self.model.num_model_per_iteration()))
        return lightgbm_tree_shap(self.model, X, k)

    def predict_proba(self, X: Any) -> np.ndarray:
        if not self.raw:
            return super().predict_proba(X)
        margin = self.output == "logits"
        out = np.asarray(self.model.predict(X, raw_score=margin), dtype=np.float64)
        proba, _ = scores_to_proba(out, len(X), "logits" if margin else "proba")
        return proba


class CatBoostBackend(EstimatorBackend):
    """``catboost.CatBoostClassifier`` or ``CatBoostRegressor`` (feature names from ``feature_names_``)."""

    kind = "catboost"
    tree_shap_source = "CatBoost"
    file_formats = (ModelFile((".cbm",), load_catboost, runs_code=False),)

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return library_of(model) == "catboost" and hasattr(model, "predict")

    @property
    def feature_names(self) -> list[str] | None:
        return _real_names(getattr(self.model, "feature_names_", None), r"\d+")

    @property
    def n_features(self) -> int | None:
        names = getattr(self.model, "feature_names_", None)
        return len(names) if names is not None else None

    def predict_proba(self, X: Any) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            # CatBoost reads categorical features as strings or integers only: pandas 'category' and
            # string-dtype columns are cast to str, as at fit time
            X = self._strings_for_categories(X)
        return super().predict_proba(X)

    def predict_values(self, X: Any) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            X = self._strings_for_categories(X)
        return super().predict_values(X)

    @property
    def tree_ensemble(self) -> bool:
        return True

    @property
    def accepts_missing(self) -> bool | None:
        """None (try it): CatBoost takes NaN in numeric features but refuses it in categorical ones."""
        return None

    def tree_shap(self, X: Any) -> Any:
        from audit.backends._treeshap import catboost_tree_shap

        if isinstance(X, pd.DataFrame):
            X = self._strings_for_categories(X)
        k = 0 if self.task == "regression" else (len(self.classes) if self.classes is not None else 2)
        return catboost_tree_shap(self.model, X, k, list(self.model.get_cat_feature_indices()))

    def _strings_for_categories(self, X: pd.DataFrame) -> pd.DataFrame:
        cat = set(self._cat_names())
        return X.assign(**{c: X[c].astype(str) for c in X.columns if c in cat and X[c].dtype != object})

    def _cat_names(self) -> list[str]:
        try:
            idx = self.model.get_cat_feature_indices()
        except Exception:  # noqa: BLE001
            return []
        names = getattr(self.model, "feature_names_", None) or []
        return [str(names[i]) for i in idx if i < len(names)]


__all__ = ["CatBoostBackend", "LightGBMBackend", "XGBoostBackend"]
