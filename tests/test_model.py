from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from audit.errors import AuditInputError, ModelCallError
from audit.model import ModelAdapter, resolve_device

X = np.array([[0.0, 1.0], [1.0, -1.0], [2.0, 0.5]], dtype=np.float32)


def test_torch_two_logits_softmax_matches_manual(linear_net):
    p = ModelAdapter(linear_net).predict_proba(torch.from_numpy(X))
    z = X @ np.array([[-1.0, -0.5], [1.0, 0.5]]).T
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p, expected, rtol=1e-5)


def test_torch_single_logit_becomes_two_columns():
    net = torch.nn.Linear(2, 1)
    m = ModelAdapter(net)
    p = m.predict_proba(torch.from_numpy(X))
    with torch.no_grad():
        z = net(torch.from_numpy(X)).numpy()[:, 0]
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-5)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # the differentiable forward gives the same probabilities
    lg = m.logits(torch.from_numpy(X))
    np.testing.assert_allclose(torch.softmax(lg, 1)[:, 1].detach().numpy(), p[:, 1], rtol=1e-5)


def test_torch_sigmoid_output_is_read_as_probability():
    net = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid())
    m = ModelAdapter(net)
    assert m.output == "proba"
    with torch.no_grad():
        q = net(torch.from_numpy(X)).numpy()[:, 0]
    np.testing.assert_allclose(m.predict_proba(torch.from_numpy(X))[:, 1], q, rtol=1e-5)


def test_torch_softmax_multiclass_probabilities_pass_through():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Softmax(dim=1))
    with torch.no_grad():
        q = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(ModelAdapter(net).predict_proba(torch.from_numpy(X)), q, rtol=1e-5)


def test_torch_model_with_dataframe_needs_transform_for_strings():
    df = pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]})
    with pytest.raises(AuditInputError, match="non-numeric column.*'s'.*transform="):
        ModelAdapter(torch.nn.Linear(2, 2)).predict_proba(df)


def test_sklearn_estimator_and_pipeline(tabular_frame):
    Xf, y = tabular_frame[["x1", "x2"]], tabular_frame["y"]
    for est in (LogisticRegression(), make_pipeline(StandardScaler(), LogisticRegression())):
        est.fit(Xf, y)
        m = ModelAdapter(est)
        np.testing.assert_allclose(m.predict_proba(Xf), est.predict_proba(Xf))
        np.testing.assert_array_equal(m.classes, [0, 1])


def test_sklearn_decision_function_only(tabular_frame):
    Xf, y = tabular_frame[["x1", "x2"]], tabular_frame["y"]
    svc = LinearSVC().fit(Xf, y)
    p = ModelAdapter(svc).predict_proba(Xf)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-svc.decision_function(Xf))))


def test_callable_scores_and_labels():
    scores = ModelAdapter(lambda X: np.array([0.2, 0.9, 0.5])).predict_proba(X)
    np.testing.assert_allclose(scores[:, 1], [0.2, 0.9, 0.5])
    m = ModelAdapter(lambda X: np.array([0, 1, 1]))
    np.testing.assert_array_equal(m.predict_proba(X), [[1, 0], [0, 1], [0, 1]])
    assert m.has_scores is False


def test_nan_output_is_rejected_with_count():
    with pytest.raises(AuditInputError, match="NaN or infinite scores for 1 of 3 rows"):
        ModelAdapter(lambda X: np.array([0.2, np.nan, 0.5])).predict_proba(X)


def test_wrong_output_shape_is_rejected():
    with pytest.raises(AuditInputError, match=r"model returned shape \(2,\) for 3 rows"):
        ModelAdapter(lambda X: np.array([0.2, 0.5])).predict_proba(X)


def test_model_that_raises_is_wrapped_with_context():
    def broken(X):
        raise KeyError("column_z")

    with pytest.raises(ModelCallError, match="model raised KeyError while predicting on data: 'column_z'"):
        ModelAdapter(broken).predict_proba(X)


