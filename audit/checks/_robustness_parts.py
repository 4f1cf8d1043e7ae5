"""What both branches of the robustness check (classifiers and regressors) show the same way: the table of the
inputs an attack may move, and the description of a gap metric."""

from __future__ import annotations

import math

import pandas as pd

from audit.robustness import Constraints
from audit.text import short_label


def gap_text(what: str, row: pd.Series | None, n_perm: int, *, name_column: bool = False) -> str:
    """A gap metric's description: bias-corrected, its plug-in value and its permutation test (the gap rule quotes it)."""
    if row is None or pd.isna(row["plug_in"]):
        return what
    text = what
    if name_column and isinstance(row.get("column"), str):  # the worst over columns names its column
        text += f": {short_label(row['column'])}"
    if isinstance(row.get("best_group"), str) and row["best_group"]:
        text += f" ({short_label(row['best_group'])} vs {short_label(row['worst_group'])})"
    text += f"; bias-corrected (plug-in max - min: {row['plug_in']:.4g})"
    if not pd.isna(row["p_value"]):
        text += f"; permutation test of no gap: p = {row['p_value']:.2g} ({n_perm:,} permutations)"
    return text


def inputs_table(cons: Constraints) -> pd.DataFrame:
    """One line per data column: how many model inputs it has, whether an attack may move them, why not, its std."""
    f = cons.features
    rows = []
    for col, g in f.groupby(f["column"].where(f["column"] != "", f["feature"]), sort=False):
        rows.append({
            "column": col,
            "model_inputs": len(g),
            "perturbed": bool(g["perturbed"].any()),
            "frozen_because": ", ".join(dict.fromkeys(r for rs in g["reason"] for r in rs.split(", ") if r)),
            # a categorical column's "std" would be that of its codes or indicators: meaningless as a unit
            "std": float(g["std"].iloc[0]) if len(g) == 1 and "categorical" not in g["reason"].iloc[0] else math.nan,
        })
    return pd.DataFrame(rows)
