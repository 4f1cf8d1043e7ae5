"""Training-health checks for deep-learning models: data quality, overfitting, calibration, gradients.

Each function takes arrays (or a DataFrame / a torch model) and returns one typed result holding
pandas DataFrames; the checks in ``audit.checks`` turn them into report sections.

Examples
--------
>>> import numpy as np
>>> from audit.health import calibration
>>> r = calibration(np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), n_bins=10)
>>> round(r.ece, 2)
0.25
"""

from __future__ import annotations

from audit.health._calibration import CalibrationResult, calibration, calibration_of_cells, reliability_table
from audit.health._calibration_ci import ece_intervals, ece_intervals_of_cells
from audit.health._conformal import ConformalResult, conformal_quantile, interval_coverage, split_conformal
from audit.health._data_quality import DataQualityResult, data_quality
from audit.health._data_quality_parts import (
    ColumnMoments,
    DataQualityPart,
    DataQualityPlan,
    DataQualitySettings,
    column_moments,
    data_quality_chunks,
    data_quality_part,
    drift_bounds,
    finish,
    merge_moments,
    merge_parts,
    plan_data_quality,
    plan_from_settings,
)
from audit.health._drift import DriftResult, feature_drift
from audit.health._gradients import GradientHealthResult, gradient_health
from audit.health._image_quality import image_data_quality
from audit.health._overfitting import OverfittingResult, overfitting, regression_overfitting, training_history

__all__ = [
    "ece_intervals",
    "ece_intervals_of_cells",
    "CalibrationResult",
    "ConformalResult",
    "conformal_quantile",
    "interval_coverage",
    "split_conformal",
    "ColumnMoments",
    "DataQualityPart",
    "DataQualityPlan",
    "DataQualityResult",
    "DataQualitySettings",
    "DriftResult",
    "GradientHealthResult",
    "OverfittingResult",
    "calibration",
    "calibration_of_cells",
    "column_moments",
    "data_quality",
    "data_quality_chunks",
    "data_quality_part",
    "drift_bounds",
    "finish",
    "merge_moments",
    "merge_parts",
    "plan_data_quality",
    "plan_from_settings",
    "feature_drift",
    "gradient_health",
    "image_data_quality",
    "overfitting",
    "regression_overfitting",
    "reliability_table",
    "training_history",
]
