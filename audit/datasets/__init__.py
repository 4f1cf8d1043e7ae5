"""Real data sets shipped with the package (no network): COMPAS, Adult, German credit, digits.

Each loader returns a :class:`BundledData` with the frame and the recommended target, sensitive
and feature columns. Sources and licences: ``audit/datasets/data/SOURCES.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["BundledData", "load_adult", "load_compas", "load_compas_charges", "load_digits", "load_german"]


@dataclass
class BundledData:
    """A bundled data set.

    Attributes
    ----------
    frame : DataFrame
        Features, target and sensitive columns.
    target : str
        Recommended label column (binary 0/1 for the tabular sets).
    sensitive : list of str
        Usual sensitive columns.
    features : list of str
        Recommended model features (no target leakage).
    categorical : list of str
        Features that are categorical.
    description : str
    """

    frame: pd.DataFrame
    target: str
    sensitive: list[str]
    features: list[str]
    categorical: list[str] = field(default_factory=list)
    description: str = ""


def _path(name: str):
    return resources.files("audit.datasets").joinpath("data", name)


COMPAS_FEATURES = [
    "sex", "age", "age_cat", "race", "juv_fel_count", "juv_misd_count",
    "juv_other_count", "priors_count", "c_charge_degree",
]


def load_compas(*, include_score: bool = False) -> BundledData:
    """ProPublica's COMPAS two-year recidivism data, with the usual ProPublica row filter.

    The target is ``two_year_recid``; features exclude every outcome or score column (leakage).
    With ``include_score=True`` the frame also holds ``decile_score`` and ``score_text`` so the
    COMPAS score itself can be audited as a model (high risk = decile >= 5).

    Examples
    --------
    >>> d = load_compas()
    >>> d.frame.shape[0], d.target
    (6172, 'two_year_recid')
    """
    with _path("compas-scores-two-years.csv.gz").open("rb") as fh:
        df = pd.read_csv(fh, compression="gzip")
    keep = (
        df["days_b_screening_arrest"].between(-30, 30)
        & (df["is_recid"] != -1)
        & (df["c_charge_degree"] != "O")
        & (df["score_text"] != "N/A")
    )
    df = df.loc[keep].reset_index(drop=True)
    cols = COMPAS_FEATURES + ["two_year_recid"] + (["decile_score", "score_text"] if include_score else [])
    return BundledData(
        frame=df[cols].copy(),
        target="two_year_recid",
        sensitive=["race", "sex", "age_cat"],
        features=list(COMPAS_FEATURES),
        categorical=["sex", "age_cat", "race", "c_charge_degree"],
        description="Broward County COMPAS data (ProPublica, 2016), two-year recidivism.",
    )


def load_compas_charges() -> BundledData:
    """COMPAS as text: each defendant's charge description (``charge``, from ``c_charge_desc``) with the two-year
    recidivism label, for a text audit. Same rows as :func:`load_compas` (ProPublica's filter), less the few without
    a description; ``race`` and ``sex`` are the sensitive columns, ``age`` and ``priors_count`` metadata.

    Examples
    --------
    >>> d = load_compas_charges()
    >>> d.features, bool(d.frame["charge"].str.len().min() > 0)
    (['charge'], True)
    """
    with _path("compas-scores-two-years.csv.gz").open("rb") as fh:
        df = pd.read_csv(fh, compression="gzip")
    keep = (df["days_b_screening_arrest"].between(-30, 30) & (df["is_recid"] != -1) & (df["c_charge_degree"] != "O")
            & (df["score_text"] != "N/A"))
    df = df.loc[keep].rename(columns={"c_charge_desc": "charge"})
    df["charge"] = df["charge"].astype("string").str.strip()
    df = df[df["charge"].notna() & (df["charge"].str.len() > 0)].reset_index(drop=True)
    cols = ["charge", "race", "sex", "age", "priors_count", "two_year_recid"]
    return BundledData(
        frame=df[cols].astype({"charge": object}).copy(),
        target="two_year_recid",
        sensitive=["race", "sex"],
        features=["charge"],
        categorical=["race", "sex"],
        description="Broward County COMPAS data (ProPublica, 2016): charge descriptions and two-year recidivism.",
    )


ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country", "income",
]


def load_adult(split: Literal["train", "test", "all"] = "all", *, keep_missing: bool = False) -> BundledData:
    """UCI Adult census income; target ``income`` is 1 for ``>50K``.

    ``split`` picks the original training file (32,561 rows), the test file (16,281) or both.
    Missing values (``?`` in ``workclass``, ``occupation`` and ``native_country``) become the
    category ``"Unknown"``, or stay missing (NaN) with ``keep_missing=True``, for a model that
    takes missing values (an audit passes them through to it).

    Examples
    --------
    >>> int(load_adult("test", keep_missing=True).frame["occupation"].isna().sum())
    966
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    parts = []
    for name, skip in (("adult.data.gz", 0), ("adult.test.gz", 1)):
        if (split == "train" and skip) or (split == "test" and not skip):
            continue
        with _path(name).open("rb") as fh:
            parts.append(
                pd.read_csv(fh, compression="gzip", header=None, names=ADULT_COLUMNS, sep=r",\s*",
                            engine="python", skiprows=skip, na_values="?")
            )
    df = pd.concat(parts, ignore_index=True).dropna(subset=["income"])
    df["income"] = df["income"].str.rstrip(".").eq(">50K").astype(int)
    cat = [c for c in ADULT_COLUMNS[:-1] if not pd.api.types.is_numeric_dtype(df[c])]
    for c in cat if not keep_missing else []:
        df[c] = df[c].fillna("Unknown")
    features = [c for c in ADULT_COLUMNS[:-1] if c != "fnlwgt"]
    return BundledData(
        frame=df.reset_index(drop=True),
        target="income",
        sensitive=["sex", "race"],
        features=features,
        categorical=[c for c in cat if c in features],
        description="UCI Adult (1994 census extract): income above 50K.",
    )


GERMAN_COLUMNS = [
    "status", "duration", "credit_history", "purpose", "credit_amount", "savings", "present_employment",
    "installment_rate", "status_sex", "other_debtors", "residence_since", "property", "age",
    "installment_plans", "housing", "existing_credits", "job", "people_liable", "telephone",
    "foreign_worker", "credit",
]


def load_german() -> BundledData:
    """Statlog German credit; target ``good_credit`` is 1 for good risk. Codes mapped to readable values.

    Adds ``sex`` (from ``status_sex``) and ``age_group`` (``"<25"`` / ``">=25"``) as sensitive columns.
    """
    with _path("german.data.gz").open("rb") as fh:
        df = pd.read_csv(fh, compression="gzip", header=None, names=GERMAN_COLUMNS, sep=" ")
    maps = json.loads(_path("german.values_maps.json").read_text(encoding="utf-8"))
    for col, mapping in maps.items():
        if col in df.columns and col != "credit":
            df[col] = df[col].map(lambda v, m=mapping: str(m.get(v, v)).strip() if isinstance(v, str) else v)
    df["good_credit"] = (df.pop("credit") == 1).astype(int)
    df["sex"] = np.where(df["status_sex"].str.startswith("female"), "female", "male")
    df["age_group"] = np.where(df["age"] < 25, "<25", ">=25")
    features = [c for c in GERMAN_COLUMNS[:-1]]
    cat = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
    return BundledData(
        frame=df,
        target="good_credit",
        sensitive=["sex", "age_group"],
        features=features,
        categorical=cat,
        description="Statlog German credit (UCI): good or bad credit risk.",
    )


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as float32 images ``(1797, 1, 8, 8)`` in [0, 1] and int labels."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    return X, d.target.astype(np.int64)
