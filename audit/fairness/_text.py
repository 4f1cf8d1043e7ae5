"""Plain-language findings: "false positive rate for A is 0.42 vs 0.22 for B: ratio 1.92"."""

from __future__ import annotations

import math

import pandas as pd

from audit.fairness._assess import FairnessAssessment

#: group metrics that get a sentence, per sensitive feature
FINDING_METRICS = ("false_positive_rate", "false_negative_rate", "selection_rate")


def _words(metric: str) -> str:
    return metric.replace("_", " ")


def sentence(metric: str, hi_group: str, hi: float, lo_group: str, lo: float) -> str:
    """One comparison between the groups with the highest and the lowest value.

    Examples
    --------
    >>> sentence("false_positive_rate", "African-American", 0.42, "Caucasian", 0.22)
    'false positive rate for African-American is 0.42 vs 0.22 for Caucasian: ratio 1.91'
    """
    ratio = "∞" if lo == 0 and hi > 0 else f"{hi / lo:.2f}" if lo > 0 else "undefined"
    return f"{_words(metric)} for {hi_group} is {hi:.2f} vs {lo:.2f} for {lo_group}: ratio {ratio}"


def findings_table(assessment: FairnessAssessment, features: list[str]) -> pd.DataFrame:
    """A sentence per (feature, metric in :data:`FINDING_METRICS`), largest difference first."""
    pct = f"{assessment.confidence:.0%}"
    rows = []
    gaps = assessment.gaps
    for f in features:
        for m in FINDING_METRICS:
            if (f, m) not in gaps.index:
                continue
            g = gaps.loc[(f, m)]
            if g["max_group"] is None or g["min_group"] is None or math.isnan(g["difference"]):
                continue
            text = sentence(m, g["max_group"], g["max_value"], g["min_group"], g["min_value"])
            if not math.isnan(g["difference_low"]):
                text += f" (difference {g['difference']:.2f}, {pct} CI {g['difference_low']:.2f} to {g['difference_high']:.2f}"
                text += f"; p = {g['difference_p_value']:.2g} for no gap)" if not math.isnan(g["difference_p_value"]) else ")"
            rows.append({"feature": f, "metric": m, "finding": text, "difference": g["difference"],
                         "difference_low": g["difference_low"], "difference_high": g["difference_high"],
                         "p_value": g["difference_p_value"]})
    if not rows:
        return pd.DataFrame(columns=["feature", "metric", "finding", "difference", "difference_low", "difference_high", "p_value"])
    return pd.DataFrame(rows).sort_values("difference", ascending=False, kind="stable").reset_index(drop=True)
