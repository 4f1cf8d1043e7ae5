"""Every section that ran states its row budget once, with the rows it actually used."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from audit import audit
from audit.checks import ExplainCheck, RobustnessCheck


def _budget(section) -> str:
    notes = [n for n in section.notes if n.startswith("Row budget:")]
    assert len(notes) == 1, (section.check, section.notes)
    return notes[0]


def _numbers(text: str) -> list[int]:
    return [int(x.replace(",", "")) for x in re.findall(r"\d[\d,]*", text)]


def test_each_tabular_check_states_the_rows_it_used():
    rng = np.random.default_rng(0)
    n = 900
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "g": rng.choice(["x", "y"], n)})
    df["y"] = (df["a"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    train, test = df.iloc[:500], df.iloc[500:]
    model = HistGradientBoostingClassifier(max_iter=20).fit(train[["a", "b"]], train["y"])
    checks = ["performance", "fairness", "calibration", "data_quality", "overfitting",
              ExplainCheck(max_tree_rows=150), RobustnessCheck(max_rows_blackbox=120, queries=10)]
    rep = audit(model, test, target="y", sensitive=["g"], features=["a", "b"], train=train, progress=False,
                checks=checks)
    for name, s in rep.sections.items():
        assert s.status == "ok", (name, s.reason)
    assert _numbers(_budget(rep.sections["performance"]))[0] == len(test)
    assert _numbers(_budget(rep.sections["overfitting"]))[:2] == [len(test), len(train)]
    # the capped checks name the rows they used, and those are the rows behind their numbers
    rob = rep.sections["robustness"]
    assert _numbers(_budget(rob))[:3] == [len(rob.rows), len(test), 120] and len(rob.rows) == 120
    assert _numbers(_budget(rep.sections["explain"]))[:3] == [150, len(test), 150]