def test_unsupported_model_and_device():
    with pytest.raises(AuditInputError, match="model of type int is not supported"):
        ModelAdapter(3)
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(AuditInputError, match="CUDA is not available"):
            resolve_device("cuda")
    else:
        with pytest.raises(AuditInputError, match="CUDA device\\(s\\) exist"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    if not torch.backends.mps.is_available():
        with pytest.raises(AuditInputError, match="MPS is not available"):
            resolve_device("mps")
    with pytest.raises(AuditInputError, match="device 'gpu0' is not valid"):
        resolve_device("gpu0")


def test_oom_backoff_halves_batch():
    calls = []

    class Picky(torch.nn.Module):
        def forward(self, x):
            calls.append(len(x))
            if len(x) > 3:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
            return torch.zeros(len(x), 2)

    m = ModelAdapter(Picky(), batch_size=16)
    p = m.predict_proba(torch.zeros(10, 2))
    assert p.shape == (10, 2)
    assert m.batch_size == 2 and max(c for c in calls if c <= 3) <= 3


def test_inputs_follow_the_module_dtype():
    """A float64 (or float32) module gets inputs in its own dtype, whatever the data's dtype."""
    torch.manual_seed(0)
    x64 = np.random.default_rng(0).normal(size=(5, 3))
    for net in (torch.nn.Linear(3, 2).double(), torch.nn.Linear(3, 2)):
        a = ModelAdapter(net)
        dt = next(net.parameters()).dtype
        assert a.to_tensor(x64).dtype == dt and a.to_tensor(x64.astype(np.float32)).dtype == dt
        expected = torch.softmax(net(torch.as_tensor(x64, dtype=dt)), 1).detach().double().numpy()
        np.testing.assert_allclose(a.predict_proba(x64), expected, rtol=1e-6)


# ------------------------------------------------------- outputs validated once, in the adapter (issue item 3)
def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "g": rng.choice(["u", "v"], n)})
    df["y"] = (df["a"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return df


class _Fixed:
    """A duck-typed model whose predict_proba returns ``f(X)`` and whose classes_ are ``classes``."""

    def __init__(self, f, classes=(0, 1)) -> None:
        self.f, self.classes_ = f, np.asarray(classes)

    def predict_proba(self, X):
        return self.f(X)


def _sig(X) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-X["a"].to_numpy()))


@pytest.mark.parametrize("f, classes, match", [
    # rows summing to 0.5: once gated as a log loss and an ECE of 0.385
    (lambda X: 0.5 * np.column_stack([1 - _sig(X), _sig(X)]), (0, 1),
     r"duck-typed model _Fixed returned 2 scores per row that are not probabilities for 200 of 200 rows \(row sums "
     r"0\.5 to 0\.5.*pass model_output='logits'"),
    # rows summing to 1 with negative entries
    (lambda X: np.column_stack([1.2 - _sig(X), _sig(X) - 0.2]), (0, 1), r"not probabilities for \d+ of 200 rows.*values -0\.1"),
    # more columns than classes_ (ROC AUC came out NaN)
    (lambda X: np.column_stack([(1 - _sig(X)) / 2, (1 - _sig(X)) / 2, _sig(X)]), (0, 1),
     r"returned 3 probability columns but records 2 classes \[0, 1\]"),
    # a class listed twice (pandas' InvalidIndexError deep in the checks)
    (lambda X: np.column_stack([(1 - _sig(X)) / 2, (1 - _sig(X)) / 2, _sig(X)]), (0, 0, 1),
     r"lists class\(es\) \[0\] more than once in its classes \[0, 0, 1\]"),
])
def test_model_outputs_that_are_not_probabilities_are_refused_naming_the_model_and_the_fix(f, classes, match):
    from audit import audit

    with pytest.raises(AuditInputError, match=match):
        audit(_Fixed(f, classes), _frame(), target="y", sensitive=["g"], features=["a", "b"],
              checks=["performance", "calibration"], progress=False)


def test_float32_probabilities_within_tolerance_are_renormalised():
    p = np.array([[0.3, 0.7], [0.123456, 0.876544]], dtype=np.float32) * np.float32(1.00004)
    out = ModelAdapter(_Fixed(lambda X: p)).predict_proba(np.zeros((2, 2)))
    np.testing.assert_allclose(out, p.astype(np.float64) / p.astype(np.float64).sum(axis=1, keepdims=True), rtol=1e-15)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_logits_from_a_predict_proba_only_model_are_softmaxed_with_model_output_logits():
    """The fix the error names works for a model with predict_proba and no decision_function (it used to fall back to
    predict() and hard labels)."""
    from scipy.special import softmax

    z = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    model = _Fixed(lambda X: z, classes=(0, 1, 2))
    model.predict = lambda X: z.argmax(axis=1)
    with pytest.raises(AuditInputError, match="model_output='logits'"):
        ModelAdapter(model).predict_proba(np.zeros((2, 2)))
    m = ModelAdapter(model, output="logits")
    np.testing.assert_allclose(m.predict_proba(np.zeros((2, 2))), softmax(z, axis=1), rtol=1e-12)
    assert m.has_scores


