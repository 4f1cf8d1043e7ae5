"""Write the example prediction log: COMPAS test rows scored by the bundled MLP, as two Parquet parts.

    python examples/make_prediction_log.py        # writes examples/data/prediction_log/part-{0,1}.parquet
    audit run examples/prediction_log.toml --out audit-log-out

The log holds what production would record: the score, the decision, the label once known, the
sensitive columns and a timestamp; no features and no model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audit.model import ModelAdapter
from audit.models.compas import train_compas_mlp

OUT = Path(__file__).parent / "data" / "prediction_log"


def make_log(seed: int = 0) -> pd.DataFrame:
    t = train_compas_mlp(seed=seed)
    score = ModelAdapter(t.model, transform=t.transform).predict_proba(t.test)[:, 1]
    days = np.random.default_rng(seed).integers(0, 90, len(t.test))
    return pd.DataFrame({
        "scored_at": pd.Timestamp("2026-09-01") + pd.to_timedelta(np.sort(days), unit="D"),
        "risk_score": score.round(6), "decision": (score >= 0.5).astype(int),
        "two_year_recid": t.test["two_year_recid"].to_numpy(), "race": t.test["race"].to_numpy(),
        "sex": t.test["sex"].to_numpy(),
    })


def main() -> None:
    log = make_log()
    OUT.mkdir(parents=True, exist_ok=True)
    half = len(log) // 2
    log.iloc[:half].to_parquet(OUT / "part-0.parquet", index=False)
    log.iloc[half:].to_parquet(OUT / "part-1.parquet", index=False)
    print(f"wrote {len(log):,} rows to {OUT}/part-*.parquet")


if __name__ == "__main__":
    main()
