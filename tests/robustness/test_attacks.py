"""FGSM / PGD: analytic steps, constraints, model hygiene, determinism, out-of-memory back-off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.errors import AuditInputError
from audit.model import ModelAdapter
from audit.robustness import fgsm, pgd


def _linear(w: list[list[float]], b: list[float]) -> torch.nn.Linear:
    net = torch.nn.Linear(len(w[0]), len(w)).double()
    with torch.no_grad():
        net.weight.copy_(torch.tensor(w, dtype=torch.float64))
        net.bias.copy_(torch.tensor(b, dtype=torch.float64))
    return net.eval()


def _ce_input_grad(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Closed form of d CE(softmax(x W^T + b), y) / dx = (softmax(z) - onehot(y)) W."""
    z = x @ w.T + b
    p = torch.softmax(z, dim=1)
    return (p - torch.nn.functional.one_hot(y, w.shape[0]).double()) @ w


@pytest.fixture
def linear_case():
    w = [[1.0, -2.0, 0.5], [-0.5, 1.0, 1.5], [0.3, 0.2, -1.0]]
    b = [0.1, -0.2, 0.05]
    g = torch.Generator().manual_seed(3)
    x = torch.rand(50, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (50,), generator=g)
    return _linear(w, b), torch.tensor(w, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), x, y


def test_fgsm_is_the_analytic_sign_gradient_step(linear_case):
    net, w, b, x, y = linear_case
    eps = 0.07
    expected = x + eps * torch.sign(_ce_input_grad(w, b, x, y))
    r = fgsm(net, x, y, eps, early_stop=False, device="cpu")
    torch.testing.assert_close(r.x_adv, expected, rtol=0, atol=1e-12)
    assert np.array_equal(r.pred_adv, (expected @ w.T + b).argmax(1).numpy())
    # default early stop: rows already misclassified keep their clean input, the others take the step
    r2 = fgsm(net, x, y, eps, device="cpu")
    wrong = (x @ w.T + b).argmax(1) != y
    assert wrong.any() and (~wrong).any()
    torch.testing.assert_close(r2.x_adv[wrong], x[wrong], rtol=0, atol=0)
    torch.testing.assert_close(r2.x_adv[~wrong], expected[~wrong], rtol=0, atol=1e-12)


def test_fgsm_with_scale_and_bounds_is_the_clipped_scaled_step(linear_case):
    net, w, b, x, y = linear_case
    eps, scale = 0.2, torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    lo, hi = torch.tensor([0.0, 0.1, 0.0], dtype=torch.float64), torch.tensor([1.0, 0.9, 0.8], dtype=torch.float64)
    x = x.clamp(lo, hi)
    expected = torch.clamp(x + eps * scale * torch.sign(_ce_input_grad(w, b, x, y)), lo, hi)
    r = fgsm(net, x, y, eps, scale=scale, bounds=(lo, hi), early_stop=False, device="cpu")
    torch.testing.assert_close(r.x_adv, expected, rtol=0, atol=1e-12)


def test_l2_fgsm_steps_along_the_normalised_gradient(linear_case):
    net, w, b, x, y = linear_case
    g = _ce_input_grad(w, b, x, y)
    expected = x + 0.3 * g / g.norm(dim=1, keepdim=True)
    r = fgsm(net, x, y, 0.3, norm="l2", early_stop=False, device="cpu")
    torch.testing.assert_close(r.x_adv, expected, rtol=0, atol=1e-12)


