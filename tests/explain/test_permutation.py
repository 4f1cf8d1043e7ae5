"""Permutation SHAP (antithetic pairs, standard errors, stopping rule) against brute-force Shapley values,
and the model-row budget that now bounds the exact path too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.errors import AuditInputError
from audit.explain import shap_values
from audit.explain._exact import exact_cost
from audit.explain._permutation import _round, permutation_shapley
from audit.model import ModelAdapter
from audit.space import build_space

D = 6


@pytest.fixture
def net() -> torch.nn.Module:
    """A small MLP with interactions (tanh of sums), in float64 so sums are exact to ~1e-16."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(D, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()
    m.eval()
    return m


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, background and non-uniform background weights; column 4 is shared by some pairs (null players)."""
    rng = np.random.default_rng(5)
    x, bg = rng.normal(size=(6, D)), rng.normal(size=(10, D))
    x[:, 4] = bg[0, 4]
    bg[::2, 4] = bg[0, 4]
    w = rng.dirichlet(np.ones(10))
    return x, bg, w


def _space(net):
    return build_space(ModelAdapter(net), torch.zeros(1, D, dtype=torch.float64), output="proba")


def _f(net):
    return lambda z: torch.softmax(net(torch.as_tensor(z)), 1).detach().numpy()


def _weighted_brute_force(brute_force, f, x, bg, w):
    """Interventional values against a weighted background: sum_b w_b phi(x; {b}) (the game is linear in b)."""
    return sum(wb * brute_force(f, x, bg[b : b + 1]) for b, wb in enumerate(w))


def test_values_within_three_standard_errors_of_brute_force(net, data, brute_force):
    x, bg, w = data
    ref = _weighted_brute_force(brute_force, _f(net), x, bg, w)
    est = permutation_shapley(_space(net), torch.as_tensor(x), torch.as_tensor(bg), torch.as_tensor(w),
                              seed=0, target_se=0.0, min_rounds=12, max_rounds=12)
    assert (est.rounds == 12).all() and est.stopped_by == "rounds"
    se, err = est.standard_errors, np.abs(est.values - ref)
    # every value a sampling estimate: 12 rounds, so |error| / SE is about t with 11 degrees of freedom
    # (P(|t| > 3) = 1.2%); at least 95% of the 108 entries must lie within 3 standard errors
    assert (se > 0).mean() > 0.8
    assert (err <= 3 * se + 1e-12).mean() >= 0.95
    # the errors are real, not hidden by huge standard errors: the largest is a few % of the output spread
    assert est.max_standard_error < 0.05 * est.spread
    np.testing.assert_allclose(est.values, ref, atol=6 * est.max_standard_error)
    # additive in every round: each round's contributions sum to f(x) - sum_b w_b f(b)
    fx, base = _f(net)(x), w @ _f(net)(bg)
    np.testing.assert_allclose(est.fx, fx, atol=1e-12)
    np.testing.assert_allclose(est.base, base, atol=1e-12)
    assert np.abs(est.values.sum(axis=1) + est.base - est.fx).max() < 1e-12


def test_one_round_is_additive_for_every_row(net, data):
    x, bg, w = data
    space = _space(net)
    xt, bt, wt = torch.as_tensor(x), torch.as_tensor(bg), torch.as_tensor(w)
    k = (xt[:, None, :] != bt[None, :, :]).sum(dim=2)
    fx, fb = space(xt), space(bt)
    rngs = [np.random.default_rng([0, i]) for i in range(len(x))]
    one = _round(space, xt, bt, wt, fx, fb, np.arange(len(x)), k, rngs, 1 << 17)
    expected = (fx - (wt[:, None] * fb).sum(dim=0)).numpy()
    np.testing.assert_allclose(one.sum(dim=1).numpy(), expected, atol=1e-13)
    # a null player (x and every background row agree on it) gets exactly 0
    bt2 = bt.clone()
    bt2[:, 2] = xt[0, 2]
    one = _round(space, xt[:1], bt2, wt, space(xt[:1]), space(bt2), np.arange(1), (xt[:1, None] != bt2[None]).sum(2),
                 rngs[:1], 1 << 17)
    assert (one[0, 2] == 0).all()


def test_standard_error_shrinks_as_rounds_grow(net, data, brute_force):
    x, bg, w = data
    ref = _weighted_brute_force(brute_force, _f(net), x, bg, w)
    space = _space(net)
    se, rmse, rows = [], [], []
    for r in (4, 16, 64):
        est = permutation_shapley(space, torch.as_tensor(x), torch.as_tensor(bg), torch.as_tensor(w),
                                  seed=1, target_se=0.0, min_rounds=r, max_rounds=r)
        se.append(np.sqrt((est.standard_errors**2).mean()))
        rmse.append(np.sqrt(((est.values - ref) ** 2).mean()))
        rows.append(est.model_rows)
    # 4x the rounds: standard error / 2 (1/sqrt(rounds)), within the noise of the estimate itself
    assert 1.4 < se[0] / se[1] < 2.8 and 1.4 < se[1] / se[2] < 2.8
    assert rmse[2] < rmse[0] / 2.5  # the real error shrinks too
    assert rmse[2] < 2 * se[2]  # and the reported standard errors describe it
    assert rows[0] < rows[1] < rows[2]


def test_stops_at_the_target_or_the_budget(net, data):
    x, bg, w = data
    space = _space(net)
    args = (space, torch.as_tensor(x), torch.as_tensor(bg), torch.as_tensor(w))
    est = permutation_shapley(*args, target_se=0.005)
    assert est.stopped_by == "target"
    assert est.max_standard_error <= 0.005 * est.spread
    assert "every row reached the target" in est.describe()
    tight = permutation_shapley(*args, target_se=1e-5, max_model_rows=20_000)
    assert tight.stopped_by == "budget" and tight.model_rows <= 20_000
    assert tight.max_standard_error > 1e-5 * tight.spread and "budget ran out" in tight.describe()
    # a budget below the 2 rounds a standard error needs: they run anyway, and the note says it was overrun
    tiny = permutation_shapley(*args, max_model_rows=100)
    assert (tiny.rounds == 2).all() and tiny.stopped_by == "budget" and tiny.model_rows > 100
    assert "over the budget of 100" in tiny.describe() and np.isfinite(tiny.standard_errors).all()
    # rows get different numbers of rounds: each stops when its own error is small enough
    assert est.rounds.min() >= 4 and len(set(est.rounds.tolist())) > 1


def test_same_seed_same_values_and_rows_do_not_depend_on_their_neighbours(net, data):
    x, bg, w = data
    space = _space(net)
    bt, wt = torch.as_tensor(bg), torch.as_tensor(w)
    a = permutation_shapley(space, torch.as_tensor(x[[0, 1]]), bt, wt, seed=3)
    b = permutation_shapley(space, torch.as_tensor(x[[0, 1]]), bt, wt, seed=3)
    c = permutation_shapley(space, torch.as_tensor(x[[0, 2]]), bt, wt, seed=3)
    d = permutation_shapley(space, torch.as_tensor(x[[0, 1]]), bt, wt, seed=4)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.standard_errors, b.standard_errors)
    assert np.array_equal(a.values[0], c.values[0])  # row 0 draws from its own (seed, 0) stream
    assert not np.array_equal(a.values, d.values)


def test_pairs_differing_on_two_features_are_exact_with_zero_error(net, brute_force):
    """With at most 2 differing features per (row, background) pair, one antithetic pair covers both orders."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, D))
    bg = np.repeat(x, 5, axis=0)
    for b, feats in enumerate([[0, 1], [2, 5], [3], [1, 4], []]):  # a different pair of features per row
        bg[b, feats] = rng.normal(size=len(feats))
    assert (x[:, None, :] != bg[None]).sum(axis=2).max() == 2
    est = permutation_shapley(_space(net), torch.as_tensor(x), torch.as_tensor(bg), seed=0)
    assert est.max_standard_error == 0.0 and est.stopped_by == "target"
    np.testing.assert_allclose(est.values, brute_force(_f(net), x, bg), atol=1e-12)