# --------------------------------------------- a model cannot change what later checks read (issue item 4)
class _Writer:
    """Predicts like ``lr``, then overwrites a column of the frame it was given."""

    classes_ = np.array([0, 1])

    def __init__(self, lr) -> None:
        self.lr = lr

    def predict_proba(self, X):
        p = self.lr.predict_proba(X[["a", "b"]])
        X.loc[:, "a"] = 5.0
        return p


class _Dropper(_Writer):
    """Predicts like ``lr``, then drops a column of the frame it was given in place."""

    def predict_proba(self, X):
        p = self.lr.predict_proba(X[["a", "b"]])
        X.drop(columns=["b"], inplace=True)
        return p


@pytest.mark.parametrize("cls", [_Writer, _Dropper])
def test_a_model_that_mutates_its_input_leaves_the_audit_unchanged(cls):
    """Robust accuracy once fell from 0.77 to 0.51 behind a writing model; a dropping one made explain and
    robustness raise. Every number now equals the audit of the same model that does not mutate (scikit-learn's)."""
    from audit import audit

    df = _frame(300)
    lr = LogisticRegression().fit(df[["a", "b"]], df["y"])
    before = df.copy()
    kw = dict(target="y", sensitive=["g"], features=["a", "b"], checks=["performance", "explain", "robustness"],
              progress=False, seed=0)
    got, ref = audit(cls(lr), df, **kw), audit(lr, df, **kw)
    pd.testing.assert_frame_equal(df, before)
    for name in ("performance", "explain", "robustness"):
        assert got.sections[name].status == "ok", got.sections[name].reason
        a = {m.name: m.value for m in got.sections[name].metrics}
        b = {m.name: m.value for m in ref.sections[name].metrics}
        assert a.keys() == b.keys() and any("accuracy@" in k for k in a) == (name == "robustness")
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12, equal_nan=True, err_msg=k)


def test_a_model_writing_into_an_array_or_tensor_works_on_its_own_copy():
    def scales(X):  # uses its input as scratch space
        X *= 2.0
        return 1.0 / (1.0 + np.exp(-X[:, 0]))

    x = np.arange(6.0).reshape(3, 2)
    for given in (x, torch.from_numpy(x)):
        p = ModelAdapter(scales).predict_proba(given)
        np.testing.assert_allclose(p[:, 1], 1.0 / (1.0 + np.exp(-2.0 * np.arange(6.0).reshape(3, 2)[:, 0])), rtol=1e-15)
        np.testing.assert_array_equal(x, np.arange(6.0).reshape(3, 2))


def test_a_torch_module_writing_into_its_input_tensor_leaves_it_unchanged():
    class InPlace(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x.mul_(2.0))

    torch.manual_seed(0)
    net, x = InPlace(), torch.from_numpy(X.copy())
    p = ModelAdapter(net).predict_proba(x)
    np.testing.assert_array_equal(x.numpy(), X)
    with torch.no_grad():
        ref = torch.softmax(net.lin(torch.from_numpy(X) * 2.0), dim=1).numpy()
    np.testing.assert_allclose(p, ref, rtol=1e-6)


def test_one_score_per_row_outside_unit_interval_is_an_error_not_a_silent_sigmoid():
    """Issue 26: a callable returning credit scores of 200-800 for a binary target was put through a sigmoid
    (every score 1.0, ROC AUC 0.500 where the scores' own is far higher). The scale cannot be read from the numbers:
    an early error names model_output=; with model_output='logits' the AUC is the scores' own (scikit-learn)."""
    from sklearn.metrics import roc_auc_score

    from audit import audit
    from audit.errors import AuditInputError

    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame({"a": rng.normal(size=n), "g": rng.choice(["x", "y"], n)})
    df["y"] = (df.a + rng.normal(size=n) > 0).astype(int)

    def score(X):
        return X["a"].to_numpy() * 100 + 500

    with pytest.raises(AuditInputError, match=r"one score per row outside \[0, 1\].*model_output='logits'"):
        audit(score, df, target="y", sensitive=["g"], features=["a"], checks=["performance"], progress=False)
    scaled = lambda X: (X["a"].to_numpy() * 100 + 500) / 400 - 1.25  # noqa: E731 - log-odds around 0
    r = audit(scaled, df, target="y", sensitive=["g"], features=["a"], checks=["performance"], progress=False,
              model_output="logits")
    auc = r.sections["performance"].metric("performance.roc_auc").value
    assert auc == pytest.approx(roc_auc_score(df["y"], scaled(df)), abs=1e-12) and auc > 0.7