def test_binary_sigmoid_model_gets_the_analytic_step():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid()).double().eval()
    x = torch.rand(40, 2, dtype=torch.float64)
    y = torch.randint(0, 2, (40,))
    p = net(x).reshape(-1)
    w = net[0].weight.detach()[0]
    grad = (p - y.double())[:, None] * w[None, :]  # d(-log p_y)/dx for a sigmoid output
    r = fgsm(net, x, y, 0.05, early_stop=False, device="cpu")
    torch.testing.assert_close(r.x_adv, x + 0.05 * torch.sign(grad), rtol=0, atol=1e-12)
    assert np.array_equal(r.pred_adv, (net(r.x_adv).reshape(-1) > 0.5).long().numpy())


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_predictions_are_the_model_on_x_adv_and_robust_accuracy_its_mean(mlp, blobs, norm):
    x, y = blobs
    r = pgd(mlp, x, y, 0.15, steps=10, norm=norm, device="cpu")
    with torch.no_grad():
        again = mlp(r.x_adv).argmax(1).numpy()
        clean = mlp(x).argmax(1).numpy()
    assert np.array_equal(r.pred_adv, again)
    assert np.array_equal(r.pred_clean, clean)
    assert r.robust_accuracy == pytest.approx(np.mean(again == y.numpy()))
    assert r.clean_accuracy == pytest.approx(np.mean(clean == y.numpy()))
    ok = clean == y.numpy()
    assert r.attack_success_rate == pytest.approx(np.mean(again[ok] != y.numpy()[ok]))
    assert 0 < r.robust_accuracy < r.clean_accuracy


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_bounds_and_ball_are_respected(mlp, blobs, norm):
    x, y = blobs
    lo = torch.tensor([0.1, 0.0, 0.2, 0.0], dtype=torch.float64)
    hi = torch.tensor([0.9, 1.0, 0.8, 0.7], dtype=torch.float64)
    xc = torch.clamp(x, lo, hi)
    eps = 0.3
    r = pgd(mlp, xc, y, eps, steps=15, norm=norm, bounds=(lo, hi), device="cpu")
    assert bool((r.x_adv >= lo).all() and (r.x_adv <= hi).all())
    d = r.x_adv - xc
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert float(size.max()) <= eps * (1 + 1e-9)
    np.testing.assert_allclose(r.perturbation, size.numpy(), atol=1e-12)
    assert float(size.max()) > 0.5 * eps  # it did move


def test_l2_ball_in_scaled_units(mlp, blobs):
    x, y = blobs
    scale = torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=torch.float64)
    r = pgd(mlp, x, y, 0.2, steps=10, norm="l2", scale=scale, device="cpu")
    u = ((r.x_adv - x) / scale).norm(dim=1)
    assert float(u.max()) <= 0.2 * (1 + 1e-9)
    np.testing.assert_allclose(r.perturbation, u.numpy(), atol=1e-12)


@pytest.mark.parametrize("attack,norm", [("pgd", "linf"), ("pgd", "l2"), ("fgsm", "linf")])
def test_masked_features_never_change(mlp, blobs, attack, norm):
    x, y = blobs
    mask = torch.tensor([1, 0, 1, 0])
    fn = pgd if attack == "pgd" else fgsm
    r = fn(mlp, x, y, 0.3, norm=norm, mask=mask, bounds=(0, 1), device="cpu")
    assert torch.equal(r.x_adv[:, 1], x[:, 1]) and torch.equal(r.x_adv[:, 3], x[:, 3])
    assert bool((r.x_adv[:, [0, 2]] != x[:, [0, 2]]).any())


def test_eps_zero_changes_nothing(mlp, blobs):
    x, y = blobs
    for r in (pgd(mlp, x, y, 0.0, device="cpu"), fgsm(mlp, x, y, 0.0, device="cpu")):
        assert torch.equal(r.x_adv, x)
        with torch.no_grad():
            assert np.array_equal(r.pred_adv, mlp(x).argmax(1).numpy())
        assert r.robust_accuracy == r.clean_accuracy
        assert float(r.perturbation.max()) == 0.0


def test_model_stays_in_eval_and_parameters_get_no_gradients(blobs):
    x, y = blobs
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    net.train()
    frozen_param = net[3].bias
    frozen_param.requires_grad_(False)
    seen: list[bool] = []
    net.register_forward_hook(lambda m, i, o: seen.append(m.training or any(p.requires_grad for p in m.parameters())))
    pgd(net, x, y, 0.1, steps=3, device="cpu")
    fgsm(net, x, y, 0.1, device="cpu")
    assert seen and not any(seen)  # eval mode, no parameter needs a gradient, during every forward
    assert not net.training
    assert all(p.grad is None for p in net.parameters())
    assert [p.requires_grad for p in net.parameters()] == [True, True, True, False]


def test_seeded_random_start_is_reproducible_and_batch_independent(mlp, blobs):
    x, y = blobs
    a = pgd(mlp, x, y, 0.2, steps=5, seed=7, device="cpu")
    b = pgd(mlp, x, y, 0.2, steps=5, seed=7, batch_size=7, device="cpu")
    c = pgd(mlp, x, y, 0.2, steps=5, seed=8, device="cpu")
    torch.testing.assert_close(a.x_adv, b.x_adv, rtol=0, atol=1e-12)
    assert np.array_equal(a.pred_adv, b.pred_adv)
    assert not torch.equal(a.x_adv, c.x_adv)
    assert b.batch_size == 7