def test_bad_arguments_are_refused(net, data):
    x, bg, _ = data
    args = (_space(net), torch.as_tensor(x), torch.as_tensor(bg))
    with pytest.raises(AuditInputError, match="target_se"):
        permutation_shapley(*args, target_se=-0.1)
    with pytest.raises(AuditInputError, match="min_rounds"):
        permutation_shapley(*args, min_rounds=1)
    with pytest.raises(AuditInputError, match="max_model_rows"):
        permutation_shapley(*args, max_model_rows=0)


def test_exact_budget_is_honoured_with_twelve_or_fewer_features(brute_force):
    """8 continuous inputs: exact needs 2**8 model rows per (row, background) pair; a smaller budget samples."""
    torch.manual_seed(1)
    d = 8
    net = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)).double()
    rng = np.random.default_rng(2)
    x, bg = rng.normal(size=(4, d)), rng.normal(size=(10, d))
    cost = exact_cost(torch.as_tensor(x), torch.as_tensor(bg))
    assert cost == 4 * 10 * 2**d
    exact = shap_values(net, x, background=bg, n_background=10, exact_budget=cost)
    assert exact.explainer == "exact" and exact.max_standard_error == 0.0 and exact.stopped_by == ""
    budget = cost / 2
    res = shap_values(net, x, background=bg, n_background=10, exact_budget=budget, n_reference=2)
    assert res.explainer == "permutation"
    assert res.model_rows <= budget  # sampler, and the rows and background themselves, within the budget
    assert res.stopped_by in ("target", "budget")
    assert any("standard error" in n for n in res.notes)
    ref = brute_force(lambda z: torch.softmax(net(torch.as_tensor(z)), 1).detach().numpy(), x, bg)
    got = np.stack([res.values[c].to_numpy() for c in res.classes], axis=2)
    se = np.stack([res.standard_errors[c].to_numpy() for c in res.classes], axis=2)
    assert se.shape == got.shape and list(res.standard_errors["0"].columns) == res.features
    assert np.abs(got - ref).max() <= 6 * se.max()
    assert res.additivity_error < 1e-12
    # the exact reference rows (2 x 10 x 2**8 = 5,120 model rows) fit the budget: compared and reported
    assert res.reference_rows == 2 and res.reference_correlation > 0.99 and res.reference_skipped == ""
    small = shap_values(net, x, background=bg, n_background=10, exact_budget=3000, n_reference=2)
    assert np.isnan(small.reference_correlation) and "over the budget" in small.reference_skipped
