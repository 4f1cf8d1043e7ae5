"""Benchmark: text audits and text attributions, against the peer libraries run directly in the same process.

Rows (COMPAS charge descriptions from the bundled COMPAS file, a seeded 70/30 split):

- ``audit, TF-IDF + logistic regression``: the default audit of 1,000 texts (every check that serves text);
- ``audit, torch embedding bag``: the same 1,000 texts through a small torch model with a word tokenizer;
- ``LIME``: ``audit.explain.text_lime`` on N texts against ``lime``'s ``LimeTextExplainer`` one text at a time
  (the same samples per text; the ratio is lime's time over ours);
- ``Integrated Gradients``: ``audit.saliency.embedding_integrated_gradients`` against captum's
  ``LayerIntegratedGradients`` called directly on the same token ids (ours wraps captum: the ratio shows the
  wrapper's cost), for the torch model and, when ``transformers`` is installed, a one-layer BERT built from a
  config (no weights downloaded).

    python bench/text.py [--texts 1000] [--lime-texts 50] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import pandas as pd
import torch


def _charges(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    path = Path(__file__).resolve().parents[1] / "audit" / "datasets" / "data" / "compas-scores-two-years.csv.gz"
    d = pd.read_csv(path).dropna(subset=["c_charge_desc"])
    d = d.rename(columns={"c_charge_desc": "charge"})[["charge", "two_year_recid", "race", "sex"]]
    d = d.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cut = int(0.7 * len(d))
    return d.iloc[:cut].reset_index(drop=True), d.iloc[cut:].reset_index(drop=True)


def _vocab(texts: list[str]) -> dict[str, int]:
    words = sorted({w for t in texts for w in t.lower().split()})
    return {w: i + 2 for i, w in enumerate(words)}


def _tokenizer(vocab: dict[str, int], length: int = 12):
    def tokenize(texts: list[str]) -> torch.Tensor:
        out = torch.zeros((len(texts), length), dtype=torch.long)
        for i, t in enumerate(texts):
            for j, w in enumerate(t.lower().split()[:length]):
                out[i, j] = vocab.get(w, 1)
        return out

    return tokenize


def _bag(vocab: dict[str, int], train: pd.DataFrame, tokenize) -> torch.nn.Module:
    class Bag(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(len(vocab) + 2, 16, padding_idx=0)
            self.out = torch.nn.Linear(16, 2)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            mask = (ids > 0).float()[..., None]
            return self.out((self.emb(ids) * mask).sum(1) / mask.sum(1).clamp_min(1))

    torch.manual_seed(0)
    net = Bag()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    x, y = tokenize(train["charge"].tolist()), torch.as_tensor(train["two_year_recid"].to_numpy().copy())
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--lime-texts", type=int, default=50)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from lime.lime_text import LimeTextExplainer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from audit import audit
    from audit.explain import text_lime
    from audit.saliency import embedding_integrated_gradients

    train, test = _charges()
    test = test.iloc[: args.texts].reset_index(drop=True)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, torch {torch.__version__}")
    print(f"{'workload':44s} {'ours s':>8s} {'peer s':>8s} {'peer/ours':>9s}")
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(train["charge"], train["two_year_recid"])
    kw = dict(target="two_year_recid", sensitive=["race", "sex"], progress=False)
    s, r = _timed(lambda: audit(pipe, test, **kw))
    print(f"{'audit, TF-IDF + LR, ' + str(len(test)) + ' texts':44s} {s:8.2f} {'':>8s} {'':>9s}  "
          + ", ".join(f"{k} {v:.2f}" for k, v in r.meta["check_durations"].items()))
    vocab = _vocab(train["charge"].tolist())
    tokenize = _tokenizer(vocab)
    net = _bag(vocab, train, tokenize)
    s, r = _timed(lambda: audit(net, test, tokenizer=tokenize, **kw))
    print(f"{'audit, torch embedding bag, ' + str(len(test)) + ' texts':44s} {s:8.2f} {'':>8s} {'':>9s}  "
          + ", ".join(f"{k} {v:.2f}" for k, v in r.meta["check_durations"].items()))
    texts = test["charge"].tolist()[: args.lime_texts]
    ours, _ = _timed(lambda: text_lime(pipe.predict_proba, texts, class_index=1, num_samples=1000, seed=0))
    explainer = LimeTextExplainer(class_names=["0", "1"], random_state=0)
    peer, _ = _timed(lambda: [explainer.explain_instance(t, pipe.predict_proba, labels=(1,), num_samples=1000)
                              for t in texts])
    print(f"{'LIME, ' + str(len(texts)) + ' texts x 1,000 samples':44s} {ours:8.2f} {peer:8.2f} {peer / ours:9.2f}")
    _ig_rows(net, tokenize(texts), embedding_integrated_gradients)
    try:
        import transformers  # noqa: F401
    except ImportError:
        print("transformers not installed: no BERT row")
        return
    _bert_row(texts, embedding_integrated_gradients)


def _ig_rows(net, ids, ig) -> None:
    from captum.attr import LayerIntegratedGradients

    target = torch.ones(len(ids), dtype=torch.long)
    lig = LayerIntegratedGradients(net, net.emb)
    ig(net, ids[:2], target[:2].numpy(), n_steps=5)  # warm both up: imports and first-call costs out of the timing
    lig.attribute(ids[:2], baselines=torch.zeros_like(ids[:2]), target=target[:2], n_steps=5)
    ours, _ = _timed(lambda: ig(net, ids, target.numpy(), n_steps=50))
    peer, _ = _timed(lambda: lig.attribute(ids, baselines=torch.zeros_like(ids), target=target, n_steps=50))
    print(f"{'IG on embeddings, bag, ' + str(len(ids)) + ' texts':44s} {ours:8.2f} {peer:8.2f} {peer / ours:9.2f}")


def _bert_row(texts: list[str], ig) -> None:
    import tempfile

    import transformers
    from captum.attr import LayerIntegratedGradients

    words = sorted({w for t in texts for w in t.lower().split()})
    folder = Path(tempfile.mkdtemp())
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]))
    tok = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    cfg = transformers.BertConfig(vocab_size=len(words) + 5, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128, max_position_embeddings=64, num_labels=2)
    torch.manual_seed(0)
    bert = transformers.BertForSequenceClassification(cfg).eval()
    enc = dict(tok(texts, padding=True, truncation=True, return_tensors="pt"))
    target = torch.ones(len(texts), dtype=torch.long)
    ig(bert, {k: v[:2] for k, v in enc.items()}, target[:2].numpy(), n_steps=5)  # warm-up, as for the bag
    ours, _ = _timed(lambda: ig(bert, enc, target.numpy(), n_steps=50, tokenizer=tok))
    rest = {k: v for k, v in enc.items() if k != "input_ids"}

    def forward(ids, *extra):
        return bert(input_ids=ids, **dict(zip(rest, extra))).logits

    lig = LayerIntegratedGradients(forward, bert.get_input_embeddings())
    peer, _ = _timed(lambda: lig.attribute(enc["input_ids"], baselines=torch.zeros_like(enc["input_ids"]), target=target,
                                           additional_forward_args=tuple(rest.values()), n_steps=50))
    print(f"{'IG on embeddings, 2-layer BERT, ' + str(len(texts)) + ' texts':44s} {ours:8.2f} {peer:8.2f} "
          f"{peer / ours:9.2f}")


if __name__ == "__main__":
    main()