def test_restarts_never_lower_attack_success(mlp, blobs):
    x, y = blobs
    one = pgd(mlp, x, y, 0.12, steps=5, restarts=1, device="cpu")
    three = pgd(mlp, x, y, 0.12, steps=5, restarts=3, device="cpu")
    # restart 0 is the same seeded run; later restarts only attack rows it left standing
    assert np.all(three.success >= one.success)


class _OOMNet(torch.nn.Module):
    """Raises a CUDA-style out-of-memory error for batches larger than ``limit``."""

    def __init__(self, net: torch.nn.Module, limit: int) -> None:
        super().__init__()
        self.net, self.limit = net, limit
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(x))
        if len(x) > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


def test_out_of_memory_halves_the_batch_and_gives_the_same_result(mlp, blobs):
    x, y = blobs
    oom = _OOMNet(mlp, limit=20)
    r = pgd(ModelAdapter(oom, device="cpu"), x, y, 0.2, steps=4, batch_size=64, device="cpu")
    ref = pgd(mlp, x, y, 0.2, steps=4, batch_size=16, device="cpu")
    assert r.batch_size == 16  # 64 -> 32 -> 16
    assert r.requested_batch_size == 64
    assert r.batch_note == "pgd at eps=0.2: out of memory at 64 rows per batch; halved to 16 and finished"
    assert ref.batch_note is None  # a batch that fit says nothing
    assert max(s for s in oom.sizes[1:]) <= 64 and oom.sizes[-1] <= 16
    torch.testing.assert_close(r.x_adv, ref.x_adv, rtol=0, atol=1e-12)
    assert np.array_equal(r.success, ref.success)


def test_other_errors_are_not_swallowed(blobs):
    x, y = blobs

    class Broken(torch.nn.Module):
        def forward(self, x):  # noqa: ANN001, ANN202
            raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        pgd(Broken(), x, y, 0.1, device="cpu")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"eps": -0.1}, "eps must be a finite number >= 0"),
        ({"eps": float("nan")}, "eps must be a finite number >= 0"),
        ({"norm": "l1"}, "norm must be 'linf' or 'l2'"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"bounds": (1.0, 0.0)}, "low values exceed high"),
        ({"mask": [1, 0]}, "mask must broadcast to one input row"),
        ({"mask": [1, 0.5, 1, 1]}, "mask must hold 0"),
        ({"y": [0, 1]}, "y must hold 120 class indices"),
        ({"y": np.full(120, 5)}, r"y must hold 120 class indices in \[0, 3\)"),
    ],
)
def test_bad_input_names_the_argument(mlp, blobs, kwargs, match):
    x, y = blobs
    args = {"eps": 0.1, "y": y, **kwargs}
    with pytest.raises(AuditInputError, match=match):
        pgd(mlp, x, args.pop("y"), args.pop("eps"), device="cpu", **args)


def test_non_torch_model_is_refused(blobs):
    from sklearn.linear_model import LogisticRegression

    x, y = blobs
    clf = LogisticRegression().fit(x.numpy(), y.numpy())
    with pytest.raises(AuditInputError, match="torch"):
        fgsm(ModelAdapter(clf), x, y, 0.1)
    with pytest.raises(AuditInputError, match="torch"):
        fgsm(clf, x, y, 0.1)


class _ImputingNet(torch.nn.Module):
    """A linear net that reads a missing input as 0 (a model that takes missing values)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
            self.lin.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(torch.nan_to_num(x, nan=0.0))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_missing_cells_are_never_perturbed_nor_spread_into_the_row(norm):
    """PGD on rows with a missing cell: the cell stays NaN, the other cells move and stay finite (an L2 norm over a
    NaN would have turned the whole row into NaN), and the perturbation is measured over the observed cells."""
    x = torch.tensor([[np.nan, 0.2, 0.1], [0.1, np.nan, 0.05], [0.6, 0.6, 0.6]], dtype=torch.float32)
    r = pgd(_ImputingNet(), x, [1, 1, 1], eps=0.5, steps=10, norm=norm, device="cpu")
    x_adv = r.x_adv
    assert torch.equal(torch.isnan(x_adv), torch.isnan(x))
    assert torch.isfinite(x_adv[~torch.isnan(x)]).all()
    assert np.isfinite(r.perturbation).all() and (r.perturbation <= 0.5 + 1e-5).all()
    # logit gap = sum of observed inputs (0.3, 0.15, 1.8); the most the ball lowers it is 0.5 per observed cell
    # (L-inf: 1.0, 1.0, 1.5) or 0.5 * sqrt(cells) (L2: 0.71, 0.71, 0.87): rows 0 and 1 flip, row 2 stands
    assert r.success.tolist() == [True, True, False]
