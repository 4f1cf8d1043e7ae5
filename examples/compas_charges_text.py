"""Train two text classifiers of COMPAS charge descriptions and audit them as text models.

The scikit-learn TF-IDF + logistic regression pipeline reads the strings itself; the torch embedding bag reads the
ids of its word tokenizer (``tokenizer=``). Each report shows word attributions (SHAP and LIME on the same texts,
Integrated Gradients for the torch model), group fairness across race and sex, the bias AUCs and identity-term swaps,
and robustness to edits that should not change the answer.

    python examples/compas_charges_text.py --out reports/compas_text.html --out-torch reports/compas_text_torch.html
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from audit import audit
from audit.models.text import train_charge_embedding, train_charge_tfidf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="reports/compas_text.html")
    ap.add_argument("--out-torch", default="reports/compas_text_torch.html")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for trainer, out, name in ((train_charge_tfidf, args.out, "COMPAS charges, TF-IDF + logistic regression"),
                               (train_charge_embedding, args.out_torch, "COMPAS charges, torch embedding bag")):
        t0 = time.perf_counter()
        t = trainer(args.seed)
        print(f"trained {name} in {time.perf_counter() - t0:.1f}s")
        report = audit(t.model, t.test, target=t.target, sensitive=t.sensitive, train=t.train, tokenizer=t.tokenizer,
                       features=["charge"], seed=args.seed, name=name)
        path = report.save_html(out)
        report.to_json(Path(out).with_suffix(".json"))
        print(report)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
