"""Issue 27 item 1: text is a modality. A model that reads raw strings gets the text column as a list of strings,
the other columns stay sensitive attributes and metadata, and checks that cannot read text skip with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from audit import audit
from audit.errors import AuditInputError

RNG = np.random.default_rng(0)
WORDS = ["theft", "battery", "grand", "petit", "driving", "license", "possession", "cocaine", "cannabis", "assault"]
N = 600
TEXTS = [" ".join(RNG.choice(WORDS, size=RNG.integers(2, 6))) for _ in range(N)]
Y = np.array([int(("cocaine" in t) or ("battery" in t and RNG.random() < 0.7)) for t in TEXTS])
FRAME = pd.DataFrame({"charge": TEXTS, "recid": Y, "race": RNG.choice(["a", "b"], N), "sex": RNG.choice(["f", "m"], N),
                      "age": RNG.integers(18, 70, N)})
TRAIN, TEST = FRAME.iloc[:400].reset_index(drop=True), FRAME.iloc[400:].reset_index(drop=True)


@pytest.fixture(scope="module")
def pipeline():
    return make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(TRAIN["charge"], TRAIN["recid"])


def test_a_pipeline_on_raw_strings_is_a_text_audit_on_its_text_column(pipeline):
    r = audit(pipeline, TEST, target="recid", sensitive=["race", "sex"], train=TRAIN, progress=False)
    assert r.meta["modality"] == "text" and r.meta["n_features"] == 1
    proba = pipeline.predict_proba(TEST["charge"].tolist())
    assert r.metrics["performance.roc_auc"].value == pytest.approx(skm.roc_auc_score(TEST["recid"], proba[:, 1]))
    assert r.metrics["performance.accuracy"].value == pytest.approx(skm.accuracy_score(TEST["recid"], proba.argmax(1)))
    assert not [k for k, s in r.sections.items() if s.status == "error"]
    assert r.sections["fairness"].status == "ok"
    assert r.sections["robustness"].status == "ok"
    for name in ("saliency",):
        assert r.sections[name].status == "skipped" and r.sections[name].reason


def test_a_callable_on_a_list_of_strings_by_modality_or_by_data():
    calls = []

    def score(texts):
        calls.append(type(texts))
        p = np.array([0.9 if "cocaine" in t else 0.2 for t in texts])
        return np.c_[1 - p, p]

    r = audit(score, TEST, target="recid", sensitive=["race"], modality="text", progress=False)
    assert set(calls) == {list}
    assert not {k: s.reason for k, s in r.sections.items() if s.status == "error"}
    p = score(TEST["charge"].tolist())[:, 1]
    assert r.metrics["performance.roc_auc"].value == pytest.approx(skm.roc_auc_score(TEST["recid"], p))
    r = audit(score, (TEXTS[:200], Y[:200]), checks=["performance"], progress=False)  # a list of texts with labels
    assert r.meta["modality"] == "text"
    assert r.metrics["performance.accuracy"].value == pytest.approx(
        skm.accuracy_score(Y[:200], score(TEXTS[:200]).argmax(1)))


def test_the_text_column_is_named_or_found_and_errors_say_how():
    def score(texts):
        return np.tile([0.5, 0.5], (len(texts), 1))

    with pytest.raises(AuditInputError, match=r"one text column; features= names 2"):
        audit(score, TEST, target="recid", modality="text", features=["charge", "race"], progress=False)
    with pytest.raises(AuditInputError, match=r"no text column found.*features=\['<text column>'\]"):
        audit(score, TEST[["recid", "age"]], target="recid", modality="text", progress=False)
    # the column with the most words is the text; race and sex (sensitive) are never candidates
    r = audit(score, TEST.assign(note="x"), target="recid", sensitive=["race"], modality="text", checks=["performance"],
              progress=False)
    assert r.meta["n_features"] == 1 and r.sections["performance"].status == "ok"


def test_descriptive_categories_with_spaces_stay_tabular():
    from audit.datasets import load_german
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    d = load_german()
    cols = ["credit_history", "purpose", "duration"]
    enc = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), cols[:2]), remainder="passthrough")
    model = make_pipeline(enc, LogisticRegression(max_iter=500)).fit(d.frame[cols], d.frame[d.target])
    r = audit(model, d.frame, target=d.target, features=cols, checks=["performance"], progress=False)
    assert r.meta["modality"] == "tabular"


VOCAB = {w: i + 2 for i, w in enumerate(WORDS)}  # 0: padding, 1: unknown


def _ids(texts, length=6):
    import torch

    out = torch.zeros((len(texts), length), dtype=torch.long)
    for i, t in enumerate(texts):
        for j, w in enumerate(t.split()[:length]):
            out[i, j] = VOCAB.get(w, 1)
    return out


class _Bag:
    """A mean-of-embeddings classifier on token ids; the two-input variant takes ids and a mask by name."""

    @staticmethod
    def build(two_inputs: bool):
        import torch

        class Bag(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = torch.nn.Embedding(len(VOCAB) + 2, 8, padding_idx=0)
                self.out = torch.nn.Linear(8, 2)

            def forward(self, input_ids, attention_mask=None):
                mask = (input_ids > 0).float() if attention_mask is None else attention_mask.float()
                h = (self.emb(input_ids) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
                return self.out(h)

        torch.manual_seed(0)
        net = Bag()
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        x, y = _ids(TRAIN["charge"].tolist()), torch.as_tensor(TRAIN["recid"].to_numpy().copy())
        for _ in range(60):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        return net


@pytest.mark.parametrize("two_inputs", [False, True])
def test_a_torch_model_on_token_ids_keeps_them_integer(two_inputs):
    import torch

    net = _Bag.build(two_inputs)

    def tokenizer(texts):
        ids = _ids(texts)
        return {"input_ids": ids, "attention_mask": (ids > 0).long()} if two_inputs else ids

    r = audit(net, TEST, target="recid", sensitive=["race"], train=TRAIN, tokenizer=tokenizer, progress=False)
    assert r.meta["modality"] == "text"
    assert not {k: s.reason for k, s in r.sections.items() if s.status == "error"}
    with torch.no_grad():
        p = torch.softmax(net(_ids(TEST["charge"].tolist())), 1)[:, 1].numpy()
    assert r.metrics["performance.roc_auc"].value == pytest.approx(skm.roc_auc_score(TEST["recid"], p), abs=1e-9)
    assert r.sections["gradients"].status == "ok"  # parameters' gradients through an embedding of integer ids


def test_a_hugging_face_classifier_built_offline_with_its_tokenizer(tmp_path):
    """A BERT sequence classifier from a small config and a local vocabulary (no weights downloaded)."""
    transformers = pytest.importorskip("transformers")
    import torch

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    tok = transformers.BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=32, num_labels=2)
    torch.manual_seed(0)
    bert = transformers.BertForSequenceClassification(cfg)
    r = audit(bert, TEST, target="recid", sensitive=["race"], tokenizer=tok, progress=False)
    assert r.meta["modality"] == "text"
    assert not {k: s.reason for k, s in r.sections.items() if s.status == "error"}
    bert.eval()
    enc = tok(TEST["charge"].tolist(), padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        proba = torch.softmax(bert(**enc).logits.double(), 1).numpy()
    # log loss, not ROC AUC: an untrained network's scores tie to 1e-8, where rounding reorders them
    assert r.metrics["performance.log_loss"].value == pytest.approx(skm.log_loss(TEST["recid"], proba), rel=1e-6)
    assert r.sections["gradients"].status == "ok"


def test_an_onnx_text_pipeline_with_a_string_input(pipeline, tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    import onnx
    from skl2onnx.common.data_types import StringTensorType

    graph = skl2onnx.to_onnx(pipeline, initial_types=[("text", StringTensorType([None, 1]))],
                             options={id(pipeline.steps[-1][1]): {"zipmap": False}})
    for node in graph.graph.node:  # onnxruntime's StringNormalizer needs a locale every machine has
        if node.op_type == "StringNormalizer":
            node.attribute.append(onnx.helper.make_attribute("locale", "C"))
    path = tmp_path / "tfidf.onnx"
    path.write_bytes(graph.SerializeToString())
    r = audit(str(path), TEST, target="recid", sensitive=["race"], progress=False)
    assert r.meta["modality"] == "text"
    assert not {k: s.reason for k, s in r.sections.items() if s.status == "error"}
    p = pipeline.predict_proba(TEST["charge"].tolist())[:, 1]
    assert r.metrics["performance.log_loss"].value == pytest.approx(skm.log_loss(TEST["recid"], p), rel=1e-5)


def test_a_hugging_face_text_classification_pipeline(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    tok = transformers.BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=32, num_labels=2,
                                  id2label={0: "low", 1: "high"}, label2id={"low": 0, "high": 1})
    torch.manual_seed(0)
    bert = transformers.BertForSequenceClassification(cfg).eval()
    pipe = transformers.pipeline("text-classification", model=bert, tokenizer=tok, device="cpu")
    data = TEST.assign(level=np.where(TEST["recid"] == 1, "high", "low"))
    r = audit(pipe, data, target="level", sensitive=["race"], progress=False)
    assert r.meta["modality"] == "text" and r.meta["classes"] == ["low", "high"]
    assert not {k: s.reason for k, s in r.sections.items() if s.status == "error"}
    assert {"explain", "text_fairness", "robustness"} <= {k for k, s in r.sections.items() if s.status == "ok"}
    enc = tok(TEST["charge"].tolist(), padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        proba = torch.softmax(bert(**enc).logits.double(), 1).numpy()
    hand = -np.mean(np.log(proba[np.arange(len(data)), (data["level"] == "high").to_numpy().astype(int)]))
    assert r.metrics["performance.log_loss"].value == pytest.approx(hand, rel=1e-5)


def test_a_torch_text_model_gets_integrated_gradients_on_its_embeddings():
    net = _Bag.build(False)
    r = audit(net, TEST, target="recid", sensitive=["race"], tokenizer=_ids, checks=["explain"], progress=False)
    section = r.sections["explain"]
    assert section.status == "ok", section.reason
    ig = section.tables["Integrated Gradients on the embeddings (chosen texts)"]
    assert set(ig["row"]) == set(section.tables["Chosen texts"]["row"])
    assert any("convergence delta" in n for n in section.notes)


def test_a_torch_model_with_an_embedding_for_a_category_and_two_named_inputs():
    """Integer category codes and a float tensor by name: no cast to float, and the checks that move inputs attack
    and explain it as a black box (through frames) instead of raising."""
    import torch

    rng = np.random.default_rng(0)
    levels = ["a", "b", "c", "d"]
    df = pd.DataFrame({"city": rng.choice(levels, 400), "x": rng.normal(size=400), "g": rng.choice(["f", "m"], 400)})
    df["y"] = ((df["x"] + (df["city"] == "b")) > 0.5).astype(int)

    class Mixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lin = torch.nn.Embedding(4, 3), torch.nn.Linear(4, 2)

        def forward(self, city, num):
            return self.lin(torch.cat([self.emb(city), num], 1))

    def transform(X):
        return {"city": torch.as_tensor(pd.Categorical(X["city"], categories=levels).codes.astype(np.int64)),
                "num": torch.as_tensor(X[["x"]].to_numpy(np.float32).copy())}

    torch.manual_seed(0)
    net = Mixed()
    r = audit(net, df, target="y", sensitive=["g"], transform=transform, features=["city", "x"], progress=False)
    assert not {k: s.reason for k, s in r.sections.items() if s.status == "error"}
    assert r.sections["robustness"].status == "ok" and "Black-box" in r.sections["robustness"].summary
    with torch.no_grad():
        p = torch.softmax(net(**transform(df)), 1)[:, 1].numpy()
    assert r.metrics["performance.roc_auc"].value == pytest.approx(skm.roc_auc_score(df["y"], p))
