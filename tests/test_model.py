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


def test_regressor_is_refused_early():
    from sklearn.linear_model import LinearRegression

    reg = LinearRegression().fit(np.arange(10.0).reshape(-1, 1), np.arange(10.0))
    with pytest.raises(AuditInputError, match=r"model is a regressor \(LinearRegression\); audit checks classifiers"):
        ModelAdapter(reg)
